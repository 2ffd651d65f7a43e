//! User data in and parts out, one behaviour a test, and any text split and read back.

use bytes::Bytes;
use proptest::prelude::*;
use tern_model::{Address, Body, Coding, ConcatRef, Message};

use super::*;
use crate::content::format;

const SPLIT: Split = Split {
    signature_chars: 0,
    max_parts: u8::MAX,
    prefer_gbk: false,
    max_ascii: 159,
};

fn text_message(text: &str) -> Message {
    Message::text(
        Address::international("1234"),
        Address::international("+8613800138000"),
        text,
    )
}

#[test]
fn ascii_that_gsm_holds_is_gsm_text_in_the_pipeline() {
    let source = Address::international("1065");
    let of = |octets: &[u8]| {
        let data = user_data(false, format::ASCII, octets, 159).unwrap();
        message(source.clone(), format::ASCII, 0, data)
    };
    // 159 characters: one SMS at an SMPP operator, as the SP counted it.
    let long = of(&[b'a'; 159]);
    assert_eq!(
        (long.coding, long.data_coding),
        (Coding::Gsm7, format::ASCII)
    );
    assert_eq!(long.body, Body::Text("a".repeat(159)));
    // A backtick is ASCII but not GSM: the text stays ASCII.
    assert_eq!(of(b"a`b").coding, Coding::Ascii);
    assert_eq!(
        of("{[~]}".as_bytes()).coding,
        Coding::Gsm7,
        "the extension table"
    );
    // UCS-2 stays UCS-2, and joined parts are judged by their whole text.
    let ucs2 = user_data(false, format::UCS2, &[0, b'a'], 159).unwrap();
    assert_eq!(
        message(source.clone(), format::UCS2, 0, ucs2).coding,
        Coding::Ucs2
    );
    let part = of(b"abc");
    assert_eq!(joined(&part, b"abc`def").unwrap().coding, Coding::Ascii);
    assert_eq!(joined(&part, b"abcdef").unwrap().coding, Coding::Gsm7);
}

#[test]
fn content_is_checked_against_its_limit() {
    assert!(user_data(false, format::ASCII, &[b'a'; 159], 159).is_ok());
    assert_eq!(
        user_data(false, format::ASCII, &[b'a'; 160], 159),
        Err(ContentError::TooLong {
            octets: 160,
            max: 159
        })
    );
    assert!(user_data(false, format::ASCII, &[b'a'; 160], 160).is_ok());
    assert!(user_data(false, format::UCS2, &[0; 140], 160).is_ok());
    assert!(user_data(false, format::UCS2, &[0; 142], 160).is_err());
}

#[test]
fn a_udh_gives_the_concatenation() {
    let mut content = vec![0x05, 0x00, 0x03, 0x2a, 0x02, 0x01, 0x4f, 0x60];
    let data = user_data(true, format::UCS2, &content, 159).expect("reads");
    assert_eq!(
        data.concat,
        Some(ConcatRef {
            reference: 0x2a,
            total: 2,
            seq: 1
        })
    );
    assert_eq!(data.udh.as_deref(), Some(&content[..6]));
    assert_eq!(data.body, Body::Text("你".into()));
    // Without the indicator, the same octets are all text.
    let plain = user_data(false, format::BINARY, &content, 159).expect("reads");
    assert_eq!((plain.udh, plain.concat), (None, None));

    // Half a surrogate pair in a part is kept for reassembly.
    content.truncate(6);
    content.extend_from_slice(&[0xd8, 0x3d]);
    let data = user_data(true, format::UCS2, &content, 159).expect("reads");
    assert_eq!(data.body, Body::Binary(Bytes::from_static(&[0xd8, 0x3d])));

    content[0] = 0x09; // UDH longer than the content
    assert!(matches!(
        user_data(true, format::UCS2, &content, 159),
        Err(ContentError::Udh(_))
    ));
}

