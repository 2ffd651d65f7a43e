//! The embedded backend: [`EmbeddedStore`], a [`MessageStore`] on the `fjall` LSM engine,
//! for a single node (`tern dev`, small deployments).
//!
//! Why fjall rather than redb: the gateway's workload is write-heavy. Every message is
//! written several times (accepted, submitted, final), pending and receipt-index entries
//! live for seconds to hours and are deleted, and reads are mostly point lookups and short
//! scans. An LSM tree turns all of that into appends to one journal and sequential flushes,
//! and one journal sync covers a whole group of batches across every keyspace. redb is a
//! copy-on-write B-tree: each durable commit rewrites the touched pages up to the root and
//! syncs them, which suits read-mostly data, not a stream of small durable writes. fjall is
//! pure safe Rust (no C++ toolchain, unlike RocksDB) and actively maintained.
//!
//! Layout, one keyspace per access path (integers big-endian, see `keys`):
//! - `messages`: `id ‖ part` → [`MessageRecord`] (postcard)
//! - `pending`: `shard ‖ id ‖ part` → [`PendingEntry`]
//! - `receipts`: `link ‖ 0x00 ‖ operator_id` → `id ‖ part`
//! - `held`: `account ‖ 0x00 ‖ key` → [`HeldDelivery`]
//! - `messages_by_account`: `account ‖ 0x00 ‖ accepted_ms ‖ id ‖ part` → empty, written with
//!   every `PutMessage`. An entry left behind by a record rewritten under another account
//!   or acceptance time is skipped when read, because the record no longer matches it.
//! - `messages_by_link`: `link ‖ 0x00 ‖ accepted_ms ‖ id ‖ part` → empty, written by every
//!   `PutMessage` whose record names a link; the entries of the links a record named before
//!   are skipped the same way. A part known as submitted from its submission entry alone
//!   is listed once its record is next written (its receipt or its end).
//! - `messages_by_client_ref`: `account ‖ 0x00 ‖ client_ref ‖ 0x00 ‖ id` → empty, written by
//!   every `PutMessage` whose record has the customer's reference; newest first is the
//!   prefix read backwards, ids being ordered in time
//! - `meta`: key → bytes
//! - `charges`: `lease ‖ id` → `parts ‖ amount`: what each message spent of a quota lease,
//!   until the lease is settled for good
//! - `idempotency`: `account ‖ 0x00 ‖ key` → `expires_ms ‖ value`: idempotency records
//!   (see [`crate::idempotency`]); one past its expiry reads as absent
//! - `idempotency_by_expiry`: `expires_ms ‖ account ‖ 0x00 ‖ key` → empty, written with
//!   every record, so that expired records are found without a scan of the live ones
//!
//! Claims of idempotency records are decided on the writer thread, in queue order with
//! every other write: the writer reads the key and, when it is free, writes the record in
//! the same commit, so no write of the key can come in between, and the claim is reported
//! with the commit's completions, once it is durable. Expired records are swept by the
//! writer too, after a commit: once 256 records were put or claimed since the last sweep,
//! or a minute after it when any was. A sweep walks the expiry index up to the present,
//! at most 1024 entries, removes each entry and the record it names when that record has
//! expired (one rewritten since with a later expiry stays), and commits without a sync
//! of its own (a sweep lost in a crash is done again). A sweep that reached its bound
//! leaves the next commit to go on, so the sweeps remove expired records faster than
//! records are put, and the keyspaces stay the size of the records of one window.
//!
//! Writes go through group commit (`writer`): callers queue batches on a bounded channel,
//! one thread commits everything queued as one engine batch with one journal sync and then
//! runs the completions in order. Reads run on tokio's blocking pool, each with its own
//! clone of the keyspace handles, so that a read waiting for the disk never holds up a
//! runtime thread.
//! The set of accounts with held deliveries is kept in memory; it is rebuilt on open with
//! one seek per account, not a scan of every held item.

mod batch;
mod keys;
#[cfg(feature = "test-disk")]
pub mod test_disk;
mod writer;

use std::collections::BTreeSet;
use std::ops::Bound;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;

use crossbeam_channel::{Sender, TrySendError};
use fjall::{Database, Keyspace, KeyspaceCreateOptions, PersistMode};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use tern_model::MessageId;

