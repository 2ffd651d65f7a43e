//! The node's configuration: one TOML file, validated at start. Every error names the key
//! it is about. The structs below are the reference of the file format; defaults live in
//! the `Default` impls.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

mod bind_lockout;
mod cluster;
mod cn;
mod http;
mod mo_rule;
mod notify;
mod secrets;
mod sgip;
mod store;
mod upstream;
pub use bind_lockout::BindLockoutSection;
pub use cluster::{AdminSection, ClusterSection, PeerConfig, PeriodConfig, PriceConfig};
pub use cn::CnSection;
pub use http::HttpSection;
pub use mo_rule::{mo_rule_names, validate_mo_rule, MoRuleConfig};
pub use notify::NotifySection;
pub use secrets::{redact_toml, redact_url};
pub use sgip::SgipSection;
pub use store::{StoreBackend, StoreSection};
pub use upstream::{ConcatConfig, IdFormatConfig, LinkUrl, UpstreamBind, UpstreamConfig};

/// The whole file.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(default)]
    pub node: NodeSection,
    #[serde(default)]
    pub log: LogSection,
    #[serde(default)]
    pub metrics: MetricsSection,
    #[serde(default)]
    pub smpp: SmppSection,
    /// Failed binds (SMPP and CMPP) before a source or an account is locked out.
    #[serde(default)]
    pub bind_lockout: BindLockoutSection,
    /// Customer accounts that may bind.
    #[serde(default, rename = "account")]
    pub accounts: Vec<AccountConfig>,
    /// Operator SMSCs we bind to: the carrier links.
    #[serde(default, rename = "upstream")]
    pub upstreams: Vec<UpstreamConfig>,
    #[serde(default)]
    pub store: StoreSection,
    #[serde(default)]
    pub pipeline: PipelineSection,
    /// Routes by destination; none: every message may use every upstream.
    #[serde(default, rename = "route")]
    pub routes: Vec<RouteConfig>,
    /// Which account receives an MO: seeds the replicated state once, like routes.
    #[serde(default, rename = "mo_rule")]
    pub mo_rules: Vec<MoRuleConfig>,
    /// The replicated state: raft between the nodes.
    #[serde(default)]
    pub cluster: ClusterSection,
    /// The gRPC admin API.
    #[serde(default)]
    pub admin: AdminSection,
    /// Prices per message part.
    #[serde(default, rename = "price")]
    pub prices: Vec<PriceConfig>,
    /// CMPP customers.
    #[serde(default)]
    pub cmpp: CnSection,
    /// SMGP customers.
    #[serde(default)]
    pub smgp: CnSection,
    /// CNGP customers.
    #[serde(default)]
    pub cngp: CnSection,
    /// SGIP customers.
    #[serde(default)]
    pub sgip: SgipSection,
    /// The HTTP API.
    #[serde(default)]
    pub http: HttpSection,
    /// Retries of webhook deliveries.
    #[serde(default)]
    pub notify: NotifySection,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum AggregateConfig {
    AllDelivered,
    AnyDelivered,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PipelineSection {
    /// Dispatcher shards of pending messages.
    pub shards: u16,
    pub default_validity_secs: u64,
    pub max_validity_secs: u64,
    /// Receipts and MO wait this long for a receiving bind.
    pub held_ttl_secs: u64,
    pub retry_min_ms: u64,
    pub retry_max_secs: u64,
    /// How the receipts of a message's parts become the customer's one receipt.
    pub aggregate: AggregateConfig,
    /// Pending messages a shard keeps in memory; the rest wait in the store.
    pub max_queued_in_memory: usize,
}

impl Default for PipelineSection {
    fn default() -> Self {
        Self {
            shards: 4,
            default_validity_secs: 48 * 3600,
            max_validity_secs: 7 * 24 * 3600,
            held_ttl_secs: 72 * 3600,
            retry_min_ms: 1000,
            retry_max_secs: 300,
            aggregate: AggregateConfig::AllDelivered,
            max_queued_in_memory: 20_000,
        }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RouteGroupConfig {
    /// `name` or `name:weight`.
    pub links: Vec<String>,
    /// Consecutive failures of a link after which the next group takes over.
    #[serde(default = "default_failover_after")]
    pub failover_after: u32,
}

fn default_failover_after() -> u32 {
    3
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RouteConfig {
    pub name: String,
    /// Destination prefixes (digits); none and no ranges: every destination.
    #[serde(default)]
    pub prefixes: Vec<String>,
    /// Inclusive number ranges of equal length: `[["4915100000000", "4915199999999"]]`.
    #[serde(default)]
    pub ranges: Vec<(String, String)>,
    /// Only these accounts use the route.
    #[serde(default)]
    pub accounts: Vec<String>,
    /// Link groups in order of priority.
    pub groups: Vec<RouteGroupConfig>,
}

/// `name` or `name:weight`.
pub fn parse_weighted(link: &str) -> Option<(&str, u32)> {
    match link.rsplit_once(':') {
        Some((name, weight)) => Some((name, weight.parse().ok()?)),
        None => Some((link, 1)),
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NodeSection {
    /// 0..=1023, unique in a cluster: it is part of every message id.
    pub id: u16,
    /// How long shutdown waits for sessions to unbind and work to drain.
    pub shutdown_grace_secs: u64,
}

impl Default for NodeSection {
    fn default() -> Self {
        Self {
            id: 1,
            shutdown_grace_secs: 10,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogSection {
    /// A tracing filter: `info`, `tern=debug,info`, ... A bare level is the level of
    /// Tern's own logs; dependencies stay at `warn` unless a directive names them.
    pub level: String,
    /// `text` or `json`.
    pub format: LogFormat,
}

impl Default for LogSection {
    fn default() -> Self {
        Self {
            level: "info".into(),
            format: LogFormat::Text,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MetricsSection {
    /// Serves Prometheus text at `/metrics`.
    pub listen: Option<SocketAddr>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SmppSection {
    /// Plain TCP listener.
    pub listen: Option<SocketAddr>,
    /// TLS listener; needs `tls_cert` and `tls_key`.
    pub tls_listen: Option<SocketAddr>,
    pub tls_cert: Option<PathBuf>,
    pub tls_key: Option<PathBuf>,
    /// Expect a HAProxy PROXY v1/v2 header on every connection.
    pub proxy_protocol: bool,
    pub max_pdu_bytes: usize,
    pub max_connections: usize,
    /// Outstanding requests each way per session.
    pub window: usize,
    pub enquire_link_secs: u64,
    pub inactivity_secs: u64,
    pub response_timeout_secs: u64,
    pub bind_timeout_secs: u64,
}

impl Default for SmppSection {
    fn default() -> Self {
        Self {
            listen: None,
            tls_listen: None,
            tls_cert: None,
            tls_key: None,
            proxy_protocol: false,
            max_pdu_bytes: 64 * 1024,
            max_connections: 10_000,
            window: 64,
            enquire_link_secs: 30,
            inactivity_secs: 120,
            response_timeout_secs: 10,
            bind_timeout_secs: 10,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccountConfig {
    /// The SMPP system_id, at most 15 characters.
    pub system_id: String,
    /// At most 8 characters (SMPP 3.4 §5.2.2).
    pub password: String,
    /// Simultaneous binds of this account.
    #[serde(default = "default_max_binds")]
    pub max_binds: usize,
    /// Source networks allowed to bind (`127.0.0.1`, `10.0.0.0/8`); empty allows any.
    #[serde(default)]
    pub allowed_ips: Vec<String>,
    /// Replace characters the target alphabet lacks instead of switching to UCS-2.
    #[serde(default)]
    pub transliterate: bool,
    /// Senders the account may use: exact values or prefixes ending in `*`; empty: any.
    #[serde(default)]
    pub sender_ids: Vec<String>,
    /// Message parts per day; absent: unlimited. Same as `max_messages` with
    /// `period = "day"`.
    #[serde(default)]
    pub max_parts_per_day: Option<u64>,
    /// Message parts per `period`; absent: unlimited.
    #[serde(default)]
    pub max_messages: Option<u64>,
    #[serde(default)]
    pub period: PeriodConfig,
    /// Opening balance in minor units. With it alone the account is prepaid.
    #[serde(default)]
    pub credit: Option<i64>,
    /// Postpaid: how far below zero the balance may go, in minor units.
    #[serde(default)]
    pub credit_limit: Option<i64>,
    /// Submits per second over all binds on one node; absent: unlimited.
    #[serde(default)]
    pub tps: Option<u32>,
    /// The account that pays for this one when `auto_topup` is set.
    #[serde(default)]
    pub parent: Option<String>,
    /// Moved from the parent when the balance runs short, in minor units.
    #[serde(default)]
    pub auto_topup: Option<i64>,
    /// Percentages of use that notify once per crossing; default 80 and 100.
    #[serde(default)]
    pub thresholds: Option<Vec<u8>>,
    /// Free-form labels, such as a cost centre.
    #[serde(default)]
    pub tags: std::collections::BTreeMap<String, String>,
    #[serde(default = "default_true")]
    pub enabled: bool,
    /// The CMPP shared secret; with it the account connects over CMPP with its
    /// `system_id` as Source_Addr. The same as `secrets.cmpp`.
    #[serde(default)]
    pub cmpp_secret: Option<String>,
    /// Shared secrets by protocol (`cmpp`, `smgp`, `cngp`): the logins of those protocols
    /// are MD5 authenticators over one, so an account uses them only with its secret.
    #[serde(default)]
    pub secrets: std::collections::BTreeMap<String, String>,
}

impl AccountConfig {
    /// Every shared secret of the account, `cmpp_secret` among them.
    pub fn secrets(&self) -> std::collections::BTreeMap<String, String> {
        let mut secrets = self.secrets.clone();
        if let Some(secret) = &self.cmpp_secret {
            secrets.insert("cmpp".to_owned(), secret.clone());
        }
        secrets
    }
}

fn default_true() -> bool {
    true
}

fn default_max_binds() -> usize {
    4
}

/// Why the configuration was refused: the key and what is wrong with it.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("`{key}`: {message}")]
    Invalid { key: String, message: String },
    /// More than one error, each on a line of its own.
    #[error("{} errors:\n{}", .0.len(), lines(.0))]
    Several(Vec<ConfigError>),
}

fn lines(errors: &[ConfigError]) -> String {
    errors
        .iter()
        .map(|e| format!("  {e}"))
        .collect::<Vec<_>>()
        .join("\n")
}

pub(crate) fn invalid(key: impl Into<String>, message: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        key: key.into(),
        message: message.into(),
    }
}

impl Config {
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        let config = Self::parse(&text).map_err(|e| match e {
            ConfigError::Parse { message, .. } => ConfigError::Parse {
                path: path.to_owned(),
                message,
            },
            other => other,
        })?;
        Ok(config)
    }

    pub fn parse(text: &str) -> Result<Self, ConfigError> {
        let config: Config = toml::from_str(text).map_err(|e| ConfigError::Parse {
            path: PathBuf::from("<config>"),
            message: e.to_string(),
        })?;
        config.validate()?;
        Ok(config)
    }

    /// Checks what serde cannot: ranges, pairs of keys, uniqueness. Every error is
    /// reported, each naming its key; one alone as itself, several as
    /// [`ConfigError::Several`].
    pub fn validate(&self) -> Result<(), ConfigError> {
        let mut errors = self.problems();
        match errors.len() {
            0 => Ok(()),
            1 => Err(errors.remove(0)),
            _ => Err(ConfigError::Several(errors)),
        }
    }

    /// Every error of the configuration, in the order of the file's sections.
    pub fn problems(&self) -> Vec<ConfigError> {
        let mut errors = Vec::new();
        if self.node.id > 1023 {
            errors.push(invalid("node.id", "must be from 0 to 1023"));
        }
        if tracing_subscriber::EnvFilter::try_new(&self.log.level).is_err() {
            errors.push(invalid("log.level", "is not a valid tracing filter"));
        }
        let smpp = &self.smpp;
        if smpp.tls_listen.is_some() && (smpp.tls_cert.is_none() || smpp.tls_key.is_none()) {
            errors.push(invalid(
                "smpp.tls_listen",
                "needs smpp.tls_cert and smpp.tls_key",
            ));
        }
        if !(64..=1024 * 1024).contains(&smpp.max_pdu_bytes) {
            errors.push(invalid("smpp.max_pdu_bytes", "must be from 64 to 1048576"));
        }
        if !(1..=10_000).contains(&smpp.window) {
            errors.push(invalid("smpp.window", "must be from 1 to 10000"));
        }
        for (key, value) in [
            ("smpp.enquire_link_secs", smpp.enquire_link_secs),
            ("smpp.inactivity_secs", smpp.inactivity_secs),
            ("smpp.response_timeout_secs", smpp.response_timeout_secs),
            ("smpp.bind_timeout_secs", smpp.bind_timeout_secs),
        ] {
            if value == 0 {
                errors.push(invalid(key, "must be at least 1"));
            }
        }
        if smpp.inactivity_secs <= smpp.enquire_link_secs {
            errors.push(invalid(
                "smpp.inactivity_secs",
                "must be longer than smpp.enquire_link_secs",
            ));
        }
        if smpp.max_connections == 0 {
            errors.push(invalid("smpp.max_connections", "must be at least 1"));
        }
        self.bind_lockout.validate(&mut errors);
        self.store.validate(&mut errors);
        let mut ids = HashSet::new();
        for (i, account) in self.accounts.iter().enumerate() {
            let key = |field: &str| format!("account[{i}].{field}");
            if account.system_id.is_empty() || account.system_id.len() > 15 {
                errors.push(invalid(key("system_id"), "must be 1 to 15 characters"));
            }
            if !account.system_id.is_ascii() {
                errors.push(invalid(key("system_id"), "must be ASCII"));
            }
            if !ids.insert(account.system_id.as_str()) {
                errors.push(invalid(key("system_id"), "is used by another account"));
            }
            if account.password.len() > 8 || !account.password.is_ascii() {
                errors.push(invalid(
                    key("password"),
                    "must be at most 8 ASCII characters",
                ));
            }
            if account.max_binds == 0 {
                errors.push(invalid(key("max_binds"), "must be at least 1"));
            }
            for (j, net) in account.allowed_ips.iter().enumerate() {
                if crate::allowlist::IpNet::parse(net).is_none() {
                    errors.push(invalid(
                        key(&format!("allowed_ips[{j}]")),
                        format!("{net:?} is not an address or CIDR network"),
                    ));
                }
            }
        }
        let mut names = HashSet::new();
        for (i, upstream) in self.upstreams.iter().enumerate() {
            upstream_problems(&format!("upstream[{i}]"), upstream, &mut errors);
            if !names.insert(upstream.name.as_str()) {
                errors.push(invalid(format!("upstream[{i}].name"), "must be unique"));
            }
        }
        if self.pipeline.shards == 0 || self.pipeline.shards > 256 {
            errors.push(invalid("pipeline.shards", "must be from 1 to 256"));
        }
        if self.pipeline.retry_min_ms == 0 {
            errors.push(invalid("pipeline.retry_min_ms", "must be at least 1"));
        }
        if self.pipeline.max_queued_in_memory < 1000 {
            errors.push(invalid(
                "pipeline.max_queued_in_memory",
                "must be at least 1000",
            ));
        }
        for (i, route) in self.routes.iter().enumerate() {
            route_problems(
                &format!("route[{i}]"),
                route,
                &names,
                Some(&ids),
                &mut errors,
            );
        }
        self.validate_ledger(&ids, &mut errors);
        self.cmpp.validate("cmpp", (1 << 22) - 1, &mut errors);
        self.smgp.validate("smgp", 999_999, &mut errors);
        self.cngp.validate("cngp", 999_999, &mut errors);
        self.sgip.validate(&mut errors);
        self.http.validate(&mut errors);
        self.notify.validate(&mut errors);
        mo_rule::mo_rules_problems(&self.mo_rules, &ids, &mut errors);
        errors
    }
}

/// Checks one `[[upstream]]` table; `at` names it in errors. The first error.
pub fn validate_upstream(at: &str, upstream: &UpstreamConfig) -> Result<(), ConfigError> {
    let mut errors = Vec::new();
    upstream_problems(at, upstream, &mut errors);
    first(errors)
}

/// Checks one `[[route]]` table against the links (and accounts, when given) it names.
/// The first error.
pub fn validate_route(
    at: &str,
    route: &RouteConfig,
    links: &HashSet<&str>,
    accounts: Option<&HashSet<&str>>,
) -> Result<(), ConfigError> {
    let mut errors = Vec::new();
    route_problems(at, route, links, accounts, &mut errors);
    first(errors)
}

fn first(errors: Vec<ConfigError>) -> Result<(), ConfigError> {
    match errors.into_iter().next() {
        Some(error) => Err(error),
        None => Ok(()),
    }
}

/// Every error of one `[[upstream]]` table.
fn upstream_problems(at: &str, upstream: &UpstreamConfig, errors: &mut Vec<ConfigError>) {
    let key = |field: &str| format!("{at}.{field}");
    if upstream.name.is_empty() {
        errors.push(invalid(key("name"), "must not be empty"));
    }
    if !(1..=10_000).contains(&upstream.window) {
        errors.push(invalid(key("window"), "must be from 1 to 10000"));
    }
    if !(1..=tern_ledger::ownership::MAX_BINDS).contains(&upstream.binds) {
        errors.push(invalid(
            key("binds"),
            format!("must be from 1 to {}", tern_ledger::ownership::MAX_BINDS),
        ));
    }
    let url = match LinkUrl::parse(&upstream.url) {
        Ok(url) => url,
        Err(message) => {
            errors.push(invalid(key("url"), message));
            return;
        }
    };
    if let Some(protocol) = crate::protocols::for_scheme(&url.scheme) {
        for (field, message) in protocol.upstream_problems(&url, upstream) {
            errors.push(invalid(key(field), message));
        }
    }
    if upstream.report_listen.is_some() && url.scheme != "sgip" {
        errors.push(invalid(
            key("report_listen"),
            "is only used with an sgip:// url",
        ));
    }
}

/// Every error of one `[[route]]` table.
fn route_problems(
    at: &str,
    route: &RouteConfig,
    links: &HashSet<&str>,
    accounts: Option<&HashSet<&str>>,
    errors: &mut Vec<ConfigError>,
) {
    let key = |field: &str| format!("{at}.{field}");
    if route.name.is_empty() {
        errors.push(invalid(key("name"), "must not be empty"));
    }
    if route.groups.is_empty() {
        errors.push(invalid(key("groups"), "needs at least one group"));
    }
    for prefix in &route.prefixes {
        if prefix.is_empty() || !prefix.bytes().all(|b| b.is_ascii_digit()) {
            errors.push(invalid(
                key("prefixes"),
                format!("{prefix:?} is not a string of digits"),
            ));
        }
    }
    for (j, (low, high)) in route.ranges.iter().enumerate() {
        if tern_actors::routing::NumberRange::parse(low, high).is_none() {
            errors.push(invalid(
                key(&format!("ranges[{j}]")),
                "must be two numbers of the same length, low first",
            ));
        }
    }
    if let Some(ids) = accounts {
        for account in &route.accounts {
            if !ids.contains(account.as_str()) {
                errors.push(invalid(key("accounts"), format!("no account {account:?}")));
            }
        }
    }
    for (g, group) in route.groups.iter().enumerate() {
        if group.links.is_empty() {
            errors.push(invalid(
                key(&format!("groups[{g}].links")),
                "must name a link",
            ));
        }
        for link in &group.links {
            match parse_weighted(link) {
                Some((name, _)) if links.contains(name) => {}
                Some((name, _)) => errors.push(invalid(
                    key(&format!("groups[{g}].links")),
                    format!("no upstream named {name:?}"),
                )),
                None => errors.push(invalid(
                    key(&format!("groups[{g}].links")),
                    format!("{link:?} is not NAME or NAME:WEIGHT"),
                )),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn error_of(text: &str) -> String {
        Config::parse(text).unwrap_err().to_string()
    }

    #[test]
    fn an_empty_file_is_a_valid_config() {
        let config = Config::parse("").unwrap();
        assert_eq!(config.smpp.window, 64);
        assert!(config.accounts.is_empty());
    }

    #[test]
    fn unknown_keys_are_named() {
        let message = error_of("[smpp]\nwindwo = 3\n");
        assert!(message.contains("windwo"), "{message}");
    }

    #[test]
    fn bad_values_name_their_key() {
        assert!(error_of("[node]\nid = 5000\n").contains("`node.id`"));
        assert!(error_of("[smpp]\nwindow = 0\n").contains("`smpp.window`"));
        assert!(error_of("[smpp]\ntls_listen = \"127.0.0.1:1\"\n").contains("`smpp.tls_listen`"));
        assert!(
            error_of("[[account]]\nsystem_id = \"a\"\npassword = \"toolongpassword\"\n")
                .contains("`account[0].password`")
        );
        assert!(error_of(
            "[[account]]\nsystem_id = \"a\"\npassword = \"b\"\nallowed_ips = [\"10.0.0.0/99\"]\n"
        )
        .contains("`account[0].allowed_ips[0]`"));
        assert!(
            error_of("[[upstream]]\nname = \"op\"\nurl = \"http://x\"\n")
                .contains("`upstream[0].url`")
        );
        assert!(error_of("[log]\nlevel = \"[[[\"\n").contains("`log.level`"));
        let dial = "[node]\nid = 1\n[cluster]\ndial = [{ id = 1, addr = \"x:1\" }, \
                    { id = 2, addr = \"nowhere\" }]\n";
        let message = error_of(dial);
        assert!(message.contains("`cluster.dial[0].id`"), "{message}");
        assert!(message.contains("`cluster.dial[1].addr`"), "{message}");
        let good = "[node]\nid = 1\n[cluster]\ndial = [{ id = 2, addr = \"127.0.0.1:7102\" }]\n";
        assert_eq!(Config::parse(good).unwrap().cluster.dial.len(), 1);
    }

    #[test]
    fn the_chinese_protocols_sections_name_their_keys() {
        assert!(error_of("[smgp]\nwindow = 0\n").contains("`smgp.window`"));
        assert!(error_of("[cngp]\ngateway_code = 1000000\n").contains("`cngp.gateway_code`"));
        assert!(error_of("[cmpp]\ngateway_code = 4194304\n").contains("`cmpp.gateway_code`"));
        assert!(error_of("[sgip]\ninactivity_secs = 0\n").contains("`sgip.inactivity_secs`"));
        let deliver_to = "[sgip.deliver_to]\n\"901234\" = \"nowhere\"\n";
        assert!(error_of(deliver_to).contains("invalid socket address"));
        let report_listen = "[[upstream]]\nname = \"op\"\nurl = \"smpp://u:p@127.0.0.1:1\"\n\
                             report_listen = \"127.0.0.1:8802\"\n";
        assert!(error_of(report_listen).contains("`upstream[0].report_listen`"));
        let good = "[smgp]\nlisten = \"127.0.0.1:8890\"\ngateway_code = 999999\n";
        let config = Config::parse(good).unwrap();
        assert_eq!(config.smgp.gateway_code, Some(999_999));
        assert_eq!(config.cngp.listen, None);
    }

    #[test]
    fn every_error_is_named_not_only_the_first() {
        let text = "[node]\nid = 5000\n[smpp]\nwindow = 0\n\
                    [[account]]\nsystem_id = \"a\"\npassword = \"toolongpassword\"\n";
        let error = Config::parse(text).unwrap_err();
        let ConfigError::Several(errors) = &error else {
            panic!("one error only: {error}");
        };
        assert_eq!(errors.len(), 3, "{error}");
        let message = error.to_string();
        assert!(message.starts_with("3 errors:\n"), "{message}");
        for key in ["`node.id`", "`smpp.window`", "`account[0].password`"] {
            assert!(message.contains(key), "{key} missing: {message}");
        }
    }

    #[test]
    fn routes_must_name_known_links_and_accounts() {
        let base = "[[account]]\nsystem_id = \"a\"\npassword = \"b\"\n[[upstream]]\nname = \"op\"\nurl = \"smpp://u:p@127.0.0.1:1\"\n";
        let ok = format!("{base}[[route]]\nname = \"r\"\nprefixes = [\"49\"]\ngroups = [{{ links = [\"op:2\"] }}]\n");
        assert!(Config::parse(&ok).is_ok());
        let bad_link =
            format!("{base}[[route]]\nname = \"r\"\ngroups = [{{ links = [\"nope\"] }}]\n");
        assert!(error_of(&bad_link).contains("`route[0].groups[0].links`"));
        let bad_range = format!("{base}[[route]]\nname = \"r\"\nranges = [[\"9\", \"10\"]]\ngroups = [{{ links = [\"op\"] }}]\n");
        assert!(error_of(&bad_range).contains("`route[0].ranges[0]`"));
        let bad_mo = format!("{base}[[mo_rule]]\naccount = \"zz\"\n");
        assert!(error_of(&bad_mo).contains("`mo_rule[0].account`"));
    }

    #[test]
    fn smpp_urls_carry_credentials_and_tls() {
        assert_eq!(
            LinkUrl::parse("smpps://user:p%40ss@smsc.example:3550").unwrap(),
            LinkUrl {
                scheme: "smpps".into(),
                user: "user".into(),
                password: "p@ss".into(),
                host: "smsc.example".into(),
                port: 3550
            }
        );
        assert!(LinkUrl::parse("smpp://user@host:1").is_err());
        assert!(LinkUrl::parse("smpp://u:p@host:99999").is_err());
        assert!(LinkUrl::parse("smpp://u:p@host").is_err());
        assert!(LinkUrl::parse("smpp://u:p@host:0").is_err());
        assert!(LinkUrl::parse("smpp://u:p@host:1/path").is_err());
        assert!(LinkUrl::parse("http://u:p@host:1").is_err());
        assert!(LinkUrl::parse("smpp://host:1").is_err());
        let url = LinkUrl::parse("cmpp://u:p@[::1]:7890/").unwrap();
        assert_eq!(
            (url.scheme.as_str(), url.host.as_str(), url.port),
            ("cmpp", "::1", 7890)
        );
    }

    #[test]
    fn upstream_credentials_are_percent_decoded() {
        let url = LinkUrl::parse("smpp://t%C3%A9rn%20op:p%3Aa%25s%2Fs%40w@10.0.0.1:2775").unwrap();
        assert_eq!(url.user, "térn op");
        assert_eq!(url.password, "p:a%s/s@w");
        // As operators hand them out: `@`, `/`, `?` and `#` unescaped in the password.
        let url = LinkUrl::parse("smpps://sys:a@b/c?d#e@smsc.example:3551").unwrap();
        assert_eq!(
            (
                url.user.as_str(),
                url.password.as_str(),
                url.host.as_str(),
                url.port
            ),
            ("sys", "a@b/c?d#e", "smsc.example", 3551)
        );
        // A stray `%` that is no escape stays as it is.
        assert_eq!(
            LinkUrl::parse("smpp://u:100%@h:1").unwrap().password,
            "100%"
        );
    }
}

#[cfg(test)]
mod example_tests {
    use super::*;

    #[test]
    fn the_shipped_example_is_valid() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/examples/node.toml");
        let config = Config::load(&path).unwrap();
        assert_eq!(config.accounts[0].system_id, "demo");
        assert_eq!(config.upstreams[0].name, "operator-a");
    }
}
