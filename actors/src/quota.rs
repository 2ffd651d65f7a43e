//! Quota: one `QuotaCounter` per account on this node, under the `QuotaSupervisor`, spending
//! through leases on the replicated ledger.
//!
//! Nothing here writes the ledger once per message. A counter holds leases, blocks of
//! parts and money the ledger reserved for this node, in the account's [`Purse`], which the
//! account's sessions spend from directly under a short lock. A message's [`Charge`] is
//! *pending* until its records are durable, then *used* (`commit`), or it goes back
//! (`cancel`). Only used figures are ever reported: every second the counter settles each
//! lease with its cumulative use, which is idempotent at the ledger, and what the ledger
//! counts is exactly what customers were told was accepted, whatever the pace of the
//! traffic. Sessions hold nothing of their own, so nothing is stranded in a session.
//!
//! When a charge does not fit the open leases, the session asks the counter, which takes a
//! lease sized to about two seconds of the recent rate, but never more than half of what
//! the account has free: leases shrink as the limit nears. When the ledger has nothing
//! free, the counter first gives back its own unused leases, then reads the account's
//! standing: if the limit (or the credit) is really used or booked by campaigns, the
//! message is refused as over quota (no credit); if other nodes' leases hold the rest, it
//! proposes a `Recall`, which every other counter honours at its next tick by closing its
//! leases, and waits for the rest to come back. Only if it does not come back in time is
//! the message refused with a temporary error, never as over quota.
//!
//! The charge of every accepted message is written to the store with its records. A node
//! that dies with leases out has overspent nothing (the ledger counts an unrenewed lease as
//! used in full when it expires); when it starts again it settles its previous leases with
//! what the store shows they were charged, so the ledger gives back the difference.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use futures::future::BoxFuture;
use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort, SupervisionEvent};
use tern_ledger::{Command, LeaseId, Minor, Request, Response, Standing, State};
use tern_model::MessageId;
use tern_storage::WriteOp;
use tokio::time::Instant;
use tracing::{debug, info, warn};

use crate::context::{now_ms, Context};
use crate::purse::Slot;
pub use crate::purse::{Charge, Purse};

/// The replicated ledger, as the pipeline uses it.
pub trait Ledger: Send + Sync + 'static {
    /// Applies a request and returns the state machine's answer.
    fn propose(&self, request: Request) -> BoxFuture<'_, Result<Response, String>>;
    /// The price of one part to `destination` over `route` for `account` (local read).
    fn price(&self, account: &str, route: Option<&str>, destination: &str) -> Minor;
    /// Where `account` stands at `at_ms` (local read); `None` for an unknown account.
    fn standing(&self, account: &str, at_ms: u64) -> Option<Standing>;
    /// The account's settings and ledger as this node's replica holds them (local read):
    /// its balance and use, for the customer to see.
    fn account(&self, account: &str) -> Option<tern_ledger::Account>;
    /// Leases of this node's earlier runs that may still owe a settle (local read): those
    /// whose id `mine` claims, with their accounts.
    fn unsettled_leases(&self, mine: &(dyn Fn(LeaseId) -> bool + Sync)) -> Vec<(LeaseId, String)>;
    /// Of those, the ones reclaimed in full that wait for the settle giving back their
    /// unused rest (local read).
    fn reclaimed_leases(&self, mine: &(dyn Fn(LeaseId) -> bool + Sync)) -> Vec<(LeaseId, String)> {
        let _ = mine;
        Vec::new()
    }
}

/// The ledger of a single process without replication: the state machine behind a mutex.
#[derive(Debug, Default)]
pub struct LocalLedger {
    state: Mutex<State>,
}

impl LocalLedger {
    pub fn new(state: State) -> Self {
        Self {
            state: Mutex::new(state),
        }
    }

    /// Reads the state.
    pub fn read<T>(&self, f: impl FnOnce(&State) -> T) -> Option<T> {
        self.state.lock().ok().map(|s| f(&s))
    }
}

