//! One node stopped and started again from its directory keeps its state: from the log
//! alone, and from a snapshot with the log purged behind it.

#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use openraft::storage::{RaftLogStorage, RaftStateMachine};
use tern_cluster::Cluster;
use tern_ledger::{Command, Limits, Response, State};

async fn propose_many(node: &Cluster, prefix: &str, accounts: usize, top_ups: usize) {
    for i in 0..accounts {
        let created = node
            .propose(create_account(
                &format!("{prefix}-{i}"),
                100,
                Limits::default(),
            ))
            .await
            .unwrap();
        assert_eq!(created, Response::Ok);
    }
    for i in 0..top_ups {
        let topped = node
            .propose(request(Command::TopUp {
                account: format!("{prefix}-{}", i % accounts),
                amount: 1,
                from_parent: false,
            }))
            .await
            .unwrap();
        assert!(!matches!(topped, Response::Refused(_)), "{topped:?}");
    }
}

fn snapshot_of(node: &Cluster) -> State {
    node.read(|s| s.clone())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn state_survives_a_restart_by_replaying_the_log() {
    let dir = tempfile::tempdir().unwrap();
    let node = Cluster::start(config(1, dir.path(), true)).await.unwrap();
    node.wait_for_leader(WAIT).await.unwrap();
    propose_many(&node, "before", 5, 25).await;
    let before = snapshot_of(&node);
    let applied = *node.applied().borrow();
    let addr = node.raft_addr();
    node.shutdown().await;

    let node = restart(dir.path(), 1, addr, |_| {}).await;
    node.wait_for_leader(WAIT).await.unwrap();
    wait_applied(&[&node], applied).await;
    assert_eq!(snapshot_of(&node), before);
    assert_eq!(node.status().snapshot_index, None, "no snapshot was due");
    // And it goes on taking writes.
    propose_many(&node, "after", 1, 1).await;
    node.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn state_survives_a_restart_from_a_snapshot_with_the_log_purged() {
    let dir = tempfile::tempdir().unwrap();
    let small = |c: &mut tern_cluster::ClusterConfig| c.snapshot_logs = 50;
    let mut first = config(1, dir.path(), true);
    small(&mut first);
    let node = Cluster::start(first).await.unwrap();
    node.wait_for_leader(WAIT).await.unwrap();
    propose_many(&node, "before", 10, 190).await;
    let purged = tokio::time::timeout(WAIT, async {
        loop {
            if let Some(purged) = node.status().purged_index {
                return purged;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    })
    .await
    .expect("log purged behind a snapshot");
    assert!(purged >= 50, "purged up to {purged}");
    let before = snapshot_of(&node);
    let applied = *node.applied().borrow();
    let addr = node.raft_addr();
    node.shutdown().await;

    // On disk: a snapshot, and no entry at or below the purge point.
    {
        let (mut log, mut sm) = tern_cluster::open_storage(&node_dir(dir.path(), 1))
            .await
            .unwrap();
        let snapshot = sm
            .get_current_snapshot()
            .await
            .unwrap()
            .expect("a stored snapshot");
        let covered = snapshot.meta.last_log_id.unwrap().index;
        assert!(covered >= 100, "snapshot covers up to {covered}");
        let state = log.get_log_state().await.unwrap();
        let purged_on_disk = state.last_purged_log_id.unwrap().index;
        assert!(purged_on_disk >= purged);
        let mut reader = log.get_log_reader().await;
        let behind = openraft::RaftLogReader::try_get_log_entries(&mut reader, 0..=purged_on_disk)
            .await
            .unwrap();
        assert!(
            behind.is_empty(),
            "{} purged entries still stored",
            behind.len()
        );
    }

    let node = restart(dir.path(), 1, addr, small).await;
    node.wait_for_leader(WAIT).await.unwrap();
    wait_applied(&[&node], applied).await;
    assert_eq!(snapshot_of(&node), before);
    assert!(node.status().snapshot_index.is_some());
    propose_many(&node, "after", 1, 1).await;
    node.shutdown().await;
}
