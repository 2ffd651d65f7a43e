//! Between SGIP PDUs and the domain model: SUBMIT (MT from an SP) and DELIVER (MO from the
//! SMG) ↔ [`tern_model::Message`], and REPORT ↔ [`tern_model::DeliveryReport`].
//!
//! SGIP differs from SMPP in ways that shape this module: a SUBMIT names up to 100 users,
//! so it becomes one `Message` per user (each is billed and routed alone); handset numbers
//! carry the country code "86" without a `+` (SGIP 1.2 §4.2.3.3.1), so a number read with
//! it is international, and one written without it gets it; the content's format is
//! MessageCoding (0 ASCII, 8 UCS-2, 15 GBK, 3/4 binary) rather than data_coding; CorpId,
//! ServiceType and the fee fields belong to the link ([`LinkOptions`]), not to the message.
//! Long text is split with an 8-bit-reference concatenation UDH (TP_udhi 1), leaving room
//! in every part for the signature the operator appends. A REPORT is a command of its own,
//! not a DELIVER, and names the SUBMIT by its sequence number.
//!
//! Every failure is a [`MapError`] whose [`MapError::result`] is the SGIP result code the
//! peer is answered with.

mod message;
mod report;

#[cfg(test)]
mod proptests;
#[cfg(test)]
pub(crate) mod tests;

pub use message::{
    deliver_to_message, joined, message_to_delivers, message_to_submits, submit_to_messages,
    text_part,
};
pub use report::{domain_to_report, report_to_domain};
pub use tern_cn::content::MAX_CONTENT;

use tern_cn::address::{address_of, BadNumber};
use tern_cn::content::ContentError;
use tern_cn::fields::TextError;
use tern_encoding::UdhError;
use tern_model::{Address, Ton};

use crate::codec::{fee_type, mo_relation, result, EncodeError, NUMBER_LEN};
use crate::time::SmppTimeError;

/// MessageCoding values: `tern-cn`'s formats, GB-coded Chinese named GBK as SGIP names it.
pub mod message_coding {
    pub use tern_cn::content::format::{ASCII, BINARY, CARD, GB as GBK, UCS2};
}

/// Largest ASCII content of one message: 160 GSM characters. SGIP sets no content limit
/// of its own; the SMSC behind the SMG takes one SMS, at most [`MAX_CONTENT`] octets in
/// any other coding.
pub const MAX_ASCII_CONTENT: usize = 160;

/// The country code SGIP puts before every handset number.
pub const COUNTRY_CODE: &str = "86";

/// ChargeNumber of a message the SP pays for: 21 zeros.
pub const SP_PAYS: &str = "000000000000000000000";

/// Who a SUBMIT's ChargeNumber names.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Charge {
    /// The SP pays: 21 zeros.
    #[default]
    Sp,
    /// The user the message goes to pays: their number.
    User,
    /// This number pays (with the "86" prefix, as the link sends it).
    Number(String),
}

/// How one SGIP link (an SP customer's, or the link to an operator's SMG) writes messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkOptions {
    /// The SP access number prefix: a message's numeric source is appended to it unless it
    /// already starts with it; an empty source sends the prefix alone. May be empty.
    pub sp_number: String,
    /// CorpId, at most 5 digits.
    pub corp_id: String,
    /// ServiceType, at most 10 characters.
    pub service_type: String,
    /// ChargeNumber.
    pub charge: Charge,
    /// FeeType, a [`fee_type`] value.
    pub fee_type: u8,
    /// FeeValue and GivenValue in fen, up to 6 characters.
    pub fee_value: String,
    pub given_value: String,
    /// AgentFlag: 0 receivable, 1 collected.
    pub agent_flag: u8,
    /// MorelatetoMTFlag, a [`mo_relation`] value.
    pub morelate_to_mt_flag: u8,
    /// Characters the operator appends to every part (a signature such as 【Tern】); each
    /// part leaves room for that many characters of its coding (1 octet in ASCII, 2 in
    /// UCS-2 and GBK).
    pub signature_chars: usize,
    /// Send text that is not ASCII as GBK (MessageCoding 15) when GBK can carry all of it;
    /// otherwise, and by default, UCS-2 (8).
    pub prefer_gbk: bool,
    /// A message needing more parts is refused.
    pub max_parts: u8,
}

impl Default for LinkOptions {
    fn default() -> Self {
        Self {
            sp_number: String::new(),
            corp_id: String::new(),
            service_type: String::new(),
            charge: Charge::Sp,
            fee_type: fee_type::FREE,
            fee_value: "0".into(),
            given_value: "0".into(),
            agent_flag: 0,
            morelate_to_mt_flag: mo_relation::UNSOLICITED,
            signature_chars: 0,
            prefer_gbk: false,
            max_parts: u8::MAX,
        }
    }
}

