//! SGIP 1.2 (China Unicom's Short message Gateway Interface Protocol), the protocol SPs and
//! China Unicom's gateways (SMG) speak to each other: the codec, the 12-octet sequence
//! number that is also a SUBMIT's message id, the Bind check, and the mapping to the domain
//! `Message` and `DeliveryReport`; the server and reconnecting client on the shared
//! connection driver (`net`); with the `gateway` feature, the pipeline's customer and
//! carrier sides (`gateway`).
//!
//! Written here: no maintained Rust crate implements SGIP. The layout follows the SGIP 1.2
//! specification. Unlike CMPP, an SGIP link carries commands one way only: the side that
//! has something to send binds (login type 1 for an SP towards the SMG, 2 for the SMG
//! towards an SP), so a gateway is a client of the operator's SMG for SUBMITs and a server
//! for the SMG's DELIVERs and REPORTs, and the reverse towards its SPs.

pub mod auth;
pub mod codec;
#[cfg(feature = "gateway")]
pub mod gateway;
pub mod mapping;
pub mod msgid;
pub mod net;
pub mod time;

pub use codec::{result, Body, CommandId, Decoder, EncodeError, FrameError, LoginType, Pdu};
pub use msgid::{SequenceGenerator, SequenceNumber};
