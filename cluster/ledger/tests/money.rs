//! Money: top-ups from outside and from the parent, automatic top-ups up a chain of
//! parents, and the credit thresholds measured against the last top-up.

mod common;

use common::*;
use tern_ledger::{Command, EventKind, Refusal, Response};

fn from_parent(account: &str, amount: i64) -> Command {
    Command::TopUp {
        account: account.into(),
        amount,
        from_parent: true,
    }
}

fn parent_topups(state: &tern_ledger::State) -> Vec<(String, String, i64)> {
    state
        .events
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::ParentTopUp { parent, amount } => {
                Some((parent.clone(), e.account.clone(), *amount))
            }
            _ => None,
        })
        .collect()
}

#[test]
fn top_up_adds_money_and_starts_a_new_credit_base() {
    let mut postpaid = prepaid("a", None);
    postpaid.limits.credit_limit = Some(100);
    let mut state = with_accounts(vec![(postpaid, 0)]);
    ok(&mut state, T0, acquire(1, "a", 0, 90));
    assert!(
        state.accounts["a"].ledger.crossed_credit.is_empty(),
        "a reservation is not use"
    );
    ok(&mut state, T0, settle(1, 0, 90, true));
    assert!(state.accounts["a"].ledger.crossed_credit.contains(&80));
    assert_eq!(ok(&mut state, T0, top_up("a", 400)), Response::Ok);
    let ledger = &state.accounts["a"].ledger;
    assert_eq!(ledger.balance, 310);
    assert_eq!(ledger.credit_base, 410);
    assert!(ledger.crossed_credit.is_empty());
    assert_eq!(
        state.config_version, 1,
        "a top-up is not a configuration change"
    );
}

#[test]
fn top_up_refusals() {
    let mut state = with_accounts(vec![(prepaid("p", None), 50), (prepaid("lone", None), 0)]);
    ok(
        &mut state,
        T0,
        create(child_of(prepaid("c", None), "p", None), 0),
    );
    let before = state.clone();
    for (command, expect_over_limit) in [
        (top_up("lone", 0), false),
        (top_up("lone", -3), false),
        (top_up("nobody", 3), false),
        (from_parent("lone", 3), false),
        (from_parent("c", 51), true),
    ] {
        let r = state.apply(&at(T0, command.clone()));
        match r {
            Response::Refused(Refusal::OverLimit(_)) => assert!(expect_over_limit, "{command:?}"),
            Response::Refused(_) => assert!(!expect_over_limit, "{command:?}"),
            other => panic!("{command:?} was applied: {other:?}"),
        }
    }
    assert_eq!(state, before);
}

#[test]
fn top_up_from_parent_moves_what_the_parent_has() {
    let mut state = with_accounts(vec![(prepaid("p", None), 50)]);
    ok(
        &mut state,
        T0,
        create(child_of(prepaid("c", None), "p", None), 0),
    );
    ok(&mut state, T0, acquire(1, "p", 0, 20));
    // 30 available: 31 is refused, 30 moves.
    assert!(refused(&state.apply(&at(T0, from_parent("c", 31)))));
    ok(&mut state, T0, from_parent("c", 30));
    assert_eq!(state.accounts["p"].ledger.balance, 20);
    assert_eq!(state.accounts["c"].ledger.balance, 30);
    assert_eq!(parent_topups(&state), vec![("p".into(), "c".into(), 30)]);
}

#[test]
fn unmetered_parent_gives_without_limit() {
    let mut state = with_accounts(vec![(spec("p"), 0)]);
    ok(
        &mut state,
        T0,
        create(child_of(prepaid("c", None), "p", None), 0),
    );
    ok(&mut state, T0, from_parent("c", 1_000));
    assert_eq!(state.accounts["p"].ledger.balance, -1_000);
    assert_eq!(state.accounts["c"].ledger.balance, 1_000);
}

/// grandparent (1000) <- parent (0, auto 100) <- child (0, auto 50)
fn three_levels(grandparent_balance: i64) -> tern_ledger::State {
    let mut state = with_accounts(vec![(prepaid("gp", None), grandparent_balance)]);
    ok(
        &mut state,
        T0,
        create(child_of(prepaid("p", None), "gp", Some(100)), 0),
    );
    ok(
        &mut state,
        T0,
        create(child_of(prepaid("c", None), "p", Some(50)), 0),
    );
    state
}

