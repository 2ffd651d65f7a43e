//! NodeSupervisor and CarrierSupervisor: the permanent actors, restarted with backoff when
//! they fail, within an intensity limit past which the failure goes up to the node.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use ractor::{Actor, ActorCell, ActorId, ActorProcessingErr, ActorRef, SupervisionEvent};
use tokio::time::Instant;
use tracing::{error, info, warn};

use crate::context::Context;
use crate::correlator::Correlator;
use crate::dispatcher::Dispatcher;
use crate::link::{CarrierLink, LinkConfig};
use crate::mo::MoDispatcher;
use crate::outbox::Outbox;
use crate::quota::QuotaSupervisor;
use crate::session::{SessionSupervisor, SessionSupervisorMsg};

/// More restarts than this within `INTENSITY_WINDOW` and the supervisor gives up.
const MAX_RESTARTS: usize = 10;
const INTENSITY_WINDOW: Duration = Duration::from_secs(60);
/// How long a stopping supervisor waits for its children to stop.
const CHILDREN_STOP_TIMEOUT: Duration = Duration::from_secs(3);

/// Keeps the restart history of one supervisor.
#[derive(Debug, Default)]
struct Intensity {
    restarts: VecDeque<Instant>,
}

impl Intensity {
    /// Records a restart; returns the backoff to wait, or `None` past the limit.
    fn restart(&mut self) -> Option<Duration> {
        let now = Instant::now();
        while self
            .restarts
            .front()
            .is_some_and(|t| now.duration_since(*t) > INTENSITY_WINDOW)
        {
            self.restarts.pop_front();
        }
        self.restarts.push_back(now);
        let n = self.restarts.len();
        (n <= MAX_RESTARTS).then(|| Duration::from_millis(50u64 << n.min(6)))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Child {
    Outbox,
    Correlator,
    Mo,
    Quota,
    Dispatcher(u16),
    Carriers,
    Sessions,
}

impl Child {
    fn name(self) -> &'static str {
        match self {
            Child::Outbox => "outbox",
            Child::Correlator => "dlr_correlator",
            Child::Mo => "mo_dispatcher",
            Child::Quota => "quota_supervisor",
            Child::Dispatcher(_) => "dispatcher",
            Child::Carriers => "carrier_supervisor",
            Child::Sessions => "session_supervisor",
        }
    }
}

#[derive(Debug)]
pub enum NodeMsg {
    /// Renew the id generator's high-water mark.
    Tick,
}

pub struct NodeSupervisor;

pub struct NodeState {
    ctx: Arc<Context>,
    children: HashMap<ActorId, Child>,
    intensity: Intensity,
    /// The session supervisor's current ref, for the connectors' front ends.
    pub sessions: Arc<crate::context::Slot<SessionSupervisorMsg>>,
    /// Why this supervisor gave up, for the node that watches it.
    gave_up: Arc<OnceLock<String>>,
}

impl NodeSupervisor {
    async fn start(
        myself: &ActorRef<NodeMsg>,
        state: &mut NodeState,
        child: Child,
    ) -> Result<(), ActorProcessingErr> {
        let ctx = state.ctx.clone();
        let cell: ActorCell = myself.get_cell();
        let refs = &ctx.refs;
        let id = match child {
            Child::Outbox => {
                let (r, _) = Actor::spawn_linked(None, Outbox, ctx.clone(), cell).await?;
                refs.outbox.set(Some(r.clone()));
                r.get_id()
            }
            Child::Correlator => {
                let (r, _) = Actor::spawn_linked(None, Correlator, ctx.clone(), cell).await?;
                refs.correlator.set(Some(r.clone()));
                r.get_id()
            }
            Child::Mo => {
                let (r, _) = Actor::spawn_linked(None, MoDispatcher, ctx.clone(), cell).await?;
                refs.mo.set(Some(r.clone()));
                r.get_id()
            }
            Child::Quota => {
                let (r, _) = Actor::spawn_linked(None, QuotaSupervisor, ctx.clone(), cell).await?;
                refs.quota.set(Some(r.clone()));
                r.get_id()
            }
            Child::Dispatcher(shard) => {
                let (r, _) =
                    Actor::spawn_linked(None, Dispatcher, (ctx.clone(), shard), cell).await?;
                if let Some(slot) = refs.dispatcher(shard) {
                    slot.set(Some(r.clone()));
                }
                r.get_id()
            }
            Child::Carriers => {
                let (r, _) =
                    Actor::spawn_linked(None, CarrierSupervisor, ctx.clone(), cell).await?;
                refs.carriers.set(Some(r.clone()));
                r.get_id()
            }
            Child::Sessions => {
                let (r, _) =
                    Actor::spawn_linked(None, SessionSupervisor, ctx.clone(), cell).await?;
                state.sessions.set(Some(r.clone()));
                r.get_id()
            }
        };
        state.children.insert(id, child);
        Ok(())
    }
}

impl Actor for NodeSupervisor {
    type Msg = NodeMsg;
    type State = NodeState;
    type Arguments = (
        Arc<Context>,
        Arc<crate::context::Slot<SessionSupervisorMsg>>,
        Arc<OnceLock<String>>,
    );

