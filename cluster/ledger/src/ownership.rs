//! Who does what in the cluster: the liveness of every node, and the owner of every
//! dispatcher shard and every operator bind, each with an epoch.
//!
//! # The rules
//! - A node renews its liveness with `Heartbeat` about once a second. The tick marks a
//!   node dead once no heartbeat of it was applied for [`DEAD_AFTER_MS`] (by the times the
//!   entries carry), and gives its shards and binds to the live nodes at once.
//! - Every change of owner takes the next epoch. A claim moved away from a live node (a
//!   node joined, or one is drained) is a hand-off: the new owner may act from
//!   `since_ms`, [`HANDOFF_MS`] after the change, or as soon as the old owner says with
//!   `Release` that it has stopped and its work in flight has settled.
//! - Shards are spread evenly over the live nodes that are not draining; so are the binds
//!   of each link (a link has as many bind slots as its `binds` key says, 1 by default, 0
//!   while disabled). An owner keeps what it has while the spread stays within one.
//!
//! # Why a paused or cut-off node stops before anyone takes over
//! A node acts for its claims only while its own lease runs: [`LEASE_MS`] from the moment
//! (on its monotonic clock) it sent a heartbeat that was then applied, and only as the
//! node's replica reads the map after applying that heartbeat. Wall clocks of the nodes
//! are assumed within ε = [`CLOCK_SKEW_MS`] of each other, and monotonic clocks to drift
//! by at most ρ = 0.1 %.
//! - A dead node's claims move at a tick whose time T is past its last heartbeat time h by
//!   [`DEAD_AFTER_MS`]. The heartbeat left the node at a real time t₀ ≥ h − ε/2, and the
//!   tick happens at a real time ≥ T − ε/2 > h + DEAD_AFTER − ε/2 ≥ t₀ + DEAD_AFTER − ε.
//!   The node stopped by t₀ + LEASE·(1 + ρ). So DEAD_AFTER > LEASE·(1 + ρ) + ε: 6 s > 3.003
//!   s + 1 s. A heartbeat that the node sends later, or that was in flight and is applied
//!   after the tick, revives the node but gives it nothing back: the node applies the move
//!   before it counts that heartbeat.
//! - A hand-off applied at leader time T: the old owner learns of it before it can extend
//!   its lease again, so it stops at the latest at t₀ + LEASE(1 + ρ) with t₀ ≤ T + ε/2 for
//!   its last heartbeat applied before the change. The new owner starts at its own clock's
//!   T + HANDOFF, a real time ≥ T + HANDOFF − ε/2. So HANDOFF > LEASE(1 + ρ) + ε: 6 s again.
//! - The takeover delay of a dead node is then DEAD_AFTER plus up to one tick (the leader
//!   ticks every second) plus the time to apply: 6 to 7.5 s, within the 10 s aimed at.
//!
//! A node that cannot reach a majority cannot renew, so it stops within LEASE; one that is
//! paused (SIGSTOP) finds its lease gone when it runs again, before it sends anything: an
//! operator bind's connection asks whether the claim still holds right before each write to
//! its socket (`tern_transport::Gate`), so even what was queued before the pause stays
//! unwritten. What remains is the instant between that check and the write system call; a
//! pause that falls exactly there lets at most the one buffer it was writing out.
//!
//! A claim says nothing about the operator's side: a paused node's connections stay open
//! until the operator drops them or the node wakes and closes them, so the new owner of a
//! bind retries its bind (with backoff) until the operator accepts it.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::{Refusal, Response, Spec, State};

/// How long a node acts on its claims after sending a heartbeat that was applied.
pub const LEASE_MS: u64 = 3_000;
/// How long without an applied heartbeat before a node is dead and its work moves.
pub const DEAD_AFTER_MS: u64 = 6_000;
/// How long a claim moved away from a live node waits for the old owner's release.
pub const HANDOFF_MS: u64 = 6_000;
/// The bound on the difference of two nodes' wall clocks the timing above assumes.
pub const CLOCK_SKEW_MS: u64 = 1_000;
/// How often a node sends a heartbeat.
pub const HEARTBEAT_MS: u64 = 1_000;
/// The most binds a link may have.
pub const MAX_BINDS: u16 = 64;

