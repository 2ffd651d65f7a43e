//! Messages going out as SUBMITs: coding, splitting, numbers and the link's fields.

use tern_model::{Address, ConcatRef, Message, Npi, Ton};

use super::super::*;
use super::{link, text_message};
use crate::codec::{report_flag, result};

#[test]
fn short_ascii_goes_as_one_submit_with_the_link_fields() {
    let submits = message_to_submits(&text_message("hello"), &link(), 7).expect("maps");
    assert_eq!(submits.len(), 1);
    let s = &submits[0];
    assert_eq!(
        (s.message_coding, s.tp_udhi, &s.message_content[..]),
        (0, 0, &b"hello"[..])
    );
    assert_eq!(s.sp_number, "10655001");
    assert_eq!(s.user_numbers, vec!["8613800138000".to_owned()]);
    assert_eq!(s.charge_number, SP_PAYS);
    assert_eq!(
        (s.corp_id.as_str(), s.service_type.as_str(), s.fee_type),
        ("12345", "TEST", 1)
    );
    assert_eq!((s.fee_value.as_str(), s.given_value.as_str()), ("0", "0"));
    assert_eq!((s.morelate_to_mt_flag, s.message_type), (2, 0));
    assert_eq!(s.report_flag, report_flag::NEVER);
}

#[test]
fn user_numbers_get_the_country_code() {
    let cases = [
        (
            Address::new(Ton::UNKNOWN, Npi::ISDN, "13800138000"),
            "8613800138000",
        ),
        (
            Address::new(Ton::NATIONAL, Npi::ISDN, "13800138000"),
            "8613800138000",
        ),
        (Address::international("+8613800138000"), "8613800138000"),
        (Address::international("8613800138000"), "8613800138000"),
        (
            Address::new(Ton::UNKNOWN, Npi::ISDN, "8613800138000"),
            "8613800138000",
        ),
        (Address::international("+4915112345678"), "4915112345678"),
    ];
    for (address, expected) in cases {
        assert_eq!(user_number(&address).as_deref(), Ok(expected), "{address}");
    }
    for bad in [
        Address::alphanumeric("Tern"),
        Address::international("+"),
        Address::new(Ton::UNKNOWN, Npi::ISDN, "1".repeat(20)),
    ] {
        let err = user_number(&bad).expect_err("refused");
        assert_eq!(err.result(), result::ILLEGAL_PHONE_NUMBER, "{bad}");
    }
}

#[test]
fn the_charge_number_follows_the_link() {
    let message = text_message("x");
    let by = |charge| LinkOptions { charge, ..link() };
    let charged = |link: &LinkOptions| {
        message_to_submits(&message, link, 1).map(|s| s[0].charge_number.clone())
    };
    assert_eq!(charged(&by(Charge::Sp)).as_deref(), Ok(SP_PAYS));
    assert_eq!(charged(&by(Charge::User)).as_deref(), Ok("8613800138000"));
    let fixed = by(Charge::Number("8613100000000".into()));
    assert_eq!(charged(&fixed).as_deref(), Ok("8613100000000"));
    let err = charged(&by(Charge::Number("1".repeat(22)))).expect_err("long");
    assert_eq!(err.result(), result::ILLEGAL_PHONE_NUMBER);
}

#[test]
fn long_chinese_is_split_with_room_for_the_signature() {
    let text = "短信".repeat(60); // 120 characters, 240 octets of UCS-2
    let signed = LinkOptions {
        signature_chars: 6,
        ..link()
    };
    let submits = message_to_submits(&text_message(&text), &signed, 0x2a).expect("maps");
    // 134 - 12 = 122 octets a part: 61 characters.
    assert_eq!(submits.len(), 2);
    for (i, s) in submits.iter().enumerate() {
        let seq = i as u8 + 1;
        assert_eq!((s.message_coding, s.tp_udhi), (8, 1));
        assert_eq!(&s.message_content[..6], &[0x05, 0x00, 0x03, 0x2a, 2, seq]);
        assert!(s.message_content.len() <= 140 - 12);
    }
    assert_eq!(submits[0].message_content.len(), 6 + 122);
    let plain = message_to_submits(&text_message(&text), &link(), 1).expect("maps");
    assert_eq!(plain[0].message_content.len(), 6 + 134);
}

#[test]
fn long_ascii_goes_in_parts_of_153_characters() {
    let text = "a".repeat(161);
    let submits = message_to_submits(&text_message(&text), &link(), 9).expect("maps");
    assert_eq!(submits.len(), 2);
    assert_eq!(submits[0].message_content.len(), 6 + 153);
    assert_eq!(submits[1].message_content.len(), 6 + 8);
    let single = message_to_submits(&text_message(&"a".repeat(160)), &link(), 9).expect("maps");
    assert_eq!((single.len(), single[0].tp_udhi), (1, 0));
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
    assert_eq!(submits[0].tp_udhi, 1);
    assert_eq!(
        &submits[0].message_content[..7],
        &[0x06, 0x08, 0x04, 0x01, 0x2c, 3, 2]
    );
}

#[test]
fn sources_get_the_link_prefix() {
    let mut message = text_message("x");
    message.source = Address::new(Ton::UNKNOWN, Npi::ISDN, "77");
    let s = &message_to_submits(&message, &link(), 1).expect("maps")[0];
    assert_eq!(s.sp_number, "1065577");
    let no_prefix = LinkOptions {
        sp_number: String::new(),
        ..link()
    };
    message.source = Address::alphanumeric("Tern");
    let err = message_to_submits(&message, &no_prefix, 1).expect_err("no number");
    assert_eq!(err.result(), result::BAD_PARAMETER_FORMAT);
}

#[test]
fn too_many_parts_and_bad_link_fields_are_refused() {
    let two = LinkOptions {
        max_parts: 2,
        ..link()
    };
    let err = message_to_submits(&text_message(&"a".repeat(400)), &two, 1).expect_err("parts");
    assert_eq!(err, MapError::TooManyParts { needed: 3, max: 2 });
    assert_eq!(err.result(), result::BAD_LENGTH);
    let bad = LinkOptions {
        service_type: "ELEVENCHARS".into(),
        ..link()
    };
    let err = message_to_submits(&text_message("x"), &bad, 1).expect_err("service type");
    assert_eq!(err.result(), result::BAD_PARAMETER_FORMAT);
}
