//! Between the replicated state and the pipeline: the configuration file seeds the state
//! once, and the state, whenever it changes, becomes the pipeline's accounts, routes,
//! carrier links and MO rules.
//!
//! Routes, links and MO rules are kept in the state as the TOML text of their tables,
//! checked with the same rules as the file, so the file, `tern ctl` and the state share
//! one format and one set of error messages.

use std::collections::{HashMap, HashSet};
use std::hash::{Hash, Hasher};

use tern_actors::accounts::{AccountPolicy, ApiKeyPolicy, CallbackPolicy, Credential};
use tern_actors::allowlist::IpNet;
use tern_actors::api_key;
use tern_actors::link::LinkConfig;
use tern_actors::mo::MoRule;
use tern_actors::routing::{LinkGroup, NumberRange, Route, WeightedLink};
use tern_ledger::{AccountSpec, AutoTopUp, Command, Limits, Period, Price, Request, Spec, State};
use tracing::warn;

use crate::config::{
    mo_rule_names, parse_weighted, validate_mo_rule, validate_route, validate_upstream,
    AccountConfig, Config, ConfigError, MoRuleConfig, PeriodConfig, RouteConfig, SmppSection,
    UpstreamConfig,
};

/// The ledger settings of an account of the file.
pub fn account_spec(account: &AccountConfig) -> Result<AccountSpec, String> {
    let (max_messages, period) = match (account.max_parts_per_day, account.max_messages) {
        (Some(n), _) => (Some(n), Period::Day),
        (None, n) => (
            n,
            match account.period {
                PeriodConfig::Day => Period::Day,
                PeriodConfig::Month => Period::Month,
            },
        ),
    };
    let credit_limit = match (account.credit, account.credit_limit) {
        (_, Some(limit)) => Some(limit),
        (Some(_), None) => Some(0),
        (None, None) => None,
    };
    Ok(AccountSpec {
        id: account.system_id.clone(),
        password_hash: tern_actors::accounts::hash_password(&account.password)?,
        enabled: account.enabled,
        max_binds: u32::try_from(account.max_binds).unwrap_or(u32::MAX),
        allowed_ips: account.allowed_ips.clone(),
        sender_ids: account.sender_ids.clone(),
        transliterate: account.transliterate,
        parent: account.parent.clone(),
        tags: account.tags.clone(),
        secrets: account.secrets(),
        limits: Limits {
            credit_limit,
            max_messages,
            period,
            thresholds: account.thresholds.clone().unwrap_or_else(|| vec![80, 100]),
            tps: account.tps,
            auto_topup: account.auto_topup.map(|amount| AutoTopUp { amount }),
        },
    })
}

/// The TOML text of a route or upstream table.
pub fn to_spec<T: serde::Serialize>(name: &str, table: &T) -> Result<Spec, String> {
    Ok(Spec {
        name: name.to_owned(),
        toml: toml::to_string(table).map_err(|e| e.to_string())?,
        enabled: true,
    })
}

/// What seeds an empty state from the file: the accounts with their opening credit (in
/// parents-first order), the MO rules, then the routes, upstreams and prices, once. (MO
/// rules are their own commands, proposed before the seed that marks the state seeded: a
/// crash in between proposes them again, and a put replaces.)
pub fn seed_requests(config: &Config) -> Result<Vec<Request>, String> {
    let mut requests = Vec::new();
    let mut created: HashSet<&str> = HashSet::new();
    // Parents before children: repeat passes until every account is placed.
    let mut remaining: Vec<&AccountConfig> = config.accounts.iter().collect();
    while !remaining.is_empty() {
        let before = remaining.len();
        let mut next = Vec::new();
        for account in remaining {
            let ready = account
                .parent
                .as_deref()
                .is_none_or(|p| created.contains(p));
            if ready {
                requests.push(request(Command::CreateAccount {
                    spec: account_spec(account)?,
                    credit: account.credit.unwrap_or(0),
                }));
                created.insert(account.system_id.as_str());
            } else {
                next.push(account);
            }
        }
        if next.len() == before {
            return Err("account parents form a cycle".into());
        }
        remaining = next;
    }
    for (rule, name) in config.mo_rules.iter().zip(mo_rule_names(&config.mo_rules)) {
        let named = MoRuleConfig {
            name: Some(name.clone()),
            ..rule.clone()
        };
        requests.push(request(Command::PutMoRule {
            spec: to_spec(&name, &named)?,
        }));
    }
    let routes = config
        .routes
        .iter()
        .map(|r| to_spec(&r.name, r))
        .collect::<Result<_, _>>()?;
    let links = config
        .upstreams
        .iter()
        .map(|u| to_spec(&u.name, u))
        .collect::<Result<_, _>>()?;
    let prices = config
        .prices
        .iter()
        .map(|p| Price {
            account: p.account.clone(),
            route: p.route.clone(),
            prefix: p.prefix.clone(),
            per_part: p.per_part,
        })
        .collect();
    requests.push(request(Command::Seed {
        accounts: Vec::new(),
        routes,
        links,
        prices,
    }));
    Ok(requests)
}

