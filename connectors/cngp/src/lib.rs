//! CNGP 2.0 (China Netcom Short Message Gateway Protocol), spoken by China Netcom and China
//! Tietong gateways and the SPs behind them: the codec, the 10-octet MsgID, the Login
//! authenticators, and the mapping to the domain `Message` and `DeliveryReport`.
//!
//! The codec and mapping are sans I/O; `net` runs sessions over TCP on the connection
//! layer CNGP shares with SMGP (`tern_smgp::link`), and `gateway` (the `gateway` feature)
//! plugs CNGP into the pipeline on the customer and carrier sides that layer also holds.
//!
//! Written here: no maintained Rust crate implements CNGP. The layout follows the CNGP 2.0
//! specification: a 16-octet header that carries the status of a response
//! (`Total_Length | Command_Id | Command_Status | Sequence_Id`), fixed-width bodies, and
//! optional TLVs after the fixed fields of SUBMIT, DELIVER and their responses.

pub mod auth;
pub mod codec;
#[cfg(feature = "gateway")]
pub mod gateway;
pub mod mapping;
pub mod msgid;
pub mod net;
pub mod time;

pub use codec::{
    status, Body, CommandId, Decoder, EncodeError, FrameError, Pdu, Report, Tlv, Tlvs,
};
pub use msgid::{MsgId, MsgIdGenerator};
