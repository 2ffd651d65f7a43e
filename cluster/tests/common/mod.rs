//! Helpers for the cluster tests: nodes on 127.0.0.1 with free ports, each in its own
//! directory, and ledger requests.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use tern_cluster::{Cluster, ClusterConfig, ClusterError};
use tern_ledger::{AccountSpec, Command, LeaseId, Limits, Minor, Request, Response};

pub const WAIT: Duration = Duration::from_secs(15);

/// Logs to stderr when `RUST_LOG` is set (e.g. `RUST_LOG=tern_cluster=debug,openraft=info`).
pub fn init_logs() {
    if std::env::var_os("RUST_LOG").is_some() {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
            .with_test_writer()
            .try_init();
    }
}

pub fn config(id: u64, dir: &Path, bootstrap: bool) -> ClusterConfig {
    let mut config =
        ClusterConfig::new(id, "127.0.0.1:0".parse().unwrap(), dir.join(id.to_string()));
    config.bootstrap = bootstrap;
    config
}

/// Starts node 1 (bootstrapping) and `n - 1` more, adds them as learners and promotes
/// them; returns them in id order.
pub async fn start_cluster(dir: &Path, n: u64, tweak: impl Fn(&mut ClusterConfig)) -> Vec<Cluster> {
    init_logs();
    let mut nodes = Vec::new();
    for id in 1..=n {
        let mut config = config(id, dir, id == 1);
        tweak(&mut config);
        nodes.push(Cluster::start(config).await.unwrap());
    }
    assert_eq!(nodes[0].wait_for_leader(WAIT).await.unwrap(), 1);
    for node in &nodes[1..] {
        nodes[0]
            .add_learner(node.node_id(), node.raft_addr().to_string())
            .await
            .unwrap();
    }
    let ids: Vec<u64> = (2..=n).collect();
    if !ids.is_empty() {
        nodes[0].promote(ids).await.unwrap();
    }
    nodes
}

/// Starts a node again from its directory, on the port it had (peers know it by that).
pub async fn restart(
    dir: &Path,
    id: u64,
    addr: SocketAddr,
    tweak: impl Fn(&mut ClusterConfig),
) -> Cluster {
    let mut config = config(id, dir, false);
    config.listen = addr;
    tweak(&mut config);
    Cluster::start(config).await.unwrap()
}

pub fn node_dir(dir: &Path, id: u64) -> PathBuf {
    dir.join(id.to_string())
}

pub fn spec(id: &str, limits: Limits) -> AccountSpec {
    AccountSpec {
        id: id.into(),
        password_hash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA".into(),
        enabled: true,
        max_binds: 4,
        allowed_ips: vec![],
        sender_ids: vec![],
        transliterate: false,
        parent: None,
        tags: BTreeMap::new(),
        limits,
        secrets: Default::default(),
    }
}

pub fn request(command: Command) -> Request {
    Request {
        at_ms: 0,
        audit: None,
        command,
    }
}

pub fn create_account(id: &str, credit: Minor, limits: Limits) -> Request {
    request(Command::CreateAccount {
        spec: spec(id, limits),
        credit,
    })
}

pub fn acquire(lease: LeaseId, account: &str, node: u64, parts: u64, amount: Minor) -> Request {
    request(Command::AcquireLease {
        lease,
        account: account.into(),
        node,
        parts,
        amount,
        ttl_ms: 600_000,
    })
}

pub fn settle(lease: LeaseId, used_parts: u64, used_amount: Minor) -> Request {
    request(Command::SettleLease {
        lease,
        used_parts,
        used_amount,
        ttl_ms: 600_000,
        close: true,
    })
}

/// Proposes until the answer is known: again after "no leader" or "outcome unknown",
/// which is safe for the idempotent lease commands these tests send. `None` when this
/// node is shut down.
pub async fn propose_definite(node: &Cluster, request: Request) -> Option<Response> {
    loop {
        match node.propose(request.clone()).await {
            Ok(response) => return Some(response),
            Err(ClusterError::NoLeader(_) | ClusterError::Indeterminate(_)) => {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            Err(ClusterError::Fatal(_)) => return None,
            Err(e) => panic!("unexpected proposal error: {e}"),
        }
    }
}

/// Waits until every node has applied at least what `nodes[0]` has.
pub async fn wait_applied(nodes: &[&Cluster], index: u64) {
    for node in nodes {
        let mut applied = node.applied();
        tokio::time::timeout(WAIT, applied.wait_for(|at| *at >= index))
            .await
            .expect("caught up in time")
            .unwrap();
    }
}
