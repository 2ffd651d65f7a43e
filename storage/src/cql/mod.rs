//! The CQL backend: [`CqlStore`], a [`MessageStore`] on ScyllaDB or Apache Cassandra, for
//! gateways of several nodes that share one store.
//!
//! # Tables
//!
//! One table per access path, each keyed so that every read is one partition (or a few
//! consecutive ones). Record values are the postcard bytes the embedded store writes, so
//! both backends read the same records (and records of an older layout are upgraded as
//! there). Ids, keys and leases are `bigint` with the bits of the u64: ids stay below 2^63
//! until 2093, so their order as `bigint` is their order.
//!
//! - `messages ((id), part) → record, submission`: the record of each part.
//!   `MarkSubmitted` writes only the `submission` column; a read merges it into a record
//!   still ACCEPTED, as the embedded store does; a `PutMessage` of a later state clears it.
//! - `pending ((shard, bucket), id, part) → entry`, `bucket` = the id's time in units of
//!   10 minutes, plus `pending_buckets ((shard), bucket)` naming the buckets that may hold
//!   entries (written with every `AddPending`). A queue that drains leaves its tombstones in
//!   old partitions that no scan reads again, instead of in front of every scan of one big
//!   partition. `pending` from the start reads the bucket list and walks the buckets in
//!   order; from a cursor it starts at the cursor's bucket.
//! - `receipts ((link, operator_id)) → id, part`, with a TTL (`receipt_index_ttl_secs`):
//!   an entry whose receipt never comes goes by itself.
//! - `held ((account), key) → delivery`, with a TTL that ends when the delivery expires, and
//!   `held_accounts ((one), account)`: one small partition listing the accounts, each
//!   marker written with the timestamp of the expiry it covers (the marker that expires
//!   last wins) and the same TTL. An account whose deliveries were all released stays
//!   listed until its marker expires, which the trait allows.
//! - `cdr_by_account ((account, day), accepted_ms, id, part) → record` and
//!   `cdr_by_link ((link, day), accepted_ms, id, part)`, `day` = UTC days since the epoch
//!   of `accepted_ms`, written by every `PutMessage` (by link when the record names one).
//!   A by-account row carries a copy of the record, rewritten by every later write of the
//!   part, so a scan reads it without a second lookup; only a copy still ACCEPTED is read
//!   again from `messages` (it may have a submission to merge). A by-link row carries no
//!   copy: a part moves between links, and the row it left under the earlier link stays,
//!   so a scan reads the current record of every row and skips those that name another
//!   link now, as the embedded store does. Scans walk the days of `[from_ms, to_ms)` in
//!   pages.
//! - `client_refs ((account, client_ref), id)`, newest first.
//! - `charges ((lease), id) → parts, amount`; `charged` sums the partition,
//!   `ForgetCharges` deletes it.
//! - `meta ((key)) → value`.
//! - `idempotency ((account, key)) → value, expires_ms` (see [`crate::idempotency`]), with
//!   a TTL that ends at `expires_ms` (rounded up to whole seconds, at least 1 s); a row
//!   read before its TTL ends but after `expires_ms` counts as absent. Added by schema
//!   version 2: a keyspace of version 1 gets it when a node of this build starts.
//!
//! Records, CDR rows and client references live `cdr_retention_days` (0: for ever).
//!
//! # Compaction
//!
//! - `pending`, `pending_buckets`, `receipts`, `held`, `held_accounts`, `idempotency`:
//!   Leveled. Rows live seconds to days and most are deleted (or expire); Leveled keeps a
//!   read to about one SSTable per level and purges tombstones soon. `gc_grace_seconds` is 3 h, the default hint
//!   window: a replica down for less gets the deletes it missed as hints; one down for
//!   longer must be repaired before it serves reads again (the usual rule, with a shorter
//!   clock). If it is not, a deleted row can come back: a pending entry (the dispatcher
//!   reads the record before sending, and skips a part already submitted or final), a
//!   receipt index entry (it points at a part that already has its receipt), a held
//!   delivery (delivered twice: deliveries are at least once anyway). Nothing is lost.
//! - `messages`, `cdr_by_account`, `cdr_by_link`, `client_refs`: TimeWindow, one-day
//!   windows. Rows are written in time order, rewritten within hours (a receipt), expire
//!   together after the retention and are never deleted: whole SSTables are dropped when
//!   their window expires, without compacting them, and a read of a recent message only
//!   touches recent windows.
//! - `charges`, `meta`: SizeTiered (the default): small, rarely read; a partition delete
//!   per settled lease costs one tombstone.
//!
//! # Writes
//!
//! Every statement is prepared once at connect, and every write but the claims of
//! idempotency records (see below) carries `USING TIMESTAMP ?`. The
//! operations of one `write()` call get their timestamps when it is called, from a
//! per-process clock that never repeats or goes back (`max(now, last + 1)` microseconds,
//! one per operation): operations on one key are applied in call order whatever order
//! the database sees them in, and a batch sent again (by the driver's retry, or
//! [`CqlStore::submit`]) writes the same cells at the same timestamps, so it can never
//! overwrite a later state. Statements are marked idempotent for the driver's retry
//! policy. The timestamps come from the node's wall clock: two nodes writing the same
//! key order their writes by their clocks, so a node whose clock is ahead wins over a
//! later write of a node whose clock is behind. Keep the nodes' clocks synchronised
//! (NTP); the gateway writes one part's record from one node at a time.
//!
//! Group commit (`writer`): one task takes every write queued (a bounded channel;
//! `write` returns `Overloaded` when it is full), groups the rows by partition, packs them
//! into unlogged batches of at most `max_batch_bytes` (a partition's rows stay together
//! unless they alone exceed that), sends a round's batches concurrently (at most
//! `max_in_flight_batches`), and reports to each call, in call order, once every batch
//! holding its rows is acknowledged at the configured consistency. A batch that fails or
//! times out reports `Unavailable` to its calls: the database may or may not have applied
//! it. Cassandra warns about batches above `batch_size_warn_threshold` (5 KiB) and
//! unlogged batches over more than 10 partitions: raise those thresholds, or the driver
//! logs a warning per batch.
//!
//! # Cleaning up pending buckets, and why it never loses an entry
//!
//! A scan that finds a bucket empty, when the bucket ended more than 60 s ago (the margin
//! M), confirms it at consistency ALL and deletes the bucket's marker `USING TIMESTAMP
//! S − M`, where S is when the scan started. A marker write wins over that delete when its
//! timestamp is later than S − M. Could an `AddPending` that the scan did not see be older?
//! Its timestamp T was taken when `write()` was called; the writer sends nothing older than
//! 15 s, and the request timeout is at most 15 s, so an acknowledged write was applied
//! before T + 30 s. The scan's read at ALL (at R ≥ S) sees every write applied before
//! R on any replica; a write it missed was applied after R, so T + 30 s > R ≥ S, and
//! T > S − 30 s > S − M: the marker write wins and the bucket stays listed. A write that
//! is never acknowledged was reported `Unavailable` to its caller, who did not count on
//! it. The argument holds across nodes while their clocks differ by less than
//! M − 30 s = 30 s.
//!
//! # Claims of idempotency records
//!
//! `claim_idempotent` is a lightweight transaction, `INSERT … IF NOT EXISTS USING TTL`, at
//! LOCAL_SERIAL with a `local_*` consistency and SERIAL otherwise; its commit is at the
//! configured consistency. Paxos makes it exact across nodes: of concurrent claims of one
//! key exactly one applies, and the others read the `[applied]` column false and the row
//! that won. A row that is there but past its `expires_ms` (its TTL has not run out yet)
//! is taken with `UPDATE … IF expires_ms = <seen> AND value = <seen>`, so that of two
//! nodes that both saw it expired only one takes it. A claim that times out may or may not have been
//! applied: it returns `Unavailable`, and the driver does not retry it (sent again, it
//! would find its own row).
//!
//! `PutIdempotent` and `RemoveIdempotent` are plain writes through the writer, with the
//! timestamps of every write, while a claim's cells carry the database's Paxos timestamp.
//! A put or remove after a claim wins over it only if its timestamp is later, which
//! holds while the nodes' clocks and the database's agree to well within the time between
//! the two (a send). Keep the clocks synchronised (NTP), as for every other write, and use
//! a quorum consistency, so that a claim's read sees the writes acknowledged before it.
//!
//! # Reads
//!
//! Prepared, at the configured consistency; scans are paged. A read that fails returns
//! `Unavailable`: nothing was read, try again.

