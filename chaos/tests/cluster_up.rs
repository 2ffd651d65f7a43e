#![allow(clippy::unwrap_used)]
//! A real local cluster: three `tern node` processes on a fresh keyspace of the CQL
//! database at `TERN_CQL`, with the simulated operator. A customer binds as demo/demo on
//! node 2 and what it submits reaches the operator; a node killed with -9 and restarted
//! rejoins; `down` leaves nothing running.
//!
//! Without `TERN_CQL` the test says so and passes (`scripts/cassandra start`, then
//! `export TERN_CQL=127.0.0.1:9042`); under CI it fails instead. It runs the `tern` and
//! `tern-bench` programs of the test's own profile (`cargo test --workspace` builds them;
//! alone: `cargo build -p tern-node --bin tern -p tern-bench --bin tern-bench` first), or
//! those `TERN_BIN` and `TERN_BENCH_BIN` name.

use std::collections::HashSet;
use std::time::Duration;

use tern_chaos::cluster::{Binaries, LocalCluster, Options, DEMO_ACCOUNT};
use tern_smpp::net::{Client, ClientConfig, ClientEvent, LinkState};
use tern_smpp::rusmpp::pdus::{DeliverSmResp, SubmitSm};
use tern_smpp::rusmpp::types::OctetString;
use tern_smpp::rusmpp::values::{DataCoding, EsmClass, Npi, RegisteredDelivery, Ton};
use tern_smpp::session::c_octet;
use tern_smpp::{Command, CommandStatus, Pdu};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

const MESSAGES: u64 = 20;
/// The whole test, start to `down`.
const TEST_LIMIT: Duration = Duration::from_secs(240);
const WAIT: Duration = Duration::from_secs(30);

/// Why the test cannot run here; under CI that is a failure.
fn skip(reason: &str) {
    assert!(
        std::env::var_os("CI").is_none(),
        "CI is set and {reason}: the cluster test has to run"
    );
    eprintln!("skipped: {reason}");
}

