//! CarrierLink: one operator link on this node. It holds the binds of the link this node
//! owns in the cluster (each a transceiver or a TX+RX pair, with its window, TPS cap, and
//! an AIMD limit that halves when the operator throttles and grows back one step per window
//! of successes), and follows the ownership map as it changes: a bind this node no longer
//! owns, or whose lease ran out, is closed before anything else is sent on it. It sends each
//! message's parts in order, records every attempt before the PDU leaves, classifies each
//! response, and gives back to the dispatcher what must be retried. A link of which this
//! node holds no bind sends its jobs, in batches, to a node that holds one (see
//! [`crate::membership`]). Receipts and MO from the operator go to the correlator and the MO
//! dispatcher.

use std::sync::Arc;
use std::time::Duration;

use ractor::{Actor, ActorProcessingErr, ActorRef};
use tern_storage::{MessageRecord, PendingEntry, RecordState, Submission, WriteOp};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{debug, info, warn, Instrument};

use crate::aimd::Aimd;
use crate::context::{now_ms, Context};
use crate::dispatcher::{DispatcherMsg, Job};
use crate::late::{Awaited, LateAnswers};
use crate::outcome;
use crate::protocol::{BindEvent, BindEvents, CarrierBind, CarrierProtocol, Inbound, OpenBind};

mod claims;
mod forward;

use claims::Claims;

/// The link's metric handles, registered once instead of on every message.
#[derive(Debug, Clone)]
pub struct LinkMetrics {
    ok: metrics::Counter,
    link_down: metrics::Counter,
    unknown: metrics::Counter,
    throttled: metrics::Counter,
    transient: metrics::Counter,
    permanent: metrics::Counter,
    latency: metrics::Histogram,
    window: metrics::Gauge,
    in_use: metrics::Gauge,
}

impl LinkMetrics {
    fn new(link: &str) -> Self {
        // Served as 0 from the link's start, so that rate() counts the first unmatched
        // receipt and an alert rule finds the series on a healthy link.
        metrics::counter!("tern_receipts_unmatched_total", "link" => link.to_owned()).increment(0);
        let submits = |result: &'static str| metrics::counter!("tern_link_submits_total", "link" => link.to_owned(), "result" => result);
        Self {
            ok: submits("ok"),
            link_down: submits("link_down"),
            unknown: submits("unknown"),
            throttled: submits("throttled"),
            transient: submits("transient"),
            permanent: submits("permanent"),
            latency: metrics::histogram!("tern_link_submit_latency_seconds", "link" => link.to_owned()),
            window: metrics::gauge!("tern_link_window_limit_submits", "link" => link.to_owned()),
            in_use: metrics::gauge!("tern_link_window_in_use_submits", "link" => link.to_owned()),
        }
    }
}

/// How one operator link is set up.
#[derive(Debug, Clone)]
pub struct LinkConfig {
    pub name: String,
    /// The operator's protocol with the link's settings: its client, and how parts are
    /// split and rendered for it.
    pub carrier: Arc<dyn CarrierProtocol>,
    /// Jobs the dispatcher may hand this link at once.
    pub credit: usize,
    /// Changes when the link's settings change: a running link of another revision is
    /// restarted.
    pub revision: u64,
    /// The binds the operator allows across the cluster (all of them on a node of its own).
    pub binds: u16,
}

/// What one submit of a part came to, whatever the protocol.
pub enum WireResult {
    /// Accepted, with the operator's id for the part.
    Accepted(String),
    /// Answered with an error: how to treat it and the code to record.
    Refused(Verdict, u32),
    /// Never left: the link is down.
    NotSent,
    /// Sent, no answer: the operator may have it. With the request's sequence number when
    /// an answer may still come late.
    Unknown(String, Option<u32>),
}

// Messages move once into the mailbox; boxing would cost an allocation per message.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
pub enum LinkMsg {
    /// Send this message.
    Submit(Job),
    /// Send this message for another node; the outcome goes to `reply`.
    SubmitFor(Job, tokio::sync::oneshot::Sender<JobEnd>),
    /// A bind's state changed, or a late answer came on it.
    Bind(u16, BindEvent),
    /// Look at the ownership map: open and close binds to match it.
    Follow,
}