mod config;
mod encode;
mod schema;
mod statements;
mod writer;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use scylla::client::execution_profile::ExecutionProfile;
use scylla::client::session::Session;
use scylla::client::session_builder::SessionBuilder;
use scylla::client::PoolSize;
use scylla::deserialize::row::DeserializeRow;
use scylla::policies::load_balancing::DefaultPolicy;
use scylla::response::{PagingState, PagingStateResponse};
use scylla::serialize::row::SerializeRow;
use scylla::statement::prepared::PreparedStatement;
use scylla::value::{CqlValue, Row};
use tern_model::MessageId;
use tokio::sync::mpsc::{error::TrySendError, Sender};
use tokio::task::JoinHandle;

pub use config::{
    ConfigProblem, Consistency, CqlConfig, Replication, ReplicationStrategy, TlsConfig,
    MAX_REQUEST_TIMEOUT_MS,
};
pub use encode::PreparedWrite;
pub use schema::SCHEMA_VERSION;

use crate::{
    idempotency, CdrCursor, Claim, Completion, HeldDelivery, MessageRecord, MessageStore,
    PendingEntry, RecordState, StoreError, StoreFuture, Submission, WriteOp,
};
use encode::{as_millis, big, bucket, day, now_micros, ttl_until, Ttls, BUCKET_MS, DAY_MS};
use statements::{Statements, PAGE_ROWS};
use writer::{Counters, Job, Writer};

/// The clean-up margin M of the pending buckets (see the module doc).
const BUCKET_MARGIN: Duration = Duration::from_secs(60);
/// Point reads of one CDR page in flight at once.
const CDR_READS: usize = 16;
/// Conditional writes one claim of an idempotency record tries before it gives up: each
/// that does not apply found a row another node wrote or changed just before.
const CLAIM_ATTEMPTS: usize = 4;

/// Requests sent to the database: the round trips a benchmark divides by messages.
#[derive(Debug, Default)]
pub(crate) struct Requests(AtomicU64);

impl Requests {
    pub(crate) fn count(&self, n: u64) {
        self.0.fetch_add(n, Ordering::Relaxed);
        metrics::counter!("tern_store_cql_requests_total").increment(n);
    }
}