/// Replaces the state's copy of an upstream when the file's differs (for `tern dev`,
/// whose simulator moves to a new port on every start).
pub async fn put_link_if_changed(
    cluster: &tern_cluster::Cluster,
    upstream: &UpstreamConfig,
) -> anyhow::Result<()> {
    let spec = to_spec(&upstream.name, upstream).map_err(|m| anyhow::anyhow!(m))?;
    let current = cluster.read(|s| s.links.get(&upstream.name).map(|l| l.toml.clone()));
    if current.as_deref() != Some(spec.toml.as_str()) {
        let response = cluster
            .propose(request(Command::PutLink { spec }))
            .await
            .map_err(|e| anyhow::anyhow!("updating link {}: {e}", upstream.name))?;
        if let tern_ledger::Response::Refused(refusal) = response {
            anyhow::bail!("updating link {}: {refusal}", upstream.name);
        }
    }
    Ok(())
}

fn request(command: Command) -> Request {
    Request {
        at_ms: 0,
        audit: None,
        command,
    }
}

/// The HTTP API keys of every account, by account, as the pipeline checks them. A key
/// whose stored digest does not read is left out (and cannot authenticate).
fn api_keys(state: &State) -> HashMap<&str, Vec<ApiKeyPolicy>> {
    let mut keys: HashMap<&str, Vec<ApiKeyPolicy>> = HashMap::new();
    for key in state.http.keys.values() {
        let Some(digest) = api_key::parse_hash(&key.hash) else {
            warn!(key = %key.id, account = %key.account, "API key left out: its stored hash does not read");
            continue;
        };
        keys.entry(key.account.as_str())
            .or_default()
            .push(ApiKeyPolicy {
                id: key.id.clone(),
                label: key.label.clone(),
                digest,
            });
    }
    keys
}

/// The pipeline's view of the accounts.
pub fn policies(state: &State) -> Vec<AccountPolicy> {
    let mut keys = api_keys(state);
    state
        .accounts
        .values()
        .map(|a| {
            let spec = &a.spec;
            let callback = state.http.callbacks.get(&spec.id).map(|c| CallbackPolicy {
                url: c.url.clone(),
                secret: c.secret.clone(),
            });
            AccountPolicy {
                id: spec.id.clone(),
                credential: Credential::Hash(spec.password_hash.clone()),
                enabled: spec.enabled,
                max_binds: spec.max_binds as usize,
                allowed_ips: spec
                    .allowed_ips
                    .iter()
                    .filter_map(|n| IpNet::parse(n))
                    .collect(),
                transliterate: spec.transliterate,
                sender_ids: spec.sender_ids.clone(),
                tps: spec.limits.tps,
                secrets: spec.secrets.clone(),
                api_keys: keys.remove(spec.id.as_str()).unwrap_or_default(),
                callback,
            }
        })
        .collect()
}

/// A table given alone or as the one `[[section]]` of a document.
fn table<T: serde::de::DeserializeOwned>(text: &str, section: &str) -> Result<T, ConfigError> {
    let parse = |message: String| ConfigError::Parse {
        path: section.into(),
        message,
    };
    let mut document: toml::Table = toml::from_str(text).map_err(|e| parse(e.to_string()))?;
    let value = match document.remove(section) {
        Some(toml::Value::Array(mut items)) if document.is_empty() && items.len() == 1 => {
            items.remove(0)
        }
        Some(other) => {
            document.insert(section.to_owned(), other);
            toml::Value::Table(document)
        }
        None => toml::Value::Table(document),
    };
    value
        .try_into()
        .map_err(|e: toml::de::Error| parse(e.to_string()))
}

