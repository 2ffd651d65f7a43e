//! Accounts and their tree: creation, changes, deletion, the seed, and the read helpers
//! other layers use to walk the tree.

mod common;

use common::*;
use tern_ledger::{Command, Price, Refusal, Response, Spec, State, AUDIT_KEEP, MAX_PARENT_DEPTH};

fn refusal(response: Response) -> Refusal {
    match response {
        Response::Refused(refusal) => refusal,
        other => panic!("expected a refusal, got {other:?}"),
    }
}

#[test]
fn create_account_opens_the_ledger() {
    let mut state = State::default();
    let r = state.apply(&audited(T0, create(prepaid("a", Some(100)), 250)));
    assert_eq!(r, Response::Ok);
    let account = &state.accounts["a"];
    assert_eq!(account.ledger.balance, 250);
    assert_eq!(account.ledger.credit_base, 250);
    assert_eq!(account.ledger.period_start_ms, utc(2026, 1, 15, 0, 0, 0));
    assert_eq!(state.config_version, 1);
    assert_eq!(state.audit.len(), 1);
    assert_eq!(state.audit[0].who, "admin");
}

#[test]
fn create_account_refusals_change_nothing() {
    let mut state = with_accounts(vec![(spec("a"), 0)]);
    let before = state.clone();
    let r = state.apply(&audited(T0, create(spec("a"), 0)));
    assert!(matches!(refusal(r), Refusal::Exists(_)));
    let r = state.apply(&audited(T0, create(child_of(spec("b"), "nobody", None), 0)));
    assert!(matches!(refusal(r), Refusal::Invalid(_)));
    let mut bad = spec("b");
    bad.limits.thresholds = vec![80, 0];
    assert!(matches!(
        refusal(state.apply(&at(T0, create(bad, 0)))),
        Refusal::Invalid(_)
    ));
    let mut bad = spec("b");
    bad.limits.thresholds = vec![101];
    assert!(matches!(
        refusal(state.apply(&at(T0, create(bad, 0)))),
        Refusal::Invalid(_)
    ));
    let r = state.apply(&at(T0, create(spec("b"), -5)));
    assert!(matches!(refusal(r), Refusal::Invalid(_)));
    let r = state.apply(&at(T0, create(child_of(spec("b"), "b", None), 0)));
    assert!(matches!(refusal(r), Refusal::Invalid(_)));
    assert_eq!(state, before);
}

#[test]
fn auto_topup_needs_a_parent() {
    let mut state = State::default();
    let mut orphan = prepaid("a", None);
    orphan.limits.auto_topup = Some(tern_ledger::AutoTopUp { amount: 10 });
    assert!(matches!(
        refusal(state.apply(&at(T0, create(orphan, 0)))),
        Refusal::Invalid(_)
    ));
}

/// A chain `a0 <- a1 <- ... <- a{n}`.
fn chain(n: usize) -> State {
    let mut state = with_accounts(vec![(spec("a0"), 0)]);
    for i in 1..=n {
        ok(
            &mut state,
            T0,
            create(
                child_of(spec(&format!("a{i}")), &format!("a{}", i - 1), None),
                0,
            ),
        );
    }
    state
}

#[test]
fn parent_chains_stop_at_max_depth() {
    let mut state = chain(MAX_PARENT_DEPTH);
    let last = format!("a{MAX_PARENT_DEPTH}");
    let r = state.apply(&at(T0, create(child_of(spec("deeper"), &last, None), 0)));
    assert!(matches!(refusal(r), Refusal::Invalid(_)));
    assert_eq!(state.descendants("a0").len(), MAX_PARENT_DEPTH);
}

