//! Random sequences of lease traffic from three nodes, with retries, late and
//! out-of-order settles, ticks, top-ups and bookings, checked after every step against
//! the ledger's invariants: never overdrawn, money conserved, reservations accounted
//! for, refusals and repeated settles changing nothing, and the same log giving the
//! same state on every copy and after a serde round trip.

mod common;

use common::*;
use proptest::prelude::*;
use tern_ledger::{AccountSpec, Command, Minor, Request, Response, State};

const ACCOUNTS: [&str; 5] = ["r", "p", "c", "s", "u"];

/// 2026-01-31T20:00:00Z: the steps cross days and the end of January.
fn start() -> u64 {
    utc(2026, 1, 31, 20, 0, 0)
}

/// root `r` (postpaid 500, monthly, no message limit) <- `p` (prepaid, 300 a day, auto
/// top-up 200) <- `c` (postpaid 100, 120 a month, auto top-up 50); `s` prepaid on its
/// own; `u` neither limited nor metered.
fn accounts() -> Vec<(AccountSpec, Minor)> {
    let mut root = monthly(prepaid("r", None));
    root.limits.credit_limit = Some(500);
    let parent = child_of(prepaid("p", Some(300)), "r", Some(200));
    let mut child = monthly(child_of(prepaid("c", Some(120)), "p", Some(50)));
    child.limits.credit_limit = Some(100);
    child.limits.thresholds = vec![25, 50, 80, 100];
    vec![
        (root, 5_000),
        (parent, 0),
        (child, 100),
        (prepaid("s", Some(200)), 1_000),
        (spec("u"), 0),
    ]
}

#[derive(Debug, Clone)]
enum Op {
    Acquire {
        node: u64,
        account: usize,
        parts: u64,
        amount: Minor,
        ttl_ms: u64,
    },
    /// Reports use of an acquired lease as a percentage of its grant (over 100 is a
    /// node's bug; below an earlier report is a report arriving out of order).
    Settle {
        pick: usize,
        parts_pct: u64,
        amount_pct: i64,
        close: bool,
    },
    /// Applies an earlier request again, exactly as it was (a retried proposal).
    Replay {
        pick: usize,
    },
    Tick,
    TopUp {
        account: usize,
        amount: Minor,
        from_parent: bool,
    },
    Book {
        account: usize,
        parts: u64,
        amount: Minor,
        tolerance_pct: u8,
        delay_ms: u64,
        window_ms: u64,
    },
    Cancel {
        pick: usize,
    },
    Advance {
        ms: u64,
    },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => (0..3u64, 0..5usize, 0..80u64, 0..400i64, 1..60_000u64).prop_map(
            |(node, account, parts, amount, ttl_ms)| Op::Acquire { node, account, parts, amount, ttl_ms }
        ),
        6 => (any::<usize>(), 0..=120u64, 0..=120i64, any::<bool>()).prop_map(
            |(pick, parts_pct, amount_pct, close)| Op::Settle { pick, parts_pct, amount_pct, close }
        ),
        2 => any::<usize>().prop_map(|pick| Op::Replay { pick }),
        2 => Just(Op::Tick),
        1 => (0..5usize, 1..1_000i64, any::<bool>()).prop_map(
            |(account, amount, from_parent)| Op::TopUp { account, amount, from_parent }
        ),
        1 => (0..5usize, 0..100u64, 0..500i64, 0..30u8, 0..7_200_000u64, 1..7_200_000u64)
            .prop_map(|(account, parts, amount, tolerance_pct, delay_ms, window_ms)| Op::Book {
                account, parts, amount, tolerance_pct, delay_ms, window_ms
            }),
        1 => any::<usize>().prop_map(|pick| Op::Cancel { pick }),
        2 => (0..14_400_000u64).prop_map(|ms| Op::Advance { ms }),
    ]
}

/// The test's side of the traffic: what the nodes hold and what came in from outside.
struct Driver {
    now: u64,
    counters: [u64; 3],
    /// Leases granted something: id and grant.
    leases: Vec<(u64, u64, Minor)>,
    campaigns: Vec<String>,
    history: Vec<Request>,
    /// Opening credits plus top-ups from outside.
    money_in: i128,
}

