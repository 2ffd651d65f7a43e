//! SMGP and CNGP customers (SPs) in the gateway's pipeline, generic over a [`Serving`]
//! protocol: Logins admitted against the accounts, Submits handed to the customer's session
//! under a MsgID of this node, a text part of a long message held to be joined with the
//! others, and receipts and MO sent back as Deliver (IsReport 1 for a status report).
//!
//! An SP logs in with ClientID = its account id and the account's shared secret for the
//! protocol (`tern_ledger::SMGP`, `tern_ledger::CNGP`). The Login authenticator is an MD5
//! over that secret, so the secret is kept as given rather than hashed. Built with the
//! `gateway` feature.

use std::sync::Arc;

use futures::future::BoxFuture;
use ractor::ActorRef;
use tern_actors::accept::refuse;
use tern_actors::accounts::{BindRefusal, BindSlot};
use tern_actors::parts::{Hold, MAX_TOTAL};
use tern_actors::protocol::{CustomerLink, StillOurs};
use tern_actors::session::{SessionMsg, Submit};
use tern_actors::Sessions;
use tern_cn::msgid::bcd::MsgId;
use tern_cn::msgid::durable::{DurableGenerator, StartError};
use tern_model::{now_ms, ConcatRef, DeliveryReport, Message, Rejection};
use tern_storage::{HeldDelivery, HeldKind};
use tokio::sync::mpsc;
use tracing::{debug, warn, Instrument};

use super::carrier::{status_for, Carrying};
use super::{AuthFailure, Handler, LoginRequest, SessionEvent, SessionHandle};

/// Status 11 in SMGP 3.0 and CNGP 2.0: a request this side does not take.
const BAD_COMMAND: u32 = 11;

/// What the customer side needs of a protocol beyond the carrier side.
pub trait Serving: Carrying {
    /// The key of the account's shared secret for this protocol (`tern_ledger::SMGP`).
    const SECRET: &'static str;

    /// The body of a request.
    fn body(pdu: Self::Pdu) -> Option<Self::Body>;
    /// The concatenation and the octets after the UDH of a Submit that is one text part of
    /// a longer message.
    fn text_part(submit: &Self::Body) -> Option<(ConcatRef, Vec<u8>)>;
    /// The message the joined octets of every part make, given the first part.
    fn joined(first: &Message, octets: &[u8]) -> Option<Message>;
    /// The Submit_Resp with `status` and, when accepted, `msg_id`.
    fn submit_resp(sequence: u32, msg_id: MsgId, status: u32) -> Self::Pdu;
    /// The status a response carries.
    fn response_status(pdu: &Self::Pdu) -> Option<u32>;
    /// The Deliver (IsReport 1) carrying `report` on the message the customer knows as
    /// `reported`; `own` is the Deliver's own MsgID.
    fn report_deliver(
        report: &DeliveryReport,
        reported: MsgId,
        message: &Message,
        own: MsgId,
        now_unix: i64,
    ) -> Result<Self::Body, String>;
    /// The Delivers of an MO, one per part, each with an id from `ids`.
    fn mo_delivers(
        message: &Message,
        options: &Self::Options,
        reference: u8,
        now_unix: i64,
        ids: &mut dyn FnMut() -> MsgId,
    ) -> Result<Vec<Self::Body>, String>;
}

/// Why a front end cannot start.
#[derive(Debug, thiserror::Error)]
pub enum FrontendError {
    #[error("the gateway code {0} does not fit a MsgID")]
    GatewayCode(u32),
    #[error("the MsgID reservation cannot be read or written: {0}")]
    Store(tern_storage::StoreError),
}

/// The MsgIDs SPs are given, their reservation kept in the store.
type MsgIds = DurableGenerator<MsgId>;

/// The server's handler: Logins are checked against the accounts, logged-in SPs become
/// customer sessions of the pipeline.
pub struct Frontend<P: Serving> {
    sessions: Sessions,
    /// How MO is split and rendered for these customers.
    options: P::Options,
    /// The MsgIDs SPs are given, under this node's gateway code.
    ids: Arc<MsgIds>,
}

impl<P: Serving> std::fmt::Debug for Frontend<P> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Frontend")
            .field("protocol", &P::NAME)
            .field("options", &self.options)
            .finish_non_exhaustive()
    }
}

