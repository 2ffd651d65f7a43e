//! Between the replicated state's types and the API's messages, and the checks of what
//! a caller sends that the state machine cannot make itself (period names, percentages,
//! tag filters, CIDR blocks).

use tern_ledger::{
    Account, Audit, BindSlot, Campaign, Claim, ClusterState, Delivery, DeliveryState, Event,
    EventKind, Limits, Period, Price, Refusal, Spec, State, Webhook,
};
use tonic::Status;

use super::proto;
use super::{ClusterView, LinkView, MessageView, QueueView, SessionView};
use crate::config::{redact_toml, redact_url};

/// The gRPC status of a refused command.
pub(super) fn refusal_status(refusal: Refusal) -> Status {
    let message = refusal.to_string();
    match refusal {
        Refusal::NotFound(_) => Status::not_found(message),
        Refusal::Exists(_) => Status::already_exists(message),
        Refusal::Invalid(_) => Status::invalid_argument(message),
        Refusal::OverLimit(_) => Status::failed_precondition(message),
    }
}

pub(super) fn period_name(period: Period) -> &'static str {
    match period {
        Period::Day => "day",
        Period::Month => "month",
    }
}

pub(super) fn parse_period(text: &str) -> Result<Period, Status> {
    match text {
        "day" => Ok(Period::Day),
        "month" => Ok(Period::Month),
        other => Err(Status::invalid_argument(format!(
            "period: {other:?} is not day or month"
        ))),
    }
}

/// Threshold percentages, sorted and without duplicates.
pub(super) fn parse_thresholds(percents: &[u32]) -> Result<Vec<u8>, Status> {
    let mut out = Vec::with_capacity(percents.len());
    for &percent in percents {
        match u8::try_from(percent) {
            Ok(p @ 1..=100) => out.push(p),
            _ => {
                return Err(Status::invalid_argument(format!(
                    "thresholds: {percent} is not a percentage from 1 to 100"
                )))
            }
        }
    }
    out.sort_unstable();
    out.dedup();
    Ok(out)
}

pub(super) fn check_networks(networks: &[String]) -> Result<(), Status> {
    match networks
        .iter()
        .find(|n| tern_actors::allowlist::IpNet::parse(n).is_none())
    {
        Some(bad) => Err(Status::invalid_argument(format!(
            "allowed_ips: {bad:?} is not an address or CIDR block"
        ))),
        None => Ok(()),
    }
}

/// A `key=value` filter (`key` alone matches any value); `None` for an empty filter.
pub(super) fn parse_tag(filter: &str) -> Result<Option<(String, Option<String>)>, Status> {
    let filter = filter.trim();
    if filter.is_empty() {
        return Ok(None);
    }
    let (key, value) = match filter.split_once('=') {
        Some((key, value)) => (key.trim(), Some(value.trim().to_owned())),
        None => (filter, None),
    };
    if key.is_empty() {
        return Err(Status::invalid_argument(format!(
            "tag: {filter:?} is not key=value"
        )));
    }
    Ok(Some((key.to_owned(), value)))
}

pub(super) fn has_tag(account: &Account, key: &str, value: Option<&str>) -> bool {
    match (account.spec.tags.get(key), value) {
        (Some(_), None) => true,
        (Some(have), Some(want)) => have == want,
        (None, _) => false,
    }
}

/// The account and every account below it, nearest first.
pub(super) fn with_descendants(state: &State, id: &str) -> Vec<String> {
    let mut out = vec![id.to_owned()];
    out.extend(state.descendants(id));
    out
}

pub(super) fn limits(limits: &Limits) -> proto::Limits {
    proto::Limits {
        credit_limit: limits.credit_limit,
        max_messages: limits.max_messages,
        period: period_name(limits.period).to_owned(),
        thresholds: limits.thresholds.iter().map(|&p| u32::from(p)).collect(),
        tps: limits.tps,
        auto_topup: limits.auto_topup.as_ref().map(|t| t.amount),
    }
}

