//! Wall-clock fields in China Standard Time.
//!
//! CNGP's timestamps (Login's MMDDHHMMSS, MsgID's month to minute, DELIVER's RecvTime
//! YYYYMMDDHHMMSS, a report's YYMMDDHHMM) carry no zone: peers write the local time of the
//! operator's network, which is China Standard Time, UTC+8 all year (no daylight saving
//! since 1991). Converting with a fixed offset instead of the host's zone keeps a gateway
//! that runs in UTC, or anywhere else, in agreement with its peers. Calendar arithmetic is
//! the `time` crate's, at that fixed offset.

use time::{Date, Month, OffsetDateTime, PrimitiveDateTime, Time, UtcOffset};

/// China Standard Time, seconds east of UTC.
pub const CHINA_OFFSET_SECS: i64 = 8 * 3600;

/// A wall-clock time in UTC+8.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Civil {
    pub year: i64,
    pub month: u32,
    pub day: u32,
    pub hour: u32,
    pub minute: u32,
    pub second: u32,
}

/// Seconds since the epoch, now (0 if the clock is before 1970).
pub fn unix_now() -> i64 {
    i64::try_from(tern_model::now_ms() / 1000).unwrap_or(i64::MAX)
}

impl Civil {
    /// The UTC+8 wall clock at `unix` seconds (clamped to the years ±9999 the calendar
    /// covers).
    pub fn from_unix(unix: i64) -> Civil {
        let first = PrimitiveDateTime::new(Date::MIN, Time::MIDNIGHT).assume_offset(china());
        let last = PrimitiveDateTime::new(Date::MAX, Time::MIDNIGHT).assume_offset(china());
        let unix = unix.clamp(first.unix_timestamp(), last.unix_timestamp());
        let t = OffsetDateTime::from_unix_timestamp(unix)
            .unwrap_or(OffsetDateTime::UNIX_EPOCH)
            .to_offset(china());
        Civil {
            year: i64::from(t.year()),
            month: u32::from(u8::from(t.month())),
            day: u32::from(t.day()),
            hour: u32::from(t.hour()),
            minute: u32::from(t.minute()),
            second: u32::from(t.second()),
        }
    }

    /// Seconds since the epoch, or `None` when a field is out of range (month 13, April 31,
    /// February 29 of a common year, hour 24...).
    pub fn to_unix(&self) -> Option<i64> {
        let narrow = |n: u32| u8::try_from(n).ok();
        let month = Month::try_from(narrow(self.month)?).ok()?;
        let date =
            Date::from_calendar_date(i32::try_from(self.year).ok()?, month, narrow(self.day)?)
                .ok()?;
        let time = Time::from_hms(
            narrow(self.hour)?,
            narrow(self.minute)?,
            narrow(self.second)?,
        )
        .ok()?;
        Some(
            PrimitiveDateTime::new(date, time)
                .assume_offset(china())
                .unix_timestamp(),
        )
    }
}

/// UTC+8.
fn china() -> UtcOffset {
    UtcOffset::from_whole_seconds(CHINA_OFFSET_SECS as i32).unwrap_or(UtcOffset::UTC)
}

/// A ValidTime or AtTime that is not an SMPP time.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("time {0:?} is not YYMMDDhhmmsstnnp (or YYMMDDhhmmss) naming a real date")]
pub struct SmppTimeError(pub String);

fn digits(bytes: &[u8], at: usize) -> Option<u32> {
    let pair = bytes.get(at..at + 2)?;
    pair.iter().try_fold(0u32, |n, b| {
        b.is_ascii_digit().then(|| n * 10 + u32::from(b - b'0'))
    })
}

/// The six two-digit fields YY MM DD hh mm ss at the start of `bytes`.
fn six_fields(bytes: &[u8]) -> Option<[u32; 6]> {
    let mut fields = [0u32; 6];
    for (i, field) in fields.iter_mut().enumerate() {
        *field = digits(bytes, i * 2)?;
    }
    Some(fields)
}

