//! How a node takes part in the raft group: its id, where it listens, where its log
//! lives and the timing of elections, heartbeats, snapshots and ledger ticks.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;

use crate::error::ClusterError;

/// The configuration of one raft node. `Debug` leaves the secret out.
#[derive(Clone, PartialEq, Eq)]
pub struct ClusterConfig {
    pub node_id: u64,
    /// Raft RPC listen address (port 0 binds a free port: see `Cluster::raft_addr`).
    pub listen: SocketAddr,
    /// `host:port` peers use to reach this node; default: the bound listen address, which
    /// only works for peers when `listen` is not a wildcard address such as 0.0.0.0. The
    /// membership records it when the node is added: a node restarts on the same one.
    pub advertise: Option<String>,
    /// Raft log and snapshots.
    pub dir: PathBuf,
    /// Initialise a one-member cluster of this node when its log is empty. A node that is
    /// to join an existing cluster (`Cluster::add_learner`) must start with `false`.
    pub bootstrap: bool,
    pub heartbeat_ms: u64,
    /// Election timeout range (min, max), randomised per term.
    pub election_timeout_ms: (u64, u64),
    /// A snapshot every this many applied entries; the log behind it is purged.
    pub snapshot_logs: u64,
    /// The leader proposes `Command::Tick` this often; 0 = never.
    pub tick_ms: u64,
    /// When set, every raft RPC carries `authorization: Bearer <secret>` and RPCs
    /// without it are refused.
    pub secret: Option<String>,
    /// Where this node dials a peer instead of the address the peer advertises (a NAT, a
    /// tunnel, a fault proxy between two nodes); raft and the relay both use it.
    pub dial: HashMap<u64, String>,
}

impl std::fmt::Debug for ClusterConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClusterConfig")
            .field("node_id", &self.node_id)
            .field("listen", &self.listen)
            .field("advertise", &self.advertise)
            .field("dir", &self.dir)
            .field("bootstrap", &self.bootstrap)
            .field("heartbeat_ms", &self.heartbeat_ms)
            .field("election_timeout_ms", &self.election_timeout_ms)
            .field("snapshot_logs", &self.snapshot_logs)
            .field("tick_ms", &self.tick_ms)
            .field("secret", &self.secret.as_ref().map(|_| "<redacted>"))
            .field("dial", &self.dial)
            .finish()
    }
}

impl ClusterConfig {
    /// A node with the default timing that bootstraps a cluster of itself.
    pub fn new(node_id: u64, listen: SocketAddr, dir: PathBuf) -> Self {
        Self {
            node_id,
            listen,
            advertise: None,
            dir,
            bootstrap: true,
            heartbeat_ms: 100,
            election_timeout_ms: (400, 800),
            snapshot_logs: 10_000,
            tick_ms: 1_000,
            secret: None,
            dial: HashMap::new(),
        }
    }

    /// Checks what openraft would otherwise reject later or run badly with.
    pub fn validate(&self) -> Result<(), ClusterError> {
        let (min, max) = self.election_timeout_ms;
        if self.heartbeat_ms == 0 {
            return Err(ClusterError::Config("heartbeat_ms must be > 0".into()));
        }
        if min <= self.heartbeat_ms || max <= min {
            return Err(ClusterError::Config(format!(
                "election_timeout_ms ({min}, {max}) must satisfy heartbeat_ms ({}) < min < max",
                self.heartbeat_ms
            )));
        }
        if self.snapshot_logs == 0 {
            return Err(ClusterError::Config("snapshot_logs must be > 0".into()));
        }
        if self.secret.as_deref().is_some_and(str::is_empty) {
            return Err(ClusterError::Config("secret must not be empty".into()));
        }
        Ok(())
    }

    /// The openraft configuration these settings stand for.
    pub(crate) fn raft_config(&self) -> Result<openraft::Config, ClusterError> {
        let config = openraft::Config {
            cluster_name: "tern".into(),
            heartbeat_interval: self.heartbeat_ms,
            election_timeout_min: self.election_timeout_ms.0,
            election_timeout_max: self.election_timeout_ms.1,
            snapshot_policy: openraft::SnapshotPolicy::LogsSinceLast(self.snapshot_logs),
            // Keep some entries behind a snapshot so a follower that lags a little gets
            // entries rather than a whole snapshot.
            max_in_snapshot_log_to_keep: self.snapshot_logs.min(1_000),
            // Chunks well under the 4 MiB gRPC message default, with room for framing.
            snapshot_max_chunk_size: 1024 * 1024,
            ..Default::default()
        };
        config
            .validate()
            .map_err(|e| ClusterError::Config(e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> ClusterConfig {
        ClusterConfig::new(1, "127.0.0.1:0".parse().unwrap(), "/tmp/x".into())
    }

    #[test]
    fn defaults_are_valid_and_debug_hides_the_secret() {
        let mut config = config();
        config.secret = Some("hunter2".into());
        assert!(config.validate().is_ok());
        assert!(config.raft_config().is_ok());
        assert!(!format!("{config:?}").contains("hunter2"));
    }

    #[test]
    fn timing_that_cannot_elect_is_refused() {
        let mut config = config();
        config.election_timeout_ms = (100, 800);
        assert!(config.validate().is_err());
        let mut config = self::tests::config();
        config.election_timeout_ms = (800, 400);
        assert!(config.validate().is_err());
        let mut config = self::tests::config();
        config.snapshot_logs = 0;
        assert!(config.validate().is_err());
    }
}
