//! CustomerSession: one per bound customer, SMPP or CMPP, under the SessionSupervisor.
//!
//! A submit is decoded by its protocol's front end and goes through [`crate::accept`]; the
//! ACCEPTED records and pending entries go to the store, and only when the store reports
//! them durable does the customer get its response with the id and the dispatcher get the
//! message. Group commit lets one fsync cover the submits of many sessions. Receipts and MO
//! for the customer come from the outbox and are rendered in the customer's protocol.

use std::collections::HashMap;
use std::sync::Arc;

use ractor::{Actor, ActorProcessingErr, ActorRef, SupervisionEvent};
use tern_model::{Address, Body, Coding, Message, MessageId, Npi, Ton};
use tern_smpp::mapping::{self, LinkOptions, ReceiptOptions};
use tern_smpp::net::{BindRequest, Handler, SessionEvent, SessionHandle};
use tern_smpp::rusmpp::pdus::{CancelSm, QuerySm, SubmitSm, SubmitSmResp};
use tern_smpp::session::{c_octet, error_response, BindKind};
use tern_smpp::{Command, CommandId, CommandStatus, Pdu};
use tern_storage::{HeldDelivery, HeldKind, MessageRecord, StoreError, WriteOp};
use tokio::sync::mpsc;
use tracing::{debug, warn, Instrument};

use crate::accept::{self, refuse, Refusal, Refused};
use crate::accounts::{Account, BindSlot};
use crate::cmpp_parts::{HeldPart, Hold, LongMessages};
use crate::context::{now_ms, Context, Slot};
use crate::dispatcher::{DispatcherMsg, Job};
use crate::outbox::OutboxMsg;
use crate::quota::{Charge, Lease};

// Messages move once into the mailbox; boxing would cost an allocation per submit.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
pub enum SessionMsg {
    /// From an SMPP customer's connection.
    Event(SessionEvent),
    /// From a CMPP customer's connection.
    Cmpp(tern_cmpp::net::SessionEvent),
    /// A receipt or MO to deliver on this bind.
    Deliver(Arc<HeldDelivery>),
    /// A part of a long message, durable and acknowledged, to join with its other parts.
    PartStored(Box<HeldPart>),
    /// Parts whose other parts did not come in time go as they are.
    ExpireParts,
}

pub struct CustomerSession;

/// The customer's protocol and connection.
pub enum Frontend {
    Smpp {
        kind: BindKind,
        handle: SessionHandle,
    },
    Cmpp {
        handle: tern_cmpp::net::SessionHandle,
        options: tern_cmpp::mapping::LinkOptions,
    },
}

impl Frontend {
    pub(crate) fn can_receive(&self) -> bool {
        match self {
            Frontend::Smpp { kind, .. } => kind.can_receive(),
            Frontend::Cmpp { .. } => true,
        }
    }

    fn kind(&self) -> &'static str {
        match self {
            Frontend::Smpp { kind, .. } => kind.as_str(),
            Frontend::Cmpp { .. } => "cmpp",
        }
    }
}

pub struct CustomerState {
    pub(crate) ctx: Arc<Context>,
    pub(crate) account: Arc<Account>,
    _slot: BindSlot,
    pub(crate) frontend: Frontend,
    pub(crate) lease: Lease,
    pub(crate) options: LinkOptions,
    pub(crate) myself: ActorRef<SessionMsg>,
    /// Parts of long messages waiting for the rest (CMPP customers).
    pub(crate) long: LongMessages,
}

