//! The Dispatcher: one per shard of pending messages. It hands each accepted message to a
//! carrier link picked by the router, keeps the messages no link can take yet, schedules
//! retries with backoff, and expires what outlives its validity.
//!
//! It rebuilds its queue from the store's pending entries when it starts. Ids are ordered
//! in time, so the pending scan is first-in first-out; beyond `max_queued_in_memory` the
//! queue stays in the store and is paged in as it drains.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, HashSet, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use ractor::{Actor, ActorProcessingErr, ActorRef};
use tern_model::MessageId;
use tern_storage::{MessageRecord, RecordState};
use tracing::{debug, info, warn};

use crate::context::{now_ms, Context};
use crate::link::LinkMsg;
use crate::outcome;
use crate::routing;

/// One message (all its open parts, in order) on its way to a link.
#[derive(Debug, Clone)]
pub struct Job {
    pub parts: Vec<Arc<MessageRecord>>,
    /// Links that failed this message and should not get it again soon.
    pub exclude: Vec<String>,
    /// Read from the store with a pending entry not yet due: the record is read again
    /// when it comes due, since it may have been finished meanwhile (a held part joined
    /// into another message, see [`crate::parts`]).
    recheck: bool,
    /// Sent without an answer (to the operator, or to another node whose answer was
    /// lost), or told by a notice that was held up: before it is sent, the parts the store
    /// shows submitted or final (a late answer, another node, or this one after a sweep
    /// recorded so) are left out.
    reread: bool,
    /// The first attempt of each part was written with its ACCEPTED records (see
    /// [`crate::context::Context::flowing`]): the link does not write it again before the
    /// first submit.
    pub(crate) marked: bool,
}

impl Job {
    pub fn new(parts: Vec<Arc<MessageRecord>>) -> Self {
        Self {
            parts,
            exclude: Vec::new(),
            recheck: false,
            reread: false,
            marked: false,
        }
    }

    /// This job, whose parts' first attempts are durable already.
    pub(crate) fn marked(mut self) -> Self {
        self.marked = true;
        self
    }

    /// This job, to be read from the store again before it is sent: an answer was lost
    /// (the operator's, or a forwarded batch's), or it comes from a notice that was held
    /// up. The parts the store shows submitted or final are then left out.
    pub(crate) fn read_again(mut self) -> Self {
        self.reread = true;
        self
    }

    fn first(&self) -> Option<&MessageRecord> {
        self.parts.first().map(|p| p.as_ref())
    }
}

#[derive(Debug)]
pub enum DispatcherMsg {
    /// Durable and acknowledged: send it.
    Accepted(Job),
    /// A link gave a message back: try again after `delay`.
    Retry { job: Job, delay: Duration },
    /// A link finished one job and has room for another. `requeued`: the job came back
    /// with a `Retry` sent before this.
    Done {
        link: String,
        id: MessageId,
        requeued: bool,
    },
    /// Look at the delayed queue and the links that were busy.
    Tick,
    /// How much this shard holds.
    Depth(ractor::RpcReplyPort<ShardDepth>),
    /// Withdraws a message that has not reached a link; replies whether it did.
    Cancel {
        id: MessageId,
        /// Who withdrew it, for its history.
        detail: String,
        reply: ractor::RpcReplyPort<bool>,
    },
}

/// What a shard holds, for the admin API.
#[derive(Debug, Clone, Default)]
pub struct ShardDepth {
    pub shard: u16,
    /// Messages in memory: ready, delayed, parked and waiting for a link.
    pub queued: usize,
    /// Waiting per link, and handed to each link and not finished.
    pub waiting: HashMap<String, usize>,
    pub in_flight: HashMap<String, usize>,
    /// More pending messages wait in the store than memory holds.
    pub backlog: bool,
}

pub struct Dispatcher;

/// How long before its time a scheduled message can still be withdrawn through the store.
const WITHDRAW_MARGIN_MS: u64 = 1_000;
/// How long a withdrawal waits for the message's dispatcher: a stuck dispatcher must not
/// hang a customer's cancel or an administrator's call.
const WITHDRAW_TIMEOUT: Duration = Duration::from_secs(2);

