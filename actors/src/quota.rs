//! Quota: one `QuotaCounter` per account on this node, under the `QuotaSupervisor`, spending
//! through leases on the replicated ledger.
//!
//! Nothing here writes the ledger once per message. A counter holds leases, blocks of
//! parts and money the ledger reserved for this node, and hands pieces of them to the
//! account's sessions, which spend them locally. A block covers about two seconds of the
//! recent rate. Every second the counter settles each lease with its cumulative use, which
//! is idempotent at the ledger; when the open leases cannot cover a grant it takes another;
//! when the account has been idle for a few seconds it closes them all (the ledger takes
//! back what is left). A node that dies with a lease out has overspent nothing: the ledger
//! counts an unrenewed lease as used in full when it expires, and gives back the
//! difference if the node comes back and settles it.
//!
//! Parts a session took but did not use come back to the counter (when the session ends,
//! or at once when what it holds cannot carry its next message): they reduce the use of a
//! lease not yet settled for them, and otherwise wait in a spare pool, already paid for,
//! that later grants draw from first. What is in that pool when the counter stops stays
//! counted as used: never more than what sessions held.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::future::BoxFuture;
use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort, SupervisionEvent};
use tern_ledger::{Command, Minor, Request, Response, State};
use tracing::{debug, warn};

use crate::context::{now_ms, Context};

/// The replicated ledger, as the pipeline uses it.
pub trait Ledger: Send + Sync + 'static {
    /// Applies a request and returns the state machine's answer.
    fn propose(&self, request: Request) -> BoxFuture<'_, Result<Response, String>>;
    /// The price of one part to `destination` over `route` for `account` (local read).
    fn price(&self, account: &str, route: Option<&str>, destination: &str) -> Minor;
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
}

/// How long a lease lives without a settle.
const LEASE_TTL_MS: u64 = 30_000;
/// An open lease unused for this long is closed, so other nodes can have its rest.
const IDLE_CLOSE: Duration = Duration::from_secs(3);
/// Traffic a lease should cover.
const LEASE_SECONDS: f64 = 2.0;
const MIN_BLOCK: u64 = 32;
const MAX_BLOCK: u64 = 100_000;

/// Messages of a counter.
#[derive(Debug)]
pub enum QuotaMsg {
    /// Grants up to `parts` parts and `amount` money; replies with what was granted, or
    /// `None` when the ledger could not be reached.
    Grant {
        parts: u64,
        amount: Minor,
        reply: RpcReplyPort<Option<(u64, Minor)>>,
    },
    /// Gives back what a session did not use.
    Return { parts: u64, amount: Minor },
    /// Settles the lease; closes it when idle.
    Tick,
}

pub type QuotaRef = ActorRef<QuotaMsg>;

/// One account's counter.
pub struct QuotaCounter;

#[derive(Debug)]
struct OpenLease {
    id: u64,
    granted_parts: u64,
    granted_amount: Minor,
    used_parts: u64,
    used_amount: Minor,
    settled_parts: u64,
    settled_amount: Minor,
}

impl OpenLease {
    fn room(&self) -> (u64, Minor) {
        (
            self.granted_parts.saturating_sub(self.used_parts),
            self.granted_amount.saturating_sub(self.used_amount).max(0),
        )
    }
}

pub struct CounterState {
    ctx: Arc<Context>,
    account: String,
    /// Open leases, oldest first. A new one is taken when the open ones cannot cover a
    /// grant; the old ones stay open, so parts and money sessions give back can still
    /// go back to the lease they came from.
    leases: Vec<OpenLease>,
    spare_parts: u64,
    spare_amount: Minor,
    /// Parts per second handed out, smoothed.
    rate: f64,
    /// Money per part handed out, smoothed.
    price: f64,
    handed_since_tick: u64,
    /// Grows while leases run out faster than the rate estimate (updated once a second)
    /// can follow, so a counter ramps up in a few acquires rather than many small ones.
    burst: u64,
    last_acquire: Option<Instant>,
    /// A lease request whose outcome is unknown (the ledger failed while it was on its
    /// way): its id and what it asked.
    unresolved: Option<(u64, u64, Minor)>,
    last_tick: Instant,
    last_grant: Instant,
}

/// More open leases than this and the oldest is closed.
const MAX_OPEN_LEASES: usize = 4;
/// Tries of one lease request (same id) before the grant is answered as unavailable.
const ACQUIRE_ATTEMPTS: u32 = 3;

