//! Account passwords as argon2id PHC strings. The admin API hashes a password before it
//! proposes anything, so the replicated state, its log and its snapshots never hold one;
//! the SMPP bind check verifies against the stored string.

pub use tern_actors::accounts::verify_password;

/// Why a password could not be hashed.
#[derive(Debug, thiserror::Error)]
#[error("cannot hash the password: {0}")]
pub struct HashError(String);

/// Hashes `password` with argon2id and a random salt, as a PHC string
/// (`$argon2id$v=19$m=...`).
pub fn hash_password(password: &str) -> Result<String, HashError> {
    tern_actors::accounts::hash_password(password).map_err(HashError)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hash_verifies_its_password_only() {
        let phc = hash_password("secret1").unwrap();
        assert!(phc.starts_with("$argon2id$"), "{phc}");
        assert!(verify_password("secret1", &phc));
        assert!(!verify_password("secret2", &phc));
    }

    #[test]
    fn two_hashes_of_one_password_differ_by_salt() {
        assert_ne!(hash_password("pw").unwrap(), hash_password("pw").unwrap());
    }

    #[test]
    fn a_malformed_hash_verifies_nothing() {
        assert!(!verify_password("pw", "pw"));
        assert!(!verify_password("", ""));
    }
}
