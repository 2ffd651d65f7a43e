//! Wall-clock fields in Beijing time.
//!
//! SGIP's times carry no zone: the second word of every sequence number is the command's
//! local time as the decimal MMDDHHMMSS, and a SUBMIT's ExpireTime and ScheduleTime are
//! `yymmddhhmmsstnnp` with `tnnp` fixed to `032+` ("Beijing time", SGIP 1.2 §4.2.3.3.1).
//! China Standard Time is UTC+8 all year, so converting with that fixed offset, not the
//! host's zone, keeps a gateway that runs in UTC in agreement with its peers. Calendar
//! arithmetic is the `time` crate's.

use time::{Date, Month, OffsetDateTime, PrimitiveDateTime, Time, UtcOffset};

/// China Standard Time, seconds east of UTC.
pub const CHINA_OFFSET_SECS: i64 = 8 * 3600;

/// Characters of an ExpireTime or ScheduleTime.
pub const SMPP_TIME_LEN: usize = 16;

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
    /// The UTC+8 wall clock at `unix` seconds (clamped to the years the calendar covers).
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
        let year = i32::try_from(self.year).ok()?;
        let date = Date::from_calendar_date(year, month, narrow(self.day)?).ok()?;
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

/// MMDDHHMMSS in UTC+8 as the decimal number a sequence number carries.
pub fn timestamp_from_unix(unix: i64) -> u32 {
    let c = Civil::from_unix(unix);
    c.month * 100_000_000 + c.day * 1_000_000 + c.hour * 10_000 + c.minute * 100 + c.second
}

/// The instant a MMDDHHMMSS timestamp names, in the year (last, this or next, in UTC+8)
/// that puts it nearest to `now_unix`; `None` when it is not a date and time in any of them.
pub fn timestamp_to_unix_near(timestamp: u32, now_unix: i64) -> Option<i64> {
    let civil = |year| Civil {
        year,
        month: timestamp / 100_000_000,
        day: timestamp / 1_000_000 % 100,
        hour: timestamp / 10_000 % 100,
        minute: timestamp / 100 % 100,
        second: timestamp % 100,
    };
    let year = Civil::from_unix(now_unix).year;
    [year - 1, year, year + 1]
        .into_iter()
        .filter_map(|y| civil(y).to_unix())
        .min_by_key(|t| t.abs_diff(now_unix))
}

/// An ExpireTime or ScheduleTime that is not an SMPP time.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("time {0:?} is not yymmddhhmmsstnnp (or yymmddhhmmss) naming a real date")]
pub struct SmppTimeError(pub String);

/// Two decimal digits at `at`.
fn two_digits(bytes: &[u8], at: usize) -> Option<u32> {
    let pair = bytes.get(at..at + 2)?;
    pair.iter().try_fold(0u32, |n, b| {
        b.is_ascii_digit().then(|| n * 10 + u32::from(b - b'0'))
    })
}

/// Reads an ExpireTime or ScheduleTime as Unix seconds; `None` for the empty field.
///
/// The specification fixes `tnnp` to `032+`; peers that follow SMPP 3.4 §7.1.1 instead
/// are read too: absolute `yymmddhhmmsstnn+`/`-` is local time `nn` quarter hours ahead of
/// or behind UTC, relative `yymmddhhmmss000R` is that long after `now_unix` (years and
/// months on the calendar, the day clamped to the month's last). Twelve digits without
/// `tnnp` are read as Beijing time.
pub fn smpp_time_to_unix(text: &str, now_unix: i64) -> Result<Option<i64>, SmppTimeError> {
    if text.is_empty() {
        return Ok(None);
    }
    let bytes = text.as_bytes();
    let bad = || SmppTimeError(text.to_owned());
    let mut fields = [0u32; 6];
    for (i, field) in fields.iter_mut().enumerate() {
        *field = two_digits(bytes, i * 2).ok_or_else(bad)?;
    }
    let [yy, mm, dd, hh, mi, ss] = fields;
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
    if bytes.len() != SMPP_TIME_LEN {
        return Err(bad());
    }
    let tenths_ok = bytes.get(12).is_some_and(u8::is_ascii_digit);
    let quarters = two_digits(bytes, 13).ok_or_else(bad)?;
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

/// `unix` as the specification writes a time: `yymmddhhmmss032+` in Beijing time.
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

    // 2024-03-01 12:00:00 +08:00 = 04:00:00 UTC.
    const NOON: i64 = 1_709_265_600;

    #[test]
    fn known_instants_are_beijing_time() {
        let c = Civil::from_unix(NOON);
        assert_eq!(
            (c.year, c.month, c.day, c.hour, c.minute, c.second),
            (2024, 3, 1, 12, 0, 0)
        );
        assert_eq!(c.to_unix(), Some(NOON));
        // 2023-12-31 23:59:59 +08:00 is still 2023 in Beijing, 15:59:59 UTC.
        assert_eq!(Civil::from_unix(1_704_038_399).year, 2023);
        assert_eq!(Civil::from_unix(1_704_038_400).year, 2024);
    }

    #[test]
    fn sequence_timestamps_are_mmddhhmmss() {
        // The specification's example: 20:32:25 on 20 November is 1120203225.
        let at = Civil {
            year: 2024,
            month: 11,
            day: 20,
            hour: 20,
            minute: 32,
            second: 25,
        }
        .to_unix()
        .expect("a real time");
        assert_eq!(timestamp_from_unix(at), 1_120_203_225);
        assert_eq!(timestamp_to_unix_near(1_120_203_225, at + 60), Some(at));
        assert_eq!(timestamp_from_unix(NOON), 301_120_000);
    }

    #[test]
    fn the_year_of_a_timestamp_is_the_nearest_one() {
        let new_year = 1_704_038_410; // 2024-01-01 00:00:10 +08:00
        assert_eq!(
            timestamp_to_unix_near(1_231_235_950, new_year),
            Some(new_year - 20)
        );
        for nonsense in [0, 1_301_000_000, 231_000_000, u32::MAX] {
            assert_eq!(timestamp_to_unix_near(nonsense, NOON), None, "{nonsense}");
        }
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
        for bad in [
            "24030112000003+",
            "240301120000049+",
            "241301120000032+",
            "2403011200000322",
            "tomorrow",
        ] {
            assert!(smpp_time_to_unix(bad, NOON).is_err(), "{bad}");
        }
        assert_eq!(unix_to_smpp_absolute(NOON), "240301120000032+");
    }

    proptest! {
        #[test]
        fn civil_round_trips(unix in -10_000_000_000i64..10_000_000_000) {
            prop_assert_eq!(Civil::from_unix(unix).to_unix(), Some(unix));
        }

        #[test]
        fn written_times_read_back(unix in 946_656_000i64..4_102_387_200) {
            // 2000-01-01 to 2099-12-31 in Beijing, the years yy can name.
            let text = unix_to_smpp_absolute(unix);
            prop_assert_eq!(text.len(), SMPP_TIME_LEN);
            prop_assert_eq!(smpp_time_to_unix(&text, 0), Ok(Some(unix)));
        }
    }
}
