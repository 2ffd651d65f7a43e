//! The mapping's rules, one behaviour a test.

use bytes::Bytes;
use tern_model::{Address, Body, Coding, ConcatRef, DeliveryReport, Message, MessageState};
use tern_model::{Priority, ReceiptRequest, Ton};

use super::*;
use crate::codec::{result, Deliver, Report, Submit, Version};

const NOON: i64 = 1_709_265_600; // 2024-03-01 12:00:00 +08:00

pub(super) fn submit(msg_fmt: u8, content: &[u8]) -> Submit {
    Submit {
        msg_id: 0,
        pk_total: 1,
        pk_number: 1,
        registered_delivery: 1,
        msg_level: 9,
        service_id: "TEST".into(),
        fee_user_type: 2,
        fee_terminal_id: String::new(),
        fee_terminal_type: 0,
        tp_pid: 0,
        tp_udhi: 0,
        msg_fmt,
        msg_src: "901234".into(),
        fee_type: "01".into(),
        fee_code: "000000".into(),
        valid_time: String::new(),
        at_time: String::new(),
        src_id: "1065800001".into(),
        dest_terminal_ids: vec!["13800138000".into()],
        dest_terminal_type: 0,
        msg_content: Bytes::copy_from_slice(content),
        link_id: String::new(),
    }
}

fn one(submit: &Submit) -> Message {
    let mut messages = submit_to_messages(submit, Version::V30, NOON).expect("maps");
    assert_eq!(messages.len(), 1);
    messages.remove(0)
}

#[test]
fn a_submit_to_two_terminals_is_two_messages() {
    let s = Submit {
        dest_terminal_ids: vec!["13800138000".into(), "8613900139000".into()],
        ..submit(msg_fmt::UCS2, &[0x4f, 0x60, 0x59, 0x7d])
    };
    let messages = submit_to_messages(&s, Version::V30, NOON).expect("maps");
    assert_eq!(messages.len(), 2);
    assert_eq!(messages[0].destination.value, "13800138000");
    assert_eq!(messages[1].destination.value, "8613900139000");
    for m in &messages {
        assert_eq!(m.body, Body::Text("你好".into()));
        assert_eq!(m.coding, Coding::Ucs2);
        assert_eq!(m.source.value, "1065800001");
        assert_eq!(m.receipt, ReceiptRequest::Final);
        assert_eq!(m.priority, Priority(3), "Msg_level 9 is capped");
        assert_eq!(m.service_type, "TEST");
    }
}

#[test]
fn undecodable_content_is_a_bad_msg_length() {
    for (fmt, content) in [
        (msg_fmt::UCS2, &[0x4f, 0x60, 0x59][..]),
        (msg_fmt::UCS2, &[0xd8, 0x3d][..]),
        (msg_fmt::GB, &[0xc4][..]),
    ] {
        let err =
            submit_to_messages(&submit(fmt, content), Version::V30, NOON).expect_err("refused");
        assert_eq!(err.result(), result::BAD_MSG_LENGTH, "{err}");
    }
}

#[test]
fn content_limits_are_159_ascii_and_140_otherwise() {
    assert!(submit_to_messages(&submit(msg_fmt::ASCII, &[b'a'; 159]), Version::V30, NOON).is_ok());
    let err = submit_to_messages(&submit(msg_fmt::ASCII, &[b'a'; 160]), Version::V30, NOON)
        .expect_err("long");
    assert_eq!(err.result(), result::TOO_LONG);
    assert!(submit_to_messages(&submit(msg_fmt::UCS2, &[0; 140]), Version::V30, NOON).is_ok());
    let err = submit_to_messages(&submit(msg_fmt::UCS2, &[0; 142]), Version::V30, NOON)
        .expect_err("long");
    assert_eq!(err.result(), result::TOO_LONG);
}

