//! The supervised actor tree of a Tern node: customer sessions, carrier links, quota
//! counters, routing, the receipt correlator, the MO dispatcher, the dispatcher shards and
//! the outbox. It speaks only the domain: each wire protocol's connector plugs in through
//! the traits of [`protocol`], and this crate depends on none of them. It reaches disk only
//! through the storage trait, and never installs a runtime, a subscriber or an exporter.

pub mod accept;
pub mod accounts;
pub mod aimd;
pub mod allowlist;
pub mod api_key;
pub mod bind_guard;
pub mod context;
pub mod correlator;
pub mod dispatcher;
pub mod failpoints;
pub mod finals;
pub mod ids;
mod late;
pub mod link;
pub mod lookup;
pub mod membership;
pub mod mo;
pub mod outbox;
pub mod outcome;
pub mod parts;
pub mod protocol;
pub mod purse;
pub mod quota;
pub mod relay;
pub mod routing;
pub mod session;
pub mod supervisor;

use std::sync::{Arc, OnceLock, RwLock};

use ractor::{Actor, ActorRef};
use tern_storage::MessageStore;
use tokio_util::sync::CancellationToken;

pub use context::{AggregatePolicy, Context, Settings};
pub use session::Sessions;

use crate::accounts::{AccountPolicy, Accounts};
use crate::context::{Refs, Slot};
use crate::ids::IdGenerator;
use crate::link::LinkConfig;
use crate::mo::MoRule;
use crate::quota::Ledger;
use crate::routing::{Health, Route, RouteTable};
use crate::supervisor::{NodeMsg, NodeSupervisor};

/// What the pipeline is built from.
pub struct PipelineConfig {
    pub settings: Settings,
    pub accounts: Vec<AccountPolicy>,
    pub routes: Vec<Route>,
    pub links: Vec<LinkConfig>,
    pub mo_rules: Vec<MoRule>,
    pub ledger: Arc<dyn Ledger>,
    /// This node's part in a cluster; `None`: a node of its own, owning every shard and bind.
    pub membership: Option<Arc<membership::Membership>>,
}

/// A running pipeline.
pub struct Pipeline {
    pub ctx: Arc<Context>,
    pub supervisor: ActorRef<NodeMsg>,
    sessions: Arc<Slot<session::SessionSupervisorMsg>>,
    /// Cancelled when the NodeSupervisor has stopped, for whatever reason.
    ended: CancellationToken,
    /// Why the NodeSupervisor gave up, when it did.
    gave_up: Arc<OnceLock<String>>,
}

