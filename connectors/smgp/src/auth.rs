//! The Login authenticators and timestamps.
//!
//! A client proves it knows the shared secret with
//! `AuthenticatorClient = MD5(ClientID + 7 × 0x00 + secret + TimeStamp)`, the timestamp
//! written as ten decimal digits MMDDHHMMSS; the server answers with
//! `AuthenticatorServer = MD5(Status + AuthenticatorClient + secret)`, Status being four
//! big-endian octets. MD5 is what the protocol fixes, not a choice.
//!
//! The timestamp is the only freshness a Login has: a server should refuse one whose
//! timestamp is far from its own clock ([`timestamp_skew`]), or a recorded Login could be
//! replayed. Timestamps are in China Standard Time (UTC+8, see [`crate::time`]) and carry
//! no year, so the year is the one that puts the timestamp nearest to now.

use std::time::Duration;

use md5::{Digest, Md5};

use crate::codec::{Login, LoginResp};
use crate::time::{unix_now, Civil};

/// `MD5(client_id + 7 × 0x00 + secret + timestamp as "MMDDHHMMSS")`.
pub fn authenticator_client(client_id: &str, secret: &[u8], timestamp: u32) -> [u8; 16] {
    let mut md5 = Md5::new();
    md5.update(client_id.as_bytes());
    md5.update([0u8; 7]);
    md5.update(secret);
    md5.update(format!("{timestamp:010}").as_bytes());
    md5.finalize().into()
}

/// `MD5(Status as four big-endian octets + AuthenticatorClient + secret)`.
pub fn authenticator_server(
    status: u32,
    authenticator_client: &[u8; 16],
    secret: &[u8],
) -> [u8; 16] {
    let mut md5 = Md5::new();
    md5.update(status.to_be_bytes());
    md5.update(authenticator_client);
    md5.update(secret);
    md5.finalize().into()
}

/// Compares in constant time.
fn same(a: &[u8; 16], b: &[u8; 16]) -> bool {
    a.iter()
        .zip(b.iter())
        .fold(0u8, |diff, (x, y)| diff | (x ^ y))
        == 0
}

/// Server side: whether `login` carries the authenticator that `secret` gives. The
/// timestamp's freshness is checked apart ([`timestamp_skew`]).
pub fn verify_login(login: &Login, secret: &[u8]) -> bool {
    let expected = authenticator_client(&login.client_id, secret, login.timestamp);
    same(&expected, &login.authenticator_client)
}

/// Client side: whether an accepting `resp` to the Login that carried
/// `authenticator_client` proves the server knows `secret`. A refusal (status not 0)
/// carries no proof and is not verified.
pub fn verify_login_resp(resp: &LoginResp, authenticator_client: &[u8; 16], secret: &[u8]) -> bool {
    let expected = authenticator_server(resp.status, authenticator_client, secret);
    same(&expected, &resp.authenticator_server)
}

/// The Login timestamp for now.
pub fn timestamp_now() -> u32 {
    timestamp_from_unix(unix_now())
}

/// MMDDHHMMSS in UTC+8 as the decimal number Login carries.
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

/// How far a Login timestamp is from `now_unix`; `Duration::MAX` when it is not a valid
/// time, so that a window check `skew <= window` refuses it.
pub fn timestamp_skew(timestamp: u32, now_unix: i64) -> Duration {
    timestamp_to_unix_near(timestamp, now_unix)
        .map_or(Duration::MAX, |t| Duration::from_secs(t.abs_diff(now_unix)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::VERSION;

    fn hex(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }

    // Expected digests computed independently with Python's hashlib over the same octets.
    #[test]
    fn authenticators_match_known_vectors() {
        let client = authenticator_client("SP000001", b"secret", 301_120_000);
        assert_eq!(hex(&client), "f95e00f68b727f3ccb610d66e4de6844");
        let server = authenticator_server(0, &client, b"secret");
        assert_eq!(hex(&server), "6ffc09d34f66e370e5cd2b80335ec4ef");
    }

    #[test]
    fn both_sides_check_the_secret() {
        let login = Login {
            client_id: "SP000001".into(),
            authenticator_client: authenticator_client("SP000001", b"secret", 301_120_000),
            login_mode: 2,
            timestamp: 301_120_000,
            client_version: VERSION,
        };
        assert!(verify_login(&login, b"secret"));
        assert!(!verify_login(&login, b"Secret"));
        let later = Login {
            timestamp: 301_120_001,
            ..login.clone()
        };
        assert!(!verify_login(&later, b"secret"));

        let resp = LoginResp {
            status: 0,
            authenticator_server: authenticator_server(0, &login.authenticator_client, b"secret"),
            server_version: VERSION,
        };
        assert!(verify_login_resp(
            &resp,
            &login.authenticator_client,
            b"secret"
        ));
        assert!(!verify_login_resp(
            &resp,
            &login.authenticator_client,
            b"other"
        ));
        let forged = LoginResp {
            authenticator_server: [0; 16],
            ..resp
        };
        assert!(!verify_login_resp(
            &forged,
            &login.authenticator_client,
            b"secret"
        ));
    }

    #[test]
    fn timestamps_are_china_standard_time() {
        // 2024-03-01 12:00:00 +08:00 = 04:00:00 UTC.
        assert_eq!(timestamp_from_unix(1_709_265_600), 301_120_000);
        assert_eq!(
            timestamp_skew(301_120_005, 1_709_265_600),
            Duration::from_secs(5)
        );
        // Now: 2024-01-01 00:00:10 +08:00; the peer's clock says 12-31 23:59:50 (2023).
        assert_eq!(
            timestamp_skew(1_231_235_950, 1_704_038_410),
            Duration::from_secs(20)
        );
        for bad in [0, 1_301_000_000, 231_000_000, 4_294_967_295] {
            assert_eq!(timestamp_skew(bad, 1_709_265_600), Duration::MAX, "{bad}");
        }
    }
}
