//! The mapping's rules, one behaviour a test.

use bytes::Bytes;
use tern_model::{Address, Body, Coding, ConcatRef, DeliveryReport, Message, MessageState};
use tern_model::{Priority, ReceiptRequest, Ton};

use super::*;
use crate::codec::{status, tag, Deliver, Report, Submit, Tlv, Tlvs};
use crate::msgid::MsgId;

const NOON: i64 = 1_709_265_600; // 2024-03-01 12:00:00 +08:00

pub(super) fn submit(msg_format: u8, content: &[u8]) -> Submit {
    Submit {
        sp_id: "901234".into(),
        sub_type: 2,
        need_report: 1,
        priority: 9,
        service_id: "TEST".into(),
        fee_type: "00".into(),
        fee_user_type: 2,
        fee_code: "000000".into(),
        msg_format,
        valid_time: String::new(),
        at_time: String::new(),
        src_term_id: "1065800001".into(),
        charge_term_id: String::new(),
        dest_term_ids: vec!["13300133000".into()],
        msg_content: Bytes::copy_from_slice(content),
        tlvs: Tlvs::new(),
    }
}

fn with_udhi(submit: Submit) -> Submit {
    Submit {
        tlvs: vec![Tlv::u8(tag::TP_UDHI, 1)].into(),
        ..submit
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
        dest_term_ids: vec!["13300133000".into(), "8613900139000".into()],
        tlvs: vec![Tlv::u8(tag::PROTOCOL_ID, 0x41)].into(),
        ..submit(msg_format::UCS2, &[0x4f, 0x60, 0x59, 0x7d])
    };
    let messages = submit_to_messages(&s, NOON).expect("maps");
    assert_eq!(messages.len(), 2);
    assert_eq!(messages[0].destination.value, "13300133000");
    assert_eq!(messages[1].destination.value, "8613900139000");
    for m in &messages {
        assert_eq!(m.body, Body::Text("你好".into()));
        assert_eq!(m.coding, Coding::Ucs2);
        assert_eq!(m.source.value, "1065800001");
        assert_eq!(m.receipt, ReceiptRequest::Final);
        assert_eq!(m.priority, Priority(3), "Priority 9 is capped");
        assert_eq!(m.service_type, "TEST");
        assert_eq!(m.protocol_id, 0x41);
    }
}

#[test]
fn undecodable_or_long_content_is_a_bad_msg_length() {
    for (format, content) in [
        (msg_format::UCS2, &[0x4f, 0x60, 0x59][..]),
        (msg_format::UCS2, &[0xd8, 0x3d][..]),
        (msg_format::GB, &[0xc4][..]),
        (msg_format::ASCII, &[b'a'; 160][..]),
        (msg_format::UCS2, &[0; 142][..]),
    ] {
        let err = submit_to_messages(&submit(format, content), NOON).expect_err("refused");
        assert_eq!(err.status(), status::BAD_MSG_LENGTH, "{err}");
    }
    assert!(submit_to_messages(&submit(msg_format::ASCII, &[b'a'; 159]), NOON).is_ok());
    assert!(submit_to_messages(&submit(msg_format::UCS2, &[0; 140]), NOON).is_ok());
}

#[test]
fn tp_udhi_splits_off_the_concatenation_header() {
    let mut content = vec![0x05, 0x00, 0x03, 0x2a, 0x02, 0x01];
    content.extend_from_slice(&[0x4f, 0x60]);
    let m = one(&with_udhi(submit(msg_format::UCS2, &content)));
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

    // Without TP_udhi the same octets are text.
    let plain = one(&submit(msg_format::UCS2, &content));
    assert_eq!((plain.udh, plain.concat), (None, None));

    content[0] = 0x09; // UDH longer than the content
    let err = submit_to_messages(&with_udhi(submit(msg_format::UCS2, &content)), NOON)
        .expect_err("bad udh");
    assert_eq!(err.status(), status::BAD_STRUCTURE);
}

#[test]
fn text_parts_join_when_tp_udhi_is_set() {
    let content = |seq: u8, gb: &[u8]| [&[0x05, 0x00, 0x03, 0x07, 0x02, seq], gb].concat();
    let first = with_udhi(submit(msg_format::GB, &content(1, &[0xc4])));
    let second = with_udhi(submit(msg_format::GB, &content(2, &[0xe3, 0xba, 0xc3])));
    let octets: Vec<u8> = [&first, &second]
        .iter()
        .filter_map(|s| text_part(s))
        .flat_map(|(_, octets)| octets.to_vec())
        .collect();
    let whole = joined(&one(&first), &octets).expect("joined");
    assert_eq!(whole.body, Body::Text("你好".into()));
    let without = submit(msg_format::GB, &content(1, &[0xc4]));
    assert_eq!(text_part(&without), None, "no TP_udhi");
}

