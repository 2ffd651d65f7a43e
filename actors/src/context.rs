//! What every actor of the pipeline shares: the store, the accounts, the routes, the live
//! link health, the id generator, the settings, and the current refs of the singletons.
//!
//! A restarted actor gets a new ref; its supervisor puts it into the actor's [`Slot`], so
//! senders always reach the live one. A message sent while the slot is empty is refused,
//! and every such message is recoverable: the pipeline only tells an actor about state
//! that is already durable, and every actor rebuilds its work from the store when it starts.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use ractor::{ActorRef, Message};
use tern_storage::MessageStore;

use crate::accounts::Accounts;
use crate::ids::IdGenerator;
use crate::mo::MoRule;
use crate::routing::{Health, RouteTable};

/// The current ref of one singleton actor.
pub struct Slot<M: Message> {
    current: RwLock<Option<ActorRef<M>>>,
}

impl<M: Message> std::fmt::Debug for Slot<M> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Slot")
    }
}

impl<M: Message> Default for Slot<M> {
    fn default() -> Self {
        Self {
            current: RwLock::new(None),
        }
    }
}

impl<M: Message> Slot<M> {
    pub fn set(&self, actor: Option<ActorRef<M>>) {
        if let Ok(mut current) = self.current.write() {
            *current = actor;
        }
    }

    pub fn get(&self) -> Option<ActorRef<M>> {
        self.current.read().ok()?.clone()
    }

    /// Sends `message`; false when the actor is not running.
    pub fn cast(&self, message: M) -> bool {
        match self.get() {
            Some(actor) => actor.cast(message).is_ok(),
            None => false,
        }
    }
}

/// How receipts of a message sent in several parts become one receipt for the customer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AggregatePolicy {
    /// Delivered only when every part is; otherwise the first failed part's state.
    AllDelivered,
    /// Delivered when any part is.
    AnyDelivered,
}

/// Timers and limits of the pipeline.
#[derive(Debug, Clone)]
pub struct Settings {
    pub node_id: u16,
    /// Pending messages are spread over this many dispatcher shards.
    pub shards: u16,
    /// Validity when the customer gives none.
    pub default_validity: Duration,
    /// The longest validity a customer may ask for.
    pub max_validity: Duration,
    /// Receipts and MO held for a customer with no receiving bind expire after this.
    pub held_ttl: Duration,
    pub retry_min: Duration,
    pub retry_max: Duration,
    pub aggregate: AggregatePolicy,
    /// Messages a dispatcher shard keeps in memory; the rest wait in the store.
    pub max_queued_in_memory: usize,
    /// Failed binds per source and account before a lockout, and its length.
    pub bind_guard: crate::bind_guard::BindGuardConfig,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            node_id: 1,
            shards: 4,
            default_validity: Duration::from_secs(48 * 3600),
            max_validity: Duration::from_secs(7 * 24 * 3600),
            held_ttl: Duration::from_secs(72 * 3600),
            retry_min: Duration::from_secs(1),
            retry_max: Duration::from_secs(300),
            aggregate: AggregatePolicy::AllDelivered,
            max_queued_in_memory: 20_000,
            bind_guard: crate::bind_guard::BindGuardConfig::default(),
        }
    }
}

/// Refs of the singletons and of the links, kept current by their supervisors.
#[derive(Debug, Default)]
pub struct Refs {
    pub dispatchers: Vec<Slot<crate::dispatcher::DispatcherMsg>>,
    pub correlator: Slot<crate::correlator::CorrelatorMsg>,
    pub mo: Slot<crate::mo::MoMsg>,
    pub outbox: Slot<crate::outbox::OutboxMsg>,
    pub quota: Slot<crate::quota::QuotaSupervisorMsg>,
    pub carriers: Slot<crate::supervisor::CarrierMsg>,
    pub links: RwLock<HashMap<String, ActorRef<crate::link::LinkMsg>>>,
}

impl Refs {
    pub fn link(&self, name: &str) -> Option<ActorRef<crate::link::LinkMsg>> {
        self.links.read().ok()?.get(name).cloned()
    }

    pub fn dispatcher(&self, shard: u16) -> Option<&Slot<crate::dispatcher::DispatcherMsg>> {
        self.dispatchers.get(usize::from(shard))
    }
}

/// Everything the pipeline shares.
pub struct Context {
    pub store: Arc<dyn MessageStore>,
    pub accounts: Accounts,
    pub routes: RwLock<Arc<RouteTable>>,
    pub health: Health,
    /// The carrier links this node runs; replaced when the configuration changes.
    pub links: RwLock<Arc<Vec<crate::link::LinkConfig>>>,
    /// The quota ledger.
    pub ledger: Arc<dyn crate::quota::Ledger>,
    /// What this node may act for in the cluster.
    pub membership: Arc<crate::membership::Membership>,
    /// Which account receives an MO; replaced when the configuration changes.
    pub mo_rules: RwLock<Arc<Vec<MoRule>>>,
    pub ids: Arc<IdGenerator>,
    /// Every id handed out before this start was below this one (see [`crate::ids`]):
    /// connectors with ids of their own start theirs past its time.
    pub id_floor: tern_model::MessageId,
    pub settings: Settings,
    pub refs: Refs,
    /// Receipts the correlator holds unmatched, plus lookups in progress: a link tells the
    /// correlator about a submitted part only while this is above zero.
    pub early_receipts: std::sync::atomic::AtomicUsize,
    /// Parts of long messages just finished, for the receipt of the last one.
    pub finals: crate::finals::Finals,
    /// Per shard: its dispatcher has nothing waiting, so a message accepted now goes
    /// straight to a link (see [`Context::flowing`]).
    pub(crate) flowing: Vec<std::sync::atomic::AtomicBool>,
}

impl std::fmt::Debug for Context {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Context")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

impl Context {
    /// The link configurations in force.
    pub fn links(&self) -> Arc<Vec<crate::link::LinkConfig>> {
        self.links.read().map(|l| l.clone()).unwrap_or_default()
    }

    pub fn routes(&self) -> Arc<RouteTable> {
        self.routes.read().map(|r| r.clone()).unwrap_or_default()
    }

    /// The MO rules in force.
    pub fn mo_rules(&self) -> Arc<Vec<MoRule>> {
        self.mo_rules.read().map(|r| r.clone()).unwrap_or_default()
    }

    /// The dispatcher shard of a message.
    pub fn shard_of(&self, id: tern_model::MessageId) -> u16 {
        (id.0 % u64::from(self.settings.shards.max(1))) as u16
    }

    /// Whether `shard`'s dispatcher, on this node, has nothing queued: no backlog, nothing
    /// ready, parked or waiting for a link. A message accepted then is sent at once, so its
    /// first attempt is written with its ACCEPTED records (see [`crate::session`]) instead
    /// of in a store round of its own right before the submit leaves.
    pub fn flowing(&self, shard: u16) -> bool {
        self.flowing
            .get(usize::from(shard))
            .is_some_and(|f| f.load(std::sync::atomic::Ordering::Relaxed))
    }

    /// Set by `shard`'s dispatcher (see [`Context::flowing`]).
    pub(crate) fn set_flowing(&self, shard: u16, flowing: bool) {
        if let Some(f) = self.flowing.get(usize::from(shard)) {
            f.store(flowing, std::sync::atomic::Ordering::Relaxed);
        }
    }
}

pub use tern_model::now_ms;
