//! A status report's stat, err, counts, echoed text and dates ↔ [`DeliveryReport`], as
//! CMPP, SMGP and CNGP carry them in a DELIVER.
//!
//! The three write the same words in stat (DELIVRD, EXPIRED, DELETED, UNDELIV, ACCEPTD,
//! UNKNOWN, REJECTD) or an operator's own 7-character code (MK:0005, DB:0008, ...) for a
//! failure, and they read and write it by the same rules: such a code becomes
//! `Undeliverable` with the code kept verbatim in `text` and, when err says nothing, the
//! digits it ends with as `error`; on the way back out an `Undeliverable` report whose text
//! is such a code (two letters or digits, a colon, four letters or digits) sends the code
//! again, so a customer behind the gateway sees what the operator said. Otherwise `text`
//! is the report's echo of the message when it is printable ASCII. Dates are YYMMDDHHMM in
//! UTC+8. Which words a protocol reads as states, and where each field sits in its report,
//! stay with the protocol. SGIP's REPORT carries a state and an error code instead of
//! these fields, and maps them itself.

use bytes::Bytes;
use tern_model::{DeliveryReport, MessageState};

use crate::time::unix_to_report_time;

/// Width of stat, and of an operator code.
pub const STAT_LEN: usize = 7;

/// The seven words of the specifications.
pub fn standard_state(stat: &str) -> Option<MessageState> {
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

/// State, error and text of a report whose stat is `stat`, err `err` and echoed text
/// `echo`. `known` is the state the protocol reads `stat` as; `None` makes it an
/// operator's code, kept as the text. err is the error when it is a number other than 0;
/// otherwise an operator's code gives the digits it ends with.
pub fn outcome(
    known: Option<MessageState>,
    stat: &str,
    err: &str,
    echo: &[u8],
) -> (MessageState, u16, String) {
    let err = err.parse::<u16>().ok().filter(|&e| e != 0);
    match known {
        Some(state) => (state, err.unwrap_or(0), echoed_text(echo)),
        None => (
            MessageState::Undeliverable,
            err.unwrap_or_else(|| trailing_number(stat)),
            stat.to_owned(),
        ),
    }
}

/// A report's echo of the message as the domain keeps it: printable ASCII only (it may be
/// a cut of any encoding), otherwise nothing.
pub fn echoed_text(echo: &[u8]) -> String {
    if echo.iter().all(|b| b.is_ascii_graphic() || *b == b' ') {
        String::from_utf8_lossy(echo).into_owned()
    } else {
        String::new()
    }
}

/// The number an operator code ends with (MK:0005 → 5), 0 when none fits a u16.
pub fn trailing_number(stat: &str) -> u16 {
    let start = stat
        .bytes()
        .rposition(|b| !b.is_ascii_digit())
        .map_or(0, |i| i + 1);
    stat.get(start..)
        .and_then(|digits| digits.parse().ok())
        .unwrap_or(0)
}

/// Whether `text` is an operator code as [`outcome`] keeps it: `XX:YYYY`.
pub fn operator_code(text: &str) -> bool {
    let b = text.as_bytes();
    let alnum = |c: &u8| c.is_ascii_uppercase() || c.is_ascii_digit();
    b.len() == STAT_LEN
        && b.get(2) == Some(&b':')
        && b.iter().enumerate().all(|(i, c)| i == 2 || alnum(c))
}

/// The operator code a domain report keeps in its text, when it is `Undeliverable` with
/// one.
fn kept_code(report: &DeliveryReport) -> Option<&str> {
    (report.state == MessageState::Undeliverable && operator_code(&report.text))
        .then_some(report.text.as_str())
}

/// The stat a domain report is written with: its operator code, when it keeps one,
/// otherwise its state's word.
pub fn stat(report: &DeliveryReport) -> String {
    kept_code(report)
        .unwrap_or(report.state.stat_word())
        .to_owned()
}

/// The stat and the echoed text a domain report is written with: its operator code and no
/// text, when it keeps one; otherwise its state's word and the printable ASCII of its text,
/// cut to `text_len` octets.
pub fn stat_and_echo(report: &DeliveryReport, text_len: usize) -> (String, Bytes) {
    match kept_code(report) {
        Some(code) => (code.to_owned(), Bytes::new()),
        None => {
            let echo = echoed_text(report.text.as_bytes());
            let end = echo.len().min(text_len);
            let cut = echo.as_bytes().get(..end).unwrap_or_default();
            (
                report.state.stat_word().to_owned(),
                Bytes::copy_from_slice(cut),
            )
        }
    }
}

/// The submit and done dates a domain report is written with, YYMMDDHHMM in UTC+8: a
/// missing time takes the other one; with neither, both are empty.
pub fn dates(report: &DeliveryReport) -> (String, String) {
    let submit = report.submit_unix.or(report.done_unix);
    let done = report.done_unix.or(report.submit_unix);
    (
        submit.map(unix_to_report_time).unwrap_or_default(),
        done.map(unix_to_report_time).unwrap_or_default(),
    )
}

/// A count or err as three digits, capped at 999.
pub fn three_digits(n: u16) -> String {
    format!("{:03}", n.min(999))
}