/// What became of a job: done, or give these parts back after a delay.
pub type JobEnd = Option<(Job, Duration)>;

pub struct CarrierLink;

/// One bind of the link held by this node.
struct Bind {
    epoch: u64,
    wire: Arc<dyn CarrierBind>,
    aimd: Arc<Aimd>,
    /// The parts of submits that timed out on this bind, for their late answers.
    late: Arc<LateAnswers>,
    up: bool,
    stop: CancellationToken,
    tasks: TaskTracker,
}

pub struct LinkState {
    ctx: Arc<Context>,
    config: Arc<LinkConfig>,
    myself: ActorRef<LinkMsg>,
    binds: std::collections::BTreeMap<u16, Bind>,
    metrics: Arc<LinkMetrics>,
    stop: CancellationToken,
    tasks: TaskTracker,
    /// Jobs for a node that holds a bind of the link, when this one holds none up.
    forward: tokio::sync::mpsc::Sender<Job>,
    /// The parts being sent on this node's binds, or accepted a moment ago.
    claims: Arc<Claims>,
}

/// Jobs waiting to be forwarded to another node; past this they are given back to the
/// dispatcher for a little while.
const FORWARD_QUEUE: usize = 1_024;
impl LinkState {
    /// Opens the binds this node owns now and closes those it does not.
    fn follow(&mut self) {
        let wanted = self
            .ctx
            .membership
            .bind_slots(&self.config.name, self.config.binds);
        let gone: Vec<u16> = self
            .binds
            .iter()
            .filter(|(slot, bind)| wanted.get(slot) != Some(&bind.epoch))
            .map(|(slot, _)| *slot)
            .collect();
        for slot in gone {
            if let Some(bind) = self.binds.remove(&slot) {
                info!(
                    link = self.config.name,
                    slot, "closing a bind this node no longer holds"
                );
                metrics::counter!("tern_cluster_binds_closed_total", "link" => self.config.name.clone())
                    .increment(1);
                bind.stop.cancel();
                bind.tasks.close();
                let ctx = self.ctx.clone();
                let name = self.config.name.clone();
                self.tasks.spawn(async move {
                    // Unbound (or given up on) before the new holder may bind.
                    let _ = tokio::time::timeout(Duration::from_secs(5), bind.tasks.wait()).await;
                    for ((link, s), epoch) in ctx.membership.binds_handing_off() {
                        if link == name && s == slot {
                            ctx.membership.bind_released((link, s), epoch);
                        }
                    }
                });
            }
        }
        for (slot, epoch) in wanted {
            if !self.binds.contains_key(&slot) {
                info!(link = self.config.name, slot, epoch, "opening a bind");
                metrics::counter!("tern_cluster_binds_opened_total", "link" => self.config.name.clone())
                    .increment(1);
                let bind = open_bind(&self.ctx, &self.config, &self.myself, slot, epoch);
                self.binds.insert(slot, bind);
            }
        }
        // Released by a bind closed before: nothing is left to wait for.
        for ((link, slot), epoch) in self.ctx.membership.binds_handing_off() {
            if link == self.config.name && !self.binds.contains_key(&slot) {
                self.ctx.membership.bind_released((link, slot), epoch);
            }
        }
        self.update_health();
        self.export_binds();
    }

    /// The link is usable here when one of its binds is up, or when another node holds
    /// one and this node holds none that is up.
    fn update_health(&self) {
        let up = self.binds.values().any(|b| b.up)
            || self.ctx.membership.bind_holder(&self.config.name).is_some();
        if let Some(health) = self.ctx.health.get(&self.config.name) {
            health.set_up(up);
        }
    }

