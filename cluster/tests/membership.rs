//! Membership changes and snapshot transfer: a node that joins after the log was purged
//! gets the state as a snapshot over `InstallSnapshot`; removed members leave the
//! membership; the leader's tick proposer reclaims an expired lease.

#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use common::*;
use tern_cluster::{Cluster, ClusterConfig};
use tern_ledger::{Command, Limits, Response};

fn small_snapshots(config: &mut ClusterConfig) {
    config.snapshot_logs = 20;
    config.tick_ms = 0;
}

async fn wait_until(what: &str, check: impl Fn() -> bool) {
    tokio::time::timeout(WAIT, async {
        while !check() {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .unwrap_or_else(|_| panic!("{what} within {WAIT:?}"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_late_node_gets_a_snapshot_and_removed_nodes_leave() {
    let dir = tempfile::tempdir().unwrap();
    let nodes = start_cluster(dir.path(), 3, small_snapshots).await;
    for i in 0..100 {
        let created = nodes[i % 3]
            .propose(create_account(&format!("a{i}"), 5, Limits::default()))
            .await
            .unwrap();
        assert_eq!(created, Response::Ok);
    }
    wait_until("the leader purged its log", || {
        nodes[0].status().purged_index.is_some_and(|p| p > 10)
    })
    .await;

    // Node 4 joins late: the entries it lacks are gone, so it must install a snapshot.
    let mut fourth = config(4, dir.path(), false);
    small_snapshots(&mut fourth);
    let fourth = Cluster::start(fourth).await.unwrap();
    nodes[1]
        .add_learner(4, fourth.raft_addr().to_string())
        .await
        .unwrap();
    let leader_applied = *nodes[0].applied().borrow();
    wait_applied(&[&fourth], leader_applied).await;
    assert!(
        fourth.status().snapshot_index.is_some(),
        "installed a snapshot"
    );
    assert_eq!(fourth.read(|s| s.clone()), nodes[0].read(|s| s.clone()));
    assert_eq!(fourth.status().role, "Learner");
    // A learner's proposal is forwarded like a follower's.
    let topped = fourth
        .propose(request(Command::TopUp {
            account: "a1".into(),
            amount: 5,
            from_parent: false,
        }))
        .await
        .unwrap();
    assert!(!matches!(topped, Response::Refused(_)), "{topped:?}");

    // Remove a voter and the learner, from a follower.
    nodes[2].remove(vec![3, 4]).await.unwrap();
    let members: Vec<(u64, bool)> = nodes[0]
        .status()
        .members
        .iter()
        .map(|m| (m.id, m.voter))
        .collect();
    assert_eq!(members, vec![(1, true), (2, true)]);
    // The two remaining voters still commit.
    let balance = {
        nodes[1]
            .propose(request(Command::TopUp {
                account: "a1".into(),
                amount: 5,
                from_parent: false,
            }))
            .await
            .unwrap();
        nodes[1]
            .read_linearizable(|s| s.accounts["a1"].ledger.balance)
            .await
            .unwrap()
    };
    assert_eq!(balance, 15);
    for node in nodes.iter().chain([&fourth]) {
        node.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_leader_ticks_and_an_expired_lease_is_reclaimed() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = config(1, dir.path(), true);
    config.tick_ms = 50;
    let node = Cluster::start(config).await.unwrap();
    node.wait_for_leader(WAIT).await.unwrap();
    let limits = Limits {
        max_messages: Some(100),
        ..Limits::default()
    };
    node.propose(create_account("acct", 0, limits))
        .await
        .unwrap();
    let granted = node
        .propose(request(Command::AcquireLease {
            lease: 1,
            account: "acct".into(),
            node: 1,
            parts: 10,
            amount: 0,
            ttl_ms: 1,
        }))
        .await
        .unwrap();
    assert_eq!(
        granted,
        Response::Lease {
            parts: 10,
            amount: 0
        }
    );
    wait_until("the lease reclaimed by a tick", || {
        node.read(|s| s.leases.is_empty() && s.tombstones.get(&1).is_some_and(|t| t.reclaimed))
    })
    .await;
    node.shutdown().await;
}
