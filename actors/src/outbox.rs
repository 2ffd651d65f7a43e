//! The outbox: receipts and MO owed to customers, delivered to a receiving bind of each
//! account. Everything here is already durable in the store; an item leaves the store only
//! after the customer's deliver_sm_resp. Items wait while an account has no receiving bind
//! and expire after the held TTL. The outbox rebuilds itself from the store when it starts
//! and whenever an account binds.
//!
//! In a cluster one node delivers to each account: the lowest live one with a receiving
//! bind of it (its heartbeat tells the others which accounts it has). The others hand it
//! what they hold for the account; it also reads the store every few seconds, so that
//! what could not be handed over, and what waited while the account was bound nowhere,
//! follows the customer to whichever node it binds.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use ractor::{Actor, ActorProcessingErr, ActorRef};
use tern_storage::{HeldDelivery, WriteOp};
use tracing::{debug, info, warn};

use crate::context::{now_ms, Context};
use crate::protocol::CustomerLink;
use crate::session::SessionMsg;

/// Items of one account in memory; more stay in the store until these are delivered.
const MAX_IN_MEMORY: usize = 10_000;
/// Deliveries in flight per account.
const IN_FLIGHT: usize = 64;

#[derive(Debug)]
pub enum OutboxMsg {
    /// Newly durable.
    Held(Arc<HeldDelivery>),
    /// A receiving bind of `account` is up; `link` says what it takes.
    Bound {
        account: String,
        session: ActorRef<SessionMsg>,
        link: Arc<dyn CustomerLink>,
    },
    Unbound {
        account: String,
        session: ActorRef<SessionMsg>,
    },
    /// The customer took it (`delivered`) or not.
    Result {
        account: String,
        key: u64,
        delivered: bool,
    },
    Tick,
}

/// A receiving bind, and what it takes.
struct Receiver {
    session: ActorRef<SessionMsg>,
    link: Arc<dyn CustomerLink>,
}

/// Which of `receivers` delivers `item`, taking turns from after `last`: among those that
/// take it, one of the protocol the item asks for (its message's origin; for an item
/// without one, any but the protocols that take only their own), else any that takes it.
fn pick(receivers: &[Receiver], last: usize, item: &HeldDelivery) -> Option<usize> {
    let n = receivers.len();
    let origin = item.message.tlv_text(tern_model::Message::ORIGIN_TAG);
    let mut order = (1..=n).map(|i| (last + i) % n);
    let takes = |i: &usize| receivers[*i].link.takes(item);
    let preferred = |i: &usize| match origin {
        Some(origin) => receivers[*i].link.protocol() == origin,
        None => !receivers[*i].link.own_only(),
    };
    order
        .clone()
        .filter(takes)
        .find(preferred)
        .or_else(|| order.find(takes))
}

/// Items looked at in one round that no bind of the account takes, past which the round
/// stops: they stay queued, in order, for a bind that does.
const MAX_UNTAKEN_PER_ROUND: usize = 256;

struct InFlight {
    item: Arc<HeldDelivery>,
    session: ractor::ActorId,
    since_ms: u64,
}

/// A delivery with no result after this long goes back to the queue: its session may have
/// stopped with the request still in its mailbox. Longer than any response timeout.
const IN_FLIGHT_TIMEOUT_MS: u64 = 60_000;

#[derive(Default)]
struct AccountBox {
    queue: VecDeque<Arc<HeldDelivery>>,
    keys: HashSet<u64>,
    /// Handed to a session: the item, the session, and when.
    in_flight: HashMap<u64, InFlight>,
    receivers: Vec<Receiver>,
    next_receiver: usize,
    /// The store may hold more than is in memory.
    more_in_store: bool,
    /// Keys the customer took lately: a second copy of one (two nodes of a cluster made
    /// the same message's receipt) is dropped instead of delivered again.
    taken: Taken,
    /// In a cluster, since when this node is the one to deliver to the account.
    delivering_since: Option<u64>,
}

/// Keys delivered lately, bounded in count and age (on the monotonic clock: a wall clock
/// stepped forward must not forget them).
#[derive(Default)]
struct Taken {
    keys: HashSet<u64>,
    order: VecDeque<(std::time::Instant, u64)>,
}

/// In a cluster, how long a node that has just become the one delivering to an account
/// waits before it delivers, and then reads what waits in the store afresh: the node that
/// delivered before may still be delivering what it held (its view of who delivers lags by
/// up to a heartbeat), and what it delivers meanwhile leaves the store.
const HANDOVER_MS: u64 = 2_000;

/// How long, and how many, delivered keys are remembered per account.
const TAKEN_TTL: Duration = Duration::from_secs(600);
const MAX_TAKEN: usize = 50_000;

impl Taken {
    fn insert(&mut self, key: u64) {
        let now = std::time::Instant::now();
        if self.keys.insert(key) {
            self.order.push_back((now, key));
        }
        while let Some(&(at, old)) = self.order.front() {
            if now.duration_since(at) < TAKEN_TTL && self.keys.len() <= MAX_TAKEN {
                break;
            }
            self.keys.remove(&old);
            self.order.pop_front();
        }
    }

