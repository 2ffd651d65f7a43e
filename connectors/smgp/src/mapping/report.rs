//! Status reports ↔ [`DeliveryReport`].
//!
//! stat is one of DELIVRD, EXPIRED, DELETED, UNDELIV, ACCEPTD, UNKNOWN, REJECTD, or an
//! operator's own 7-character code (MK:0005, DB:0008, ...) for a failure. Such a code
//! becomes `Undeliverable` with the code kept verbatim in `text`; on the way back out an
//! `Undeliverable` report whose text is such a code (two letters or digits, a colon, four
//! letters or digits) sends the code again, so an SMGP customer behind the gateway sees
//! what the operator said. Otherwise `text` carries the report's echo of the message when
//! it is printable ASCII. err becomes `error` (when it is a decimal number; for an operator
//! code with err 0, the code's trailing digits). Times are YYMMDDhhmm in UTC+8. These
//! rules are `tern_cn::report`'s, shared with CMPP and CNGP.

use tern_cn::report::{dates, outcome, standard_state, stat_and_echo, three_digits};
use tern_model::{DeliveryReport, MessageState};

use super::MapError;
use crate::codec::fields::{check_text, field};
use crate::codec::{Deliver, Report, REPORT_TEXT_LEN, TERM_ID_LEN};
use crate::msgid::MsgId;
use crate::time::{report_time_to_unix, unix_to_recv_time};

/// The domain report of an SMGP status report. `message_id` is the MsgID's twenty digits,
/// as [`MsgId::to_text`] writes them.
pub fn report_to_domain(report: &Report) -> DeliveryReport {
    let known = standard_state(&report.stat);
    let (state, error, text) = outcome(known, &report.stat, &report.err, &report.text);
    DeliveryReport {
        message_id: report.msg_id.to_text(),
        state,
        submitted: report.sub.parse().unwrap_or(1),
        delivered: report
            .dlvrd
            .parse()
            .unwrap_or(u16::from(state == MessageState::Delivered)),
        submit_unix: report_time_to_unix(&report.submit_date),
        done_unix: report_time_to_unix(&report.done_date),
        error,
        text,
    }
}

/// The SMGP status report for a domain report about the message the customer knows as
/// `msg_id` (the id its Submit_Resp gave). A missing submit or done time takes the other
/// one; with neither, the fields are left empty. Counts and err are written with three
/// digits (capped at 999); the text is the report's echo, cut to 20 octets.
pub fn domain_to_report(report: &DeliveryReport, msg_id: MsgId) -> Report {
    let (stat, text) = stat_and_echo(report, REPORT_TEXT_LEN);
    let (submit_date, done_date) = dates(report);
    Report {
        msg_id,
        sub: three_digits(report.submitted),
        dlvrd: three_digits(report.delivered),
        submit_date,
        done_date,
        stat,
        err: three_digits(report.error),
        text,
    }
}

/// The DELIVER that carries `report` to an SMGP customer: IsReport 1, MsgFormat 0,
/// SrcTermID the handset the report is about, DestTermID the number the customer sent
/// from, `msg_id` this DELIVER's own id (from the gateway's
/// [`crate::msgid::MsgIdGenerator`]), RecvTime `now_unix`.
pub fn report_deliver(
    report: &Report,
    msg_id: MsgId,
    src_term_id: &str,
    dest_term_id: &str,
    now_unix: i64,
) -> Result<Deliver, MapError> {
    check_text(src_term_id, TERM_ID_LEN, field!("SrcTermID"))?;
    check_text(dest_term_id, TERM_ID_LEN, field!("DestTermID"))?;
    let content = report.encode()?;
    Ok(Deliver {
        msg_id,
        is_report: 1,
        msg_format: 0,
        recv_time: unix_to_recv_time(now_unix),
        src_term_id: src_term_id.to_owned(),
        dest_term_id: dest_term_id.to_owned(),
        msg_content: content,
        reserve: [0; 8],
        tlvs: Vec::new(),
    })
}
