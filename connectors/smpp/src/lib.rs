//! SMPP 3.4 / 5.0 for Tern: the frame codec, delivery receipts and the mapping between PDUs
//! and the domain `Message` / `DeliveryReport`; the session state machine, and its server and
//! client on tokio (`net`). Only `gateway` (the `gateway` feature) knows the pipeline: it
//! plugs SMPP into it as a customer side and a carrier side.
//!
//! PDU types and body encoding/decoding come from `rusmpp` (re-exported as [`rusmpp`]): it
//! is maintained, models every SMPP 5.0 PDU with typed TLVs, decodes into owned `Bytes` without
//! copying (with a borrowed variant beside it), has a `no_std` core and is fuzzed upstream.
//! Framing and error mapping are ours ([`codec`]): Tern must refuse a bad `command_length`
//! before allocating, treat trailing octets and mis-sized TLVs as errors, and answer every
//! malformed body with the specific `command_status` the spec calls for, which a generic
//! codec does not do.

pub use rusmpp;
pub use rusmpp::{Command, CommandId, CommandStatus, Pdu};

pub mod codec;
#[cfg(feature = "gateway")]
pub mod gateway;
pub mod mapping;
pub mod net;
pub mod receipt;
pub mod session;
pub mod time;
