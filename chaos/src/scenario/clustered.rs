//! The cluster scenarios: three `tern node` processes on the CQL database (TERN_CQL, or
//! `scripts/cassandra`), the simulated operator with a link of fewer binds than nodes, a
//! customer bound to every node that submits through whichever bind is up, and a
//! receiver bound to every node. The faults are the ones a cluster exists to survive: the
//! raft leader killed, a node paused past its lease, every node restarted in turn.

use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use std::time::Duration;

use rand::rngs::StdRng;
use rand::{Rng as _, SeedableRng as _};
use tern_smpp::net::BindMode;

use super::{note, settle, traffic, Injection, RunOptions, Scenario, RESPONSE_TIMEOUT};
use crate::cluster::{LocalCluster, Options, DEMO_ACCOUNT};
use crate::customer::{Answering, Customer, CustomerConfig};
use crate::env::{figures_via, scrape, sum_metric};
use crate::history::{accepted_ids, now_ms, read_lines, History};
use crate::proxy::{Direction, Fault};

const NODES: u16 = 3;
/// A survivor must take a customer's submits within this (I7).
const TAKEOVER_LIMIT: f64 = 10.0;

pub async fn run(scenario: &Scenario, options: &RunOptions) -> anyhow::Result<History> {
    let mut rng = StdRng::seed_from_u64(options.seed);
    let operator_history = options.dir.join("operator-history.jsonl");
    let mut operator_args = vec![
        "--history".to_owned(),
        operator_history.display().to_string(),
        "--seed".to_owned(),
        options.seed.to_string(),
        // As a real SMSC: a receipt a node did not answer in time (paused, cut off) is sent
        // again, not dropped.
        "--retry-timed-out-delivers".to_owned(),
    ];
    operator_args.extend(scenario.operator_flags.iter().map(|s| s.to_string()));
    let mut cluster = LocalCluster::up(Options {
        nodes: NODES,
        dir: options.dir.join("cluster"),
        binaries: Some(options.binaries.clone()),
        progress: options.progress,
        operator_args,
        node_proxies: matches!(
            scenario.injection,
            Injection::PartitionLeader
                | Injection::FlappingPartitions
                | Injection::Membership
                | Injection::ReplaceLeader
        ),
        spare: u16::from(matches!(
            scenario.injection,
            Injection::Membership | Injection::ReplaceLeader
        )),
        snapshot_logs: (scenario.injection == Injection::SnapshotRestart).then_some(30),
        database_proxies: scenario.injection == Injection::DatabaseOutage,
        ..Options::default()
    })
    .await?;
    let say = |text: String| {
        if options.progress {
            eprintln!("  [{}] {text}", scenario.name);
        }
    };
    let nodes: Vec<(u16, std::net::SocketAddr)> = cluster
        .summary()
        .nodes
        .iter()
        .map(|n| (n.id, n.smpp))
        .collect();
    let ops = Arc::new(AtomicU64::new(0));
    let customer = |name: &str, number: u8, bind: BindMode| {
        Customer::start(
            CustomerConfig {
                name: name.into(),
                nodes: nodes.clone(),
                system_id: DEMO_ACCOUNT.0.into(),
                password: DEMO_ACCOUNT.1.into(),
                bind,
                window: 16,
                response_timeout: RESPONSE_TIMEOUT,
                answering: Answering::Always,
                number,
            },
            ops.clone(),
        )
    };
    let sender = customer("sender", 1, BindMode::Transceiver);
    let receiver = customer("receiver", 2, BindMode::Transceiver);
    anyhow::ensure!(
        sender.wait_up(Duration::from_secs(30)).await,
        "the sender does not bind"
    );
    say(format!("cluster of {NODES} up, seed {}", options.seed));

    let mut history = History {
        scenario: scenario.name.into(),
        seed: options.seed,
        ambiguity_ms: 2000,
        ..History::default()
    };
    let at = options.duration.mul_f64(rng.gen_range(0.25..0.4));
    let sender = Arc::new(sender);
    let load = tokio::spawn(traffic(
        sender.clone(),
        rng.gen(),
        options.duration,
        options.rate,
    ));
    tokio::time::sleep(at).await;
    inject(
        scenario,
        &mut cluster,
        &mut history,
        &mut rng,
        &sender,
        &say,
    )
    .await?;
    load.await?;
    let sender = Arc::try_unwrap(sender)
        .map_err(|_| anyhow::anyhow!("the sender is still in use after the traffic"))?;

    let queued = || async {
        let mut total = 0;
        for (id, _) in &nodes {
            if let Ok(queues) = cluster.ctl(*id, &["queue", "list"]).await {
                total += queues["queues"]
                    .as_array()
                    .map(|q| q.iter().filter_map(|q| q["depth"].as_u64()).sum::<u64>())
                    .unwrap_or(0);
            }
        }
        anyhow::Ok(total)
    };
    // Settled also means no receipt held for a customer on any node, and no submit
    // awaiting the operator's answer.
    let metrics: Vec<std::net::SocketAddr> =
        cluster.summary().nodes.iter().map(|n| n.metrics).collect();
    let waiting = || async {
        let mut total = queued().await?;
        for addr in &metrics {
            if let Ok(page) = scrape(*addr).await {
                total += sum_metric(&page, "tern_outbox_held_deliveries") as u64;
                total += sum_metric(&page, "tern_link_window_in_use_submits") as u64;
            }
        }
        anyhow::Ok(total)
    };
    settle(&[&sender, &receiver], waiting, || {}).await;

    let sent = sender.finish().await;
    let ids = accepted_ids(&sent.ops);
    let cluster_ref = &cluster;
    let nodes_ref = &nodes;
    let ctl = move |args: Vec<String>| async move {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let mut last = Err(anyhow::anyhow!("no node answers"));
        for (id, _) in nodes_ref {
            last = cluster_ref.ctl(*id, &args).await;
            if last.is_ok() {
                break;
            }
        }
        last
    };
    history.figures = figures_via(ctl, DEMO_ACCOUNT.0, &ids, 100).await;
    history.figures.queued = queued().await.unwrap_or(u64::MAX);
    let mut unmatched = 0.0;
    for node in cluster.summary().nodes {
        if let Ok(page) = scrape(node.metrics).await {
            unmatched += sum_metric(&page, "tern_receipts_unmatched_total");
        }
    }
    history.figures.unmatched_receipts = Some(unmatched as u64);
    history.ops = sent.ops;
    history.receipts.extend(sent.receipts);
    history.receipts.extend(receiver.finish().await.receipts);
    tokio::task::spawn_blocking(move || cluster.down()).await??;
    history.operator = read_lines(&operator_history)?;
    Ok(history)
}

