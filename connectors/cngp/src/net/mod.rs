//! The CNGP 2.0 connector on tokio: the server (SPs, our customers, log in to us) and the
//! client (we log in to an operator's CNGP gateway). Written here because no maintained
//! crate speaks CNGP.
//!
//! The connection layer is `tern_smgp::link`, which SMGP and CNGP share (the same five
//! commands, Login proof and busy statuses); this module names CNGP's instances of it and
//! supplies CNGP's side (`protocol`): its codec for the driver, and the Login PDUs, whose
//! status travels in the header. Requests beyond the window are answered with status 1
//! (system busy), a malformed request with status 10, and a request of an unknown command
//! with a bare header and status 11; the session goes on after each.

mod protocol;

pub use protocol::Cngp;
pub use tern_smgp::link::{
    AuthFailure, CloseReason, Handler, LoginRequest, RequestError, ServerConfig,
    DEFAULT_MAX_PDU_BYTES,
};

tern_smgp::link_api!(Cngp, crate::codec::Pdu, "CNGP");
