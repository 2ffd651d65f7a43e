//! encode → decode round trip of every SMPP 3.4 PDU with random field values, random vendor
//! TLVs (tags 0x1400-0x3FFF) carried through intact, and byte-identical re-encoding.

// Test code: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used)]
use bytes::{Bytes, BytesMut};
use proptest::prelude::*;
use rusmpp::command::CommandParts;
use rusmpp::pdus::*;
use rusmpp::tlvs::{Tlv, TlvTag, TlvValue};
use rusmpp::types::{AnyOctetString, COctetString, EmptyOrFullCOctetString, OctetString};
use rusmpp::values::{
    DataCoding, DestAddress, DistributionListName, ErrorCodeNetworkType, EsmClass,
    InterfaceVersion, MessagePayload, MessageState, MsAvailabilityStatus, NetworkErrorCode, Npi,
    PriorityFlag, RegisteredDelivery, ReplaceIfPresentFlag, ServiceType, SmeAddress, Ton,
    UnsuccessSme,
};
use rusmpp::{Command, CommandId, CommandStatus, Pdu};
use tern_smpp::codec::{encode, encoded_len, peek_header, Decoder, Inbound};

fn c_string<const MIN: usize, const MAX: usize>() -> impl Strategy<Value = COctetString<MIN, MAX>> {
    proptest::string::string_regex(&format!("[ -~]{{0,{}}}", MAX - 1))
        .unwrap()
        .prop_map(|s| COctetString::from_string(s).unwrap())
}

fn smpp_time() -> impl Strategy<Value = EmptyOrFullCOctetString<17>> {
    prop_oneof![
        Just(EmptyOrFullCOctetString::empty()),
        "[0-9]{12}[0-9]{3}[+R-]".prop_map(|s| EmptyOrFullCOctetString::from_string(s).unwrap()),
    ]
}

fn octets(max: usize) -> impl Strategy<Value = Vec<u8>> {
    proptest::collection::vec(any::<u8>(), 0..=max)
}

fn ton() -> impl Strategy<Value = Ton> {
    any::<u8>().prop_map(Ton::from)
}

fn npi() -> impl Strategy<Value = Npi> {
    any::<u8>().prop_map(Npi::from)
}

fn service_type() -> impl Strategy<Value = ServiceType> {
    c_string::<1, 6>().prop_map(ServiceType::new)
}

fn status() -> impl Strategy<Value = CommandStatus> {
    any::<u32>().prop_map(CommandStatus::from)
}

/// A vendor TLV: a tag SMPP leaves to vendors and 1-64 octets of value (a zero-length value
/// decodes as "no value", which `zero_length_vendor_tlvs_keep_their_bytes` covers).
fn vendor_tlv() -> impl Strategy<Value = Tlv> {
    (
        0x1400u16..=0x3FFF,
        proptest::collection::vec(any::<u8>(), 1..=64),
    )
        .prop_map(|(tag, value)| {
            Tlv::new(TlvValue::Other {
                tag: TlvTag::from(tag),
                value: AnyOctetString::from_vec(value),
            })
        })
}

/// Known TLVs that submit_sm, deliver_sm and data_sm all allow, and vendor ones.
fn message_tlvs() -> impl Strategy<Value = Vec<Tlv>> {
    let known = prop_oneof![
        any::<u16>().prop_map(|v| Tlv::new(TlvValue::SarMsgRefNum(v))),
        any::<u8>().prop_map(|v| Tlv::new(TlvValue::SarTotalSegments(v))),
        any::<u8>().prop_map(|v| Tlv::new(TlvValue::SarSegmentSeqnum(v))),
        any::<u16>().prop_map(|v| Tlv::new(TlvValue::SourcePort(v))),
        any::<u16>().prop_map(|v| Tlv::new(TlvValue::DestPort(v))),
        proptest::collection::vec(any::<u8>(), 1..=300).prop_map(|v| Tlv::new(
            TlvValue::MessagePayload(MessagePayload::new(AnyOctetString::from_vec(v)))
        )),
    ];
    proptest::collection::vec(prop_oneof![known, vendor_tlv()], 0..=4)
}

fn receipt_tlvs() -> impl Strategy<Value = Vec<Tlv>> {
    let known = prop_oneof![
        c_string::<1, 65>()
            .prop_filter("non-empty", |id| !id.is_empty())
            .prop_map(|id| Tlv::new(TlvValue::ReceiptedMessageId(id))),
        any::<u8>().prop_map(|v| Tlv::new(TlvValue::MessageState(MessageState::from(v)))),
        (any::<u8>(), any::<u16>()).prop_map(|(t, c)| Tlv::new(TlvValue::NetworkErrorCode(
            NetworkErrorCode::new(ErrorCodeNetworkType::from(t), c)
        ))),
    ];
    proptest::collection::vec(prop_oneof![known, vendor_tlv()], 0..=4)
}

