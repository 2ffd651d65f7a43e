//! CMPP framing and PDUs.
//!
//! A frame is `Total_Length (4) | Command_Id (4) | Sequence_Id (4) | body`, big-endian. The
//! decoder refuses a length below the header or above its maximum before reserving any
//! memory, an unknown command id, and a body that does not have the exact layout of its
//! command in the negotiated version; the caller answers what the protocol allows (a
//! response with an error result where the command has one) or closes.
//!
//! Submodules: `fields` (fixed-width field readers and writers), `decode` ([`Decoder`]),
//! `encode` ([`Pdu::encode`], [`EncodeError`]), `report` (the status report inside a
//! DELIVER) and `response` (the error answers and [`result`] codes).

mod decode;
mod encode;
pub(crate) mod fields;
mod pdu;
mod report;
mod response;

#[cfg(test)]
mod proptests;
#[cfg(test)]
mod tests;

pub use decode::Decoder;
pub use encode::EncodeError;
pub use pdu::*;
pub use report::{ReportError, REPORT_TIME_LEN, STAT_LEN};
pub use response::{result, GATEWAY_VERSION};

/// DestUsr_tl: at most 100 destinations per SUBMIT.
pub const MAX_DESTINATIONS: usize = 100;

/// Header length: Total_Length, Command_Id, Sequence_Id.
pub const HEADER_LEN: usize = 12;
/// Largest frame accepted by default (a SUBMIT to 100 terminals of 32 octets with 140
/// octets of content is well under 4 KiB).
pub const DEFAULT_MAX_LEN: usize = 8 * 1024;

/// The protocol version negotiated by CONNECT.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Version {
    /// CMPP 2.0 (0x20).
    V20,
    /// CMPP 3.0 (0x30).
    V30,
}

impl Version {
    pub fn byte(self) -> u8 {
        match self {
            Version::V20 => 0x20,
            Version::V30 => 0x30,
        }
    }

    /// The version a CONNECT's Version octet asks for: 0x30 and above is 3.0, 0x20–0x2F
    /// is 2.0; anything else is not CMPP 2/3.
    pub fn from_byte(byte: u8) -> Option<Version> {
        match byte {
            0x20..=0x2f => Some(Version::V20),
            0x30..=0x3f => Some(Version::V30),
            _ => None,
        }
    }

    /// Width of a terminal id (Dest/Src/Fee_terminal_Id): 21 octets in 2.0, 32 in 3.0.
    pub fn terminal_id_len(self) -> usize {
        match self {
            Version::V20 => 21,
            Version::V30 => 32,
        }
    }

    /// Width of CONNECT_RESP Status, SUBMIT_RESP/DELIVER_RESP Result and CANCEL_RESP
    /// Success_Id: 1 octet in 2.0, 4 in 3.0.
    pub fn result_len(self) -> usize {
        match self {
            Version::V20 => 1,
            Version::V30 => 4,
        }
    }

    /// Width of the field that ends SUBMIT and DELIVER: Reserve (8 octets) in 2.0, LinkID
    /// (20) in 3.0.
    pub fn link_id_len(self) -> usize {
        match self {
            Version::V20 => 8,
            Version::V30 => 20,
        }
    }
}

/// Why bytes did not make a PDU.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    /// Total_Length below the header or above the maximum: the stream cannot be
    /// resynchronised; close it.
    #[error("bad Total_Length {0}")]
    BadLength(u32),
    /// A well-framed PDU of a command id CMPP does not define. The frame was consumed.
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