impl CustomerState {
    async fn submit(&mut self, seq: u32, pdu: &SubmitSm) {
        let started = std::time::Instant::now();
        let Frontend::Smpp { handle, .. } = &self.frontend else {
            return;
        };
        let handle = handle.clone();
        let outcome =
            match mapping::submit_sm_to_message(pdu, &self.options, (now_ms() / 1000) as i64) {
                Ok(message) => {
                    self.accept_and_store(vec![message], &[], None, move |result| match result {
                        Ok(id) => {
                            handle.respond(submit_resp(seq, id));
                        }
                        Err(status) => {
                            handle.respond(error_response(CommandId::SubmitSm, seq, status));
                        }
                    })
                    .await
                }
                Err(e) => Err((
                    refuse(e.status(), "malformed"),
                    Some(Box::new(raw_message(pdu))),
                )),
            };
        if let Err((refusal, message)) = outcome {
            self.refused(refusal, message, "smpp");
            if let Frontend::Smpp { handle, .. } = &self.frontend {
                handle.respond(error_response(CommandId::SubmitSm, seq, refusal.status));
            }
        }
        metrics::histogram!("tern_accept_processing_seconds")
            .record(started.elapsed().as_secs_f64());
    }

    /// Answers a query_sm for one of the account's messages: its state, final date and
    /// error (SMPP 3.4 §4.8); ESME_RQUERYFAIL for an id the account did not send.
    fn query(&self, seq: u32, pdu: &QuerySm) {
        let Frontend::Smpp { handle, .. } = &self.frontend else {
            return;
        };
        let (ctx, account, handle) = (self.ctx.clone(), self.account.id.clone(), handle.clone());
        let wire_id = pdu.message_id.clone();
        let id = parse_message_id(wire_id.as_str());
        let span = tracing::debug_span!("query_sm", message_id = wire_id.as_str());
        tokio::spawn(
            async move {
                let standing = match id {
                    Some(id) => crate::lookup::query(&ctx, &account, id).await,
                    None => None,
                };
                metrics::counter!("tern_smpp_queries_total", "result" => if standing.is_some() { "found" } else { "unknown" })
                    .increment(1);
                let response = match standing {
                    Some(s) => Command::new(
                        CommandStatus::EsmeRok,
                        seq,
                        mapping::query_sm_resp(&wire_id, s.state, s.final_unix, s.error),
                    ),
                    None => {
                        debug!("query_sm for an unknown message");
                        error_response(CommandId::QuerySm, seq, CommandStatus::EsmeRqueryfail)
                    }
                };
                handle.respond(response);
            }
            .instrument(span),
        );
    }

    /// Withdraws one of the account's messages while it is queued or scheduled (SMPP 3.4
    /// §4.9); ESME_RCANCELFAIL when it is unknown, another account's, or already at an
    /// operator or final. Cancelling by addresses without a message_id is not offered.
    fn cancel(&self, seq: u32, pdu: &CancelSm) {
        let Frontend::Smpp { handle, .. } = &self.frontend else {
            return;
        };
        let (ctx, account, handle) = (self.ctx.clone(), self.account.id.clone(), handle.clone());
        let id = parse_message_id(pdu.message_id.as_str());
        let span = tracing::debug_span!("cancel_sm", message_id = pdu.message_id.as_str());
        tokio::spawn(
            async move {
                let cancelled = match id {
                    Some(id) => crate::lookup::cancel(&ctx, &account, id).await,
                    None => false,
                };
                metrics::counter!("tern_smpp_cancels_total", "result" => if cancelled { "cancelled" } else { "failed" })
                    .increment(1);
                let response = if cancelled {
                    Command::new(CommandStatus::EsmeRok, seq, Pdu::CancelSmResp)
                } else {
                    debug!("cancel_sm refused");
                    error_response(CommandId::CancelSm, seq, CommandStatus::EsmeRcancelfail)
                };
                handle.respond(response);
            }
            .instrument(span),
        );
    }

    /// Counts a refusal and writes its CDR.
    pub(crate) fn refused(
        &self,
        refusal: Refusal,
        message: Option<Box<Message>>,
        protocol: &'static str,
    ) {
        accept::count_refusal(&refusal, protocol);
        debug!(reason = refusal.reason, status = ?refusal.status, "submit refused");
        if let Some(message) = message {
            accept::rejected_cdr(&self.ctx, &self.account.id, *message, refusal);
        }
    }

