//! Round trips through the mapping: any text sent through `message_to_submits` and the
//! wire comes back whole from `submit_to_messages`; a SUBMIT, a DELIVER and a REPORT that
//! follow the specification come back unchanged from the domain.

use bytes::{Bytes, BytesMut};
use proptest::prelude::*;
use tern_model::{Address, Body, Message};

use super::*;
use crate::codec::DEFAULT_MAX_LEN;
use crate::codec::{report, Body as PduBody, Decoder, Deliver, Pdu, Report, Submit};
use crate::msgid::SequenceNumber;
use crate::time::unix_to_smpp_absolute;

fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        "[ -~]{0,400}",
        "[一-龥]{0,300}",
        "[a-z一-龥😀-🙏]{0,300}",
        any::<String>().prop_map(|s| s.chars().take(300).collect()),
    ]
}

/// Content of one part that decodes to text and encodes back to the same octets: printable
/// ASCII in coding 0, text with a character beyond ASCII in coding 8.
fn single_part() -> impl Strategy<Value = (u8, Bytes)> {
    prop_oneof![
        "[ -~]{1,160}".prop_map(|t| (message_coding::ASCII, Bytes::from(t.into_bytes()))),
        "[a-z]{0,30}[一-龥][a-z一-龥]{0,38}".prop_map(|t| {
            let octets: Vec<u8> = t.encode_utf16().flat_map(u16::to_be_bytes).collect();
            (message_coding::UCS2, Bytes::from(octets))
        }),
    ]
}

fn handset() -> impl Strategy<Value = String> {
    "86(13|15|18)[0-9]{9}"
}

/// A time the specification's form can carry, 2001 to 2098 in Beijing time.
fn smpp_time() -> impl Strategy<Value = String> {
    prop_oneof![
        Just(String::new()),
        (978_307_200i64..4_070_908_800).prop_map(unix_to_smpp_absolute),
    ]
}

prop_compose! {
    fn spec_submit()(
        (coding, content) in single_part(),
        user in handset(),
        sp_number in "10655[0-9]{0,8}",
        priority in prop::sample::select(vec![0u8, 3, 6, 9]),
        flag in 0u8..=2,
        expire_time in smpp_time(),
        schedule_time in smpp_time(),
        fee in (0u8..=4, "[0-9]{1,5}", "[0-9]{1,5}", 0u8..=1, 0u8..=3),
        tp_pid in any::<u8>(),
    ) -> Submit {
        Submit {
            sp_number,
            charge_number: SP_PAYS.into(),
            user_numbers: vec![user],
            corp_id: "12345".into(),
            service_type: "TEST".into(),
            fee_type: fee.0,
            fee_value: fee.1,
            given_value: fee.2,
            agent_flag: fee.3,
            morelate_to_mt_flag: fee.4,
            priority,
            expire_time,
            schedule_time,
            report_flag: flag,
            tp_pid,
            tp_udhi: 0,
            message_coding: coding,
            message_type: 0,
            message_content: content,
            reserve: String::new(),
        }
    }
}

proptest! {
    #[test]
    fn split_then_read_back_gives_the_text(
        text in text(),
        signature_chars in 0usize..20,
        prefer_gbk in any::<bool>(),
        reference in any::<u8>(),
    ) {
        let link = LinkOptions {
            sp_number: "10655".into(),
            signature_chars,
            prefer_gbk,
            ..LinkOptions::default()
        };
        let message = Message::text(
            Address::international("1"),
            Address::international("8613800138000"),
            text.clone(),
        );
        let submits = message_to_submits(&message, &link, reference).expect("maps");
        let total = submits.len();
        let mut decoder = Decoder::new(DEFAULT_MAX_LEN);
        let mut joined = String::new();
        for (i, submit) in submits.into_iter().enumerate() {
            let (room, limit) = if submit.message_coding == 0 {
                (signature_chars, if total == 1 { 160 } else { 159 })
            } else {
                (signature_chars * 2, 140)
            };
            prop_assert!(
                submit.message_content.len() + room <= limit || total == 1 && room > limit
            );
            let pdu = Pdu { sequence: SequenceNumber::new(1, 2, 3), body: PduBody::Submit(submit) };
            let mut wire = BytesMut::new();
            pdu.encode(&mut wire).expect("encodes");
            let Some(Pdu { body: PduBody::Submit(back), .. }) =
                decoder.decode(&mut wire).expect("decodes")
            else {
                return Err(TestCaseError::fail("not a SUBMIT"));
            };
            let mut messages = submit_to_messages(&back, 0).expect("reads back");
            prop_assert_eq!(messages.len(), 1);
            let part = messages.remove(0);
            if total > 1 {
                let concat = part.concat.expect("a part");
                prop_assert_eq!(
                    (concat.reference, usize::from(concat.total), usize::from(concat.seq)),
                    (u16::from(reference), total, i + 1)
                );
            }
            match part.body {
                Body::Text(piece) => joined.push_str(&piece),
                Body::Binary(_) => return Err(TestCaseError::fail("a part did not decode alone")),
            }
        }
        prop_assert_eq!(joined, text);
    }

    #[test]
    fn a_submit_comes_back_from_the_domain(submit in spec_submit()) {
        let link = LinkOptions {
            corp_id: submit.corp_id.clone(),
            service_type: submit.service_type.clone(),
            fee_type: submit.fee_type,
            fee_value: submit.fee_value.clone(),
            given_value: submit.given_value.clone(),
            agent_flag: submit.agent_flag,
            morelate_to_mt_flag: submit.morelate_to_mt_flag,
            ..LinkOptions::default()
        };
        let mut messages = submit_to_messages(&submit, 1_709_265_600).expect("maps");
        prop_assert_eq!(messages.len(), 1);
        let message = messages.remove(0);
        let back = message_to_submits(&message, &link, 0).expect("maps back");
        prop_assert_eq!(back, vec![submit]);
    }

    #[test]
    fn a_deliver_comes_back_from_the_domain(
        (coding, content) in single_part(),
        user in handset(),
        sp_number in "10655[0-9]{0,8}",
        tp_pid in any::<u8>(),
    ) {
        let deliver = Deliver {
            user_number: user,
            sp_number,
            tp_pid,
            tp_udhi: 0,
            message_coding: coding,
            message_content: content,
            reserve: String::new(),
        };
        let message = deliver_to_message(&deliver).expect("maps");
        let back = message_to_delivers(&message, &LinkOptions::default(), 0).expect("maps back");
        prop_assert_eq!(back, vec![deliver]);
    }

    #[test]
    fn a_report_comes_back_from_the_domain(
        node in any::<u32>(),
        sent in 0i64..4_000_000_000,
        counter in any::<u32>(),
        user in handset(),
        (state, error_code) in prop_oneof![
            Just((report::DELIVERED, 0u8)),
            Just((report::WAITING, 0u8)),
            (1u8..=255).prop_map(|code| (report::FAILED, code)),
        ],
    ) {
        let submit_sequence = crate::SequenceGenerator::starting_at(node, counter).next(sent);
        let report = Report {
            submit_sequence,
            report_type: report::ON_SUBMIT,
            user_number: user,
            state,
            error_code,
            reserve: String::new(),
        };
        let domain = report_to_domain(&report, sent + 60);
        prop_assert_eq!(domain.submit_unix, Some(sent));
        prop_assert_eq!(SequenceNumber::parse_text(&domain.message_id), Some(submit_sequence));
        let destination = Address::international(report.user_number.clone());
        let back = domain_to_report(&domain, submit_sequence, &destination).expect("maps back");
        prop_assert_eq!(back, report);
    }
}
