//! Times and durations on the command line: milliseconds since the epoch or
//! `YYYY-MM-DDTHH:MM:SSZ` (UTC only, so no time zone database), and durations as
//! milliseconds or a number with `ms`, `s`, `m`, `h` or `d`.

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's `days_from_civil`).
fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let month = i64::from(month);
    let day_of_year = (153 * (month + if month > 2 { -3 } else { 9 }) + 2) / 5 + i64::from(day) - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

/// The date of a day since 1970-01-01 (`civil_from_days`).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z - era * 146_097;
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let mp = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    // Both are in range by construction: day 1..=31, month 1..=12.
    (year, day as u32, month as u32)
}

fn days_in_month(year: i64, month: u32) -> u32 {
    match month {
        2 if (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// `1767225600000` or `2026-01-01T00:00:00Z` as ms since the epoch.
pub fn parse_time(text: &str) -> Result<u64, String> {
    if let Ok(ms) = text.parse::<u64>() {
        return Ok(ms);
    }
    let bad = || format!("{text:?} is not ms since the epoch nor YYYY-MM-DDTHH:MM:SSZ");
    let rest = text.strip_suffix('Z').ok_or_else(bad)?;
    let (date, clock) = rest.split_once('T').ok_or_else(bad)?;
    let numbers = |s: &str, sep: char| -> Option<Vec<u32>> {
        s.split(sep).map(|n| n.parse::<u32>().ok()).collect()
    };
    let (Some([year, month, day]), Some([hour, minute, second])) = (
        numbers(date, '-').and_then(|v| <[u32; 3]>::try_from(v).ok()),
        numbers(clock, ':').and_then(|v| <[u32; 3]>::try_from(v).ok()),
    ) else {
        return Err(bad());
    };
    let year = i64::from(year);
    if !(1970..=9999).contains(&year)
        || !(1..=12).contains(&month)
        || day == 0
        || day > days_in_month(year, month)
        || hour > 23
        || minute > 59
        || second > 59
    {
        return Err(bad());
    }
    let seconds =
        days_from_civil(year, month, day) * 86_400 + i64::from(hour * 3600 + minute * 60 + second);
    u64::try_from(seconds * 1000).map_err(|_| bad())
}

/// ms since the epoch as `YYYY-MM-DDTHH:MM:SSZ`; `-` for 0.
pub fn format_time(ms: u64) -> String {
    if ms == 0 {
        return "-".into();
    }
    let seconds = i64::try_from(ms / 1000).unwrap_or(i64::MAX);
    let (year, day, month) = civil_from_days(seconds.div_euclid(86_400));
    let in_day = seconds.rem_euclid(86_400);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        in_day / 3600,
        in_day % 3600 / 60,
        in_day % 60
    )
}

/// `90000`, `90s`, `15m`, `2h` or `1d` as ms.
pub fn parse_duration(text: &str) -> Result<u64, String> {
    let bad = || format!("{text:?} is not ms nor a number with s, m, h or d");
    let (number, unit) = match text.find(|c: char| !c.is_ascii_digit()) {
        Some(at) => text.split_at(at),
        None => (text, ""),
    };
    let number: u64 = number.parse().map_err(|_| bad())?;
    let unit_ms = match unit {
        "" | "ms" => 1,
        "s" => 1000,
        "m" => 60_000,
        "h" => 3_600_000,
        "d" => 86_400_000,
        _ => return Err(bad()),
    };
    number.checked_mul(unit_ms).ok_or_else(bad)
}

/// ms as the largest whole unit (`2h`, `90m`, `45s`), or ms.
pub fn format_duration(ms: u64) -> String {
    for (unit, unit_ms) in [
        ("d", 86_400_000),
        ("h", 3_600_000),
        ("m", 60_000),
        ("s", 1000),
    ] {
        if ms >= unit_ms && ms.is_multiple_of(unit_ms) {
            return format!("{}{unit}", ms / unit_ms);
        }
    }
    format!("{ms}ms")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_round_trip() {
        for text in [
            "1970-01-01T00:00:01Z",
            "2000-02-29T12:34:56Z",
            "2026-01-01T00:00:00Z",
            "2099-12-31T23:59:59Z",
        ] {
            let ms = parse_time(text).unwrap();
            assert_eq!(format_time(ms), text);
        }
        assert_eq!(
            parse_time("2026-01-01T00:00:00Z").unwrap(),
            1_767_225_600_000
        );
        assert_eq!(parse_time("1767225600000").unwrap(), 1_767_225_600_000);
    }

    #[test]
    fn impossible_times_are_refused() {
        for text in [
            "2026-02-29T00:00:00Z",
            "2026-13-01T00:00:00Z",
            "2026-01-01T24:00:00Z",
            "2026-01-01T00:00:00",
            "2026-01-01",
            "yesterday",
        ] {
            assert!(parse_time(text).is_err(), "{text}");
        }
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("1500").unwrap(), 1500);
        assert_eq!(parse_duration("90s").unwrap(), 90_000);
        assert_eq!(parse_duration("2h").unwrap(), 7_200_000);
        assert_eq!(parse_duration("1d").unwrap(), 86_400_000);
        assert!(parse_duration("1w").is_err());
        assert!(parse_duration("h").is_err());
        for text in ["1d", "2h", "90m", "45s", "1500ms"] {
            assert_eq!(format_duration(parse_duration(text).unwrap()), text);
        }
    }
}