/// Why the pipeline did not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("store: {0}")]
    Store(#[from] tern_storage::StoreError),
    #[error("actor: {0}")]
    Spawn(#[from] ractor::SpawnErr),
    #[error("the session supervisor is not running")]
    NoSessions,
    #[error("{0}")]
    Setting(&'static str),
}

impl Pipeline {
    /// Builds the context and starts the actor tree. Pending work in `store` is picked up.
    pub async fn start(
        store: Arc<dyn MessageStore>,
        config: PipelineConfig,
    ) -> Result<Self, StartError> {
        // Ids stay above anything handed out before a restart, even if the clock went back:
        // every id was below the stored mark.
        let floor = crate::ids::stored_floor(store.as_ref(), config.settings.node_id).await?;
        let routes = RouteTable::new(config.routes);
        let health = Health::new(config.links.iter().map(|l| l.name.as_str()));
        let refs = Refs {
            dispatchers: (0..config.settings.shards)
                .map(|_| Slot::default())
                .collect(),
            ..Refs::default()
        };
        let shards = config.settings.shards;
        let ctx = Arc::new(Context {
            store,
            accounts: Accounts::new(config.accounts)
                .with_bind_guard(config.settings.bind_guard.clone()),
            routes: RwLock::new(Arc::new(routes)),
            health,
            links: RwLock::new(Arc::new(config.links)),
            ledger: config.ledger,
            membership: config.membership.unwrap_or_else(|| {
                membership::Membership::standalone(
                    u64::from(config.settings.node_id),
                    config.settings.shards,
                )
            }),
            mo_rules: RwLock::new(Arc::new(config.mo_rules)),
            ids: Arc::new(IdGenerator::resuming(config.settings.node_id, floor)),
            id_floor: floor,
            settings: config.settings,
            refs,
            early_receipts: std::sync::atomic::AtomicUsize::new(0),
            finals: Default::default(),
            flowing: (0..shards)
                .map(|_| std::sync::atomic::AtomicBool::new(false))
                .collect(),
        });
        ids::persist_first_mark(&ctx.ids, ctx.store.as_ref()).await?;
        let sessions = Arc::new(Slot::default());
        let gave_up = Arc::new(OnceLock::new());
        let (supervisor, running) = Actor::spawn(
            None,
            NodeSupervisor,
            (ctx.clone(), sessions.clone(), gave_up.clone()),
        )
        .await?;
        // Nothing supervises the NodeSupervisor: whoever runs the pipeline watches this.
        let ended = CancellationToken::new();
        let watch = ended.clone();
        tokio::spawn(async move {
            let _ = running.await;
            watch.cancel();
        });
        if floor.0 > 0 {
            // Leases of the previous run are settled with what the store shows they paid
            // for, so the ledger gives back what it reclaimed (or would reclaim) in full.
            tokio::spawn(quota::settle_previous_leases(
                Arc::downgrade(&ctx),
                floor.0,
                std::time::Duration::from_secs(120),
            ));
        }
        Ok(Self {
            ctx,
            supervisor,
            sessions,
            ended,
            gave_up,
        })
    }

    /// Resolves once the actor tree is gone — its supervisor gave up past its restart
    /// limit, or was stopped — with the reason. A node whose pipeline is gone must stop
    /// (and be restarted by its service manager) rather than keep accepting connections.
    pub async fn ended(&self) -> String {
        self.ended.cancelled().await;
        self.gave_up
            .get()
            .cloned()
            .unwrap_or_else(|| "the node supervisor stopped".to_owned())
    }

    /// What the connectors' front ends start customer sessions with.
    pub fn sessions(&self) -> Result<Sessions, StartError> {
        self.sessions.get().ok_or(StartError::NoSessions)?;
        Ok(Sessions {
            ctx: self.ctx.clone(),
            supervisor: self.sessions.clone(),
        })
    }

    /// A handle that changes the pipeline's accounts, routes, links and MO rules while it
    /// runs.
    pub fn handle(&self) -> PipelineHandle {
        PipelineHandle {
            ctx: self.ctx.clone(),
            sessions: self.sessions.clone(),
        }
    }

    /// Stops every actor.
    pub async fn stop(self) {
        self.supervisor.stop(None);
        let _ = tokio::time::timeout(std::time::Duration::from_secs(5), async {
            while self.supervisor.get_status() != ractor::ActorStatus::Stopped {
                tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            }
        })
        .await;
    }
}

/// Changes a running pipeline; cheap to clone.
#[derive(Clone)]
pub struct PipelineHandle {
    pub ctx: Arc<Context>,
    sessions: Arc<Slot<session::SessionSupervisorMsg>>,
}

impl PipelineHandle {
    /// Installs a new set of accounts; sessions of accounts that are gone or disabled
    /// are unbound.
    pub fn update_accounts(&self, policies: Vec<AccountPolicy>) {
        let gone: Vec<String> = {
            let keep: std::collections::HashSet<&str> = policies
                .iter()
                .filter(|p| p.enabled)
                .map(|p| p.id.as_str())
                .collect();
            self.ctx
                .accounts
                .ids()
                .into_iter()
                .filter(|id| !keep.contains(id.as_str()))
                .collect()
        };
        self.ctx.accounts.replace(policies);
        if let Some(sessions) = self.sessions.get() {
            for account in gone {
                let _ = sessions.cast(session::SessionSupervisorMsg::KickAccount(account));
            }
        }
    }

    /// Installs a new route table. Dispatchers pick links from the table in force without
    /// a message hop; the new one takes effect for the next message on every shard.
    pub fn update_routes(&self, routes: Vec<Route>) {
        let count = routes.len();
        if let Ok(mut table) = self.ctx.routes.write() {
            *table = Arc::new(RouteTable::new(routes));
        }
        metrics::counter!("tern_routes_replaced_total").increment(1);
        tracing::info!(routes = count, "routing table replaced");
    }

    /// Installs a new set of MO rules; the next MO goes by them.
    pub fn update_mo_rules(&self, rules: Vec<MoRule>) {
        let count = rules.len();
        if let Ok(mut current) = self.ctx.mo_rules.write() {
            *current = Arc::new(rules);
        }
        tracing::info!(rules = count, "MO rules replaced");
    }

    /// Installs a new set of carrier links: new ones start, removed ones unbind, changed
    /// ones restart with their new settings.
    pub fn update_links(&self, links: Vec<LinkConfig>) {
        self.ctx
            .health
            .retain(links.iter().map(|l| l.name.as_str()));
        if let Ok(mut current) = self.ctx.links.write() {
            *current = Arc::new(links);
        }
        if let Some(carriers) = self.ctx.refs.carriers.get() {
            let _ = carriers.cast(supervisor::CarrierMsg::Reconcile);
        }
    }

    /// The session supervisor, for listing and unbinding sessions.
    pub fn sessions(&self) -> Option<ActorRef<session::SessionSupervisorMsg>> {
        self.sessions.get()
    }
}