/// Withdraws message `id` before it reaches an operator: while it is queued at its shard's
/// dispatcher, or while it is scheduled for later (the store's state CANCELLED then stops
/// it: a dispatcher reads a scheduled message's record again when its time comes). Whether
/// it was withdrawn; `detail` goes into its history.
pub async fn withdraw(ctx: &Context, id: MessageId, detail: &str) -> Result<bool, String> {
    let shard = ctx.shard_of(id);
    if let Some(dispatcher) = ctx.refs.dispatcher(shard).and_then(|s| s.get()) {
        let detail = detail.to_owned();
        let cancelled = ractor::call_t!(
            dispatcher,
            |reply| DispatcherMsg::Cancel { id, detail, reply },
            WITHDRAW_TIMEOUT.as_millis() as u64
        )
        .map_err(|error| match error {
            ractor::RactorErr::Timeout => format!(
                "the dispatcher of shard {shard} did not answer within {} ms",
                WITHDRAW_TIMEOUT.as_millis()
            ),
            error => format!("the dispatcher of shard {shard}: {error}"),
        })?;
        if cancelled {
            return Ok(true);
        }
    }
    let parts = ctx
        .store
        .message_parts(id)
        .await
        .map_err(|e| e.to_string())?;
    let later = now_ms() + WITHDRAW_MARGIN_MS;
    let scheduled = |p: &MessageRecord| {
        p.state == RecordState::Accepted
            && p.message
                .schedule_unix
                .is_some_and(|s| (s.max(0) as u64).saturating_mul(1000) > later)
    };
    if parts.is_empty() || !parts.iter().all(scheduled) {
        return Ok(false);
    }
    let mut ops = Vec::new();
    let mut held = None;
    for part in &parts {
        let (part_ops, part_held) =
            outcome::finish_locally(ctx, part, RecordState::Cancelled, None, detail).await;
        ops.extend(part_ops);
        held = part_held.or(held);
    }
    tern_storage::write_durable(ctx.store.as_ref(), ops)
        .await
        .map_err(|e| e.to_string())?;
    metrics::counter!("tern_messages_finished_total", "state" => RecordState::Cancelled.as_str())
        .increment(parts.len() as u64);
    outcome::hand_to_outbox(ctx, held);
    Ok(true)
}

pub struct DispatcherState {
    ctx: Arc<Context>,
    shard: u16,
    ready: VecDeque<Job>,
    delayed: BinaryHeap<Reverse<(u64, u64, MessageId)>>,
    delayed_jobs: HashMap<u64, Job>,
    next_delayed: u64,
    /// Jobs waiting for a busy link, in order.
    waiting: HashMap<String, VecDeque<Job>>,
    /// Jobs whose route has no usable link now, in order; looked at again when a link
    /// becomes usable (the health epoch moves) or after `PARKED_RECHECK`.
    parked: VecDeque<Job>,
    parked_epoch: u64,
    parked_since_ms: u64,
    in_flight: HashMap<String, usize>,
    /// Messages in memory or at a link, so that no message is queued twice.
    known: HashSet<MessageId>,
    /// The store may hold pending entries after `cursor` that are not in memory; accepted
    /// messages are then left to the next page.
    cursor: Option<(MessageId, u8)>,
    backlog: bool,
    /// The epoch this node dispatches the shard under; `None` while another node owns it
    /// or the lease has run out (see [`crate::membership`]).
    epoch: Option<u64>,
    /// Where the sweep for parts accepted on other nodes goes on, and when it ran.
    sweep: Option<(MessageId, u8)>,
    swept_ms: u64,
    /// The last read of pending parts failed.
    read_failing: bool,
    /// `tern_dispatch_queued_messages` of this shard, set after every turn.
    queued_gauge: metrics::Gauge,
}

const PAGE: usize = 1_000;
/// How often an owner in a cluster looks through its shard's pending parts for any that
/// another node accepted and could not tell it about.
const SWEEP_MS: u64 = 5_000;
/// Records of a page read at once: the reads of a page overlap instead of waiting for one
/// another (the disk, or the database's round trips), and come back in page order.
const PAGE_READS: usize = 32;
const PARKED_RECHECK_MS: u64 = 1_000;