impl Ledger for LocalLedger {
    fn propose(&self, mut request: Request) -> BoxFuture<'_, Result<Response, String>> {
        if request.at_ms == 0 {
            request.at_ms = now_ms();
        }
        let result = self
            .state
            .lock()
            .map(|mut s| s.apply(&request))
            .map_err(|_| "ledger poisoned".to_owned());
        Box::pin(async move { result })
    }

    fn price(&self, account: &str, route: Option<&str>, destination: &str) -> Minor {
        self.read(|s| s.price(account, route, destination))
            .unwrap_or(0)
    }

    fn standing(&self, account: &str, at_ms: u64) -> Option<Standing> {
        self.read(|s| s.standing(account, at_ms)).flatten()
    }

    fn account(&self, account: &str) -> Option<tern_ledger::Account> {
        self.read(|s| s.accounts.get(account).cloned()).flatten()
    }

    fn unsettled_leases(&self, mine: &(dyn Fn(LeaseId) -> bool + Sync)) -> Vec<(LeaseId, String)> {
        self.read(|s| s.unsettled_leases(mine)).unwrap_or_default()
    }

    fn reclaimed_leases(&self, mine: &(dyn Fn(LeaseId) -> bool + Sync)) -> Vec<(LeaseId, String)> {
        self.read(|s| s.reclaimed_leases(mine)).unwrap_or_default()
    }
}

/// How long a lease lives without a settle.
const LEASE_TTL_MS: u64 = 30_000;
/// Open leases unused for this long are closed, so other nodes can have their rest.
const IDLE_CLOSE: Duration = Duration::from_secs(3);
/// Traffic a lease should cover.
const LEASE_SECONDS: f64 = 2.0;
const MIN_BLOCK: u64 = 32;
const MAX_BLOCK: u64 = 100_000;
/// More open leases than this and the oldest idle one is closed.
const MAX_OPEN_LEASES: usize = 4;
/// Tries of one lease request (same id) before the grant is answered as unavailable.
const ACQUIRE_ATTEMPTS: u32 = 3;
/// How long a message waits for other nodes to give back unused reservations before it
/// is refused with a temporary error.
const RECALL_WAIT: Duration = Duration::from_millis(2_500);
const RECALL_POLL: Duration = Duration::from_millis(200);
/// A counter proposes at most one recall per account this often.
const RECALL_EVERY: Duration = Duration::from_secs(1);
/// How long a session waits for its counter (which may be waiting for a recall).
pub const GRANT_TIMEOUT: Duration = Duration::from_secs(8);

/// Messages of a counter.
#[derive(Debug)]
pub enum QuotaMsg {
    /// Charges `parts` and `amount`, taking a lease when the open ones cannot carry it.
    Grant {
        parts: u64,
        amount: Minor,
        reply: RpcReplyPort<Result<Charge, Spend>>,
    },
    /// Settles the leases; closes idle and used-up ones; honours recalls.
    Tick,
}

pub type QuotaRef = ActorRef<QuotaMsg>;

/// One account's counter.
pub struct QuotaCounter;

pub struct CounterState {
    ctx: Arc<Context>,
    account: String,
    purse: Arc<Purse>,
    /// Parts per second charged, smoothed.
    rate: f64,
    /// Money per part charged, smoothed.
    price: f64,
    /// Grows while leases run out faster than the rate estimate (updated once a second)
    /// can follow, so a counter ramps up in a few acquires rather than many small ones.
    burst: u64,
    last_acquire: Option<Instant>,
    /// A lease request whose outcome is unknown (the ledger failed while it was on its
    /// way): its id and what it asked.
    unresolved: Option<(u64, u64, Minor)>,
    last_tick: Instant,
    /// The latest recall by another node that this counter honoured.
    recall_seen: u64,
    last_recall_sent: Option<Instant>,
}

