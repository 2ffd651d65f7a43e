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
//! - `meta`: key → bytes
//! - `charges`: `lease ‖ id` → `parts ‖ amount`: what each message spent of a quota lease,
//!   until the lease is settled for good
//!
//! Writes go through group commit (`writer`): callers queue batches on a bounded channel,
//! one thread commits everything queued as one engine batch with one journal sync and then
//! runs the completions in order. Reads go straight to the engine on the caller's thread.
//! The set of accounts with held deliveries is kept in memory; it is rebuilt on open with
//! one seek per account, not a scan of every held item.

mod batch;
mod keys;
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
    Completion, HeldDelivery, MessageRecord, MessageStore, PendingEntry, RecordState, StoreError,
    Submission, WriteOp,
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
}

impl Default for EmbeddedConfig {
    fn default() -> Self {
        Self {
            queue_capacity: 65_536,
            max_ops_per_commit: 16_384,
            fsync: true,
            cache_bytes: 64 * 1024 * 1024,
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

/// Handles of every keyspace.
/// The largest memtable of a keyspace before it is flushed to disk.
const MEMTABLE_BYTES: u64 = 16 * 1024 * 1024;

#[derive(Clone)]
pub(crate) struct Spaces {
    messages: Keyspace,
    pending: Keyspace,
    receipts: Keyspace,
    held: Keyspace,
    by_account: Keyspace,
    meta: Keyspace,
    submissions: Keyspace,
    charges: Keyspace,
}

impl Spaces {
    fn open(db: &Database) -> fjall::Result<Self> {
        // Memtables of 16 MiB instead of fjall's 64 MiB: seven keyspaces of full 64 MiB
        // memtables would hold 448 MiB of RAM for what the journal already makes durable.
        let options = || KeyspaceCreateOptions::default().max_memtable_size(MEMTABLE_BYTES);
        let open = |space: Space| db.keyspace(space.name(), options);
        Ok(Self {
            messages: open(Space::Messages)?,
            pending: open(Space::Pending)?,
            receipts: open(Space::Receipts)?,
            held: open(Space::Held)?,
            by_account: open(Space::ByAccount)?,
            meta: open(Space::Meta)?,
            submissions: open(Space::Submissions)?,
            charges: open(Space::Charges)?,
        })
    }

    fn get(&self, space: Space) -> &Keyspace {
        match space {
            Space::Messages => &self.messages,
            Space::Pending => &self.pending,
            Space::Receipts => &self.receipts,
            Space::Held => &self.held,
            Space::ByAccount => &self.by_account,
            Space::Meta => &self.meta,
            Space::Submissions => &self.submissions,
            Space::Charges => &self.charges,
        }
    }
}

/// The embedded message store. Dropping it (or [`EmbeddedStore::close`]) stops taking
/// writes, commits what is queued and joins the writer thread.
pub struct EmbeddedStore {
    db: Database,
    spaces: Spaces,
    queue: Option<Sender<Job>>,
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
        let spaces = Spaces::open(&db).map_err(io)?;
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
        tracing::info!(path = %dir.display(), fsync = config.fsync, "embedded store open");
        Ok(Self {
            db,
            spaces,
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
        if writer.thread().id() == std::thread::current().id() {
            // The last handle was dropped by a completion: the writer finishes the queue
            // and stops by itself once this completion returns.
            return Ok(());
        }
        if writer.join().is_err() {
            return Err(self.io("the writer thread panicked"));
        }
        if !self.fsync {
            self.db
                .persist(PersistMode::SyncAll)
                .map_err(|e| self.io(e))?;
        }
        Ok(())
    }

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
        let queue = self.queue.as_ref().ok_or(StoreError::Closed)?;
        let job = Job::encode(ops, done)?;
        match queue.try_send(job) {
            Ok(()) => Ok(()),
            Err(TrySendError::Full(_)) => Err(StoreError::Overloaded),
            Err(TrySendError::Disconnected(_)) => Err(StoreError::Closed),
        }
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

    fn held_accounts(&self) -> Result<Vec<String>, StoreError> {
        let accounts = self
            .held_accounts
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        Ok(accounts.iter().cloned().collect())
    }

    fn messages_by_account(
        &self,
        account: &str,
        from_ms: u64,
        to_ms: u64,
        limit: usize,
    ) -> Result<Vec<MessageRecord>, StoreError> {
        self.messages_by_account_after(account, None, from_ms, to_ms, limit)
    }

    fn messages_by_account_after(
        &self,
        account: &str,
        after: Option<(u64, MessageId, u8)>,
        from_ms: u64,
        to_ms: u64,
        limit: usize,
    ) -> Result<Vec<MessageRecord>, StoreError> {
        let mut out = Vec::new();
        if limit == 0 || from_ms >= to_ms || account.as_bytes().contains(&keys::SEP) {
            return Ok(out);
        }
        let start = match after {
            Some((ms, id, part)) if ms >= from_ms => {
                Bound::Excluded(keys::by_account(account, ms, id, part))
            }
            _ => Bound::Included(keys::by_account_from(account, from_ms)),
        };
        let range = (
            start,
            Bound::Excluded(keys::by_account_from(account, to_ms)),
        );
        for item in self.spaces.by_account.range(range) {
            let key = item.key().map_err(|e| self.io(e))?;
            let (accepted_ms, id, part) = keys::by_account_tail(&key).ok_or_else(|| {
                StoreError::Corrupt(format!(
                    "{}: too short for an index entry",
                    keys::describe(Space::ByAccount.name(), &key)
                ))
            })?;
            let Some(record) = self.message(id, part)? else {
                continue;
            };
            if record.account == account && record.accepted_ms == accepted_ms {
                out.push(record);
                if out.len() >= limit {
                    break;
                }
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
