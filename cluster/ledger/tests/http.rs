//! The HTTP API's keys and callbacks: what is refused, that each change bumps the
//! configuration version and leaves an audit record, and that they go with their account.

mod common;

use common::*;
use tern_ledger::{ApiKey, Callback, Command, Refusal, Response, State, MAX_API_KEYS};

const HASH: &str = "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";

fn key(id: &str, account: &str, label: &str) -> ApiKey {
    ApiKey {
        id: id.into(),
        account: account.into(),
        label: label.into(),
        hash: HASH.into(),
        created_ms: T0,
    }
}

/// The `n`th key id: 12 lowercase hex digits.
fn key_id(n: usize) -> String {
    format!("{n:012x}")
}

fn put(key: ApiKey) -> Command {
    Command::PutApiKey { key }
}

fn callback(url: &str, secret: &str) -> Command {
    Command::SetCallback {
        account: "acme".into(),
        callback: Some(Callback {
            url: url.into(),
            secret: secret.into(),
        }),
    }
}

fn refusal(state: &mut State, command: Command) -> Refusal {
    let before = state.clone();
    match state.apply(&at(T0, command.clone())) {
        Response::Refused(refusal) => {
            assert_eq!(
                *state, before,
                "{command:?} was refused but changed the state"
            );
            refusal
        }
        other => panic!("{command:?} was not refused: {other:?}"),
    }
}

#[test]
fn keys_are_added_listed_by_account_and_revoked() {
    let mut state = with_accounts(vec![(spec("acme"), 0), (spec("other"), 0)]);
    let version = state.config_version;
    ok(&mut state, T0, put(key(&key_id(1), "acme", "ci")));
    ok(&mut state, T0, put(key(&key_id(2), "acme", "billing")));
    ok(&mut state, T0, put(key(&key_id(3), "other", "prod")));
    assert_eq!(state.config_version, version + 3);
    let labels: Vec<&str> = state
        .http
        .keys_of("acme")
        .map(|k| k.label.as_str())
        .collect();
    assert_eq!(labels, ["ci", "billing"]);
    assert_eq!(
        state.http.keys[&key_id(3)],
        key(&key_id(3), "other", "prod")
    );

    ok(&mut state, T0, Command::RevokeApiKey { id: key_id(1) });
    assert_eq!(state.config_version, version + 4);
    assert!(!state.http.keys.contains_key(&key_id(1)));
    assert_eq!(
        refusal(&mut state, Command::RevokeApiKey { id: key_id(1) }),
        Refusal::NotFound(format!("API key {}", key_id(1)))
    );
}

#[test]
fn bad_keys_are_refused_and_name_what_is_wrong() {
    let mut state = with_accounts(vec![(spec("acme"), 0)]);
    ok(&mut state, T0, put(key(&key_id(1), "acme", "ci")));
    assert_eq!(
        refusal(&mut state, put(key(&key_id(2), "nobody", "ci"))),
        Refusal::NotFound("account nobody".into())
    );
    assert_eq!(
        refusal(&mut state, put(key(&key_id(1), "acme", "again"))),
        Refusal::Exists(format!("API key {}", key_id(1)))
    );
    let long = "é".repeat(65);
    for (label, shown) in [("", "0"), (long.as_str(), "65")] {
        let Refusal::Invalid(why) = refusal(&mut state, put(key(&key_id(2), "acme", label))) else {
            panic!("label {label:?} refused otherwise");
        };
        assert!(
            why.contains(&format!("label has {shown} characters")),
            "{why}"
        );
    }
    // 64 characters, multi-byte or not, are a label.
    ok(
        &mut state,
        T0,
        put(key(&key_id(2), "acme", &"é".repeat(64))),
    );
    for hash in [
        "",
        "sha256:",
        "sha1:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
        "sha256:BA7816BF8F01CFEA414140DE5DAE2223B00361A396177A9CB410FF61F20015AD",
        "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015a",
        "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA",
    ] {
        let mut bad = key(&key_id(3), "acme", "ci");
        bad.hash = hash.into();
        let Refusal::Invalid(why) = refusal(&mut state, put(bad)) else {
            panic!("hash {hash:?} refused otherwise");
        };
        assert!(why.contains("hash is not sha256:"), "{why}");
    }
    for id in ["", "00000000000G", "00000000000A", "0000000000001"] {
        let Refusal::Invalid(why) = refusal(&mut state, put(key(id, "acme", "ci"))) else {
            panic!("id {id:?} refused otherwise");
        };
        assert!(why.contains("12 lowercase hex digits"), "{why}");
    }
}

