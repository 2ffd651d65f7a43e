//! This node's part in the cluster: which dispatcher shards and operator binds it may act
//! for now, whether its lease runs, and the calls it makes to other nodes.
//!
//! The map itself is replicated state (`tern_ledger::ownership`, where the timing argument
//! is written down); the node's membership task renews the lease and installs what the
//! replica says with [`Membership::install`]. Everything that acts for a claim asks here
//! first: a dispatcher before it hands a job to a link, a link before each submit leaves.
//! A node that is not part of a cluster ([`Membership::standalone`]) owns every shard and
//! every bind and its lease never ends.
//!
//! Nodes tell each other three things over the [`Relay`], each in batches: a shard's owner
//! about parts accepted elsewhere (it would page them in from the store anyway, later),
//! a bind holder about jobs of a link this node holds no bind of (the outcomes come back
//! in the answer), and the node that delivers to an account about a receipt or MO it is
//! owed (held in the store meanwhile, so nothing is lost if the call fails).

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::Duration;

use futures::future::BoxFuture;
use serde::{Deserialize, Serialize};
use tern_ledger::{BindSlot, ClusterState};
use tern_storage::{HeldDelivery, MessageRecord};
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;
use tracing::{debug, warn};

/// Why a call to another node failed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum RelayError {
    /// It did not leave: safe to do elsewhere.
    #[error("not sent: {0}")]
    NotSent(String),
    /// It may have been acted on.
    #[error("outcome unknown: {0}")]
    Unknown(String),
}

/// Calls to other nodes of the cluster.
pub trait Relay: Send + Sync + 'static {
    fn call(
        &self,
        node: u64,
        kind: &'static str,
        body: Vec<u8>,
    ) -> BoxFuture<'static, Result<bytes::Bytes, RelayError>>;
}

/// Claims let go of, by epoch: shards and bind slots.
pub type Released = (Vec<(u16, u64)>, Vec<(BindSlot, u64)>);
/// Parts accepted for a shard: what a notice to its owner carries.
type Notice = (u16, Vec<MessageRecord>);

/// The relay kinds.
pub const ACCEPTED: &str = "accepted";
pub const SUBMIT: &str = "submit";
pub const HELD: &str = "held";

/// Parts accepted on one node for a shard another node owns.
#[derive(Debug, Serialize, Deserialize)]
pub struct AcceptedBatch {
    pub shard: u16,
    /// One entry per message: its parts.
    pub messages: Vec<Vec<MessageRecord>>,
}

/// Jobs of a link, sent to a node holding one of its binds.
#[derive(Debug, Serialize, Deserialize)]
pub struct SubmitBatch {
    pub link: String,
    pub jobs: Vec<WireJob>,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct WireJob {
    pub parts: Vec<MessageRecord>,
    pub exclude: Vec<String>,
}

/// What became of one forwarded job: done, or give these parts back after a delay.
#[derive(Debug, Serialize, Deserialize)]
pub struct WireOutcome {
    pub retry: Option<(WireJob, u64)>,
}

/// What the node may act for at the moment.
#[derive(Debug, Clone, Default)]
pub struct View {
    /// The replicated map as of the last install.
    pub cluster: Arc<ClusterState>,
    /// Shards this node may dispatch, with their epochs.
    pub shards: BTreeMap<u16, u64>,
    /// Bind slots this node may hold, per link: slot index and epoch.
    pub binds: BTreeMap<String, BTreeMap<u16, u64>>,
}

/// The shared membership of one node.
pub struct Membership {
    node: u64,
    shards: u16,
    standalone: bool,
    base: Instant,
    /// Milliseconds after `base` until which the lease runs.
    lease_until_ms: AtomicU64,
    view: RwLock<Arc<View>>,
    changes: watch::Sender<u64>,
    relay: RwLock<Option<Arc<dyn Relay>>>,
    /// Claims handed off whose work has settled here, for the next release.
    released: Mutex<Released>,
    accepted_tx: Mutex<HashMap<u64, mpsc::Sender<Notice>>>,
    next_holder: AtomicUsize,
    /// Accounts with a receiving bind on this node, as the outbox last saw them.
    receivers: Mutex<std::collections::BTreeSet<String>>,
}

impl std::fmt::Debug for Membership {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Membership")
            .field("node", &self.node)
            .field("standalone", &self.standalone)
            .finish_non_exhaustive()
    }
}

