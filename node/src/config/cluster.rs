//! The sections of the replicated state: `[cluster]` (raft between the nodes), `[admin]`
//! (the gRPC admin API), `[[price]]`, and the ledger keys of `[[account]]`.
//!
//! Accounts, routes, upstreams and prices in the file seed the replicated state the first
//! time a cluster starts; from then on the state is the source and `tern ctl` changes it.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::{invalid, Config, ConfigError};

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum PeriodConfig {
    #[default]
    Day,
    Month,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ClusterSection {
    /// Raft RPC between the nodes.
    pub listen: SocketAddr,
    /// `host:port` the other nodes reach this one at; default: `listen`.
    pub advertise: Option<String>,
    /// Start a one-node cluster when this node has no raft state yet. The first node of a
    /// cluster bootstraps; the others start with `bootstrap = false` and are added with
    /// `tern ctl cluster add-learner` and `promote`.
    pub bootstrap: bool,
    /// Raft log and snapshots; default: `raft` under `store.dir`.
    pub dir: Option<PathBuf>,
    /// Shared secret every node presents to the others.
    pub secret: Option<String>,
    pub heartbeat_ms: u64,
    pub election_timeout_min_ms: u64,
    pub election_timeout_max_ms: u64,
    /// A snapshot every this many log entries.
    pub snapshot_logs: u64,
    /// The other voters of the cluster. The bootstrapping node adds each as a learner when
    /// it answers and then promotes it, so a cluster forms from its files alone; without
    /// this, nodes are added with `tern ctl cluster add-learner` and `promote`.
    pub peers: Vec<PeerConfig>,
    /// Where this node dials other nodes instead of the addresses they advertise (a NAT, a
    /// tunnel, a fault proxy): raft and the relay between nodes both use it.
    pub dial: Vec<PeerConfig>,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PeerConfig {
    /// The peer's `node.id`.
    pub id: u64,
    /// Its raft address (`cluster.advertise` there).
    pub addr: String,
}

impl Default for ClusterSection {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 7100)),
            advertise: None,
            bootstrap: true,
            dir: None,
            secret: None,
            heartbeat_ms: 100,
            election_timeout_min_ms: 400,
            election_timeout_max_ms: 800,
            snapshot_logs: 10_000,
            peers: Vec::new(),
            dial: Vec::new(),
        }
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AdminSection {
    /// Where the gRPC admin API listens; absent: no admin API.
    pub listen: Option<SocketAddr>,
    /// The bearer token clients present.
    pub token: Option<String>,
    /// A file holding the token (trimmed); used when `token` is absent.
    pub token_file: Option<PathBuf>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PriceConfig {
    /// Only for this account; absent: every account.
    #[serde(default)]
    pub account: Option<String>,
    /// Only over this route; absent: every route.
    #[serde(default)]
    pub route: Option<String>,
    /// Destination prefix (digits); empty: every destination.
    #[serde(default)]
    pub prefix: String,
    /// Minor units per message part.
    pub per_part: i64,
}

impl AdminSection {
    /// The token, from `token` or `token_file`.
    pub fn token(&self) -> Result<Option<String>, ConfigError> {
        if let Some(token) = &self.token {
            return Ok(Some(token.clone()));
        }
        let Some(path) = &self.token_file else {
            return Ok(None);
        };
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.clone(),
            source,
        })?;
        Ok(Some(text.trim().to_owned()))
    }
}

