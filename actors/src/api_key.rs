//! API keys of the HTTP API, and the signing secrets of its callbacks.
//!
//! A key reads `tern_<id>_<secret>`: `id` is 12 lowercase hex digits that name the key
//! (shown in lists and logs, the index the key is found by), `secret` 40 letters and digits
//! from the operating system's CSPRNG (about 238 bits). The replicated state keeps the
//! key's SHA-256 digest as `sha256:<hex>`, never the key: it is shown once, when created.
//!
//! A fast hash is the right one here. Argon2 protects passwords people choose, which can be
//! guessed; a key is random and far too long to guess, so a slow hash adds no protection
//! while it would cost tens of milliseconds of CPU on every HTTP request.

use rand::distributions::Alphanumeric;
use rand::rngs::OsRng;
use rand::Rng;
use sha2::{Digest, Sha256};

/// What every key starts with.
pub const PREFIX: &str = "tern_";
/// Hex digits of a key's id.
pub const ID_LEN: usize = 12;
/// Letters and digits of a key's secret part.
pub const SECRET_LEN: usize = 40;
/// The length of a whole key.
pub const KEY_LEN: usize = PREFIX.len() + ID_LEN + 1 + SECRET_LEN;
/// What a stored digest starts with.
pub const HASH_PREFIX: &str = "sha256:";

const HEX: &[u8; 16] = b"0123456789abcdef";

fn hex(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() * 2);
    for byte in bytes {
        out.push(char::from(HEX[usize::from(byte >> 4)]));
        out.push(char::from(HEX[usize::from(byte & 0x0f)]));
    }
    out
}

fn is_lower_hex(text: &str) -> bool {
    text.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// A new key: `(id, key)`.
pub fn generate() -> (String, String) {
    let id = hex(&OsRng.gen::<[u8; ID_LEN / 2]>());
    let secret: String = OsRng
        .sample_iter(&Alphanumeric)
        .take(SECRET_LEN)
        .map(char::from)
        .collect();
    let key = format!("{PREFIX}{id}_{secret}");
    (id, key)
}

/// The id part of a well-formed key; `None` for anything else.
pub fn id_of(key: &str) -> Option<&str> {
    // All ASCII and of the right length: every slice below falls on a character boundary.
    if key.len() != KEY_LEN || !key.is_ascii() {
        return None;
    }
    let rest = key.strip_prefix(PREFIX)?;
    let (id, rest) = rest.split_at(ID_LEN);
    let secret = rest.strip_prefix('_')?;
    (is_lower_hex(id) && secret.bytes().all(|b| b.is_ascii_alphanumeric())).then_some(id)
}

/// The SHA-256 digest of a key.
pub fn digest(key: &str) -> [u8; 32] {
    Sha256::digest(key.as_bytes()).into()
}

/// A key's digest as the state keeps it: `sha256:` and 64 lowercase hex digits.
pub fn hash_text(key: &str) -> String {
    format!("{HASH_PREFIX}{}", hex(&digest(key)))
}

/// The digest in a stored `sha256:<64 lowercase hex>`; `None` for anything else.
pub fn parse_hash(text: &str) -> Option<[u8; 32]> {
    let digits = text.strip_prefix(HASH_PREFIX)?;
    if digits.len() != 64 || !is_lower_hex(digits) {
        return None;
    }
    let mut out = [0u8; 32];
    for (byte, pair) in out.iter_mut().zip(digits.as_bytes().chunks_exact(2)) {
        let text = std::str::from_utf8(pair).ok()?;
        *byte = u8::from_str_radix(text, 16).ok()?;
    }
    Some(out)
}

/// A callback signing secret: 32 random bytes as 64 hex digits.
pub fn generate_secret() -> String {
    hex(&OsRng.gen::<[u8; 32]>())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn a_generated_key_has_its_id_and_the_documented_shape() {
        let (id, key) = generate();
        assert_eq!(id.len(), ID_LEN);
        assert!(is_lower_hex(&id), "{id}");
        assert_eq!(key.len(), KEY_LEN);
        assert!(key.starts_with(&format!("tern_{id}_")), "{key}");
        assert_eq!(id_of(&key), Some(id.as_str()));
        let (other_id, other) = generate();
        assert_ne!((&id, &key), (&other_id, &other));
    }

    #[test]
    fn malformed_keys_have_no_id() {
        let good = format!("tern_0123456789ab_{}", "A1".repeat(20));
        assert_eq!(id_of(&good), Some("0123456789ab"));
        for bad in [
            String::new(),
            "tern_".into(),
            good.replacen("tern_", "tarn_", 1),
            good.replacen("0123456789ab", "0123456789AB", 1),
            good.replacen("0123456789ab", "0123456789ag", 1),
            good.replacen("ab_", "abx", 1),
            format!("{good}x"),
            good[..good.len() - 1].to_owned(),
            good.replacen("A1A1", "A-A1", 1),
            // A multi-byte character where the id ends, the length still right.
            format!("tern_0123456789é{}", "a".repeat(40)),
        ] {
            assert_eq!(id_of(&bad), None, "{bad:?}");
        }
    }

    #[test]
    fn digests_read_back_from_their_text() {
        let (_, key) = generate();
        let text = hash_text(&key);
        assert!(
            text.starts_with("sha256:") && text.len() == 7 + 64,
            "{text}"
        );
        assert_eq!(parse_hash(&text), Some(digest(&key)));
        // SHA-256 of "abc", FIPS 180-2 appendix B.1.
        assert_eq!(
            hash_text("abc"),
            "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        for bad in [
            "",
            "sha256:",
            "sha1:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
            "sha256:BA7816BF8F01CFEA414140DE5DAE2223B00361A396177A9CB410FF61F20015AD",
            "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015a",
        ] {
            assert_eq!(parse_hash(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn secrets_are_64_hex_digits_and_differ() {
        let secret = generate_secret();
        assert_eq!(secret.len(), 64);
        assert!(is_lower_hex(&secret));
        assert_ne!(secret, generate_secret());
    }

    proptest! {
        #[test]
        fn id_of_never_panics(text in any::<String>()) {
            let _ = id_of(&text);
            let _ = parse_hash(&text);
        }

        #[test]
        fn id_of_never_panics_near_the_key_shape(
            id in "[0-9a-fA-Fé_]{10,13}",
            secret in "[A-Za-z0-9_é]{38,41}",
        ) {
            let key = format!("tern_{id}_{secret}");
            if let Some(found) = id_of(&key) {
                prop_assert_eq!(found, id.as_str());
            }
        }

        #[test]
        fn generated_keys_round_trip(_round in 0..64u8) {
            let (id, key) = generate();
            prop_assert_eq!(id_of(&key), Some(id.as_str()));
            prop_assert_eq!(parse_hash(&hash_text(&key)), Some(digest(&key)));
        }
    }
}
