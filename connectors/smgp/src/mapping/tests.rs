//! The mapping's rules, one behaviour a test.

use bytes::Bytes;
use tern_model::{Address, Body, Coding, ConcatRef, DeliveryReport, Message, MessageState};
use tern_model::{Priority, ReceiptRequest, Ton};

use super::*;
use crate::codec::{status, Deliver, Report, Submit, Tlv};
use crate::msgid::MsgId;

const NOON: i64 = 1_709_265_600; // 2024-03-01 12:00:00 +08:00

pub(super) fn submit(msg_format: u8, content: &[u8]) -> Submit {
    Submit {
        msg_type: 6,
        need_report: 1,
        priority: 9,
        service_id: "TEST".into(),
        fee_type: "01".into(),
        fee_code: "000010".into(),
        fixed_fee: "000000".into(),
        msg_format,
        valid_time: String::new(),
        at_time: String::new(),
        src_term_id: "1065900001".into(),
        charge_term_id: String::new(),
        dest_term_ids: vec!["13300000001".into()],
        msg_content: Bytes::copy_from_slice(content),
        reserve: [0; 8],
        tlvs: Vec::new(),
    }
}

fn one(submit: &Submit) -> Message {
    let mut messages = submit_to_messages(submit, NOON).expect("maps");
    assert_eq!(messages.len(), 1);
    messages.remove(0)
}

#[test]
fn a_submit_to_two_terminals_is_two_messages() {
    let s = Submit {
        dest_term_ids: vec!["13300000001".into(), "8618900000002".into()],
        tlvs: vec![Tlv::LinkId("LNK0001".into()), Tlv::TpPid(0x7f)],
        ..submit(msg_format::UCS2, &[0x4f, 0x60, 0x59, 0x7d])
    };
    let messages = submit_to_messages(&s, NOON).expect("maps");
    assert_eq!(messages.len(), 2);
    assert_eq!(messages[0].destination.value, "13300000001");
    assert_eq!(messages[1].destination.value, "8618900000002");
    for m in &messages {
        assert_eq!(m.body, Body::Text("你好".into()));
        assert_eq!(m.coding, Coding::Ucs2);
        assert_eq!(m.source.value, "1065900001");
        assert_eq!(m.receipt, ReceiptRequest::Final);
        assert_eq!(m.priority, Priority(3), "Priority 9 is capped");
        assert_eq!(m.service_type, "TEST");
        assert_eq!(m.protocol_id, 0x7f);
        assert_eq!(m.link_id(), Some("LNK0001"));
    }
}

#[test]
fn undecodable_or_long_content_is_a_bad_msg_length() {
    for (fmt, content) in [
        (msg_format::UCS2, &[0x4f, 0x60, 0x59][..]),
        (msg_format::GB, &[0xc4][..]),
        (msg_format::ASCII, &[b'a'; 160][..]),
        (msg_format::UCS2, &[0; 142][..]),
    ] {
        let err = submit_to_messages(&submit(fmt, content), NOON).expect_err("refused");
        assert_eq!(err.status(), status::BAD_MSG_LENGTH, "{err}");
    }
    assert!(submit_to_messages(&submit(msg_format::ASCII, &[b'a'; 159]), NOON).is_ok());
}

#[test]
fn tp_udhi_tlv_gives_the_concatenation() {
    let mut content = vec![0x05, 0x00, 0x03, 0x2a, 0x02, 0x01];
    content.extend_from_slice(&[0x4f, 0x60]);
    let part = Submit {
        tlvs: vec![Tlv::TpUdhi(1), Tlv::PkTotal(2), Tlv::PkNumber(1)],
        ..submit(msg_format::UCS2, &content)
    };
    let m = one(&part);
    assert_eq!(
        m.concat,
        Some(ConcatRef {
            reference: 0x2a,
            total: 2,
            seq: 1
        })
    );
    assert_eq!(m.udh.as_deref(), Some(&content[..6]));
    assert_eq!(m.body, Body::Text("你".into()));
    // Without TP_udhi the header is content; PkTotal alone does not make a part.
    let plain = one(&Submit {
        tlvs: vec![Tlv::PkTotal(2), Tlv::PkNumber(1)],
        ..submit(msg_format::BINARY, &content)
    });
    assert_eq!((plain.udh, plain.concat), (None, None));

    let broken = Submit {
        msg_content: Bytes::from_static(&[0x09, 0x00, 0x03]),
        ..part
    };
    let err = submit_to_messages(&broken, NOON).expect_err("bad udh");
    assert_eq!(err.status(), status::BAD_STRUCTURE);
}

