//! CMPP customers (SPs): CONNECTs admitted against the accounts, and what a connected SP
//! asks of the pipeline. SUBMITs go to its session under a CMPP Msg_Id, a text part of a
//! long message held to be joined with the others; QUERY and CANCEL are answered from the
//! store; receipts and MO go back as DELIVERs.
//!
//! A CMPP account is an account with a CMPP shared secret: its Source_Addr (the SP's
//! enterprise code) is the account id. The CONNECT authenticator is an MD5 over that
//! secret, so the secret is kept as given rather than hashed.

use std::sync::Arc;

use futures::future::BoxFuture;
use ractor::ActorRef;
use tern_actors::accept::refuse;
use tern_actors::accounts::{BindRefusal, BindSlot};
use tern_actors::context::Context;
use tern_actors::parts::{Hold, MAX_TOTAL};
use tern_actors::protocol::{CustomerLink, StillOurs};
use tern_actors::session::{SessionMsg, Submit};
use tern_actors::Sessions;
use tern_cn::msgid::durable::{DurableGenerator, StartError};
use tern_model::{now_ms, Message, Rejection};
use tern_storage::{HeldDelivery, HeldKind};
use tokio::sync::mpsc;
use tracing::{debug, warn, Instrument};

use super::query::query_counts;
use crate::codec::{CancelResp, SubmitResp};
use crate::mapping;
use crate::msgid::MsgId;
use crate::net::{AuthFailure, ConnectRequest, Handler, SessionEvent, SessionHandle};
use crate::{result, Body, Pdu, Version};

/// The CMPP result a customer gets for a refusal.
pub fn result_for(rejection: Rejection) -> u32 {
    match rejection {
        Rejection::Throttled => result::FLOW_CONTROL,
        Rejection::InvalidDestination => 13,
        Rejection::InvalidSource => 10,
        Rejection::CannotSplit | Rejection::Malformed => result::BAD_MSG_LENGTH,
        // Over the message limit, out of credit, account disabled: "no authority" (9).
        Rejection::NotAllowed | Rejection::SystemError => 9,
    }
}

/// Why the CMPP front end cannot start.
#[derive(Debug, thiserror::Error)]
pub enum FrontendError {
    #[error("the CMPP gateway code {0} does not fit 22 bits")]
    GatewayCode(u32),
    #[error("the Msg_Id reservation cannot be read or written: {0}")]
    Store(tern_storage::StoreError),
}

/// The Msg_Ids SPs are given, their reservation kept in the store.
type MsgIds = DurableGenerator<MsgId>;

/// The CMPP server's handler: CONNECTs are checked against the accounts, connected SPs
/// become customer sessions of the pipeline.
#[derive(Debug)]
pub struct CmppFrontend {
    sessions: Sessions,
    /// How text is split and rendered for these customers (the version is the session's).
    options: mapping::LinkOptions,
    /// The Msg_Ids SPs are given, under this node's gateway code.
    ids: Arc<MsgIds>,
}

impl CmppFrontend {
    /// `gateway_code`: the 22-bit code in the Msg_Ids this node issues, unique per node.
    /// The Msg_Ids are reserved ahead in the store ([`tern_cn::msgid::durable`]), so a
    /// restart carries on within the same second instead of refusing until the next.
    pub async fn new(
        sessions: Sessions,
        options: mapping::LinkOptions,
        gateway_code: u32,
    ) -> Result<Self, FrontendError> {
        let ctx = &sessions.ctx;
        // Every id of an earlier run was below the floor; 0 on a new store.
        let floor = match ctx.id_floor.0 {
            0 => 0,
            _ => (ctx.id_floor.unix_millis() / 1000) as i64,
        };
        let ids = DurableGenerator::start(ctx.store.clone(), "cmpp", gateway_code, floor)
            .await
            .map_err(|error| match error {
                StartError::GatewayCode(code) => FrontendError::GatewayCode(code),
                StartError::Store(error) => FrontendError::Store(error),
            })?;
        Ok(Self {
            sessions,
            options,
            ids,
        })
    }
}