    /// Accepts every message (all or none are written), writes them in one batch and,
    /// once durable, calls `respond` with the first id and hands them to the dispatchers.
    /// A refusal of any message refuses them all; its debits go back.
    ///
    /// With `hold`, the one message is a part of a longer one: its pending entry waits
    /// [`crate::cmpp_parts::HOLD`] and, once durable, it comes back to this session to be
    /// joined with its other parts instead of going to a dispatcher.
    pub(crate) async fn accept_and_store(
        &mut self,
        messages: Vec<Message>,
        wire_ids: &[u64],
        hold: Option<Hold>,
        respond: impl FnOnce(Result<MessageId, CommandStatus>) + Send + 'static,
    ) -> Result<(), Refused> {
        let mut accepted: Vec<accept::Accepted> = Vec::with_capacity(messages.len());
        for message in messages {
            match accept::accept(
                &self.ctx,
                &self.account,
                &mut self.lease,
                message,
                &self.options,
                wire_ids,
                (0, 0),
            )
            .await
            {
                Ok(a) => accepted.push(a),
                Err(refused) => {
                    for a in &accepted {
                        a.charge.cancel();
                    }
                    return Err(refused);
                }
            }
        }
        let Some(first) = accepted.first().map(|a| a.id) else {
            return Err((
                refuse(CommandStatus::EsmeRinvdstadr, "no_destination"),
                None,
            ));
        };
        let charges: Vec<Charge> = accepted.iter().map(|a| a.charge.clone()).collect();
        let mut ops = Vec::new();
        let mut jobs = Vec::new();
        let held_until = now_ms() + crate::cmpp_parts::HOLD.as_millis() as u64;
        for a in accepted {
            ops.extend(a.ops.into_iter().map(|op| match op {
                WriteOp::AddPending(mut entry) if hold.is_some() => {
                    entry.due_ms = entry.due_ms.max(held_until);
                    WriteOp::AddPending(entry)
                }
                op => op,
            }));
            jobs.push((a.shard, a.records, a.parts, a.cost));
        }
        let ctx = self.ctx.clone();
        let session = self.myself.clone();
        let accepted_at = std::time::Instant::now();
        let settle = charges.clone();
        let protocol = match self.frontend {
            Frontend::Smpp { .. } => "smpp",
            Frontend::Cmpp { .. } => "cmpp",
        };
        if crate::failpoints::on(crate::failpoints::ACCEPT_ACK_BEFORE_DURABLE) {
            // A bug planted for the chaos checker's own tests (failpoint builds only): the
            // customer hears OK and the records are never written, as when a node dies
            // between an early answer and the write.
            charges.iter().for_each(Charge::cancel);
            respond(Ok(first));
            return Ok(());
        }
        let written = self.ctx.store.write(
            ops,
            Box::new(move |result| match result {
                Ok(()) => {
                    settle.iter().for_each(Charge::commit);
                    respond(Ok(first));
                    metrics::histogram!("tern_accept_durable_seconds")
                        .record(accepted_at.elapsed().as_secs_f64());
                    let mut hold = hold;
                    for (shard, records, parts, cost) in jobs {
                        metrics::counter!("tern_submits_accepted_total").increment(1);
                        if let Some(hold) = hold.take() {
                            let part = HeldPart::new(hold, shard, records, parts, cost);
                            if let Err(ractor::MessagingErr::SendErr(SessionMsg::PartStored(
                                part,
                            ))) = session.cast(SessionMsg::PartStored(Box::new(part)))
                            {
                                // The session is gone: the part goes as it is.
                                crate::cmpp_parts::release(&ctx, *part, "closed");
                            }
                            continue;
                        }
                        dispatch(&ctx, shard, records);
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
                            refuse(CommandStatus::EsmeRthrottled, "store_unavailable")
                        }
                        _ => refuse(CommandStatus::EsmeRsyserr, "store_failed"),
                    };
                    accept::count_refusal(&refusal, protocol);
                    respond(Err(refusal.status));
                }
            }),
        );
        if let Err(error) = written {
            charges.iter().for_each(Charge::cancel);
            // A full queue sheds load; a store that failed for good is a system error.
            let refusal = match error {
                StoreError::Io(_) => refuse(CommandStatus::EsmeRsyserr, "store_failed"),
                _ => refuse(CommandStatus::EsmeRthrottled, "store_overloaded"),
            };
            return Err((refusal, None));
        }
        Ok(())
    }

    fn deliver(&self, item: Arc<HeldDelivery>) {
        let handle = match &self.frontend {
            Frontend::Smpp { handle, .. } => handle.clone(),
            Frontend::Cmpp { .. } => return crate::cmpp::deliver(self, item),
        };
        let pdus: Result<Vec<Pdu>, _> = match (&item.kind, &item.report) {
            (HeldKind::Receipt, Some(report)) => mapping::report_to_deliver_sm(
                report,
                &item.message.destination,
                &item.message.source,
                &ReceiptOptions::default(),
            )
            .map(|d| vec![Pdu::from(d)]),
            _ => mapping::message_to_deliver_sm(
                &item.message,
                &self.options,
                (item.key & 0xffff) as u16,
            )
            .map(|parts| parts.into_iter().map(Pdu::from).collect()),
        };
        let ctx = self.ctx.clone();
        let account = self.account.id.clone();
        tokio::spawn(async move {
            // Asked again once the customer's window has room: a node whose lease ran out
            // meanwhile (cut off from the others) leaves the delivery to the node that
            // took over, instead of delivering it beside that one.
            let delivers = || ctx.membership.delivers_to(&account);
            let delivered = match pdus {
                Ok(pdus) => {
                    let mut ok = true;
                    for pdu in pdus {
                        match handle.request_if(pdu, delivers).await {
                            Ok(response) if response.status() == CommandStatus::EsmeRok => {}
                            _ => {
                                ok = false;
                                break;
                            }
                        }
                    }
                    ok
                }
                Err(error) => {
                    // It can never be rendered: drop it rather than retry forever.
                    warn!(%error, key = item.key, "held delivery cannot be rendered; dropped");
                    true
                }
            };
            ctx.refs.outbox.cast(OutboxMsg::Result {
                account,
                key: item.key,
                delivered,
            });
        });
    }
}