#[test]
fn text_parts_join_across_a_split_character() {
    // "你好" in GB18030 cut after its first octet: neither part decodes alone.
    let gb = [0xc4, 0xe3, 0xba, 0xc3];
    let part = |seq: u8, octets: &[u8]| {
        let mut content = vec![0x05, 0x00, 0x03, 0x07, 0x02, seq];
        content.extend_from_slice(octets);
        content
    };
    let (first, second) = (part(1, &gb[..1]), part(2, &gb[1..]));
    let (info, head) = text_part(true, format::GB, &first).expect("a text part");
    assert_eq!((info.reference, info.total, info.seq), (7, 2, 1));
    let (_, tail) = text_part(true, format::GB, &second).expect("a text part");
    let data = user_data(true, format::GB, &first, 159).expect("reads");
    let one = message(Address::international("1"), format::GB, 0, data);
    let whole = joined(&one, &[head, tail].concat()).expect("joined");
    assert_eq!(whole.body, Body::Text("你好".into()));
    assert_eq!((whole.udh, whole.concat), (None, None));
    assert_eq!(whole.coding, Coding::Gbk);

    // A port IE beside the concatenation, binary content, or no UDH: not a text part.
    let ports = [
        0x0b, 0x00, 0x03, 0x07, 0x02, 0x01, 0x05, 0x04, 0x0b, 0x84, 0x23, 0xf0, 0x41,
    ];
    assert_eq!(text_part(true, format::ASCII, &ports), None);
    assert_eq!(text_part(true, format::BINARY, &first), None);
    assert_eq!(text_part(false, format::GB, &first), None);
}

#[test]
fn short_text_is_one_part_without_a_udh() {
    let parts = wire_parts(&text_message("hello"), &SPLIT, 7).expect("parts");
    assert_eq!(
        parts,
        [WirePart {
            format: format::ASCII,
            content: Bytes::from_static(b"hello"),
            udh: None
        }]
    );
}

#[test]
fn long_text_is_split_with_numbered_udhs() {
    let split = Split {
        signature_chars: 6,
        ..SPLIT
    };
    let parts = wire_parts(&text_message(&"短信".repeat(60)), &split, 0x2a).expect("parts");
    assert_eq!(parts.len(), 2);
    for (part, seq) in parts.iter().zip(1..) {
        assert_eq!((part.format, part.udh), (format::UCS2, Some((2, seq))));
        assert_eq!(&part.content[..6], &[0x05, 0x00, 0x03, 0x2a, 2, seq]);
    }
    assert_eq!(parts[0].content.len(), 6 + 122);
    let gbk = Split {
        prefer_gbk: true,
        ..SPLIT
    };
    let parts = wire_parts(&text_message("你好"), &gbk, 1).expect("parts");
    assert_eq!(parts[0].format, format::GB);
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
    let parts = wire_parts(&message, &SPLIT, 1).expect("parts");
    assert_eq!(parts.len(), 1);
    assert_eq!(parts[0].udh, Some((3, 2)));
    assert_eq!(
        &parts[0].content[..7],
        &[0x06, 0x08, 0x04, 0x01, 0x2c, 3, 2]
    );
    let with_udh = Message {
        udh: Some(Bytes::from_static(&[
            0x06, 0x05, 0x04, 0x0b, 0x84, 0x23, 0xf0,
        ])),
        ..text_message("x")
    };
    let parts = wire_parts(&with_udh, &SPLIT, 1).expect("parts");
    assert_eq!(parts[0].udh, Some((1, 1)), "a UDH without a concatenation");
    let too_long = Message {
        concat: message.concat,
        ..text_message(&"a".repeat(154))
    };
    assert_eq!(
        wire_parts(&too_long, &SPLIT, 1),
        Err(ContentError::TooLong {
            octets: 161,
            max: 159
        })
    );
}

fn any_text() -> impl Strategy<Value = String> {
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
        text in any_text(),
        signature_chars in 0usize..20,
        prefer_gbk in any::<bool>(),
        max_ascii in 159usize..=160,
        reference in any::<u8>(),
    ) {
        let split = Split { signature_chars, max_parts: u8::MAX, prefer_gbk, max_ascii };
        let parts = wire_parts(&text_message(&text), &split, reference).expect("splits");
        let total = parts.len();
        let mut joined = String::new();
        for (i, part) in parts.into_iter().enumerate() {
            let (room, limit) = if part.format == format::ASCII {
                (signature_chars, max_ascii)
            } else {
                (signature_chars * 2, 140)
            };
            prop_assert!(part.content.len() + room <= limit || total == 1 && room > limit);
            let expected = (total > 1).then_some((total as u8, i as u8 + 1));
            prop_assert_eq!(part.udh, expected);
            let data = user_data(part.udh.is_some(), part.format, &part.content, max_ascii)
                .expect("reads back");
            if total > 1 {
                let concat = data.concat.expect("a part");
                prop_assert_eq!(
                    (concat.reference, usize::from(concat.total), usize::from(concat.seq)),
                    (u16::from(reference), total, i + 1)
                );
            }
            match data.body {
                Body::Text(piece) => joined.push_str(&piece),
                Body::Binary(_) => return Err(TestCaseError::fail("a part did not decode alone")),
            }
        }
        prop_assert_eq!(joined, text);
    }
}