impl DispatcherState {
    fn queued(&self) -> usize {
        self.ready.len()
            + self.parked.len()
            + self.delayed_jobs.len()
            + self.waiting.values().map(VecDeque::len).sum::<usize>()
    }

    fn credit(&self, link: &str) -> usize {
        self.ctx
            .links()
            .iter()
            .find(|l| l.name == link)
            .map_or(1, |l| l.credit)
    }

    /// Reads the next page of pending parts from the store into the ready queue.
    async fn page_in(&mut self) -> Result<(), ActorProcessingErr> {
        let read = self.read_page(self.cursor).await?;
        // Every message accepted while in backlog was durable before it was dropped here,
        // so a short page has seen all of them.
        self.backlog = read.0 == PAGE;
        self.cursor = read.1.or(self.cursor);
        Ok(())
    }

    /// Reads the next page of the sweep: parts accepted on other nodes whose notice did
    /// not arrive. What is known already is skipped.
    async fn sweep(&mut self) -> Result<(), ActorProcessingErr> {
        let (count, last) = self.read_page(self.sweep).await?;
        self.sweep = if count == PAGE { last } else { None };
        self.swept_ms = now_ms();
        Ok(())
    }

    /// Reads a page of pending parts after `after` into the queues; how many entries it
    /// held and the last one.
    async fn read_page(
        &mut self,
        after: Option<(MessageId, u8)>,
    ) -> Result<(usize, Option<(MessageId, u8)>), ActorProcessingErr> {
        let ctx = Arc::clone(&self.ctx);
        let store = ctx.store.as_ref();
        let entries = store.pending(self.shard, after, PAGE).await?;
        let now = now_ms();
        let mut jobs: Vec<Job> = Vec::new();
        let mut unknown = 0u64;
        let mut unsure = std::collections::HashSet::new();
        // Owned keys: a stream over borrowed entries would not prove the handler `Send`.
        let keys: Vec<(MessageId, u8)> = entries.iter().map(|e| (e.id, e.part)).collect();
        let mut records = futures::stream::iter(keys)
            .map(|(id, part)| store.message(id, part))
            .buffered(PAGE_READS);
        for entry in &entries {
            let Some(record) = records.next().await.transpose()?.flatten() else {
                continue;
            };
            if record.state.is_final() || record.state == RecordState::Submitted {
                continue;
            }
            if entry.attempts > 0 {
                unsure.insert((entry.id, entry.part));
            }
            let mut record = record;
            record.attempts = record.attempts.max(entry.attempts);
            let record = Arc::new(record);
            match jobs.last_mut() {
                Some(job) if job.first().is_some_and(|f| f.id == record.id) => {
                    job.parts.push(record)
                }
                _ => jobs.push(Job::new(vec![record])),
            }
        }
        let read = (entries.len(), entries.last().map(|e| (e.id, e.part)));
        for job in jobs {
            let Some(id) = job.first().map(|f| f.id) else {
                continue;
            };
            // Already queued or in flight here: not sent again.
            if !self.known.insert(id) {
                continue;
            }
            // Sent before, and its SUBMITTED state never became durable: the operator may
            // have it. Sending again is at-least-once; count it.
            unknown += job
                .parts
                .iter()
                .filter(|p| unsure.contains(&(p.id, p.part)))
                .count() as u64;
            let retry_due = entries
                .iter()
                .find(|e| job.first().is_some_and(|f| f.id == e.id))
                .map_or(0, |e| e.due_ms);
            if retry_due > now {
                let mut job = job;
                job.recheck = true;
                self.delay(job, Duration::from_millis(retry_due - now));
            } else {
                self.ready.push_back(job);
            }
        }
        if unknown > 0 {
            metrics::counter!("tern_dispatch_resent_unknown_outcome_total").increment(unknown);
            warn!(
                shard = self.shard,
                unknown, "resending parts whose outcome at the operator is unknown"
            );
        }
        Ok(read)
    }

