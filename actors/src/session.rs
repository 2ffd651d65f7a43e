//! CustomerSession: one per bound customer, under the SessionSupervisor.
//!
//! The accept path of a submit: decode and validate, sender-id rules, split into the parts
//! an operator bills, routability, a quota debit for every part, a time-ordered id, then the
//! ACCEPTED records and pending entries go to the store — and only when the store reports
//! them durable does the customer get submit_sm_resp with the id and the dispatcher get the
//! message. Group commit lets one fsync cover the submits of many sessions.

use std::collections::HashMap;
use std::sync::Arc;

use ractor::{Actor, ActorProcessingErr, ActorRef, SupervisionEvent};
use tern_encoding::{Alphabet, ChoosePolicy};
use tern_model::{Address, Body, Coding, Message, MessageId, Npi, Ton};
use tern_smpp::mapping::{self, LinkOptions, ReceiptOptions};
use tern_smpp::net::{BindRequest, Handler, SessionEvent, SessionHandle};
use tern_smpp::rusmpp::pdus::{SubmitSm, SubmitSmResp};
use tern_smpp::session::{c_octet, error_response, BindKind};
use tern_smpp::{Command, CommandId, CommandStatus, Pdu};
use tern_storage::{
    HeldDelivery, HeldKind, MessageRecord, PendingEntry, RecordState, Transition, WriteOp,
};
use tokio::sync::mpsc;
use tracing::{debug, warn, Instrument};

use crate::accounts::{Account, BindSlot};
use crate::context::{now_ms, Context};
use crate::dispatcher::{DispatcherMsg, Job};
use crate::outbox::OutboxMsg;
use crate::quota::{Lease, Spend};

// Messages move once into the mailbox; boxing would cost an allocation per submit.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
pub enum SessionMsg {
    /// From the customer's connection.
    Event(SessionEvent),
    /// A receipt or MO to deliver on this bind.
    Deliver(Arc<HeldDelivery>),
}

pub struct CustomerSession;

pub struct CustomerState {
    ctx: Arc<Context>,
    account: Arc<Account>,
    _slot: BindSlot,
    kind: BindKind,
    handle: SessionHandle,
    lease: Lease,
    options: LinkOptions,
}

/// Why a submit was refused, with the status the customer gets.
struct Refusal {
    status: CommandStatus,
    reason: &'static str,
}

fn refuse(status: CommandStatus, reason: &'static str) -> Refusal {
    Refusal { status, reason }
}

impl CustomerState {
    async fn submit(&mut self, seq: u32, pdu: &SubmitSm) {
        let started = std::time::Instant::now();
        match self.accept(seq, pdu).await {
            Ok(()) => {}
            Err((refusal, message)) => {
                metrics::counter!(
                    "tern_submits_refused_total",
                    "reason" => refusal.reason,
                    "status" => format!("{:#04x}", u32::from(refusal.status))
                )
                .increment(1);
                debug!(reason = refusal.reason, status = ?refusal.status, "submit refused");
                self.handle
                    .respond(error_response(CommandId::SubmitSm, seq, refusal.status));
                if let Some(message) = message {
                    self.rejected_cdr(*message, refusal);
                }
            }
        }
        metrics::histogram!("tern_accept_processing_seconds")
            .record(started.elapsed().as_secs_f64());
    }

    /// Writes the CDR of a refused message. Best effort: the customer already has its answer.
    fn rejected_cdr(&self, message: Message, refusal: Refusal) {
        let now = now_ms();
        let id = self.ctx.ids.next();
        let record = MessageRecord {
            id,
            part: 0,
            parts: 1,
            account: self.account.id.clone(),
            message,
            state: RecordState::Rejected,
            history: vec![Transition {
                state: RecordState::Rejected,
                at_ms: now,
                detail: refusal.reason.to_owned(),
            }],
            attempts: 0,
            link: None,
            operator_id: None,
            error: Some(u32::from(refusal.status)),
            receipt: None,
            accepted_ms: now,
            expires_ms: now,
            wire_id: None,
        };
        let _ = self.ctx.store.write(
            vec![WriteOp::PutMessage(std::sync::Arc::new(record))],
            Box::new(|_| {}),
        );
    }

