//! Status reports ↔ [`DeliveryReport`].
//!
//! stat is one of DELIVRD, EXPIRED, DELETED, UNDELIV, ACCEPTD, UNKNOWN, REJECTD (or
//! another word the domain reads, such as ENROUTE), or an operator's own 7-character code
//! for a failure. Such a code becomes `Undeliverable` with the code kept verbatim in
//! `text`; on the way back out an `Undeliverable` report whose text is such a code (two
//! letters or digits, a colon, four letters or digits) sends the code again, so a customer
//! behind the gateway sees what the operator said. err becomes `error` when it is a number
//! (otherwise the digits an operator code ends with); sub and dlvrd the part counts; a
//! printable Txt the echoed text. Times are YYMMDDHHMM in UTC+8. These rules, but for the
//! words stat is read with, are `tern_cn::report`'s, shared with CMPP and SMGP.

use tern_cn::report::{dates, outcome, stat_and_echo, three_digits};
use tern_model::{DeliveryReport, MessageState};

use super::MapError;
use crate::codec::fields::{check_text, field};
use crate::codec::{Deliver, Report, Tlvs, TERM_ID_LEN};
use crate::msgid::MsgId;
use crate::time::{report_time_to_unix, unix_to_recv_time};

/// Width of Txt.
const TXT_LEN: usize = 20;

/// The domain report of a CNGP status report. `message_id` is the MsgID as text, as
/// [`MsgId::to_text`] writes it. stat is read with the spellings the domain knows
/// ([`MessageState::from_stat_word`]), not only the seven words of the specification.
pub fn report_to_domain(report: &Report) -> DeliveryReport {
    let known = MessageState::from_stat_word(&report.stat);
    let (state, error, text) = outcome(known, &report.stat, &report.err, &report.txt);
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

/// The CNGP status report for a domain report about the message the customer knows as
/// `msg_id` (the id its SUBMIT_RESP gave). A missing submit or done time takes the other
/// one; with neither, the fields are left empty. Counts and err are written as three
/// digits.
pub fn domain_to_report(report: &DeliveryReport, msg_id: MsgId) -> Report {
    let (stat, txt) = stat_and_echo(report, TXT_LEN);
    let (submit_date, done_date) = dates(report);
    Report {
        msg_id,
        sub: three_digits(report.submitted),
        dlvrd: three_digits(report.delivered),
        submit_date,
        done_date,
        stat,
        err: three_digits(report.error),
        txt,
    }
}

/// The DELIVER that carries `report` to a CNGP customer: IsReport 1, MsgFormat 0,
/// SrcTermID the handset the message went to, DestTermID the number the customer sent
/// from, `msg_id` this DELIVER's own id, RecvTime `recv_unix`.
pub fn report_deliver(
    report: &Report,
    msg_id: MsgId,
    src_term_id: &str,
    dest_term_id: &str,
    recv_unix: i64,
) -> Result<Deliver, MapError> {
    check_text(src_term_id, TERM_ID_LEN, field!("SrcTermID"))?;
    check_text(dest_term_id, TERM_ID_LEN, field!("DestTermID"))?;
    Ok(Deliver {
        msg_id,
        is_report: 1,
        msg_format: 0,
        recv_time: unix_to_recv_time(recv_unix),
        src_term_id: src_term_id.to_owned(),
        dest_term_id: dest_term_id.to_owned(),
        msg_content: report.encode()?,
        tlvs: Tlvs::new(),
    })
}
