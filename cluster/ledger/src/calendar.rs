//! The UTC civil calendar, just enough of it to find where a limit period starts.
//!
//! Periods are calendar days and calendar months in UTC, so the state machine needs the
//! date of a timestamp. It must not read the system clock or a time-zone database (every
//! node has to compute the same answer from `Request::at_ms`): the `time` crate's
//! proleptic-Gregorian dates are pure arithmetic on their input.

use time::{Date, Month, OffsetDateTime};

use crate::Period;

/// Milliseconds in a UTC day (UTC has no leap seconds in Unix time).
pub const DAY_MS: u64 = 86_400_000;

/// The date of day `days` counted from 1970-01-01; `None` beyond the years ±9999.
fn date_of_day(days: u64) -> Option<Date> {
    let epoch = OffsetDateTime::UNIX_EPOCH.date().to_julian_day();
    let julian = i32::try_from(days).ok()?.checked_add(epoch)?;
    Date::from_julian_day(julian).ok()
}

/// Days from 1970-01-01 to `date` (not before it).
fn day_of_date(date: Date) -> u64 {
    let epoch = OffsetDateTime::UNIX_EPOCH.date().to_julian_day();
    u64::try_from(date.to_julian_day() - epoch).unwrap_or(0)
}

/// Midnight UTC of `year-month-day` in ms since the epoch; `None` for no such date or one
/// before 1970.
pub fn midnight_ms(year: i32, month: u8, day: u8) -> Option<u64> {
    let date = Date::from_calendar_date(year, Month::try_from(month).ok()?, day).ok()?;
    (date >= OffsetDateTime::UNIX_EPOCH.date()).then(|| day_of_date(date) * DAY_MS)
}

/// The start (ms since the epoch) of the period that contains `at_ms`: UTC midnight for
/// `Day`, the first of the month at 00:00 UTC for `Month`. A time past the year 9999 has
/// no calendar here: its period starts at its day's midnight.
pub fn period_start(at_ms: u64, period: Period) -> u64 {
    let days = at_ms / DAY_MS;
    match period {
        Period::Day => days * DAY_MS,
        Period::Month => date_of_day(days)
            .and_then(|date| date.replace_day(1).ok())
            .map_or(days * DAY_MS, |first| day_of_date(first) * DAY_MS),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(year: i32, month: u8, day: u8, hour: u64, minute: u64, second: u64) -> u64 {
        midnight_ms(year, month, day).unwrap() + ((hour * 60 + minute) * 60 + second) * 1_000
    }

    #[test]
    fn epoch_and_known_dates() {
        assert_eq!(midnight_ms(1970, 1, 1), Some(0));
        assert_eq!(midnight_ms(2000, 3, 1), Some(11_017 * DAY_MS));
        assert_eq!(midnight_ms(1969, 12, 31), None);
        assert_eq!(midnight_ms(2026, 2, 29), None);
        // 2026-02-01T00:00:00Z is 1769904000 in Unix seconds.
        assert_eq!(ms(2026, 2, 1, 0, 0, 0), 1_769_904_000_000);
    }

    #[test]
    fn months_start_on_the_first_across_four_centuries() {
        // Every day from 1970 to 2370: the month start is a first, at most 30 days back.
        for day in 0..146_097u64 {
            let start = period_start(day * DAY_MS + 1, Period::Month);
            let first = date_of_day(start / DAY_MS).unwrap();
            assert_eq!(first.day(), 1, "day {day}");
            assert!(day - start / DAY_MS <= 30, "day {day}");
            assert_eq!(
                date_of_day(day).unwrap().month(),
                first.month(),
                "day {day}"
            );
        }
    }

    #[test]
    fn leap_years_follow_the_gregorian_rule() {
        assert!(midnight_ms(2024, 2, 29).is_some());
        assert!(midnight_ms(2000, 2, 29).is_some());
        assert!(midnight_ms(2100, 2, 29).is_none());
        assert_eq!(
            midnight_ms(2024, 3, 1).unwrap() - midnight_ms(2024, 2, 28).unwrap(),
            2 * DAY_MS
        );
    }

    #[test]
    fn day_period_starts_at_utc_midnight() {
        let late = ms(2026, 1, 31, 23, 59, 59) + 999;
        assert_eq!(period_start(late, Period::Day), ms(2026, 1, 31, 0, 0, 0));
        let next = ms(2026, 2, 1, 0, 0, 0);
        assert_eq!(period_start(next, Period::Day), next);
    }

    #[test]
    fn month_period_starts_on_the_first() {
        let late = ms(2026, 1, 31, 23, 59, 59);
        assert_eq!(period_start(late, Period::Month), ms(2026, 1, 1, 0, 0, 0));
        assert_eq!(
            period_start(ms(2026, 2, 1, 0, 0, 0), Period::Month),
            ms(2026, 2, 1, 0, 0, 0)
        );
        assert_eq!(
            period_start(ms(2024, 2, 29, 12, 0, 0), Period::Month),
            ms(2024, 2, 1, 0, 0, 0)
        );
        assert_eq!(
            period_start(ms(2024, 12, 31, 23, 0, 0), Period::Month),
            ms(2024, 12, 1, 0, 0, 0)
        );
    }

    #[test]
    fn extreme_timestamps_do_not_panic() {
        assert_eq!(period_start(0, Period::Month), 0);
        let _ = period_start(u64::MAX, Period::Month);
        let _ = period_start(u64::MAX, Period::Day);
    }
}
