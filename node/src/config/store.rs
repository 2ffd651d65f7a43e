//! `[store]`: which message store the node runs on. The embedded store (one node, `tern
//! dev`, small deployments) keeps its files in `dir`; a cluster shares one CQL database
//! (ScyllaDB, or Apache Cassandra) set up in `[store.cql]`, so that any node can read what
//! another accepted.

use std::path::PathBuf;

use serde::Deserialize;
use tern_storage::cql::CqlConfig;

use super::{invalid, ConfigError};

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
    /// The CQL database, with `backend = "scylla"`.
    pub cql: Option<CqlConfig>,
}

impl Default for StoreSection {
    fn default() -> Self {
        Self {
            backend: StoreBackend::Embedded,
            dir: PathBuf::from("data"),
            fsync: true,
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

    pub(super) fn validate(&self, errors: &mut Vec<ConfigError>) {
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
