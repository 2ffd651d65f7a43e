//! Limit periods on the UTC calendar, message thresholds within a period, and the event
//! queue the notifier reads and acknowledges.

mod common;

use common::*;
use tern_ledger::{Available, Command, EventKind, State, EVENTS_KEEP};

/// An account that used 70 of 100 parts (day period unless `monthly`) at `at_ms`.
fn used_70(account: tern_ledger::AccountSpec, at_ms: u64) -> State {
    let mut state = State::default();
    ok(&mut state, at_ms, create(account, 1_000));
    ok(&mut state, at_ms, acquire(1, "a", 70, 0));
    ok(&mut state, at_ms, settle(1, 70, 0, true));
    state
}

#[test]
fn day_period_rolls_at_utc_midnight() {
    let last_second = utc(2026, 1, 31, 23, 59, 59);
    let mut state = used_70(prepaid("a", Some(100)), last_second);
    ok(&mut state, last_second + 999, Command::Tick);
    assert_eq!(state.accounts["a"].ledger.period_used, 70);
    let midnight = utc(2026, 2, 1, 0, 0, 0);
    ok(&mut state, midnight, Command::Tick);
    let ledger = &state.accounts["a"].ledger;
    assert_eq!(ledger.period_used, 0);
    assert_eq!(ledger.parts_total, 70);
    assert_eq!(ledger.period_start_ms, midnight);
}

#[test]
fn month_period_rolls_on_the_first() {
    let last_second = utc(2026, 1, 31, 23, 59, 59);
    let mut state = used_70(monthly(prepaid("a", Some(100))), utc(2026, 1, 10, 8, 0, 0));
    ok(&mut state, last_second, Command::Tick);
    assert_eq!(state.accounts["a"].ledger.period_used, 70);
    assert_eq!(
        state.accounts["a"].ledger.period_start_ms,
        utc(2026, 1, 1, 0, 0, 0)
    );
    ok(&mut state, utc(2026, 2, 1, 0, 0, 0), Command::Tick);
    assert_eq!(state.accounts["a"].ledger.period_used, 0);
    assert_eq!(
        state.accounts["a"].ledger.period_start_ms,
        utc(2026, 2, 1, 0, 0, 0)
    );
}

#[test]
fn month_period_knows_leap_years() {
    let mut state = used_70(monthly(prepaid("a", Some(100))), utc(2024, 2, 3, 0, 0, 0));
    ok(&mut state, utc(2024, 2, 29, 23, 59, 59), Command::Tick);
    assert_eq!(state.accounts["a"].ledger.period_used, 70);
    ok(&mut state, utc(2024, 3, 1, 0, 0, 0), Command::Tick);
    assert_eq!(state.accounts["a"].ledger.period_used, 0);
    assert_eq!(
        state.accounts["a"].ledger.period_start_ms,
        utc(2024, 3, 1, 0, 0, 0)
    );
}

#[test]
fn an_acquire_in_a_new_period_rolls_first() {
    let evening = utc(2026, 3, 9, 22, 0, 0);
    let mut state = used_70(prepaid("a", Some(100)), evening);
    assert_eq!(
        ok(&mut state, evening, acquire(2, "a", 50, 0)),
        granted(30, 0)
    );
    let morning = utc(2026, 3, 10, 6, 0, 0);
    // 30 still held by lease 2; the 70 used belong to yesterday.
    assert_eq!(
        ok(&mut state, morning, acquire(3, "a", 100, 0)),
        granted(70, 0)
    );
}

#[test]
fn available_looks_across_a_roll_without_changing_anything() {
    let evening = utc(2026, 3, 9, 22, 0, 0);
    let state = used_70(prepaid("a", Some(100)), evening);
    let same = state.clone();
    let expect = |parts| {
        Some(Available {
            parts: Some(parts),
            amount: Some(1_000),
        })
    };
    assert_eq!(state.available("a", evening), expect(30));
    assert_eq!(state.available("a", utc(2026, 3, 10, 0, 0, 0)), expect(100));
    assert_eq!(state.available("nobody", evening), None);
    assert_eq!(state, same);
}

#[test]
fn a_clock_running_behind_never_rolls_back() {
    let mut state = used_70(prepaid("a", Some(100)), utc(2026, 3, 10, 1, 0, 0));
    ok(&mut state, utc(2026, 3, 9, 23, 0, 0), Command::Tick);
    assert_eq!(state.accounts["a"].ledger.period_used, 70);
    assert_eq!(
        state.accounts["a"].ledger.period_start_ms,
        utc(2026, 3, 10, 0, 0, 0)
    );
}

