//! SMPP customers: binds checked against the accounts, and what a bound connection asks of
//! the pipeline. Submits go to the customer's session as domain messages and are answered
//! once durable; query_sm and cancel_sm are answered from the store; receipts and MO come
//! back as deliver_sm.

use std::sync::Arc;

use futures::future::BoxFuture;
use ractor::ActorRef;
use tern_actors::accept::refuse;
use tern_actors::accounts::BindSlot;
use tern_actors::protocol::{CustomerLink, StillOurs};
use tern_actors::session::{SessionMsg, Submit};
use tern_actors::Sessions;
use tern_model::{Address, Body, Coding, Message, MessageId, Npi, Rejection, Ton};
use tern_storage::{HeldDelivery, HeldKind};
use tokio::sync::mpsc;
use tracing::{debug, warn, Instrument};

use super::status::{bind_status, status_for};
use crate::mapping::{self, LinkOptions, ReceiptOptions};
use crate::net::{BindRequest, Handler, SessionEvent, SessionHandle};
use crate::rusmpp::pdus::{CancelSm, QuerySm, SubmitSm, SubmitSmResp};
use crate::session::{c_octet, error_response, BindKind};
use crate::{Command, CommandId, CommandStatus, Pdu};

/// The SMPP server's handler: binds are checked against the accounts, bound sessions
/// become customer sessions of the pipeline.
#[derive(Debug)]
pub struct SmppFrontend {
    pub sessions: Sessions,
}

impl Handler for SmppFrontend {
    type Grant = BindSlot;

    async fn bind(&self, request: BindRequest) -> Result<(BindSlot, String), CommandStatus> {
        let result = self
            .sessions
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
            .map_err(bind_status)
    }

    fn session(
        self: &Arc<Self>,
        slot: BindSlot,
        kind: BindKind,
        handle: SessionHandle,
        events: mpsc::Receiver<SessionEvent>,
    ) {
        let account = slot.account.id.clone();
        let link = Arc::new(SmppCustomer {
            kind,
            handle: handle.clone(),
        });
        let sessions = self.sessions.clone();
        let span = tracing::info_span!("customer", account, kind = kind.as_str());
        tokio::spawn(
            async move {
                let Some(session) = sessions.start(slot, link).await else {
                    warn!("customer session did not start; unbinding the customer");
                    handle.unbind().await;
                    return;
                };
                let customer = Customer {
                    sessions,
                    account,
                    handle,
                    session,
                };
                customer.serve(events).await;
            }
            .instrument(span),
        );
    }
}

/// One bound SMPP customer, as the pipeline delivers to it.
struct SmppCustomer {
    kind: BindKind,
    handle: SessionHandle,
}

impl CustomerLink for SmppCustomer {
    fn protocol(&self) -> &'static str {
        "smpp"
    }

    fn kind(&self) -> &'static str {
        self.kind.as_str()
    }

    fn can_receive(&self) -> bool {
        self.kind.can_receive()
    }

    fn status(&self, rejection: Rejection) -> u32 {
        u32::from(status_for(rejection))
    }

    fn deliver(&self, item: Arc<HeldDelivery>, still_ours: StillOurs) -> BoxFuture<'static, bool> {
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
                &LinkOptions::default(),
                (item.key & 0xffff) as u16,
            )
            .map(|parts| parts.into_iter().map(Pdu::from).collect()),
        };
        let handle = self.handle.clone();
        Box::pin(async move {
            let pdus = match pdus {
                Ok(pdus) => pdus,
                Err(error) => {
                    // It can never be rendered: drop it rather than retry forever.
                    warn!(%error, key = item.key, "held delivery cannot be rendered; dropped");
                    return true;
                }
            };
            for pdu in pdus {
                let still = still_ours.clone();
                match handle.request_if(pdu, move || still()).await {
                    Ok(response) if response.status() == CommandStatus::EsmeRok => {}
                    _ => return false,
                }
            }
            true
        })
    }

    fn unbind(&self) -> BoxFuture<'static, ()> {
        let handle = self.handle.clone();
        Box::pin(async move { handle.unbind().await })
    }
}

