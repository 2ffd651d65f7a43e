//! The group-commit writer: one thread that takes every batch queued since its last commit,
//! applies them as one engine write batch, syncs the journal once and then reports to
//! every batch in the order they were queued. It also decides claims of idempotency
//! records and sweeps expired ones (see the module doc of `embedded`).

use std::collections::BTreeSet;
use std::ops::Bound;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant;

use crossbeam_channel::{Receiver, TryRecvError};
use fjall::{Database, PersistMode};

use super::batch::{Change, ClaimChange, Job};
use super::{keys, Spaces};
use crate::{idempotency, Claim, StoreError};

/// How often an account whose deliveries were released is checked for emptiness.
const EMPTINESS_CHECK_EVERY: std::time::Duration = std::time::Duration::from_secs(1);

/// Changes per engine write batch.
const ENGINE_BATCH: usize = 256;

/// Idempotency records put or claimed between two sweeps of expired ones.
const SWEEP_EVERY_RECORDS: usize = 256;
/// The longest between two sweeps while records are put.
const SWEEP_INTERVAL: std::time::Duration = std::time::Duration::from_secs(60);
/// Expiry index entries one sweep looks at, at most: four times the records put between
/// two sweeps, so that sweeping outpaces putting.
const SWEEP_LIMIT: usize = 4 * SWEEP_EVERY_RECORDS;

/// Where the sweep of expired idempotency records stands.
#[derive(Debug)]
pub(super) struct Sweep {
    /// Records put or claimed since the last sweep.
    records: usize,
    last: Instant,
    /// The last sweep stopped at its bound: the next commit sweeps on.
    behind: bool,
}

impl Default for Sweep {
    fn default() -> Self {
        Self {
            records: 0,
            last: Instant::now(),
            behind: false,
        }
    }
}

impl Sweep {
    fn due(&self) -> bool {
        self.behind
            || self.records >= SWEEP_EVERY_RECORDS
            || (self.records > 0 && self.last.elapsed() >= SWEEP_INTERVAL)
    }
}

/// Counters the store shares with its writer.
#[derive(Debug, Default)]
pub(super) struct Counters {
    pub(super) commits: AtomicU64,
    pub(super) batches: AtomicU64,
    pub(super) ops: AtomicU64,
    pub(super) write_errors: AtomicU64,
    /// Why the store stopped taking writes, once a commit failed (see [`Writer::commit`]).
    pub(super) failure: std::sync::OnceLock<String>,
}

/// A fault of the test build's disk for this commit (see [`super::test_disk`]): the error to
/// report, or the end of the process for a power loss. Always `None` without the feature.
fn injected_fault() -> Option<String> {
    #[cfg(feature = "test-disk")]
    match super::test_disk::mode() {
        super::test_disk::Mode::Healthy => {}
        super::test_disk::Mode::Failing => {
            return Some("TEST DISK: no space left on device (injected)".into())
        }
        super::test_disk::Mode::PowerLoss => {
            tracing::error!("TEST DISK: power lost; nothing more reaches the disk");
            std::process::abort();
        }
    }
    None
}

/// Accounts with at least one held delivery, kept by the writer and read by `held_accounts`.
pub(super) type HeldAccounts = Arc<Mutex<BTreeSet<String>>>;

pub(super) struct Writer {
    pub(super) db: Database,
    pub(super) spaces: Spaces,
    pub(super) queue: Receiver<Job>,
    pub(super) fsync: bool,
    pub(super) max_ops_per_commit: usize,
    pub(super) counters: Arc<Counters>,
    pub(super) held_accounts: HeldAccounts,
    /// When each account was last checked for emptiness.
    pub(super) emptiness_checked: Mutex<std::collections::HashMap<String, Instant>>,
    pub(super) sweep: Sweep,
    /// The store's directory, for error messages.
    pub(super) path: String,
}