    /// Looks at whether this node may dispatch the shard, and starts or stops doing so.
    async fn follow_ownership(&mut self) -> Result<(), ActorProcessingErr> {
        let now = self.ctx.membership.shard_epoch(self.shard);
        if now != self.epoch {
            self.forget_queues();
            self.epoch = now;
            match now {
                Some(epoch) => {
                    info!(shard = self.shard, epoch, "dispatching this shard");
                    metrics::counter!("tern_cluster_shard_takeovers_total").increment(1);
                    // Everything pending is read in from the start, page by page; a read
                    // that fails is tried again on the next tick.
                    let read = self.page_in().await;
                    self.note_read(read);
                    self.backlog = true;
                }
                None => {
                    warn!(
                        shard = self.shard,
                        "no longer dispatching this shard (moved away, or the lease ran out)"
                    );
                    metrics::counter!("tern_cluster_shards_fenced_total").increment(1);
                }
            }
        }
        if self.epoch.is_none() && self.in_flight.values().all(|n| *n == 0) {
            // Work at links has settled: the new owner may start at once.
            if let Some(epoch) = self.ctx.membership.shards_handing_off().get(&self.shard) {
                self.ctx.membership.shard_released(self.shard, *epoch);
            }
        }
        Ok(())
    }

    /// Logs the first failed read of a run of them and the recovery; a failed read is tried
    /// again on the next tick (the store is down or slow: nothing here can do better).
    fn note_read(&mut self, read: Result<(), ActorProcessingErr>) {
        match read {
            Ok(()) if self.read_failing => {
                self.read_failing = false;
                info!(shard = self.shard, "pending parts readable again");
            }
            Ok(()) => {}
            Err(error) => {
                if !self.read_failing {
                    warn!(shard = self.shard, %error, "pending parts unreadable; trying again");
                }
                self.read_failing = true;
                self.backlog = true;
            }
        }
    }

    /// Drops what is in memory: it is all in the store, for whoever dispatches next. What
    /// is at a link stays known: its pending entry goes only once the operator's answer is
    /// recorded, so a read of the shard meanwhile (the lease came back at once) would find
    /// it and send it again; its outcome comes back here as for any job.
    fn forget_queues(&mut self) {
        let dropped = self
            .ready
            .iter()
            .chain(&self.parked)
            .chain(self.delayed_jobs.values())
            .chain(self.waiting.values().flatten());
        for job in dropped {
            if let Some(first) = job.first() {
                self.known.remove(&first.id);
            }
        }
        self.ready.clear();
        self.delayed.clear();
        self.delayed_jobs.clear();
        self.waiting.clear();
        self.parked.clear();
        self.cursor = None;
        self.sweep = None;
        self.backlog = false;
    }

    fn delay(&mut self, job: Job, delay: Duration) {
        let Some(id) = job.first().map(|f| f.id) else {
            return;
        };
        let due = now_ms() + delay.as_millis() as u64;
        let seq = self.next_delayed;
        self.next_delayed += 1;
        self.delayed.push(Reverse((due, seq, id)));
        self.delayed_jobs.insert(seq, job);
    }

    async fn release_due(&mut self) {
        let now = now_ms();
        let epoch = self.ctx.health.epoch();
        if !self.parked.is_empty()
            && (epoch != self.parked_epoch
                || now.saturating_sub(self.parked_since_ms) >= PARKED_RECHECK_MS)
        {
            // Parked jobs go first: they are older than anything ready.
            let mut parked = std::mem::take(&mut self.parked);
            parked.append(&mut self.ready);
            self.ready = parked;
            self.parked_epoch = epoch;
        }
        while let Some(Reverse((due, seq, _))) = self.delayed.peek().copied() {
            if due > now {
                break;
            }
            self.delayed.pop();
            if let Some(job) = self.delayed_jobs.remove(&seq) {
                let id = job.first().map(|f| f.id);
                if job.recheck && self.finished_meanwhile(&job).await {
                    if let Some(id) = id {
                        self.known.remove(&id);
                    }
                    continue;
                }
                let job = if job.reread {
                    match self.still_open(job).await {
                        Some(job) => job,
                        None => {
                            if let Some(id) = id {
                                self.known.remove(&id);
                            }
                            continue;
                        }
                    }
                } else {
                    job
                };
                self.ready.push_back(job);
            }
        }
    }