/// Notifications of accepted parts waiting for one node; past this they are dropped and
/// the owner finds the parts in the store.
const ACCEPTED_QUEUE: usize = 4_096;
/// Messages per notification.
const ACCEPTED_BATCH: usize = 256;
/// How long a call to another node may take.
pub const RELAY_TIMEOUT: Duration = Duration::from_secs(10);

impl Membership {
    /// A node on its own: it owns every shard and bind, for good.
    pub fn standalone(node: u64, shards: u16) -> Arc<Self> {
        Arc::new(Self::new(node, shards, true))
    }

    /// A node of a cluster: it owns nothing until [`Membership::install`] says so, and acts
    /// only while [`Membership::renewed`] keeps its lease running.
    pub fn clustered(node: u64, shards: u16) -> Arc<Self> {
        Arc::new(Self::new(node, shards, false))
    }

    fn new(node: u64, shards: u16, standalone: bool) -> Self {
        let (changes, _) = watch::channel(0);
        Self {
            node,
            shards,
            standalone,
            base: Instant::now(),
            lease_until_ms: AtomicU64::new(if standalone { u64::MAX } else { 0 }),
            view: RwLock::new(Arc::default()),
            changes,
            relay: RwLock::new(None),
            released: Mutex::default(),
            accepted_tx: Mutex::default(),
            next_holder: AtomicUsize::new(0),
            receivers: Mutex::default(),
        }
    }

    /// The accounts with a receiving bind on this node.
    pub fn set_receivers(&self, accounts: std::collections::BTreeSet<String>) {
        *self
            .receivers
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = accounts;
    }

