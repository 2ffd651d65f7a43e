//! Quota: one `QuotaCounter` per account, under the `QuotaSupervisor`.
//!
//! Sessions do not ask the counter once per message: they take a lease, a block of parts
//! granted at once, spend it locally and give back what is left when they end. The block
//! grows with the session's rate. A counter counts what it granted, so a node that dies
//! with leases out has overspent nothing: unreturned parts count as used. The counter
//! persists its daily use in the store and reads it back when it starts, so a restart does
//! not reset the day. The raft ledger replaces the counter's bookkeeping behind the same
//! messages.

use std::collections::HashMap;
use std::sync::Arc;

use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort, SupervisionEvent};
use tern_storage::WriteOp;
use tracing::warn;

use crate::context::{now_ms, Context};

/// Messages of a counter.
#[derive(Debug)]
pub enum QuotaMsg {
    /// Grants up to `want` parts; replies with what was granted (0 when the limit is
    /// reached).
    Grant { want: u64, reply: RpcReplyPort<u64> },
    /// Gives back parts a lease did not use.
    Return(u64),
}

pub type QuotaRef = ActorRef<QuotaMsg>;

/// One account's counter.
pub struct QuotaCounter;

pub struct CounterState {
    ctx: Arc<Context>,
    account: String,
    limit: Option<u64>,
    day: u64,
    used: u64,
}

fn day_of(ms: u64) -> u64 {
    ms / 86_400_000
}

fn meta_key(account: &str, day: u64) -> String {
    format!("quota/{account}/{day}")
}

impl CounterState {
    fn roll_day(&mut self) {
        let today = day_of(now_ms());
        if today != self.day {
            self.day = today;
            self.used = 0;
        }
    }

    fn persist(&self) {
        let op = WriteOp::PutMeta {
            key: meta_key(&self.account, self.day),
            value: self.used.to_be_bytes().to_vec(),
        };
        // Best effort: a lost write only makes the counter start lower after a crash by
        // the parts granted since the last persisted grant; the lease size bounds that.
        let _ = self.ctx.store.write(vec![op], Box::new(|_| {}));
    }
}

impl Actor for QuotaCounter {
    type Msg = QuotaMsg;
    type State = CounterState;
    type Arguments = (Arc<Context>, String);

    async fn pre_start(
        &self,
        _myself: ActorRef<QuotaMsg>,
        (ctx, account): (Arc<Context>, String),
    ) -> Result<CounterState, ActorProcessingErr> {
        let limit = ctx
            .accounts
            .get(&account)
            .and_then(|a| a.policy.max_parts_per_day);
        let day = day_of(now_ms());
        let used = ctx
            .store
            .meta(&meta_key(&account, day))?
            .and_then(|v| <[u8; 8]>::try_from(v.as_slice()).ok())
            .map(u64::from_be_bytes)
            .unwrap_or(0);
        Ok(CounterState {
            ctx,
            account,
            limit,
            day,
            used,
        })
    }

    async fn handle(
        &self,
        _myself: ActorRef<QuotaMsg>,
        message: QuotaMsg,
        state: &mut CounterState,
    ) -> Result<(), ActorProcessingErr> {
        state.roll_day();
        match message {
            QuotaMsg::Grant { want, reply } => {
                let granted = match state.limit {
                    None => want,
                    Some(limit) => want.min(limit.saturating_sub(state.used)),
                };
                state.used += granted;
                if state.limit.is_some() {
                    state.persist();
                }
                metrics::counter!("tern_quota_granted_parts_total").increment(granted);
                if granted < want {
                    metrics::counter!("tern_quota_exhausted_total").increment(1);
                }
                let _ = reply.send(granted);
            }
            QuotaMsg::Return(parts) => {
                state.used = state.used.saturating_sub(parts);
                if state.limit.is_some() {
                    state.persist();
                }
            }
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

/// A session's lease on its account's counter.
#[derive(Debug)]
pub struct Lease {
    counter: Option<QuotaRef>,
    account: String,
    remaining: u64,
    block: u64,
}

/// What the lease says about a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Spend {
    Granted,
    OverLimit,
    /// The counter could not be reached: refuse with a temporary error.
    Unavailable,
}

impl Lease {
    pub fn new(account: &str) -> Self {
        Self {
            counter: None,
            account: account.to_owned(),
            remaining: 0,
            block: 8,
        }
    }

    /// Takes `parts` from the lease, refilling it from the counter when needed.
    pub async fn spend(&mut self, ctx: &Context, parts: u64) -> Spend {
        if self.remaining < parts {
            let want = (parts - self.remaining).max(self.block);
            match self.grant(ctx, want).await {
                Some(granted) => {
                    self.remaining += granted;
                    // Busy sessions refill less often.
                    self.block = (self.block * 2).min(1024);
                }
                None => return Spend::Unavailable,
            }
        }
        if self.remaining < parts {
            return Spend::OverLimit;
        }
        self.remaining -= parts;
        Spend::Granted
    }

    /// Parts taken but not used (the message failed before acceptance).
    pub fn refund(&mut self, parts: u64) {
        self.remaining += parts;
    }

    async fn grant(&mut self, ctx: &Context, want: u64) -> Option<u64> {
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
            match ractor::call!(counter, |reply| QuotaMsg::Grant { want, reply }) {
                Ok(granted) => return Some(granted),
                // The counter restarted: ask the supervisor for the new one.
                Err(_) => self.counter = None,
            }
        }
        None
    }

    /// Gives the rest of the lease back.
    pub fn release(&mut self) {
        if self.remaining > 0 {
            if let Some(counter) = &self.counter {
                let _ = counter.cast(QuotaMsg::Return(self.remaining));
            }
            self.remaining = 0;
        }
    }
}
