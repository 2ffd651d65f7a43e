//! Between CNGP PDUs and the domain model: SUBMIT (MT from an SP) and DELIVER (MO from an
//! operator) ↔ [`tern_model::Message`], and the status report inside a DELIVER ↔
//! [`tern_model::DeliveryReport`].
//!
//! What shapes this module: a SUBMIT names up to 100 destinations, so it becomes one
//! `Message` per destination (each is billed and routed alone); numbers carry no TON/NPI
//! (digits become TON unknown, NPI ISDN, and go back out as digits, a leading `+` dropped,
//! as in CMPP); the content's format is MsgFormat (0 ASCII, 8 UCS-2, 15 GBK, 3/4 binary);
//! SPID, ServiceID, SubType and the fee fields belong to the link ([`LinkOptions`]), not to
//! the message; the GSM protocol type, the UDH indicator and the LinkID travel as TLVs
//! (Protocol_ID, TP_udhi, LinkID). Long text is split with an 8-bit-reference
//! concatenation UDH and TP_udhi 1, leaving room in every part for the signature the
//! operator appends.
//!
//! Every failure is a [`MapError`] whose [`MapError::status`] is the CNGP status the peer
//! is answered with.

mod message;
mod report;

#[cfg(test)]
mod proptests;
#[cfg(test)]
mod tests;

pub use message::{
    deliver_to_message, joined, message_to_delivers, message_to_submits, submit_to_messages,
    text_part,
};
pub use report::{domain_to_report, report_deliver, report_to_domain};
pub use tern_cn::content::{format as msg_format, MAX_CONTENT};

use crate::codec::{status, sub_type, EncodeError, ReportError};

/// Largest ASCII content accepted: MsgLength is below 160 for ASCII, at most
/// [`MAX_CONTENT`] otherwise (one short message on the air interface).
pub const MAX_ASCII_CONTENT: usize = 159;

/// How one CNGP link (a customer's connection or an operator link) writes messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkOptions {
    /// SPID: the SP's enterprise code, at most 10 characters.
    pub sp_id: String,
    /// ServiceID, at most 10 characters.
    pub service_id: String,
    /// The sender prefix (the SP's service code): a message's numeric source is appended to
    /// it unless it already starts with it; an empty source sends the prefix alone. May be
    /// empty.
    pub src_term_id: String,
    /// ChargeTermID, the number billed when `fee_user_type` is 3; empty by default.
    pub charge_term_id: String,
    /// SubType of every SUBMIT ([`sub_type`]).
    pub sub_type: u8,
    /// FeeUserType: 0 charge the destination, 1 the source, 2 the SP, 3 ChargeTermID.
    pub fee_user_type: u8,
    /// FeeType, 2 characters ("00" free, "01" per message, "02" monthly, "03" capped).
    pub fee_type: String,
    /// FeeCode in fen, up to 6 characters.
    pub fee_code: String,
    /// Characters the operator appends to every part (a signature such as 【Tern】); each
    /// part leaves room for that many characters of its format (1 octet in ASCII, 2 in
    /// UCS-2 and GBK).
    pub signature_chars: usize,
    /// Send text that is not ASCII as GBK (MsgFormat 15) when GBK can carry all of it;
    /// otherwise, and by default, UCS-2 (8).
    pub prefer_gbk: bool,
    /// A message needing more parts is refused.
    pub max_parts: u8,
}

impl Default for LinkOptions {
    fn default() -> Self {
        Self {
            sp_id: String::new(),
            service_id: String::new(),
            src_term_id: String::new(),
            charge_term_id: String::new(),
            sub_type: sub_type::ON_DEMAND,
            fee_user_type: 2,
            fee_type: "00".into(),
            fee_code: "000000".into(),
            signature_chars: 0,
            prefer_gbk: false,
            max_parts: u8::MAX,
        }
    }
}

// MapError, declared as CMPP's and SMGP's are (`tern_cn::mapping`); the status
// a failure is answered with is this protocol's own, below.
tern_cn::map_error! {
    format: msg_format,
    content: "content in MsgFormat {msg_format} does not decode: {reason}",
    encode: EncodeError,
    report: ReportError,
}

impl MapError {
    /// The status a SUBMIT (or DELIVER) that failed this way is answered with.
    pub fn status(&self) -> u32 {
        match self {
            MapError::Source { .. } => status::BAD_SRC_TERM_ID,
            MapError::Destination { .. } => status::BAD_DEST_TERM_ID,
            MapError::Content { .. } | MapError::TooLong { .. } | MapError::TooManyParts { .. } => {
                status::BAD_MSG_LENGTH
            }
            MapError::Time { field, .. } if *field == "AtTime" => status::BAD_AT_TIME,
            MapError::Time { .. } => status::BAD_VALID_TIME,
            MapError::Field(error) => match error {
                EncodeError::TooLong { field, .. } | EncodeError::NotAscii { field } => {
                    field_status(field)
                }
                EncodeError::Destinations(_) => status::BAD_DEST_TERM_ID,
            },
            MapError::Udh(_) | MapError::IsReport | MapError::Report(_) => status::BAD_STRUCTURE,
        }
    }
}

fn field_status(field: &str) -> u32 {
    match field {
        "SPID" => status::BAD_SP_ID,
        "ServiceID" => status::BAD_SERVICE_ID,
        "FeeType" => status::BAD_FEE_TYPE,
        "FeeCode" => status::BAD_FEE_CODE,
        "SrcTermID" => status::BAD_SRC_TERM_ID,
        "DestTermID" => status::BAD_DEST_TERM_ID,
        "ChargeTermID" => status::BAD_CHARGE_TERM_ID,
        "RecvTime" => status::BAD_TIME_FORMAT,
        _ => status::BAD_STRUCTURE,
    }
}
