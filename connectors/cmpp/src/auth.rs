//! The CONNECT authenticators and timestamps.
//!
//! A client proves it knows the shared secret with
//! `AuthenticatorSource = MD5(Source_Addr + 9 × 0x00 + secret + Timestamp)`, the timestamp
//! written as ten decimal digits MMDDHHMMSS; the gateway answers with
//! `AuthenticatorISMG = MD5(Status + AuthenticatorSource + secret)`, Status being one octet
//! in 2.0 and four big-endian octets in 3.0. MD5 is what the protocol fixes, not a choice.
//!
//! The timestamp is the only freshness a CONNECT has: a gateway should refuse one whose
//! timestamp is far from its own clock ([`timestamp_skew`]), or a recorded CONNECT could be
//! replayed. Timestamps are in China Standard Time (UTC+8, see [`crate::time`]) and carry no
//! year, so the year is the one that puts the timestamp nearest to now.

use std::time::Duration;

use md5::{Digest, Md5};

use crate::codec::{Connect, Version};
use crate::time::{unix_now, Civil};

/// `MD5(source_addr + 9 × 0x00 + secret + timestamp as "MMDDHHMMSS")`.
pub fn authenticator_source(source_addr: &str, secret: &[u8], timestamp: u32) -> [u8; 16] {
    let mut md5 = Md5::new();
    md5.update(source_addr.as_bytes());
    md5.update([0u8; 9]);
    md5.update(secret);
    md5.update(format!("{timestamp:010}").as_bytes());
    md5.finalize().into()
}

/// `MD5(Status + AuthenticatorSource + secret)`: Status is one octet in 2.0 (its low octet,
/// which is what a 2.0 CONNECT_RESP carries) and four big-endian octets in 3.0.
pub fn authenticator_ismg(
    status: u32,
    version: Version,
    authenticator_source: &[u8; 16],
    secret: &[u8],
) -> [u8; 16] {
    let mut md5 = Md5::new();
    match version {
        Version::V20 => md5.update(status.to_be_bytes().get(3..).unwrap_or_default()),
        Version::V30 => md5.update(status.to_be_bytes()),
    }
    md5.update(authenticator_source);
    md5.update(secret);
    md5.finalize().into()
}

/// Whether `connect` carries the authenticator that `secret` gives, compared in constant
/// time. The timestamp's freshness is checked apart ([`timestamp_skew`]).
pub fn verify_connect(connect: &Connect, secret: &[u8]) -> bool {
    let expected = authenticator_source(&connect.source_addr, secret, connect.timestamp);
    expected
        .iter()
        .zip(connect.authenticator_source.iter())
        .fold(0u8, |diff, (a, b)| diff | (a ^ b))
        == 0
}

/// The CONNECT timestamp for now.
pub fn timestamp_now() -> u32 {
    timestamp_from_unix(unix_now())
}

/// MMDDHHMMSS in UTC+8 as the decimal number CONNECT carries.
pub fn timestamp_from_unix(unix: i64) -> u32 {
    let c = Civil::from_unix(unix);
    c.month * 100_000_000 + c.day * 1_000_000 + c.hour * 10_000 + c.minute * 100 + c.second
}

/// The instant a timestamp names, in the year (last, this or next, in UTC+8) that puts it
/// nearest to `now_unix`; `None` when it is not a valid date and time in any of them.
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

/// How far a CONNECT timestamp is from `now_unix`; `Duration::MAX` when it is not a valid
/// time, so that a window check `skew <= window` refuses it.
pub fn timestamp_skew(timestamp: u32, now_unix: i64) -> Duration {
    timestamp_to_unix_near(timestamp, now_unix)
        .map_or(Duration::MAX, |t| Duration::from_secs(t.abs_diff(now_unix)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }

    // Expected digests computed independently with Python's hashlib over the same octets.
    #[test]
    fn authenticators_match_known_vectors() {
        let source = authenticator_source("901234", b"secret", 301_120_000);
        assert_eq!(hex(&source), "fc3cd926e844cead2242699961b0db41");
        let v20 = authenticator_ismg(0, Version::V20, &source, b"secret");
        assert_eq!(hex(&v20), "6c8cc3eabe10db9c02a68166fc31bd98");
        let v30 = authenticator_ismg(0, Version::V30, &source, b"secret");
        assert_eq!(hex(&v30), "1c73c49af1e163f7c3cb6ff410d0f610");
    }

    #[test]
    fn verify_connect_checks_the_secret() {
        let connect = Connect {
            source_addr: "901234".into(),
            authenticator_source: authenticator_source("901234", b"secret", 301_120_000),
            version: 0x30,
            timestamp: 301_120_000,
        };
        assert!(verify_connect(&connect, b"secret"));
        assert!(!verify_connect(&connect, b"Secret"));
        let later = Connect {
            timestamp: 301_120_001,
            ..connect
        };
        assert!(!verify_connect(&later, b"secret"));
    }

    #[test]
    fn timestamps_are_china_standard_time() {
        // 2024-03-01 12:00:00 +08:00 = 04:00:00 UTC.
        assert_eq!(timestamp_from_unix(1_709_265_600), 301_120_000);
        assert_eq!(
            timestamp_to_unix_near(301_120_000, 1_709_265_600),
            Some(1_709_265_600)
        );
        assert_eq!(
            timestamp_skew(301_120_005, 1_709_265_600),
            Duration::from_secs(5)
        );
    }

    #[test]
    fn the_year_is_the_nearest_one() {
        // Now: 2024-01-01 00:00:10 +08:00; the peer's clock says 12-31 23:59:50 (2023).
        let now = 1_704_038_410;
        assert_eq!(timestamp_skew(1_231_235_950, now), Duration::from_secs(20));
        // And the reverse across the new year.
        let now = 1_704_038_390; // 2023-12-31 23:59:50 +08:00
        assert_eq!(timestamp_skew(101_000_010, now), Duration::from_secs(20));
    }

    #[test]
    fn invalid_timestamps_are_infinitely_far() {
        let now = 1_709_265_600;
        for ts in [
            0,
            1_301_000_000,
            231_000_000,
            229_000_000 + 24 * 10_000,
            4_294_967_295,
        ] {
            assert_eq!(timestamp_skew(ts, now), Duration::MAX, "{ts}");
        }
        // 02-29 exists in 2024.
        assert!(timestamp_to_unix_near(229_120_000, now).is_some());
    }
}
