//! Accounts: creating, changing and deleting them, and the parent tree they form.
//!
//! Parents carry money down to their children (top-ups, automatic top-ups) and
//! webhooks follow the tree, so the tree must stay a tree: no cycles, no chain deeper
//! than `MAX_PARENT_DEPTH`, and no account deleted from under its children or leases.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use crate::calendar::period_start;
use crate::{
    Account, AccountSpec, Ledger, Minor, Price, Refusal, Response, Spec, State, MAX_PARENT_DEPTH,
};

type Accounts = BTreeMap<String, Account>;

/// The checks a spec passes on its own, before the tree is looked at.
fn check_spec(spec: &AccountSpec) -> Result<(), Refusal> {
    if spec.id.is_empty() {
        return Err(Refusal::Invalid("account id is empty".into()));
    }
    let limits = &spec.limits;
    if let Some(bad) = limits.thresholds.iter().find(|p| !(1..=100).contains(*p)) {
        return Err(Refusal::Invalid(format!(
            "threshold {bad}% of {} is outside 1..=100",
            spec.id
        )));
    }
    if limits.credit_limit.is_some_and(|limit| limit < 0) {
        return Err(Refusal::Invalid(format!(
            "credit_limit of {} is negative",
            spec.id
        )));
    }
    if let Some(auto) = &limits.auto_topup {
        if auto.amount < 0 {
            return Err(Refusal::Invalid(format!(
                "auto_topup amount of {} is negative",
                spec.id
            )));
        }
        if spec.parent.is_none() {
            return Err(Refusal::Invalid(format!(
                "auto_topup of {} needs a parent",
                spec.id
            )));
        }
    }
    Ok(())
}

/// How many ancestors `id` has; `None` when the chain is broken, loops or is too deep.
fn depth(accounts: &Accounts, id: &str) -> Option<usize> {
    let mut current = accounts.get(id)?;
    for depth in 0..=MAX_PARENT_DEPTH {
        match &current.spec.parent {
            None => return Some(depth),
            Some(parent) => current = accounts.get(parent)?,
        }
    }
    None
}

/// Direct children of every account that has any, in id order.
fn child_index(accounts: &Accounts) -> BTreeMap<&str, Vec<&str>> {
    let mut index: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for (id, account) in accounts {
        if let Some(parent) = &account.spec.parent {
            index.entry(parent).or_default().push(id);
        }
    }
    index
}

/// Descendants of `id`, nearest first, each with its distance below `id`. Visits every
/// account at most once, whatever the tree looks like.
fn descendants_of<'a>(accounts: &'a Accounts, id: &str) -> Vec<(&'a str, usize)> {
    let index = child_index(accounts);
    let mut seen = BTreeSet::new();
    let mut found = Vec::new();
    let mut queue = VecDeque::from([(id, 0usize)]);
    while let Some((current, distance)) = queue.pop_front() {
        for &child in index.get(current).map(Vec::as_slice).unwrap_or_default() {
            if child != id && seen.insert(child) {
                found.push((child, distance + 1));
                queue.push_back((child, distance + 1));
            }
        }
    }
    found
}

/// Checks that `spec` can hang where its `parent` says, given the subtree already below
/// it (`height` levels, 0 for a leaf or a new account).
fn check_place(accounts: &Accounts, spec: &AccountSpec, height: usize) -> Result<(), Refusal> {
    let Some(parent) = &spec.parent else {
        return Ok(());
    };
    if parent == &spec.id {
        return Err(Refusal::Invalid(format!(
            "{} cannot be its own parent",
            spec.id
        )));
    }
    if !accounts.contains_key(parent) {
        return Err(Refusal::Invalid(format!(
            "parent {parent} of {} does not exist",
            spec.id
        )));
    }
    let parent_metered = accounts
        .get(parent)
        .is_some_and(|p| p.spec.limits.credit_limit.is_some());
    if parent_metered && spec.limits.credit_limit.is_none() {
        return Err(Refusal::Invalid(format!(
            "{} is not metered but its parent {parent} is: it would spend money the parent \
             never gives; make it prepaid or postpaid (with an auto top-up to draw on {parent})",
            spec.id
        )));
    }
    if descendants_of(accounts, &spec.id)
        .iter()
        .any(|(below, _)| below == parent)
    {
        return Err(Refusal::Invalid(format!(
            "parent {parent} is below {}: that would be a cycle",
            spec.id
        )));
    }
    let deepest = depth(accounts, parent)
        .and_then(|d| d.checked_add(1))
        .and_then(|d| d.checked_add(height));
    match deepest {
        Some(deepest) if deepest <= MAX_PARENT_DEPTH => Ok(()),
        _ => Err(Refusal::Invalid(format!(
            "{} under {parent} would make a chain deeper than {MAX_PARENT_DEPTH}",
            spec.id
        ))),
    }
}

