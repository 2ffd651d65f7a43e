//! SGIP in the gateway's pipeline: the customer side (SPs bind with login type 1 and
//! their SUBMITs go into the pipeline; receipts and MO go back as REPORTs and DELIVERs on
//! a type-2 connection the gateway opens to the SP) and the carrier side (a part rendered
//! as a SUBMIT on a type-1 link to an operator's SMG; the SMG's REPORTs and DELIVERs
//! arriving on a type-2 listener handed in as receipts and MO). Built with the `gateway`
//! feature, which brings in the pipeline (`tern-actors`).

mod carrier;
mod customer;

pub use carrier::{verdict, SgipCarrier};
pub use customer::{result_for, SgipFrontend, PROTOCOL};