    /// The bind a job goes out on: the one up with the least in flight.
    fn pick(&self) -> Option<(u16, &Bind)> {
        self.binds
            .iter()
            .filter(|(_, b)| b.up)
            .min_by_key(|(_, b)| b.aimd.in_flight())
            .map(|(slot, b)| (*slot, b))
    }

    fn bind_up(&mut self, slot: u16, up: bool) {
        if let Some(bind) = self.binds.get_mut(&slot) {
            bind.up = up;
        }
        self.update_health();
        self.export_binds();
    }

    fn export_binds(&self) {
        let up = self.binds.values().filter(|b| b.up).count();
        metrics::gauge!("tern_link_bound_binds", "link" => self.config.name.clone()).set(up as f64);
        metrics::gauge!("tern_cluster_held_binds", "link" => self.config.name.clone())
            .set(self.binds.len() as f64);
    }
}

/// Starts the client of bind `slot`; its events come to the link tagged with the slot.
fn open_bind(
    ctx: &Arc<Context>,
    config: &Arc<LinkConfig>,
    myself: &ActorRef<LinkMsg>,
    slot: u16,
    epoch: u64,
) -> Bind {
    let stop = CancellationToken::new();
    let tasks = TaskTracker::new();
    // Nothing is written on the bind once this node no longer holds it, even what was
    // queued before the node noticed (it may have been paused).
    let gate = {
        let membership = ctx.membership.clone();
        let name = config.name.clone();
        tern_transport::Gate::new(move || membership.holds_bind(&name, slot, epoch))
    };
    let window = config.carrier.window();
    let wire = config.carrier.open(OpenBind {
        gate,
        stop: stop.clone(),
        tasks: &tasks,
        events: BindEvents {
            link: myself.clone(),
            slot,
        },
        inbound: Inbound {
            ctx: ctx.clone(),
            link: config.clone(),
        },
    });
    Bind {
        epoch,
        wire,
        aimd: Arc::new(Aimd::new(window)),
        late: Arc::default(),
        up: false,
        stop,
        tasks,
    }
}

/// How a submit_sm_resp status is handled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Accepted,
    /// Slow down and resend on the same link.
    Throttled,
    /// Resend later, preferably elsewhere.
    Transient,
    /// Never resend.
    Permanent,
}

fn backoff(ctx: &Context, attempts: u16) -> Duration {
    let exp = u32::from(attempts.saturating_sub(1)).min(16);
    ctx.settings
        .retry_min
        .saturating_mul(1u32 << exp)
        .min(ctx.settings.retry_max)
}

impl Actor for CarrierLink {
    type Msg = LinkMsg;
    type State = LinkState;
    type Arguments = (Arc<Context>, Arc<LinkConfig>);

    async fn pre_start(
        &self,
        myself: ActorRef<LinkMsg>,
        (ctx, config): (Arc<Context>, Arc<LinkConfig>),
    ) -> Result<LinkState, ActorProcessingErr> {
        let stop = CancellationToken::new();
        let tasks = TaskTracker::new();
        let (forward, jobs) = tokio::sync::mpsc::channel(FORWARD_QUEUE);
        tasks.spawn(forward::forward_jobs(
            ctx.clone(),
            config.name.clone(),
            jobs,
            stop.clone(),
        ));
        info!(
            link = config.name,
            binds = config.binds,
            "carrier link started"
        );
        let metrics = Arc::new(LinkMetrics::new(&config.name));
        let mut state = LinkState {
            ctx,
            metrics,
            config,
            myself: myself.clone(),
            binds: Default::default(),
            stop,
            tasks,
            forward,
            claims: Arc::default(),
        };
        state.follow();
        myself.send_interval(Duration::from_millis(250), || LinkMsg::Follow);
        Ok(state)
    }

    async fn post_stop(
        &self,
        _myself: ActorRef<LinkMsg>,
        state: &mut LinkState,
    ) -> Result<(), ActorProcessingErr> {
        for bind in state.binds.values() {
            bind.stop.cancel();
            bind.tasks.close();
        }
        state.stop.cancel();
        state.tasks.close();
        if let Some(health) = state.ctx.health.get(&state.config.name) {
            health.set_up(false);
        }
        state.binds.clear();
        state.export_binds();
        Ok(())
    }