/// Polls `check` every 200 ms until it holds; panics after `limit`.
async fn until(what: &str, limit: Duration, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !check() {
        assert!(Instant::now() < deadline, "{what}: not within {limit:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Voters and leader of node `id`'s view, once it answers.
async fn voters_and_leader(cluster: &LocalCluster, id: u16) -> Option<(usize, u64)> {
    let status = cluster.cluster_status(id).await.ok()?;
    let voters = status["members"]
        .as_array()?
        .iter()
        .filter(|m| m["voter"] == true)
        .count();
    Some((voters, status["leader"].as_u64()?))
}

fn submit(n: u64) -> Pdu {
    // Digits, letters and spaces are the same octets in the GSM 7-bit default alphabet.
    let text = format!("cluster up {n}");
    Pdu::from(
        SubmitSm::builder()
            .source_addr_ton(Ton::International)
            .source_addr_npi(Npi::Isdn)
            .source_addr(c_octet("4930123456"))
            .dest_addr_ton(Ton::International)
            .dest_addr_npi(Npi::Isdn)
            .destination_addr(c_octet(&format!("49151{n:08}")))
            .esm_class(EsmClass::from(0))
            .registered_delivery(RegisteredDelivery::from(0))
            .data_coding(DataCoding::from(0))
            .short_message(OctetString::from_vec(text.into_bytes()).unwrap())
            .build(),
    )
}

/// Answers whatever a node sends the customer (receipts, MOs) with ESME_ROK.
async fn answer(mut events: tokio::sync::mpsc::Receiver<ClientEvent>, stop: CancellationToken) {
    loop {
        let event = tokio::select! {
            event = events.recv() => event,
            _ = stop.cancelled() => None,
        };
        let Some(event) = event else { return };
        if let ClientEvent::Request { command, handle } = event {
            let seq = command.sequence_number();
            handle.respond(Command::new(
                CommandStatus::EsmeRok,
                seq,
                Pdu::from(DeliverSmResp::default()),
            ));
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_local_cluster_carries_messages_to_the_operator_and_goes_down_clean() {
    let Some(cql) = std::env::var("TERN_CQL").ok().filter(|v| !v.is_empty()) else {
        return skip("TERN_CQL is not set (scripts/cassandra start)");
    };
    let binaries = match Binaries::find() {
        Ok(binaries) => binaries,
        Err(e) => return skip(&format!("{e:#}")),
    };
    let dir = std::env::temp_dir().join(format!("tern-chaos-cluster-up-{}", std::process::id()));
    let options = Options {
        nodes: 3,
        dir: dir.clone(),
        cql: Some(cql),
        binaries: Some(binaries),
        ..Options::default()
    };
    let state = tokio::time::timeout(TEST_LIMIT, run(options))
        .await
        .expect("the test ends in time (what it started is stopped as the cluster is dropped)");

    // Nothing of it runs any more, and the state file is gone.
    for node in &state.nodes {
        let process = node.process.unwrap();
        assert!(!process.running(), "node {} still runs", node.id);
    }
    assert!(!state.simulator.unwrap().process.running());
    assert!(!dir.join(tern_chaos::cluster::STATE_FILE).exists());
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Up, traffic, a node killed and restarted, down; returns the state as it was before
/// `down`.
async fn run(options: Options) -> tern_chaos::cluster::ClusterState {
    let started = Instant::now();
    let mut cluster = LocalCluster::up(options).await.unwrap();
    eprintln!("up in {:.1?}: {:?}", started.elapsed(), cluster.summary());
    for id in 1..=3 {
        let (voters, _) = voters_and_leader(&cluster, id).await.unwrap();
        assert_eq!(voters, 3, "node {id}");
    }

    // The demo customer on node 2.
    let node2 = cluster.node(2).unwrap().smpp;
    let (user, password) = DEMO_ACCOUNT;
    let mut config = ClientConfig::new("customer", node2.ip().to_string(), node2.port());
    config.system_id = user.into();
    config.password = password.into();
    config.reconnect_min = Duration::from_millis(200);
    config.reconnect_max = Duration::from_secs(1);
    let stop = CancellationToken::new();
    let tracker = TaskTracker::new();
    let (client, events) = Client::start(config, stop.clone(), &tracker);
    tracker.spawn(answer(events, stop.clone()));
    until("demo binds on node 2", WAIT, || {
        client.state() == LinkState::Up
    })
    .await;
    for n in 0..MESSAGES {
        let response = client.request(submit(n)).await.unwrap();
        assert_eq!(response.status(), CommandStatus::EsmeRok, "submit {n}");
    }
    until("the operator has every message", WAIT, || {
        cluster
            .operator_stats()
            .is_some_and(|s| s.submits >= MESSAGES)
    })
    .await;
    stop.cancel();
    tracker.close();
    tracker.wait().await;

    // A node stopped and continued, then killed with -9 and restarted, is a voter again,
    // and every node names the same leader.
    cluster.stop(3).unwrap();
    assert!(cluster.running(3), "a stopped process still runs");
    cluster.cont(3).unwrap();
    let old = cluster.node(3).unwrap().process.unwrap();
    cluster.kill(3).unwrap();
    assert!(!cluster.running(3));
    assert!(cluster.stop(3).is_err(), "a dead node cannot be stopped");
    cluster.restart(3).await.unwrap();
    assert_ne!(cluster.node(3).unwrap().process.unwrap(), old);
    let deadline = Instant::now() + WAIT;
    loop {
        let mut views = HashSet::new();
        for id in 1..=3 {
            views.insert(voters_and_leader(&cluster, id).await);
        }
        if views.len() == 1
            && views
                .iter()
                .all(|v| v.is_some_and(|(voters, _)| voters == 3))
        {
            break;
        }
        assert!(Instant::now() < deadline, "node 3 rejoins: {views:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    let state = cluster.state().clone();
    let report = tokio::task::spawn_blocking(move || cluster.down())
        .await
        .unwrap()
        .unwrap();
    // Each message reached the operator once.
    let operator = report.operator.expect("the simulator's final counters");
    assert_eq!(operator.unique_submits, Some(MESSAGES), "{operator:?}");
    assert_eq!(operator.duplicates, 0, "{operator:?}");
    state
}
