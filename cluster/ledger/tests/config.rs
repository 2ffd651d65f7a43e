//! Prices, routes, links, MO rules and webhooks: upserts, deletes, the configuration version, and
//! picking the most specific price.

mod common;

use common::*;
use tern_ledger::{Command, Price, Refusal, Response, Spec, State, Webhook};

fn price(account: Option<&str>, route: Option<&str>, prefix: &str, per_part: i64) -> Price {
    Price {
        account: account.map(Into::into),
        route: route.map(Into::into),
        prefix: prefix.into(),
        per_part,
    }
}

fn priced(prices: Vec<Price>) -> State {
    let mut state = State::default();
    ok(&mut state, T0, Command::SetPrices { prices });
    state
}

#[test]
fn the_most_specific_price_wins() {
    let state = priced(vec![
        price(None, None, "", 1),
        price(None, None, "46", 2),
        price(None, None, "467", 3),
        price(None, Some("cheap"), "4", 4),
        price(Some("acme"), None, "", 5),
        price(Some("acme"), Some("cheap"), "", 6),
    ]);
    assert_eq!(state.price("other", None, "+4670123"), 3);
    assert_eq!(state.price("other", None, "4680123"), 2);
    assert_eq!(state.price("other", None, "4912"), 1);
    assert_eq!(
        state.price("other", Some("cheap"), "4670123"),
        4,
        "route over prefix"
    );
    assert_eq!(state.price("other", Some("dear"), "4670123"), 3);
    assert_eq!(
        state.price("acme", None, "4670123"),
        5,
        "account over route and prefix"
    );
    assert_eq!(state.price("acme", Some("cheap"), "4670123"), 6);
}

#[test]
fn no_matching_price_costs_nothing() {
    let state = priced(vec![
        price(None, None, "46", 2),
        price(Some("acme"), None, "", 9),
    ]);
    assert_eq!(state.price("other", None, "+4412"), 0);
    assert_eq!(State::default().price("acme", None, "46"), 0);
}

#[test]
fn among_equals_the_last_listed_wins_and_plus_is_stripped() {
    let state = priced(vec![
        price(None, None, "+46", 2),
        price(None, None, "46", 3),
    ]);
    assert_eq!(state.prices[0].prefix, "46");
    assert_eq!(state.price("a", None, "+46",), 3);
}

#[test]
fn set_prices_validates_and_replaces() {
    let mut state = priced(vec![price(None, None, "46", 2)]);
    let before = state.clone();
    for prices in [
        vec![price(None, None, "1", -1)],
        vec![price(None, None, "4x", 1)],
    ] {
        let r = state.apply(&at(T0, Command::SetPrices { prices }));
        assert!(matches!(r, Response::Refused(Refusal::Invalid(_))));
    }
    assert_eq!(state, before);
    ok(&mut state, T0, Command::SetPrices { prices: vec![] });
    assert!(state.prices.is_empty());
    assert_eq!(state.config_version, 2);
}

fn route(name: &str, enabled: bool) -> Spec {
    Spec {
        name: name.into(),
        toml: "prefix = \"46\"".into(),
        enabled,
    }
}

#[test]
fn mo_rules_upsert_and_delete_apart_from_routes() {
    let mut state = State::default();
    let rule = |enabled| Spec {
        name: "alice-short".into(),
        toml: "account = \"alice\"\nnumbers = [\"12345\"]".into(),
        enabled,
    };
    ok(&mut state, T0, Command::PutMoRule { spec: rule(true) });
    ok(&mut state, T0, Command::PutMoRule { spec: rule(false) });
    assert_eq!(state.mo_rules.len(), 1);
    assert!(!state.mo_rules["alice-short"].enabled);
    assert!(state.routes.is_empty(), "an MO rule is not a route");
    assert_eq!(state.config_version, 2);
    let r = state.apply(&at(
        T0,
        Command::PutMoRule {
            spec: Spec {
                name: String::new(),
                ..rule(true)
            },
        },
    ));
    assert!(matches!(r, Response::Refused(Refusal::Invalid(_))));
    let r = state.apply(&at(
        T0,
        Command::DeleteMoRule {
            name: "nobody".into(),
        },
    ));
    assert!(matches!(r, Response::Refused(Refusal::NotFound(_))));
    assert_eq!(state.config_version, 2, "refusals do not bump the version");
    ok(
        &mut state,
        T0,
        Command::DeleteMoRule {
            name: "alice-short".into(),
        },
    );
    assert!(state.mo_rules.is_empty());
    assert_eq!(state.config_version, 3);
}

#[test]
fn routes_and_links_upsert_and_delete() {
    let mut state = State::default();
    ok(
        &mut state,
        T0,
        Command::PutRoute {
            spec: route("se", true),
        },
    );
    ok(
        &mut state,
        T0,
        Command::PutRoute {
            spec: route("se", false),
        },
    );
    assert!(!state.routes["se"].enabled);
    ok(
        &mut state,
        T0,
        Command::PutLink {
            spec: route("smsc", true),
        },
    );
    assert_eq!(state.config_version, 3);
    let r = state.apply(&at(
        T0,
        Command::DeleteRoute {
            name: "smsc".into(),
        },
    ));
    assert!(matches!(r, Response::Refused(Refusal::NotFound(_))));
    let r = state.apply(&at(
        T0,
        Command::PutRoute {
            spec: route("", true),
        },
    ));
    assert!(matches!(r, Response::Refused(Refusal::Invalid(_))));
    assert_eq!(state.config_version, 3, "refusals do not bump the version");
    ok(&mut state, T0, Command::DeleteRoute { name: "se".into() });
    ok(
        &mut state,
        T0,
        Command::DeleteLink {
            name: "smsc".into(),
        },
    );
    assert!(state.routes.is_empty() && state.links.is_empty());
    let r = state.apply(&at(
        T0,
        Command::DeleteLink {
            name: "smsc".into(),
        },
    ));
    assert!(matches!(r, Response::Refused(Refusal::NotFound(_))));
    assert_eq!(state.config_version, 5);
}

#[test]
fn webhooks_upsert_and_delete() {
    let mut state = State::default();
    let hook = Webhook {
        id: "ops".into(),
        url: "https://example.net/hook".into(),
        accounts: vec!["acme".into()],
    };
    ok(
        &mut state,
        T0,
        Command::PutWebhook {
            webhook: hook.clone(),
        },
    );
    assert_eq!(state.webhooks["ops"], hook);
    ok(&mut state, T0, Command::DeleteWebhook { id: "ops".into() });
    let r = state.apply(&at(T0, Command::DeleteWebhook { id: "ops".into() }));
    assert!(matches!(r, Response::Refused(Refusal::NotFound(_))));
    assert_eq!(state.config_version, 2);
}