/// What the store has done since it connected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CqlStats {
    /// Write rounds of the group-commit writer.
    pub rounds: u64,
    /// Batches (or lone statements) those rounds sent.
    pub batches: u64,
    /// Operations and write calls in them.
    pub ops: u64,
    pub writes: u64,
    /// Write calls that got `Unavailable`.
    pub failed_writes: u64,
    /// Every request sent to the database: writes, reads, pages, schema (not counting
    /// the driver's own retries and metadata queries).
    pub requests: u64,
}

/// The CQL message store. Dropping it stops taking writes; the writer sends what is
/// queued and stops. [`CqlStore::close`] waits for that.
pub struct CqlStore {
    session: Arc<Session>,
    statements: Arc<Statements>,
    queue: Option<Sender<Job>>,
    writer: Option<JoinHandle<()>>,
    counters: Arc<Counters>,
    requests: Arc<Requests>,
    ttls: Ttls,
    keyspace: String,
}

impl CqlStore {
    /// Connects, creates the keyspace if asked to, brings the schema up to date (or
    /// waits for the node that does) and starts the writer task. Must be called within a
    /// tokio runtime, which the writer then runs on.
    pub async fn connect(config: CqlConfig) -> Result<Self, StoreError> {
        config.validate().map_err(|problems| {
            StoreError::Invalid(
                problems
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join("; "),
            )
        })?;
        let session = Arc::new(session(&config).await?);
        let requests = Arc::new(Requests::default());
        let migrator = schema::Migrator {
            session: &session,
            keyspace: &config.keyspace,
            requests: &requests,
            owner: lock_owner(),
        };
        migrator
            .keyspace(config.create_keyspace.then(|| config.replication.cql()))
            .await?;
        migrator.migrate().await?;
        let statements = Arc::new(
            Statements::prepare(
                &session,
                &config.keyspace,
                &requests,
                config.consistency.serial(),
            )
            .await?,
        );
        let counters = Arc::new(Counters::default());
        let (queue, receiver) = tokio::sync::mpsc::channel(config.write_queue_capacity);
        let writer = Writer {
            session: Arc::clone(&session),
            statements: Arc::clone(&statements),
            queue: receiver,
            max_batch_bytes: config.max_batch_bytes,
            max_in_flight_batches: config.max_in_flight_batches,
            counters: Arc::clone(&counters),
            requests: Arc::clone(&requests),
        };
        let writer = tokio::spawn(writer.run());
        tracing::info!(
            keyspace = %config.keyspace,
            contact_points = ?config.contact_points,
            consistency = ?config.consistency,
            "CQL store connected"
        );
        Ok(Self {
            session,
            statements,
            queue: Some(queue),
            writer: Some(writer),
            counters,
            requests,
            ttls: Ttls {
                receipt: config.receipt_ttl(),
                cdr: config.cdr_ttl(),
            },
            keyspace: config.keyspace,
        })
    }

    /// Turns a batch into rows stamped with their write timestamps, without queueing it.
    /// [`CqlStore::submit`] sends it; submitting it again (after `Unavailable`, say)
    /// writes the same cells at the same timestamps, so it cannot undo anything written
    /// since. The writer refuses a prepared batch older than 15 s (see the module doc).
    pub fn prepare_write(&self, ops: Vec<WriteOp>) -> Result<PreparedWrite, StoreError> {
        check(&ops)?;
        encode::prepare(ops, self.ttls)
    }

    /// Queues a prepared batch; as [`MessageStore::write`].
    pub fn submit(&self, write: PreparedWrite, done: Completion) -> Result<(), StoreError> {
        let queue = self.queue.as_ref().ok_or(StoreError::Closed)?;
        match queue.try_send(Job { write, done }) {
            Ok(()) => Ok(()),
            Err(TrySendError::Full(_)) => Err(StoreError::Overloaded),
            Err(TrySendError::Closed(_)) => Err(StoreError::Closed),
        }
    }

    /// Stops taking writes and waits until the writer has sent (and reported) every
    /// queued one.
    pub async fn close(mut self) -> Result<(), StoreError> {
        self.queue = None;
        if let Some(writer) = self.writer.take() {
            writer
                .await
                .map_err(|e| StoreError::Io(format!("the CQL store writer failed: {e}")))?;
        }
        Ok(())
    }

    /// What the store has done so far.
    pub fn stats(&self) -> CqlStats {
        let c = &self.counters;
        CqlStats {
            rounds: c.rounds.load(Ordering::Relaxed),
            batches: c.batches.load(Ordering::Relaxed),
            ops: c.ops.load(Ordering::Relaxed),
            writes: c.writes.load(Ordering::Relaxed),
            failed_writes: c.failed_writes.load(Ordering::Relaxed),
            requests: self.requests.0.load(Ordering::Relaxed),
        }
    }

    pub fn keyspace(&self) -> &str {
        &self.keyspace
    }
}

