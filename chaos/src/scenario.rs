//! The scenarios: each starts what it needs, runs customer traffic for its duration while
//! it injects its faults on a schedule drawn from the run's seed, lets everything settle,
//! and hands the history to the checker with the invariants that apply to it.
//!
//! Every scenario has the same shape (traffic, faults, settling, figures), so a new one
//! is a table row and, when its fault is not a simulator flag, a fault function.

use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use std::time::Duration;

use rand::rngs::StdRng;
use rand::{Rng as _, SeedableRng as _};
use rustix::process::Signal;
use tern_smpp::net::BindMode;

mod clustered;

use crate::checker::Invariant::{self, *};
use crate::cluster::Binaries;
use crate::customer::{Answering, Customer, CustomerConfig};
use crate::env::{EnvOptions, SingleNode, ACCOUNT};
use crate::history::{accepted_ids, now_ms, History};
use crate::proxy::{Direction, Fault};

/// What a scenario does to the system under test.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Injection {
    /// Nothing: the baseline every other run is compared with.
    None,
    /// The operator misbehaves as its flags say, from start to end.
    Operator,
    /// kill -9 of the node with submits in flight, then a restart.
    KillNode,
    /// SIGTERM, then a restart, twice.
    RestartNode,
    /// SIGSTOP past the customers' response timer, then SIGCONT.
    PauseNode,
    /// The customer's connections are reset mid-stream, and cut after some bytes.
    CustomerNetwork,
    /// The node's binds to the operator are reset, blackholed and slowed.
    OperatorNetwork,
    /// The receiving customer does not answer receipts, disconnects, and comes back.
    DeafCustomer,
    /// 1,000 binds within a second while traffic runs.
    ReconnectStorm,
    /// One receiving customer stops reading (zero window) while another carries on.
    SlowConsumer,
    /// The account's quota runs out during the run.
    Quota,
    /// Cluster: kill -9 of the raft leader, restarted a few seconds later.
    KillLeader,
    /// Cluster: every node drained, stopped and started in turn, the leader last.
    RollingRestart,
    /// The operator unreachable, so accepted messages wait; kill -9 and a restart; the
    /// operator back.
    KillBeforeUpstream,
    /// Cluster: the raft leader cut off from the others (both ways) while customers stay
    /// bound to it, then the network heals.
    PartitionLeader,
    /// Cluster: paths between nodes cut and healed at random, one way or both.
    FlappingPartitions,
    /// Cluster: a follower killed while the others snapshot and purge their logs under
    /// load, then restarted: it catches up from a snapshot.
    SnapshotRestart,
    /// Cluster: the database out of reach of every node, then of one, then slow.
    DatabaseOutage,
    /// Cluster: a fourth node added under load (add-learner, promote), a follower cut off
    /// for a while, then another drained, removed and stopped: N+1 replaced.
    Membership,
    /// The node's clock stepped an hour forward, then an hour back, then drifting 1% fast
    /// (a test build's clock, `TERN_TEST_CLOCK`).
    ClockStep,
    /// The node's disk fails (every commit errors) under load; it stops by itself, the disk
    /// is repaired and the node restarted (a test build's disk, `TERN_TEST_DISK`).
    DiskFailure,
    /// Power lost under load: nothing more reaches the node's disk and the process ends at
    /// once; restarted on what was synced (a test build's disk).
    PowerLoss,
    /// A soak: the single-node faults at random moments, one at a time, for as long as
    /// the traffic runs.
    Schedule,
}

/// The faults a soak draws from.
const SOAK_FAULTS: [Injection; 6] = [
    Injection::KillNode,
    Injection::RestartNode,
    Injection::PauseNode,
    Injection::CustomerNetwork,
    Injection::OperatorNetwork,
    Injection::KillBeforeUpstream,
];

/// One scenario of the catalogue.
#[derive(Debug, Clone)]
pub struct Scenario {
    pub name: &'static str,
    pub about: &'static str,
    /// Fault numbers of the catalogue (reliability.md, F1–F22).
    pub faults: &'static [&'static str],
    pub invariants: &'static [Invariant],
    pub cluster: bool,
    /// In `suite --quick` (CI).
    pub quick: bool,
    pub injection: Injection,
    /// Flags of the simulated operator.
    pub operator_flags: &'static [&'static str],
    /// Submits per second per bind of the link (0: unlimited), and its binds.
    pub tps: u32,
    pub binds: u16,
    /// Needs a `tern` built with `--features failpoints` (`TERN_FAILPOINTS_BIN`).
    pub test_build: bool,
}

const COMMON: &[Invariant] = &[I1, I2a, I2b, I3, I5, I6, I8, I11, I12];

