//! What the answering node knows itself (sessions, messages, queues), and the event and
//! audit trails of the state.

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