#[test]
fn text_parts_are_told_by_the_tp_udhi_tlv_and_join() {
    // "你好" in GB18030 cut after its first octet.
    let part = |seq: u8, octets: &[u8]| Submit {
        tlvs: vec![Tlv::TpUdhi(1)],
        ..submit(
            msg_format::GB,
            &[&[0x05, 0x00, 0x03, 0x07, 0x02, seq], octets].concat(),
        )
    };
    let (first, second) = (part(1, &[0xc4]), part(2, &[0xe3, 0xba, 0xc3]));
    let (_, head) = text_part(&first).expect("a text part");
    let (info, tail) = text_part(&second).expect("a text part");
    assert_eq!((info.reference, info.total, info.seq), (7, 2, 2));
    let whole = joined(&one(&second), &[head, tail].concat()).expect("joined");
    assert_eq!(whole.body, Body::Text("你好".into()));
    let no_udhi = Submit {
        tlvs: Vec::new(),
        ..first
    };
    assert_eq!(text_part(&no_udhi), None);
}

#[test]
fn bad_destinations_and_times_get_their_own_status() {
    let s = Submit {
        dest_term_ids: vec!["13300000001".into(), "abc".into()],
        ..submit(0, b"x")
    };
    let err = submit_to_messages(&s, NOON).expect_err("bad dest");
    assert_eq!(err.status(), status::BAD_DEST_TERM_ID);

    let s = Submit {
        valid_time: "240301130000032+".into(),
        at_time: "000000010000000R".into(),
        ..submit(0, b"x")
    };
    let m = one(&s);
    assert_eq!(m.validity_unix, Some(NOON + 3600));
    assert_eq!(m.schedule_unix, Some(NOON + 3600));
    for (valid, at, expected) in [
        ("tomorrow", "", status::BAD_VALID_TIME),
        ("", "240231000000032+", status::BAD_AT_TIME),
    ] {
        let s = Submit {
            valid_time: valid.into(),
            at_time: at.into(),
            ..submit(0, b"x")
        };
        let err = submit_to_messages(&s, NOON).expect_err("bad time");
        assert_eq!(err.status(), expected, "{err}");
    }
}

pub(super) fn link() -> LinkOptions {
    LinkOptions {
        service_id: "TEST".into(),
        src_term_id: "10659".into(),
        ..LinkOptions::default()
    }
}

fn text_message(text: &str) -> Message {
    Message::text(
        Address::international("1234"),
        Address::international("+8613300000001"),
        text,
    )
}

#[test]
fn short_ascii_goes_as_one_part_without_udh_tlvs() {
    let submits = message_to_submits(&text_message("hello"), &link(), 7).expect("maps");
    assert_eq!(submits.len(), 1);
    let s = &submits[0];
    assert_eq!((s.msg_format, s.tp_udhi(), s.pk()), (0, 0, None));
    assert!(s.tlvs.is_empty());
    assert_eq!(&s.msg_content[..], b"hello");
    assert_eq!(s.src_term_id, "106591234");
    assert_eq!(s.dest_term_ids, vec!["8613300000001".to_owned()]);
    assert_eq!(
        (
            s.msg_type,
            s.fee_type.as_str(),
            s.fee_code.as_str(),
            s.fixed_fee.as_str()
        ),
        (6, "00", "000000", "000000")
    );
    assert_eq!((s.need_report, s.service_id.as_str()), (0, "TEST"));
}

