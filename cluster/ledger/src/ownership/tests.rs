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
