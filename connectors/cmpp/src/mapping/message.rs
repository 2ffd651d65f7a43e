//! SUBMIT and MO DELIVER ↔ [`Message`].

use bytes::Bytes;
use tern_encoding::udh::{concat_udh16, concat_udh8};
use tern_encoding::{parse_concat_udh, split_user_data, UdhError};
use tern_model::{Address, ConcatRef, Message, Priority, ReceiptRequest, Tlv};

use super::content::{self, max_content};
use super::{address_of, terminal_number, LinkOptions, MapError};
use crate::codec::fields::{check_text, field};
use crate::codec::{Deliver, Submit, Version};
use crate::time::{smpp_time_to_unix, unix_to_smpp_absolute};

/// What an incoming SUBMIT or DELIVER's content makes of a message.
struct UserData {
    udh: Option<Bytes>,
    concat: Option<ConcatRef>,
    body: tern_model::Body,
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

/// A SUBMIT from an SP as one message per Dest_terminal_Id (each is routed and billed
/// alone). Src_Id is the source; Registered_Delivery 1 asks for a final report (2, the
/// 2.0 "SMC bill", asks for none); Msg_level becomes the priority, capped at 3; ValId_Time
/// and At_Time are read relative to `now_unix`. Pk_total/Pk_number without a UDH are not
/// a concatenation (nothing ties the parts together); with a UDH, the UDH decides. The
/// last field is the LinkID in 3.0 and is carried; 2.0's Reserve is not.
pub fn submit_to_messages(
    submit: &Submit,
    version: Version,
    now_unix: i64,
) -> Result<Vec<Message>, MapError> {
    let data = user_data(submit.tp_udhi, submit.msg_fmt, &submit.msg_content)?;
    let validity_unix =
        smpp_time_to_unix(&submit.valid_time, now_unix).map_err(|error| MapError::Time {
            field: "ValId_Time",
            error,
        })?;
    let schedule_unix =
        smpp_time_to_unix(&submit.at_time, now_unix).map_err(|error| MapError::Time {
            field: "At_Time",
            error,
        })?;
    let template = Message {
        receipt: if submit.registered_delivery == 1 {
            ReceiptRequest::Final
        } else {
            ReceiptRequest::None
        },
        priority: Priority(submit.msg_level.min(3)),
        service_type: submit.service_id.clone(),
        validity_unix,
        schedule_unix,
        tlvs: link_id_tlvs(&submit.link_id, version),
        ..message(
            address_of(&submit.src_id),
            submit.msg_fmt,
            submit.tp_pid,
            data,
        )
    };
    submit
        .dest_terminal_ids
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
    if submit.tp_udhi == 0
        || !matches!(
            submit.msg_fmt,
            content::msg_fmt::ASCII | content::msg_fmt::UCS2 | content::msg_fmt::GB
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

/// A mobile-originated DELIVER from an operator as a message: Src_terminal_Id is the
/// handset, Dest_Id the SP number it wrote to. A status report is refused
/// ([`MapError::IsReport`]): it goes through [`super::report_to_domain`]. A 3.0 LinkID is
/// carried as in [`submit_to_messages`].
pub fn deliver_to_message(deliver: &Deliver, version: Version) -> Result<Message, MapError> {
    if deliver.is_report() {
        return Err(MapError::IsReport);
    }
    let data = user_data(deliver.tp_udhi, deliver.msg_fmt, &deliver.msg_content)?;
    let destination = address_of(&deliver.dest_id);
    terminal_number(&destination, usize::MAX).map_err(|reason| MapError::Destination {
        value: deliver.dest_id.clone(),
        reason,
    })?;
    Ok(Message {
        destination,
        service_type: deliver.service_id.clone(),
        tlvs: link_id_tlvs(&deliver.link_id, version),
        ..message(
            address_of(&deliver.src_terminal_id),
            deliver.msg_fmt,
            deliver.tp_pid,
            data,
        )
    })
}

/// One part on its way out.
struct WirePart {
    tp_udhi: u8,
    pk_total: u8,
    pk_number: u8,
    msg_fmt: u8,
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
    if let Some(udh) = udh {
        let (pk_total, pk_number) = match parse_concat_udh(&udh) {
            Ok(Some(info)) => (info.total, info.seq),
            _ => (1, 1),
        };
        let mut content = udh;
        content.extend_from_slice(&encoded.octets);
        let limit = max_content(encoded.msg_fmt);
        if content.len() > limit {
            return Err(MapError::TooLong {
                octets: content.len(),
                max: limit,
            });
        }
        return Ok(vec![WirePart {
            tp_udhi: 1,
            pk_total,
            pk_number,
            msg_fmt: encoded.msg_fmt,
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
                    tp_udhi: 0,
                    pk_total: 1,
                    pk_number: 1,
                    msg_fmt: encoded.msg_fmt,
                    content: Bytes::copy_from_slice(octets),
                };
            }
            let mut content = concat_udh8(reference, total, seq).to_vec();
            content.extend_from_slice(octets);
            WirePart {
                tp_udhi: 1,
                pk_total: total,
                pk_number: seq,
                msg_fmt: encoded.msg_fmt,
                content: content.into(),
            }
        })
        .collect())
}

/// The Src_Id for a message's source: the link's prefix followed by the source's digits
/// (unless they already start with it); the prefix alone for an empty or alphanumeric
/// source, which CMPP cannot carry (an error when there is no prefix).
fn src_id(source: &Address, prefix: &str) -> Result<String, MapError> {
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
        return Err(error("is empty and the link has no Src_Id prefix"));
    } else {
        return Err(error("is not a number and the link has no Src_Id prefix"));
    };
    check_text(&value, 21, field!("Src_Id"))?;
    Ok(value)
}

/// The SUBMITs that carry `message` to an operator: one per part, all to its destination.
/// Fee fields, Msg_src and Service_Id come from the link; Msg_Id is 0 (the operator assigns
/// it); `reference` ties the parts of a long message together.
pub fn message_to_submits(
    message: &Message,
    link: &LinkOptions,
    reference: u8,
) -> Result<Vec<Submit>, MapError> {
    check_text(&link.service_id, 10, field!("Service_Id"))?;
    check_text(&link.msg_src, 6, field!("Msg_src"))?;
    check_text(&link.fee_type, 2, field!("FeeType"))?;
    check_text(&link.fee_code, 6, field!("FeeCode"))?;
    let src_id = src_id(&message.source, &link.src_id)?;
    let dest = terminal_number(&message.destination, link.version.terminal_id_len()).map_err(
        |reason| MapError::Destination {
            value: message.destination.value.clone(),
            reason,
        },
    )?;
    let time = |unix: Option<i64>| unix.map(unix_to_smpp_absolute).unwrap_or_default();
    let parts = wire_parts(message, link, reference)?;
    Ok(parts
        .into_iter()
        .map(|part| Submit {
            msg_id: 0,
            pk_total: part.pk_total,
            pk_number: part.pk_number,
            registered_delivery: u8::from(message.receipt != ReceiptRequest::None),
            msg_level: message.priority.0,
            service_id: link.service_id.clone(),
            fee_user_type: link.fee_user_type,
            fee_terminal_id: String::new(),
            fee_terminal_type: 0,
            tp_pid: message.protocol_id,
            tp_udhi: part.tp_udhi,
            msg_fmt: part.msg_fmt,
            msg_src: link.msg_src.clone(),
            fee_type: link.fee_type.clone(),
            fee_code: link.fee_code.clone(),
            valid_time: time(message.validity_unix),
            at_time: time(message.schedule_unix),
            src_id: src_id.clone(),
            dest_terminal_ids: vec![dest.clone()],
            dest_terminal_type: 0,
            msg_content: part.content,
            link_id: link_id_for(message, link.version),
        })
        .collect())
}

/// The DELIVERs that carry a mobile-originated `message` to a CMPP customer: Src_terminal_Id
/// is the handset, Dest_Id the number it wrote to, Service_Id the link's. Msg_Id is 0: the
/// caller gives each part an id from its [`crate::msgid::MsgIdGenerator`].
pub fn message_to_delivers(
    message: &Message,
    link: &LinkOptions,
    reference: u8,
) -> Result<Vec<Deliver>, MapError> {
    check_text(&link.service_id, 10, field!("Service_Id"))?;
    let dest_id =
        terminal_number(&message.destination, 21).map_err(|reason| MapError::Destination {
            value: message.destination.value.clone(),
            reason,
        })?;
    let src_terminal_id = terminal_number(&message.source, link.version.terminal_id_len())
        .map_err(|reason| MapError::Source {
            value: message.source.value.clone(),
            reason,
        })?;
    let parts = wire_parts(message, link, reference)?;
    Ok(parts
        .into_iter()
        .map(|part| Deliver {
            msg_id: 0,
            dest_id: dest_id.clone(),
            service_id: link.service_id.clone(),
            tp_pid: message.protocol_id,
            tp_udhi: part.tp_udhi,
            msg_fmt: part.msg_fmt,
            src_terminal_id: src_terminal_id.clone(),
            src_terminal_type: 0,
            registered_delivery: 0,
            msg_content: part.content,
            link_id: link_id_for(message, link.version),
        })
        .collect())
}

/// The LinkID field for `message` on a link of `version`: the one it carries in 3.0, and
/// empty in 2.0, whose field of that place is Reserve.
fn link_id_for(message: &Message, version: Version) -> String {
    match version {
        Version::V30 => message.link_id().unwrap_or_default().to_owned(),
        Version::V20 => String::new(),
    }
}

/// The LinkID field of a PDU that came over `version` as the message's TLVs: the LinkID
/// in 3.0 (none when empty or not a LinkID), nothing from 2.0's Reserve.
fn link_id_tlvs(field: &str, version: Version) -> Vec<Tlv> {
    match version {
        Version::V30 => Tlv::link_id(field).into_iter().collect(),
        Version::V20 => Vec::new(),
    }
}
