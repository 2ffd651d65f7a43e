//! A send request made into a domain message, checked field by field, and handed to the
//! account's session: answered once the message is durable, with its id.

use std::sync::Arc;

use ractor::ActorRef;
use tern_actors::protocol::Respond;
use tern_actors::session::{SessionMsg, Submit};
use tern_encoding::Alphabet;
use tern_model::{Address, Body, Coding, Message, MessageId, Npi, ReceiptRequest, Rejection, Ton};
use tokio::sync::oneshot;

use crate::api::{Encoding, SendRequest, MAX_BINARY_OCTETS, MAX_REFERENCE, MAX_TEXT_CHARS};
use crate::error::ApiError;

/// How far ahead a message may be scheduled.
pub const MAX_SCHEDULE_SECS: i64 = 366 * 86_400;

/// The recipient: digits, with or without a leading `+` (or `00`), 1 to 20 of them.
pub fn destination(to: &str) -> Result<Address, ApiError> {
    let digits = to
        .strip_prefix('+')
        .or_else(|| to.strip_prefix("00"))
        .unwrap_or(to);
    if digits.is_empty() || digits.len() > 20 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(ApiError::new(
            axum::http::StatusCode::BAD_REQUEST,
            "invalid_destination",
            "`to` must be a number of 1 to 20 digits, with or without a leading +",
        )
        .at("to"));
    }
    Ok(Address::new(Ton::INTERNATIONAL, Npi::ISDN, digits))
}

/// The sender: a number (international when longer than a short code) or up to 11 letters
/// and digits.
pub fn source(from: &str) -> Result<Address, ApiError> {
    let invalid = || {
        ApiError::new(
            axum::http::StatusCode::BAD_REQUEST,
            "invalid_source",
            "`from` must be a number of up to 20 digits or up to 11 letters and digits",
        )
        .at("from")
    };
    let digits = from.strip_prefix('+').unwrap_or(from);
    if !digits.is_empty() && digits.len() <= 20 && digits.bytes().all(|b| b.is_ascii_digit()) {
        let ton = if digits.len() > 8 || from.starts_with('+') {
            Ton::INTERNATIONAL
        } else {
            Ton::UNKNOWN
        };
        return Ok(Address::new(ton, Npi::ISDN, digits));
    }
    if from.is_empty() || from.chars().count() > 11 || from.chars().any(|c| c.is_control()) {
        return Err(invalid());
    }
    Ok(Address::alphanumeric(from))
}

/// Octets from hexadecimal.
pub fn unhex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
        .collect()
}

/// The message `request` asks for, or the field that is wrong.
pub fn message(request: &SendRequest, now_unix: i64) -> Result<Message, ApiError> {
    let destination = destination(&request.to)?;
    let source = source(&request.from)?;
    let (body, coding, data_coding) = match (&request.text, &request.binary) {
        (Some(text), None) => {
            if text.is_empty() {
                return Err(ApiError::invalid("text", "`text` is empty"));
            }
            if text.chars().count() > MAX_TEXT_CHARS {
                return Err(ApiError::invalid(
                    "text",
                    format!("`text` is longer than {MAX_TEXT_CHARS} characters"),
                ));
            }
            let (coding, data_coding) = coding(request.encoding, text)?;
            (Body::Text(text.clone()), coding, data_coding)
        }
        (None, Some(hex)) => {
            let octets = unhex(hex).ok_or_else(|| {
                ApiError::invalid("binary", "`binary` must be hexadecimal octets")
            })?;
            if octets.is_empty() || octets.len() > MAX_BINARY_OCTETS {
                return Err(ApiError::invalid(
                    "binary",
                    format!("`binary` must hold 1 to {MAX_BINARY_OCTETS} octets"),
                ));
            }
            (Body::Binary(octets.into()), Coding::Binary, 4)
        }
        (Some(_), Some(_)) => {
            return Err(ApiError::invalid(
                "text",
                "give `text` or `binary`, not both",
            ))
        }
        (None, None) => return Err(ApiError::invalid("text", "give `text` or `binary`")),
    };
    let mut message = Message::text(source, destination, String::new());
    message.body = body;
    message.coding = coding;
    message.data_coding = data_coding;
    message.flash = request.flash;
    message.receipt = if request.receipt.unwrap_or(true) {
        ReceiptRequest::Final
    } else {
        ReceiptRequest::None
    };
    if let Some(at) = request.send_at {
        if at < 0 {
            return Err(ApiError::invalid("send_at", "`send_at` is Unix seconds"));
        }
        if at > now_unix.saturating_add(MAX_SCHEDULE_SECS) {
            return Err(ApiError::invalid(
                "send_at",
                "`send_at` is Unix seconds, at most 366 days ahead",
            ));
        }
        if at > now_unix {
            message.schedule_unix = Some(at);
        }
    }
    if let Some(secs) = request.validity_secs {
        if secs == 0 || secs > 366 * 86_400 {
            return Err(ApiError::invalid(
                "validity_secs",
                "`validity_secs` must be 1 second to 366 days",
            ));
        }
        let from = message.schedule_unix.unwrap_or(now_unix);
        message.validity_unix = Some(from.saturating_add(secs as i64));
    }
    if let Some(reference) = &request.reference {
        if reference.is_empty()
            || reference.chars().count() > MAX_REFERENCE
            || reference.chars().any(char::is_control)
        {
            return Err(ApiError::invalid(
                "reference",
                format!("`reference` must be 1 to {MAX_REFERENCE} printable characters"),
            ));
        }
        message.set_tlv_text(Message::CLIENT_REF_TAG, reference);
    }
    message.set_tlv_text(Message::ORIGIN_TAG, crate::PROTOCOL);
    Ok(message)
}

