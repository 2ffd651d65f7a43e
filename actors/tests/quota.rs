//! Sessions charge quota to their account's purse, which its counter fills with leases
//! from the ledger: limits on parts and money hold exactly, and the ledger counts exactly
//! what was committed (durable, acknowledged), whatever the pace of the traffic.
#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::time::Duration;

use proptest::prelude::*;
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
        secrets: Default::default(),
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
        secrets: Default::default(),
        api_keys: Vec::new(),
        callback: None,
    }
}

fn apply(ledger: &LocalLedger, command: Command) {
    let request = Request {
        at_ms: tern_actors::context::now_ms(),
        audit: None,
        command,
    };
    let response =
        futures::executor::block_on(tern_actors::quota::Ledger::propose(ledger, request)).unwrap();
    assert!(!matches!(response, Response::Refused(_)), "{response:?}");
}

fn limited(ledger: &LocalLedger, account: &str, max: u64) {
    apply(
        ledger,
        Command::CreateAccount {
            spec: spec(
                account,
                Limits {
                    max_messages: Some(max),
                    ..Limits::default()
                },
            ),
            credit: 0,
        },
    );
}

async fn pipeline(
    ledger: Arc<dyn tern_actors::quota::Ledger>,
    accounts: &[&str],
) -> (Pipeline, tempfile::TempDir) {
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
        membership: None,
    };
    (Pipeline::start(store, config).await.unwrap(), dir)
}

/// (parts used in the period, parts reserved, open leases) of `account`.
fn figures(ledger: &LocalLedger, account: &str) -> (u64, u64, usize) {
    ledger
        .read(|s| {
            let l = &s.accounts[account].ledger;
            let open = s.leases.values().filter(|l| l.account == account).count();
            (l.period_used, l.reserved_parts, open)
        })
        .unwrap()
}

#[tokio::test]
async fn sessions_spend_exactly_up_to_the_message_limit() {
    let ledger = Arc::new(LocalLedger::new(State::default()));
    limited(&ledger, "acme", 100);
    let (pipeline, _dir) = pipeline(ledger.clone(), &["acme"]).await;
    // Two sessions of one account compete for the limit.
    let mut a = Lease::new("acme");
    let mut b = Lease::new("acme");
    let mut granted = 0;
    for i in 0..150 {
        let lease = if i % 2 == 0 { &mut a } else { &mut b };
        match lease.spend(&pipeline.ctx, 1, 0).await {
            Ok(charge) => {
                charge.commit();
                granted += 1;
            }
            Err(Spend::OverQuota) => {}
            Err(other) => panic!("{other:?}"),
        }
    }
    assert_eq!(granted, 100);
    assert_eq!(
        a.spend(&pipeline.ctx, 1, 0).await.err(),
        Some(Spend::OverQuota)
    );
    pipeline.stop().await;
    assert_eq!(figures(&ledger, "acme"), (100, 0, 0));
}

/// A node that left the cluster for good (forgotten after it stopped, maybe as the raft
/// leader, unable to close its own lease): the leader closes its open leases with what the
/// store shows charged, and leaves the leases of the others alone.
#[tokio::test]
async fn the_open_lease_of_a_node_that_left_is_settled_from_the_store() {
    let ledger = Arc::new(LocalLedger::new(State::default()));
    limited(&ledger, "acme", 1_000);
    let (pipeline, _dir) = pipeline(ledger.clone(), &["acme"]).await;
    let lease_of = |node: u16| tern_model::MessageId::from_parts(1_000, node, 1).0;
    for node in [8u16, 9] {
        apply(
            &ledger,
            Command::AcquireLease {
                lease: lease_of(node),
                account: "acme".into(),
                node: u64::from(node),
                parts: 100,
                amount: 0,
                ttl_ms: 60_000,
            },
        );
    }
    let charges = (0..7u64)
        .map(|n| tern_storage::WriteOp::Charge {
            lease: lease_of(9),
            id: tern_model::MessageId::from_parts(2_000 + n, 9, 0),
            parts: 1,
            amount: 0,
        })
        .collect();
    tern_storage::write_durable(pipeline.ctx.store.as_ref(), charges)
        .await
        .unwrap();
    assert_eq!(figures(&ledger, "acme"), (0, 200, 2));

    tern_actors::quota::settle_leases_of_departed(&pipeline.ctx, &|node| node == 9).await;
    assert_eq!(
        figures(&ledger, "acme"),
        (7, 100, 1),
        "node 9's lease counted as charged and closed; node 8's still open"
    );
    // Settled once: it is no longer listed.
    tern_actors::quota::settle_leases_of_departed(&pipeline.ctx, &|node| node == 9).await;
    assert_eq!(figures(&ledger, "acme"), (7, 100, 1));
    pipeline.stop().await;
}

