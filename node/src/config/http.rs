//! `[http]`: the HTTP API's listener (JSON REST, callbacks, Kannel and Jasmin endpoints).

use std::net::SocketAddr;

use serde::Deserialize;

use super::{invalid, ConfigError};

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HttpSection {
    /// The listener (no default: no HTTP API).
    pub listen: Option<SocketAddr>,
    /// Largest request body, in bytes.
    pub max_body_bytes: usize,
    /// Requests handled at once; more are answered 429.
    pub max_in_flight: usize,
}

impl Default for HttpSection {
    fn default() -> Self {
        let defaults = tern_http::HttpConfig::default();
        Self {
            listen: None,
            max_body_bytes: defaults.max_body_bytes,
            max_in_flight: defaults.max_in_flight,
        }
    }
}

impl HttpSection {
    pub(super) fn validate(&self, errors: &mut Vec<ConfigError>) {
        if !(1024..=64 << 20).contains(&self.max_body_bytes) {
            errors.push(invalid(
                "http.max_body_bytes",
                "must be from 1024 to 67108864",
            ));
        }
        if !(1..=1_000_000).contains(&self.max_in_flight) {
            errors.push(invalid("http.max_in_flight", "must be from 1 to 1000000"));
        }
    }

    /// The front end's settings.
    pub fn frontend(&self) -> tern_http::HttpConfig {
        tern_http::HttpConfig {
            max_body_bytes: self.max_body_bytes,
            max_in_flight: self.max_in_flight,
            ..tern_http::HttpConfig::default()
        }
    }
}