/// What asking the ledger for a lease gave.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Acquired {
    Granted,
    /// The account has nothing left (or the ledger refused).
    Exhausted,
    /// The ledger could not be reached; the customer should retry.
    Unavailable,
}

impl CounterState {
    async fn propose(&self, command: Command) -> Option<Response> {
        let started = Instant::now();
        let result = self
            .ctx
            .ledger
            .propose(Request {
                at_ms: 0,
                audit: None,
                command,
            })
            .await;
        metrics::histogram!("tern_quota_ledger_call_seconds")
            .record(started.elapsed().as_secs_f64());
        match result {
            Ok(response) => Some(response),
            Err(error) => {
                warn!(account = self.account, %error, "ledger unavailable");
                metrics::counter!("tern_quota_ledger_errors_total").increment(1);
                None
            }
        }
    }

    /// Reports the use of lease `index`; with `close` the ledger takes back the rest.
    /// Returns false when the ledger could not be reached.
    async fn settle(&mut self, index: usize, close: bool) -> bool {
        let Some(lease) = self.leases.get(index) else {
            return true;
        };
        let (id, parts, amount) = (lease.id, lease.used_parts, lease.used_amount);
        if !close && parts == lease.settled_parts && amount == lease.settled_amount {
            return true;
        }
        let response = self
            .propose(Command::SettleLease {
                lease: id,
                used_parts: parts,
                used_amount: amount,
                ttl_ms: LEASE_TTL_MS,
                close,
            })
            .await;
        let Some(response) = response else {
            return false;
        };
        // Gone at the ledger (reclaimed while this node could not reach it): forget it.
        let gone = matches!(response, Response::Refused(_));
        if close || gone {
            self.leases.retain(|l| l.id != id);
        } else if let Some(lease) = self.leases.iter_mut().find(|l| l.id == id) {
            lease.settled_parts = parts;
            lease.settled_amount = amount;
        }
        true
    }

    async fn settle_all(&mut self, close: bool) {
        let mut index = 0;
        while index < self.leases.len() {
            let before = self.leases.len();
            if !self.settle(index, close).await {
                return;
            }
            if self.leases.len() == before {
                index += 1;
            }
        }
    }

