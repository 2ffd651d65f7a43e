//! `[store]`: which message store the node runs on. The embedded store (one node, `tern
//! dev`, small deployments) keeps its files in `dir`; a cluster shares one CQL database
//! (ScyllaDB, or Apache Cassandra) set up in `[store.cql]`, so that any node can read what
//! another accepted.

use std::path::PathBuf;

use serde::Deserialize;
use tern_storage::cql::CqlConfig;

use super::{invalid, ConfigError};

const MIB: u64 = 1024 * 1024;
/// Twelve memtables of this size, and their successors, are already 6 GiB.
const MAX_MEMTABLE_MIB: u64 = 256;
const MAX_CACHE_MIB: u64 = 1024 * 1024;

/// Which backend holds messages, queues and CDRs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StoreBackend {
    /// On this node's disk (`store.dir`).
    #[default]
    Embedded,
    /// A ScyllaDB (or Cassandra) cluster shared by every node (`[store.cql]`).
    #[serde(alias = "cql", alias = "cassandra")]
    Scylla,
}

impl StoreBackend {
    pub fn as_str(self) -> &'static str {
        match self {
            StoreBackend::Embedded => "embedded",
            StoreBackend::Scylla => "scylla",
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StoreSection {
    pub backend: StoreBackend,
    /// Directory of the embedded store, and of the node's raft log by default (with the
    /// CQL backend too: the replicated state is raft's, not the database's).
    pub dir: PathBuf,
    /// fsync before acknowledging; off survives a process crash but not a power loss.
    /// Embedded store only.
    pub fsync: bool,
    /// The embedded store's block cache, in MiB: what it keeps of its files in memory
    /// for reads. Embedded store only.
    pub cache_mib: u64,
    /// The embedded store's largest memtable per keyspace, in MiB (at least 1). Under load
    /// the memtables are most of the node's memory: smaller ones flush more often, for
    /// a little more CPU. Embedded store only.
    pub memtable_mib: u64,
    /// The CQL database, with `backend = "scylla"`.
    pub cql: Option<CqlConfig>,
}

impl Default for StoreSection {
    fn default() -> Self {
        let embedded = tern_storage::EmbeddedConfig::default();
        Self {
            backend: StoreBackend::Embedded,
            dir: PathBuf::from("data"),
            fsync: embedded.fsync,
            cache_mib: embedded.cache_bytes / MIB,
            memtable_mib: embedded.memtable_bytes / MIB,
            cql: None,
        }
    }
}

impl StoreSection {
    /// The embedded store in `dir`.
    pub fn embedded(dir: PathBuf) -> Self {
        Self {
            dir,
            ..Self::default()
        }
    }

    /// The embedded store's settings from this section.
    pub fn embedded_config(&self) -> tern_storage::EmbeddedConfig {
        tern_storage::EmbeddedConfig {
            fsync: self.fsync,
            cache_bytes: self.cache_mib.saturating_mul(MIB),
            memtable_bytes: self.memtable_mib.saturating_mul(MIB),
            ..tern_storage::EmbeddedConfig::default()
        }
    }

    pub(super) fn validate(&self, errors: &mut Vec<ConfigError>) {
        if self.memtable_mib.saturating_mul(MIB) < tern_storage::embedded::MIN_MEMTABLE_BYTES {
            errors.push(invalid("store.memtable_mib", "must be at least 1"));
        }
        if self.memtable_mib > MAX_MEMTABLE_MIB {
            errors.push(invalid(
                "store.memtable_mib",
                format!("must be at most {MAX_MEMTABLE_MIB}"),
            ));
        }
        if self.cache_mib > MAX_CACHE_MIB {
            errors.push(invalid(
                "store.cache_mib",
                format!("must be at most {MAX_CACHE_MIB}"),
            ));
        }
        match (self.backend, &self.cql) {
            (StoreBackend::Scylla, None) => errors.push(invalid(
                "store.cql",
                "needed with store.backend = \"scylla\": contact_points, keyspace, ...",
            )),
            (StoreBackend::Scylla, Some(cql)) => {
                if let Err(problems) = cql.validate() {
                    errors.extend(problems.into_iter().map(|p| invalid(p.key, p.message)));
                }
            }
            (StoreBackend::Embedded, Some(_)) => errors.push(invalid(
                "store.cql",
                "is used only with store.backend = \"scylla\"",
            )),
            (StoreBackend::Embedded, None) => {}
        }
    }
}
