//! REPORT ↔ [`DeliveryReport`].
//!
//! A REPORT carries three states (SGIP 1.2 §5.4): 0 delivered (DELIVRD), 1 waiting
//! (ENROUTE, ACCEPTD), 2 failed (EXPIRED, DELETED, UNDELIV, UNKNOWN, REJECTD) with an
//! ErrorCode from §5.2. A failure becomes `Undeliverable` with the ErrorCode in `error`;
//! other state values, which the specification does not define, become `Unknown`. A REPORT
//! has no times of its own: the SUBMIT's sequence number says when it was sent, and the
//! report is taken as done when it arrives.

use tern_model::{Address, DeliveryReport, MessageState};

use super::{user_number, MapError};
use crate::codec::{report, result, Report};
use crate::msgid::SequenceNumber;

/// The domain report of a REPORT that arrived at `received_unix`. `message_id` is the
/// SUBMIT's sequence number in its thirty-digit text form
/// ([`SequenceNumber::to_text`]); ReportType is not looked at (a report on a forwarded
/// DELIVER reads the same).
pub fn report_to_domain(report: &Report, received_unix: i64) -> DeliveryReport {
    let (state, error) = match report.state {
        report::DELIVERED => (MessageState::Delivered, 0),
        report::WAITING => (MessageState::Enroute, 0),
        report::FAILED => (MessageState::Undeliverable, report.error_code),
        _ => (MessageState::Unknown, report.error_code),
    };
    DeliveryReport {
        message_id: report.submit_sequence.to_text(),
        state,
        submitted: 1,
        delivered: u16::from(state == MessageState::Delivered),
        submit_unix: report.submit_sequence.unix_second(received_unix),
        done_unix: Some(received_unix),
        error: u16::from(error),
        text: String::new(),
    }
}

/// The REPORT (ReportType 0) that tells an SP what became of its SUBMIT numbered
/// `submit_sequence`, sent to `destination`. A failure without an error code that fits the
/// octet gets 32, system failure (an expiry 25, the user could not be reached).
pub fn domain_to_report(
    report: &DeliveryReport,
    submit_sequence: SequenceNumber,
    destination: &Address,
) -> Result<Report, MapError> {
    let state = match report.state {
        MessageState::Delivered => report::DELIVERED,
        MessageState::Enroute | MessageState::Accepted => report::WAITING,
        MessageState::Expired
        | MessageState::Deleted
        | MessageState::Undeliverable
        | MessageState::Unknown
        | MessageState::Rejected
        | MessageState::Skipped => report::FAILED,
    };
    let error_code = match (state, u8::try_from(report.error)) {
        (report::FAILED, Ok(code)) if code != 0 => code,
        (report::FAILED, _) if report.state == MessageState::Expired => result::USER_UNREACHABLE,
        (report::FAILED, _) => result::SYSTEM_FAILURE,
        _ => 0,
    };
    Ok(Report {
        submit_sequence,
        report_type: report::ON_SUBMIT,
        user_number: user_number(destination)?,
        state,
        error_code,
        reserve: String::new(),
    })
}
