//! The message and CDR store behind one trait, [`MessageStore`], with an embedded backend
//! for a single node ([`embedded::EmbeddedStore`]) and a CQL backend (ScyllaDB, Cassandra)
//! for a cluster ([`cql::CqlStore`]). It knows nothing about actors or wire protocols.
//!
//! The trait asks only for what both backends can give: access by key or by partition,
//! idempotent writes keyed by message id and part, durability reported per batch, and one
//! atomic insert-if-absent, the claim of an idempotency record ([`idempotency`]). A
//! batch is not a transaction: after a crash any subset of a batch's operations may be
//! present, so callers order their operations so that every prefix is safe (index a receipt
//! before dropping the pending entry, write the record before its index).

pub mod cql;
pub mod embedded;
pub mod idempotency;
mod record;
pub mod report;

pub use cql::{CqlConfig, CqlStats, CqlStore};
pub use embedded::{EmbeddedConfig, EmbeddedStore, StoreStats};
pub use idempotency::{Claim, MAX_IDEMPOTENCY_KEY_BYTES, MAX_IDEMPOTENT_VALUE_BYTES};
pub use record::{
    HeldDelivery, HeldKind, MessageRecord, PendingEntry, RecordState, Submission, Transition,
};

use tern_model::MessageId;

/// Why the store failed. Every variant but `Unavailable` means the operation did not take
/// effect durably.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("storage I/O: {0}")]
    Io(String),
    #[error("a stored value could not be decoded: {0}")]
    Corrupt(String),
    #[error("the store is shut down")]
    Closed,
    #[error("the write queue is full")]
    Overloaded,
    /// The batch or the configuration cannot be stored as given (an account or link name
    /// with a NUL byte, a value that does not encode); nothing was queued.
    #[error("invalid input: {0}")]
    Invalid(String),
    /// The database did not confirm the write (a timeout, an error, a lost connection): it
    /// may or may not have taken effect. The caller treats it as not durable, as any
    /// error, and may write again: every operation is idempotent. For a read: the database
    /// did not answer; nothing was read. Reported by the CQL backend.
    #[error("the database did not confirm (a write may or may not have taken effect): {0}")]
    Unavailable(String),
}

/// One change. Every operation is idempotent: applying it twice leaves the same state.
#[derive(Debug, Clone, PartialEq)]
pub enum WriteOp {
    /// Writes the whole record of one part (insert or replace).
    PutMessage(std::sync::Arc<MessageRecord>),
    /// The part waits for (re)submission in `shard`.
    AddPending(PendingEntry),
    /// The operator accepted the part: a small entry instead of a rewrite of the whole
    /// record. Reads merge it into the record (state SUBMITTED, link, operator id, the step
    /// in the history); the next `PutMessage` of a later state replaces it.
    MarkSubmitted(Submission),
    /// The part no longer waits: submitted, failed or expired.
    RemovePending {
        shard: u16,
        id: MessageId,
        part: u8,
    },
    /// A receipt from `link` naming `operator_id` belongs to this part.
    IndexReceipt {
        link: String,
        operator_id: String,
        id: MessageId,
        part: u8,
    },
    RemoveReceiptIndex {
        link: String,
        operator_id: String,
    },
    /// Something owed to a customer (a receipt, an MO) until it is delivered.
    Hold(Box<HeldDelivery>),
    /// Delivered (or expired): forget it.
    Release {
        account: String,
        key: u64,
    },
    /// Small node state (the id generator's high-water mark and the like).
    PutMeta {
        key: String,
        value: Vec<u8>,
    },
    /// Message `id` spent `parts` and `amount` of quota lease `lease`. Written in the
    /// batch that makes the message durable, so that what a node accepted under a lease
    /// can be counted after a crash and settled exactly.
    Charge {
        lease: u64,
        id: MessageId,
        parts: u64,
        amount: i64,
    },
    /// The lease is settled for good: forget its charges.
    ForgetCharges {
        lease: u64,
    },
    /// The idempotency record of `key` in `account` (see [`idempotency`]): insert or
    /// replace. It reads as absent once the wall clock reaches `expires_ms`. Account and
    /// key must be non-empty and free of NUL bytes, the key at most
    /// [`MAX_IDEMPOTENCY_KEY_BYTES`], the value at most [`MAX_IDEMPOTENT_VALUE_BYTES`];
    /// otherwise the batch is refused with `Invalid`.
    PutIdempotent {
        account: String,
        key: String,
        value: Vec<u8>,
        expires_ms: u64,
    },
    /// Forget the idempotency record of `key` in `account`: the key can be claimed again.
    RemoveIdempotent {
        account: String,
        key: String,
    },
}

