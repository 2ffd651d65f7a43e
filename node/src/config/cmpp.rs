//! `[cmpp]`: the CMPP 2.0/3.0 listener for customers (SPs and aggregators).

use std::net::SocketAddr;

use serde::Deserialize;

use super::{invalid, ConfigError};

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CmppSection {
    /// The listener (no default: no CMPP customers).
    pub listen: Option<SocketAddr>,
    /// Requests in flight per direction and connection.
    pub window: usize,
    /// ACTIVE_TEST after this long without traffic; a connection silent for three times
    /// as long is closed.
    pub active_test_secs: u64,
    pub response_timeout_secs: u64,
    /// CONNECT timestamps further than this from the node's clock are refused as replays.
    pub timestamp_window_secs: u64,
    pub max_connections: usize,
    /// The gateway code in the Msg_Ids this node issues (22 bits); unique per node.
    /// Default: the node id.
    pub gateway_code: Option<u32>,
    /// Room left in each part of a long MO sent to these customers, for a signature
    /// added downstream.
    pub signature_chars: usize,
}

impl Default for CmppSection {
    fn default() -> Self {
        Self {
            listen: None,
            window: 16,
            active_test_secs: 30,
            response_timeout_secs: 10,
            timestamp_window_secs: 900,
            max_connections: 10_000,
            gateway_code: None,
            signature_chars: 0,
        }
    }
}

impl CmppSection {
    pub(super) fn validate(&self, errors: &mut Vec<ConfigError>) {
        if !(1..=10_000).contains(&self.window) {
            errors.push(invalid("cmpp.window", "must be from 1 to 10000"));
        }
        for (key, value) in [
            ("cmpp.active_test_secs", self.active_test_secs),
            ("cmpp.response_timeout_secs", self.response_timeout_secs),
            ("cmpp.timestamp_window_secs", self.timestamp_window_secs),
        ] {
            if value == 0 {
                errors.push(invalid(key, "must be at least 1"));
            }
        }
        if self.max_connections == 0 {
            errors.push(invalid("cmpp.max_connections", "must be at least 1"));
        }
        if self.gateway_code.is_some_and(|c| c >= 1 << 22) {
            errors.push(invalid("cmpp.gateway_code", "must fit 22 bits"));
        }
        if self.signature_chars > 60 {
            errors.push(invalid("cmpp.signature_chars", "must be at most 60"));
        }
    }
}
