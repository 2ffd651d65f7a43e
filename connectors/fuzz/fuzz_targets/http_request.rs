//! Arbitrary bytes as what an HTTP customer sends: a JSON send or batch (made into domain
//! messages), form parameters (Kannel's and Jasmin's), a per-message dlr-url note and a
//! Kannel dlr-url template expanded for a receipt. Nothing may panic; a send that is
//! accepted must make a message that carries the HTTP origin.

#![no_main]

use libfuzzer_sys::fuzz_target;
use tern_http::api::{BatchRequest, SendRequest};
use tern_http::escapes::{kannel_expand, PerMessage};
use tern_http::params::Params;
use tern_http::send;
use tern_model::{Address, DeliveryReport, Message, MessageState};
use tern_storage::{HeldDelivery, HeldKind};

fuzz_target!(|data: &[u8]| {
    if let Ok(request) = serde_json::from_slice::<SendRequest>(data) {
        if let Ok(message) = send::message(&request, 1_700_000_000) {
            assert_eq!(message.tlv_text(Message::ORIGIN_TAG), Some("http"));
        }
    }
    if let Ok(batch) = serde_json::from_slice::<BatchRequest>(data) {
        for request in batch.messages.iter().take(8) {
            let _ = send::message(request, 1_700_000_000);
        }
    }
    let params = Params::parse(data);
    let _ = params.pairs().count();
    let text = String::from_utf8_lossy(data);
    if let Some(per) = PerMessage::parse(&text) {
        assert_eq!(PerMessage::parse(&per.note()), Some(per));
    }
    let report = DeliveryReport {
        message_id: "1".into(),
        state: MessageState::Delivered,
        submitted: 1,
        delivered: 1,
        submit_unix: Some(1_700_000_000),
        done_unix: Some(1_700_000_060),
        error: 0,
        text: text.chars().take(20).collect(),
    };
    let item = HeldDelivery {
        account: "a".into(),
        key: 1,
        kind: HeldKind::Receipt,
        message: Message::text(
            Address::alphanumeric("Tern"),
            Address::international("491701234567"),
            text.to_string(),
        ),
        report: Some(report.clone()),
        held_ms: 1_700_000_061_000,
        expires_ms: u64::MAX,
    };
    let _ = kannel_expand(&text, &item, &report);
});