impl Handler for CmppFrontend {
    type Grant = BindSlot;

    async fn connect(&self, request: ConnectRequest) -> Result<(BindSlot, String), u32> {
        let outcome = self
            .sessions
            .ctx
            .accounts
            .admit(&request.source_addr, request.peer.ip());
        let label = match &outcome {
            Ok(_) => "ok",
            Err(BindRefusal::LockedOut(_)) => "locked",
            Err(_) => "refused",
        };
        metrics::counter!("tern_cmpp_connect_attempts_total", "result" => label).increment(1);
        let slot = outcome.map_err(|refusal| {
            warn!(source_addr = request.source_addr, peer = %request.peer, %refusal, "CMPP connect refused");
            match refusal {
                BindRefusal::UnknownAccount => result::BAD_SOURCE_ADDR,
                // A lockout is "other error" (5), as a disabled account: it says nothing
                // about the secret.
                _ => 5,
            }
        })?;
        let Some(secret) = slot.account.policy().secret("cmpp").map(str::to_owned) else {
            // An account without a CMPP secret cannot authenticate over CMPP.
            return Err(result::AUTH_FAILED);
        };
        Ok((slot, secret))
    }

    fn authentication_failed(
        &self,
        request: &ConnectRequest,
        failure: AuthFailure,
        _slot: &BindSlot,
    ) {
        // A timestamp outside the window comes with the right secret (a replay or a clock
        // far off): it guesses nothing, and counting it would let a replay lock the SP out.
        if failure == AuthFailure::Authenticator {
            self.sessions.ctx.accounts.authentication_failed(
                &request.source_addr,
                request.peer.ip(),
                "cmpp",
            );
        }
    }

    fn session(
        self: &Arc<Self>,
        slot: BindSlot,
        version: Version,
        handle: SessionHandle,
        events: mpsc::Receiver<SessionEvent>,
    ) {
        let mut options = self.options.clone();
        options.version = version;
        let account = slot.account.id.clone();
        let link = Arc::new(CmppCustomer {
            handle: handle.clone(),
            options,
            ids: self.ids.clone(),
        });
        let sessions = self.sessions.clone();
        let ids = self.ids.clone();
        let span = tracing::info_span!("customer", account, kind = "cmpp");
        tokio::spawn(
            async move {
                let Some(session) = sessions.start(slot, link).await else {
                    warn!("customer session did not start; terminating the CMPP customer");
                    handle.terminate().await;
                    return;
                };
                let customer = Customer {
                    ctx: sessions.ctx.clone(),
                    account,
                    handle,
                    session,
                    ids,
                };
                customer.serve(events).await;
            }
            .instrument(span),
        );
    }
}

/// One connected SP, as the pipeline delivers to it.
struct CmppCustomer {
    handle: SessionHandle,
    options: mapping::LinkOptions,
    ids: Arc<MsgIds>,
}

impl CmppCustomer {
    fn next_id(&self) -> u64 {
        self.ids
            .next((now_ms() / 1000) as i64)
            .map_or(0, |id| id.to_u64())
    }
}

