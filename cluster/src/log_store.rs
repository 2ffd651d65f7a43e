//! The raft log on disk: openraft's `RaftLogStorage` over the `raft_log` and `raft_meta`
//! keyspaces of [`Disk`].
//!
//! Durability is what raft's safety rests on: an entry a node acknowledged, or a vote it
//! granted, must survive a crash. So every `append` call writes all of its entries as ONE
//! engine batch, and tells openraft they are flushed only after a sync of the journal
//! that began after the write: the [`Syncer`] thread completes every append queued while
//! its previous sync ran with one fsync, so a busy leader, which openraft gives one
//! proposal per append, pays one fsync per group of proposals. `save_vote` syncs inline.
//! `save_committed` does not: losing it only means fewer entries are re-applied at start,
//! and the next append's sync writes it anyway.

use std::fmt::Debug;
use std::ops::{Bound, RangeBounds};
use std::sync::Arc;
use std::time::Instant;

use openraft::storage::{LogFlushed, LogState, RaftLogStorage};
use openraft::{OptionalSend, RaftLogReader, StorageIOError};

use crate::disk::{self, blocking, Disk, DiskError};
use crate::syncer::Syncer;
use crate::telemetry;
use crate::types::{Entry, LogId, StorageError, TypeConfig, Vote};

/// The raft log; cheap to clone (every clone reads and writes the same database).
#[derive(Clone)]
pub struct LogStore {
    disk: Arc<Disk>,
    syncer: Syncer,
}

impl LogStore {
    pub(crate) fn new(disk: Arc<Disk>) -> Self {
        let syncer = Syncer::start(Arc::clone(&disk));
        Self { disk, syncer }
    }

    fn last_entry_log_id(&self) -> Result<Option<LogId>, DiskError> {
        let Some(guard) = self.disk.log.last_key_value() else {
            return Ok(None);
        };
        let (_, value) = guard.into_inner()?;
        Ok(Some(disk::decode::<Entry>(&value)?.log_id))
    }

    /// Removes the entries with indexes in `range` and applies `extra` (meta changes that
    /// must land in the same batch), then syncs.
    async fn remove_range(
        &self,
        range: (Bound<u64>, Bound<u64>),
        extra: Option<(&'static [u8], Vec<u8>)>,
    ) -> Result<(), DiskError> {
        let disk = Arc::clone(&self.disk);
        blocking(move || {
            let mut batch = disk.batch();
            let keys = (range.0.map(disk::index_key), range.1.map(disk::index_key));
            for item in disk.log.range(keys) {
                batch.remove(&disk.log, item.key()?);
            }
            if let Some((key, value)) = extra {
                batch.insert(&disk.meta, key, value);
            }
            disk.commit(batch, true)
        })
        .await
    }
}

fn read_err(e: DiskError) -> StorageError {
    StorageIOError::read_logs(&e).into()
}

fn write_err(e: DiskError) -> StorageError {
    StorageIOError::write_logs(&e).into()
}

impl RaftLogReader<TypeConfig> for LogStore {
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + Debug + OptionalSend>(
        &mut self,
        range: RB,
    ) -> Result<Vec<Entry>, StorageError> {
        let start = range.start_bound().map(|i| disk::index_key(*i));
        let end = range.end_bound().map(|i| disk::index_key(*i));
        let mut entries = Vec::new();
        for item in self.disk.log.range((start, end)) {
            let (key, value) = item.into_inner().map_err(|e| read_err(e.into()))?;
            let index = disk::key_index(&key).map_err(read_err)?;
            let entry: Entry = disk::decode(&value).map_err(read_err)?;
            if entry.log_id.index != index {
                return Err(read_err(DiskError::Corrupt(format!(
                    "entry {} stored under index {index}",
                    entry.log_id
                ))));
            }
            entries.push(entry);
        }
        Ok(entries)
    }
}

impl RaftLogStorage<TypeConfig> for LogStore {
    type LogReader = Self;