/// Every scenario, in the order `list` shows them.
pub fn catalogue() -> Vec<Scenario> {
    let base = Scenario {
        name: "",
        about: "",
        faults: &[],
        invariants: COMMON,
        cluster: false,
        quick: false,
        injection: Injection::None,
        operator_flags: &[],
        tps: 0,
        binds: 1,
        test_build: false,
    };
    vec![
        Scenario {
            name: "baseline",
            about: "traffic with receipts and long messages, no fault: every invariant holds with no duplicate at all",
            quick: true,
            ..base.clone()
        },
        Scenario {
            name: "kill-node",
            about: "kill -9 of the node with a full customer window in flight, restarted at once; customers rebind",
            faults: &["F1", "F2"],
            invariants: &[I1, I2b, I3, I5, I6, I7, I8, I11, I12],
            quick: true,
            injection: Injection::KillNode,
            ..base.clone()
        },
        Scenario {
            name: "kill-before-upstream",
            about: "the operator unreachable (binds reset, connections refused) so accepted messages wait in the node; kill -9, restart, then the operator is back: each reaches it once",
            faults: &["F2"],
            invariants: &[I1, I2a, I2b, I3, I5, I6, I7, I8, I11, I12],
            injection: Injection::KillBeforeUpstream,
            ..base.clone()
        },
        Scenario {
            name: "clock-step",
            about: "the node's clock stepped an hour forward, then an hour back, then drifting 1% fast, under load with a TPS cap (a test build's clock: TERN_FAILPOINTS_BIN)",
            faults: &["F12"],
            invariants: &[I1, I2a, I2b, I3, I5, I6, I8, I10, I11, I12],
            injection: Injection::ClockStep,
            tps: 80,
            test_build: true,
            ..base.clone()
        },
        Scenario {
            name: "disk-fails",
            about: "the node's disk fails under load (every commit errors, as with a full disk or a failed fsync): no submit is answered OK past the failure, the node stops by itself, the disk is repaired and the node restarted (a test build's disk: TERN_FAILPOINTS_BIN)",
            faults: &["F14"],
            invariants: &[I1, I2b, I3, I5, I6, I7, I8, I11, I12],
            injection: Injection::DiskFailure,
            test_build: true,
            ..base.clone()
        },
        Scenario {
            name: "power-loss",
            about: "power lost under load: from that instant nothing reaches the node's disk and the process ends; restarted on what was synced (a test build's disk: TERN_FAILPOINTS_BIN)",
            faults: &["F13"],
            invariants: &[I1, I2b, I3, I5, I6, I7, I8, I11, I12],
            injection: Injection::PowerLoss,
            test_build: true,
            ..base.clone()
        },
        Scenario {
            name: "restart-node",
            about: "graceful restarts (SIGTERM) of the node under load, twice",
            faults: &["F18"],
            invariants: &[I1, I2b, I3, I5, I6, I7, I8, I11, I12],
            injection: Injection::RestartNode,
            ..base.clone()
        },
        Scenario {
            name: "pause-node",
            about: "SIGSTOP of the node past the customers' response timer, then SIGCONT",
            faults: &["F11"],
            invariants: &[I1, I2a, I2b, I3, I5, I6, I7, I8, I11, I12],
            injection: Injection::PauseNode,
            ..base.clone()
        },
        Scenario {
            name: "operator-drops-after-read",
            about: "the operator closes the bind after reading a submit, before answering it (5% of submits)",
            faults: &["F3"],
            quick: true,
            injection: Injection::Operator,
            operator_flags: &["--drop-after-read", "0.05"],
            ..base.clone()
        },
        Scenario {
            name: "operator-slow-answers",
            about: "the operator answers 3% of submits after 12 s, past the node's response timer",
            faults: &["F4"],
            injection: Injection::Operator,
            operator_flags: &["--slow-answer", "0.03", "--slow-answer-delay", "12s"],
            invariants: &[I1, I2a, I2b, I3, I5, I6, I8, I10, I11, I12],
            ..base.clone()
        },
        Scenario {
            name: "operator-throttles",
            about: "throttling storms (ESME_RTHROTTLED 1 s of every 4, ESME_RMSGQFUL on 3%), part 2 of every long message refused once, and a TPS cap on the link",
            faults: &["F5"],
            quick: true,
            injection: Injection::Operator,
            operator_flags: &[
                "--storm-every", "4s", "--storm-length", "1s",
                "--throttle-rate", "0.03",
                "--refuse-part", "2",
            ],
            tps: 80,
            invariants: &[I1, I2a, I2b, I3, I5, I6, I8, I10, I11, I12],
            ..base.clone()
        },
        Scenario {
            name: "receipts-early",
            about: "the operator sends 30% of receipts before the submit_sm_resp, and 10% twice",
            faults: &["F6"],
            quick: true,
            injection: Injection::Operator,
            operator_flags: &["--receipt-before-resp", "0.3", "--duplicate-receipts", "0.1"],
            ..base.clone()
        },
        Scenario {
            name: "receipts-other-bind",
            about: "two binds to the operator; half the receipts come on the bind that did not submit",
            faults: &["F7"],
            injection: Injection::Operator,
            operator_flags: &["--receipt-other-bind", "0.5"],
            binds: 2,
            ..base.clone()
        },
        Scenario {
            name: "customer-network",
            about: "the customers' connections are reset mid-stream and cut after a few hundred bytes, through the fault proxy",
            faults: &["F1"],
            invariants: &[I1, I2a, I2b, I3, I5, I6, I7, I8, I11, I12],
            injection: Injection::CustomerNetwork,
            ..base.clone()
        },
        Scenario {
            name: "operator-network",
            about: "the node's binds to the operator are reset, blackholed for 4 s and slowed by 300 ms each way, through the fault proxy",
            faults: &["F3", "F4"],
            injection: Injection::OperatorNetwork,
            ..base.clone()
        },
        Scenario {
            name: "customer-deaf",
            about: "the receiving customer answers no receipt for a while, disconnects, and comes back: every receipt reaches it",
            faults: &["F8"],
            invariants: &[I1, I3, I5, I6, I8, I9, I11, I12],
            injection: Injection::DeafCustomer,
            ..base.clone()
        },
        Scenario {
            name: "reconnect-storm",
            about: "1,000 binds within a second (many refused by the account's bind limit) while traffic runs",
            faults: &["F19"],
            invariants: &[I1, I3, I5, I7, I8, I9, I11],
            injection: Injection::ReconnectStorm,
            ..base.clone()
        },
        Scenario {
            name: "slow-consumer",
            about: "a receiving customer's TCP window goes to zero while the node pushes receipts; the other customer is not held up",
            faults: &["F20"],
            invariants: &[I1, I3, I7, I8, I9, I11],
            injection: Injection::SlowConsumer,
            ..base.clone()
        },
        Scenario {
            name: "cluster-kill-leader",
            about: "three nodes on CQL, a link of two binds, 30% of receipts on the other bind (so another node): kill -9 of the raft leader under load, restarted after 5-10 s",
            faults: &["F1", "F7", "F9"],
            operator_flags: &["--receipt-other-bind", "0.3"],
            invariants: &[I1, I2b, I3, I5, I6, I7, I8, I11, I12],
            cluster: true,
            injection: Injection::KillLeader,
            ..base.clone()
        },
        Scenario {
            name: "cluster-pause",
            about: "three nodes: SIGSTOP of a follower for 9-12 s, past its lease, then SIGCONT; it must send nothing on binds it lost",
            faults: &["F11"],
            invariants: &[I1, I2a, I2b, I3, I5, I6, I7, I8, I11, I12],
            cluster: true,
            injection: Injection::PauseNode,
            ..base.clone()
        },
        Scenario {
            name: "cluster-rolling-restart",
            about: "three nodes, 30% of receipts on the other bind: each drained (tern ctl cluster drain), stopped and started in turn under load, the leader last",
            operator_flags: &["--receipt-other-bind", "0.3"],
            faults: &["F18"],
            invariants: &[I1, I2a, I2b, I3, I5, I6, I7, I8, I11, I12],
            cluster: true,
            injection: Injection::RollingRestart,
            ..base.clone()
        },
        Scenario {
            name: "cluster-partition-leader",
            about: "three nodes: the raft leader cut off from the other two (both ways) for 12-15 s while customers stay bound to it; it stops, the majority takes over, then the network heals",
            faults: &["F9"],
            invariants: &[I1, I2a, I2b, I3, I5, I6, I7, I8, I11, I12],
            cluster: true,
            injection: Injection::PartitionLeader,
            ..base.clone()
        },
        Scenario {
            name: "cluster-membership",
            about: "three nodes under load: a fourth added (tern ctl cluster add-learner, promote), a follower cut off from the others for 5-8 s, then a node drained, removed from the cluster and stopped; customers bind to every node, the new one included",
            faults: &["F17", "F9"],
            invariants: &[I1, I2a, I2b, I3, I5, I6, I7, I8, I11, I12],
            cluster: true,
            injection: Injection::Membership,
            ..base.clone()
        },
        Scenario {
            name: "cluster-flapping",
            about: "three nodes: for 15 s, paths between nodes cut and healed every 1-3 s, one way (the receiver stops reading) or both (blackhole)",
            faults: &["F10"],
            invariants: &[I1, I2a, I2b, I3, I5, I6, I7, I8, I11, I12],
            cluster: true,
            injection: Injection::FlappingPartitions,
            ..base.clone()
        },
        Scenario {
            name: "cluster-snapshot-restart",
            about: "three nodes snapshotting every 30 log entries: a follower killed for 10 s while the others snapshot and purge under load, then restarted: it catches up from a snapshot",
            faults: &["F16", "F22"],
            invariants: &[I1, I2b, I3, I5, I6, I7, I8, I11, I12],
            cluster: true,
            injection: Injection::SnapshotRestart,
            ..base.clone()
        },
        Scenario {
            name: "cluster-database-outage",
            about: "three nodes: the CQL database out of reach of every node for 8 s (requests unanswered), then one node's connections to it cut and refused for 8 s, then 100 ms ± 50 ms each way for 5 s: customers are throttled, nothing acknowledged is lost",
            faults: &["F15"],
            invariants: &[I1, I2a, I2b, I3, I5, I6, I7, I8, I11, I12],
            cluster: true,
            injection: Injection::DatabaseOutage,
            ..base.clone()
        },
        Scenario {
            name: "soak",
            about: "a long run (F21: give it --duration 24h --rate 20): kill -9, restarts, pauses and network faults to the customers and the operator at random moments, about one every duration/8 (20 s to 5 min apart)",
            faults: &["F21", "F1", "F2", "F3", "F11", "F18"],
            invariants: &[I1, I2b, I3, I5, I6, I7, I8, I9, I11, I12],
            injection: Injection::Schedule,
            ..base.clone()
        },
        Scenario {
            name: "quota-runs-out",
            about: "the account's quota of parts runs out under load: nothing past it is accepted or charged",
            faults: &[],
            invariants: &[I1, I3, I4, I5, I8, I11, I12],
            quick: true,
            injection: Injection::Quota,
            ..base
        },
    ]
}