use crate::{
    idempotency, CdrCursor, Claim, Completion, HeldDelivery, MessageRecord, MessageStore,
    PendingEntry, RecordState, StoreError, StoreFuture, Submission, WriteOp,
};
use batch::{Job, Space};
use writer::{Counters, HeldAccounts, Writer};

/// Settings of the embedded store (`[storage.embedded]` in the node's TOML).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EmbeddedConfig {
    /// Batches that may wait for the writer. A write beyond this is refused at once with
    /// `Overloaded`, so that sessions shed load instead of queueing without bound.
    pub queue_capacity: usize,
    /// Operations applied by one commit. A batch is never split, so a commit that starts
    /// with a larger batch holds just that batch.
    pub max_ops_per_commit: usize,
    /// Sync the journal to disk before reporting a batch durable. Turning this off keeps
    /// acknowledged writes through a process crash but not through a power loss: for
    /// benchmarks and tests only.
    pub fsync: bool,
    /// Block cache, in bytes.
    pub cache_bytes: u64,
    /// The largest memtable of one keyspace before it is flushed to disk, in bytes. Each
    /// of the twelve keyspaces holds one, and a full one waits in memory beside its
    /// successor until its flush is done: most of the node's memory under load.
    pub memtable_bytes: u64,
}

impl Default for EmbeddedConfig {
    fn default() -> Self {
        Self {
            queue_capacity: 65_536,
            max_ops_per_commit: 16_384,
            fsync: true,
            cache_bytes: 64 * 1024 * 1024,
            // 16 MiB instead of fjall's 64 MiB: twelve keyspaces of full 64 MiB memtables
            // would hold 768 MiB of RAM for what the journal already makes durable.
            memtable_bytes: 16 * 1024 * 1024,
        }
    }
}

impl EmbeddedConfig {
    fn validate(&self) -> Result<(), StoreError> {
        if self.queue_capacity == 0 {
            return Err(StoreError::Invalid(
                "storage.embedded.queue_capacity must be at least 1".into(),
            ));
        }
        if self.max_ops_per_commit == 0 {
            return Err(StoreError::Invalid(
                "storage.embedded.max_ops_per_commit must be at least 1".into(),
            ));
        }
        if self.memtable_bytes < MIN_MEMTABLE_BYTES {
            return Err(StoreError::Invalid(
                "storage.embedded.memtable_bytes must be at least 1 MiB".into(),
            ));
        }
        Ok(())
    }
}

/// What the writer has done since the store was opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct StoreStats {
    /// Engine commits, each with one journal sync when `fsync` is on.
    pub commits: u64,
    /// Batches (calls of `write`) committed or failed.
    pub batches: u64,
    /// Operations in those batches.
    pub ops: u64,
    /// Commits that failed.
    pub write_errors: u64,
}

/// The smallest memtable allowed: below it flushes and compactions would cost more than
/// the memory saved.
pub const MIN_MEMTABLE_BYTES: u64 = 1024 * 1024;

/// Handles of every keyspace.
#[derive(Clone)]
pub(crate) struct Spaces {
    messages: Keyspace,
    pending: Keyspace,
    receipts: Keyspace,
    held: Keyspace,
    by_account: Keyspace,
    by_link: Keyspace,
    by_client_ref: Keyspace,
    meta: Keyspace,
    submissions: Keyspace,
    charges: Keyspace,
    idempotency: Keyspace,
    idempotency_expiry: Keyspace,
}

impl Spaces {
    fn open(db: &Database, memtable_bytes: u64) -> fjall::Result<Self> {
        let options = || KeyspaceCreateOptions::default().max_memtable_size(memtable_bytes);
        let open = |space: Space| db.keyspace(space.name(), options);
        Ok(Self {
            messages: open(Space::Messages)?,
            pending: open(Space::Pending)?,
            receipts: open(Space::Receipts)?,
            held: open(Space::Held)?,
            by_account: open(Space::ByAccount)?,
            by_link: open(Space::ByLink)?,
            by_client_ref: open(Space::ByClientRef)?,
            meta: open(Space::Meta)?,
            submissions: open(Space::Submissions)?,
            charges: open(Space::Charges)?,
            idempotency: open(Space::Idempotency)?,
            idempotency_expiry: open(Space::IdempotencyExpiry)?,
        })
    }