#[test]
fn an_account_holds_at_most_twenty_keys() {
    let mut state = with_accounts(vec![(spec("acme"), 0), (spec("other"), 0)]);
    for n in 0..MAX_API_KEYS {
        ok(&mut state, T0, put(key(&key_id(n), "acme", "k")));
    }
    let Refusal::OverLimit(why) = refusal(&mut state, put(key(&key_id(100), "acme", "k"))) else {
        panic!("the 21st key refused otherwise");
    };
    assert!(why.contains("holds 20 API keys"), "{why}");
    // Another account is not limited by it, and a revoke makes room.
    ok(&mut state, T0, put(key(&key_id(100), "other", "k")));
    ok(&mut state, T0, Command::RevokeApiKey { id: key_id(0) });
    ok(&mut state, T0, put(key(&key_id(101), "acme", "k")));
}

#[test]
fn callbacks_are_set_checked_and_cleared() {
    let mut state = with_accounts(vec![(spec("acme"), 0)]);
    let secret = "0123456789abcdef";
    let version = state.config_version;
    ok(
        &mut state,
        T0,
        callback("https://hooks.example.com/tern?x=1", secret),
    );
    assert_eq!(state.config_version, version + 1);
    assert_eq!(
        state.http.callbacks["acme"].url,
        "https://hooks.example.com/tern?x=1"
    );
    ok(&mut state, T0, callback("http://10.0.0.1:8080/", secret));
    assert_eq!(state.http.callbacks["acme"].url, "http://10.0.0.1:8080/");
    // The secret never shows in a debug print (commands are logged that way).
    let printed = format!("{:?}", callback("http://10.0.0.1:8080/", secret));
    assert!(!printed.contains(secret), "{printed}");

    let invalid = |state: &mut State, command: Command, expected: &str| {
        let Refusal::Invalid(why) = refusal(state, command) else {
            panic!("refused otherwise");
        };
        assert!(why.contains(expected), "{why}");
    };
    invalid(
        &mut state,
        callback("hooks.example.com/tern", secret),
        "does not parse",
    );
    invalid(
        &mut state,
        callback("ftp://hooks.example.com/", secret),
        "http:// or https://",
    );
    invalid(&mut state, callback("http://", secret), "does not parse");
    invalid(
        &mut state,
        callback("mailto:ops@example.com", secret),
        "with a host",
    );
    let long = format!("https://example.com/{}", "a".repeat(2048));
    invalid(&mut state, callback(&long, secret), "more than 2048");
    invalid(
        &mut state,
        callback("https://example.com/", "short"),
        "secret of acme has 5 characters, not 16 to 256",
    );
    invalid(
        &mut state,
        callback("https://example.com/", &"s".repeat(257)),
        "has 257 characters",
    );
    let unknown = Command::SetCallback {
        account: "nobody".into(),
        callback: None,
    };
    assert_eq!(
        refusal(&mut state, unknown),
        Refusal::NotFound("account nobody".into())
    );

    let clear = Command::SetCallback {
        account: "acme".into(),
        callback: None,
    };
    ok(&mut state, T0, clear.clone());
    assert!(state.http.callbacks.is_empty());
    // Clearing again is not an error.
    ok(&mut state, T0, clear);
}

#[test]
fn changes_are_audited() {
    let mut state = with_accounts(vec![(spec("acme"), 0)]);
    let before = state.audit.len();
    state.apply(&audited(T0, put(key(&key_id(1), "acme", "ci"))));
    state.apply(&audited(T0, Command::RevokeApiKey { id: key_id(1) }));
    state.apply(&audited(
        T0,
        callback("https://example.com/", "0123456789abcdef"),
    ));
    assert_eq!(state.audit.len(), before + 3);
    // A refused change leaves no record.
    state.apply(&audited(T0, Command::RevokeApiKey { id: key_id(1) }));
    assert_eq!(state.audit.len(), before + 3);
}

#[test]
fn deleting_an_account_drops_its_keys_and_callback() {
    let mut state = with_accounts(vec![(spec("acme"), 0), (spec("other"), 0)]);
    ok(&mut state, T0, put(key(&key_id(1), "acme", "ci")));
    ok(&mut state, T0, put(key(&key_id(2), "other", "ci")));
    ok(
        &mut state,
        T0,
        callback("https://example.com/", "0123456789abcdef"),
    );
    ok(&mut state, T0, Command::DeleteAccount { id: "acme".into() });
    assert_eq!(state.http.keys.keys().collect::<Vec<_>>(), [&key_id(2)]);
    assert!(state.http.callbacks.is_empty());
    // An account of the same name made again starts with none of them.
    ok(&mut state, T0, create(spec("acme"), 0));
    assert_eq!(state.http.keys_of("acme").count(), 0);
}