    /// The parts of `job` the store does not show submitted or final; `None` when there
    /// are none left. A part that cannot be read stays: sending again is at-least-once.
    async fn still_open(&self, mut job: Job) -> Option<Job> {
        let mut open = Vec::with_capacity(job.parts.len());
        for part in &job.parts {
            match self.ctx.store.message(part.id, part.part).await {
                Ok(Some(record))
                    if record.state.is_final() || record.state == RecordState::Submitted =>
                {
                    metrics::counter!("tern_cluster_resends_avoided_total").increment(1);
                }
                _ => open.push(Arc::clone(part)),
            }
        }
        job.reread = false;
        job.parts = open;
        (!job.parts.is_empty()).then_some(job)
    }

    /// Whether the store says the job's message reached a final state after it was read.
    /// A store error keeps the job: sending again is at-least-once.
    async fn finished_meanwhile(&self, job: &Job) -> bool {
        let Some(first) = job.first() else {
            return false;
        };
        matches!(
            self.ctx.store.message(first.id, first.part).await,
            Ok(Some(record)) if record.state.is_final()
        )
    }

    /// Sends every ready job that has a usable link with room.
    async fn pump(&mut self) {
        if self.ctx.membership.shard_epoch(self.shard).is_none() {
            self.epoch = None;
            self.ctx.set_flowing(self.shard, false);
            return;
        }
        self.release_due().await;
        let routes = self.ctx.routes();
        let mut parked = VecDeque::new();
        while let Some(job) = self.ready.pop_front() {
            let Some(first) = job.first() else { continue };
            if now_ms() >= first.expires_ms {
                self.finish(
                    &job,
                    RecordState::Expired,
                    None,
                    "validity ended before delivery",
                )
                .await;
                continue;
            }
            let Some(route) = routes.route_for(&first.account, first.message.destination.digits())
            else {
                self.finish(&job, RecordState::Failed, None, "no route")
                    .await;
                continue;
            };
            let Some(link) = routing::pick(route, &self.ctx.health, &job.exclude) else {
                if !job.exclude.is_empty() {
                    // Every other link was tried: let the failed ones have it again.
                    let mut job = job;
                    job.exclude.clear();
                    parked.push_back(job);
                } else {
                    parked.push_back(job);
                }
                continue;
            };
            let link = link.to_owned();
            let busy = self.in_flight.get(&link).copied().unwrap_or(0) >= self.credit(&link);
            if busy || self.waiting.get(&link).is_some_and(|w| !w.is_empty()) {
                self.waiting.entry(link).or_default().push_back(job);
                continue;
            }
            self.send(link, job);
        }
        // No usable link now: park, keeping the order, until a link comes back.
        if !parked.is_empty() {
            if self.parked.is_empty() {
                self.parked_epoch = self.ctx.health.epoch();
                self.parked_since_ms = now_ms();
            }
            self.parked.append(&mut parked);
        }
        self.queued_gauge.set(self.queued() as f64);
        let flowing = !self.backlog
            && self.ready.is_empty()
            && self.parked.is_empty()
            && self.waiting.values().all(VecDeque::is_empty);
        self.ctx.set_flowing(self.shard, flowing);
    }

    fn send(&mut self, link: String, job: Job) {
        let Some(actor) = self.ctx.refs.link(&link) else {
            self.delay(job, Duration::from_millis(500));
            return;
        };
        match actor.cast(LinkMsg::Submit(job)) {
            Ok(()) => *self.in_flight.entry(link).or_default() += 1,
            Err(error) => {
                // The link is restarting; the job comes back through its error.
                if let ractor::MessagingErr::SendErr(LinkMsg::Submit(job)) = error {
                    self.delay(job, Duration::from_millis(500));
                }
            }
        }
    }

    fn link_done(&mut self, link: &str, id: MessageId, requeued: bool) {
        if !requeued {
            self.known.remove(&id);
        }
        if let Some(count) = self.in_flight.get_mut(link) {
            *count = count.saturating_sub(1);
        }
        while self.in_flight.get(link).copied().unwrap_or(0) < self.credit(link) {
            let Some(job) = self.waiting.get_mut(link).and_then(VecDeque::pop_front) else {
                break;
            };
            self.send(link.to_owned(), job);
        }
    }