    fn get(&self, space: Space) -> &Keyspace {
        match space {
            Space::Messages => &self.messages,
            Space::Pending => &self.pending,
            Space::Receipts => &self.receipts,
            Space::Held => &self.held,
            Space::ByAccount => &self.by_account,
            Space::ByLink => &self.by_link,
            Space::ByClientRef => &self.by_client_ref,
            Space::Meta => &self.meta,
            Space::Submissions => &self.submissions,
            Space::Charges => &self.charges,
            Space::Idempotency => &self.idempotency,
            Space::IdempotencyExpiry => &self.idempotency_expiry,
        }
    }
}

/// What a read needs: cheap handles, cloned into each read's blocking task.
#[derive(Clone)]
struct Reader {
    spaces: Spaces,
    path: Arc<Path>,
}

/// The writer's queue and its thread. The writer parks when the queue is empty and every
/// job queued unparks it: a blocking receive would spin and yield first, a system call
/// each, for every commit at moderate rates, when the writer waits between two messages.
struct Queue {
    jobs: Sender<Job>,
    writer: std::thread::Thread,
}

/// The embedded message store. Dropping it (or [`EmbeddedStore::close`]) stops taking
/// writes, commits what is queued and joins the writer thread.
pub struct EmbeddedStore {
    db: Database,
    reader: Reader,
    queue: Option<Queue>,
    writer: Option<JoinHandle<()>>,
    counters: Arc<Counters>,
    held_accounts: HeldAccounts,
    fsync: bool,
    path: PathBuf,
}

impl EmbeddedStore {
    /// Opens (or creates) the store in `dir` and starts its writer thread.
    pub fn open(dir: &Path, config: EmbeddedConfig) -> Result<Self, StoreError> {
        config.validate()?;
        let io = |e: fjall::Error| StoreError::Io(format!("{}: {e}", dir.display()));
        let db = Database::builder(dir)
            .cache_size(config.cache_bytes)
            .open()
            .map_err(io)?;
        let spaces = Spaces::open(&db, config.memtable_bytes).map_err(io)?;
        let held_accounts = Arc::new(Mutex::new(held_accounts_on_disk(&spaces.held, dir)?));
        let counters = Arc::new(Counters::default());
        let (queue, receiver) = crossbeam_channel::bounded(config.queue_capacity);
        let writer = Writer {
            db: db.clone(),
            spaces: spaces.clone(),
            queue: receiver,
            fsync: config.fsync,
            max_ops_per_commit: config.max_ops_per_commit,
            counters: Arc::clone(&counters),
            held_accounts: Arc::clone(&held_accounts),
            emptiness_checked: Default::default(),
            sweep: writer::Sweep::default(),
            path: dir.display().to_string(),
        };
        let writer = std::thread::Builder::new()
            .name("tern-store-writer".into())
            .spawn(move || writer.run())
            .map_err(|e| {
                StoreError::Io(format!(
                    "{}: cannot start the writer thread: {e}",
                    dir.display()
                ))
            })?;
        let queue = Queue {
            jobs: queue,
            writer: writer.thread().clone(),
        };
        tracing::info!(path = %dir.display(), fsync = config.fsync, "embedded store open");
        Ok(Self {
            db,
            reader: Reader {
                spaces,
                path: Arc::from(dir),
            },
            queue: Some(queue),
            writer: Some(writer),
            counters,
            held_accounts,
            fsync: config.fsync,
            path: dir.to_path_buf(),
        })
    }

    /// Stops taking writes, commits everything queued, joins the writer and syncs.
    pub fn close(mut self) -> Result<(), StoreError> {
        self.shut_down()
    }

    /// What the writer has done so far.
    pub fn stats(&self) -> StoreStats {
        let c = &self.counters;
        StoreStats {
            commits: c.commits.load(Ordering::Relaxed),
            batches: c.batches.load(Ordering::Relaxed),
            ops: c.ops.load(Ordering::Relaxed),
            write_errors: c.write_errors.load(Ordering::Relaxed),
        }
    }

