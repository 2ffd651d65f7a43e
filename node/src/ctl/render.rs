//! The plain-text form of each reply. Money is printed in minor units as the API keeps
//! it; times in UTC.

use super::proto;
use super::table::{pairs, Table};
use super::time::{format_duration, format_time};

fn or_dash(value: Option<impl ToString>) -> String {
    value.map_or_else(|| "-".to_owned(), |v| v.to_string())
}

fn list_or(values: &[String], none: &str) -> String {
    if values.is_empty() {
        none.to_owned()
    } else {
        values.join(", ")
    }
}

fn tags(tags: &std::collections::BTreeMap<String, String>) -> String {
    if tags.is_empty() {
        return "-".into();
    }
    tags.iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(",")
}

fn yes_no(value: bool) -> String {
    if value { "yes" } else { "no" }.into()
}

fn period_use(used: u64, max: Option<u64>) -> String {
    match max {
        Some(max) => format!("{used}/{max}"),
        None => format!("{used}/-"),
    }
}

pub fn account(a: &proto::Account) -> String {
    let limits = a.limits.clone().unwrap_or_default();
    let ledger = a.ledger.unwrap_or_default();
    let thresholds: Vec<String> = limits.thresholds.iter().map(|p| format!("{p}%")).collect();
    pairs(&[
        ("id", a.id.clone()),
        ("enabled", yes_no(a.enabled)),
        ("parent", or_dash(a.parent.as_ref())),
        ("children", list_or(&a.children, "-")),
        ("tags", tags(&a.tags)),
        ("max binds", a.max_binds.to_string()),
        ("allowed ips", list_or(&a.allowed_ips, "any")),
        ("sender ids", list_or(&a.sender_ids, "any")),
        ("transliterate", yes_no(a.transliterate)),
        ("balance", ledger.balance.to_string()),
        (
            "credit limit",
            ledger
                .credit_limit
                .map_or_else(|| "not metered".to_owned(), |c| c.to_string()),
        ),
        ("available", or_dash(ledger.available)),
        ("parts available", or_dash(ledger.parts_available)),
        (
            "period",
            format!(
                "{} since {}: {} parts",
                limits.period,
                format_time(ledger.period_start_ms),
                period_use(ledger.period_used, ledger.period_max)
            ),
        ),
        (
            "reserved",
            format!(
                "{} parts, {}",
                ledger.reserved_parts, ledger.reserved_amount
            ),
        ),
        (
            "used in all",
            format!("{} parts, {}", ledger.parts_total, ledger.spent_total),
        ),
        (
            "tps",
            limits
                .tps
                .map_or_else(|| "unlimited".to_owned(), |t| t.to_string()),
        ),
        ("thresholds", list_or(&thresholds, "-")),
        ("auto top-up", or_dash(limits.auto_topup)),
        ("api keys", a.api_keys.to_string()),
        ("callback", or_dash(a.callback_url.as_ref())),
    ])
}

/// A key as made, and that it is shown this once.
pub fn created_api_key(created: &proto::CreatedApiKey) -> String {
    let mut out = pairs(&[
        ("id", created.id.clone()),
        ("account", created.account.clone()),
        ("label", created.label.clone()),
        ("key", created.key.clone()),
    ]);
    out.push_str("the key is shown this once: Tern keeps only its digest\n");
    out
}

pub fn api_keys(list: &proto::ApiKeyList) -> String {
    let mut table = Table::new(&["ID", "ACCOUNT", "CREATED", "LABEL"]);
    for key in &list.keys {
        table.row(vec![
            key.id.clone(),
            key.account.clone(),
            format_time(key.created_ms),
            key.label.clone(),
        ]);
    }
    table.render()
}

/// A callback as set: the secret only when the server made it, which is the one time it
/// is shown.
pub fn callback(reply: &proto::CallbackReply) -> String {
    if reply.url.is_empty() {
        return format!("callback of {} cleared\n", reply.account);
    }
    let mut rows = vec![
        ("account", reply.account.clone()),
        ("url", reply.url.clone()),
    ];
    if !reply.secret.is_empty() {
        rows.push(("secret", reply.secret.clone()));
    }
    let mut out = pairs(&rows);
    if !reply.secret.is_empty() {
        out.push_str("the secret is shown this once: posts to the url are signed with it\n");
    }
    out
}