/// The account as of `at_ms`: a period that ended shows as empty even before the leader's
/// next tick rolls it.
pub(super) fn account(state: &State, account: &Account, at_ms: u64) -> proto::Account {
    let spec = &account.spec;
    let ledger = &account.ledger;
    let credit_limit = spec.limits.credit_limit;
    let available = account.available(at_ms);
    proto::Account {
        id: spec.id.clone(),
        enabled: spec.enabled,
        max_binds: spec.max_binds,
        allowed_ips: spec.allowed_ips.clone(),
        sender_ids: spec.sender_ids.clone(),
        transliterate: spec.transliterate,
        parent: spec.parent.clone(),
        children: state.children(&spec.id),
        tags: spec.tags.clone(),
        limits: Some(limits(&spec.limits)),
        ledger: Some(proto::Ledger {
            balance: ledger.balance,
            credit_limit,
            available: available.amount,
            period_start_ms: ledger.period_start_ms,
            period_used: account.used_at(at_ms),
            period_max: spec.limits.max_messages,
            reserved_parts: ledger.reserved_parts,
            reserved_amount: ledger.reserved_amount,
            spent_total: ledger.spent_total,
            parts_total: ledger.parts_total,
            parts_available: available.parts,
        }),
        callback_url: state
            .http
            .callbacks
            .get(&spec.id)
            .map(|c| redact_url(&c.url)),
        api_keys: u32::try_from(state.http.keys_of(&spec.id).count()).unwrap_or(u32::MAX),
    }
}

pub(super) fn usage_row(account: &Account, at_ms: u64) -> proto::UsageRow {
    proto::UsageRow {
        account: account.spec.id.clone(),
        period_used: account.used_at(at_ms),
        period_max: account.spec.limits.max_messages,
        parts_total: account.ledger.parts_total,
        spent_total: account.ledger.spent_total,
        balance: account.ledger.balance,
    }
}

pub(super) fn usage_total(rows: &[proto::UsageRow]) -> proto::UsageRow {
    rows.iter().fold(
        proto::UsageRow {
            account: "total".into(),
            ..proto::UsageRow::default()
        },
        |total, row| proto::UsageRow {
            period_used: total.period_used.saturating_add(row.period_used),
            period_max: match (total.period_max, row.period_max) {
                (Some(a), Some(b)) => Some(a.saturating_add(b)),
                (a, b) => a.or(b),
            },
            parts_total: total.parts_total.saturating_add(row.parts_total),
            spent_total: total.spent_total.saturating_add(row.spent_total),
            balance: total.balance.saturating_add(row.balance),
            ..total
        },
    )
}

pub(super) fn price(price: &Price) -> proto::Price {
    proto::Price {
        account: price.account.clone(),
        route: price.route.clone(),
        prefix: price.prefix.clone(),
        per_part: price.per_part,
    }
}

pub(super) fn price_from(price: proto::Price) -> Result<Price, Status> {
    if !price.prefix.bytes().all(|b| b.is_ascii_digit()) {
        return Err(Status::invalid_argument(format!(
            "prefix: {:?} is not digits",
            price.prefix
        )));
    }
    if price.per_part < 0 {
        return Err(Status::invalid_argument(
            "per_part: a price is not negative",
        ));
    }
    let blank = |s: Option<String>| s.filter(|s| !s.is_empty());
    Ok(Price {
        account: blank(price.account),
        route: blank(price.route),
        prefix: price.prefix,
        per_part: price.per_part,
    })
}

pub(super) fn campaign(campaign: &Campaign) -> proto::Campaign {
    proto::Campaign {
        id: campaign.id.clone(),
        account: campaign.account.clone(),
        send_at_ms: campaign.send_at_ms,
        window_ms: campaign.window_ms,
        parts: campaign.parts,
        amount: campaign.amount,
        tolerance_pct: u32::from(campaign.tolerance_pct),
        reserved_parts: campaign.reserved_parts,
        reserved_amount: campaign.reserved_amount,
    }
}

/// A route or link as shown: the passwords of its URLs hidden.
pub(super) fn spec(spec: &Spec) -> proto::Spec {
    proto::Spec {
        name: spec.name.clone(),
        toml: redact_toml(&spec.toml),
        enabled: spec.enabled,
        ..proto::Spec::default()
    }
}

/// A route as shown: its prefixes and links, and which of those links no longer exist.
pub(super) fn route(state: &State, spec: &Spec) -> proto::Spec {
    let mut view = self::spec(spec);
    if let Ok(route) = crate::replica::route_table(&spec.toml) {
        let links = crate::replica::route_links(&route);
        view.missing_links = links
            .iter()
            .filter(|l| !state.links.contains_key(*l))
            .cloned()
            .collect();
        view.prefixes = route.prefixes;
        view.links = route
            .groups
            .iter()
            .flat_map(|g| g.links.iter().cloned())
            .collect();
    }
    view
}

/// A link as shown; `binds` are its slots' owners.
pub(super) fn link(
    spec: Option<&Spec>,
    name: &str,
    live: Option<&LinkView>,
    binds: Vec<proto::BindOwner>,
) -> proto::Link {
    proto::Link {
        name: name.to_owned(),
        stored: spec.is_some(),
        enabled: spec.is_some_and(|s| s.enabled),
        toml: spec.map(|s| redact_toml(&s.toml)).unwrap_or_default(),
        live: live.map(|l| proto::LinkLive {
            up: l.up,
            window_in_use: l.window_in_use,
            queued: l.queued,
        }),
        binds,
    }
}

