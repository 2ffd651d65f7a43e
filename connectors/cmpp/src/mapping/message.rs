//! SUBMIT and MO DELIVER ↔ [`Message`].

use tern_cn::address::{address_of, per_destination, sender_number, terminal_number, End};
use tern_cn::message::{
    self as parts, message, submit_message, user_data, Split, SubmitFields, WirePart,
};
use tern_model::{Address, ConcatRef, Message, ReceiptRequest, Tlv};

use super::{LinkOptions, MapError, MAX_ASCII_CONTENT};
use crate::codec::fields::{check_text, field};
use crate::codec::{Deliver, Submit, Version};
use crate::time::unix_to_smpp_absolute;

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
    let template = submit_message(
        SubmitFields {
            source: &submit.src_id,
            has_udh: submit.tp_udhi != 0,
            format: submit.msg_fmt,
            content: &submit.msg_content,
            max_ascii: MAX_ASCII_CONTENT,
            protocol_id: submit.tp_pid,
            wants_report: submit.registered_delivery == 1,
            priority: submit.msg_level,
            service_id: &submit.service_id,
            valid_time: (&submit.valid_time, "ValId_Time"),
            at_time: (&submit.at_time, "At_Time"),
            tlvs: link_id_tlvs(&submit.link_id, version),
        },
        now_unix,
    )?;
    Ok(per_destination(&template, &submit.dest_terminal_ids)?)
}

/// A SUBMIT that carries one part of a longer text: its concatenation numbers and the
/// part's octets after the UDH, when the format is text (ASCII, UCS-2 or GB) and the UDH
/// holds the concatenation and nothing else. Such parts can be joined and split again for
/// the operator's part size; anything else (ports, binary, odd headers) travels as sent.
pub fn text_part(submit: &Submit) -> Option<(ConcatRef, &[u8])> {
    parts::text_part(submit.tp_udhi != 0, submit.msg_fmt, &submit.msg_content)
}

/// The message whose parts' octets (as [`text_part`] gives them, in order) are `octets`,
/// with the addresses and options of `part`, one of its parts as [`submit_to_messages`]
/// made it.
pub fn joined(part: &Message, octets: &[u8]) -> Result<Message, MapError> {
    Ok(parts::joined(part, octets)?)
}

/// A mobile-originated DELIVER from an operator as a message: Src_terminal_Id is the
/// handset, Dest_Id the SP number it wrote to. A status report is refused
/// ([`MapError::IsReport`]): it goes through [`super::report_to_domain`]. A 3.0 LinkID is
/// carried as in [`submit_to_messages`].
pub fn deliver_to_message(deliver: &Deliver, version: Version) -> Result<Message, MapError> {
    if deliver.is_report() {
        return Err(MapError::IsReport);
    }
    let data = user_data(
        deliver.tp_udhi != 0,
        deliver.msg_fmt,
        &deliver.msg_content,
        MAX_ASCII_CONTENT,
    )?;
    let destination = address_of(&deliver.dest_id);
    terminal_number(&destination, usize::MAX, End::Destination)?;
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

/// The Src_Id for a message's source: the link's prefix followed by the source's digits
/// (unless they already start with it); the prefix alone for an empty or alphanumeric
/// source, which CMPP cannot carry (an error when there is no prefix).
fn src_id(source: &Address, prefix: &str) -> Result<String, MapError> {
    let value = sender_number(source, prefix, 21)?;
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
    let dest = terminal_number(
        &message.destination,
        link.version.terminal_id_len(),
        End::Destination,
    )?;
    let time = |unix: Option<i64>| unix.map(unix_to_smpp_absolute).unwrap_or_default();
    let parts = wire_parts(message, link, reference)?;
    Ok(parts
        .into_iter()
        .map(|part| Submit {
            msg_id: 0,
            pk_total: part.udh.map_or(1, |(total, _)| total),
            pk_number: part.udh.map_or(1, |(_, number)| number),
            registered_delivery: u8::from(message.receipt != ReceiptRequest::None),
            msg_level: message.priority.0,
            service_id: link.service_id.clone(),
            fee_user_type: link.fee_user_type,
            fee_terminal_id: String::new(),
            fee_terminal_type: 0,
            tp_pid: message.protocol_id,
            tp_udhi: u8::from(part.udh.is_some()),
            msg_fmt: part.format,
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
    let dest_id = terminal_number(&message.destination, 21, End::Destination)?;
    let src_terminal_id =
        terminal_number(&message.source, link.version.terminal_id_len(), End::Source)?;
    let parts = wire_parts(message, link, reference)?;
    Ok(parts
        .into_iter()
        .map(|part| Deliver {
            msg_id: 0,
            dest_id: dest_id.clone(),
            service_id: link.service_id.clone(),
            tp_pid: message.protocol_id,
            tp_udhi: u8::from(part.udh.is_some()),
            msg_fmt: part.format,
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
