//! What the answering node knows itself (sessions, messages, queues, its raft view),
//! cluster membership changes, and the event and audit trails of the state.

use tonic::Status;

use super::convert;
use super::proto;
use super::service::{limit_or_default, not_found, AdminService};
use super::CancelOutcome;

pub(super) async fn list_sessions(
    svc: &AdminService,
    _: proto::Empty,
) -> Result<proto::SessionList, Status> {
    let sessions = svc.ops.sessions().await.map_err(Status::unavailable)?;
    Ok(proto::SessionList {
        sessions: sessions.into_iter().map(convert::session).collect(),
    })
}

pub(super) async fn kick_session(
    svc: &AdminService,
    req: proto::IdRef,
) -> Result<proto::Done, Status> {
    let kicked = svc.ops.kick(req.id).await;
    let outcome = match &kicked {
        Ok(true) => Ok(()),
        Ok(false) => Err("no such session".to_owned()),
        Err(error) => Err(error.clone()),
    };
    svc.audit_local(&format!("KickSession {}", req.id), &outcome);
    match kicked.map_err(Status::unavailable)? {
        true => Ok(proto::Done {}),
        false => Err(not_found("session", &req.id.to_string())),
    }
}

pub(super) async fn get_message(
    svc: &AdminService,
    req: proto::IdRef,
) -> Result<proto::Message, Status> {
    svc.ops
        .message(req.id)
        .await
        .map_err(Status::unavailable)?
        .map(convert::message)
        .ok_or_else(|| not_found("message", &req.id.to_string()))
}

pub(super) async fn list_messages(
    svc: &AdminService,
    req: proto::ListMessagesRequest,
) -> Result<proto::MessageList, Status> {
    if req.account.is_empty() {
        return Err(Status::invalid_argument("account: empty"));
    }
    let to_ms = match req.to_ms {
        0 => super::now_ms(),
        t => t,
    };
    if to_ms < req.from_ms {
        return Err(Status::invalid_argument("to_ms is before from_ms"));
    }
    let limit = limit_or_default(req.limit);
    let messages = svc
        .ops
        .messages(req.account, req.from_ms, to_ms, limit)
        .await
        .map_err(Status::unavailable)?;
    Ok(proto::MessageList {
        messages: messages.into_iter().map(convert::message).collect(),
    })
}

pub(super) async fn cancel_message(
    svc: &AdminService,
    req: proto::IdRef,
) -> Result<proto::Done, Status> {
    let outcome = svc.ops.cancel(req.id).await;
    let logged = match &outcome {
        Ok(CancelOutcome::Cancelled) => Ok(()),
        Ok(CancelOutcome::AlreadyFinal(state)) => Err(format!("already {state}")),
        Ok(CancelOutcome::NotFound) => Err("not found".to_owned()),
        Err(error) => Err(error.clone()),
    };
    svc.audit_local(&format!("CancelMessage {}", req.id), &logged);
    match outcome.map_err(Status::unavailable)? {
        CancelOutcome::Cancelled => Ok(proto::Done {}),
        CancelOutcome::AlreadyFinal(state) => Err(Status::failed_precondition(format!(
            "message {} is already {state}",
            req.id
        ))),
        CancelOutcome::NotFound => Err(not_found("message", &req.id.to_string())),
    }
}

pub(super) async fn list_queues(
    svc: &AdminService,
    _: proto::Empty,
) -> Result<proto::QueueList, Status> {
    let queues = svc.ops.queues().await.map_err(Status::unavailable)?;
    Ok(proto::QueueList {
        queues: queues.into_iter().map(convert::queue).collect(),
    })
}

pub(super) async fn cluster_status(
    svc: &AdminService,
    _: proto::Empty,
) -> Result<proto::ClusterStatusReply, Status> {
    Ok(convert::cluster(svc.control.status()))
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

pub(super) async fn list_events(
    svc: &AdminService,
    req: proto::ListEventsRequest,
) -> Result<proto::EventList, Status> {
    let limit = limit_or_default(req.limit);
    svc.read(|state| proto::EventList {
        events: state
            .events
            .iter()
            .filter(|e| e.seq > req.after_seq)
            .take(limit)
            .map(|event| convert::event(state, event))
            .collect(),
        acked: state.events_acked,
    })
    .await
}

/// The most recent records, oldest first.
pub(super) async fn list_audit(
    svc: &AdminService,
    req: proto::ListAuditRequest,
) -> Result<proto::AuditList, Status> {
    let limit = limit_or_default(req.limit);
    svc.read(|state| {
        let skip = state.audit.len().saturating_sub(limit);
        proto::AuditList {
            entries: state.audit.iter().skip(skip).map(convert::audit).collect(),
        }
    })
    .await
}