/// What asking the ledger for a lease gave.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Acquired {
    Granted,
    /// The ledger had nothing free (or refused).
    Exhausted,
    /// The ledger could not be reached; the customer should retry.
    Unavailable,
}

/// How a settle went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Settled {
    Done,
    /// The ledger could not be reached.
    Failed,
}

impl CounterState {
    fn node(&self) -> u64 {
        u64::from(self.ctx.settings.node_id)
    }

    async fn propose(&self, command: Command) -> Option<Response> {
        propose(&self.ctx, &self.account, command).await
    }

    /// Reports the use of every open lease that changed; closes those marked, those
    /// used up and, with `close_all`, every lease. A lease with charges still pending
    /// is closed at a later tick.
    async fn settle_all(&mut self, close_all: bool) -> Settled {
        let work: Vec<(LeaseId, u64, Minor, bool)> = {
            let mut state = self.purse.lock();
            state
                .slots
                .iter_mut()
                .filter_map(|slot| {
                    if close_all || slot.exhausted() {
                        slot.closing = true;
                    }
                    let close = slot.closing && slot.pending_parts == 0 && slot.pending_amount == 0;
                    let changed = slot.used_parts != slot.settled_parts
                        || slot.used_amount != slot.settled_amount;
                    (close || changed).then_some((
                        slot.id,
                        slot.used_parts,
                        slot.used_amount,
                        close,
                    ))
                })
                .collect()
        };
        for (id, parts, amount, close) in work {
            let Some(response) = self
                .propose(Command::SettleLease {
                    lease: id,
                    used_parts: parts,
                    used_amount: amount,
                    ttl_ms: LEASE_TTL_MS,
                    close,
                })
                .await
            else {
                return Settled::Failed;
            };
            // Gone at the ledger (reclaimed and forgotten while this node could not reach
            // it): nothing more can be counted, so it is forgotten like a closed one.
            let gone = matches!(response, Response::Refused(_));
            // Ended at the ledger (reclaimed past its time: this node did not settle it
            // for a lease's TTL, or its clock ran ahead of the leader's): nothing more is
            // spent from it, and it is closed with its final use once nothing is pending,
            // which the ledger then counts exactly.
            let ended = matches!(response, Response::Ended { .. });
            if ended {
                metrics::counter!("tern_quota_leases_ended_total").increment(1);
                warn!(lease = id, account = %self.account, "lease ended at the ledger while in use; closing it");
            }
            let mut state = self.purse.lock();
            if close || gone {
                state.slots.retain(|s| s.id != id);
                drop(state);
                forget_charges(&self.ctx, id);
            } else if let Some(slot) = state.slots.iter_mut().find(|s| s.id == id) {
                slot.settled_parts = parts;
                slot.settled_amount = amount;
                slot.closing |= ended;
            }
        }
        Settled::Done
    }

