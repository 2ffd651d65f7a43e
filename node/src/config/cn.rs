//! `[cmpp]`, `[smgp]` and `[cngp]`: the listeners for customers (SPs and aggregators) of the
//! Chinese operators' protocols that log in with an MD5 authenticator over a shared secret
//! and keep the connection with ACTIVE_TEST. The three sections have the same keys.

use std::net::SocketAddr;

use serde::Deserialize;

use super::{invalid, ConfigError};

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CnSection {
    /// The listener (no default: no customers of this protocol).
    pub listen: Option<SocketAddr>,
    /// Requests in flight per direction and connection.
    pub window: usize,
    /// ACTIVE_TEST after this long without traffic; a connection silent for three times
    /// as long is closed.
    pub active_test_secs: u64,
    pub response_timeout_secs: u64,
    /// Login timestamps further than this from the node's clock are refused as replays.
    pub timestamp_window_secs: u64,
    pub max_connections: usize,
    /// The gateway code in the message ids this node issues (CMPP: 22 bits; SMGP and
    /// CNGP: six decimal digits); unique per node. Default: the node id.
    pub gateway_code: Option<u32>,
    /// Room left in each part of a long MO sent to these customers, for a signature
    /// added downstream.
    pub signature_chars: usize,
}

impl Default for CnSection {
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

impl CnSection {
    /// Checks the section named `section`, whose gateway codes go up to `max_gateway_code`.
    pub(super) fn validate(
        &self,
        section: &str,
        max_gateway_code: u32,
        errors: &mut Vec<ConfigError>,
    ) {
        let key = |name: &str| format!("{section}.{name}");
        if !(1..=10_000).contains(&self.window) {
            errors.push(invalid(key("window"), "must be from 1 to 10000"));
        }
        for (name, value) in [
            ("active_test_secs", self.active_test_secs),
            ("response_timeout_secs", self.response_timeout_secs),
            ("timestamp_window_secs", self.timestamp_window_secs),
        ] {
            if value == 0 {
                errors.push(invalid(key(name), "must be at least 1"));
            }
        }
        if self.max_connections == 0 {
            errors.push(invalid(key("max_connections"), "must be at least 1"));
        }
        if self.gateway_code.is_some_and(|c| c > max_gateway_code) {
            errors.push(invalid(
                key("gateway_code"),
                format!("must be at most {max_gateway_code}"),
            ));
        }
        if self.signature_chars > 60 {
            errors.push(invalid(key("signature_chars"), "must be at most 60"));
        }
    }
}
