//! The single-node scenarios: one `tern node` on its embedded store, the simulated
//! operator and fault proxies ([`SingleNode`]), customer traffic, and the faults injected
//! on the run's schedule.

use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use std::time::Duration;

use rand::rngs::StdRng;
use rand::{Rng as _, SeedableRng as _};
use rustix::process::Signal;
use tern_smpp::net::BindMode;

use super::{
    first_ok_after, note, settle, traffic, Injection, RunOptions, Scenario, RESPONSE_TIMEOUT,
};
use crate::customer::{Answering, Customer, CustomerConfig};
use crate::env::{EnvOptions, SingleNode, ACCOUNT};
use crate::history::{accepted_ids, now_ms, History};
use crate::proxy::{Direction, Fault};

/// The faults a soak draws from.
const SOAK_FAULTS: [Injection; 6] = [
    Injection::KillNode,
    Injection::RestartNode,
    Injection::PauseNode,
    Injection::CustomerNetwork,
    Injection::OperatorNetwork,
    Injection::KillBeforeUpstream,
];

/// The quota of `quota-runs-out`.
const QUOTA_PARTS: u64 = 150;

/// Runs one single-node scenario and returns its history.
pub(super) async fn run(scenario: &Scenario, options: &RunOptions) -> anyhow::Result<History> {
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
        | Injection::ReplaceLeader
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