/// Reads a CNGP ValidTime / AtTime, which follow SMPP's format (SMPP 3.4 §7.1.1), as
/// Unix seconds; `None` for the empty field. Absolute `YYMMDDhhmmsstnn+`/`-` is local time
/// `nn` quarter hours ahead of or behind UTC; relative `YYMMDDhhmmss000R` is that long after
/// `now_unix` (years and months on the calendar, the day clamped to the month's last).
/// Twelve digits without `tnnp`, which some SPs send, are read as UTC+8.
pub fn smpp_time_to_unix(text: &str, now_unix: i64) -> Result<Option<i64>, SmppTimeError> {
    if text.is_empty() {
        return Ok(None);
    }
    let bytes = text.as_bytes();
    let bad = || SmppTimeError(text.to_owned());
    let [yy, mm, dd, hh, mi, ss] = six_fields(bytes).ok_or_else(bad)?;
    let absolute = |offset_secs: i64| {
        let local = Civil {
            year: 2000 + i64::from(yy),
            month: mm,
            day: dd,
            hour: hh,
            minute: mi,
            second: ss,
        }
        .to_unix()?;
        // to_unix read the fields as UTC+8; move them to the stated offset.
        Some(local + CHINA_OFFSET_SECS - offset_secs)
    };
    if bytes.len() == 12 {
        return absolute(CHINA_OFFSET_SECS).map(Some).ok_or_else(bad);
    }
    if bytes.len() != 16 {
        return Err(bad());
    }
    let tenths_ok = bytes.get(12).is_some_and(u8::is_ascii_digit);
    let quarters = digits(bytes, 13).ok_or_else(bad)?;
    match bytes.get(15) {
        Some(b'R') => {
            let start = Civil::from_unix(now_unix);
            let months = start.month + mm - 1;
            let year = start.year + i64::from(yy) + i64::from(months / 12);
            let month = months % 12 + 1;
            let day = start.day.min(days_in_month(year, month));
            let base = Civil {
                year,
                month,
                day,
                ..start
            }
            .to_unix()
            .ok_or_else(bad)?;
            let offset = i64::from(dd) * 86_400 + i64::from(hh * 3600 + mi * 60 + ss);
            base.checked_add(offset).map(Some).ok_or_else(bad)
        }
        Some(sign @ (b'+' | b'-')) if tenths_ok && quarters <= 48 => {
            let offset = i64::from(quarters) * 900;
            let offset = if *sign == b'+' { offset } else { -offset };
            absolute(offset).map(Some).ok_or_else(bad)
        }
        _ => Err(bad()),
    }
}

/// `unix` as an absolute SMPP time in UTC+8 with its offset: `YYMMDDhhmmss032+`, which a
/// peer reads right whether it honours the offset or takes the digits as local time.
pub fn unix_to_smpp_absolute(unix: i64) -> String {
    let t = Civil::from_unix(unix);
    format!(
        "{:02}{:02}{:02}{:02}{:02}{:02}032+",
        t.year.rem_euclid(100),
        t.month,
        t.day,
        t.hour,
        t.minute,
        t.second
    )
}

/// A status report's Submit_time / Done_time, YYMMDDHHMM in UTC+8, as Unix seconds; `None`
/// when it is not ten digits naming a real minute (some gateways send twelve, with
/// seconds: accepted too).
pub fn report_time_to_unix(text: &str) -> Option<i64> {
    let bytes = text.as_bytes();
    let field = |i: usize| digits(bytes, i * 2);
    let second = match bytes.len() {
        10 => 0,
        12 => field(5)?,
        _ => return None,
    };
    Civil {
        year: 2000 + i64::from(field(0)?),
        month: field(1)?,
        day: field(2)?,
        hour: field(3)?,
        minute: field(4)?,
        second,
    }
    .to_unix()
}

/// `unix` as a report time, YYMMDDHHMM in UTC+8.
pub fn unix_to_report_time(unix: i64) -> String {
    let t = Civil::from_unix(unix);
    format!(
        "{:02}{:02}{:02}{:02}{:02}",
        t.year.rem_euclid(100),
        t.month,
        t.day,
        t.hour,
        t.minute
    )
}

/// A DELIVER's RecvTime, YYYYMMDDHHMMSS in UTC+8, as Unix seconds; `None` when it is not
/// fourteen digits naming a real second.
pub fn recv_time_to_unix(text: &str) -> Option<i64> {
    let bytes = text.as_bytes();
    if bytes.len() != 14 {
        return None;
    }
    let field = |i: usize| digits(bytes, i);
    Civil {
        year: i64::from(field(0)? * 100 + field(2)?),
        month: field(4)?,
        day: field(6)?,
        hour: field(8)?,
        minute: field(10)?,
        second: field(12)?,
    }
    .to_unix()
}