fn message_events(state: &State) -> Vec<(u8, u64)> {
    state
        .events
        .iter()
        .filter_map(|e| match e.kind {
            EventKind::MessagesThreshold { percent, used, max } => {
                assert_eq!(max, 100);
                Some((percent, used))
            }
            _ => None,
        })
        .collect()
}

#[test]
fn message_thresholds_emit_once_per_crossing_and_period() {
    let mut state = with_accounts(vec![(prepaid("a", Some(100)), 0)]);
    // Reserved is not used: a lease of the whole limit crosses nothing.
    ok(&mut state, T0, acquire(1, "a", 100, 0));
    assert!(message_events(&state).is_empty());
    ok(&mut state, T0, settle(1, 79, 0, false));
    assert!(message_events(&state).is_empty());
    ok(&mut state, T0, settle(1, 80, 0, false));
    assert_eq!(message_events(&state), vec![(80, 80)]);
    ok(&mut state, T0, settle(1, 99, 0, false));
    assert_eq!(message_events(&state), vec![(80, 80)]);
    ok(&mut state, T0, settle(1, 100, 0, true));
    assert_eq!(message_events(&state), vec![(80, 80), (100, 100)]);
    // Next day: used starts over and the thresholds can be crossed again.
    let tomorrow = T0 + 86_400_000;
    ok(&mut state, tomorrow, acquire(2, "a", 90, 0));
    ok(&mut state, tomorrow, settle(2, 81, 0, true));
    assert_eq!(message_events(&state), vec![(80, 80), (100, 100), (80, 81)]);
}

#[test]
fn several_thresholds_crossed_at_once_each_emit() {
    let mut account = prepaid("a", Some(100));
    account.limits.thresholds = vec![90, 50, 50, 75];
    let mut state = with_accounts(vec![(account, 0)]);
    ok(&mut state, T0, acquire(1, "a", 95, 0));
    assert!(message_events(&state).is_empty());
    ok(&mut state, T0, settle(1, 95, 0, false));
    assert_eq!(message_events(&state), vec![(50, 95), (75, 95), (90, 95)]);
    let seqs: Vec<u64> = state.events.iter().map(|e| e.seq).collect();
    assert_eq!(seqs, vec![1, 2, 3]);
}

#[test]
fn reclaim_crosses_thresholds_too() {
    let mut state = with_accounts(vec![(prepaid("a", Some(100)), 0)]);
    ok(&mut state, T0, acquire(1, "a", 79, 0));
    ok(&mut state, T0, settle(1, 0, 0, false));
    ok(&mut state, T0 + 1, acquire(2, "a", 1, 0));
    assert!(message_events(&state).is_empty(), "held is not used");
    // After the roll, reclaiming both leases counts 80 as used in the new day.
    ok(&mut state, T0 + 86_400_000, Command::Tick);
    assert_eq!(message_events(&state), vec![(80, 80)]);
}

#[test]
fn events_are_numbered_acknowledged_and_bounded() {
    let mut state = with_accounts(vec![(spec("a"), 0)]);
    let count = EVENTS_KEEP + 5;
    for lease in 0..count as u64 {
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
    assert_eq!(state.events.len(), EVENTS_KEEP);
    assert_eq!(state.events.front().map(|e| e.seq), Some(6));
    assert_eq!(state.events.back().map(|e| e.seq), Some(count as u64));
    assert_eq!(state.next_event_seq, count as u64 + 1);
    assert_eq!(state.events_after(0).count(), EVENTS_KEEP);
    assert_eq!(state.events_after(count as u64 - 2).count(), 2);
    ok(&mut state, T0, Command::AckEvents { seq: 100 });
    ok(&mut state, T0, Command::AckEvents { seq: 50 });
    assert_eq!(state.events_acked, 100);
    ok(&mut state, T0, Command::AckEvents { seq: u64::MAX });
    assert_eq!(
        state.events_acked, count as u64,
        "never past the last event"
    );
}

#[test]
fn ack_on_a_state_without_events_stays_at_zero() {
    let mut state = State::default();
    ok(&mut state, T0, Command::AckEvents { seq: 9 });
    assert_eq!(state.events_acked, 0);
}
