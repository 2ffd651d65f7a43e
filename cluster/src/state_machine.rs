//! The replicated state machine: `tern_ledger::State` in memory, fed by openraft with
//! committed entries, plus its snapshots.
//!
//! The state lives in memory only; what makes it durable is the log plus the current
//! snapshot. At start the snapshot stored in `raft_meta` is loaded and openraft re-applies
//! the committed entries after it (the log store keeps the committed log id for that).
//! A snapshot is the postcard encoding of the whole `State` with a format number; it is
//! synced to disk before openraft is told it exists, because openraft purges the log
//! behind it right after.
//!
//! Readers (`Cluster::read`) take the read side of a `RwLock` for as long as their closure
//! runs; apply takes the write side per batch of entries, so keep read closures short.

use std::io::Cursor;
use std::sync::{Arc, Mutex, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::Instant;

use openraft::storage::{RaftStateMachine, Snapshot};
use openraft::{EntryPayload, OptionalSend, RaftSnapshotBuilder, StorageIOError};
use tern_ledger::{Response, State};
use tern_model::now_ms;
use tokio::sync::watch;

use crate::disk::{self, blocking, Disk, DiskError};
use crate::snapshot::{decode_body, SnapshotBody};
use crate::telemetry;
use crate::types::{Entry, LogId, SnapshotMeta, StorageError, StoredMembership, TypeConfig};

/// The current snapshot as kept in `raft_meta`.
struct StoredSnapshot {
    meta: SnapshotMeta,
    data: Vec<u8>,
}

impl StoredSnapshot {
    fn load(disk: &Disk) -> Result<Option<StoredSnapshot>, DiskError> {
        let Some(meta) = disk.get_meta::<SnapshotMeta>(disk::SNAPSHOT_META)? else {
            return Ok(None);
        };
        let data = disk.get_raw(disk::SNAPSHOT_DATA)?.ok_or_else(|| {
            DiskError::Corrupt(format!(
                "snapshot {} has meta but no data",
                meta.snapshot_id
            ))
        })?;
        Ok(Some(StoredSnapshot { meta, data }))
    }
}

/// The applied state and where it stands in the log.
pub(crate) struct Applied {
    pub(crate) state: State,
    pub(crate) last_applied: Option<LogId>,
    pub(crate) membership: StoredMembership,
}

/// What the state machine shares with the cluster handle.
pub(crate) struct Shared {
    applied: RwLock<Applied>,
    applied_tx: watch::Sender<u64>,
    config_tx: watch::Sender<u64>,
    /// Serializes writes of the stored snapshot, so an older one never replaces a newer.
    snapshot_write: Mutex<()>,
}

impl Shared {
    pub(crate) fn read(&self) -> RwLockReadGuard<'_, Applied> {
        self.applied.read().unwrap_or_else(PoisonError::into_inner)
    }

    fn write(&self) -> RwLockWriteGuard<'_, Applied> {
        self.applied.write().unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn applied_changes(&self) -> watch::Receiver<u64> {
        self.applied_tx.subscribe()
    }

    pub(crate) fn config_changes(&self) -> watch::Receiver<u64> {
        self.config_tx.subscribe()
    }

    /// Tells watchers where the state now stands.
    fn publish(&self, last_applied: Option<LogId>, config_version: u64) {
        let index = last_applied.map_or(0, |id| id.index);
        self.applied_tx
            .send_if_modified(|v| replace_if_changed(v, index));
        self.config_tx
            .send_if_modified(|v| replace_if_changed(v, config_version));
        metrics::gauge!(telemetry::APPLIED_INDEX).set(index as f64);
    }
}

fn replace_if_changed(slot: &mut u64, value: u64) -> bool {
    let changed = *slot != value;
    *slot = value;
    changed
}

/// openraft's handle on the state machine; clones share the state.
#[derive(Clone)]
pub struct StateMachine {
    disk: Arc<Disk>,
    shared: Arc<Shared>,
}

impl StateMachine {
    /// Loads the stored snapshot, if there is one, as the starting state.
    pub(crate) fn open(disk: Arc<Disk>) -> Result<Self, DiskError> {
        let applied = match StoredSnapshot::load(&disk)? {
            Some(stored) => {
                let body: SnapshotBody = decode_body(&stored.data)?;
                tracing::info!(
                    last_log_id = ?stored.meta.last_log_id,
                    bytes = stored.data.len(),
                    "state restored from snapshot"
                );
                Applied {
                    state: body.into_state(),
                    last_applied: stored.meta.last_log_id,
                    membership: stored.meta.last_membership,
                }
            }
            None => Applied {
                state: State::default(),
                last_applied: None,
                membership: StoredMembership::default(),
            },
        };
        let index = applied.last_applied.map_or(0, |id| id.index);
        let version = applied.state.config_version;
        Ok(Self {
            disk,
            shared: Arc::new(Shared {
                applied: RwLock::new(applied),
                applied_tx: watch::Sender::new(index),
                config_tx: watch::Sender::new(version),
                snapshot_write: Mutex::new(()),
            }),
        })
    }

    pub(crate) fn shared(&self) -> Arc<Shared> {
        Arc::clone(&self.shared)
    }