    /// The directory the store lives in.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn shut_down(&mut self) -> Result<(), StoreError> {
        // Dropping the only sender lets the writer drain the queue and stop.
        self.queue = None;
        let Some(writer) = self.writer.take() else {
            return Ok(());
        };
        writer.thread().unpark();
        if writer.thread().id() == std::thread::current().id() {
            // The last handle was dropped by a completion: the writer finishes the queue
            // and stops by itself once this completion returns.
            return Ok(());
        }
        if writer.join().is_err() {
            return Err(self.reader.io("the writer thread panicked"));
        }
        if !self.fsync {
            self.db
                .persist(PersistMode::SyncAll)
                .map_err(|e| self.reader.io(e))?;
        }
        Ok(())
    }

    /// The writer's queue, while the store takes writes.
    fn accepting(&self) -> Result<&Queue, StoreError> {
        let queue = self.queue.as_ref().ok_or(StoreError::Closed)?;
        if let Some(failure) = self.counters.failure.get() {
            return Err(StoreError::Io(format!(
                "{}: the store failed earlier ({failure})",
                self.path.display()
            )));
        }
        Ok(queue)
    }

    /// Queues a job for the writer; `Overloaded` at once when the queue is full.
    fn queue(queue: &Queue, job: Job) -> Result<(), StoreError> {
        match queue.jobs.try_send(job) {
            Ok(()) => {
                queue.writer.unpark();
                Ok(())
            }
            Err(TrySendError::Full(_)) => Err(StoreError::Overloaded),
            Err(TrySendError::Disconnected(_)) => Err(StoreError::Closed),
        }
    }

    /// Runs a point lookup (one key, or the few keys of one message) on the calling thread.
    /// Such a read is served from the memtables, the block cache or the page cache nearly
    /// always, in microseconds; a hop to the blocking pool and back cost more than the read
    /// (two of them per operator receipt held the correlator to ~3,000 receipts/s).
    fn point_read<T, F>(&self, read: F) -> StoreFuture<'static, T>
    where
        T: Send + 'static,
        F: FnOnce(&Reader) -> Result<T, StoreError>,
    {
        let result = read(&self.reader);
        Box::pin(std::future::ready(result))
    }

    /// Runs `read` on the blocking pool: a scan may read many blocks from the disk.
    fn read<T, F>(&self, read: F) -> StoreFuture<'static, T>
    where
        T: Send + 'static,
        F: FnOnce(&Reader) -> Result<T, StoreError> + Send + 'static,
    {
        let reader = self.reader.clone();
        Box::pin(async move {
            tokio::task::spawn_blocking(move || read(&reader))
                .await
                .map_err(|e| StoreError::Io(format!("a store read did not finish: {e}")))?
        })
    }
}

/// The synchronous reads, each run whole on a blocking thread.
impl Reader {
    fn io(&self, e: impl std::fmt::Display) -> StoreError {
        StoreError::Io(format!("{}: {e}", self.path.display()))
    }

    /// A record with its submission entry, if it has one, applied.
    fn merged(&self, record: MessageRecord) -> Result<MessageRecord, StoreError> {
        if record.state != RecordState::Accepted {
            return Ok(record);
        }
        let key = keys::message(record.id, record.part);
        Ok(match self.get::<Submission>(Space::Submissions, &key)? {
            Some(submission) => record.with_submission(submission),
            None => record,
        })
    }

    fn get<T: DeserializeOwned>(&self, space: Space, key: &[u8]) -> Result<Option<T>, StoreError> {
        let value = self.spaces.get(space).get(key).map_err(|e| self.io(e))?;
        value.map(|v| decode(space, key, &v)).transpose()
    }

    /// Up to `limit` decoded values of `space` within `range`, in key order.
    fn scan<T: DeserializeOwned>(
        &self,
        space: Space,
        range: (Bound<Vec<u8>>, Bound<Vec<u8>>),
        limit: usize,
    ) -> Result<Vec<T>, StoreError> {
        let mut out = Vec::new();
        if limit == 0 {
            return Ok(out);
        }
        for item in self.spaces.get(space).range(range) {
            let (key, value) = item.into_inner().map_err(|e| self.io(e))?;
            out.push(decode(space, &key, &value)?);
            if out.len() >= limit {
                break;
            }
        }
        Ok(out)
    }

    fn message(&self, id: MessageId, part: u8) -> Result<Option<MessageRecord>, StoreError> {
        match self.get::<MessageRecord>(Space::Messages, &keys::message(id, part))? {
            Some(record) => self.merged(record).map(Some),
            None => Ok(None),
        }
    }