/// A node's membership of the work: when it last renewed, whether it is alive and
/// whether it is being drained.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Liveness {
    /// The time of its last applied heartbeat.
    pub renewed_ms: u64,
    pub alive: bool,
    /// Its work is being moved to the others (`tern ctl cluster drain`).
    pub draining: bool,
    /// When it was last marked dead or came back.
    pub changed_ms: u64,
    /// The accounts with a receiving bind on it, as its last heartbeat said.
    pub receivers: BTreeSet<String>,
}

/// One shard's or bind's owner.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claim {
    pub node: u64,
    pub epoch: u64,
    /// The owner may act from this time on (its own wall clock): later than the change
    /// for a hand-off not yet released.
    pub since_ms: u64,
    /// The node it was moved from while that one has not released it.
    pub from: Option<u64>,
}

/// A bind slot of a link: `(link, index)`.
pub type BindSlot = (String, u16);

/// The ownership map and the nodes it is spread over.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClusterState {
    pub members: BTreeMap<u64, Liveness>,
    /// How many shards the nodes' pipelines have (set by the first heartbeat; every node
    /// must agree).
    pub shards: u16,
    pub shard_owners: BTreeMap<u16, Claim>,
    pub bind_owners: BTreeMap<BindSlot, Claim>,
    /// The last epoch handed out.
    pub epoch: u64,
}

/// What a node owns and may act on at a given time.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Owned {
    pub shards: BTreeMap<u16, u64>,
    pub binds: BTreeMap<BindSlot, u64>,
}

impl ClusterState {
    /// The shards and binds `node` owns and may act on at `now_ms` (its wall clock),
    /// each with its epoch. Only a claim in a hand-off (`from` set) waits for its
    /// `since_ms`; any other is the node's at once, so a node whose clock was stepped back
    /// does not stop acting on claims stamped before the step (the leader's tick ends a
    /// hand-off by its own clock once `since_ms` has passed).
    pub fn owned_by(&self, node: u64, now_ms: u64) -> Owned {
        let mine = |c: &Claim| c.node == node && (c.from.is_none() || c.since_ms <= now_ms);
        Owned {
            shards: self
                .shard_owners
                .iter()
                .filter(|(_, c)| mine(c))
                .map(|(s, c)| (*s, c.epoch))
                .collect(),
            binds: self
                .bind_owners
                .iter()
                .filter(|(_, c)| mine(c))
                .map(|(b, c)| (b.clone(), c.epoch))
                .collect(),
        }
    }

    /// Claims moved away from `node` that it has not released yet.
    pub fn handing_off(&self, node: u64) -> (Vec<u16>, Vec<BindSlot>) {
        let from = |c: &Claim| c.from == Some(node);
        (
            self.shard_owners
                .iter()
                .filter(|(_, c)| from(c))
                .map(|(s, _)| *s)
                .collect(),
            self.bind_owners
                .iter()
                .filter(|(_, c)| from(c))
                .map(|(b, _)| b.clone())
                .collect(),
        )
    }

    /// The owner of `shard`, if any.
    pub fn shard_owner(&self, shard: u16) -> Option<&Claim> {
        self.shard_owners.get(&shard)
    }

    /// The live nodes owning binds of `link`, with how many each.
    pub fn bind_holders(&self, link: &str) -> BTreeMap<u64, usize> {
        let mut holders = BTreeMap::new();
        for ((name, _), claim) in &self.bind_owners {
            if name == link && self.is_alive(claim.node) {
                *holders.entry(claim.node).or_default() += 1;
            }
        }
        holders
    }

    pub fn is_alive(&self, node: u64) -> bool {
        self.members.get(&node).is_some_and(|m| m.alive)
    }

    /// The live node that delivers to `account`: the lowest live one with a receiving
    /// bind of it.
    pub fn receiver_node(&self, account: &str) -> Option<u64> {
        self.members
            .iter()
            .find(|(_, m)| m.alive && m.receivers.contains(account))
            .map(|(id, _)| *id)
    }

    /// Whether `node` owns nothing and hands nothing off: safe to stop.
    pub fn is_drained(&self, node: u64) -> bool {
        let involved = |c: &Claim| c.node == node || c.from == Some(node);
        !self.shard_owners.values().any(involved) && !self.bind_owners.values().any(involved)
    }

    fn eligible(&self) -> Vec<u64> {
        self.members
            .iter()
            .filter(|(_, m)| m.alive && !m.draining)
            .map(|(id, _)| *id)
            .collect()
    }

