//! The two time formats SMPP uses, as Unix seconds: the receipt dates `YYMMDDhhmm[ss]`
//! (SMPP 3.4 Appendix B) and the `schedule_delivery_time` / `validity_period` format
//! `YYMMDDhhmmsstnnp`, absolute or relative (SMPP 3.4 §7.1.1). No time zone database:
//! receipt dates are taken as UTC, and absolute times carry their own offset. Calendar
//! arithmetic is the `time` crate's.
//!
//! Two-digit years: the specification leaves the century open. A schedule or a validity
//! points ahead, so in an absolute `schedule_delivery_time` or `validity_period` the year
//! YY is the one in the sliding window from 20 years before the current year to 79 after
//! it: in 2026 `06`-`99` are 2006-2099 and `00`-`05` are 2100-2105, so `991231235959000+`
//! (the customary "until further notice") is the end of 2099, not of 1999, and a past
//! schedule such as `200101000000000+` stays in 2020. Receipt dates report the past and
//! keep the fixed window 1970-2069.

use time::{Date, Month, OffsetDateTime, PrimitiveDateTime, Time};

/// Days in `month` (1-12) of `year`; 31 for a month or year the calendar does not have
/// (the date is refused when it becomes a time).
fn days_in_month(year: i64, month: u32) -> u32 {
    let month = u8::try_from(month)
        .ok()
        .and_then(|m| Month::try_from(m).ok());
    match (month, i32::try_from(year)) {
        (Some(month), Ok(year)) => u32::from(time::util::days_in_month(month, year)),
        _ => 31,
    }
}

/// `unix` as a UTC date and time, clamped to the years ±9999 the calendar covers.
fn utc(unix: i64) -> OffsetDateTime {
    let first = PrimitiveDateTime::new(Date::MIN, Time::MIDNIGHT).assume_utc();
    let last = PrimitiveDateTime::new(Date::MAX, Time::MIDNIGHT).assume_utc();
    let unix = unix.clamp(first.unix_timestamp(), last.unix_timestamp());
    OffsetDateTime::from_unix_timestamp(unix).unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

/// A broken-down UTC time, validated field by field when it becomes a Unix time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Civil {
    year: i64,
    month: u32,
    day: u32,
    hour: u32,
    minute: u32,
    second: u32,
}

impl Civil {
    fn unix(self) -> Option<i64> {
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
                .assume_utc()
                .unix_timestamp(),
        )
    }

    fn from_unix(unix: i64) -> Self {
        let t = utc(unix);
        Self {
            year: i64::from(t.year()),
            month: u32::from(u8::from(t.month())),
            day: u32::from(t.day()),
            hour: u32::from(t.hour()),
            minute: u32::from(t.minute()),
            second: u32::from(t.second()),
        }
    }
}

/// Two ASCII digits at `at` as a number.
fn two_digits(bytes: &[u8], at: usize) -> Option<u32> {
    match bytes.get(at..at + 2)? {
        [tens @ b'0'..=b'9', ones @ b'0'..=b'9'] => {
            Some(u32::from(tens - b'0') * 10 + u32::from(ones - b'0'))
        }
        _ => None,
    }
}

fn century(yy: u32) -> i64 {
    let yy = i64::from(yy);
    if yy < 70 {
        2000 + yy
    } else {
        1900 + yy
    }
}

/// Years before the current one that a two-digit year of an absolute time can name; the
/// other 79 of the window lie ahead.
const YEARS_BACK: i64 = 20;

/// The year of two-digit year `yy` in the window of 100 years from [`YEARS_BACK`] before
/// the year of `now_unix`.
fn windowed_year(yy: u32, now_unix: i64) -> i64 {
    let now_year = Civil::from_unix(now_unix).year;
    let first = now_year - YEARS_BACK;
    first + (i64::from(yy) - first).rem_euclid(100)
}