    /// Takes a message out of the queues if it is there (not at a link).
    fn take(&mut self, id: MessageId) -> Option<Job> {
        let is = |job: &Job| job.first().is_some_and(|f| f.id == id);
        if let Some(i) = self.ready.iter().position(is) {
            return self.ready.remove(i);
        }
        if let Some(i) = self.parked.iter().position(is) {
            return self.parked.remove(i);
        }
        for queue in self.waiting.values_mut() {
            if let Some(i) = queue.iter().position(is) {
                return queue.remove(i);
            }
        }
        let seq = self
            .delayed_jobs
            .iter()
            .find(|(_, job)| is(job))
            .map(|(seq, _)| *seq)?;
        // The heap entry stays and finds no job when it comes due.
        self.delayed_jobs.remove(&seq)
    }

    /// Withdraws a queued message. `reply` hears whether it was once its CANCELLED state is
    /// durable, so that no one told "cancelled" sees it sent after a restart; a write that
    /// cannot be queued puts the job back and answers no.
    async fn cancel(&mut self, id: MessageId, detail: &str, reply: ractor::RpcReplyPort<bool>) {
        let Some(job) = self.take(id) else {
            let _ = reply.send(false);
            return;
        };
        let mut ops = Vec::new();
        let mut held = Vec::new();
        for part in &job.parts {
            let (part_ops, part_held) =
                outcome::finish_locally(&self.ctx, part, RecordState::Cancelled, None, detail)
                    .await;
            ops.extend(part_ops);
            held.extend(part_held);
        }
        let ctx = self.ctx.clone();
        let parts = job.parts.len() as u64;
        let written = self.ctx.store.write(
            ops,
            Box::new(move |result| {
                let stored = result.is_ok();
                match result {
                    Ok(()) => {
                        metrics::counter!("tern_messages_finished_total", "state" => RecordState::Cancelled.as_str())
                            .increment(parts);
                        for held in held {
                            outcome::hand_to_outbox(&ctx, Some(held));
                        }
                    }
                    Err(error) => warn!(%error, message_id = %id, "cancelled state not stored"),
                }
                let _ = reply.send(stored);
            }),
        );
        match written {
            Ok(()) => {
                self.known.remove(&id);
            }
            Err(error) => {
                warn!(%error, message_id = %id, "cancelled state not queued; the message stays");
                self.ready.push_front(job);
            }
        }
    }

    fn depth(&self) -> ShardDepth {
        ShardDepth {
            shard: self.shard,
            queued: self.queued(),
            waiting: self
                .waiting
                .iter()
                .map(|(link, queue)| (link.clone(), queue.len()))
                .collect(),
            in_flight: self.in_flight.clone(),
            backlog: self.backlog,
        }
    }

    async fn finish(&mut self, job: &Job, state: RecordState, error: Option<u32>, detail: &str) {
        if let Some(first) = job.first() {
            self.known.remove(&first.id);
        }
        for part in &job.parts {
            let (ops, held) = outcome::finish_locally(&self.ctx, part, state, error, detail).await;
            metrics::counter!("tern_messages_finished_total", "state" => state.as_str())
                .increment(1);
            let ctx = self.ctx.clone();
            let written = self.ctx.store.write(
                ops,
                Box::new(move |result| match result {
                    Ok(()) => outcome::hand_to_outbox(&ctx, held),
                    Err(error) => warn!(%error, "final state not stored"),
                }),
            );
            if let Err(error) = written {
                warn!(%error, "final state not queued; it is retried after a restart");
            }
        }
    }
}

impl Actor for Dispatcher {
    type Msg = DispatcherMsg;
    type State = DispatcherState;
    type Arguments = (Arc<Context>, u16);

