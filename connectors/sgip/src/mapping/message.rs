//! SUBMIT and DELIVER ↔ [`Message`].

use bytes::Bytes;
use tern_encoding::udh::{concat_udh16, concat_udh8};
use tern_encoding::{parse_concat_udh, split_user_data, UdhError};
use tern_model::{Address, ConcatRef, Message, Priority, ReceiptRequest};

use super::content::{self, max_content, message_coding};
use super::{
    handset_address, sp_address, sp_number_of, user_number, Charge, LinkOptions, MapError, SP_PAYS,
};
use crate::codec::fields::{check_text, field};
use crate::codec::{report_flag, Deliver, Submit, NUMBER_LEN};
use crate::time::{smpp_time_to_unix, unix_to_smpp_absolute};

/// What an incoming SUBMIT or DELIVER's content makes of a message.
struct UserData {
    udh: Option<Bytes>,
    concat: Option<ConcatRef>,
    body: tern_model::Body,
}

/// Splits off the UDH when TP_udhi's bit 0 is set (SGIP uses that bit only) and decodes
/// the rest.
fn user_data(tp_udhi: u8, coding: u8, data: &[u8]) -> Result<UserData, MapError> {
    let max = max_content(coding);
    if data.len() > max {
        return Err(MapError::TooLong {
            octets: data.len(),
            max,
        });
    }
    let (udh, text) = if tp_udhi & 1 != 0 {
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
        body: content::decode(coding, text, concat.is_some())?,
        concat,
    })
}

fn message(source: Address, coding: u8, protocol_id: u8, data: UserData) -> Message {
    Message {
        coding: content::coding_of(coding),
        data_coding: coding,
        udh: data.udh,
        body: data.body,
        concat: data.concat,
        protocol_id,
        ..Message::text(source, Address::default(), "")
    }
}

/// SGIP's Priority 0-9 as the domain's 0-3: 0 stays 0, 1-3 is 1, 4-6 is 2, 7-9 is 3.
fn priority_of(priority: u8) -> Priority {
    Priority(priority.min(9).div_ceil(3))
}

/// The domain's priority 0-3 as SGIP's 0-9: 0, 3, 6, 9.
fn sgip_priority(priority: Priority) -> u8 {
    priority.0.min(3) * 3
}

/// ReportFlag as the receipt asked for; billing-only (3) and reserved values carry no
/// message to deliver.
fn receipt_of(flag: u8) -> Result<ReceiptRequest, MapError> {
    match flag {
        report_flag::ON_FAILURE => Ok(ReceiptRequest::FailureOnly),
        report_flag::ALWAYS => Ok(ReceiptRequest::Final),
        report_flag::NEVER => Ok(ReceiptRequest::None),
        other => Err(MapError::ReportFlag(other)),
    }
}

/// The ReportFlag for a receipt request. SGIP has no "on success only": such a message asks
/// for every report.
fn report_flag_for(receipt: ReceiptRequest) -> u8 {
    match receipt {
        ReceiptRequest::None => report_flag::NEVER,
        ReceiptRequest::FailureOnly => report_flag::ON_FAILURE,
        ReceiptRequest::Final | ReceiptRequest::SuccessOnly => report_flag::ALWAYS,
    }
}

/// A SUBMIT from an SP as one message per UserNumber (each is routed and billed alone).
/// SPNumber is the source; ReportFlag gives the receipt (0 on failure only, 1 always, 2
/// never; 3, billing only, is refused); Priority 0-9 becomes 0-3; ExpireTime and
/// ScheduleTime are read relative to `now_unix`. A user number without the "86" prefix is
/// taken as the national number it is. ChargeNumber, CorpId, the fee fields,
/// MorelatetoMTFlag and Reserve belong to the SP's link and are not carried; MessageType
/// (0 is the only value defined) is not looked at.
pub fn submit_to_messages(submit: &Submit, now_unix: i64) -> Result<Vec<Message>, MapError> {
    let receipt = receipt_of(submit.report_flag)?;
    let data = user_data(
        submit.tp_udhi,
        submit.message_coding,
        &submit.message_content,
    )?;
    let time = |field: &'static str, text: &str| {
        smpp_time_to_unix(text, now_unix).map_err(|error| MapError::Time { field, error })
    };
    let template = Message {
        receipt,
        priority: priority_of(submit.priority),
        service_type: submit.service_type.clone(),
        validity_unix: time("ExpireTime", &submit.expire_time)?,
        schedule_unix: time("ScheduleTime", &submit.schedule_time)?,
        ..message(
            sp_address(&submit.sp_number),
            submit.message_coding,
            submit.tp_pid,
            data,
        )
    };
    submit
        .user_numbers
        .iter()
        .map(|user| {
            let destination = handset_address(user);
            // A number SGIP could not send on (not digits, or too long once "86" is put
            // before it) is refused here, with the result that names it.
            user_number(&destination)?;
            Ok(Message {
                destination,
                ..template.clone()
            })
        })
        .collect()
}

