//! The node's own fjall database under `ClusterConfig::dir`, shared by the log store and
//! the state machine: keyspace `raft_log` holds the entries (key: index, big-endian, so
//! keys sort like indexes) and `raft_meta` holds the vote, the committed and the last
//! purged log id and the current snapshot.
//!
//! Why fjall: the workspace already runs it for the message store, and the raft log is the
//! same kind of load, a stream of small appends that must be durable before they count.
//! Every write that raft relies on (appends, the vote, snapshots) is one engine batch
//! followed by one journal sync; the journal is ordered, so a sync also covers every
//! unsynced write made before it.
//!
//! Values are postcard: compact and fast, and every type stored here (openraft's entries,
//! votes, log ids and memberships, tern-ledger's requests and state) is a plain serde
//! derive without the self-describing attributes postcard cannot read back (the
//! round-trip tests below keep that true).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use fjall::{Database, Keyspace, KeyspaceCreateOptions, OwnedWriteBatch, PersistMode};
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::error::ClusterError;

pub(crate) const VOTE: &[u8] = b"vote";
pub(crate) const COMMITTED: &[u8] = b"committed";
pub(crate) const PURGED: &[u8] = b"purged";
/// The current snapshot's meta and its data, under two keys written in one batch, so
/// the "is it newer" check reads only the meta.
pub(crate) const SNAPSHOT_META: &[u8] = b"snapshot_meta";
pub(crate) const SNAPSHOT_DATA: &[u8] = b"snapshot_data";

/// Memtables of 8 MiB: the log is read back mostly from the memtable right after it is
/// written, and purged behind every snapshot, so a larger one only holds memory.
const MEMTABLE_BYTES: u64 = 8 * 1024 * 1024;
/// How long `open` waits for a previous instance in this process to let go of the
/// database lock (a node restarted in place, as tests do).
const LOCK_WAIT: Duration = Duration::from_secs(10);

