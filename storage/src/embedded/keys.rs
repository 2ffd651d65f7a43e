//! Key layouts of the embedded store's keyspaces. Integers are big-endian so that byte
//! order is numeric order; a string that is followed by more key is terminated by a NUL,
//! which is why such strings may not contain one (checked when a batch is encoded).

use std::fmt::Write as _;

use tern_model::MessageId;

/// Separates a variable-length name from the rest of a key.
pub(super) const SEP: u8 = 0x00;

/// `id ‖ part`: the message record, and the value of a receipt index entry.
pub(super) fn message(id: MessageId, part: u8) -> [u8; 9] {
    let mut key = [0; 9];
    key[..8].copy_from_slice(&id.0.to_be_bytes());
    key[8] = part;
    key
}

/// Every part of one message.
pub(super) fn message_prefix(id: MessageId) -> [u8; 8] {
    id.0.to_be_bytes()
}

/// `lease ‖ id`: what one message spent of a quota lease.
pub(super) fn charge(lease: u64, id: MessageId) -> [u8; 16] {
    let mut key = [0; 16];
    key[..8].copy_from_slice(&lease.to_be_bytes());
    key[8..].copy_from_slice(&id.0.to_be_bytes());
    key
}

/// `parts ‖ amount`, the value of a charge.
pub(super) fn charge_value(parts: u64, amount: i64) -> [u8; 16] {
    let mut value = [0; 16];
    value[..8].copy_from_slice(&parts.to_be_bytes());
    value[8..].copy_from_slice(&amount.to_be_bytes());
    value
}

/// Reads a charge's value back.
pub(super) fn charge_figures(bytes: &[u8]) -> Option<(u64, i64)> {
    let raw: [u8; 16] = bytes.try_into().ok()?;
    let (parts, amount) = raw.split_at(8);
    Some((
        u64::from_be_bytes(parts.try_into().ok()?),
        i64::from_be_bytes(amount.try_into().ok()?),
    ))
}

/// Reads `id ‖ part` back.
pub(super) fn id_part(bytes: &[u8]) -> Option<(MessageId, u8)> {
    let raw: [u8; 9] = bytes.try_into().ok()?;
    let (id, part) = raw.split_at(8);
    let id = u64::from_be_bytes(id.try_into().ok()?);
    Some((MessageId(id), part[0]))
}

/// `shard ‖ id ‖ part`: a pending entry, in id order within its shard.
pub(super) fn pending(shard: u16, id: MessageId, part: u8) -> [u8; 11] {
    let mut key = [0; 11];
    key[..2].copy_from_slice(&shard.to_be_bytes());
    key[2..].copy_from_slice(&message(id, part));
    key
}

/// `link ‖ NUL ‖ operator_id`.
pub(super) fn receipt(link: &str, operator_id: &str) -> Vec<u8> {
    let mut key = Vec::with_capacity(link.len() + 1 + operator_id.len());
    key.extend_from_slice(link.as_bytes());
    key.push(SEP);
    key.extend_from_slice(operator_id.as_bytes());
    key
}

/// `account ‖ NUL`: everything held for one account.
pub(super) fn held_prefix(account: &str) -> Vec<u8> {
    let mut key = Vec::with_capacity(account.len() + 9);
    key.extend_from_slice(account.as_bytes());
    key.push(SEP);
    key
}

/// `account ‖ NUL ‖ key`: one held delivery, oldest first within the account.
pub(super) fn held(account: &str, held_key: u64) -> Vec<u8> {
    let mut key = held_prefix(account);
    key.extend_from_slice(&held_key.to_be_bytes());
    key
}

/// The account a held key belongs to.
pub(super) fn held_account(key: &[u8]) -> Option<&str> {
    let end = key.iter().position(|&b| b == SEP)?;
    std::str::from_utf8(&key[..end]).ok()
}

/// The first key after every held key of `account`.
pub(super) fn held_after_account(account: &str) -> Vec<u8> {
    let mut key = Vec::with_capacity(account.len() + 1);
    key.extend_from_slice(account.as_bytes());
    key.push(SEP + 1);
    key
}

