//! Any command with any figures, absurd ones included: applying it must not panic, a
//! refusal must change nothing, two copies must agree, and the ledger's limits must
//! hold whatever got through.

mod common;

use common::*;
use proptest::prelude::*;
use tern_ledger::{
    AccountSpec, ApiKey, AutoTopUp, Callback, Command, Limits, Minor, Period, Price, Response,
    Spec, State, Webhook,
};

fn id() -> impl Strategy<Value = String> {
    prop::sample::select(vec!["a", "b", "c", "d", "a", "b", "c", ""]).prop_map(String::from)
}

/// Mostly ordinary figures, sometimes the edges of the type.
fn count() -> impl Strategy<Value = u64> {
    prop_oneof![
        6 => 0..500u64,
        1 => prop::sample::select(vec![0, 1, u64::MAX - 1, u64::MAX]),
        1 => any::<u64>(),
    ]
}

fn money() -> impl Strategy<Value = Minor> {
    prop_oneof![
        6 => 0..2_000i64,
        1 => prop::sample::select(vec![-1, Minor::MIN, Minor::MAX - 1, Minor::MAX]),
        1 => any::<i64>(),
    ]
}

/// Around the time the steps run at, or anywhere.
fn send_at() -> impl Strategy<Value = u64> {
    prop_oneof![4 => T0..T0 + 100_000_000, 1 => count()]
}

fn threshold() -> impl Strategy<Value = u8> {
    prop_oneof![8 => 1..=100u8, 1 => any::<u8>()]
}

fn limits() -> impl Strategy<Value = Limits> {
    (
        prop::option::of(money()),
        prop::option::of(count()),
        any::<bool>(),
        prop::collection::vec(threshold(), 0..4),
        prop::option::weighted(0.2, money()),
    )
        .prop_map(
            |(credit_limit, max_messages, monthly, thresholds, auto)| Limits {
                credit_limit,
                max_messages,
                period: if monthly { Period::Month } else { Period::Day },
                thresholds,
                tps: None,
                auto_topup: auto.map(|amount| AutoTopUp { amount }),
            },
        )
}

fn account_spec() -> impl Strategy<Value = AccountSpec> {
    let parent = prop::option::weighted(0.3, id());
    (id(), parent, any::<bool>(), limits()).prop_map(|(id, parent, enabled, limits)| {
        let mut account = spec(&id);
        account.parent = parent;
        account.enabled = enabled;
        account.limits = limits;
        account
    })
}

fn named() -> impl Strategy<Value = Spec> {
    (id(), any::<bool>()).prop_map(|(name, enabled)| Spec {
        name,
        toml: String::new(),
        enabled,
    })
}

fn price() -> impl Strategy<Value = Price> {
    (
        prop::option::of(id()),
        prop::option::of(id()),
        "[+]?[0-9x]{0,3}",
        money(),
    )
        .prop_map(|(account, route, prefix, per_part)| Price {
            account,
            route,
            prefix,
            per_part,
        })
}