pub fn accounts(list: &proto::AccountList) -> String {
    let mut table = Table::new(&[
        "ID",
        "ENABLED",
        "PARENT",
        "BALANCE",
        "AVAILABLE",
        "PERIOD",
        "TAGS",
    ]);
    for a in &list.accounts {
        let ledger = a.ledger.unwrap_or_default();
        let period = a.limits.as_ref().map_or("day", |l| l.period.as_str());
        table.row(vec![
            a.id.clone(),
            yes_no(a.enabled),
            or_dash(a.parent.as_ref()),
            ledger.balance.to_string(),
            or_dash(ledger.available),
            format!(
                "{} {period}",
                period_use(ledger.period_used, ledger.period_max)
            ),
            tags(&a.tags),
        ]);
    }
    table.render()
}

pub fn usage(reply: &proto::UsageReply) -> String {
    let mut table = Table::new(&["ACCOUNT", "PERIOD", "PARTS", "SPENT", "BALANCE"]);
    for row in reply.rows.iter().chain(reply.total.as_ref()) {
        table.row(vec![
            row.account.clone(),
            period_use(row.period_used, row.period_max),
            row.parts_total.to_string(),
            row.spent_total.to_string(),
            row.balance.to_string(),
        ]);
    }
    table.render()
}

pub fn prices(list: &proto::PriceList) -> String {
    let mut table = Table::new(&["ACCOUNT", "ROUTE", "PREFIX", "PER PART"]);
    for p in &list.prices {
        table.row(vec![
            p.account.clone().unwrap_or_else(|| "*".into()),
            p.route.clone().unwrap_or_else(|| "*".into()),
            if p.prefix.is_empty() {
                "*".into()
            } else {
                p.prefix.clone()
            },
            p.per_part.to_string(),
        ]);
    }
    table.render()
}

pub fn campaign(c: &proto::Campaign) -> String {
    campaigns(&proto::CampaignList {
        campaigns: vec![c.clone()],
    })
}

pub fn campaigns(list: &proto::CampaignList) -> String {
    let mut table = Table::new(&[
        "ID",
        "ACCOUNT",
        "SEND AT",
        "WINDOW",
        "PARTS",
        "AMOUNT",
        "TOLERANCE",
        "RESERVED",
    ]);
    for c in &list.campaigns {
        table.row(vec![
            c.id.clone(),
            c.account.clone(),
            format_time(c.send_at_ms),
            format_duration(c.window_ms),
            c.parts.to_string(),
            c.amount.to_string(),
            format!("{}%", c.tolerance_pct),
            format!("{} parts, {}", c.reserved_parts, c.reserved_amount),
        ]);
    }
    table.render()
}

pub fn spec(spec: &proto::Spec) -> String {
    format!(
        "# {} ({})\n{}\n",
        spec.name,
        if spec.enabled { "enabled" } else { "disabled" },
        spec.toml.trim_end()
    )
}

/// Routes: a link no stored link has any more is marked `(missing)`.
pub fn specs(list: &proto::SpecList) -> String {
    let mut table = Table::new(&["NAME", "ENABLED", "PREFIXES", "LINKS"]);
    for s in &list.specs {
        let links: Vec<String> = s
            .links
            .iter()
            .map(|link| {
                let name = link
                    .rsplit_once(':')
                    .map_or(link.as_str(), |(name, _)| name);
                if s.missing_links.iter().any(|m| m == name) {
                    format!("{link} (missing)")
                } else {
                    link.clone()
                }
            })
            .collect();
        table.row(vec![
            s.name.clone(),
            yes_no(s.enabled),
            list_or(&s.prefixes, "any"),
            list_or(&links, "-"),
        ]);
    }
    table.render()
}

pub fn mo_rule(rule: &proto::MoRule) -> String {
    format!(
        "# {} ({})\n{}\n",
        rule.name,
        if rule.enabled { "enabled" } else { "disabled" },
        rule.toml.trim_end()
    )
}

