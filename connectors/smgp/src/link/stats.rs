//! Every metric the SMGP and CNGP connectors emit, in one place, so that names, labels and
//! units stay consistent: `tern_<protocol>_<what>_<unit>`, labels bounded (role, command,
//! direction, reason, the link's configured name), never an address or a message id.

use tern_cn::session::Counters;

use super::CloseReason;

/// A protocol's metric names; [`crate::metric_names!`] writes them for a prefix.
#[derive(Debug, Clone, Copy)]
pub struct Names {
    pub open_sessions: &'static str,
    pub sessions_closed_total: &'static str,
    pub pdus_total: &'static str,
    pub logins_refused_total: &'static str,
    pub logins_total: &'static str,
    /// Logins the customer side admitted or refused against the accounts.
    pub login_attempts_total: &'static str,
    pub response_latency_seconds: &'static str,
    pub response_timeouts_total: &'static str,
    pub unexpected_responses_total: &'static str,
    pub late_responses_total: &'static str,
    pub flow_controlled_total: &'static str,
    pub repeated_sequences_total: &'static str,
    pub malformed_pdus_total: &'static str,
    pub encode_errors_total: &'static str,
    pub gate_closes_total: &'static str,
    pub events_dropped_total: &'static str,
    pub link_up: &'static str,
}

/// The [`Names`] of protocol `$p` ("smgp", "cngp").
#[macro_export]
macro_rules! metric_names {
    ($p:literal) => {
        $crate::link::Names {
            open_sessions: concat!("tern_", $p, "_open_sessions"),
            sessions_closed_total: concat!("tern_", $p, "_sessions_closed_total"),
            pdus_total: concat!("tern_", $p, "_pdus_total"),
            logins_refused_total: concat!("tern_", $p, "_logins_refused_total"),
            logins_total: concat!("tern_", $p, "_logins_total"),
            login_attempts_total: concat!("tern_", $p, "_login_attempts_total"),
            response_latency_seconds: concat!("tern_", $p, "_response_latency_seconds"),
            response_timeouts_total: concat!("tern_", $p, "_response_timeouts_total"),
            unexpected_responses_total: concat!("tern_", $p, "_unexpected_responses_total"),
            late_responses_total: concat!("tern_", $p, "_late_responses_total"),
            flow_controlled_total: concat!("tern_", $p, "_flow_controlled_total"),
            repeated_sequences_total: concat!("tern_", $p, "_repeated_sequences_total"),
            malformed_pdus_total: concat!("tern_", $p, "_malformed_pdus_total"),
            encode_errors_total: concat!("tern_", $p, "_encode_errors_total"),
            gate_closes_total: concat!("tern_", $p, "_gate_closes_total"),
            events_dropped_total: concat!("tern_", $p, "_events_dropped_total"),
            link_up: concat!("tern_", $p, "_link_up"),
        }
    };
}

#[derive(Debug, Clone, Copy)]
pub(crate) enum Direction {
    In,
    Out,
}

/// The counts of one protocol in one role: "server" (an SP logged in to us) or "client"
/// (our link to a gateway).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Stats {
    pub names: Names,
    pub role: &'static str,
}

impl Stats {
    pub fn session_opened(&self) {
        metrics::gauge!(self.names.open_sessions, "role" => self.role).increment(1.0);
    }

    pub fn session_closed(&self, reason: &CloseReason) {
        metrics::gauge!(self.names.open_sessions, "role" => self.role).decrement(1.0);
        metrics::counter!(
            self.names.sessions_closed_total,
            "role" => self.role,
            "reason" => reason.label()
        )
        .increment(1);
    }

    pub fn pdu(&self, command: &'static str, direction: Direction) {
        let direction = match direction {
            Direction::In => "in",
            Direction::Out => "out",
        };
        metrics::counter!(
            self.names.pdus_total,
            "role" => self.role,
            "command" => command,
            "direction" => direction
        )
        .increment(1);
    }

    /// Server: a connection that did not become a session. `reason`: limit, timeout,
    /// not_login, malformed, version, rejected (by the handler), authenticator, timestamp,
    /// closed, io, shutdown.
    pub fn login_refused(&self, reason: &'static str) {
        metrics::counter!(self.names.logins_refused_total, "reason" => reason).increment(1);
    }

    /// A Login exchange that ended: `result` ok, refused or failed.
    pub fn login_result(&self, result: &'static str) {
        metrics::counter!(self.names.logins_total, "role" => self.role, "result" => result)
            .increment(1);
    }

    pub fn response_latency(&self, command: &'static str, seconds: f64) {
        metrics::histogram!(
            self.names.response_latency_seconds,
            "role" => self.role,
            "command" => command
        )
        .record(seconds);
    }

    pub fn response_timeout(&self, command: &'static str) {
        metrics::counter!(
            self.names.response_timeouts_total,
            "role" => self.role,
            "command" => command
        )
        .increment(1);
    }

    pub fn session_counters(&self, counters: Counters) {
        let names = &self.names;
        let pairs = [
            (
                names.unexpected_responses_total,
                counters.unexpected_responses,
            ),
            (names.late_responses_total, counters.late_responses),
            (names.flow_controlled_total, counters.flow_controlled),
            (names.repeated_sequences_total, counters.repeated_sequences),
            (names.malformed_pdus_total, counters.malformed),
        ];
        for (name, value) in pairs {
            if value > 0 {
                metrics::counter!(name, "role" => self.role).increment(value);
            }
        }
    }

    /// A PDU that did not encode and was not sent.
    pub fn encode_error(&self, command: &'static str) {
        metrics::counter!(
            self.names.encode_errors_total,
            "role" => self.role,
            "command" => command
        )
        .increment(1);
    }

    pub fn gate_closed(&self) {
        metrics::counter!(self.names.gate_closes_total, "role" => self.role).increment(1);
    }

    /// A late response the application was too busy to take.
    pub fn event_dropped(&self) {
        metrics::counter!(self.names.events_dropped_total, "role" => self.role).increment(1);
    }

    pub fn link_up(&self, link: &str, up: bool) {
        let value = if up { 1.0 } else { 0.0 };
        metrics::gauge!(self.names.link_up, "link" => link.to_owned()).set(value);
    }
}