/// How one run goes.
#[derive(Debug, Clone)]
pub struct RunOptions {
    pub seed: u64,
    /// The time traffic runs.
    pub duration: Duration,
    /// Submits per second over all customers.
    pub rate: f64,
    pub dir: std::path::PathBuf,
    pub binaries: Binaries,
    pub progress: bool,
    /// More environment variables of the nodes (`FAILPOINTS` of a test build).
    pub node_env: Vec<(String, String)>,
}

/// The most the end of a run waits for everything to settle.
const SETTLE: Duration = Duration::from_secs(120);
/// The customers' response timer.
const RESPONSE_TIMEOUT: Duration = Duration::from_secs(5);
/// The quota of `quota-runs-out`.
const QUOTA_PARTS: u64 = 150;

/// Runs one single-node scenario and returns its history.
pub async fn run(scenario: &Scenario, options: &RunOptions) -> anyhow::Result<History> {
    if scenario.cluster {
        return clustered::run(scenario, options).await;
    }
    let mut rng = StdRng::seed_from_u64(options.seed);
    let mut env = SingleNode::start(EnvOptions {
        dir: options.dir.clone(),
        binaries: options.binaries.clone(),
        seed: options.seed,
        operator_flags: scenario
            .operator_flags
            .iter()
            .map(|s| s.to_string())
            .collect(),
        binds: scenario.binds,
        tps: scenario.tps,
        quota: (scenario.injection == Injection::Quota).then_some(QUOTA_PARTS),
        customer_proxy: matches!(
            scenario.injection,
            Injection::CustomerNetwork | Injection::SlowConsumer | Injection::Schedule
        ),
        operator_proxy: matches!(
            scenario.injection,
            Injection::OperatorNetwork | Injection::KillBeforeUpstream | Injection::Schedule
        ),
        node_env: options.node_env.clone(),
        test_files: scenario.test_build,
    })
    .await?;
    let say = |text: String| {
        if options.progress {
            eprintln!("  [{}] {text}", scenario.name);
        }
    };
    say(format!("node up on {}, seed {}", env.smpp, options.seed));

    let ops = Arc::new(AtomicU64::new(0));
    let customer = |name: &str, number: u8, bind: BindMode, answering: Answering, addr| {
        Customer::start(
            CustomerConfig {
                name: name.into(),
                nodes: vec![(1, addr)],
                system_id: ACCOUNT.0.into(),
                password: ACCOUNT.1.into(),
                bind,
                window: 16,
                response_timeout: RESPONSE_TIMEOUT,
                answering,
                number,
            },
            ops.clone(),
        )
    };
    let direct = env.smpp;
    let through = env.customer_addr();
    // The sender is held up by no proxy fault but the ones aimed at it.
    let sender_addr = if scenario.injection == Injection::SlowConsumer {
        direct
    } else {
        through
    };
    let sender = customer(
        "sender",
        1,
        BindMode::Transceiver,
        Answering::Always,
        sender_addr,
    );
    let deaf = scenario.injection == Injection::DeafCustomer;
    let mut receiver = Some(customer(
        "receiver",
        2,
        BindMode::Transceiver,
        if deaf {
            Answering::Never
        } else {
            Answering::Always
        },
        through,
    ));
    // The slow consumer reads through the proxy; the receiver that must not be held up
    // binds directly.
    let mut bystander = (scenario.injection == Injection::SlowConsumer).then(|| {
        customer(
            "bystander",
            3,
            BindMode::Transceiver,
            Answering::Always,
            direct,
        )
    });
    anyhow::ensure!(
        sender.wait_up(Duration::from_secs(20)).await,
        "the sender does not bind"
    );

    let mut history = History {
        scenario: scenario.name.into(),
        seed: options.seed,
        link_tps: (scenario.tps > 0).then_some(scenario.tps),
        ambiguity_ms: 2000,
        ..History::default()
    };
    // The fault's moment: somewhere in the second and third fifths of the traffic.
    let total = options.duration;
    let at = total.mul_f64(rng.gen_range(0.3..0.6));
    let mut fault_done = matches!(
        scenario.injection,
        Injection::None | Injection::Operator | Injection::Quota | Injection::Schedule
    );
    if scenario.injection == Injection::Operator {
        history.fault(
            &scenario.faults.join(","),
            format!("operator flags {}", scenario.operator_flags.join(" ")),
        );
    }

    let sender = Arc::new(sender);
    let traffic = tokio::spawn(traffic(sender.clone(), rng.gen(), total, options.rate));
    let started = tokio::time::Instant::now();
    let mut rss = Vec::new();
    let mut ticks = 0u64;
    // A soak's faults: one about every eighth of the run, 20 s to 5 min apart.
    let soak_gap = (total / 8).clamp(Duration::from_secs(20), Duration::from_secs(300));
    let mut next_soak_fault = soak_gap.mul_f64(rng.gen_range(0.5..1.5));
    while !traffic.is_finished() {
        tokio::time::sleep(Duration::from_millis(500)).await;
        ticks += 1;
        // Every sample for the first 1,000, then one in 20 (a long run stays small).
        if rss.len() < 1000 || ticks.is_multiple_of(20) {
            rss.extend(env.rss_mib());
        }
        if scenario.injection == Injection::Schedule
            && started.elapsed() >= next_soak_fault
            && started.elapsed() + Duration::from_secs(30) < total
        {
            let pick = SOAK_FAULTS[rng.gen_range(0..SOAK_FAULTS.len())];
            let one = Scenario {
                injection: pick,
                ..scenario.clone()
            };
            inject(
                &one,
                &mut env,
                &mut history,
                &mut rng,
                &mut receiver,
                &mut bystander,
                &sender,
                &say,
            )
            .await?;
            for proxy in [&env.customer_proxy, &env.operator_proxy]
                .into_iter()
                .flatten()
            {
                proxy.clear();
            }
            next_soak_fault = started.elapsed() + soak_gap.mul_f64(rng.gen_range(0.5..1.5));
        }
        if !fault_done && started.elapsed() >= at {
            fault_done = true;
            inject(
                scenario,
                &mut env,
                &mut history,
                &mut rng,
                &mut receiver,
                &mut bystander,
                &sender,
                &say,
            )
            .await?;
        }
    }
    traffic.await?;
    let sender = Arc::try_unwrap(sender)
        .map_err(|_| anyhow::anyhow!("the sender is still in use after the traffic"))?;
    say(format!(
        "traffic done: {} submits",
        ops.load(std::sync::atomic::Ordering::Relaxed)
    ));
    if deaf {
        // The deaf receiver is replaced by one that answers: what waited comes now.
        if let Some(old) = receiver.take() {
            let record = old.finish().await;
            history.receipts.extend(record.receipts);
        }
        history.fault(
            "F8",
            "the deaf receiver unbound; a receiver that answers binds".into(),
        );
        receiver = Some(customer(
            "receiver",
            2,
            BindMode::Transceiver,
            Answering::Always,
            through,
        ));
    }
    if let Some(proxy) = &env.customer_proxy {
        proxy.clear();
    }
    if let Some(proxy) = &env.operator_proxy {
        proxy.clear();
    }

    // Settled: every answer in, queues empty, and receipts no longer coming.
    let receivers: Vec<&Customer> = receiver.iter().chain(bystander.iter()).collect();
    // Settled also means no receipt held for a customer, and no submit awaiting its answer
    // (a slow one may yet time out and be sent again).
    let waiting =
        || async { Ok(env.queued().await? + env.held().await? + env.at_operator().await?) };
    settle(&receivers, waiting, || rss.extend(env.rss_mib())).await;

    let sent = sender.finish().await;
    let ids = accepted_ids(&sent.ops);
    history.figures = env.figures(&ids, 100).await;
    history.figures.rss_mib = rss;
    history.ops = sent.ops;
    history.receipts.extend(sent.receipts);
    for customer in receiver.into_iter().chain(bystander) {
        let record = customer.finish().await;
        history.receipts.extend(record.receipts);
    }
    history.operator = tokio::task::spawn_blocking(move || env.shutdown()).await??;
    Ok(history)
}

