//! Sessions spend quota through their account's counter, which holds a lease on the
//! ledger: limits on parts and money hold exactly, and what a session did not use goes
//! back to the ledger when the counter closes its lease.
#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::time::Duration;

use tern_actors::accounts::{AccountPolicy, Credential};
use tern_actors::quota::{Lease, LocalLedger, Spend};
use tern_actors::{Pipeline, PipelineConfig, Settings};
use tern_ledger::{AccountSpec, Command, Limits, Price, Request, Response, State};
use tern_storage::{EmbeddedConfig, EmbeddedStore};

fn spec(id: &str, limits: Limits) -> AccountSpec {
    AccountSpec {
        id: id.into(),
        password_hash: String::new(),
        enabled: true,
        max_binds: 1,
        allowed_ips: Vec::new(),
        sender_ids: Vec::new(),
        transliterate: false,
        parent: None,
        tags: Default::default(),
        limits,
        cmpp_secret: None,
    }
}

fn policy(id: &str) -> AccountPolicy {
    AccountPolicy {
        id: id.into(),
        credential: Credential::Plain("pw".into()),
        enabled: true,
        max_binds: 1,
        allowed_ips: Vec::new(),
        transliterate: false,
        sender_ids: Vec::new(),
        tps: None,
        cmpp_secret: None,
    }
}

fn apply(ledger: &LocalLedger, command: Command) {
    let state_before = ledger.read(|s| s.clone()).unwrap();
    let request = Request {
        at_ms: tern_actors::context::now_ms(),
        audit: None,
        command,
    };
    let mut state = state_before;
    let response = state.apply(&request);
    assert!(!matches!(response, Response::Refused(_)), "{response:?}");
    futures::executor::block_on(tern_actors::quota::Ledger::propose(ledger, request)).unwrap();
}

async fn pipeline(ledger: Arc<LocalLedger>, accounts: &[&str]) -> (Pipeline, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(EmbeddedStore::open(dir.path(), EmbeddedConfig::default()).unwrap());
    let config = PipelineConfig {
        settings: Settings {
            shards: 1,
            ..Settings::default()
        },
        accounts: accounts.iter().map(|a| policy(a)).collect(),
        routes: Vec::new(),
        links: Vec::new(),
        mo_rules: Vec::new(),
        ledger,
    };
    (Pipeline::start(store, config).await.unwrap(), dir)
}

#[tokio::test]
async fn sessions_spend_exactly_up_to_the_message_limit() {
    let ledger = Arc::new(LocalLedger::new(State::default()));
    apply(
        &ledger,
        Command::CreateAccount {
            spec: spec(
                "acme",
                Limits {
                    max_messages: Some(100),
                    ..Limits::default()
                },
            ),
            credit: 0,
        },
    );
    let (pipeline, _dir) = pipeline(ledger.clone(), &["acme"]).await;
    // Two sessions of one account compete for the limit.
    let mut a = Lease::new("acme");
    let mut b = Lease::new("acme");
    let mut granted = 0;
    for i in 0..150 {
        let lease = if i % 2 == 0 { &mut a } else { &mut b };
        match lease.spend(&pipeline.ctx, 1, 0).await {
            Spend::Granted => granted += 1,
            Spend::OverQuota => {}
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(granted, 100);
    assert_eq!(a.spend(&pipeline.ctx, 1, 0).await, Spend::OverQuota);
    // The sessions end: the counter settles and the ledger counts exactly what was used.
    a.release();
    b.release();
    pipeline.stop().await;
    let used = ledger
        .read(|s| {
            let l = &s.accounts["acme"].ledger;
            (l.period_used, l.reserved_parts, s.leases.len())
        })
        .unwrap();
    assert_eq!(used, (100, 0, 0));
}

#[tokio::test]
async fn money_runs_out_at_the_price_and_unused_credit_goes_back() {
    let ledger = Arc::new(LocalLedger::new(State::default()));
    apply(
        &ledger,
        Command::CreateAccount {
            spec: spec(
                "shop",
                Limits {
                    credit_limit: Some(0),
                    ..Limits::default()
                },
            ),
            credit: 100,
        },
    );
    apply(
        &ledger,
        Command::SetPrices {
            prices: vec![Price {
                account: None,
                route: None,
                prefix: "49".into(),
                per_part: 7,
            }],
        },
    );
    assert_eq!(
        tern_actors::quota::Ledger::price(ledger.as_ref(), "shop", Some("r"), "+4915112345"),
        7
    );
    let (pipeline, _dir) = pipeline(ledger.clone(), &["shop"]).await;
    let mut lease = Lease::new("shop");
    let mut sent = 0;
    loop {
        match lease.spend(&pipeline.ctx, 1, 7).await {
            Spend::Granted => sent += 1,
            Spend::NoCredit => break,
            other => panic!("{other:?}"),
        }
    }
    // 14 parts at 7 leave 2 of 100.
    assert_eq!(sent, 14);
    // A message of two parts the session took but could not store goes back.
    assert_eq!(lease.spend(&pipeline.ctx, 0, 0).await, Spend::Granted);
    lease.release();
    pipeline.stop().await;
    tokio::time::sleep(Duration::from_millis(50)).await;
    let ledger_view = ledger
        .read(|s| {
            let l = &s.accounts["shop"].ledger;
            (l.balance, l.reserved_amount, l.spent_total)
        })
        .unwrap();
    assert_eq!(ledger_view, (2, 0, 98));
}
