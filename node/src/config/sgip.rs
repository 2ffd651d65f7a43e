//! `[sgip]`: the SGIP 1.2 listener for customers (SPs), and where the node reaches each SP
//! back. SGIP carries requests one way per connection: an SP binds here to submit; its
//! reports and MO go out on a connection the node opens to the SP's own listener.

use std::collections::BTreeMap;
use std::net::SocketAddr;

use serde::Deserialize;

use super::{invalid, ConfigError};

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SgipSection {
    /// The listener (no default: no SGIP customers).
    pub listen: Option<SocketAddr>,
    /// Requests in flight per direction and connection.
    pub window: usize,
    /// A connection with no traffic for this long is closed (SGIP has no keepalive).
    pub inactivity_secs: u64,
    pub response_timeout_secs: u64,
    pub max_connections: usize,
    /// The node id in the sequence numbers this node issues (SGIP 1.2 §3.4); unique per
    /// node. Default: 3000000000 plus the node id.
    pub node_id: Option<u32>,
    /// Room left in each part of a long MO sent to these customers, for a signature
    /// added downstream.
    pub signature_chars: usize,
    /// Where each account's reports and MO go: account id to the SP's listener, which the
    /// node binds to (login type 2) with the account id and its `sgip` secret. An account
    /// without one gets its reports and MO held until it has one.
    pub deliver_to: BTreeMap<String, SocketAddr>,
}

impl Default for SgipSection {
    fn default() -> Self {
        Self {
            listen: None,
            window: 16,
            inactivity_secs: 60,
            response_timeout_secs: 10,
            max_connections: 10_000,
            node_id: None,
            signature_chars: 0,
            deliver_to: BTreeMap::new(),
        }
    }
}

impl SgipSection {
    pub(super) fn validate(&self, errors: &mut Vec<ConfigError>) {
        if !(1..=10_000).contains(&self.window) {
            errors.push(invalid("sgip.window", "must be from 1 to 10000"));
        }
        for (key, value) in [
            ("sgip.inactivity_secs", self.inactivity_secs),
            ("sgip.response_timeout_secs", self.response_timeout_secs),
        ] {
            if value == 0 {
                errors.push(invalid(key, "must be at least 1"));
            }
        }
        if self.max_connections == 0 {
            errors.push(invalid("sgip.max_connections", "must be at least 1"));
        }
        if self.signature_chars > 60 {
            errors.push(invalid("sgip.signature_chars", "must be at most 60"));
        }
    }
}
