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
//! no year, so the year is the one that puts the timestamp nearest to now. The digests and
//! the timestamps are `tern-cn`'s, which SMGP defines alike.

use tern_cn::auth::{same_authenticator, server_authenticator};

use crate::codec::{status, Login, LoginResp, VERSION};

pub use tern_cn::auth::{authenticator_client, authenticator_server};
pub use tern_cn::time::{
    timestamp_from_unix, timestamp_now, timestamp_skew, timestamp_to_unix_near,
};

/// The longest shared secret the specification allows.
pub const MAX_SECRET_LEN: usize = 15;

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
    same_authenticator(&expected, &login.authenticator_client)
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
    let octets = status.to_be_bytes();
    let one = server_authenticator(
        octets.get(3..).unwrap_or_default(),
        authenticator_client,
        secret,
    );
    same_authenticator(&four, &resp.authenticator_server)
        | same_authenticator(&one, &resp.authenticator_server)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::login_mode;

    // The digests are tern-cn's, checked against known vectors there. A client here also
    // takes a server that hashes Status in one octet.
    #[test]
    fn either_status_width_verifies() {
        let client = authenticator_client("SP0001", b"secret", 301_120_000);
        let four = LoginResp {
            authenticator_server: authenticator_server(0x0102_0304, &client, b"k"),
            version: 0x20,
        };
        let one = LoginResp {
            authenticator_server: server_authenticator(&[4], &client, b"k"),
            ..four
        };
        for resp in [four, one] {
            assert!(verify_login_resp(&resp, 0x0102_0304, &client, b"k"));
            assert!(!verify_login_resp(&resp, 0x0102_0304, &client, b"K"));
        }
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
}