    pub fn receivers(&self) -> std::collections::BTreeSet<String> {
        self.receivers
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    pub fn node(&self) -> u64 {
        self.node
    }

    pub fn is_standalone(&self) -> bool {
        self.standalone
    }

    /// Sets the calls to other nodes.
    pub fn set_relay(&self, relay: Arc<dyn Relay>) {
        *self.relay.write().unwrap_or_else(PoisonError::into_inner) = Some(relay);
    }

    fn relay(&self) -> Option<Arc<dyn Relay>> {
        self.relay
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Whether the lease runs now.
    pub fn lease_valid(&self) -> bool {
        let until = self.lease_until_ms.load(Ordering::Acquire);
        until == u64::MAX || (self.base.elapsed().as_millis() as u64) < until
    }

    /// A heartbeat that left at `sent` was applied on this node: the lease runs until
    /// `sent + lease`.
    pub fn renewed(&self, sent: Instant, lease: Duration) {
        let until = sent.saturating_duration_since(self.base) + lease;
        let until = until.as_millis() as u64;
        let before = self.lease_until_ms.fetch_max(until, Ordering::AcqRel);
        if (self.base.elapsed().as_millis() as u64) >= before {
            // The lease had run out: whatever acts on claims looks again.
            self.changes.send_modify(|v| *v += 1);
        }
    }

    /// Installs what the replica says at `now_ms` (this node's wall clock).
    pub fn install(&self, cluster: Arc<ClusterState>, now_ms: u64) {
        let owned = cluster.owned_by(self.node, now_ms);
        let mut binds: BTreeMap<String, BTreeMap<u16, u64>> = BTreeMap::new();
        for ((link, slot), epoch) in owned.binds {
            binds.entry(link).or_default().insert(slot, epoch);
        }
        let view = View {
            cluster,
            shards: owned.shards,
            binds,
        };
        let changed = {
            let mut current = self.view.write().unwrap_or_else(PoisonError::into_inner);
            let changed = current.shards != view.shards || current.binds != view.binds;
            *current = Arc::new(view);
            changed
        };
        if changed {
            self.changes.send_modify(|v| *v += 1);
        }
    }

    pub fn view(&self) -> Arc<View> {
        self.view
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Ticks when what this node may act for changes (claims, or the lease running out
    /// is noticed by those who look at [`Membership::lease_valid`]).
    pub fn changes(&self) -> watch::Receiver<u64> {
        self.changes.subscribe()
    }

    /// The epoch this node dispatches `shard` under, if it may now.
    pub fn shard_epoch(&self, shard: u16) -> Option<u64> {
        if self.standalone {
            return Some(0);
        }
        if !self.lease_valid() {
            return None;
        }
        self.view().shards.get(&shard).copied()
    }

    /// The bind slots of `link` this node holds now, with their epochs; `binds` is the
    /// link's configured count (all of them on a node of its own).
    pub fn bind_slots(&self, link: &str, binds: u16) -> BTreeMap<u16, u64> {
        if self.standalone {
            return (0..binds.max(1)).map(|slot| (slot, 0)).collect();
        }
        if !self.lease_valid() {
            return BTreeMap::new();
        }
        self.view().binds.get(link).cloned().unwrap_or_default()
    }

    /// Whether this node may submit over bind `slot` of `link` under `epoch` now.
    pub fn holds_bind(&self, link: &str, slot: u16, epoch: u64) -> bool {
        if self.standalone {
            return true;
        }
        self.lease_valid()
            && self
                .view()
                .binds
                .get(link)
                .and_then(|slots| slots.get(&slot))
                == Some(&epoch)
    }

    /// Another live node holding a bind of `link`, picked in turn by bind count.
    pub fn bind_holder(&self, link: &str) -> Option<u64> {
        if self.standalone {
            return None;
        }
        let view = self.view();
        let holders: Vec<u64> = view
            .cluster
            .bind_holders(link)
            .into_iter()
            .filter(|(node, _)| *node != self.node)
            .flat_map(|(node, count)| std::iter::repeat_n(node, count))
            .collect();
        if holders.is_empty() {
            return None;
        }
        let turn = self.next_holder.fetch_add(1, Ordering::Relaxed);
        holders.get(turn % holders.len()).copied()
    }

    /// The node that delivers to `account`, when it is another live one.
    pub fn receiver_elsewhere(&self, account: &str) -> Option<u64> {
        if self.standalone {
            return None;
        }
        self.view()
            .cluster
            .receiver_node(account)
            .filter(|node| *node != self.node)
    }

    /// Whether this node delivers to `account` now: its lease runs, and no live node with
    /// a lower id has a receiving bind of it.
    pub fn delivers_to(&self, account: &str) -> bool {
        // Only under a running lease: a node cut off from the others (or paused) would
        // otherwise go on delivering what the store holds while the rest of the cluster,
        // which no longer sees it, has another node deliver the same.
        self.standalone
            || (self.lease_valid()
                && self
                    .view()
                    .cluster
                    .receiver_node(account)
                    .is_none_or(|node| node >= self.node))
    }

    /// The owner of `shard` when it is another node.
    pub fn shard_owner_elsewhere(&self, shard: u16) -> Option<u64> {
        if self.standalone {
            return None;
        }
        self.view()
            .cluster
            .shard_owner(shard)
            .map(|claim| claim.node)
            .filter(|node| *node != self.node)
    }

    /// The shards moved away from this node whose release is due, with their epochs.
    pub fn shards_handing_off(&self) -> BTreeMap<u16, u64> {
        let view = self.view();
        view.cluster
            .shard_owners
            .iter()
            .filter(|(_, c)| c.from == Some(self.node))
            .map(|(s, c)| (*s, c.epoch))
            .collect()
    }

    /// The bind slots moved away from this node, with the epochs of their new claims.
    pub fn binds_handing_off(&self) -> Vec<(BindSlot, u64)> {
        let view = self.view();
        view.cluster
            .bind_owners
            .iter()
            .filter(|(_, c)| c.from == Some(self.node))
            .map(|(b, c)| (b.clone(), c.epoch))
            .collect()
    }

    /// A shard's dispatcher stopped and its work at links has settled.
    pub fn shard_released(&self, shard: u16, epoch: u64) {
        let mut released = self.released.lock().unwrap_or_else(PoisonError::into_inner);
        if !released.0.contains(&(shard, epoch)) {
            released.0.push((shard, epoch));
        }
    }

    /// A bind was closed.
    pub fn bind_released(&self, slot: BindSlot, epoch: u64) {
        let mut released = self.released.lock().unwrap_or_else(PoisonError::into_inner);
        if !released.1.iter().any(|(s, e)| *s == slot && *e == epoch) {
            released.1.push((slot, epoch));
        }
    }

    /// What was released since the last call, for the membership task to propose.
    pub fn take_released(&self) -> Released {
        std::mem::take(&mut *self.released.lock().unwrap_or_else(PoisonError::into_inner))
    }

    pub fn shards(&self) -> u16 {
        self.shards
    }

    /// Tells `node`, the owner of `shard`, about parts accepted here. Batched; when the
    /// queue to that node is full the owner finds the parts in the store instead.
    pub fn notify_accepted(self: &Arc<Self>, node: u64, shard: u16, parts: Vec<MessageRecord>) {
        let Some(relay) = self.relay() else {
            return;
        };
        let sender = {
            let mut senders = self
                .accepted_tx
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            senders
                .entry(node)
                .or_insert_with(|| {
                    let (tx, rx) = mpsc::channel(ACCEPTED_QUEUE);
                    tokio::spawn(send_accepted(relay, node, rx));
                    tx
                })
                .clone()
        };
        if sender.try_send((shard, parts)).is_err() {
            metrics::counter!("tern_cluster_notices_dropped_total").increment(1);
        }
    }

    /// Sends one batch of jobs of `link` to `node`; the outcomes, in order.
    pub async fn submit_elsewhere(
        &self,
        node: u64,
        batch: &SubmitBatch,
    ) -> Result<Vec<WireOutcome>, RelayError> {
        let relay = self
            .relay()
            .ok_or_else(|| RelayError::NotSent("no relay".into()))?;
        let body = postcard::to_stdvec(batch).map_err(|e| RelayError::NotSent(e.to_string()))?;
        let answer = relay.call(node, SUBMIT, body).await?;
        let outcomes: Vec<WireOutcome> =
            postcard::from_bytes(&answer).map_err(|e| RelayError::Unknown(e.to_string()))?;
        if outcomes.len() != batch.jobs.len() {
            return Err(RelayError::Unknown(format!(
                "{} outcomes for {} jobs",
                outcomes.len(),
                batch.jobs.len()
            )));
        }
        Ok(outcomes)
    }

    /// Hands a held delivery to the node that delivers to its account.
    pub async fn hand_held(&self, node: u64, item: &HeldDelivery) -> Result<(), RelayError> {
        let relay = self
            .relay()
            .ok_or_else(|| RelayError::NotSent("no relay".into()))?;
        let body = postcard::to_stdvec(item).map_err(|e| RelayError::NotSent(e.to_string()))?;
        relay.call(node, HELD, body).await.map(|_| ())
    }
}

/// Sends notifications of accepted parts to one node, as many as are waiting at once.
async fn send_accepted(relay: Arc<dyn Relay>, node: u64, mut rx: mpsc::Receiver<Notice>) {
    while let Some(first) = rx.recv().await {
        let mut by_shard: BTreeMap<u16, Vec<Vec<MessageRecord>>> = BTreeMap::new();
        by_shard.entry(first.0).or_default().push(first.1);
        let mut count = 1;
        while count < ACCEPTED_BATCH {
            let Ok((shard, parts)) = rx.try_recv() else {
                break;
            };
            by_shard.entry(shard).or_default().push(parts);
            count += 1;
        }
        for (shard, messages) in by_shard {
            let batch = AcceptedBatch { shard, messages };
            let Ok(body) = postcard::to_stdvec(&batch) else {
                continue;
            };
            match relay.call(node, ACCEPTED, body).await {
                Ok(_) => {
                    metrics::counter!("tern_cluster_notices_sent_total")
                        .increment(batch.messages.len() as u64);
                }
                Err(error) => {
                    // The owner pages them in from the store.
                    debug!(node, shard, %error, "accepted parts not told to their shard's owner");
                    metrics::counter!("tern_cluster_notices_dropped_total")
                        .increment(batch.messages.len() as u64);
                }
            }
        }
    }
    warn!(node, "notifications to this node ended");
}