/// The driver session: token-aware routing (preferring the local datacenter when one is
/// named), the configured consistency and request timeout for every statement.
async fn session(config: &CqlConfig) -> Result<Session, StoreError> {
    let mut policy = DefaultPolicy::builder().token_aware(true);
    if let Some(dc) = &config.local_datacenter {
        policy = policy
            .prefer_datacenter(dc.clone())
            .permit_dc_failover(!matches!(
                config.consistency,
                Consistency::LocalQuorum | Consistency::LocalOne
            ));
    }
    let profile = ExecutionProfile::builder()
        .consistency(config.consistency.driver())
        .request_timeout(Some(Duration::from_millis(config.request_timeout_ms)))
        .load_balancing_policy(policy.build())
        .build();
    let pool = std::num::NonZeroUsize::new(config.pool_size).unwrap_or(std::num::NonZeroUsize::MIN);
    let mut builder = SessionBuilder::new()
        .known_nodes(&config.contact_points)
        .default_execution_profile_handle(profile.into_handle())
        .pool_size(PoolSize::PerShard(pool))
        .connection_timeout(Duration::from_millis(config.request_timeout_ms.max(1_000)));
    if let (Some(user), Some(password)) = (&config.username, &config.password) {
        builder = builder.user(user, password);
    }
    if let Some(tls) = &config.tls {
        builder = builder.tls_context(Some(config::rustls_config(tls)?));
    }
    builder.build().await.map_err(|e| {
        StoreError::Unavailable(format!(
            "cannot connect to {}: {e}",
            config.contact_points.join(", ")
        ))
    })
}

/// Who holds the schema lock: this process, at this moment.
fn lock_owner() -> String {
    format!("pid {} at {} µs", std::process::id(), now_micros())
}

/// What the database cannot store as given; checked before anything is queued.
fn check(ops: &[WriteOp]) -> Result<(), StoreError> {
    for op in ops {
        match op {
            WriteOp::PutIdempotent {
                account,
                key,
                value,
                ..
            } => idempotency::check(account, key, Some(value))?,
            WriteOp::RemoveIdempotent { account, key } => idempotency::check(account, key, None)?,
            _ => {}
        }
        let empty = match op {
            WriteOp::Hold(delivery) => delivery.account.is_empty().then_some("account"),
            WriteOp::Release { account, .. } => account.is_empty().then_some("account"),
            WriteOp::PutMeta { key, .. } => key.is_empty().then_some("meta key"),
            _ => None,
        };
        if let Some(what) = empty {
            // A partition key of one empty text column is refused by the database.
            return Err(StoreError::Invalid(format!("an empty {what}")));
        }
    }
    Ok(())
}

fn unavailable(what: &str, e: impl std::fmt::Display) -> StoreError {
    StoreError::Unavailable(format!("{what}: {e}"))
}

fn decode<T: serde::de::DeserializeOwned>(what: &str, bytes: &[u8]) -> Result<T, StoreError> {
    postcard::from_bytes(bytes).map_err(|e| StoreError::Corrupt(format!("{what}: {e}")))
}

/// A record as stored, read in today's layout (an older one is upgraded).
fn decode_record(bytes: &[u8]) -> Result<MessageRecord, StoreError> {
    match postcard::from_bytes(bytes) {
        Ok(record) => Ok(record),
        Err(e) => match crate::record::upgrade_legacy_record(bytes) {
            Some(upgraded) => decode("message record", &upgraded),
            None => Err(StoreError::Corrupt(format!("message record: {e}"))),
        },
    }
}

/// A `messages` row as read: the record with its submission, if any, merged.
fn merged(
    record: Option<Vec<u8>>,
    submission: Option<Vec<u8>>,
) -> Result<Option<MessageRecord>, StoreError> {
    let Some(record) = record else {
        // A submission written for a record that is not there (yet): no record.
        return Ok(None);
    };
    let record = decode_record(&record)?;
    Ok(Some(match submission {
        Some(bytes) if record.state == RecordState::Accepted => {
            record.with_submission(decode::<Submission>("submission", &bytes)?)
        }
        _ => record,
    }))
}

fn id_part(id: i64, part: i16) -> Result<(MessageId, u8), StoreError> {
    let part = u8::try_from(part)
        .map_err(|_| StoreError::Corrupt(format!("message {id}: part {part}")))?;
    Ok((MessageId(id as u64), part))
}

fn limit_value(limit: usize) -> i32 {
    i32::try_from(limit).unwrap_or(i32::MAX)
}

/// The value of an `idempotency` row still live at `now_ms`; `None` when it has expired.
fn live_value(
    value: Option<Vec<u8>>,
    expires_ms: Option<i64>,
    now_ms: u64,
) -> Result<Option<Vec<u8>>, StoreError> {
    if !row_live(expires_ms, now_ms)? {
        return Ok(None);
    }
    value.map(Some).ok_or_else(no_value)
}

fn no_value() -> StoreError {
    StoreError::Corrupt("idempotency: a live row without a value".into())
}

/// Whether an `idempotency` row that expires at `expires_ms` is live at `now_ms` (a row
/// without an expiry, which no write makes, counts as expired).
fn row_live(expires_ms: Option<i64>, now_ms: u64) -> Result<bool, StoreError> {
    let Some(expires_ms) = expires_ms else {
        return Ok(false);
    };
    let expires_ms = u64::try_from(expires_ms)
        .map_err(|_| StoreError::Corrupt(format!("idempotency: expires_ms {expires_ms}")))?;
    Ok(idempotency::live(expires_ms, now_ms))
}

/// The row a conditional write found instead of applying: what holds the key.
struct Holder {
    value: Option<Vec<u8>>,
    expires_ms: Option<i64>,
}

/// A `messages` row: the record and the submission, either possibly missing.
type MessageRow = (Option<Vec<u8>>, Option<Vec<u8>>);

/// The CDR index a scan reads.
#[derive(Debug, Clone, Copy)]
enum Index {
    Account,
    Link,
}

