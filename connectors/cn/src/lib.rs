//! What the Chinese operators' SMS protocols (CMPP, SGIP, SMGP, CNGP) share: China time,
//! framing (`frame`), fixed-width fields, the MD5 login authenticators, message ids,
//! content formats, the splitting and joining of long messages, the status report's fields
//! (`report`), the mapping modules' error (`mapping`), the connected session as a state
//! machine without I/O (`session`) and, with the `driver` feature, that session run by the
//! connection driver of `tern-transport` (`driver`). Written once here, used by each
//! protocol crate.
//! It knows no protocol's command ids, field widths, status codes or PDU layouts: those
//! stay in `tern-cmpp`, `tern-sgip`, `tern-smgp` and `tern-cngp`, which pass them in.

pub mod address;
pub mod auth;
pub mod content;
#[cfg(feature = "driver")]
pub mod driver;
pub mod fields;
pub mod frame;
pub mod login;
pub mod mapping;
pub mod message;
pub mod msgid;
pub mod report;
pub mod session;
pub mod time;
