//! CNGP framing and PDUs.
//!
//! A frame is `Total_Length (4) | Command_Id (4) | Command_Status (4) | Sequence_Id (4) |
//! body`, big-endian; the status of a response travels in the header. The decoder refuses
//! a length below the header or above its maximum before reserving any memory, an unknown
//! command id, and a body that does not have the exact layout of its command (fixed fields,
//! then for SUBMIT, DELIVER and their responses TLVs to the end); the caller answers what
//! the protocol allows (a response with an error status where the command has one) or
//! closes.
//!
//! Submodules: `fields` (fixed-width field readers and writers), `tlv` ([`Tlv`], [`Tlvs`]
//! and the [`tag`]s), `decode` ([`Decoder`]), `encode` ([`Pdu::encode`], [`EncodeError`]),
//! `report` (the status report inside a DELIVER) and `response` (the error answers and the
//! [`status`] codes).

mod decode;
mod encode;
pub(crate) mod fields;
mod pdu;
mod report;
mod response;
mod tlv;

#[cfg(test)]
mod proptests;
#[cfg(test)]
mod tests;

pub use decode::Decoder;
pub use encode::EncodeError;
pub use pdu::*;
pub use report::{ReportError, REPORT_LEN};
pub use response::{status, VERSION};
pub use tlv::{tag, Tlv, Tlvs, MAX_TLV_VALUE};

/// DestTermIDCount: at most 100 destinations per SUBMIT.
pub const MAX_DESTINATIONS: usize = 100;

/// Width of every terminal id (SrcTermID, ChargeTermID, DestTermID).
pub const TERM_ID_LEN: usize = 21;

/// Header length: Total_Length, Command_Id, Command_Status, Sequence_Id.
pub const HEADER_LEN: usize = 16;

/// Largest frame accepted by default: a SUBMIT to 100 terminals with 255 octets of content
/// is under 2.5 KiB, which leaves room for TLVs.
pub const DEFAULT_MAX_LEN: usize = 8 * 1024;

/// Why bytes did not make a PDU.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    /// Total_Length below the header or above the maximum: the stream cannot be
    /// resynchronised; close it.
    #[error("bad Total_Length {0}")]
    BadLength(u32),
    /// A well-framed PDU of a command id this crate does not know. The frame was consumed.
    #[error("unknown Command_Id {command_id:#010x} (sequence {sequence_id})")]
    UnknownCommand { command_id: u32, sequence_id: u32 },
    /// A well-framed PDU whose body does not fit its command. The frame was consumed.
    #[error("malformed {command:?} (sequence {sequence_id}): {reason}")]
    Malformed {
        command: CommandId,
        sequence_id: u32,
        reason: &'static str,
    },
}
