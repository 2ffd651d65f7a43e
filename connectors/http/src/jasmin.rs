//! Jasmin's HTTP API, for clients moving from Jasmin: `/send` (GET or POST, form or JSON
//! parameters) answered `Success "<id>"` or `Error "<why>"` with Jasmin's statuses and
//! texts, and `/balance` answered with Jasmin's JSON. Checks run in Jasmin 0.10's order:
//! unknown arguments, invalid values, mandatory ones, then the login.
//!
//! A `dlr-url` is called (with `dlr-method`, GET or POST) with Jasmin's level-2 fields for
//! the message's final receipt, when `dlr-level` is 2 or 3; level 1 (the operator's
//! acceptance) has no event here. The receiver's answer counts when it is a 2xx (Jasmin
//! wants `ACK/Jasmin`; any 2xx is taken).

use std::net::SocketAddr;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{ConnectInfo, RawQuery, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use tern_model::{Body, Coding, Message, ReceiptRequest};

use crate::api::SendRequest;
use crate::error::ApiError;
use crate::escapes::PerMessage;
use crate::params::Params;
use crate::{send, HttpFrontend};

/// The arguments `/send` takes, in the order Jasmin checks them.
const SEND_ARGS: [&str; 16] = [
    "to",
    "from",
    "coding",
    "username",
    "password",
    "priority",
    "sdt",
    "validity-period",
    "dlr",
    "dlr-url",
    "dlr-level",
    "dlr-method",
    "tags",
    "content",
    "hex-content",
    "custom_tlvs",
];

fn text_answer(status: StatusCode, body: String) -> Response {
    metrics::counter!("tern_http_requests_total", "endpoint" => "jasmin_send", "status" => status.as_str().to_owned())
        .increment(1);
    (status, [(header::CONTENT_TYPE, "text/plain")], body).into_response()
}

fn error(status: StatusCode, why: &str) -> Response {
    text_answer(status, format!("Error \"{why}\""))
}

/// The parameters of a request: its query, its form body, or its JSON object.
fn params_of(query: Option<String>, headers: &HeaderMap, body: &[u8]) -> Params {
    let mut params = Params::parse(query.unwrap_or_default().as_bytes());
    let json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        == Some("application/json");
    if json {
        if let Ok(serde_json::Value::Object(object)) = serde_json::from_slice(body) {
            for (name, value) in object {
                let text = match value {
                    serde_json::Value::String(text) => text,
                    other => other.to_string(),
                };
                params.push(&name, text.as_bytes());
            }
        }
    } else {
        params.extend_from(body);
    }
    params
}

/// Whether `value` is valid for the argument `name`, as Jasmin's patterns say.
fn valid(name: &str, value: &str) -> bool {
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    match name {
        "to" => digits(value.strip_prefix('+').unwrap_or(value)),
        "coding" => matches!(
            value,
            "0" | "1" | "2" | "3" | "4" | "5" | "6" | "7" | "8" | "9" | "10" | "13" | "14"
        ),
        "username" | "password" => (1..=16).contains(&value.chars().count()),
        "priority" => matches!(value, "0" | "1" | "2" | "3"),
        "sdt" => sdt_valid(value),
        "validity-period" => digits(value),
        "dlr" => matches!(value, "yes" | "no"),
        "dlr-url" => value.starts_with("http://") || value.starts_with("https://"),
        "dlr-level" => matches!(value, "1" | "2" | "3"),
        "dlr-method" => value.eq_ignore_ascii_case("get") || value.eq_ignore_ascii_case("post"),
        "tags" => value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b','),
        _ => true,
    }
}

/// SMPP's 16-character time: `YYMMDDhhmmsstnn` and `+`, `-` or `R`.
fn sdt_valid(value: &str) -> bool {
    value.len() == 16
        && value.as_bytes()[..15].iter().all(u8::is_ascii_digit)
        && matches!(value.as_bytes()[15], b'+' | b'-' | b'R')
}

/// When an `sdt` asks to send, Unix seconds; `None` for now.
fn sdt_unix(value: &str, now: i64) -> Option<i64> {
    let field = |at: usize| value.get(at..at + 2)?.parse::<i64>().ok();
    if value.ends_with('R') {
        let (yy, mo, dd, hh, mi, ss) = (
            field(0)?,
            field(2)?,
            field(4)?,
            field(6)?,
            field(8)?,
            field(10)?,
        );
        let secs = ((yy * 365 + mo * 30 + dd) * 24 + hh) * 3600 + mi * 60 + ss;
        return Some(now + secs);
    }
    let month = time::Month::try_from(u8::try_from(field(2)?).ok()?).ok()?;
    let date = time::Date::from_calendar_date(
        2000 + field(0)? as i32,
        month,
        u8::try_from(field(4)?).ok()?,
    )
    .ok()?;
    let clock = time::Time::from_hms(
        u8::try_from(field(6)?).ok()?,
        u8::try_from(field(8)?).ok()?,
        u8::try_from(field(10)?).ok()?,
    )
    .ok()?;
    let local = time::PrimitiveDateTime::new(date, clock)
        .assume_utc()
        .unix_timestamp();
    let quarters = field(13)?;
    let offset = quarters * 15 * 60;
    Some(if value.ends_with('-') {
        local + offset
    } else {
        local - offset
    })
}