    async fn handle(
        &self,
        _myself: ActorRef<LinkMsg>,
        message: LinkMsg,
        state: &mut LinkState,
    ) -> Result<(), ActorProcessingErr> {
        match message {
            LinkMsg::Submit(job) => start_job(state, job, None),
            LinkMsg::SubmitFor(job, reply) => start_job(state, job, Some(reply)),
            LinkMsg::Bind(slot, event) => handle_event(state, slot, event),
            LinkMsg::Follow => state.follow(),
        }
        let (limit, in_flight) = state.binds.values().fold((0, 0), |(l, f), b| {
            (l + b.aimd.limit(), f + b.aimd.in_flight())
        });
        state.metrics.window.set(limit as f64);
        state.metrics.in_use.set(in_flight as f64);
        Ok(())
    }
}

/// Sends `job` on a bind of this node that is up, or forwards it to a node holding one.
/// `reply`: the job came from another node, which hears the outcome (it is never forwarded
/// again).
fn start_job(state: &LinkState, job: Job, reply: Option<tokio::sync::oneshot::Sender<JobEnd>>) {
    let id = job.parts.first().map(|p| p.id);
    let picked = state.pick().or_else(|| {
        // No bind up: one that is down answers "not sent" at once, unless another node
        // can take the job.
        if reply.is_none()
            && state
                .ctx
                .membership
                .bind_holder(&state.config.name)
                .is_some()
        {
            None
        } else {
            state.binds.iter().next().map(|(slot, b)| (*slot, b))
        }
    });
    let Some((slot, bind)) = picked else {
        match reply {
            Some(reply) => {
                // Not a holder (any more): the other node sends it elsewhere.
                let _ = reply.send(Some((job, Duration::ZERO)));
            }
            None => {
                if let Err(error) = state.forward.try_send(job) {
                    let job = match error {
                        tokio::sync::mpsc::error::TrySendError::Full(job)
                        | tokio::sync::mpsc::error::TrySendError::Closed(job) => job,
                    };
                    finish_job(
                        &state.ctx,
                        &state.config.name,
                        job.clone(),
                        Some((job, Duration::from_millis(100))),
                    );
                }
            }
        }
        return;
    };
    let span = tracing::debug_span!("submit", link = state.config.name, slot, message_id = ?id);
    let sender = BindSender {
        slot,
        epoch: bind.epoch,
        wire: bind.wire.clone(),
        aimd: bind.aimd.clone(),
        late: bind.late.clone(),
        claims: state.claims.clone(),
    };
    let ctx = state.ctx.clone();
    let config = state.config.clone();
    let metrics = state.metrics.clone();
    state.tasks.spawn(
        async move {
            let end = send_job(&ctx, &config, &sender, &metrics, &job).await;
            match reply {
                Some(reply) => {
                    let _ = reply.send(end);
                }
                None => finish_job(&ctx, &config.name, job, end),
            }
        }
        .instrument(span),
    );
}

/// Tells the job's dispatcher how it ended: the rest to retry, if any, then that the link
/// has room again.
fn finish_job(ctx: &Context, link: &str, job: Job, end: JobEnd) {
    let id = job
        .parts
        .first()
        .map(|p| p.id)
        .unwrap_or(tern_model::MessageId(0));
    let shard = ctx.shard_of(id);
    let requeued = match end {
        Some((rest, delay)) => ctx
            .refs
            .dispatcher(shard)
            .is_some_and(|d| d.cast(DispatcherMsg::Retry { job: rest, delay })),
        None => false,
    };
    if let Some(dispatcher) = ctx.refs.dispatcher(shard) {
        dispatcher.cast(DispatcherMsg::Done {
            link: link.to_owned(),
            id,
            requeued,
        });
    }
}