impl<P: Serving> Frontend<P> {
    /// `ismg_code`: the gateway code in the MsgIDs this node issues, unique per node. The
    /// MsgIDs are reserved ahead in the store ([`tern_cn::msgid::durable`]), so a restart
    /// carries on within the same minute instead of answering "busy" until the next.
    pub async fn new(
        sessions: Sessions,
        options: P::Options,
        ismg_code: u32,
    ) -> Result<Self, FrontendError> {
        let ctx = &sessions.ctx;
        // Every id of an earlier run was below the floor; 0 on a new store.
        let floor = match ctx.id_floor.0 {
            0 => 0,
            _ => (ctx.id_floor.unix_millis() / 1000) as i64,
        };
        let ids = DurableGenerator::start(ctx.store.clone(), P::NAME, ismg_code, floor)
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

fn now_unix() -> i64 {
    i64::try_from(now_ms() / 1000).unwrap_or(i64::MAX)
}

impl<P: Serving> Handler<P> for Frontend<P> {
    type Grant = BindSlot;

    async fn login(&self, request: LoginRequest) -> Result<(BindSlot, String), u32> {
        let accounts = &self.sessions.ctx.accounts;
        let outcome = accounts.admit(&request.client_id, request.peer.ip());
        let label = match &outcome {
            Ok(_) => "ok",
            Err(BindRefusal::LockedOut(_)) => "locked",
            Err(_) => "refused",
        };
        metrics::counter!(P::NAMES.login_attempts_total, "result" => label).increment(1);
        let slot = outcome.map_err(|refusal| {
            warn!(client_id = request.client_id, peer = %request.peer, %refusal, "login refused");
            match refusal {
                BindRefusal::UnknownAccount => P::AUTH_FAILED,
                // A lockout, a disabled account or one over its connections: system busy
                // says nothing about the secret.
                _ => P::BUSY,
            }
        })?;
        let Some(secret) = slot.account.policy().secret(P::SECRET).map(str::to_owned) else {
            // An account without a secret for this protocol cannot authenticate with it.
            return Err(P::AUTH_FAILED);
        };
        Ok((slot, secret))
    }

    fn authentication_failed(&self, request: &LoginRequest, failure: AuthFailure, _: &BindSlot) {
        // A stale timestamp comes with the right secret (a replay or a clock far off): it
        // guesses nothing, and counting it would let a replay lock the SP out.
        if failure == AuthFailure::Authenticator {
            let accounts = &self.sessions.ctx.accounts;
            accounts.authentication_failed(&request.client_id, request.peer.ip(), P::SECRET);
        }
    }

    fn session(
        self: &Arc<Self>,
        slot: BindSlot,
        _login: LoginRequest,
        handle: SessionHandle<P>,
        events: mpsc::Receiver<SessionEvent<P::Pdu>>,
    ) {
        let account = slot.account.id.clone();
        let link = Arc::new(CustomerLinkOf::<P> {
            handle: handle.clone(),
            options: self.options.clone(),
            ids: self.ids.clone(),
        });
        let sessions = self.sessions.clone();
        let ids = self.ids.clone();
        let span = tracing::info_span!("customer", account, kind = P::NAME);
        tokio::spawn(
            async move {
                let Some(session) = sessions.start(slot, link).await else {
                    warn!("customer session did not start; the customer is sent Exit");
                    handle.exit().await;
                    return;
                };
                let customer = Customer {
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

/// One logged-in SP, as the pipeline delivers to it.
struct CustomerLinkOf<P: Serving> {
    handle: SessionHandle<P>,
    options: P::Options,
    ids: Arc<MsgIds>,
}

impl<P: Serving> CustomerLinkOf<P> {
    fn next_id(&self) -> MsgId {
        self.ids.next(now_unix()).unwrap_or(MsgId::ZERO)
    }

    /// The Delivers of one held receipt or MO.
    fn render(&self, item: &HeldDelivery) -> Result<Vec<P::Body>, String> {
        let now = now_unix();
        match (&item.kind, &item.report) {
            // One report per MsgID the customer was given: a long message it sent in parts
            // that was joined here carries the MsgID of every part.
            (HeldKind::Receipt, Some(report)) => report
                .message_id
                .split_whitespace()
                .map(|id| {
                    let wire = id.parse::<u64>().unwrap_or(item.key);
                    let reported = MsgId::from_u64(wire).unwrap_or(MsgId::ZERO);
                    P::report_deliver(report, reported, &item.message, self.next_id(), now)
                })
                .collect(),
            _ => {
                let reference = (item.key & 0xff) as u8;
                let mut ids = || self.next_id();
                P::mo_delivers(&item.message, &self.options, reference, now, &mut ids)
            }
        }
    }
}

impl<P: Serving> CustomerLink for CustomerLinkOf<P> {
    fn protocol(&self) -> &'static str {
        P::NAME
    }

    fn kind(&self) -> &'static str {
        P::NAME
    }

    fn can_receive(&self) -> bool {
        true
    }

    fn status(&self, rejection: Rejection) -> u32 {
        status_for(rejection)
    }

    /// Renders a receipt or MO as Delivers and sends them.
    fn deliver(&self, item: Arc<HeldDelivery>, still_ours: StillOurs) -> BoxFuture<'static, bool> {
        let delivers = self.render(&item);
        let handle = self.handle.clone();
        let span = tracing::info_span!("deliver", protocol = P::NAME, message_id = item.key);
        Box::pin(
            async move {
                let delivers = match delivers {
                    Ok(delivers) => delivers,
                    Err(error) => {
                        warn!(%error, "held delivery cannot be rendered; dropped");
                        return true;
                    }
                };
                for deliver in delivers {
                    let still = still_ours.clone();
                    let answer = handle.request_if(deliver, move || still()).await;
                    let accepted = answer.ok().and_then(|pdu| P::response_status(&pdu));
                    if accepted != Some(P::OK) {
                        return false;
                    }
                }
                true
            }
            .instrument(span),
        )
    }

    fn unbind(&self) -> BoxFuture<'static, ()> {
        let handle = self.handle.clone();
        Box::pin(async move { handle.exit().await })
    }
}

/// The requests of one logged-in SP, until its connection closes.
struct Customer<P: Serving> {
    handle: SessionHandle<P>,
    session: ActorRef<SessionMsg>,
    ids: Arc<MsgIds>,
}

impl<P: Serving> Customer<P> {
    async fn serve(self, mut events: mpsc::Receiver<SessionEvent<P::Pdu>>) {
        while let Some(event) = events.recv().await {
            let alive = match event {
                SessionEvent::Request(pdu) => self.request(pdu),
                SessionEvent::Closed { reason } => {
                    debug!(?reason, "customer session closed");
                    let _ = self.session.cast(SessionMsg::Closed(format!("{reason:?}")));
                    false
                }
                SessionEvent::LateResponse(_) => true,
            };
            if !alive {
                break;
            }
        }
    }

    /// Hands on one request; false when the session is gone.
    fn request(&self, pdu: P::Pdu) -> bool {
        let sequence = P::sequence(&pdu);
        let Some((command, _)) = P::command(&pdu) else {
            return true;
        };
        if command != super::Command::Submit {
            // An SP sends Submits; a Deliver from it has no meaning here: status 11, a
            // request id (SMGP) or command (CNGP) not taken.
            if let Some(response) = P::response_for(&pdu, BAD_COMMAND) {
                self.handle.respond(response);
            }
            return true;
        }
        let Some(body) = P::body(pdu) else {
            return true;
        };
        self.submit(sequence, &body)
    }

    fn submit(&self, sequence: u32, submit: &P::Body) -> bool {
        let refuse_with = |status: u32| {
            self.handle
                .respond(P::submit_resp(sequence, MsgId::ZERO, status))
        };
        let now = now_unix();
        let messages = match P::parts(submit, now) {
            Ok(messages) => messages,
            Err(status) => {
                refuse_with(status);
                return self.refused(refuse(Rejection::Malformed, "malformed"), status);
            }
        };
        let Some(msg_id) = self.ids.next(now) else {
            // Every MsgID of this minute is given: the customer slows down.
            refuse_with(P::BUSY);
            return self.refused(refuse(Rejection::Throttled, "msg_id_space"), P::BUSY);
        };
        let wire_id = msg_id.to_u64().unwrap_or(0);
        // A text part of a long message to one destination is held to be joined with the
        // others (see tern_actors::parts); anything else goes as it is.
        let hold = match P::text_part(submit) {
            Some((concat, octets)) if messages.len() == 1 && concat.total <= MAX_TOTAL => {
                Some(Hold {
                    concat,
                    octets,
                    wire_id,
                    join: P::joined,
                })
            }
            _ => None,
        };
        let reply = self.handle.clone();
        let submit = Submit {
            messages,
            wire_ids: vec![wire_id],
            hold,
            respond: Box::new(move |outcome| {
                let response = match outcome {
                    Ok(_) => P::submit_resp(sequence, msg_id, P::OK),
                    Err(rejection) => P::submit_resp(sequence, MsgId::ZERO, status_for(rejection)),
                };
                reply.respond(response);
            }),
        };
        if self.session.cast(SessionMsg::Submit(submit)).is_err() {
            refuse_with(P::BUSY);
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