/// Submits at `rate` for `duration`; one message in five is long (3 parts).
pub async fn traffic(sender: Arc<Customer>, seed: u64, duration: Duration, rate: f64) {
    let mut rng = StdRng::seed_from_u64(seed);
    let started = tokio::time::Instant::now();
    let interval = Duration::from_secs_f64(1.0 / rate.max(0.1));
    let mut next = started;
    while started.elapsed() < duration {
        tokio::time::sleep_until(next).await;
        next += interval;
        let chars = if rng.gen_bool(0.2) {
            400
        } else {
            rng.gen_range(20..120)
        };
        sender.submit(chars).await;
    }
    sender.settle(RESPONSE_TIMEOUT * 3).await;
}

/// Waits until the queues are empty and receipts stop coming for 3 s, at most
/// [`SETTLE`]; `tick` runs every second.
pub async fn settle<F>(receivers: &[&Customer], queued: impl Fn() -> F, mut tick: impl FnMut())
where
    F: std::future::Future<Output = anyhow::Result<u64>>,
{
    let deadline = tokio::time::Instant::now() + SETTLE;
    let mut last = (usize::MAX, u64::MAX);
    let mut quiet = 0;
    while tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_secs(1)).await;
        tick();
        let receipts = receivers.iter().map(|c| c.receipts()).sum();
        let queued = queued().await.unwrap_or(u64::MAX);
        if (receipts, queued) == last && queued == 0 {
            quiet += 1;
            if quiet >= 3 {
                return;
            }
        } else {
            quiet = 0;
        }
        last = (receipts, queued);
    }
}