fn vendor_tlvs() -> impl Strategy<Value = Vec<Tlv>> {
    proptest::collection::vec(vendor_tlv(), 0..=3)
}

/// The mandatory fields shared by submit_sm and deliver_sm.
#[derive(Debug, Clone)]
struct Sm {
    service_type: ServiceType,
    source: (Ton, Npi, COctetString<1, 21>),
    destination: (Ton, Npi, COctetString<1, 21>),
    octets: [u8; 7],
    schedule: EmptyOrFullCOctetString<17>,
    validity: EmptyOrFullCOctetString<17>,
    short_message: Vec<u8>,
}

fn sm() -> impl Strategy<Value = Sm> {
    (
        service_type(),
        (ton(), npi(), c_string::<1, 21>()),
        (ton(), npi(), c_string::<1, 21>()),
        any::<[u8; 7]>(),
        smpp_time(),
        smpp_time(),
        octets(254),
    )
        .prop_map(
            |(service_type, source, destination, octets, schedule, validity, short_message)| Sm {
                service_type,
                source,
                destination,
                octets,
                schedule,
                validity,
                short_message,
            },
        )
}

fn submit_sm() -> impl Strategy<Value = Pdu> {
    (sm(), message_tlvs()).prop_map(|(sm, tlvs)| {
        let [esm, pid, prio, rd, rip, dc, dflt] = sm.octets;
        let short_message = OctetString::from_vec(sm.short_message).unwrap();
        let mut parts = SubmitSm::builder()
            .short_message(short_message)
            .build()
            .into_parts();
        parts.service_type = sm.service_type;
        (
            parts.source_addr_ton,
            parts.source_addr_npi,
            parts.source_addr,
        ) = sm.source;
        (
            parts.dest_addr_ton,
            parts.dest_addr_npi,
            parts.destination_addr,
        ) = sm.destination;
        parts.esm_class = EsmClass::from(esm);
        parts.protocol_id = pid;
        parts.priority_flag = PriorityFlag::from(prio);
        parts.schedule_delivery_time = sm.schedule;
        parts.validity_period = sm.validity;
        parts.registered_delivery = RegisteredDelivery::from(rd);
        parts.replace_if_present_flag = ReplaceIfPresentFlag::from(rip);
        parts.data_coding = DataCoding::from(dc);
        parts.sm_default_msg_id = dflt;
        parts.tlvs = tlvs;
        Pdu::SubmitSm(SubmitSm::from_parts(parts))
    })
}

fn deliver_sm() -> impl Strategy<Value = Pdu> {
    (sm(), receipt_tlvs(), message_tlvs()).prop_map(|(sm, receipt, mut tlvs)| {
        let [esm, pid, prio, rd, rip, dc, dflt] = sm.octets;
        let short_message = OctetString::from_vec(sm.short_message).unwrap();
        let mut parts = DeliverSm::builder()
            .short_message(short_message)
            .build()
            .into_parts();
        parts.service_type = sm.service_type;
        (
            parts.source_addr_ton,
            parts.source_addr_npi,
            parts.source_addr,
        ) = sm.source;
        (
            parts.dest_addr_ton,
            parts.dest_addr_npi,
            parts.destination_addr,
        ) = sm.destination;
        parts.esm_class = EsmClass::from(esm);
        parts.protocol_id = pid;
        parts.priority_flag = PriorityFlag::from(prio);
        parts.schedule_delivery_time = sm.schedule;
        parts.validity_period = sm.validity;
        parts.registered_delivery = RegisteredDelivery::from(rd);
        parts.replace_if_present_flag = ReplaceIfPresentFlag::from(rip);
        parts.data_coding = DataCoding::from(dc);
        parts.sm_default_msg_id = dflt;
        tlvs.extend(receipt);
        parts.tlvs = tlvs;
        Pdu::DeliverSm(DeliverSm::from_parts(parts))
    })
}

fn data_sm() -> impl Strategy<Value = Pdu> {
    (sm(), receipt_tlvs(), message_tlvs()).prop_map(|(sm, receipt, mut tlvs)| {
        let [esm, _, _, rd, _, dc, _] = sm.octets;
        let mut parts = DataSm::default().into_parts();
        parts.service_type = sm.service_type;
        (
            parts.source_addr_ton,
            parts.source_addr_npi,
            parts.source_addr,
        ) = sm.source;
        (
            parts.dest_addr_ton,
            parts.dest_addr_npi,
            parts.destination_addr,
        ) = sm.destination;
        parts.esm_class = EsmClass::from(esm);
        parts.registered_delivery = RegisteredDelivery::from(rd);
        parts.data_coding = DataCoding::from(dc);
        tlvs.extend(receipt);
        parts.tlvs = tlvs;
        Pdu::DataSm(DataSm::from_parts(parts))
    })
}

