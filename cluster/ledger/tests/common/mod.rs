//! Builders shared by the ledger's integration tests.
#![allow(dead_code)]

use tern_ledger::calendar::midnight_ms;
use tern_ledger::{
    AccountSpec, Audit, AutoTopUp, Command, Limits, Minor, Period, Request, Response, State,
};

/// 2026-01-15T12:00:00Z: a quiet mid-month, mid-day start.
pub const T0: u64 = 1_768_478_400_000;
pub const TTL: u64 = 30_000;

pub fn utc(year: i32, month: u8, day: u8, hour: u64, minute: u64, second: u64) -> u64 {
    midnight_ms(year, month, day).expect("a date after 1970")
        + ((hour * 60 + minute) * 60 + second) * 1_000
}

pub fn spec(id: &str) -> AccountSpec {
    AccountSpec {
        id: id.into(),
        password_hash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA".into(),
        enabled: true,
        max_binds: 4,
        allowed_ips: vec![],
        sender_ids: vec![],
        transliterate: false,
        parent: None,
        tags: Default::default(),
        limits: Limits::default(),
        secrets: Default::default(),
    }
}

/// A prepaid (credit limit 0) account with a message limit per day.
pub fn prepaid(id: &str, max_messages: Option<u64>) -> AccountSpec {
    let mut spec = spec(id);
    spec.limits.credit_limit = Some(0);
    spec.limits.max_messages = max_messages;
    spec
}

pub fn child_of(mut spec: AccountSpec, parent: &str, auto_topup: Option<Minor>) -> AccountSpec {
    spec.parent = Some(parent.into());
    spec.limits.auto_topup = auto_topup.map(|amount| AutoTopUp { amount });
    spec
}

pub fn monthly(mut spec: AccountSpec) -> AccountSpec {
    spec.limits.period = Period::Month;
    spec
}

pub fn at(at_ms: u64, command: Command) -> Request {
    Request {
        at_ms,
        audit: None,
        command,
    }
}

pub fn audited(at_ms: u64, command: Command) -> Request {
    Request {
        at_ms,
        audit: Some(Audit {
            who: "admin".into(),
            what: format!("{command:?}"),
            at_ms,
        }),
        command,
    }
}

pub fn create(spec: AccountSpec, credit: Minor) -> Command {
    Command::CreateAccount { spec, credit }
}

pub fn acquire(lease: u64, account: &str, parts: u64, amount: Minor) -> Command {
    Command::AcquireLease {
        lease,
        account: account.into(),
        node: lease >> 48,
        parts,
        amount,
        ttl_ms: TTL,
    }
}

pub fn settle(lease: u64, used_parts: u64, used_amount: Minor, close: bool) -> Command {
    Command::SettleLease {
        lease,
        used_parts,
        used_amount,
        ttl_ms: TTL,
        close,
    }
}

pub fn top_up(account: &str, amount: Minor) -> Command {
    Command::TopUp {
        account: account.into(),
        amount,
        from_parent: false,
    }
}

pub fn granted(parts: u64, amount: Minor) -> Response {
    Response::Lease { parts, amount }
}

pub fn settled(counted_parts: u64, counted_amount: Minor) -> Response {
    Response::Settled {
        counted_parts,
        counted_amount,
    }
}

/// Applies `command` at `at_ms` and insists it was applied.
pub fn ok(state: &mut State, at_ms: u64, command: Command) -> Response {
    let response = state.apply(&at(at_ms, command.clone()));
    assert!(
        !matches!(response, Response::Refused(_)),
        "{command:?} was refused: {response:?}"
    );
    response
}

/// A state with the given accounts created at `T0` with their opening credits.
pub fn with_accounts(accounts: Vec<(AccountSpec, Minor)>) -> State {
    let mut state = State::default();
    for (spec, credit) in accounts {
        ok(&mut state, T0, create(spec, credit));
    }
    state
}

pub fn refused(response: &Response) -> bool {
    matches!(response, Response::Refused(_))
}
