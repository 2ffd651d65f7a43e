//! The node's membership task: it renews the node's lease with a heartbeat through raft
//! every second, installs the ownership map into the pipeline as the replica applies it,
//! proposes the releases of claims handed off, and, on the leader, settles the quota
//! leases of dead nodes from what the shared store shows they accepted.
//!
//! The lease is counted from the moment a heartbeat left, and only once this node's own
//! replica has applied it: everything before it in the log (a claim moved away) is then
//! known here before the lease is extended. The timing argument is in
//! `tern_ledger::ownership`.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures::future::BoxFuture;
use tern_actors::membership::{Membership, Relay, RelayError, RELAY_TIMEOUT};
use tern_actors::PipelineHandle;
use tern_cluster::Cluster;
use tern_ledger::ownership::{HEARTBEAT_MS, LEASE_MS};
use tern_ledger::{Command, Request, Response};
use tern_model::now_ms;
use tokio::time::Instant;
use tracing::{info, warn};

/// The cluster's relay, as the pipeline calls other nodes.
pub struct ClusterRelay(pub Cluster);

impl Relay for ClusterRelay {
    fn call(
        &self,
        node: u64,
        kind: &'static str,
        body: Vec<u8>,
    ) -> BoxFuture<'static, Result<Bytes, RelayError>> {
        let cluster = self.0.clone();
        Box::pin(async move {
            cluster
                .relay(node, kind, body, RELAY_TIMEOUT)
                .await
                .map_err(|error| match error {
                    tern_cluster::RelayError::UnknownNode(_)
                    | tern_cluster::RelayError::Unreachable => {
                        RelayError::NotSent(error.to_string())
                    }
                    tern_cluster::RelayError::Failed(_) | tern_cluster::RelayError::Timeout => {
                        RelayError::Unknown(error.to_string())
                    }
                })
        })
    }
}

/// Answers other nodes' calls with the pipeline.
pub fn serve_relay(cluster: &Cluster, pipeline: &PipelineHandle) {
    let ctx = pipeline.ctx.clone();
    let handler =
        move |from: u64, kind: String, body: Bytes| -> BoxFuture<'static, Result<Bytes, String>> {
            let ctx = ctx.clone();
            Box::pin(async move { tern_actors::relay::serve(ctx, from, &kind, &body).await })
        };
    cluster.set_relay_handler(Arc::new(handler));
}

/// How often the map is installed even without a change applied (claims whose hand-off
/// time passes take effect then).
const INSTALL_EVERY: Duration = Duration::from_millis(250);

/// How long one attempt of a heartbeat waits for the leader it was sent to; it is sent
/// again, to the leader known then, when none came.
const HEARTBEAT_ATTEMPT: Duration = Duration::from_millis(500);

/// Runs until the node stops.
pub async fn run(cluster: Cluster, pipeline: PipelineHandle) {
    let membership = pipeline.ctx.membership.clone();
    let node = membership.node();
    let mut applied = cluster.applied();
    let mut beat = tokio::time::interval(Duration::from_millis(HEARTBEAT_MS));
    beat.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut install = tokio::time::interval(INSTALL_EVERY);
    install.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut told: Option<BTreeSet<String>> = None;
    let mut inflight: Option<tokio::task::JoinHandle<Option<BTreeSet<String>>>> = None;
    let mut lease_held = false;
    let mut exported = BTreeSet::new();
    loop {
        tokio::select! {
            _ = beat.tick() => {
                if inflight.as_ref().is_some_and(|h| !h.is_finished()) {
                    // The last heartbeat has not come back: the lease runs out by itself.
                    continue;
                }
                if let Some(done) = inflight.take() {
                    if let Ok(Some(sent)) = done.await {
                        told = Some(sent);
                    }
                }
                let receivers = membership.receivers();
                let changed = told.as_ref() != Some(&receivers);
                inflight = Some(tokio::spawn(heartbeat(
                    cluster.clone(),
                    membership.clone(),
                    changed.then_some(receivers),
                )));
                propose_releases(&cluster, &membership).await;
                export_map(&cluster, node, &mut exported);
                if cluster.is_leader() {
                    settle_dead_leases(&cluster, &pipeline).await;
                }
            }
            changed = applied.changed() => {
                if changed.is_err() {
                    return;
                }
                install_map(&cluster, &membership);
            }
            _ = install.tick() => install_map(&cluster, &membership),
        }
        let valid = membership.lease_valid();
        if valid != lease_held {
            lease_held = valid;
            if valid {
                info!(
                    node,
                    "cluster lease held: acting for this node's shards and binds"
                );
            } else {
                warn!(
                    node,
                    "cluster lease ran out: no dispatching and no binds until it is renewed"
                );
                metrics::counter!("tern_cluster_lease_lapses_total").increment(1);
            }
        }
        metrics::gauge!("tern_cluster_lease_is_valid").set(if valid { 1.0 } else { 0.0 });
    }
}