impl Config {
    /// Checks the ledger keys of the accounts, the prices, and the cluster and admin
    /// sections.
    pub(super) fn validate_ledger(&self, ids: &HashSet<&str>, errors: &mut Vec<ConfigError>) {
        for (i, account) in self.accounts.iter().enumerate() {
            let key = |field: &str| format!("account[{i}].{field}");
            if account.max_parts_per_day.is_some() && account.max_messages.is_some() {
                errors.push(invalid(
                    key("max_parts_per_day"),
                    "give max_messages with period instead, not both",
                ));
            }
            if account.credit.is_some_and(|c| c < 0) {
                errors.push(invalid(key("credit"), "must not be negative"));
            }
            if account.credit_limit.is_some_and(|c| c < 0) {
                errors.push(invalid(key("credit_limit"), "must not be negative"));
            }
            if let Some(parent) = &account.parent {
                if !ids.contains(parent.as_str()) || *parent == account.system_id {
                    errors.push(invalid(
                        key("parent"),
                        format!("no other account {parent:?}"),
                    ));
                }
            }
            if account.auto_topup.is_some() && account.parent.is_none() {
                errors.push(invalid(key("auto_topup"), "needs a parent"));
            }
            if account.auto_topup.is_some_and(|a| a <= 0) {
                errors.push(invalid(key("auto_topup"), "must be positive"));
            }
            if let Some(thresholds) = &account.thresholds {
                if thresholds.iter().any(|p| !(1..=100).contains(p)) {
                    errors.push(invalid(key("thresholds"), "percentages from 1 to 100"));
                }
            }
        }
        let routes: HashSet<&str> = self.routes.iter().map(|r| r.name.as_str()).collect();
        for (i, price) in self.prices.iter().enumerate() {
            let key = |field: &str| format!("price[{i}].{field}");
            if price.per_part < 0 {
                errors.push(invalid(key("per_part"), "must not be negative"));
            }
            if !price.prefix.bytes().all(|b| b.is_ascii_digit()) {
                errors.push(invalid(key("prefix"), "must be digits"));
            }
            if let Some(account) = &price.account {
                if !ids.contains(account.as_str()) {
                    errors.push(invalid(key("account"), format!("no account {account:?}")));
                }
            }
            if let Some(route) = &price.route {
                if !routes.contains(route.as_str()) && route != "default" {
                    errors.push(invalid(key("route"), format!("no route {route:?}")));
                }
            }
        }
        let c = &self.cluster;
        if c.heartbeat_ms == 0 {
            errors.push(invalid("cluster.heartbeat_ms", "must be at least 1"));
        }
        if c.election_timeout_min_ms <= c.heartbeat_ms * 2
            || c.election_timeout_max_ms <= c.election_timeout_min_ms
        {
            errors.push(invalid(
                "cluster.election_timeout_min_ms",
                "must exceed twice heartbeat_ms, and be below election_timeout_max_ms",
            ));
        }
        let me = u64::from(self.node.id);
        check_node_list("cluster.peers", &c.peers, me, errors);
        check_node_list("cluster.dial", &c.dial, me, errors);
        if c.snapshot_logs < 10 {
            errors.push(invalid("cluster.snapshot_logs", "must be at least 10"));
        }
        if self.admin.listen.is_some()
            && self.admin.token.is_none()
            && self.admin.token_file.is_none()
        {
            errors.push(invalid(
                "admin.token",
                "the admin API needs a token or token_file",
            ));
        }
    }
}

fn is_host_port(addr: &str) -> bool {
    addr.rsplit_once(':')
        .is_some_and(|(host, port)| !host.is_empty() && port.parse::<u16>().is_ok())
}

/// A list of other nodes (`peers`, `dial`): each id another node's, once; each address
/// HOST:PORT.
fn check_node_list(key: &str, list: &[PeerConfig], me: u64, errors: &mut Vec<ConfigError>) {
    let mut ids = HashSet::new();
    for (i, node) in list.iter().enumerate() {
        if node.id == me || !ids.insert(node.id) || node.id > 1023 {
            errors.push(invalid(
                format!("{key}[{i}].id"),
                "must be another node's id (0..=1023), once",
            ));
        }
        if !is_host_port(&node.addr) {
            errors.push(invalid(format!("{key}[{i}].addr"), "must be HOST:PORT"));
        }
    }
}
