//! The UTC civil calendar, just enough of it to find where a limit period starts.
//!
//! Periods are calendar days and calendar months in UTC, so the state machine needs the
//! date of a timestamp. It must not read the system clock or a time-zone database (every
//! node has to compute the same answer from `Request::at_ms`), so this is the
//! proleptic-Gregorian days-from-civil arithmetic and its inverse, on plain integers.

use crate::Period;

/// Milliseconds in a UTC day (UTC has no leap seconds in Unix time).
pub const DAY_MS: u64 = 86_400_000;

/// Days since 1970-01-01 of the civil date `year-month-day` (month 1..=12, day 1..=31),
/// for years within ±10^15 (every year a `u64` of milliseconds can name, and more).
pub fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let (month, day) = (i64::from(month), i64::from(day));
    // Years start in March so that the leap day is the last day of the year.
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year.rem_euclid(400);
    let month_from_march = (month + 9) % 12;
    let day_of_year = (153 * month_from_march + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

/// The civil date `(year, month, day)` of a day counted from 1970-01-01.
pub fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let shifted = days + 719_468;
    let era = shifted.div_euclid(146_097);
    let day_of_era = shifted.rem_euclid(146_097);
    let year_of_era =
        (day_of_era - day_of_era / 1_460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_from_march = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_from_march + 2) / 5 + 1;
    let month = if month_from_march < 10 {
        month_from_march + 3
    } else {
        month_from_march - 9
    };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    // Both fit: month is 1..=12 and day 1..=31 by construction.
    (year, month as u32, day as u32)
}

/// The start (ms since the epoch) of the period that contains `at_ms`: UTC midnight for
/// `Day`, the first of the month at 00:00 UTC for `Month`.
pub fn period_start(at_ms: u64, period: Period) -> u64 {
    let days = at_ms / DAY_MS;
    match period {
        Period::Day => days * DAY_MS,
        Period::Month => {
            // `days` is below 2^38, so it fits an i64 and the month start is not negative.
            let (year, month, _) = civil_from_days(days as i64);
            let first = days_from_civil(year, month, 1);
            u64::try_from(first).unwrap_or(0).saturating_mul(DAY_MS)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(year: i64, month: u32, day: u32, hour: u64, minute: u64, second: u64) -> u64 {
        let days = u64::try_from(days_from_civil(year, month, day)).unwrap();
        days * DAY_MS + ((hour * 60 + minute) * 60 + second) * 1_000
    }

    #[test]
    fn epoch_and_known_dates() {
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(days_from_civil(2000, 3, 1), 11_017);
        assert_eq!(days_from_civil(1969, 12, 31), -1);
        // 2026-02-01T00:00:00Z is 1769904000 in Unix seconds.
        assert_eq!(ms(2026, 2, 1, 0, 0, 0), 1_769_904_000_000);
    }

    #[test]
    fn civil_round_trips_across_four_centuries() {
        for days in -200_000..200_000 {
            let (y, m, d) = civil_from_days(days);
            assert_eq!(days_from_civil(y, m, d), days, "{y}-{m}-{d}");
        }
    }

    #[test]
    fn leap_years_follow_the_gregorian_rule() {
        assert_eq!(
            civil_from_days(days_from_civil(2024, 2, 28) + 1),
            (2024, 2, 29)
        );
        assert_eq!(
            civil_from_days(days_from_civil(2026, 2, 28) + 1),
            (2026, 3, 1)
        );
        assert_eq!(
            civil_from_days(days_from_civil(2000, 2, 28) + 1),
            (2000, 2, 29)
        );
        assert_eq!(
            civil_from_days(days_from_civil(2100, 2, 28) + 1),
            (2100, 3, 1)
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