/// The requests of one bound customer, until its connection closes.
struct Customer {
    sessions: Sessions,
    account: String,
    handle: SessionHandle,
    session: ActorRef<SessionMsg>,
}

impl Customer {
    async fn serve(self, mut events: mpsc::Receiver<SessionEvent>) {
        while let Some(event) = events.recv().await {
            let alive = match event {
                SessionEvent::Request(command) => self.request(command),
                SessionEvent::LateResponse { .. } => true,
                SessionEvent::Closed { reason } => {
                    let _ = self.session.cast(SessionMsg::Closed(format!("{reason:?}")));
                    false
                }
            };
            if !alive {
                break;
            }
        }
    }

    /// Hands on one request; false when the session is gone.
    fn request(&self, command: Command) -> bool {
        let seq = command.sequence_number();
        match command.pdu() {
            Some(Pdu::SubmitSm(pdu)) => return self.submit(seq, pdu),
            Some(Pdu::QuerySm(pdu)) => self.query(seq, pdu),
            Some(Pdu::CancelSm(pdu)) => self.cancel(seq, pdu),
            _ => {
                let status = match command.id() {
                    CommandId::ReplaceSm => CommandStatus::EsmeRreplacefail,
                    _ => CommandStatus::EsmeRsubmitfail,
                };
                self.handle
                    .respond(error_response(command.id(), seq, status));
            }
        }
        true
    }

    fn submit(&self, seq: u32, pdu: &SubmitSm) -> bool {
        let now_unix = (tern_model::now_ms() / 1000) as i64;
        let handle = self.handle.clone();
        let message = match mapping::submit_sm_to_message(pdu, &LinkOptions::default(), now_unix) {
            Ok(message) => message,
            Err(error) => {
                let status = error.status();
                handle.respond(error_response(CommandId::SubmitSm, seq, status));
                return self
                    .session
                    .cast(SessionMsg::Refused {
                        refusal: refuse(Rejection::Malformed, "malformed"),
                        status: u32::from(status),
                        message: Some(Box::new(raw_message(pdu))),
                    })
                    .is_ok();
            }
        };
        let submit = Submit {
            messages: vec![message],
            wire_ids: Vec::new(),
            hold: None,
            respond: Box::new(move |result| {
                handle.respond(match result {
                    Ok(id) => submit_resp(seq, id),
                    Err(rejection) => {
                        error_response(CommandId::SubmitSm, seq, status_for(rejection))
                    }
                });
            }),
        };
        match self.session.cast(SessionMsg::Submit(submit)) {
            Ok(()) => true,
            Err(_) => {
                self.handle.respond(error_response(
                    CommandId::SubmitSm,
                    seq,
                    CommandStatus::EsmeRsyserr,
                ));
                false
            }
        }
    }

    /// Answers a query_sm for one of the account's messages: its state, final date and
    /// error (SMPP 3.4 §4.8); ESME_RQUERYFAIL for an id the account did not send.
    fn query(&self, seq: u32, pdu: &QuerySm) {
        let (ctx, account, handle) = (
            self.sessions.ctx.clone(),
            self.account.clone(),
            self.handle.clone(),
        );
        let wire_id = pdu.message_id.clone();
        let id = parse_message_id(wire_id.as_str());
        let span = tracing::debug_span!("query_sm", message_id = wire_id.as_str());
        tokio::spawn(
            async move {
                let standing = match id {
                    Some(id) => tern_actors::lookup::query(&ctx, &account, id).await,
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
        let (ctx, account, handle) = (
            self.sessions.ctx.clone(),
            self.account.clone(),
            self.handle.clone(),
        );
        let id = parse_message_id(pdu.message_id.as_str());
        let span = tracing::debug_span!("cancel_sm", message_id = pdu.message_id.as_str());
        tokio::spawn(
            async move {
                let cancelled = match id {
                    Some(id) => tern_actors::lookup::cancel(&ctx, &account, id).await,
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

fn submit_resp(seq: u32, id: MessageId) -> Command {
    let resp = SubmitSmResp::builder()
        .message_id(c_octet(&id.to_decimal()))
        .build();
    Command::new(CommandStatus::EsmeRok, seq, resp)
}
