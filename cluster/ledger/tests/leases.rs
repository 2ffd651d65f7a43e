//! Leases: granting what is available, cumulative settles, closing, reclaiming, and the
//! late settle that gives back what a reclaim counted too much.

mod common;

use common::*;
use tern_ledger::{Command, EventKind, Refusal, Response, State, LEASE_TOMBSTONE_MS};

#[test]
fn lease_grants_up_to_what_is_available() {
    let mut state = with_accounts(vec![(prepaid("a", Some(100)), 500)]);
    assert_eq!(
        ok(&mut state, T0, acquire(1, "a", 60, 300)),
        granted(60, 300)
    );
    assert_eq!(
        ok(&mut state, T0, acquire(2, "a", 60, 300)),
        granted(40, 200)
    );
    let ledger = &state.accounts["a"].ledger;
    assert_eq!((ledger.reserved_parts, ledger.reserved_amount), (100, 500));
    assert_eq!(state.leases[&2].granted_parts, 40);
    assert_eq!(state.leases[&2].expires_ms, T0 + TTL);
}

#[test]
fn unlimited_and_unmetered_accounts_grant_what_is_asked() {
    let mut state = with_accounts(vec![(spec("free"), 0)]);
    assert_eq!(
        ok(&mut state, T0, acquire(1, "free", 1_000, 9_999)),
        granted(1_000, 9_999)
    );
    assert_eq!(
        state.available("free", T0).unwrap(),
        tern_ledger::Available {
            parts: None,
            amount: None
        }
    );
}

#[test]
fn parts_and_money_are_granted_independently() {
    let mut state = with_accounts(vec![(prepaid("a", Some(10)), 5)]);
    assert_eq!(ok(&mut state, T0, acquire(1, "a", 8, 50)), granted(8, 5));
}

#[test]
fn zero_grant_records_no_lease() {
    let mut state = with_accounts(vec![(prepaid("a", Some(10)), 0)]);
    ok(&mut state, T0, acquire(1, "a", 10, 0));
    assert_eq!(ok(&mut state, T0, acquire(2, "a", 5, 0)), granted(0, 0));
    assert!(!state.leases.contains_key(&2));
}

#[test]
fn disabled_account_is_granted_nothing() {
    let mut disabled = prepaid("a", Some(10));
    disabled.enabled = false;
    let mut state = with_accounts(vec![(disabled, 100)]);
    assert_eq!(ok(&mut state, T0, acquire(1, "a", 5, 10)), granted(0, 0));
    assert!(state.leases.is_empty());
    assert_eq!(state.accounts["a"].ledger.reserved_parts, 0);
}

#[test]
fn retried_acquire_returns_the_same_grant_once() {
    let mut state = with_accounts(vec![(prepaid("a", Some(100)), 500)]);
    ok(&mut state, T0, acquire(7, "a", 30, 100));
    let before = state.clone();
    assert_eq!(
        ok(&mut state, T0 + 5, acquire(7, "a", 30, 100)),
        granted(30, 100)
    );
    assert_eq!(state, before);
}

#[test]
fn acquire_of_an_ended_lease_grants_nothing() {
    let mut state = with_accounts(vec![(prepaid("a", Some(100)), 500)]);
    ok(&mut state, T0, acquire(7, "a", 30, 100));
    ok(&mut state, T0, settle(7, 3, 10, true));
    let before = state.clone();
    assert_eq!(ok(&mut state, T0, acquire(7, "a", 30, 100)), granted(0, 0));
    assert_eq!(state, before);
}

#[test]
fn acquire_refusals() {
    let mut state = with_accounts(vec![(prepaid("a", Some(100)), 500), (spec("b"), 0)]);
    ok(&mut state, T0, acquire(1, "a", 1, 1));
    let before = state.clone();
    let r = state.apply(&at(T0, acquire(2, "nobody", 1, 1)));
    assert!(matches!(r, Response::Refused(Refusal::NotFound(_))));
    let r = state.apply(&at(T0, acquire(2, "a", 1, -1)));
    assert!(matches!(r, Response::Refused(Refusal::Invalid(_))));
    let r = state.apply(&at(T0, acquire(1, "b", 1, 1)));
    assert!(matches!(r, Response::Refused(Refusal::Invalid(_))));
    assert_eq!(state, before);
}

