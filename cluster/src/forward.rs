//! What only the leader can do, in one place: a proposal, a membership change, a read
//! index. A node that leads runs [`execute`] itself; any other node sends the same
//! [`Forward`] to the leader, whose service runs [`execute`] and sends the result back.
//!
//! The error says whether retrying is safe: `NotLeader` and `NoQuorum` come before the
//! request entered the log (or after openraft truncated it away), `Stopped` may come after.

use std::collections::BTreeSet;

use openraft::error::{ChangeMembershipError, ClientWriteError};
use openraft::{BasicNode, ChangeMembers};
use serde::{Deserialize, Serialize};
use tern_ledger::{Request, Response};

use crate::types::{CheckIsLeaderError, NodeId, Raft, RaftError};

/// A request for the leader.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) enum Forward {
    /// Apply a ledger request (its `at_ms` already set by the proposer).
    Propose(Box<Request>),
    /// Add a non-voting member that replicates the log.
    AddLearner { id: NodeId, addr: String },
    /// Make these the voters; with `retain`, dropped voters stay as learners.
    ChangeMembership {
        voters: BTreeSet<NodeId>,
        retain: bool,
    },
    /// Learners become voters.
    Promote { ids: BTreeSet<NodeId> },
    /// Out of voters and learners.
    Remove { ids: BTreeSet<NodeId> },
    /// Confirm leadership with a quorum and name the index a linearizable read must see.
    ReadIndex,
}

impl Forward {
    pub(crate) fn kind(&self) -> &'static str {
        match self {
            Forward::Propose(_) => "propose",
            Forward::AddLearner { .. } => "add_learner",
            Forward::ChangeMembership { .. } => "change_membership",
            Forward::Promote { .. } => "promote",
            Forward::Remove { .. } => "remove",
            Forward::ReadIndex => "read_index",
        }
    }
}

/// What the leader did.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) enum Outcome {
    /// The state machine's answer to a proposal.
    Applied(Response),
    /// A membership change is committed.
    Done,
    /// The log index a linearizable read must wait for.
    ReadIndex(u64),
}

/// Why the leader did not do it.
#[derive(Debug, Clone, Serialize, Deserialize, thiserror::Error)]
pub(crate) enum LeaderError {
    /// This node is not the leader (any more); nothing was applied.
    #[error("not the leader (leader: {leader:?})")]
    NotLeader { leader: Option<NodeId> },
    /// Leadership could not be confirmed with a quorum; nothing was applied.
    #[error("no quorum: {0}")]
    NoQuorum(String),
    /// The change was refused; nothing was applied.
    #[error("{0}")]
    Membership(String),
    /// The leader's raft stopped while handling the request: it may have been applied.
    #[error("raft stopped: {0}")]
    Stopped(String),
}

fn write_error(e: RaftError<ClientWriteError<NodeId, BasicNode>>) -> LeaderError {
    match e {
        RaftError::APIError(ClientWriteError::ForwardToLeader(f)) => LeaderError::NotLeader {
            leader: f.leader_id,
        },
        RaftError::APIError(ClientWriteError::ChangeMembershipError(e)) => match e {
            ChangeMembershipError::InProgress(_)
            | ChangeMembershipError::EmptyMembership(_)
            | ChangeMembershipError::LearnerNotFound(_) => LeaderError::Membership(e.to_string()),
        },
        RaftError::Fatal(f) => LeaderError::Stopped(f.to_string()),
    }
}

fn read_error(e: RaftError<CheckIsLeaderError>) -> LeaderError {
    match e {
        RaftError::APIError(CheckIsLeaderError::ForwardToLeader(f)) => LeaderError::NotLeader {
            leader: f.leader_id,
        },
        RaftError::APIError(CheckIsLeaderError::QuorumNotEnough(q)) => {
            LeaderError::NoQuorum(q.to_string())
        }
        RaftError::Fatal(f) => LeaderError::Stopped(f.to_string()),
    }
}

/// Runs `op` on this node, which should be the leader.
#[tracing::instrument(level = "debug", skip_all, fields(op = op.kind()))]
pub(crate) async fn execute(raft: &Raft, op: Forward) -> Result<Outcome, LeaderError> {
    match op {
        Forward::Propose(request) => {
            let written = raft.client_write(*request).await.map_err(write_error)?;
            Ok(Outcome::Applied(written.data))
        }
        Forward::AddLearner { id, addr } => {
            raft.add_learner(id, BasicNode::new(addr), false)
                .await
                .map_err(write_error)?;
            Ok(Outcome::Done)
        }
        Forward::ChangeMembership { voters, retain } => {
            raft.change_membership(voters, retain)
                .await
                .map_err(write_error)?;
            Ok(Outcome::Done)
        }
        Forward::Promote { ids } => {
            raft.change_membership(ChangeMembers::AddVoterIds(ids), true)
                .await
                .map_err(write_error)?;
            Ok(Outcome::Done)
        }
        Forward::Remove { ids } => remove(raft, ids).await,
        Forward::ReadIndex => {
            let (read_log_id, _) = raft.get_read_log_id().await.map_err(read_error)?;
            Ok(Outcome::ReadIndex(read_log_id.map_or(0, |id| id.index)))
        }
    }
}

/// Takes `ids` out of the voters first (a voter cannot be dropped as a node while it
/// votes), then out of the learners.
async fn remove(raft: &Raft, ids: BTreeSet<NodeId>) -> Result<Outcome, LeaderError> {
    let voters: BTreeSet<NodeId> = {
        let metrics = raft.metrics();
        let metrics = metrics.borrow();
        metrics.membership_config.membership().voter_ids().collect()
    };
    let dropped: BTreeSet<NodeId> = voters.intersection(&ids).copied().collect();
    if !dropped.is_empty() {
        raft.change_membership(ChangeMembers::RemoveVoters(dropped), false)
            .await
            .map_err(write_error)?;
    }
    let learners: BTreeSet<NodeId> = {
        let metrics = raft.metrics();
        let metrics = metrics.borrow();
        metrics
            .membership_config
            .membership()
            .learner_ids()
            .filter(|id| ids.contains(id))
            .collect()
    };
    if !learners.is_empty() {
        raft.change_membership(ChangeMembers::RemoveNodes(learners), false)
            .await
            .map_err(write_error)?;
    }
    Ok(Outcome::Done)
}