/// `name ‖ NUL ‖ accepted_ms`: where the records of an account (or a link) accepted at
/// `ms` start, in a CDR index.
pub(super) fn cdr_from(name: &str, ms: u64) -> Vec<u8> {
    let mut key = Vec::with_capacity(name.len() + 1 + 8 + 9);
    key.extend_from_slice(name.as_bytes());
    key.push(SEP);
    key.extend_from_slice(&ms.to_be_bytes());
    key
}

/// `name ‖ NUL ‖ accepted_ms ‖ id ‖ part`: an entry of a CDR index (by account, by link),
/// empty value.
pub(super) fn cdr(name: &str, accepted_ms: u64, id: MessageId, part: u8) -> Vec<u8> {
    let mut key = cdr_from(name, accepted_ms);
    key.extend_from_slice(&message(id, part));
    key
}

/// `account ‖ NUL ‖ client_ref ‖ NUL`: every message of the account with that reference.
/// A reference may hold a NUL itself: only keys exactly one id longer than the prefix
/// belong to it (see [`client_ref_id`]).
pub(super) fn client_ref_prefix(account: &str, client_ref: &str) -> Vec<u8> {
    let mut key = Vec::with_capacity(account.len() + client_ref.len() + 2 + 8);
    key.extend_from_slice(account.as_bytes());
    key.push(SEP);
    key.extend_from_slice(client_ref.as_bytes());
    key.push(SEP);
    key
}

/// `account ‖ NUL ‖ client_ref ‖ NUL ‖ id`, empty value.
pub(super) fn client_ref(account: &str, client_ref: &str, id: MessageId) -> Vec<u8> {
    let mut key = client_ref_prefix(account, client_ref);
    key.extend_from_slice(&message_prefix(id));
    key
}

/// The id of a key found under `prefix` (from [`client_ref_prefix`]); `None` for a key of
/// another reference that merely starts with the same bytes.
pub(super) fn client_ref_id(prefix: &[u8], key: &[u8]) -> Option<MessageId> {
    let tail: [u8; 8] = key.strip_prefix(prefix)?.try_into().ok()?;
    Some(MessageId(u64::from_be_bytes(tail)))
}

/// Reads `accepted_ms` and `id ‖ part` from the tail of a CDR index key.
pub(super) fn cdr_tail(key: &[u8]) -> Option<(u64, MessageId, u8)> {
    let tail = key
        .len()
        .checked_sub(17)
        .and_then(|start| key.get(start..))?;
    let (ms, id_part_bytes) = tail.split_at(8);
    let ms = u64::from_be_bytes(ms.try_into().ok()?);
    let (id, part) = id_part(id_part_bytes)?;
    Some((ms, id, part))
}

/// `account ‖ NUL ‖ key`: an idempotency record.
pub(super) fn idempotent(account: &str, key: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(account.len() + 1 + key.len());
    out.extend_from_slice(account.as_bytes());
    out.push(SEP);
    out.extend_from_slice(key.as_bytes());
    out
}

/// `expires_ms ‖ value`, the value of an idempotency record.
pub(super) fn idempotent_value(expires_ms: u64, value: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(8 + value.len());
    out.extend_from_slice(&expires_ms.to_be_bytes());
    out.extend_from_slice(value);
    out
}

/// Reads an idempotency record's value back: its expiry and the caller's bytes.
pub(super) fn idempotent_record(bytes: &[u8]) -> Option<(u64, &[u8])> {
    let (expires, value) = bytes.split_first_chunk::<8>()?;
    Some((u64::from_be_bytes(*expires), value))
}

/// `expires_ms ‖ record key`: an entry of the expiry index of idempotency records, empty
/// value, in expiry order.
pub(super) fn idempotent_expiry(expires_ms: u64, record: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(8 + record.len());
    out.extend_from_slice(&expires_ms.to_be_bytes());
    out.extend_from_slice(record);
    out
}

/// Where the expiry index entries that expire after `ms` start: the end of a scan of those
/// that expire at or before it.
pub(super) fn idempotent_expiry_end(ms: u64) -> std::ops::Bound<Vec<u8>> {
    match ms.checked_add(1) {
        Some(next) => std::ops::Bound::Excluded(next.to_be_bytes().to_vec()),
        None => std::ops::Bound::Unbounded,
    }
}

