//! Splitting and reading back: any text sent through `message_to_submits` and the wire
//! comes back whole from `submit_to_messages`; any report survives the domain.

use bytes::BytesMut;
use proptest::prelude::*;
use tern_model::{Address, Body, Message};

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

proptest! {
    #[test]
    fn split_then_read_back_gives_the_text(
        text in text(),
        signature_chars in 0usize..20,
        prefer_gbk in any::<bool>(),
        reference in any::<u8>(),
        link_id in proptest::option::of("[A-Z0-9]{1,20}"),
    ) {
        let link = LinkOptions {
            service_id: "TEST".into(),
            src_term_id: "10659".into(),
            signature_chars,
            prefer_gbk,
            ..LinkOptions::default()
        };
        let mut message = Message::text(
            Address::international("1"),
            Address::international("13300000001"),
            text.clone(),
        );
        if let Some(id) = &link_id {
            message.set_link_id(id);
        }
        let submits = message_to_submits(&message, &link, reference).expect("maps");
        let total = submits.len();
        let mut decoder = Decoder::new(DEFAULT_MAX_LEN);
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
            let expected_pk = (total > 1).then_some((total as u8, i as u8 + 1));
            prop_assert_eq!(submit.pk(), expected_pk);
            let pdu = Pdu { sequence_id: 1, body: PduBody::Submit(submit) };
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
            prop_assert_eq!(part.link_id(), link_id.as_deref());
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
    fn any_report_survives_the_domain(
        report in crate::codec::proptests::report(),
        own_id in any::<[u8; 10]>(),
    ) {
        let domain = report_to_domain(&report);
        let back = domain_to_report(&domain, report.msg_id);
        prop_assert_eq!(back.msg_id, report.msg_id);
        prop_assert_eq!(report_to_domain(&back).state, domain.state);
        let deliver = report_deliver(&back, MsgId(own_id), "13300000001", "10659", 0)
            .expect("a written report goes in a DELIVER");
        prop_assert_eq!(deliver.report(), Some(Ok(back)));
    }
}