#[tokio::test]
async fn money_runs_out_at_the_price_and_cancelled_charges_go_back() {
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
    // A message of two parts that could not be stored: its charge goes back.
    lease.spend(&pipeline.ctx, 2, 14).await.unwrap().cancel();
    let mut sent = 0;
    loop {
        match lease.spend(&pipeline.ctx, 1, 7).await {
            Ok(charge) => {
                charge.commit();
                sent += 1;
            }
            Err(Spend::NoCredit) => break,
            Err(other) => panic!("{other:?}"),
        }
    }
    // 14 parts at 7 leave 2 of 100.
    assert_eq!(sent, 14);
    pipeline.stop().await;
    let ledger_view = ledger
        .read(|s| {
            let l = &s.accounts["shop"].ledger;
            (l.balance, l.reserved_amount, l.spent_total)
        })
        .unwrap();
    assert_eq!(ledger_view, (2, 0, 98));
}

/// One session sends `count` single-part messages `gap` apart; returns what was accepted.
async fn paced(pipeline: &Pipeline, account: &str, count: usize, gap: Duration) -> u64 {
    let mut lease = Lease::new(account);
    let mut accepted = 0;
    for i in 0..count {
        if i > 0 {
            tokio::time::sleep(gap).await;
        }
        if let Ok(charge) = lease.spend(&pipeline.ctx, 1, 0).await {
            charge.commit();
            accepted += 1;
        }
    }
    accepted
}

/// The defect this guards against: sessions took blocks of 8, 16, 32 parts and the ledger
/// counted the blocks, so 10 messages 0.3 s apart counted as 24.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_ledger_counts_what_was_accepted_at_every_pace() {
    let ledger = Arc::new(LocalLedger::new(State::default()));
    let paces: [(&str, usize, u64); 5] = [
        ("burst", 10, 0),
        ("tenth", 10, 100),
        ("third", 10, 300),
        ("second", 3, 1_200),
        // Longer than a lease stays open without use.
        ("slow", 3, 3_500),
    ];
    for (account, _, _) in paces {
        limited(&ledger, account, 100);
    }
    let names: Vec<&str> = paces.iter().map(|p| p.0).collect();
    let (pipeline, _dir) = pipeline(ledger.clone(), &names).await;
    let runs = paces.map(|(account, count, gap)| {
        let pipeline = &pipeline;
        async move {
            let accepted = paced(pipeline, account, count, Duration::from_millis(gap)).await;
            (account, accepted)
        }
    });
    let accepted = futures::future::join_all(runs).await;
    // The counters settle every second and close idle leases after three.
    tokio::time::sleep(Duration::from_secs(5)).await;
    for (account, accepted) in &accepted {
        assert_eq!(
            figures(&ledger, account),
            (*accepted, 0, 0),
            "{account}: the ledger's use and reservations after settling"
        );
    }
    let expected: Vec<u64> = paces.iter().map(|p| p.1 as u64).collect();
    let got: Vec<u64> = accepted.iter().map(|a| a.1).collect();
    assert_eq!(got, expected);
    pipeline.stop().await;
}

