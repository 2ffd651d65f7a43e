//! Wall-clock fields in China Standard Time.
//!
//! SMGP's times (Login's MMDDHHMMSS, MsgID's MMDDHHMM, DELIVER's RecvTime YYYYMMDDHHMMSS,
//! a report's YYMMDDhhmm) carry no zone: peers write the local time of the operator's
//! network, which is China Standard Time, UTC+8 all year. Converting with a fixed offset
//! instead of the host's zone keeps a gateway that runs in UTC, or anywhere else, in
//! agreement with its peers. ValidTime and AtTime follow SMPP's time format, which names
//! its offset. Calendar arithmetic is the `time` crate's, at that fixed offset.

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

/// `N` two-digit decimal fields from the start of `bytes`.
fn pairs<const N: usize>(bytes: &[u8]) -> Option<[u32; N]> {
    let mut fields = [0u32; N];
    for (i, field) in fields.iter_mut().enumerate() {
        let pair = bytes.get(i * 2..i * 2 + 2)?;
        *field = pair.iter().try_fold(0u32, |n, b| {
            b.is_ascii_digit().then(|| n * 10 + u32::from(b - b'0'))
        })?;
    }
    Some(fields)
}

/// Reads a ValidTime / AtTime, which follow SMPP's format (SMPP 3.4 §7.1.1), as Unix
/// seconds; `None` for the empty field. Absolute `YYMMDDhhmmsstnn+`/`-` is local time `nn`
/// quarter hours ahead of or behind UTC; relative `YYMMDDhhmmss000R` is that long after
/// `now_unix` (years and months on the calendar, the day clamped to the month's last).
/// Twelve digits without `tnnp`, which some SPs send, are read as UTC+8.
pub fn smpp_time_to_unix(text: &str, now_unix: i64) -> Result<Option<i64>, SmppTimeError> {
    if text.is_empty() {
        return Ok(None);
    }
    let bytes = text.as_bytes();
    let bad = || SmppTimeError(text.to_owned());
    let [yy, mm, dd, hh, mi, ss] = pairs::<6>(bytes).ok_or_else(bad)?;
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
    let [quarters] = pairs::<1>(bytes.get(13..).unwrap_or_default()).ok_or_else(bad)?;
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

/// A report's submit date / done date, YYMMDDhhmm in UTC+8, as Unix seconds; `None` when
/// it is not ten digits naming a real minute (twelve, with seconds, are accepted too).
pub fn report_time_to_unix(text: &str) -> Option<i64> {
    let bytes = text.as_bytes();
    let second = match bytes.len() {
        10 => 0,
        12 => pairs::<6>(bytes)?[5],
        _ => return None,
    };
    let [yy, month, day, hour, minute] = pairs::<5>(bytes)?;
    Civil {
        year: 2000 + i64::from(yy),
        month,
        day,
        hour,
        minute,
        second,
    }
    .to_unix()
}

/// `unix` as a report time, YYMMDDhhmm in UTC+8.
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
    let [century, yy, month, day, hour, minute, second] = pairs::<7>(bytes)?;
    Civil {
        year: i64::from(century * 100 + yy),
        month,
        day,
        hour,
        minute,
        second,
    }
    .to_unix()
}

/// `unix` as a RecvTime, YYYYMMDDHHMMSS in UTC+8.
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
fn days_in_month(year: i64, month: u32) -> u32 {
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

    // 2024-03-01 12:00:00 +08:00 = 04:00 UTC.
    const NOON: i64 = 1_709_265_600;

    #[test]
    fn known_instants_in_utc_plus_8() {
        let c = Civil::from_unix(NOON);
        assert_eq!((c.year, c.month, c.day, c.hour), (2024, 3, 1, 12));
        assert_eq!(c.to_unix(), Some(NOON));
        // 2023-12-31 23:59:59 +08:00 is still 2023 in China, 15:59:59 UTC.
        assert_eq!(Civil::from_unix(1_704_038_399).year, 2023);
        assert_eq!(Civil::from_unix(1_704_038_400).year, 2024);
    }

    #[test]
    fn smpp_times_absolute_relative_and_bare() {
        assert_eq!(smpp_time_to_unix("", NOON), Ok(None));
        assert_eq!(smpp_time_to_unix("240301120000032+", NOON), Ok(Some(NOON)));
        assert_eq!(smpp_time_to_unix("240301040000000+", NOON), Ok(Some(NOON)));
        assert_eq!(smpp_time_to_unix("240301120000", NOON), Ok(Some(NOON)));
        assert_eq!(
            smpp_time_to_unix("000001000000000R", NOON),
            Ok(Some(NOON + 86_400))
        );
        for bad in ["24030112000003+", "240301120000049+", "241301120000032+"] {
            assert!(smpp_time_to_unix(bad, NOON).is_err(), "{bad}");
        }
        assert_eq!(unix_to_smpp_absolute(NOON), "240301120000032+");
    }

    #[test]
    fn report_and_recv_times_are_utc_plus_8() {
        assert_eq!(report_time_to_unix("2403011200"), Some(NOON));
        assert_eq!(report_time_to_unix("240301120005"), Some(NOON + 5));
        assert_eq!(report_time_to_unix("2413011200"), None);
        assert_eq!(unix_to_report_time(NOON + 59), "2403011200");
        assert_eq!(recv_time_to_unix("20240301120007"), Some(NOON + 7));
        assert_eq!(recv_time_to_unix("2024030112000"), None);
        assert_eq!(recv_time_to_unix("20240230120000"), None);
        assert_eq!(unix_to_recv_time(NOON + 7), "20240301120007");
    }

    proptest! {
        #[test]
        fn civil_and_recv_time_round_trip(unix in 0i64..4_000_000_000) {
            prop_assert_eq!(Civil::from_unix(unix).to_unix(), Some(unix));
            prop_assert_eq!(recv_time_to_unix(&unix_to_recv_time(unix)), Some(unix));
        }
    }
}
