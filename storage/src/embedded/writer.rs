//! The group-commit writer: one thread that takes every batch queued since its last commit,
//! applies them as one engine write batch, syncs the journal once and then reports to
//! every batch in the order they were queued.

use std::collections::BTreeSet;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant;

use crossbeam_channel::Receiver;
use fjall::{Database, PersistMode};

use super::batch::{Change, Job};
use super::{keys, Spaces};
use crate::StoreError;

/// How often an account whose deliveries were released is checked for emptiness.
const EMPTINESS_CHECK_EVERY: std::time::Duration = std::time::Duration::from_secs(1);

/// Changes per engine write batch.
const ENGINE_BATCH: usize = 256;

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
    /// The store's directory, for error messages.
    pub(super) path: String,
}

impl Writer {
    /// Runs until every sender is gone and the queue is empty.
    pub(super) fn run(self) {
        let mut jobs = Vec::new();
        while let Ok(first) = self.queue.recv() {
            let mut ops = first.ops;
            jobs.push(first);
            while ops < self.max_ops_per_commit {
                match self.queue.try_recv() {
                    Ok(job) => {
                        ops += job.ops;
                        jobs.push(job);
                    }
                    Err(_) => break,
                }
            }
            metrics::gauge!("tern_store_queued_writes").set(self.queue.len() as f64);
            self.commit(&mut jobs, ops);
        }
        tracing::debug!(path = %self.path, "store writer stopped");
    }

    /// Commits `jobs` and reports to each. A commit that fails leaves the engine's journal
    /// in an unknown state: a failed fsync may have dropped pages the kernel will not write
    /// again, and a later sync that succeeds would not bring them back. So after the first
    /// failure nothing is acknowledged again (every later write fails at once): the store
    /// stops, and the node with it, until a restart recovers the journal to its last good
    /// sync. Acknowledging a write past such a gap could lose it at the next start.
    fn commit(&self, jobs: &mut Vec<Job>, ops: usize) {
        if let Some(failure) = self.counters.failure.get() {
            let message = format!("{}: the store failed earlier ({failure})", self.path);
            for job in jobs.drain(..) {
                complete(job, Err(StoreError::Io(message.clone())));
            }
            return;
        }
        let started = Instant::now();
        let mode = if self.fsync {
            PersistMode::SyncAll
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
                for job in jobs.drain(..) {
                    complete(job, Ok(()));
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
                let _ = self.counters.failure.set(e);
                metrics::gauge!("tern_store_is_failed").set(1.0);
                self.counters.write_errors.fetch_add(1, Ordering::Relaxed);
                metrics::counter!("tern_store_write_errors_total").increment(1);
                for job in jobs.drain(..) {
                    complete(job, Err(StoreError::Io(message.clone())));
                }
            }
        }
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
