//! CMPP in the gateway's pipeline: the customer side (CONNECTs checked against the
//! accounts, SUBMITs handed to the customer's session under a CMPP Msg_Id, QUERY and CANCEL
//! answered, receipts and MO rendered as DELIVERs) and the carrier side (a part rendered as
//! a SUBMIT, the SUBMIT_RESP sorted into the link's verdicts, status reports and MO from the
//! operator gateway handed in). Built with the `gateway` feature, which brings in the
//! pipeline (`tern-actors`).

mod carrier;
mod customer;
mod query;

pub use carrier::{verdict, CmppCarrier};
pub use customer::{result_for, CmppFrontend, FrontendError};
