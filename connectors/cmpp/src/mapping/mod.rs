//! Between CMPP PDUs and the domain model: SUBMIT (MT from an SP) and DELIVER (MO from an
//! operator) ↔ [`tern_model::Message`], and the status report inside a DELIVER ↔
//! [`tern_model::DeliveryReport`].
//!
//! CMPP differs from SMPP in ways that shape this module: a SUBMIT names up to 100
//! destinations, so it becomes one `Message` per destination (each is billed and routed
//! alone); addresses carry no TON/NPI (numbers become TON unknown, NPI ISDN); the content's
//! format is Msg_Fmt (0 ASCII, 8 UCS-2, 15 GB18030/GBK, 3/4 binary) rather than
//! data_coding; fee fields, Msg_src and Service_Id belong to the link ([`LinkOptions`]),
//! not to the message. Long text is split with an 8-bit-reference concatenation UDH
//! (TP_udhi 1, Pk_total/Pk_number set), leaving room in every part for the signature the
//! operator appends.
//!
//! Every failure is a [`MapError`] whose [`MapError::result`] is the CMPP result code the
//! peer is answered with.

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
pub use tern_cn::content::{format as msg_fmt, MAX_CONTENT};

use crate::codec::{result, EncodeError, ReportError};

/// Largest ASCII content accepted: Msg_Length is below 160 for ASCII (CMPP 2.0 §7.4.3.4
/// and 3.0 alike), at most [`MAX_CONTENT`] otherwise.
pub const MAX_ASCII_CONTENT: usize = 159;

/// How one CMPP link (a customer's connection or an operator link) writes messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkOptions {
    pub version: crate::Version,
    /// Msg_src: the SP's enterprise code, 6 characters.
    pub msg_src: String,
    /// Service_Id, at most 10 characters.
    pub service_id: String,
    /// The sender prefix (the SP's service code): a message's numeric source is appended to
    /// it unless it already starts with it; an empty source sends the prefix alone. May be
    /// empty.
    pub src_id: String,
    /// Characters the operator appends to every part (a signature such as 【Tern】); each
    /// part leaves room for that many characters of its format (1 octet in ASCII, 2 in
    /// UCS-2 and GBK).
    pub signature_chars: usize,
    /// Fee_UserType: 0 charge the destination, 1 the source, 2 the SP, 3 Fee_terminal_Id.
    pub fee_user_type: u8,
    /// FeeType, 2 characters ("01" free, "02" per message, ...).
    pub fee_type: String,
    /// FeeCode in fen, up to 6 characters.
    pub fee_code: String,
    /// Send text that is not ASCII as GBK (Msg_Fmt 15) when GBK can carry all of it;
    /// otherwise, and by default, UCS-2 (8).
    pub prefer_gbk: bool,
    /// A message needing more parts is refused.
    pub max_parts: u8,
}

impl Default for LinkOptions {
    fn default() -> Self {
        Self {
            version: crate::Version::V30,
            msg_src: String::new(),
            service_id: String::new(),
            src_id: String::new(),
            signature_chars: 0,
            fee_user_type: 2,
            fee_type: "01".into(),
            fee_code: "000000".into(),
            prefer_gbk: false,
            max_parts: u8::MAX,
        }
    }
}

// MapError, declared as SMGP's and CNGP's are (`tern_cn::mapping`); the result code
// a failure is answered with is this protocol's own, below.
tern_cn::map_error! {
    format: msg_fmt,
    content: "content in Msg_Fmt {msg_fmt} does not decode: {reason}",
    encode: EncodeError,
    report: ReportError,
}

impl MapError {
    /// The result code a SUBMIT (or DELIVER) that failed this way is answered with.
    /// Source and destination use CMPP 3.0's codes 10 and 13, which a 2.0 peer reads as
    /// "other error".
    pub fn result(&self) -> u32 {
        match self {
            MapError::Source { .. } => result::BAD_SRC_ID,
            MapError::Destination { .. } => result::BAD_DEST_TERMINAL_ID,
            MapError::Content { .. } => result::BAD_MSG_LENGTH,
            MapError::TooLong { .. } | MapError::TooManyParts { .. } => result::TOO_LONG,
            MapError::Field(error) => match error {
                EncodeError::TooLong { field, .. } | EncodeError::NotAscii { field } => {
                    field_result(field)
                }
                EncodeError::Destinations(_) => result::BAD_DEST_TERMINAL_ID,
                EncodeError::ValueTooLarge { .. } => result::BAD_STRUCTURE,
            },
            MapError::Udh(_) | MapError::Time { .. } | MapError::IsReport | MapError::Report(_) => {
                result::BAD_STRUCTURE
            }
        }
    }
}

fn field_result(field: &str) -> u32 {
    match field {
        "Service_Id" => result::BAD_SERVICE_ID,
        "Msg_src" => result::BAD_MSG_SRC,
        "FeeType" | "FeeCode" => result::BAD_FEE_CODE,
        "Src_Id" => result::BAD_SRC_ID,
        "Dest_terminal_Id" | "Dest_Id" => result::BAD_DEST_TERMINAL_ID,
        "Fee_terminal_Id" => result::BAD_FEE_TERMINAL_ID,
        _ => result::BAD_STRUCTURE,
    }
}
