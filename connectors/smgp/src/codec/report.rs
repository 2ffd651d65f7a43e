//! The status report carried as the content of a DELIVER with IsReport 1. SMGP 3.0 fixes
//! its layout as text with a binary MsgID:
//!
//! `id:` MsgID (10 octets) ` sub:` 3 ` dlvrd:` 3 ` submit date:` 10 ` done date:` 10
//! ` stat:` 7 ` err:` 3 ` text:` 20
//!
//! 122 octets, each value padded with NUL to its width. Gateways differ in the spelling of
//! the labels (`Submit date`, `submit_date`, `Txt`), in padding (NUL, or none) and in
//! widths (dates with seconds), so reading goes by label, without regard to case, and takes
//! each value up to the next space; a MsgID written as 20 digits instead of 10 octets is
//! read too. Writing uses the lower-case labels above and the widths of the specification,
//! which is what receivers that parse by offset expect.

use bytes::{BufMut, Bytes, BytesMut};

use super::{Deliver, EncodeError, Report};
use crate::msgid::MsgId;

/// Width of the report's text: the first octets of the message.
pub const REPORT_TEXT_LEN: usize = 20;

/// Why a status report's content was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReportError {
    #[error("status report does not start with id: and a MsgID")]
    NoId,
    #[error("status report has no {0} field")]
    Missing(&'static str),
    #[error("status report field {field} has {len} octets, at most {max} are read")]
    TooLong {
        field: &'static str,
        len: usize,
        max: usize,
    },
    #[error("status report field {0} is not printable ASCII")]
    NotText(&'static str),
}

/// One labelled field after the MsgID.
struct Spec {
    name: &'static str,
    /// The label as written, with the space before it.
    write: &'static str,
    /// The labels read.
    read: &'static [&'static str],
    /// The width written (values padded with NUL up to it).
    width: usize,
    /// The widest value read or written.
    max: usize,
}

const FIELDS: [Spec; 6] = [
    Spec {
        name: "sub",
        write: " sub:",
        read: &["sub:"],
        width: 3,
        max: 10,
    },
    Spec {
        name: "dlvrd",
        write: " dlvrd:",
        read: &["dlvrd:"],
        width: 3,
        max: 10,
    },
    Spec {
        name: "submit date",
        write: " submit date:",
        read: &["submit date:", "submit_date:"],
        width: 10,
        max: 12,
    },
    Spec {
        name: "done date",
        write: " done date:",
        read: &["done date:", "done_date:"],
        width: 10,
        max: 12,
    },
    Spec {
        name: "stat",
        write: " stat:",
        read: &["stat:"],
        width: 7,
        max: 10,
    },
    Spec {
        name: "err",
        write: " err:",
        read: &["err:"],
        width: 3,
        max: 10,
    },
];

const TEXT_LABEL: &str = " text:";
const TEXT_LABELS: &[&str] = &["text:", "txt:"];

impl Report {
    fn values(&self) -> [&str; 6] {
        [
            &self.sub,
            &self.dlvrd,
            &self.submit_date,
            &self.done_date,
            &self.stat,
            &self.err,
        ]
    }

    /// Octets of this report as DELIVER content: 122 when every value fits its width.
    pub fn encoded_len(&self) -> usize {
        let fields: usize = FIELDS
            .iter()
            .zip(self.values())
            .map(|(spec, value)| spec.write.len() + value.len().max(spec.width))
            .sum();
        3 + 10 + fields + TEXT_LABEL.len() + REPORT_TEXT_LEN
    }

    /// The report as DELIVER content. Values are printable ASCII without spaces, no longer
    /// than their widest form; the text is at most [`REPORT_TEXT_LEN`] octets.
    pub fn encode(&self) -> Result<Bytes, EncodeError> {
        let mut out = BytesMut::with_capacity(self.encoded_len());
        out.put_slice(b"id:");
        out.put_slice(&self.msg_id.0);
        for (spec, value) in FIELDS.iter().zip(self.values()) {
            if !value.bytes().all(|b| b.is_ascii_graphic()) {
                return Err(EncodeError::NotAscii { field: spec.name });
            }
            if value.len() > spec.max {
                return Err(EncodeError::TooLong {
                    field: spec.name,
                    len: value.len(),
                    max: spec.max,
                });
            }
            out.put_slice(spec.write.as_bytes());
            out.put_slice(value.as_bytes());
            out.put_bytes(0, spec.width.saturating_sub(value.len()));
        }
        if self.text.len() > REPORT_TEXT_LEN {
            return Err(EncodeError::TooLong {
                field: "text",
                len: self.text.len(),
                max: REPORT_TEXT_LEN,
            });
        }
        out.put_slice(TEXT_LABEL.as_bytes());
        out.put_slice(&self.text);
        out.put_bytes(0, REPORT_TEXT_LEN - self.text.len());
        Ok(out.freeze())
    }

