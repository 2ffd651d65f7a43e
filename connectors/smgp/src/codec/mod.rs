//! SMGP 3.0 framing and PDUs.
//!
//! A frame is `PacketLength (4) | RequestID (4) | SequenceID (4) | body`, big-endian; the
//! layout follows the SMGP 3.0 specification. SUBMIT and DELIVER end in optional TLVs
//! (`Tag (2) | Length (2) | Value`). The decoder refuses a length below the header or above
//! its maximum before reserving any memory, an unknown request id, and a body that does not
//! have the exact layout of its request; the caller answers what the protocol allows (a
//! response with an error status where the request has one) or closes.
//!
//! Submodules: `fields` (fixed-width field readers and writers), `tlv` ([`Tlv`] and the
//! tags), `decode` ([`Decoder`]), `encode` ([`Pdu::encode`], [`EncodeError`]), `report`
//! (the status report inside a DELIVER) and `response` (the error answers and [`status`]
//! codes).

mod decode;
mod encode;
pub(crate) mod fields;
mod pdu;
mod report;
mod response;
pub mod tlv;

#[cfg(test)]
pub(crate) mod proptests;
#[cfg(test)]
mod tests;

pub use decode::Decoder;
pub use encode::EncodeError;
pub use pdu::*;
pub use report::{ReportError, REPORT_TEXT_LEN};
pub use response::status;
pub use tlv::Tlv;

/// DestTermIDCount: at most 100 destinations per SUBMIT.
pub const MAX_DESTINATIONS: usize = 100;

/// Width of SrcTermID, ChargeTermID, DestTermID.
pub const TERM_ID_LEN: usize = 21;

/// Header length: PacketLength, RequestID, SequenceID.
pub const HEADER_LEN: usize = 12;

/// Largest frame accepted by default: a SUBMIT to 100 terminals with 255 octets of content
/// is under 2.5 KiB, which leaves room for TLVs.
pub const DEFAULT_MAX_LEN: usize = 8 * 1024;

/// The protocol version this crate speaks (ClientVersion / ServerVersion 0x30).
pub const VERSION: u8 = 0x30;

/// LoginMode values.
pub mod login_mode {
    /// The client only sends (SUBMIT).
    pub const SEND: u8 = 0;
    /// The client only receives (DELIVER).
    pub const RECEIVE: u8 = 1;
    /// Both ways on one connection.
    pub const TRANSMIT: u8 = 2;
}

/// Why bytes did not make a PDU.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    /// PacketLength below the header or above the maximum: the stream cannot be
    /// resynchronised; close it.
    #[error("bad PacketLength {0}")]
    BadLength(u32),
    /// A well-framed PDU of a request id this crate does not read. The frame was consumed.
    #[error("unknown RequestID {request_id:#010x} (sequence {sequence_id})")]
    UnknownRequest { request_id: u32, sequence_id: u32 },
    /// A well-framed PDU whose body does not fit its request. The frame was consumed.
    #[error("malformed {request:?} (sequence {sequence_id}): {reason}")]
    Malformed {
        request: RequestId,
        sequence_id: u32,
        reason: &'static str,
    },
}