#[test]
fn tp_udhi_splits_off_the_udh() {
    let content = [0x05, 0x00, 0x03, 0x2a, 0x02, 0x01, 0x4f, 0x60];
    let m = one(&Submit {
        tp_udhi: 1,
        ..submit(msg_fmt::UCS2, &content)
    });
    assert_eq!(m.concat.map(|c| (c.reference, c.seq)), Some((0x2a, 1)));
    assert_eq!(m.body, Body::Text("你".into()));
    let plain = one(&submit(msg_fmt::BINARY, &content));
    assert_eq!((plain.udh, plain.concat), (None, None));
    let mut bad = content;
    bad[0] = 0x09; // UDH longer than the content
    let err = submit_to_messages(
        &Submit {
            tp_udhi: 1,
            ..submit(msg_fmt::UCS2, &bad)
        },
        Version::V30,
        NOON,
    )
    .expect_err("bad udh");
    assert_eq!(err.result(), result::BAD_STRUCTURE);
}

#[test]
fn text_parts_are_told_by_tp_udhi_and_join() {
    // "你好" in GB18030 cut after its first octet.
    let part = |seq: u8, octets: &[u8]| Submit {
        tp_udhi: 1,
        ..submit(
            msg_fmt::GB,
            &[&[0x05, 0x00, 0x03, 0x07, 0x02, seq], octets].concat(),
        )
    };
    let (first, second) = (part(1, &[0xc4]), part(2, &[0xe3, 0xba, 0xc3]));
    let (info, head) = text_part(&first).expect("a text part");
    assert_eq!((info.reference, info.total, info.seq), (7, 2, 1));
    let (_, tail) = text_part(&second).expect("a text part");
    let whole = joined(&one(&first), &[head, tail].concat()).expect("joined");
    assert_eq!(whole.body, Body::Text("你好".into()));
    let no_udhi = Submit {
        tp_udhi: 0,
        ..first
    };
    assert_eq!(text_part(&no_udhi), None);
}

#[test]
fn bad_destinations_and_times_are_refused() {
    let s = Submit {
        dest_terminal_ids: vec!["13800138000".into(), "abc".into()],
        ..submit(msg_fmt::ASCII, b"x")
    };
    let err = submit_to_messages(&s, Version::V30, NOON).expect_err("bad dest");
    assert_eq!(err.result(), result::BAD_DEST_TERMINAL_ID);

    let s = Submit {
        valid_time: "240301130000032+".into(),
        at_time: "000000010000000R".into(),
        ..submit(0, b"x")
    };
    let m = one(&s);
    assert_eq!(m.validity_unix, Some(NOON + 3600));
    assert_eq!(m.schedule_unix, Some(NOON + 3600));
    let s = Submit {
        valid_time: "tomorrow".into(),
        ..submit(0, b"x")
    };
    assert!(submit_to_messages(&s, Version::V30, NOON).is_err());
}

fn link() -> LinkOptions {
    LinkOptions {
        msg_src: "901234".into(),
        service_id: "TEST".into(),
        src_id: "10658".into(),
        ..LinkOptions::default()
    }
}

fn text_message(text: &str) -> Message {
    Message::text(
        Address::international("1234"),
        Address::international("+8613800138000"),
        text,
    )
}

#[test]
fn short_ascii_goes_as_one_ascii_part() {
    let submits = message_to_submits(&text_message("hello"), &link(), 7).expect("maps");
    assert_eq!(submits.len(), 1);
    let s = &submits[0];
    assert_eq!(
        (s.msg_fmt, s.tp_udhi, s.pk_total, s.pk_number),
        (0, 0, 1, 1)
    );
    assert_eq!(&s.msg_content[..], b"hello");
    assert_eq!(s.src_id, "106581234");
    assert_eq!(s.dest_terminal_ids, vec!["8613800138000".to_owned()]);
    assert_eq!(
        (s.msg_src.as_str(), s.service_id.as_str()),
        ("901234", "TEST")
    );
    assert_eq!(s.registered_delivery, 0);
}