fn dest_address() -> impl Strategy<Value = DestAddress> {
    prop_oneof![
        (ton(), npi(), c_string::<1, 21>())
            .prop_map(|(t, n, a)| DestAddress::SmeAddress(SmeAddress::new(t, n, a))),
        c_string::<1, 21>()
            .prop_map(|name| DestAddress::DistributionListName(DistributionListName::new(name))),
    ]
}

fn submit_multi() -> impl Strategy<Value = Pdu> {
    (
        sm(),
        proptest::collection::vec(dest_address(), 0..=5),
        message_tlvs(),
    )
        .prop_map(|(sm, dests, tlvs)| {
            let [esm, pid, prio, rd, rip, dc, dflt] = sm.octets;
            let submit = SubmitMulti::new(
                sm.service_type,
                sm.source.0,
                sm.source.1,
                sm.source.2,
                dests,
                EsmClass::from(esm),
                pid,
                PriorityFlag::from(prio),
                sm.schedule,
                sm.validity,
                RegisteredDelivery::from(rd),
                ReplaceIfPresentFlag::from(rip),
                DataCoding::from(dc),
                dflt,
                OctetString::from_vec(sm.short_message).unwrap(),
                vec![],
            );
            let mut parts = submit.into_parts();
            parts.tlvs = tlvs;
            Pdu::SubmitMulti(SubmitMulti::from_parts(parts))
        })
}

fn submit_multi_resp() -> impl Strategy<Value = Pdu> {
    let unsuccess = (ton(), npi(), c_string::<1, 21>(), status())
        .prop_map(|(t, n, a, s)| UnsuccessSme::new(t, n, a, s));
    (
        c_string::<1, 65>(),
        proptest::collection::vec(unsuccess, 0..=4),
        vendor_tlvs(),
    )
        .prop_map(|(id, unsuccess, tlvs)| {
            let mut parts = SubmitMultiResp::new(id, unsuccess, vec![]).into_parts();
            parts.tlvs = tlvs;
            Pdu::SubmitMultiResp(SubmitMultiResp::from_parts(parts))
        })
}

/// message_id plus TLVs, the body of submit_sm_resp, deliver_sm_resp and data_sm_resp.
fn sm_resp() -> impl Strategy<Value = Pdu> {
    (0u8..3, c_string::<1, 65>(), vendor_tlvs()).prop_map(|(which, id, tlvs)| match which {
        0 => {
            let mut parts = SubmitSmResp::new(id, vec![]).into_parts();
            parts.tlvs = tlvs;
            Pdu::SubmitSmResp(SubmitSmResp::from_parts(parts))
        }
        1 => {
            let mut parts = DeliverSmResp::new(id, vec![]).into_parts();
            parts.tlvs = tlvs;
            Pdu::DeliverSmResp(DeliverSmResp::from_parts(parts))
        }
        _ => {
            let mut parts = DataSmResp::new(id, vec![]).into_parts();
            parts.tlvs = tlvs;
            Pdu::DataSmResp(DataSmResp::from_parts(parts))
        }
    })
}

fn bind() -> impl Strategy<Value = Pdu> {
    (
        0u8..3,
        c_string::<1, 16>(),
        c_string::<1, 9>(),
        c_string::<1, 13>(),
        any::<u8>(),
        ton(),
        npi(),
        c_string::<1, 41>(),
    )
        .prop_map(|(which, id, password, system_type, version, t, n, range)| {
            let version = InterfaceVersion::from(version);
            match which {
                0 => BindTransmitter::new(id, password, system_type, version, t, n, range).into(),
                1 => BindReceiver::new(id, password, system_type, version, t, n, range).into(),
                _ => BindTransceiver::new(id, password, system_type, version, t, n, range).into(),
            }
        })
}

fn bind_resp() -> impl Strategy<Value = Pdu> {
    (
        0u8..3,
        c_string::<1, 16>(),
        proptest::option::of(any::<u8>()),
    )
        .prop_map(|(which, id, version)| {
            let version = version.map(InterfaceVersion::from);
            match which {
                0 => BindTransmitterResp::new(id, version).into(),
                1 => BindReceiverResp::new(id, version).into(),
                _ => BindTransceiverResp::new(id, version).into(),
            }
        })
}

