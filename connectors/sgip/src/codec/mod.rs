//! SGIP framing and PDUs.
//!
//! A frame is `Message Length (4) | Command ID (4) | Sequence Number (12) | body`, every
//! integer big-endian and the sequence number three such words (SGIP 1.2 §4.2.2). The
//! decoder refuses a length below the header or above its maximum before reserving any
//! memory, an unknown command id, and a body that does not have the exact layout of its
//! command; the caller answers what the protocol allows (a response with an error result
//! where the command has one) or closes.
//!
//! Submodules: `fields` (fixed-width field readers and writers), `decode` ([`Decoder`]),
//! `encode` ([`Pdu::encode`], [`EncodeError`]) and `response` (the error answers and the
//! [`result`] codes).

mod decode;
mod encode;
pub(crate) mod fields;
mod pdu;
mod response;

#[cfg(test)]
mod proptests;
#[cfg(test)]
mod tests;

pub use decode::Decoder;
pub use encode::EncodeError;
pub use pdu::*;
pub use response::result;

use crate::msgid::SequenceNumber;

/// Header length: Message Length, Command ID, Sequence Number.
pub const HEADER_LEN: usize = 20;
/// Largest frame accepted by default. The specification caps a packet at 2 KiB, but a
/// SUBMIT to its 100 users of 21 octets alone is 2,223 octets before the content, so the
/// default leaves room for that.
pub const DEFAULT_MAX_LEN: usize = 4 * 1024;

/// UserCount: 1 to 100 users per SUBMIT.
pub const MAX_USERS: usize = 100;

/// Width of every phone or SP number field (UserNumber, SPNumber, ChargeNumber).
pub const NUMBER_LEN: usize = 21;
/// Width of every Reserve field.
pub const RESERVE_LEN: usize = 8;
/// Width of ExpireTime, ScheduleTime, and a Trace_Resp hop's ReceiveTime and SendTime.
pub const TIME_LEN: usize = 16;
/// Width of Login Name and Login Password.
pub const LOGIN_LEN: usize = 16;

/// A Trace_Resp hop: Result (1), NodeId (6), ReceiveTime (16), SendTime (16), Reserve (8).
pub(crate) const TRACE_HOP_LEN: usize = 1 + 6 + 2 * TIME_LEN + RESERVE_LEN;

/// Why bytes did not make a PDU.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    /// Message Length below the header or above the maximum: the stream cannot be
    /// resynchronised; close it.
    #[error("bad Message Length {0}")]
    BadLength(u32),
    /// A well-framed PDU of a command id this codec does not implement (the GNS and
    /// billing commands of SGIP among them). The frame was consumed.
    #[error("unknown Command ID {command_id:#010x} (sequence {sequence})")]
    UnknownCommand {
        command_id: u32,
        sequence: SequenceNumber,
    },
    /// A well-framed PDU whose body does not fit its command. The frame was consumed;
    /// `result` is the code a response to it carries (8 for a body of the wrong length,
    /// 5 for a field of the wrong format).
    #[error("malformed {command:?} (sequence {sequence}): {reason}")]
    Malformed {
        command: CommandId,
        sequence: SequenceNumber,
        reason: &'static str,
        result: u8,
    },
}
