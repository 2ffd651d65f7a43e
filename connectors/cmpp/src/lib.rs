//! CMPP 2.0 and 3.0 (China Mobile Peer to Peer), the protocol Chinese operators and
//! aggregators speak to SMS gateways: the codec, Msg_Id, the CONNECT authenticator, the
//! mapping to the domain `Message` and `DeliveryReport`, and the server and client on
//! tokio; with the `gateway` feature, its customer and carrier sides in the pipeline.
//!
//! Written here: no maintained Rust crate implements CMPP. The layout follows the China
//! Mobile specifications (CMPP 2.0 and 3.0); both versions share command ids and differ in
//! field widths (terminal ids of 21 or 32 octets, 1- or 4-octet result codes, Reserve vs
//! LinkID), so every encode and decode takes the version negotiated by CONNECT.

pub mod auth;
pub mod codec;
#[cfg(feature = "gateway")]
pub mod gateway;
pub mod mapping;
pub mod msgid;
pub mod net;
pub mod time;

pub use codec::{result, Body, CommandId, Decoder, EncodeError, FrameError, Pdu, Report, Version};