/// A new account with `credit` as opening balance, its period starting at `at_ms`.
fn open(spec: AccountSpec, credit: Minor, at_ms: u64) -> Account {
    let mut account = Account {
        ledger: Ledger {
            balance: credit,
            period_start_ms: period_start(at_ms, spec.limits.period),
            ..Ledger::default()
        },
        spec,
    };
    account.reset_credit_base();
    account
}

pub(crate) fn check_prices(prices: &[Price]) -> Result<(), Refusal> {
    for price in prices {
        if price.per_part < 0 {
            return Err(Refusal::Invalid(format!(
                "price for prefix '{}' is negative",
                price.prefix
            )));
        }
        let digits = price.prefix.strip_prefix('+').unwrap_or(&price.prefix);
        if !digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err(Refusal::Invalid(format!(
                "price prefix '{}' is not digits",
                price.prefix
            )));
        }
    }
    Ok(())
}

pub(crate) fn check_name(kind: &str, name: &str) -> Result<(), Refusal> {
    if name.is_empty() {
        return Err(Refusal::Invalid(format!("{kind} name is empty")));
    }
    Ok(())
}

impl State {
    /// The configuration file's accounts, routes, links and prices, all or nothing.
    /// Accounts may name parents listed after them. Once seeded, a seed changes nothing.
    pub(crate) fn seed(
        &mut self,
        at_ms: u64,
        accounts: &[AccountSpec],
        routes: &[Spec],
        links: &[Spec],
        prices: &[Price],
    ) -> Result<Response, Refusal> {
        check_prices(prices)?;
        for spec in routes.iter().chain(links) {
            check_name("route or link", &spec.name)?;
        }
        let mut placed = self.accounts.clone();
        let mut pending: Vec<&AccountSpec> = Vec::new();
        for spec in accounts {
            check_spec(spec)?;
            if placed.contains_key(&spec.id) || pending.iter().any(|p| p.id == spec.id) {
                return Err(Refusal::Exists(format!("account {}", spec.id)));
            }
            pending.push(spec);
        }
        // Place parents before their children; what cannot be placed has no parent.
        while !pending.is_empty() {
            let before = pending.len();
            let mut index = 0;
            while index < pending.len() {
                let spec = pending[index];
                let parent_placed = spec.parent.as_ref().is_none_or(|p| placed.contains_key(p));
                if parent_placed {
                    check_place(&placed, spec, 0)?;
                    placed.insert(spec.id.clone(), open(spec.clone(), 0, at_ms));
                    pending.remove(index);
                } else {
                    index += 1;
                }
            }
            if pending.len() == before {
                let stuck = pending.iter().map(|p| p.id.as_str()).collect::<Vec<_>>();
                return Err(Refusal::Invalid(format!(
                    "parents missing or in a cycle: {}",
                    stuck.join(", ")
                )));
            }
        }
        self.accounts = placed;
        for spec in routes {
            self.routes.insert(spec.name.clone(), spec.clone());
        }
        for spec in links {
            self.links.insert(spec.name.clone(), spec.clone());
        }
        self.prices = crate::config::normalized(prices);
        self.seeded = true;
        self.config_version = self.config_version.saturating_add(1);
        Ok(Response::Ok)
    }

    pub(crate) fn create_account(
        &mut self,
        at_ms: u64,
        spec: &AccountSpec,
        credit: Minor,
    ) -> Result<Response, Refusal> {
        check_spec(spec)?;
        if credit < 0 {
            return Err(Refusal::Invalid("opening credit is negative".into()));
        }
        if self.accounts.contains_key(&spec.id) {
            return Err(Refusal::Exists(format!("account {}", spec.id)));
        }
        check_place(&self.accounts, spec, 0)?;
        let account = open(spec.clone(), credit, at_ms);
        self.accounts.insert(spec.id.clone(), account);
        self.config_version = self.config_version.saturating_add(1);
        Ok(Response::Ok)
    }

