//! [`Cluster`]: the handle the rest of Tern holds on the raft group. It starts the node
//! (storage, openraft, the RPC server, the tick proposer), sends proposals and membership
//! changes to whichever node leads, reads the applied state, and relays the node's own
//! messages to other members.
//!
//! A call that needs the leader runs it here when this node leads and forwards it
//! otherwise, retrying only while that is safe: while no leader is known, when the
//! presumed leader says it is not (any more), or when its address refuses connections. A
//! proposal whose leader vanished after taking it ends in `ClusterError::Indeterminate`:
//! raft may still commit it, so only the caller knows whether sending it again is safe.

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::time::Duration;

use bytes::Bytes;
use openraft::{BasicNode, ServerState};
use tern_ledger::{Command, Request, Response, State};
use tern_model::now_ms;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::config::ClusterConfig;
use crate::disk::Disk;
use crate::error::ClusterError;
use crate::forward::{self, Forward, LeaderError, Outcome};
use crate::log_store::LogStore;
use crate::network::{CallError, NetworkFactory, Peers, Rpc};
use crate::relay::{Relay, RelayError, RelayHandler, Target};
use crate::state_machine::{Shared, StateMachine};
use crate::telemetry;
use crate::types::{NodeId, Raft, RaftMetrics};

/// How long a proposal or membership change may look for a leader and wait for commit.
const LEADER_DEADLINE: Duration = Duration::from_secs(10);
/// The longest pause between two attempts to reach a leader.
const MAX_PAUSE: Duration = Duration::from_millis(200);
/// How long `shutdown` waits for openraft's tasks to let go of the storage.
const RELEASE_WAIT: Duration = Duration::from_secs(10);

/// One member of the raft group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    pub id: u64,
    pub addr: String,
    pub voter: bool,
}

/// Where this node stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterStatus {
    pub node_id: u64,
    pub leader: Option<u64>,
    pub term: u64,
    /// Leader, Follower, Candidate, Learner (or Shutdown).
    pub role: String,
    pub last_log_index: Option<u64>,
    pub applied_index: Option<u64>,
    pub members: Vec<Member>,
    /// The last index the current snapshot covers.
    pub snapshot_index: Option<u64>,
    /// The last index purged from the log (behind a snapshot).
    pub purged_index: Option<u64>,
}

/// A running raft node; cheap to clone.
#[derive(Clone)]
pub struct Cluster {
    inner: Arc<Inner>,
}

struct Inner {
    node_id: NodeId,
    raft_addr: SocketAddr,
    raft: Raft,
    shared: Arc<Shared>,
    peers: Arc<Peers>,
    relay: Arc<Relay>,
    stop: watch::Sender<bool>,
    tasks: Mutex<Vec<JoinHandle<()>>>,
    disk: Weak<Disk>,
}

/// What one attempt to reach the leader ended with.
enum Attempt {
    Done(Outcome),
    /// Not applied; worth another try until the deadline.
    Retry(String, Option<NodeId>),
    Failed(ClusterError),
}

fn leader_and_addr(metrics: &RaftMetrics, prefer: Option<NodeId>) -> Option<(NodeId, String)> {
    let leader = prefer.or(metrics.current_leader)?;
    let node = metrics.membership_config.membership().get_node(&leader)?;
    Some((leader, node.addr.clone()))
}