    async fn accept(
        &mut self,
        seq: u32,
        pdu: &SubmitSm,
    ) -> Result<(), (Refusal, Option<Box<Message>>)> {
        let now = now_ms();
        let mut message = mapping::submit_sm_to_message(pdu, &self.options, (now / 1000) as i64)
            .map_err(|e| {
                (
                    Refusal {
                        status: e.status(),
                        reason: "malformed",
                    },
                    Some(Box::new(raw_message(pdu))),
                )
            })?;
        let fail = |status, reason, message: &Message| {
            Err((refuse(status, reason), Some(Box::new(message.clone()))))
        };
        let policy = self.account.policy();
        if !policy.enabled {
            return fail(CommandStatus::EsmeRsubmitfail, "account_disabled", &message);
        }
        if !self.account.admit() {
            return Err((refuse(CommandStatus::EsmeRthrottled, "account_tps"), None));
        }
        if message.destination.validate(20).is_err() {
            return fail(CommandStatus::EsmeRinvdstadr, "bad_destination", &message);
        }
        if message.source.validate(20).is_err() || !policy.sender_allowed(&message.source) {
            return fail(
                CommandStatus::EsmeRinvsrcadr,
                "sender_not_allowed",
                &message,
            );
        }
        if policy.transliterate {
            transliterate(&mut message);
        }
        let routes = self.ctx.routes();
        let Some(route) = routes.route_for(&self.account.id, message.destination.digits()) else {
            return fail(CommandStatus::EsmeRinvdstadr, "no_route", &message);
        };
        let parts = match split(&message, &self.options) {
            Ok(parts) => parts,
            Err(status) => return fail(status, "cannot_split", &message),
        };
        let price = self.ctx.ledger.price(
            &self.account.id,
            Some(&route.name),
            message.destination.digits(),
        );
        let cost = price.saturating_mul(parts.len() as i64);
        match self.lease.spend(&self.ctx, parts.len() as u64, cost).await {
            Spend::Granted => {}
            Spend::OverQuota => {
                return fail(CommandStatus::EsmeRsubmitfail, "over_quota", &message)
            }
            Spend::NoCredit => return fail(CommandStatus::EsmeRsubmitfail, "no_credit", &message),
            Spend::Unavailable => {
                return Err((
                    refuse(CommandStatus::EsmeRthrottled, "quota_unavailable"),
                    None,
                ))
            }
        }
        let id = self.ctx.ids.next();
        let max = now + self.ctx.settings.max_validity.as_millis() as u64;
        let expires_ms = message
            .validity_unix
            .map(|v| (v.max(0) as u64).saturating_mul(1000).min(max))
            .unwrap_or(now + self.ctx.settings.default_validity.as_millis() as u64);
        let due_ms = message
            .schedule_unix
            .map_or(0, |s| (s.max(0) as u64).saturating_mul(1000));
        let shard = self.ctx.shard_of(id);
        let count = parts.len() as u8;
        let records: Vec<Arc<MessageRecord>> = parts
            .into_iter()
            .enumerate()
            .map(|(i, part)| {
                Arc::new(MessageRecord {
                    id,
                    part: i as u8,
                    parts: count,
                    account: self.account.id.clone(),
                    message: part,
                    state: RecordState::Accepted,
                    history: vec![Transition {
                        state: RecordState::Accepted,
                        at_ms: now,
                        detail: String::new(),
                    }],
                    attempts: 0,
                    link: None,
                    operator_id: None,
                    error: None,
                    receipt: None,
                    accepted_ms: now,
                    expires_ms,
                    wire_id: None,
                })
            })
            .collect();
        let mut ops = Vec::with_capacity(records.len() * 2);
        for record in &records {
            ops.push(WriteOp::PutMessage(record.clone()));
            ops.push(WriteOp::AddPending(PendingEntry {
                shard,
                id,
                part: record.part,
                due_ms,
                attempts: 0,
            }));
        }
        let handle = self.handle.clone();
        let ctx = self.ctx.clone();
        let accepted_at = std::time::Instant::now();
        let written = self.ctx.store.write(
            ops,
            Box::new(move |result| match result {
                Ok(()) => {
                    handle.respond(submit_resp(seq, id));
                    metrics::histogram!("tern_accept_durable_seconds")
                        .record(accepted_at.elapsed().as_secs_f64());
                    metrics::counter!("tern_submits_accepted_total").increment(1);
                    if let Some(dispatcher) = ctx.refs.dispatcher(shard) {
                        // If the dispatcher is restarting it pages this message in.
                        dispatcher.cast(DispatcherMsg::Accepted(Job::new(records)));
                    }
                }
                Err(error) => {
                    warn!(%error, "accepted records not stored");
                    handle.respond(error_response(
                        CommandId::SubmitSm,
                        seq,
                        CommandStatus::EsmeRsyserr,
                    ));
                }
            }),
        );
        if written.is_err() {
            self.lease.refund(u64::from(count), cost);
            return Err((
                refuse(CommandStatus::EsmeRthrottled, "store_overloaded"),
                None,
            ));
        }
        Ok(())
    }

