//! SMGP 3.0 (China Telecom's Short Message Gateway Protocol), spoken between SPs and China
//! Telecom's short message gateways: the codec, MsgID, the Login authenticator and the
//! mapping to the domain `Message` and `DeliveryReport`; `net` runs SMGP sessions over TCP
//! on `link`, the connection layer (and, with the `gateway` feature, the pipeline's
//! customer and carrier sides) that SMGP and CNGP share, and `gateway` plugs SMGP into the
//! pipeline.
//!
//! Written here: no maintained Rust crate implements SMGP. The layout follows the SMGP 3.0
//! specification (China Telecom, 2005): a 12-octet header of PacketLength, RequestID and
//! SequenceID, fixed-width bodies, and SMGP 3.0's TLVs after SUBMIT and DELIVER. One layout
//! serves both roles: a server for SPs and a client towards the operator's gateway.

pub mod auth;
pub mod codec;
#[cfg(feature = "gateway")]
pub mod gateway;
pub mod link;
pub mod mapping;
pub mod msgid;
pub mod net;
pub mod time;

pub use codec::{
    status, Body, Decoder, EncodeError, FrameError, Pdu, Report, RequestId, Tlv, VERSION,
};
pub use msgid::{MsgId, MsgIdGenerator};
