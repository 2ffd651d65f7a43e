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
//! year, so the year is the one that puts the timestamp nearest to now. The digests and the
//! timestamps are `tern-cn`'s; the padding and the Status widths are CMPP's.

use tern_cn::auth::{client_authenticator, same_authenticator, server_authenticator};

use crate::codec::{Connect, Version};

pub use tern_cn::time::{
    timestamp_from_unix, timestamp_now, timestamp_skew, timestamp_to_unix_near,
};

/// `MD5(source_addr + 9 × 0x00 + secret + timestamp as "MMDDHHMMSS")`.
pub fn authenticator_source(source_addr: &str, secret: &[u8], timestamp: u32) -> [u8; 16] {
    client_authenticator(source_addr, 9, secret, timestamp)
}

/// `MD5(Status + AuthenticatorSource + secret)`: Status is one octet in 2.0 (its low octet,
/// which is what a 2.0 CONNECT_RESP carries) and four big-endian octets in 3.0.
pub fn authenticator_ismg(
    status: u32,
    version: Version,
    authenticator_source: &[u8; 16],
    secret: &[u8],
) -> [u8; 16] {
    let octets = status.to_be_bytes();
    let status = match version {
        Version::V20 => octets.get(3..).unwrap_or_default(),
        Version::V30 => &octets[..],
    };
    server_authenticator(status, authenticator_source, secret)
}

/// Whether `connect` carries the authenticator that `secret` gives, compared in constant
/// time. The timestamp's freshness is checked apart ([`timestamp_skew`]).
pub fn verify_connect(connect: &Connect, secret: &[u8]) -> bool {
    let expected = authenticator_source(&connect.source_addr, secret, connect.timestamp);
    same_authenticator(&expected, &connect.authenticator_source)
}

#[cfg(test)]
mod tests {
    use super::*;

    // The digests are tern-cn's, checked against known vectors there; CMPP's are the nine
    // zeros after Source_Addr and the width of Status by version.
    #[test]
    fn connect_pads_with_nine_zeros_and_status_width_follows_the_version() {
        let source = authenticator_source("901234", b"secret", 301_120_000);
        assert_eq!(
            source,
            client_authenticator("901234", 9, b"secret", 301_120_000)
        );
        let v20 = authenticator_ismg(0x0102_0304, Version::V20, &source, b"k");
        assert_eq!(v20, server_authenticator(&[4], &source, b"k"));
        let v30 = authenticator_ismg(0x0102_0304, Version::V30, &source, b"k");
        assert_eq!(v30, server_authenticator(&[1, 2, 3, 4], &source, b"k"));
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
}