/// A CDR index row: where the record is, and the by-account copy.
struct CdrRow {
    accepted_ms: u64,
    id: MessageId,
    part: u8,
    copy: Option<Vec<u8>>,
}

impl CqlStore {
    /// Every row of a statement that reads a bounded set (a partition, or `LIMIT`).
    async fn rows<R>(
        &self,
        what: &str,
        statement: &PreparedStatement,
        values: impl SerializeRow,
    ) -> Result<Vec<R>, StoreError>
    where
        R: for<'f> DeserializeRow<'f, 'f>,
    {
        let (rows, _) = self
            .page(what, statement, values, PagingState::start())
            .await?;
        Ok(rows)
    }

    /// One page of a scan, and where the next starts (`None`: it was the last).
    async fn page<R>(
        &self,
        what: &str,
        statement: &PreparedStatement,
        values: impl SerializeRow,
        state: PagingState,
    ) -> Result<(Vec<R>, Option<PagingState>), StoreError>
    where
        R: for<'f> DeserializeRow<'f, 'f>,
    {
        self.requests.count(1);
        let (result, next) = self
            .session
            .execute_single_page(statement, values, state)
            .await
            .map_err(|e| unavailable(what, e))?;
        let rows = result
            .into_rows_result()
            .map_err(|e| unavailable(what, e))?;
        let rows = rows
            .rows::<R>()
            .map_err(|e| StoreError::Corrupt(format!("{what}: {e}")))?
            .collect::<Result<Vec<R>, _>>()
            .map_err(|e| StoreError::Corrupt(format!("{what}: {e}")))?;
        let next = match next {
            PagingStateResponse::HasMorePages { state } => Some(state),
            PagingStateResponse::NoMorePages => None,
        };
        Ok((rows, next))
    }

    /// Every row of a scan, page by page.
    async fn all_rows<R, V>(
        &self,
        what: &str,
        statement: &PreparedStatement,
        values: &V,
    ) -> Result<Vec<R>, StoreError>
    where
        R: for<'f> DeserializeRow<'f, 'f>,
        V: SerializeRow,
    {
        let mut out = Vec::new();
        let mut state = PagingState::start();
        loop {
            let (rows, next) = self.page(what, statement, values, state).await?;
            out.extend(rows);
            match next {
                Some(next) => state = next,
                None => return Ok(out),
            }
        }
    }

    async fn read_message(
        &self,
        id: MessageId,
        part: u8,
    ) -> Result<Option<MessageRecord>, StoreError> {
        let rows: Vec<MessageRow> = self
            .rows(
                "messages",
                &self.statements.reads.message,
                (big(id.0), i16::from(part)),
            )
            .await?;
        match rows.into_iter().next() {
            Some((record, submission)) => merged(record, submission),
            None => Ok(None),
        }
    }

    async fn read_message_parts(&self, id: MessageId) -> Result<Vec<MessageRecord>, StoreError> {
        let rows: Vec<MessageRow> = self
            .rows(
                "messages",
                &self.statements.reads.message_parts,
                (big(id.0),),
            )
            .await?;
        let mut parts = Vec::with_capacity(rows.len());
        for (record, submission) in rows {
            if let Some(record) = merged(record, submission)? {
                parts.push(record);
            }
        }
        Ok(parts)
    }

    async fn read_pending(
        &self,
        shard: u16,
        after: Option<(MessageId, u8)>,
        limit: usize,
    ) -> Result<Vec<PendingEntry>, StoreError> {
        let mut out = Vec::new();
        if limit == 0 {
            return Ok(out);
        }
        let started_us = now_micros();
        let reads = &self.statements.reads;
        let from = after.map_or(0, |(id, _)| bucket(id));
        let buckets: Vec<(i64,)> = self
            .all_rows(
                "pending_buckets",
                &reads.pending_buckets,
                &(i32::from(shard), from as i64),
            )
            .await?;
        for (b,) in buckets {
            let remaining = limit_value(limit - out.len());
            let (rows, from_start): (Vec<(Vec<u8>,)>, bool) = match after {
                Some((id, part)) if bucket(id) == b as u64 => {
                    let values = (i32::from(shard), b, big(id.0), i16::from(part), remaining);
                    (
                        self.rows("pending", &reads.pending_after, values).await?,
                        false,
                    )
                }
                _ => {
                    let values = (i32::from(shard), b, remaining);
                    (self.rows("pending", &reads.pending, values).await?, true)
                }
            };
            if rows.is_empty() && from_start {
                self.forget_bucket(shard, b, started_us).await;
            }
            for (entry,) in rows {
                out.push(decode("pending entry", &entry)?);
            }
            if out.len() >= limit {
                break;
            }
        }
        Ok(out)
    }

