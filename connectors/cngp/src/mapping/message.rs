//! SUBMIT and MO DELIVER ↔ [`Message`].

use bytes::Bytes;
use tern_encoding::udh::{concat_udh16, concat_udh8};
use tern_encoding::{parse_concat_udh, split_user_data, UdhError};
use tern_model::{Address, ConcatRef, Message, Priority, ReceiptRequest};

use super::content::{self, max_content};
use super::{address_of, terminal_number, LinkOptions, MapError};
use crate::codec::fields::{check_text, field};
use crate::codec::{tag, Deliver, Submit, Tlv, Tlvs, TERM_ID_LEN};
use crate::msgid::MsgId;
use crate::time::{smpp_time_to_unix, unix_to_recv_time, unix_to_smpp_absolute};

/// What an incoming SUBMIT or DELIVER's content makes of a message.
struct UserData {
    udh: Option<Bytes>,
    concat: Option<ConcatRef>,
    body: tern_model::Body,
}

/// The UDH indicator of a PDU: its TP_udhi TLV, 0 when absent.
fn udhi(tlvs: &Tlvs) -> u8 {
    tlvs.u8(tag::TP_UDHI).unwrap_or(0)
}

/// The GSM protocol type: Protocol_ID, or TP_pid when only that is given; 0 otherwise.
fn protocol_id(tlvs: &Tlvs) -> u8 {
    tlvs.u8(tag::PROTOCOL_ID)
        .or_else(|| tlvs.u8(tag::TP_PID))
        .unwrap_or(0)
}

/// The LinkID TLV as the message's, when it is one the model carries.
fn link_id(tlvs: &Tlvs) -> Vec<tern_model::Tlv> {
    tlvs.text(tag::LINK_ID)
        .and_then(|id| tern_model::Tlv::link_id(&id))
        .into_iter()
        .collect()
}

/// Splits off the UDH when TP_udhi is set (any non-zero value) and decodes the rest.
fn user_data(tp_udhi: u8, format: u8, data: &[u8]) -> Result<UserData, MapError> {
    let max = max_content(format);
    if data.len() > max {
        return Err(MapError::TooLong {
            octets: data.len(),
            max,
        });
    }
    let (udh, text) = if tp_udhi != 0 {
        let (udh, rest) = split_user_data(data).map_err(MapError::Udh)?;
        (Some(udh), rest)
    } else {
        (None, data)
    };
    let concat = match udh.map(parse_concat_udh).transpose() {
        Ok(found) => found.flatten().map(|info| ConcatRef {
            reference: info.reference,
            total: info.total,
            seq: info.seq,
        }),
        // TS 23.040 §9.2.3.24.1: a concatenation IE with impossible numbers is ignored
        // and the message treated as a single one.
        Err(UdhError::Concat(_)) => None,
        Err(error) => return Err(MapError::Udh(error)),
    };
    Ok(UserData {
        udh: udh.map(Bytes::copy_from_slice),
        body: content::decode(format, text, concat.is_some())?,
        concat,
    })
}

fn message(source: Address, format: u8, protocol_id: u8, data: UserData) -> Message {
    Message {
        coding: content::coding_of(format),
        data_coding: format,
        udh: data.udh,
        body: data.body,
        concat: data.concat,
        protocol_id,
        ..Message::text(source, Address::default(), "")
    }
}

/// A SUBMIT from an SP as one message per DestTermID (each is routed and billed alone).
/// SrcTermID is the source; NeedReport 1 asks for a final report; Priority is capped at 3;
/// ValidTime and AtTime are read relative to `now_unix`; Protocol_ID (or TP_pid) is the
/// protocol id, and a LinkID TLV is carried. SPID, SubType and the fee fields stay with
/// the link that received it.
pub fn submit_to_messages(submit: &Submit, now_unix: i64) -> Result<Vec<Message>, MapError> {
    let data = user_data(udhi(&submit.tlvs), submit.msg_format, &submit.msg_content)?;
    let validity_unix =
        smpp_time_to_unix(&submit.valid_time, now_unix).map_err(|error| MapError::Time {
            field: "ValidTime",
            error,
        })?;
    let schedule_unix =
        smpp_time_to_unix(&submit.at_time, now_unix).map_err(|error| MapError::Time {
            field: "AtTime",
            error,
        })?;
    let template = Message {
        receipt: if submit.need_report == 1 {
            ReceiptRequest::Final
        } else {
            ReceiptRequest::None
        },
        priority: Priority(submit.priority.min(3)),
        service_type: submit.service_id.clone(),
        validity_unix,
        schedule_unix,
        tlvs: link_id(&submit.tlvs),
        ..message(
            address_of(&submit.src_term_id),
            submit.msg_format,
            protocol_id(&submit.tlvs),
            data,
        )
    };
    submit
        .dest_term_ids
        .iter()
        .map(|dest| {
            let destination = address_of(dest);
            // Any length that decoded fits; the check is on the characters.
            terminal_number(&destination, usize::MAX).map_err(|reason| MapError::Destination {
                value: dest.clone(),
                reason,
            })?;
            Ok(Message {
                destination,
                ..template.clone()
            })
        })
        .collect()
}

