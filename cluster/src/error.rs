//! What a cluster operation can fail with, named by what failed. Callers decide on
//! retries from the variant: `NoLeader` and `NotLeader` mean the request was certainly not
//! applied; `Indeterminate` means it may have been (the leader vanished after taking it),
//! so only an idempotent request may be sent again as it is.

use std::path::PathBuf;
use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    /// No leader was known, or none answered, before the deadline.
    #[error("no leader within {0:?}")]
    NoLeader(Duration),
    /// The raft log or snapshot storage failed.
    #[error("raft storage at {path}: {message}")]
    Storage { path: PathBuf, message: String },
    /// The raft RPC listener could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        addr: std::net::SocketAddr,
        source: std::io::Error,
    },
    /// A peer could not be reached or answered with a transport error.
    #[error("network: {0}")]
    Network(String),
    /// The request reached a leader that lost its leadership or its peer before answering:
    /// it may or may not be applied.
    #[error("outcome unknown: {0}")]
    Indeterminate(String),
    /// A membership change the leader refused (unknown learner, change in progress, ...).
    #[error("membership change refused: {0}")]
    Membership(String),
    /// A peer refused our shared secret, or we refused its.
    #[error("unauthenticated: {0}")]
    Unauthenticated(String),
    /// The local raft node stopped (shut down or a fatal storage error).
    #[error("raft stopped: {0}")]
    Fatal(String),
    /// The configuration cannot work.
    #[error("config: {0}")]
    Config(String),
    /// A peer sent something this node cannot decode.
    #[error("protocol: {0}")]
    Protocol(String),
}
