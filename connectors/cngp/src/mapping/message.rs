//! SUBMIT and MO DELIVER ↔ [`Message`].

use bytes::Bytes;
use tern_cn::address::{address_of, per_destination, sender_number, terminal_number, End};
use tern_cn::message::{
    self as parts, message, submit_message, user_data, Split, SubmitFields, WirePart,
};
use tern_model::{Address, ConcatRef, Message, ReceiptRequest};

use super::{LinkOptions, MapError, MAX_ASCII_CONTENT};
use crate::codec::fields::{check_text, field};
use crate::codec::{tag, Deliver, Submit, Tlv, Tlvs, TERM_ID_LEN};
use crate::msgid::MsgId;
use crate::time::{unix_to_recv_time, unix_to_smpp_absolute};

/// Whether a PDU's content starts with a UDH: its TP_udhi TLV is set (absent is 0).
fn has_udh(tlvs: &Tlvs) -> bool {
    tlvs.u8(tag::TP_UDHI).is_some_and(|udhi| udhi != 0)
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

/// A SUBMIT from an SP as one message per DestTermID (each is routed and billed alone).
/// SrcTermID is the source; NeedReport 1 asks for a final report; Priority is capped at 3;
/// ValidTime and AtTime are read relative to `now_unix`; Protocol_ID (or TP_pid) is the
/// protocol id, and a LinkID TLV is carried. SPID, SubType and the fee fields stay with
/// the link that received it.
pub fn submit_to_messages(submit: &Submit, now_unix: i64) -> Result<Vec<Message>, MapError> {
    let template = submit_message(
        SubmitFields {
            source: &submit.src_term_id,
            has_udh: has_udh(&submit.tlvs),
            format: submit.msg_format,
            content: &submit.msg_content,
            max_ascii: MAX_ASCII_CONTENT,
            protocol_id: protocol_id(&submit.tlvs),
            wants_report: submit.need_report == 1,
            priority: submit.priority,
            service_id: &submit.service_id,
            valid_time: (&submit.valid_time, "ValidTime"),
            at_time: (&submit.at_time, "AtTime"),
            tlvs: link_id(&submit.tlvs),
        },
        now_unix,
    )?;
    Ok(per_destination(&template, &submit.dest_term_ids)?)
}

/// A SUBMIT that carries one part of a longer text: its concatenation numbers and the
/// part's octets after the UDH, when the format is text (ASCII, UCS-2 or GB) and the UDH
/// holds the concatenation and nothing else. Such parts can be joined and split again for
/// the operator's part size; anything else (ports, binary, odd headers) travels as sent.
pub fn text_part(submit: &Submit) -> Option<(ConcatRef, &[u8])> {
    parts::text_part(
        has_udh(&submit.tlvs),
        submit.msg_format,
        &submit.msg_content,
    )
}

/// The message whose parts' octets (as [`text_part`] gives them, in order) are `octets`,
/// with the addresses and options of `part`, one of its parts as [`submit_to_messages`]
/// made it.
pub fn joined(part: &Message, octets: &[u8]) -> Result<Message, MapError> {
    Ok(parts::joined(part, octets)?)
}

/// A mobile-originated DELIVER from an operator as a message: SrcTermID is the handset,
/// DestTermID the SP number it wrote to. A status report is refused
/// ([`MapError::IsReport`]): it goes through [`super::report_to_domain`].
pub fn deliver_to_message(deliver: &Deliver) -> Result<Message, MapError> {
    if deliver.is_report() {
        return Err(MapError::IsReport);
    }
    let data = user_data(
        has_udh(&deliver.tlvs),
        deliver.msg_format,
        &deliver.msg_content,
        MAX_ASCII_CONTENT,
    )?;
    let destination = address_of(&deliver.dest_term_id);
    terminal_number(&destination, usize::MAX, End::Destination)?;
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

/// The TLVs of an outgoing part: Protocol_ID always, TP_udhi 1 when the content starts
/// with a UDH, and the message's LinkID.
fn part_tlvs(message: &Message, part: &WirePart) -> Tlvs {
    let mut tlvs = Tlvs::new();
    tlvs.push(Tlv::u8(tag::PROTOCOL_ID, message.protocol_id));
    if part.udh.is_some() {
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
    let value = sender_number(source, prefix, TERM_ID_LEN)?;
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
    let dest = terminal_number(&message.destination, TERM_ID_LEN, End::Destination)?;
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
            msg_format: part.format,
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
    let dest_term_id = terminal_number(&message.destination, TERM_ID_LEN, End::Destination)?;
    let src_term_id = terminal_number(&message.source, TERM_ID_LEN, End::Source)?;
    let recv_time = unix_to_recv_time(recv_unix);
    let parts = wire_parts(message, link, reference)?;
    Ok(parts
        .into_iter()
        .map(|part| Deliver {
            msg_id: MsgId::ZERO,
            is_report: 0,
            msg_format: part.format,
            recv_time: recv_time.clone(),
            src_term_id: src_term_id.clone(),
            dest_term_id: dest_term_id.clone(),
            tlvs: part_tlvs(message, &part),
            msg_content: part.content,
        })
        .collect())
}