pub(super) fn webhook(webhook: &Webhook) -> proto::Webhook {
    proto::Webhook {
        id: webhook.id.clone(),
        url: redact_url(&webhook.url),
        accounts: webhook.accounts.clone(),
    }
}

/// An event and how it stands at each webhook it was tried at.
pub(super) fn event(state: &State, event: &Event) -> proto::Event {
    use proto::event::Kind;
    let kind = match &event.kind {
        EventKind::MessagesThreshold { percent, used, max } => {
            Kind::MessagesThreshold(proto::MessagesThreshold {
                percent: u32::from(*percent),
                used: *used,
                max: *max,
            })
        }
        EventKind::CreditThreshold {
            percent,
            balance,
            credit_limit,
        } => Kind::CreditThreshold(proto::CreditThreshold {
            percent: u32::from(*percent),
            balance: *balance,
            credit_limit: *credit_limit,
        }),
        EventKind::LeaseReclaimed { lease, node } => Kind::LeaseReclaimed(proto::LeaseReclaimed {
            lease: *lease,
            node: *node,
        }),
        EventKind::ParentTopUp { parent, amount } => Kind::ParentTopUp(proto::ParentTopUp {
            parent: parent.clone(),
            amount: *amount,
        }),
    };
    proto::Event {
        seq: event.seq,
        at_ms: event.at_ms,
        account: event.account.clone(),
        kind: Some(kind),
        deliveries: state
            .deliveries
            .get(&event.seq)
            .into_iter()
            .flatten()
            .map(|(hook, d)| delivery(hook, d))
            .collect(),
    }
}

fn delivery(hook: &str, delivery: &Delivery) -> proto::WebhookDelivery {
    proto::WebhookDelivery {
        hook: hook.to_owned(),
        state: match delivery.state {
            DeliveryState::Pending => "pending",
            DeliveryState::Delivered => "delivered",
            DeliveryState::GaveUp => "gave_up",
        }
        .into(),
        attempts: delivery.attempts,
        first_at_ms: delivery.first_at_ms,
        last_at_ms: delivery.last_at_ms,
        next_at_ms: delivery.next_at_ms,
        error: delivery.error.clone(),
    }
}

pub(super) fn audit(audit: &Audit) -> proto::AuditEntry {
    proto::AuditEntry {
        who: audit.who.clone(),
        what: audit.what.clone(),
        at_ms: audit.at_ms,
    }
}

pub(super) fn session(session: SessionView) -> proto::Session {
    proto::Session {
        id: session.id,
        account: session.account,
        protocol: session.protocol,
        bind: session.bind,
        peer: session.peer,
        since_ms: session.since_ms,
        in_flight: session.in_flight,
    }
}

pub(super) fn queue(queue: QueueView) -> proto::Queue {
    proto::Queue {
        kind: queue.kind,
        name: queue.name,
        depth: queue.depth,
    }
}

pub(super) fn message(message: MessageView) -> proto::Message {
    proto::Message {
        id: message.id,
        account: message.account,
        source: message.source,
        destination: message.destination,
        state: message.state,
        parts: message.parts,
        submitted_at_ms: message.submitted_at_ms,
        operator_id: message.operator_id,
        link: message.link,
        error: message.error,
    }
}

pub(super) fn shard_owner(cluster: &ClusterState, shard: u16, claim: &Claim) -> proto::ShardOwner {
    proto::ShardOwner {
        shard: u32::from(shard),
        node: claim.node,
        epoch: claim.epoch,
        since_ms: claim.since_ms,
        from: claim.from,
        alive: cluster.is_alive(claim.node),
    }
}

pub(super) fn bind_owner(
    cluster: &ClusterState,
    slot: &BindSlot,
    claim: &Claim,
) -> proto::BindOwner {
    proto::BindOwner {
        link: slot.0.clone(),
        slot: u32::from(slot.1),
        node: claim.node,
        epoch: claim.epoch,
        since_ms: claim.since_ms,
        from: claim.from,
        alive: cluster.is_alive(claim.node),
    }
}

/// The owners of `link`'s bind slots, by slot.
pub(super) fn link_binds(cluster: &ClusterState, link: &str) -> Vec<proto::BindOwner> {
    cluster
        .bind_owners
        .iter()
        .filter(|((name, _), _)| name == link)
        .map(|(slot, claim)| bind_owner(cluster, slot, claim))
        .collect()
}

/// How many of `claims` are `node`'s.
fn owned<'a>(claims: impl Iterator<Item = &'a Claim>, node: u64) -> u32 {
    u32::try_from(claims.filter(|c| c.node == node).count()).unwrap_or(u32::MAX)
}

