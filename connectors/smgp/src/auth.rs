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
//! no year, so the year is the one that puts the timestamp nearest to now. The digests and
//! the timestamps are `tern-cn`'s, which CNGP defines alike.

use tern_cn::auth::same_authenticator;

use crate::codec::{Login, LoginResp};

pub use tern_cn::auth::{authenticator_client, authenticator_server};
pub use tern_cn::time::{
    timestamp_from_unix, timestamp_now, timestamp_skew, timestamp_to_unix_near,
};

/// Server side: whether `login` carries the authenticator that `secret` gives. The
/// timestamp's freshness is checked apart ([`timestamp_skew`]).
pub fn verify_login(login: &Login, secret: &[u8]) -> bool {
    let expected = authenticator_client(&login.client_id, secret, login.timestamp);
    same_authenticator(&expected, &login.authenticator_client)
}

/// Client side: whether an accepting `resp` to the Login that carried
/// `authenticator_client` proves the server knows `secret`. A refusal (status not 0)
/// carries no proof and is not verified.
pub fn verify_login_resp(resp: &LoginResp, authenticator_client: &[u8; 16], secret: &[u8]) -> bool {
    let expected = authenticator_server(resp.status, authenticator_client, secret);
    same_authenticator(&expected, &resp.authenticator_server)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::VERSION;

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
}
