//! Round trips through the mapping and the wire: any text sent through
//! `message_to_submits` comes back whole from `submit_to_messages`, any MO through
//! `message_to_delivers` and `deliver_to_message`, and any domain report through the
//! status report DELIVER.

use bytes::BytesMut;
use proptest::prelude::*;
use tern_model::{Address, Body, DeliveryReport, Message, MessageState};

use super::*;
use crate::codec::{Body as PduBody, Decoder, Pdu, DEFAULT_MAX_LEN};
use crate::msgid::MsgId;

fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        "[ -~]{0,400}",
        "[一-龥]{0,300}",
        "[a-z一-龥😀-🙏]{0,300}",
        any::<String>().prop_map(|s| s.chars().take(300).collect()),
    ]
}

/// `pdu` through the encoder and the decoder.
fn over_the_wire(pdu: Pdu) -> Result<PduBody, TestCaseError> {
    let mut wire = BytesMut::new();
    pdu.encode(&mut wire)
        .map_err(|e| TestCaseError::fail(e.to_string()))?;
    match Decoder::new(DEFAULT_MAX_LEN).decode(&mut wire) {
        Ok(Some(back)) => Ok(back.body),
        other => Err(TestCaseError::fail(format!("{other:?}"))),
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
            sp_id: "901234".into(),
            service_id: "TEST".into(),
            src_term_id: "10658".into(),
            signature_chars,
            prefer_gbk,
            ..LinkOptions::default()
        };
        let message = Message::text(
            Address::international("1"),
            Address::international("13300133000"),
            text.clone(),
        );
        let submits = message_to_submits(&message, &link, reference).expect("maps");
        let total = submits.len();
        let mut joined = String::new();
        for (i, submit) in submits.into_iter().enumerate() {
            let (room, limit) = if submit.msg_format == 0 {
                (signature_chars, 159)
            } else {
                (signature_chars * 2, 140)
            };
            prop_assert!(
                submit.msg_content.len() + room <= limit || total == 1 && room > limit
            );
            let PduBody::Submit(back) = over_the_wire(Pdu::request(1, PduBody::Submit(submit)))?
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
    fn an_mo_crosses_to_a_customer_and_back(
        text in "[ -~一-龥]{0,60}",
        protocol_id in any::<u8>(),
        recv_unix in 0i64..4_000_000_000,
    ) {
        let message = Message {
            protocol_id,
            ..Message::text(
                Address::international("13300133000"),
                Address::international("1065800001"),
                text.clone(),
            )
        };
        let delivers =
            message_to_delivers(&message, &LinkOptions::default(), 1, recv_unix).expect("maps");
        prop_assert_eq!(delivers.len(), 1);
        let deliver = delivers.into_iter().next().expect("one");
        prop_assert_eq!(crate::time::recv_time_to_unix(&deliver.recv_time), Some(recv_unix));
        let PduBody::Deliver(back) = over_the_wire(Pdu::request(1, PduBody::Deliver(deliver)))?
        else {
            return Err(TestCaseError::fail("not a DELIVER"));
        };
        let again = deliver_to_message(&back).expect("reads back");
        prop_assert_eq!(again.body, Body::Text(text));
        prop_assert_eq!(again.protocol_id, protocol_id);
        prop_assert_eq!(again.source.value, "13300133000");
        prop_assert_eq!(again.destination.value, "1065800001");
    }

    #[test]
    fn a_domain_report_crosses_the_wire(
        state in prop::sample::select(MessageState::ALL.to_vec()),
        error in 0u16..1000,
        done in prop::option::of(946_684_800i64..4_000_000_000),
        msg_id in any::<[u8; 10]>(),
    ) {
        let done = done.map(|t| t - t % 60);
        let report = DeliveryReport {
            message_id: String::new(),
            state,
            submitted: 1,
            delivered: u16::from(state == MessageState::Delivered),
            submit_unix: done,
            done_unix: done,
            error,
            text: String::new(),
        };
        let cngp = domain_to_report(&report, MsgId(msg_id));
        let deliver = report_deliver(&cngp, MsgId::ZERO, "13300133000", "10658", 0)
            .expect("maps");
        let PduBody::Deliver(back) = over_the_wire(Pdu::request(1, PduBody::Deliver(deliver)))?
        else {
            return Err(TestCaseError::fail("not a DELIVER"));
        };
        let read = back.report().expect("a report").expect("decodes");
        let domain = report_to_domain(&read);
        prop_assert_eq!(domain.message_id, MsgId(msg_id).to_text());
        prop_assert_eq!(domain.state, state);
        prop_assert_eq!(domain.error, error);
        prop_assert_eq!(domain.done_unix, done);
        prop_assert_eq!(domain.delivered, report.delivered);
    }
}