    async fn pre_start(
        &self,
        myself: ActorRef<NodeMsg>,
        (ctx, sessions, gave_up): Self::Arguments,
    ) -> Result<NodeState, ActorProcessingErr> {
        let mut state = NodeState {
            ctx: ctx.clone(),
            children: HashMap::new(),
            intensity: Intensity::default(),
            sessions,
            gave_up,
        };
        let mut order = vec![Child::Outbox, Child::Correlator, Child::Mo, Child::Quota];
        order.extend((0..ctx.settings.shards).map(Child::Dispatcher));
        order.extend([Child::Carriers, Child::Sessions]);
        for child in order {
            Self::start(&myself, &mut state, child).await?;
        }
        myself.send_interval(Duration::from_secs(1), || NodeMsg::Tick);
        info!(shards = ctx.settings.shards, "pipeline started");
        Ok(state)
    }

    /// ractor kills the children of an actor that stops, and a killed actor's `post_stop`
    /// never runs: stop them first, so that carrier links unbind from their operators.
    async fn post_stop(
        &self,
        myself: ActorRef<NodeMsg>,
        _state: &mut NodeState,
    ) -> Result<(), ActorProcessingErr> {
        myself
            .stop_children_and_wait(None, Some(CHILDREN_STOP_TIMEOUT))
            .await;
        Ok(())
    }

    async fn handle(
        &self,
        _myself: ActorRef<NodeMsg>,
        message: NodeMsg,
        state: &mut NodeState,
    ) -> Result<(), ActorProcessingErr> {
        match message {
            NodeMsg::Tick => crate::ids::persist_mark(&state.ctx.ids, state.ctx.store.as_ref()),
        }
        Ok(())
    }

    async fn handle_supervisor_evt(
        &self,
        myself: ActorRef<NodeMsg>,
        event: SupervisionEvent,
        state: &mut NodeState,
    ) -> Result<(), ActorProcessingErr> {
        let (cell, reason) = match event {
            SupervisionEvent::ActorFailed(cell, error) => (cell, error.to_string()),
            SupervisionEvent::ActorTerminated(cell, _, reason) => {
                // A child that stops on its own during shutdown is not restarted.
                if myself.get_status() != ractor::ActorStatus::Running {
                    return Ok(());
                }
                (cell, reason.unwrap_or_else(|| "stopped".into()))
            }
            _ => return Ok(()),
        };
        let Some(child) = state.children.remove(&cell.get_id()) else {
            return Ok(());
        };
        metrics::counter!("tern_actor_restarts_total", "actor" => child.name()).increment(1);
        let Some(backoff) = state.intensity.restart() else {
            error!(actor = child.name(), reason, "too many restarts; giving up");
            let why = format!("{} failed too often: {reason}", child.name());
            let _ = state.gave_up.set(why.clone());
            return Err(why.into());
        };
        warn!(
            actor = child.name(),
            reason,
            backoff_ms = backoff.as_millis() as u64,
            "restarting"
        );
        tokio::time::sleep(backoff).await;
        let started = Self::start(&myself, state, child).await;
        if let Err(error) = &started {
            error!(actor = child.name(), %error, "restart failed; giving up");
            let _ = state
                .gave_up
                .set(format!("{} did not restart: {error}", child.name()));
        }
        started
    }
}

/// Messages of the carrier supervisor.
#[derive(Debug)]
pub enum CarrierMsg {
    /// The link configurations changed: start, stop and restart links to match.
    Reconcile,
}

/// Parent of the carrier links; restarts a failed link with backoff and keeps the running
/// links in line with the configuration.
pub struct CarrierSupervisor;

pub struct CarrierState {
    ctx: Arc<Context>,
    links: HashMap<ActorId, (Arc<LinkConfig>, ActorRef<crate::link::LinkMsg>)>,
    /// Links stopped on purpose, not to be restarted.
    stopping: std::collections::HashSet<ActorId>,
    intensity: Intensity,
}

impl CarrierSupervisor {
    async fn start_link(
        myself: &ActorRef<CarrierMsg>,
        state: &mut CarrierState,
        config: Arc<LinkConfig>,
    ) -> Result<(), ActorProcessingErr> {
        let (link, _) = Actor::spawn_linked(
            None,
            CarrierLink,
            (state.ctx.clone(), config.clone()),
            myself.get_cell(),
        )
        .await?;
        if let Ok(mut links) = state.ctx.refs.links.write() {
            links.insert(config.name.clone(), link.clone());
        }
        state.links.insert(link.get_id(), (config, link));
        Ok(())
    }