impl Cluster {
    /// Opens the storage in `config.dir`, starts raft and its RPC server, and bootstraps a
    /// one-member cluster when asked to and the log is empty.
    #[tracing::instrument(name = "raft_node", skip_all, fields(node_id = config.node_id))]
    pub async fn start(config: ClusterConfig) -> Result<Cluster, ClusterError> {
        config.validate()?;
        let raft_config = Arc::new(config.raft_config()?);
        let disk = Disk::open(&config.dir).await?;
        let state_machine =
            StateMachine::open(Arc::clone(&disk)).map_err(|e| ClusterError::Storage {
                path: config.dir.clone(),
                message: e.to_string(),
            })?;
        let shared = state_machine.shared();
        let log_store = LogStore::new(Arc::clone(&disk));
        let listener = tokio::net::TcpListener::bind(config.listen)
            .await
            .map_err(|source| ClusterError::Listen {
                addr: config.listen,
                source,
            })?;
        let raft_addr = listener
            .local_addr()
            .map_err(|source| ClusterError::Listen {
                addr: config.listen,
                source,
            })?;
        let advertise = config
            .advertise
            .clone()
            .unwrap_or_else(|| raft_addr.to_string());
        if config.advertise.is_none() && raft_addr.ip().is_unspecified() {
            tracing::warn!(%raft_addr, "no advertise address: peers cannot reach a wildcard address");
        }
        let peers = Arc::new(Peers::new(config.secret.as_deref(), config.dial.clone())?);
        let raft = Raft::new(
            config.node_id,
            raft_config,
            NetworkFactory::new(Arc::clone(&peers)),
            log_store,
            state_machine,
        )
        .await
        .map_err(|e| ClusterError::Fatal(e.to_string()))?;

        let relay = Arc::new(Relay::new());
        let (stop, stopped) = watch::channel(false);
        let mut tasks = vec![tokio::spawn(crate::service::serve(
            raft.clone(),
            Arc::clone(&relay),
            config.secret.clone(),
            listener,
            stopped.clone(),
            raft_addr,
        ))];
        tasks.push(tokio::spawn(watch_metrics(raft.clone(), stopped.clone())));
        if config.tick_ms > 0 {
            let every = Duration::from_millis(config.tick_ms);
            tasks.push(tokio::spawn(tick(raft.clone(), every, stopped)));
        }
        let cluster = Cluster {
            inner: Arc::new(Inner {
                node_id: config.node_id,
                raft_addr,
                raft,
                shared,
                peers,
                relay,
                stop,
                tasks: Mutex::new(tasks),
                disk: Arc::downgrade(&disk),
            }),
        };
        drop(disk);

        if let Err(e) = cluster.bootstrap(&config, &advertise).await {
            cluster.shutdown().await;
            return Err(e);
        }
        tracing::info!(%raft_addr, %advertise, "raft node started");
        Ok(cluster)
    }

    /// Initialises a one-member cluster of this node when asked to and the log is empty.
    async fn bootstrap(&self, config: &ClusterConfig, advertise: &str) -> Result<(), ClusterError> {
        let raft = &self.inner.raft;
        let initialized = raft
            .is_initialized()
            .await
            .map_err(|e| ClusterError::Fatal(e.to_string()))?;
        if !config.bootstrap || initialized {
            return Ok(());
        }
        let members = BTreeMap::from([(config.node_id, BasicNode::new(advertise))]);
        raft.initialize(members)
            .await
            .map_err(|e| ClusterError::Fatal(format!("bootstrap: {e}")))?;
        tracing::info!(%advertise, "bootstrapped a one-member cluster");
        Ok(())
    }

    pub fn node_id(&self) -> u64 {
        self.inner.node_id
    }

    /// The address the raft RPC server is bound to.
    pub fn raft_addr(&self) -> SocketAddr {
        self.inner.raft_addr
    }

    /// Applies `request` through raft; a follower forwards it to the leader (retrying
    /// while there is no leader, up to a deadline of ~10 s); returns what the state
    /// machine answered. `at_ms` 0 is replaced by this node's clock.
    #[tracing::instrument(level = "debug", skip_all, fields(node_id = self.inner.node_id))]
    pub async fn propose(&self, request: Request) -> Result<Response, ClusterError> {
        self.propose_with(request, None).await
    }

    /// [`Self::propose`] for a request that may be applied any number of times with the
    /// effect of once (a heartbeat, which carries its time): each attempt waits at most
    /// `attempt`, and one without an answer is tried again at the leader known then,
    /// instead of waiting out the deadline on a leader that was cut off.
    pub async fn propose_repeatable(
        &self,
        request: Request,
        attempt: Duration,
    ) -> Result<Response, ClusterError> {
        self.propose_with(request, Some(attempt)).await
    }