/// Injects the scenario's fault once, at its moment.
#[allow(clippy::too_many_arguments)]
async fn inject(
    scenario: &Scenario,
    env: &mut SingleNode,
    history: &mut History,
    rng: &mut StdRng,
    receiver: &mut Option<Customer>,
    bystander: &mut Option<Customer>,
    sender: &Customer,
    say: &impl Fn(String),
) -> anyhow::Result<()> {
    match scenario.injection {
        Injection::None
        | Injection::Operator
        | Injection::Quota
        | Injection::KillLeader
        | Injection::RollingRestart
        | Injection::PartitionLeader
        | Injection::FlappingPartitions
        | Injection::SnapshotRestart
        | Injection::DatabaseOutage
        | Injection::Membership
        | Injection::Schedule => {}
        Injection::ClockStep => {
            const HOUR_MS: i64 = 3_600_000;
            for (offset, drift, what) in [
                (HOUR_MS, 0, "the node's clock stepped an hour forward"),
                (
                    -HOUR_MS,
                    0,
                    "the node's clock stepped two hours back (an hour behind)",
                ),
                (
                    0,
                    10_000,
                    "the node's clock right again, then drifting 1% fast",
                ),
            ] {
                note(history, say, "F12", what.into());
                env.set_clock(offset, drift)?;
                tokio::time::sleep(Duration::from_secs(4)).await;
            }
            env.set_clock(0, 0)?;
            note(history, say, "F12", "the node's clock right again".into());
        }
        Injection::KillBeforeUpstream => {
            // Out of the environment while the node is killed and started; back after.
            let Some(proxy) = env.operator_proxy.take() else {
                return Ok(());
            };
            note(
                history,
                say,
                "F2",
                "the operator unreachable: binds reset, new connections refused".into(),
            );
            proxy.set(Fault {
                refuse: true,
                ..Fault::default()
            });
            proxy.reset_all();
            tokio::time::sleep(Duration::from_secs(3)).await;
            note(
                history,
                say,
                "F2",
                format!(
                    "kill -9 of the node with accepted messages not yet at the operator, {} submits in flight",
                    sender.in_flight()
                ),
            );
            let killed = now_ms();
            env.kill_node()?;
            let started = env.start_node_unbound().await;
            if started.is_ok() {
                // The restarted node finds its queue and no operator, for a while.
                tokio::time::sleep(Duration::from_secs(2)).await;
            }
            proxy.clear();
            env.operator_proxy = Some(proxy);
            started?;
            note(history, say, "F2", "the operator reachable again".into());
            history.recovered(
                "kill -9 to the first submit accepted after it",
                first_ok_after(sender, killed).await,
                20.0,
            );
        }
        Injection::KillNode => {
            note(
                history,
                say,
                "F1",
                format!(
                    "kill -9 of the node with {} submits in flight",
                    sender.in_flight()
                ),
            );
            let killed = now_ms();
            env.kill_node()?;
            env.start_node().await?;
            note(history, say, "F1", "the node restarted".into());
            let first = first_ok_after(sender, killed).await;
            history.recovered("kill -9 to the first submit accepted after it", first, 20.0);
        }
        Injection::DiskFailure | Injection::PowerLoss => {
            let (fault, mode, what) = if scenario.injection == Injection::DiskFailure {
                ("F14", "failing", "the node's disk fails")
            } else {
                ("F13", "power-loss", "power lost")
            };
            note(
                history,
                say,
                fault,
                format!("{what} with {} submits in flight", sender.in_flight()),
            );
            let failed = now_ms();
            env.set_disk(mode)?;
            let ended = env.node_ended(Duration::from_secs(30)).await;
            let stopped = (now_ms() - failed) as f64 / 1000.0;
            match ended {
                Some(status) => note(
                    history,
                    say,
                    fault,
                    format!("the node stopped by itself after {stopped:.1} s ({status})"),
                ),
                None => {
                    note(
                        history,
                        say,
                        fault,
                        "the node did not stop by itself within 30 s; killed".into(),
                    );
                    env.kill_node()?;
                }
            }
            history.recovered(
                format!("{what} to the node's own stop"),
                ended.map(|_| stopped),
                30.0,
            );
            // The customers' submits meanwhile were refused or unanswered: the recovery
            // counts from the node's end, when a restart can begin.
            let down = now_ms();
            env.set_disk("healthy")?;
            env.start_node().await?;
            note(
                history,
                say,
                fault,
                "the disk is healthy again and the node restarted".into(),
            );
            let first = first_ok_after(sender, down).await;
            history.recovered(
                "the node's end to the first submit accepted after its restart",
                first,
                30.0,
            );
        }
        Injection::RestartNode => {
            for n in 1..=2 {
                note(
                    history,
                    say,
                    "F18",
                    format!("SIGTERM to the node ({n} of 2)"),
                );
                let stopped = now_ms();
                env.stop_node()?;
                env.start_node().await?;
                let first = first_ok_after(sender, stopped).await;
                history.recovered(
                    format!("restart {n} to the first submit accepted after it"),
                    first,
                    20.0,
                );
                tokio::time::sleep(Duration::from_secs(2)).await;
            }
        }
        Injection::PauseNode => {
            let pause = Duration::from_millis(rng.gen_range(6_000..9_000));
            note(
                history,
                say,
                "F11",
                format!("SIGSTOP of the node for {pause:?}"),
            );
            env.signal_node(Signal::STOP)?;
            tokio::time::sleep(pause).await;
            env.signal_node(Signal::CONT)?;
            let woke = now_ms();
            note(history, say, "F11", "SIGCONT".into());
            history.recovered(
                "SIGCONT to the first submit accepted after it",
                first_ok_after(sender, woke).await,
                10.0,
            );
        }
        Injection::CustomerNetwork => {
            let Some(proxy) = env.customer_proxy.as_ref() else {
                return Ok(());
            };
            note(
                history,
                say,
                "net",
                "every customer connection reset".into(),
            );
            let reset = now_ms();
            proxy.reset_all();
            tokio::time::sleep(Duration::from_secs(2)).await;
            let bytes = rng.gen_range(200..2000);
            note(
                history,
                say,
                "net",
                format!("customer connections cut after {bytes} more bytes each way"),
            );
            proxy.set(Fault {
                to_upstream: Direction {
                    drop_after: Some(bytes),
                    ..Direction::default()
                },
                to_client: Direction {
                    drop_after: Some(bytes),
                    ..Direction::default()
                },
                ..Fault::default()
            });
            tokio::time::sleep(Duration::from_secs(3)).await;
            proxy.clear();
            note(history, say, "net", "customer network clean again".into());
            history.recovered(
                "reset to the first submit accepted after it",
                first_ok_after(sender, reset).await,
                10.0,
            );
        }
        Injection::OperatorNetwork => {
            let Some(proxy) = env.operator_proxy.as_ref() else {
                return Ok(());
            };
            note(
                history,
                say,
                "net",
                "the node's binds to the operator reset".into(),
            );
            proxy.reset_all();
            tokio::time::sleep(Duration::from_secs(2)).await;
            note(history, say, "net", "operator blackholed for 4 s".into());
            proxy.set(Fault {
                blackhole: true,
                ..Fault::default()
            });
            tokio::time::sleep(Duration::from_secs(4)).await;
            proxy.reset_all();
            let slow = Direction {
                latency: Duration::from_millis(300),
                jitter: Duration::from_millis(100),
                ..Direction::default()
            };
            note(
                history,
                say,
                "net",
                "operator reachable again, 300 ms ± 100 ms each way".into(),
            );
            proxy.set(Fault {
                to_upstream: slow.clone(),
                to_client: slow,
                ..Fault::default()
            });
        }
        Injection::DeafCustomer => {
            note(
                history,
                say,
                "F8",
                "the receiver is deaf from the start; it comes back after the traffic".into(),
            );
        }
        Injection::ReconnectStorm => {
            note(history, say, "F19", "1,000 binds within a second".into());
            let started = now_ms();
            storm(env.customer_addr(), 1000).await;
            note(
                history,
                say,
                "F19",
                format!("storm over after {} ms", now_ms() - started),
            );
            history.recovered(
                "storm to the first submit accepted after it",
                first_ok_after(sender, started).await,
                10.0,
            );
        }
        Injection::SlowConsumer => {
            let Some(proxy) = env.customer_proxy.as_ref() else {
                return Ok(());
            };
            note(
                history,
                say,
                "F20",
                "the receiver's window goes to zero (it stops reading)".into(),
            );
            proxy.set(Fault {
                to_client: Direction {
                    bandwidth: Some(0),
                    ..Direction::default()
                },
                ..Fault::default()
            });
            let stalled = now_ms();
            let before = bystander.as_ref().map_or(0, Customer::receipts);
            let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
            let mut seconds = None;
            while tokio::time::Instant::now() < deadline {
                tokio::time::sleep(Duration::from_millis(100)).await;
                if bystander.as_ref().map_or(0, Customer::receipts) > before + 5 {
                    seconds = Some((now_ms() - stalled) as f64 / 1000.0);
                    break;
                }
            }
            history.recovered(
                "the other receiver's next receipts while one is stalled",
                seconds,
                5.0,
            );
            let _ = receiver;
        }
    }
    Ok(())
}

