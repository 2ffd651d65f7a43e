//! CustomerSession: one per bound customer, whatever its protocol, under the
//! SessionSupervisor.
//!
//! The customer's connector decodes its submits into domain messages and hands them here
//! ([`SessionMsg::Submit`]); they go through [`crate::accept`], the ACCEPTED records and
//! pending entries go to the store, and only when the store reports them durable is the
//! submit answered (through its [`Respond`], in the customer's protocol) with the id and the
//! message handed to its dispatcher. Group commit lets one fsync cover the submits of many
//! sessions. Receipts and MO for the customer come from the outbox and go to the
//! connection ([`CustomerLink::deliver`]), which renders them in its protocol.

use std::collections::HashMap;
use std::sync::Arc;

use ractor::{Actor, ActorProcessingErr, ActorRef, SupervisionEvent};
use tern_model::{Message, Rejection};
use tern_storage::{HeldDelivery, MessageRecord, StoreError, WriteOp};
use tokio::sync::oneshot;
use tracing::{debug, warn};

use crate::accept::{self, refuse, Refusal};
use crate::accounts::{Account, BindSlot};
use crate::context::{now_ms, Context};
use crate::dispatcher::{DispatcherMsg, Job};
use crate::outbox::OutboxMsg;
use crate::parts::{HeldPart, Hold, LongMessages};
use crate::protocol::{CustomerLink, Respond};
use crate::quota::{Charge, Lease};

// Messages move once into the mailbox; boxing would cost an allocation per submit.
#[allow(clippy::large_enum_variant)]
pub enum SessionMsg {
    /// Messages the customer submitted in one request, decoded by its connector.
    Submit(Submit),
    /// A request the connector refused and answered itself (it does not decode): counted,
    /// and recorded as a CDR when there is a message to record. `status` is the protocol's.
    Refused {
        refusal: Refusal,
        status: u32,
        message: Option<Box<Message>>,
    },
    /// A receipt or MO to deliver on this bind.
    Deliver(Arc<HeldDelivery>),
    /// A part of a long message, durable and acknowledged, to join with its other parts.
    PartStored(Box<HeldPart>),
    /// Parts whose other parts did not come in time go as they are.
    ExpireParts,
    /// The connection closed.
    Closed(String),
}

impl std::fmt::Debug for SessionMsg {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SessionMsg::Submit(submit) => write!(f, "Submit({} messages)", submit.messages.len()),
            SessionMsg::Refused { refusal, .. } => write!(f, "Refused({})", refusal.reason),
            SessionMsg::Deliver(item) => write!(f, "Deliver({})", item.key),
            SessionMsg::PartStored(_) => f.write_str("PartStored"),
            SessionMsg::ExpireParts => f.write_str("ExpireParts"),
            SessionMsg::Closed(reason) => write!(f, "Closed({reason})"),
        }
    }
}

/// One request's messages: all are accepted or none.
pub struct Submit {
    pub messages: Vec<Message>,
    /// The ids the customer's protocol knows the messages by, when not the gateway's (see
    /// [`accept::accept`]).
    pub wire_ids: Vec<u64>,
    /// A part of a longer message, to be held and joined with its other parts (see
    /// [`crate::parts`]).
    pub hold: Option<Hold>,
    /// Answers the customer once the messages are durable, or refused.
    pub respond: Respond,
}

pub struct CustomerSession;

pub struct CustomerState {
    pub(crate) ctx: Arc<Context>,
    pub(crate) account: Arc<Account>,
    _slot: BindSlot,
    pub(crate) link: Arc<dyn CustomerLink>,
    pub(crate) lease: Lease,
    pub(crate) myself: ActorRef<SessionMsg>,
    /// Parts of long messages waiting for the rest.
    pub(crate) long: LongMessages,
}

impl CustomerState {
    async fn submit(&mut self, submit: Submit) {
        let started = std::time::Instant::now();
        let Submit {
            messages,
            wire_ids,
            hold,
            respond,
        } = submit;
        self.accept_and_store(messages, &wire_ids, hold, respond)
            .await;
        metrics::histogram!("tern_accept_processing_seconds")
            .record(started.elapsed().as_secs_f64());
    }