/// What the answering node says of the cluster: its raft view, and the ownership map as
/// of `at_ms` (its clock).
pub(super) fn cluster(
    view: ClusterView,
    cluster: &ClusterState,
    lease_valid: bool,
    at_ms: u64,
) -> proto::ClusterStatusReply {
    let member = |id: u64| proto::Member {
        id,
        liveness: cluster.members.get(&id).map(|m| proto::Liveness {
            alive: m.alive,
            draining: m.draining,
            renewed_ms: m.renewed_ms,
            changed_ms: m.changed_ms,
        }),
        shards: owned(cluster.shard_owners.values(), id),
        binds: owned(cluster.bind_owners.values(), id),
        ..proto::Member::default()
    };
    let mut members: Vec<proto::Member> = view
        .members
        .iter()
        .map(|m| proto::Member {
            addr: m.addr.clone(),
            voter: m.voter,
            raft: true,
            ..member(m.id)
        })
        .collect();
    members.extend(
        cluster
            .members
            .keys()
            .filter(|id| !view.members.iter().any(|m| m.id == **id))
            .map(|id| member(*id)),
    );
    proto::ClusterStatusReply {
        node_id: view.node_id,
        leader: view.leader,
        term: view.term,
        role: view.role,
        last_log_index: view.last_log_index,
        applied_index: view.applied_index,
        members,
        shards: cluster
            .shard_owners
            .iter()
            .map(|(shard, claim)| shard_owner(cluster, *shard, claim))
            .collect(),
        binds: cluster
            .bind_owners
            .iter()
            .map(|(slot, claim)| bind_owner(cluster, slot, claim))
            .collect(),
        lease_valid,
        at_ms,
        shard_count: u32::from(cluster.shards),
    }
}

/// What `node` still owns or hands off; `None` for a node the map has never heard of
/// (or forgot) and that is in no claim.
pub(super) fn drain_state(cluster: &ClusterState, node: u64) -> Option<proto::DrainState> {
    let involved = |c: &Claim| c.node == node || c.from == Some(node);
    let shards: Vec<proto::ShardOwner> = cluster
        .shard_owners
        .iter()
        .filter(|(_, c)| involved(c))
        .map(|(shard, claim)| shard_owner(cluster, *shard, claim))
        .collect();
    let binds: Vec<proto::BindOwner> = cluster
        .bind_owners
        .iter()
        .filter(|(_, c)| involved(c))
        .map(|(slot, claim)| bind_owner(cluster, slot, claim))
        .collect();
    let member = cluster.members.get(&node);
    if member.is_none() && shards.is_empty() && binds.is_empty() {
        return None;
    }
    Some(proto::DrainState {
        node,
        alive: member.is_some_and(|m| m.alive),
        draining: member.is_some_and(|m| m.draining),
        drained: cluster.is_drained(node),
        shards,
        binds,
        takers: cluster
            .members
            .iter()
            .filter(|(id, m)| **id != node && m.alive && !m.draining)
            .map(|(id, _)| *id)
            .collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_map_to_their_codes() {
        let code = |r| refusal_status(r).code();
        assert_eq!(code(Refusal::NotFound("a".into())), tonic::Code::NotFound);
        assert_eq!(
            code(Refusal::Exists("a".into())),
            tonic::Code::AlreadyExists
        );
        assert_eq!(
            code(Refusal::Invalid("a".into())),
            tonic::Code::InvalidArgument
        );
        assert_eq!(
            code(Refusal::OverLimit("a".into())),
            tonic::Code::FailedPrecondition
        );
    }

    #[test]
    fn thresholds_are_percentages() {
        assert_eq!(parse_thresholds(&[100, 50, 50]).unwrap(), vec![50, 100]);
        assert!(parse_thresholds(&[0]).is_err());
        assert!(parse_thresholds(&[101]).is_err());
        assert!(parse_thresholds(&[256]).is_err());
    }

    #[test]
    fn tag_filters() {
        assert_eq!(parse_tag("").unwrap(), None);
        assert_eq!(
            parse_tag("cc=42").unwrap(),
            Some(("cc".to_owned(), Some("42".to_owned())))
        );
        assert_eq!(parse_tag("cc").unwrap(), Some(("cc".to_owned(), None)));
        assert!(parse_tag("=42").is_err());
    }

    #[test]
    fn networks_are_checked() {
        assert!(check_networks(&["10.0.0.0/8".into(), "192.0.2.7".into()]).is_ok());
        assert!(check_networks(&["10.0.0.0/33".into()]).is_err());
        assert!(check_networks(&["example.com".into()]).is_err());
    }
}
