//! The server's checks on a Login that SMGP and CNGP share: the AuthenticatorClient
//! against the account's secret, compared in constant time, and the timestamp against a
//! window around now, so that a recorded Login cannot be replayed later.

use std::time::Duration;

use crate::auth::{authenticator_client, same_authenticator};
use crate::time::timestamp_skew;

/// UTC+8, the clock Login timestamps are written in.
const CHINA_OFFSET_SECS: i64 = 8 * 3600;

/// Why a server refuses a Login whose account it knows; both get the authentication
/// status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthFailure {
    /// The AuthenticatorClient is not the MD5 of the account's secret: a wrong secret.
    Authenticator,
    /// The timestamp is further than the window from now: a replay, or a clock far off.
    Timestamp,
}

impl AuthFailure {
    /// A bounded metric label.
    pub fn label(self) -> &'static str {
        match self {
            AuthFailure::Authenticator => "authenticator",
            AuthFailure::Timestamp => "timestamp",
        }
    }
}

/// Checks a Login's authenticator with `secret` and its timestamp with `window` around
/// `now_unix`.
pub fn check_login(
    client_id: &str,
    authenticator: &[u8; 16],
    timestamp: u32,
    secret: &[u8],
    window: Duration,
    now_unix: i64,
) -> Result<(), AuthFailure> {
    let expected = authenticator_client(client_id, secret, timestamp);
    if !same_authenticator(&expected, authenticator) {
        return Err(AuthFailure::Authenticator);
    }
    // The specification's clock is China time; SPs whose hosts run on UTC write UTC.
    // Either reading within the window is fresh: the window still refuses replays.
    let china = timestamp_skew(timestamp, now_unix);
    let utc = timestamp_skew(timestamp, now_unix - CHINA_OFFSET_SECS);
    if china.min(utc) > window {
        return Err(AuthFailure::Timestamp);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::timestamp_from_unix;

    #[test]
    fn timestamps_in_china_time_or_utc_are_fresh_and_old_ones_are_not() {
        let now = 1_795_400_000;
        let window = Duration::from_secs(900);
        let check = |secret: &[u8], timestamp: u32| {
            let authenticator = authenticator_client("SP0001", b"s", timestamp);
            check_login("SP0001", &authenticator, timestamp, secret, window, now)
        };
        let china = timestamp_from_unix(now);
        let utc = timestamp_from_unix(now - CHINA_OFFSET_SECS);
        let old = timestamp_from_unix(now - 3600);
        assert_eq!(check(b"s", china), Ok(()));
        assert_eq!(check(b"s", utc), Ok(()));
        assert_eq!(check(b"s", old), Err(AuthFailure::Timestamp));
        assert_eq!(check(b"other", china), Err(AuthFailure::Authenticator));
    }
}
