//! [`Message`] → submit_sm parts (to an operator) and deliver_sm parts (MO to a customer).

use rusmpp::pdus::parts::{DeliverSmParts, SubmitSmParts};
use rusmpp::pdus::{DeliverSm, SubmitSm};
use rusmpp::tlvs::{Tlv, TlvTag, TlvValue};
use rusmpp::types::{AnyOctetString, COctetString, EmptyOrFullCOctetString, OctetString};
use rusmpp::values::{
    DataCoding, EsmClass, MessagePayload, Npi, PriorityFlag, RegisteredDelivery,
    ReplaceIfPresentFlag, ServiceType, Ton,
};
use tern_encoding::udh::{concat_udh16, concat_udh8};
use tern_encoding::{split, split_binary, ucs2, Concat, SplitOptions};
use tern_model::{Address, Body, Coding, ConcatRef, Message, ReceiptRequest};

use super::coding::{alphabet_of, data_coding_for, wire_coding};
use super::{LinkOptions, MappingError, CONSUMED_TAGS, UDHI};
use crate::time::{seconds_to_smpp_relative, unix_to_smpp_absolute};

/// SMPP 3.4 §5.2.21: sm_length is 0-254.
pub(crate) const MAX_SHORT_MESSAGE: usize = 254;

/// The body of one PDU, ready for the wire.
struct WirePart {
    udh: Option<Vec<u8>>,
    payload: Vec<u8>,
    /// SAR numbers, sent as TLVs.
    sar: Option<ConcatRef>,
    /// Send the user data in message_payload instead of short_message.
    in_payload: bool,
}

/// The fields every part of a message shares.
struct Common {
    service_type: ServiceType,
    source: (Ton, Npi, COctetString<1, 21>),
    destination: (Ton, Npi, COctetString<1, 21>),
    priority: PriorityFlag,
    schedule: EmptyOrFullCOctetString<17>,
    validity: EmptyOrFullCOctetString<17>,
    registered_delivery: RegisteredDelivery,
    data_coding: DataCoding,
    protocol_id: u8,
    tlvs: Vec<Tlv>,
}

/// The submit_sm PDUs that carry `message` to an operator at `now_unix`, split with the
/// link's concatenation method. `reference` ties the parts together (the low octet for
/// 8-bit UDH). A message that already is one part (it has a UDH or a concatenation
/// reference) is sent as that one part. Its times are sent as they stand at `now_unix`
/// (see [`outgoing_times`]).
pub fn message_to_submit_sm(
    message: &Message,
    link: &LinkOptions,
    reference: u16,
    now_unix: i64,
) -> Result<Vec<SubmitSm>, MappingError> {
    let (common, parts) = prepare(message, link, reference, Some(now_unix))?;
    parts
        .into_iter()
        .map(|part| {
            let (esm_class, short_message, tlvs) = part_fields(&common, part, link)?;
            Ok(SubmitSm::from_parts(SubmitSmParts {
                service_type: common.service_type.clone(),
                source_addr_ton: common.source.0,
                source_addr_npi: common.source.1,
                source_addr: common.source.2.clone(),
                dest_addr_ton: common.destination.0,
                dest_addr_npi: common.destination.1,
                destination_addr: common.destination.2.clone(),
                esm_class,
                protocol_id: common.protocol_id,
                priority_flag: common.priority,
                schedule_delivery_time: common.schedule.clone(),
                validity_period: common.validity.clone(),
                registered_delivery: common.registered_delivery,
                replace_if_present_flag: ReplaceIfPresentFlag::from(0),
                data_coding: common.data_coding,
                sm_default_msg_id: 0,
                sm_length: sm_length(&short_message),
                short_message,
                tlvs,
            }))
        })
        .collect()
}

/// The deliver_sm PDUs that carry a mobile-originated `message` to a customer. Schedule and
/// validity are NULL and no receipt is asked for (SMPP 3.4 §4.6.1).
pub fn message_to_deliver_sm(
    message: &Message,
    link: &LinkOptions,
    reference: u16,
) -> Result<Vec<DeliverSm>, MappingError> {
    let (common, parts) = prepare(message, link, reference, None)?;
    parts
        .into_iter()
        .map(|part| {
            let (esm_class, short_message, tlvs) = part_fields(&common, part, link)?;
            Ok(DeliverSm::from_parts(DeliverSmParts {
                service_type: common.service_type.clone(),
                source_addr_ton: common.source.0,
                source_addr_npi: common.source.1,
                source_addr: common.source.2.clone(),
                dest_addr_ton: common.destination.0,
                dest_addr_npi: common.destination.1,
                destination_addr: common.destination.2.clone(),
                esm_class,
                protocol_id: common.protocol_id,
                priority_flag: common.priority,
                schedule_delivery_time: EmptyOrFullCOctetString::empty(),
                validity_period: EmptyOrFullCOctetString::empty(),
                registered_delivery: RegisteredDelivery::from(0),
                replace_if_present_flag: ReplaceIfPresentFlag::from(0),
                data_coding: common.data_coding,
                sm_default_msg_id: 0,
                sm_length: sm_length(&short_message),
                short_message,
                tlvs,
            }))
        })
        .collect()
}