/// A ledger whose calls fail as a schedule says: `Before` the request reaches the state
/// (nothing applied) or `After` (applied, but the caller never hears the answer: an
/// unknown outcome, as when a leader dies with the proposal in flight).
struct Flaky {
    inner: LocalLedger,
    faults: std::sync::Mutex<std::collections::VecDeque<Fault>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fault {
    None,
    Before,
    After,
}

impl tern_actors::quota::Ledger for Flaky {
    fn propose(
        &self,
        request: Request,
    ) -> futures::future::BoxFuture<'_, Result<Response, String>> {
        let fault = self
            .faults
            .lock()
            .unwrap()
            .pop_front()
            .unwrap_or(Fault::None);
        Box::pin(async move {
            match fault {
                Fault::None => self.inner.propose(request).await,
                Fault::Before => Err("no leader".into()),
                Fault::After => {
                    let _ = self.inner.propose(request).await;
                    Err("timed out".into())
                }
            }
        })
    }

    fn price(&self, account: &str, route: Option<&str>, destination: &str) -> i64 {
        self.inner.price(account, route, destination)
    }

    fn standing(&self, account: &str, at_ms: u64) -> Option<tern_ledger::Standing> {
        self.inner.standing(account, at_ms)
    }

    fn account(&self, account: &str) -> Option<tern_ledger::Account> {
        self.inner.account(account)
    }

    fn unsettled_leases(
        &self,
        mine: &(dyn Fn(tern_ledger::LeaseId) -> bool + Sync),
    ) -> Vec<(tern_ledger::LeaseId, String)> {
        self.inner.unsettled_leases(mine)
    }
}

#[derive(Debug, Clone)]
enum Step {
    /// A session charges a message of `parts`, which is then stored (`commit`) or not.
    Send {
        session: usize,
        parts: u64,
        commit: bool,
    },
    /// Time passes: ticks settle, leases go idle.
    Wait(u64),
    /// The next ledger calls fail so.
    Faults(Vec<Fault>),
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        3 => (0..3usize, 1..4u64, prop::bool::weighted(0.85)).prop_map(|(session, parts, commit)| {
            Step::Send { session, parts, commit }
        }),
        1 => (0..4_500u64).prop_map(Step::Wait),
        1 => prop::collection::vec(
            prop_oneof![Just(Fault::None), Just(Fault::Before), Just(Fault::After)],
            1..4,
        )
        .prop_map(Step::Faults),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    /// Random arrivals from three sessions, stored or not, with random pauses between
    /// them (shorter and longer than a tick, and than the idle close) and ledger calls that
    /// fail before or after they apply: the limit is never passed, and once the counter
    /// settles the ledger's use is exactly what was committed, with nothing left reserved.
    #[test]
    fn ledger_use_equals_committed_parts(steps in prop::collection::vec(step(), 1..40), max in 5..60u64) {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .start_paused(true)
            .build()
            .unwrap();
        runtime.block_on(async move {
            let local = LocalLedger::new(State::default());
            limited(&local, "acme", max);
            let ledger = Arc::new(Flaky {
                inner: local,
                faults: Default::default(),
            });
            let (pipeline, _dir) = pipeline(ledger.clone(), &["acme"]).await;
            let mut sessions = [Lease::new("acme"), Lease::new("acme"), Lease::new("acme")];
            let mut committed = 0;
            for step in steps {
                match step {
                    Step::Send { session, parts, commit } => {
                        match sessions[session].spend(&pipeline.ctx, parts, 0).await {
                            Ok(charge) if commit => {
                                charge.commit();
                                committed += parts;
                            }
                            Ok(charge) => charge.cancel(),
                            Err(Spend::OverQuota) => {
                                // Refused only when the rest cannot carry the message.
                                assert!(committed + parts > max, "refused at {committed} of {max}");
                            }
                            // The ledger could not be reached: a temporary refusal.
                            Err(Spend::Unavailable) => {}
                            Err(other) => panic!("{other:?}"),
                        }
                        assert!(committed <= max);
                    }
                    Step::Wait(ms) => tokio::time::sleep(Duration::from_millis(ms)).await,
                    Step::Faults(faults) => ledger.faults.lock().unwrap().extend(faults),
                }
            }
            ledger.faults.lock().unwrap().clear();
            tokio::time::sleep(Duration::from_secs(5)).await;
            assert_eq!(figures(&ledger.inner, "acme"), (committed, 0, 0));
            pipeline.stop().await;
        });
    }
}