#[test]
fn bad_destinations_and_times_get_their_status() {
    let s = Submit {
        dest_term_ids: vec!["13300133000".into(), "abc".into()],
        ..submit(msg_format::ASCII, b"x")
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
    for (valid_time, at_time, expected) in [
        ("tomorrow", "", status::BAD_VALID_TIME),
        ("", "soon", status::BAD_AT_TIME),
    ] {
        let s = Submit {
            valid_time: valid_time.into(),
            at_time: at_time.into(),
            ..submit(0, b"x")
        };
        let err = submit_to_messages(&s, NOON).expect_err("bad time");
        assert_eq!(err.status(), expected);
    }
}

fn link() -> LinkOptions {
    LinkOptions {
        sp_id: "901234".into(),
        service_id: "TEST".into(),
        src_term_id: "10658".into(),
        ..LinkOptions::default()
    }
}

fn text_message(text: &str) -> Message {
    Message::text(
        Address::international("1234"),
        Address::international("+8613300133000"),
        text,
    )
}

#[test]
fn short_ascii_goes_as_one_part_with_the_link_fields() {
    let submits = message_to_submits(&text_message("hello"), &link(), 7).expect("maps");
    assert_eq!(submits.len(), 1);
    let s = &submits[0];
    assert_eq!((s.msg_format, s.need_report, s.sub_type), (0, 0, 2));
    assert_eq!(&s.msg_content[..], b"hello");
    assert_eq!(s.src_term_id, "106581234");
    assert_eq!(s.dest_term_ids, vec!["8613300133000".to_owned()]);
    assert_eq!(
        (s.sp_id.as_str(), s.service_id.as_str()),
        ("901234", "TEST")
    );
    assert_eq!(
        (s.fee_type.as_str(), s.fee_code.as_str(), s.fee_user_type),
        ("00", "000000", 2)
    );
    assert_eq!(s.tlvs.as_slice(), &[Tlv::u8(tag::PROTOCOL_ID, 0)]);
}

#[test]
fn long_chinese_is_split_with_udh_and_tp_udhi() {
    let text = "短信".repeat(60); // 120 characters, 240 octets of UCS-2
    let link = LinkOptions {
        signature_chars: 6,
        ..link()
    };
    let submits = message_to_submits(&text_message(&text), &link, 0x2a).expect("maps");
    // 134 - 12 = 122 octets a part: 61 characters.
    assert_eq!(submits.len(), 2);
    for (i, s) in submits.iter().enumerate() {
        let seq = i as u8 + 1;
        assert_eq!(s.msg_format, 8);
        assert_eq!(&s.msg_content[..6], &[0x05, 0x00, 0x03, 0x2a, 2, seq]);
        assert_eq!(s.tlvs.u8(tag::TP_UDHI), Some(1));
        assert!(s.msg_content.len() <= 140 - 12);
    }
    assert_eq!(submits[0].msg_content.len(), 6 + 122);
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
    assert_eq!(
        &submits[0].msg_content[..7],
        &[0x06, 0x08, 0x04, 0x01, 0x2c, 3, 2]
    );
    assert_eq!(submits[0].tlvs.u8(tag::TP_UDHI), Some(1));
}

#[test]
fn sources_get_the_link_prefix() {
    let mut message = text_message("x");
    message.source = Address::new(Ton::UNKNOWN, tern_model::Npi::ISDN, "77");
    let s = &message_to_submits(&message, &link(), 1).expect("maps")[0];
    assert_eq!(s.src_term_id, "1065877");
    let no_prefix = LinkOptions {
        src_term_id: String::new(),
        ..link()
    };
    message.source = Address::alphanumeric("Tern");
    let err = message_to_submits(&message, &no_prefix, 1).expect_err("no number");
    assert_eq!(err.status(), status::BAD_SRC_TERM_ID);
    message.source = Address::international("1".repeat(30));
    let err = message_to_submits(&message, &link(), 1).expect_err("long");
    assert_eq!(err.status(), status::BAD_SRC_TERM_ID);
}

#[test]
fn too_many_parts_and_bad_link_fields_are_refused() {
    let link2 = LinkOptions {
        max_parts: 2,
        ..link()
    };
    let err = message_to_submits(&text_message(&"a".repeat(400)), &link2, 1).expect_err("parts");
    assert_eq!(err, MapError::TooManyParts { needed: 3, max: 2 });
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
                sp_id: "ELEVENCHARS".into(),
                ..link()
            },
            status::BAD_SP_ID,
        ),
        (
            LinkOptions {
                fee_code: "1234567".into(),
                ..link()
            },
            status::BAD_FEE_CODE,
        ),
    ] {
        let err = message_to_submits(&text_message("x"), &bad, 1).expect_err("link field");
        assert_eq!(err.status(), expected);
    }
}

fn mo(content: &[u8]) -> Deliver {
    Deliver {
        msg_id: MsgId([1; 10]),
        is_report: 0,
        msg_format: 8,
        recv_time: "20240301120000".into(),
        src_term_id: "13300133000".into(),
        dest_term_id: "1065800001".into(),
        msg_content: Bytes::copy_from_slice(content),
        tlvs: vec![Tlv::u8(tag::PROTOCOL_ID, 0)].into(),
    }
}