/// Parses and checks an upstream table.
pub fn parse_upstream(text: &str) -> Result<UpstreamConfig, ConfigError> {
    let upstream: UpstreamConfig = table(text, "upstream")?;
    validate_upstream("upstream", &upstream)?;
    Ok(upstream)
}

/// Parses a route table without checking the links it names (a stored route may name a
/// link that is gone).
pub fn route_table(text: &str) -> Result<RouteConfig, ConfigError> {
    table(text, "route")
}

/// The names of the links a route's groups use, in order, each once.
pub fn route_links(route: &RouteConfig) -> Vec<String> {
    let mut names: Vec<String> = Vec::new();
    for link in route.groups.iter().flat_map(|g| g.links.iter()) {
        if let Some((name, _)) = parse_weighted(link) {
            if !names.iter().any(|n| n == name) {
                names.push(name.to_owned());
            }
        }
    }
    names
}

/// Parses and checks a route table against the links it may name.
pub fn parse_route(text: &str, links: &HashSet<&str>) -> Result<RouteConfig, ConfigError> {
    let route: RouteConfig = table(text, "route")?;
    validate_route("route", &route, links, None)?;
    Ok(route)
}

/// Parses and checks an MO rule table given through the admin API against the accounts
/// of the state.
pub fn parse_mo_rule(text: &str, accounts: &HashSet<&str>) -> Result<MoRuleConfig, ConfigError> {
    let rule: MoRuleConfig = table(text, "mo_rule")?;
    validate_mo_rule(&rule, accounts)?;
    Ok(rule)
}

/// Parses a stored MO rule table without checking its account.
pub fn mo_rule_table(text: &str) -> Result<MoRuleConfig, ConfigError> {
    table(text, "mo_rule")
}

/// The enabled MO rules of the state. A rule whose account is gone, or that no longer
/// parses, is skipped with a warning: its MO are refused as owned by nobody.
pub fn mo_rules(state: &State) -> Vec<MoRule> {
    state
        .mo_rules
        .values()
        .filter(|spec| spec.enabled)
        .filter_map(|spec| match mo_rule_table(&spec.toml) {
            Ok(rule) if state.accounts.contains_key(&rule.account) => Some(MoRule {
                account: rule.account,
                numbers: rule.numbers,
                prefixes: rule.prefixes,
                keywords: rule.keywords,
            }),
            Ok(rule) => {
                warn!(
                    rule = spec.name,
                    account = rule.account,
                    "MO rule of an account that is gone; skipped"
                );
                None
            }
            Err(error) => {
                warn!(rule = spec.name, %error, "MO rule in the state does not parse; skipped");
                None
            }
        })
        .collect()
}

fn revision(text: &str) -> u64 {
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    text.hash(&mut hasher);
    hasher.finish()
}

/// The enabled carrier links of the state. A link that no longer parses is skipped with a
/// warning (the state was written by a node with other rules).
pub fn links(state: &State, smpp: &SmppSection) -> Vec<LinkConfig> {
    state
        .links
        .values()
        .filter(|spec| spec.enabled)
        .filter_map(|spec| {
            let built = parse_upstream(&spec.toml)
                .map_err(|e| e.to_string())
                .and_then(|u| crate::link_config(smpp, &u).map_err(|e| e.to_string()));
            match built {
                Ok(mut link) => {
                    link.revision = revision(&spec.toml);
                    Some(link)
                }
                Err(error) => {
                    warn!(link = spec.name, %error, "link in the state does not parse; skipped");
                    None
                }
            }
        })
        .collect()
}

fn group(links: &[String], failover_after: u32) -> LinkGroup {
    LinkGroup {
        links: links
            .iter()
            .filter_map(|l| parse_weighted(l))
            .map(|(link, weight)| WeightedLink {
                link: link.to_owned(),
                weight,
            })
            .collect(),
        failover_after,
    }
}