impl CustomerLink for CmppCustomer {
    fn protocol(&self) -> &'static str {
        "cmpp"
    }

    fn kind(&self) -> &'static str {
        "cmpp"
    }

    fn can_receive(&self) -> bool {
        true
    }

    fn status(&self, rejection: Rejection) -> u32 {
        result_for(rejection)
    }

    /// Renders a receipt or MO as DELIVERs and sends them.
    fn deliver(&self, item: Arc<HeldDelivery>, still_ours: StillOurs) -> BoxFuture<'static, bool> {
        let options = &self.options;
        let delivers = match (&item.kind, &item.report) {
            // One report per Msg_Id the customer was given: a long message it sent in parts
            // that was joined here carries the Msg_Id of every part.
            (HeldKind::Receipt, Some(report)) => report
                .message_id
                .split_whitespace()
                .map(|id| id.parse::<u64>().unwrap_or(item.key))
                .map(|msg_id| {
                    let cmpp_report =
                        mapping::domain_to_report(report, msg_id, &item.message.destination.value);
                    mapping::report_deliver(
                        &cmpp_report,
                        options.version,
                        self.next_id(),
                        &item.message.source.value,
                        &options.service_id,
                    )
                })
                .collect(),
            _ => mapping::message_to_delivers(&item.message, options, (item.key & 0xff) as u8).map(
                |mut delivers| {
                    // Each MO part gets a Msg_Id of its own.
                    for deliver in &mut delivers {
                        deliver.msg_id = self.next_id();
                    }
                    delivers
                },
            ),
        };
        let handle = self.handle.clone();
        Box::pin(async move {
            let delivers = match delivers {
                Ok(delivers) => delivers,
                Err(error) => {
                    warn!(%error, key = item.key, "held delivery cannot be rendered for CMPP; dropped");
                    return true;
                }
            };
            for deliver in delivers {
                let still = still_ours.clone();
                match handle
                    .request_if(Body::Deliver(deliver), move || still())
                    .await
                {
                    Ok(Pdu {
                        body: Body::DeliverResp(resp),
                        ..
                    }) if resp.result == result::OK => {}
                    _ => return false,
                }
            }
            true
        })
    }

    fn unbind(&self) -> BoxFuture<'static, ()> {
        let handle = self.handle.clone();
        Box::pin(async move { handle.terminate().await })
    }
}

/// The requests of one connected SP, until its connection closes.
struct Customer {
    ctx: Arc<Context>,
    account: String,
    handle: SessionHandle,
    session: ActorRef<SessionMsg>,
    ids: Arc<MsgIds>,
}

impl Customer {
    async fn serve(self, mut events: mpsc::Receiver<SessionEvent>) {
        while let Some(event) = events.recv().await {
            let alive = match event {
                SessionEvent::Request(pdu) => self.request(pdu),
                SessionEvent::Closed { reason } => {
                    debug!(?reason, "CMPP customer session closed");
                    let _ = self.session.cast(SessionMsg::Closed(format!("{reason:?}")));
                    false
                }
                _ => true,
            };
            if !alive {
                break;
            }
        }
    }

    fn respond(&self, sequence_id: u32, body: Body) {
        self.handle.respond(Pdu { sequence_id, body });
    }

    /// Hands on one request; false when the session is gone.
    fn request(&self, pdu: Pdu) -> bool {
        let sequence_id = pdu.sequence_id;
        match pdu.body {
            Body::Submit(submit) => return self.submit(sequence_id, &submit),
            Body::Query(query) => {
                let (ctx, account, handle) =
                    (self.ctx.clone(), self.account.clone(), self.handle.clone());
                tokio::spawn(async move {
                    let counts = query_counts(&ctx, &account, &query).await;
                    handle.respond(Pdu {
                        sequence_id,
                        body: Body::QueryResp(counts),
                    });
                });
            }
            Body::Cancel(cancel) => {
                let (ctx, account, handle) =
                    (self.ctx.clone(), self.account.clone(), self.handle.clone());
                tokio::spawn(async move {
                    let cancelled = cancel_by_msg_id(&ctx, &account, cancel.msg_id).await;
                    metrics::counter!("tern_cmpp_cancels_total", "result" => if cancelled { "cancelled" } else { "failed" })
                        .increment(1);
                    // Success_Id: 0 withdrawn, 1 not (unknown, already sent or final).
                    let success_id = u32::from(!cancelled);
                    handle.respond(Pdu {
                        sequence_id,
                        body: Body::CancelResp(CancelResp { success_id }),
                    });
                });
            }
            Body::Deliver(deliver) => {
                self.handle.respond(super::carrier::deliver_resp(
                    sequence_id,
                    deliver.msg_id,
                    result::BAD_COMMAND,
                ));
            }
            other => debug!(?other, "CMPP request ignored"),
        }
        true
    }

