//! The notifier's record of webhook deliveries: per event and webhook, attempts only grow,
//! an end (delivered, given up) is kept, and the record goes with its event.

mod common;

use common::*;
use tern_ledger::{Command, Delivery, DeliveryRecord, DeliveryState, State, EVENTS_KEEP};

/// A state with `n` lease-reclaimed events, numbered from 1.
fn with_events(n: u64) -> State {
    let mut state = with_accounts(vec![(spec("a"), 0)]);
    for lease in 0..n {
        ok(
            &mut state,
            T0,
            Command::AcquireLease {
                lease,
                account: "a".into(),
                node: 1,
                parts: 1,
                amount: 0,
                ttl_ms: 0,
            },
        );
    }
    ok(&mut state, T0, Command::Tick);
    state
}

fn record(seq: u64, hook: &str, state: DeliveryState, attempts: u32) -> DeliveryRecord {
    DeliveryRecord {
        seq,
        hook: hook.into(),
        delivery: Delivery {
            state,
            attempts,
            first_at_ms: T0,
            last_at_ms: T0 + u64::from(attempts),
            next_at_ms: if state == DeliveryState::Pending {
                T0 + 1_000
            } else {
                0
            },
            error: String::new(),
        },
    }
}

fn apply(state: &mut State, records: Vec<DeliveryRecord>) {
    ok(state, T0, Command::RecordDeliveries { records });
}

#[test]
fn a_delivery_moves_forward_only() {
    let mut state = with_events(2);
    apply(&mut state, vec![record(1, "h", DeliveryState::Pending, 2)]);
    // A late record of an earlier try does not take attempts back.
    apply(&mut state, vec![record(1, "h", DeliveryState::Pending, 1)]);
    assert_eq!(state.deliveries[&1]["h"].attempts, 2);
    apply(
        &mut state,
        vec![record(1, "h", DeliveryState::Delivered, 3)],
    );
    // Once delivered, a pending record (a former leader's) changes nothing.
    apply(&mut state, vec![record(1, "h", DeliveryState::Pending, 4)]);
    assert_eq!(state.deliveries[&1]["h"].state, DeliveryState::Delivered);
    assert_eq!(state.deliveries[&1]["h"].attempts, 3);
    apply(&mut state, vec![record(2, "h", DeliveryState::GaveUp, 9)]);
    apply(
        &mut state,
        vec![record(2, "h", DeliveryState::Delivered, 10)],
    );
    assert_eq!(state.deliveries[&2]["h"].state, DeliveryState::GaveUp);
}

#[test]
fn records_of_unknown_events_are_ignored() {
    let mut state = with_events(1);
    apply(
        &mut state,
        vec![
            record(0, "h", DeliveryState::Pending, 1),
            record(2, "h", DeliveryState::Pending, 1),
        ],
    );
    assert!(state.deliveries.is_empty());
}

#[test]
fn records_go_with_their_events() {
    let mut state = with_events(EVENTS_KEEP as u64);
    apply(&mut state, vec![record(1, "h", DeliveryState::Pending, 1)]);
    assert!(state.deliveries.contains_key(&1));
    // Five more events push the first five out.
    for lease in 0..5u64 {
        ok(
            &mut state,
            T0 + 1,
            Command::AcquireLease {
                lease: 1_000_000 + lease,
                account: "a".into(),
                node: 1,
                parts: 1,
                amount: 0,
                ttl_ms: 0,
            },
        );
    }
    ok(&mut state, T0 + 1, Command::Tick);
    apply(
        &mut state,
        vec![record(7, "h", DeliveryState::Delivered, 1)],
    );
    assert!(!state.deliveries.contains_key(&1));
    assert_eq!(
        state.deliveries.keys().copied().collect::<Vec<_>>(),
        vec![7]
    );
}
