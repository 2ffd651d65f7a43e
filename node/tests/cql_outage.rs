#![allow(clippy::unwrap_used)]
//! The CQL database stops answering for 20 s under load (its process is stopped with
//! SIGSTOP, so connections stay open and requests go unanswered, the hardest case for a
//! client): customers are throttled, never answered OK for a message that is not durable,
//! and once the database answers again everything that was acknowledged reaches the
//! operator and its receipt reaches the customer.
//!
//! Needs the Cassandra that `scripts/cassandra start` runs (`TERN_CQL`, and its PID file,
//! `target/cassandra/cassandra.pid` or `$TERN_CASSANDRA_DIR/cassandra.pid`). It is alone
//! in its test binary: no other test uses the database while it is stopped.

mod common;

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::*;
use tern_smpp::rusmpp::CommandStatus;
use tern_smpp::session::BindKind;

/// How long the database does not answer.
const OUTAGE: Duration = Duration::from_secs(20);

/// The database's process, stopped until this is dropped (also when the test panics).
struct Stopped(i32);

impl Stopped {
    fn new(pid: i32) -> Self {
        signal(pid, "STOP");
        Self(pid)
    }
}

impl Drop for Stopped {
    fn drop(&mut self) {
        signal(self.0, "CONT");
    }
}

fn signal(pid: i32, name: &str) {
    let status = std::process::Command::new("kill")
        .args([format!("-{name}"), pid.to_string()])
        .status()
        .unwrap();
    assert!(status.success(), "kill -{name} {pid}");
}

/// The PID of the Cassandra node `scripts/cassandra` started, if it is running.
fn cassandra_pid() -> Option<i32> {
    let dir = std::env::var_os("TERN_CASSANDRA_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/cassandra"));
    let pid: i32 = std::fs::read_to_string(dir.join("cassandra.pid"))
        .ok()?
        .trim()
        .parse()
        .ok()?;
    std::path::Path::new(&format!("/proc/{pid}"))
        .exists()
        .then_some(pid)
}