/// A route of the file or the state as the pipeline uses it.
pub fn route(r: &RouteConfig) -> Route {
    Route {
        name: r.name.clone(),
        prefixes: r.prefixes.clone(),
        ranges: r
            .ranges
            .iter()
            .filter_map(|(low, high)| NumberRange::parse(low, high))
            .collect(),
        accounts: r.accounts.clone(),
        groups: r
            .groups
            .iter()
            .map(|g| group(&g.links, g.failover_after))
            .collect(),
    }
}

/// The enabled routes of the state. With none, every destination may use every enabled
/// link, in name order (the route is called `default`).
pub fn routes(state: &State) -> Vec<Route> {
    let names: HashSet<&str> = state.links.keys().map(String::as_str).collect();
    let mut routes: Vec<Route> = state
        .routes
        .values()
        .filter(|spec| spec.enabled)
        .filter_map(|spec| match parse_route(&spec.toml, &names) {
            Ok(r) => Some(route(&r)),
            Err(error) => {
                warn!(route = spec.name, %error, "route in the state does not parse; skipped");
                None
            }
        })
        .collect();
    if state.routes.is_empty() {
        let enabled: Vec<String> = state
            .links
            .values()
            .filter(|l| l.enabled)
            .map(|l| l.name.clone())
            .collect();
        if !enabled.is_empty() {
            routes.push(Route {
                name: "default".into(),
                prefixes: Vec::new(),
                ranges: Vec::new(),
                accounts: Vec::new(),
                groups: enabled
                    .iter()
                    .map(|n| group(std::slice::from_ref(n), 3))
                    .collect(),
            });
        }
    }
    routes
}

#[cfg(test)]
mod tests {
    use super::*;

    const FILE: &str = r#"
[[account]]
system_id = "parent"
password = "pw"
credit = 1000

[[account]]
system_id = "child"
password = "pw"
parent = "parent"
credit = 0
auto_topup = 100
max_messages = 50
period = "month"
tags = { cost_centre = "cc-7" }

[[upstream]]
name = "op1"
url = "smpp://u:p@127.0.0.1:2775"
tps = 50

[[route]]
name = "de"
prefixes = ["49"]
groups = [{ links = ["op1"] }]

[[mo_rule]]
account = "child"
numbers = ["4915550001"]

[[mo_rule]]
name = "vote"
account = "parent"
keywords = ["VOTE"]

[[price]]
prefix = "49"
per_part = 7
"#;

    #[test]
    fn the_file_seeds_the_state_and_the_state_becomes_the_pipeline() {
        let config = Config::parse(FILE).unwrap();
        let requests = seed_requests(&config).unwrap();
        let mut state = State::default();
        for (i, r) in requests.iter().enumerate() {
            let mut r = r.clone();
            r.at_ms = 1_800_000_000_000 + i as u64;
            assert!(
                !matches!(state.apply(&r), tern_ledger::Response::Refused(_)),
                "{r:?}"
            );
        }
        let child = &state.accounts["child"];
        assert_eq!(child.spec.parent.as_deref(), Some("parent"));
        assert_eq!(child.spec.limits.max_messages, Some(50));
        assert_eq!(child.spec.limits.period, Period::Month);
        assert_eq!(child.spec.tags["cost_centre"], "cc-7");
        assert_eq!(state.accounts["parent"].ledger.balance, 1000);

        let policies = policies(&state);
        assert_eq!(policies.len(), 2);
        let smpp = SmppSection::default();
        let links = links(&state, &smpp);
        assert_eq!(links.len(), 1);
        assert_eq!(links[0].name, "op1");
        let routes = routes(&state);
        assert_eq!(routes.len(), 1);
        assert_eq!(routes[0].name, "de");
        assert_eq!(state.price("child", Some("de"), "4915112345"), 7);
        let names: Vec<&String> = state.mo_rules.keys().collect();
        assert_eq!(names, ["child-1", "vote"]);
        let rules = mo_rules(&state);
        assert_eq!(
            tern_actors::mo::owner(&rules, "4915550001", "hello"),
            Some("child")
        );
        assert_eq!(
            tern_actors::mo::owner(&rules, "1", "vote yes"),
            Some("parent")
        );
    }