    /// Counts a refusal and writes its CDR.
    pub(crate) fn refused(&self, refusal: Refusal, status: u32, message: Option<Box<Message>>) {
        accept::count_refusal(&refusal, self.link.protocol(), status);
        debug!(reason = refusal.reason, status, "submit refused");
        if let Some(message) = message {
            accept::rejected_cdr(&self.ctx, &self.account.id, *message, refusal, status);
        }
    }

    /// Accepts every message (all or none are written), writes them in one batch and,
    /// once durable, calls `respond` with the first id and hands them to the dispatchers.
    /// A refusal of any message refuses them all (its debits go back), is counted and
    /// answered.
    ///
    /// With `hold`, the one message is a part of a longer one: its pending entry waits
    /// [`crate::parts::HOLD`] and, once durable, it comes back to this session to be
    /// joined with its other parts instead of going to a dispatcher.
    async fn accept_and_store(
        &mut self,
        messages: Vec<Message>,
        wire_ids: &[u64],
        hold: Option<Hold>,
        respond: Respond,
    ) {
        let mut accepted: Vec<accept::Accepted> = Vec::with_capacity(messages.len());
        for message in messages {
            match accept::accept(
                &self.ctx,
                &self.account,
                &mut self.lease,
                message,
                wire_ids,
                (0, 0),
            )
            .await
            {
                Ok(a) => accepted.push(a),
                Err((refusal, message)) => {
                    for a in &accepted {
                        a.charge.cancel();
                    }
                    return self.refuse(refusal, message, respond);
                }
            }
        }
        let Some(first) = accepted.first().map(|a| a.id) else {
            let refusal = refuse(Rejection::InvalidDestination, "no_destination");
            return self.refuse(refusal, None, respond);
        };
        let charges: Vec<Charge> = accepted.iter().map(|a| a.charge.clone()).collect();
        let mut ops = Vec::new();
        let mut jobs = Vec::new();
        let held_until = now_ms() + crate::parts::HOLD.as_millis() as u64;
        for a in accepted {
            // A message its dispatcher sends at once has its first attempt written here,
            // in the batch that makes it durable, instead of in a store round of its own
            // before the submit leaves: after a crash its resend counts as of unknown
            // outcome, as it would with the attempt written by the link. A message that
            // waits (a queue, a schedule, a part held for the others) has it written
            // when it leaves.
            let marked = hold.is_none()
                && self.ctx.membership.shard_owner_elsewhere(a.shard).is_none()
                && self.ctx.flowing(a.shard)
                && a.ops.iter().all(|op| match op {
                    WriteOp::AddPending(entry) => entry.due_ms == 0,
                    _ => true,
                });
            ops.extend(a.ops.into_iter().map(|op| match op {
                WriteOp::AddPending(mut entry) if hold.is_some() => {
                    entry.due_ms = entry.due_ms.max(held_until);
                    WriteOp::AddPending(entry)
                }
                WriteOp::AddPending(mut entry) if marked => {
                    entry.attempts = 1;
                    WriteOp::AddPending(entry)
                }
                op => op,
            }));
            jobs.push((a.shard, a.records, a.parts, a.cost, marked));
        }
        if crate::failpoints::on(crate::failpoints::ACCEPT_ACK_BEFORE_DURABLE) {
            // A bug planted for the chaos checker's own tests (failpoint builds only): the
            // customer hears OK and the records are never written, as when a node dies
            // between an early answer and the write.
            charges.iter().for_each(Charge::cancel);
            respond(Ok(first));
            return;
        }
        let ctx = self.ctx.clone();
        let session = self.myself.clone();
        let accepted_at = std::time::Instant::now();
        let settle = charges.clone();
        let link = self.link.clone();
        // The answer goes from the store's completion, or from here when the store did not
        // take the batch (the completion is then dropped uncalled).
        let answer = Arc::new(std::sync::Mutex::new(Some(respond)));
        let answer_later = answer.clone();
        let written = self.ctx.store.write(
            ops,
            Box::new(move |result| {
                let Some(respond) = take(&answer_later) else {
                    return;
                };
                match result {
                    Ok(()) => {
                        settle.iter().for_each(Charge::commit);
                        respond(Ok(first));
                        metrics::histogram!("tern_accept_durable_seconds")
                            .record(accepted_at.elapsed().as_secs_f64());
                        let mut hold = hold;
                        for (shard, records, parts, cost, marked) in jobs {
                            metrics::counter!("tern_submits_accepted_total").increment(1);
                            if let Some(hold) = hold.take() {
                                let part = HeldPart::new(hold, shard, records, parts, cost);
                                if let Err(ractor::MessagingErr::SendErr(SessionMsg::PartStored(
                                    part,
                                ))) = session.cast(SessionMsg::PartStored(Box::new(part)))
                                {
                                    // The session is gone: the part goes as it is.
                                    crate::parts::release(&ctx, *part, "closed");
                                }
                                continue;
                            }
                            dispatch(&ctx, shard, records, marked);
                        }
                    }
                    Err(error) => {
                        warn!(%error, "accepted records not stored");
                        settle.iter().for_each(Charge::cancel);
                        // Nothing is answered OK before it is durable. A database that did
                        // not confirm in time is a reason to come back later, like a full
                        // queue: the customer is throttled and retries.
                        let refusal = match error {
                            StoreError::Unavailable(_) | StoreError::Overloaded => {
                                refuse(Rejection::Throttled, "store_unavailable")
                            }
                            _ => refuse(Rejection::SystemError, "store_failed"),
                        };
                        accept::count_refusal(&refusal, link.protocol(), link.status(refusal.kind));
                        respond(Err(refusal.kind));
                    }
                }
            }),
        );
        if let Err(error) = written {
            charges.iter().for_each(Charge::cancel);
            // A full queue sheds load; a store that failed for good is a system error.
            let refusal = match error {
                StoreError::Io(_) => refuse(Rejection::SystemError, "store_failed"),
                _ => refuse(Rejection::Throttled, "store_overloaded"),
            };
            if let Some(respond) = take(&answer) {
                self.refuse(refusal, None, respond);
            }
        }
    }