    /// Replaces the settings and keeps the ledger. Refused when the new limits are below
    /// what is already used and reserved, so the ledger's invariant holds at every index.
    pub(crate) fn update_account(
        &mut self,
        at_ms: u64,
        spec: &AccountSpec,
    ) -> Result<Response, Refusal> {
        check_spec(spec)?;
        let Some(current) = self.accounts.get(&spec.id) else {
            return Err(Refusal::NotFound(format!("account {}", spec.id)));
        };
        let height = descendants_of(&self.accounts, &spec.id)
            .iter()
            .map(|(_, distance)| *distance)
            .max()
            .unwrap_or(0);
        check_place(&self.accounts, spec, height)?;
        if spec.limits.credit_limit.is_some() {
            let unmetered = self.children(&spec.id).into_iter().find(|child| {
                self.accounts
                    .get(child)
                    .is_some_and(|c| c.spec.limits.credit_limit.is_none())
            });
            if let Some(child) = unmetered {
                return Err(Refusal::Invalid(format!(
                    "{} cannot be metered while its child {child} is not: the child would \
                     spend money {} never gives",
                    spec.id, spec.id
                )));
            }
        }
        let committed = current
            .used_at(at_ms)
            .saturating_add(current.ledger.reserved_parts);
        if let Some(max) = spec.limits.max_messages.filter(|max| *max < committed) {
            return Err(Refusal::OverLimit(format!(
                "max_messages {max} is below the {committed} parts used and reserved"
            )));
        }
        let ledger = &current.ledger;
        if let Some(limit) = spec.limits.credit_limit {
            let floor = ledger.balance.saturating_sub(ledger.reserved_amount);
            if floor.saturating_add(limit) < 0 {
                return Err(Refusal::OverLimit(format!(
                    "credit_limit {limit} is below the {} owed and reserved",
                    floor.saturating_neg()
                )));
            }
        }
        let credit_changed = current.spec.limits.credit_limit != spec.limits.credit_limit;
        if let Some(account) = self.accounts.get_mut(&spec.id) {
            account.roll(at_ms);
            account.spec = spec.clone();
            // The new period may start earlier than the current one (Day to Month): the
            // parts used so far carry on until the new kind of period rolls.
            account.roll(at_ms);
            if credit_changed {
                account.reset_credit_base();
            }
        }
        self.config_version = self.config_version.saturating_add(1);
        Ok(Response::Ok)
    }

    /// Refused while the account has children, open leases or campaign bookings: each
    /// of them holds figures that must land somewhere. Its API keys and callback go with it.
    pub(crate) fn delete_account(&mut self, id: &str) -> Result<Response, Refusal> {
        if !self.accounts.contains_key(id) {
            return Err(Refusal::NotFound(format!("account {id}")));
        }
        if let Some(child) = self.children(id).first() {
            return Err(Refusal::Invalid(format!("{id} has child account {child}")));
        }
        if let Some(lease) = self.leases.values().find(|lease| lease.account == id) {
            return Err(Refusal::Invalid(format!(
                "{id} holds open lease {}",
                lease.id
            )));
        }
        if let Some(campaign) = self.campaigns.values().find(|c| c.account == id) {
            return Err(Refusal::Invalid(format!(
                "{id} has campaign {} booked",
                campaign.id
            )));
        }
        self.accounts.remove(id);
        self.forget_http(id);
        self.config_version = self.config_version.saturating_add(1);
        Ok(Response::Ok)
    }

    /// The ids of the accounts whose parent is `account`, in id order.
    pub fn children(&self, account: &str) -> Vec<String> {
        self.accounts
            .values()
            .filter(|child| child.spec.parent.as_deref() == Some(account))
            .map(|child| child.spec.id.clone())
            .collect()
    }

    /// The ids of every account below `account`, nearest first, in id order per level.
    pub fn descendants(&self, account: &str) -> Vec<String> {
        descendants_of(&self.accounts, account)
            .into_iter()
            .map(|(id, _)| id.to_owned())
            .collect()
    }

    /// The accounts whose tag `key` is `value`, in id order.
    pub fn accounts_tagged(&self, key: &str, value: &str) -> Vec<&Account> {
        self.accounts
            .values()
            .filter(|account| account.spec.tags.get(key).is_some_and(|v| v == value))
            .collect()
    }
}