pub(crate) async fn send(
    State(front): State<Arc<HttpFrontend>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Response {
    handle(&front, peer, params_of(query, &headers, &[])).await
}

pub(crate) async fn send_post(
    State(front): State<Arc<HttpFrontend>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    handle(&front, peer, params_of(query, &headers, &body)).await
}

async fn handle(front: &Arc<HttpFrontend>, peer: SocketAddr, mut params: Params) -> Response {
    if params.raw("coding").is_none() {
        params.push("coding", b"0");
    }
    let dlr_asked = params.raw("dlr-url").is_some() || params.raw("dlr-level").is_some();
    if params.raw("dlr").is_none() {
        params.push("dlr", if dlr_asked { b"yes" } else { b"no" });
    }
    for (name, value) in params.pairs() {
        if !SEND_ARGS.contains(&name) {
            return error(
                StatusCode::BAD_REQUEST,
                &format!("Argument [{name}] is unknown."),
            );
        }
        if !valid(name, &value) {
            return error(
                StatusCode::BAD_REQUEST,
                &format!("Argument [{name}] has an invalid value: [{value}]."),
            );
        }
    }
    for name in ["to", "username", "password"] {
        if params.raw(name).is_none() {
            return error(
                StatusCode::BAD_REQUEST,
                &format!("Mandatory argument [{name}] is not found."),
            );
        }
    }
    let username = params.text("username").unwrap_or_default().into_owned();
    let password = params.text("password").unwrap_or_default().into_owned();
    let account = match front.by_password(&username, &password, peer.ip()).await {
        Ok(account) => account,
        Err(_) => {
            return error(
                StatusCode::FORBIDDEN,
                &format!("Authentication failure for username:{username}"),
            )
        }
    };
    let content = params.raw("content");
    let hex_content = params.text("hex-content");
    let coding: u8 = params
        .text("coding")
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = match (content, hex_content) {
        (Some(_), Some(_)) => {
            return error(
                StatusCode::BAD_REQUEST,
                "content and hex-content cannot be used both in same request.",
            )
        }
        (None, None) => {
            return error(
                StatusCode::BAD_REQUEST,
                "content or hex-content not present.",
            )
        }
        (Some(raw), None) => raw.to_vec(),
        (None, Some(hex)) => match send::unhex(&hex) {
            Some(octets) => octets,
            None => {
                return error(
                    StatusCode::BAD_REQUEST,
                    &format!("Invalid hex-content data: '{hex}'"),
                )
            }
        },
    };
    let body = match coding {
        0 | 1 => String::from_utf8(body)
            .map(Body::Text)
            .map_err(|e| Body::Binary(e.into_bytes().into())),
        3 => Ok(Body::Text(body.iter().map(|&b| char::from(b)).collect())),
        8 => {
            let units: Option<Vec<u16>> = body.len().is_multiple_of(2).then(|| {
                body.chunks_exact(2)
                    .map(|p| u16::from_be_bytes([p[0], p[1]]))
                    .collect()
            });
            units
                .and_then(|u| String::from_utf16(&u).ok())
                .map(Body::Text)
                .ok_or(Body::Binary(body.into()))
        }
        _ => Err(Body::Binary(body.into())),
    };
    let now = (tern_model::now_ms() / 1000) as i64;
    let to = params.text("to").unwrap_or_default().into_owned();
    let request = SendRequest {
        to: to.clone(),
        from: params
            .text("from")
            .map(|f| f.into_owned())
            .unwrap_or_else(|| account.id.clone()),
        text: Some("-".into()),
        send_at: params.text("sdt").and_then(|s| sdt_unix(&s, now)),
        validity_secs: params
            .text("validity-period")
            .and_then(|v| v.parse::<u64>().ok())
            .filter(|m| *m > 0)
            .map(|m| m.saturating_mul(60).min(366 * 86_400)),
        ..SendRequest::default()
    };
    let mut message = match send::message(&request, now) {
        Ok(message) => message,
        Err(refusal) => return refused(&username, refusal),
    };
    match body {
        Ok(Body::Text(text)) => {
            let (c, dc) = match coding {
                8 => (Coding::Ucs2, 8),
                3 => (Coding::Latin1, 3),
                _ if tern_encoding::Alphabet::Gsm7.can_encode(&text) => (Coding::Gsm7, 0),
                _ => (Coding::Ucs2, 8),
            };
            message.body = Body::Text(text);
            message.coding = c;
            message.data_coding = dc;
        }
        Ok(binary) | Err(binary) => {
            message.body = binary;
            message.coding = Coding::Binary;
            message.data_coding = coding;
        }
    }
    let level: u8 = params
        .text("dlr-level")
        .and_then(|l| l.parse().ok())
        .unwrap_or(1);
    let wants = params.text("dlr").as_deref() == Some("yes") && level >= 2;
    message.receipt = if wants {
        ReceiptRequest::Final
    } else {
        ReceiptRequest::None
    };
    if let (true, Some(url)) = (wants, params.text("dlr-url")) {
        let post = !params
            .text("dlr-method")
            .is_some_and(|m| m.eq_ignore_ascii_case("get"));
        let note = PerMessage::Jasmin {
            post,
            level,
            url: url.into_owned(),
        }
        .note();
        message.set_tlv_text(Message::CALLBACK_URL_TAG, &note);
    }
    let session = match front.sessions.of(&account, peer.ip()).await {
        Ok(session) => session,
        Err(_) => {
            return error(
                StatusCode::SERVICE_UNAVAILABLE,
                "InterceptorPB not connected !",
            )
        }
    };
    match send::submit(&session, message).await {
        Ok(id) => text_answer(StatusCode::OK, format!("Success \"{id}\"")),
        Err(rejection) => refused(&username, ApiError::rejection(rejection)),
    }
}

/// A refusal in Jasmin's words.
fn refused(username: &str, refusal: ApiError) -> Response {
    let (status, why) = match refusal.code {
        "throttled" => (StatusCode::FORBIDDEN, "User throughput exceeded".to_owned()),
        "invalid_destination" => (StatusCode::PRECONDITION_FAILED, "No route found".to_owned()),
        "invalid_source" => (
            StatusCode::BAD_REQUEST,
            format!("Value filter failed for user [{username}] (source_address filter mismatch)."),
        ),
        "not_allowed" => (
            StatusCode::FORBIDDEN,
            "Cannot charge submit_sm, check RouterPB log file for details".to_owned(),
        ),
        "message_too_long" => (
            StatusCode::BAD_REQUEST,
            format!("Authorization failed for user [{username}] (Long content not authorized)."),
        ),
        "system_error" => (
            StatusCode::INTERNAL_SERVER_ERROR,
            "Cannot send submit_sm, check SMPPClientManagerPB log file for details".to_owned(),
        ),
        _ => (
            StatusCode::BAD_REQUEST,
            format!("Unknown error: {}", refusal.message),
        ),
    };
    error(status, &why)
}

pub(crate) async fn balance(
    State(front): State<Arc<HttpFrontend>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    RawQuery(query): RawQuery,
) -> Response {
    let params = Params::parse(query.unwrap_or_default().as_bytes());
    let json = |status: StatusCode, value: serde_json::Value| {
        metrics::counter!("tern_http_requests_total", "endpoint" => "jasmin_balance", "status" => status.as_str().to_owned())
            .increment(1);
        (
            status,
            [(header::CONTENT_TYPE, "application/json")],
            value.to_string(),
        )
            .into_response()
    };
    for (name, _) in params.pairs() {
        if name != "username" && name != "password" {
            return json(
                StatusCode::BAD_REQUEST,
                format!("Argument [{name}] is unknown.").into(),
            );
        }
    }
    let (Some(username), Some(password)) = (params.text("username"), params.text("password"))
    else {
        return json(
            StatusCode::BAD_REQUEST,
            "Mandatory arguments not found, please refer to the HTTPAPI specifications.".into(),
        );
    };
    let account = match front.by_password(&username, &password, peer.ip()).await {
        Ok(account) => account,
        Err(_) => {
            return json(
                StatusCode::FORBIDDEN,
                format!("Authentication failure for username:{username}").into(),
            )
        }
    };
    let Ok(balance) = crate::rest::balance_of(&front, &account.id) else {
        return json(
            StatusCode::BAD_REQUEST,
            format!("Authorization failed for user [{username}] (Cannot check balance).").into(),
        );
    };
    let money = match balance.credit_limit {
        // The balance in the unit prices are in: what is left to spend.
        Some(limit) => serde_json::json!((balance.balance + limit) as f64),
        None => serde_json::json!("ND"),
    };
    let count = match balance.period_limit {
        Some(limit) => serde_json::json!(limit.saturating_sub(balance.period_used)),
        None => serde_json::json!("ND"),
    };
    json(
        StatusCode::OK,
        serde_json::json!({ "balance": money, "sms_count": count }),
    )
}

/// Jasmin answers a POST to `/balance` with 405.
pub(crate) async fn balance_post() -> Response {
    (StatusCode::METHOD_NOT_ALLOWED, "").into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arguments_are_checked_with_jasmins_patterns() {
        assert!(valid("to", "+491701234567"));
        assert!(!valid("to", "49170 1234"));
        assert!(valid("coding", "8") && !valid("coding", "11"));
        assert!(!valid("username", "seventeen_chars_x"));
        assert!(valid("dlr-method", "get") && !valid("dlr-method", "PUT"));
        assert!(valid("sdt", "000000000100000R") && !valid("sdt", "0000000001000R"));
        assert!(!valid("tags", "a b"));
    }

    #[test]
    fn scheduled_times_read_relative_and_absolute() {
        assert_eq!(sdt_unix("000000000100000R", 1_000), Some(1_060));
        // 2024-01-01 12:00:00 at UTC+1 (four quarter hours) is 11:00 UTC.
        assert_eq!(sdt_unix("240101120000004+", 0), Some(1_704_106_800));
        assert_eq!(sdt_unix("241301120000004+", 0), None);
    }
}