    /// Counts and records a refusal, and answers it.
    fn refuse(&self, refusal: Refusal, message: Option<Box<Message>>, respond: Respond) {
        self.refused(refusal, self.link.status(refusal.kind), message);
        respond(Err(refusal.kind));
    }

    fn deliver(&self, item: Arc<HeldDelivery>) {
        let ctx = self.ctx.clone();
        let account = self.account.id.clone();
        // Asked again once the customer's window has room: a node whose lease ran out
        // meanwhile (cut off from the others) leaves the delivery to the node that took
        // over, instead of delivering it beside that one.
        let still_ours = {
            let (ctx, account) = (ctx.clone(), account.clone());
            Arc::new(move || ctx.membership.delivers_to(&account))
        };
        let delivery = self.link.deliver(item.clone(), still_ours);
        tokio::spawn(async move {
            let delivered = delivery.await;
            ctx.refs.outbox.cast(OutboxMsg::Result {
                account,
                key: item.key,
                delivered,
            });
        });
    }
}

/// The answer of a submit, once: whoever takes it first gives it.
fn take(answer: &std::sync::Mutex<Option<Respond>>) -> Option<Respond> {
    answer
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .take()
}

/// Hands a durable message to its shard's dispatcher: here, or on the node that owns the
/// shard. A dispatcher that is restarting, or an owner the notice does not reach, pages
/// the message in from the store.
/// `marked`: the parts' first attempts were written with them (see
/// [`Context::flowing`]).
pub(crate) fn dispatch(ctx: &Context, shard: u16, records: Vec<Arc<MessageRecord>>, marked: bool) {
    if let Some(owner) = ctx.membership.shard_owner_elsewhere(shard) {
        let parts = records.iter().map(|r| MessageRecord::clone(r)).collect();
        ctx.membership.notify_accepted(owner, shard, parts);
        return;
    }
    if let Some(dispatcher) = ctx.refs.dispatcher(shard) {
        let job = Job::new(records);
        let job = if marked { job.marked() } else { job };
        dispatcher.cast(DispatcherMsg::Accepted(job));
    }
}