#[test]
fn long_chinese_is_split_with_udh_and_pk_tlvs() {
    let text = "短信".repeat(60); // 120 characters, 240 octets of UCS-2
    let link = LinkOptions {
        signature_chars: 6,
        msg_src: "901234".into(),
        ..link()
    };
    let mut message = text_message(&text);
    message.set_link_id("LNK0001");
    let submits = message_to_submits(&message, &link, 0x2a).expect("maps");
    // 134 - 12 = 122 octets a part: 61 characters.
    assert_eq!(submits.len(), 2);
    for (i, s) in submits.iter().enumerate() {
        let seq = i as u8 + 1;
        assert_eq!((s.msg_format, s.tp_udhi(), s.pk()), (8, 1, Some((2, seq))));
        assert_eq!(&s.msg_content[..6], &[0x05, 0x00, 0x03, 0x2a, 2, seq]);
        assert!(s.msg_content.len() <= 140 - 12);
        assert_eq!(
            s.tlvs,
            vec![
                Tlv::TpUdhi(1),
                Tlv::LinkId("LNK0001".into()),
                Tlv::PkTotal(2),
                Tlv::PkNumber(seq),
                Tlv::MsgSrc("901234".into()),
            ]
        );
    }
}

#[test]
fn a_part_goes_as_it_is() {
    let message = Message {
        concat: Some(ConcatRef {
            reference: 300,
            total: 3,
            seq: 2,
        }),
        ..text_message("part two")
    };
    let submits = message_to_submits(&message, &link(), 1).expect("maps");
    assert_eq!(submits.len(), 1);
    let s = &submits[0];
    assert_eq!((s.tp_udhi(), s.pk()), (1, Some((3, 2))));
    assert_eq!(&s.msg_content[..7], &[0x06, 0x08, 0x04, 0x01, 0x2c, 3, 2]);
}

#[test]
fn sources_get_the_link_prefix_and_bad_link_fields_are_refused() {
    let mut message = text_message("x");
    message.source = Address::new(Ton::UNKNOWN, tern_model::Npi::ISDN, "77");
    let s = &message_to_submits(&message, &link(), 1).expect("maps")[0];
    assert_eq!(s.src_term_id, "1065977");
    let no_prefix = LinkOptions {
        src_term_id: String::new(),
        ..link()
    };
    message.source = Address::alphanumeric("Tern");
    let err = message_to_submits(&message, &no_prefix, 1).expect_err("no number");
    assert_eq!(err.status(), status::BAD_SRC_TERM_ID);
    for (bad, expected) in [
        (
            LinkOptions {
                service_id: "ELEVENCHARS".into(),
                ..link()
            },
            status::BAD_SERVICE_ID,
        ),
        (
            LinkOptions {
                fee_type: "001".into(),
                ..link()
            },
            status::BAD_FEE_TYPE,
        ),
        (
            LinkOptions {
                fixed_fee: "1234567".into(),
                ..link()
            },
            status::BAD_FIXED_FEE,
        ),
    ] {
        let err = message_to_submits(&text_message("x"), &bad, 1).expect_err("bad link");
        assert_eq!(err.status(), expected, "{err}");
    }
    let link = LinkOptions {
        max_parts: 2,
        ..link()
    };
    let err = message_to_submits(&text_message(&"a".repeat(400)), &link, 1).expect_err("parts");
    assert_eq!(err, MapError::TooManyParts { needed: 3, max: 2 });
    assert_eq!(err.status(), status::BAD_MSG_LENGTH);
}

fn mo(content: &[u8]) -> Deliver {
    Deliver {
        msg_id: MsgId::ZERO,
        is_report: 0,
        msg_format: 8,
        recv_time: "20240301120000".into(),
        src_term_id: "13300000001".into(),
        dest_term_id: "1065900001".into(),
        msg_content: Bytes::copy_from_slice(content),
        reserve: [0; 8],
        tlvs: vec![Tlv::LinkId("LNK20240301000000001".into())],
    }
}

