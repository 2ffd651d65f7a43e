//! The mapping's rules, one behaviour a test: SUBMITs coming in here, messages going out
//! in `outgoing`, MO DELIVERs and REPORTs in `delivers`.

use bytes::Bytes;
use tern_model::{Address, Body, Coding, ConcatRef, Message, Npi, Priority, ReceiptRequest, Ton};

use super::*;
use crate::codec::{report_flag, result, Submit};

const NOON: i64 = 1_709_265_600; // 2024-03-01 12:00:00 +08:00

pub(super) fn submit(coding: u8, content: &[u8]) -> Submit {
    Submit {
        sp_number: "10655001".into(),
        charge_number: SP_PAYS.into(),
        user_numbers: vec!["8613800138000".into()],
        corp_id: "12345".into(),
        service_type: "TEST".into(),
        fee_type: 1,
        fee_value: "0".into(),
        given_value: "0".into(),
        agent_flag: 0,
        morelate_to_mt_flag: 2,
        priority: 9,
        expire_time: String::new(),
        schedule_time: String::new(),
        report_flag: report_flag::ALWAYS,
        tp_pid: 0,
        tp_udhi: 0,
        message_coding: coding,
        message_type: 0,
        message_content: Bytes::copy_from_slice(content),
        reserve: String::new(),
    }
}

fn one(submit: &Submit) -> Message {
    let mut messages = submit_to_messages(submit, NOON).expect("maps");
    assert_eq!(messages.len(), 1);
    messages.remove(0)
}

#[test]
fn a_submit_to_two_users_is_two_messages() {
    let s = Submit {
        user_numbers: vec!["8613800138000".into(), "13900139000".into()],
        ..submit(message_coding::UCS2, &[0x4f, 0x60, 0x59, 0x7d])
    };
    let messages = submit_to_messages(&s, NOON).expect("maps");
    assert_eq!(messages.len(), 2);
    assert_eq!(
        messages[0].destination,
        Address::international("8613800138000")
    );
    assert_eq!(
        messages[1].destination,
        Address::new(Ton::UNKNOWN, Npi::ISDN, "13900139000"),
        "a number without 86 is kept as the national number it is"
    );
    for m in &messages {
        assert_eq!(m.body, Body::Text("你好".into()));
        assert_eq!(m.coding, Coding::Ucs2);
        assert_eq!(m.source, Address::new(Ton::UNKNOWN, Npi::ISDN, "10655001"));
        assert_eq!(m.receipt, ReceiptRequest::Final);
        assert_eq!(m.priority, Priority(3));
        assert_eq!(m.service_type, "TEST");
    }
}

#[test]
fn report_flags_are_receipt_requests() {
    for (flag, receipt) in [
        (0, ReceiptRequest::FailureOnly),
        (1, ReceiptRequest::Final),
        (2, ReceiptRequest::None),
    ] {
        let s = Submit {
            report_flag: flag,
            ..submit(0, b"x")
        };
        assert_eq!(one(&s).receipt, receipt);
    }
    for flag in [report_flag::BILLING_ONLY, 4, 255] {
        let s = Submit {
            report_flag: flag,
            ..submit(0, b"x")
        };
        let err = submit_to_messages(&s, NOON).expect_err("no message to deliver");
        assert_eq!(err, MapError::ReportFlag(flag));
        assert_eq!(err.result(), result::BAD_PARAMETER_FORMAT);
    }
}

#[test]
fn priorities_scale_between_ten_levels_and_four() {
    for (sgip, domain) in [
        (0, 0),
        (1, 1),
        (3, 1),
        (4, 2),
        (6, 2),
        (7, 3),
        (9, 3),
        (200, 3),
    ] {
        let s = Submit {
            priority: sgip,
            ..submit(0, b"x")
        };
        assert_eq!(one(&s).priority, Priority(domain), "Priority {sgip}");
    }
    for (domain, sgip) in [(0, 0), (1, 3), (2, 6), (3, 9), (7, 9)] {
        let message = Message {
            priority: Priority(domain),
            ..text_message("x")
        };
        let out = message_to_submits(&message, &link(), 1).expect("maps");
        assert_eq!(out[0].priority, sgip, "priority {domain}");
    }
}

#[test]
fn codings_decode_by_message_coding() {
    assert_eq!(
        one(&submit(message_coding::ASCII, b"hello")).body,
        Body::Text("hello".into())
    );
    let gb = one(&submit(message_coding::GBK, &[0xc4, 0xe3, 0xba, 0xc3]));
    assert_eq!(
        (gb.body, gb.coding),
        (Body::Text("你好".into()), Coding::Gbk)
    );
    let bin = one(&submit(message_coding::BINARY, &[0xff, 0x00]));
    assert_eq!(
        (bin.body, bin.coding),
        (
            Body::Binary(Bytes::from_static(&[0xff, 0x00])),
            Coding::Binary
        )
    );
    let emoji = one(&submit(message_coding::UCS2, &[0xd8, 0x3d, 0xde, 0x00]));
    assert_eq!(emoji.body, Body::Text("😀".into()));
}