#[test]
fn long_chinese_is_split_with_room_for_the_signature() {
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
        assert_eq!(
            (s.msg_fmt, s.tp_udhi, s.pk_total, s.pk_number),
            (8, 1, 2, seq)
        );
        assert_eq!(&s.msg_content[..6], &[0x05, 0x00, 0x03, 0x2a, 2, seq]);
        assert!(s.msg_content.len() <= 140 - 12);
    }
    assert_eq!(submits[0].msg_content.len(), 6 + 122);
    // Without a signature the same text fits two parts of 67 characters.
    let plain = message_to_submits(&text_message(&text), &super::tests::link(), 1).expect("maps");
    assert_eq!(plain[0].msg_content.len(), 6 + 134);
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
    assert_eq!((s.tp_udhi, s.pk_total, s.pk_number), (1, 3, 2));
    assert_eq!(&s.msg_content[..7], &[0x06, 0x08, 0x04, 0x01, 0x2c, 3, 2]);
}

#[test]
fn sources_get_the_link_prefix() {
    let mut message = text_message("x");
    message.source = Address::new(Ton::UNKNOWN, tern_model::Npi::ISDN, "77");
    let s = &message_to_submits(&message, &link(), 1).expect("maps")[0];
    assert_eq!(s.src_id, "1065877");
    let no_prefix = LinkOptions {
        src_id: String::new(),
        ..link()
    };
    message.source = Address::alphanumeric("Tern");
    let err = message_to_submits(&message, &no_prefix, 1).expect_err("no number");
    assert_eq!(err.result(), result::BAD_SRC_ID);
    message.source = Address::international("1".repeat(30));
    assert_eq!(
        message_to_submits(&message, &link(), 1)
            .expect_err("long")
            .result(),
        result::BAD_SRC_ID
    );
}

#[test]
fn too_many_parts_and_bad_link_fields_are_refused() {
    let link = LinkOptions {
        max_parts: 2,
        ..link()
    };
    // 153 ASCII characters a part: 400 need three.
    let err = message_to_submits(&text_message(&"a".repeat(400)), &link, 1).expect_err("parts");
    assert_eq!(err, MapError::TooManyParts { needed: 3, max: 2 });
    let bad = LinkOptions {
        service_id: "ELEVENCHARS".into(),
        ..super::tests::link()
    };
    let err = message_to_submits(&text_message("x"), &bad, 1).expect_err("service id");
    assert_eq!(err.result(), result::BAD_SERVICE_ID);
}

fn mo(content: &[u8]) -> Deliver {
    Deliver {
        msg_id: 1,
        dest_id: "1065800001".into(),
        service_id: "TEST".into(),
        tp_pid: 0,
        tp_udhi: 0,
        msg_fmt: 8,
        src_terminal_id: "13800138000".into(),
        src_terminal_type: 0,
        registered_delivery: 0,
        msg_content: Bytes::copy_from_slice(content),
        link_id: String::new(),
    }
}

#[test]
fn mo_delivers_map_both_ways() {
    let m = deliver_to_message(&mo(&[0x4f, 0x60]), Version::V30).expect("maps");
    assert_eq!(
        (m.source.value.as_str(), m.destination.value.as_str()),
        ("13800138000", "1065800001")
    );
    assert_eq!(m.body, Body::Text("你".into()));
    let report = Deliver {
        registered_delivery: 1,
        ..mo(&[])
    };
    assert_eq!(
        deliver_to_message(&report, Version::V30),
        Err(MapError::IsReport)
    );

    let back = message_to_delivers(&m, &link(), 1).expect("maps");
    assert_eq!(back.len(), 1);
    assert_eq!(
        back[0],
        Deliver {
            msg_id: 0,
            ..mo(&[0x4f, 0x60])
        }
    );
}

