//! The Login authenticators and timestamps, for both sides.
//!
//! A client proves it knows the shared secret with
//! `AuthenticatorClient = MD5(ClientID + 7 × 0x00 + secret + TimeStamp)`, the timestamp
//! written as ten decimal digits MMDDHHMMSS; the server answers with
//! `AuthenticatorServer = MD5(Status + AuthenticatorClient + secret)`, Status being the
//! Login_Resp's Command_Status as four big-endian octets, and zeros when the login is
//! refused. The secret is at most 15 octets by the specification. MD5 is what the protocol
//! fixes, not a choice.
//!
//! The timestamp is the only freshness a Login has: a server should refuse one whose
//! timestamp is far from its own clock ([`timestamp_skew`]), or a recorded Login could be
//! replayed. Timestamps are in China Standard Time (UTC+8, see [`crate::time`]) and carry
//! no year, so the year is the one that puts the timestamp nearest to now.

use std::time::Duration;

use md5::{Digest, Md5};

use crate::codec::{status, Login, LoginResp, VERSION};
use crate::time::{unix_now, Civil};

/// The longest shared secret the specification allows.
pub const MAX_SECRET_LEN: usize = 15;

/// `MD5(client_id + 7 × 0x00 + secret + timestamp as "MMDDHHMMSS")`.
pub fn authenticator_client(client_id: &str, secret: &[u8], timestamp: u32) -> [u8; 16] {
    let mut md5 = Md5::new();
    md5.update(client_id.as_bytes());
    md5.update([0u8; 7]);
    md5.update(secret);
    md5.update(format!("{timestamp:010}").as_bytes());
    md5.finalize().into()
}

/// `MD5(status as four big-endian octets + authenticator_client + secret)`.
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

/// The Login a client sends at `timestamp` ([`timestamp_now`] in production).
pub fn login(client_id: &str, secret: &[u8], login_mode: u8, timestamp: u32) -> Login {
    Login {
        client_id: client_id.to_owned(),
        authenticator_client: authenticator_client(client_id, secret, timestamp),
        login_mode,
        timestamp,
        version: VERSION,
    }
}

/// Whether `login` carries the authenticator that `secret` gives, compared in constant
/// time. The timestamp's freshness is checked apart ([`timestamp_skew`]).
pub fn verify_login(login: &Login, secret: &[u8]) -> bool {
    let expected = authenticator_client(&login.client_id, secret, login.timestamp);
    same(&expected, &login.authenticator_client)
}

/// The server's answer to `login` with `status`: the authenticator when the status is
/// [`status::OK`], zeros otherwise, and the version capped at 2.0.
pub fn login_resp(login: &Login, status: u32, secret: &[u8]) -> LoginResp {
    LoginResp {
        authenticator_server: if status == status::OK {
            authenticator_server(status, &login.authenticator_client, secret)
        } else {
            [0; 16]
        },
        version: login.version.min(VERSION),
    }
}

/// Whether a successful Login_Resp proves the server knows `secret`. Status is hashed as
/// four octets; the one-octet form that some servers use (as in CMPP 2.0) is accepted
/// too, since a client gains nothing by refusing a server that knows the secret.
pub fn verify_login_resp(
    resp: &LoginResp,
    status: u32,
    authenticator_client: &[u8; 16],
    secret: &[u8],
) -> bool {
    let four = authenticator_server(status, authenticator_client, secret);
    let mut md5 = Md5::new();
    md5.update(status.to_be_bytes().get(3..).unwrap_or_default());
    md5.update(authenticator_client);
    md5.update(secret);
    let one: [u8; 16] = md5.finalize().into();
    same(&four, &resp.authenticator_server) | same(&one, &resp.authenticator_server)
}

/// Compares without stopping at the first difference.
fn same(a: &[u8; 16], b: &[u8; 16]) -> bool {
    a.iter().zip(b).fold(0u8, |diff, (x, y)| diff | (x ^ y)) == 0
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
    use crate::codec::login_mode;

    fn hex(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }

    // Expected digests computed independently with Python's hashlib over the same octets:
    // md5(b"SP0001" + b"\0" * 7 + b"secret" + b"0301120000"), then
    // md5(b"\0\0\0\0" + that + b"secret") and md5(b"\0" + that + b"secret").
    #[test]
    fn authenticators_match_known_vectors() {
        let client = authenticator_client("SP0001", b"secret", 301_120_000);
        assert_eq!(hex(&client), "582700f81359a8a1a79af2087e7b4e15");
        let server = authenticator_server(0, &client, b"secret");
        assert_eq!(hex(&server), "9d1e54ebea42c1a92f1aa35ed8921f64");
        let one_octet = LoginResp {
            authenticator_server: hex_array("130f149a2140847a8c4e9f29b7f93891"),
            version: 0x20,
        };
        assert!(verify_login_resp(&one_octet, 0, &client, b"secret"));
    }

    fn hex_array(text: &str) -> [u8; 16] {
        core::array::from_fn(|i| u8::from_str_radix(&text[2 * i..2 * i + 2], 16).expect("hex"))
    }

    #[test]
    fn a_login_verifies_with_its_secret_only() {
        let l = login("SP0001", b"secret", login_mode::TRANSMIT, 301_120_000);
        assert_eq!(l.version, 0x20);
        assert!(verify_login(&l, b"secret"));
        assert!(!verify_login(&l, b"Secret"));
        let later = Login {
            timestamp: 301_120_001,
            ..l.clone()
        };
        assert!(!verify_login(&later, b"secret"));
    }

    #[test]
    fn the_server_answer_verifies_and_refusals_carry_zeros() {
        let l = login("SP0001", b"secret", login_mode::SEND, 301_120_000);
        let resp = login_resp(&l, status::OK, b"secret");
        assert!(verify_login_resp(
            &resp,
            0,
            &l.authenticator_client,
            b"secret"
        ));
        assert!(!verify_login_resp(
            &resp,
            0,
            &l.authenticator_client,
            b"other"
        ));
        let refused = login_resp(&l, status::AUTH_FAILED, b"secret");
        assert_eq!(refused.authenticator_server, [0; 16]);
        let newer = Login { version: 0x30, ..l };
        assert_eq!(login_resp(&newer, 0, b"secret").version, 0x20);
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
        // Across the new year: the peer says 12-31 23:59:50, now is 2024-01-01 00:00:10.
        assert_eq!(
            timestamp_skew(1_231_235_950, 1_704_038_410),
            Duration::from_secs(20)
        );
        for bad in [0, 1_301_000_000, 231_000_000, 4_294_967_295] {
            assert_eq!(timestamp_skew(bad, 1_709_265_600), Duration::MAX, "{bad}");
        }
    }
}