    /// Reads a report from DELIVER content (see the module doc for what is accepted). The
    /// text is its first [`REPORT_TEXT_LEN`] octets without trailing NUL and spaces; a
    /// report without a text label has an empty text.
    pub fn decode(content: &[u8]) -> Result<Report, ReportError> {
        let rest = strip_label(skip_blank(content), &["id:"]).ok_or(ReportError::NoId)?;
        let (msg_id, mut rest) = read_id(rest)?;
        let mut values: [String; 6] = Default::default();
        for (spec, value) in FIELDS.iter().zip(values.iter_mut()) {
            *value = read_value(&mut rest, spec)?;
        }
        let text = match strip_label(skip_blank(rest), TEXT_LABELS) {
            Some(after) => {
                let head = after.get(..REPORT_TEXT_LEN).unwrap_or(after);
                let end = head
                    .iter()
                    .rposition(|&b| b != 0 && b != b' ')
                    .map_or(0, |i| i + 1);
                Bytes::copy_from_slice(head.get(..end).unwrap_or_default())
            }
            None => Bytes::new(),
        };
        let [sub, dlvrd, submit_date, done_date, stat, err] = values;
        Ok(Report {
            msg_id,
            sub,
            dlvrd,
            submit_date,
            done_date,
            stat,
            err,
            text,
        })
    }
}

/// `bytes` without leading spaces and NULs.
fn skip_blank(bytes: &[u8]) -> &[u8] {
    let start = bytes
        .iter()
        .position(|&b| b != b' ' && b != 0)
        .unwrap_or(bytes.len());
    bytes.get(start..).unwrap_or_default()
}

/// What follows one of `labels` at the start of `bytes`, compared without regard to case.
fn strip_label<'a>(bytes: &'a [u8], labels: &[&str]) -> Option<&'a [u8]> {
    labels.iter().find_map(|label| {
        let head = bytes.get(..label.len())?;
        head.eq_ignore_ascii_case(label.as_bytes())
            .then(|| bytes.get(label.len()..))
            .flatten()
    })
}

/// The MsgID after `id:`: 20 hexadecimal digits when a `sub:` label follows them, else 10
/// binary octets.
fn read_id(rest: &[u8]) -> Result<(MsgId, &[u8]), ReportError> {
    let as_text = rest
        .get(..20)
        .zip(rest.get(20..))
        .filter(|(_, after)| strip_label(skip_blank(after), &["sub:"]).is_some())
        .and_then(|(digits, after)| {
            let id = std::str::from_utf8(digits)
                .ok()
                .and_then(MsgId::parse_text)?;
            Some((id, after))
        });
    if let Some(found) = as_text {
        return Ok(found);
    }
    let octets = rest.get(..10).ok_or(ReportError::NoId)?;
    let mut id = [0u8; 10];
    id.copy_from_slice(octets);
    Ok((MsgId(id), rest.get(10..).unwrap_or_default()))
}

/// The value after `spec`'s label, up to the next space; padding after a NUL is dropped.
fn read_value(rest: &mut &[u8], spec: &Spec) -> Result<String, ReportError> {
    let after = strip_label(skip_blank(rest), spec.read).ok_or(ReportError::Missing(spec.name))?;
    let end = after.iter().position(|&b| b == b' ').unwrap_or(after.len());
    let (raw, tail) = after.split_at(end);
    *rest = tail;
    let value = raw.split(|&b| b == 0).next().unwrap_or_default();
    if value.len() > spec.max {
        return Err(ReportError::TooLong {
            field: spec.name,
            len: value.len(),
            max: spec.max,
        });
    }
    if !value.iter().all(u8::is_ascii_graphic) {
        return Err(ReportError::NotText(spec.name));
    }
    String::from_utf8(value.to_vec()).map_err(|_| ReportError::NotText(spec.name))
}

impl Deliver {
    /// The status report this DELIVER carries, or `None` for an MO.
    pub fn report(&self) -> Option<Result<Report, ReportError>> {
        self.is_report().then(|| Report::decode(&self.msg_content))
    }
}