/// A receipt date: `YYMMDDhhmm` (SMPP 3.4 Appendix B), `YYMMDDhhmmss` (what many SMSCs
/// send) or `YYYYMMDDhhmmss`, taken as UTC. `None` when it is none of these or not a date
/// (operators send `0000000000` for "unknown").
pub fn receipt_date_to_unix(text: &str) -> Option<i64> {
    let bytes = text.trim().as_bytes();
    let (year, rest) = match bytes.len() {
        10 | 12 => (century(two_digits(bytes, 0)?), bytes.get(2..)?),
        14 => (
            i64::from(two_digits(bytes, 0)? * 100 + two_digits(bytes, 2)?),
            bytes.get(4..)?,
        ),
        _ => return None,
    };
    let second = if rest.len() == 10 {
        two_digits(rest, 8)?
    } else {
        0
    };
    Civil {
        year,
        month: two_digits(rest, 0)?,
        day: two_digits(rest, 2)?,
        hour: two_digits(rest, 4)?,
        minute: two_digits(rest, 6)?,
        second,
    }
    .unix()
}

/// The receipt date of `unix` in UTC: `YYMMDDhhmm`, or `YYMMDDhhmmss` with `seconds`.
pub fn unix_to_receipt_date(unix: i64, seconds: bool) -> String {
    let t = Civil::from_unix(unix);
    let yy = t.year.rem_euclid(100);
    let mut text = format!(
        "{yy:02}{:02}{:02}{:02}{:02}",
        t.month, t.day, t.hour, t.minute
    );
    if seconds {
        text.push_str(&format!("{:02}", t.second));
    }
    text
}

/// Why a `schedule_delivery_time` or `validity_period` could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SmppTimeError {
    #[error("time is {0} characters long, SMPP times have 16")]
    Length(usize),
    #[error("time {0:?} is not YYMMDDhhmmsstnnp")]
    Format(String),
    #[error("time {0:?} names no real date")]
    NoSuchDate(String),
}

/// Reads an SMPP time (SMPP 3.4 §7.1.1) as Unix seconds, or `None` for the empty string
/// (the SMSC default). Absolute `YYMMDDhhmmsstnn+`/`-`: local time `nn` quarter hours ahead
/// of (`+`) or behind (`-`) UTC, its year in the window around `now_unix`'s (see the
/// module doc). Relative `YYMMDDhhmmss000R`: that much after `now_unix`,
/// years and months counted on the calendar, the day clamped to the month's last.
pub fn smpp_time_to_unix(text: &str, now_unix: i64) -> Result<Option<i64>, SmppTimeError> {
    if text.is_empty() {
        return Ok(None);
    }
    let bytes = text.as_bytes();
    if bytes.len() != 16 {
        return Err(SmppTimeError::Length(bytes.len()));
    }
    let format = || SmppTimeError::Format(text.to_owned());
    let mut fields = [0u32; 6];
    for (i, field) in fields.iter_mut().enumerate() {
        *field = two_digits(bytes, i * 2).ok_or_else(format)?;
    }
    let [yy, mm, dd, hh, mi, ss] = fields;
    let tenths = bytes.get(12).copied().filter(u8::is_ascii_digit);
    let quarters = two_digits(bytes, 13).ok_or_else(format)?;
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
            .unix()
            .ok_or_else(|| SmppTimeError::NoSuchDate(text.to_owned()))?;
            let offset = i64::from(dd) * 86_400 + i64::from(hh * 3600 + mi * 60 + ss);
            base.checked_add(offset)
                .map(Some)
                .ok_or_else(|| SmppTimeError::NoSuchDate(text.to_owned()))
        }
        Some(sign @ (b'+' | b'-')) => {
            // SMPP 3.4 §7.1.1: nn is 00-48 quarter hours.
            if tenths.is_none() || quarters > 48 {
                return Err(format());
            }
            let local = Civil {
                year: windowed_year(yy, now_unix),
                month: mm,
                day: dd,
                hour: hh,
                minute: mi,
                second: ss,
            }
            .unix()
            .ok_or_else(|| SmppTimeError::NoSuchDate(text.to_owned()))?;
            let offset = i64::from(quarters) * 900;
            Ok(Some(if *sign == b'+' {
                local - offset
            } else {
                local + offset
            }))
        }
        _ => Err(format()),
    }
}