    #[test]
    fn an_mo_rule_is_checked_against_the_accounts_and_skipped_once_its_account_is_gone() {
        let accounts: HashSet<&str> = ["alice"].into_iter().collect();
        let error = parse_mo_rule(
            "name = \"x\"\naccount = \"bob\"\nnumbers = [\"1\"]\n",
            &accounts,
        )
        .unwrap_err()
        .to_string();
        assert!(error.contains("mo_rule.account"), "{error}");
        let text = "[[mo_rule]]\nname = \"x\"\naccount = \"alice\"\nnumbers = [\"1\"]\n";
        assert_eq!(
            parse_mo_rule(text, &accounts).unwrap().name.as_deref(),
            Some("x")
        );

        let config = Config::parse(FILE).unwrap();
        let mut state = State::default();
        for r in seed_requests(&config).unwrap() {
            state.apply(&r);
        }
        assert_eq!(mo_rules(&state).len(), 2);
        state.apply(&request(Command::DeleteAccount { id: "child".into() }));
        let rules = mo_rules(&state);
        assert_eq!(rules.len(), 1, "{rules:?}");
        assert_eq!(rules[0].account, "parent");
    }

    #[test]
    fn api_keys_and_callbacks_reach_the_pipeline_and_unreadable_hashes_do_not() {
        let config = Config::parse(FILE).unwrap();
        let mut state = State::default();
        for r in seed_requests(&config).unwrap() {
            state.apply(&r);
        }
        let (id, key) = api_key::generate();
        let put = Command::PutApiKey {
            key: tern_ledger::ApiKey {
                id: id.clone(),
                account: "child".into(),
                label: "ci".into(),
                hash: api_key::hash_text(&key),
                created_ms: 0,
            },
        };
        assert_eq!(state.apply(&request(put)), tern_ledger::Response::Ok);
        let callback = Command::SetCallback {
            account: "child".into(),
            callback: Some(tern_ledger::Callback {
                url: "https://hooks.example.com/tern".into(),
                secret: "0123456789abcdef".into(),
            }),
        };
        assert_eq!(state.apply(&request(callback)), tern_ledger::Response::Ok);
        // A hash no build of the ledger accepts, as a damaged state might hold it.
        state.http.keys.insert(
            "00000000000b".into(),
            tern_ledger::ApiKey {
                id: "00000000000b".into(),
                account: "child".into(),
                label: "broken".into(),
                hash: "md5:x".into(),
                created_ms: 0,
            },
        );

        let policies = policies(&state);
        let child = policies.iter().find(|p| p.id == "child").unwrap();
        assert_eq!(
            child.api_keys,
            [ApiKeyPolicy {
                id: id.clone(),
                label: "ci".into(),
                digest: api_key::digest(&key),
            }]
        );
        let callback = child.callback.as_ref().unwrap();
        assert_eq!(callback.url, "https://hooks.example.com/tern");
        assert_eq!(callback.secret, "0123456789abcdef");
        let parent = policies.iter().find(|p| p.id == "parent").unwrap();
        assert!(parent.api_keys.is_empty() && parent.callback.is_none());

        let accounts = tern_actors::accounts::Accounts::new(policies);
        let peer = std::net::IpAddr::from([127, 0, 0, 1]);
        assert_eq!(accounts.authenticate_key(&key, peer).unwrap().id, "child");
    }

    #[test]
    fn a_route_naming_an_unknown_link_is_refused_with_its_key() {
        let links: HashSet<&str> = ["op1"].into_iter().collect();
        let error = parse_route("name = \"x\"\ngroups = [{ links = [\"op9\"] }]\n", &links)
            .unwrap_err()
            .to_string();
        assert!(error.contains("route.groups[0].links"), "{error}");
        let error = parse_upstream("name = \"x\"\nurl = \"http://x\"\n")
            .unwrap_err()
            .to_string();
        assert!(error.contains("upstream.url"), "{error}");
        let route = parse_route(
            "[[route]]\nname = \"r\"\ngroups = [{ links = [\"op1\"] }]\n",
            &links,
        )
        .unwrap();
        assert_eq!(route.name, "r");
    }
}