fn command() -> impl Strategy<Value = Command> {
    let lease = prop_oneof![5 => 0..6u64, 1 => any::<u64>()];
    prop_oneof![
        1 => (prop::collection::vec(account_spec(), 0..4), prop::collection::vec(price(), 0..3))
            .prop_map(|(accounts, prices)| Command::Seed {
                accounts,
                routes: vec![],
                links: vec![],
                prices
            }),
        3 => (account_spec(), money()).prop_map(|(spec, credit)| Command::CreateAccount { spec, credit }),
        1 => account_spec().prop_map(|spec| Command::UpdateAccount { spec }),
        1 => id().prop_map(|id| Command::DeleteAccount { id }),
        2 => (id(), money(), any::<bool>())
            .prop_map(|(account, amount, from_parent)| Command::TopUp { account, amount, from_parent }),
        4 => (lease.clone(), id(), count(), count(), money(), count()).prop_map(
            |(lease, account, node, parts, amount, ttl_ms)| Command::AcquireLease {
                lease, account, node, parts, amount, ttl_ms
            }
        ),
        4 => (lease, count(), money(), count(), any::<bool>()).prop_map(
            |(lease, used_parts, used_amount, ttl_ms, close)| Command::SettleLease {
                lease, used_parts, used_amount, ttl_ms, close
            }
        ),
        2 => Just(Command::Tick),
        2 => (id(), id(), send_at(), count(), count(), money(), any::<u8>()).prop_map(
            |(id, account, send_at_ms, window_ms, parts, amount, tolerance_pct)| {
                Command::BookCampaign { id, account, send_at_ms, window_ms, parts, amount, tolerance_pct }
            }
        ),
        1 => (id(), count(), money()).prop_map(|(id, parts, amount)| Command::ResizeCampaign { id, parts, amount }),
        1 => id().prop_map(|id| Command::CancelCampaign { id }),
        1 => prop::collection::vec(price(), 0..3).prop_map(|prices| Command::SetPrices { prices }),
        1 => named().prop_map(|spec| Command::PutRoute { spec }),
        1 => id().prop_map(|name| Command::DeleteRoute { name }),
        1 => named().prop_map(|spec| Command::PutLink { spec }),
        1 => id().prop_map(|name| Command::DeleteLink { name }),
        1 => (id(), prop::collection::vec(id(), 0..2))
            .prop_map(|(id, accounts)| Command::PutWebhook { webhook: Webhook { id, url: String::new(), accounts } }),
        1 => id().prop_map(|id| Command::DeleteWebhook { id }),
        1 => count().prop_map(|seq| Command::AckEvents { seq }),
        2 => (key_id(), id(), prop::sample::select(vec!["", "ci", "prod"]), any::<bool>()).prop_map(
            |(id, account, label, good_hash)| Command::PutApiKey {
                key: ApiKey {
                    id,
                    account,
                    label: label.into(),
                    hash: if good_hash { format!("sha256:{}", "0f".repeat(32)) } else { "sha256:0f".into() },
                    created_ms: 0,
                },
            }
        ),
        1 => key_id().prop_map(|id| Command::RevokeApiKey { id }),
        1 => (id(), prop::option::of(prop::sample::select(vec!["https://example.com/", "ftp://x/", "x"])))
            .prop_map(|(account, url)| Command::SetCallback {
                account,
                callback: url.map(|url| Callback { url: url.into(), secret: "0123456789abcdef".into() }),
            }),
    ]
}

/// A few key ids, and some that are not.
fn key_id() -> impl Strategy<Value = String> {
    prop::sample::select(vec!["000000000001", "000000000002", "00000000000A", ""])
        .prop_map(String::from)
}

fn within_limits(state: &State) -> Result<(), TestCaseError> {
    for key in state.http.keys.values() {
        prop_assert!(state.accounts.contains_key(&key.account), "{key:?}");
    }
    for account in state.http.callbacks.keys() {
        prop_assert!(state.accounts.contains_key(account), "{account}");
    }
    for (id, account) in &state.accounts {
        let ledger = &account.ledger;
        if let Some(max) = account.spec.limits.max_messages {
            let committed = u128::from(ledger.period_used) + u128::from(ledger.reserved_parts);
            prop_assert!(committed <= u128::from(max), "{id}: {ledger:?}");
        }
        if let Some(limit) = account.spec.limits.credit_limit {
            let floor = i128::from(ledger.balance) - i128::from(ledger.reserved_amount);
            prop_assert!(floor >= -i128::from(limit), "{id}: {ledger:?}");
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn any_command_applies_safely(
        steps in prop::collection::vec((command(), prop_oneof![Just(0u64), count()]), 1..80)
    ) {
        // Two accounts to start from, so that more commands find something to act on.
        let mut state = with_accounts(vec![
            (prepaid("a", Some(300)), 1_000),
            (child_of(prepaid("b", Some(100)), "a", Some(50)), 0),
        ]);
        let mut copy = state.clone();
        let mut now = T0;
        for (command, jump) in steps {
            // Mostly forward, sometimes far, sometimes back to the epoch.
            now = if jump == u64::MAX { 0 } else { now.saturating_add(jump % 100_000_000) };
            let request = at(now, command);
            let before = state.clone();
            let response = state.apply(&request);
            prop_assert_eq!(copy.apply(&request), response.clone());
            if matches!(response, Response::Refused(_)) {
                prop_assert_eq!(&state, &before, "refused but changed: {:?}", request);
            }
            within_limits(&state)?;
        }
        prop_assert_eq!(&state, &copy);
        let json = serde_json::to_string(&state).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let back: State = serde_json::from_str(&json).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(back, state);
    }
}