/// MO rules: an account that no longer exists is marked `(missing)`.
pub fn mo_rules(list: &proto::MoRuleList) -> String {
    let mut table = Table::new(&[
        "NAME", "ENABLED", "ACCOUNT", "NUMBERS", "PREFIXES", "KEYWORDS",
    ]);
    for r in &list.rules {
        let prefixes: Vec<String> = r
            .prefixes
            .iter()
            .map(|p| {
                if p.is_empty() {
                    "any".into()
                } else {
                    p.clone()
                }
            })
            .collect();
        table.row(vec![
            r.name.clone(),
            yes_no(r.enabled),
            if r.account_missing {
                format!("{} (missing)", r.account)
            } else {
                r.account.clone()
            },
            list_or(&r.numbers, "-"),
            list_or(&prefixes, "-"),
            list_or(&r.keywords, "-"),
        ]);
    }
    table.render()
}

/// One route: its row of `route list`, then its table.
pub fn route(route: &proto::Spec) -> String {
    let row = specs(&proto::SpecList {
        specs: vec![route.clone()],
    });
    format!("{row}\n{}", spec(route))
}

/// One link: its row of `link list`, the owners of its binds, then its table.
pub fn link(link: &proto::Link) -> String {
    let mut out = links(&proto::LinkList {
        links: vec![link.clone()],
    });
    out.push('\n');
    if link.binds.is_empty() {
        out.push_str("no binds (a disabled link, or one from the configuration file)\n");
    } else {
        let mut table = Table::new(&["SLOT", "NODE", "EPOCH", "ALIVE"]);
        for b in &link.binds {
            table.row(vec![
                b.slot.to_string(),
                owner(b.node, b.from),
                b.epoch.to_string(),
                yes_no(b.alive),
            ]);
        }
        out.push_str(&table.render());
    }
    if link.stored {
        out.push('\n');
        out.push_str(link.toml.trim_end());
        out.push('\n');
    }
    out
}

pub fn links(list: &proto::LinkList) -> String {
    let mut table = Table::new(&["NAME", "ENABLED", "UP", "WINDOW", "QUEUED", "SOURCE"]);
    for l in &list.links {
        let live = l.live.as_ref();
        table.row(vec![
            l.name.clone(),
            yes_no(l.enabled),
            live.map_or_else(|| "-".to_owned(), |l| yes_no(l.up)),
            or_dash(live.map(|l| l.window_in_use)),
            or_dash(live.map(|l| l.queued)),
            if l.stored { "cluster" } else { "config file" }.into(),
        ]);
    }
    table.render()
}

pub fn sessions(list: &proto::SessionList) -> String {
    let mut table = Table::new(&[
        "ID",
        "ACCOUNT",
        "PROTOCOL",
        "BIND",
        "PEER",
        "SINCE",
        "IN FLIGHT",
    ]);
    for s in &list.sessions {
        table.row(vec![
            s.id.to_string(),
            s.account.clone(),
            s.protocol.clone(),
            s.bind.clone(),
            s.peer.clone(),
            format_time(s.since_ms),
            s.in_flight.to_string(),
        ]);
    }
    table.render()
}

pub fn message(m: &proto::Message) -> String {
    pairs(&[
        ("id", m.id.to_string()),
        ("account", m.account.clone()),
        ("source", m.source.clone()),
        ("destination", m.destination.clone()),
        ("state", m.state.clone()),
        ("parts", m.parts.to_string()),
        ("submitted", format_time(m.submitted_at_ms)),
        ("link", or_dash(m.link.as_ref())),
        ("operator id", or_dash(m.operator_id.as_ref())),
        ("error", or_dash(m.error.as_ref())),
    ])
}

pub fn messages(list: &proto::MessageList) -> String {
    let mut table = Table::new(&[
        "ID",
        "SUBMITTED",
        "SOURCE",
        "DESTINATION",
        "PARTS",
        "STATE",
        "LINK",
    ]);
    for m in &list.messages {
        table.row(vec![
            m.id.to_string(),
            format_time(m.submitted_at_ms),
            m.source.clone(),
            m.destination.clone(),
            m.parts.to_string(),
            m.state.clone(),
            or_dash(m.link.as_ref()),
        ]);
    }
    table.render()
}

