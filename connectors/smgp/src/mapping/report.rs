//! Status reports ↔ [`DeliveryReport`].
//!
//! stat is one of DELIVRD, EXPIRED, DELETED, UNDELIV, ACCEPTD, UNKNOWN, REJECTD, or an
//! operator's own 7-character code (MK:0005, DB:0008, ...) for a failure. Such a code
//! becomes `Undeliverable` with the code kept verbatim in `text`; on the way back out an
//! `Undeliverable` report whose text is such a code (two letters or digits, a colon, four
//! letters or digits) sends the code again, so an SMGP customer behind the gateway sees
//! what the operator said. Otherwise `text` carries the report's echo of the message when
//! it is printable ASCII. err becomes `error` (when it is a decimal number; for an operator
//! code with err 0, the code's trailing digits). Times are YYMMDDhhmm in UTC+8.

use bytes::Bytes;
use tern_model::{DeliveryReport, MessageState};

use super::MapError;
use crate::codec::fields::{check_text, field};
use crate::codec::{Deliver, Report, REPORT_TEXT_LEN, TERM_ID_LEN};
use crate::msgid::MsgId;
use crate::time::{report_time_to_unix, unix_to_recv_time, unix_to_report_time};

/// Width of an operator code in stat.
const STAT_LEN: usize = 7;

/// The domain report of an SMGP status report. `message_id` is the MsgID's twenty digits,
/// as [`MsgId::to_text`] writes them.
pub fn report_to_domain(report: &Report) -> DeliveryReport {
    let standard = standard_state(&report.stat);
    let state = standard.unwrap_or(MessageState::Undeliverable);
    let err = report.err.parse::<u16>().ok().filter(|&e| e != 0);
    let (error, text) = match standard {
        Some(_) => (err.unwrap_or(0), echo(&report.text)),
        None => (
            err.unwrap_or_else(|| trailing_number(&report.stat)),
            report.stat.clone(),
        ),
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

/// The seven words of the specification.
fn standard_state(stat: &str) -> Option<MessageState> {
    Some(match stat {
        "DELIVRD" => MessageState::Delivered,
        "EXPIRED" => MessageState::Expired,
        "DELETED" => MessageState::Deleted,
        "UNDELIV" => MessageState::Undeliverable,
        "ACCEPTD" => MessageState::Accepted,
        "UNKNOWN" => MessageState::Unknown,
        "REJECTD" => MessageState::Rejected,
        _ => return None,
    })
}

/// The report's echo of the message, when it is printable ASCII.
fn echo(text: &[u8]) -> String {
    if text.iter().all(|b| b.is_ascii_graphic() || *b == b' ') {
        String::from_utf8(text.to_vec()).unwrap_or_default()
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

/// The SMGP status report for a domain report about the message the customer knows as
/// `msg_id` (the id its Submit_Resp gave). A missing submit or done time takes the other
/// one; with neither, the fields are left empty. Counts and err are written with three
/// digits (capped at 999); the text is the report's echo, cut to 20 octets.
pub fn domain_to_report(report: &DeliveryReport, msg_id: MsgId) -> Report {
    let code = report.state == MessageState::Undeliverable && operator_code(&report.text);
    let stat = if code {
        report.text.clone()
    } else {
        report.state.stat_word().to_owned()
    };
    let text = if code {
        Bytes::new()
    } else {
        let echo = echo(report.text.as_bytes());
        Bytes::copy_from_slice(
            echo.as_bytes()
                .get(..REPORT_TEXT_LEN)
                .unwrap_or(echo.as_bytes()),
        )
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