    fn contains(&self, key: u64) -> bool {
        self.keys.contains(&key)
    }
}

impl AccountBox {
    /// Puts the in-flight items that `gone` selects back at the front of the queue, in key
    /// (time) order.
    fn requeue(&mut self, gone: impl Fn(&InFlight) -> bool) {
        let mut back: Vec<u64> = self
            .in_flight
            .iter()
            .filter(|(_, f)| gone(f))
            .map(|(key, _)| *key)
            .collect();
        back.sort_unstable_by(|a, b| b.cmp(a));
        for key in back {
            if let Some(f) = self.in_flight.remove(&key) {
                self.queue.push_front(f.item);
            }
        }
    }
}

pub struct Outbox;

pub struct OutboxState {
    ctx: Arc<Context>,
    accounts: HashMap<String, AccountBox>,
    /// When the accounts delivered from here were last read from the store.
    reloaded_ms: u64,
}

/// How often, in a cluster, the accounts delivered from this node are read from the store.
const RELOAD_MS: u64 = 3_000;

impl OutboxState {
    /// Tells the membership which accounts have a receiving bind here.
    fn publish_receivers(&self) {
        let accounts = self
            .accounts
            .iter()
            .filter(|(_, a)| !a.receivers.is_empty())
            .map(|(name, _)| name.clone())
            .collect();
        self.ctx.membership.set_receivers(accounts);
    }

    async fn load(&mut self, account: &str) {
        let held = match self.ctx.store.held(account, MAX_IN_MEMORY).await {
            Ok(held) => held,
            Err(error) => {
                warn!(account, %error, "held deliveries unreadable");
                return;
            }
        };
        let full = held.len() >= MAX_IN_MEMORY;
        let entry = self.accounts.entry(account.to_owned()).or_default();
        let mut again = Vec::new();
        for item in held {
            if entry.taken.contains(item.key) {
                again.push(item.key);
            } else if entry.keys.insert(item.key) {
                entry.queue.push_back(Arc::new(item));
            }
        }
        entry.more_in_store = full;
        self.drop_copies(account, again);
    }

    /// Copies of deliveries the customer already took: out of the store, not delivered.
    fn drop_copies(&self, account: &str, keys: Vec<u64>) {
        if keys.is_empty() {
            return;
        }
        metrics::counter!("tern_outbox_copies_dropped_total").increment(keys.len() as u64);
        let ops = keys
            .into_iter()
            .map(|key| WriteOp::Release {
                account: account.to_owned(),
                key,
            })
            .collect();
        let _ = self.ctx.store.write_deferred(ops, Box::new(|_| {}));
    }

    async fn pump(&mut self, account: &str) {
        let now = now_ms();
        let delivers = self.ctx.membership.delivers_to(account);
        let Some(entry) = self.accounts.get_mut(account) else {
            return;
        };
        if !delivers {
            // Another node delivers to this account: what waits here is in the store for it.
            entry.keys.retain(|key| entry.in_flight.contains_key(key));
            entry.queue.clear();
            entry.more_in_store = true;
            entry.delivering_since = None;
            return;
        }
        if !self.ctx.membership.is_standalone() {
            let since = *entry.delivering_since.get_or_insert_with(|| {
                // Just became the one: what is queued here is read again after the wait.
                entry.keys.retain(|key| entry.in_flight.contains_key(key));
                entry.queue.clear();
                entry.more_in_store = true;
                now
            });
            if now < since.saturating_add(HANDOVER_MS) {
                return;
            }
        }
        let mut expired = Vec::new();
        let mut untaken = Vec::new();
        while entry.in_flight.len() < IN_FLIGHT
            && !entry.receivers.is_empty()
            && untaken.len() < MAX_UNTAKEN_PER_ROUND
        {
            let Some(item) = entry.queue.pop_front() else {
                break;
            };
            if item.expires_ms <= now {
                entry.keys.remove(&item.key);
                expired.push(item);
                continue;
            }
            let Some(chosen) = pick(&entry.receivers, entry.next_receiver, &item) else {
                untaken.push(item);
                continue;
            };
            entry.next_receiver = chosen;
            let receiver = &entry.receivers[chosen].session;
            let session = receiver.get_id();
            if receiver.cast(SessionMsg::Deliver(item.clone())).is_ok() {
                entry.in_flight.insert(
                    item.key,
                    InFlight {
                        item,
                        session,
                        since_ms: now,
                    },
                );
            } else {
                // The session is gone; its Unbound may still be on the way.
                entry.receivers.remove(chosen);
                entry.queue.push_front(item);
            }
        }
        for item in untaken.into_iter().rev() {
            entry.queue.push_front(item);
        }
        let refill = entry.more_in_store && entry.queue.is_empty() && entry.in_flight.is_empty();
        metrics::gauge!("tern_outbox_held_deliveries", "account" => account.to_owned())
            .set(entry.queue.len() as f64);
        for item in expired {
            metrics::counter!("tern_outbox_expired_total", "kind" => format!("{:?}", item.kind))
                .increment(1);
            warn!(account, key = item.key, "held delivery expired undelivered");
            let _ = self.ctx.store.write_deferred(
                vec![WriteOp::Release {
                    account: account.to_owned(),
                    key: item.key,
                }],
                Box::new(|_| {}),
            );
        }
        if refill {
            self.load(account).await;
        }
    }
}

