//! Wall-clock fields in China Standard Time.
//!
//! The operators' timestamps carry no zone: a login's MMDDHHMMSS, a message id's month to
//! second or minute, a DELIVER's RecvTime YYYYMMDDHHMMSS, a report's YYMMDDHHMM. Peers write
//! the local time of the operator's network, which is China Standard Time ("Beijing
//! time"), UTC+8 all year (no daylight saving since 1991). Converting with that fixed
//! offset instead of the host's zone keeps a gateway that runs in UTC, or anywhere else, in
//! agreement with its peers. Validity and schedule times follow SMPP's format, which names
//! its offset. Calendar arithmetic is the `time` crate's, at that fixed offset.

use std::time::Duration;

use time::{Date, Month, OffsetDateTime, PrimitiveDateTime, Time, UtcOffset};

/// China Standard Time, seconds east of UTC.
pub const CHINA_OFFSET_SECS: i64 = 8 * 3600;

/// Characters of an absolute or relative SMPP time (`YYMMDDhhmmsstnnp`).
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

    /// The instant of this month, day and time of day (the year is not looked at) in the
    /// latest year that puts it no later than a day after `now_unix`: how a message id,
    /// which has no year, is dated. `None` when the fields name no time in the years
    /// around `now_unix`.
    pub fn latest_unix_by(&self, now_unix: i64) -> Option<i64> {
        let year = Civil::from_unix(now_unix).year;
        [year + 1, year, year - 1]
            .into_iter()
            .filter_map(|year| Civil { year, ..*self }.to_unix())
            .find(|&at| at <= now_unix.saturating_add(86_400))
    }
}

/// UTC+8.
fn china() -> UtcOffset {
    UtcOffset::from_whole_seconds(CHINA_OFFSET_SECS as i32).unwrap_or(UtcOffset::UTC)
}

/// The login timestamp for now, MMDDHHMMSS.
pub fn timestamp_now() -> u32 {
    timestamp_from_unix(unix_now())
}

/// MMDDHHMMSS in UTC+8 as the decimal number a login (or an SGIP sequence number) carries.
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

/// How far a login timestamp is from `now_unix`; `Duration::MAX` when it is not a valid
/// time, so that a window check `skew <= window` refuses it. The timestamp is a login's
/// only freshness: a server that does not bound the skew accepts a recorded login again.
pub fn timestamp_skew(timestamp: u32, now_unix: i64) -> Duration {
    timestamp_to_unix_near(timestamp, now_unix)
        .map_or(Duration::MAX, |t| Duration::from_secs(t.abs_diff(now_unix)))
}

/// A validity or schedule time that is not an SMPP time.
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

/// Reads a validity or schedule time, which follow SMPP's format (SMPP 3.4 §7.1.1), as
/// Unix seconds; `None` for the empty field. Absolute `YYMMDDhhmmsstnn+`/`-` is local time
/// `nn` quarter hours ahead of or behind UTC (SGIP fixes `tnnp` to `032+`, Beijing time);
/// relative `YYMMDDhhmmss000R` is that long after `now_unix` (years and months on the
/// calendar, the day clamped to the month's last). Twelve digits without `tnnp`, which some
/// SPs send, are read as UTC+8.
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
    if bytes.len() != SMPP_TIME_LEN {
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

/// A status report's submit and done time, YYMMDDHHMM in UTC+8, as Unix seconds; `None`
/// when it is not ten digits naming a real minute (some gateways send twelve, with
/// seconds: accepted too).
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
mod tests;
