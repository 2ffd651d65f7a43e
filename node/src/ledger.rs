//! The node's side of the replicated state: starting raft from the configuration, seeding
//! an empty state from the file, the quota ledger the pipeline spends through, and the task
//! that turns every configuration change into a pipeline update.

use std::time::Duration;

use anyhow::Context as _;
use futures::future::BoxFuture;
use tern_actors::quota::Ledger;
use tern_actors::PipelineHandle;
use tern_cluster::{Cluster, ClusterConfig};
use tern_ledger::{Minor, Refusal, Request, Response};
use tracing::{info, warn};

use crate::config::{Config, SmppSection};
use crate::replica;

/// Starts raft; on a bootstrapping node, waits to lead and seeds an empty state from the
/// file.
pub async fn start_cluster(config: &Config) -> anyhow::Result<Cluster> {
    let c = &config.cluster;
    let dir = c
        .dir
        .clone()
        .unwrap_or_else(|| config.store.dir.join("raft"));
    std::fs::create_dir_all(&dir).with_context(|| format!("cluster.dir {}", dir.display()))?;
    let mut cluster_config = ClusterConfig::new(u64::from(config.node.id), c.listen, dir);
    cluster_config.advertise = c.advertise.clone();
    cluster_config.bootstrap = c.bootstrap;
    cluster_config.secret = c.secret.clone();
    cluster_config.heartbeat_ms = c.heartbeat_ms;
    cluster_config.election_timeout_ms = (c.election_timeout_min_ms, c.election_timeout_max_ms);
    cluster_config.snapshot_logs = c.snapshot_logs;
    cluster_config.dial = c.dial.iter().map(|d| (d.id, d.addr.clone())).collect();
    let cluster = Cluster::start(cluster_config)
        .await
        .with_context(|| format!("cluster.listen {}", c.listen))?;
    info!(addr = %cluster.raft_addr(), node = config.node.id, "raft listening");
    if c.bootstrap {
        cluster
            .wait_for_leader(Duration::from_secs(30))
            .await
            .context("no raft leader")?;
        let seeded = cluster
            .read_linearizable(|s| s.seeded)
            .await
            .context("reading the replicated state")?;
        if !seeded {
            seed(&cluster, config).await?;
        }
    }
    Ok(cluster)
}

/// How many log entries a learner may be behind the leader and still be promoted.
const PROMOTE_LAG: u64 = 16;

/// On the bootstrapping node: adds the configured peers as learners and promotes each to
/// voter once it has caught up with the log. Ends when every peer votes; harmless on a follower.
pub async fn join_peers(cluster: Cluster, peers: Vec<crate::config::PeerConfig>) {
    if peers.is_empty() {
        return;
    }
    loop {
        let status = cluster.status();
        let voter = |id: u64| status.members.iter().any(|m| m.id == id && m.voter);
        let member = |id: u64| status.members.iter().any(|m| m.id == id);
        if peers.iter().all(|p| voter(p.id)) {
            info!(peers = peers.len(), "every configured peer is a voter");
            return;
        }
        if cluster.is_leader() {
            let mut learners = Vec::new();
            for peer in &peers {
                if voter(peer.id) {
                    continue;
                }
                if !member(peer.id) {
                    if let Err(error) = cluster.add_learner(peer.id, peer.addr.clone()).await {
                        warn!(peer = peer.id, addr = peer.addr, %error, "peer not added yet");
                        continue;
                    }
                }
                // A learner that is down or behind stays one: as a voter it would take
                // the quorum away until it comes up.
                if cluster.caught_up(peer.id, PROMOTE_LAG) {
                    learners.push(peer.id);
                }
            }
            if !learners.is_empty() {
                if let Err(error) = cluster.promote(learners.clone()).await {
                    warn!(?learners, %error, "learners not promoted yet");
                }
            }
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

async fn seed(cluster: &Cluster, config: &Config) -> anyhow::Result<()> {
    let requests = replica::seed_requests(config).map_err(|m| anyhow::anyhow!("seed: {m}"))?;
    for request in requests {
        match cluster
            .propose(request)
            .await
            .context("seeding the state")?
        {
            // An account created before a crash in the middle of seeding.
            Response::Refused(Refusal::Exists(_)) => {}
            Response::Refused(refusal) => anyhow::bail!("seeding the state: {refusal}"),
            _ => {}
        }
    }
    info!(
        accounts = config.accounts.len(),
        routes = config.routes.len(),
        upstreams = config.upstreams.len(),
        mo_rules = config.mo_rules.len(),
        "replicated state seeded from the configuration file"
    );
    Ok(())
}

/// The quota ledger on raft.
#[derive(Clone)]
pub struct ClusterLedger {
    cluster: Cluster,
}

impl ClusterLedger {
    pub fn new(cluster: Cluster) -> Self {
        Self { cluster }
    }

    pub fn cluster(&self) -> &Cluster {
        &self.cluster
    }
}

impl Ledger for ClusterLedger {
    fn propose(&self, request: Request) -> BoxFuture<'_, Result<Response, String>> {
        Box::pin(async move {
            self.cluster
                .propose(request)
                .await
                .map_err(|e| e.to_string())
        })
    }

    fn price(&self, account: &str, route: Option<&str>, destination: &str) -> Minor {
        self.cluster.read(|s| s.price(account, route, destination))
    }

    fn standing(&self, account: &str, at_ms: u64) -> Option<tern_ledger::Standing> {
        self.cluster.read(|s| s.standing(account, at_ms))
    }

    fn account(&self, account: &str) -> Option<tern_ledger::Account> {
        self.cluster.read(|s| s.accounts.get(account).cloned())
    }

    fn unsettled_leases(
        &self,
        mine: &(dyn Fn(tern_ledger::LeaseId) -> bool + Sync),
    ) -> Vec<(tern_ledger::LeaseId, String)> {
        self.cluster.read(|s| s.unsettled_leases(mine))
    }

    fn reclaimed_leases(
        &self,
        mine: &(dyn Fn(tern_ledger::LeaseId) -> bool + Sync),
    ) -> Vec<(tern_ledger::LeaseId, String)> {
        self.cluster.read(|s| s.reclaimed_leases(mine))
    }
}

/// Applies every change of the replicated configuration to the pipeline.
pub async fn follow_changes(cluster: Cluster, pipeline: PipelineHandle, smpp: SmppSection) {
    let mut changes = cluster.config_changes();
    let mut seen = *changes.borrow_and_update();
    // The state may have changed between building the pipeline and subscribing.
    apply(&cluster, &pipeline, &smpp);
    loop {
        if changes.changed().await.is_err() {
            return;
        }
        let version = *changes.borrow_and_update();
        if version == seen {
            continue;
        }
        seen = version;
        apply(&cluster, &pipeline, &smpp);
        metrics::counter!("tern_config_reloads_total").increment(1);
        info!(version, "configuration changed; pipeline updated");
    }
}

fn apply(cluster: &Cluster, pipeline: &PipelineHandle, smpp: &SmppSection) {
    let (policies, routes, links, mo_rules) = cluster.read(|s| {
        (
            replica::policies(s),
            replica::routes(s),
            replica::links(s, smpp),
            replica::mo_rules(s),
        )
    });
    if links.is_empty() && !routes.is_empty() {
        warn!("routes without any enabled link");
    }
    pipeline.update_accounts(policies);
    pipeline.update_links(links);
    pipeline.update_routes(routes);
    pipeline.update_mo_rules(mo_rules);
}