    async fn reconcile(
        myself: &ActorRef<CarrierMsg>,
        state: &mut CarrierState,
    ) -> Result<(), ActorProcessingErr> {
        let wanted = state.ctx.links();
        let mut stop = Vec::new();
        for (id, (running, link)) in &state.links {
            let keep = wanted
                .iter()
                .any(|w| w.name == running.name && w.revision == running.revision);
            if !keep {
                stop.push((*id, running.name.clone(), link.clone()));
            }
        }
        for (id, name, link) in stop {
            info!(link = name, "carrier link removed or changed; stopping it");
            state.links.remove(&id);
            state.stopping.insert(id);
            if let Ok(mut links) = state.ctx.refs.links.write() {
                if links.get(&name).is_some_and(|l| l.get_id() == id) {
                    links.remove(&name);
                }
            }
            // Drained rather than stopped: jobs already in its mailbox start (and come back
            // to their dispatcher as retries when the connection goes) instead of being
            // dropped with the mailbox.
            if link.drain().is_err() {
                link.stop(None);
            }
        }
        for config in wanted.iter() {
            let running = state.links.values().any(|(c, _)| c.name == config.name);
            if !running {
                info!(link = config.name, "starting carrier link");
                Self::start_link(myself, state, Arc::new(config.clone())).await?;
            }
        }
        Ok(())
    }
}

impl Actor for CarrierSupervisor {
    type Msg = CarrierMsg;
    type State = CarrierState;
    type Arguments = Arc<Context>;

    async fn pre_start(
        &self,
        myself: ActorRef<CarrierMsg>,
        ctx: Arc<Context>,
    ) -> Result<CarrierState, ActorProcessingErr> {
        let mut state = CarrierState {
            ctx: ctx.clone(),
            links: HashMap::new(),
            stopping: Default::default(),
            intensity: Intensity::default(),
        };
        for config in ctx.links().iter() {
            Self::start_link(&myself, &mut state, Arc::new(config.clone())).await?;
        }
        Ok(state)
    }

    /// Stops the links before this supervisor goes (see [`NodeSupervisor`]'s `post_stop`).
    async fn post_stop(
        &self,
        myself: ActorRef<CarrierMsg>,
        _state: &mut CarrierState,
    ) -> Result<(), ActorProcessingErr> {
        myself
            .stop_children_and_wait(None, Some(CHILDREN_STOP_TIMEOUT))
            .await;
        Ok(())
    }

    async fn handle(
        &self,
        myself: ActorRef<CarrierMsg>,
        message: CarrierMsg,
        state: &mut CarrierState,
    ) -> Result<(), ActorProcessingErr> {
        match message {
            CarrierMsg::Reconcile => Self::reconcile(&myself, state).await,
        }
    }

    async fn handle_supervisor_evt(
        &self,
        myself: ActorRef<CarrierMsg>,
        event: SupervisionEvent,
        state: &mut CarrierState,
    ) -> Result<(), ActorProcessingErr> {
        let (cell, error) = match event {
            SupervisionEvent::ActorFailed(cell, error) => (cell, error),
            SupervisionEvent::ActorTerminated(cell, _, _) => {
                state.stopping.remove(&cell.get_id());
                state.links.remove(&cell.get_id());
                return Ok(());
            }
            _ => return Ok(()),
        };
        if state.stopping.remove(&cell.get_id()) {
            return Ok(());
        }
        let Some((config, _)) = state.links.remove(&cell.get_id()) else {
            return Ok(());
        };
        metrics::counter!("tern_actor_restarts_total", "actor" => "carrier_link").increment(1);
        let Some(backoff) = state.intensity.restart() else {
            return Err(format!("link {} failed too often: {error}", config.name).into());
        };
        warn!(link = config.name, %error, "carrier link failed; restarting");
        tokio::time::sleep(backoff).await;
        // The configuration may have changed meanwhile.
        let current = state
            .ctx
            .links()
            .iter()
            .find(|l| l.name == config.name)
            .cloned();
        match current {
            Some(config) => Self::start_link(&myself, state, Arc::new(config)).await,
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn intensity_backs_off_then_gives_up() {
        let mut intensity = Intensity::default();
        let first = intensity.restart().unwrap();
        let second = intensity.restart().unwrap();
        assert!(second > first);
        for _ in 2..MAX_RESTARTS {
            assert!(intensity.restart().is_some());
        }
        assert_eq!(intensity.restart(), None);
    }
}
