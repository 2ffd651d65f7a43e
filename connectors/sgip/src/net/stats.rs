//! Every metric the SGIP connector emits, in one place, so that names, labels and units
//! stay consistent: `tern_sgip_<what>_<unit>`, labels bounded (role, command, direction,
//! reason, login type, the link's configured name), never an address or a sequence number.

use crate::codec::CommandId;

use super::rules::command_name;
use super::session::Counters;
use super::CloseReason;

/// Which side of the connection we are: "server" (the peer bound to us) or "client" (we
/// bound to the peer).
pub(crate) type Role = &'static str;

#[derive(Debug, Clone, Copy)]
pub(crate) enum Direction {
    In,
    Out,
}

pub(crate) fn session_opened(role: Role) {
    metrics::gauge!("tern_sgip_open_sessions", "role" => role).increment(1.0);
}

pub(crate) fn session_closed(role: Role, reason: &CloseReason) {
    metrics::gauge!("tern_sgip_open_sessions", "role" => role).decrement(1.0);
    metrics::counter!(
        "tern_sgip_sessions_closed_total",
        "role" => role,
        "reason" => reason_label(reason)
    )
    .increment(1);
}

pub(crate) fn pdu(role: Role, command: CommandId, direction: Direction) {
    let direction = match direction {
        Direction::In => "in",
        Direction::Out => "out",
    };
    metrics::counter!(
        "tern_sgip_pdus_total",
        "role" => role,
        "command" => command_name(command),
        "direction" => direction
    )
    .increment(1);
}

/// Server: a connection that did not become a session. `reason`: timeout, not_bind,
/// malformed, login_type, rejected (by the handler), credentials, closed, io, shutdown.
pub(crate) fn bind_refused(reason: &'static str) {
    metrics::counter!("tern_sgip_binds_refused_total", "reason" => reason).increment(1);
}

/// A BIND exchange that ended: `result` ok, refused or failed; `login_type` as bound.
pub(crate) fn bind_result(role: Role, login_type: &'static str, result: &'static str) {
    metrics::counter!(
        "tern_sgip_binds_total",
        "role" => role,
        "login_type" => login_type,
        "result" => result
    )
    .increment(1);
}

pub(crate) fn response_latency(role: Role, command: CommandId, seconds: f64) {
    metrics::histogram!(
        "tern_sgip_response_latency_seconds",
        "role" => role,
        "command" => command_name(command)
    )
    .record(seconds);
}

pub(crate) fn response_timeout(role: Role, command: CommandId) {
    metrics::counter!(
        "tern_sgip_response_timeouts_total",
        "role" => role,
        "command" => command_name(command)
    )
    .increment(1);
}

pub(crate) fn session_counters(role: Role, counters: Counters) {
    let pairs = [
        (
            "tern_sgip_unexpected_responses_total",
            counters.unexpected_responses,
        ),
        ("tern_sgip_late_responses_total", counters.late_responses),
        ("tern_sgip_busy_refusals_total", counters.flow_controlled),
        (
            "tern_sgip_repeated_sequences_total",
            counters.repeated_sequences,
        ),
        ("tern_sgip_malformed_pdus_total", counters.malformed),
        ("tern_sgip_wrong_direction_total", counters.not_carried),
    ];
    for (name, value) in pairs {
        if value > 0 {
            metrics::counter!(name, "role" => role).increment(value);
        }
    }
}

/// A PDU that did not encode and was not sent.
pub(crate) fn encode_error(role: Role, command: CommandId) {
    metrics::counter!(
        "tern_sgip_encode_errors_total",
        "role" => role,
        "command" => command_name(command)
    )
    .increment(1);
}

pub(crate) fn gate_closed(role: Role) {
    metrics::counter!("tern_sgip_gate_closes_total", "role" => role).increment(1);
}

/// A late response the application was too busy to take.
pub(crate) fn event_dropped(role: Role) {
    metrics::counter!("tern_sgip_events_dropped_total", "role" => role).increment(1);
}

pub(crate) fn link_up(link: &str, up: bool) {
    metrics::gauge!("tern_sgip_link_up", "link" => link.to_owned()).set(if up { 1.0 } else { 0.0 });
}

pub(crate) fn reason_label(reason: &CloseReason) -> &'static str {
    match reason {
        CloseReason::Unbound => "unbound",
        CloseReason::ByUs => "by_us",
        CloseReason::Inactivity => "inactivity",
        CloseReason::PeerClosed => "peer_closed",
        CloseReason::Io(_) => "io",
        CloseReason::Protocol(_) => "protocol",
        CloseReason::Shutdown => "shutdown",
        CloseReason::BindRefused(_) => "bind_refused",
    }
}
