//! SMPP in the gateway's pipeline: the customer side (binds checked against the accounts,
//! submits handed to the customer's session, query_sm and cancel_sm answered, receipts and
//! MO rendered as deliver_sm) and the carrier side (a part rendered as a submit_sm, the
//! answer sorted into the link's verdicts, receipts and MO from the SMSC handed in).
//! Built with the `gateway` feature, which brings in the pipeline (`tern-actors`).

mod carrier;
mod customer;
mod status;

pub use carrier::SmppCarrier;
pub use customer::SmppFrontend;
pub use status::{bind_status, status_for, verdict};