#[test]
fn moving_a_subtree_checks_its_depth_and_cycles() {
    let mut state = chain(3);
    // a0 under a3 would be a cycle.
    let r = state.apply(&at(
        T0,
        Command::UpdateAccount {
            spec: child_of(spec("a0"), "a3", None),
        },
    ));
    assert!(matches!(refusal(r), Refusal::Invalid(_)));
    let r = state.apply(&at(
        T0,
        Command::UpdateAccount {
            spec: child_of(spec("a1"), "a1", None),
        },
    ));
    assert!(matches!(refusal(r), Refusal::Invalid(_)));
    // A deep chain elsewhere: a1 (with a2, a3 below) under its end is too deep.
    let mut state2 = chain(MAX_PARENT_DEPTH - 2);
    ok(&mut state2, T0, create(spec("x"), 0));
    ok(&mut state2, T0, create(child_of(spec("y"), "x", None), 0));
    ok(&mut state2, T0, create(child_of(spec("z"), "y", None), 0));
    let end = format!("a{}", MAX_PARENT_DEPTH - 2);
    // end is at depth MAX-2; x would be at MAX-1, z at MAX+1.
    let r = state2.apply(&at(
        T0,
        Command::UpdateAccount {
            spec: child_of(spec("x"), &end, None),
        },
    ));
    assert!(matches!(refusal(r), Refusal::Invalid(_)));
    // y moved (with z) under a{MAX-3}: y at MAX-2, z at MAX-1: fine.
    let fits = format!("a{}", MAX_PARENT_DEPTH - 3);
    ok(
        &mut state2,
        T0,
        Command::UpdateAccount {
            spec: child_of(spec("y"), &fits, None),
        },
    );
    assert!(state2.descendants("a0").contains(&"z".to_string()));
}

#[test]
fn update_account_keeps_the_ledger() {
    let mut state = with_accounts(vec![(prepaid("a", Some(100)), 300)]);
    ok(&mut state, T0, acquire(1, "a", 10, 50));
    ok(&mut state, T0, settle(1, 10, 50, true));
    let mut changed = prepaid("a", Some(200));
    changed.sender_ids = vec!["TERN".into()];
    let r = state.apply(&audited(
        T0 + 1,
        Command::UpdateAccount {
            spec: changed.clone(),
        },
    ));
    assert_eq!(r, Response::Ok);
    let account = &state.accounts["a"];
    assert_eq!(account.spec, changed);
    assert_eq!(
        (account.ledger.balance, account.ledger.period_used),
        (250, 10)
    );
    assert_eq!(state.config_version, 2);
    let r = state.apply(&at(
        T0,
        Command::UpdateAccount {
            spec: spec("nobody"),
        },
    ));
    assert!(matches!(refusal(r), Refusal::NotFound(_)));
}

#[test]
fn update_below_what_is_committed_is_refused() {
    let mut state = with_accounts(vec![(prepaid("a", Some(100)), 300)]);
    ok(&mut state, T0, acquire(1, "a", 60, 200));
    let before = state.clone();
    let r = state.apply(&at(
        T0,
        Command::UpdateAccount {
            spec: prepaid("a", Some(59)),
        },
    ));
    assert!(matches!(refusal(r), Refusal::OverLimit(_)));
    assert_eq!(state, before);
    // The next day nothing is used yet, but the lease still holds 60.
    let tomorrow = utc(2026, 1, 16, 1, 0, 0);
    let r = state.apply(&at(
        tomorrow,
        Command::UpdateAccount {
            spec: prepaid("a", Some(59)),
        },
    ));
    assert!(matches!(refusal(r), Refusal::OverLimit(_)));
    ok(
        &mut state,
        tomorrow,
        Command::UpdateAccount {
            spec: prepaid("a", Some(60)),
        },
    );
}

#[test]
fn raising_the_credit_limit_starts_a_new_credit_base() {
    let mut state = with_accounts(vec![(prepaid("a", None), 100)]);
    let mut postpaid = prepaid("a", None);
    postpaid.limits.credit_limit = Some(400);
    ok(&mut state, T0, Command::UpdateAccount { spec: postpaid });
    assert_eq!(state.accounts["a"].ledger.credit_base, 500);
}

