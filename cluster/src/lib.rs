//! The replicated state of a Tern cluster: the openraft type configuration, the state
//! machine holding accounts, ledgers, routes and membership, its log store and the raft
//! network over tonic. It knows nothing about actors or wire protocols.
//!
//! [`Cluster`] is the handle: start a node, propose `tern_ledger::Request`s from any
//! node, read the applied `tern_ledger::State`, change the membership, and relay the
//! node's own messages to another member ([`RelayHandler`], outside raft). The modules
//! follow openraft's own split: `types` (declared once), `log_store` and
//! `state_machine` (storage, over one fjall database: `disk`), `network` and `service`
//! (the two sides of the tonic transport), `forward` (what only the leader runs) and
//! `relay` (node-to-node calls whose payloads only the node understands).

mod cluster;
mod config;
mod disk;
mod error;
mod forward;
pub mod log_store;
mod network;
mod relay;
mod service;
mod snapshot;
pub mod state_machine;
mod syncer;
pub mod telemetry;
pub mod types;

/// The generated tonic code of `proto/tern/cluster/v1/raft.proto`.
#[allow(clippy::all, clippy::pedantic, missing_docs)]
mod pb {
    tonic::include_proto!("tern.cluster.v1");
}

pub use cluster::{Cluster, ClusterStatus, Member};
pub use config::ClusterConfig;
pub use error::ClusterError;
pub use network::{NetworkFactory, PeerNetwork};
pub use relay::{RelayError, RelayHandler};

/// Opens the raft storage in `dir` on its own, without a running node: what the openraft
/// storage suite and offline tools need.
pub async fn open_storage(
    dir: &std::path::Path,
) -> Result<(log_store::LogStore, state_machine::StateMachine), ClusterError> {
    let disk = disk::Disk::open(dir).await?;
    let state_machine =
        state_machine::StateMachine::open(std::sync::Arc::clone(&disk)).map_err(|e| {
            ClusterError::Storage {
                path: dir.to_path_buf(),
                message: e.to_string(),
            }
        })?;
    Ok((log_store::LogStore::new(disk), state_machine))
}
