//! SMPP 3.4 / 5.0 for Tern: the frame codec, delivery receipts and the mapping between PDUs
//! and the domain `Message` / `DeliveryReport`. The modules here are pure (no I/O, no
//! runtime); they know nothing about actors, storage or the cluster.
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
pub mod mapping;
pub mod net;
pub mod receipt;
pub mod session;
pub mod time;