    /// Deletes the marker of a bucket found empty, when it is old enough and empty at
    /// every replica (see the module doc). Best effort: a failure leaves the marker,
    /// which costs later scans one empty read.
    async fn forget_bucket(&self, shard: u16, b: i64, scan_started_us: u64) {
        let margin_us = BUCKET_MARGIN.as_micros() as u64;
        let ended_us = (b as u64 + 1).saturating_mul(BUCKET_MS * 1000);
        if ended_us.saturating_add(margin_us) > scan_started_us {
            return;
        }
        let reads = &self.statements.reads;
        let probe: Result<Vec<(i64,)>, _> = self
            .rows("pending", &reads.pending_probe, (i32::from(shard), b))
            .await;
        match probe {
            Ok(rows) if rows.is_empty() => {}
            Ok(_) => return,
            Err(e) => {
                tracing::debug!(shard, bucket = b, error = %e, "pending bucket kept");
                return;
            }
        }
        let delete_at = scan_started_us.saturating_sub(margin_us) as i64;
        self.requests.count(1);
        let result = self
            .session
            .execute_unpaged(
                &reads.pending_bucket_delete,
                (delete_at, i32::from(shard), b),
            )
            .await;
        match result {
            Ok(_) => tracing::debug!(shard, bucket = b, "empty pending bucket forgotten"),
            Err(e) => tracing::debug!(shard, bucket = b, error = %e, "pending bucket kept"),
        }
    }

    async fn read_receipt_owner(
        &self,
        link: &str,
        operator_id: &str,
    ) -> Result<Option<(MessageId, u8)>, StoreError> {
        let rows: Vec<(i64, i16)> = self
            .rows(
                "receipts",
                &self.statements.reads.receipt,
                (link, operator_id),
            )
            .await?;
        rows.into_iter()
            .next()
            .map(|(id, part)| id_part(id, part))
            .transpose()
    }

    async fn read_held(
        &self,
        account: &str,
        limit: usize,
    ) -> Result<Vec<HeldDelivery>, StoreError> {
        if limit == 0 || account.is_empty() {
            return Ok(Vec::new());
        }
        let rows: Vec<(Vec<u8>,)> = self
            .rows(
                "held",
                &self.statements.reads.held,
                (account, limit_value(limit)),
            )
            .await?;
        rows.iter()
            .map(|(bytes,)| decode("held delivery", bytes))
            .collect()
    }

    async fn read_held_accounts(&self) -> Result<Vec<String>, StoreError> {
        let rows: Vec<(String,)> = self
            .all_rows("held_accounts", &self.statements.reads.held_accounts, &())
            .await?;
        Ok(rows.into_iter().map(|(account,)| account).collect())
    }

    /// A page of a CDR index: the records of `name` accepted in `[from_ms, to_ms)` after
    /// `after`, at most `limit`, day partition by day partition.
    async fn cdr_page(
        &self,
        index: Index,
        name: &str,
        after: Option<CdrCursor>,
        (from_ms, to_ms): (u64, u64),
        limit: usize,
    ) -> Result<Vec<MessageRecord>, StoreError> {
        let mut out = Vec::new();
        // The day partitions to walk: none before the first id could be issued, none after
        // tomorrow (no node accepts a message in the future), so that an open range such
        // as `0..u64::MAX` is a walk over the days the gateway can have been running.
        let from_ms = from_ms.max(MessageId::EPOCH_UNIX_MS);
        let to_ms = to_ms.min(tern_model::now_ms().saturating_add(DAY_MS));
        if limit == 0 || from_ms >= to_ms {
            return Ok(out);
        }
        let cursor = after.filter(|&(ms, _, _)| ms >= from_ms);
        if cursor.is_some_and(|(ms, _, _)| ms >= to_ms) {
            return Ok(out);
        }
        let first = day(cursor.map_or(from_ms, |(ms, _, _)| ms));
        let last = day(to_ms - 1);
        for d in first..=last {
            let here = cursor.filter(|&(ms, _, _)| day(ms) == d);
            let mut state = PagingState::start();
            loop {
                let wanted = limit - out.len();
                let (rows, next) = self
                    .cdr_rows(index, name, d, here, (from_ms, to_ms), wanted, state)
                    .await?;
                let mut records = futures::stream::iter(rows)
                    .map(|row| self.current(index, name, row))
                    .buffered(CDR_READS);
                while let Some(record) = records.next().await {
                    if let Some(record) = record? {
                        out.push(record);
                        if out.len() >= limit {
                            return Ok(out);
                        }
                    }
                }
                match next {
                    Some(next) => state = next,
                    None => break,
                }
            }
        }
        Ok(out)
    }

    /// One page of index rows of day `d`, about as many as are wanted.
    #[allow(clippy::too_many_arguments)]
    async fn cdr_rows(
        &self,
        index: Index,
        name: &str,
        d: i32,
        cursor: Option<CdrCursor>,
        (from_ms, to_ms): (u64, u64),
        wanted: usize,
        state: PagingState,
    ) -> Result<(Vec<CdrRow>, Option<PagingState>), StoreError> {
        let reads = &self.statements.reads;
        let statement = match (index, cursor) {
            (Index::Account, None) => &reads.cdr_by_account,
            (Index::Account, Some(_)) => &reads.cdr_by_account_after,
            (Index::Link, None) => &reads.cdr_by_link,
            (Index::Link, Some(_)) => &reads.cdr_by_link_after,
        };
        // Pages about the size of what is wanted: a report's short page should not read
        // (and, by link, look up) a thousand rows.
        let mut statement = statement.clone();
        statement.set_page_size(limit_value(wanted.clamp(16, PAGE_ROWS as usize)));
        let mut values = vec![CqlValue::Text(name.to_owned()), CqlValue::Int(d)];
        match cursor {
            Some((ms, id, part)) => values.extend([
                CqlValue::BigInt(ms as i64),
                big(id.0),
                CqlValue::SmallInt(i16::from(part)),
                CqlValue::BigInt(to_ms as i64),
            ]),
            None => values.extend([
                CqlValue::BigInt(from_ms as i64),
                CqlValue::BigInt(to_ms as i64),
            ]),
        }
        let what = match index {
            Index::Account => "cdr_by_account",
            Index::Link => "cdr_by_link",
        };
        match index {
            Index::Account => {
                let (rows, next) = self
                    .page::<(i64, i64, i16, Option<Vec<u8>>)>(what, &statement, &values, state)
                    .await?;
                let rows = rows
                    .into_iter()
                    .map(|(ms, id, part, copy)| cdr_row(ms, id, part, copy))
                    .collect::<Result<_, _>>()?;
                Ok((rows, next))
            }
            Index::Link => {
                let (rows, next) = self
                    .page::<(i64, i64, i16)>(what, &statement, &values, state)
                    .await?;
                let rows = rows
                    .into_iter()
                    .map(|(ms, id, part)| cdr_row(ms, id, part, None))
                    .collect::<Result<_, _>>()?;
                Ok((rows, next))
            }
        }
    }