    async fn propose_with(
        &self,
        mut request: Request,
        repeatable: Option<Duration>,
    ) -> Result<Response, ClusterError> {
        if request.at_ms == 0 {
            request.at_ms = now_ms();
        }
        let started = std::time::Instant::now();
        let result = self
            .leader_call_with(Forward::Propose(Box::new(request)), repeatable)
            .await;
        metrics::histogram!(telemetry::PROPOSE_SECONDS).record(started.elapsed().as_secs_f64());
        let outcome = match &result {
            Ok(Outcome::Applied(Response::Refused(_))) => "refused",
            Ok(_) => "applied",
            Err(ClusterError::Indeterminate(_)) => "indeterminate",
            Err(_) => "failed",
        };
        metrics::counter!(telemetry::PROPOSALS_TOTAL, "outcome" => outcome).increment(1);
        match result? {
            Outcome::Applied(response) => Ok(response),
            other => Err(ClusterError::Protocol(format!(
                "a proposal answered with {other:?}"
            ))),
        }
    }

    /// Reads the local state (possibly behind the leader on a follower).
    pub fn read<T>(&self, f: impl FnOnce(&State) -> T) -> T {
        f(&self.inner.shared.read().state)
    }

    /// Waits until the local state has applied everything committed at the leader when
    /// called, then reads.
    pub async fn read_linearizable<T>(
        &self,
        f: impl FnOnce(&State) -> T,
    ) -> Result<T, ClusterError> {
        let started = Instant::now();
        let index = match self.leader_call(Forward::ReadIndex).await? {
            Outcome::ReadIndex(index) => index,
            other => {
                return Err(ClusterError::Protocol(format!(
                    "a read index answered with {other:?}"
                )))
            }
        };
        let mut applied = self.applied();
        let remaining = LEADER_DEADLINE.saturating_sub(started.elapsed());
        let reached = tokio::time::timeout(remaining, applied.wait_for(|at| *at >= index))
            .await
            .map(|caught_up| caught_up.is_ok());
        match reached {
            Ok(true) => Ok(self.read(f)),
            Ok(false) => Err(ClusterError::Fatal("state machine stopped".into())),
            Err(_) => Err(ClusterError::Indeterminate(format!(
                "index {index} not applied here within {LEADER_DEADLINE:?}"
            ))),
        }
    }

    /// Changes when `State::config_version` changes (value = config_version).
    pub fn config_changes(&self) -> watch::Receiver<u64> {
        self.inner.shared.config_changes()
    }

    /// Changes whenever something is applied (value = last applied index).
    pub fn applied(&self) -> watch::Receiver<u64> {
        self.inner.shared.applied_changes()
    }

    /// Waits until a leader is known and returns its id.
    pub async fn wait_for_leader(&self, timeout: Duration) -> Result<u64, ClusterError> {
        let mut metrics = self.inner.raft.metrics();
        let waited =
            tokio::time::timeout(timeout, metrics.wait_for(|m| m.current_leader.is_some())).await;
        match waited {
            Ok(Ok(m)) => m.current_leader.ok_or(ClusterError::NoLeader(timeout)),
            Ok(Err(_)) => Err(ClusterError::Fatal("raft stopped".into())),
            Err(_) => Err(ClusterError::NoLeader(timeout)),
        }
    }

    pub fn is_leader(&self) -> bool {
        let metrics = self.inner.raft.metrics();
        let m = metrics.borrow();
        m.state == ServerState::Leader && m.current_leader == Some(self.inner.node_id)
    }

    /// Adds a non-voting member that starts replicating the log (forwarded to the leader).
    pub async fn add_learner(&self, id: u64, addr: String) -> Result<(), ClusterError> {
        self.leader_call(Forward::AddLearner { id, addr })
            .await
            .map(drop)
    }

