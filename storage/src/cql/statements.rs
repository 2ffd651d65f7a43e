//! Every statement the store runs, prepared once when it connects.
//!
//! Writes carry `USING TIMESTAMP ?` (and `TTL ?` where rows expire): the timestamp is
//! the one the write got when it was queued, so that a batch sent twice writes the same
//! cells at the same time and can never overwrite a later state. They are marked
//! idempotent, which lets the driver's retry policy send them again.
//!
//! The claims of idempotency records are lightweight transactions: they cannot carry a
//! timestamp (the database stamps them with its Paxos ballot), run at the serial
//! consistency of the configuration, and are not idempotent (a claim sent again finds its
//! own record), so the driver does not retry them.

use scylla::client::session::Session;
use scylla::statement::prepared::PreparedStatement;
use scylla::statement::SerialConsistency;

use super::Requests;
use crate::StoreError;

/// A write statement, by what it writes. The order of the bound values is the order of
/// the markers in [`Write::cql`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(super) enum Write {
    /// `id, part, record, ttl, ts`: a record in state ACCEPTED, keeping the submission.
    MessageAccepted,
    /// `id, part, record, ttl, ts`: a record in a later state, which holds all the
    /// submission said: the submission is cleared.
    MessageLater,
    /// `ttl, ts, submission, id, part`
    Submission,
    /// `shard, bucket, id, part, entry, ts`
    Pending,
    /// `shard, bucket, ts`
    PendingBucket,
    /// `ts, shard, bucket, id, part`
    PendingDelete,
    /// `link, operator_id, id, part, ttl, ts`
    Receipt,
    /// `ts, link, operator_id`
    ReceiptDelete,
    /// `account, key, delivery, ttl, ts`
    Held,
    /// `account, ttl, ts`
    HeldAccount,
    /// `ts, account, key`
    HeldDelete,
    /// `key, value, ts`
    Meta,
    /// `lease, id, parts, amount, ts`
    Charge,
    /// `ts, lease`
    ChargesDelete,
    /// `account, day, accepted_ms, id, part, record, ttl, ts`
    CdrByAccount,
    /// `link, day, accepted_ms, id, part, ttl, ts`
    CdrByLink,
    /// `account, client_ref, id, ttl, ts`
    ClientRef,
    /// `account, key, value, expires_ms, ttl, ts`
    Idempotent,
    /// `ts, account, key`
    IdempotentDelete,
}

impl Write {
    const ALL: [Write; 19] = [
        Write::MessageAccepted,
        Write::MessageLater,
        Write::Submission,
        Write::Pending,
        Write::PendingBucket,
        Write::PendingDelete,
        Write::Receipt,
        Write::ReceiptDelete,
        Write::Held,
        Write::HeldAccount,
        Write::HeldDelete,
        Write::Meta,
        Write::Charge,
        Write::ChargesDelete,
        Write::CdrByAccount,
        Write::CdrByLink,
        Write::ClientRef,
        Write::Idempotent,
        Write::IdempotentDelete,
    ];