    /// Takes a new lease for at least `parts` and `amount`, sized to the recent rate but
    /// never more than half of what the account has free.
    async fn acquire(&mut self, parts: u64, amount: Minor) -> Acquired {
        let too_many = self.purse.lock().slots.len() >= MAX_OPEN_LEASES;
        if too_many {
            if let Some(oldest) = self.purse.lock().slots.first_mut() {
                oldest.closing = true;
            }
            if self.settle_all(false).await == Settled::Failed {
                return Acquired::Unavailable;
            }
        }
        // A request whose outcome is unknown goes again under its id first: the ledger
        // answers with the grant it made, or makes it now, but never grants twice.
        let (id, want_parts, want_amount) = match self.unresolved.take() {
            Some(unresolved) => unresolved,
            None => {
                // Lease ids come from the message ids, below the durable mark: after a
                // crash no id of an earlier run's lease is used again.
                let Ok(id) = self.ctx.ids.try_next() else {
                    return Acquired::Unavailable;
                };
                let (want_parts, want_amount) = self.lease_size(parts, amount);
                (id.0, want_parts, want_amount)
            }
        };
        for attempt in 0..ACQUIRE_ATTEMPTS {
            let response = self
                .propose(Command::AcquireLease {
                    lease: id,
                    account: self.account.clone(),
                    node: self.node(),
                    parts: want_parts,
                    amount: want_amount,
                    ttl_ms: LEASE_TTL_MS,
                })
                .await;
            metrics::counter!("tern_quota_lease_acquires_total").increment(1);
            match response {
                Some(Response::Lease { parts, amount }) if parts > 0 || amount > 0 => {
                    self.purse.push(Slot {
                        id,
                        granted_parts: parts,
                        granted_amount: amount,
                        ..Slot::default()
                    });
                    return Acquired::Granted;
                }
                Some(Response::Lease { .. }) => return Acquired::Exhausted,
                Some(other) => {
                    debug!(account = self.account, ?other, "lease refused");
                    return Acquired::Exhausted;
                }
                None => tokio::time::sleep(Duration::from_millis(100 << attempt)).await,
            }
        }
        // Still unknown: the tick asks again, so a lease the ledger did grant is used and
        // settled rather than left to expire and count as spent.
        self.unresolved = Some((id, want_parts, want_amount));
        Acquired::Unavailable
    }

    /// What to ask for a lease that must carry `parts` and `amount`.
    fn lease_size(&mut self, parts: u64, amount: Minor) -> (u64, Minor) {
        let recent = self
            .last_acquire
            .is_some_and(|t| t.elapsed() < Duration::from_secs(1));
        self.burst = if recent {
            (self.burst * 2).clamp(MIN_BLOCK, MAX_BLOCK)
        } else {
            MIN_BLOCK
        };
        self.last_acquire = Some(Instant::now());
        let block = ((self.rate * LEASE_SECONDS) as u64)
            .max(self.burst)
            .clamp(MIN_BLOCK, MAX_BLOCK);
        let mut want_parts = parts.max(block);
        // Before any price is known, the message at hand tells it.
        let per_part = if self.price > 0.0 || parts == 0 {
            self.price
        } else {
            amount as f64 / parts as f64
        };
        let mut want_amount = amount.max((per_part * want_parts as f64).ceil() as Minor);
        // Leases shrink as the limit nears, so that no node holds what others need.
        if let Some(standing) = self.ctx.ledger.standing(&self.account, now_ms()) {
            if let Some(free) = standing.parts_free {
                want_parts = want_parts.min(free / 2).max(parts);
            }
            if let Some(free) = standing.amount_free {
                want_amount = want_amount.min(free / 2).max(amount);
            }
        }
        (want_parts, want_amount)
    }