/// A SUBMIT that carries one part of a longer text: its concatenation numbers and the
/// part's octets after the UDH, when the coding is text (ASCII, UCS-2 or GBK) and the UDH
/// holds the concatenation and nothing else. Such parts can be joined and split again for
/// the operator's part size; anything else (ports, binary, odd headers) travels as sent.
pub fn text_part(submit: &Submit) -> Option<(ConcatRef, &[u8])> {
    if submit.tp_udhi & 1 == 0
        || !matches!(
            submit.message_coding,
            message_coding::ASCII | message_coding::UCS2 | message_coding::GBK
        )
    {
        return None;
    }
    let (udh, octets) = split_user_data(&submit.message_content).ok()?;
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

/// A mobile-originated DELIVER from the SMG as a message: UserNumber is the handset (the
/// source), SPNumber the access number it wrote to (the destination).
pub fn deliver_to_message(deliver: &Deliver) -> Result<Message, MapError> {
    let data = user_data(
        deliver.tp_udhi,
        deliver.message_coding,
        &deliver.message_content,
    )?;
    let destination = sp_address(&deliver.sp_number);
    sp_number_of(&destination).map_err(|reason| MapError::SpNumber {
        value: deliver.sp_number.clone(),
        reason,
    })?;
    Ok(Message {
        destination,
        ..message(
            handset_address(&deliver.user_number),
            deliver.message_coding,
            deliver.tp_pid,
            data,
        )
    })
}

/// One part on its way out.
struct WirePart {
    tp_udhi: u8,
    coding: u8,
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
        let mut content = udh;
        content.extend_from_slice(&encoded.octets);
        let limit = max_content(encoded.coding);
        if content.len() > limit {
            return Err(MapError::TooLong {
                octets: content.len(),
                max: limit,
            });
        }
        return Ok(vec![WirePart {
            tp_udhi: 1,
            coding: encoded.coding,
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
                    coding: encoded.coding,
                    content: Bytes::copy_from_slice(octets),
                };
            }
            let mut content = concat_udh8(reference, total, seq).to_vec();
            content.extend_from_slice(octets);
            WirePart {
                tp_udhi: 1,
                coding: encoded.coding,
                content: content.into(),
            }
        })
        .collect())
}

/// The SPNumber for a message's source: the link's prefix followed by the source's digits
/// (unless they already start with it); the prefix alone for an empty or alphanumeric
/// source, which SGIP cannot carry (an error when there is no prefix).
fn sp_number(source: &Address, prefix: &str) -> Result<String, MapError> {
    let error = |reason| MapError::SpNumber {
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
        return Err(error("is empty and the link has no SPNumber prefix"));
    } else {
        return Err(error("is not a number and the link has no SPNumber prefix"));
    };
    check_text(&value, NUMBER_LEN, field!("SPNumber"))?;
    Ok(value)
}

/// The SUBMITs that carry `message` to an SMG: one per part, all to its destination, the
/// user number with the "86" prefix. CorpId, ServiceType, ChargeNumber and the fee fields
/// come from the link; `reference` ties the parts of a long message together. The caller
/// gives each SUBMIT a sequence number: that is its message id.
pub fn message_to_submits(
    message: &Message,
    link: &LinkOptions,
    reference: u8,
) -> Result<Vec<Submit>, MapError> {
    check_text(&link.corp_id, 5, field!("CorpId"))?;
    check_text(&link.service_type, 10, field!("ServiceType"))?;
    check_text(&link.fee_value, 6, field!("FeeValue"))?;
    check_text(&link.given_value, 6, field!("GivenValue"))?;
    let sp_number = sp_number(&message.source, &link.sp_number)?;
    let user = user_number(&message.destination)?;
    let charge_number = match &link.charge {
        Charge::Sp => SP_PAYS.to_owned(),
        Charge::User => user.clone(),
        Charge::Number(number) => {
            check_text(number, NUMBER_LEN, field!("ChargeNumber"))?;
            number.clone()
        }
    };
    let time = |unix: Option<i64>| unix.map(unix_to_smpp_absolute).unwrap_or_default();
    let parts = wire_parts(message, link, reference)?;
    Ok(parts
        .into_iter()
        .map(|part| Submit {
            sp_number: sp_number.clone(),
            charge_number: charge_number.clone(),
            user_numbers: vec![user.clone()],
            corp_id: link.corp_id.clone(),
            service_type: link.service_type.clone(),
            fee_type: link.fee_type,
            fee_value: link.fee_value.clone(),
            given_value: link.given_value.clone(),
            agent_flag: link.agent_flag,
            morelate_to_mt_flag: link.morelate_to_mt_flag,
            priority: sgip_priority(message.priority),
            expire_time: time(message.validity_unix),
            schedule_time: time(message.schedule_unix),
            report_flag: report_flag_for(message.receipt),
            tp_pid: message.protocol_id,
            tp_udhi: part.tp_udhi,
            message_coding: part.coding,
            message_type: 0,
            message_content: part.content,
            reserve: String::new(),
        })
        .collect())
}

/// The DELIVERs that carry a mobile-originated `message` to an SGIP SP: UserNumber is the
/// handset with the "86" prefix, SPNumber the number it wrote to. The caller gives each
/// part a sequence number.
pub fn message_to_delivers(
    message: &Message,
    link: &LinkOptions,
    reference: u8,
) -> Result<Vec<Deliver>, MapError> {
    let user = user_number(&message.source)?;
    let sp_number = sp_number_of(&message.destination).map_err(|reason| MapError::SpNumber {
        value: message.destination.value.clone(),
        reason,
    })?;
    let parts = wire_parts(message, link, reference)?;
    Ok(parts
        .into_iter()
        .map(|part| Deliver {
            user_number: user.clone(),
            sp_number: sp_number.clone(),
            tp_pid: message.protocol_id,
            tp_udhi: part.tp_udhi,
            message_coding: part.coding,
            message_content: part.content,
            reserve: String::new(),
        })
        .collect())
}