pub fn queues(list: &proto::QueueList) -> String {
    let mut table = Table::new(&["KIND", "NAME", "DEPTH"]);
    for q in &list.queues {
        table.row(vec![q.kind.clone(), q.name.clone(), q.depth.to_string()]);
    }
    table.render()
}

/// The raft view, the members with their liveness, then the owners of the shards and of
/// the binds.
pub fn cluster(status: &proto::ClusterStatusReply) -> String {
    let mut out = pairs(&[
        ("node", status.node_id.to_string()),
        ("role", status.role.clone()),
        ("leader", or_dash(status.leader)),
        ("term", status.term.to_string()),
        ("last log index", or_dash(status.last_log_index)),
        ("applied index", or_dash(status.applied_index)),
        (
            "lease",
            if status.lease_valid {
                "valid"
            } else {
                "not held"
            }
            .into(),
        ),
    ]);
    out.push('\n');
    out.push_str(&members(status));
    out.push('\n');
    out.push_str(&shard_owners(status));
    if !status.binds.is_empty() {
        out.push('\n');
        let mut table = Table::new(&["LINK", "SLOT", "NODE", "EPOCH"]);
        for b in &status.binds {
            table.row(vec![
                b.link.clone(),
                b.slot.to_string(),
                owner(b.node, b.from),
                b.epoch.to_string(),
            ]);
        }
        out.push_str(&table.render());
    }
    out
}

fn members(status: &proto::ClusterStatusReply) -> String {
    let mut table = Table::new(&[
        "ID",
        "ADDR",
        "VOTER",
        "ALIVE",
        "DRAINING",
        "LAST HEARTBEAT",
        "SHARDS",
        "BINDS",
    ]);
    for m in &status.members {
        let live = m.liveness.as_ref();
        let (addr, voter) = if m.raft {
            (m.addr.clone(), yes_no(m.voter))
        } else {
            ("(not in raft)".to_owned(), "-".to_owned())
        };
        table.row(vec![
            m.id.to_string(),
            addr,
            voter,
            live.map_or_else(|| "-".to_owned(), |l| yes_no(l.alive)),
            live.map_or_else(|| "-".to_owned(), |l| yes_no(l.draining)),
            live.map_or_else(|| "never".to_owned(), |l| age(status.at_ms, l.renewed_ms)),
            m.shards.to_string(),
            m.binds.to_string(),
        ]);
    }
    table.render()
}

/// `2`, or `2 ← from 1` while node 1 has not handed the claim off yet.
fn owner(node: u64, from: Option<u64>) -> String {
    match from {
        Some(from) => format!("{node} ← from {from}"),
        None => node.to_string(),
    }
}

/// How long before `now_ms` `then_ms` was: `0.4s ago`, `35s ago`, `12m ago`, `3h ago`.
fn age(now_ms: u64, then_ms: u64) -> String {
    let ms = now_ms.saturating_sub(then_ms);
    match ms {
        0..=9_999 => format!("{}.{}s ago", ms / 1000, ms % 1000 / 100),
        10_000..=119_999 => format!("{}s ago", ms / 1000),
        120_000..=7_199_999 => format!("{}m ago", ms / 60_000),
        _ => format!("{}h ago", ms / 3_600_000),
    }
}

/// Past this many shards the table shows one row per node with its shards' numbers.
const SHARD_ROWS: usize = 16;