/// The coding of `text` asked for, and its data_coding.
fn coding(encoding: Encoding, text: &str) -> Result<(Coding, u8), ApiError> {
    let gsm = Alphabet::Gsm7.can_encode(text);
    match encoding {
        Encoding::Auto if gsm => Ok((Coding::Gsm7, 0)),
        Encoding::Auto | Encoding::Ucs2 => Ok((Coding::Ucs2, 8)),
        Encoding::Gsm7 if gsm => Ok((Coding::Gsm7, 0)),
        Encoding::Latin1 if Alphabet::Latin1.can_encode(text) => Ok((Coding::Latin1, 3)),
        Encoding::Gsm7 | Encoding::Latin1 => Err(ApiError::invalid(
            "encoding",
            "the text has characters the chosen encoding does not have",
        )),
    }
}

/// Hands `message` to `session`; its id once durable, or why it was refused. A session
/// that is gone answers as throttled: the client retries, on a new session.
pub async fn submit(
    session: &ActorRef<SessionMsg>,
    message: Message,
) -> Result<MessageId, Rejection> {
    let (tx, rx) = oneshot::channel();
    let respond: Respond = Box::new(move |result| {
        let _ = tx.send(result);
    });
    let submit = Submit {
        messages: vec![message],
        wire_ids: Vec::new(),
        hold: None,
        respond,
    };
    if session.cast(SessionMsg::Submit(submit)).is_err() {
        return Err(Rejection::Throttled);
    }
    rx.await.unwrap_or(Err(Rejection::Throttled))
}

/// Sends many, each on its own, all at once; their answers in order.
pub async fn submit_all(
    session: &ActorRef<SessionMsg>,
    messages: Vec<Result<Message, ApiError>>,
) -> Vec<Result<MessageId, ApiError>> {
    let session = Arc::new(session.clone());
    let sends = messages.into_iter().map(|message| {
        let session = session.clone();
        async move {
            let message = message?;
            submit(&session, message).await.map_err(ApiError::rejection)
        }
    });
    futures::future::join_all(sends).await
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn request(text: &str) -> SendRequest {
        SendRequest {
            to: "+491701234567".into(),
            from: "Tern".into(),
            text: Some(text.into()),
            ..SendRequest::default()
        }
    }

    #[test]
    fn a_text_goes_in_gsm_when_it_can_and_ucs2_else() {
        let m = message(&request("hello"), 0).unwrap();
        assert_eq!((m.coding, m.data_coding), (Coding::Gsm7, 0));
        assert_eq!(m.destination.value, "491701234567");
        assert_eq!(m.tlv_text(Message::ORIGIN_TAG), Some("http"));
        let m = message(&request("你好"), 0).unwrap();
        assert_eq!(m.coding, Coding::Ucs2);
        let mut gsm_only = request("你好");
        gsm_only.encoding = Encoding::Gsm7;
        assert_eq!(message(&gsm_only, 0).unwrap_err().field, Some("encoding"));
    }

    #[test]
    fn each_wrong_field_is_named() {
        let cases: Vec<(SendRequest, &str)> = vec![
            (
                SendRequest {
                    to: "abc".into(),
                    ..request("x")
                },
                "to",
            ),
            (
                SendRequest {
                    to: String::new(),
                    ..request("x")
                },
                "to",
            ),
            (
                SendRequest {
                    from: "far too long a name".into(),
                    ..request("x")
                },
                "from",
            ),
            (
                SendRequest {
                    text: None,
                    ..request("x")
                },
                "text",
            ),
            (
                SendRequest {
                    binary: Some("0g".into()),
                    text: None,
                    ..request("x")
                },
                "binary",
            ),
            (
                SendRequest {
                    binary: Some("00".into()),
                    ..request("x")
                },
                "text",
            ),
            (
                SendRequest {
                    validity_secs: Some(0),
                    ..request("x")
                },
                "validity_secs",
            ),
            (
                SendRequest {
                    reference: Some(String::new()),
                    ..request("x")
                },
                "reference",
            ),
            (
                SendRequest {
                    send_at: Some(-1),
                    ..request("x")
                },
                "send_at",
            ),
            (request(&"x".repeat(MAX_TEXT_CHARS + 1)), "text"),
        ];
        for (request, field) in cases {
            assert_eq!(
                message(&request, 0).unwrap_err().field,
                Some(field),
                "{request:?}"
            );
        }
    }

    #[test]
    fn schedule_validity_and_reference_are_carried() {
        let mut r = request("x");
        r.send_at = Some(2_000);
        r.validity_secs = Some(60);
        r.reference = Some("order-17".into());
        r.receipt = Some(false);
        let m = message(&r, 1_000).unwrap();
        assert_eq!(m.schedule_unix, Some(2_000));
        assert_eq!(m.validity_unix, Some(2_060));
        assert_eq!(m.tlv_text(Message::CLIENT_REF_TAG), Some("order-17"));
        assert_eq!(m.receipt, ReceiptRequest::None);
    }

    proptest::proptest! {
        #[test]
        fn no_request_panics(to in ".{0,24}", from in ".{0,14}", text in ".{0,40}", hex in "[0-9a-fA-Z]{0,9}") {
            let r = SendRequest { to, from, text: Some(text), ..SendRequest::default() };
            let _ = message(&r, 0);
            let _ = unhex(&hex);
        }
    }
}
