//! The status report carried as the content of a DELIVER with Registered_Delivery 1:
//! `Msg_Id (8) | Stat (7) | Submit_time (10) | Done_time (10) | Dest_terminal_Id (21/32) |
//! SMSC_sequence (4)`, 60 octets in 2.0 and 71 in 3.0.
//!
//! Decoding takes the version of the link but also accepts the other version's length:
//! gateways that speak 3.0 framing with 2.0 reports exist, and the two lengths cannot be
//! confused.

use bytes::{BufMut, Bytes, BytesMut};
use tern_cn::fields::{BodyError, Flaw, Reader};

use super::fields::{field, put_text};
use super::{Deliver, EncodeError, Report, Version};

/// Width of Stat.
pub const STAT_LEN: usize = 7;
/// Width of Submit_time and Done_time (YYMMDDHHMM).
pub const REPORT_TIME_LEN: usize = 10;

/// Why a status report's content was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReportError {
    #[error("status report of {len} octets, expected {expected}")]
    Length { len: usize, expected: usize },
    #[error("status report field {0}")]
    Field(&'static str),
}

/// A report's content is not a PDU body: its errors name the field alone.
impl BodyError for ReportError {
    type Header = ();

    fn malformed(_: (), _: Flaw, reason: &'static str) -> Self {
        ReportError::Field(reason)
    }
}

impl Report {
    /// Octets of a report in `version`.
    pub fn encoded_len(version: Version) -> usize {
        8 + STAT_LEN + 2 * REPORT_TIME_LEN + version.terminal_id_len() + 4
    }

    /// The report as DELIVER content in `version`.
    pub fn encode(&self, version: Version) -> Result<Bytes, EncodeError> {
        let mut out = BytesMut::with_capacity(Self::encoded_len(version));
        out.put_u64(self.msg_id);
        put_text(&mut out, &self.stat, STAT_LEN, field!("Stat"))?;
        put_text(
            &mut out,
            &self.submit_time,
            REPORT_TIME_LEN,
            field!("Submit_time"),
        )?;
        put_text(
            &mut out,
            &self.done_time,
            REPORT_TIME_LEN,
            field!("Done_time"),
        )?;
        put_text(
            &mut out,
            &self.dest_terminal_id,
            version.terminal_id_len(),
            field!("Dest_terminal_Id"),
        )?;
        out.put_u32(self.smsc_sequence);
        Ok(out.freeze())
    }

    /// Reads a report from DELIVER content: `version`'s length, or the other version's.
    pub fn decode(version: Version, content: &[u8]) -> Result<Report, ReportError> {
        let other = match version {
            Version::V20 => Version::V30,
            Version::V30 => Version::V20,
        };
        let layout = if content.len() == Self::encoded_len(version) {
            version
        } else if content.len() == Self::encoded_len(other) {
            other
        } else {
            return Err(ReportError::Length {
                len: content.len(),
                expected: Self::encoded_len(version),
            });
        };
        let mut r = Reader::<ReportError>::new(content, ());
        let report = Report {
            msg_id: r.u64(field!("Msg_Id"))?,
            stat: r.text(STAT_LEN, field!("Stat"))?,
            submit_time: r.text(REPORT_TIME_LEN, field!("Submit_time"))?,
            done_time: r.text(REPORT_TIME_LEN, field!("Done_time"))?,
            dest_terminal_id: r.text(layout.terminal_id_len(), field!("Dest_terminal_Id"))?,
            smsc_sequence: r.u32(field!("SMSC_sequence"))?,
        };
        r.finish()?;
        Ok(report)
    }
}

impl Deliver {
    /// Whether this DELIVER is a status report rather than an MO.
    pub fn is_report(&self) -> bool {
        self.registered_delivery == 1
    }

    /// The status report this DELIVER carries, or `None` for an MO.
    pub fn report(&self, version: Version) -> Option<Result<Report, ReportError>> {
        self.is_report()
            .then(|| Report::decode(version, &self.msg_content))
    }
}