/// A SUBMIT that carries one part of a longer text: its concatenation numbers and the
/// part's octets after the UDH, when the format is text (ASCII, UCS-2 or GB) and the UDH
/// holds the concatenation and nothing else. Such parts can be joined and split again for
/// the operator's part size; anything else (ports, binary, odd headers) travels as sent.
pub fn text_part(submit: &Submit) -> Option<(ConcatRef, &[u8])> {
    if udhi(&submit.tlvs) == 0
        || !matches!(
            submit.msg_format,
            content::msg_format::ASCII | content::msg_format::UCS2 | content::msg_format::GB
        )
    {
        return None;
    }
    let (udh, octets) = split_user_data(&submit.msg_content).ok()?;
    // Exactly one IE: 8-bit (00, 3 octets) or 16-bit (08, 4 octets) concatenation.
    let only_concat = matches!(udh, [5, 0x00, 3, ..] | [6, 0x08, 4, ..]);
    let info = parse_concat_udh(udh).ok().flatten()?;
    only_concat.then_some((
        ConcatRef {
            reference: info.reference,
            total: info.total,
            seq: info.seq,
        },
        octets,
    ))
}

/// The message whose parts' octets (as [`text_part`] gives them, in order) are `octets`,
/// with the addresses and options of `part`, one of its parts as [`submit_to_messages`]
/// made it.
pub fn joined(part: &Message, octets: &[u8]) -> Result<Message, MapError> {
    Ok(Message {
        udh: None,
        concat: None,
        body: content::decode(part.data_coding, octets, false)?,
        ..part.clone()
    })
}

/// A mobile-originated DELIVER from an operator as a message: SrcTermID is the handset,
/// DestTermID the SP number it wrote to. A status report is refused
/// ([`MapError::IsReport`]): it goes through [`super::report_to_domain`].
pub fn deliver_to_message(deliver: &Deliver) -> Result<Message, MapError> {
    if deliver.is_report() {
        return Err(MapError::IsReport);
    }
    let data = user_data(
        udhi(&deliver.tlvs),
        deliver.msg_format,
        &deliver.msg_content,
    )?;
    let destination = address_of(&deliver.dest_term_id);
    terminal_number(&destination, usize::MAX).map_err(|reason| MapError::Destination {
        value: deliver.dest_term_id.clone(),
        reason,
    })?;
    Ok(Message {
        destination,
        tlvs: link_id(&deliver.tlvs),
        ..message(
            address_of(&deliver.src_term_id),
            deliver.msg_format,
            protocol_id(&deliver.tlvs),
            data,
        )
    })
}

/// One part on its way out.
struct WirePart {
    udh: bool,
    msg_format: u8,
    content: Bytes,
}

/// The parts of `message`: split with an 8-bit-reference UDH when long; sent as one part
/// with its UDH when it already is a part (it carries a UDH or a concatenation reference).
fn wire_parts(
    message: &Message,
    link: &LinkOptions,
    reference: u8,
) -> Result<Vec<WirePart>, MapError> {
    let encoded = content::encode(&message.body, message.coding, link.prefer_gbk);
    let udh = match (&message.udh, message.concat) {
        (Some(udh), _) => Some(udh.to_vec()),
        (None, Some(part)) => Some(match u8::try_from(part.reference) {
            Ok(reference) => concat_udh8(reference, part.total, part.seq).to_vec(),
            Err(_) => concat_udh16(part.reference, part.total, part.seq).to_vec(),
        }),
        (None, None) => None,
    };
    if let Some(mut content) = udh {
        content.extend_from_slice(&encoded.octets);
        let limit = max_content(encoded.msg_format);
        if content.len() > limit {
            return Err(MapError::TooLong {
                octets: content.len(),
                max: limit,
            });
        }
        return Ok(vec![WirePart {
            udh: true,
            msg_format: encoded.msg_format,
            content: content.into(),
        }]);
    }
    let parts = encoded.split(link.signature_chars, link.max_parts)?;
    // split returns at most max_parts (a u8) parts.
    let total = u8::try_from(parts.len()).unwrap_or(u8::MAX);
    Ok(parts
        .into_iter()
        .zip(1..=total)
        .map(|(octets, seq)| {
            if total == 1 {
                return WirePart {
                    udh: false,
                    msg_format: encoded.msg_format,
                    content: Bytes::copy_from_slice(octets),
                };
            }
            let mut content = concat_udh8(reference, total, seq).to_vec();
            content.extend_from_slice(octets);
            WirePart {
                udh: true,
                msg_format: encoded.msg_format,
                content: content.into(),
            }
        })
        .collect())
}