#[test]
fn delete_account_refuses_while_something_hangs_on_it() {
    let mut state = with_accounts(vec![(prepaid("p", None), 100), (spec("lone"), 0)]);
    ok(
        &mut state,
        T0,
        create(child_of(prepaid("c", None), "p", None), 0),
    );
    ok(&mut state, T0, acquire(1, "c", 1, 1));
    let delete = |id: &str| Command::DeleteAccount { id: id.into() };
    assert!(matches!(
        refusal(state.apply(&at(T0, delete("p")))),
        Refusal::Invalid(_)
    ));
    assert!(matches!(
        refusal(state.apply(&at(T0, delete("c")))),
        Refusal::Invalid(_)
    ));
    assert!(matches!(
        refusal(state.apply(&at(T0, delete("zz")))),
        Refusal::NotFound(_)
    ));
    ok(&mut state, T0, settle(1, 1, 1, true));
    ok(&mut state, T0, delete("c"));
    ok(&mut state, T0, delete("p"));
    let version = state.config_version;
    ok(&mut state, T0, delete("lone"));
    assert!(state.accounts.is_empty());
    assert_eq!(state.config_version, version + 1);
}

#[test]
fn delete_account_refuses_with_a_booking() {
    let mut state = with_accounts(vec![(prepaid("a", None), 100)]);
    ok(
        &mut state,
        T0,
        Command::BookCampaign {
            id: "spring".into(),
            account: "a".into(),
            send_at_ms: T0 + 1_000,
            window_ms: 1_000,
            parts: 10,
            amount: 10,
            tolerance_pct: 0,
        },
    );
    let r = state.apply(&at(T0, Command::DeleteAccount { id: "a".into() }));
    assert!(matches!(refusal(r), Refusal::Invalid(_)));
}

fn seed(accounts: Vec<tern_ledger::AccountSpec>) -> Command {
    Command::Seed {
        accounts,
        routes: vec![Spec {
            name: "default".into(),
            toml: "prefix = \"\"".into(),
            enabled: true,
        }],
        links: vec![Spec {
            name: "smsc1".into(),
            toml: "host = \"a\"".into(),
            enabled: true,
        }],
        prices: vec![Price {
            account: None,
            route: None,
            prefix: "+46".into(),
            per_part: 7,
        }],
    }
}

#[test]
fn seed_applies_once_with_parents_in_any_order() {
    let mut state = State::default();
    let accounts = vec![
        child_of(prepaid("grandchild", None), "child", Some(5)),
        child_of(prepaid("child", None), "root", None),
        prepaid("root", Some(10)),
    ];
    let r = state.apply(&audited(T0, seed(accounts)));
    assert_eq!(r, Response::Ok);
    assert!(state.seeded);
    assert_eq!(state.accounts.len(), 3);
    assert!(state.accounts.values().all(|a| a.ledger.balance == 0));
    assert_eq!(state.routes.len(), 1);
    assert_eq!(state.links.len(), 1);
    assert_eq!(state.prices[0].prefix, "46");
    assert_eq!(state.config_version, 1);
    assert_eq!(state.audit.len(), 1);
    let seeded = state.clone();
    let r = state.apply(&audited(T0 + 1, seed(vec![prepaid("other", None)])));
    assert_eq!(r, Response::Ok);
    assert_eq!(state, seeded);
}

#[test]
fn seed_is_all_or_nothing() {
    let mut state = State::default();
    let orphans = vec![
        prepaid("a", None),
        child_of(prepaid("b", None), "missing", None),
    ];
    assert!(matches!(
        refusal(state.apply(&at(T0, seed(orphans)))),
        Refusal::Invalid(_)
    ));
    let cycle = vec![
        child_of(spec("x"), "y", None),
        child_of(spec("y"), "x", None),
    ];
    assert!(matches!(
        refusal(state.apply(&at(T0, seed(cycle)))),
        Refusal::Invalid(_)
    ));
    let twice = vec![spec("a"), spec("a")];
    assert!(matches!(
        refusal(state.apply(&at(T0, seed(twice)))),
        Refusal::Exists(_)
    ));
    assert_eq!(state, State::default());
}