#[test]
fn undecodable_content_is_a_length_error() {
    for (coding, content) in [
        (message_coding::UCS2, &[0x4f, 0x60, 0x59][..]),
        (message_coding::UCS2, &[0xd8, 0x3d][..]),
        (message_coding::GBK, &[0xc4][..]),
    ] {
        let err = submit_to_messages(&submit(coding, content), NOON).expect_err("refused");
        assert_eq!(err.result(), result::BAD_LENGTH, "{err}");
    }
}

#[test]
fn content_limits_are_160_ascii_and_140_otherwise() {
    assert!(submit_to_messages(&submit(0, &[b'a'; 160]), NOON).is_ok());
    let err = submit_to_messages(&submit(0, &[b'a'; 161]), NOON).expect_err("long");
    assert_eq!(err.result(), result::BAD_LENGTH);
    assert!(submit_to_messages(&submit(8, &[0; 140]), NOON).is_ok());
    let err = submit_to_messages(&submit(8, &[0; 142]), NOON).expect_err("long");
    assert_eq!(err.result(), result::BAD_LENGTH);
}

#[test]
fn a_udh_gives_the_concatenation() {
    let mut content = vec![0x05, 0x00, 0x03, 0x2a, 0x02, 0x01];
    content.extend_from_slice(&[0x4f, 0x60]);
    let m = one(&Submit {
        tp_udhi: 1,
        ..submit(message_coding::UCS2, &content)
    });
    let part = ConcatRef {
        reference: 0x2a,
        total: 2,
        seq: 1,
    };
    assert_eq!(m.concat, Some(part));
    assert_eq!(m.udh.as_deref(), Some(&content[..6]));
    assert_eq!(m.body, Body::Text("你".into()));

    // Only bit 0 of TP_udhi counts.
    let no_udh = one(&Submit {
        tp_udhi: 2,
        ..submit(message_coding::BINARY, &content)
    });
    assert_eq!((no_udh.udh, no_udh.concat), (None, None));

    // Half a surrogate pair in a part is kept for reassembly.
    let mut content = vec![0x05, 0x00, 0x03, 0x2a, 0x02, 0x01, 0xd8, 0x3d];
    let m = one(&Submit {
        tp_udhi: 1,
        ..submit(message_coding::UCS2, &content)
    });
    assert_eq!(m.body, Body::Binary(Bytes::from_static(&[0xd8, 0x3d])));

    content[0] = 0x09; // UDH longer than the content
    let bad = Submit {
        tp_udhi: 1,
        ..submit(message_coding::UCS2, &content)
    };
    let err = submit_to_messages(&bad, NOON).expect_err("bad udh");
    assert_eq!(err.result(), result::BAD_PARAMETER_FORMAT);
}

#[test]
fn text_parts_join_across_a_split_character() {
    // 你好 in GBK cut after its first octet: neither part decodes alone.
    let gb = [0xc4, 0xe3, 0xba, 0xc3];
    let part = |seq: u8, octets: &[u8]| {
        let mut content = vec![0x05, 0x00, 0x03, 0x07, 0x02, seq];
        content.extend_from_slice(octets);
        Submit {
            tp_udhi: 1,
            ..submit(message_coding::GBK, &content)
        }
    };
    let (first, second) = (part(1, &gb[..1]), part(2, &gb[1..]));
    let (info, head) = text_part(&first).expect("a text part");
    assert_eq!((info.reference, info.total, info.seq), (7, 2, 1));
    let (_, tail) = text_part(&second).expect("a text part");
    let whole = joined(&one(&first), &[head, tail].concat()).expect("joined");
    assert_eq!(whole.body, Body::Text("你好".into()));
    assert_eq!((whole.udh, whole.concat), (None, None));

    let binary = Submit {
        message_coding: message_coding::BINARY,
        ..first.clone()
    };
    assert_eq!(text_part(&binary), None);
    assert_eq!(text_part(&submit(message_coding::GBK, &gb)), None);
}

#[test]
fn bad_user_numbers_and_times_are_refused() {
    let s = Submit {
        user_numbers: vec!["8613800138000".into(), "abc".into()],
        ..submit(0, b"x")
    };
    let err = submit_to_messages(&s, NOON).expect_err("bad user");
    assert_eq!(err.result(), result::ILLEGAL_PHONE_NUMBER);

    let s = Submit {
        expire_time: "240301130000032+".into(),
        schedule_time: "000000010000000R".into(),
        ..submit(0, b"x")
    };
    let m = one(&s);
    assert_eq!(m.validity_unix, Some(NOON + 3600));
    assert_eq!(m.schedule_unix, Some(NOON + 3600));
    let s = Submit {
        expire_time: "tomorrow".into(),
        ..submit(0, b"x")
    };
    let err = submit_to_messages(&s, NOON).expect_err("bad time");
    assert_eq!(err.result(), result::BAD_PARAMETER_FORMAT);
}

pub(super) fn link() -> LinkOptions {
    LinkOptions {
        sp_number: "10655".into(),
        corp_id: "12345".into(),
        service_type: "TEST".into(),
        ..LinkOptions::default()
    }
}

pub(super) fn text_message(text: &str) -> Message {
    Message::text(
        Address::new(Ton::UNKNOWN, Npi::ISDN, "001"),
        Address::new(Ton::UNKNOWN, Npi::ISDN, "13800138000"),
        text,
    )
}

mod delivers;
mod outgoing;
