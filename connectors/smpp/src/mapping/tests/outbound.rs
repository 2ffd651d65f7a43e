//! Message → PDUs, and back through the codec.

use super::*;

#[test]
fn a_long_text_is_split_with_udh() {
    let message = text_message(&"x".repeat(200));
    let parts = message_to_submit_sm(&message, &LinkOptions::default(), 0x1234, NOW).unwrap();
    assert_eq!(parts.len(), 2);
    for (i, part) in parts.iter().enumerate() {
        assert_eq!(u8::from(part.esm_class), UDHI);
        let data = part.short_message().as_ref();
        assert_eq!(
            &data[..6],
            &[0x05, 0x00, 0x03, 0x34, 0x02, u8::try_from(i + 1).unwrap()]
        );
        assert_eq!(u8::from(part.registered_delivery), 1);
        assert_eq!(
            part.validity_period.as_str(),
            "000001000000000R",
            "a day remains"
        );
        assert_eq!(part.tlvs().len(), 1, "vendor TLV on every part");
    }
}

#[test]
fn sar_and_payload_links_use_tlvs() {
    let message = text_message(&"x".repeat(200));
    let sar = LinkOptions {
        concat: Concat::Sar,
        ..LinkOptions::default()
    };
    let parts = message_to_submit_sm(&message, &sar, 7, NOW).unwrap();
    assert_eq!(parts.len(), 2);
    assert_eq!(parts[0].short_message().len(), 160);
    assert_eq!(parts[1].tlvs().len(), 4);

    let payload = LinkOptions {
        concat: Concat::Payload { max_octets: 1000 },
        ..LinkOptions::default()
    };
    let parts = message_to_submit_sm(&message, &payload, 7, NOW).unwrap();
    assert_eq!(parts.len(), 1);
    assert!(parts[0].short_message().is_empty());

    let smpp33 = LinkOptions {
        send_tlvs: false,
        ..sar
    };
    let parts = message_to_submit_sm(&message, &smpp33, 7, NOW).unwrap();
    assert!(parts.iter().all(|p| p.tlvs().is_empty()));
    assert!(parts.iter().all(|p| u8::from(p.esm_class) == UDHI));
}

#[test]
fn text_a_link_cannot_carry_goes_as_ucs2() {
    let message = text_message("Привет");
    let parts = message_to_submit_sm(&message, &LinkOptions::default(), 1, NOW).unwrap();
    assert_eq!(u8::from(parts[0].data_coding), 0x08);
    let latin_link = LinkOptions {
        default_alphabet: DefaultAlphabet::Latin1,
        ..LinkOptions::default()
    };
    let parts = message_to_submit_sm(&text_message("café"), &latin_link, 1, NOW).unwrap();
    // data_coding 0 is Latin-1 on this link, so the message's own 0 still fits.
    assert_eq!(u8::from(parts[0].data_coding), 0x00);
    assert_eq!(parts[0].short_message().as_ref(), b"caf\xE9");
}

#[test]
fn an_operator_is_sent_the_times_as_they_stand_when_the_message_leaves() {
    let mut message = text_message("hi");
    let send = |message: &Message, now: i64| {
        let part = message_to_submit_sm(message, &LinkOptions::default(), 1, now)
            .unwrap()
            .remove(0);
        (
            part.schedule_delivery_time.as_str().to_owned(),
            part.validity_period.as_str().to_owned(),
        )
    };
    // Scheduled for 2020 (`200101000000000+`), due long ago: sent at once.
    message.schedule_unix = crate::time::smpp_time_to_unix("200101000000000+", NOW).unwrap();
    message.validity_unix = Some(NOW + 3 * 3600 + 30);
    assert_eq!(
        send(&message, NOW),
        (String::new(), "000000030030000R".into())
    );
    // Due now: sent at once; an hour later: what remains of the validity.
    message.schedule_unix = Some(NOW);
    assert_eq!(send(&message, NOW + 3600).0, "");
    assert_eq!(send(&message, NOW + 3600).1, "000000020030000R");
    // Still ahead: absolute, in UTC.
    message.schedule_unix = Some(NOW + 600);
    assert_eq!(send(&message, NOW).0, "240131124000000+");
    // A validity that ran out while the message waited leaves with one second.
    assert_eq!(send(&message, NOW + 4 * 3600).1, "000000000001000R");
    // Beyond what a relative time says: absolute.
    message.validity_unix = Some(NOW + 200 * 86_400);
    assert_eq!(send(&message, NOW).1, "240818123000000+");
    message.schedule_unix = None;
    message.validity_unix = None;
    assert_eq!(send(&message, NOW), (String::new(), String::new()));
}