/// The record key an expiry index entry names.
pub(super) fn idempotent_expiry_record(entry: &[u8]) -> Option<&[u8]> {
    entry.get(8..).filter(|record| !record.is_empty())
}

/// A key as an error message shows it: printable ASCII as is, other bytes as `\xNN`.
pub(super) fn describe(space: &str, key: &[u8]) -> String {
    let mut out = format!("{space} key ");
    for &b in key {
        if b.is_ascii_graphic() && b != b'\\' {
            out.push(char::from(b));
        } else {
            let _ = write!(out, "\\x{b:02x}");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numeric_parts_sort_numerically() {
        assert!(message(MessageId(1), 255) < message(MessageId(256), 0));
        assert!(pending(1, MessageId(u64::MAX), 9) < pending(2, MessageId(0), 0));
        assert!(held("acme", 2) < held("acme", 256));
        assert!(held("acme", u64::MAX) < held_after_account("acme"));
        assert!(held_after_account("acme") <= held("acme0", 0));
        assert!(cdr("a", 1, MessageId(9), 0) < cdr("a", 2, MessageId(1), 0));
        assert!(client_ref("a", "r", MessageId(9)) < client_ref("a", "r", MessageId(256)));
        let record = idempotent("acme", "k");
        assert!(idempotent_expiry(255, &record) < idempotent_expiry(256, b"a"));
        let std::ops::Bound::Excluded(end) = idempotent_expiry_end(256) else {
            panic!("a bounded end");
        };
        assert!(idempotent_expiry(256, &record) < end);
        assert!(end <= idempotent_expiry(257, b""));
        assert_eq!(idempotent_expiry_end(u64::MAX), std::ops::Bound::Unbounded);
    }

    #[test]
    fn tails_read_back() {
        let key = cdr("acme", 1_700_000_000_000, MessageId(42), 3);
        assert_eq!(cdr_tail(&key), Some((1_700_000_000_000, MessageId(42), 3)));
        assert_eq!(cdr_tail(b"short"), None);
        assert_eq!(id_part(&message(MessageId(7), 1)), Some((MessageId(7), 1)));
        assert_eq!(id_part(&[0; 8]), None);
        assert_eq!(held_account(&held("acme", 5)), Some("acme"));
        let prefix = client_ref_prefix("acme", "r1");
        let key = client_ref("acme", "r1", MessageId(42));
        assert_eq!(client_ref_id(&prefix, &key), Some(MessageId(42)));
        let value = idempotent_value(1_700_000_000_000, b"ids 1 2");
        assert_eq!(
            idempotent_record(&value),
            Some((1_700_000_000_000, &b"ids 1 2"[..]))
        );
        assert_eq!(idempotent_record(&value[..7]), None);
        assert_eq!(
            idempotent_record(&value[..8]),
            Some((1_700_000_000_000, &[][..]))
        );
        let record = idempotent("acme", "k");
        let entry = idempotent_expiry(9, &record);
        assert_eq!(idempotent_expiry_record(&entry), Some(&record[..]));
        assert_eq!(idempotent_expiry_record(&entry[..8]), None);
    }

    #[test]
    fn a_reference_with_a_nul_is_not_taken_for_a_shorter_one() {
        // "r" followed by an id whose first bytes are `NUL ‖ x` looks like "r\0x" at first.
        let longer = client_ref("acme", "r\0x", MessageId(7));
        let id = MessageId(u64::from_be_bytes([b'x', 0, 0, 0, 0, 0, 0, 1]));
        let shorter = client_ref("acme", "r", id);
        let prefix = client_ref_prefix("acme", "r\0x");
        assert!(shorter.starts_with(&prefix));
        assert_eq!(client_ref_id(&prefix, &shorter), None);
        assert_eq!(client_ref_id(&prefix, &longer), Some(MessageId(7)));
    }

    #[test]
    fn described_keys_are_readable() {
        assert_eq!(
            describe("held", &held("a", 1)),
            "held key a\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x01"
        );
    }
}