    fn next_epoch(&mut self) -> u64 {
        self.epoch = self.epoch.saturating_add(1);
        self.epoch
    }
}

/// The bind count of a link's `[[upstream]]` table: its `binds` key, 1 when absent, 0
/// while the link is disabled.
pub fn bind_count(spec: &Spec) -> u16 {
    #[derive(Deserialize)]
    struct Binds {
        binds: Option<i64>,
    }
    if !spec.enabled {
        return 0;
    }
    match toml::from_str::<Binds>(&spec.toml) {
        Ok(Binds { binds: Some(n) }) => n.clamp(0, i64::from(MAX_BINDS)) as u16,
        _ => 1,
    }
}

/// A claim's new owner, and whether the old one must hand it off.
fn assign(claim: &mut Claim, node: u64, epoch: u64, at_ms: u64, handoff: bool) {
    // While a hand-off waits, its old owner may still act and the new one has not
    // started: the old one stays the one to wait for.
    let from = match claim.from {
        Some(from) if claim.since_ms > at_ms => from,
        _ => claim.node,
    };
    claim.node = node;
    claim.epoch = epoch;
    if handoff && from != node {
        claim.since_ms = at_ms + HANDOFF_MS;
        claim.from = Some(from);
    } else {
        claim.since_ms = at_ms;
        claim.from = None;
    }
}

/// Spreads `keys` over `nodes`: claims of nodes that are not eligible move to the least
/// loaded eligible ones, then single claims move from the most to the least loaded until
/// the spread is within one. `load` counts what each node already holds beyond these
/// keys, for tie-breaks. Returns the moves made as (key, new node, hand-off).
fn balance<K: Ord + Clone>(
    owners: &mut BTreeMap<K, Claim>,
    keys: &[K],
    eligible: &[u64],
    alive: &dyn Fn(u64) -> bool,
    load: &mut BTreeMap<u64, usize>,
) -> Vec<(K, u64, bool)> {
    if eligible.is_empty() {
        return Vec::new();
    }
    let mut held: BTreeMap<u64, Vec<K>> = eligible.iter().map(|n| (*n, Vec::new())).collect();
    let mut loose = Vec::new();
    for key in keys {
        match owners.get(key) {
            Some(claim) if held.contains_key(&claim.node) => {
                if let Some(v) = held.get_mut(&claim.node) {
                    v.push(key.clone());
                }
            }
            Some(claim) => loose.push((key.clone(), alive(claim.node))),
            None => loose.push((key.clone(), false)),
        }
    }
    // Ties go to the node with the least work of every kind, then the lowest id.
    let least = |held: &BTreeMap<u64, Vec<K>>, load: &BTreeMap<u64, usize>| {
        held.iter()
            .min_by_key(|(node, v)| (v.len(), load.get(*node).copied().unwrap_or(0), **node))
            .map(|(node, _)| *node)
    };
    let moved = |load: &mut BTreeMap<u64, usize>, from: Option<u64>, to: u64| {
        if let Some(n) = from.and_then(|f| load.get_mut(&f)) {
            *n = n.saturating_sub(1);
        }
        *load.entry(to).or_default() += 1;
    };
    let mut moves = Vec::new();
    for (key, from_live) in loose {
        if let Some(node) = least(&held, load) {
            if let Some(v) = held.get_mut(&node) {
                v.push(key.clone());
            }
            moved(load, owners.get(&key).map(|c| c.node), node);
            moves.push((key, node, from_live));
        }
    }
    while let Some(most) = held
        .iter()
        .max_by_key(|(node, v)| (v.len(), std::cmp::Reverse(**node)))
        .map(|(node, v)| (*node, v.len()))
    {
        let Some(low) = least(&held, load) else { break };
        let low_len = held.get(&low).map_or(0, Vec::len);
        if most.1 <= low_len + 1 {
            break;
        }
        let Some(key) = held.get_mut(&most.0).and_then(Vec::pop) else {
            break;
        };
        if let Some(v) = held.get_mut(&low) {
            v.push(key.clone());
        }
        moved(load, Some(most.0), low);
        moves.push((key, low, true));
    }
    moves
}