impl Driver {
    fn new() -> Self {
        Self {
            now: start(),
            counters: [0; 3],
            leases: Vec::new(),
            campaigns: Vec::new(),
            history: Vec::new(),
            money_in: accounts()
                .iter()
                .map(|(_, credit)| i128::from(*credit))
                .sum(),
        }
    }

    /// The request an op stands for at the current time, if it stands for one.
    fn request(&mut self, op: &Op) -> Option<Request> {
        let command = match op {
            Op::Advance { ms } => {
                self.now += ms;
                return None;
            }
            Op::Replay { pick } => {
                let index = pick.checked_rem(self.history.len())?;
                return Some(self.history[index].clone());
            }
            Op::Acquire {
                node,
                account,
                parts,
                amount,
                ttl_ms,
            } => {
                let counter = &mut self.counters[*node as usize];
                *counter += 1;
                Command::AcquireLease {
                    lease: (node << 48) | *counter,
                    account: ACCOUNTS[*account].into(),
                    node: *node,
                    parts: *parts,
                    amount: *amount,
                    ttl_ms: *ttl_ms,
                }
            }
            Op::Settle {
                pick,
                parts_pct,
                amount_pct,
                close,
            } => {
                let index = pick.checked_rem(self.leases.len())?;
                let (lease, parts, amount) = self.leases[index];
                Command::SettleLease {
                    lease,
                    used_parts: parts * parts_pct / 100,
                    used_amount: amount * amount_pct / 100,
                    ttl_ms: 30_000,
                    close: *close,
                }
            }
            Op::Tick => Command::Tick,
            Op::TopUp {
                account,
                amount,
                from_parent,
            } => Command::TopUp {
                account: ACCOUNTS[*account].into(),
                amount: *amount,
                from_parent: *from_parent,
            },
            Op::Book {
                account,
                parts,
                amount,
                tolerance_pct,
                delay_ms,
                window_ms,
            } => {
                let id = format!("campaign-{}", self.history.len());
                self.campaigns.push(id.clone());
                Command::BookCampaign {
                    id,
                    account: ACCOUNTS[*account].into(),
                    send_at_ms: self.now + delay_ms,
                    window_ms: *window_ms,
                    parts: *parts,
                    amount: *amount,
                    tolerance_pct: *tolerance_pct,
                }
            }
            Op::Cancel { pick } => {
                let index = pick.checked_rem(self.campaigns.len())?;
                Command::CancelCampaign {
                    id: self.campaigns[index].clone(),
                }
            }
        };
        self.now += 250;
        Some(at(self.now, command))
    }

    /// Learns from the response what the nodes now hold and what money came in.
    fn observe(&mut self, request: &Request, response: &Response, replayed: bool) {
        match (&request.command, response) {
            (Command::AcquireLease { lease, .. }, Response::Lease { parts, amount })
                if !replayed && (*parts > 0 || *amount > 0) =>
            {
                self.leases.push((*lease, *parts, *amount));
            }
            (
                Command::TopUp {
                    amount,
                    from_parent: false,
                    ..
                },
                Response::Ok,
            ) => {
                self.money_in += i128::from(*amount);
            }
            _ => {}
        }
        if !replayed {
            self.history.push(request.clone());
        }
    }
}

fn check_invariants(state: &State, money_in: i128) -> Result<(), TestCaseError> {
    let mut money = 0i128;
    for (id, account) in &state.accounts {
        let ledger = &account.ledger;
        let limits = &account.spec.limits;
        if let Some(max) = limits.max_messages {
            prop_assert!(
                ledger.period_used + ledger.reserved_parts <= max,
                "{id} overdrawn in parts: {ledger:?}"
            );
        }
        if let Some(limit) = limits.credit_limit {
            prop_assert!(
                ledger.balance - ledger.reserved_amount >= -limit,
                "{id} overdrawn in money: {ledger:?}"
            );
        }
        let leases = state.leases.values().filter(|l| &l.account == id);
        for lease in leases.clone() {
            prop_assert!(lease.used_parts <= lease.granted_parts, "{lease:?}");
            prop_assert!(0 <= lease.used_amount && lease.used_amount <= lease.granted_amount);
        }
        let campaigns = state.campaigns.values().filter(|c| &c.account == id);
        let parts: u64 = leases
            .clone()
            .map(|l| l.granted_parts - l.used_parts)
            .sum::<u64>()
            + campaigns.clone().map(|c| c.reserved_parts).sum::<u64>();
        let amount: Minor = leases
            .map(|l| l.granted_amount - l.used_amount)
            .sum::<Minor>()
            + campaigns.map(|c| c.reserved_amount).sum::<Minor>();
        prop_assert_eq!(ledger.reserved_parts, parts, "{} reserved parts", id);
        prop_assert_eq!(ledger.reserved_amount, amount, "{} reserved money", id);
        money += i128::from(ledger.balance) + i128::from(ledger.spent_total);
    }
    prop_assert_eq!(money, money_in, "money created or lost");
    Ok(())
}