#[test]
fn tree_helpers_walk_children_and_descendants() {
    let mut state = with_accounts(vec![(spec("root"), 0), (spec("other"), 0)]);
    ok(&mut state, T0, create(child_of(spec("b"), "root", None), 0));
    ok(&mut state, T0, create(child_of(spec("a"), "root", None), 0));
    ok(&mut state, T0, create(child_of(spec("a1"), "a", None), 0));
    ok(&mut state, T0, create(child_of(spec("b1"), "b", None), 0));
    assert_eq!(state.children("root"), vec!["a", "b"]);
    assert_eq!(state.descendants("root"), vec!["a", "b", "a1", "b1"]);
    assert_eq!(state.descendants("b"), vec!["b1"]);
    assert!(state.descendants("other").is_empty());
    assert!(state.children("nobody").is_empty());
}

#[test]
fn accounts_tagged_matches_key_and_value() {
    let mut tagged = spec("a");
    tagged.tags.insert("cost-centre".into(), "42".into());
    let mut other = spec("b");
    other.tags.insert("cost-centre".into(), "7".into());
    let state = with_accounts(vec![(tagged, 0), (other, 0), (spec("c"), 0)]);
    let found: Vec<_> = state
        .accounts_tagged("cost-centre", "42")
        .iter()
        .map(|a| a.spec.id.clone())
        .collect();
    assert_eq!(found, vec!["a"]);
    assert!(state.accounts_tagged("customer", "42").is_empty());
}

#[test]
fn audit_trail_is_bounded() {
    let mut state = State::default();
    for i in 0..AUDIT_KEEP + 3 {
        ok_audited(&mut state, i as u64);
    }
    assert_eq!(state.audit.len(), AUDIT_KEEP);
    assert_eq!(state.audit.front().map(|a| a.at_ms), Some(3));
}

fn ok_audited(state: &mut State, at_ms: u64) {
    let r = state.apply(&audited(at_ms, Command::AckEvents { seq: 0 }));
    assert_eq!(r, Response::Ok);
}

#[test]
fn refused_commands_leave_no_audit() {
    let mut state = State::default();
    let r = state.apply(&audited(T0, Command::DeleteAccount { id: "x".into() }));
    assert!(refused(&r));
    assert!(state.audit.is_empty());
}

#[test]
fn an_unmetered_child_of_a_metered_parent_is_refused() {
    let mut state = with_accounts(vec![(prepaid("p", None), 100), (spec("free"), 0)]);
    // Not metered under a prepaid parent: it would spend without asking the parent.
    let r = state.apply(&at(T0, create(child_of(spec("c"), "p", None), 0)));
    assert!(matches!(refusal(r), Refusal::Invalid(_)));
    // Metered children of a metered parent, and any child of an unmetered one, are fine.
    ok(
        &mut state,
        T0,
        create(child_of(prepaid("c", None), "p", None), 0),
    );
    ok(&mut state, T0, create(child_of(spec("u"), "free", None), 0));
    // The child cannot stop being metered, nor the unmetered parent start.
    let r = state.apply(&at(
        T0,
        Command::UpdateAccount {
            spec: child_of(spec("c"), "p", None),
        },
    ));
    assert!(matches!(refusal(r), Refusal::Invalid(_)));
    let r = state.apply(&at(
        T0,
        Command::UpdateAccount {
            spec: prepaid("free", None),
        },
    ));
    assert!(matches!(refusal(r), Refusal::Invalid(_)));
    assert!(state.accounts["c"].spec.limits.credit_limit.is_some());
    assert!(state.accounts["free"].spec.limits.credit_limit.is_none());
}