fn other_pdus() -> impl Strategy<Value = Pdu> {
    prop_oneof![
        (c_string::<1, 16>(), c_string::<1, 9>())
            .prop_map(|(id, password)| Outbind::new(id, password).into()),
        (c_string::<1, 65>(), ton(), npi(), c_string::<1, 21>())
            .prop_map(|(id, t, n, a)| QuerySm::new(id, t, n, a).into()),
        (c_string::<1, 65>(), smpp_time(), any::<u8>(), any::<u8>()).prop_map(
            |(id, date, state, error)| QuerySmResp::new(id, date, MessageState::from(state), error)
                .into()
        ),
        (
            service_type(),
            c_string::<1, 65>(),
            (ton(), npi(), c_string::<1, 21>()),
            (ton(), npi(), c_string::<1, 21>()),
        )
            .prop_map(|(st, id, s, d)| CancelSm::new(st, id, s.0, s.1, s.2, d.0, d.1, d.2).into()),
        (
            c_string::<1, 65>(),
            (ton(), npi(), c_string::<1, 21>()),
            (smpp_time(), smpp_time()),
            (any::<u8>(), any::<u8>()),
            octets(254),
            proptest::option::of(proptest::collection::vec(any::<u8>(), 1..=200)),
        )
            .prop_map(|(id, s, (sched, valid), (rd, dflt), sm, payload)| {
                ReplaceSm::new(
                    id,
                    s.0,
                    s.1,
                    s.2,
                    sched,
                    valid,
                    RegisteredDelivery::from(rd),
                    dflt,
                    OctetString::from_vec(sm).unwrap(),
                    payload.map(|p| MessagePayload::new(AnyOctetString::from_vec(p))),
                )
                .into()
            }),
        (
            (ton(), npi(), c_string::<1, 65>()),
            (ton(), npi(), c_string::<1, 65>()),
            proptest::option::of(any::<u8>()),
        )
            .prop_map(|(s, e, availability)| AlertNotification::new(
                s.0,
                s.1,
                s.2,
                e.0,
                e.1,
                e.2,
                availability.map(MsAvailabilityStatus::from)
            )
            .into()),
        prop::sample::select(vec![
            Pdu::Unbind,
            Pdu::UnbindResp,
            Pdu::EnquireLink,
            Pdu::EnquireLinkResp,
            Pdu::GenericNack,
            Pdu::CancelSmResp,
            Pdu::ReplaceSmResp,
        ]),
    ]
}

fn any_pdu() -> impl Strategy<Value = Pdu> {
    prop_oneof![
        bind(),
        bind_resp(),
        submit_sm(),
        deliver_sm(),
        data_sm(),
        submit_multi(),
        submit_multi_resp(),
        sm_resp(),
        other_pdus(),
    ]
}

fn encode_to_bytes(command: &Command) -> BytesMut {
    let mut buf = BytesMut::new();
    encode(command, &mut buf);
    buf
}

fn decode_all(mut buf: BytesMut) -> Command {
    match Decoder::default().decode(&mut buf) {
        Ok(Some(Inbound::Command(command))) => {
            assert!(buf.is_empty(), "exactly one frame");
            command
        }
        other => panic!("decoding our own encoding gave {other:?}"),
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn every_pdu_round_trips(pdu in any_pdu(), status in status(), sequence in any::<u32>()) {
        let command = Command::new(status, sequence, pdu);
        let wire = encode_to_bytes(&command);
        prop_assert_eq!(wire.len(), encoded_len(&command));
        let header = peek_header(&wire).unwrap();
        prop_assert_eq!(header.command_length as usize, wire.len());
        prop_assert_eq!(header.command_id, u32::from(command.id()));
        let decoded = decode_all(wire.clone());
        prop_assert_eq!(&decoded, &command);
        prop_assert_eq!(encode_to_bytes(&decoded), wire);
    }

    #[test]
    fn responses_without_a_body_round_trip(
        id in prop::sample::select(vec![
            CommandId::SubmitSmResp,
            CommandId::DeliverSmResp,
            CommandId::DataSmResp,
            CommandId::SubmitMultiResp,
            CommandId::QuerySmResp,
            CommandId::BindTransmitterResp,
            CommandId::BindReceiverResp,
            CommandId::BindTransceiverResp,
        ]),
        status in status(),
        sequence in any::<u32>(),
    ) {
        let command = Command::from_parts(CommandParts::new(id, status, sequence, None));
        let wire = encode_to_bytes(&command);
        prop_assert_eq!(wire.len(), 16);
        prop_assert_eq!(decode_all(wire), command);
    }
}

#[test]
fn zero_length_vendor_tlvs_keep_their_bytes() {
    let mut parts =
        SubmitSmResp::new(COctetString::from_string("1".into()).unwrap(), vec![]).into_parts();
    parts.tlvs = vec![Tlv::new(TlvValue::Other {
        tag: TlvTag::from(0x1500),
        value: AnyOctetString::from_bytes(Bytes::new()),
    })];
    let command = Command::new(CommandStatus::EsmeRok, 1, SubmitSmResp::from_parts(parts));
    let wire = encode_to_bytes(&command);
    assert_eq!(&wire[16..], b"1\0\x15\x00\x00\x00");
    assert_eq!(encode_to_bytes(&decode_all(wire.clone())), wire);
}