    async fn get_log_state(&mut self) -> Result<LogState<TypeConfig>, StorageError> {
        let purged: Option<LogId> = self.disk.get_meta(disk::PURGED).map_err(read_err)?;
        let last = self.last_entry_log_id().map_err(read_err)?;
        Ok(LogState {
            last_purged_log_id: purged,
            last_log_id: last.or(purged),
        })
    }

    async fn get_log_reader(&mut self) -> Self::LogReader {
        self.clone()
    }

    #[tracing::instrument(level = "debug", skip(self))]
    async fn save_vote(&mut self, vote: &Vote) -> Result<(), StorageError> {
        let value = disk::encode(vote).map_err(|e| StorageIOError::write_vote(&e))?;
        let disk = Arc::clone(&self.disk);
        blocking(move || {
            let mut batch = disk.batch();
            batch.insert(&disk.meta, disk::VOTE, value);
            disk.commit(batch, true)
        })
        .await
        .map_err(|e| StorageIOError::write_vote(&e).into())
    }

    async fn read_vote(&mut self) -> Result<Option<Vote>, StorageError> {
        self.disk
            .get_meta(disk::VOTE)
            .map_err(|e| StorageIOError::read_vote(&e).into())
    }

    async fn save_committed(&mut self, committed: Option<LogId>) -> Result<(), StorageError> {
        let value = disk::encode(&committed).map_err(write_err)?;
        let mut batch = self.disk.batch();
        batch.insert(&self.disk.meta, disk::COMMITTED, value);
        self.disk.commit(batch, false).map_err(write_err)
    }

    async fn read_committed(&mut self) -> Result<Option<LogId>, StorageError> {
        Ok(self
            .disk
            .get_meta::<Option<LogId>>(disk::COMMITTED)
            .map_err(read_err)?
            .flatten())
    }

    #[tracing::instrument(level = "debug", skip_all)]
    async fn append<I>(
        &mut self,
        entries: I,
        callback: LogFlushed<TypeConfig>,
    ) -> Result<(), StorageError>
    where
        I: IntoIterator<Item = Entry> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        let started = Instant::now();
        let mut rows = Vec::new();
        for entry in entries {
            let value = disk::encode(&entry).map_err(write_err)?;
            rows.push((disk::index_key(entry.log_id.index), value));
        }
        let count = rows.len();
        let disk = Arc::clone(&self.disk);
        let written = blocking(move || {
            let mut batch = disk.batch();
            for (key, value) in rows {
                batch.insert(&disk.log, key, value);
            }
            disk.commit(batch, false)
        })
        .await;
        metrics::histogram!(telemetry::APPEND_SECONDS).record(started.elapsed().as_secs_f64());
        metrics::histogram!(telemetry::APPEND_ENTRIES).record(count as f64);
        match written {
            Ok(()) => {
                self.syncer.flushed(callback).await;
                Ok(())
            }
            Err(e) => {
                tracing::error!(error = %e, path = %self.disk.path().display(), "raft log append failed");
                callback.log_io_completed(Err(std::io::Error::other(e.to_string())));
                Err(write_err(e))
            }
        }
    }

    #[tracing::instrument(level = "debug", skip(self))]
    async fn truncate(&mut self, log_id: LogId) -> Result<(), StorageError> {
        self.remove_range((Bound::Included(log_id.index), Bound::Unbounded), None)
            .await
            .map_err(write_err)
    }

    #[tracing::instrument(level = "debug", skip(self))]
    async fn purge(&mut self, log_id: LogId) -> Result<(), StorageError> {
        let purged = disk::encode(&log_id).map_err(write_err)?;
        self.remove_range(
            (Bound::Unbounded, Bound::Included(log_id.index)),
            Some((disk::PURGED, purged)),
        )
        .await
        .map_err(write_err)
    }
}