impl Writer {
    /// Runs until every sender is gone and the queue is empty.
    pub(super) fn run(mut self) {
        let mut jobs = Vec::new();
        while let Some(first) = self.next_job(None) {
            let mut ops = first.ops;
            // While every job taken is deferred, the writer waits for one that is not (or
            // for the deadline) before it syncs: one fsync then serves both.
            let mut only_deferred = first.deferred && self.fsync;
            let deadline = Instant::now() + crate::DEFERRED_WAIT;
            jobs.push(first);
            while ops < self.max_ops_per_commit {
                let next = if only_deferred {
                    self.next_job(Some(deadline))
                } else {
                    self.queue.try_recv().ok()
                };
                let Some(job) = next else {
                    break;
                };
                only_deferred &= job.deferred;
                ops += job.ops;
                jobs.push(job);
            }
            metrics::gauge!("tern_store_queued_writes").set(self.queue.len() as f64);
            self.commit(&mut jobs, ops);
        }
        tracing::debug!(path = %self.path, "store writer stopped");
    }

    /// The next job, parked until one is queued (each queued job unparks this thread) or
    /// until `deadline`. `None` at the deadline, or once every sender is gone and the queue
    /// is empty.
    fn next_job(&self, deadline: Option<Instant>) -> Option<Job> {
        loop {
            match self.queue.try_recv() {
                Ok(job) => return Some(job),
                Err(TryRecvError::Disconnected) => return None,
                Err(TryRecvError::Empty) => {}
            }
            // A job queued since the try above left its unpark behind: park returns at once.
            match deadline {
                None => std::thread::park(),
                Some(deadline) => {
                    let now = Instant::now();
                    if now >= deadline {
                        return None;
                    }
                    std::thread::park_timeout(deadline - now);
                }
            }
        }
    }

    /// Commits `jobs` and reports to each. A commit that fails leaves the engine's journal
    /// in an unknown state: a failed fsync may have dropped pages the kernel will not write
    /// again, and a later sync that succeeds would not bring them back. So after the first
    /// failure nothing is acknowledged again (every later write fails at once): the store
    /// stops, and the node with it, until a restart recovers the journal to its last good
    /// sync. Acknowledging a write past such a gap could lose it at the next start.
    fn commit(&mut self, jobs: &mut Vec<Job>, ops: usize) {
        if let Some(failure) = self.counters.failure.get() {
            let message = format!("{}: the store failed earlier ({failure})", self.path);
            for job in jobs.drain(..) {
                complete(job, Err(StoreError::Io(message.clone())));
            }
            return;
        }
        let started = Instant::now();
        // fdatasync: the journal's files are allocated ahead of their writes, so the data
        // and the size needed to read it back are on disk without the inode's timestamps,
        // which would make every sync a journal commit of the filesystem too.
        let mode = if self.fsync {
            PersistMode::SyncData
        } else {
            PersistMode::Buffer
        };
        // Engine batches of bounded size, then one sync for all of them: a single batch of
        // a whole commit would allocate (and the allocator zero) a large buffer every time.
        // Batches are not transactions (see the trait), so splitting between jobs is safe.
        let result = match injected_fault() {
            Some(fault) => Err(fault),
            None => self.apply(jobs, mode).map_err(|e| e.to_string()),
        };

        let batches = jobs.len();
        self.counters.commits.fetch_add(1, Ordering::Relaxed);
        self.counters
            .batches
            .fetch_add(batches as u64, Ordering::Relaxed);
        self.counters.ops.fetch_add(ops as u64, Ordering::Relaxed);
        metrics::histogram!("tern_store_fsync_batch_ops").record(ops as f64);
        metrics::histogram!("tern_store_fsync_batch_writes").record(batches as f64);
        metrics::histogram!("tern_store_commit_latency_seconds")
            .record(started.elapsed().as_secs_f64());

        match result {
            Ok(()) => {
                self.track_held_accounts(jobs);
                let records: usize = jobs.iter().map(|job| job.idempotent).sum();
                for job in jobs.drain(..) {
                    complete(job, Ok(()));
                }
                self.sweep.records += records;
                if self.sweep.due() {
                    self.sweep_expired();
                }
            }
            Err(e) => {
                let message = format!("{}: commit failed: {e}", self.path);
                tracing::error!(
                    error = %message,
                    batches,
                    ops,
                    "store commit failed; the store takes no more writes until a restart"
                );
                self.fail(e);
                for job in jobs.drain(..) {
                    complete(job, Err(StoreError::Io(message.clone())));
                }
            }
        }
    }

