//! What the Chinese operators' SMS protocols (CMPP, SGIP, SMGP, CNGP) share: China time,
//! fixed-width fields, the MD5 login authenticators, message ids, content formats, the
//! splitting and joining of long messages, and the connected session as a state machine
//! without I/O (`session`). Written once here, used by each protocol crate.
//! It knows no protocol's command ids, field widths, status codes or PDU layouts: those
//! stay in `tern-cmpp`, `tern-sgip`, `tern-smgp` and `tern-cngp`, which pass them in.

pub mod address;
pub mod auth;
pub mod content;
pub mod fields;
pub mod login;
pub mod message;
pub mod msgid;
pub mod session;
pub mod time;