impl Actor for Outbox {
    type Msg = OutboxMsg;
    type State = OutboxState;
    type Arguments = Arc<Context>;

    async fn pre_start(
        &self,
        myself: ActorRef<OutboxMsg>,
        ctx: Arc<Context>,
    ) -> Result<OutboxState, ActorProcessingErr> {
        let mut state = OutboxState {
            ctx,
            accounts: HashMap::new(),
            reloaded_ms: now_ms(),
        };
        // In a cluster every node would read every account: accounts are read when they
        // bind here instead.
        if state.ctx.membership.is_standalone() {
            for account in state.ctx.store.held_accounts().await? {
                state.load(&account).await;
            }
        }
        let held: usize = state.accounts.values().map(|a| a.queue.len()).sum();
        info!(held, "outbox started");
        myself.send_interval(Duration::from_secs(1), || OutboxMsg::Tick);
        Ok(state)
    }

    async fn handle(
        &self,
        _myself: ActorRef<OutboxMsg>,
        message: OutboxMsg,
        state: &mut OutboxState,
    ) -> Result<(), ActorProcessingErr> {
        match message {
            OutboxMsg::Held(item) => {
                let account = item.account.clone();
                let entry = state.accounts.entry(account.clone()).or_default();
                if entry.taken.contains(item.key) {
                    state.drop_copies(&account, vec![item.key]);
                    return Ok(());
                }
                if entry.queue.len() >= MAX_IN_MEMORY {
                    entry.more_in_store = true;
                } else if entry.keys.insert(item.key) {
                    entry.queue.push_back(item);
                }
                state.pump(&account).await;
            }
            OutboxMsg::Bound {
                account,
                session,
                link,
            } => {
                let fresh = !state.accounts.contains_key(&account);
                if fresh {
                    state.load(&account).await;
                }
                let entry = state.accounts.entry(account.clone()).or_default();
                entry.receivers.push(Receiver { session, link });
                debug!(
                    account,
                    receivers = entry.receivers.len(),
                    "receiving bind up"
                );
                state.pump(&account).await;
            }
            OutboxMsg::Unbound { account, session } => {
                if let Some(entry) = state.accounts.get_mut(&account) {
                    entry
                        .receivers
                        .retain(|r| r.session.get_id() != session.get_id());
                    // What the gone session had not answered goes back, to the front.
                    entry.requeue(|f| f.session == session.get_id());
                }
                state.pump(&account).await;
            }
            OutboxMsg::Result {
                account,
                key,
                delivered,
            } => {
                let Some(entry) = state.accounts.get_mut(&account) else {
                    return Ok(());
                };
                let Some(InFlight { item, .. }) = entry.in_flight.remove(&key) else {
                    return Ok(());
                };
                if delivered {
                    entry.keys.remove(&key);
                    entry.taken.insert(key);
                    metrics::counter!("tern_outbox_delivered_total", "kind" => format!("{:?}", item.kind)).increment(1);
                    // Nothing waits on it: it goes with the next commit (a receipt
                    // delivered again after a crash is what a lost release costs).
                    let _ = state.ctx.store.write_deferred(
                        vec![WriteOp::Release {
                            account: account.clone(),
                            key,
                        }],
                        Box::new(|_| {}),
                    );
                    state.pump(&account).await;
                } else {
                    // Back in its place by key (time), so the order of an account's
                    // receipts is kept however the deliveries under way end; the next tick
                    // tries again rather than hammering a failing bind.
                    let at = entry.queue.partition_point(|queued| queued.key < item.key);
                    entry.queue.insert(at, item);
                }
            }
            OutboxMsg::Tick => {
                let now = now_ms();
                state.publish_receivers();
                if !state.ctx.membership.is_standalone()
                    && now.saturating_sub(state.reloaded_ms) >= RELOAD_MS
                {
                    state.reloaded_ms = now;
                    let bound: Vec<String> = state
                        .accounts
                        .iter()
                        .filter(|(_, a)| !a.receivers.is_empty())
                        .map(|(name, _)| name.clone())
                        .filter(|name| state.ctx.membership.delivers_to(name))
                        .collect();
                    for account in bound {
                        state.load(&account).await;
                    }
                }
                let accounts: Vec<String> = state.accounts.keys().cloned().collect();
                for account in accounts {
                    if let Some(entry) = state.accounts.get_mut(&account) {
                        entry.requeue(|f| now.saturating_sub(f.since_ms) >= IN_FLIGHT_TIMEOUT_MS);
                    }
                    state.pump(&account).await;
                }
            }
        }
        Ok(())
    }
}