/// Called once the batch is durable (or has failed). Runs on the store's writer thread:
/// it must be quick and must not block (send on a channel, respond on a session).
pub type Completion = Box<dyn FnOnce(Result<(), StoreError>) + Send + 'static>;

/// A read in flight. Reads never block the caller's thread: the embedded backend runs
/// them on the blocking pool, the CQL backend awaits the database.
pub type StoreFuture<'a, T> =
    std::pin::Pin<Box<dyn std::future::Future<Output = Result<T, StoreError>> + Send + 'a>>;

/// Where a page of a CDR scan ends: the `(accepted_ms, id, part)` of its last record.
pub type CdrCursor = (u64, MessageId, u8);

/// The message store. Writes go through group commit: every batch queued while the
/// previous round was being written shares the next round, and a batch is reported durable
/// only once the backend has made it so (one fsync, or an acknowledgement at the
/// configured consistency). Reads are async point lookups and bounded scans.
pub trait MessageStore: Send + Sync + 'static {
    /// Queues a batch; `done` is called when it is durable. Returns `Overloaded` at once
    /// when the write queue is full: the caller sheds load. On any `Err` nothing was
    /// queued and `done` is dropped without being called. An empty batch is a barrier:
    /// its `done` runs once every batch queued before it is durable. A `done` with an
    /// error means the batch may or may not have taken effect: the caller treats it as
    /// not durable (the customer is told to retry), and every operation is idempotent so
    /// that the retry is harmless.
    fn write(&self, ops: Vec<WriteOp>, done: Completion) -> Result<(), StoreError>;

    /// Queues a batch that nothing urgent waits on (a part's SUBMITTED state, a delivered
    /// receipt's release): as durable as [`MessageStore::write`] once `done` is called, but
    /// the embedded store does not sync for it alone: it goes with the next batch that is
    /// waited on, or after at most [`DEFERRED_WAIT`] when none comes, so that at moderate
    /// rates one fsync serves both. Backends without such a cost write it at once.
    fn write_deferred(&self, ops: Vec<WriteOp>, done: Completion) -> Result<(), StoreError> {
        self.write(ops, done)
    }

    /// Why the store stopped taking writes for good, if it did: a store that can no longer
    /// make anything durable (the embedded store after a failed commit) stops, and the node
    /// stops with it so that a restart recovers it. `None` while it works.
    fn failure(&self) -> Option<String> {
        None
    }

    /// The record of one part.
    fn message(&self, id: MessageId, part: u8) -> StoreFuture<'_, Option<MessageRecord>>;

    /// Every part of a message, in part order.
    fn message_parts(&self, id: MessageId) -> StoreFuture<'_, Vec<MessageRecord>>;

    /// Pending parts of `shard` in id order, starting after `after`, at most `limit`.
    fn pending(
        &self,
        shard: u16,
        after: Option<(MessageId, u8)>,
        limit: usize,
    ) -> StoreFuture<'_, Vec<PendingEntry>>;

    /// The part a receipt from `link` for `operator_id` belongs to.
    fn receipt_owner<'a>(
        &'a self,
        link: &'a str,
        operator_id: &'a str,
    ) -> StoreFuture<'a, Option<(MessageId, u8)>>;

    /// What is held for `account`, oldest first, at most `limit`.
    fn held<'a>(&'a self, account: &'a str, limit: usize) -> StoreFuture<'a, Vec<HeldDelivery>>;

    /// Accounts that may have something held (an account listed may turn out to have
    /// nothing left; one with something held is always listed).
    fn held_accounts(&self) -> StoreFuture<'_, Vec<String>>;

    /// Records of `account` accepted in `[from_ms, to_ms)`, oldest first, starting after
    /// `after` (`None`: the first page), at most `limit`. A page shorter than `limit` is
    /// the last. Callers that go through a whole day keep one page in memory at a time.
    fn messages_by_account<'a>(
        &'a self,
        account: &'a str,
        after: Option<CdrCursor>,
        from_ms: u64,
        to_ms: u64,
        limit: usize,
    ) -> StoreFuture<'a, Vec<MessageRecord>>;

    /// Records last sent (or being sent) over `link`, accepted in `[from_ms, to_ms)`,
    /// paged as [`Self::messages_by_account`]. A record is listed under the link named in
    /// its current state only.
    fn messages_by_link<'a>(
        &'a self,
        link: &'a str,
        after: Option<CdrCursor>,
        from_ms: u64,
        to_ms: u64,
        limit: usize,
    ) -> StoreFuture<'a, Vec<MessageRecord>>;

    /// Messages of `account` the customer gave its own reference `client_ref`, newest
    /// first, at most `limit` (references are the customer's and need not be unique).
    fn messages_by_client_ref<'a>(
        &'a self,
        account: &'a str,
        client_ref: &'a str,
        limit: usize,
    ) -> StoreFuture<'a, Vec<MessageId>>;

    fn meta<'a>(&'a self, key: &'a str) -> StoreFuture<'a, Option<Vec<u8>>>;

    /// The parts and money charged to quota lease `lease` (see [`WriteOp::Charge`]).
    fn charged(&self, lease: u64) -> StoreFuture<'_, (u64, i64)>;

    /// The value of the idempotency record of `key` in `account`; `None` when there is
    /// none or it has expired. A key that could not be stored (see
    /// [`WriteOp::PutIdempotent`]) is refused with `Invalid`.
    ///
    /// Both backends keep idempotency records; the default, for test doubles that wrap a
    /// store, refuses.
    fn idempotent<'a>(
        &'a self,
        account: &'a str,
        key: &'a str,
    ) -> StoreFuture<'a, Option<Vec<u8>>> {
        let _ = (account, key);
        Box::pin(std::future::ready(Err(not_kept())))
    }

    /// Stores `value` as the idempotency record of `key` in `account` unless a live one is
    /// there: an atomic insert-if-absent (an expired record counts as absent). Of several
    /// claims of one key at once, from this process or from others sharing the database,
    /// exactly one gets [`Claim::Claimed`], and only once its record is durable; the others
    /// get [`Claim::Exists`] with the value that holds the key. Checked as
    /// [`WriteOp::PutIdempotent`]. An `Unavailable` error means the claim may or may not
    /// have been taken: a retry may find `Exists` with this very value.
    ///
    /// The default, for test doubles that wrap a store, refuses.
    fn claim_idempotent<'a>(
        &'a self,
        account: &'a str,
        key: &'a str,
        value: Vec<u8>,
        expires_ms: u64,
    ) -> StoreFuture<'a, Claim> {
        let _ = (account, key, value, expires_ms);
        Box::pin(std::future::ready(Err(not_kept())))
    }
}