/// Seconds from now until one of `nodes` names a leader other than `old`; `None` within
/// `limit`.
async fn new_leader(
    cluster: &LocalCluster,
    nodes: &[u16],
    old: u16,
    limit: Duration,
) -> Option<f64> {
    let started = now_ms();
    while now_ms() - started < limit.as_millis() as u64 {
        for id in nodes {
            if let Ok(status) = cluster.cluster_status(*id).await {
                if status["leader"]
                    .as_u64()
                    .is_some_and(|l| l != u64::from(old))
                {
                    return Some((now_ms() - started) as f64 / 1000.0);
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    None
}

/// Takes node `gone` out of the cluster for good through node `via`, as an operator does:
/// drained, removed, stopped, and forgotten once the others hold it dead (6 s without a
/// heartbeat). When it was the leader, `rest` names the members left, and the time until
/// one of them names a new leader is recorded too.
async fn retire(
    cluster: &mut LocalCluster,
    history: &mut History,
    gone: u16,
    via: u16,
    rest: Option<&[u16]>,
) -> anyhow::Result<()> {
    let node = gone.to_string();
    let started = now_ms();
    cluster
        .ctl(via, &["cluster", "drain", &node, "--wait", "60"])
        .await?;
    cluster.ctl(via, &["cluster", "remove", &node]).await?;
    cluster.terminate(gone)?;
    if let Some(rest) = rest {
        history.recovered(
            format!("node {gone}, the leader, removed to a leader among the rest"),
            new_leader(cluster, rest, gone, Duration::from_secs(30)).await,
            TAKEOVER_LIMIT,
        );
    }
    let deadline = now_ms() + 30_000;
    while let Err(error) = cluster.ctl(via, &["cluster", "forget", &node]).await {
        anyhow::ensure!(now_ms() < deadline, "node {gone} not forgotten: {error:#}");
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    history.recovered(
        format!("node {gone} drained, removed and stopped"),
        Some((now_ms() - started) as f64 / 1000.0),
        90.0,
    );
    Ok(())
}

/// What [`longest_lapse`] measures while the leader is cut off: the majority's nodes
/// must renew their leases through the new leader before they run out.
const MAJORITY_LAPSE: &str =
    "longest a node of the majority went without its lease while the leader was cut off";
/// A lapse no longer than this is a blip between two looks; the lease is 3 s.
const LAPSE_LIMIT: f64 = 1.0;

/// Watches `nodes` for `span`: the longest any of them said it held no lease, in seconds
/// (each looked at about every half second).
async fn longest_lapse(cluster: &LocalCluster, nodes: &[u16], span: Duration) -> f64 {
    let until = now_ms() + span.as_millis() as u64;
    let mut since: std::collections::HashMap<u16, u64> = std::collections::HashMap::new();
    let mut longest = 0;
    while now_ms() < until {
        for &id in nodes {
            let valid =
                matches!(cluster.cluster_status(id).await, Ok(s) if s["lease_valid"] == true);
            let now = now_ms();
            if valid {
                since.remove(&id);
            } else {
                let start = *since.entry(id).or_insert(now);
                longest = longest.max(now - start);
            }
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    longest as f64 / 1000.0
}

/// Heals every path, and records how long until every node holds its lease again.
async fn heal(cluster: &LocalCluster, history: &mut History, say: &impl Fn(String), fault: &str) {
    cluster.heal();
    note(history, say, fault, "the network healed".into());
    let healed = now_ms();
    history.recovered(
        "network healed to every node holding its lease",
        all_leases(cluster, healed).await,
        TAKEOVER_LIMIT,
    );
}

/// Seconds from `since_ms` until every node says it holds its lease; `None` within 60 s.
async fn all_leases(cluster: &LocalCluster, since_ms: u64) -> Option<f64> {
    while now_ms() - since_ms < 60_000 {
        let mut held = 0;
        for id in 1..=NODES {
            if let Ok(status) = cluster.cluster_status(id).await {
                if status["lease_valid"] == true {
                    held += 1;
                }
            }
        }
        if held == NODES {
            return Some((now_ms() - since_ms) as f64 / 1000.0);
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    None
}

/// The log index node `id` has applied, 0 when it does not answer.
async fn applied(cluster: &LocalCluster, id: u16) -> u64 {
    match cluster.cluster_status(id).await {
        Ok(status) => status["applied_index"].as_u64().unwrap_or(0),
        Err(_) => 0,
    }
}

/// The raft leader as the first of the three first nodes that answers sees it.
async fn leader(cluster: &LocalCluster) -> Option<u16> {
    let first: Vec<u16> = (1..=NODES).collect();
    leader_among(cluster, &first).await
}

/// The raft leader as the first of `nodes` that names one sees it.
async fn leader_among(cluster: &LocalCluster, nodes: &[u16]) -> Option<u16> {
    for &id in nodes {
        if let Ok(status) = cluster.cluster_status(id).await {
            if let Some(leader) = status["leader"].as_u64() {
                return u16::try_from(leader).ok();
            }
        }
    }
    None
}

async fn inject(
    scenario: &Scenario,
    cluster: &mut LocalCluster,
    history: &mut History,
    rng: &mut StdRng,
    sender: &Customer,
    say: &impl Fn(String),
) -> anyhow::Result<()> {
    match scenario.injection {
        Injection::KillLeader => {
            let victim = leader(cluster).await.unwrap_or(1);
            note(
                history,
                say,
                "F1",
                format!("kill -9 of the raft leader, node {victim}"),
            );
            let killed = now_ms();
            cluster.kill(victim)?;
            let first = super::first_ok_after(sender, killed).await;
            tokio::time::sleep(Duration::from_secs(rng.gen_range(5..10))).await;
            note(history, say, "F1", format!("node {victim} restarted"));
            cluster.restart(victim).await?;
            history.recovered(
                "leader killed to the next submit accepted by a survivor",
                first,
                TAKEOVER_LIMIT,
            );
        }
        Injection::PauseNode => {
            let leader = leader(cluster).await.unwrap_or(1);
            let followers: Vec<u16> = (1..=NODES).filter(|id| *id != leader).collect();
            let victim = followers[rng.gen_range(0..followers.len())];
            let pause = Duration::from_millis(rng.gen_range(9_000..12_000));
            note(
                history,
                say,
                "F11",
                format!("SIGSTOP of node {victim} for {pause:?}, past its lease"),
            );
            let stopped = now_ms();
            cluster.stop(victim)?;
            let first = super::first_ok_after(sender, stopped).await;
            let left = pause.saturating_sub(Duration::from_millis(now_ms() - stopped));
            tokio::time::sleep(left).await;
            cluster.cont(victim)?;
            note(history, say, "F11", format!("SIGCONT of node {victim}"));
            history.recovered(
                "node paused to the next submit accepted by another",
                first,
                TAKEOVER_LIMIT,
            );
        }
        Injection::RollingRestart => {
            let leader = leader(cluster).await.unwrap_or(NODES);
            let mut order: Vec<u16> = (1..=NODES).filter(|id| *id != leader).collect();
            order.push(leader);
            for id in order {
                let other = if id == 1 { 2 } else { 1 };
                let node = id.to_string();
                note(
                    history,
                    say,
                    "F18",
                    format!("node {id}: drain, SIGTERM, start, undrain"),
                );
                let started = now_ms();
                cluster
                    .ctl(other, &["cluster", "drain", &node, "--wait", "60"])
                    .await?;
                cluster.restart(id).await?;
                cluster
                    .ctl(other, &["cluster", "drain", &node, "--undo"])
                    .await?;
                history.recovered(
                    format!("node {id} drained, restarted and back"),
                    Some((now_ms() - started) as f64 / 1000.0),
                    90.0,
                );
            }
        }
        Injection::Membership => {
            let new = NODES + 1;
            let via = leader(cluster).await.unwrap_or(1);
            note(
                history,
                say,
                "F17",
                format!("node {new} added under load through node {via}: add-learner, promote"),
            );
            let started = now_ms();
            cluster.join(new, via).await?;
            history.recovered(
                format!("node {new} added and a voter"),
                Some((now_ms() - started) as f64 / 1000.0),
                60.0,
            );
            let leader_now = leader(cluster).await;
            let victim = (1..=NODES).find(|id| Some(*id) != leader_now).unwrap_or(2);
            let cut = Duration::from_millis(rng.gen_range(5_000..8_000));
            note(
                history,
                say,
                "F9",
                format!("node {victim}, a follower, cut off from the others for {cut:?}"),
            );
            cluster.partition(&[victim])?;
            tokio::time::sleep(cut).await;
            heal(cluster, history, say, "F9").await;
            // N+1 replaced: one of the first nodes leaves for good, not the leader.
            let leader_now = leader(cluster).await;
            let gone = (1..=NODES)
                .rev()
                .find(|id| Some(*id) != leader_now)
                .unwrap_or(NODES);
            let other = if gone == new - 1 { 1 } else { new - 1 };
            note(
                history,
                say,
                "F17",
                format!("node {gone} drained, removed from the cluster and stopped"),
            );
            retire(cluster, history, gone, other, None).await?;
        }
        Injection::ReplaceLeader => {
            let new = NODES + 1;
            let first = leader(cluster).await.unwrap_or(1);
            note(
                history,
                say,
                "F17",
                format!("node {new} added as a learner through node {first}, the leader"),
            );
            cluster.add_learner(new, first).await?;
            let cut = Duration::from_millis(rng.gen_range(6_000..9_000));
            note(
                history,
                say,
                "F9",
                format!("node {first}, the raft leader, cut off from the others for {cut:?} before the learner is promoted"),
            );
            let started = now_ms();
            cluster.partition(&[first])?;
            let others: Vec<u16> = (1..=NODES).filter(|id| *id != first).collect();
            let elected = new_leader(cluster, &others, first, cut).await;
            history.recovered(
                "leader cut off to a leader elected by the majority",
                elected,
                TAKEOVER_LIMIT,
            );
            let via = match leader_among(cluster, &others).await {
                Some(id) if id != first => id,
                _ => others[0],
            };
            note(
                history,
                say,
                "F17",
                format!("node {new} promoted through node {via} while node {first} is cut off"),
            );
            let promoting = now_ms();
            cluster.promote(new, via).await?;
            history.recovered(
                format!("node {new} a voter, with the old leader cut off"),
                Some((now_ms() - promoting) as f64 / 1000.0),
                60.0,
            );
            let left = cut.saturating_sub(Duration::from_millis(now_ms() - started));
            let voters: Vec<u16> = others.iter().copied().chain([new]).collect();
            let lapse = longest_lapse(cluster, &voters, left).await;
            history.recovered(MAJORITY_LAPSE, Some(lapse), LAPSE_LIMIT);
            heal(cluster, history, say, "F9").await;
            // The leader of the day leaves for good: it must hand the cluster over.
            let members: Vec<u16> = (1..=new).collect();
            let gone = leader_among(cluster, &members).await.unwrap_or(via);
            let other = members
                .iter()
                .copied()
                .find(|id| *id != gone)
                .unwrap_or(new);
            note(
                history,
                say,
                "F17",
                format!(
                    "node {gone}, the raft leader, drained, removed from the cluster and stopped"
                ),
            );
            let rest: Vec<u16> = members.iter().copied().filter(|id| *id != gone).collect();
            retire(cluster, history, gone, other, Some(&rest)).await?;
        }
        Injection::PartitionLeader => {
            let victim = leader(cluster).await.unwrap_or(1);
            let cut = Duration::from_millis(rng.gen_range(12_000..15_000));
            note(
                history,
                say,
                "F9",
                format!("node {victim}, the raft leader, cut off from the others for {cut:?}"),
            );
            cluster.partition(&[victim])?;
            let others: Vec<u16> = (1..=NODES).filter(|id| *id != victim).collect();
            let (elected, lapse) = tokio::join!(
                new_leader(cluster, &others, victim, cut),
                longest_lapse(cluster, &others, cut)
            );
            history.recovered(
                "leader cut off to a leader elected by the majority",
                elected,
                TAKEOVER_LIMIT,
            );
            history.recovered(MAJORITY_LAPSE, Some(lapse), LAPSE_LIMIT);
            heal(cluster, history, say, "F9").await;
        }
        Injection::FlappingPartitions => {
            let until = now_ms() + 15_000;
            while now_ms() < until {
                cluster.heal();
                let from = rng.gen_range(1..=NODES);
                let to = (from + rng.gen_range(0..NODES - 1)) % NODES + 1;
                let (fault, how) = if rng.gen_bool(0.5) {
                    (
                        Fault {
                            to_upstream: Direction {
                                bandwidth: Some(0),
                                ..Direction::default()
                            },
                            ..Fault::default()
                        },
                        format!("one way: node {to} stops reading node {from}'s calls"),
                    )
                } else {
                    (
                        Fault {
                            blackhole: true,
                            ..Fault::default()
                        },
                        "both ways: blackhole".to_owned(),
                    )
                };
                let hold = Duration::from_millis(rng.gen_range(1_000..3_000));
                note(
                    history,
                    say,
                    "F10",
                    format!("path node {from} → node {to} cut for {hold:?}, {how}"),
                );
                cluster.cut(from, to, fault)?;
                tokio::time::sleep(hold).await;
            }
            heal(cluster, history, say, "F10").await;
        }
        Injection::SnapshotRestart => {
            let leader = leader(cluster).await.unwrap_or(1);
            let followers: Vec<u16> = (1..=NODES).filter(|id| *id != leader).collect();
            let victim = followers[rng.gen_range(0..followers.len())];
            note(
                history,
                say,
                "F22",
                format!("kill -9 of node {victim}, a follower, for 10 s of snapshots and purges"),
            );
            let before = applied(cluster, leader).await;
            cluster.kill(victim)?;
            tokio::time::sleep(Duration::from_secs(10)).await;
            let after = applied(cluster, leader).await;
            note(
                history,
                say,
                "F16",
                format!(
                    "the leader applied {} entries meanwhile (a snapshot every 30)",
                    after.saturating_sub(before)
                ),
            );
            let restarted = now_ms();
            cluster.restart(victim).await?;
            note(history, say, "F22", format!("node {victim} restarted"));
            history.recovered(
                "restart to the node holding its lease again",
                all_leases(cluster, restarted).await,
                TAKEOVER_LIMIT * 3.0,
            );
        }
        Injection::DatabaseOutage => {
            let blackhole = Fault {
                blackhole: true,
                ..Fault::default()
            };
            note(
                history,
                say,
                "F15",
                "the database out of reach of every node for 8 s (requests unanswered)".into(),
            );
            for id in 1..=NODES {
                cluster.cut_database(id, blackhole.clone())?;
            }
            tokio::time::sleep(Duration::from_secs(8)).await;
            cluster.heal();
            // Requests held by the blackhole have timed out at the nodes: start afresh.
            for id in 1..=NODES {
                cluster.reset_database(id)?;
            }
            let back = now_ms();
            note(history, say, "F15", "the database reachable again".into());
            history.recovered(
                "database back to the next submit accepted",
                super::first_ok_after(sender, back).await,
                TAKEOVER_LIMIT,
            );
            tokio::time::sleep(Duration::from_secs(3)).await;
            let victim = rng.gen_range(1..=NODES);
            note(
                history,
                say,
                "F15",
                format!("node {victim}'s connections to the database cut and refused for 8 s"),
            );
            cluster.cut_database(
                victim,
                Fault {
                    refuse: true,
                    ..Fault::default()
                },
            )?;
            cluster.reset_database(victim)?;
            tokio::time::sleep(Duration::from_secs(8)).await;
            cluster.heal();
            let slow = Direction {
                latency: Duration::from_millis(100),
                jitter: Duration::from_millis(50),
                ..Direction::default()
            };
            note(
                history,
                say,
                "F15",
                "the database 100 ms ± 50 ms each way for every node, 5 s".into(),
            );
            for id in 1..=NODES {
                cluster.cut_database(
                    id,
                    Fault {
                        to_upstream: slow.clone(),
                        to_client: slow.clone(),
                        ..Fault::default()
                    },
                )?;
            }
            tokio::time::sleep(Duration::from_secs(5)).await;
            cluster.heal();
            note(history, say, "F15", "the database clean again".into());
        }
        other => anyhow::bail!("{other:?} is not a cluster fault"),
    }
    Ok(())
}