#[test]
fn mo_deliver_sm_has_no_times_and_no_receipt_request() {
    let parts = message_to_deliver_sm(&text_message("hi"), &LinkOptions::default(), 1).unwrap();
    assert_eq!(parts.len(), 1);
    assert!(parts[0].validity_period.is_empty());
    assert_eq!(u8::from(parts[0].registered_delivery), 0);
    assert_eq!(parts[0].short_message().as_ref(), b"hi");
}

#[test]
fn join_parts_refuses_incomplete_sets() {
    let part = |seq| Message {
        concat: Some(ConcatRef {
            reference: 1,
            total: 2,
            seq,
        }),
        ..text_message("x")
    };
    assert!(join_parts(vec![part(1)]).is_err());
    assert!(join_parts(vec![part(1), part(1)]).is_err());
    assert_eq!(
        join_parts(vec![part(2), part(1)]).map(|m| m.body),
        Ok(Body::Text("xx".into()))
    );
    assert!(join_parts(Vec::new()).is_err());
}

/// Through the codec and back, as an operator would receive the parts.
fn over_the_wire(submit: SubmitSm) -> SubmitSm {
    let mut buf = BytesMut::new();
    encode(&Command::new(CommandStatus::EsmeRok, 1, submit), &mut buf);
    match Decoder::default().decode(&mut buf) {
        Ok(Some(Inbound::Command(command))) => match command.pdu() {
            Some(Pdu::SubmitSm(submit)) => submit.clone(),
            other => panic!("expected submit_sm, got {other:?}"),
        },
        other => panic!("decoding gave {other:?}"),
    }
}

fn concat_method() -> impl Strategy<Value = Concat> {
    prop_oneof![
        Just(Concat::Udh8),
        Just(Concat::Udh16),
        Just(Concat::Sar),
        Just(Concat::Payload { max_octets: 4000 }),
    ]
}

fn body() -> impl Strategy<Value = (Coding, Body)> {
    prop_oneof![
        "[A-Za-z0-9 @£$¥èéùìòÇØøÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ!\"#%&'()*+,./:;<=>?¡ÄÖÑÜ§¿äöñüà{}\\[~\\]|€^-]{0,500}"
            .prop_map(|text| (Coding::Gsm7, Body::Text(text))),
        "\\PC{0,300}".prop_map(|text| (Coding::Ucs2, Body::Text(text))),
        proptest::collection::vec(any::<u8>(), 0..600)
            .prop_map(|data| (Coding::Binary, Body::Binary(data.into()))),
    ]
}

proptest! {
    #[test]
    fn a_message_survives_split_send_and_join(
        (coding, body) in body(),
        concat in concat_method(),
        reference in any::<u16>(),
        flash in any::<bool>(),
    ) {
        let mut original = text_message("");
        original.body = body;
        original.coding = coding;
        original.flash = flash;
        let link = LinkOptions { concat, ..LinkOptions::default() };
        let submits = message_to_submit_sm(&original, &link, reference, NOW).unwrap();
        let parts: Vec<Message> = submits
            .into_iter()
            .map(|submit| submit_sm_to_message(&over_the_wire(submit), &link, NOW).unwrap())
            .collect();
        let joined = join_parts(parts).unwrap();
        prop_assert_eq!(&joined.body, &original.body);
        prop_assert_eq!(joined.coding, original.coding);
        prop_assert_eq!(joined.flash, original.flash);
        prop_assert_eq!(&joined.source, &original.source);
        prop_assert_eq!(&joined.destination, &original.destination);
        prop_assert_eq!(joined.receipt, original.receipt);
        prop_assert_eq!(joined.validity_unix, original.validity_unix);
        prop_assert_eq!(&joined.tlvs, &original.tlvs);
        prop_assert_eq!(joined.udh, None);
        prop_assert_eq!(joined.concat, None);
    }
}

#[test]
fn a_cmpp_link_id_is_never_sent_over_smpp() {
    let mut message = text_message("reply to an on-demand service");
    message.set_link_id("LNK20261123000000001");
    let submits = message_to_submit_sm(&message, &LinkOptions::default(), 7, NOW).unwrap();
    let delivers = message_to_deliver_sm(&message, &LinkOptions::default(), 7).unwrap();
    let tags = |tlvs: &[Tlv]| -> Vec<u16> { tlvs.iter().map(|t| u16::from(t.tag())).collect() };
    assert_eq!(tags(submits[0].tlvs()), vec![0x1401], "the vendor TLV only");
    assert_eq!(
        tags(delivers[0].tlvs()),
        vec![0x1401],
        "the vendor TLV only"
    );

    // A peer that sends the tag cannot set a LinkID through SMPP either.
    let back = submit_sm_to_message(&submits[0], &LinkOptions::default(), NOW).unwrap();
    assert_eq!(back.link_id(), None);
}
