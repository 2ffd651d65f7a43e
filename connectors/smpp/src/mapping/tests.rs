use bytes::{Bytes, BytesMut};
use proptest::prelude::*;
use rusmpp::pdus::parts::SubmitSmParts;
use rusmpp::pdus::{DataSm, DeliverSm, SubmitSm};
use rusmpp::tlvs::{Tlv, TlvTag, TlvValue};
use rusmpp::types::{AnyOctetString, COctetString, EmptyOrFullCOctetString, OctetString};
use rusmpp::values::{
    DataCoding, EsmClass, MessagePayload, Npi, PriorityFlag, RegisteredDelivery,
    ReplaceIfPresentFlag, ServiceType, Ton,
};
use rusmpp::{Command, CommandStatus, Pdu};
use tern_model::{
    Address, Body, Coding, ConcatRef, DeliveryReport, Message, MessageState, ReceiptRequest,
};

use super::*;
use crate::codec::{encode, Decoder, Inbound};
use crate::receipt::{add_receipt_tlvs, NetworkError};
use crate::time::receipt_date_to_unix;

const NOW: i64 = 1_706_704_200; // 2024-01-31 12:30 UTC

struct Submit {
    source: (u8, &'static str),
    destination: (u8, &'static str),
    esm_class: u8,
    priority: u8,
    schedule: &'static str,
    validity: &'static str,
    registered_delivery: u8,
    data_coding: u8,
    short_message: Vec<u8>,
    tlvs: Vec<TlvValue>,
}

impl Default for Submit {
    fn default() -> Self {
        Self {
            source: (5, "TernBank"),
            destination: (1, "4915112345678"),
            esm_class: 0,
            priority: 0,
            schedule: "",
            validity: "",
            registered_delivery: 0,
            data_coding: 0,
            short_message: b"hello".to_vec(),
            tlvs: Vec::new(),
        }
    }
}

impl Submit {
    fn pdu(self) -> SubmitSm {
        let short_message = OctetString::from_vec(self.short_message).unwrap();
        SubmitSm::from_parts(SubmitSmParts {
            service_type: ServiceType::default(),
            source_addr_ton: Ton::from(self.source.0),
            source_addr_npi: Npi::from(0),
            source_addr: COctetString::from_string(self.source.1.into()).unwrap(),
            dest_addr_ton: Ton::from(self.destination.0),
            dest_addr_npi: Npi::from(1),
            destination_addr: COctetString::from_string(self.destination.1.into()).unwrap(),
            esm_class: EsmClass::from(self.esm_class),
            protocol_id: 0,
            priority_flag: PriorityFlag::from(self.priority),
            schedule_delivery_time: EmptyOrFullCOctetString::from_string(self.schedule.into())
                .unwrap(),
            validity_period: EmptyOrFullCOctetString::from_string(self.validity.into()).unwrap(),
            registered_delivery: RegisteredDelivery::from(self.registered_delivery),
            replace_if_present_flag: ReplaceIfPresentFlag::from(0),
            data_coding: DataCoding::from(self.data_coding),
            sm_default_msg_id: 0,
            sm_length: u8::try_from(short_message.len()).unwrap(),
            short_message,
            tlvs: self.tlvs.into_iter().map(Tlv::new).collect(),
        })
    }

    fn map(self) -> Result<Message, MappingError> {
        submit_sm_to_message(&self.pdu(), &LinkOptions::default(), NOW)
    }
}

fn vendor(tag: u16, value: &'static [u8]) -> TlvValue {
    TlvValue::Other {
        tag: TlvTag::from(tag),
        value: AnyOctetString::from_static_slice(value),
    }
}

#[test]
fn a_plain_submit_sm_becomes_a_message() {
    let message = Submit {
        registered_delivery: 1,
        priority: 1,
        validity: "000001000000000R",
        schedule: "240131140000008+",
        tlvs: vec![vendor(0x1400, b"\x01\x02"), TlvValue::UserResponseCode(7)],
        ..Submit::default()
    }
    .map()
    .unwrap();
    assert_eq!(message.source, Address::alphanumeric("TernBank"));
    assert_eq!(message.destination, Address::international("4915112345678"));
    assert_eq!(message.coding, Coding::Gsm7);
    assert_eq!(message.body, Body::Text("hello".into()));
    assert_eq!(message.receipt, ReceiptRequest::Final);
    assert_eq!(message.priority.0, 1);
    assert_eq!(message.validity_unix, Some(NOW + 86_400));
    // 14:00 at UTC+2 is 12:00 UTC.
    assert_eq!(message.schedule_unix, receipt_date_to_unix("2401311200"));
    assert!(!message.flash);
    assert_eq!(
        message.tlvs,
        vec![
            tern_model::Tlv {
                tag: 0x1400,
                value: Bytes::from_static(b"\x01\x02")
            },
            tern_model::Tlv {
                tag: 0x0205,
                value: Bytes::from_static(b"\x07")
            },
        ]
    );
}

#[test]
fn a_udh_is_split_off_and_read_for_concatenation() {
    let mut data = vec![0x05, 0x00, 0x03, 0x2A, 0x03, 0x02];
    data.extend_from_slice(b"part two");
    let message = Submit {
        esm_class: UDHI,
        short_message: data,
        ..Submit::default()
    }
    .map()
    .unwrap();
    assert_eq!(
        message.concat,
        Some(ConcatRef {
            reference: 0x2A,
            total: 3,
            seq: 2
        })
    );
    assert_eq!(
        message.udh.as_deref(),
        Some(&[0x05, 0x00, 0x03, 0x2A, 0x03, 0x02][..])
    );
    assert_eq!(message.body, Body::Text("part two".into()));
}

#[test]
fn a_malformed_udh_is_an_esm_class_error() {
    let error = Submit {
        esm_class: UDHI,
        short_message: vec![0x09, 0x00, 0x03],
        ..Submit::default()
    }
    .map()
    .unwrap_err();
    assert!(matches!(error, MappingError::Udh(_)));
    assert_eq!(error.status(), CommandStatus::EsmeRinvesmclass);
}

#[test]
fn impossible_concatenation_numbers_make_a_single_message() {
    let message = Submit {
        esm_class: UDHI,
        short_message: vec![0x05, 0x00, 0x03, 0x2A, 0x02, 0x05, b'x'],
        ..Submit::default()
    }
    .map()
    .unwrap();
    assert_eq!(message.concat, None);
    assert_eq!(message.body, Body::Text("x".into()));
}

#[test]
fn sar_tlvs_come_as_a_set() {
    let sar = |seq| {
        vec![
            TlvValue::SarMsgRefNum(0x1234),
            TlvValue::SarTotalSegments(2),
            TlvValue::SarSegmentSeqnum(seq),
        ]
    };
    let message = Submit {
        tlvs: sar(2),
        ..Submit::default()
    }
    .map()
    .unwrap();
    assert_eq!(
        message.concat,
        Some(ConcatRef {
            reference: 0x1234,
            total: 2,
            seq: 2
        })
    );
    assert!(message.tlvs.is_empty(), "SAR TLVs are consumed");

    let error = Submit {
        tlvs: sar(2).into_iter().take(2).collect(),
        ..Submit::default()
    }
    .map()
    .unwrap_err();
    assert_eq!(error.status(), CommandStatus::EsmeRmissingtlv);

    let error = Submit {
        tlvs: sar(3),
        ..Submit::default()
    }
    .map()
    .unwrap_err();
    assert_eq!(error.status(), CommandStatus::EsmeRinvtlvval);
}

#[test]
fn message_payload_carries_the_body_when_short_message_is_empty() {
    let payload = TlvValue::MessagePayload(MessagePayload::new(AnyOctetString::from_static_slice(
        b"from the payload",
    )));
    let message = Submit {
        short_message: Vec::new(),
        tlvs: vec![payload.clone()],
        ..Submit::default()
    }
    .map()
    .unwrap();
    assert_eq!(message.body, Body::Text("from the payload".into()));
    assert!(message.tlvs.is_empty());

    let error = Submit {
        tlvs: vec![payload],
        ..Submit::default()
    }
    .map()
    .unwrap_err();
    assert_eq!(error, MappingError::TwoBodies);
    assert_eq!(error.status(), CommandStatus::EsmeRinvtlvval);
}

#[test]
fn data_codings_pick_the_alphabet() {
    let ucs2 = Submit {
        data_coding: 0x08,
        short_message: vec![0x04, 0x1F, 0x04, 0x40, 0x04, 0x38],
        ..Submit::default()
    }
    .map()
    .unwrap();
    assert_eq!(
        (ucs2.coding, ucs2.body),
        (Coding::Ucs2, Body::Text("При".into()))
    );

    let odd = Submit {
        data_coding: 0x08,
        short_message: vec![0x04, 0x1F, 0x04],
        ..Submit::default()
    }
    .map()
    .unwrap_err();
    assert_eq!(odd.status(), CommandStatus::EsmeRinvmsglen);

    let flash = Submit {
        data_coding: 0xF0,
        ..Submit::default()
    }
    .map()
    .unwrap();
    assert!(flash.flash);
    assert_eq!(flash.coding, Coding::Gsm7);

    let jis = Submit {
        data_coding: 0x05,
        short_message: vec![0x30, 0x42],
        ..Submit::default()
    }
    .map()
    .unwrap();
    assert_eq!(jis.coding, Coding::Binary);
    assert_eq!(jis.data_coding, 0x05);
    assert_eq!(jis.body, Body::Binary(Bytes::from_static(&[0x30, 0x42])));

    let latin_link = LinkOptions {
        default_alphabet: DefaultAlphabet::Latin1,
        ..LinkOptions::default()
    };
    let latin = submit_sm_to_message(
        &Submit {
            short_message: vec![b'c', 0xE9],
            ..Submit::default()
        }
        .pdu(),
        &latin_link,
        NOW,
    )
    .unwrap();
    assert_eq!(
        (latin.coding, latin.body),
        (Coding::Latin1, Body::Text("cé".into()))
    );
}

#[test]
fn bad_fields_map_to_their_statuses() {
    let cases = [
        (
            Submit {
                destination: (1, "49151abc"),
                ..Submit::default()
            },
            CommandStatus::EsmeRinvdstadr,
        ),
        (
            Submit {
                source: (1, "Tern"),
                ..Submit::default()
            },
            CommandStatus::EsmeRinvsrcadr,
        ),
        (
            Submit {
                esm_class: 0x04,
                ..Submit::default()
            },
            CommandStatus::EsmeRinvesmclass,
        ),
        (
            Submit {
                priority: 4,
                ..Submit::default()
            },
            CommandStatus::EsmeRinvprtflg,
        ),
        (
            Submit {
                validity: "241331120000000+",
                ..Submit::default()
            },
            CommandStatus::EsmeRinvexpiry,
        ),
        (
            Submit {
                schedule: "2401311200000000",
                ..Submit::default()
            },
            CommandStatus::EsmeRinvsched,
        ),
    ];
    for (submit, status) in cases {
        let error = submit.map().unwrap_err();
        assert_eq!(error.status(), status, "{error}");
    }
    assert!(Submit {
        source: (0, ""),
        ..Submit::default()
    }
    .map()
    .is_ok());
}

#[test]
fn a_receipt_is_not_a_mobile_originated_message() {
    let mut deliver = DeliverSm::default();
    deliver.esm_class = EsmClass::from(0x04);
    deliver.destination_addr = COctetString::from_string("12345".into()).unwrap();
    let error = deliver_sm_to_message(&deliver, &LinkOptions::default(), NOW).unwrap_err();
    assert_eq!(error.status(), CommandStatus::EsmeRinvesmclass);
}

#[test]
fn data_sm_takes_its_body_from_message_payload_and_validity_from_ttl() {
    let mut parts = DataSm::default().into_parts();
    parts.esm_class = EsmClass::from(0);
    parts.destination_addr = COctetString::from_string("4915112345678".into()).unwrap();
    parts.tlvs = vec![
        Tlv::new(TlvValue::MessagePayload(MessagePayload::new(
            AnyOctetString::from_static_slice(b"data"),
        ))),
        Tlv::new(TlvValue::QosTimeToLive(3600)),
    ];
    let message =
        data_sm_to_message(&DataSm::from_parts(parts), &LinkOptions::default(), NOW).unwrap();
    assert_eq!(message.body, Body::Text("data".into()));
    assert_eq!(message.validity_unix, Some(NOW + 3600));
}

fn text_message(text: &str) -> Message {
    let mut message = Message::text(
        Address::alphanumeric("TernBank"),
        Address::international("4915112345678"),
        text,
    );
    message.receipt = ReceiptRequest::Final;
    message.validity_unix = Some(NOW + 86_400);
    message.tlvs = vec![tern_model::Tlv {
        tag: 0x1401,
        value: Bytes::from_static(b"vendor"),
    }];
    message
}

#[test]
fn a_long_text_is_split_with_udh() {
    let message = text_message(&"x".repeat(200));
    let parts = message_to_submit_sm(&message, &LinkOptions::default(), 0x1234).unwrap();
    assert_eq!(parts.len(), 2);
    for (i, part) in parts.iter().enumerate() {
        assert_eq!(u8::from(part.esm_class), UDHI);
        let data = part.short_message().as_ref();
        assert_eq!(
            &data[..6],
            &[0x05, 0x00, 0x03, 0x34, 0x02, u8::try_from(i + 1).unwrap()]
        );
        assert_eq!(u8::from(part.registered_delivery), 1);
        assert_eq!(part.validity_period.as_str(), "240201123000000+");
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
    let parts = message_to_submit_sm(&message, &sar, 7).unwrap();
    assert_eq!(parts.len(), 2);
    assert_eq!(parts[0].short_message().len(), 160);
    assert_eq!(parts[1].tlvs().len(), 4);

    let payload = LinkOptions {
        concat: Concat::Payload { max_octets: 1000 },
        ..LinkOptions::default()
    };
    let parts = message_to_submit_sm(&message, &payload, 7).unwrap();
    assert_eq!(parts.len(), 1);
    assert!(parts[0].short_message().is_empty());

    let smpp33 = LinkOptions {
        send_tlvs: false,
        ..sar
    };
    let parts = message_to_submit_sm(&message, &smpp33, 7).unwrap();
    assert!(parts.iter().all(|p| p.tlvs().is_empty()));
    assert!(parts.iter().all(|p| u8::from(p.esm_class) == UDHI));
}

#[test]
fn text_a_link_cannot_carry_goes_as_ucs2() {
    let message = text_message("Привет");
    let parts = message_to_submit_sm(&message, &LinkOptions::default(), 1).unwrap();
    assert_eq!(u8::from(parts[0].data_coding), 0x08);
    let latin_link = LinkOptions {
        default_alphabet: DefaultAlphabet::Latin1,
        ..LinkOptions::default()
    };
    let parts = message_to_submit_sm(&text_message("café"), &latin_link, 1).unwrap();
    // data_coding 0 is Latin-1 on this link, so the message's own 0 still fits.
    assert_eq!(u8::from(parts[0].data_coding), 0x00);
    assert_eq!(parts[0].short_message().as_ref(), b"caf\xE9");
}

#[test]
fn mo_deliver_sm_has_no_times_and_no_receipt_request() {
    let parts = message_to_deliver_sm(&text_message("hi"), &LinkOptions::default(), 1).unwrap();
    assert_eq!(parts.len(), 1);
    assert!(parts[0].validity_period.is_empty());
    assert_eq!(u8::from(parts[0].registered_delivery), 0);
    assert_eq!(parts[0].short_message().as_ref(), b"hi");
}

fn report() -> DeliveryReport {
    DeliveryReport {
        message_id: "7F3A".into(),
        state: MessageState::Delivered,
        submitted: 1,
        delivered: 1,
        submit_unix: Some(NOW),
        done_unix: Some(NOW + 60),
        error: 0,
        text: "hello".into(),
    }
}

#[test]
fn a_report_becomes_a_receipt_deliver_sm_and_back() {
    let deliver = report_to_deliver_sm(
        &report(),
        &Address::international("4915112345678"),
        &Address::alphanumeric("TernBank"),
        &ReceiptOptions::default(),
    )
    .unwrap();
    assert_eq!(u8::from(deliver.esm_class), RECEIPT_ESM_CLASS);
    assert_eq!(deliver.source_addr.as_str(), "4915112345678");
    assert_eq!(deliver.tlvs().len(), 2);
    assert_eq!(deliver_sm_to_report(&deliver), Ok(report()));

    let without_tlvs = ReceiptOptions {
        send_tlvs: false,
        ..ReceiptOptions::default()
    };
    let failed = DeliveryReport {
        state: MessageState::Undeliverable,
        error: 34,
        ..report()
    };
    let deliver = report_to_deliver_sm(
        &failed,
        &Address::international("4915112345678"),
        &Address::alphanumeric("TernBank"),
        &without_tlvs,
    )
    .unwrap();
    assert!(deliver.tlvs().is_empty());
    assert_eq!(deliver_sm_to_report(&deliver), Ok(failed));
}

fn receipt_deliver(text: &[u8]) -> DeliverSm {
    let mut deliver = DeliverSm::default();
    deliver.esm_class = EsmClass::from(0x04);
    deliver.set_short_message(OctetString::from_vec(text.to_vec()).unwrap());
    deliver
}

#[test]
fn receipt_tlvs_take_precedence_over_the_text() {
    let mut deliver = receipt_deliver(
        b"id:111 sub:001 dlvrd:001 submit date:2401311230 done date:2401311231 stat:DELIVRD err:000 text:x",
    );
    let error = NetworkError {
        network_type: 3,
        code: 11,
    };
    add_receipt_tlvs(
        &mut deliver,
        "222",
        MessageState::Undeliverable,
        Some(error),
    )
    .unwrap();
    let report = deliver_sm_to_report(&deliver).unwrap();
    assert_eq!(report.message_id, "222");
    assert_eq!(report.state, MessageState::Undeliverable);
    assert_eq!(report.error, 11);
    assert_eq!(report.done_unix, Some(NOW + 60), "dates come from the text");
}

#[test]
fn receipts_with_only_tlvs_or_only_text_are_read() {
    let mut deliver = receipt_deliver(b"");
    add_receipt_tlvs(&mut deliver, "333", MessageState::Expired, None).unwrap();
    let report = deliver_sm_to_report(&deliver).unwrap();
    assert_eq!(
        (report.message_id.as_str(), report.state),
        ("333", MessageState::Expired)
    );

    let deliver = receipt_deliver(b"id:444 stat:REJECTD err:005");
    let report = deliver_sm_to_report(&deliver).unwrap();
    assert_eq!((report.message_id.as_str(), report.error), ("444", 5));

    // Text without a stat, completed by the message_state TLV.
    let mut deliver = receipt_deliver(b"id:555 sub:001 dlvrd:000");
    add_receipt_tlvs(&mut deliver, "555", MessageState::Rejected, None).unwrap();
    assert_eq!(
        deliver_sm_to_report(&deliver).map(|r| r.state),
        Ok(MessageState::Rejected)
    );

    let error = deliver_sm_to_report(&receipt_deliver(b"garbage")).unwrap_err();
    assert_eq!(error.status(), CommandStatus::EsmeRxPAppn);
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
        let submits = message_to_submit_sm(&original, &link, reference).unwrap();
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
