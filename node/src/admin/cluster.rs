//! The cluster: raft membership (learners, voters, removal), the answering node's view of
//! it, and the ownership map of shards and binds with the operator's two levers on it:
//! draining a node before it is stopped, and forgetting one that left for good.
//!
//! Draining only marks the node; the state machine moves its claims, and each one waits
//! for the old owner's release (or [`HANDOFF_MS`]). So `Drain` answers with what is left,
//! and `DrainStatus` is asked again until the node is drained.
//!
//! [`HANDOFF_MS`]: tern_ledger::ownership::HANDOFF_MS

use tern_ledger::ownership::DEAD_AFTER_MS;
use tern_ledger::Command;
use tonic::Status;

use super::convert;
use super::now_ms;
use super::proto;
use super::service::{not_found, AdminService};

/// This node's view: its raft status, the ownership map as it has applied it, and its
/// lease. Read locally, so that it answers at once while the cluster has no leader.
pub(super) async fn cluster_status(
    svc: &AdminService,
    _: proto::Empty,
) -> Result<proto::ClusterStatusReply, Status> {
    let view = svc.control.status();
    let lease_valid = svc.ops.lease_valid();
    let at_ms = now_ms();
    svc.read_local(|state| convert::cluster(view, &state.cluster, lease_valid, at_ms))
        .ok_or_else(|| Status::unavailable("the state could not be read"))
}

fn membership_result(outcome: Result<(), String>) -> Result<proto::Done, Status> {
    outcome
        .map(|()| proto::Done {})
        .map_err(Status::unavailable)
}

pub(super) async fn add_learner(
    svc: &AdminService,
    req: proto::AddLearnerRequest,
) -> Result<proto::Done, Status> {
    check_raft_addr(&req.addr)?;
    let what = format!("AddLearner {} {}", req.id, req.addr);
    let outcome = svc.control.add_learner(req.id, req.addr).await;
    svc.audit_local(&what, &outcome);
    membership_result(outcome)
}

/// A node's raft address: `HOST:PORT`, as the other nodes will dial it.
fn check_raft_addr(addr: &str) -> Result<(), Status> {
    let valid = addr.rsplit_once(':').is_some_and(|(host, port)| {
        let host = host.trim_start_matches('[').trim_end_matches(']');
        !host.is_empty()
            && !host.contains(char::is_whitespace)
            && port.parse::<u16>().is_ok_and(|p| p != 0)
    });
    if valid {
        Ok(())
    } else {
        Err(Status::invalid_argument(format!(
            "addr: {addr:?} is not HOST:PORT (the node's raft address)"
        )))
    }
}

fn check_ids(ids: &[u64]) -> Result<(), Status> {
    if ids.is_empty() {
        return Err(Status::invalid_argument("ids: none given"));
    }
    Ok(())
}

/// Removing a node that is not in the cluster would change nothing: say so.
fn check_members(svc: &AdminService, ids: &[u64]) -> Result<(), Status> {
    let members = svc.control.status().members;
    let strangers: Vec<String> = ids
        .iter()
        .filter(|id| !members.iter().any(|m| m.id == **id))
        .map(u64::to_string)
        .collect();
    if strangers.is_empty() {
        return Ok(());
    }
    let known: Vec<String> = members.iter().map(|m| m.id.to_string()).collect();
    Err(Status::not_found(format!(
        "node {} is not a member of the cluster (members: {})",
        strangers.join(", "),
        known.join(", ")
    )))
}

pub(super) async fn promote(
    svc: &AdminService,
    req: proto::NodeIds,
) -> Result<proto::Done, Status> {
    check_ids(&req.ids)?;
    let what = format!("Promote {:?}", req.ids);
    let outcome = svc.control.promote(req.ids).await;
    svc.audit_local(&what, &outcome);
    membership_result(outcome)
}

pub(super) async fn remove_node(
    svc: &AdminService,
    req: proto::NodeIds,
) -> Result<proto::Done, Status> {
    check_ids(&req.ids)?;
    check_members(svc, &req.ids)?;
    let what = format!("RemoveNode {:?}", req.ids);
    let outcome = svc.control.remove(req.ids).await;
    svc.audit_local(&what, &outcome);
    membership_result(outcome)
}

/// What `node` still owns or hands off.
async fn drain_state(svc: &AdminService, node: u64) -> Result<proto::DrainState, Status> {
    svc.read(|state| convert::drain_state(&state.cluster, node))
        .await?
        .ok_or_else(|| not_found("node", &node.to_string()))
}

pub(super) async fn drain(
    svc: &AdminService,
    req: proto::DrainRequest,
) -> Result<proto::DrainState, Status> {
    let what = if req.undo {
        format!("Drain {} undo", req.node)
    } else {
        format!("Drain {}", req.node)
    };
    let command = Command::Drain {
        node: req.node,
        draining: !req.undo,
    };
    svc.change(what, command).await?;
    drain_state(svc, req.node).await
}

pub(super) async fn drain_status(
    svc: &AdminService,
    req: proto::NodeRef,
) -> Result<proto::DrainState, Status> {
    drain_state(svc, req.node).await
}

/// Forgetting a live node would give its work to others at once, without a hand-off,
/// while it still acts under its lease: refused until the cluster counts it dead.
pub(super) async fn forget_node(
    svc: &AdminService,
    req: proto::NodeRef,
) -> Result<proto::Done, Status> {
    let node = req.node;
    let at_ms = now_ms();
    let liveness = svc
        .read(|state| state.cluster.members.get(&node).cloned())
        .await?
        .ok_or_else(|| not_found("node", &node.to_string()))?;
    if liveness.alive {
        let ago = at_ms.saturating_sub(liveness.renewed_ms) / 1000;
        let dead_after = DEAD_AFTER_MS / 1000;
        return Err(Status::failed_precondition(format!(
            "node {node} is alive (last heartbeat {ago} s ago): drain it and stop it first; \
             it counts as dead {dead_after} s after its last heartbeat"
        )));
    }
    svc.change(format!("ForgetNode {node}"), Command::ForgetNode { node })
        .await?;
    Ok(proto::Done {})
}
