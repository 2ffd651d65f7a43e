//! The status report carried as the content of a DELIVER with IsReport 1:
//!
//! `id:IIIIIIIIII sub:SSS dlvrd:DDD Submit date:YYMMDDHHMM done date:YYMMDDHHMM
//! stat:SSSSSSS err:EEE Txt:TTTTTTTTTTTTTTTTTTTT`
//!
//! where the id is the ten octets of the reported MsgID, not text. Written here at the
//! fixed widths (short values padded with spaces, Txt with NUL), 121 octets, so that
//! readers that cut at fixed offsets find every field. Read by keyword, without regard to
//! case, so that the variants gateways send (`submit_date:`, `done_date:`, `;` between
//! fields, `text:`, short or missing fields, an id written as twenty digits) are read too;
//! only `id:` at the start and `stat:` are required.

use bytes::{BufMut, Bytes, BytesMut};

use super::fields::parse_text;
use super::{Deliver, EncodeError, Report};
use crate::msgid::{MsgId, MSG_ID_LEN};

/// Octets of a report as [`Report::encode`] writes it.
pub const REPORT_LEN: usize = 121;

/// Why a status report's content was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReportError {
    #[error("status report does not start with id: and ten octets")]
    NoId,
    #[error("status report has no {0}")]
    Missing(&'static str),
    #[error("status report field {0} is not ASCII")]
    NotAscii(&'static str),
}

/// The fields after the id: the name written (followed by a colon), the spellings read,
/// and the width written.
const KEYS: [(&str, &[&str], usize); 7] = [
    ("sub", &["sub:"], 3),
    ("dlvrd", &["dlvrd:"], 3),
    (
        "Submit date",
        &["submit date:", "submit_date:", "submit time:"],
        10,
    ),
    ("done date", &["done date:", "done_date:", "done time:"], 10),
    ("stat", &["stat:"], 7),
    ("err", &["err:"], 3),
    ("Txt", &["txt:", "text:"], 20),
];

/// Width of Txt.
const TXT_LEN: usize = 20;

impl Report {
    /// The report as DELIVER content, 121 octets. Text fields must be printable ASCII
    /// without spaces and fit their widths; Txt at most 20 octets.
    pub fn encode(&self) -> Result<Bytes, EncodeError> {
        let values = [
            &self.sub,
            &self.dlvrd,
            &self.submit_date,
            &self.done_date,
            &self.stat,
            &self.err,
        ];
        let mut out = BytesMut::with_capacity(REPORT_LEN);
        out.put_slice(b"id:");
        out.put_slice(self.msg_id.octets());
        for ((name, _, width), value) in KEYS.iter().zip(values) {
            check_code(value, *width, name)?;
            out.put_u8(b' ');
            out.put_slice(name.as_bytes());
            out.put_u8(b':');
            out.put_slice(value.as_bytes());
            out.put_bytes(b' ', width - value.len());
        }
        if self.txt.len() > TXT_LEN {
            return Err(EncodeError::TooLong {
                field: "Txt",
                len: self.txt.len(),
                max: TXT_LEN,
            });
        }
        out.put_slice(b" Txt:");
        out.put_slice(&self.txt);
        out.put_bytes(0, TXT_LEN - self.txt.len());
        Ok(out.freeze())
    }

    /// Reads a report from DELIVER content (see the module doc for what is accepted).
    pub fn decode(content: &[u8]) -> Result<Report, ReportError> {
        let (msg_id, rest) = read_id(content).ok_or(ReportError::NoId)?;
        // Where each key was found: (index in KEYS, start of the key, end of the key).
        let mut found: Vec<(usize, usize, usize)> = Vec::with_capacity(KEYS.len());
        let mut at = 0;
        for (index, (_, spellings, _)) in KEYS.iter().enumerate() {
            let hit = spellings
                .iter()
                .filter_map(|key| find_ignore_case(rest, key.as_bytes(), at).map(|s| (s, key)))
                .min_by_key(|(start, _)| *start);
            if let Some((start, key)) = hit {
                found.push((index, start, start + key.len()));
                at = start + key.len();
            }
        }
        let mut values: [&[u8]; 7] = [&[]; 7];
        for (i, &(index, _, end)) in found.iter().enumerate() {
            let stop = found.get(i + 1).map_or(rest.len(), |next| next.1);
            if let (Some(slot), Some(value)) = (values.get_mut(index), rest.get(end..stop)) {
                *slot = value;
            }
        }
        if !found.iter().any(|&(index, ..)| index == 4) {
            return Err(ReportError::Missing("stat"));
        }
        let text = |index: usize| -> Result<String, ReportError> {
            let name = KEYS.get(index).map_or("", |k| k.0);
            let raw = values.get(index).copied().unwrap_or_default();
            let trimmed = trim(raw, |b| matches!(b, b' ' | b';' | b',' | 0));
            parse_text(trimmed).ok_or(ReportError::NotAscii(name))
        };
        let txt = values.get(6).copied().unwrap_or_default();
        Ok(Report {
            msg_id,
            sub: text(0)?,
            dlvrd: text(1)?,
            submit_date: text(2)?,
            done_date: text(3)?,
            stat: text(4)?,
            err: text(5)?,
            txt: Bytes::copy_from_slice(trim_end(txt, |b| b == 0)),
        })
    }
}

impl Deliver {
    /// Whether this DELIVER is a status report rather than an MO.
    pub fn is_report(&self) -> bool {
        self.is_report == 1
    }

    /// The status report this DELIVER carries, or `None` for an MO.
    pub fn report(&self) -> Option<Result<Report, ReportError>> {
        self.is_report().then(|| Report::decode(&self.msg_content))
    }
}

/// A field value the layout can carry: printable ASCII without spaces, at most `width`.
fn check_code(value: &str, width: usize, name: &'static str) -> Result<(), EncodeError> {
    if value.bytes().any(|b| !b.is_ascii_graphic()) {
        return Err(EncodeError::NotAscii { field: name });
    }
    if value.len() > width {
        return Err(EncodeError::TooLong {
            field: name,
            len: value.len(),
            max: width,
        });
    }
    Ok(())
}

/// The MsgID after `id:` and what follows it: ten octets, or twenty digits followed by a
/// separator or the end.
fn read_id(content: &[u8]) -> Option<(MsgId, &[u8])> {
    let (prefix, rest) = content.split_at_checked(3)?;
    if !prefix.eq_ignore_ascii_case(b"id:") {
        return None;
    }
    if let Some((digits, after)) = rest.split_at_checked(2 * MSG_ID_LEN) {
        let separated = matches!(after.first(), None | Some(b' ' | b';'));
        if separated && digits.iter().all(u8::is_ascii_digit) {
            let id = std::str::from_utf8(digits)
                .ok()
                .and_then(MsgId::parse_text)?;
            return Some((id, after));
        }
    }
    let (octets, after) = rest.split_at_checked(MSG_ID_LEN)?;
    Some((MsgId(octets.try_into().ok()?), after))
}

/// The first place at or after `from` where `needle` is, ignoring ASCII case.
fn find_ignore_case(haystack: &[u8], needle: &[u8], from: usize) -> Option<usize> {
    let tail = haystack.get(from..)?;
    tail.windows(needle.len())
        .position(|window| window.eq_ignore_ascii_case(needle))
        .map(|at| from + at)
}

fn trim(raw: &[u8], pad: impl Fn(u8) -> bool + Copy) -> &[u8] {
    let start = raw.iter().position(|&b| !pad(b)).unwrap_or(raw.len());
    trim_end(raw.get(start..).unwrap_or_default(), pad)
}

fn trim_end(raw: &[u8], pad: impl Fn(u8) -> bool) -> &[u8] {
    let end = raw.iter().rposition(|&b| !pad(b)).map_or(0, |i| i + 1);
    raw.get(..end).unwrap_or_default()
}