#[test]
fn mo_delivers_map_both_ways() {
    let m = deliver_to_message(&mo(&[0x4f, 0x60])).expect("maps");
    assert_eq!(
        (m.source.value.as_str(), m.destination.value.as_str()),
        ("13300133000", "1065800001")
    );
    assert_eq!(m.body, Body::Text("你".into()));
    let report = Deliver {
        is_report: 1,
        ..mo(&[])
    };
    assert_eq!(deliver_to_message(&report), Err(MapError::IsReport));

    let back = message_to_delivers(&m, &link(), 1, NOON).expect("maps");
    assert_eq!(
        back,
        vec![Deliver {
            msg_id: MsgId::ZERO,
            ..mo(&[0x4f, 0x60])
        }]
    );
}

#[test]
fn a_link_id_crosses_from_mo_to_reply() {
    let mut deliver = mo(&[0x4f, 0x60]);
    deliver
        .tlvs
        .push(Tlv::new(tag::LINK_ID, &b"LNK20261123000000001"[..]));
    let message = deliver_to_message(&deliver).expect("maps");
    assert_eq!(message.link_id(), Some("LNK20261123000000001"));
    let to_customer = message_to_delivers(&message, &link(), 1, NOON).expect("maps");
    assert_eq!(
        to_customer[0].tlvs.text(tag::LINK_ID).as_deref(),
        Some("LNK20261123000000001")
    );

    let mut reply = submit(8, &[0x4f, 0x60]);
    reply
        .tlvs
        .push(Tlv::new(tag::LINK_ID, &b"LNK20261123000000001"[..]));
    let mut reply = one(&reply);
    reply.body = Body::Text("长".repeat(100));
    let parts = message_to_submits(&reply, &link(), 1).expect("maps");
    assert_eq!(parts.len(), 2);
    assert!(parts
        .iter()
        .all(|p| p.tlvs.text(tag::LINK_ID).as_deref() == Some("LNK20261123000000001")));
}

fn cngp_report(stat: &str, err: &str) -> Report {
    Report {
        msg_id: MsgId::parse_text("12345603011200000007").expect("id"),
        sub: "001".into(),
        dlvrd: if stat == "DELIVRD" { "001" } else { "000" }.into(),
        submit_date: "2403011200".into(),
        done_date: "2403011201".into(),
        stat: stat.into(),
        err: err.into(),
        txt: Bytes::new(),
    }
}

#[test]
fn report_states_and_times() {
    let cases = [
        ("DELIVRD", MessageState::Delivered),
        ("EXPIRED", MessageState::Expired),
        ("DELETED", MessageState::Deleted),
        ("UNDELIV", MessageState::Undeliverable),
        ("ACCEPTD", MessageState::Accepted),
        ("UNKNOWN", MessageState::Unknown),
        ("REJECTD", MessageState::Rejected),
    ];
    let id = MsgId::parse_text("12345603011200000007").expect("id");
    for (stat, state) in cases {
        let d = report_to_domain(&cngp_report(stat, "000"));
        assert_eq!((d.state, d.error, d.text.as_str()), (state, 0, ""));
        assert_eq!(domain_to_report(&d, id), cngp_report(stat, "000"));
    }
    let d = report_to_domain(&cngp_report("DELIVRD", "000"));
    assert_eq!(d.message_id, "12345603011200000007");
    assert_eq!((d.submit_unix, d.done_unix), (Some(NOON), Some(NOON + 60)));
    assert_eq!((d.submitted, d.delivered), (1, 1));
    let undelivered = report_to_domain(&cngp_report("UNDELIV", "012"));
    assert_eq!(undelivered.error, 12);
}

#[test]
fn operator_codes_are_kept_through_the_domain() {
    let id = MsgId::ZERO;
    let d = report_to_domain(&cngp_report("MK:0005", "000"));
    assert_eq!(
        (d.state, d.error, d.text.as_str()),
        (MessageState::Undeliverable, 5, "MK:0005")
    );
    assert_eq!(domain_to_report(&d, id).stat, "MK:0005");
    let echo = DeliveryReport {
        text: "hi there".into(),
        ..d.clone()
    };
    let out = domain_to_report(&echo, id);
    assert_eq!(
        (out.stat.as_str(), &out.txt[..]),
        ("UNDELIV", &b"hi there"[..])
    );
}

#[test]
fn a_report_deliver_carries_the_encoded_report() {
    let report = cngp_report("DELIVRD", "000");
    let d = report_deliver(&report, MsgId([7; 10]), "13300133000", "10658", NOON).expect("maps");
    assert!(d.is_report());
    assert_eq!(d.recv_time, "20240301120000");
    assert_eq!(d.src_term_id, "13300133000");
    assert_eq!(d.report(), Some(Ok(report.clone())));
    let err = report_deliver(&report, MsgId::ZERO, &"1".repeat(22), "1", NOON).expect_err("long");
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