#[test]
fn settle_counts_growth_of_cumulative_use_once() {
    let mut state = with_accounts(vec![(prepaid("a", Some(100)), 500)]);
    ok(&mut state, T0, acquire(1, "a", 50, 200));
    assert_eq!(
        ok(&mut state, T0 + 1_000, settle(1, 10, 40, false)),
        settled(10, 40)
    );
    let once = state.clone();
    assert_eq!(
        ok(&mut state, T0 + 1_000, settle(1, 10, 40, false)),
        settled(10, 40)
    );
    assert_eq!(state, once);
    // An older report arriving late changes nothing.
    assert_eq!(
        ok(&mut state, T0 + 900, settle(1, 4, 16, false)),
        settled(10, 40)
    );
    assert_eq!(state, once);
    ok(&mut state, T0 + 2_000, settle(1, 25, 100, false));
    let ledger = &state.accounts["a"].ledger;
    assert_eq!(ledger.period_used, 25);
    assert_eq!(ledger.parts_total, 25);
    assert_eq!(ledger.reserved_parts, 25);
    assert_eq!(ledger.balance, 400);
    assert_eq!(ledger.spent_total, 100);
    assert_eq!(ledger.reserved_amount, 100);
    assert_eq!(state.leases[&1].expires_ms, T0 + 2_000 + TTL);
}

#[test]
fn settle_above_the_grant_is_clamped_to_it() {
    let mut state = with_accounts(vec![(prepaid("a", Some(100)), 500)]);
    ok(&mut state, T0, acquire(1, "a", 10, 50));
    assert_eq!(
        ok(&mut state, T0, settle(1, 15, 80, false)),
        settled(10, 50)
    );
    let ledger = &state.accounts["a"].ledger;
    assert_eq!((ledger.period_used, ledger.reserved_parts), (10, 0));
    assert_eq!((ledger.balance, ledger.reserved_amount), (450, 0));
}

#[test]
fn close_releases_the_rest_and_leaves_a_tombstone() {
    let mut state = with_accounts(vec![(prepaid("a", Some(100)), 500)]);
    ok(&mut state, T0, acquire(1, "a", 50, 200));
    assert_eq!(
        ok(&mut state, T0 + 10, settle(1, 20, 80, true)),
        settled(20, 80)
    );
    assert!(state.leases.is_empty());
    let tomb = &state.tombstones[&1];
    assert!(!tomb.reclaimed);
    assert_eq!((tomb.counted_parts, tomb.counted_amount), (20, 80));
    assert_eq!(tomb.forget_at_ms, T0 + 10 + LEASE_TOMBSTONE_MS);
    let ledger = &state.accounts["a"].ledger;
    assert_eq!((ledger.reserved_parts, ledger.reserved_amount), (0, 0));
    assert_eq!((ledger.period_used, ledger.balance), (20, 420));
    // The close retried: nothing changes, the same answer comes back.
    let closed = state.clone();
    assert_eq!(
        ok(&mut state, T0 + 20, settle(1, 20, 80, true)),
        settled(20, 80)
    );
    // A stale settle that is not closing is told the lease ended.
    assert_eq!(
        ok(&mut state, T0 + 20, settle(1, 5, 5, false)),
        Response::Ended {
            counted_parts: 20,
            counted_amount: 80
        }
    );
    assert_eq!(state, closed);
}

#[test]
fn settle_refusals() {
    let mut state = with_accounts(vec![(prepaid("a", Some(100)), 500)]);
    ok(&mut state, T0, acquire(1, "a", 50, 200));
    let before = state.clone();
    let r = state.apply(&at(T0, settle(2, 1, 1, false)));
    assert!(matches!(r, Response::Refused(Refusal::NotFound(_))));
    let r = state.apply(&at(T0, settle(1, 1, -1, false)));
    assert!(matches!(r, Response::Refused(Refusal::Invalid(_))));
    assert_eq!(state, before);
}

#[test]
fn tick_reclaims_expired_leases_in_full() {
    let mut state = with_accounts(vec![(prepaid("a", Some(100)), 500)]);
    ok(&mut state, T0, acquire((3 << 48) | 1, "a", 50, 200));
    ok(&mut state, T0 + 1, settle((3 << 48) | 1, 10, 40, false));
    let lease = (3 << 48) | 1;
    ok(&mut state, T0 + TTL, Command::Tick);
    assert!(
        state.leases.contains_key(&lease),
        "expiry is at_ms + ttl of the settle"
    );
    ok(&mut state, T0 + 1 + TTL, Command::Tick);
    assert!(state.leases.is_empty());
    let ledger = &state.accounts["a"].ledger;
    assert_eq!((ledger.period_used, ledger.reserved_parts), (50, 0));
    assert_eq!((ledger.balance, ledger.spent_total), (300, 200));
    let tomb = &state.tombstones[&lease];
    assert!(tomb.reclaimed);
    assert_eq!((tomb.counted_parts, tomb.counted_amount), (50, 200));
    let reclaimed: Vec<_> = state
        .events
        .iter()
        .filter(|e| matches!(e.kind, EventKind::LeaseReclaimed { .. }))
        .collect();
    assert_eq!(reclaimed.len(), 1);
    assert_eq!(
        reclaimed[0].kind,
        EventKind::LeaseReclaimed { lease, node: 3 }
    );
}