    fn deliver(&self, item: Arc<HeldDelivery>) {
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
        let handle = self.handle.clone();
        let ctx = self.ctx.clone();
        let account = self.account.id.clone();
        tokio::spawn(async move {
            let delivered = match pdus {
                Ok(pdus) => {
                    let mut ok = true;
                    for pdu in pdus {
                        match handle.request(pdu).await {
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

fn submit_resp(seq: u32, id: MessageId) -> Command {
    let resp = SubmitSmResp::builder()
        .message_id(c_octet(&id.to_decimal()))
        .build();
    Command::new(CommandStatus::EsmeRok, seq, resp)
}

/// UCS-2 text that GSM 7-bit carries without loss after transliteration goes as GSM.
fn transliterate(message: &mut Message) {
    if message.coding != Coding::Ucs2 || message.udh.is_some() || message.concat.is_some() {
        return;
    }
    let Body::Text(text) = &message.body else {
        return;
    };
    let policy = ChoosePolicy {
        allow_latin1: false,
        allow_ucs2: true,
        transliterate: true,
    };
    let choice = tern_encoding::choose(text, &policy);
    if choice.alphabet == Alphabet::Gsm7 && !choice.lossy {
        let text = choice.text.into_owned();
        message.body = Body::Text(text);
        message.coding = Coding::Gsm7;
        message.data_coding = 0;
        metrics::counter!("tern_transliterated_total").increment(1);
    }
}

/// The parts an operator bills for `message`: one when the customer already sent a part
/// (UDH or SAR), otherwise the split of the text.
fn split(message: &Message, options: &LinkOptions) -> Result<Vec<Message>, CommandStatus> {
    if message.udh.is_some() || message.concat.is_some() {
        return Ok(vec![message.clone()]);
    }
    // One part without splitting: 160 septets of GSM, 70 UCS-2 units, 140 octets.
    let one_part = match (&message.body, message.coding) {
        (Body::Text(text), Coding::Gsm7) => {
            tern_encoding::gsm7::septet_len(text).is_some_and(|n| n <= 160)
        }
        (Body::Text(text), Coding::Ucs2) => text.encode_utf16().count() <= 70,
        (Body::Text(text), _) => text.len() <= 140,
        (Body::Binary(data), _) => data.len() <= 140,
    };
    if one_part {
        return Ok(vec![message.clone()]);
    }
    let reference = (now_ms() & 0xffff) as u16;
    let pdus =
        mapping::message_to_submit_sm(message, options, reference).map_err(|e| e.status())?;
    if pdus.len() <= 1 {
        return Ok(vec![message.clone()]);
    }
    pdus.iter()
        .map(|pdu| {
            mapping::submit_sm_to_message(pdu, options, (now_ms() / 1000) as i64)
                .map_err(|e| e.status())
        })
        .collect()
}

impl Actor for CustomerSession {
    type Msg = SessionMsg;
    type State = CustomerState;
    type Arguments = (Arc<Context>, BindSlot, BindKind, SessionHandle);

    async fn pre_start(
        &self,
        myself: ActorRef<SessionMsg>,
        (ctx, slot, kind, handle): Self::Arguments,
    ) -> Result<CustomerState, ActorProcessingErr> {
        let account = slot.account.clone();
        if kind.can_receive() {
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
            kind,
            handle,
            lease,
            options: LinkOptions::default(),
        })
    }

    async fn post_stop(
        &self,
        myself: ActorRef<SessionMsg>,
        state: &mut CustomerState,
    ) -> Result<(), ActorProcessingErr> {
        state.lease.release();
        if state.kind.can_receive() {
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
                    _ => {
                        let status = match command.id() {
                            CommandId::QuerySm => CommandStatus::EsmeRqueryfail,
                            CommandId::CancelSm => CommandStatus::EsmeRcancelfail,
                            CommandId::ReplaceSm => CommandStatus::EsmeRreplacefail,
                            _ => CommandStatus::EsmeRsubmitfail,
                        };
                        state
                            .handle
                            .respond(error_response(command.id(), seq, status));
                    }
                }
            }
            SessionMsg::Event(SessionEvent::LateResponse { .. }) => {}
            SessionMsg::Event(SessionEvent::Closed { reason }) => {
                debug!(?reason, "customer session closed");
                myself.stop(None);
            }
            SessionMsg::Deliver(item) => state.deliver(item),
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
    handle: SessionHandle,
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
        let (slot, kind, handle, mut events) = match message {
            SessionSupervisorMsg::Start {
                slot,
                kind,
                handle,
                events,
            } => (slot, kind, handle, events),
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
        let spawned = Actor::spawn_linked(
            None,
            CustomerSession,
            (state.ctx.clone(), slot, kind, handle.clone()),
            myself.get_cell(),
        )
        .await;
        let session = match spawned {
            Ok((session, _)) => session,
            Err(error) => {
                warn!(account, %error, "customer session did not start");
                handle.unbind().await;
                return Ok(());
            }
        };
        let info = SessionInfo {
            id: session.get_id().pid(),
            account: account.clone(),
            kind: kind.as_str(),
            peer,
            since_ms: now_ms(),
        };
        state
            .sessions
            .insert(session.get_id(), Bound { info, handle });
        let span = tracing::info_span!("customer", account, kind = kind.as_str());
        tokio::spawn(
            async move {
                while let Some(event) = events.recv().await {
                    let closed = matches!(event, SessionEvent::Closed { .. });
                    if session.cast(SessionMsg::Event(event)).is_err() || closed {
                        break;
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
    pub sessions: ActorRef<SessionSupervisorMsg>,
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
            Err(CommandStatus::EsmeRinvsysid) => "unknown_account",
            Err(CommandStatus::EsmeRinvpaswd) => "bad_password",
            Err(_) => "refused",
        };
        metrics::counter!("tern_bind_attempts_total", "result" => label).increment(1);
        if let Err(status) = &result {
            warn!(system_id = request.system_id, peer = %request.peer, ?status, "bind refused");
        }
        result.map(|slot| (slot, "tern".to_owned()))
    }

    fn session(
        self: &Arc<Self>,
        slot: BindSlot,
        kind: BindKind,
        handle: SessionHandle,
        events: mpsc::Receiver<SessionEvent>,
    ) {
        let _ = self.sessions.cast(SessionSupervisorMsg::Start {
            slot,
            kind,
            handle,
            events,
        });
    }
}