fn shard_owners(status: &proto::ClusterStatusReply) -> String {
    let mut out = String::new();
    if status.shards.len() <= SHARD_ROWS {
        let mut table = Table::new(&["SHARD", "NODE", "EPOCH"]);
        for s in &status.shards {
            table.row(vec![
                s.shard.to_string(),
                owner(s.node, s.from),
                s.epoch.to_string(),
            ]);
        }
        out.push_str(&table.render());
    } else {
        let mut by_node: std::collections::BTreeMap<u64, Vec<u32>> = Default::default();
        for s in &status.shards {
            by_node.entry(s.node).or_default().push(s.shard);
        }
        let mut table = Table::new(&["NODE", "COUNT", "SHARDS"]);
        for (node, shards) in &by_node {
            table.row(vec![
                node.to_string(),
                shards.len().to_string(),
                numbers(shards),
            ]);
        }
        out.push_str(&table.render());
        let mut waiting = Table::new(&["SHARD", "NODE", "EPOCH"]);
        let mut any = false;
        for s in status.shards.iter().filter(|s| s.from.is_some()) {
            any = true;
            waiting.row(vec![
                s.shard.to_string(),
                owner(s.node, s.from),
                s.epoch.to_string(),
            ]);
        }
        if any {
            out.push_str("\nhand-offs waiting:\n");
            out.push_str(&waiting.render());
        }
    }
    let owned: std::collections::BTreeSet<u32> = status.shards.iter().map(|s| s.shard).collect();
    let unowned: Vec<u32> = (0..status.shard_count)
        .filter(|s| !owned.contains(s))
        .collect();
    if !unowned.is_empty() {
        out.push_str(&format!("unowned shards: {}\n", numbers(&unowned)));
    }
    out
}

/// Sorted numbers with runs of three or more as ranges: `0-3,6,9`.
fn numbers(values: &[u32]) -> String {
    let mut sorted = values.to_vec();
    sorted.sort_unstable();
    let mut parts = Vec::new();
    let mut i = 0;
    while i < sorted.len() {
        let mut j = i;
        while j + 1 < sorted.len() && sorted[j + 1] == sorted[j] + 1 {
            j += 1;
        }
        if j >= i + 2 {
            parts.push(format!("{}-{}", sorted[i], sorted[j]));
        } else {
            parts.extend(sorted[i..=j].iter().map(u32::to_string));
        }
        i = j + 1;
    }
    parts.join(",")
}

/// `1 shard`, `2 shards`.
fn counted(n: usize, noun: &str) -> String {
    if n == 1 {
        format!("1 {noun}")
    } else {
        format!("{n} {noun}s")
    }
}

/// How a drain stands: safe to stop, or what the node still holds and why.
pub fn drain(state: &proto::DrainState) -> String {
    let node = state.node;
    let held = format!(
        "{} and {}",
        counted(state.shards.len(), "shard"),
        counted(state.binds.len(), "bind")
    );
    if !state.draining {
        return format!("node {node} is not draining: it takes work ({held} now)\n");
    }
    if state.drained {
        return format!("node {node} is drained: safe to stop\n");
    }
    let mut out = format!("node {node} is not drained: it still holds {held}\n");
    let mut table = Table::new(&["WHAT", "NODE", "EPOCH", "WAITS FOR"]);
    let waits = |claim_node: u64, from: Option<u64>, since_ms: u64| match from {
        Some(from) => format!(
            "node {from} to release it (at the latest {})",
            format_time(since_ms)
        ),
        None if claim_node == node => "another node to take it".to_owned(),
        None => "-".to_owned(),
    };
    for s in &state.shards {
        table.row(vec![
            format!("shard {}", s.shard),
            owner(s.node, s.from),
            s.epoch.to_string(),
            waits(s.node, s.from, s.since_ms),
        ]);
    }
    for b in &state.binds {
        table.row(vec![
            format!("bind {}#{}", b.link, b.slot),
            owner(b.node, b.from),
            b.epoch.to_string(),
            waits(b.node, b.from, b.since_ms),
        ]);
    }
    out.push_str(&table.render());
    if state.takers.is_empty() {
        out.push_str(
            "no other live node that is not draining can take its work: \
             start one, or undo the drain of another\n",
        );
    }
    out
}

pub fn webhook(w: &proto::Webhook) -> String {
    webhooks(&proto::WebhookList {
        webhooks: vec![w.clone()],
    })
}

pub fn webhooks(list: &proto::WebhookList) -> String {
    let mut table = Table::new(&["ID", "URL", "ACCOUNTS"]);
    for w in &list.webhooks {
        table.row(vec![
            w.id.clone(),
            w.url.clone(),
            list_or(&w.accounts, "all"),
        ]);
    }
    table.render()
}