fn sm_length(short_message: &OctetString<0, 255>) -> u8 {
    // At most MAX_SHORT_MESSAGE by construction in part_fields.
    u8::try_from(short_message.len()).unwrap_or(u8::MAX)
}

pub(crate) fn wire_address(
    address: &Address,
    is_source: bool,
) -> Result<(Ton, Npi, COctetString<1, 21>), MappingError> {
    let value = COctetString::from_string(address.value.clone()).map_err(|_| {
        let reason = "does not fit 20 ASCII characters";
        if is_source {
            MappingError::Source {
                address: address.value.clone(),
                reason,
            }
        } else {
            MappingError::Destination {
                address: address.value.clone(),
                reason,
            }
        }
    })?;
    Ok((Ton::from(address.ton.0), Npi::from(address.npi.0), value))
}

fn smpp_time(text: Option<String>) -> EmptyOrFullCOctetString<17> {
    text.and_then(|text| EmptyOrFullCOctetString::from_string(text).ok())
        .unwrap_or_else(EmptyOrFullCOctetString::empty)
}

/// The `schedule_delivery_time` and `validity_period` of `message` sent at `now_unix`. The
/// gateway holds a scheduled message until it is due, so a schedule already past is sent
/// empty (at once) rather than as the past date the customer wrote; a later one is sent
/// absolute, in UTC. The validity is sent as the time that remains, relative (SMPP 3.4
/// §7.1.1.2), so the operator's clock does not matter; at least one second, and absolute
/// beyond what a relative time can say (99 days).
pub(crate) fn outgoing_times(message: &Message, now_unix: i64) -> (Option<String>, Option<String>) {
    let schedule = message
        .schedule_unix
        .filter(|&at| at > now_unix)
        .map(unix_to_smpp_absolute);
    let validity = message.validity_unix.map(|until| {
        let remaining = until.saturating_sub(now_unix).max(1);
        seconds_to_smpp_relative(remaining).unwrap_or_else(|| unix_to_smpp_absolute(until))
    });
    (schedule, validity)
}

fn registered_delivery(receipt: ReceiptRequest) -> RegisteredDelivery {
    RegisteredDelivery::from(match receipt {
        ReceiptRequest::None => 0,
        ReceiptRequest::Final => 1,
        ReceiptRequest::FailureOnly => 2,
        ReceiptRequest::SuccessOnly => 3,
    })
}

/// The passed-through TLVs, as vendor-neutral raw values.
fn passthrough_tlvs(message: &Message) -> Vec<Tlv> {
    message
        .tlvs
        .iter()
        .filter(|tlv| !CONSUMED_TAGS.contains(&tlv.tag))
        .map(|tlv| {
            Tlv::new(TlvValue::Other {
                tag: TlvTag::from(tlv.tag),
                value: AnyOctetString::from_bytes(tlv.value.clone()),
            })
        })
        .collect()
}

/// The link's concatenation method, or 8-bit UDH where the peer takes no TLVs.
fn concat_method(link: &LinkOptions) -> Concat {
    match link.concat {
        Concat::Sar | Concat::Payload { .. } if !link.send_tlvs => Concat::Udh8,
        concat => concat,
    }
}