    /// Stops taking writes for good (see [`Self::commit`]).
    fn fail(&self, e: String) {
        let _ = self.counters.failure.set(e);
        metrics::gauge!("tern_store_is_failed").set(1.0);
        self.counters.write_errors.fetch_add(1, Ordering::Relaxed);
        metrics::counter!("tern_store_write_errors_total").increment(1);
    }

    /// Sweeps expired idempotency records, bounded (see the module doc of `embedded`). Its
    /// changes are written like a commit's, so an engine error stops the store as one does.
    fn sweep_expired(&mut self) {
        match self.sweep_once(tern_model::now_ms()) {
            Ok((entries, records)) => {
                self.sweep = Sweep {
                    records: 0,
                    last: Instant::now(),
                    behind: entries >= SWEEP_LIMIT,
                };
                metrics::counter!("tern_store_idempotency_swept_total").increment(records as u64);
                tracing::debug!(path = %self.path, entries, records, "idempotency records swept");
            }
            Err(e) => {
                tracing::error!(
                    path = %self.path,
                    error = %e,
                    "sweeping idempotency records failed; the store takes no more writes \
                     until a restart"
                );
                self.fail(format!("sweeping idempotency records: {e}"));
            }
        }
    }

    /// One sweep at `now_ms`: the expiry index entries looked at, and the records removed.
    fn sweep_once(&self, now_ms: u64) -> Result<(usize, usize), fjall::Error> {
        let spaces = &self.spaces;
        let range = (Bound::Unbounded, keys::idempotent_expiry_end(now_ms));
        let mut batch = self.db.batch().durability(Some(PersistMode::Buffer));
        let (mut entries, mut records) = (0, 0);
        for item in spaces.idempotency_expiry.range::<Vec<u8>, _>(range) {
            let entry = item.key()?;
            if let Some(record) = keys::idempotent_expiry_record(&entry) {
                if let Some(bytes) = spaces.idempotency.get(record)? {
                    match keys::idempotent_record(&bytes) {
                        Some((expires_ms, _)) if !idempotency::live(expires_ms, now_ms) => {
                            batch.remove(&spaces.idempotency, record.to_vec());
                            records += 1;
                        }
                        // Rewritten with a later expiry: its own entry covers it.
                        Some(_) => {}
                        // Left for a read to report as corrupt.
                        None => tracing::warn!(
                            key = %keys::describe("idempotency", record),
                            "an idempotency record that does not decode is not swept"
                        ),
                    }
                }
            }
            batch.remove(&spaces.idempotency_expiry, entry);
            entries += 1;
            if entries >= SWEEP_LIMIT {
                break;
            }
        }
        batch.commit()?;
        Ok((entries, records))
    }

    /// Whether a claim takes its key: read from the engine, which holds every change
    /// before it (the caller commits what it built so far first).
    fn decide(&self, claim: &ClaimChange) -> Result<Result<Claim, StoreError>, fjall::Error> {
        let Some(bytes) = self.spaces.idempotency.get(&claim.key)? else {
            return Ok(Ok(Claim::Claimed));
        };
        let now_ms = tern_model::now_ms();
        Ok(
            super::idempotent_record(&claim.key, &bytes).map(|(expires_ms, value)| {
                if idempotency::live(expires_ms, now_ms) {
                    Claim::Exists(value.to_vec())
                } else {
                    Claim::Claimed
                }
            }),
        )
    }