/// What can be told of a submit_sm that does not map to a message, for its CDR: the
/// addresses as sent and the short message as octets.
fn raw_message(pdu: &SubmitSm) -> Message {
    let address = |ton: u8, npi: u8, value: &str| Address::new(Ton(ton), Npi(npi), value);
    let mut message = Message::text(
        address(
            pdu.source_addr_ton.into(),
            pdu.source_addr_npi.into(),
            pdu.source_addr.as_str(),
        ),
        address(
            pdu.dest_addr_ton.into(),
            pdu.dest_addr_npi.into(),
            pdu.destination_addr.as_str(),
        ),
        "",
    );
    message.coding = Coding::Binary;
    message.data_coding = pdu.data_coding.into();
    message.body = Body::Binary(bytes::Bytes::copy_from_slice(pdu.short_message().as_ref()));
    message
}

/// The gateway's id of a message, as SMPP customers are given it (decimal).
fn parse_message_id(text: &str) -> Option<MessageId> {
    text.trim().parse::<u64>().ok().map(MessageId)
}

/// Hands a durable message to its shard's dispatcher: here, or on the node that owns the
/// shard. A dispatcher that is restarting, or an owner the notice does not reach, pages
/// the message in from the store.
pub(crate) fn dispatch(ctx: &Context, shard: u16, records: Vec<Arc<MessageRecord>>) {
    if let Some(owner) = ctx.membership.shard_owner_elsewhere(shard) {
        let parts = records.iter().map(|r| MessageRecord::clone(r)).collect();
        ctx.membership.notify_accepted(owner, shard, parts);
        return;
    }
    if let Some(dispatcher) = ctx.refs.dispatcher(shard) {
        dispatcher.cast(DispatcherMsg::Accepted(Job::new(records)));
    }
}

fn submit_resp(seq: u32, id: MessageId) -> Command {
    let resp = SubmitSmResp::builder()
        .message_id(c_octet(&id.to_decimal()))
        .build();
    Command::new(CommandStatus::EsmeRok, seq, resp)
}

