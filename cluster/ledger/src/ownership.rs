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
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::{Command, Request};

    fn run(state: &mut State, at_ms: u64, command: Command) -> Response {
        state.apply(&Request {
            at_ms,
            audit: None,
            command,
        })
    }

    fn beat(state: &mut State, at_ms: u64, node: u64) -> Response {
        run(
            state,
            at_ms,
            Command::Heartbeat {
                node,
                shards: 8,
                receivers: None,
            },
        )
    }

    fn link(name: &str, binds: Option<u16>) -> Spec {
        Spec {
            name: name.into(),
            toml: match binds {
                Some(n) => format!("name = \"{name}\"\nurl = \"smpp://u:p@h:1\"\nbinds = {n}\n"),
                None => format!("name = \"{name}\"\nurl = \"smpp://u:p@h:1\"\n"),
            },
            enabled: true,
        }
    }

    /// Three nodes, a link with one bind and one with four.
    fn three() -> State {
        let mut state = State::default();
        for spec in [link("one", None), link("four", Some(4))] {
            assert_eq!(run(&mut state, 1, Command::PutLink { spec }), Response::Ok);
        }
        for node in 1..=3 {
            assert_eq!(beat(&mut state, 1_000, node), Response::Ok);
        }
        release_all(&mut state, 1_000, 1);
        state
    }

    /// The node lets go of everything it hands off.
    fn release_all(state: &mut State, at_ms: u64, node: u64) {
        let (shards, slots) = state.cluster.handing_off(node);
        let shards = shards
            .iter()
            .map(|s| (*s, state.cluster.shard_owners[s].epoch))
            .collect();
        let binds = slots
            .iter()
            .map(|b| (b.clone(), state.cluster.bind_owners[b].epoch))
            .collect();
        run(
            state,
            at_ms,
            Command::Release {
                node,
                shards,
                binds,
            },
        );
    }

    fn shard_counts(state: &State) -> BTreeMap<u64, usize> {
        let mut counts = BTreeMap::new();
        for claim in state.cluster.shard_owners.values() {
            *counts.entry(claim.node).or_default() += 1;
        }
        counts
    }

    #[test]
    fn work_is_spread_evenly_and_each_link_has_its_binds() {
        let state = three();
        let cluster = &state.cluster;
        assert_eq!(cluster.shard_owners.len(), 8);
        let counts: Vec<usize> = shard_counts(&state).into_values().collect();
        assert!(counts.iter().all(|c| (2..=3).contains(c)), "{counts:?}");
        assert_eq!(cluster.bind_holders("one").values().sum::<usize>(), 1);
        let four = cluster.bind_holders("four");
        assert_eq!(four.values().sum::<usize>(), 4);
        assert_eq!(four.len(), 3, "four binds over three nodes: {four:?}");
    }

    #[test]
    fn a_dead_nodes_work_moves_at_once_after_the_dead_time() {
        let mut state = three();
        let before = state.cluster.owned_by(2, 1_000);
        assert!(!before.shards.is_empty());
        let epoch = state.cluster.epoch;
        // Nodes 1 and 3 keep beating; node 2 stops after t = 1 s.
        let mut t = 1_000;
        while t <= 1_000 + DEAD_AFTER_MS {
            t += 1_000;
            beat(&mut state, t, 1);
            beat(&mut state, t, 3);
            run(&mut state, t, Command::Tick);
            if t <= 1_000 + DEAD_AFTER_MS {
                assert!(state.cluster.is_alive(2), "alive at {t}");
            }
        }
        t += 1_000;
        beat(&mut state, t, 1);
        run(&mut state, t, Command::Tick);
        assert!(!state.cluster.is_alive(2));
        let now = state.cluster.owned_by(2, t);
        assert!(now.shards.is_empty() && now.binds.is_empty());
        for shard in before.shards.keys() {
            let claim = &state.cluster.shard_owners[shard];
            assert!(claim.node == 1 || claim.node == 3);
            assert!(claim.epoch > epoch);
            assert_eq!(claim.from, None, "a dead node's work needs no hand-off");
            assert!(claim.since_ms <= t);
        }
        assert_eq!(
            state.cluster.bind_holders("four").values().sum::<usize>(),
            4
        );
        assert_eq!(state.cluster.bind_holders("one").values().sum::<usize>(), 1);
    }

    #[test]
    fn a_joining_node_gets_work_by_hand_off_or_release() {
        let mut state = State::default();
        run(
            &mut state,
            1,
            Command::PutLink {
                spec: link("four", Some(4)),
            },
        );
        beat(&mut state, 1_000, 1);
        assert_eq!(state.cluster.owned_by(1, 1_000).shards.len(), 8);
        beat(&mut state, 2_000, 2);
        let moved: Vec<(u16, Claim)> = state
            .cluster
            .shard_owners
            .iter()
            .filter(|(_, c)| c.node == 2)
            .map(|(s, c)| (*s, c.clone()))
            .collect();
        assert_eq!(moved.len(), 4);
        for (_, claim) in &moved {
            assert_eq!(claim.from, Some(1));
            assert_eq!(claim.since_ms, 2_000 + HANDOFF_MS);
        }
        // Not yet for the new owner; node 1 no longer counts them as its own.
        assert!(state.cluster.owned_by(2, 2_500).shards.is_empty());
        assert_eq!(state.cluster.owned_by(1, 2_500).shards.len(), 4);
        // A clock stepped back an hour stops no node acting on the claims it holds
        // outright; one in a hand-off still waits.
        assert_eq!(state.cluster.owned_by(1, 0).shards.len(), 4);
        assert!(state.cluster.owned_by(2, 0).shards.is_empty());
        assert_eq!(state.cluster.handing_off(1).0.len(), 4);
        // Node 1 releases one (a stale epoch changes nothing).
        let (shard, claim) = &moved[0];
        run(
            &mut state,
            2_600,
            Command::Release {
                node: 1,
                shards: vec![(*shard, claim.epoch - 1)],
                binds: vec![],
            },
        );
        assert!(state.cluster.owned_by(2, 2_700).shards.is_empty());
        run(
            &mut state,
            2_600,
            Command::Release {
                node: 1,
                shards: vec![(*shard, claim.epoch)],
                binds: vec![],
            },
        );
        assert_eq!(state.cluster.owned_by(2, 2_700).shards.len(), 1);
        // The rest when the hand-off time is up.
        assert_eq!(
            state.cluster.owned_by(2, 2_000 + HANDOFF_MS).shards.len(),
            4
        );
    }

    #[test]
    fn a_drained_node_ends_with_nothing_once_it_released() {
        let mut state = three();
        assert_eq!(
            run(
                &mut state,
                2_000,
                Command::Drain {
                    node: 3,
                    draining: true
                }
            ),
            Response::Ok
        );
        assert!(state.cluster.owned_by(3, 2_000).shards.is_empty());
        assert!(!state.cluster.is_drained(3), "hand-offs pending");
        release_all(&mut state, 2_100, 3);
        assert!(state.cluster.is_drained(3));
        let counts = shard_counts(&state);
        assert_eq!(counts.get(&3), None);
        assert_eq!(counts.values().sum::<usize>(), 8);
        assert_eq!(
            state.cluster.bind_holders("four").values().sum::<usize>(),
            4
        );
        // Undrained, it gets work again.
        run(
            &mut state,
            3_000,
            Command::Drain {
                node: 3,
                draining: false,
            },
        );
        assert!(shard_counts(&state).contains_key(&3));
    }

    #[test]
    fn little_work_still_reaches_every_node() {
        let mut state = State::default();
        run(
            &mut state,
            1,
            Command::PutLink {
                spec: link("two", Some(2)),
            },
        );
        for node in 1..=3 {
            run(
                &mut state,
                1_000,
                Command::Heartbeat {
                    node,
                    shards: 2,
                    receivers: None,
                },
            );
        }
        let busy: BTreeSet<u64> = state
            .cluster
            .shard_owners
            .values()
            .chain(state.cluster.bind_owners.values())
            .map(|c| c.node)
            .collect();
        assert_eq!(busy.len(), 3, "{:?}", state.cluster);
    }

    #[test]
    fn a_node_with_another_shard_count_is_refused() {
        let mut state = three();
        let response = run(
            &mut state,
            2_000,
            Command::Heartbeat {
                node: 4,
                shards: 16,
                receivers: None,
            },
        );
        assert!(
            matches!(response, Response::Refused(Refusal::Invalid(_))),
            "{response:?}"
        );
        assert!(!state.cluster.members.contains_key(&4));
    }

    #[test]
    fn bind_counts_follow_the_links() {
        assert_eq!(bind_count(&link("a", None)), 1);
        assert_eq!(bind_count(&link("a", Some(3))), 3);
        assert_eq!(bind_count(&link("a", Some(500))), MAX_BINDS);
        let mut off = link("a", Some(3));
        off.enabled = false;
        assert_eq!(bind_count(&off), 0);
        let mut state = three();
        run(
            &mut state,
            2_000,
            Command::PutLink {
                spec: link("four", Some(2)),
            },
        );
        assert_eq!(
            state.cluster.bind_holders("four").values().sum::<usize>(),
            2
        );
        run(
            &mut state,
            2_000,
            Command::DeleteLink { name: "one".into() },
        );
        assert!(state.cluster.bind_holders("one").is_empty());
    }

    #[test]
    fn receivers_name_the_lowest_live_node() {
        let mut state = three();
        for node in [3, 2] {
            run(
                &mut state,
                2_000,
                Command::Heartbeat {
                    node,
                    shards: 8,
                    receivers: Some(vec!["acme".into()]),
                },
            );
        }
        assert_eq!(state.cluster.receiver_node("acme"), Some(2));
        assert_eq!(state.cluster.receiver_node("other"), None);
    }

    #[derive(Debug, Clone)]
    enum Step {
        Beat(u64),
        Tick,
        Drain(u64, bool),
        ReleaseAll(u64),
        Binds(u16),
        Advance(u64),
    }

    fn step() -> impl Strategy<Value = Step> {
        prop_oneof![
            4 => (1u64..=4).prop_map(Step::Beat),
            2 => Just(Step::Tick),
            1 => ((1u64..=4), any::<bool>()).prop_map(|(n, d)| Step::Drain(n, d)),
            1 => (1u64..=4).prop_map(Step::ReleaseAll),
            1 => (0u16..=6).prop_map(Step::Binds),
            2 => (100u64..4_000).prop_map(Step::Advance),
        ]
    }

    proptest! {
        /// Whatever happens, every shard and every bind slot has exactly one owner among
        /// the known nodes, a link never has more slots than its binds, and the owner that
        /// is waiting for a hand-off is never the node it waits for.
        #[test]
        fn ownership_stays_whole(steps in proptest::collection::vec(step(), 1..120)) {
            let mut state = State::default();
            run(&mut state, 0, Command::PutLink { spec: link("l", Some(3)) });
            let mut t = 1_000u64;
            let mut binds = 3u16;
            for step in steps {
                match step {
                    Step::Beat(n) => { beat(&mut state, t, n); }
                    Step::Tick => { run(&mut state, t, Command::Tick); }
                    Step::Drain(n, d) => { run(&mut state, t, Command::Drain { node: n, draining: d }); }
                    Step::ReleaseAll(n) => release_all(&mut state, t, n),
                    Step::Binds(n) => {
                        binds = n;
                        run(&mut state, t, Command::PutLink { spec: link("l", Some(n)) });
                    }
                    Step::Advance(ms) => t += ms,
                }
                let cluster = &state.cluster;
                if cluster.members.values().any(|m| m.alive && !m.draining) {
                    prop_assert_eq!(cluster.shard_owners.len(), 8);
                    prop_assert_eq!(cluster.bind_owners.len(), usize::from(binds));
                }
                for claim in cluster.shard_owners.values().chain(cluster.bind_owners.values()) {
                    prop_assert!(cluster.members.contains_key(&claim.node));
                    prop_assert_ne!(claim.from, Some(claim.node));
                    prop_assert!(claim.epoch <= cluster.epoch);
                }
                let epochs: BTreeSet<u64> = cluster.shard_owners.values().chain(cluster.bind_owners.values()).map(|c| c.epoch).collect();
                prop_assert_eq!(epochs.len(), cluster.shard_owners.len() + cluster.bind_owners.len());
                // While any node is alive and not draining, no live work sits on a dead node.
                if cluster.members.values().any(|m| m.alive && !m.draining) {
                    for claim in cluster.shard_owners.values() {
                        prop_assert!(cluster.is_alive(claim.node));
                    }
                }
            }
        }
    }
}