#[test]
fn mo_delivers_map_both_ways_with_their_link_id() {
    let m = deliver_to_message(&mo(&[0x4f, 0x60])).expect("maps");
    assert_eq!(
        (m.source.value.as_str(), m.destination.value.as_str()),
        ("13300000001", "1065900001")
    );
    assert_eq!(m.body, Body::Text("你".into()));
    assert_eq!(m.link_id(), Some("LNK20240301000000001"));
    let report = Deliver {
        is_report: 1,
        ..mo(&[])
    };
    assert_eq!(deliver_to_message(&report), Err(MapError::IsReport));

    let back = message_to_delivers(&m, &link(), 1, NOON).expect("maps");
    assert_eq!(back, vec![mo(&[0x4f, 0x60])]);
}

fn smgp_report(stat: &str, err: &str) -> Report {
    Report {
        msg_id: MsgId([0x00, 0x00, 0x77, 0x03, 0x01, 0x12, 0x00, 0x00, 0x00, 0x42]),
        sub: "001".into(),
        dlvrd: "001".into(),
        submit_date: "2403011200".into(),
        done_date: "2403011201".into(),
        stat: stat.into(),
        err: err.into(),
        text: Bytes::new(),
    }
}

#[test]
fn report_states_and_times() {
    for (stat, state) in [
        ("DELIVRD", MessageState::Delivered),
        ("EXPIRED", MessageState::Expired),
        ("DELETED", MessageState::Deleted),
        ("UNDELIV", MessageState::Undeliverable),
        ("ACCEPTD", MessageState::Accepted),
        ("UNKNOWN", MessageState::Unknown),
        ("REJECTD", MessageState::Rejected),
    ] {
        let d = report_to_domain(&smgp_report(stat, "000"));
        assert_eq!((d.state, d.error, d.text.as_str()), (state, 0, ""));
        let back = domain_to_report(&d, smgp_report(stat, "000").msg_id);
        assert_eq!(back, smgp_report(stat, "000"));
    }
    let d = report_to_domain(&smgp_report("DELIVRD", "000"));
    assert_eq!(d.message_id, "00007703011200000042");
    assert_eq!((d.submit_unix, d.done_unix), (Some(NOON), Some(NOON + 60)));
    assert_eq!((d.submitted, d.delivered), (1, 1));
}

#[test]
fn operator_codes_and_errors_are_kept_through_the_domain() {
    let d = report_to_domain(&smgp_report("MK:0005", "000"));
    assert_eq!(
        (d.state, d.error, d.text.as_str()),
        (MessageState::Undeliverable, 5, "MK:0005")
    );
    let back = domain_to_report(&d, MsgId::ZERO);
    assert_eq!((back.stat.as_str(), back.err.as_str()), ("MK:0005", "005"));
    let d = report_to_domain(&smgp_report("UNDELIV", "012"));
    assert_eq!((d.state, d.error), (MessageState::Undeliverable, 12));
    // An echo of the message is text, not a code.
    let echo = DeliveryReport {
        text: "hi there".into(),
        ..d
    };
    let back = domain_to_report(&echo, MsgId::ZERO);
    assert_eq!(
        (back.stat.as_str(), &back.text[..]),
        ("UNDELIV", &b"hi there"[..])
    );
}

#[test]
fn a_report_deliver_carries_the_encoded_report() {
    let report = smgp_report("DELIVRD", "000");
    let own_id = MsgId([0, 0, 0x77, 0x03, 0x01, 0x12, 0x01, 0, 0, 0x01]);
    let d = report_deliver(&report, own_id, "13300000001", "1065900001", NOON).expect("maps");
    assert!(d.is_report());
    assert_eq!((d.msg_id, d.src_term_id.as_str()), (own_id, "13300000001"));
    assert_eq!(d.recv_time, "20240301120000");
    assert_eq!(d.msg_content.len(), 122);
    assert_eq!(d.report(), Some(Ok(report.clone())));
    let err = report_deliver(&report, own_id, &"1".repeat(22), "1", NOON).expect_err("long");
    assert_eq!(err.status(), status::BAD_SRC_TERM_ID);
    let missing = DeliveryReport {
        submit_unix: None,
        ..report_to_domain(&report)
    };
    assert_eq!(
        domain_to_report(&missing, MsgId::ZERO).submit_date,
        "2403011201"
    );
}
