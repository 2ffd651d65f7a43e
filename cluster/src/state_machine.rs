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

use std::collections::{BTreeMap, VecDeque};
use std::io::Cursor;
use std::sync::{Arc, Mutex, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::Instant;

use openraft::storage::{RaftStateMachine, Snapshot};
use openraft::{EntryPayload, OptionalSend, RaftSnapshotBuilder, StorageIOError};
use serde::{Deserialize, Serialize};
use tern_ledger::{Response, State};
use tern_model::now_ms;
use tokio::sync::watch;

use crate::disk::{self, blocking, Disk, DiskError};
use crate::telemetry;
use crate::types::{Entry, LogId, SnapshotMeta, StorageError, StoredMembership, TypeConfig};

/// The version of the snapshot encoding; bumped when `SnapshotBody` changes shape.
/// 2: the state holds recalls of lease reservations, webhook deliveries and MO rules.
/// 3: liveness and the ownership map follow the state.
/// Formats 1 and 2 are still read (see [`StateV1`] and [`SnapshotBodyV2`]).
const SNAPSHOT_FORMAT: u32 = 3;

/// What a snapshot's data holds. `State` leaves its `cluster` out of its own encoding;
/// it travels here, after it.
#[derive(Serialize, Deserialize)]
struct SnapshotBody {
    format: u32,
    state: State,
    cluster: tern_ledger::ClusterState,
}

impl SnapshotBody {
    fn new(mut state: State) -> Self {
        let cluster = std::mem::take(&mut state.cluster);
        Self {
            format: SNAPSHOT_FORMAT,
            state,
            cluster,
        }
    }

    fn into_state(self) -> State {
        let mut state = self.state;
        state.cluster = self.cluster;
        state
    }
}

/// Format 2: the state alone.
#[derive(Serialize, Deserialize)]
struct SnapshotBodyV2 {
    format: u32,
    state: State,
}

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

/// A snapshot body of format 1, before the state held recalls, deliveries and MO rules. postcard is not
/// self-describing, so a state with a field more cannot read it: this shape can.
#[derive(Serialize, Deserialize)]
struct SnapshotBodyV1 {
    format: u32,
    state: StateV1,
}

/// `State` as format 1 laid it out, field for field.
#[derive(Serialize, Deserialize)]
struct StateV1 {
    seeded: bool,
    accounts: BTreeMap<String, tern_ledger::Account>,
    leases: BTreeMap<tern_ledger::LeaseId, tern_ledger::Lease>,
    tombstones: BTreeMap<tern_ledger::LeaseId, tern_ledger::LeaseTombstone>,
    campaigns: BTreeMap<String, tern_ledger::Campaign>,
    prices: Vec<tern_ledger::Price>,
    routes: BTreeMap<String, tern_ledger::Spec>,
    links: BTreeMap<String, tern_ledger::Spec>,
    webhooks: BTreeMap<String, tern_ledger::Webhook>,
    events: VecDeque<tern_ledger::Event>,
    next_event_seq: u64,
    events_acked: u64,
    audit: VecDeque<tern_ledger::Audit>,
    config_version: u64,
}

impl From<StateV1> for State {
    fn from(v1: StateV1) -> Self {
        State {
            seeded: v1.seeded,
            accounts: v1.accounts,
            leases: v1.leases,
            tombstones: v1.tombstones,
            campaigns: v1.campaigns,
            prices: v1.prices,
            routes: v1.routes,
            links: v1.links,
            webhooks: v1.webhooks,
            events: v1.events,
            next_event_seq: v1.next_event_seq,
            events_acked: v1.events_acked,
            audit: v1.audit,
            config_version: v1.config_version,
            ..State::default()
        }
    }
}

fn decode_body(data: &[u8]) -> Result<SnapshotBody, DiskError> {
    // The format number leads every body, and postcard reads a prefix of its input.
    let format: u32 = disk::decode(data)?;
    match format {
        SNAPSHOT_FORMAT => disk::decode(data),
        2 => {
            let body: SnapshotBodyV2 = disk::decode(data)?;
            Ok(SnapshotBody::new(body.state))
        }
        1 => {
            let body: SnapshotBodyV1 = disk::decode(data)?;
            Ok(SnapshotBody::new(body.state.into()))
        }
        other => Err(DiskError::Corrupt(format!(
            "snapshot format {other} (this build reads 1 to {SNAPSHOT_FORMAT})"
        ))),
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

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(name: &str) -> tern_ledger::Spec {
        tern_ledger::Spec {
            name: name.into(),
            toml: format!("name = \"{name}\""),
            enabled: true,
        }
    }

    #[test]
    fn a_format_1_snapshot_is_read_with_no_recalls_deliveries_or_mo_rules() {
        let v1 = SnapshotBodyV1 {
            format: 1,
            state: StateV1 {
                seeded: true,
                accounts: BTreeMap::new(),
                leases: BTreeMap::new(),
                tombstones: BTreeMap::new(),
                campaigns: BTreeMap::new(),
                prices: Vec::new(),
                routes: [("de".to_owned(), spec("de"))].into(),
                links: [("op".to_owned(), spec("op"))].into(),
                webhooks: BTreeMap::new(),
                events: VecDeque::new(),
                next_event_seq: 7,
                events_acked: 5,
                audit: VecDeque::new(),
                config_version: 42,
            },
        };
        let body = decode_body(&disk::encode(&v1).unwrap()).unwrap();
        assert_eq!(body.format, SNAPSHOT_FORMAT);
        assert!(body.state.seeded);
        assert_eq!(body.state.routes["de"], spec("de"));
        assert_eq!(body.state.links["op"], spec("op"));
        assert_eq!((body.state.next_event_seq, body.state.events_acked), (7, 5));
        assert_eq!(body.state.config_version, 42);
        assert!(body.state.mo_rules.is_empty());
        assert!(body.state.recalls.is_empty() && body.state.deliveries.is_empty());
    }

    #[test]
    fn mo_rules_and_ownership_survive_a_snapshot_and_unknown_formats_are_refused() {
        let mut state = State::default();
        state.mo_rules.insert("shop".into(), spec("shop"));
        state.cluster.shards = 8;
        state.cluster.epoch = 12;
        let data = disk::encode(&SnapshotBody::new(state.clone())).unwrap();
        assert_eq!(decode_body(&data).unwrap().into_state(), state);
        // Format 2 carried no ownership.
        let v2 = disk::encode(&SnapshotBodyV2 {
            format: 2,
            state: state.clone(),
        })
        .unwrap();
        let read = decode_body(&v2).unwrap().into_state();
        assert_eq!(read.mo_rules, state.mo_rules);
        assert_eq!(read.cluster, tern_ledger::ClusterState::default());
        let mut future = SnapshotBody::new(state);
        future.format = SNAPSHOT_FORMAT + 1;
        let error = decode_body(&disk::encode(&future).unwrap())
            .err()
            .unwrap()
            .to_string();
        assert!(error.contains("snapshot format 4"), "{error}");
    }
}
