//! submit_sm, deliver_sm (MO) and data_sm → [`Message`].

use bytes::{Bytes, BytesMut};
use rusmpp::encode::owned::Encode;
use rusmpp::pdus::{DataSm, DeliverSm, SubmitSm};
use rusmpp::tlvs::{Tlv, TlvValue};
use rusmpp::types::COctetString;
use rusmpp::values::{Npi as WireNpi, Ton as WireTon};
use tern_encoding::{parse_concat_udh, split_user_data, UdhError};
use tern_model::{Address, ConcatRef, Message, Npi, Priority, ReceiptRequest, Ton};

use super::coding::{coding_of, decode_body};
use super::{LinkOptions, MappingError, CONSUMED_TAGS, UDHI};
use crate::receipt::is_receipt;
use crate::time::smpp_time_to_unix;

/// The fields submit_sm, deliver_sm and data_sm share, borrowed from the PDU.
struct SmView<'a> {
    service_type: &'a str,
    source: (WireTon, WireNpi, &'a COctetString<1, 21>),
    destination: (WireTon, WireNpi, &'a COctetString<1, 21>),
    esm_class: u8,
    protocol_id: u8,
    priority: u8,
    schedule: &'a str,
    validity: &'a str,
    registered_delivery: u8,
    data_coding: u8,
    short_message: &'a [u8],
    tlvs: &'a [Tlv],
}

/// A submit_sm from a customer as a message. `now_unix` resolves relative times.
pub fn submit_sm_to_message(
    pdu: &SubmitSm,
    link: &LinkOptions,
    now_unix: i64,
) -> Result<Message, MappingError> {
    let view = SmView {
        service_type: pdu.service_type.value().as_str(),
        source: (pdu.source_addr_ton, pdu.source_addr_npi, &pdu.source_addr),
        destination: (pdu.dest_addr_ton, pdu.dest_addr_npi, &pdu.destination_addr),
        esm_class: pdu.esm_class.into(),
        protocol_id: pdu.protocol_id,
        priority: pdu.priority_flag.into(),
        schedule: pdu.schedule_delivery_time.as_str(),
        validity: pdu.validity_period.as_str(),
        registered_delivery: pdu.registered_delivery.into(),
        data_coding: pdu.data_coding.into(),
        short_message: pdu.short_message().as_ref(),
        tlvs: pdu.tlvs(),
    };
    to_message(&view, link, now_unix)
}

/// A mobile-originated deliver_sm from an operator as a message. A receipt (see
/// [`is_receipt`]) is refused: it goes through [`super::deliver_sm_to_report`].
pub fn deliver_sm_to_message(
    pdu: &DeliverSm,
    link: &LinkOptions,
    now_unix: i64,
) -> Result<Message, MappingError> {
    let view = SmView {
        service_type: pdu.service_type.value().as_str(),
        source: (pdu.source_addr_ton, pdu.source_addr_npi, &pdu.source_addr),
        destination: (pdu.dest_addr_ton, pdu.dest_addr_npi, &pdu.destination_addr),
        esm_class: pdu.esm_class.into(),
        protocol_id: pdu.protocol_id,
        priority: pdu.priority_flag.into(),
        // SMPP 3.4 §4.6.1: both are NULL in deliver_sm; what an SMSC puts there anyway is
        // not ours to enforce.
        schedule: "",
        validity: "",
        registered_delivery: pdu.registered_delivery.into(),
        data_coding: pdu.data_coding.into(),
        short_message: pdu.short_message().as_ref(),
        tlvs: pdu.tlvs(),
    };
    to_message(&view, link, now_unix)
}

/// A data_sm as a message: the body is in message_payload, and `qos_time_to_live`
/// (SMPP 3.4 §5.3.2.9, seconds) stands in for the validity period.
pub fn data_sm_to_message(
    pdu: &DataSm,
    link: &LinkOptions,
    now_unix: i64,
) -> Result<Message, MappingError> {
    let view = SmView {
        service_type: pdu.service_type.value().as_str(),
        source: (pdu.source_addr_ton, pdu.source_addr_npi, &pdu.source_addr),
        destination: (pdu.dest_addr_ton, pdu.dest_addr_npi, &pdu.destination_addr),
        esm_class: pdu.esm_class.into(),
        protocol_id: 0,
        priority: 0,
        schedule: "",
        validity: "",
        registered_delivery: pdu.registered_delivery.into(),
        data_coding: pdu.data_coding.into(),
        short_message: &[],
        tlvs: pdu.tlvs(),
    };
    let mut message = to_message(&view, link, now_unix)?;
    let ttl = pdu.tlvs().iter().find_map(|tlv| match tlv.value() {
        Some(TlvValue::QosTimeToLive(seconds)) => Some(i64::from(*seconds)),
        _ => None,
    });
    message.validity_unix = ttl.map(|seconds| now_unix.saturating_add(seconds));
    Ok(message)
}

fn address(ton: WireTon, npi: WireNpi, value: &COctetString<1, 21>) -> Address {
    Address::new(Ton(ton.into()), Npi(npi.into()), value.as_str())
}

/// Numeric types of number carry digits (an optional leading `+`); only alphanumeric (5)
/// carries text. A source may be empty (SMPP 3.4 §4.4.1: the SMSC fills in its default),
/// and a source of unknown type (0) may be alphanumeric, as many ESMEs send sender names.
fn check_address(address: &Address, is_source: bool) -> Result<(), &'static str> {
    if address.value.is_empty() {
        return if is_source { Ok(()) } else { Err("is empty") };
    }
    let textual = address.ton == Ton::ALPHANUMERIC || (is_source && address.ton == Ton::UNKNOWN);
    let digits = address.digits();
    if !textual && (digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit())) {
        return Err("is not digits for its type of number");
    }
    Ok(())
}