    /// Charges `parts` and `amount`: from the open leases, else from a new lease; when the
    /// ledger has nothing free, after taking back this node's and then other nodes'
    /// unused reservations.
    async fn grant(&mut self, parts: u64, amount: Minor) -> Result<Charge, Spend> {
        if let Some(charge) = self.purse.spend(parts, amount) {
            metrics::counter!("tern_quota_lease_hits_total").increment(1);
            return Ok(charge);
        }
        let deadline = Instant::now() + RECALL_WAIT;
        let mut own_returned = false;
        loop {
            match self.acquire(parts, amount).await {
                Acquired::Unavailable => return Err(Spend::Unavailable),
                Acquired::Granted => {
                    if let Some(charge) = self.purse.spend(parts, amount) {
                        return Ok(charge);
                    }
                }
                Acquired::Exhausted => {}
            }
            // Nothing free for the whole message. This node's own unused leases go back
            // first, so that what they hold comes back in one piece with the next lease.
            if self.settle_all(true).await == Settled::Failed {
                return Err(Spend::Unavailable);
            }
            if !own_returned {
                own_returned = true;
                continue;
            }
            let Some(standing) = self.ctx.ledger.standing(&self.account, now_ms()) else {
                return Err(Spend::OverQuota);
            };
            if standing.parts_unbooked.is_some_and(|left| left < parts) {
                metrics::counter!("tern_quota_exhausted_total").increment(1);
                return Err(Spend::OverQuota);
            }
            if standing.amount_unbooked.is_some_and(|left| left < amount) {
                metrics::counter!("tern_quota_exhausted_total").increment(1);
                return Err(Spend::NoCredit);
            }
            // The rest is held by other nodes' leases: ask for it back and wait.
            if Instant::now() >= deadline {
                metrics::counter!("tern_quota_recall_timeouts_total").increment(1);
                return Err(Spend::Unavailable);
            }
            if self
                .last_recall_sent
                .is_none_or(|t| t.elapsed() >= RECALL_EVERY)
            {
                self.last_recall_sent = Some(Instant::now());
                metrics::counter!("tern_quota_recalls_total").increment(1);
                let recall = Command::Recall {
                    account: self.account.clone(),
                    node: self.node(),
                };
                if self.propose(recall).await.is_none() {
                    return Err(Spend::Unavailable);
                }
            }
            tokio::time::sleep(RECALL_POLL).await;
        }
    }

    async fn tick(&mut self) {
        let elapsed = self.last_tick.elapsed().as_secs_f64().max(0.001);
        let (spent, last_spend) = {
            let mut state = self.purse.lock();
            (
                std::mem::take(&mut state.spent_parts_since_tick),
                state.last_spend,
            )
        };
        self.rate = 0.5 * self.rate + 0.5 * (spent as f64 / elapsed);
        self.last_tick = Instant::now();
        if self.unresolved.is_some() {
            self.acquire(0, 0).await;
        }
        // Another node asked for unused reservations back.
        let recall = self
            .ctx
            .ledger
            .standing(&self.account, now_ms())
            .and_then(|s| s.recall)
            .filter(|r| r.node != self.node() && r.at_ms > self.recall_seen);
        if let Some(recall) = recall {
            self.recall_seen = recall.at_ms;
            debug!(account = self.account, by = recall.node, "leases recalled");
        }
        let idle = last_spend.is_none_or(|t| t.elapsed() >= IDLE_CLOSE);
        self.settle_all(idle || recall.is_some()).await;
    }

    fn note_price(&mut self, charge: &Charge) {
        if charge.parts > 0 {
            let per_part = charge.amount as f64 / charge.parts as f64;
            // The first price seen is taken whole, so the first leases carry money for
            // their parts rather than for one message.
            self.price = if self.price == 0.0 {
                per_part
            } else {
                0.8 * self.price + 0.2 * per_part
            };
        }
    }
}

async fn propose(ctx: &Context, account: &str, command: Command) -> Option<Response> {
    let started = std::time::Instant::now();
    let result = ctx
        .ledger
        .propose(Request {
            at_ms: 0,
            audit: None,
            command,
        })
        .await;
    metrics::histogram!("tern_quota_ledger_call_seconds").record(started.elapsed().as_secs_f64());
    match result {
        Ok(response) => Some(response),
        Err(error) => {
            warn!(account, %error, "ledger unavailable");
            metrics::counter!("tern_quota_ledger_errors_total").increment(1);
            None
        }
    }
}

/// The lease is settled for good: its charges in the store are no longer needed.
fn forget_charges(ctx: &Context, lease: LeaseId) {
    let _ = ctx
        .store
        .write(vec![WriteOp::ForgetCharges { lease }], Box::new(|_| {}));
}

impl Actor for QuotaCounter {
    type Msg = QuotaMsg;
    type State = CounterState;
    type Arguments = (Arc<Context>, String, Arc<Purse>);