/// An error of the disk layer: the engine's or the codec's.
#[derive(Debug, thiserror::Error)]
pub(crate) enum DiskError {
    #[error("fjall: {0}")]
    Engine(#[from] fjall::Error),
    #[error("postcard: {0}")]
    Codec(#[from] postcard::Error),
    #[error("{0}")]
    Corrupt(String),
    #[error("blocking task: {0}")]
    Join(String),
}

pub(crate) struct Disk {
    db: Database,
    pub(crate) log: Keyspace,
    pub(crate) meta: Keyspace,
    path: PathBuf,
}

impl Disk {
    /// Opens (or creates) the database in `dir`.
    pub(crate) async fn open(dir: &Path) -> Result<Arc<Disk>, ClusterError> {
        let storage = |e: &dyn std::fmt::Display| ClusterError::Storage {
            path: dir.to_path_buf(),
            message: e.to_string(),
        };
        std::fs::create_dir_all(dir).map_err(|e| storage(&e))?;
        let deadline = tokio::time::Instant::now() + LOCK_WAIT;
        let db = loop {
            let dir = dir.to_path_buf();
            let opened = tokio::task::spawn_blocking(move || Database::builder(&dir).open())
                .await
                .map_err(|e| storage(&e))?;
            match opened {
                Ok(db) => break db,
                Err(fjall::Error::Locked) if tokio::time::Instant::now() < deadline => {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                Err(e) => return Err(storage(&e)),
            }
        };
        let options = || KeyspaceCreateOptions::default().max_memtable_size(MEMTABLE_BYTES);
        let log = db.keyspace("raft_log", options).map_err(|e| storage(&e))?;
        let meta = db.keyspace("raft_meta", options).map_err(|e| storage(&e))?;
        tracing::info!(path = %dir.display(), "raft storage open");
        Ok(Arc::new(Disk {
            db,
            log,
            meta,
            path: dir.to_path_buf(),
        }))
    }

    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    pub(crate) fn batch(&self) -> OwnedWriteBatch {
        self.db.batch().durability(Some(PersistMode::Buffer))
    }

    /// Commits `batch`; with `sync`, the journal is on disk when this returns.
    pub(crate) fn commit(&self, batch: OwnedWriteBatch, sync: bool) -> Result<(), DiskError> {
        batch.commit()?;
        if sync {
            self.db.persist(PersistMode::SyncAll)?;
        }
        Ok(())
    }

    /// Syncs the journal: everything committed before is on disk when this returns.
    pub(crate) fn sync(&self) -> Result<(), DiskError> {
        self.db.persist(PersistMode::SyncAll)?;
        Ok(())
    }

    /// The raw bytes under `key` in `raft_meta`.
    pub(crate) fn get_raw(&self, key: &[u8]) -> Result<Option<Vec<u8>>, DiskError> {
        Ok(self.meta.get(key)?.map(|bytes| bytes.to_vec()))
    }

    pub(crate) fn get_meta<T: DeserializeOwned>(&self, key: &[u8]) -> Result<Option<T>, DiskError> {
        match self.meta.get(key)? {
            Some(bytes) => Ok(Some(decode(&bytes)?)),
            None => Ok(None),
        }
    }
}

/// Runs disk work (a sync takes milliseconds) off the async workers.
pub(crate) async fn blocking<T, F>(f: F) -> Result<T, DiskError>
where
    F: FnOnce() -> Result<T, DiskError> + Send + 'static,
    T: Send + 'static,
{
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| DiskError::Join(e.to_string()))?
}

pub(crate) fn encode<T: Serialize>(value: &T) -> Result<Vec<u8>, DiskError> {
    Ok(postcard::to_stdvec(value)?)
}

pub(crate) fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, DiskError> {
    Ok(postcard::from_bytes(bytes)?)
}

pub(crate) fn index_key(index: u64) -> [u8; 8] {
    index.to_be_bytes()
}

pub(crate) fn key_index(key: &[u8]) -> Result<u64, DiskError> {
    let bytes: [u8; 8] = key
        .try_into()
        .map_err(|_| DiskError::Corrupt(format!("log key of {} bytes", key.len())))?;
    Ok(u64::from_be_bytes(bytes))
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, BTreeSet};

    use openraft::{BasicNode, CommittedLeaderId, EntryPayload, Membership};
    use tern_ledger::{AccountSpec, Command, Limits, Request, State};

    use super::*;
    use crate::types::{Entry, LogId, SnapshotMeta, StoredMembership, Vote};

    fn round_trip<T: Serialize + DeserializeOwned + PartialEq + std::fmt::Debug>(value: T) {
        let bytes = encode(&value).unwrap();
        assert_eq!(decode::<T>(&bytes).unwrap(), value);
    }

    fn spec() -> AccountSpec {
        AccountSpec {
            id: "acme".into(),
            password_hash: "$argon2id$x".into(),
            enabled: true,
            max_binds: 2,
            allowed_ips: vec!["10.0.0.0/8".into()],
            sender_ids: vec![],
            transliterate: false,
            parent: None,
            tags: BTreeMap::from([("cc".into(), "7".into())]),
            limits: Limits::default(),
            secrets: Default::default(),
        }
    }

    /// The first commands as they were laid out before account secrets were kept per
    /// protocol: what an older build wrote in the log.
    #[derive(Serialize)]
    enum OldCommand {
        #[allow(dead_code)]
        Seed,
        CreateAccount {
            spec: tern_ledger::legacy::AccountSpecV1,
            credit: tern_ledger::Minor,
        },
        UpdateAccount {
            spec: tern_ledger::legacy::AccountSpecV1,
        },
    }

    #[derive(Serialize)]
    struct OldRequest {
        at_ms: u64,
        audit: Option<tern_ledger::Audit>,
        command: OldCommand,
    }

    #[test]
    fn accounts_logged_with_a_cmpp_secret_apply_with_it_as_their_cmpp_secret() {
        let v1 = |cmpp_secret: Option<&str>| tern_ledger::legacy::AccountSpecV1 {
            id: "sp1".into(),
            password_hash: "$argon2id$x".into(),
            enabled: true,
            max_binds: 2,
            allowed_ips: vec![],
            sender_ids: vec![],
            transliterate: false,
            parent: None,
            tags: BTreeMap::new(),
            limits: Limits::default(),
            cmpp_secret: cmpp_secret.map(str::to_owned),
        };
        let logged = |command| {
            let bytes = encode(&OldRequest {
                at_ms: 1_700_000_000_000,
                audit: None,
                command,
            })
            .unwrap();
            decode::<Request>(&bytes).unwrap()
        };
        let mut state = State::default();
        let created = logged(OldCommand::CreateAccount {
            spec: v1(Some("s3cret")),
            credit: 100,
        });
        assert!(matches!(created.command, Command::CreateAccountV1 { .. }));
        assert_eq!(state.apply(&created), tern_ledger::Response::Ok);
        let spec = &state.accounts["sp1"].spec;
        assert_eq!(spec.secret(tern_ledger::CMPP), Some("s3cret"));
        assert_eq!(state.accounts["sp1"].ledger.balance, 100);
        // An update of the same layout takes the secret away.
        let updated = logged(OldCommand::UpdateAccount { spec: v1(None) });
        assert_eq!(state.apply(&updated), tern_ledger::Response::Ok);
        assert!(state.accounts["sp1"].spec.secrets.is_empty());
        // What this build proposes keeps every protocol's secret.
        let mut spec = spec_of("sp1");
        spec.secrets
            .insert(tern_ledger::SMGP.into(), "other".into());
        let request = Request {
            at_ms: 1_700_000_000_001,
            audit: None,
            command: Command::UpdateAccount { spec },
        };
        let request: Request = decode(&encode(&request).unwrap()).unwrap();
        assert_eq!(state.apply(&request), tern_ledger::Response::Ok);
        assert_eq!(
            state.accounts["sp1"].spec.secret(tern_ledger::SMGP),
            Some("other")
        );
    }

    fn spec_of(id: &str) -> AccountSpec {
        AccountSpec {
            id: id.into(),
            ..spec()
        }
    }

    #[test]
    fn openraft_and_ledger_types_round_trip_through_postcard() {
        let log_id = LogId::new(CommittedLeaderId::new(3, 2), 17);
        round_trip(log_id);
        round_trip(Some(log_id));
        round_trip(Vote::new(4, 1));
        round_trip(Vote::new_committed(4, 1));
        let nodes = BTreeMap::from([
            (1, BasicNode::new("127.0.0.1:1")),
            (2, BasicNode::new("127.0.0.1:2")),
        ]);
        let membership = Membership::new(vec![BTreeSet::from([1])], nodes);
        let request = Request {
            at_ms: 1_700_000_000_000,
            audit: None,
            command: Command::CreateAccount {
                spec: spec(),
                credit: 500,
            },
        };
        for payload in [
            EntryPayload::Blank,
            EntryPayload::Normal(request.clone()),
            EntryPayload::Membership(membership.clone()),
        ] {
            round_trip(Entry { log_id, payload });
        }
        round_trip(SnapshotMeta {
            last_log_id: Some(log_id),
            last_membership: StoredMembership::new(Some(log_id), membership),
            snapshot_id: "3-2-17-1".into(),
        });
        let mut state = State {
            config_version: 9,
            ..State::default()
        };
        state.routes.insert(
            "r".into(),
            tern_ledger::Spec {
                name: "r".into(),
                toml: "x = 1".into(),
                enabled: true,
            },
        );
        round_trip(state);
    }

    #[test]
    fn commands_of_the_http_api_come_after_every_earlier_command() {
        // postcard writes a variant as its index: the commands logged by earlier builds
        // keep theirs (Tick is 7th, UpdateAccount the last before the HTTP API's).
        assert_eq!(encode(&Command::Tick).unwrap(), [7]);
        let update = encode(&Command::UpdateAccount { spec: spec() }).unwrap();
        assert_eq!(update[0], 29);
        let put = Command::PutApiKey {
            key: tern_ledger::ApiKey {
                id: "0123456789ab".into(),
                account: "acme".into(),
                label: "ci".into(),
                hash: format!("sha256:{}", "0f".repeat(32)),
                created_ms: 1,
            },
        };
        let revoke = Command::RevokeApiKey {
            id: "0123456789ab".into(),
        };
        let callback = Command::SetCallback {
            account: "acme".into(),
            callback: Some(tern_ledger::Callback {
                url: "https://hooks.example.com/".into(),
                secret: "0123456789abcdef".into(),
            }),
        };
        for (command, index) in [(put, 30), (revoke, 31), (callback, 32)] {
            assert_eq!(encode(&command).unwrap()[0], index, "{command:?}");
            round_trip(command);
        }
    }

    #[test]
    fn index_keys_sort_like_indexes() {
        assert!(index_key(255) < index_key(256));
        assert_eq!(key_index(&index_key(u64::MAX)).unwrap(), u64::MAX);
        assert!(key_index(b"short").is_err());
    }
}