fn receipt_request(registered_delivery: u8) -> ReceiptRequest {
    // SMPP 3.4 §5.2.17 bits 1-0; the value 3 is SMPP 5.0's "success only".
    match registered_delivery & 0x03 {
        0 => ReceiptRequest::None,
        1 => ReceiptRequest::Final,
        2 => ReceiptRequest::FailureOnly,
        _ => ReceiptRequest::SuccessOnly,
    }
}

/// A TLV's value as the octets it had on the wire.
fn raw_value(tlv: &Tlv) -> Bytes {
    let mut buf = BytesMut::with_capacity(usize::from(tlv.value_length()));
    if let Some(value) = tlv.value() {
        value.encode(&mut buf);
    }
    buf.freeze()
}

/// The message's place from sar_* TLVs (SMPP 3.4 §5.3.2.22-24), which come as a set.
fn sar(tlvs: &[Tlv]) -> Result<Option<ConcatRef>, MappingError> {
    let (mut reference, mut total, mut seq) = (None, None, None);
    for tlv in tlvs {
        match tlv.value() {
            Some(TlvValue::SarMsgRefNum(v)) => reference = Some(*v),
            Some(TlvValue::SarTotalSegments(v)) => total = Some(*v),
            Some(TlvValue::SarSegmentSeqnum(v)) => seq = Some(*v),
            _ => {}
        }
    }
    match (reference, total, seq) {
        (None, None, None) => Ok(None),
        (Some(reference), Some(total), Some(seq)) => {
            if total == 0 || seq == 0 || seq > total {
                return Err(MappingError::SarOutOfRange { seq, total });
            }
            Ok(Some(ConcatRef {
                reference,
                total,
                seq,
            }))
        }
        _ => Err(MappingError::IncompleteSar),
    }
}

/// The user data: short_message, or message_payload when short_message is empty.
fn user_data<'a>(view: &SmView<'a>) -> Result<&'a [u8], MappingError> {
    let payload = view.tlvs.iter().find_map(|tlv| match tlv.value() {
        Some(TlvValue::MessagePayload(payload)) => Some(payload.value.as_ref()),
        _ => None,
    });
    match payload {
        Some(_) if !view.short_message.is_empty() => Err(MappingError::TwoBodies),
        Some(payload) => Ok(payload),
        None => Ok(view.short_message),
    }
}

fn to_message(
    view: &SmView<'_>,
    link: &LinkOptions,
    now_unix: i64,
) -> Result<Message, MappingError> {
    let source = address(view.source.0, view.source.1, view.source.2);
    check_address(&source, true).map_err(|reason| MappingError::Source {
        address: source.value.clone(),
        reason,
    })?;
    let destination = address(view.destination.0, view.destination.1, view.destination.2);
    check_address(&destination, false).map_err(|reason| MappingError::Destination {
        address: destination.value.clone(),
        reason,
    })?;
    if view.esm_class & 0x3C != 0 {
        let reason = if is_receipt(view.esm_class) {
            "is a receipt, not a message"
        } else {
            "message type is not a plain short message"
        };
        return Err(MappingError::EsmClass {
            esm_class: view.esm_class,
            reason,
        });
    }
    // SMPP 3.4 §5.2.14: 0-3 (GSM uses 0 and 1, ANSI-136 and IS-95 up to 3).
    if view.priority > 3 {
        return Err(MappingError::Priority(view.priority));
    }
    let schedule_unix =
        smpp_time_to_unix(view.schedule, now_unix).map_err(MappingError::Schedule)?;
    let validity_unix =
        smpp_time_to_unix(view.validity, now_unix).map_err(MappingError::Validity)?;

    let data = user_data(view)?;
    let (udh, text) = if view.esm_class & UDHI != 0 {
        let (udh, rest) = split_user_data(data).map_err(MappingError::Udh)?;
        (Some(udh), rest)
    } else {
        (None, data)
    };
    let udh_concat = match udh.map(parse_concat_udh).transpose() {
        Ok(found) => found.flatten(),
        // TS 23.040 §9.2.3.24.1: a concatenation IE with impossible numbers is ignored and
        // the message treated as a single one.
        Err(UdhError::Concat(_)) => None,
        Err(error) => return Err(MappingError::Udh(error)),
    };
    let sar = sar(view.tlvs)?;
    // Both present is unusual; the header travels inside the message, so it wins.
    let concat = udh_concat
        .map(|info| ConcatRef {
            reference: info.reference,
            total: info.total,
            seq: info.seq,
        })
        .or(sar);
    let info = coding_of(view.data_coding, link.default_alphabet);
    let body = decode_body(info.coding, text, concat.is_some())?;

    let tlvs = view
        .tlvs
        .iter()
        .filter(|tlv| !CONSUMED_TAGS.contains(&u16::from(tlv.tag())))
        .map(|tlv| tern_model::Tlv {
            tag: u16::from(tlv.tag()),
            value: raw_value(tlv),
        })
        .collect();

    Ok(Message {
        id: None,
        source,
        destination,
        coding: info.coding,
        data_coding: view.data_coding,
        udh: udh.map(Bytes::copy_from_slice),
        body,
        concat,
        receipt: receipt_request(view.registered_delivery),
        priority: Priority(view.priority),
        service_type: view.service_type.to_owned(),
        validity_unix,
        schedule_unix,
        flash: info.flash,
        protocol_id: view.protocol_id,
        tlvs,
    })
}
