//! The mapping's rules, one behaviour a test: SUBMITs coming in here, messages going out
//! in `outgoing`, MO DELIVERs and REPORTs in `delivers`.

use bytes::Bytes;
use tern_model::{Address, Body, Coding, Message, Npi, Priority, ReceiptRequest, Ton};

use super::*;
use crate::codec::{report_flag, result, Submit};

const NOON: i64 = 1_709_265_600; // 2024-03-01 12:00:00 +08:00

pub(crate) fn submit(coding: u8, content: &[u8]) -> Submit {
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
fn bit_0_of_tp_udhi_splits_off_the_udh() {
    let content = [0x05, 0x00, 0x03, 0x2a, 0x02, 0x01, 0x4f, 0x60];
    let m = one(&Submit {
        tp_udhi: 1,
        ..submit(message_coding::UCS2, &content)
    });
    assert_eq!(m.concat.map(|c| (c.reference, c.seq)), Some((0x2a, 1)));
    assert_eq!(m.body, Body::Text("你".into()));
    // Only bit 0 of TP_udhi counts.
    let no_udh = one(&Submit {
        tp_udhi: 2,
        ..submit(message_coding::BINARY, &content)
    });
    assert_eq!((no_udh.udh, no_udh.concat), (None, None));
    let mut broken = content;
    broken[0] = 0x09; // UDH longer than the content
    let bad = Submit {
        tp_udhi: 1,
        ..submit(message_coding::UCS2, &broken)
    };
    let err = submit_to_messages(&bad, NOON).expect_err("bad udh");
    assert_eq!(err.result(), result::BAD_PARAMETER_FORMAT);
}

#[test]
fn text_parts_in_gbk_join() {
    let gbk = |seq: u8, octets: &[u8]| Submit {
        tp_udhi: 1,
        ..submit(
            message_coding::GBK,
            &[&[0x05, 0x00, 0x03, 0x07, 0x02, seq], octets].concat(),
        )
    };
    let (first, second) = (gbk(1, &[0xc4]), gbk(2, &[0xe3, 0xba, 0xc3]));
    let head = text_part(&first).map(|(_, octets)| octets.to_vec());
    let tail = text_part(&second).map(|(_, octets)| octets.to_vec());
    let octets = [head.expect("a part"), tail.expect("a part")].concat();
    let whole = joined(&one(&second), &octets).expect("joined");
    assert_eq!(whole.body, Body::Text("你好".into()));
    assert_eq!(
        text_part(&Submit {
            tp_udhi: 2,
            ..first
        }),
        None
    );
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