    fn message_parts(&self, id: MessageId) -> Result<Vec<MessageRecord>, StoreError> {
        let prefix = keys::message_prefix(id);
        let mut parts = Vec::new();
        for item in self.spaces.messages.prefix(prefix) {
            let (key, value) = item.into_inner().map_err(|e| self.io(e))?;
            parts.push(self.merged(decode(Space::Messages, &key, &value)?)?);
        }
        Ok(parts)
    }

    fn pending(
        &self,
        shard: u16,
        after: Option<(MessageId, u8)>,
        limit: usize,
    ) -> Result<Vec<PendingEntry>, StoreError> {
        let start = match after {
            Some((id, part)) => Bound::Excluded(keys::pending(shard, id, part).to_vec()),
            None => Bound::Included(shard.to_be_bytes().to_vec()),
        };
        let end = match shard.checked_add(1) {
            Some(next) => Bound::Excluded(next.to_be_bytes().to_vec()),
            None => Bound::Unbounded,
        };
        self.scan(Space::Pending, (start, end), limit)
    }

    fn receipt_owner(
        &self,
        link: &str,
        operator_id: &str,
    ) -> Result<Option<(MessageId, u8)>, StoreError> {
        if link.as_bytes().contains(&keys::SEP) {
            return Ok(None);
        }
        let key = keys::receipt(link, operator_id);
        let value = self.spaces.receipts.get(&key).map_err(|e| self.io(e))?;
        value
            .map(|v| {
                keys::id_part(&v).ok_or_else(|| {
                    StoreError::Corrupt(format!(
                        "{}: {} bytes, expected 9",
                        keys::describe(Space::Receipts.name(), &key),
                        v.len()
                    ))
                })
            })
            .transpose()
    }

    fn held(&self, account: &str, limit: usize) -> Result<Vec<HeldDelivery>, StoreError> {
        if account.as_bytes().contains(&keys::SEP) {
            return Ok(Vec::new());
        }
        let range = (
            Bound::Included(keys::held_prefix(account)),
            Bound::Excluded(keys::held_after_account(account)),
        );
        self.scan(Space::Held, range, limit)
    }

    /// A page of a CDR index (`ByAccount` or `ByLink`) under `name`: the records accepted in
    /// `[from_ms, to_ms)` after `after` for which `current` holds, at most `limit`. An
    /// entry whose record no longer matches it (see the module doc) is skipped.
    fn cdr_page(
        &self,
        space: Space,
        name: &str,
        after: Option<CdrCursor>,
        (from_ms, to_ms): (u64, u64),
        limit: usize,
        current: impl Fn(&MessageRecord) -> bool,
    ) -> Result<Vec<MessageRecord>, StoreError> {
        let mut out = Vec::new();
        if limit == 0 || from_ms >= to_ms || name.as_bytes().contains(&keys::SEP) {
            return Ok(out);
        }
        let start = match after {
            Some((ms, id, part)) if ms >= from_ms => Bound::Excluded(keys::cdr(name, ms, id, part)),
            _ => Bound::Included(keys::cdr_from(name, from_ms)),
        };
        let range = (start, Bound::Excluded(keys::cdr_from(name, to_ms)));
        for item in self.spaces.get(space).range(range) {
            let key = item.key().map_err(|e| self.io(e))?;
            let (accepted_ms, id, part) = keys::cdr_tail(&key).ok_or_else(|| {
                StoreError::Corrupt(format!(
                    "{}: too short for an index entry",
                    keys::describe(space.name(), &key)
                ))
            })?;
            let Some(record) = self.message(id, part)? else {
                continue;
            };
            if record.accepted_ms == accepted_ms && current(&record) {
                out.push(record);
                if out.len() >= limit {
                    break;
                }
            }
        }
        Ok(out)
    }

    fn messages_by_client_ref(
        &self,
        account: &str,
        client_ref: &str,
        limit: usize,
    ) -> Result<Vec<MessageId>, StoreError> {
        let mut out = Vec::new();
        if limit == 0 || account.as_bytes().contains(&keys::SEP) {
            return Ok(out);
        }
        let prefix = keys::client_ref_prefix(account, client_ref);
        // Ids grow with time: newest first is the prefix backwards.
        for item in self.spaces.by_client_ref.prefix(&prefix).rev() {
            let key = item.key().map_err(|e| self.io(e))?;
            // A longer reference that starts with this one's bytes and a NUL is not it.
            let Some(id) = keys::client_ref_id(&prefix, &key) else {
                continue;
            };
            out.push(id);
            if out.len() >= limit {
                break;
            }
        }
        Ok(out)
    }

