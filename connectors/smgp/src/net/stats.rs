//! Every metric the SMGP connector emits, in one place, so that names, labels and units
//! stay consistent: `tern_smgp_<what>_<unit>`, labels bounded (role, command, direction,
//! reason, the link's configured name), never an address or a message id.

use tern_cn::session::Counters;

use super::CloseReason;

/// Which side of the connection we are: "server" (an SP logged in to us) or "client" (our
/// link to an SMGW).
pub(crate) type Role = &'static str;

#[derive(Debug, Clone, Copy)]
pub(crate) enum Direction {
    In,
    Out,
}

pub(crate) fn session_opened(role: Role) {
    metrics::gauge!("tern_smgp_open_sessions", "role" => role).increment(1.0);
}

pub(crate) fn session_closed(role: Role, reason: &CloseReason) {
    metrics::gauge!("tern_smgp_open_sessions", "role" => role).decrement(1.0);
    metrics::counter!(
        "tern_smgp_sessions_closed_total",
        "role" => role,
        "reason" => reason.label()
    )
    .increment(1);
}

pub(crate) fn pdu(role: Role, command: &'static str, direction: Direction) {
    let direction = match direction {
        Direction::In => "in",
        Direction::Out => "out",
    };
    metrics::counter!(
        "tern_smgp_pdus_total",
        "role" => role,
        "command" => command,
        "direction" => direction
    )
    .increment(1);
}

/// Server: a connection that did not become a session. `reason`: limit, timeout,
/// not_login, malformed, version, rejected (by the handler), authenticator, timestamp,
/// closed, io, shutdown.
pub(crate) fn login_refused(reason: &'static str) {
    metrics::counter!("tern_smgp_logins_refused_total", "reason" => reason).increment(1);
}

/// A Login exchange that ended: `result` ok, refused or failed.
pub(crate) fn login_result(role: Role, result: &'static str) {
    metrics::counter!("tern_smgp_logins_total", "role" => role, "result" => result).increment(1);
}

pub(crate) fn response_latency(role: Role, command: &'static str, seconds: f64) {
    metrics::histogram!(
        "tern_smgp_response_latency_seconds",
        "role" => role,
        "command" => command
    )
    .record(seconds);
}

pub(crate) fn response_timeout(role: Role, command: &'static str) {
    metrics::counter!(
        "tern_smgp_response_timeouts_total",
        "role" => role,
        "command" => command
    )
    .increment(1);
}

pub(crate) fn session_counters(role: Role, counters: Counters) {
    let pairs = [
        (
            "tern_smgp_unexpected_responses_total",
            counters.unexpected_responses,
        ),
        ("tern_smgp_late_responses_total", counters.late_responses),
        ("tern_smgp_flow_controlled_total", counters.flow_controlled),
        (
            "tern_smgp_repeated_sequences_total",
            counters.repeated_sequences,
        ),
        ("tern_smgp_malformed_pdus_total", counters.malformed),
    ];
    for (name, value) in pairs {
        if value > 0 {
            metrics::counter!(name, "role" => role).increment(value);
        }
    }
}

/// A PDU that did not encode and was not sent.
pub(crate) fn encode_error(role: Role, command: &'static str) {
    metrics::counter!(
        "tern_smgp_encode_errors_total",
        "role" => role,
        "command" => command
    )
    .increment(1);
}

pub(crate) fn gate_closed(role: Role) {
    metrics::counter!("tern_smgp_gate_closes_total", "role" => role).increment(1);
}

/// A late response the application was too busy to take.
pub(crate) fn event_dropped(role: Role) {
    metrics::counter!("tern_smgp_events_dropped_total", "role" => role).increment(1);
}

pub(crate) fn link_up(link: &str, up: bool) {
    metrics::gauge!("tern_smgp_link_up", "link" => link.to_owned()).set(if up { 1.0 } else { 0.0 });
}