#[test]
fn late_settle_after_reclaim_refunds_the_difference_once() {
    let mut state = with_accounts(vec![(prepaid("a", Some(100)), 500)]);
    ok(&mut state, T0, acquire(1, "a", 50, 200));
    ok(&mut state, T0 + 1, settle(1, 10, 40, false));
    ok(&mut state, T0 + 1 + TTL, Command::Tick);
    let t = T0 + 2 + TTL;
    // The node reports 30 parts and 120 used: 20 and 80 come back.
    assert_eq!(
        ok(&mut state, t, settle(1, 30, 120, true)),
        settled(30, 120)
    );
    let ledger = &state.accounts["a"].ledger;
    assert_eq!((ledger.period_used, ledger.parts_total), (30, 30));
    assert_eq!((ledger.balance, ledger.spent_total), (380, 120));
    let refunded = state.clone();
    assert_eq!(
        ok(&mut state, t, settle(1, 30, 120, true)),
        settled(30, 120)
    );
    assert_eq!(
        ok(&mut state, t + 5, settle(1, 0, 0, true)),
        settled(30, 120)
    );
    assert_eq!(state, refunded);
}

#[test]
fn late_settle_never_refunds_below_what_was_reported_before() {
    let mut state = with_accounts(vec![(prepaid("a", Some(100)), 500)]);
    ok(&mut state, T0, acquire(1, "a", 50, 200));
    ok(&mut state, T0 + 1, settle(1, 10, 40, false));
    ok(&mut state, T0 + 1 + TTL, Command::Tick);
    // A stale closing report below the 10/40 already settled only refunds down to 10/40.
    assert_eq!(
        ok(&mut state, T0 + 2 + TTL, settle(1, 2, 8, true)),
        settled(10, 40)
    );
    let ledger = &state.accounts["a"].ledger;
    assert_eq!((ledger.period_used, ledger.balance), (10, 460));
}

#[test]
fn tombstones_are_forgotten_after_a_day() {
    let mut state = with_accounts(vec![(prepaid("a", None), 500)]);
    ok(&mut state, T0, acquire(1, "a", 5, 5));
    ok(&mut state, T0, settle(1, 5, 5, true));
    ok(&mut state, T0 + LEASE_TOMBSTONE_MS - 1, Command::Tick);
    assert!(state.tombstones.contains_key(&1));
    ok(&mut state, T0 + LEASE_TOMBSTONE_MS, Command::Tick);
    assert!(state.tombstones.is_empty());
    let r = state.apply(&at(T0 + LEASE_TOMBSTONE_MS, settle(1, 5, 5, true)));
    assert!(matches!(r, Response::Refused(Refusal::NotFound(_))));
}

#[test]
fn settle_after_a_period_roll_counts_in_the_new_period() {
    let mut state = with_accounts(vec![(prepaid("a", Some(100)), 500)]);
    let evening = utc(2026, 1, 15, 23, 59, 0);
    ok(&mut state, evening, acquire(1, "a", 60, 0));
    ok(&mut state, evening, settle(1, 40, 0, false));
    let morning = utc(2026, 1, 16, 0, 0, 10);
    ok(&mut state, morning, settle(1, 50, 0, true));
    let ledger = &state.accounts["a"].ledger;
    assert_eq!(ledger.period_start_ms, utc(2026, 1, 16, 0, 0, 0));
    assert_eq!(
        (
            ledger.period_used,
            ledger.parts_total,
            ledger.reserved_parts
        ),
        (10, 50, 0)
    );
}

#[test]
fn a_fresh_state_refuses_nothing_it_should_not() {
    let mut state = State::default();
    let r = state.apply(&at(T0, Command::Tick));
    assert_eq!(r, Response::Ok);
    assert!(refused(&state.apply(&at(T0, settle(1, 0, 0, false)))));
}