    /// The record an index row stands for, when it still belongs there: the by-account
    /// copy as it is unless it may have a submission to merge, otherwise the record read
    /// again.
    async fn current(
        &self,
        index: Index,
        name: &str,
        row: CdrRow,
    ) -> Result<Option<MessageRecord>, StoreError> {
        if let (Index::Account, Some(copy)) = (index, &row.copy) {
            let copy = decode_record(copy)?;
            if copy.state != RecordState::Accepted {
                let belongs = copy.account == name && copy.accepted_ms == row.accepted_ms;
                return Ok(belongs.then_some(copy));
            }
        }
        let Some(record) = self.read_message(row.id, row.part).await? else {
            return Ok(None);
        };
        let belongs = record.accepted_ms == row.accepted_ms
            && match index {
                Index::Account => record.account == name,
                Index::Link => record.link.as_deref() == Some(name),
            };
        Ok(belongs.then_some(record))
    }

    async fn read_client_refs(
        &self,
        account: &str,
        client_ref: &str,
        limit: usize,
    ) -> Result<Vec<MessageId>, StoreError> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        let rows: Vec<(i64,)> = self
            .rows(
                "client_refs",
                &self.statements.reads.client_refs,
                (account, client_ref, limit_value(limit)),
            )
            .await?;
        Ok(rows.into_iter().map(|(id,)| MessageId(id as u64)).collect())
    }

    async fn read_meta(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        if key.is_empty() {
            return Ok(None);
        }
        let rows: Vec<(Option<Vec<u8>>,)> = self
            .rows("meta", &self.statements.reads.meta, (key,))
            .await?;
        Ok(rows.into_iter().next().and_then(|(value,)| value))
    }

    async fn read_idempotent(
        &self,
        account: &str,
        key: &str,
    ) -> Result<Option<Vec<u8>>, StoreError> {
        idempotency::check(account, key, None)?;
        let rows: Vec<(Option<Vec<u8>>, Option<i64>)> = self
            .rows(
                "idempotency",
                &self.statements.reads.idempotent,
                (account, key),
            )
            .await?;
        match rows.into_iter().next() {
            Some((value, expires_ms)) => live_value(value, expires_ms, tern_model::now_ms()),
            None => Ok(None),
        }
    }

    /// The claim of an idempotency record (see the module doc): the insert-if-absent, and
    /// the takeover of a row found expired, until one applies or a live row is found.
    async fn claim(
        &self,
        account: &str,
        key: &str,
        value: Vec<u8>,
        expires_ms: u64,
    ) -> Result<Claim, StoreError> {
        idempotency::check(account, key, Some(&value))?;
        let reads = &self.statements.reads;
        let expires = as_millis(expires_ms);
        // The expired row the last attempt found; `None`: no row found yet.
        let mut expired: Option<Holder> = None;
        for _ in 0..CLAIM_ATTEMPTS {
            let ttl = ttl_until(expires_ms, tern_model::now_ms());
            let found = match expired {
                None => {
                    let values = (account, key, &value, expires, ttl);
                    self.conditional("idempotency claim", &reads.claim, values)
                        .await?
                }
                Some(seen) => {
                    let values = (
                        ttl,
                        &value,
                        expires,
                        account,
                        key,
                        seen.expires_ms,
                        seen.value,
                    );
                    self.conditional("idempotency claim", &reads.reclaim, values)
                        .await?
                }
            };
            let Some(holder) = found else {
                return Ok(Claim::Claimed);
            };
            if row_live(holder.expires_ms, tern_model::now_ms())? {
                return holder.value.map(Claim::Exists).ok_or_else(no_value);
            }
            expired = Some(holder);
        }
        Err(StoreError::Unavailable(format!(
            "idempotency claim of {key:?} (account {account:?}): the row changed under \
             each of {CLAIM_ATTEMPTS} conditional writes"
        )))
    }

    /// Runs a lightweight transaction; `None` when it applied, otherwise the row that
    /// kept it from applying.
    async fn conditional(
        &self,
        what: &str,
        statement: &PreparedStatement,
        values: impl SerializeRow,
    ) -> Result<Option<Holder>, StoreError> {
        self.requests.count(1);
        let result = self
            .session
            .execute_unpaged(statement, values)
            .await
            .map_err(|e| unavailable(what, e))?;
        let rows = result
            .into_rows_result()
            .map_err(|e| unavailable(what, e))?;
        let corrupt = |e: &dyn std::fmt::Display| StoreError::Corrupt(format!("{what}: {e}"));
        let mut row: Row = rows.first_row().map_err(|e| corrupt(&e))?;
        // The columns of the answer depend on the database and on whether it applied:
        // they are found by name.
        let specs = rows.column_specs();
        let mut column = |name: &str| {
            let (i, _) = specs.get_by_name(name)?;
            row.columns.get_mut(i)?.take()
        };
        match column("[applied]") {
            Some(CqlValue::Boolean(true)) => return Ok(None),
            Some(CqlValue::Boolean(false)) => {}
            other => return Err(corrupt(&format!("[applied] is {other:?}"))),
        }
        let value = match column("value") {
            None => None,
            Some(CqlValue::Blob(bytes)) => Some(bytes),
            Some(other) => return Err(corrupt(&format!("value is {other:?}"))),
        };
        let expires_ms = match column("expires_ms") {
            None => None,
            Some(CqlValue::BigInt(ms)) => Some(ms),
            Some(other) => return Err(corrupt(&format!("expires_ms is {other:?}"))),
        };
        Ok(Some(Holder { value, expires_ms }))
    }

    async fn read_charged(&self, lease: u64) -> Result<(u64, i64), StoreError> {
        let rows: Vec<(Option<i64>, Option<i64>)> = self
            .all_rows("charges", &self.statements.reads.charges, &(big(lease),))
            .await?;
        Ok(rows
            .into_iter()
            .fold((0u64, 0i64), |(parts, amount), (p, a)| {
                (
                    parts.saturating_add(p.unwrap_or(0) as u64),
                    amount.saturating_add(a.unwrap_or(0)),
                )
            }))
    }
}