/// What a store without idempotency records answers.
fn not_kept() -> StoreError {
    StoreError::Invalid("this store keeps no idempotency records".into())
}

/// Writes a batch and waits for it to be durable.
pub async fn write_durable<S: MessageStore + ?Sized>(
    store: &S,
    ops: Vec<WriteOp>,
) -> Result<(), StoreError> {
    completed(|done| store.write(ops, done)).await
}

/// [`write_durable`] through [`MessageStore::write_deferred`].
pub async fn write_durable_deferred<S: MessageStore + ?Sized>(
    store: &S,
    ops: Vec<WriteOp>,
) -> Result<(), StoreError> {
    completed(|done| store.write_deferred(ops, done)).await
}

/// Queues a batch with `queue` and waits for its completion.
async fn completed(
    queue: impl FnOnce(Completion) -> Result<(), StoreError>,
) -> Result<(), StoreError> {
    let (tx, rx) = tokio::sync::oneshot::channel();
    queue(Box::new(move |result| {
        let _ = tx.send(result);
    }))?;
    rx.await.map_err(|_| StoreError::Closed)?
}

/// The longest a deferred batch waits for a batch that is waited on before the embedded
/// store syncs it alone (see [`MessageStore::write_deferred`]).
pub const DEFERRED_WAIT: std::time::Duration = std::time::Duration::from_millis(10);