    async fn pre_start(
        &self,
        myself: ActorRef<QuotaMsg>,
        (ctx, account, purse): (Arc<Context>, String, Arc<Purse>),
    ) -> Result<CounterState, ActorProcessingErr> {
        myself.send_interval(Duration::from_secs(1), || QuotaMsg::Tick);
        Ok(CounterState {
            ctx,
            account,
            purse,
            rate: 0.0,
            price: 0.0,
            burst: MIN_BLOCK,
            last_acquire: None,
            unresolved: None,
            last_tick: Instant::now(),
            recall_seen: 0,
            last_recall_sent: None,
        })
    }

    async fn post_stop(
        &self,
        _myself: ActorRef<QuotaMsg>,
        state: &mut CounterState,
    ) -> Result<(), ActorProcessingErr> {
        let _ = tokio::time::timeout(Duration::from_secs(2), state.settle_all(true)).await;
        Ok(())
    }

    async fn handle(
        &self,
        _myself: ActorRef<QuotaMsg>,
        message: QuotaMsg,
        state: &mut CounterState,
    ) -> Result<(), ActorProcessingErr> {
        match message {
            QuotaMsg::Grant {
                parts,
                amount,
                reply,
            } => {
                let granted = state.grant(parts, amount.max(0)).await;
                if let Ok(charge) = &granted {
                    state.note_price(charge);
                }
                let _ = reply.send(granted);
            }
            QuotaMsg::Tick => state.tick().await,
        }
        Ok(())
    }
}

/// Messages of the supervisor.
#[derive(Debug)]
pub enum QuotaSupervisorMsg {
    /// The counter of `account` and its purse, the counter started on first use.
    Counter {
        account: String,
        reply: RpcReplyPort<Option<(QuotaRef, Arc<Purse>)>>,
    },
}

/// Starts counters on demand and restarts them when they fail.
pub struct QuotaSupervisor;

pub struct SupervisorState {
    ctx: Arc<Context>,
    counters: HashMap<String, QuotaRef>,
    /// Purses outlive their counters: a restarted counter carries on with the leases.
    purses: HashMap<String, Arc<Purse>>,
}

impl QuotaSupervisor {
    async fn start_counter(
        myself: &ActorRef<QuotaSupervisorMsg>,
        state: &mut SupervisorState,
        account: &str,
    ) -> Option<(QuotaRef, Arc<Purse>)> {
        state.ctx.accounts.get(account)?;
        let purse = state.purses.entry(account.to_owned()).or_default().clone();
        let spawned = Actor::spawn_linked(
            None,
            QuotaCounter,
            (state.ctx.clone(), account.to_owned(), purse.clone()),
            myself.get_cell(),
        )
        .await;
        match spawned {
            Ok((counter, _)) => {
                state.counters.insert(account.to_owned(), counter.clone());
                Some((counter, purse))
            }
            Err(error) => {
                warn!(account, %error, "quota counter did not start");
                None
            }
        }
    }
}

impl Actor for QuotaSupervisor {
    type Msg = QuotaSupervisorMsg;
    type State = SupervisorState;
    type Arguments = Arc<Context>;

    async fn pre_start(
        &self,
        _myself: ActorRef<QuotaSupervisorMsg>,
        ctx: Arc<Context>,
    ) -> Result<SupervisorState, ActorProcessingErr> {
        Ok(SupervisorState {
            ctx,
            counters: HashMap::new(),
            purses: HashMap::new(),
        })
    }

    /// Counters close their leases when they stop.
    async fn post_stop(
        &self,
        myself: ActorRef<QuotaSupervisorMsg>,
        _state: &mut SupervisorState,
    ) -> Result<(), ActorProcessingErr> {
        myself
            .stop_children_and_wait(None, Some(Duration::from_secs(3)))
            .await;
        Ok(())
    }