    /// Learners become voters.
    pub async fn promote(&self, ids: Vec<u64>) -> Result<(), ClusterError> {
        let ids = ids.into_iter().collect();
        self.leader_call(Forward::Promote { ids }).await.map(drop)
    }

    /// Takes members out of the voters and the learners.
    pub async fn remove(&self, ids: Vec<u64>) -> Result<(), ClusterError> {
        let ids = ids.into_iter().collect();
        self.leader_call(Forward::Remove { ids }).await.map(drop)
    }

    /// Makes `voters` the voters; with `retain`, voters left out stay as learners.
    pub async fn change_membership(
        &self,
        voters: BTreeSet<u64>,
        retain: bool,
    ) -> Result<(), ClusterError> {
        self.leader_call(Forward::ChangeMembership { voters, retain })
            .await
            .map(drop)
    }

    /// Makes `handler` answer the relay calls that reach this node, from now on; until
    /// then they are answered with the error "no relay handler yet".
    pub fn set_relay_handler(&self, handler: Arc<dyn RelayHandler>) {
        self.inner.relay.set_handler(Some(handler));
    }

    /// Sends `body` to the relay handler of member `target` under `kind` (a short name
    /// such as `submit`; see [`RelayHandler`]) and returns its answer, within `timeout`.
    /// A call to this node's own id runs the local handler without the network. There
    /// are no retries: [`RelayError`] says whether the request went out.
    #[tracing::instrument(level = "debug", skip(self, body), fields(bytes = body.len()))]
    pub async fn relay(
        &self,
        target: u64,
        kind: &str,
        body: Vec<u8>,
        timeout: Duration,
    ) -> Result<Bytes, RelayError> {
        let destination = if target == self.inner.node_id {
            Target::Here
        } else {
            let metrics = self.inner.raft.metrics();
            let m = metrics.borrow();
            match m.membership_config.membership().get_node(&target) {
                Some(node) => Target::Peer(target, node.addr.clone()),
                None => Target::Unknown(target),
            }
        };
        self.inner
            .relay
            .call(
                &self.inner.peers,
                self.inner.node_id,
                destination,
                kind,
                body,
                timeout,
            )
            .await
    }

    /// openraft's own metrics of this node, for whoever wants more than `status`.
    pub fn raft_metrics(&self) -> watch::Receiver<RaftMetrics> {
        self.inner.raft.metrics()
    }

    pub fn status(&self) -> ClusterStatus {
        let metrics = self.inner.raft.metrics();
        let m = metrics.borrow();
        let membership = m.membership_config.membership();
        let voters: BTreeSet<NodeId> = membership.voter_ids().collect();
        let role = match m.state {
            ServerState::Leader => "Leader",
            ServerState::Candidate => "Candidate",
            ServerState::Follower if voters.contains(&self.inner.node_id) => "Follower",
            ServerState::Follower | ServerState::Learner => "Learner",
            ServerState::Shutdown => "Shutdown",
        };
        ClusterStatus {
            node_id: self.inner.node_id,
            leader: m.current_leader,
            term: m.current_term,
            role: role.to_string(),
            last_log_index: m.last_log_index,
            applied_index: m.last_applied.map(|id| id.index),
            members: membership
                .nodes()
                .map(|(id, node)| Member {
                    id: *id,
                    addr: node.addr.clone(),
                    voter: voters.contains(id),
                })
                .collect(),
            snapshot_index: m.snapshot.map(|id| id.index),
            purged_index: m.purged.map(|id| id.index),
        }
    }

    /// On the leader: whether `id` holds the log up to within `lag` entries of the leader's
    /// last one, as its replication last reported. A learner is promoted only then: a voter
    /// that is down or far behind would take the quorum away from a cluster that works.
    pub fn caught_up(&self, id: u64, lag: u64) -> bool {
        let metrics = self.inner.raft.metrics();
        let m = metrics.borrow();
        let last = m.last_log_index.unwrap_or(0);
        m.replication
            .as_ref()
            .and_then(|r| r.get(&id).copied().flatten())
            .is_some_and(|matched| matched.index + lag >= last)
    }

