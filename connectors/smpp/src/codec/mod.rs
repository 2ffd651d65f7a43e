//! The frame layer: bytes ↔ `rusmpp::Command`, with strict framing in front of rusmpp's body
//! decoder and a mapping from every decode failure to the `command_status` the peer is owed.
//!
//! Decoding is two-step, as in mini-redis: [`Decoder::decode`] first looks at the 16-octet
//! header and checks `command_length` against `[16, max_len]` before it reserves or reads a
//! single body octet; only when the whole frame is buffered does it split the frame off and
//! hand the body to rusmpp. A bad length is a [`FrameError`] (the stream cannot be trusted any
//! more: answer `generic_nack` with `ESME_RINVCMDLEN` and close); a bad body is an
//! [`Inbound::Rejected`] (the frame boundary is intact: answer with the status and go on).
//!
//! Status table for a body that fails to decode (SMPP 3.4 §5.1.3, names as in SMPP 5.0):
//!
//! | what is wrong | command_status |
//! |---|---|
//! | `command_id` not an SMPP 3.4 / 5.0 operation | `ESME_RINVCMDID` |
//! | body missing for a request that has one, octets after the last field, a fixed-size field cut off | `ESME_RINVCMDLEN` |
//! | `sm_length` / `short_message` (length past the body, longer than 254) | `ESME_RINVMSGLEN` |
//! | `source_addr`, `address_range` | `ESME_RINVSRCADR` |
//! | `destination_addr`, `dest_address` of submit_multi, `dl_name`, `esme_addr` | `ESME_RINVDSTADR` |
//! | `system_id` / `password` / `system_type` | `ESME_RINVSYSID` / `ESME_RINVPASWD` / `ESME_RINVSYSTYP` |
//! | `service_type` | `ESME_RINVSERTYP` |
//! | `message_id` | `ESME_RINVMSGID` |
//! | `schedule_delivery_time` / `validity_period` | `ESME_RINVSCHED` / `ESME_RINVEXPIRY` |
//! | TLV header cut off (fewer than 4 octets left) | `ESME_RINVTLVSTREAM` (0xC0) |
//! | TLV length past the body, or not the length its value decodes to (\*) | `ESME_RINVTLVLEN` (0xC2) |
//! | TLV value malformed (C-string without NUL, non-ASCII, reserved bits set) | `ESME_RINVTLVVAL` (0xC4) |
//! | anything rusmpp cannot attribute to a field | `ESME_RSYSERR` |
//!
//! Which field failed comes from rusmpp's `verbose` error sources. (\*) rusmpp reads a known
//! TLV by its type, not its declared length; a mismatch is caught after decoding when the
//! stream still parses, and otherwise shows up as `ESME_RINVTLVSTREAM` where it stops parsing.

mod decode;
mod encode;
mod failure;

#[cfg(test)]
mod tests;

pub use decode::{Decoder, FrameError, Inbound, DEFAULT_MAX_LEN};
pub use encode::{encode, encoded_len, error_response, generic_nack};
pub use failure::DecodeFailure;

/// Octets in the SMPP header: command_length, command_id, command_status, sequence_number
/// (SMPP 3.4 §3.2).
pub const HEADER_LEN: usize = 16;

/// Bit 31 of `command_id` marks a response (SMPP 3.4 §5.1.2.1).
const RESPONSE_BIT: u32 = 0x8000_0000;

/// The four header fields, as read from the wire before anything else is trusted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Header {
    pub command_length: u32,
    pub command_id: u32,
    pub command_status: u32,
    pub sequence_number: u32,
}

/// Reads the header at the start of `buf`, or `None` when fewer than 16 octets are there.
pub fn peek_header(buf: &[u8]) -> Option<Header> {
    let word = |at: usize| -> Option<u32> {
        let bytes: [u8; 4] = buf.get(at..at + 4)?.try_into().ok()?;
        Some(u32::from_be_bytes(bytes))
    };
    Some(Header {
        command_length: word(0)?,
        command_id: word(4)?,
        command_status: word(8)?,
        sequence_number: word(12)?,
    })
}

/// Whether `command_id` is a response (`generic_nack` included).
pub fn is_response(command_id: u32) -> bool {
    command_id & RESPONSE_BIT != 0
}

/// The response id for a request id, or `None` when the request has no response
/// (`outbind`, `alert_notification`), is itself a response or is unknown.
pub fn response_id(request_id: u32) -> Option<u32> {
    match request_id {
        // bind_receiver, bind_transmitter, query_sm, submit_sm, deliver_sm, unbind,
        // replace_sm, cancel_sm, bind_transceiver (SMPP 3.4 §5.1.2.1)
        0x01..=0x09
        // enquire_link, submit_multi
        | 0x15
        | 0x21
        // data_sm; broadcast_sm, query_broadcast_sm, cancel_broadcast_sm (SMPP 5.0 §4.7.5)
        | 0x103
        | 0x111..=0x113 => Some(request_id | RESPONSE_BIT),
        _ => None,
    }
}

/// The protocol version an ESME announced in its bind, as far as the gateway cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum InterfaceVersion {
    /// 0x00-0x33: SMPP 3.3 or earlier. Such a peer must not be sent TLVs (SMPP 3.4 §5.2.4,
    /// SMPP 5.0 §2.9): receipts to it carry the text only.
    V33,
    V34,
    V50,
}

impl InterfaceVersion {
    /// Reads `interface_version`. SMPP 3.4 §5.2.4 defines 0x00-0x33 as "3.3 or earlier", so
    /// the 0x00 that old ESMEs send is 3.3, not an error; 0x35-0x4F and above 0x50 are versions
    /// that do not exist and are refused.
    pub fn from_wire(value: u8) -> Option<Self> {
        match value {
            0x00..=0x33 => Some(Self::V33),
            0x34 => Some(Self::V34),
            0x50 => Some(Self::V50),
            _ => None,
        }
    }

    /// Whether this peer may be sent optional parameters.
    pub fn supports_tlvs(self) -> bool {
        self != Self::V33
    }
}

/// Whether a bind with this `interface_version` is accepted: see [`InterfaceVersion::from_wire`].
pub fn accepted_interface_version(value: u8) -> bool {
    InterfaceVersion::from_wire(value).is_some()
}