/// The ownership map as this node's replica has it, for dashboards and alert rules (every
/// node exports the same figures; rules take the maximum over nodes).
fn export_map(cluster: &Cluster, node: u64, exported: &mut BTreeSet<String>) {
    let figures = cluster.read(|s| {
        let map = &s.cluster;
        let mut nodes = [0usize; 3];
        for member in map.members.values() {
            match (member.alive, member.draining) {
                (false, _) => nodes[1] += 1,
                (true, true) => nodes[2] += 1,
                (true, false) => nodes[0] += 1,
            }
        }
        let unowned = (0..map.shards)
            .filter(|shard| {
                map.shard_owner(*shard)
                    .is_none_or(|claim| !map.is_alive(claim.node))
            })
            .count();
        let mine = map
            .shard_owners
            .values()
            .filter(|claim| claim.node == node)
            .count();
        let links: Vec<(String, u16, usize)> = s
            .links
            .values()
            .map(|spec| {
                let configured = tern_ledger::ownership::bind_count(spec);
                let owned = map.bind_holders(&spec.name).values().sum::<usize>();
                (spec.name.clone(), configured, owned)
            })
            .collect();
        (nodes, unowned, mine, links)
    });
    let (nodes, unowned, mine, links) = figures;
    for (state, count) in ["alive", "dead", "draining"].into_iter().zip(nodes) {
        metrics::gauge!("tern_cluster_nodes", "state" => state).set(count as f64);
    }
    metrics::gauge!("tern_cluster_unowned_shards").set(unowned as f64);
    metrics::gauge!("tern_cluster_owned_shards").set(mine as f64);
    let now: BTreeSet<String> = links.iter().map(|(link, ..)| link.clone()).collect();
    // A link that is gone has no binds to want any more.
    for gone in exported.difference(&now) {
        metrics::gauge!("tern_cluster_link_configured_binds", "link" => gone.clone()).set(0.0);
        metrics::gauge!("tern_cluster_link_owned_binds", "link" => gone.clone()).set(0.0);
    }
    *exported = now;
    for (link, configured, owned) in links {
        metrics::gauge!("tern_cluster_link_configured_binds", "link" => link.clone())
            .set(f64::from(configured));
        metrics::gauge!("tern_cluster_link_owned_binds", "link" => link).set(owned as f64);
    }
}

fn install_map(cluster: &Cluster, membership: &Membership) {
    let map = cluster.read(|s| Arc::new(s.cluster.clone()));
    membership.install(map, now_ms());
}

/// One heartbeat; the receivers it told the cluster about, when it was applied.
async fn heartbeat(
    cluster: Cluster,
    membership: Arc<Membership>,
    receivers: Option<BTreeSet<String>>,
) -> Option<BTreeSet<String>> {
    let node = membership.node();
    let sent = Instant::now();
    // Past every heartbeat of this node the replica knows, even if the clock stepped back:
    // the wait below must not be satisfied by an earlier heartbeat.
    let last = cluster.read(|s| s.cluster.members.get(&node).map_or(0, |m| m.renewed_ms));
    let at_ms = now_ms().max(last + 1);
    let request = Request {
        at_ms,
        audit: None,
        command: Command::Heartbeat {
            node,
            shards: membership.shards(),
            receivers: receivers.as_ref().map(|r| r.iter().cloned().collect()),
        },
    };
    match cluster.propose_repeatable(request, HEARTBEAT_ATTEMPT).await {
        Ok(Response::Ok) => {}
        Ok(other) => {
            warn!(node, ?other, "heartbeat refused");
            return None;
        }
        Err(error) => {
            warn!(node, %error, "heartbeat not applied");
            return None;
        }
    }
    // Applied at the leader; the lease counts once this replica has it too.
    let mut applied = cluster.applied();
    let here = |cluster: &Cluster| {
        cluster.read(|s| {
            s.cluster
                .members
                .get(&node)
                .is_some_and(|m| m.renewed_ms >= at_ms)
        })
    };
    let deadline = sent + Duration::from_millis(LEASE_MS);
    while !here(&cluster) {
        if tokio::time::timeout_at(deadline, applied.changed())
            .await
            .map_or(true, |r| r.is_err())
        {
            return None;
        }
    }
    install_map(&cluster, &membership);
    membership.renewed(sent, Duration::from_millis(LEASE_MS));
    receivers
}

/// Proposes the release of claims handed off whose work here has settled.
async fn propose_releases(cluster: &Cluster, membership: &Membership) {
    let (shards, binds) = membership.take_released();
    if shards.is_empty() && binds.is_empty() {
        return;
    }
    let node = membership.node();
    let request = Request {
        at_ms: 0,
        audit: None,
        command: Command::Release {
            node,
            shards: shards.clone(),
            binds: binds.clone(),
        },
    };
    match cluster.propose(request).await {
        Ok(_) => {
            info!(node, ?shards, ?binds, "handed off");
            metrics::counter!("tern_cluster_claims_released_total")
                .increment((shards.len() + binds.len()) as u64);
        }
        // Released again on a later round.
        Err(error) => warn!(node, %error, "release not applied"),
    }
}

/// On the leader: the quota leases of dead nodes, once reclaimed, settled with what the
/// shared store shows they charged, so that a dead node's lease is not counted as used in
/// full: the ledger gives the difference back through its tombstone. The leases of nodes
/// that left the cluster for good (forgotten, which the cluster allows only of a node held
/// dead) are settled in full at once, open ones included: nobody else ever would, and an
/// open one would be counted in full when its time ran out.
async fn settle_dead_leases(cluster: &Cluster, pipeline: &PipelineHandle) {
    // This node runs: whatever the map says of it (a heartbeat that lagged behind a
    // stepped clock), its leases are its own to settle.
    let me = u64::from(pipeline.ctx.settings.node_id);
    let (dead, members): (Vec<u64>, BTreeSet<u64>) = cluster.read(|s| {
        let members = &s.cluster.members;
        (
            members
                .iter()
                .filter(|(id, m)| !m.alive && **id != me)
                .map(|(id, _)| *id)
                .collect(),
            members.keys().copied().collect(),
        )
    });
    for node in dead {
        tern_actors::quota::settle_leases_of(&pipeline.ctx, node).await;
    }
    tern_actors::quota::settle_leases_of_departed(&pipeline.ctx, &|node| {
        node != me && !members.contains(&node)
    })
    .await;
}