#[test]
fn a_link_id_crosses_from_mo_to_reply_in_3_0_only() {
    let mut deliver = mo(&[0x4f, 0x60]);
    deliver.link_id = "LNK20261123000000001".into();
    let message = deliver_to_message(&deliver, Version::V30).expect("maps");
    assert_eq!(message.link_id(), Some("LNK20261123000000001"));
    let v3 = LinkOptions {
        version: Version::V30,
        ..link()
    };
    let v2 = LinkOptions {
        version: Version::V20,
        ..link()
    };
    let to_customer = message_to_delivers(&message, &v3, 1).expect("maps");
    assert_eq!(to_customer[0].link_id, "LNK20261123000000001");
    assert_eq!(
        message_to_delivers(&message, &v2, 1).expect("maps")[0].link_id,
        ""
    );

    // The SP's reply names it; a 3.0 operator gets it on every part, a 2.0 one never.
    let mut reply = submit(8, &[0x4f, 0x60]);
    reply.link_id = "LNK20261123000000001".into();
    let mut reply = one(&reply);
    reply.destination = Address::international("+8613800138000");
    let long = Message {
        body: Body::Text("长".repeat(100)),
        coding: Coding::Ucs2,
        ..reply.clone()
    };
    let parts = message_to_submits(&long, &v3, 1).expect("maps");
    assert_eq!(parts.len(), 2);
    assert!(parts.iter().all(|p| p.link_id == "LNK20261123000000001"));
    assert!(message_to_submits(&long, &v2, 1)
        .expect("maps")
        .iter()
        .all(|p| p.link_id.is_empty()));

    // Over 2.0 the field is Reserve, which is not a LinkID.
    let over_2_0 = deliver_to_message(&deliver, Version::V20).expect("maps");
    assert_eq!(over_2_0.link_id(), None);
    let mut submit_2_0 = submit(8, &[0x4f, 0x60]);
    submit_2_0.link_id = "LNK20261123000000001".into();
    let over_2_0 = submit_to_messages(&submit_2_0, Version::V20, NOON).expect("maps");
    assert_eq!(over_2_0[0].link_id(), None);
}

fn cmpp_report(stat: &str) -> Report {
    Report {
        msg_id: 0x1234,
        stat: stat.into(),
        submit_time: "2403011200".into(),
        done_time: "2403011201".into(),
        dest_terminal_id: "13800138000".into(),
        smsc_sequence: 9,
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
    for (stat, state) in cases {
        let d = report_to_domain(&cmpp_report(stat));
        assert_eq!((d.state, d.error, d.text.as_str()), (state, 0, ""));
        assert_eq!(
            domain_to_report(&d, 0x1234, "13800138000"),
            cmpp_report(stat).with_sequence(0)
        );
    }
    let d = report_to_domain(&cmpp_report("DELIVRD"));
    assert_eq!(d.message_id, "4660");
    assert_eq!((d.submit_unix, d.done_unix), (Some(NOON), Some(NOON + 60)));
    assert_eq!(d.delivered, 1);
}

impl Report {
    fn with_sequence(self, smsc_sequence: u32) -> Report {
        Report {
            smsc_sequence,
            ..self
        }
    }
}

#[test]
fn operator_codes_are_kept_through_the_domain() {
    let d = report_to_domain(&cmpp_report("MK:0005"));
    assert_eq!(
        (d.state, d.error, d.text.as_str()),
        (MessageState::Undeliverable, 5, "MK:0005")
    );
    assert_eq!(domain_to_report(&d, 1, "1").stat, "MK:0005");
    // Echoed message text is not mistaken for a code.
    let echo = DeliveryReport {
        text: "hi there".into(),
        ..d.clone()
    };
    assert_eq!(domain_to_report(&echo, 1, "1").stat, "UNDELIV");
    let odd = report_to_domain(&cmpp_report("ERR"));
    assert_eq!((odd.state, odd.error), (MessageState::Undeliverable, 0));
}

#[test]
fn a_report_deliver_carries_the_encoded_report() {
    let report = cmpp_report("DELIVRD");
    for version in [Version::V20, Version::V30] {
        let d = report_deliver(&report, version, 77, "10658", "TEST").expect("maps");
        assert!(d.is_report());
        assert_eq!(d.src_terminal_id, "13800138000");
        assert_eq!(d.report(version), Some(Ok(report.clone())));
    }
    let missing = DeliveryReport {
        submit_unix: None,
        ..report_to_domain(&report)
    };
    assert_eq!(domain_to_report(&missing, 1, "1").submit_time, "2403011201");
}