    fn submit(&self, sequence_id: u32, submit: &crate::codec::Submit) -> bool {
        let refuse_with = |result: u32| {
            self.respond(
                sequence_id,
                Body::SubmitResp(SubmitResp { msg_id: 0, result }),
            )
        };
        let now = (now_ms() / 1000) as i64;
        let messages = match mapping::submit_to_messages(submit, self.handle.version(), now) {
            Ok(messages) => messages,
            Err(error) => {
                let status = error.result();
                refuse_with(status);
                return self.refused(refuse(Rejection::Malformed, "malformed"), status);
            }
        };
        let Some(msg_id) = self.ids.next(now).map(|id| id.to_u64()) else {
            // 65,536 Msg_Ids in this second already: the customer slows down.
            refuse_with(result::FLOW_CONTROL);
            return self.refused(
                refuse(Rejection::Throttled, "msg_id_space"),
                result::FLOW_CONTROL,
            );
        };
        // A text part of a long message to one destination is held to be joined with the
        // others (see tern_actors::parts); anything else goes as it is.
        let hold = match mapping::text_part(submit) {
            Some((concat, octets)) if messages.len() == 1 && concat.total <= MAX_TOTAL => {
                Some(Hold {
                    concat,
                    octets: octets.to_vec(),
                    wire_id: msg_id,
                    join,
                })
            }
            _ => None,
        };
        let reply = self.handle.clone();
        let submit = Submit {
            messages,
            wire_ids: vec![msg_id],
            hold,
            respond: Box::new(move |outcome| {
                let body = match outcome {
                    Ok(_) => SubmitResp {
                        msg_id,
                        result: result::OK,
                    },
                    Err(rejection) => SubmitResp {
                        msg_id: 0,
                        result: result_for(rejection),
                    },
                };
                reply.respond(Pdu {
                    sequence_id,
                    body: Body::SubmitResp(body),
                });
            }),
        };
        if self.session.cast(SessionMsg::Submit(submit)).is_err() {
            refuse_with(9);
            return false;
        }
        true
    }

    /// Counts a refusal this connector answered itself; false when the session is gone.
    fn refused(&self, refusal: tern_actors::accept::Refusal, status: u32) -> bool {
        self.session
            .cast(SessionMsg::Refused {
                refusal,
                status,
                message: None,
            })
            .is_ok()
    }
}

/// The message the text of every part makes, given the first part.
fn join(first: &Message, octets: &[u8]) -> Option<Message> {
    mapping::joined(first, octets).ok()
}

/// Withdraws the message a customer knows by `msg_id` while it has not reached an
/// operator. Msg_Ids carry the second they were given, so the message is among the
/// account's records accepted around that second; no index of Msg_Ids is kept.
async fn cancel_by_msg_id(ctx: &Arc<Context>, account: &str, msg_id: u64) -> bool {
    let now = (now_ms() / 1000) as i64;
    let Some(second) = MsgId::from_u64(msg_id).unix_second(now) else {
        return false;
    };
    let at_ms = u64::try_from(second).unwrap_or(0).saturating_mul(1000);
    // One second of one account; its Msg_Ids are unique within it.
    let records = ctx
        .store
        .messages_by_account(
            account,
            None,
            at_ms.saturating_sub(1000),
            at_ms + 2000,
            usize::from(u16::MAX) + 1,
        )
        .await;
    let found = records.ok().and_then(|records| {
        records
            .into_iter()
            .find(|r| r.wire_id == Some(msg_id))
            .map(|r| r.id)
    });
    match found {
        Some(id) => tern_actors::dispatcher::withdraw(ctx, id, "cancelled by the customer")
            .await
            .unwrap_or(false),
        None => false,
    }
}