    /// Writes the changes of `jobs` as engine batches, then syncs once when `fsync` is on.
    fn apply(&self, jobs: &mut [Job], mode: PersistMode) -> Result<(), fjall::Error> {
        let mut batch = self.db.batch().durability(Some(PersistMode::Buffer));
        for job in jobs.iter_mut() {
            if batch.len() >= ENGINE_BATCH {
                std::mem::replace(
                    &mut batch,
                    self.db.batch().durability(Some(PersistMode::Buffer)),
                )
                .commit()?;
            }
            for change in job.changes.drain(..) {
                match change {
                    Change::Put(space, key, value) => {
                        batch.insert(self.spaces.get(space), key, value);
                    }
                    Change::Remove(space, key) => batch.remove(self.spaces.get(space), key),
                    Change::RemovePrefix(space, prefix) => {
                        // The prefix is read from the engine, which does not see the
                        // batch being built: what is queued so far goes in first, so
                        // that keys put earlier in this commit are found too.
                        std::mem::replace(
                            &mut batch,
                            self.db.batch().durability(Some(PersistMode::Buffer)),
                        )
                        .commit()?;
                        let keyspace = self.spaces.get(space);
                        for item in keyspace.prefix(&prefix) {
                            batch.remove(keyspace, item.key()?);
                        }
                    }
                    Change::Claim(claim) => {
                        // The key is read from the engine, as for `RemovePrefix`: what is
                        // queued so far goes in first, a claim of the same key too.
                        std::mem::replace(
                            &mut batch,
                            self.db.batch().durability(Some(PersistMode::Buffer)),
                        )
                        .commit()?;
                        let decision = self.decide(&claim)?;
                        if matches!(decision, Ok(Claim::Claimed)) {
                            batch.insert(&self.spaces.idempotency_expiry, claim.expiry, []);
                            batch.insert(&self.spaces.idempotency, claim.key, claim.value);
                        }
                        *claim.outcome.lock().unwrap_or_else(PoisonError::into_inner) =
                            Some(decision);
                    }
                }
            }
        }
        batch.commit()?;
        if self.fsync {
            self.db.persist(mode)?;
        }
        Ok(())
    }

    /// Brings the set of accounts with held deliveries up to date with what was just
    /// committed. Only the writer changes the held keyspace, so the check cannot race.
    fn track_held_accounts(&self, jobs: &[Job]) {
        if jobs
            .iter()
            .all(|job| job.held.is_empty() && job.released.is_empty())
        {
            return;
        }
        let mut released = BTreeSet::new();
        let mut accounts = self
            .held_accounts
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        for job in jobs {
            accounts.extend(job.held.iter().cloned());
            released.extend(job.released.iter().map(String::as_str));
        }
        let now = Instant::now();
        let mut checked = self
            .emptiness_checked
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        for account in released {
            // Finding a prefix empty walks every deletion still in the memtable, so an
            // account is looked at once a second at most: in between it stays listed,
            // which costs a caller one empty `held` scan at worst. A read error leaves it
            // listed too; leaving one out would strand deliveries.
            if checked
                .get(account)
                .is_some_and(|at| now.duration_since(*at) < EMPTINESS_CHECK_EVERY)
            {
                continue;
            }
            checked.insert(account.to_owned(), now);
            let empty = self
                .spaces
                .held
                .prefix(keys::held_prefix(account))
                .next()
                .is_none();
            if empty {
                accounts.remove(account);
            }
        }
    }
}