    async fn handle(
        &self,
        myself: ActorRef<QuotaSupervisorMsg>,
        message: QuotaSupervisorMsg,
        state: &mut SupervisorState,
    ) -> Result<(), ActorProcessingErr> {
        match message {
            QuotaSupervisorMsg::Counter { account, reply } => {
                let counter = match (state.counters.get(&account), state.purses.get(&account)) {
                    (Some(counter), Some(purse)) => Some((counter.clone(), purse.clone())),
                    _ => Self::start_counter(&myself, state, &account).await,
                };
                let _ = reply.send(counter);
            }
        }
        Ok(())
    }

    async fn handle_supervisor_evt(
        &self,
        myself: ActorRef<QuotaSupervisorMsg>,
        event: SupervisionEvent,
        state: &mut SupervisorState,
    ) -> Result<(), ActorProcessingErr> {
        if let SupervisionEvent::ActorFailed(cell, error) = event {
            let account = state
                .counters
                .iter()
                .find(|(_, r)| r.get_id() == cell.get_id())
                .map(|(a, _)| a.clone());
            if let Some(account) = account {
                metrics::counter!("tern_actor_restarts_total", "actor" => "quota_counter")
                    .increment(1);
                warn!(account, %error, "quota counter failed; restarting");
                state.counters.remove(&account);
                Self::start_counter(&myself, state, &account).await;
            }
        }
        Ok(())
    }
}

/// A session's way to its account's counter and purse. It holds no quota of its own.
#[derive(Debug)]
pub struct Lease {
    counter: Option<(QuotaRef, Arc<Purse>)>,
    account: String,
}

/// Why a message could not be charged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Spend {
    /// The message-count limit of the period is used (or booked by campaigns).
    OverQuota,
    /// The credit does not cover the message.
    NoCredit,
    /// The ledger or the counter could not be reached, or other nodes did not give back
    /// their unused reservations in time: refuse with a temporary error.
    Unavailable,
}

impl Lease {
    pub fn new(account: &str) -> Self {
        Self {
            counter: None,
            account: account.to_owned(),
        }
    }

    /// Charges `parts` and `amount` for one message: from the purse when it has room,
    /// else through the counter.
    pub async fn spend(
        &mut self,
        ctx: &Context,
        parts: u64,
        amount: Minor,
    ) -> Result<Charge, Spend> {
        let amount = amount.max(0);
        for _ in 0..2 {
            if self.counter.is_none() {
                let supervisor = ctx.refs.quota.get().ok_or(Spend::Unavailable)?;
                let account = self.account.clone();
                self.counter = ractor::call_t!(
                    supervisor,
                    |reply| QuotaSupervisorMsg::Counter { account, reply },
                    GRANT_TIMEOUT.as_millis() as u64
                )
                .ok()
                .flatten();
            }
            let (counter, purse) = self.counter.clone().ok_or(Spend::Unavailable)?;
            if let Some(charge) = purse.spend(parts, amount) {
                metrics::counter!("tern_quota_lease_hits_total").increment(1);
                metrics::counter!("tern_quota_granted_parts_total").increment(parts);
                return Ok(charge);
            }
            match ractor::call_t!(
                counter,
                |reply| QuotaMsg::Grant {
                    parts,
                    amount,
                    reply
                },
                GRANT_TIMEOUT.as_millis() as u64
            ) {
                Ok(granted) => {
                    if granted.is_ok() {
                        metrics::counter!("tern_quota_granted_parts_total").increment(parts);
                    }
                    return granted;
                }
                Err(ractor::RactorErr::Timeout) => return Err(Spend::Unavailable),
                // The counter restarted: ask the supervisor for the new one.
                Err(_) => self.counter = None,
            }
        }
        Err(Spend::Unavailable)
    }
}