/// `unix` as a RecvTime, YYYYMMDDHHMMSS in UTC+8 (years before 0 or after 9999 clamped to
/// the calendar's range, which no clock reaches).
pub fn unix_to_recv_time(unix: i64) -> String {
    let t = Civil::from_unix(unix);
    format!(
        "{:04}{:02}{:02}{:02}{:02}{:02}",
        t.year.clamp(0, 9999),
        t.month,
        t.day,
        t.hour,
        t.minute,
        t.second
    )
}

/// Days in `month` (1-12) of `year`; 0 for a month or year the calendar does not have.
pub(crate) fn days_in_month(year: i64, month: u32) -> u32 {
    let month = u8::try_from(month)
        .ok()
        .and_then(|m| Month::try_from(m).ok());
    match (month, i32::try_from(year)) {
        (Some(month), Ok(year)) => u32::from(time::util::days_in_month(month, year)),
        _ => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn known_instants_in_utc_plus_8() {
        // 2024-03-01 12:00:00 +08:00
        let c = Civil::from_unix(1_709_265_600);
        assert_eq!(
            c,
            Civil {
                year: 2024,
                month: 3,
                day: 1,
                hour: 12,
                minute: 0,
                second: 0
            }
        );
        assert_eq!(c.to_unix(), Some(1_709_265_600));
        // 2023-12-31 23:59:59 +08:00 is still 2023 in China, 15:59:59 UTC.
        assert_eq!(Civil::from_unix(1_704_038_399).year, 2023);
        assert_eq!(Civil::from_unix(1_704_038_400).year, 2024);
    }

    #[test]
    fn invalid_dates_have_no_instant() {
        let base = Civil::from_unix(0);
        for (month, day) in [(2, 29), (4, 31), (13, 1), (0, 1), (1, 0)] {
            let c = Civil {
                year: 2023,
                month,
                day,
                ..base
            };
            assert_eq!(c.to_unix(), None, "{month}-{day}");
        }
        let leap = Civil {
            year: 2024,
            month: 2,
            day: 29,
            ..base
        };
        assert!(leap.to_unix().is_some());
    }

    #[test]
    fn smpp_times_absolute_relative_and_bare() {
        let noon = 1_709_265_600; // 2024-03-01 12:00:00 +08:00 = 04:00 UTC
        assert_eq!(smpp_time_to_unix("", noon), Ok(None));
        assert_eq!(smpp_time_to_unix("240301120000032+", noon), Ok(Some(noon)));
        assert_eq!(smpp_time_to_unix("240301040000000+", noon), Ok(Some(noon)));
        assert_eq!(smpp_time_to_unix("240301120000", noon), Ok(Some(noon)));
        assert_eq!(
            smpp_time_to_unix("000001000000000R", noon),
            Ok(Some(noon + 86_400))
        );
        for bad in [
            "24030112000003+",
            "240301120000049+",
            "241301120000032+",
            "2403011200000322",
        ] {
            assert!(smpp_time_to_unix(bad, noon).is_err(), "{bad}");
        }
        assert_eq!(unix_to_smpp_absolute(noon), "240301120000032+");
    }

    #[test]
    fn report_times_are_utc_plus_8_minutes() {
        assert_eq!(report_time_to_unix("2403011200"), Some(1_709_265_600));
        assert_eq!(report_time_to_unix("240301120005"), Some(1_709_265_605));
        assert_eq!(report_time_to_unix("2413011200"), None);
        assert_eq!(report_time_to_unix("24030112"), None);
        assert_eq!(unix_to_report_time(1_709_265_659), "2403011200");
    }

    #[test]
    fn recv_times_are_utc_plus_8_seconds() {
        assert_eq!(recv_time_to_unix("20240301120005"), Some(1_709_265_605));
        assert_eq!(unix_to_recv_time(1_709_265_605), "20240301120005");
        for bad in ["2024030112000", "20241301120000", "2024030112000x", ""] {
            assert_eq!(recv_time_to_unix(bad), None, "{bad}");
        }
    }

    proptest! {
        #[test]
        fn civil_round_trips(unix in -10_000_000_000i64..10_000_000_000) {
            prop_assert_eq!(Civil::from_unix(unix).to_unix(), Some(unix));
        }
    }
}