impl State {
    /// A node's heartbeat: renews its liveness (adding it when new), replaces its
    /// receivers when given, and spreads the work again when it joined or came back.
    pub(crate) fn heartbeat(
        &mut self,
        at_ms: u64,
        node: u64,
        shards: u16,
        receivers: Option<&[String]>,
    ) -> Result<Response, Refusal> {
        if shards == 0 {
            return Err(Refusal::Invalid("a node needs at least one shard".into()));
        }
        let cluster = &mut self.cluster;
        if cluster.shards == 0 {
            cluster.shards = shards;
        } else if cluster.shards != shards {
            return Err(Refusal::Invalid(format!(
                "node {node} has {shards} shards, the cluster {} (pipeline.shards must be the same on every node)",
                cluster.shards
            )));
        }
        let member = cluster.members.entry(node).or_insert_with(|| Liveness {
            renewed_ms: at_ms,
            alive: false,
            draining: false,
            changed_ms: at_ms,
            receivers: BTreeSet::new(),
        });
        member.renewed_ms = member.renewed_ms.max(at_ms);
        let joined = !member.alive;
        if joined {
            member.alive = true;
            member.changed_ms = at_ms;
        }
        if let Some(receivers) = receivers {
            member.receivers = receivers.iter().cloned().collect();
        }
        if joined {
            self.spread(at_ms);
        }
        Ok(Response::Ok)
    }

    /// Marks `node` draining (its work moves away) or not.
    pub(crate) fn drain(
        &mut self,
        at_ms: u64,
        node: u64,
        draining: bool,
    ) -> Result<Response, Refusal> {
        let member = self
            .cluster
            .members
            .get_mut(&node)
            .ok_or_else(|| Refusal::NotFound(format!("node {node}")))?;
        member.draining = draining;
        self.spread(at_ms);
        Ok(Response::Ok)
    }

    /// The old owner of the claims of `shards` and `binds` has stopped acting on them:
    /// their new owners may act at once. A release of a claim that moved on since
    /// (another epoch) changes nothing.
    pub(crate) fn release(
        &mut self,
        at_ms: u64,
        node: u64,
        shards: &[(u16, u64)],
        binds: &[(BindSlot, u64)],
    ) -> Response {
        let free = |claim: &mut Claim, epoch: u64| {
            if claim.epoch == epoch && claim.from == Some(node) {
                claim.from = None;
                claim.since_ms = claim.since_ms.min(at_ms);
            }
        };
        for (shard, epoch) in shards {
            if let Some(claim) = self.cluster.shard_owners.get_mut(shard) {
                free(claim, *epoch);
            }
        }
        for (slot, epoch) in binds {
            if let Some(claim) = self.cluster.bind_owners.get_mut(slot) {
                free(claim, *epoch);
            }
        }
        Response::Ok
    }

    /// Forgets a node that left the cluster for good; its work moves to the others.
    pub(crate) fn forget_node(&mut self, at_ms: u64, node: u64) -> Result<Response, Refusal> {
        self.cluster
            .members
            .remove(&node)
            .ok_or_else(|| Refusal::NotFound(format!("node {node}")))?;
        self.spread(at_ms);
        Ok(Response::Ok)
    }

    /// Marks nodes without a heartbeat for [`DEAD_AFTER_MS`] dead, and spreads their work.
    pub(crate) fn check_liveness(&mut self, at_ms: u64) {
        let mut died = false;
        for member in self.cluster.members.values_mut() {
            if member.alive && at_ms.saturating_sub(member.renewed_ms) > DEAD_AFTER_MS {
                member.alive = false;
                member.changed_ms = at_ms;
                died = true;
            }
        }
        // Hand-offs whose old owner died are free now: it stopped with its lease; so are
        // those whose time is up (see the timing argument).
        let cluster = &mut self.cluster;
        let dead: BTreeSet<u64> = cluster
            .members
            .iter()
            .filter(|(_, m)| !m.alive)
            .map(|(id, _)| *id)
            .collect();
        for claim in cluster
            .shard_owners
            .values_mut()
            .chain(cluster.bind_owners.values_mut())
        {
            let stale = claim.since_ms <= at_ms;
            if claim
                .from
                .is_some_and(|f| stale || dead.contains(&f) || !cluster.members.contains_key(&f))
            {
                claim.from = None;
                claim.since_ms = claim.since_ms.min(at_ms);
            }
        }
        if died {
            self.spread(at_ms);
        }
    }