    fn meta(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let value = self
            .spaces
            .meta
            .get(key.as_bytes())
            .map_err(|e| self.io(e))?;
        Ok(value.map(|v| v.to_vec()))
    }

    fn charged(&self, lease: u64) -> Result<(u64, i64), StoreError> {
        let mut total = (0u64, 0i64);
        for item in self.spaces.charges.prefix(lease.to_be_bytes()) {
            let (key, value) = item.into_inner().map_err(|e| self.io(e))?;
            let (parts, amount) = keys::charge_figures(&value)
                .ok_or_else(|| StoreError::Corrupt(keys::describe(Space::Charges.name(), &key)))?;
            total = (
                total.0.saturating_add(parts),
                total.1.saturating_add(amount),
            );
        }
        Ok(total)
    }

    fn idempotent(&self, record: &[u8], now_ms: u64) -> Result<Option<Vec<u8>>, StoreError> {
        let Some(bytes) = self
            .spaces
            .idempotency
            .get(record)
            .map_err(|e| self.io(e))?
        else {
            return Ok(None);
        };
        let (expires_ms, value) = idempotent_record(record, &bytes)?;
        Ok(idempotency::live(expires_ms, now_ms).then(|| value.to_vec()))
    }
}

impl Drop for EmbeddedStore {
    fn drop(&mut self) {
        if let Err(e) = self.shut_down() {
            tracing::error!(error = %e, "embedded store did not shut down cleanly");
        }
    }
}

impl MessageStore for EmbeddedStore {
    fn write(&self, ops: Vec<WriteOp>, done: Completion) -> Result<(), StoreError> {
        let queue = self.accepting()?;
        Self::queue(queue, Job::encode(ops, done)?)
    }

    fn write_deferred(&self, ops: Vec<WriteOp>, done: Completion) -> Result<(), StoreError> {
        let queue = self.accepting()?;
        let mut job = Job::encode(ops, done)?;
        job.deferred = true;
        Self::queue(queue, job)
    }

    fn failure(&self) -> Option<String> {
        self.counters.failure.get().cloned()
    }