fn event_text(kind: Option<&proto::event::Kind>) -> (&'static str, String) {
    use proto::event::Kind;
    match kind {
        Some(Kind::MessagesThreshold(e)) => (
            "messages",
            format!("{}% of the period: {}/{} parts", e.percent, e.used, e.max),
        ),
        Some(Kind::CreditThreshold(e)) => (
            "credit",
            format!(
                "{}% of the credit: balance {}, credit limit {}",
                e.percent, e.balance, e.credit_limit
            ),
        ),
        Some(Kind::LeaseReclaimed(e)) => (
            "lease",
            format!("lease {} of node {} reclaimed", e.lease, e.node),
        ),
        Some(Kind::ParentTopUp(e)) => ("top-up", format!("{} from {}", e.amount, e.parent)),
        None => ("-", String::new()),
    }
}

pub fn events(list: &proto::EventList) -> String {
    let mut table = Table::new(&["SEQ", "AT", "ACCOUNT", "KIND", "WHAT", "WEBHOOKS"]);
    for e in &list.events {
        let (kind, what) = event_text(e.kind.as_ref());
        table.row(vec![
            e.seq.to_string(),
            format_time(e.at_ms),
            e.account.clone(),
            kind.into(),
            what,
            deliveries_text(e, list.acked),
        ]);
    }
    table.render()
}

/// How an event stands at each of its webhooks: `ops delivered (2 tries)`, `ops pending
/// (3 tries, next 2026-01-01T10:00:00Z: connection refused)`, `ops gave up (40 tries)`.
fn deliveries_text(event: &proto::Event, acked: u64) -> String {
    if event.deliveries.is_empty() {
        return if event.seq <= acked {
            "none".into()
        } else {
            "waiting".into()
        };
    }
    let tries = |n: u32| {
        if n == 1 {
            "1 try".to_owned()
        } else {
            format!("{n} tries")
        }
    };
    event
        .deliveries
        .iter()
        .map(|d| match d.state.as_str() {
            "pending" => format!(
                "{} pending ({}, next {}: {})",
                d.hook,
                tries(d.attempts),
                format_time(d.next_at_ms),
                d.error
            ),
            "gave_up" => format!("{} gave up ({}: {})", d.hook, tries(d.attempts), d.error),
            state => format!("{} {state} ({})", d.hook, tries(d.attempts)),
        })
        .collect::<Vec<_>>()
        .join("; ")
}

pub fn audit(list: &proto::AuditList) -> String {
    let mut table = Table::new(&["AT", "WHO", "WHAT"]);
    for entry in &list.entries {
        table.row(vec![
            format_time(entry.at_ms),
            entry.who.clone(),
            entry.what.clone(),
        ]);
    }
    table.render()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shard_numbers_read_as_ranges() {
        assert_eq!(numbers(&[9, 0, 1, 2, 3, 6]), "0-3,6,9");
        assert_eq!(numbers(&[4, 5]), "4,5");
        assert_eq!(numbers(&[]), "");
    }

    #[test]
    fn heartbeat_ages() {
        assert_eq!(age(10_000, 9_600), "0.4s ago");
        assert_eq!(age(100_000, 65_000), "35s ago");
        assert_eq!(age(1_000_000, 280_000), "12m ago");
        assert_eq!(age(20_000_000, 5_000_000), "4h ago");
        // A heartbeat stamped by a clock a little ahead.
        assert_eq!(age(1_000, 1_500), "0.0s ago");
    }

    #[test]
    fn a_drain_in_progress_names_what_is_left_and_who_could_take_it() {
        let state = proto::DrainState {
            node: 1,
            alive: true,
            draining: true,
            drained: false,
            shards: vec![proto::ShardOwner {
                shard: 3,
                node: 1,
                epoch: 7,
                since_ms: 0,
                from: None,
                alive: true,
            }],
            binds: Vec::new(),
            takers: Vec::new(),
        };
        let text = drain(&state);
        assert!(
            text.starts_with("node 1 is not drained: it still holds 1 shard and 0 binds\n"),
            "{text}"
        );
        assert!(
            text.contains("shard 3  1     7      another node to take it"),
            "{text}"
        );
        assert!(text.contains("no other live node"), "{text}");
        let done = proto::DrainState {
            drained: true,
            shards: Vec::new(),
            ..state
        };
        assert_eq!(drain(&done), "node 1 is drained: safe to stop\n");
    }
}
