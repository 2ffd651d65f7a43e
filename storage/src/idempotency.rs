//! Idempotency records: what a request carrying a customer's idempotency key (the HTTP
//! API's `Idempotency-Key`) answered the first time, kept per account until it expires, so
//! that a retried request gets the first answer instead of being carried out twice.
//!
//! A record is claimed once with [`crate::MessageStore::claim_idempotent`] (an atomic
//! insert-if-absent: of two requests with one key, on one node or on two nodes sharing a
//! CQL store, exactly one claims it), rewritten with the final answer by
//! [`crate::WriteOp::PutIdempotent`], and dropped by [`crate::WriteOp::RemoveIdempotent`]
//! when the request failed and may be tried again. A record whose `expires_ms` has passed
//! (wall clock, [`tern_model::now_ms`]) reads as absent and can be claimed again.

use crate::StoreError;

/// The longest idempotency key, in bytes.
pub const MAX_IDEMPOTENCY_KEY_BYTES: usize = 255;

/// The largest value of an idempotency record, in bytes.
pub const MAX_IDEMPOTENT_VALUE_BYTES: usize = 64 * 1024;

/// What [`crate::MessageStore::claim_idempotent`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claim {
    /// The key was free (absent, or its record had expired): the value given is stored,
    /// durably, and this caller owns the key.
    Claimed,
    /// A live record holds the key: its value. Nothing was written.
    Exists(Vec<u8>),
}

/// Checks an account and key (and a value, when one is written) before anything is queued
/// or sent: account and key non-empty and free of NUL bytes, the key at most
/// [`MAX_IDEMPOTENCY_KEY_BYTES`], the value at most [`MAX_IDEMPOTENT_VALUE_BYTES`].
pub(crate) fn check(account: &str, key: &str, value: Option<&[u8]>) -> Result<(), StoreError> {
    let invalid = |what: String| Err(StoreError::Invalid(what));
    if account.is_empty() {
        return invalid("an idempotency record with an empty account".into());
    }
    if account.as_bytes().contains(&0) {
        return invalid(format!("account {account:?} contains a NUL byte"));
    }
    if key.is_empty() {
        return invalid(format!("an empty idempotency key (account {account:?})"));
    }
    if key.len() > MAX_IDEMPOTENCY_KEY_BYTES {
        return invalid(format!(
            "an idempotency key of {} bytes (account {account:?}); at most \
             {MAX_IDEMPOTENCY_KEY_BYTES}",
            key.len()
        ));
    }
    if key.as_bytes().contains(&0) {
        return invalid(format!(
            "idempotency key {key:?} (account {account:?}) contains a NUL byte"
        ));
    }
    if let Some(value) = value {
        if value.len() > MAX_IDEMPOTENT_VALUE_BYTES {
            return invalid(format!(
                "an idempotency value of {} bytes (account {account:?}, key {key:?}); at \
                 most {MAX_IDEMPOTENT_VALUE_BYTES}",
                value.len()
            ));
        }
    }
    Ok(())
}

/// Whether a record that expires at `expires_ms` is still live at `now_ms`.
pub(crate) fn live(expires_ms: u64, now_ms: u64) -> bool {
    now_ms < expires_ms
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_and_values_are_checked_at_their_limits() {
        let longest = "k".repeat(MAX_IDEMPOTENCY_KEY_BYTES);
        let largest = vec![7; MAX_IDEMPOTENT_VALUE_BYTES];
        assert!(check("acme", &longest, Some(&largest)).is_ok());
        assert!(check("acme", "ä €/:; \"x\"", None).is_ok());
        let refused = [
            check("acme", &format!("{longest}k"), None),
            check("acme", "a\0b", None),
            check("ac\0me", "k", None),
            check("", "k", None),
            check("acme", "", None),
            check("acme", "k", Some(&[0; MAX_IDEMPOTENT_VALUE_BYTES + 1])),
        ];
        for result in refused {
            assert!(matches!(result, Err(StoreError::Invalid(_))), "{result:?}");
        }
    }

    #[test]
    fn a_record_expires_at_its_expiry() {
        assert!(live(1_000, 999));
        assert!(!live(1_000, 1_000));
        assert!(!live(0, 0));
    }
}
