//! Why a PDU could not become a domain value or the other way round, and the
//! `command_status` each reason is answered with.

use rusmpp::CommandStatus;
use tern_encoding::{DecodeError, EncodeError, SplitError, UdhError};

use crate::receipt::{InvalidReceiptId, ReceiptTextError};
use crate::time::SmppTimeError;

/// A mapping failure. [`MappingError::status`] is the status to answer a request with.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MappingError {
    #[error("source address {address:?}: {reason}")]
    Source {
        address: String,
        reason: &'static str,
    },
    #[error("destination address {address:?}: {reason}")]
    Destination {
        address: String,
        reason: &'static str,
    },
    #[error("service_type {0:?} is not 0-5 ASCII characters")]
    ServiceType(String),
    #[error("esm_class {esm_class:#04x}: {reason}")]
    EsmClass { esm_class: u8, reason: &'static str },
    #[error("UDHI is set but the user data header is malformed: {0}")]
    Udh(UdhError),
    #[error("short_message and message_payload both carry the message")]
    TwoBodies,
    #[error("sar_msg_ref_num, sar_total_segments and sar_segment_seqnum must come together")]
    IncompleteSar,
    #[error("SAR part {seq} of {total} is out of range")]
    SarOutOfRange { seq: u8, total: u8 },
    #[error("user data does not decode: {0}")]
    Decode(DecodeError),
    #[error("text cannot be encoded: {0}")]
    Encode(EncodeError),
    #[error("message cannot be split: {0}")]
    Split(SplitError),
    #[error(
        "user data of {octets} octets does not fit short_message (254) or message_payload (65535)"
    )]
    TooLong { octets: usize },
    #[error("priority_flag {0} is above 3")]
    Priority(u8),
    #[error("schedule_delivery_time: {0}")]
    Schedule(SmppTimeError),
    #[error("validity_period: {0}")]
    Validity(SmppTimeError),
    #[error("concatenated parts do not make one message: {0}")]
    Parts(&'static str),
    #[error(transparent)]
    ReceiptId(#[from] InvalidReceiptId),
    #[error("receipt: {0}")]
    Receipt(ReceiptTextError),
}

impl MappingError {
    /// The status a request that failed this way is answered with (SMPP 3.4 §5.1.3).
    pub fn status(&self) -> CommandStatus {
        match self {
            MappingError::Source { .. } => CommandStatus::EsmeRinvsrcadr,
            MappingError::Destination { .. } => CommandStatus::EsmeRinvdstadr,
            MappingError::ServiceType(_) => CommandStatus::EsmeRinvsertyp,
            // A UDHI bit with no readable header behind it is an esm_class that lies.
            MappingError::EsmClass { .. } | MappingError::Udh(_) => CommandStatus::EsmeRinvesmclass,
            // SMPP 3.4 §5.3.2.32: message_payload and a non-empty short_message together are
            // an error; 0xC4 names the parameter value as the culprit.
            MappingError::TwoBodies | MappingError::SarOutOfRange { .. } => {
                CommandStatus::EsmeRinvtlvval
            }
            MappingError::IncompleteSar => CommandStatus::EsmeRmissingtlv,
            // An odd UCS-2 length or a broken surrogate: the length does not fit the coding.
            MappingError::Decode(_) | MappingError::TooLong { .. } | MappingError::Split(_) => {
                CommandStatus::EsmeRinvmsglen
            }
            MappingError::Encode(_) | MappingError::Parts(_) => CommandStatus::EsmeRsubmitfail,
            MappingError::Priority(_) => CommandStatus::EsmeRinvprtflg,
            MappingError::Schedule(_) => CommandStatus::EsmeRinvsched,
            MappingError::Validity(_) => CommandStatus::EsmeRinvexpiry,
            MappingError::ReceiptId(_) => CommandStatus::EsmeRinvmsgid,
            // A receipt that cannot be read will not become readable by sending it again:
            // tell the SMSC not to retry (SMPP 3.4 §5.1.3 ESME_RX_P_APPN).
            MappingError::Receipt(_) => CommandStatus::EsmeRxPAppn,
        }
    }
}
