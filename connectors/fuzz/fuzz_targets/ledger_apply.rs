//! Arbitrary bytes as replicated requests (the payload a raft peer or a snapshot carries),
//! applied to a ledger with a parent, a child and an open lease: decoding and applying must
//! never panic, a refused request must leave the state as it was, and the limits must
//! hold after every request.

#![no_main]

use libfuzzer_sys::fuzz_target;
use tern_ledger::{AccountSpec, Command, Limits, Request, Response, State};

fn spec(id: &str, parent: Option<&str>) -> AccountSpec {
    AccountSpec {
        id: id.into(),
        password_hash: String::new(),
        enabled: true,
        max_binds: 1,
        allowed_ips: Vec::new(),
        sender_ids: Vec::new(),
        transliterate: false,
        parent: parent.map(str::to_owned),
        tags: Default::default(),
        limits: Limits {
            credit_limit: Some(0),
            max_messages: Some(1_000),
            ..Limits::default()
        },
        secrets: Default::default(),
    }
}

fn seeded() -> State {
    let mut state = State::default();
    let requests = [
        Command::CreateAccount { spec: spec("p", None), credit: 10_000 },
        Command::CreateAccount { spec: spec("c", Some("p")), credit: 100 },
        Command::AcquireLease {
            lease: 7,
            account: "c".into(),
            node: 1,
            parts: 10,
            amount: 50,
            ttl_ms: 30_000,
        },
    ];
    for command in requests {
        state.apply(&Request { at_ms: 1_800_000_000_000, audit: None, command });
    }
    state
}

fuzz_target!(|data: &[u8]| {
    let Ok(requests) = postcard::from_bytes::<Vec<Request>>(data) else {
        return;
    };
    let mut state = seeded();
    for request in requests.iter().take(64) {
        let before = state.clone();
        if let Response::Refused(_) = state.apply(request) {
            assert_eq!(state, before, "a refused request changed the state");
        }
        for account in state.accounts.values() {
            let ledger = &account.ledger;
            if let Some(max) = account.spec.limits.max_messages {
                assert!(
                    ledger.period_used.saturating_add(ledger.reserved_parts) <= max,
                    "parts overdrawn: {ledger:?}"
                );
            }
            if let Some(limit) = account.spec.limits.credit_limit {
                assert!(
                    ledger.balance.saturating_sub(ledger.reserved_amount) >= -limit,
                    "money overdrawn: {ledger:?}"
                );
            }
        }
    }
});