fn prepare(
    message: &Message,
    link: &LinkOptions,
    reference: u16,
    now_unix: Option<i64>,
) -> Result<(Common, Vec<WirePart>), MappingError> {
    let service_type = COctetString::from_string(message.service_type.clone())
        .map(ServiceType::new)
        .map_err(|_| MappingError::ServiceType(message.service_type.clone()))?;

    // Decide the coding on the wire and the octets of the whole body.
    let (coding, octets) = match &message.body {
        Body::Text(text) => {
            let coding = wire_coding(message.coding, message.flash, text, link.default_alphabet);
            let octets = alphabet_of(coding)
                .encode(text)
                .map_err(MappingError::Encode)?;
            (coding, octets)
        }
        Body::Binary(data) => (message.coding, data.to_vec()),
    };
    let data_coding = data_coding_for(
        coding,
        message.flash,
        message.data_coding,
        link.default_alphabet,
    );
    // Times go to operators only; a deliver_sm has none.
    let (schedule, validity) = now_unix.map_or((None, None), |now| outgoing_times(message, now));
    let common = Common {
        service_type,
        source: wire_address(&message.source, true)?,
        destination: wire_address(&message.destination, false)?,
        priority: PriorityFlag::from(message.priority.0),
        schedule: smpp_time(schedule),
        validity: smpp_time(validity),
        registered_delivery: registered_delivery(message.receipt),
        data_coding: DataCoding::from(data_coding),
        protocol_id: message.protocol_id,
        tlvs: if link.send_tlvs {
            passthrough_tlvs(message)
        } else {
            Vec::new()
        },
    };
    let concat = concat_method(link);

    // Already one part of a longer message: send it as it is.
    if message.udh.is_some() || message.concat.is_some() {
        let (udh, sar) = match (&message.udh, message.concat) {
            (Some(udh), _) => (Some(udh.to_vec()), None),
            (None, Some(part)) if concat == Concat::Sar => (None, Some(part)),
            (None, Some(part)) => (Some(part_udh(part, concat)), None),
            (None, None) => (None, None),
        };
        let in_payload = matches!(concat, Concat::Payload { .. });
        let part = WirePart {
            udh,
            payload: octets,
            sar,
            in_payload,
        };
        return Ok((common, vec![part]));
    }

    let options = SplitOptions {
        max_parts: link.max_parts,
        ..SplitOptions::new(concat, reference)
    };
    let split_parts = match (&message.body, coding) {
        (Body::Text(text), coding) => split(text, alphabet_of(coding), &options),
        // Raw UCS-2 is split on code units when it decodes, so no part starts mid-character.
        (Body::Binary(_), Coding::Ucs2) => match ucs2::decode(&octets) {
            Ok(text) => split(&text, alphabet_of(Coding::Ucs2), &options),
            Err(_) => split_binary(&octets, &options),
        },
        (Body::Binary(_), _) => split_binary(&octets, &options),
    }
    .map_err(MappingError::Split)?;
    let total = split_parts.len();
    let parts = split_parts
        .into_iter()
        .map(|part| WirePart {
            sar: (concat == Concat::Sar && total > 1).then_some(ConcatRef {
                reference: part.reference,
                total: part.total,
                seq: part.seq,
            }),
            in_payload: matches!(concat, Concat::Payload { .. }),
            udh: part.udh,
            payload: part.payload,
        })
        .collect();
    Ok((common, parts))
}

/// A concatenation UDH for a part that arrived with SAR TLVs.
fn part_udh(part: ConcatRef, concat: Concat) -> Vec<u8> {
    match u8::try_from(part.reference) {
        Ok(reference) if concat != Concat::Udh16 => {
            concat_udh8(reference, part.total, part.seq).to_vec()
        }
        _ => concat_udh16(part.reference, part.total, part.seq).to_vec(),
    }
}

/// esm_class, short_message and TLVs of one part.
fn part_fields(
    common: &Common,
    part: WirePart,
    link: &LinkOptions,
) -> Result<(EsmClass, OctetString<0, 255>, Vec<Tlv>), MappingError> {
    let esm_class = EsmClass::from(if part.udh.is_some() { UDHI } else { 0 });
    let mut user_data = part.udh.unwrap_or_default();
    user_data.extend_from_slice(&part.payload);
    let mut tlvs = common.tlvs.clone();
    if let Some(sar) = part.sar {
        tlvs.push(Tlv::new(TlvValue::SarMsgRefNum(sar.reference)));
        tlvs.push(Tlv::new(TlvValue::SarTotalSegments(sar.total)));
        tlvs.push(Tlv::new(TlvValue::SarSegmentSeqnum(sar.seq)));
    }
    // SMPP 3.4 §5.3.2.32: with message_payload, short_message is empty.
    let short_message = if part.in_payload && link.send_tlvs {
        // A TLV length is 16 bits.
        if user_data.len() > usize::from(u16::MAX) {
            return Err(MappingError::TooLong {
                octets: user_data.len(),
            });
        }
        tlvs.push(Tlv::new(TlvValue::MessagePayload(MessagePayload::new(
            AnyOctetString::from_vec(user_data),
        ))));
        OctetString::empty()
    } else {
        if user_data.len() > MAX_SHORT_MESSAGE {
            return Err(MappingError::TooLong {
                octets: user_data.len(),
            });
        }
        OctetString::from_vec(user_data).map_err(|_| MappingError::TooLong {
            octets: MAX_SHORT_MESSAGE + 1,
        })?
    };
    Ok((esm_class, short_message, tlvs))
}