impl Actor for CustomerSession {
    type Msg = SessionMsg;
    type State = CustomerState;
    type Arguments = (Arc<Context>, BindSlot, Frontend);

    async fn pre_start(
        &self,
        myself: ActorRef<SessionMsg>,
        (ctx, slot, frontend): Self::Arguments,
    ) -> Result<CustomerState, ActorProcessingErr> {
        let account = slot.account.clone();
        if frontend.can_receive() {
            ctx.refs.outbox.cast(OutboxMsg::Bound {
                account: account.id.clone(),
                session: myself.clone(),
            });
        }
        metrics::gauge!("tern_customer_sessions", "account" => account.id.clone()).increment(1.0);
        let lease = Lease::new(&account.id);
        Ok(CustomerState {
            ctx,
            account,
            _slot: slot,
            frontend,
            lease,
            options: LinkOptions::default(),
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
            crate::cmpp_parts::release(&state.ctx, part, "closed");
        }
        if state.frontend.can_receive() {
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
            SessionMsg::Event(SessionEvent::Request(command)) => {
                let seq = command.sequence_number();
                match command.pdu() {
                    Some(Pdu::SubmitSm(pdu)) => state.submit(seq, pdu).await,
                    Some(Pdu::QuerySm(pdu)) => state.query(seq, pdu),
                    Some(Pdu::CancelSm(pdu)) => state.cancel(seq, pdu),
                    _ => {
                        let status = match command.id() {
                            CommandId::ReplaceSm => CommandStatus::EsmeRreplacefail,
                            _ => CommandStatus::EsmeRsubmitfail,
                        };
                        if let Frontend::Smpp { handle, .. } = &state.frontend {
                            handle.respond(error_response(command.id(), seq, status));
                        }
                    }
                }
            }
            SessionMsg::Event(SessionEvent::LateResponse { .. }) => {}
            SessionMsg::Event(SessionEvent::Closed { reason }) => {
                debug!(?reason, "customer session closed");
                myself.stop(None);
            }
            SessionMsg::Cmpp(tern_cmpp::net::SessionEvent::Closed { reason }) => {
                debug!(?reason, "CMPP customer session closed");
                myself.stop(None);
            }
            SessionMsg::Cmpp(event) => crate::cmpp::handle_event(state, event).await,
            SessionMsg::Deliver(item) => state.deliver(item),
            SessionMsg::PartStored(part) => crate::cmpp_parts::stored(state, *part).await,
            SessionMsg::ExpireParts => crate::cmpp_parts::expire(state),
        }
        Ok(())
    }
}

#[derive(Debug)]
pub enum SessionSupervisorMsg {
    Start {
        slot: BindSlot,
        kind: BindKind,
        handle: SessionHandle,
        events: mpsc::Receiver<SessionEvent>,
    },
    /// A connected CMPP customer.
    StartCmpp {
        slot: BindSlot,
        handle: tern_cmpp::net::SessionHandle,
        options: tern_cmpp::mapping::LinkOptions,
        events: mpsc::Receiver<tern_cmpp::net::SessionEvent>,
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

/// How a session is unbound from the supervisor.
#[derive(Clone)]
enum Unbinder {
    Smpp(SessionHandle),
    Cmpp(tern_cmpp::net::SessionHandle),
}

impl Unbinder {
    async fn unbind(&self) {
        match self {
            Unbinder::Smpp(handle) => handle.unbind().await,
            Unbinder::Cmpp(handle) => handle.terminate().await,
        }
    }
}

struct Bound {
    info: SessionInfo,
    handle: Unbinder,
}

/// The events of one connection, forwarded to its session actor.
enum Events {
    Smpp(mpsc::Receiver<SessionEvent>),
    Cmpp(mpsc::Receiver<tern_cmpp::net::SessionEvent>),
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
        let (slot, frontend, unbinder, events) = match message {
            SessionSupervisorMsg::Start {
                slot,
                kind,
                handle,
                events,
            } => (
                slot,
                Frontend::Smpp {
                    kind,
                    handle: handle.clone(),
                },
                Unbinder::Smpp(handle),
                Events::Smpp(events),
            ),
            SessionSupervisorMsg::StartCmpp {
                slot,
                handle,
                options,
                events,
            } => (
                slot,
                Frontend::Cmpp {
                    handle: handle.clone(),
                    options,
                },
                Unbinder::Cmpp(handle),
                Events::Cmpp(events),
            ),
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
                    let handle = bound.handle.clone();
                    tokio::spawn(async move { handle.unbind().await });
                }
                let _ = reply.send(found.is_some());
                return Ok(());
            }
            SessionSupervisorMsg::KickAccount(account) => {
                for bound in state.sessions.values() {
                    if bound.info.account == account {
                        let handle = bound.handle.clone();
                        tokio::spawn(async move { handle.unbind().await });
                    }
                }
                return Ok(());
            }
        };
        let account = slot.account.id.clone();
        let peer = slot.peer;
        let kind = frontend.kind();
        let spawned = Actor::spawn_linked(
            None,
            CustomerSession,
            (state.ctx.clone(), slot, frontend),
            myself.get_cell(),
        )
        .await;
        let session = match spawned {
            Ok((session, _)) => session,
            Err(error) => {
                warn!(account, %error, "customer session did not start");
                unbinder.unbind().await;
                return Ok(());
            }
        };
        let info = SessionInfo {
            id: session.get_id().pid(),
            account: account.clone(),
            kind,
            peer,
            since_ms: now_ms(),
        };
        state.sessions.insert(
            session.get_id(),
            Bound {
                info,
                handle: unbinder,
            },
        );
        let span = tracing::info_span!("customer", account, kind);
        tokio::spawn(
            async move {
                match events {
                    Events::Smpp(mut events) => {
                        while let Some(event) = events.recv().await {
                            let closed = matches!(event, SessionEvent::Closed { .. });
                            if session.cast(SessionMsg::Event(event)).is_err() || closed {
                                break;
                            }
                        }
                    }
                    Events::Cmpp(mut events) => {
                        while let Some(event) = events.recv().await {
                            let closed =
                                matches!(event, tern_cmpp::net::SessionEvent::Closed { .. });
                            if session.cast(SessionMsg::Cmpp(event)).is_err() || closed {
                                break;
                            }
                        }
                    }
                }
            }
            .instrument(span),
        );
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
                    bound.handle.unbind().await;
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

/// The SMPP server's handler: binds are checked against the accounts, bound sessions
/// become CustomerSession actors.
#[derive(Debug)]
pub struct SmppFrontend {
    pub ctx: Arc<Context>,
    /// The session supervisor's slot, refilled when it restarts: a ref copied once would
    /// send every later bind to a dead actor.
    pub sessions: Arc<Slot<SessionSupervisorMsg>>,
}

impl Handler for SmppFrontend {
    type Grant = BindSlot;

    async fn bind(&self, request: BindRequest) -> Result<(BindSlot, String), CommandStatus> {
        let result = self
            .ctx
            .accounts
            .authenticate(&request.system_id, &request.password, request.peer.ip())
            .await;
        let label = match &result {
            Ok(_) => "ok",
            Err(refusal) => refusal.label(),
        };
        metrics::counter!("tern_bind_attempts_total", "result" => label).increment(1);
        if let Err(refusal) = &result {
            warn!(system_id = request.system_id, peer = %request.peer, %refusal, "bind refused");
        }
        result
            .map(|slot| (slot, "tern".to_owned()))
            .map_err(|refusal| refusal.smpp_status())
    }

    fn session(
        self: &Arc<Self>,
        slot: BindSlot,
        kind: BindKind,
        handle: SessionHandle,
        events: mpsc::Receiver<SessionEvent>,
    ) {
        let unbind = handle.clone();
        let started = self.sessions.cast(SessionSupervisorMsg::Start {
            slot,
            kind,
            handle,
            events,
        });
        if !started {
            warn!("session supervisor not running; unbinding the customer");
            tokio::spawn(async move { unbind.unbind().await });
        }
    }
}