#[test]
fn standing_tells_what_leases_hold_from_what_is_used_and_a_recall_is_seen_then_forgotten() {
    let mut state = with_accounts(vec![(prepaid("a", Some(100)), 500)]);
    ok(&mut state, T0, acquire(1, "a", 60, 300));
    ok(&mut state, T0, settle(1, 10, 50, false));
    let standing = state.standing("a", T0).unwrap();
    // 10 used: 90 could be had once the lease gives back its 50 unused parts.
    assert_eq!(standing.parts_unbooked, Some(90));
    assert_eq!(standing.parts_free, Some(40));
    assert_eq!(standing.amount_unbooked, Some(450));
    assert_eq!(standing.amount_free, Some(200));
    assert_eq!(standing.recall, None);
    let recall = Command::Recall {
        account: "a".into(),
        node: 2,
    };
    assert_eq!(ok(&mut state, T0 + 5, recall), Response::Ok);
    let seen = state.standing("a", T0 + 5).unwrap().recall.unwrap();
    assert_eq!((seen.at_ms, seen.node), (T0 + 5, 2));
    // Kept for the other nodes' next ticks, then forgotten by the leader's tick.
    ok(&mut state, T0 + 1_000, Command::Tick);
    assert!(state.recalls.contains_key("a"));
    ok(
        &mut state,
        T0 + 5 + tern_ledger::RECALL_KEEP_MS,
        Command::Tick,
    );
    assert!(state.recalls.is_empty());
    let unknown = Command::Recall {
        account: "nobody".into(),
        node: 2,
    };
    assert!(refused(&state.apply(&at(T0, unknown))));
}

#[test]
fn a_nodes_unsettled_leases_are_its_open_and_reclaimed_ones() {
    let mut state = with_accounts(vec![(prepaid("a", Some(100)), 500)]);
    for lease in [1, 2, 3] {
        ok(&mut state, T0, acquire(lease, "a", 10, 0));
    }
    ok(&mut state, T0, settle(1, 5, 0, true));
    // Lease 2 is reclaimed in full after its time; lease 3 is settled later, still open.
    ok(&mut state, T0 + 20_000, settle(3, 1, 0, false));
    ok(&mut state, T0 + TTL, Command::Tick);
    let mut listed = state.unsettled_leases(|id| id != 3);
    listed.sort();
    assert_eq!(listed, vec![(2, "a".to_string())]);
    let mut all = state.unsettled_leases(|_| true);
    all.sort();
    assert_eq!(all, vec![(2, "a".to_string()), (3, "a".to_string())]);
    // The late settle of the reclaimed lease gives back what it did not use, and it is
    // no longer listed.
    ok(&mut state, T0 + TTL, settle(2, 4, 0, true));
    assert_eq!(state.unsettled_leases(|id| id != 3), vec![]);
    assert_eq!(state.accounts["a"].ledger.period_used, 5 + 4 + 1);
}

#[test]
fn a_lease_reclaimed_while_in_use_is_told_it_ended_and_its_final_use_is_counted() {
    let mut state = with_accounts(vec![(prepaid("a", Some(100)), 500)]);
    let lease = (3 << 48) | 7;
    ok(&mut state, T0, acquire(lease, "a", 50, 0));
    ok(&mut state, T0 + 1, settle(lease, 10, 0, false));
    // Not settled within its TTL (the node paused, or its clock ran ahead): reclaimed in
    // full.
    ok(&mut state, T0 + 1 + TTL, Command::Tick);
    assert_eq!(state.accounts["a"].ledger.period_used, 50);
    // The node still spends from it; a settle that is not closing is told it ended, and
    // nothing is given back yet.
    let r = ok(&mut state, T0 + 2 + TTL, settle(lease, 20, 0, false));
    assert_eq!(
        r,
        Response::Ended {
            counted_parts: 50,
            counted_amount: 0
        }
    );
    assert_eq!(state.accounts["a"].ledger.period_used, 50);
    // It closes the lease with its final use, which is what the ledger counts.
    let r = ok(&mut state, T0 + 3 + TTL, settle(lease, 27, 0, true));
    assert_eq!(r, settled(27, 0));
    assert_eq!(state.accounts["a"].ledger.period_used, 27);
    assert_eq!(state.accounts["a"].ledger.reserved_parts, 0);
    // Later copies change nothing.
    assert_eq!(
        ok(&mut state, T0 + 4 + TTL, settle(lease, 27, 0, true)),
        settled(27, 0)
    );
    assert_eq!(state.accounts["a"].ledger.period_used, 27);
}