/// Why a PDU could not become a domain value or the other way round.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MapError {
    /// An SP access number (a SUBMIT's source, a DELIVER's destination) that SGIP cannot
    /// carry.
    #[error("SP number {value:?}: {reason}")]
    SpNumber { value: String, reason: &'static str },
    /// A handset number (a SUBMIT's destination, a DELIVER's source) that SGIP cannot
    /// carry.
    #[error("user number {value:?}: {reason}")]
    UserNumber { value: String, reason: &'static str },
    #[error("TP_udhi is set but the user data header is malformed: {0}")]
    Udh(UdhError),
    #[error("content in MessageCoding {coding} does not decode: {reason}")]
    Content { coding: u8, reason: &'static str },
    #[error("content of {octets} octets, at most {max} fit")]
    TooLong { octets: usize, max: usize },
    #[error("message needs {needed} parts, at most {max} are allowed")]
    TooManyParts { needed: usize, max: u8 },
    #[error("{field}: {error}")]
    Time {
        field: &'static str,
        error: SmppTimeError,
    },
    /// ReportFlag 3 (billing only, not for the user) or a reserved value: there is no
    /// message to deliver.
    #[error("ReportFlag {0} is not a message to deliver")]
    ReportFlag(u8),
    #[error(transparent)]
    Field(#[from] EncodeError),
}

impl MapError {
    /// The result code a SUBMIT (or DELIVER, or REPORT) that failed this way is answered
    /// with.
    pub fn result(&self) -> u8 {
        match self {
            MapError::UserNumber { .. } => result::ILLEGAL_PHONE_NUMBER,
            MapError::Content { .. } | MapError::TooLong { .. } | MapError::TooManyParts { .. } => {
                result::BAD_LENGTH
            }
            MapError::Field(error) => match error {
                EncodeError::TooLong { field, .. } | EncodeError::NotAscii { field }
                    if matches!(*field, "UserNumber" | "ChargeNumber") =>
                {
                    result::ILLEGAL_PHONE_NUMBER
                }
                EncodeError::Users(_) => result::ILLEGAL_PHONE_NUMBER,
                _ => result::BAD_PARAMETER_FORMAT,
            },
            MapError::SpNumber { .. }
            | MapError::Udh(_)
            | MapError::Time { .. }
            | MapError::ReportFlag(_) => result::BAD_PARAMETER_FORMAT,
        }
    }
}

/// A handset number from the wire as a domain address: digits that start with the country
/// code are international (E.164 without the `+`), other digits TON unknown, NPI ISDN;
/// anything else is alphanumeric.
pub(crate) fn handset_address(value: &str) -> Address {
    let digits = value.strip_prefix('+').unwrap_or(value);
    if digits.starts_with(COUNTRY_CODE) && digits.bytes().all(|b| b.is_ascii_digit()) {
        Address::international(digits)
    } else {
        address_of(value)
    }
}

/// A handset number as SGIP writes it: its digits (a leading `+` dropped), with "86" put
/// before a number that does not start with it unless its type says it is international
/// already (another country's).
pub fn user_number(address: &Address) -> Result<String, MapError> {
    let error = |reason| MapError::UserNumber {
        value: address.value.clone(),
        reason,
    };
    let digits = address.digits();
    if digits.is_empty() {
        return Err(error("is empty"));
    }
    if !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(error("is not digits"));
    }
    let number = if digits.starts_with(COUNTRY_CODE) || address.ton == Ton::INTERNATIONAL {
        digits.to_owned()
    } else {
        format!("{COUNTRY_CODE}{digits}")
    };
    if number.len() > NUMBER_LEN {
        return Err(error("is longer than the field"));
    }
    Ok(number)
}

impl From<ContentError> for MapError {
    fn from(error: ContentError) -> Self {
        match error {
            ContentError::Undecodable { format, reason } => MapError::Content {
                coding: format,
                reason,
            },
            ContentError::TooLong { octets, max } => MapError::TooLong { octets, max },
            ContentError::TooManyParts { needed, max } => MapError::TooManyParts { needed, max },
            ContentError::Udh(error) => MapError::Udh(error),
        }
    }
}

impl From<TextError> for MapError {
    fn from(error: TextError) -> Self {
        MapError::Field(error.into())
    }
}

/// The numbers the shared code checks for SGIP are all SP access numbers (a SUBMIT's
/// source, a DELIVER's destination); handset numbers go through [`user_number`].
impl From<BadNumber> for MapError {
    fn from(BadNumber { value, reason, .. }: BadNumber) -> Self {
        MapError::SpNumber { value, reason }
    }
}
