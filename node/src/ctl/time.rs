//! Times and durations on the command line: milliseconds since the epoch or
//! `YYYY-MM-DDTHH:MM:SSZ` (UTC only, so no time zone database), and durations as
//! milliseconds or a number with `ms`, `s`, `m`, `h` or `d`.

use time::{Date, Month, OffsetDateTime, PrimitiveDateTime, Time};

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
    if !(1970..=9999).contains(&year) {
        return Err(bad());
    }
    let narrow = |n: u32| u8::try_from(n).map_err(|_| bad());
    let (month, day) = (narrow(month)?, narrow(day)?);
    // The year was checked to be 1970-9999, which fits.
    let date = Month::try_from(month)
        .and_then(|month| Date::from_calendar_date(year as i32, month, day))
        .map_err(|_| bad())?;
    let clock =
        Time::from_hms(narrow(hour)?, narrow(minute)?, narrow(second)?).map_err(|_| bad())?;
    let seconds = PrimitiveDateTime::new(date, clock)
        .assume_utc()
        .unix_timestamp();
    u64::try_from(seconds * 1000).map_err(|_| bad())
}

/// ms since the epoch as `YYYY-MM-DDTHH:MM:SSZ`; `-` for 0.
pub fn format_time(ms: u64) -> String {
    if ms == 0 {
        return "-".into();
    }
    let seconds = i64::try_from(ms / 1000).unwrap_or(i64::MAX);
    // Past the year 9999 there is no date to print: the number is shown as it is.
    let Ok(t) = OffsetDateTime::from_unix_timestamp(seconds) else {
        return ms.to_string();
    };
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
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