/// The TLVs of an outgoing part: Protocol_ID always, TP_udhi 1 when the content starts
/// with a UDH, and the message's LinkID.
fn part_tlvs(message: &Message, part: &WirePart) -> Tlvs {
    let mut tlvs = Tlvs::new();
    tlvs.push(Tlv::u8(tag::PROTOCOL_ID, message.protocol_id));
    if part.udh {
        tlvs.push(Tlv::u8(tag::TP_UDHI, 1));
    }
    if let Some(link_id) = message.link_id() {
        tlvs.push(Tlv::new(
            tag::LINK_ID,
            Bytes::copy_from_slice(link_id.as_bytes()),
        ));
    }
    tlvs
}

/// The SrcTermID for a message's source: the link's prefix followed by the source's digits
/// (unless they already start with it); the prefix alone for an empty or alphanumeric
/// source, which CNGP cannot carry (an error when there is no prefix).
fn src_term_id(source: &Address, prefix: &str) -> Result<String, MapError> {
    let error = |reason| MapError::Source {
        value: source.value.clone(),
        reason,
    };
    let digits = source.digits();
    let numeric = !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit());
    let value = if numeric && digits.starts_with(prefix) {
        digits.to_owned()
    } else if numeric {
        format!("{prefix}{digits}")
    } else if !prefix.is_empty() {
        prefix.to_owned()
    } else if digits.is_empty() {
        return Err(error("is empty and the link has no SrcTermID prefix"));
    } else {
        return Err(error(
            "is not a number and the link has no SrcTermID prefix",
        ));
    };
    check_text(&value, TERM_ID_LEN, field!("SrcTermID"))?;
    Ok(value)
}

/// The SUBMITs that carry `message` to an operator: one per part, all to its destination.
/// SPID, ServiceID, SubType, the fee fields and ChargeTermID come from the link;
/// `reference` ties the parts of a long message together.
pub fn message_to_submits(
    message: &Message,
    link: &LinkOptions,
    reference: u8,
) -> Result<Vec<Submit>, MapError> {
    check_text(&link.sp_id, 10, field!("SPID"))?;
    check_text(&link.service_id, 10, field!("ServiceID"))?;
    check_text(&link.fee_type, 2, field!("FeeType"))?;
    check_text(&link.fee_code, 6, field!("FeeCode"))?;
    check_text(&link.charge_term_id, TERM_ID_LEN, field!("ChargeTermID"))?;
    let src_term_id = src_term_id(&message.source, &link.src_term_id)?;
    let dest = terminal_number(&message.destination, TERM_ID_LEN).map_err(|reason| {
        MapError::Destination {
            value: message.destination.value.clone(),
            reason,
        }
    })?;
    let time = |unix: Option<i64>| unix.map(unix_to_smpp_absolute).unwrap_or_default();
    let parts = wire_parts(message, link, reference)?;
    Ok(parts
        .into_iter()
        .map(|part| Submit {
            sp_id: link.sp_id.clone(),
            sub_type: link.sub_type,
            need_report: u8::from(message.receipt != ReceiptRequest::None),
            priority: message.priority.0.min(3),
            service_id: link.service_id.clone(),
            fee_type: link.fee_type.clone(),
            fee_user_type: link.fee_user_type,
            fee_code: link.fee_code.clone(),
            msg_format: part.msg_format,
            valid_time: time(message.validity_unix),
            at_time: time(message.schedule_unix),
            src_term_id: src_term_id.clone(),
            charge_term_id: link.charge_term_id.clone(),
            dest_term_ids: vec![dest.clone()],
            tlvs: part_tlvs(message, &part),
            msg_content: part.content,
        })
        .collect())
}

/// The DELIVERs that carry a mobile-originated `message` to a CNGP customer: SrcTermID is
/// the handset, DestTermID the number it wrote to, RecvTime `recv_unix`. MsgID is zero:
/// the caller gives each part an id from its [`crate::msgid::MsgIdGenerator`].
pub fn message_to_delivers(
    message: &Message,
    link: &LinkOptions,
    reference: u8,
    recv_unix: i64,
) -> Result<Vec<Deliver>, MapError> {
    let dest_term_id = terminal_number(&message.destination, TERM_ID_LEN).map_err(|reason| {
        MapError::Destination {
            value: message.destination.value.clone(),
            reason,
        }
    })?;
    let src_term_id =
        terminal_number(&message.source, TERM_ID_LEN).map_err(|reason| MapError::Source {
            value: message.source.value.clone(),
            reason,
        })?;
    let recv_time = unix_to_recv_time(recv_unix);
    let parts = wire_parts(message, link, reference)?;
    Ok(parts
        .into_iter()
        .map(|part| Deliver {
            msg_id: MsgId::ZERO,
            is_report: 0,
            msg_format: part.msg_format,
            recv_time: recv_time.clone(),
            src_term_id: src_term_id.clone(),
            dest_term_id: dest_term_id.clone(),
            tlvs: part_tlvs(message, &part),
            msg_content: part.content,
        })
        .collect())
}