impl Actor for CustomerSession {
    type Msg = SessionMsg;
    type State = CustomerState;
    type Arguments = (Arc<Context>, BindSlot, Arc<dyn CustomerLink>);

    async fn pre_start(
        &self,
        myself: ActorRef<SessionMsg>,
        (ctx, slot, link): Self::Arguments,
    ) -> Result<CustomerState, ActorProcessingErr> {
        let account = slot.account.clone();
        if link.can_receive() {
            ctx.refs.outbox.cast(OutboxMsg::Bound {
                account: account.id.clone(),
                session: myself.clone(),
                link: link.clone(),
            });
        }
        metrics::gauge!("tern_customer_sessions", "account" => account.id.clone()).increment(1.0);
        let lease = Lease::new(&account.id);
        Ok(CustomerState {
            ctx,
            account,
            _slot: slot,
            link,
            lease,
            myself: myself.clone(),
            long: LongMessages::new(),
        })
    }

    async fn post_stop(
        &self,
        myself: ActorRef<SessionMsg>,
        state: &mut CustomerState,
    ) -> Result<(), ActorProcessingErr> {
        for part in state.long.drain() {
            crate::parts::release(&state.ctx, part, "closed");
        }
        if state.link.can_receive() {
            state.ctx.refs.outbox.cast(OutboxMsg::Unbound {
                account: state.account.id.clone(),
                session: myself,
            });
        }
        metrics::gauge!("tern_customer_sessions", "account" => state.account.id.clone())
            .decrement(1.0);
        Ok(())
    }

    async fn handle(
        &self,
        myself: ActorRef<SessionMsg>,
        message: SessionMsg,
        state: &mut CustomerState,
    ) -> Result<(), ActorProcessingErr> {
        match message {
            SessionMsg::Submit(submit) => state.submit(submit).await,
            SessionMsg::Refused {
                refusal,
                status,
                message,
            } => state.refused(refusal, status, message),
            SessionMsg::Closed(reason) => {
                debug!(reason, "customer session closed");
                myself.stop(None);
            }
            SessionMsg::Deliver(item) => state.deliver(item),
            SessionMsg::PartStored(part) => crate::parts::stored(state, *part).await,
            SessionMsg::ExpireParts => crate::parts::expire(state),
        }
        Ok(())
    }
}

#[derive(Debug)]
pub enum SessionSupervisorMsg {
    /// A customer bound: its session starts, and its ref goes to `started` (dropped
    /// unanswered when it did not start; the connector then unbinds the customer).
    Start {
        slot: BindSlot,
        link: Arc<dyn CustomerLink>,
        started: oneshot::Sender<ActorRef<SessionMsg>>,
    },
    /// Every bound session.
    List(ractor::RpcReplyPort<Vec<SessionInfo>>),
    /// Unbinds one session; replies whether it existed.
    Kick(u64, ractor::RpcReplyPort<bool>),
    /// Unbinds every session of an account.
    KickAccount(String),
}

/// A bound session, as administrators see it.
#[derive(Debug, Clone)]
pub struct SessionInfo {
    pub id: u64,
    pub account: String,
    pub kind: &'static str,
    pub peer: std::net::IpAddr,
    pub since_ms: u64,
}

struct Bound {
    info: SessionInfo,
    link: Arc<dyn CustomerLink>,
}

/// Parent of every customer session. Sessions are temporary: a failed one is not
/// restarted — its customer is unbound and reconnects.
pub struct SessionSupervisor;

pub struct SessionSupervisorState {
    ctx: Arc<Context>,
    sessions: HashMap<ractor::ActorId, Bound>,
}

impl Actor for SessionSupervisor {
    type Msg = SessionSupervisorMsg;
    type State = SessionSupervisorState;
    type Arguments = Arc<Context>;