/// `unix` as an absolute SMPP time in UTC: `YYMMDDhhmmss000+`.
pub fn unix_to_smpp_absolute(unix: i64) -> String {
    let t = Civil::from_unix(unix);
    format!(
        "{:02}{:02}{:02}{:02}{:02}{:02}000+",
        t.year.rem_euclid(100),
        t.month,
        t.day,
        t.hour,
        t.minute,
        t.second
    )
}

/// A span of `seconds` as a relative SMPP time, `000DDhhmmss000R` (SMPP 3.4 §7.1.1.2);
/// `None` when it is negative or 100 days or more.
pub fn seconds_to_smpp_relative(seconds: i64) -> Option<String> {
    if !(0..100 * 86_400).contains(&seconds) {
        return None;
    }
    Some(format!(
        "0000{:02}{:02}{:02}{:02}000R",
        seconds / 86_400,
        seconds / 3600 % 24,
        seconds / 60 % 60,
        seconds % 60
    ))
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn civil_times_match_known_instants() {
        let noon = Civil {
            year: 2024,
            month: 2,
            day: 29,
            hour: 12,
            minute: 0,
            second: 0,
        };
        assert_eq!(noon.unix(), Some(1_709_208_000));
        assert_eq!(Civil::from_unix(1_709_208_000), noon);
        assert_eq!(Civil { day: 30, ..noon }.unix(), None);
        assert_eq!(Civil { hour: 24, ..noon }.unix(), None);
        assert_eq!(Civil::from_unix(-1).year, 1969);
        assert_eq!(days_in_month(2024, 2), 29);
        assert_eq!(days_in_month(2100, 2), 28);
    }

    #[test]
    fn receipt_dates_read_ten_twelve_and_fourteen_digits() {
        // 2024-01-31 12:30 UTC
        let minute = 1_706_704_200;
        assert_eq!(receipt_date_to_unix("2401311230"), Some(minute));
        assert_eq!(receipt_date_to_unix("240131123045"), Some(minute + 45));
        assert_eq!(receipt_date_to_unix("20240131123045"), Some(minute + 45));
        assert_eq!(receipt_date_to_unix("9912312359"), Some(946_684_740));
        assert_eq!(receipt_date_to_unix("0000000000"), None);
        assert_eq!(receipt_date_to_unix("2402301200"), None, "no 30 February");
        assert_eq!(receipt_date_to_unix("24013112"), None);
        assert_eq!(receipt_date_to_unix("24O1311230"), None);
    }

    #[test]
    fn receipt_dates_are_written_with_or_without_seconds() {
        assert_eq!(unix_to_receipt_date(1_706_704_245, false), "2401311230");
        assert_eq!(unix_to_receipt_date(1_706_704_245, true), "240131123045");
    }

    #[test]
    fn absolute_times_apply_their_quarter_hour_offset() {
        // 14:00 local at UTC+2 (8 quarters) is 12:00 UTC.
        let noon = receipt_date_to_unix("2406151200").unwrap();
        assert_eq!(smpp_time_to_unix("240615140000008+", noon), Ok(Some(noon)));
        assert_eq!(smpp_time_to_unix("240615100000008-", noon), Ok(Some(noon)));
        assert_eq!(smpp_time_to_unix("240615120000000+", noon), Ok(Some(noon)));
        assert_eq!(smpp_time_to_unix("", 0), Ok(None));
        assert!(smpp_time_to_unix("240615120000049+", 0).is_err());
        assert!(smpp_time_to_unix("241315120000000+", 0).is_err());
        assert!(smpp_time_to_unix("24061512000000+", 0).is_err());
        assert!(smpp_time_to_unix("240615120000000X", 0).is_err());
    }

    #[test]
    fn relative_times_count_from_now() {
        let now = receipt_date_to_unix("2401311230").unwrap();
        assert_eq!(
            smpp_time_to_unix("000002030405000R", now),
            Ok(Some(now + 2 * 86_400 + 3 * 3600 + 4 * 60 + 5))
        );
        // One month after 31 January is the last day of February.
        assert_eq!(
            smpp_time_to_unix("000100000000000R", now),
            Ok(receipt_date_to_unix("2402291230"))
        );
        assert_eq!(
            smpp_time_to_unix("010000000000000R", now),
            Ok(receipt_date_to_unix("2501311230"))
        );
    }

    #[test]
    fn absolute_years_fall_in_the_window_around_now() {
        let in_2026 = receipt_date_to_unix("2606011200").unwrap();
        let year = |yy: &str, now: i64| {
            smpp_time_to_unix(&format!("{yy}0101000000000+"), now)
                .unwrap()
                .map(|unix| Civil::from_unix(unix).year)
        };
        assert_eq!(
            smpp_time_to_unix("991231235959000+", in_2026),
            Ok(receipt_date_to_unix("20991231235959")),
            "the end of 2099, not expired since 1999"
        );
        assert_eq!(
            smpp_time_to_unix("200101000000000+", in_2026),
            Ok(receipt_date_to_unix("20200101000000")),
            "a past schedule stays in the past"
        );
        assert_eq!(year("06", in_2026), Some(2006));
        assert_eq!(year("05", in_2026), Some(2105));
        assert_eq!(year("00", in_2026), Some(2100));
        let in_2090 = receipt_date_to_unix("20900601120000").unwrap();
        assert_eq!(year("70", in_2090), Some(2070));
        assert_eq!(year("69", in_2090), Some(2169));
        assert_eq!(year("99", in_2090), Some(2099));
    }

    #[test]
    fn relative_times_are_written_in_days_hours_minutes_and_seconds() {
        let span = 2 * 86_400 + 3 * 3600 + 4 * 60 + 5;
        assert_eq!(
            seconds_to_smpp_relative(span).as_deref(),
            Some("000002030405000R")
        );
        assert_eq!(
            smpp_time_to_unix(&seconds_to_smpp_relative(span).unwrap(), 1_000),
            Ok(Some(1_000 + span))
        );
        assert_eq!(
            seconds_to_smpp_relative(0).as_deref(),
            Some("000000000000000R")
        );
        assert_eq!(seconds_to_smpp_relative(-1), None);
        assert_eq!(seconds_to_smpp_relative(100 * 86_400), None);
    }

    proptest! {
        #[test]
        fn unix_times_round_trip(unix in -10_000_000_000i64..10_000_000_000) {
            prop_assert_eq!(Civil::from_unix(unix).unix(), Some(unix));
        }

        #[test]
        fn any_time_text_is_read_or_refused(text in "[0-9R+-]{16}", now in any::<i64>()) {
            let _ = smpp_time_to_unix(&text, now);
        }

        #[test]
        fn absolute_times_round_trip(unix in 0i64..4_102_444_800, offset in -78i64..19) {
            // Read back from 19 years after the time written to 78 before, the year is the
            // same one.
            let now = unix + offset * 31_556_952;
            prop_assert_eq!(smpp_time_to_unix(&unix_to_smpp_absolute(unix), now), Ok(Some(unix)));
        }

        #[test]
        fn receipt_dates_round_trip(unix in 0i64..3_155_760_000) {
            // 1970..2069 is the receipt dates' window.
            prop_assert_eq!(receipt_date_to_unix(&unix_to_receipt_date(unix, true)), Some(unix));
        }
    }
}
