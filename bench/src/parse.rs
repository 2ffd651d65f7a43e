//! Text forms of the bench's settings, shared by the flags and by anything that reads them
//! from a file: durations (`250ms`, `2s`), delay ranges (`100ms..2s`), weighted lists
//! (`DELIVRD=97,UNDELIV=2`) and accounts (`system_id:password`). Each error says what was
//! expected, so that a flag parser can put it after the flag's name.

use std::time::Duration;

/// A duration: a number with a unit (`us`, `ms`, `s`, `m`, `h`); a bare `0` is zero.
pub fn duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    if text == "0" {
        return Ok(Duration::ZERO);
    }
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .ok_or_else(|| format!("{text:?} has no unit (us, ms, s, m, h)"))?;
    let (number, unit) = text.split_at(split);
    let value: f64 = number
        .parse()
        .map_err(|_| format!("{text:?} does not start with a number"))?;
    let seconds = match unit {
        "us" | "µs" => value / 1e6,
        "ms" => value / 1e3,
        "s" => value,
        "m" | "min" => value * 60.0,
        "h" => value * 3600.0,
        other => {
            return Err(format!(
                "unknown unit {other:?} in {text:?} (us, ms, s, m, h)"
            ))
        }
    };
    Duration::try_from_secs_f64(seconds).map_err(|e| format!("{text:?}: {e}"))
}

/// A fixed duration or a uniform range `MIN..MAX`.
pub fn duration_range(text: &str) -> Result<(Duration, Duration), String> {
    match text.split_once("..") {
        Some((min, max)) => {
            let (min, max) = (duration(min)?, duration(max)?);
            if min > max {
                return Err(format!("range {text:?} ends before it starts"));
            }
            Ok((min, max))
        }
        None => {
            let fixed = duration(text)?;
            Ok((fixed, fixed))
        }
    }
}

/// `NAME=WEIGHT,NAME=WEIGHT`: the names as written, each weight a whole number.
pub fn weights(text: &str) -> Result<Vec<(String, u32)>, String> {
    let mut out = Vec::new();
    for item in text.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let (name, weight) = item
            .split_once('=')
            .ok_or_else(|| format!("{item:?} is not NAME=WEIGHT"))?;
        let weight = weight
            .trim()
            .parse()
            .map_err(|_| format!("weight of {name:?} is not a whole number: {weight:?}"))?;
        out.push((name.trim().to_owned(), weight));
    }
    if out.iter().all(|(_, w)| *w == 0) {
        return Err(format!("{text:?} has no non-zero weight"));
    }
    Ok(out)
}

/// `system_id:password` (the password may contain colons; it may be empty).
pub fn account(text: &str) -> Result<(String, String), String> {
    let (id, password) = text
        .split_once(':')
        .ok_or_else(|| format!("{text:?} is not SYSTEM_ID:PASSWORD"))?;
    if id.is_empty() || id.len() > 15 {
        return Err(format!("system_id {id:?} must be 1-15 characters"));
    }
    if password.len() > 8 {
        return Err("password must be at most 8 characters (SMPP 3.4 §5.2.2)".into());
    }
    Ok((id.to_owned(), password.to_owned()))
}

/// A rate or probability between 0 and 1.
pub fn fraction(text: &str) -> Result<f64, String> {
    let value: f64 = text
        .trim()
        .parse()
        .map_err(|_| format!("{text:?} is not a number"))?;
    if !(0.0..=1.0).contains(&value) {
        return Err(format!("{value} is not between 0 and 1"));
    }
    Ok(value)
}

/// Serialises a duration as seconds, for reports: `0.25` reads better than
/// `{"secs":0,"nanos":250000000}`.
pub(crate) fn secs<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64(d.as_secs_f64())
}

pub(crate) fn opt_secs<S: serde::Serializer>(
    d: &Option<Duration>,
    s: S,
) -> Result<S::Ok, S::Error> {
    match d {
        Some(d) => s.serialize_some(&d.as_secs_f64()),
        None => s.serialize_none(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_need_a_unit() {
        assert_eq!(duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(duration("1.5s"), Ok(Duration::from_millis(1500)));
        assert_eq!(duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(duration("0"), Ok(Duration::ZERO));
        assert!(duration("10").is_err());
        assert!(duration("10 parsecs").is_err());
    }

    #[test]
    fn ranges_are_fixed_or_ordered() {
        let ms = Duration::from_millis;
        assert_eq!(duration_range("100ms..2s"), Ok((ms(100), ms(2000))));
        assert_eq!(duration_range("300ms"), Ok((ms(300), ms(300))));
        assert!(duration_range("2s..1s").is_err());
    }

    #[test]
    fn weights_and_accounts() {
        assert_eq!(
            weights("DELIVRD=97, UNDELIV=3"),
            Ok(vec![("DELIVRD".into(), 97), ("UNDELIV".into(), 3)])
        );
        assert!(weights("DELIVRD=0").is_err());
        assert!(weights("DELIVRD").is_err());
        assert_eq!(
            account("acme:se:cret"),
            Ok(("acme".into(), "se:cret".into()))
        );
        assert!(account("nopassword").is_err());
        assert!(fraction("1.2").is_err());
    }
}
