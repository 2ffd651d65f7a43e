//! The openraft type configuration, declared once: what a log entry carries
//! (`tern_ledger::Request`), what applying one answers (`tern_ledger::Response`), how
//! nodes are named (`u64`) and reached (`BasicNode`, the `host:port` of the raft RPC).
//!
//! Everything else names these aliases instead of spelling openraft's generics, so a
//! change of a type parameter is a change of this file.

use std::io::Cursor;

use openraft::BasicNode;

/// A node's id in the raft group.
pub type NodeId = u64;

openraft::declare_raft_types!(
    /// The raft types of a Tern cluster.
    pub TypeConfig:
        D = tern_ledger::Request,
        R = tern_ledger::Response,
        NodeId = NodeId,
        Node = BasicNode,
        SnapshotData = Cursor<Vec<u8>>,
        AsyncRuntime = openraft::TokioRuntime,
);

pub type Raft = openraft::Raft<TypeConfig>;
pub type Entry = openraft::Entry<TypeConfig>;
pub type LogId = openraft::LogId<NodeId>;
pub type Vote = openraft::Vote<NodeId>;
pub type SnapshotMeta = openraft::SnapshotMeta<NodeId, BasicNode>;
pub type StoredMembership = openraft::StoredMembership<NodeId, BasicNode>;
pub type StorageError = openraft::StorageError<NodeId>;
pub type RaftMetrics = openraft::RaftMetrics<NodeId, BasicNode>;
pub type RaftError<E = openraft::error::Infallible> = openraft::error::RaftError<NodeId, E>;
pub type RpcError<E = openraft::error::Infallible> =
    openraft::error::RPCError<NodeId, BasicNode, RaftError<E>>;
pub type ClientWriteError = openraft::error::ClientWriteError<NodeId, BasicNode>;
pub type CheckIsLeaderError = openraft::error::CheckIsLeaderError<NodeId, BasicNode>;
