//! The SMGP 3.0 connector on tokio: the server (SPs, our customers, log in to us) and the
//! client (we log in to an operator's SMGW). Written here because no maintained crate
//! speaks SMGP.
//!
//! The connection layer is [`crate::link`], which CNGP shares; this module names SMGP's
//! instances of it and supplies SMGP's side (`protocol`): its codec for the driver, and
//! the Login PDUs. Requests beyond the window are answered with status 1 (system busy;
//! SMGP has no flow-control status), a malformed request with status 10, and an unknown
//! RequestID, which has no response in SMGP, is counted and skipped.

mod protocol;

pub use crate::link::{
    AuthFailure, CloseReason, Handler, LoginRequest, RequestError, ServerConfig,
    DEFAULT_MAX_PDU_BYTES,
};
pub use protocol::Smgp;

crate::link_api!(Smgp, crate::codec::Pdu, "SMGP");