    /// Takes a new lease big enough for `parts` and `amount` and the recent rate.
    async fn acquire(&mut self, parts: u64, amount: Minor) -> Acquired {
        if self.leases.len() >= MAX_OPEN_LEASES && !self.settle(0, true).await {
            return Acquired::Unavailable;
        }
        // A request whose outcome is unknown goes again under its id first: the ledger
        // answers with the grant it made, or makes it now, but never grants twice.
        let (id, want_parts, want_amount) = match self.unresolved.take() {
            Some(unresolved) => unresolved,
            None => {
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
                let want_parts = parts.max(block);
                let want_amount = amount.max((self.price * want_parts as f64).ceil() as Minor);
                (self.ctx.ids.next().0, want_parts, want_amount)
            }
        };
        for attempt in 0..ACQUIRE_ATTEMPTS {
            let response = self
                .propose(Command::AcquireLease {
                    lease: id,
                    account: self.account.clone(),
                    node: u64::from(self.ctx.settings.node_id),
                    parts: want_parts,
                    amount: want_amount,
                    ttl_ms: LEASE_TTL_MS,
                })
                .await;
            metrics::counter!("tern_quota_lease_acquires_total").increment(1);
            match response {
                Some(Response::Lease { parts, amount }) if parts > 0 || amount > 0 => {
                    self.leases.push(OpenLease {
                        id,
                        granted_parts: parts,
                        granted_amount: amount,
                        used_parts: 0,
                        used_amount: 0,
                        settled_parts: 0,
                        settled_amount: 0,
                    });
                    return Acquired::Granted;
                }
                Some(Response::Lease { .. }) => {
                    metrics::counter!("tern_quota_exhausted_total").increment(1);
                    return Acquired::Exhausted;
                }
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

    fn room(&self) -> (u64, Minor) {
        self.leases.iter().fold((0, 0), |(p, a), l| {
            let (rp, ra) = l.room();
            (p + rp, a + ra)
        })
    }

    /// Takes up to `parts` and `amount` from the open leases, oldest first.
    fn take(&mut self, mut parts: u64, mut amount: Minor) -> (u64, Minor) {
        let (mut got_parts, mut got_amount) = (0, 0);
        for lease in &mut self.leases {
            let (room_parts, room_amount) = lease.room();
            let p = parts.min(room_parts);
            let a = amount.min(room_amount);
            lease.used_parts += p;
            lease.used_amount += a;
            parts -= p;
            amount -= a;
            got_parts += p;
            got_amount += a;
        }
        (got_parts, got_amount)
    }

    /// Hands out up to `parts` and `amount`, from the spare pool first, then the open
    /// leases, taking a new lease when they cannot cover the request. `None` when the
    /// ledger could not be reached for a lease that was needed.
    async fn grant(&mut self, parts: u64, amount: Minor) -> Option<(u64, Minor)> {
        self.last_grant = Instant::now();
        let from_spare = (parts.min(self.spare_parts), amount.min(self.spare_amount));
        self.spare_parts -= from_spare.0;
        self.spare_amount -= from_spare.1;
        let (need_parts, need_amount) = (parts - from_spare.0, amount - from_spare.1);
        if need_parts == 0 && need_amount == 0 {
            return Some(from_spare);
        }
        let (room_parts, room_amount) = self.room();
        if room_parts >= need_parts && room_amount >= need_amount {
            metrics::counter!("tern_quota_lease_hits_total").increment(1);
        } else {
            let acquired = self
                .acquire(
                    need_parts.saturating_sub(room_parts),
                    need_amount.saturating_sub(room_amount),
                )
                .await;
            if acquired == Acquired::Unavailable {
                self.spare_parts += from_spare.0;
                self.spare_amount += from_spare.1;
                return None;
            }
        }
        let taken = self.take(need_parts, need_amount);
        self.handed_since_tick += taken.0;
        if taken.0 > 0 {
            let per_part = taken.1 as f64 / taken.0 as f64;
            self.price = 0.8 * self.price + 0.2 * per_part;
        }
        Some((from_spare.0 + taken.0, from_spare.1 + taken.1))
    }

    /// Parts and money a session did not use: they lower the use of the leases not yet
    /// settled for them, newest first; the rest waits in the spare pool, already paid.
    fn give_back(&mut self, mut parts: u64, mut amount: Minor) {
        for lease in self.leases.iter_mut().rev() {
            let p = parts.min(lease.used_parts.saturating_sub(lease.settled_parts));
            let a = amount.min(
                lease
                    .used_amount
                    .saturating_sub(lease.settled_amount)
                    .max(0),
            );
            lease.used_parts -= p;
            lease.used_amount -= a;
            parts -= p;
            amount -= a;
        }
        self.spare_parts += parts;
        self.spare_amount += amount;
    }

    async fn tick(&mut self) {
        let elapsed = self.last_tick.elapsed().as_secs_f64().max(0.001);
        let rate = self.handed_since_tick as f64 / elapsed;
        self.rate = 0.5 * self.rate + 0.5 * rate;
        self.handed_since_tick = 0;
        self.last_tick = Instant::now();
        if self.unresolved.is_some() {
            self.acquire(0, 0).await;
        }
        let idle = self.last_grant.elapsed() >= IDLE_CLOSE;
        self.settle_all(idle).await;
    }
}

impl Actor for QuotaCounter {
    type Msg = QuotaMsg;
    type State = CounterState;
    type Arguments = (Arc<Context>, String);

    async fn pre_start(
        &self,
        myself: ActorRef<QuotaMsg>,
        (ctx, account): (Arc<Context>, String),
    ) -> Result<CounterState, ActorProcessingErr> {
        myself.send_interval(Duration::from_secs(1), || QuotaMsg::Tick);
        Ok(CounterState {
            ctx,
            account,
            leases: Vec::new(),
            spare_parts: 0,
            spare_amount: 0,
            rate: 0.0,
            price: 0.0,
            handed_since_tick: 0,
            burst: MIN_BLOCK,
            last_acquire: None,
            unresolved: None,
            last_tick: Instant::now(),
            last_grant: Instant::now(),
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
                if let Some((parts, _)) = granted {
                    metrics::counter!("tern_quota_granted_parts_total").increment(parts);
                }
                let _ = reply.send(granted);
            }
            QuotaMsg::Return { parts, amount } => state.give_back(parts, amount.max(0)),
            QuotaMsg::Tick => state.tick().await,
        }
        Ok(())
    }
}

/// Messages of the supervisor.
#[derive(Debug)]
pub enum QuotaSupervisorMsg {
    /// The counter of `account`, started on first use.
    Counter {
        account: String,
        reply: RpcReplyPort<Option<QuotaRef>>,
    },
}

/// Starts counters on demand and restarts them when they fail.
pub struct QuotaSupervisor;

pub struct SupervisorState {
    ctx: Arc<Context>,
    counters: HashMap<String, QuotaRef>,
}

impl QuotaSupervisor {
    async fn start_counter(
        myself: &ActorRef<QuotaSupervisorMsg>,
        state: &mut SupervisorState,
        account: &str,
    ) -> Option<QuotaRef> {
        state.ctx.accounts.get(account)?;
        let spawned = Actor::spawn_linked(
            None,
            QuotaCounter,
            (state.ctx.clone(), account.to_owned()),
            myself.get_cell(),
        )
        .await;
        match spawned {
            Ok((counter, _)) => {
                state.counters.insert(account.to_owned(), counter.clone());
                Some(counter)
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
                let counter = match state.counters.get(&account) {
                    Some(counter) => Some(counter.clone()),
                    None => Self::start_counter(&myself, state, &account).await,
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

/// A session's share of its account's counter.
#[derive(Debug)]
pub struct Lease {
    counter: Option<QuotaRef>,
    account: String,
    parts: u64,
    amount: Minor,
    block: u64,
}

/// What the lease says about a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Spend {
    Granted,
    /// The message-count limit of the period is reached.
    OverQuota,
    /// The credit does not cover the message.
    NoCredit,
    /// The counter could not be reached: refuse with a temporary error.
    Unavailable,
}

impl Lease {
    pub fn new(account: &str) -> Self {
        Self {
            counter: None,
            account: account.to_owned(),
            parts: 0,
            amount: 0,
            block: 8,
        }
    }

    /// Takes `parts` and `amount` from the lease, refilling it from the counter when
    /// needed.
    pub async fn spend(&mut self, ctx: &Context, parts: u64, amount: Minor) -> Spend {
        let amount = amount.max(0);
        if self.parts < parts || self.amount < amount {
            let want_parts = (parts.saturating_sub(self.parts)).max(self.block);
            let per_part = if parts > 0 {
                amount / parts as Minor
            } else {
                0
            };
            let want_amount = amount
                .saturating_sub(self.amount)
                .max(per_part.saturating_mul(self.block as Minor));
            match self.grant(ctx, want_parts, want_amount).await {
                Some((p, a)) => {
                    self.parts += p;
                    self.amount += a;
                    // Busy sessions refill less often.
                    self.block = (self.block * 2).min(1024);
                }
                None => return Spend::Unavailable,
            }
        }
        let short = if self.parts < parts {
            Some(Spend::OverQuota)
        } else if self.amount < amount {
            Some(Spend::NoCredit)
        } else {
            None
        };
        if let Some(short) = short {
            // What is left cannot carry this message: give it back at once, so that
            // other sessions can use it and an idle account's ledger gets it back.
            self.release();
            return short;
        }
        self.parts -= parts;
        self.amount -= amount;
        Spend::Granted
    }

    /// Parts and money taken but not used (the message failed before acceptance).
    pub fn refund(&mut self, parts: u64, amount: Minor) {
        self.parts += parts;
        self.amount += amount.max(0);
    }

    async fn grant(&mut self, ctx: &Context, parts: u64, amount: Minor) -> Option<(u64, Minor)> {
        for _ in 0..2 {
            if self.counter.is_none() {
                let supervisor = ctx.refs.quota.get()?;
                let account = self.account.clone();
                self.counter = ractor::call!(supervisor, |reply| QuotaSupervisorMsg::Counter {
                    account,
                    reply
                })
                .ok()
                .flatten();
            }
            let counter = self.counter.clone()?;
            match ractor::call!(counter, |reply| QuotaMsg::Grant {
                parts,
                amount,
                reply
            }) {
                Ok(granted) => return granted,
                // The counter restarted: ask the supervisor for the new one.
                Err(_) => self.counter = None,
            }
        }
        None
    }

    /// Gives the rest of the lease back.
    pub fn release(&mut self) {
        if self.parts > 0 || self.amount > 0 {
            if let Some(counter) = &self.counter {
                let _ = counter.cast(QuotaMsg::Return {
                    parts: self.parts,
                    amount: self.amount,
                });
            }
            self.parts = 0;
            self.amount = 0;
        }
    }
}