/// Reports to one batch; a completion that panics must not take the writer down with it.
fn complete(job: Job, result: Result<(), StoreError>) {
    let done = job.done;
    if catch_unwind(AssertUnwindSafe(move || done(result))).is_err() {
        tracing::error!("a store completion panicked");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::WriteOp;

    /// A writer on its own database, driven by hand: commits and sweeps run on the test's
    /// thread, one after the other.
    fn writer(dir: &std::path::Path) -> Writer {
        let db = Database::builder(dir).open().unwrap();
        let spaces = Spaces::open(&db, crate::EmbeddedConfig::default().memtable_bytes).unwrap();
        let (_, queue) = crossbeam_channel::bounded(1);
        Writer {
            db,
            spaces,
            queue,
            fsync: false,
            max_ops_per_commit: 1,
            counters: Arc::default(),
            held_accounts: Arc::default(),
            emptiness_checked: Mutex::default(),
            sweep: Sweep::default(),
            path: dir.display().to_string(),
        }
    }

    fn commit(writer: &mut Writer, ops: Vec<WriteOp>) {
        let count = ops.len();
        let job = Job::encode(ops, Box::new(|result| result.unwrap())).unwrap();
        writer.commit(&mut vec![job], count);
    }

    fn put(key: &str, expires_ms: u64) -> WriteOp {
        WriteOp::PutIdempotent {
            account: "acme".into(),
            key: key.into(),
            value: key.as_bytes().to_vec(),
            expires_ms,
        }
    }

    /// Records and expiry index entries on disk.
    fn sizes(writer: &Writer) -> (usize, usize) {
        let spaces = &writer.spaces;
        (
            spaces.idempotency.len().unwrap(),
            spaces.idempotency_expiry.len().unwrap(),
        )
    }

    #[test]
    fn expired_idempotency_records_are_swept_a_bounded_number_per_commit() {
        let dir = tempfile::tempdir().unwrap();
        let mut writer = writer(dir.path());
        let later = tern_model::now_ms() + 86_400_000;
        // 3000 expired records, one rewritten from expired to live, ten live ones.
        let mut ops: Vec<WriteOp> = (0..3_000).map(|i| put(&format!("old-{i:04}"), 1)).collect();
        ops.push(put("re", 1));
        ops.push(put("re", later));
        ops.extend((0..10).map(|i| put(&format!("live-{i}"), later)));
        commit(&mut writer, ops);
        // The commit put more than SWEEP_EVERY_RECORDS: one sweep of SWEEP_LIMIT entries.
        assert_eq!(sizes(&writer), (3_011 - SWEEP_LIMIT, 3_012 - SWEEP_LIMIT));
        assert!(writer.sweep.behind);
        // Behind: every commit sweeps on, an empty one too, until the expired are gone.
        commit(&mut writer, Vec::new());
        assert_eq!(
            sizes(&writer),
            (3_011 - 2 * SWEEP_LIMIT, 3_012 - 2 * SWEEP_LIMIT)
        );
        commit(&mut writer, Vec::new());
        assert_eq!(sizes(&writer), (11, 11));
        assert!(!writer.sweep.behind);
        assert_eq!(writer.sweep.records, 0);
        // The rewritten record kept its later expiry and its entry.
        let bytes = writer
            .spaces
            .idempotency
            .get(keys::idempotent("acme", "re"));
        let bytes = bytes.unwrap().unwrap();
        assert_eq!(keys::idempotent_record(&bytes), Some((later, &b"re"[..])));
        assert!(writer.counters.failure.get().is_none());
    }

    #[test]
    fn a_sweep_is_due_after_enough_records_or_a_while_after_one() {
        let now = Instant::now();
        let sweep = |records, ago: std::time::Duration| Sweep {
            records,
            last: now.checked_sub(ago).unwrap_or(now),
            behind: false,
        };
        assert!(!sweep(0, std::time::Duration::ZERO).due());
        assert!(!sweep(SWEEP_EVERY_RECORDS - 1, std::time::Duration::ZERO).due());
        assert!(sweep(SWEEP_EVERY_RECORDS, std::time::Duration::ZERO).due());
        if now.checked_sub(SWEEP_INTERVAL).is_some() {
            assert!(sweep(1, SWEEP_INTERVAL).due());
            assert!(!sweep(0, SWEEP_INTERVAL).due());
        }
        let behind = Sweep {
            behind: true,
            ..sweep(0, std::time::Duration::ZERO)
        };
        assert!(behind.due());
    }
}