    /// Stops raft, the RPC server and the tick proposer, and waits until the storage is
    /// closed, so the same directory can be opened again. Calling it twice is harmless.
    pub async fn shutdown(&self) {
        if self.inner.stop.send_replace(true) {
            return;
        }
        // The handler may hold a clone of this `Cluster`: let go of it.
        self.inner.relay.set_handler(None);
        if let Err(e) = self.inner.raft.shutdown().await {
            tracing::warn!(error = %e, "raft core ended badly");
        }
        let tasks = std::mem::take(
            &mut *self
                .inner
                .tasks
                .lock()
                .unwrap_or_else(PoisonError::into_inner),
        );
        for task in tasks {
            if let Err(e) = task.await {
                tracing::warn!(error = %e, "cluster task ended badly");
            }
        }
        let deadline = Instant::now() + RELEASE_WAIT;
        while self.inner.disk.strong_count() > 0 {
            if Instant::now() >= deadline {
                tracing::warn!("raft storage still in use after shutdown");
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        tracing::info!(node_id = self.inner.node_id, "raft node stopped");
    }

    /// Runs `op` on the leader, wherever it is, retrying while that is safe.
    async fn leader_call(&self, op: Forward) -> Result<Outcome, ClusterError> {
        self.leader_call_with(op, None).await
    }

    /// `repeatable`: `op` may be applied more than once, so an attempt is given at most
    /// this long and one without an answer is tried again rather than reported
    /// indeterminate.
    async fn leader_call_with(
        &self,
        op: Forward,
        repeatable: Option<Duration>,
    ) -> Result<Outcome, ClusterError> {
        let deadline = Instant::now() + LEADER_DEADLINE;
        let mut metrics = self.inner.raft.metrics();
        let mut pause = Duration::from_millis(10);
        let mut hint = None;
        loop {
            if *self.inner.stop.borrow() {
                return Err(ClusterError::Fatal("the node is shut down".into()));
            }
            let target = leader_and_addr(&metrics.borrow_and_update(), hint.take());
            let remaining = deadline.saturating_duration_since(Instant::now());
            let within = repeatable.map_or(remaining, |limit| limit.min(remaining));
            let tried = target.as_ref().map(|(leader, _)| *leader);
            let attempt = match target {
                None => Attempt::Retry("no leader known".into(), None),
                Some((leader, _)) if leader == self.inner.node_id => {
                    self.run_here(op.clone(), within).await
                }
                Some((leader, addr)) => self.run_there(leader, &addr, &op, within).await,
            };
            let attempt = match attempt {
                // Applied once or more, as the caller allows: try again.
                Attempt::Failed(ClusterError::Indeterminate(reason)) if repeatable.is_some() => {
                    Attempt::Retry(reason, None)
                }
                other => other,
            };
            match attempt {
                Attempt::Done(outcome) => return Ok(outcome),
                Attempt::Failed(e) => return Err(e),
                Attempt::Retry(reason, leader) => {
                    if Instant::now() + pause >= deadline {
                        tracing::warn!(op = op.kind(), %reason, "no leader before the deadline");
                        return Err(ClusterError::NoLeader(LEADER_DEADLINE));
                    }
                    tracing::debug!(op = op.kind(), %reason, "leader not reached; retrying");
                    hint = leader.filter(|l| Some(*l) != tried);
                    // Wake up early when the local view of the leader changes.
                    let _ = tokio::time::timeout(pause, metrics.changed()).await;
                    pause = (pause * 2).min(MAX_PAUSE);
                }
            }
        }
    }

    async fn run_here(&self, op: Forward, within: Duration) -> Attempt {
        let read = matches!(op, Forward::ReadIndex);
        match tokio::time::timeout(within, forward::execute(&self.inner.raft, op)).await {
            Ok(Ok(outcome)) => Attempt::Done(outcome),
            Ok(Err(e)) => leader_error(e, read, true),
            Err(_) if read => Attempt::Failed(ClusterError::NoLeader(LEADER_DEADLINE)),
            Err(_) => Attempt::Failed(ClusterError::Indeterminate(format!(
                "not committed within {LEADER_DEADLINE:?}"
            ))),
        }
    }

    async fn run_there(
        &self,
        leader: NodeId,
        addr: &str,
        op: &Forward,
        within: Duration,
    ) -> Attempt {
        let read = matches!(op, Forward::ReadIndex);
        let answer: Result<Result<Outcome, LeaderError>, CallError> = self
            .inner
            .peers
            .call(leader, addr, Rpc::Forward, op, within)
            .await;
        match answer {
            Ok(Ok(outcome)) => Attempt::Done(outcome),
            Ok(Err(e)) => leader_error(e, read, false),
            Err(e @ CallError::Unreachable { .. }) => Attempt::Retry(e.to_string(), None),
            Err(CallError::Failed {
                code: Some(tonic::Code::Unauthenticated),
                message,
                ..
            }) => Attempt::Failed(ClusterError::Unauthenticated(message)),
            Err(e) if read => Attempt::Retry(e.to_string(), None),
            Err(e) => Attempt::Failed(ClusterError::Indeterminate(e.to_string())),
        }
    }
}

fn leader_error(e: LeaderError, read: bool, here: bool) -> Attempt {
    match e {
        LeaderError::NotLeader { leader } => Attempt::Retry(e.to_string(), leader),
        LeaderError::NoQuorum(_) => Attempt::Retry(e.to_string(), None),
        LeaderError::Membership(message) => Attempt::Failed(ClusterError::Membership(message)),
        LeaderError::Stopped(message) if here => Attempt::Failed(ClusterError::Fatal(message)),
        LeaderError::Stopped(_) if read => Attempt::Retry(e.to_string(), None),
        LeaderError::Stopped(message) => Attempt::Failed(ClusterError::Indeterminate(format!(
            "the leader stopped: {message}"
        ))),
    }
}

/// Keeps the raft gauges current and logs leadership changes.
async fn watch_metrics(raft: Raft, mut stop: watch::Receiver<bool>) {
    let mut metrics = raft.metrics();
    let mut leader = None;
    loop {
        {
            let m = metrics.borrow_and_update();
            metrics::gauge!(telemetry::TERM).set(m.current_term as f64);
            let leads = m.state == ServerState::Leader;
            metrics::gauge!(telemetry::IS_LEADER).set(if leads { 1.0 } else { 0.0 });
            metrics::gauge!(telemetry::LAST_LOG_INDEX).set(m.last_log_index.unwrap_or(0) as f64);
            if m.current_leader != leader {
                leader = m.current_leader;
                tracing::info!(
                    node_id = m.id,
                    term = m.current_term,
                    ?leader,
                    "raft leader changed"
                );
                metrics::counter!(telemetry::LEADER_CHANGES_TOTAL).increment(1);
            }
        }
        tokio::select! {
            changed = metrics.changed() => if changed.is_err() { return },
            _ = stop.wait_for(|s| *s) => return,
        }
    }
}

/// Proposes `Command::Tick` every `every` while this node leads.
async fn tick(raft: Raft, every: Duration, mut stop: watch::Receiver<bool>) {
    let mut interval = tokio::time::interval(every);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = interval.tick() => {}
            _ = stop.wait_for(|s| *s) => return,
        }
        let leads = raft.metrics().borrow().state == ServerState::Leader;
        if !leads {
            continue;
        }
        let request = Request {
            at_ms: now_ms(),
            audit: None,
            command: Command::Tick,
        };
        let ticked = tokio::time::timeout(
            every.max(LEADER_DEADLINE),
            forward::execute(&raft, Forward::Propose(Box::new(request))),
        )
        .await;
        match ticked {
            Ok(Ok(_)) => metrics::counter!(telemetry::TICKS_TOTAL).increment(1),
            Ok(Err(e)) => tracing::debug!(error = %e, "tick not applied"),
            Err(_) => tracing::warn!("tick not committed in time"),
        }
    }
}
