//! Status reports ↔ [`DeliveryReport`].
//!
//! Stat is one of DELIVRD, EXPIRED, DELETED, UNDELIV, ACCEPTD, UNKNOWN, REJECTD, or an
//! operator's own 7-character code (MK:0005, DB:0008, ID:0076, ...) for a failure. Such a
//! code becomes `Undeliverable` with the code kept verbatim in `text` and its digits, when
//! it ends in some, in `error`; on the way back out an `Undeliverable` report whose text is
//! such a code (two letters or digits, a colon, four letters or digits) sends the code
//! again, so a CMPP customer behind the gateway sees what the operator said. Times are
//! YYMMDDHHMM in UTC+8. These rules are `tern_cn::report`'s, shared with SMGP and CNGP.

use bytes::Bytes;
use tern_cn::report::{dates, outcome, standard_state, stat};
use tern_model::{DeliveryReport, MessageState};

use super::MapError;
use crate::codec::fields::{check_text, field};
use crate::codec::{Deliver, Report, Version};
use crate::msgid::MsgId;
use crate::time::report_time_to_unix;

/// The domain report of a CMPP status report. `message_id` is the Msg_Id in decimal, as
/// [`MsgId::to_decimal_string`] writes it. The report has no counts, err or echoed text:
/// it is about one message, and only an operator code gives an error.
pub fn report_to_domain(report: &Report) -> DeliveryReport {
    let (state, error, text) = outcome(standard_state(&report.stat), &report.stat, "", &[]);
    DeliveryReport {
        message_id: MsgId::from_u64(report.msg_id).to_decimal_string(),
        state,
        submitted: 1,
        delivered: u16::from(state == MessageState::Delivered),
        submit_unix: report_time_to_unix(&report.submit_time),
        done_unix: report_time_to_unix(&report.done_time),
        error,
        text,
    }
}

/// The CMPP status report for a domain report about the message the customer knows as
/// `msg_id` (the id its SUBMIT_RESP gave) sent to `dest_terminal_id`. A missing submit or
/// done time takes the other one; with neither, the fields are left empty.
pub fn domain_to_report(report: &DeliveryReport, msg_id: u64, dest_terminal_id: &str) -> Report {
    let (submit_time, done_time) = dates(report);
    Report {
        msg_id,
        stat: stat(report),
        submit_time,
        done_time,
        dest_terminal_id: dest_terminal_id.to_owned(),
        smsc_sequence: 0,
    }
}

/// The DELIVER that carries `report` to a CMPP customer in `version`: Registered_Delivery 1,
/// Msg_Fmt 0, Src_terminal_Id the handset (the report's Dest_terminal_Id), `dest_id` the
/// number the customer sent from, `msg_id` this DELIVER's own id (from the gateway's
/// [`crate::msgid::MsgIdGenerator`]).
pub fn report_deliver(
    report: &Report,
    version: Version,
    msg_id: u64,
    dest_id: &str,
    service_id: &str,
) -> Result<Deliver, MapError> {
    check_text(dest_id, 21, field!("Dest_Id"))?;
    check_text(service_id, 10, field!("Service_Id"))?;
    let content: Bytes = report.encode(version)?;
    Ok(Deliver {
        msg_id,
        dest_id: dest_id.to_owned(),
        service_id: service_id.to_owned(),
        tp_pid: 0,
        tp_udhi: 0,
        msg_fmt: 0,
        src_terminal_id: report.dest_terminal_id.clone(),
        src_terminal_type: 0,
        registered_delivery: 1,
        msg_content: content,
        link_id: String::new(),
    })
}