fn cdr_row(ms: i64, id: i64, part: i16, copy: Option<Vec<u8>>) -> Result<CdrRow, StoreError> {
    let (id, part) = id_part(id, part)?;
    Ok(CdrRow {
        accepted_ms: ms as u64,
        id,
        part,
        copy,
    })
}

impl Drop for CqlStore {
    fn drop(&mut self) {
        // The writer finishes what is queued once the last sender is gone.
        self.queue = None;
    }
}

impl MessageStore for CqlStore {
    fn write(&self, ops: Vec<WriteOp>, done: Completion) -> Result<(), StoreError> {
        let write = self.prepare_write(ops)?;
        self.submit(write, done)
    }

    fn message(&self, id: MessageId, part: u8) -> StoreFuture<'_, Option<MessageRecord>> {
        Box::pin(self.read_message(id, part))
    }

    fn message_parts(&self, id: MessageId) -> StoreFuture<'_, Vec<MessageRecord>> {
        Box::pin(self.read_message_parts(id))
    }

    fn pending(
        &self,
        shard: u16,
        after: Option<(MessageId, u8)>,
        limit: usize,
    ) -> StoreFuture<'_, Vec<PendingEntry>> {
        Box::pin(self.read_pending(shard, after, limit))
    }

    fn receipt_owner<'a>(
        &'a self,
        link: &'a str,
        operator_id: &'a str,
    ) -> StoreFuture<'a, Option<(MessageId, u8)>> {
        Box::pin(self.read_receipt_owner(link, operator_id))
    }

    fn held<'a>(&'a self, account: &'a str, limit: usize) -> StoreFuture<'a, Vec<HeldDelivery>> {
        Box::pin(self.read_held(account, limit))
    }

    fn held_accounts(&self) -> StoreFuture<'_, Vec<String>> {
        Box::pin(self.read_held_accounts())
    }

    fn messages_by_account<'a>(
        &'a self,
        account: &'a str,
        after: Option<CdrCursor>,
        from_ms: u64,
        to_ms: u64,
        limit: usize,
    ) -> StoreFuture<'a, Vec<MessageRecord>> {
        Box::pin(self.cdr_page(Index::Account, account, after, (from_ms, to_ms), limit))
    }

    fn messages_by_link<'a>(
        &'a self,
        link: &'a str,
        after: Option<CdrCursor>,
        from_ms: u64,
        to_ms: u64,
        limit: usize,
    ) -> StoreFuture<'a, Vec<MessageRecord>> {
        Box::pin(self.cdr_page(Index::Link, link, after, (from_ms, to_ms), limit))
    }

    fn messages_by_client_ref<'a>(
        &'a self,
        account: &'a str,
        client_ref: &'a str,
        limit: usize,
    ) -> StoreFuture<'a, Vec<MessageId>> {
        Box::pin(self.read_client_refs(account, client_ref, limit))
    }

    fn meta<'a>(&'a self, key: &'a str) -> StoreFuture<'a, Option<Vec<u8>>> {
        Box::pin(self.read_meta(key))
    }

    fn charged(&self, lease: u64) -> StoreFuture<'_, (u64, i64)> {
        Box::pin(self.read_charged(lease))
    }

    fn idempotent<'a>(
        &'a self,
        account: &'a str,
        key: &'a str,
    ) -> StoreFuture<'a, Option<Vec<u8>>> {
        Box::pin(self.read_idempotent(account, key))
    }

    fn claim_idempotent<'a>(
        &'a self,
        account: &'a str,
        key: &'a str,
        value: Vec<u8>,
        expires_ms: u64,
    ) -> StoreFuture<'a, Claim> {
        Box::pin(self.claim(account, key, value, expires_ms))
    }
}
