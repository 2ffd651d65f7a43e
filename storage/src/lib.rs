//! The message and CDR store behind one trait, [`MessageStore`], with an embedded backend
//! for a single node ([`embedded::EmbeddedStore`]) and, later, a ScyllaDB backend for a
//! cluster. It knows nothing about actors or wire protocols.
//!
//! The trait asks only for what both backends can give: access by key or by partition,
//! idempotent writes keyed by message id and part, and durability reported per batch. A
//! batch is not a transaction: after a crash any subset of a batch's operations may be
//! present, so callers order their operations so that every prefix is safe (index a receipt
//! before dropping the pending entry, write the record before its index).

pub mod embedded;
mod record;

pub use embedded::{EmbeddedConfig, EmbeddedStore, StoreStats};
pub use record::{
    HeldDelivery, HeldKind, MessageRecord, PendingEntry, RecordState, Submission, Transition,
};

use tern_model::MessageId;

/// Why the store failed. Every variant means the operation did not take effect durably.
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
}

/// Called once the batch is durable (or has failed). Runs on the store's writer thread:
/// it must be quick and must not block (send on a channel, respond on a session).
pub type Completion = Box<dyn FnOnce(Result<(), StoreError>) + Send + 'static>;

/// The message store. Reads are synchronous point lookups and bounded scans; writes go
/// through group commit: one fsync covers every batch queued while the previous one was
/// being written.
pub trait MessageStore: Send + Sync + 'static {
    /// Queues a batch; `done` is called when it is durable. Returns `Overloaded` at once
    /// when the write queue is full: the caller sheds load. On any `Err` nothing was
    /// queued and `done` is dropped without being called. An empty batch is a barrier:
    /// its `done` runs once every batch queued before it is durable.
    fn write(&self, ops: Vec<WriteOp>, done: Completion) -> Result<(), StoreError>;

    /// The record of one part.
    fn message(&self, id: MessageId, part: u8) -> Result<Option<MessageRecord>, StoreError>;

    /// Every part of a message, in part order.
    fn message_parts(&self, id: MessageId) -> Result<Vec<MessageRecord>, StoreError>;

    /// Pending parts of `shard` in id order, starting after `after`, at most `limit`.
    fn pending(
        &self,
        shard: u16,
        after: Option<(MessageId, u8)>,
        limit: usize,
    ) -> Result<Vec<PendingEntry>, StoreError>;

    /// The part a receipt from `link` for `operator_id` belongs to.
    fn receipt_owner(
        &self,
        link: &str,
        operator_id: &str,
    ) -> Result<Option<(MessageId, u8)>, StoreError>;

    /// What is held for `account`, oldest first, at most `limit`.
    fn held(&self, account: &str, limit: usize) -> Result<Vec<HeldDelivery>, StoreError>;

    /// Accounts that have something held.
    fn held_accounts(&self) -> Result<Vec<String>, StoreError>;

    /// Records of `account` accepted in `[from_ms, to_ms)`, at most `limit` (the CDR query).
    fn messages_by_account(
        &self,
        account: &str,
        from_ms: u64,
        to_ms: u64,
        limit: usize,
    ) -> Result<Vec<MessageRecord>, StoreError>;

    /// The page of [`Self::messages_by_account`] that follows `after`, the `(accepted_ms,
    /// id, part)` of the last record of the previous page (`None`: the first page). A
    /// page shorter than `limit` is the last. Callers that go through a whole day keep
    /// one page in memory at a time.
    fn messages_by_account_after(
        &self,
        account: &str,
        after: Option<(u64, MessageId, u8)>,
        from_ms: u64,
        to_ms: u64,
        limit: usize,
    ) -> Result<Vec<MessageRecord>, StoreError>;

    fn meta(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError>;

    /// The parts and money charged to quota lease `lease` (see [`WriteOp::Charge`]).
    fn charged(&self, lease: u64) -> Result<(u64, i64), StoreError>;
}

/// Writes a batch and waits for it to be durable.
pub async fn write_durable<S: MessageStore + ?Sized>(
    store: &S,
    ops: Vec<WriteOp>,
) -> Result<(), StoreError> {
    let (tx, rx) = tokio::sync::oneshot::channel();
    store.write(
        ops,
        Box::new(move |result| {
            let _ = tx.send(result);
        }),
    )?;
    rx.await.map_err(|_| StoreError::Closed)?
}
