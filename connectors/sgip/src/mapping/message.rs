//! SUBMIT and DELIVER ↔ [`Message`].

use tern_cn::address::{address_of, sender_number, terminal_number, End};
use tern_cn::message::{self as parts, message, user_data, Split, WirePart};
use tern_model::{Address, ConcatRef, Message, Priority, ReceiptRequest};

use super::{
    handset_address, user_number, Charge, LinkOptions, MapError, MAX_ASCII_CONTENT, SP_PAYS,
};
use crate::codec::fields::{check_text, field};
use crate::codec::{report_flag, Deliver, Submit, NUMBER_LEN};
use crate::time::{smpp_time_to_unix, unix_to_smpp_absolute};

/// Whether TP_udhi says the content starts with a UDH: SGIP uses its bit 0 only.
fn has_udh(tp_udhi: u8) -> bool {
    tp_udhi & 1 != 0
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
        has_udh(submit.tp_udhi),
        submit.message_coding,
        &submit.message_content,
        MAX_ASCII_CONTENT,
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
            address_of(&submit.sp_number),
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
    parts::text_part(
        has_udh(submit.tp_udhi),
        submit.message_coding,
        &submit.message_content,
    )
}

/// The message whose parts' octets (as [`text_part`] gives them, in order) are `octets`,
/// with the addresses and options of `part`, one of its parts as [`submit_to_messages`]
/// made it.
pub fn joined(part: &Message, octets: &[u8]) -> Result<Message, MapError> {
    Ok(parts::joined(part, octets)?)
}

/// A mobile-originated DELIVER from the SMG as a message: UserNumber is the handset (the
/// source), SPNumber the access number it wrote to (the destination).
pub fn deliver_to_message(deliver: &Deliver) -> Result<Message, MapError> {
    let data = user_data(
        has_udh(deliver.tp_udhi),
        deliver.message_coding,
        &deliver.message_content,
        MAX_ASCII_CONTENT,
    )?;
    let destination = address_of(&deliver.sp_number);
    terminal_number(&destination, NUMBER_LEN, End::Destination)?;
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

/// The parts of `message` as the link splits them.
fn wire_parts(
    message: &Message,
    link: &LinkOptions,
    reference: u8,
) -> Result<Vec<WirePart>, MapError> {
    let split = Split {
        signature_chars: link.signature_chars,
        max_parts: link.max_parts,
        prefer_gbk: link.prefer_gbk,
        max_ascii: MAX_ASCII_CONTENT,
    };
    Ok(parts::wire_parts(message, &split, reference)?)
}

/// The SPNumber for a message's source: the link's prefix followed by the source's digits
/// (unless they already start with it); the prefix alone for an empty or alphanumeric
/// source, which SGIP cannot carry (an error when there is no prefix).
fn sp_number(source: &Address, prefix: &str) -> Result<String, MapError> {
    let value = sender_number(source, prefix, NUMBER_LEN)?;
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
            tp_udhi: u8::from(part.udh.is_some()),
            message_coding: part.format,
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
    let sp_number = terminal_number(&message.destination, NUMBER_LEN, End::Destination)?;
    let parts = wire_parts(message, link, reference)?;
    Ok(parts
        .into_iter()
        .map(|part| Deliver {
            user_number: user.clone(),
            sp_number: sp_number.clone(),
            tp_pid: message.protocol_id,
            tp_udhi: u8::from(part.udh.is_some()),
            message_coding: part.format,
            message_content: part.content,
            reserve: String::new(),
        })
        .collect())
}
