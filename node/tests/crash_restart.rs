#![allow(clippy::unwrap_used)]
//! kill -9 in the middle of a load, then a restart on the same store: every message the
//! customer had acknowledged reaches the operator and its receipt reaches the customer,
//! and what the operator sees twice is no more than what the node counted as resent with
//! an unknown outcome. Runs the real `tern` binary; the simulated operator stays up in this
//! process across the crash.

mod common;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::process::NodeProcess;
use common::*;
use tern_bench::smsc::{SmscConfig, SmscHandle};
use tern_smpp::rusmpp::values::RegisteredDelivery;
use tern_smpp::session::BindKind;

/// How long a node process may take to start: against Cassandra on a busy machine its
/// schema migrations alone have taken six seconds.
const START: Duration = Duration::from_secs(45);

/// Waits until the node accepts connections on `addr` (it may still be starting).
async fn wait_listening(addr: SocketAddr) {
    let deadline = tokio::time::Instant::now() + START;
    while tokio::net::TcpStream::connect(addr).await.is_err() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the node did not listen on {addr}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Binds once the node answers.
async fn bind_when_up(addr: SocketAddr, kind: BindKind, inbox: Arc<Inbox>) -> Esme {
    wait_listening(addr).await;
    Esme::bind_into(addr, kind, "alice", "secret", inbox)
        .await
        .unwrap()
}

/// The value of an unlabelled counter at the node's /metrics; 0 when absent.
async fn scrape_counter(metrics: SocketAddr, name: &str) -> u64 {
    let response = scrape_metrics(metrics).await;
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    response
        .lines()
        .filter_map(|line| line.strip_prefix(name))
        .filter_map(|rest| rest.trim().parse::<f64>().ok())
        .map(|value| value as u64)
        .sum()
}

/// The simulated operator on a port of its own and the configuration of a node in front
/// of it (`upstream` the link's extra lines), with its SMPP and metrics listeners on ports
/// of their own: the simulator, the configuration's path, the SMPP and metrics addresses.
async fn sim_and_node_config(
    dir: &std::path::Path,
    upstream: &str,
) -> (SmscHandle, std::path::PathBuf, SocketAddr, SocketAddr) {
    let sim_addr = SocketAddr::from(([127, 0, 0, 1], free_port()));
    let smpp = SocketAddr::from(([127, 0, 0, 1], free_port()));
    let metrics = SocketAddr::from(([127, 0, 0, 1], free_port()));
    let sim = start_sim(SmscConfig {
        listen: sim_addr,
        ..sim_config()
    })
    .await;
    let toml = base_toml(&dir.join("store"))
        .replacen(
            "listen = \"127.0.0.1:0\"",
            &format!("listen = \"{smpp}\""),
            1,
        )
        .replace("[node]", "[log]\nlevel = \"warn\"\n\n[node]")
        + &format!("\n[metrics]\nlisten = \"{metrics}\"\n")
        + &account_toml("alice", "secret", "")
        + &upstream_toml("op", sim_addr, upstream);
    let config = dir.join("tern.toml");
    std::fs::write(&config, &toml).unwrap();
    (sim, config, smpp, metrics)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_messages_survive_kill_9_and_a_restart() {
    init_tracing();
    let dir = tempfile::tempdir().unwrap();
    let (sim, config, smpp, metrics) = sim_and_node_config(dir.path(), "window = 64").await;
    let log = dir.path().join("node.log");

    let mut node = NodeProcess::start(&config, log.clone());
    let inbox = Arc::new(Inbox::default());
    let esme = Arc::new(bind_when_up(smpp, BindKind::Transceiver, inbox.clone()).await);

    // 32 submits in flight all the time; every acknowledged id is kept.
    const TARGET: usize = 2_000;
    let acked = Arc::new(Mutex::new(Vec::<String>::new()));
    let mut workers = tokio::task::JoinSet::new();
    for worker in 0..32 {
        let (esme, acked) = (esme.clone(), acked.clone());
        workers.spawn(async move {
            let mut refused = 0u64;
            for i in 0.. {
                let to = format!("4915{worker:02}{i:07}");
                match esme
                    .submit(short_submit(&to, &format!("load {worker} {i}")))
                    .await
                {
                    Ok(Outcome::Accepted(id)) => acked.lock().unwrap().push(id),
                    Ok(Outcome::Refused(_)) => refused += 1,
                    Err(Lost) => break,
                }
            }
            refused
        });
    }
    let loaded = eventually(Duration::from_secs(25), || {
        acked.lock().unwrap().len() >= TARGET
    })
    .await;
    assert!(
        loaded,
        "only {} acknowledged before the kill",
        acked.lock().unwrap().len()
    );
    node.kill();
    let killed = Instant::now();
    let mut refused = 0;
    while let Some(worker) = workers.join_next().await {
        refused += worker.unwrap();
    }
    let acked: Vec<String> = acked.lock().unwrap().clone();
    assert_distinct_decimal(&acked);
    let at_kill = sim.stats();

    let restarted = Instant::now();
    let _node = NodeProcess::start(&config, log);
    let receiver = bind_when_up(smpp, BindKind::Receiver, inbox.clone()).await;
    let recovered = eventually(Duration::from_secs(30), || {
        if sim.stats().unique_submits < acked.len() as u64 {
            return false;
        }
        let by_id = inbox.receipts_by_id();
        acked.iter().all(|id| by_id.contains_key(id))
    })
    .await;
    let recovery = restarted.elapsed();
    let stats = sim.stats();
    let unknown = scrape_counter(metrics, "tern_dispatch_resent_unknown_outcome_total").await;
    let by_id = inbox.receipts_by_id();
    let missing_receipts = acked.iter().filter(|id| !by_id.contains_key(*id)).count();
    let repeated_receipts: usize = by_id.values().map(|r| r.len().saturating_sub(1)).sum();
    eprintln!(
        "kill -9: acknowledged {acked}, refused {refused}; at the kill the operator had {at_kill_unique}; \
         reached the operator {unique} (submits {submits}, duplicates {duplicates}); \
         resends with unknown outcome {unknown}; receipts missing {missing_receipts}, \
         delivered again {repeated_receipts}; recovered in {recovery:.2?} after the restart \
         ({since_kill:.2?} after the kill)",
        acked = acked.len(),
        at_kill_unique = at_kill.unique_submits,
        unique = stats.unique_submits,
        submits = stats.submits,
        duplicates = stats.duplicates,
        since_kill = killed.elapsed(),
    );
    assert!(
        recovered,
        "not recovered within 30 s: {} acknowledged, {missing_receipts} receipts missing; operator: {stats:?}",
        acked.len()
    );
    assert!(stats.submits - stats.duplicates >= acked.len() as u64);
    assert!(
        stats.duplicates <= unknown,
        "the operator saw {} duplicates, the node counted {unknown} resends with unknown outcome",
        stats.duplicates
    );
    receiver.unbind().await;
    sim.shutdown().await;
}

/// A part of a long message held for its other parts is as durable as any message: after
/// kill -9 and a restart it goes to the operator as it is, once its hold has passed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_held_part_survives_kill_9() {
    use tern_cmpp::mapping::{self, LinkOptions};
    use tern_cmpp::net::{Client, ClientConfig};
    use tern_cmpp::{result, Body, Version};
    use tern_model::{Address, Message};

    init_tracing();
    let dir = tempfile::tempdir().unwrap();
    let sim = start_sim(sim_config()).await;
    let cmpp = SocketAddr::from(([127, 0, 0, 1], free_port()));
    let toml = base_toml(&dir.path().join("store"))
        + &format!("\n[cmpp]\nlisten = \"{cmpp}\"\n")
        + &account_toml("901234", "pw", "cmpp_secret = \"s3cret\"")
        + &upstream_toml("op", sim.addr(), "");
    let config = dir.path().join("tern.toml");
    std::fs::write(&config, &toml).unwrap();
    let log = dir.path().join("node.log");
    let mut node = NodeProcess::start(&config, log.clone());

    let stop = tokio_util::sync::CancellationToken::new();
    let mut client_config = ClientConfig::new("customer", "127.0.0.1", cmpp.port());
    client_config.source_addr = "901234".into();
    client_config.secret = "s3cret".into();
    client_config.version = Version::V30;
    client_config.reconnect_max = Duration::from_secs(1);
    wait_listening(cmpp).await;
    let (client, _events) = Client::start(
        client_config,
        stop.clone(),
        &tokio_util::task::TaskTracker::new(),
    );
    let message = Message::text(
        Address::international("1065"),
        Address::international("8613800138000"),
        "山".repeat(100),
    );
    let options = LinkOptions {
        msg_src: "901234".into(),
        ..LinkOptions::default()
    };
    let first = mapping::message_to_submits(&message, &options, 9)
        .unwrap()
        .remove(0);
    assert!(
        eventually(WAIT, || client.is_up()).await,
        "the CMPP customer did not connect"
    );
    let response = client.request(Body::Submit(first)).await.unwrap();
    let Body::SubmitResp(resp) = response.body else {
        panic!("not a SUBMIT_RESP: {response:?}");
    };
    assert_eq!(resp.result, result::OK);
    node.kill();
    stop.cancel();
    assert_eq!(sim.stats().submits, 0, "the part was held, not sent");

    let _node = NodeProcess::start(&config, log);
    let seen = sim
        .wait_for(Duration::from_secs(25), |s| s.submits >= 1)
        .await;
    assert_eq!(seen.submits, 1, "{seen:?}");
    sim.shutdown().await;
}

/// A restarted node serves its CMPP and SMGP customers at once: their ids carry on from the
/// reservation the store kept (`tern_cn::msgid::durable`) instead of waiting out the second
/// or the minute an earlier run may have used, and none repeats one given before the kill.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cmpp_and_smgp_ids_carry_on_at_once_after_kill_9() {
    use std::collections::HashSet;
    use tern_model::{Address, Message};

    init_tracing();
    let dir = tempfile::tempdir().unwrap();
    let sim = start_sim(sim_config()).await;
    let cmpp = SocketAddr::from(([127, 0, 0, 1], free_port()));
    let smgp = SocketAddr::from(([127, 0, 0, 1], free_port()));
    let toml = base_toml(&dir.path().join("store"))
        + &format!("\n[cmpp]\nlisten = \"{cmpp}\"\n\n[smgp]\nlisten = \"{smgp}\"\n")
        + &account_toml(
            "901234",
            "pw",
            "secrets = { cmpp = \"s3cret\", smgp = \"s3cret\" }",
        )
        + &upstream_toml("op", sim.addr(), "");
    let config = dir.path().join("tern.toml");
    std::fs::write(&config, &toml).unwrap();
    let log = dir.path().join("node.log");
    let message = Message::text(
        Address::international("1065"),
        Address::international("8613800138000"),
        "hello",
    );
    let (mut cmpp_ids, mut smgp_ids) = (HashSet::new(), HashSet::new());
    for run in 0..2 {
        let mut node = NodeProcess::start(&config, log.clone());
        let stop = tokio_util::sync::CancellationToken::new();
        let tracker = tokio_util::task::TaskTracker::new();
        wait_listening(cmpp).await;
        wait_listening(smgp).await;
        let cmpp_client = {
            use tern_cmpp::net::{Client, ClientConfig};
            let mut config = ClientConfig::new("cmpp", "127.0.0.1", cmpp.port());
            config.source_addr = "901234".into();
            config.secret = "s3cret".into();
            config.reconnect_max = Duration::from_secs(1);
            Client::start(config, stop.clone(), &tracker).0
        };
        let smgp_client = {
            use tern_smgp::net::{Client, ClientConfig};
            let mut config = ClientConfig::new("smgp", "127.0.0.1", smgp.port());
            config.client_id = "901234".into();
            config.secret = "s3cret".into();
            config.reconnect_max = Duration::from_secs(1);
            Client::start(config, stop.clone(), &tracker).0
        };
        assert!(
            eventually(WAIT, || cmpp_client.is_up() && smgp_client.is_up()).await,
            "run {run}: the customers did not log in"
        );
        // The first submits after the start: every one accepted, none busy.
        for _ in 0..5 {
            let options = tern_cmpp::mapping::LinkOptions {
                msg_src: "901234".into(),
                ..Default::default()
            };
            let submit = tern_cmpp::mapping::message_to_submits(&message, &options, 1)
                .unwrap()
                .remove(0);
            let response = cmpp_client
                .request(tern_cmpp::Body::Submit(submit))
                .await
                .unwrap();
            let tern_cmpp::Body::SubmitResp(resp) = response.body else {
                panic!("not a SUBMIT_RESP: {response:?}");
            };
            assert_eq!(resp.result, tern_cmpp::result::OK, "run {run}: CMPP");
            assert!(
                cmpp_ids.insert(resp.msg_id),
                "run {run}: CMPP Msg_Id repeated"
            );

            let options = tern_smgp::mapping::LinkOptions::default();
            let submit = tern_smgp::mapping::message_to_submits(&message, &options, 1)
                .unwrap()
                .remove(0);
            let response = smgp_client
                .request(tern_smgp::Body::Submit(submit))
                .await
                .unwrap();
            let tern_smgp::Body::SubmitResp(resp) = response.body else {
                panic!("not a Submit_Resp: {response:?}");
            };
            assert_eq!(resp.status, tern_smgp::status::OK, "run {run}: SMGP");
            assert!(
                smgp_ids.insert(resp.msg_id),
                "run {run}: SMGP MsgID repeated"
            );
        }
        node.kill();
        stop.cancel();
    }
    sim.shutdown().await;
}

