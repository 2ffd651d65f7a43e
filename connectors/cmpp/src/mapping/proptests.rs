//! Splitting and reading back: any text sent through `message_to_submits` and the wire
//! comes back whole from `submit_to_messages`.

use bytes::BytesMut;
use proptest::prelude::*;
use tern_model::{Address, Body, Message};

use super::*;
use crate::codec::{Body as PduBody, Decoder, Pdu, DEFAULT_MAX_LEN};

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
        v3 in any::<bool>(),
        reference in any::<u8>(),
    ) {
        let version = if v3 { crate::Version::V30 } else { crate::Version::V20 };
        let link = LinkOptions {
            version,
            msg_src: "901234".into(),
            service_id: "TEST".into(),
            src_id: "10658".into(),
            signature_chars,
            prefer_gbk,
            ..LinkOptions::default()
        };
        let message = Message::text(
            Address::international("1"),
            Address::international("13800138000"),
            text.clone(),
        );
        let submits = message_to_submits(&message, &link, reference).expect("maps");
        let total = submits.len();
        let mut decoder = Decoder::new(version, DEFAULT_MAX_LEN);
        let mut joined = String::new();
        for (i, submit) in submits.into_iter().enumerate() {
            let (room, limit) = if submit.msg_fmt == 0 {
                (signature_chars, 159)
            } else {
                (signature_chars * 2, 140)
            };
            prop_assert!(
                submit.msg_content.len() + room <= limit || total == 1 && room > limit
            );
            prop_assert_eq!(usize::from(submit.pk_total), total);
            prop_assert_eq!(usize::from(submit.pk_number), i + 1);
            let pdu = Pdu { sequence_id: 1, body: PduBody::Submit(submit) };
            let mut wire = BytesMut::new();
            pdu.encode(version, &mut wire).expect("encodes");
            let Some(Pdu { body: PduBody::Submit(back), .. }) =
                decoder.decode(&mut wire).expect("decodes")
            else {
                return Err(TestCaseError::fail("not a SUBMIT"));
            };
            let mut messages = submit_to_messages(&back, link.version, 0).expect("reads back");
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
}