    async fn pre_start(
        &self,
        _myself: ActorRef<SessionSupervisorMsg>,
        ctx: Arc<Context>,
    ) -> Result<SessionSupervisorState, ActorProcessingErr> {
        Ok(SessionSupervisorState {
            ctx,
            sessions: HashMap::new(),
        })
    }

    async fn handle(
        &self,
        myself: ActorRef<SessionSupervisorMsg>,
        message: SessionSupervisorMsg,
        state: &mut SessionSupervisorState,
    ) -> Result<(), ActorProcessingErr> {
        let (slot, link, started) = match message {
            SessionSupervisorMsg::Start {
                slot,
                link,
                started,
            } => (slot, link, started),
            SessionSupervisorMsg::List(reply) => {
                let mut list: Vec<SessionInfo> =
                    state.sessions.values().map(|b| b.info.clone()).collect();
                list.sort_by_key(|s| s.id);
                let _ = reply.send(list);
                return Ok(());
            }
            SessionSupervisorMsg::Kick(id, reply) => {
                let found = state.sessions.values().find(|b| b.info.id == id);
                if let Some(bound) = found {
                    tokio::spawn(bound.link.unbind());
                }
                let _ = reply.send(found.is_some());
                return Ok(());
            }
            SessionSupervisorMsg::KickAccount(account) => {
                for bound in state.sessions.values() {
                    if bound.info.account == account {
                        tokio::spawn(bound.link.unbind());
                    }
                }
                return Ok(());
            }
        };
        let account = slot.account.id.clone();
        let peer = slot.peer;
        let kind = link.kind();
        let spawned = Actor::spawn_linked(
            None,
            CustomerSession,
            (state.ctx.clone(), slot, link.clone()),
            myself.get_cell(),
        )
        .await;
        let session = match spawned {
            Ok((session, _)) => session,
            Err(error) => {
                warn!(account, %error, "customer session did not start");
                return Ok(());
            }
        };
        let info = SessionInfo {
            id: session.get_id().pid(),
            account,
            kind,
            peer,
            since_ms: now_ms(),
        };
        state
            .sessions
            .insert(session.get_id(), Bound { info, link });
        if started.send(session.clone()).is_err() {
            // The connection is gone already.
            session.stop(None);
        }
        Ok(())
    }

    async fn handle_supervisor_evt(
        &self,
        _myself: ActorRef<SessionSupervisorMsg>,
        event: SupervisionEvent,
        state: &mut SessionSupervisorState,
    ) -> Result<(), ActorProcessingErr> {
        match event {
            SupervisionEvent::ActorFailed(cell, error) => {
                metrics::counter!("tern_actor_restarts_total", "actor" => "customer_session")
                    .increment(1);
                warn!(%error, "customer session failed; unbinding the customer");
                if let Some(bound) = state.sessions.remove(&cell.get_id()) {
                    bound.link.unbind().await;
                }
            }
            SupervisionEvent::ActorTerminated(cell, _, _) => {
                state.sessions.remove(&cell.get_id());
            }
            _ => {}
        }
        Ok(())
    }
}

/// What a connector's front end holds: the pipeline's context, and the session
/// supervisor's slot, refilled when it restarts (a ref copied once would send every later
/// bind to a dead actor).
#[derive(Debug, Clone)]
pub struct Sessions {
    pub ctx: Arc<Context>,
    pub(crate) supervisor: Arc<crate::context::Slot<SessionSupervisorMsg>>,
}

impl Sessions {
    /// Starts the session of a bound customer; its ref, to which the connector hands the
    /// customer's requests. `None` when it could not start: the connector unbinds the
    /// customer.
    pub async fn start(
        &self,
        slot: BindSlot,
        link: Arc<dyn CustomerLink>,
    ) -> Option<ActorRef<SessionMsg>> {
        let (started, session) = oneshot::channel();
        if !self.supervisor.cast(SessionSupervisorMsg::Start {
            slot,
            link,
            started,
        }) {
            warn!("session supervisor not running");
            return None;
        }
        session.await.ok()
    }
}
