//! Status reports ↔ [`DeliveryReport`].
//!
//! stat is one of DELIVRD, EXPIRED, DELETED, UNDELIV, ACCEPTD, UNKNOWN, REJECTD (or
//! another word the domain reads, such as ENROUTE), or an operator's own 7-character code
//! for a failure. Such a code becomes `Undeliverable` with the code kept verbatim in
//! `text`; on the way back out an `Undeliverable` report whose text is such a code (two
//! letters or digits, a colon, four letters or digits) sends the code again, so a customer
//! behind the gateway sees what the operator said. err becomes `error` when it is a number
//! (otherwise the digits an operator code ends with); sub and dlvrd the part counts; a
//! printable Txt the echoed text. Times are YYMMDDHHMM in UTC+8.

use bytes::Bytes;
use tern_model::{DeliveryReport, MessageState};

use super::MapError;
use crate::codec::fields::{check_text, field};
use crate::codec::{Deliver, Report, Tlvs, TERM_ID_LEN};
use crate::msgid::MsgId;
use crate::time::{report_time_to_unix, unix_to_recv_time, unix_to_report_time};

/// Width of stat.
const STAT_LEN: usize = 7;
/// Width of Txt.
const TXT_LEN: usize = 20;

/// The domain report of a CNGP status report. `message_id` is the MsgID as text, as
/// [`MsgId::to_text`] writes it.
pub fn report_to_domain(report: &Report) -> DeliveryReport {
    let (state, text) = match MessageState::from_stat_word(&report.stat) {
        Some(state) => (state, echoed_text(&report.txt)),
        None => (MessageState::Undeliverable, report.stat.clone()),
    };
    let error = match report.err.parse::<u16>() {
        Ok(code) if code != 0 => code,
        _ => trailing_number(&report.stat),
    };
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

/// Txt as the domain keeps it: printable ASCII only (it may be a cut of any encoding).
fn echoed_text(txt: &[u8]) -> String {
    if txt.iter().all(|b| b.is_ascii_graphic() || *b == b' ') {
        String::from_utf8_lossy(txt).into_owned()
    } else {
        String::new()
    }
}

/// The number an operator code ends with (MK:0005 → 5), 0 when none fits a u16.
fn trailing_number(stat: &str) -> u16 {
    let start = stat
        .bytes()
        .rposition(|b| !b.is_ascii_digit())
        .map_or(0, |i| i + 1);
    stat.get(start..)
        .and_then(|digits| digits.parse().ok())
        .unwrap_or(0)
}

/// An operator code as `report_to_domain` keeps it in `text`: `XX:YYYY`.
fn operator_code(text: &str) -> bool {
    let b = text.as_bytes();
    let alnum = |c: &u8| c.is_ascii_uppercase() || c.is_ascii_digit();
    b.len() == STAT_LEN
        && b.get(2) == Some(&b':')
        && b.iter().enumerate().all(|(i, c)| i == 2 || alnum(c))
}

/// The CNGP status report for a domain report about the message the customer knows as
/// `msg_id` (the id its SUBMIT_RESP gave). A missing submit or done time takes the other
/// one; with neither, the fields are left empty. Counts and err are written as three
/// digits.
pub fn domain_to_report(report: &DeliveryReport, msg_id: MsgId) -> Report {
    let code = report.state == MessageState::Undeliverable && operator_code(&report.text);
    let stat = if code {
        report.text.clone()
    } else {
        report.state.stat_word().to_owned()
    };
    let txt = if code {
        Bytes::new()
    } else {
        let echoed = echoed_text(report.text.as_bytes());
        let end = echoed.len().min(TXT_LEN);
        Bytes::copy_from_slice(echoed.as_bytes().get(..end).unwrap_or_default())
    };
    let submit = report.submit_unix.or(report.done_unix);
    let done = report.done_unix.or(report.submit_unix);
    let three = |n: u16| format!("{:03}", n.min(999));
    Report {
        msg_id,
        sub: three(report.submitted),
        dlvrd: three(report.delivered),
        submit_date: submit.map(unix_to_report_time).unwrap_or_default(),
        done_date: done.map(unix_to_report_time).unwrap_or_default(),
        stat,
        err: three(report.error),
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