    fn cql(self) -> &'static str {
        match self {
            Write::MessageAccepted => {
                "INSERT INTO {ks}.messages (id, part, record) VALUES (?, ?, ?) \
                 USING TTL ? AND TIMESTAMP ?"
            }
            Write::MessageLater => {
                "INSERT INTO {ks}.messages (id, part, record, submission) \
                 VALUES (?, ?, ?, null) USING TTL ? AND TIMESTAMP ?"
            }
            Write::Submission => {
                "UPDATE {ks}.messages USING TTL ? AND TIMESTAMP ? SET submission = ? \
                 WHERE id = ? AND part = ?"
            }
            Write::Pending => {
                "INSERT INTO {ks}.pending (shard, bucket, id, part, entry) \
                 VALUES (?, ?, ?, ?, ?) USING TIMESTAMP ?"
            }
            Write::PendingBucket => {
                "INSERT INTO {ks}.pending_buckets (shard, bucket) VALUES (?, ?) \
                 USING TIMESTAMP ?"
            }
            Write::PendingDelete => {
                "DELETE FROM {ks}.pending USING TIMESTAMP ? \
                 WHERE shard = ? AND bucket = ? AND id = ? AND part = ?"
            }
            Write::Receipt => {
                "INSERT INTO {ks}.receipts (link, operator_id, id, part) VALUES (?, ?, ?, ?) \
                 USING TTL ? AND TIMESTAMP ?"
            }
            Write::ReceiptDelete => {
                "DELETE FROM {ks}.receipts USING TIMESTAMP ? WHERE link = ? AND operator_id = ?"
            }
            Write::Held => {
                "INSERT INTO {ks}.held (account, key, delivery) VALUES (?, ?, ?) \
                 USING TTL ? AND TIMESTAMP ?"
            }
            Write::HeldAccount => {
                "INSERT INTO {ks}.held_accounts (one, account) VALUES (0, ?) \
                 USING TTL ? AND TIMESTAMP ?"
            }
            Write::HeldDelete => {
                "DELETE FROM {ks}.held USING TIMESTAMP ? WHERE account = ? AND key = ?"
            }
            Write::Meta => "INSERT INTO {ks}.meta (key, value) VALUES (?, ?) USING TIMESTAMP ?",
            Write::Charge => {
                "INSERT INTO {ks}.charges (lease, id, parts, amount) VALUES (?, ?, ?, ?) \
                 USING TIMESTAMP ?"
            }
            Write::ChargesDelete => "DELETE FROM {ks}.charges USING TIMESTAMP ? WHERE lease = ?",
            Write::CdrByAccount => {
                "INSERT INTO {ks}.cdr_by_account (account, day, accepted_ms, id, part, record) \
                 VALUES (?, ?, ?, ?, ?, ?) USING TTL ? AND TIMESTAMP ?"
            }
            Write::CdrByLink => {
                "INSERT INTO {ks}.cdr_by_link (link, day, accepted_ms, id, part) \
                 VALUES (?, ?, ?, ?, ?) USING TTL ? AND TIMESTAMP ?"
            }
            Write::ClientRef => {
                "INSERT INTO {ks}.client_refs (account, client_ref, id) VALUES (?, ?, ?) \
                 USING TTL ? AND TIMESTAMP ?"
            }
            Write::Idempotent => {
                "INSERT INTO {ks}.idempotency (account, key, value, expires_ms) \
                 VALUES (?, ?, ?, ?) USING TTL ? AND TIMESTAMP ?"
            }
            Write::IdempotentDelete => {
                "DELETE FROM {ks}.idempotency USING TIMESTAMP ? WHERE account = ? AND key = ?"
            }
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// The reads, prepared like the writes.
pub(super) struct Reads {
    /// `id, part` → `record, submission`
    pub(super) message: PreparedStatement,
    /// `id` → `record, submission` of every part, in part order
    pub(super) message_parts: PreparedStatement,
    /// `shard, from_bucket` → `bucket`
    pub(super) pending_buckets: PreparedStatement,
    /// `shard, bucket, limit` → `entry`
    pub(super) pending: PreparedStatement,
    /// `shard, bucket, id, part, limit` → `entry` after `(id, part)`
    pub(super) pending_after: PreparedStatement,
    /// `shard, bucket` → `id`, at consistency ALL: is the bucket empty everywhere?
    pub(super) pending_probe: PreparedStatement,
    /// `ts, shard, bucket`: the clean-up of an empty bucket's marker (see the module doc)
    pub(super) pending_bucket_delete: PreparedStatement,
    /// `link, operator_id` → `id, part`
    pub(super) receipt: PreparedStatement,
    /// `account, limit` → `delivery`
    pub(super) held: PreparedStatement,
    /// → `account`
    pub(super) held_accounts: PreparedStatement,
    /// `account, day, from_ms, to_ms` → `accepted_ms, id, part, record`
    pub(super) cdr_by_account: PreparedStatement,
    /// `account, day, accepted_ms, id, part, to_ms` → the same, after the cursor
    pub(super) cdr_by_account_after: PreparedStatement,
    /// `link, day, from_ms, to_ms` → `accepted_ms, id, part`
    pub(super) cdr_by_link: PreparedStatement,
    /// `link, day, accepted_ms, id, part, to_ms` → the same, after the cursor
    pub(super) cdr_by_link_after: PreparedStatement,
    /// `account, client_ref, limit` → `id`, newest first
    pub(super) client_refs: PreparedStatement,
    /// `key` → `value`
    pub(super) meta: PreparedStatement,
    /// `lease` → `parts, amount`
    pub(super) charges: PreparedStatement,
    /// `account, key` → `value, expires_ms`
    pub(super) idempotent: PreparedStatement,
    /// `account, key, value, expires_ms, ttl` → `[applied]` and, when not, the row that
    /// holds the key: a lightweight transaction (see the module doc)
    pub(super) claim: PreparedStatement,
    /// `ttl, value, expires_ms, account, key, expires_ms seen, value seen` → `[applied]`,
    /// and the row when not: the claim of a key whose record has expired but not yet gone
    /// (its TTL is whole seconds, and clocks differ), taken only if the row is still the
    /// one seen. Both columns are in the condition because a conditional update that does
    /// not apply answers with the columns of its condition only.
    pub(super) reclaim: PreparedStatement,
}

/// Every prepared statement of the store.
pub(super) struct Statements {
    writes: Vec<PreparedStatement>,
    pub(super) reads: Reads,
}

/// Rows per page of the scans.
pub(super) const PAGE_ROWS: i32 = 1_000;

impl Statements {
    pub(super) async fn prepare(
        session: &Session,
        keyspace: &str,
        requests: &Requests,
        serial: SerialConsistency,
    ) -> Result<Self, StoreError> {
        let mut writes = Vec::with_capacity(Write::ALL.len());
        for write in Write::ALL {
            debug_assert_eq!(write.index(), writes.len());
            let mut statement = prepare(session, keyspace, requests, write.cql()).await?;
            statement.set_is_idempotent(true);
            writes.push(statement);
        }
        let read = |cql: &'static str| prepare(session, keyspace, requests, cql);
        let conditional = |cql: &'static str| async move {
            let mut statement = prepare(session, keyspace, requests, cql).await?;
            statement.set_serial_consistency(Some(serial));
            statement.set_is_idempotent(false);
            Ok::<_, StoreError>(statement)
        };
        let reads = Reads {
            message: read("SELECT record, submission FROM {ks}.messages WHERE id = ? AND part = ?")
                .await?,
            message_parts: read("SELECT record, submission FROM {ks}.messages WHERE id = ?")
                .await?,
            pending_buckets: read(
                "SELECT bucket FROM {ks}.pending_buckets WHERE shard = ? AND bucket >= ?",
            )
            .await?,
            pending: read("SELECT entry FROM {ks}.pending WHERE shard = ? AND bucket = ? LIMIT ?")
                .await?,
            pending_after: read(
                "SELECT entry FROM {ks}.pending WHERE shard = ? AND bucket = ? \
                 AND (id, part) > (?, ?) LIMIT ?",
            )
            .await?,
            pending_probe: {
                let mut probe =
                    read("SELECT id FROM {ks}.pending WHERE shard = ? AND bucket = ? LIMIT 1")
                        .await?;
                probe.set_consistency(scylla::statement::Consistency::All);
                probe
            },
            pending_bucket_delete: read(
                "DELETE FROM {ks}.pending_buckets USING TIMESTAMP ? \
                 WHERE shard = ? AND bucket = ?",
            )
            .await?,
            receipt: read("SELECT id, part FROM {ks}.receipts WHERE link = ? AND operator_id = ?")
                .await?,
            held: read("SELECT delivery FROM {ks}.held WHERE account = ? LIMIT ?").await?,
            held_accounts: read("SELECT account FROM {ks}.held_accounts WHERE one = 0").await?,
            cdr_by_account: read(
                "SELECT accepted_ms, id, part, record FROM {ks}.cdr_by_account \
                 WHERE account = ? AND day = ? AND accepted_ms >= ? AND accepted_ms < ?",
            )
            .await?,
            cdr_by_account_after: read(
                "SELECT accepted_ms, id, part, record FROM {ks}.cdr_by_account \
                 WHERE account = ? AND day = ? AND (accepted_ms, id, part) > (?, ?, ?) \
                 AND (accepted_ms) < (?)",
            )
            .await?,
            cdr_by_link: read(
                "SELECT accepted_ms, id, part FROM {ks}.cdr_by_link \
                 WHERE link = ? AND day = ? AND accepted_ms >= ? AND accepted_ms < ?",
            )
            .await?,
            cdr_by_link_after: read(
                "SELECT accepted_ms, id, part FROM {ks}.cdr_by_link \
                 WHERE link = ? AND day = ? AND (accepted_ms, id, part) > (?, ?, ?) \
                 AND (accepted_ms) < (?)",
            )
            .await?,
            client_refs: read(
                "SELECT id FROM {ks}.client_refs WHERE account = ? AND client_ref = ? LIMIT ?",
            )
            .await?,
            meta: read("SELECT value FROM {ks}.meta WHERE key = ?").await?,
            charges: read("SELECT parts, amount FROM {ks}.charges WHERE lease = ?").await?,
            idempotent: read(
                "SELECT value, expires_ms FROM {ks}.idempotency WHERE account = ? AND key = ?",
            )
            .await?,
            claim: conditional(
                "INSERT INTO {ks}.idempotency (account, key, value, expires_ms) \
                 VALUES (?, ?, ?, ?) IF NOT EXISTS USING TTL ?",
            )
            .await?,
            reclaim: conditional(
                "UPDATE {ks}.idempotency USING TTL ? SET value = ?, expires_ms = ? \
                 WHERE account = ? AND key = ? IF expires_ms = ? AND value = ?",
            )
            .await?,
        };
        Ok(Self { writes, reads })
    }

    pub(super) fn write(&self, write: Write) -> &PreparedStatement {
        &self.writes[write.index()]
    }
}

async fn prepare(
    session: &Session,
    keyspace: &str,
    requests: &Requests,
    cql: &str,
) -> Result<PreparedStatement, StoreError> {
    let cql = cql.replace("{ks}", keyspace);
    requests.count(1);
    let mut statement = session
        .prepare(cql.as_str())
        .await
        .map_err(|e| StoreError::Unavailable(format!("cannot prepare {cql}: {e}")))?;
    statement.set_page_size(PAGE_ROWS);
    Ok(statement)
}