#[test]
fn auto_topup_pulls_through_a_chain_of_parents() {
    let mut state = three_levels(1_000);
    assert_eq!(ok(&mut state, T0, acquire(1, "c", 0, 30)), granted(0, 30));
    let balances =
        |s: &tern_ledger::State| ["gp", "p", "c"].map(|id| s.accounts[id].ledger.balance);
    // The child pulls max(50, 30); the parent, short of 50, pulls max(100, 50).
    assert_eq!(balances(&state), [900, 50, 50]);
    assert_eq!(
        parent_topups(&state),
        vec![("gp".into(), "p".into(), 100), ("p".into(), "c".into(), 50)]
    );
    // 20 left in the child: 200 asked pulls 180 from the parent, which pulls 130.
    assert_eq!(ok(&mut state, T0, acquire(2, "c", 0, 200)), granted(0, 200));
    assert_eq!(balances(&state), [770, 0, 230]);
    assert_eq!(state.accounts["c"].ledger.reserved_amount, 230);
}

#[test]
fn auto_topup_takes_what_the_chain_has() {
    let mut state = three_levels(20);
    assert_eq!(ok(&mut state, T0, acquire(1, "c", 0, 30)), granted(0, 20));
    let balances = ["gp", "p", "c"].map(|id| state.accounts[id].ledger.balance);
    assert_eq!(balances, [0, 0, 20]);
    // Nothing left anywhere: nothing moves, no event.
    let events = state.events.len();
    assert_eq!(ok(&mut state, T0, acquire(2, "c", 0, 30)), granted(0, 0));
    assert_eq!(state.events.len(), events);
}

#[test]
fn no_auto_topup_without_the_setting() {
    let mut state = with_accounts(vec![(prepaid("p", None), 1_000)]);
    ok(
        &mut state,
        T0,
        create(child_of(prepaid("c", None), "p", None), 10),
    );
    assert_eq!(ok(&mut state, T0, acquire(1, "c", 0, 30)), granted(0, 10));
    assert_eq!(state.accounts["p"].ledger.balance, 1_000);
}

fn credit_events(state: &tern_ledger::State, account: &str) -> Vec<u8> {
    state
        .events
        .iter()
        .filter(|e| e.account == account)
        .filter_map(|e| match e.kind {
            EventKind::CreditThreshold { percent, .. } => Some(percent),
            _ => None,
        })
        .collect()
}

#[test]
fn credit_thresholds_emit_once_per_crossing() {
    let mut state = with_accounts(vec![(prepaid("a", None), 1_000)]);
    // Reserving the whole balance crosses nothing: only what is spent counts.
    ok(&mut state, T0, acquire(1, "a", 0, 1_000));
    assert!(credit_events(&state, "a").is_empty());
    ok(&mut state, T0, settle(1, 0, 799, false));
    assert!(credit_events(&state, "a").is_empty());
    ok(&mut state, T0, settle(1, 0, 800, false));
    assert_eq!(credit_events(&state, "a"), vec![80]);
    ok(&mut state, T0, settle(1, 0, 950, true));
    assert_eq!(credit_events(&state, "a"), vec![80]);
    ok(&mut state, T0, acquire(2, "a", 0, 50));
    ok(&mut state, T0, settle(2, 0, 50, true));
    assert_eq!(credit_events(&state, "a"), vec![80, 100]);
    // A top-up starts over: base 1000 + the balance of 0.
    ok(&mut state, T0, top_up("a", 1_000));
    assert_eq!(state.accounts["a"].ledger.credit_base, 1_000);
    ok(&mut state, T0, acquire(3, "a", 0, 900));
    ok(&mut state, T0, settle(3, 0, 799, false));
    assert_eq!(credit_events(&state, "a"), vec![80, 100]);
    ok(&mut state, T0, settle(3, 0, 801, false));
    assert_eq!(credit_events(&state, "a"), vec![80, 100, 80]);
    // The event reports the balance that crossed the threshold.
    match &state.events.back().map(|e| e.kind.clone()) {
        Some(EventKind::CreditThreshold {
            balance,
            credit_limit,
            ..
        }) => {
            assert_eq!((*balance, *credit_limit), (199, 0));
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn money_given_to_a_child_counts_against_the_parents_credit() {
    let mut state = with_accounts(vec![(prepaid("p", None), 100)]);
    ok(
        &mut state,
        T0,
        create(child_of(prepaid("c", None), "p", Some(0)), 0),
    );
    ok(&mut state, T0, acquire(1, "c", 0, 85));
    assert_eq!(credit_events(&state, "p"), vec![80]);
    assert!(
        credit_events(&state, "c").is_empty(),
        "the child's new base is what it got"
    );
}
