//! The scenarios: each starts what it needs, runs customer traffic for its duration while
//! it injects its faults on a schedule drawn from the run's seed, lets everything settle,
//! and hands the history to the checker with the invariants that apply to it.
//!
//! Every scenario has the same shape (traffic, faults, settling, figures), so a new one
//! is a table row and, when its fault is not a simulator flag, a fault function.

use std::sync::Arc;
use std::time::Duration;

use rand::rngs::StdRng;
use rand::{Rng as _, SeedableRng as _};

mod clustered;
mod single;

use crate::checker::Invariant::{self, *};
use crate::cluster::Binaries;
use crate::customer::Customer;
use crate::history::History;

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
    /// Cluster: a fourth node added as a learner, the leader cut off before it is promoted
    /// (promoted through the new leader), then the leader of the day drained, removed and
    /// stopped.
    ReplaceLeader,
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
            name: "cluster-replace-leader",
            about: "three nodes under load: a fourth added as a learner, the raft leader cut off from the others for 6-9 s in the middle of the change (the learner promoted through the majority's new leader), then the leader of the day drained, removed from the cluster and stopped",
            faults: &["F17", "F9"],
            invariants: &[I1, I2a, I2b, I3, I5, I6, I7, I8, I11, I12],
            cluster: true,
            injection: Injection::ReplaceLeader,
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

/// Runs one scenario and returns its history.
pub async fn run(scenario: &Scenario, options: &RunOptions) -> anyhow::Result<History> {
    if scenario.cluster {
        clustered::run(scenario, options).await
    } else {
        single::run(scenario, options).await
    }
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
}