fn run(ops: &[Op]) -> Result<(), TestCaseError> {
    let mut driver = Driver::new();
    let mut state = with_accounts(accounts());
    let mut copy = state.clone();
    let mut settles = 0;
    for op in ops {
        let replayed = matches!(op, Op::Replay { .. });
        let Some(request) = driver.request(op) else {
            continue;
        };
        let before = state.clone();
        let response = state.apply(&request);
        prop_assert_eq!(
            copy.apply(&request),
            response.clone(),
            "two copies disagree"
        );
        if matches!(response, Response::Refused(_)) {
            prop_assert_eq!(
                &state,
                &before,
                "a refusal changed the state: {:?}",
                request
            );
        }
        if let Command::SettleLease { .. } = request.command {
            settles += 1;
            let mut twice = state.clone();
            prop_assert_eq!(
                twice.apply(&request),
                response.clone(),
                "settle twice answered"
            );
            prop_assert_eq!(&twice, &state, "settle twice changed more: {:?}", request);
        }
        driver.observe(&request, &response, replayed);
        check_invariants(&state, driver.money_in)?;
    }
    prop_assert_eq!(&state, &copy, "two copies diverged");
    let json = serde_json::to_string(&state).map_err(|e| TestCaseError::fail(e.to_string()))?;
    let back: State =
        serde_json::from_str(&json).map_err(|e| TestCaseError::fail(e.to_string()))?;
    prop_assert_eq!(&back, &state, "serde round trip");
    prop_assert!(settles > 0 || ops.len() < 50);
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn ledger_invariants_hold_over_random_traffic(ops in prop::collection::vec(op(), 200..400)) {
        run(&ops)?;
    }
}

#[test]
fn random_traffic_exercises_every_path() {
    // A fixed long run, so that a silent generator (nothing granted, nothing
    // reclaimed) shows up as a failure rather than as vacuous invariants.
    use proptest::strategy::ValueTree;
    use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};
    let rng = TestRng::from_seed(RngAlgorithm::ChaCha, &[7; 32]);
    let mut runner = TestRunner::new_with_rng(Config::default(), rng);
    let ops = prop::collection::vec(op(), 600)
        .new_tree(&mut runner)
        .expect("a value")
        .current();
    let mut driver = Driver::new();
    let mut state = with_accounts(accounts());
    let (mut reclaimed, mut late_settles, mut drawn_from_campaigns) = (0, 0, 0);
    for op in &ops {
        let replayed = matches!(op, Op::Replay { .. });
        if let Some(request) = driver.request(op) {
            if let Command::SettleLease { lease, .. } = request.command {
                if state.tombstones.get(&lease).is_some_and(|t| t.reclaimed) {
                    late_settles += 1;
                }
            }
            let response = state.apply(&request);
            if let Command::AcquireLease { lease, .. } = request.command {
                if state
                    .leases
                    .get(&lease)
                    .is_some_and(|l| l.campaign.is_some())
                {
                    drawn_from_campaigns += 1;
                }
            }
            driver.observe(&request, &response, replayed);
        }
        reclaimed = reclaimed.max(state.tombstones.values().filter(|t| t.reclaimed).count());
    }
    assert!(driver.leases.len() > 50, "{} leases", driver.leases.len());
    assert!(reclaimed > 0);
    assert!(late_settles > 0);
    assert!(drawn_from_campaigns > 0);
    assert!(state.events.len() > 10);
    assert!(state.accounts.values().any(|a| a.ledger.parts_total > 0));
    assert!(state.accounts["c"].ledger.period_start_ms >= utc(2026, 2, 1, 0, 0, 0));
    assert!(state
        .events
        .iter()
        .any(|e| matches!(e.kind, tern_ledger::EventKind::ParentTopUp { .. })));
}