/// Settles the leases of `node`, a node of the cluster that died, with what the shared
/// store shows they charged, once the ledger has reclaimed them (counted in full, a
/// lease's TTL after their last settle): the settle gives back what they did not use.
/// An open lease is left alone, since a node held dead may be alive after all (paused,
/// cut off, its clock stepped) and still spend from it; if it comes back before the TTL
/// its own settles count its use, and if later, it is told its leases ended. Each lease is
/// settled once: a settled one is no longer listed.
pub async fn settle_leases_of(ctx: &Context, node: u64) {
    let theirs = move |id: LeaseId| u64::from(MessageId(id).node()) == node;
    let leases = ctx.ledger.reclaimed_leases(&theirs);
    settle_from_store(ctx, leases, "lease of a dead node settled from the store").await;
}

/// Settles every lease of the nodes `departed` names (nodes that left the cluster for
/// good), open ones included, with what the shared store shows they charged. A node
/// removed while it was the raft leader cannot close its own leases when it stops (it
/// knows no leader any more); without this the ledger would count its last lease in full
/// once the lease's time ran out, and never give the rest back.
pub async fn settle_leases_of_departed(ctx: &Context, departed: &(dyn Fn(u64) -> bool + Sync)) {
    let theirs = |id: LeaseId| departed(u64::from(MessageId(id).node()));
    let leases = ctx.ledger.unsettled_leases(&theirs);
    settle_from_store(
        ctx,
        leases,
        "lease of a node that left settled from the store",
    )
    .await;
}

/// Closes each of `leases` with the use the store shows charged to it.
async fn settle_from_store(ctx: &Context, leases: Vec<(LeaseId, String)>, what: &str) {
    for (lease, account) in leases {
        let charged = match ctx.store.charged(lease).await {
            Ok(charged) => charged,
            Err(error) => {
                warn!(lease, %error, "charges of a lease cannot be read: {what}");
                continue;
            }
        };
        let settle = Command::SettleLease {
            lease,
            used_parts: charged.0,
            used_amount: charged.1,
            ttl_ms: LEASE_TTL_MS,
            close: true,
        };
        if let Some(response) = propose(ctx, &account, settle).await {
            info!(
                lease,
                account,
                parts = charged.0,
                amount = charged.1,
                ?response,
                "{what}"
            );
            metrics::counter!("tern_quota_leases_recovered_total").increment(1);
        }
    }
}

/// Settles the leases this node held before it last stopped with what the store shows
/// they were charged, so the ledger counts exactly what was accepted and gives the rest
/// back (also for leases it already reclaimed in full). `before` is the first id of this
/// run: every lease id of an earlier run is below it.
///
/// The node's replica of the ledger may still be catching up when the node starts, so the
/// leases are looked for again every few seconds during `watch`; each is settled once
/// (a settled lease is no longer listed) and a settle that fails is tried again. The task
/// holds the pipeline only weakly: it ends when the pipeline stops.
pub async fn settle_previous_leases(ctx: Weak<Context>, before: u64, watch: Duration) {
    let deadline = Instant::now() + watch;
    loop {
        let Some(ctx) = ctx.upgrade() else {
            return;
        };
        let node = ctx.settings.node_id;
        let mine = move |id: LeaseId| id < before && MessageId(id).node() == node;
        for (lease, account) in ctx.ledger.unsettled_leases(&mine) {
            let charged = match ctx.store.charged(lease).await {
                Ok(charged) => charged,
                Err(error) => {
                    warn!(lease, %error, "charges of a previous lease cannot be read");
                    continue;
                }
            };
            let settle = Command::SettleLease {
                lease,
                used_parts: charged.0,
                used_amount: charged.1,
                ttl_ms: LEASE_TTL_MS,
                close: true,
            };
            if let Some(response) = propose(&ctx, &account, settle).await {
                info!(
                    lease,
                    account,
                    parts = charged.0,
                    amount = charged.1,
                    ?response,
                    "lease of an earlier run settled from the store"
                );
                metrics::counter!("tern_quota_leases_recovered_total").increment(1);
                forget_charges(&ctx, lease);
            }
        }
        drop(ctx);
        if Instant::now() >= deadline {
            return;
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
}
