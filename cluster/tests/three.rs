//! Three nodes in one process: replication of a follower's proposal, a restarted node
//! catching up, concurrent spending against one limit from every node, and losing the
//! leader in the middle of spending.

#![allow(clippy::unwrap_used)]

mod common;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use common::*;
use tern_cluster::{Cluster, ClusterConfig};
use tern_ledger::{Command, Limits, Response, State};
use tokio::time::Instant;

const SECRET: &str = "s3cret-token";

fn with_secret(config: &mut ClusterConfig) {
    config.secret = Some(SECRET.into());
}

fn quiet(config: &mut ClusterConfig) {
    with_secret(config);
    // No ticks: states are compared at equal applied indexes.
    config.tick_ms = 0;
}

async fn shutdown_all(nodes: &[Cluster]) {
    for node in nodes {
        node.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_follower_proposal_replicates_and_a_restarted_node_catches_up() {
    let dir = tempfile::tempdir().unwrap();
    let nodes = start_cluster(dir.path(), 3, with_secret).await;

    let created = nodes[1]
        .propose(create_account("acme", 1_000, Limits::default()))
        .await
        .unwrap();
    assert_eq!(created, Response::Ok);
    for node in &nodes {
        let balance = node
            .read_linearizable(|s| s.accounts.get("acme").map(|a| a.ledger.balance))
            .await
            .unwrap();
        assert_eq!(balance, Some(1_000), "node {}", node.node_id());
        let status = node.status();
        assert_eq!(status.leader, Some(1));
        assert_eq!(status.members.len(), 3);
        assert!(status.members.iter().all(|m| m.voter));
        let role = if node.node_id() == 1 {
            "Leader"
        } else {
            "Follower"
        };
        assert_eq!(status.role, role);
        assert_eq!(node.is_leader(), node.node_id() == 1);
    }

    let addr = nodes[2].raft_addr();
    nodes[2].shutdown().await;
    for _ in 0..20 {
        let topped = nodes[1]
            .propose(request(Command::TopUp {
                account: "acme".into(),
                amount: 10,
                from_parent: false,
            }))
            .await
            .unwrap();
        assert!(!matches!(topped, Response::Refused(_)), "{topped:?}");
    }
    // bootstrap on a node with a log is a no-op: it rejoins as it was.
    let third = restart(dir.path(), 3, addr, |c| {
        with_secret(c);
        c.bootstrap = true;
    })
    .await;
    let balance = third
        .read_linearizable(|s| s.accounts["acme"].ledger.balance)
        .await
        .unwrap();
    assert_eq!(balance, 1_200);
    assert_eq!(third.status().leader, Some(1));
    shutdown_all(&[nodes[0].clone(), nodes[1].clone(), third]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_with_another_secret_gets_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let mut first = config(1, dir.path(), true);
    first.secret = Some("right".into());
    let leader = Cluster::start(first).await.unwrap();
    leader.wait_for_leader(WAIT).await.unwrap();
    let mut second = config(2, dir.path(), false);
    second.secret = Some("wrong".into());
    let outsider = Cluster::start(second).await.unwrap();
    leader
        .add_learner(2, outsider.raft_addr().to_string())
        .await
        .unwrap();
    leader
        .propose(create_account("acme", 1, Limits::default()))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    assert_eq!(*outsider.applied().borrow(), 0);
    assert_eq!(outsider.status().leader, None);
    shutdown_all(&[leader, outsider]).await;
}

/// What the spending clients were told.
#[derive(Default)]
struct Tally {
    parts: u64,
    amount: i64,
    /// Leases whose acquire got no answer (its node died): closed with no use later.
    open_acquires: Vec<u64>,
    /// Settles that got no answer: sent again from a survivor later.
    open_settles: Vec<(u64, u64, i64)>,
}

/// Acquires leases of `ask` parts and money and settles each in full, until a grant is
/// empty or `stop` is set; returns when done or when its node is shut down.
async fn spend(
    node: Cluster,
    task: u64,
    ask: u64,
    tally: Arc<Mutex<Tally>>,
    stop: Arc<AtomicBool>,
    on_commit: impl Fn(),
) {
    let id = node.node_id();
    for n in 0.. {
        if stop.load(Ordering::Relaxed) {
            return;
        }
        let lease = id << 48 | task << 32 | n;
        let granted = propose_definite(&node, acquire(lease, "acct", id, ask, ask as i64)).await;
        let (parts, amount) = match granted {
            Some(Response::Lease { parts, amount }) => (parts, amount),
            Some(other) => panic!("acquire answered {other:?}"),
            None => {
                tally.lock().unwrap().open_acquires.push(lease);
                return;
            }
        };
        on_commit();
        if parts == 0 && amount == 0 {
            return;
        }
        match propose_definite(&node, settle(lease, parts, amount)).await {
            Some(Response::Settled {
                counted_parts,
                counted_amount,
            }) => {
                let mut tally = tally.lock().unwrap();
                tally.parts += counted_parts;
                tally.amount += counted_amount;
            }
            Some(other) => panic!("settle answered {other:?}"),
            None => {
                tally
                    .lock()
                    .unwrap()
                    .open_settles
                    .push((lease, parts, amount));
                return;
            }
        }
        on_commit();
    }
}

/// Sends what the dead node's clients never heard back about, from `node`.
async fn resolve(node: &Cluster, tally: &Mutex<Tally>) {
    let (acquires, settles) = {
        let mut tally = tally.lock().unwrap();
        (
            std::mem::take(&mut tally.open_acquires),
            std::mem::take(&mut tally.open_settles),
        )
    };
    let settles = acquires
        .into_iter()
        .map(|lease| (lease, 0, 0))
        .chain(settles);
    for (lease, parts, amount) in settles {
        match propose_definite(node, settle(lease, parts, amount)).await {
            Some(Response::Settled {
                counted_parts,
                counted_amount,
            }) => {
                let mut tally = tally.lock().unwrap();
                tally.parts += counted_parts;
                tally.amount += counted_amount;
            }
            Some(Response::Refused(_)) => {} // never acquired: nothing to count
            other => panic!("resolving settle answered {other:?}"),
        }
    }
}

/// Reads the state on every node at one applied index.
async fn states(nodes: &[&Cluster]) -> Vec<State> {
    let index = nodes[0]
        .read_linearizable(|_| ())
        .await
        .map(|_| *nodes[0].applied().borrow())
        .unwrap();
    wait_applied(nodes, index).await;
    let mut states = Vec::new();
    for node in nodes {
        states.push(node.read_linearizable(|s| s.clone()).await.unwrap());
    }
    states
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_spending_from_every_node_stays_within_the_limits() {
    const MAX_PARTS: u64 = 500;
    const CREDIT: i64 = 400;
    let dir = tempfile::tempdir().unwrap();
    let nodes = start_cluster(dir.path(), 3, quiet).await;
    let limits = Limits {
        max_messages: Some(MAX_PARTS),
        credit_limit: Some(0),
        ..Limits::default()
    };
    assert_eq!(
        nodes[2]
            .propose(create_account("acct", CREDIT, limits))
            .await
            .unwrap(),
        Response::Ok
    );

    let tally = Arc::new(Mutex::new(Tally::default()));
    let stop = Arc::new(AtomicBool::new(false));
    let mut spenders = Vec::new();
    for node in &nodes {
        for task in 0..4 {
            spenders.push(tokio::spawn(spend(
                node.clone(),
                task,
                7,
                tally.clone(),
                stop.clone(),
                || {},
            )));
        }
    }
    for spender in spenders {
        tokio::time::timeout(Duration::from_secs(60), spender)
            .await
            .unwrap()
            .unwrap();
    }

    let refs: Vec<&Cluster> = nodes.iter().collect();
    let states = states(&refs).await;
    let told = {
        let tally = tally.lock().unwrap();
        (tally.parts, tally.amount)
    };
    for state in &states {
        let ledger = &state.accounts["acct"].ledger;
        assert!(ledger.period_used <= MAX_PARTS);
        assert!(ledger.spent_total <= CREDIT && ledger.balance >= 0);
        // Every grant was settled in full: the limits are used up exactly, as told.
        assert_eq!(ledger.period_used, MAX_PARTS);
        assert_eq!(ledger.spent_total, CREDIT);
        assert_eq!((ledger.period_used, ledger.spent_total), told);
        assert_eq!((ledger.reserved_parts, ledger.reserved_amount), (0, 0));
        assert!(state.leases.is_empty());
        assert_eq!(state, &states[0]);
    }
    shutdown_all(&nodes).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn losing_the_leader_while_spending_loses_and_doubles_no_debit() {
    let dir = tempfile::tempdir().unwrap();
    let nodes = start_cluster(dir.path(), 3, quiet).await;
    let limits = Limits {
        credit_limit: Some(0),
        ..Limits::default()
    };
    assert_eq!(
        nodes[1]
            .propose(create_account("acct", 100_000_000, limits))
            .await
            .unwrap(),
        Response::Ok
    );
    let leader = nodes[0].wait_for_leader(WAIT).await.unwrap() as usize - 1;

    let tally = Arc::new(Mutex::new(Tally::default()));
    let stop = Arc::new(AtomicBool::new(false));
    let kill_started: Arc<OnceLock<Instant>> = Arc::default();
    let kill_done: Arc<OnceLock<Instant>> = Arc::default();
    let first_commit: Arc<OnceLock<Instant>> = Arc::default();
    let commits_after = Arc::new(AtomicU64::new(0));
    let mut spenders = Vec::new();
    for (i, node) in nodes.iter().enumerate() {
        for task in 0..3 {
            let (done, first, after) = (
                kill_done.clone(),
                first_commit.clone(),
                commits_after.clone(),
            );
            let survivor = i != leader;
            let on_commit = move || {
                if survivor && done.get().is_some() {
                    let _ = first.set(Instant::now());
                    after.fetch_add(1, Ordering::Relaxed);
                }
            };
            spenders.push(tokio::spawn(spend(
                node.clone(),
                task,
                5,
                tally.clone(),
                stop.clone(),
                on_commit,
            )));
        }
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    let _ = kill_started.set(Instant::now());
    nodes[leader].shutdown().await;
    let _ = kill_done.set(Instant::now());
    tokio::time::timeout(WAIT, async {
        while commits_after.load(Ordering::Relaxed) < 50 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .expect("writes resumed on the survivors");
    stop.store(true, Ordering::Relaxed);
    for spender in spenders {
        tokio::time::timeout(Duration::from_secs(60), spender)
            .await
            .unwrap()
            .unwrap();
    }
    let failover = *first_commit.get().unwrap() - *kill_started.get().unwrap();
    eprintln!(
        "leader failover: first committed write {failover:?} after the leader's shutdown began \
         (shutdown took {:?})",
        *kill_done.get().unwrap() - *kill_started.get().unwrap()
    );

    let survivors: Vec<&Cluster> = nodes
        .iter()
        .enumerate()
        .filter(|(i, _)| *i != leader)
        .map(|(_, n)| n)
        .collect();
    let unanswered = {
        let tally = tally.lock().unwrap();
        tally.open_acquires.len() + tally.open_settles.len()
    };
    eprintln!("{unanswered} lease commands of the dead leader's clients resolved from a survivor");
    resolve(survivors[0], &tally).await;
    let states = states(&survivors).await;
    let (parts, amount) = {
        let tally = tally.lock().unwrap();
        (tally.parts, tally.amount)
    };
    assert!(parts > 0);
    for state in &states {
        let ledger = &state.accounts["acct"].ledger;
        assert_eq!(ledger.period_used, parts, "parts counted == parts told");
        assert_eq!(ledger.spent_total, amount, "money counted == money told");
        assert_eq!((ledger.reserved_parts, ledger.reserved_amount), (0, 0));
        assert!(state.leases.is_empty());
        assert_eq!(state, &states[0]);
    }

    // The old leader comes back as a follower and catches up.
    let old = restart(
        dir.path(),
        leader as u64 + 1,
        nodes[leader].raft_addr(),
        quiet,
    )
    .await;
    let rejoined = old.read_linearizable(|s| s.clone()).await.unwrap();
    let index = *survivors[0].applied().borrow();
    wait_applied(&[&old], index).await;
    assert_eq!(old.read(|s| s.clone()), states[0]);
    drop(rejoined);
    old.shutdown().await;
    for node in survivors {
        node.shutdown().await;
    }
}