/// Records a fault injected now, and says so.
fn note(history: &mut History, say: &impl Fn(String), fault: &str, what: String) {
    say(what.clone());
    history.fault(fault, what);
}

/// Seconds from `since_ms` until the first submit started after it is accepted; `None`
/// within 30 s.
async fn first_ok_after(sender: &Customer, since_ms: u64) -> Option<f64> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(end) = sender.first_ok_after(since_ms) {
            return Some(end.saturating_sub(since_ms) as f64 / 1000.0);
        }
        if tokio::time::Instant::now() >= deadline {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// `count` SMPP binds within about a second, each closed once answered.
async fn storm(addr: std::net::SocketAddr, count: usize) {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let mut tasks = tokio::task::JoinSet::new();
    let gap = Duration::from_secs(1) / u32::try_from(count.max(1)).unwrap_or(1);
    for n in 0..count {
        tasks.spawn(async move {
            let pdu = bind_transmitter(u32::try_from(n).unwrap_or(0) + 1);
            let attempt = async {
                let mut stream = tokio::net::TcpStream::connect(addr).await?;
                stream.write_all(&pdu).await?;
                let mut head = [0u8; 16];
                stream.read_exact(&mut head).await?;
                std::io::Result::Ok(())
            };
            let _ = tokio::time::timeout(Duration::from_secs(10), attempt).await;
        });
        tokio::time::sleep(gap).await;
    }
    while tasks.join_next().await.is_some() {}
}

/// A bind_transmitter PDU of the customers' account, written out by hand: the storm
/// needs many cheap sockets, not sessions.
fn bind_transmitter(sequence: u32) -> Vec<u8> {
    let mut body = Vec::new();
    for field in [ACCOUNT.0, ACCOUNT.1, ""] {
        body.extend_from_slice(field.as_bytes());
        body.push(0);
    }
    body.extend_from_slice(&[0x34, 0, 0, 0]);
    let mut pdu = Vec::with_capacity(16 + body.len());
    pdu.extend_from_slice(&u32::try_from(16 + body.len()).unwrap_or(0).to_be_bytes());
    pdu.extend_from_slice(&0x0000_0002u32.to_be_bytes());
    pdu.extend_from_slice(&0u32.to_be_bytes());
    pdu.extend_from_slice(&sequence.to_be_bytes());
    pdu.extend_from_slice(&body);
    pdu
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_every_scenario_says_what_it_checks() {
        let all = catalogue();
        let mut names: Vec<&str> = all.iter().map(|s| s.name).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), all.len());
        for s in &all {
            assert!(
                !s.invariants.is_empty() && !s.about.is_empty(),
                "{}",
                s.name
            );
        }
        assert!(all.iter().filter(|s| s.quick).count() >= 4);
    }

    #[test]
    fn a_storm_bind_is_a_well_formed_pdu() {
        let pdu = bind_transmitter(7);
        assert_eq!(
            u32::from_be_bytes(pdu[0..4].try_into().unwrap()) as usize,
            pdu.len()
        );
        assert_eq!(&pdu[4..8], &[0, 0, 0, 2]);
        assert_eq!(&pdu[12..16], &[0, 0, 0, 7]);
    }
}