    fn message(&self, id: MessageId, part: u8) -> StoreFuture<'_, Option<MessageRecord>> {
        self.point_read(move |r| r.message(id, part))
    }

    fn message_parts(&self, id: MessageId) -> StoreFuture<'_, Vec<MessageRecord>> {
        self.point_read(move |r| r.message_parts(id))
    }

    fn pending(
        &self,
        shard: u16,
        after: Option<(MessageId, u8)>,
        limit: usize,
    ) -> StoreFuture<'_, Vec<PendingEntry>> {
        self.read(move |r| r.pending(shard, after, limit))
    }

    fn receipt_owner<'a>(
        &'a self,
        link: &'a str,
        operator_id: &'a str,
    ) -> StoreFuture<'a, Option<(MessageId, u8)>> {
        self.point_read(move |r| r.receipt_owner(link, operator_id))
    }

    fn held<'a>(&'a self, account: &'a str, limit: usize) -> StoreFuture<'a, Vec<HeldDelivery>> {
        let account = account.to_owned();
        self.read(move |r| r.held(&account, limit))
    }

    fn held_accounts(&self) -> StoreFuture<'_, Vec<String>> {
        // Kept in memory: nothing to wait for.
        let accounts = self
            .held_accounts
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .cloned()
            .collect();
        Box::pin(std::future::ready(Ok(accounts)))
    }

    fn messages_by_account<'a>(
        &'a self,
        account: &'a str,
        after: Option<CdrCursor>,
        from_ms: u64,
        to_ms: u64,
        limit: usize,
    ) -> StoreFuture<'a, Vec<MessageRecord>> {
        let account = account.to_owned();
        self.read(move |r| {
            r.cdr_page(
                Space::ByAccount,
                &account,
                after,
                (from_ms, to_ms),
                limit,
                |record| record.account == account,
            )
        })
    }

    fn messages_by_link<'a>(
        &'a self,
        link: &'a str,
        after: Option<CdrCursor>,
        from_ms: u64,
        to_ms: u64,
        limit: usize,
    ) -> StoreFuture<'a, Vec<MessageRecord>> {
        let link = link.to_owned();
        self.read(move |r| {
            r.cdr_page(
                Space::ByLink,
                &link,
                after,
                (from_ms, to_ms),
                limit,
                |record| record.link.as_deref() == Some(link.as_str()),
            )
        })
    }

    fn messages_by_client_ref<'a>(
        &'a self,
        account: &'a str,
        client_ref: &'a str,
        limit: usize,
    ) -> StoreFuture<'a, Vec<MessageId>> {
        let (account, client_ref) = (account.to_owned(), client_ref.to_owned());
        self.read(move |r| r.messages_by_client_ref(&account, &client_ref, limit))
    }

    fn meta<'a>(&'a self, key: &'a str) -> StoreFuture<'a, Option<Vec<u8>>> {
        let key = key.to_owned();
        self.read(move |r| r.meta(&key))
    }

    fn charged(&self, lease: u64) -> StoreFuture<'_, (u64, i64)> {
        self.read(move |r| r.charged(lease))
    }

    fn idempotent<'a>(
        &'a self,
        account: &'a str,
        key: &'a str,
    ) -> StoreFuture<'a, Option<Vec<u8>>> {
        if let Err(e) = idempotency::check(account, key, None) {
            return Box::pin(std::future::ready(Err(e)));
        }
        let record = keys::idempotent(account, key);
        self.read(move |r| r.idempotent(&record, tern_model::now_ms()))
    }

    fn claim_idempotent<'a>(
        &'a self,
        account: &'a str,
        key: &'a str,
        value: Vec<u8>,
        expires_ms: u64,
    ) -> StoreFuture<'a, Claim> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        let outcome = batch::ClaimOutcome::default();
        let decided = Arc::clone(&outcome);
        let done: Completion = Box::new(move |result| {
            let claim = result.and_then(|()| {
                decided
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .take()
                    .unwrap_or_else(|| {
                        Err(StoreError::Io(
                            "the writer committed a claim without deciding it".into(),
                        ))
                    })
            });
            let _ = tx.send(claim);
        });
        let queued = self.accepting().and_then(|queue| {
            let job = Job::claim(account, key, &value, expires_ms, outcome, done)?;
            Self::queue(queue, job)
        });
        Box::pin(async move {
            queued?;
            rx.await.map_err(|_| StoreError::Closed)?
        })
    }
}

fn decode<T: DeserializeOwned>(space: Space, key: &[u8], value: &[u8]) -> Result<T, StoreError> {
    let corrupt = |e: postcard::Error| {
        StoreError::Corrupt(format!("{}: {e}", keys::describe(space.name(), key)))
    };
    match postcard::from_bytes(value) {
        Ok(decoded) => Ok(decoded),
        // A message record of an earlier layout: read it in today's.
        Err(e) if space == Space::Messages => match crate::record::upgrade_legacy_record(value) {
            Some(upgraded) => postcard::from_bytes(&upgraded).map_err(corrupt),
            None => Err(corrupt(e)),
        },
        Err(e) => Err(corrupt(e)),
    }
}

/// An idempotency record's expiry and value, or what is wrong with its bytes.
fn idempotent_record<'v>(key: &[u8], bytes: &'v [u8]) -> Result<(u64, &'v [u8]), StoreError> {
    keys::idempotent_record(bytes).ok_or_else(|| {
        StoreError::Corrupt(format!(
            "{}: {} bytes, shorter than an expiry",
            keys::describe(Space::Idempotency.name(), key),
            bytes.len()
        ))
    })
}

/// The accounts that have held deliveries, found with one seek per account.
fn held_accounts_on_disk(held: &Keyspace, dir: &Path) -> Result<BTreeSet<String>, StoreError> {
    let mut accounts = BTreeSet::new();
    let mut from: Bound<Vec<u8>> = Bound::Unbounded;
    loop {
        let range = (from, Bound::<Vec<u8>>::Unbounded);
        let Some(item) = held.range(range).next() else {
            return Ok(accounts);
        };
        let key = item
            .key()
            .map_err(|e| StoreError::Io(format!("{}: {e}", dir.display())))?;
        let account = keys::held_account(&key).ok_or_else(|| {
            StoreError::Corrupt(format!(
                "{}: no account name",
                keys::describe(Space::Held.name(), &key)
            ))
        })?;
        from = Bound::Included(keys::held_after_account(account));
        accounts.insert(account.to_owned());
    }
}
