//! MO rules: which account receives the mobile-originated messages sent to some numbers,
//! number prefixes or first words. Kept in the replicated state as `[[mo_rule]]` tables
//! like routes, checked by the same rules as the configuration file before they are
//! proposed, and applied by every node's pipeline as soon as they are committed.

use std::collections::HashSet;

use tern_ledger::{Command, Spec, State};
use tonic::Status;

use super::proto;
use super::service::{not_found, AdminService};
use crate::replica;

/// A stored rule as shown: what it matches, and whether its account still exists.
fn view(state: &State, spec: &Spec) -> proto::MoRule {
    let mut view = proto::MoRule {
        name: spec.name.clone(),
        toml: spec.toml.clone(),
        enabled: spec.enabled,
        ..proto::MoRule::default()
    };
    if let Ok(rule) = replica::mo_rule_table(&spec.toml) {
        view.account_missing = !state.accounts.contains_key(&rule.account);
        view.account = rule.account;
        view.numbers = rule.numbers;
        view.prefixes = rule.prefixes;
        view.keywords = rule.keywords;
    }
    view
}

async fn stored(svc: &AdminService, name: &str) -> Result<proto::MoRule, Status> {
    svc.read(|state| state.mo_rules.get(name).map(|spec| view(state, spec)))
        .await?
        .ok_or_else(|| not_found("MO rule", name))
}

pub(super) async fn put(
    svc: &AdminService,
    req: proto::PutSpecRequest,
) -> Result<proto::MoRule, Status> {
    let checked = svc
        .read(|state| {
            let accounts: HashSet<&str> = state.accounts.keys().map(String::as_str).collect();
            replica::parse_mo_rule(&req.toml, &accounts)
        })
        .await?;
    let rule = checked.map_err(|error| Status::invalid_argument(format!("MO rule: {error}")))?;
    let name = rule
        .name
        .ok_or_else(|| Status::invalid_argument("MO rule: `mo_rule.name` must be given"))?;
    let what = format!(
        "PutMoRule {name} account={} enabled={}",
        rule.account, req.enabled
    );
    let spec = Spec {
        name: name.clone(),
        toml: req.toml,
        enabled: req.enabled,
    };
    svc.change(what, Command::PutMoRule { spec }).await?;
    stored(svc, &name).await
}

async fn set_enabled(
    svc: &AdminService,
    name: String,
    enabled: bool,
) -> Result<proto::MoRule, Status> {
    let mut spec = svc
        .read(|state| state.mo_rules.get(&name).cloned())
        .await?
        .ok_or_else(|| not_found("MO rule", &name))?;
    spec.enabled = enabled;
    let verb = if enabled { "Enable" } else { "Disable" };
    svc.change(format!("{verb}MoRule {name}"), Command::PutMoRule { spec })
        .await?;
    stored(svc, &name).await
}

pub(super) async fn enable(
    svc: &AdminService,
    req: proto::NameRef,
) -> Result<proto::MoRule, Status> {
    set_enabled(svc, req.name, true).await
}

pub(super) async fn disable(
    svc: &AdminService,
    req: proto::NameRef,
) -> Result<proto::MoRule, Status> {
    set_enabled(svc, req.name, false).await
}

pub(super) async fn delete(svc: &AdminService, req: proto::NameRef) -> Result<proto::Done, Status> {
    let what = format!("DeleteMoRule {}", req.name);
    svc.change(what, Command::DeleteMoRule { name: req.name })
        .await?;
    Ok(proto::Done {})
}

pub(super) async fn list(svc: &AdminService, _: proto::Empty) -> Result<proto::MoRuleList, Status> {
    svc.read(|state| proto::MoRuleList {
        rules: state
            .mo_rules
            .values()
            .map(|spec| view(state, spec))
            .collect(),
    })
    .await
}
