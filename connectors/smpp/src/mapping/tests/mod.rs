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

mod outbound;
mod report;