/// A message sent while nothing else waits costs one store commit on its way in, its
/// ACCEPTED records and its first attempt together, and its SUBMITTED state at most one
/// more (a deferred write, which goes alone when no other commit comes within its wait).
/// Three a message would mean the attempt went in a round of its own before the submit
/// left, as it does for a message that waited in a queue.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_sent_alone_costs_at_most_two_store_commits() {
    init_tracing();
    let dir = tempfile::tempdir().unwrap();
    let (sim, config, smpp, metrics) = sim_and_node_config(dir.path(), "").await;
    let _node = NodeProcess::start(&config, dir.path().join("node.log"));
    let esme = bind_when_up(smpp, BindKind::Transceiver, Arc::new(Inbox::default())).await;
    // The first message goes through the quota lease's first grant and the link's first
    // use; the count starts after it.
    esme.submit_ok(short_submit("4915100000000", "warm-up"))
        .await;
    sim.wait_for(WAIT, |s| s.submits >= 1).await;
    tokio::time::sleep(Duration::from_millis(500)).await;

    const MESSAGES: u64 = 30;
    let commits = "tern_store_fsync_batch_writes_count";
    let before = scrape_counter(metrics, commits).await;
    let started = Instant::now();
    for i in 1..=MESSAGES {
        let mut submit = short_submit(&format!("49151{i:08}"), "alone");
        // No receipt: its final state and its delivery to the customer are commits of
        // their own, which this test does not count.
        submit.registered_delivery = RegisteredDelivery::from(0);
        esme.submit_ok(submit).await;
        sim.wait_for(WAIT, |s| s.submits > i).await;
        // Past the deferred SUBMITTED state's wait: the next message finds nothing queued.
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let made = scrape_counter(metrics, commits).await - before;
    // The node's own commits in between: the id generator's mark, once a second, and a
    // quota lease's settlement now and then.
    let own = 2 * started.elapsed().as_secs() + 4;
    eprintln!(
        "{MESSAGES} messages sent one at a time in {:.1?}: {made} store commits",
        started.elapsed()
    );
    assert!(
        made >= MESSAGES,
        "{made} commits for {MESSAGES} durable messages"
    );
    assert!(
        made <= 2 * MESSAGES + own,
        "{made} store commits for {MESSAGES} messages sent one at a time (allowed: two each \
         and {own} of the node's own)"
    );
    esme.unbind().await;
    sim.shutdown().await;
}