    /// Syncs `snapshot` to disk unless a newer one is stored already; gives the data back.
    async fn store_snapshot(&self, snapshot: StoredSnapshot) -> Result<Vec<u8>, DiskError> {
        let disk = Arc::clone(&self.disk);
        let shared = Arc::clone(&self.shared);
        blocking(move || {
            let _serial = shared
                .snapshot_write
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            let current: Option<SnapshotMeta> = disk.get_meta(disk::SNAPSHOT_META)?;
            if current.is_some_and(|current| current.last_log_id > snapshot.meta.last_log_id) {
                return Ok(snapshot.data);
            }
            let mut batch = disk.batch();
            batch.insert(
                &disk.meta,
                disk::SNAPSHOT_META,
                disk::encode(&snapshot.meta)?,
            );
            batch.insert(&disk.meta, disk::SNAPSHOT_DATA, snapshot.data.as_slice());
            disk.commit(batch, true)?;
            Ok(snapshot.data)
        })
        .await
    }
}

impl RaftSnapshotBuilder<TypeConfig> for StateMachine {
    #[tracing::instrument(level = "info", skip_all)]
    async fn build_snapshot(&mut self) -> Result<Snapshot<TypeConfig>, StorageError> {
        let started = Instant::now();
        // Clone under the lock, encode outside it: apply waits only for the copy.
        let (state, last_log_id, membership) = {
            let applied = self.shared.read();
            (
                applied.state.clone(),
                applied.last_applied,
                applied.membership.clone(),
            )
        };
        let snapshot_id = match last_log_id {
            Some(id) => format!("{}-{}-{}", id.leader_id, id.index, now_ms()),
            None => format!("none-{}", now_ms()),
        };
        let meta = SnapshotMeta {
            last_log_id,
            last_membership: membership,
            snapshot_id,
        };
        let signature = Some(meta.signature());
        let data = blocking(move || disk::encode(&SnapshotBody::new(state)))
            .await
            .map_err(|e| StorageIOError::read_state_machine(&e))?;
        let bytes = data.len();
        let data = self
            .store_snapshot(StoredSnapshot {
                meta: meta.clone(),
                data,
            })
            .await
            .map_err(|e| StorageIOError::write_snapshot(signature, &e))?;
        metrics::histogram!(telemetry::SNAPSHOT_BUILD_SECONDS)
            .record(started.elapsed().as_secs_f64());
        metrics::gauge!(telemetry::SNAPSHOT_BYTES).set(bytes as f64);
        tracing::info!(?last_log_id, bytes, "snapshot built");
        Ok(Snapshot {
            meta,
            snapshot: Box::new(Cursor::new(data)),
        })
    }
}

impl RaftStateMachine<TypeConfig> for StateMachine {
    type SnapshotBuilder = Self;

    async fn applied_state(&mut self) -> Result<(Option<LogId>, StoredMembership), StorageError> {
        let applied = self.shared.read();
        Ok((applied.last_applied, applied.membership.clone()))
    }

    #[tracing::instrument(level = "debug", skip_all)]
    async fn apply<I>(&mut self, entries: I) -> Result<Vec<Response>, StorageError>
    where
        I: IntoIterator<Item = Entry> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        let entries = entries.into_iter();
        let mut replies = Vec::with_capacity(entries.size_hint().0);
        let (last_applied, config_version) = {
            let mut applied = self.shared.write();
            for entry in entries {
                applied.last_applied = Some(entry.log_id);
                let reply = match entry.payload {
                    EntryPayload::Blank => Response::Ok,
                    EntryPayload::Normal(request) => applied.state.apply(&request),
                    EntryPayload::Membership(membership) => {
                        applied.membership = StoredMembership::new(Some(entry.log_id), membership);
                        Response::Ok
                    }
                };
                replies.push(reply);
            }
            (applied.last_applied, applied.state.config_version)
        };
        self.shared.publish(last_applied, config_version);
        Ok(replies)
    }

    async fn get_snapshot_builder(&mut self) -> Self::SnapshotBuilder {
        self.clone()
    }

    async fn begin_receiving_snapshot(&mut self) -> Result<Box<Cursor<Vec<u8>>>, StorageError> {
        Ok(Box::new(Cursor::new(Vec::new())))
    }

    #[tracing::instrument(level = "info", skip_all, fields(last_log_id = ?meta.last_log_id))]
    async fn install_snapshot(
        &mut self,
        meta: &SnapshotMeta,
        snapshot: Box<Cursor<Vec<u8>>>,
    ) -> Result<(), StorageError> {
        let signature = Some(meta.signature());
        let data = snapshot.into_inner();
        let body =
            decode_body(&data).map_err(|e| StorageIOError::read_snapshot(signature.clone(), &e))?;
        self.store_snapshot(StoredSnapshot {
            meta: meta.clone(),
            data,
        })
        .await
        .map_err(|e| StorageIOError::write_snapshot(signature, &e))?;
        let config_version = body.state.config_version;
        {
            let mut applied = self.shared.write();
            applied.state = body.into_state();
            applied.last_applied = meta.last_log_id;
            applied.membership = meta.last_membership.clone();
        }
        self.shared.publish(meta.last_log_id, config_version);
        tracing::info!("snapshot installed");
        Ok(())
    }

    async fn get_current_snapshot(&mut self) -> Result<Option<Snapshot<TypeConfig>>, StorageError> {
        let stored = StoredSnapshot::load(&self.disk)
            .map_err(|e| StorageIOError::read_snapshot(None, &e))?;
        Ok(stored.map(|s| Snapshot {
            meta: s.meta,
            snapshot: Box::new(Cursor::new(s.data)),
        }))
    }
}