/// What one submit got, and when.
#[derive(Debug, Clone)]
struct Answer {
    at: Instant,
    outcome: Result<String, CommandStatus>,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_that_stops_answering_throttles_customers_and_loses_nothing() {
    init_tracing();
    let (Ok(contact), Some(pid)) = (std::env::var("TERN_CQL"), cassandra_pid()) else {
        assert!(
            std::env::var_os("CI").is_none(),
            "TERN_CQL and a Cassandra started by scripts/cassandra are needed in CI"
        );
        eprintln!("skipped: no TERN_CQL, or no Cassandra of scripts/cassandra running");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    // The operator sends a receipt again when the node did not answer it in time, as
    // SMSCs do: while the database is away the node cannot match receipts.
    let sim = start_sim(tern_bench::smsc::SmscConfig {
        retry_timed_out_delivers: true,
        ..sim_config()
    })
    .await;
    // A short request timeout: a write the database leaves unanswered fails after 2 s.
    let store = format!(
        "backend = \"scylla\"\n[store.cql]\ncontact_points = [\"{contact}\"]\nkeyspace = \
         \"{}\"\ncreate_keyspace = true\nrequest_timeout_ms = 2000\n",
        test_keyspace()
    );
    let toml =
        base_toml(dir.path()).replacen("fsync = true\n", &format!("fsync = true\n{store}"), 1)
            + &account_toml("alice", "secret", "")
            + &upstream_toml("op", sim.addr(), "window = 64");
    let node = start_node(&toml).await;
    let inbox = Arc::new(Inbox::default());
    let esme = Arc::new(
        Esme::bind_into(
            smpp_addr(&node),
            BindKind::Transceiver,
            "alice",
            "secret",
            inbox.clone(),
        )
        .await
        .unwrap(),
    );

    // 8 customers' worth of submits in flight, before, during and after the outage.
    let answers = Arc::new(Mutex::new(Vec::<Answer>::new()));
    let stop = tokio_util::sync::CancellationToken::new();
    let mut workers = tokio::task::JoinSet::new();
    for worker in 0..8 {
        let (esme, answers, stop) = (esme.clone(), answers.clone(), stop.clone());
        workers.spawn(async move {
            for i in 0.. {
                if stop.is_cancelled() {
                    break;
                }
                let to = format!("4915{worker:02}{i:07}");
                let outcome = match esme
                    .submit(short_submit(&to, &format!("w{worker} {i}")))
                    .await
                {
                    Ok(Outcome::Accepted(id)) => Ok(id),
                    Ok(Outcome::Refused(status)) => {
                        // A throttled customer backs off a little, as clients do.
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        Err(status)
                    }
                    Err(Lost) => break,
                };
                answers.lock().unwrap().push(Answer {
                    at: Instant::now(),
                    outcome,
                });
            }
        });
    }

    tokio::time::sleep(Duration::from_secs(4)).await;
    let before = answers.lock().unwrap().len();
    assert!(before > 0, "nothing was answered before the outage");
    let stopped = Stopped::new(pid);
    let stopped_at = Instant::now();
    tokio::time::sleep(OUTAGE).await;
    drop(stopped);
    let resumed_at = Instant::now();
    tokio::time::sleep(Duration::from_secs(6)).await;
    stop.cancel();
    while workers.join_next().await.is_some() {}

    let answers = answers.lock().unwrap().clone();
    let acked: Vec<String> = answers
        .iter()
        .filter_map(|a| a.outcome.as_ref().ok().cloned())
        .collect();
    // Answers in the outage, once what was already confirmed before it has been answered
    // (a write the database confirmed just before it stopped may be answered just after).
    let settled = stopped_at + Duration::from_millis(500);
    let in_outage: Vec<&Answer> = answers
        .iter()
        .filter(|a| a.at > settled && a.at < resumed_at)
        .collect();
    let ok_in_outage = in_outage.iter().filter(|a| a.outcome.is_ok()).count();
    let throttled = in_outage
        .iter()
        .filter(|a| a.outcome == Err(CommandStatus::EsmeRthrottled))
        .count();
    let after = answers.iter().filter(|a| a.at > resumed_at).count();
    eprintln!(
        "outage of {OUTAGE:?}: {before} answers before; in it {} answers, {ok_in_outage} OK, \
         {throttled} throttled; {after} answers after; {} acknowledged in all",
        in_outage.len(),
        acked.len()
    );
    assert_eq!(
        ok_in_outage, 0,
        "answered OK while the database was stopped"
    );
    assert!(throttled > 0, "no customer was throttled during the outage");
    assert!(
        in_outage
            .iter()
            .all(|a| a.outcome == Err(CommandStatus::EsmeRthrottled)),
        "refusals other than throttling in the outage: {:?}",
        in_outage.iter().map(|a| &a.outcome).collect::<Vec<_>>()
    );
    assert!(
        answers
            .iter()
            .any(|a| a.at > resumed_at && a.outcome.is_ok()),
        "nothing was accepted after the database came back"
    );

    // Every acknowledged message reaches the operator.
    let stats = sim
        .wait_for(Duration::from_secs(60), |s| {
            s.unique_submits >= acked.len() as u64
        })
        .await;
    assert!(
        stats.unique_submits >= acked.len() as u64,
        "{} acknowledged, the operator has {stats:?}",
        acked.len()
    );
    eprintln!(
        "all at the operator {:?} after the database came back",
        resumed_at.elapsed()
    );
    let all_receipts = || {
        let by_id = inbox.receipts_by_id();
        acked.iter().all(|id| by_id.contains_key(id))
    };
    eventually(Duration::from_secs(30), all_receipts).await;
    eprintln!(
        "receipts in {:?} after the database came back",
        resumed_at.elapsed()
    );
    // A receipt whose hold was written while the database was away, with an outcome the
    // node could not know, waits in the store: the customer's next bind takes it.
    let by_id = inbox.receipts_by_id();
    let waiting = acked.iter().filter(|id| !by_id.contains_key(*id)).count();
    let rebound = Esme::bind_into(
        smpp_addr(&node),
        BindKind::Receiver,
        "alice",
        "secret",
        inbox.clone(),
    )
    .await
    .unwrap();
    let delivered = eventually(Duration::from_secs(30), all_receipts).await;
    let by_id = inbox.receipts_by_id();
    let missing: Vec<&String> = acked.iter().filter(|id| !by_id.contains_key(*id)).collect();
    eprintln!("receipts waiting in the store for a bind after the outage: {waiting}");
    assert!(
        delivered,
        "{} of {} acknowledged messages have no receipt: {:?}; operator: {:?}",
        missing.len(),
        acked.len(),
        missing.iter().take(10).collect::<Vec<_>>(),
        sim.stats()
    );
    rebound.unbind().await;
    node.shutdown().await;
    sim.shutdown().await;
}
