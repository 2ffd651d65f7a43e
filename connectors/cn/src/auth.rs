//! The login authenticators: MD5 over the account, the shared secret and the timestamp.
//!
//! CMPP's CONNECT, SMGP's and CNGP's Login prove the client knows the shared secret with
//! `MD5(account + N × 0x00 + secret + timestamp)`, the timestamp written as ten decimal
//! digits MMDDHHMMSS (China time, see [`crate::time`]) and N the zeros the protocol pads
//! with (9 in CMPP, 7 in SMGP and CNGP). The server answers with
//! `MD5(status + client authenticator + secret)`, the status in as many octets as the
//! protocol writes it. MD5 is what the protocols fix, not a choice. CMPP's names and widths
//! stay in its crate; SMGP and CNGP define theirs alike ([`authenticator_client`],
//! [`authenticator_server`]). The timestamp's freshness is [`crate::time::timestamp_skew`].

use md5::{Digest, Md5};

/// `MD5(account + padding × 0x00 + secret + timestamp as "MMDDHHMMSS")`.
pub fn client_authenticator(
    account: &str,
    padding: usize,
    secret: &[u8],
    timestamp: u32,
) -> [u8; 16] {
    let mut md5 = Md5::new();
    md5.update(account.as_bytes());
    md5.update(vec![0u8; padding]);
    md5.update(secret);
    md5.update(format!("{timestamp:010}").as_bytes());
    md5.finalize().into()
}

/// `MD5(status + client authenticator + secret)`, `status` being the octets the protocol
/// hashes (one or four, big-endian).
pub fn server_authenticator(status: &[u8], client: &[u8; 16], secret: &[u8]) -> [u8; 16] {
    let mut md5 = Md5::new();
    md5.update(status);
    md5.update(client);
    md5.update(secret);
    md5.finalize().into()
}

/// SMGP 3.0's and CNGP 2.0's Login, which define the authenticators alike:
/// `AuthenticatorClient = MD5(ClientID + 7 × 0x00 + secret + TimeStamp)`.
pub fn authenticator_client(client_id: &str, secret: &[u8], timestamp: u32) -> [u8; 16] {
    client_authenticator(client_id, 7, secret, timestamp)
}

/// SMGP 3.0's and CNGP 2.0's Login_Resp:
/// `AuthenticatorServer = MD5(Status as four big-endian octets + AuthenticatorClient +
/// secret)`.
pub fn authenticator_server(
    status: u32,
    authenticator_client: &[u8; 16],
    secret: &[u8],
) -> [u8; 16] {
    server_authenticator(&status.to_be_bytes(), authenticator_client, secret)
}

/// Whether two authenticators are equal, compared without stopping at the first difference
/// so that the time a refusal takes does not tell how much of a guess was right.
pub fn same_authenticator(a: &[u8; 16], b: &[u8; 16]) -> bool {
    a.iter().zip(b).fold(0u8, |diff, (x, y)| diff | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Sixteen octets written as 32 hexadecimal digits.
    fn digest(text: &str) -> [u8; 16] {
        core::array::from_fn(|i| u8::from_str_radix(&text[2 * i..2 * i + 2], 16).expect("hex"))
    }

    // Expected digests computed independently with Python's hashlib over the same octets:
    // md5(account + b"\0" * padding + b"secret" + b"0301120000"), then
    // md5(status + that + b"secret") with status b"\0" or b"\0\0\0\0".
    #[test]
    fn authenticators_match_known_vectors() {
        for (account, padding, client, one, four) in [
            // CMPP's CONNECT.
            (
                "901234",
                9,
                "fc3cd926e844cead2242699961b0db41",
                "6c8cc3eabe10db9c02a68166fc31bd98",
                "1c73c49af1e163f7c3cb6ff410d0f610",
            ),
            // A CNGP Login.
            (
                "SP0001",
                7,
                "582700f81359a8a1a79af2087e7b4e15",
                "130f149a2140847a8c4e9f29b7f93891",
                "9d1e54ebea42c1a92f1aa35ed8921f64",
            ),
        ] {
            let got = client_authenticator(account, padding, b"secret", 301_120_000);
            assert_eq!(got, digest(client), "{account}");
            assert_eq!(server_authenticator(&[0], &got, b"secret"), digest(one));
            assert_eq!(server_authenticator(&[0; 4], &got, b"secret"), digest(four));
        }
        // An SMGP Login.
        let smgp = client_authenticator("SP000001", 7, b"secret", 301_120_000);
        assert_eq!(smgp, digest("f95e00f68b727f3ccb610d66e4de6844"));
        assert_eq!(
            server_authenticator(&[0; 4], &smgp, b"secret"),
            digest("6ffc09d34f66e370e5cd2b80335ec4ef")
        );
    }

    #[test]
    fn smgp_and_cngp_pad_with_seven_zeros_and_hash_four_status_octets() {
        let client = authenticator_client("SP0001", b"secret", 301_120_000);
        assert_eq!(client, digest("582700f81359a8a1a79af2087e7b4e15"));
        assert_eq!(
            authenticator_server(0, &client, b"secret"),
            digest("9d1e54ebea42c1a92f1aa35ed8921f64")
        );
    }

    #[test]
    fn every_input_changes_the_authenticator() {
        let base = client_authenticator("SP0001", 7, b"secret", 301_120_000);
        assert!(same_authenticator(
            &base,
            &client_authenticator("SP0001", 7, b"secret", 301_120_000)
        ));
        for other in [
            client_authenticator("SP0002", 7, b"secret", 301_120_000),
            client_authenticator("SP0001", 9, b"secret", 301_120_000),
            client_authenticator("SP0001", 7, b"Secret", 301_120_000),
            client_authenticator("SP0001", 7, b"secret", 301_120_001),
        ] {
            assert!(!same_authenticator(&base, &other));
        }
    }
}