    /// Spreads shards and bind slots over the eligible nodes, and drops the slots of
    /// links that are gone or have fewer binds now.
    pub(crate) fn spread(&mut self, at_ms: u64) {
        let slots: Vec<BindSlot> = self
            .links
            .values()
            .flat_map(|spec| (0..bind_count(spec)).map(|i| (spec.name.clone(), i)))
            .collect();
        let cluster = &mut self.cluster;
        let wanted: BTreeSet<&BindSlot> = slots.iter().collect();
        cluster.bind_owners.retain(|slot, _| wanted.contains(slot));
        let eligible = cluster.eligible();
        let members = cluster.members.clone();
        let alive = |node: u64| members.get(&node).is_some_and(|m| m.alive);
        let shards: Vec<u16> = (0..cluster.shards).collect();
        let mut load: BTreeMap<u64, usize> = BTreeMap::new();
        for claim in cluster
            .shard_owners
            .values()
            .chain(cluster.bind_owners.values())
        {
            *load.entry(claim.node).or_default() += 1;
        }
        let moves = balance(
            &mut cluster.shard_owners,
            &shards,
            &eligible,
            &alive,
            &mut load,
        );
        for (shard, node, handoff) in moves {
            let epoch = cluster.next_epoch();
            let claim = cluster.shard_owners.entry(shard).or_insert(Claim {
                node,
                epoch,
                since_ms: at_ms,
                from: None,
            });
            assign(claim, node, epoch, at_ms, handoff);
        }
        let mut links: BTreeMap<&str, Vec<BindSlot>> = BTreeMap::new();
        for slot in &slots {
            links.entry(slot.0.as_str()).or_default().push(slot.clone());
        }
        for link_slots in links.values() {
            let moves = balance(
                &mut cluster.bind_owners,
                link_slots,
                &eligible,
                &alive,
                &mut load,
            );
            for (slot, node, handoff) in moves {
                let epoch = cluster.next_epoch();
                let claim = cluster.bind_owners.entry(slot).or_insert(Claim {
                    node,
                    epoch,
                    since_ms: at_ms,
                    from: None,
                });
                assign(claim, node, epoch, at_ms, handoff);
            }
        }
        cluster.even_out(&eligible, at_ms);
    }
}

impl ClusterState {
    /// Moves single claims from the busiest eligible node to the idlest while their
    /// totals differ by more than one, taking only claims of a kind (the shards, or the
    /// binds of one link) the busy node holds more of than the idle one: each kind stays
    /// spread within one.
    fn even_out(&mut self, eligible: &[u64], at_ms: u64) {
        let limit = self.shard_owners.len() + self.bind_owners.len();
        for _ in 0..limit {
            let total = |node: u64| {
                self.shard_owners
                    .values()
                    .chain(self.bind_owners.values())
                    .filter(|c| c.node == node)
                    .count()
            };
            let Some(busy) = eligible
                .iter()
                .copied()
                .max_by_key(|n| (total(*n), std::cmp::Reverse(*n)))
            else {
                return;
            };
            let Some(idle) = eligible.iter().copied().min_by_key(|n| (total(*n), *n)) else {
                return;
            };
            if total(busy) <= total(idle) + 1 {
                return;
            }
            let shard_count = |node: u64| {
                self.shard_owners
                    .values()
                    .filter(|c| c.node == node)
                    .count()
            };
            let link_count = |node: u64, link: &str| {
                self.bind_owners
                    .iter()
                    .filter(|((l, _), c)| l == link && c.node == node)
                    .count()
            };
            let epoch = self.epoch + 1;
            if shard_count(busy) > shard_count(idle) {
                let shard = self
                    .shard_owners
                    .iter()
                    .rev()
                    .find(|(_, c)| c.node == busy)
                    .map(|(s, _)| *s);
                if let Some(claim) = shard.and_then(|s| self.shard_owners.get_mut(&s)) {
                    assign(claim, idle, epoch, at_ms, true);
                    self.epoch = epoch;
                    continue;
                }
            }
            let slot = self
                .bind_owners
                .iter()
                .rev()
                .find(|((link, _), c)| {
                    c.node == busy && link_count(busy, link) > link_count(idle, link)
                })
                .map(|(slot, _)| slot.clone());
            match slot.and_then(|s| self.bind_owners.get_mut(&s)) {
                Some(claim) => {
                    assign(claim, idle, epoch, at_ms, true);
                    self.epoch = epoch;
                }
                None => return,
            }
        }
    }
}

#[cfg(test)]
mod tests;
