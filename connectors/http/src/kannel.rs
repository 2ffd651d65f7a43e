//! Kannel's `/cgi-bin/sendsms`, for clients moving from Kannel: its parameters (GET query
//! string; POST with the text as the body and `X-Kannel-*` headers), its checks in its
//! order and its answer texts, as Kannel 1.4.5's smsbox gives them. The account's id and
//! password (or an API key as the password) are the username and password.
//!
//! `dlr-url` is called with GET and Kannel's escapes filled in (see [`crate::escapes`]) for
//! the final receipt of each message, as `dlr-mask` bits 1 (delivered) and 2 (failed) ask;
//! bits 4, 8 and 16 (buffered, SMSC accepted or rejected) have no event here. Answers:
//! 202 `0: Accepted for delivery` once durable; a refusal the client should not repeat is
//! 403 `Not routable. Do not try again.`, a busy gateway 503 `Temporal failure, try again
//! later.`

use std::net::SocketAddr;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{ConnectInfo, RawQuery, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use tern_model::{Body, Coding, Message, ReceiptRequest};

use crate::api::{Encoding, SendRequest};
use crate::escapes::PerMessage;
use crate::params::Params;
use crate::{send, HttpFrontend};

pub(crate) const ACCEPTED: &str = "0: Accepted for delivery";
pub(crate) const AUTH_FAILED: &str = "Authorization failed for sendsms";
pub(crate) const NOT_ROUTABLE: &str = "Not routable. Do not try again.";
pub(crate) const TEMPORAL: &str = "Temporal failure, try again later.";

fn answer(status: StatusCode, text: &str) -> Response {
    metrics::counter!("tern_http_requests_total", "endpoint" => "kannel_sendsms", "status" => status.as_str().to_owned())
        .increment(1);
    let headers = [
        (header::CONTENT_TYPE, "text/html"),
        (header::PRAGMA, "no-cache"),
        (header::CACHE_CONTROL, "no-cache"),
    ];
    (status, headers, text.to_owned()).into_response()
}

fn misformed(field: &str) -> Response {
    answer(
        StatusCode::BAD_REQUEST,
        &format!("{field} field misformed, rejected"),
    )
}

pub(crate) async fn sendsms(
    State(front): State<Arc<HttpFrontend>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    RawQuery(query): RawQuery,
) -> Response {
    let params = Params::parse(query.unwrap_or_default().as_bytes());
    handle(&front, peer, params, false).await
}

/// A POST: the text is the body, the rest comes in `X-Kannel-*` headers.
pub(crate) async fn sendsms_post(
    State(front): State<Arc<HttpFrontend>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let (mime, charset) = match content_type.split_once(';') {
        Some((mime, rest)) => (
            mime.trim().to_ascii_lowercase(),
            rest.split(';')
                .filter_map(|p| p.trim().strip_prefix("charset="))
                .next()
                .map(|c| c.trim_matches('"').to_owned()),
        ),
        None => (content_type.trim().to_ascii_lowercase(), None),
    };
    let coding = match mime.as_str() {
        "text/plain" => "0",
        "application/octet-stream" | "" => "1",
        "text/html" | "text/vnd.wap.wml" | "text/xml" => {
            return answer(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "Unsupported content-type, rejected",
            )
        }
        _ => return answer(StatusCode::BAD_REQUEST, "Invalid content-type"),
    };
    let mut params = Params::default();
    for (name, param) in [
        ("x-kannel-username", "username"),
        ("x-kannel-password", "password"),
        ("x-kannel-from", "from"),
        ("x-kannel-to", "to"),
        ("x-kannel-udh", "udh"),
        ("x-kannel-dlr-url", "dlr-url"),
        ("x-kannel-dlr-mask", "dlr-mask"),
        ("x-kannel-coding", "coding"),
        ("x-kannel-mclass", "mclass"),
        ("x-kannel-validity", "validity"),
        ("x-kannel-deferred", "deferred"),
        ("x-kannel-priority", "priority"),
    ] {
        if let Some(value) = headers.get(name) {
            params.push(param, value.as_bytes().trim_ascii());
        }
    }
    if params.raw("coding").is_none() {
        params.push("coding", coding.as_bytes());
    }
    if let Some(charset) = charset {
        params.push("charset", charset.as_bytes());
    }
    params.push("text", &body);
    handle(&front, peer, params, true).await
}

/// An integer parameter in `range`, -1 (unset) when absent or not a number, as Kannel's
/// `sscanf` reads it; `Err` when out of range.
fn int(params: &Params, names: &[&str], range: std::ops::RangeInclusive<i64>) -> Result<i64, ()> {
    let Some(text) = params.any(names) else {
        return Ok(-1);
    };
    let digits: String = text
        .trim_start()
        .chars()
        .enumerate()
        .take_while(|(i, c)| c.is_ascii_digit() || (*i == 0 && (*c == '-' || *c == '+')))
        .map(|(_, c)| c)
        .collect();
    let value = digits.parse::<i64>().unwrap_or(-1);
    if value == -1 || range.contains(&value) {
        Ok(value)
    } else {
        Err(())
    }
}

/// The text in the charset its client named.
fn decode_text(raw: &[u8], charset: Option<&str>, coding: i64) -> Option<String> {
    let charset = charset.map(str::to_ascii_uppercase);
    match charset.as_deref() {
        Some("UTF-16BE" | "UCS-2" | "UCS-2BE" | "UTF-16") if coding == 2 => {
            if !raw.len().is_multiple_of(2) {
                return None;
            }
            let units: Vec<u16> = raw
                .chunks_exact(2)
                .map(|pair| u16::from_be_bytes([pair[0], pair[1]]))
                .collect();
            String::from_utf16(&units).ok()
        }
        Some("ISO-8859-1" | "LATIN1" | "ISO8859-1") => {
            Some(raw.iter().map(|&b| char::from(b)).collect())
        }
        None | Some("UTF-8" | "UTF8") => String::from_utf8(raw.to_vec()).ok(),
        Some(_) => None,
    }
}

async fn handle(
    front: &Arc<HttpFrontend>,
    peer: SocketAddr,
    params: Params,
    post: bool,
) -> Response {
    let username = params
        .any(&["username", "user"])
        .unwrap_or_default()
        .into_owned();
    let password = params
        .any(&["password", "pass"])
        .unwrap_or_default()
        .into_owned();
    let account = match front.by_password(&username, &password, peer.ip()).await {
        Ok(account) => account,
        Err(_) => return answer(StatusCode::FORBIDDEN, AUTH_FAILED),
    };
    let Some(to) = params.text("to") else {
        let text = if post {
            "Missing receiver(s) number(s), rejected"
        } else {
            "Missing receiver number, rejected"
        };
        return answer(StatusCode::BAD_REQUEST, text);
    };
    if to.trim().is_empty() {
        return answer(
            StatusCode::BAD_REQUEST,
            "Empty receiver number not allowed, rejected",
        );
    }
    let udh = params
        .raw("udh")
        .filter(|u| !u.is_empty())
        .map(<[u8]>::to_vec);
    if let Some(udh) = &udh {
        if usize::from(udh[0]) + 1 != udh.len() {
            return answer(StatusCode::BAD_REQUEST, "UDH field misformed, rejected");
        }
    }
    let Some(from) = params.text("from").filter(|f| !f.is_empty()) else {
        return answer(
            StatusCode::BAD_REQUEST,
            "Sender missing and no global set, rejected",
        );
    };
    let dlr_url = params.any(&["dlr-url", "dlrurl"]).filter(|u| !u.is_empty());
    if let Some(url) = &dlr_url {
        let scheme_ok = url.starts_with("http://") || url.starts_with("https://");
        if !scheme_ok || url.len() > crate::escapes::MAX_URL {
            return misformed("DLR-URL");
        }
    }
    let Ok(mask) = int(&params, &["dlr-mask", "dlrmask"], -1..=66) else {
        return misformed("DLR-Mask");
    };
    let Ok(mclass) = int(&params, &["mclass"], -1..=3) else {
        return misformed("MClass");
    };
    let Ok(coding) = int(&params, &["coding"], -1..=2) else {
        return misformed("Coding");
    };
    let Ok(validity) = int(&params, &["validity"], -1..=i64::from(u32::MAX)) else {
        return misformed("Validity");
    };
    let Ok(deferred) = int(&params, &["deferred"], -1..=i64::from(u32::MAX)) else {
        return misformed("Deferred");
    };
    if int(&params, &["priority"], -1..=3).is_err() {
        return misformed("Priority");
    }
    let raw_text = params.raw("text").unwrap_or_default();
    let coding = if coding == -1 && udh.is_some() {
        1
    } else {
        coding
    };
    let body = if coding == 1 {
        Body::Binary(raw_text.to_vec().into())
    } else {
        match decode_text(raw_text, params.text("charset").as_deref(), coding) {
            Some(text) => Body::Text(text),
            None => {
                return answer(
                    StatusCode::BAD_REQUEST,
                    "Charset or body misformed, rejected",
                )
            }
        }
    };
    let now = (tern_model::now_ms() / 1000) as i64;
    let receivers: Vec<&str> = to.split_whitespace().collect();
    let mut messages = Vec::with_capacity(receivers.len());
    for receiver in &receivers {
        let request = SendRequest {
            to: (*receiver).to_owned(),
            from: from.to_string(),
            text: Some("-".into()),
            encoding: if coding == 2 {
                Encoding::Ucs2
            } else {
                Encoding::Auto
            },
            send_at: (deferred > 0).then(|| now + deferred * 60),
            validity_secs: (validity > 0).then(|| validity as u64 * 60),
            ..SendRequest::default()
        };
        let Ok(mut message) = send::message(&request, now) else {
            continue;
        };
        message.body = body.clone();
        if let Body::Text(text) = &body {
            let (coding, data_coding) = match coding {
                2 => (Coding::Ucs2, 8),
                _ if tern_encoding::Alphabet::Gsm7.can_encode(text) => (Coding::Gsm7, 0),
                _ => (Coding::Ucs2, 8),
            };
            message.coding = coding;
            message.data_coding = data_coding;
        } else {
            message.coding = Coding::Binary;
            message.data_coding = 4;
        }
        message.udh = udh.clone().map(Into::into);
        message.flash = mclass == 0;
        message.receipt = receipt_request(mask);
        if let (
            Some(url),
            ReceiptRequest::Final | ReceiptRequest::SuccessOnly | ReceiptRequest::FailureOnly,
        ) = (&dlr_url, message.receipt)
        {
            let note = PerMessage::Kannel {
                url: url.to_string(),
            }
            .note();
            message.set_tlv_text(Message::CALLBACK_URL_TAG, &note);
        }
        messages.push(Ok(message));
    }
    if messages.is_empty() {
        return answer(
            StatusCode::BAD_REQUEST,
            "Number(s) has/have been denied by white- and/or black-lists.",
        );
    }
    let session = match front.sessions.of(&account, peer.ip()).await {
        Ok(session) => session,
        Err(_) => return answer(StatusCode::SERVICE_UNAVAILABLE, TEMPORAL),
    };
    let outcomes = send::submit_all(&session, messages).await;
    if outcomes.iter().any(Result::is_ok) {
        return answer(StatusCode::ACCEPTED, ACCEPTED);
    }
    let temporary = outcomes.iter().any(|o| {
        o.as_ref().err().is_some_and(|e| {
            e.status == StatusCode::TOO_MANY_REQUESTS || e.status.is_server_error()
        })
    });
    if temporary {
        answer(StatusCode::SERVICE_UNAVAILABLE, TEMPORAL)
    } else {
        answer(StatusCode::FORBIDDEN, NOT_ROUTABLE)
    }
}

/// What `dlr-mask` asks for of the final receipt: bit 1 delivered, bit 2 failed.
fn receipt_request(mask: i64) -> ReceiptRequest {
    if mask <= 0 {
        return ReceiptRequest::None;
    }
    match (mask & 1 != 0, mask & 2 != 0) {
        (true, true) => ReceiptRequest::Final,
        (true, false) => ReceiptRequest::SuccessOnly,
        (false, true) => ReceiptRequest::FailureOnly,
        (false, false) => ReceiptRequest::None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dlr_mask_bits_one_and_two_choose_the_receipt() {
        assert_eq!(receipt_request(-1), ReceiptRequest::None);
        assert_eq!(receipt_request(31), ReceiptRequest::Final);
        assert_eq!(receipt_request(1), ReceiptRequest::SuccessOnly);
        assert_eq!(receipt_request(2), ReceiptRequest::FailureOnly);
        assert_eq!(receipt_request(24), ReceiptRequest::None);
    }

    #[test]
    fn integers_read_as_kannel_reads_them() {
        let params = Params::parse(b"a=5&b=x&c=70&d=3abc&e=-1");
        assert_eq!(int(&params, &["a"], -1..=66), Ok(5));
        assert_eq!(int(&params, &["b"], -1..=66), Ok(-1));
        assert_eq!(int(&params, &["c"], -1..=66), Err(()));
        assert_eq!(int(&params, &["d"], -1..=66), Ok(3));
        assert_eq!(int(&params, &["e"], -1..=66), Ok(-1));
        assert_eq!(int(&params, &["none"], -1..=66), Ok(-1));
    }

    #[test]
    fn texts_decode_in_their_charset() {
        assert_eq!(
            decode_text(&[0x4f, 0x60, 0x59, 0x7d], Some("UTF-16BE"), 2).as_deref(),
            Some("你好")
        );
        assert_eq!(
            decode_text(&[0xe9], Some("ISO-8859-1"), 0).as_deref(),
            Some("é")
        );
        assert_eq!(decode_text(&[0xe9], None, 0), None);
        assert_eq!(decode_text(&[0x4f], Some("UTF-16BE"), 2), None);
    }
}