fn handle_event(state: &mut LinkState, slot: u16, event: BindEvent) {
    let link = &state.config.name;
    match event {
        BindEvent::Up => {
            info!(link, slot, "link up");
            state.bind_up(slot, true);
        }
        BindEvent::Down(reason) => {
            warn!(link, slot, reason, "link down");
            state.bind_up(slot, false);
        }
        BindEvent::Late { sequence, accepted } => late_answer(state, slot, sequence, accepted),
    }
}

/// What became of one part.
enum PartOutcome {
    Submitted,
    /// Give the rest of the message back after this delay.
    Retry(Duration),
    /// Sent without an answer: give the rest back after this delay, to be read again
    /// before it is sent (a late answer may have recorded the part submitted).
    Unknown(Duration),
    /// The message cannot be sent.
    Failed(Option<u32>, &'static str),
}

/// What a job is sent over: one bind of the link, under the epoch of its claim.
struct BindSender {
    slot: u16,
    epoch: u64,
    wire: Arc<dyn CarrierBind>,
    aimd: Arc<Aimd>,
    late: Arc<LateAnswers>,
    claims: Arc<Claims>,
}

/// Sends the parts of `job` in order; what is left to retry, if anything.
async fn send_job(
    ctx: &Arc<Context>,
    config: &Arc<LinkConfig>,
    bind: &BindSender,
    metrics: &LinkMetrics,
    job: &Job,
) -> JobEnd {
    for (index, part) in job.parts.iter().enumerate() {
        let Some(claim) = bind.claims.claim(part.id, part.part) else {
            // Another job sends this message, or this part was accepted a moment ago: a
            // copy of a forwarded job, held up with the first (see `claims`).
            debug!(link = config.name, message_id = %part.id, part = part.part, "part sent by another job; this copy ends");
            metrics::counter!("tern_link_duplicate_jobs_dropped_total", "link" => config.name.clone())
                .increment(1);
            return None;
        };
        // A marked job's parts had their first attempt written when they were accepted.
        let attempt_stored = job.marked && part.attempts == 0;
        let outcome = send_part(ctx, config, bind, metrics, part, attempt_stored).await;
        claim.settle(matches!(outcome, PartOutcome::Submitted));
        match outcome {
            PartOutcome::Submitted => {}
            PartOutcome::Retry(delay) | PartOutcome::Unknown(delay) => {
                let mut rest = job.clone();
                if matches!(outcome, PartOutcome::Unknown(_)) {
                    rest = rest.read_again();
                }
                rest.parts = job.parts[index..].to_vec();
                // The next attempt counts from this one.
                let mut tried = MessageRecord::clone(part);
                tried.attempts = tried.attempts.saturating_add(1);
                rest.parts[0] = Arc::new(tried);
                if !rest.exclude.contains(&config.name) && delay > Duration::ZERO {
                    rest.exclude.push(config.name.clone());
                }
                return Some((rest, delay));
            }
            PartOutcome::Failed(error, detail) => {
                // A message missing a part is useless: fail its remaining parts too.
                for part in &job.parts[index..] {
                    let (ops, held) =
                        outcome::finish_locally(ctx, part, RecordState::Failed, error, detail)
                            .await;
                    let ctx2 = ctx.clone();
                    let _ = ctx.store.write(
                        ops,
                        Box::new(move |result| {
                            if result.is_ok() {
                                outcome::hand_to_outbox(&ctx2, held);
                            }
                        }),
                    );
                }
                metrics::counter!("tern_messages_finished_total", "state" => "failed").increment(1);
                return None;
            }
        }
    }
    None
}

async fn send_part(
    ctx: &Arc<Context>,
    config: &Arc<LinkConfig>,
    bind: &BindSender,
    metrics: &LinkMetrics,
    part: &MessageRecord,
    attempt_stored: bool,
) -> PartOutcome {
    let link = config.name.as_str();
    let aimd = bind.aimd.as_ref();
    let request = match bind.wire.submit(part) {
        Ok(request) => request,
        Err(status) => return PartOutcome::Failed(Some(status), "cannot be encoded for the link"),
    };
    // The attempt is durable before the PDU leaves: after a crash the gateway knows the
    // operator may have this part, and counts a resend as a possible duplicate. Only the
    // small pending entry is rewritten; the record takes the attempt when it is submitted.
    // A first attempt written with the ACCEPTED records (`attempt_stored`) is not written
    // again.
    let attempts = part.attempts.saturating_add(1);
    if !attempt_stored {
        let marker = WriteOp::AddPending(PendingEntry {
            shard: ctx.shard_of(part.id),
            id: part.id,
            part: part.part,
            due_ms: 0,
            attempts,
        });
        if tern_storage::write_durable(ctx.store.as_ref(), vec![marker])
            .await
            .is_err()
        {
            return PartOutcome::Retry(Duration::from_secs(1));
        }
    }
    aimd.acquire().await;
    // Fencing: nothing leaves on a bind this node no longer holds, or once its lease ran
    // out (a node paused for longer than its lease finds it gone here).
    if !ctx.membership.holds_bind(link, bind.slot, bind.epoch) {
        aimd.release();
        metrics::counter!("tern_cluster_submits_fenced_total", "link" => link.to_owned())
            .increment(1);
        return PartOutcome::Retry(Duration::ZERO);
    }
    debug!(link, slot = bind.slot, message_id = %part.id, part = part.part, attempts, "part sent");
    let started = Instant::now();
    let result = request.await;
    let health = ctx.health.get(link);
    let (operator_id, verdict, status) = match result {
        WireResult::NotSent => {
            aimd.release();
            metrics.link_down.increment(1);
            return PartOutcome::Retry(Duration::ZERO);
        }
        WireResult::Unknown(error, sequence) => {
            aimd.release();
            if let Some(h) = health {
                h.failure();
            }
            metrics.unknown.increment(1);
            warn!(link, message_id = %part.id, %error, "outcome unknown; resending later");
            if let Some(sequence) = sequence {
                bind.late.expect(
                    sequence,
                    Awaited {
                        id: part.id,
                        part: part.part,
                        attempts,
                    },
                );
            }
            return PartOutcome::Unknown(backoff(ctx, attempts));
        }
        WireResult::Accepted(operator_id) => (operator_id, Verdict::Accepted, 0),
        WireResult::Refused(verdict, status) => (String::new(), verdict, status),
    };
    metrics.latency.record(started.elapsed().as_secs_f64());
    match verdict {
        Verdict::Accepted => {
            aimd.success();
            if let Some(h) = health {
                h.success();
            }
            metrics.ok.increment(1);
            // The job is not done before SUBMITTED is durable: a dispatcher paging its
            // backlog in would otherwise still find the pending entry and send it again.
            let awaited = Awaited {
                id: part.id,
                part: part.part,
                attempts,
            };
            record_submitted(ctx, config, awaited, operator_id).await;
            if crate::failpoints::on(crate::failpoints::LINK_RESEND_KNOWN) {
                resend_known(bind.wire.as_ref(), aimd, part).await;
            }
            PartOutcome::Submitted
        }
        Verdict::Throttled => {
            aimd.throttled();
            metrics.throttled.increment(1);
            PartOutcome::Retry(Duration::ZERO)
        }
        Verdict::Transient => {
            aimd.success();
            let failures = health.map_or(0, |h| h.failure());
            metrics.transient.increment(1);
            debug!(link, message_id = %part.id, status, failures, "transient error");
            if now_ms() >= part.expires_ms {
                return PartOutcome::Failed(Some(status), "transient errors until validity ended");
            }
            PartOutcome::Retry(backoff(ctx, attempts))
        }
        Verdict::Permanent => {
            aimd.success();
            metrics.permanent.increment(1);
            PartOutcome::Failed(Some(status), "refused by the operator")
        }
    }
}

/// Records `part` as submitted under the operator's id, indexes its receipt and drops its
/// pending entry, once durable.
async fn record_submitted(ctx: &Context, config: &LinkConfig, part: Awaited, operator_id: String) {
    let link = config.name.as_str();
    let key = config.carrier.submit_key(&operator_id);
    // A small submission entry, not a rewrite of the record; reads merge it.
    let submitted = Submission {
        id: part.id,
        part: part.part,
        link: link.to_owned(),
        operator_id,
        attempts: part.attempts,
        at_ms: now_ms(),
    };
    // Index before dropping the pending entry: any prefix of this batch is safe.
    let ops = vec![
        WriteOp::MarkSubmitted(submitted),
        WriteOp::IndexReceipt {
            link: link.to_owned(),
            operator_id: key.clone(),
            id: part.id,
            part: part.part,
        },
        WriteOp::RemovePending {
            shard: ctx.shard_of(part.id),
            id: part.id,
            part: part.part,
        },
    ];
    // The outcome is known: writing it again (the operations are idempotent) beats a
    // resend, which the pending entry left behind would cause. Meanwhile the job stays at
    // the link, so its dispatcher does not read it from the store and send it again.
    let mut pause = SUBMITTED_RETRY_FIRST;
    let deadline = Instant::now() + SUBMITTED_RETRY_FOR;
    loop {
        match tern_storage::write_durable_deferred(ctx.store.as_ref(), ops.clone()).await {
            Ok(()) => break,
            Err(error) if Instant::now() + pause < deadline => {
                warn!(link, message_id = %part.id, %error, "SUBMITTED state not stored; writing it again");
                metrics::counter!("tern_link_submitted_rewrites_total", "link" => link.to_owned())
                    .increment(1);
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(Duration::from_secs(5));
            }
            Err(error) => {
                // The operator has the part; it is sent again later, counted as of unknown
                // outcome.
                warn!(link, message_id = %part.id, %error, "SUBMITTED state not stored; giving up");
                return;
            }
        }
    }
    // Only a receipt that came early needs telling (see `early_receipts`).
    if ctx.early_receipts.load(std::sync::atomic::Ordering::SeqCst) > 0 {
        ctx.refs
            .correlator
            .cast(crate::correlator::CorrelatorMsg::Submitted {
                link: link.to_owned(),
                operator_id: key,
            });
    }
}

/// How soon, and for how long, a SUBMITTED state the store did not take is written again.
const SUBMITTED_RETRY_FIRST: Duration = Duration::from_millis(500);
const SUBMITTED_RETRY_FOR: Duration = Duration::from_secs(60);

/// An answer to the submit with `sequence` on bind `slot` came after it had timed out:
/// an acceptance (with the operator's id) records the part as submitted (see
/// [`crate::late`]).
fn late_answer(state: &LinkState, slot: u16, sequence: u32, accepted: Option<String>) {
    let link = &state.config.name;
    metrics::counter!("tern_link_late_responses_total", "link" => link.clone()).increment(1);
    debug!(link, sequence, "late response");
    let Some(part) = state
        .binds
        .get(&slot)
        .and_then(|bind| bind.late.take(sequence))
    else {
        return;
    };
    let Some(operator_id) = accepted else {
        return;
    };
    metrics::counter!("tern_link_late_acceptances_total", "link" => link.clone()).increment(1);
    info!(
        link,
        slot,
        message_id = %part.id,
        part = part.part,
        "accepted late; recorded as submitted"
    );
    let (ctx, config) = (state.ctx.clone(), state.config.clone());
    state
        .tasks
        .spawn(async move { record_submitted(&ctx, &config, part, operator_id).await });
}

/// A bug planted for the chaos checker's own tests (failpoint builds only): `part`, which
/// the operator has just accepted, is submitted to it a second time and the answer is
/// dropped. The resend does not pass the failpoint, so a part goes out twice, not more.
async fn resend_known(wire: &dyn CarrierBind, aimd: &Aimd, part: &MessageRecord) {
    let Ok(request) = wire.submit(part) else {
        return;
    };
    aimd.acquire().await;
    let _ = request.await;
    aimd.release();
}
