//! Every metric the CMPP connector emits, in one place, so that names, labels and units
//! stay consistent: `tern_cmpp_<what>_<unit>`, labels bounded (role, command, direction,
//! reason, the link's configured name), never an address or a message id.

use crate::codec::CommandId;

use super::rules::command_name;
use super::session::Counters;
use super::CloseReason;

/// Which side of the connection we are: "server" (an SP connected to us) or "client"
/// (our link to an ISMG).
pub(crate) type Role = &'static str;

#[derive(Debug, Clone, Copy)]
pub(crate) enum Direction {
    In,
    Out,
}

pub(crate) fn session_opened(role: Role) {
    metrics::gauge!("tern_cmpp_open_sessions", "role" => role).increment(1.0);
}

pub(crate) fn session_closed(role: Role, reason: &CloseReason) {
    metrics::gauge!("tern_cmpp_open_sessions", "role" => role).decrement(1.0);
    metrics::counter!(
        "tern_cmpp_sessions_closed_total",
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
        "tern_cmpp_pdus_total",
        "role" => role,
        "command" => command_name(command),
        "direction" => direction
    )
    .increment(1);
}

/// Server: a connection that did not become a session. `reason`: limit, timeout,
/// not_connect, malformed, version, rejected (by the handler), authenticator, timestamp,
/// closed, io, shutdown.
pub(crate) fn connect_refused(reason: &'static str) {
    metrics::counter!("tern_cmpp_connects_refused_total", "reason" => reason).increment(1);
}

/// A CONNECT exchange that ended: `result` ok, refused or failed.
pub(crate) fn connect_result(role: Role, result: &'static str) {
    metrics::counter!("tern_cmpp_connects_total", "role" => role, "result" => result).increment(1);
}

pub(crate) fn response_latency(role: Role, command: CommandId, seconds: f64) {
    metrics::histogram!(
        "tern_cmpp_response_latency_seconds",
        "role" => role,
        "command" => command_name(command)
    )
    .record(seconds);
}

pub(crate) fn response_timeout(role: Role, command: CommandId) {
    metrics::counter!(
        "tern_cmpp_response_timeouts_total",
        "role" => role,
        "command" => command_name(command)
    )
    .increment(1);
}

pub(crate) fn session_counters(role: Role, counters: Counters) {
    let pairs = [
        (
            "tern_cmpp_unexpected_responses_total",
            counters.unexpected_responses,
        ),
        ("tern_cmpp_late_responses_total", counters.late_responses),
        ("tern_cmpp_flow_controlled_total", counters.flow_controlled),
        (
            "tern_cmpp_repeated_sequences_total",
            counters.repeated_sequences,
        ),
        ("tern_cmpp_malformed_pdus_total", counters.malformed),
    ];
    for (name, value) in pairs {
        if value > 0 {
            metrics::counter!(name, "role" => role).increment(value);
        }
    }
}

/// A PDU that did not encode in the session's version and was not sent.
pub(crate) fn encode_error(role: Role, command: CommandId) {
    metrics::counter!(
        "tern_cmpp_encode_errors_total",
        "role" => role,
        "command" => command_name(command)
    )
    .increment(1);
}

/// A late response the application was too busy to take.
pub(crate) fn event_dropped(role: Role) {
    metrics::counter!("tern_cmpp_events_dropped_total", "role" => role).increment(1);
}

pub(crate) fn link_up(link: &str, up: bool) {
    metrics::gauge!("tern_cmpp_link_up", "link" => link.to_owned()).set(if up { 1.0 } else { 0.0 });
}

pub(crate) fn reason_label(reason: &CloseReason) -> &'static str {
    match reason {
        CloseReason::Terminated => "terminated",
        CloseReason::ByUs => "by_us",
        CloseReason::Inactivity => "inactivity",
        CloseReason::PeerClosed => "peer_closed",
        CloseReason::Io(_) => "io",
        CloseReason::Protocol(_) => "protocol",
        CloseReason::Shutdown => "shutdown",
        CloseReason::ConnectRefused(_) => "connect_refused",
    }
}