    async fn pre_start(
        &self,
        myself: ActorRef<DispatcherMsg>,
        (ctx, shard): (Arc<Context>, u16),
    ) -> Result<DispatcherState, ActorProcessingErr> {
        // Whatever an earlier instance said no longer holds until this one has looked.
        ctx.set_flowing(shard, false);
        let mut state = DispatcherState {
            ctx,
            shard,
            ready: VecDeque::new(),
            delayed: BinaryHeap::new(),
            delayed_jobs: HashMap::new(),
            next_delayed: 0,
            waiting: HashMap::new(),
            parked: VecDeque::new(),
            parked_epoch: 0,
            parked_since_ms: 0,
            in_flight: HashMap::new(),
            known: HashSet::new(),
            cursor: None,
            backlog: false,
            epoch: None,
            sweep: None,
            swept_ms: now_ms(),
            read_failing: false,
            queued_gauge: metrics::gauge!("tern_dispatch_queued_messages", "shard" => shard.to_string()),
        };
        // Messages that became durable while this actor was starting were sent to no one:
        // backlog mode makes the first ticks page them in.
        state.follow_ownership().await?;
        info!(
            shard,
            queued = state.queued(),
            backlog = state.backlog,
            "dispatcher started"
        );
        myself.send_interval(Duration::from_millis(100), || DispatcherMsg::Tick);
        Ok(state)
    }

    async fn post_stop(
        &self,
        _myself: ActorRef<DispatcherMsg>,
        state: &mut DispatcherState,
    ) -> Result<(), ActorProcessingErr> {
        state.ctx.set_flowing(state.shard, false);
        Ok(())
    }

    async fn handle(
        &self,
        _myself: ActorRef<DispatcherMsg>,
        message: DispatcherMsg,
        state: &mut DispatcherState,
    ) -> Result<(), ActorProcessingErr> {
        match message {
            DispatcherMsg::Accepted(job) => {
                // In backlog mode the store holds this job after the cursor and pages it
                // in in turn; a shard this node does not dispatch leaves it to its owner.
                let id = job.first().map(|f| f.id);
                if state.epoch.is_some()
                    && !state.backlog
                    && id.is_some_and(|id| state.known.insert(id))
                {
                    if state.queued() >= state.ctx.settings.max_queued_in_memory {
                        state.backlog = true;
                        debug!(
                            shard = state.shard,
                            "queue full in memory; paging from the store"
                        );
                        // Sessions finish their group commits slightly out of id order: page
                        // from a second before this job; `known` skips what is in memory.
                        let back = MessageId(id.map_or(0, |id| id.0.saturating_sub(1000 << 22)));
                        state.cursor = Some((back, u8::MAX)).max(state.cursor);
                    }
                    // A message scheduled for later waits for its time.
                    let scheduled_ms = job
                        .first()
                        .and_then(|f| f.message.schedule_unix)
                        .map_or(0, |s| (s.max(0) as u64).saturating_mul(1000));
                    match scheduled_ms.checked_sub(now_ms()) {
                        Some(wait) if wait > 0 => {
                            // It may be withdrawn through the store meanwhile.
                            let mut job = job;
                            job.recheck = true;
                            state.delay(job, Duration::from_millis(wait));
                        }
                        // Read again when it comes due, at once.
                        _ if job.reread => state.delay(job, Duration::ZERO),
                        _ => state.ready.push_back(job),
                    }
                }
            }
            DispatcherMsg::Retry { job, delay } => {
                if state.epoch.is_some() {
                    state.delay(job, delay);
                } else if let Some(first) = job.first() {
                    // Back in the store for whoever dispatches the shard next.
                    state.known.remove(&first.id);
                }
            }
            DispatcherMsg::Done { link, id, requeued } => state.link_done(&link, id, requeued),
            DispatcherMsg::Tick => {
                state.follow_ownership().await?;
                if state.epoch.is_some() {
                    if state.backlog && state.queued() < state.ctx.settings.max_queued_in_memory / 2
                    {
                        let read = state.page_in().await;
                        state.note_read(read);
                    } else if !state.ctx.membership.is_standalone()
                        && !state.backlog
                        && now_ms().saturating_sub(state.swept_ms) >= SWEEP_MS
                    {
                        let read = state.sweep().await;
                        state.swept_ms = now_ms();
                        state.note_read(read);
                    }
                }
            }
            DispatcherMsg::Depth(reply) => {
                let _ = reply.send(state.depth());
                return Ok(());
            }
            DispatcherMsg::Cancel { id, detail, reply } => state.cancel(id, &detail, reply).await,
        }
        state.pump().await;
        Ok(())
    }
}
