//! SGIP customers (SPs): BINDs admitted against the accounts, SUBMITs handed to the
//! customer's session, receipts and MO sent back to the SP.
//!
//! An SGIP account is an account with a secret for protocol "sgip": the SP binds with
//! Login_Name = the account id and Login_Password = that secret (compared in constant
//! time). The SP binds with login type 1 and only sends on that connection; what the
//! gateway sends it (REPORTs for status reports, DELIVERs for MO) goes on a connection the
//! gateway opens to the SP's address in `deliver_to`, bound with login type 2 and the same
//! credentials. An account without a `deliver_to` address cannot receive: its receipts
//! and MO are held in the store (the customer link says `can_receive` false) until one is
//! configured and the SP binds again.
//!
//! A SUBMIT's message id is its sequence number, chosen by the SP, and a REPORT must name
//! it whole. The pipeline keeps a 64-bit id per message, so the timestamp and counter
//! words are kept there and the node id is the SP's, as its current session shows it (an
//! SP has one node id, SGIP 1.2 §3.3).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};

use futures::future::BoxFuture;
use ractor::ActorRef;
use tern_actors::accept::{refuse, Refusal};
use tern_actors::accounts::{BindRefusal, BindSlot};
use tern_actors::parts::{Hold, MAX_TOTAL};
use tern_actors::protocol::{CustomerLink, StillOurs};
use tern_actors::session::{SessionMsg, Submit as PipelineSubmit};
use tern_actors::Sessions;
use tern_model::{now_ms, Message, Rejection};
use tern_storage::{HeldDelivery, HeldKind};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{debug, warn, Instrument};

use crate::codec::{Response, Submit};
use crate::mapping::{self, LinkOptions};
use crate::msgid::SequenceNumber;
use crate::net::{
    BindRequest, Client, ClientConfig, ClientEvent, Handler, SessionEvent, SessionHandle,
};
use crate::{result, Body, LoginType, Pdu};

/// The protocol's name: the key of an account's SGIP secret, and the label of metrics.
pub const PROTOCOL: &str = "sgip";

/// The SGIP result a customer's SUBMIT gets for a refusal (SGIP 1.2 §5.2; codes 1 to 20
/// answer commands):
///
/// | Rejection            | Result | SGIP meaning                                   |
/// |----------------------|--------|------------------------------------------------|
/// | `Throttled`          | 11     | node busy: its queue is full, try again        |
/// | `InvalidDestination` | 6      | illegal phone number                           |
/// | `InvalidSource`      | 5      | a parameter outside its format or range        |
/// | `NotAllowed`         | 1      | illegal login: the account may not send this   |
/// | `CannotSplit`        | 8      | bad message length                             |
/// | `Malformed`          | 5      | a parameter outside its format or range        |
/// | `SystemError`        | 32     | system failure (an ErrorCode, used as a Result) |
pub fn result_for(rejection: Rejection) -> u8 {
    match rejection {
        Rejection::Throttled => result::NODE_BUSY,
        Rejection::InvalidDestination => result::ILLEGAL_PHONE_NUMBER,
        Rejection::InvalidSource | Rejection::Malformed => result::BAD_PARAMETER_FORMAT,
        Rejection::NotAllowed => result::ILLEGAL_LOGIN,
        Rejection::CannotSplit => result::BAD_LENGTH,
        Rejection::SystemError => result::SYSTEM_FAILURE,
    }
}

/// The pipeline's 64-bit id of a SUBMIT: its timestamp and counter words.
fn wire_id(sequence: SequenceNumber) -> u64 {
    u64::from(sequence.timestamp) << 32 | u64::from(sequence.sequence)
}

/// The SUBMIT's sequence number again, under the SP's node id.
fn sequence_of(node_id: u32, wire_id: u64) -> SequenceNumber {
    let word = |shift: u32| u32::try_from(wire_id >> shift & u64::from(u32::MAX)).unwrap_or(0);
    SequenceNumber::new(node_id, word(32), word(0))
}

/// The SGIP server's handler: type-1 BINDs are checked against the accounts, bound SPs
/// become customer sessions of the pipeline.
#[derive(Debug)]
pub struct SgipFrontend {
    sessions: Sessions,
    outbound: Arc<Outbound>,
}

/// The type-2 connections the gateway opens to its SPs, one per account, started when the
/// first receipt or MO is due.
#[derive(Debug)]
struct Outbound {
    /// How MO is split and rendered for these customers.
    options: LinkOptions,
    /// Our node id, in the sequence numbers of the REPORTs and DELIVERs we send.
    node_id: u32,
    deliver_to: HashMap<String, SocketAddr>,
    /// At most one per `deliver_to` entry.
    clients: Mutex<HashMap<String, DeliverLink>>,
    stop: CancellationToken,
    tasks: TaskTracker,
}

impl SgipFrontend {
    /// `node_id`: this node's SGIP node id. `deliver_to`: where each account's SP listens
    /// for the gateway's type-2 BIND; an account missing here has its receipts and MO held.
    pub fn new(
        sessions: Sessions,
        options: LinkOptions,
        node_id: u32,
        deliver_to: HashMap<String, SocketAddr>,
    ) -> Self {
        let outbound = Outbound {
            options,
            node_id,
            deliver_to,
            clients: Mutex::new(HashMap::new()),
            stop: CancellationToken::new(),
            tasks: TaskTracker::new(),
        };
        Self {
            sessions,
            outbound: Arc::new(outbound),
        }
    }
}

impl Drop for SgipFrontend {
    /// The connections to the SPs unbind with the listener that owns them.
    fn drop(&mut self) {
        self.outbound.stop.cancel();
    }
}

/// The type-2 link to one SP, and what it was started with.
#[derive(Debug)]
struct DeliverLink {
    client: Client,
    password: String,
    stop: CancellationToken,
}

impl Outbound {
    /// The type-2 link to `account`'s SP, started on first use (and again when the
    /// account's secret changed); `None` without an address.
    fn client(&self, account: &str, password: &str) -> Option<Client> {
        let addr = self.deliver_to.get(account)?;
        let mut clients = self.clients.lock().ok()?;
        match clients.get(account) {
            Some(link) if link.password == password => return Some(link.client.clone()),
            Some(stale) => stale.stop.cancel(),
            None => {}
        }
        let name = format!("sgip-deliver-{account}");
        let mut config = ClientConfig::new(name, addr.ip().to_string(), addr.port());
        config.login_name = account.to_owned();
        config.password = password.to_owned();
        config.login_type = LoginType::SmgToSp;
        config.node_id = self.node_id;
        let stop = self.stop.child_token();
        let (client, events) = Client::start(config, stop.clone(), &self.tasks);
        let span = tracing::info_span!("sgip_deliver_link", account);
        self.tasks.spawn(watch(events).instrument(span));
        let link = DeliverLink {
            client: client.clone(),
            password: password.to_owned(),
            stop,
        };
        clients.insert(account.to_owned(), link);
        Some(client)
    }
}

impl Outbound {
    /// `account`'s SP has bound again, so its listener is most likely back too: a type-2
    /// link that is down (waiting out its reconnect backoff, which grows to half a minute
    /// while the SP is away) is dropped, and the next delivery starts one that connects
    /// at once, instead of what is held waiting for the backoff to run out.
    fn renew(&self, account: &str) {
        let Ok(mut clients) = self.clients.lock() else {
            return;
        };
        if clients
            .get(account)
            .is_some_and(|link| !link.client.is_up())
        {
            if let Some(stale) = clients.remove(account) {
                debug!(account, "SP bound again; its delivery link starts afresh");
                stale.stop.cancel();
            }
        }
    }
}

/// Reads a type-2 link's events: the SP sends nothing on it, so they are only logged.
async fn watch(mut events: mpsc::Receiver<ClientEvent>) {
    while let Some(event) = events.recv().await {
        debug!(?event, "delivery link");
    }
}

impl Handler for SgipFrontend {
    type Grant = BindSlot;

    async fn bind(&self, request: BindRequest) -> Result<(BindSlot, String), u8> {
        if request.login_type != LoginType::SpToSmg {
            return Err(result::BAD_LOGIN_TYPE);
        }
        let accounts = &self.sessions.ctx.accounts;
        let outcome = accounts.admit(&request.login_name, request.peer.ip());
        let label = match &outcome {
            Ok(_) => "ok",
            Err(refusal) => refusal.label(),
        };
        metrics::counter!("tern_sgip_bind_attempts_total", "result" => label).increment(1);
        let slot = outcome.map_err(|refusal| {
            warn!(login_name = request.login_name, peer = %request.peer, %refusal, "SGIP bind refused");
            match refusal {
                BindRefusal::NotAllowed => result::TOO_MANY_CONNECTIONS,
                _ => result::ILLEGAL_LOGIN,
            }
        })?;
        let Some(secret) = slot.account.policy().secret(PROTOCOL).map(str::to_owned) else {
            // An account without an SGIP secret cannot bind over SGIP.
            return Err(result::ILLEGAL_LOGIN);
        };
        Ok((slot, secret))
    }

    fn authentication_failed(&self, request: &BindRequest, _slot: &BindSlot) {
        let accounts = &self.sessions.ctx.accounts;
        accounts.authentication_failed(&request.login_name, request.peer.ip(), PROTOCOL);
    }

    fn session(
        self: &Arc<Self>,
        slot: BindSlot,
        request: BindRequest,
        handle: SessionHandle,
        events: mpsc::Receiver<SessionEvent>,
    ) {
        let account = slot.account.id.clone();
        let password = slot
            .account
            .policy()
            .secret(PROTOCOL)
            .unwrap_or_default()
            .to_owned();
        self.outbound.renew(&account);
        let sp_node = Arc::new(AtomicU32::new(request.sequence.node_id));
        let link = Arc::new(SgipCustomer {
            account: account.clone(),
            password,
            handle: handle.clone(),
            outbound: self.outbound.clone(),
            sp_node: sp_node.clone(),
        });
        let sessions = self.sessions.clone();
        let span = tracing::info_span!("customer", account, kind = PROTOCOL);
        tokio::spawn(
            async move {
                let Some(session) = sessions.start(slot, link).await else {
                    warn!("customer session did not start; unbinding the SGIP customer");
                    handle.unbind().await;
                    return;
                };
                let customer = Customer {
                    handle,
                    session,
                    sp_node,
                };
                customer.serve(events).await;
            }
            .instrument(span),
        );
    }
}

/// One bound SP, as the pipeline delivers to it.
struct SgipCustomer {
    account: String,
    password: String,
    /// The SP's type-1 session: unbinding the customer ends it.
    handle: SessionHandle,
    outbound: Arc<Outbound>,
    /// The SP's node id, the first word of its SUBMITs' sequence numbers.
    sp_node: Arc<AtomicU32>,
}

/// The REPORTs or DELIVERs that carry `item` to an SP whose node id is `sp_node`.
fn render(
    item: &HeldDelivery,
    options: &LinkOptions,
    sp_node: u32,
) -> Result<Vec<Body>, mapping::MapError> {
    let (HeldKind::Receipt, Some(report)) = (&item.kind, &item.report) else {
        let reference = (item.key & 0xff) as u8;
        let delivers = mapping::message_to_delivers(&item.message, options, reference)?;
        return Ok(delivers.into_iter().map(Body::Deliver).collect());
    };
    // One REPORT per id the SP was given: a long message it sent in parts that was joined
    // here carries the id of every part.
    let destination = &item.message.destination;
    report
        .message_id
        .split_whitespace()
        .filter_map(|id| id.parse::<u64>().ok())
        .map(|id| {
            let sequence = sequence_of(sp_node, id);
            mapping::domain_to_report(report, sequence, destination).map(Body::Report)
        })
        .collect()
}

impl CustomerLink for SgipCustomer {
    fn protocol(&self) -> &'static str {
        PROTOCOL
    }

    fn kind(&self) -> &'static str {
        PROTOCOL
    }

    /// Only while the SP's address for type-2 BINDs is known.
    fn can_receive(&self) -> bool {
        self.outbound.deliver_to.contains_key(&self.account)
    }

    fn status(&self, rejection: Rejection) -> u32 {
        u32::from(result_for(rejection))
    }

    /// Sends a receipt as REPORTs, or an MO as DELIVERs, on the type-2 link to the SP.
    fn deliver(&self, item: Arc<HeldDelivery>, still_ours: StillOurs) -> BoxFuture<'static, bool> {
        let sp_node = self.sp_node.load(Ordering::Relaxed);
        let rendered = render(&item, &self.outbound.options, sp_node);
        let client = self.outbound.client(&self.account, &self.password);
        Box::pin(async move {
            let requests = match rendered {
                Ok(requests) => requests,
                Err(error) => {
                    warn!(%error, key = item.key, "held delivery cannot be rendered for SGIP; dropped");
                    return true;
                }
            };
            let Some(client) = client else {
                return false;
            };
            for request in requests {
                if !still_ours() {
                    return false;
                }
                let taken = match client.request(request).await {
                    Ok(Pdu {
                        body: Body::ReportResp(resp) | Body::DeliverResp(resp),
                        sequence,
                    }) => {
                        debug!(msg_id = %sequence, result = resp.result, "answered");
                        resp.result == result::OK
                    }
                    _ => false,
                };
                if !taken {
                    return false;
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

/// The SUBMITs of one bound SP, until its connection closes.
struct Customer {
    handle: SessionHandle,
    session: ActorRef<SessionMsg>,
    sp_node: Arc<AtomicU32>,
}

impl Customer {
    async fn serve(self, mut events: mpsc::Receiver<SessionEvent>) {
        while let Some(event) = events.recv().await {
            let alive = match event {
                SessionEvent::Request(Pdu {
                    sequence,
                    body: Body::Submit(submit),
                }) => {
                    let span = tracing::debug_span!("sgip_submit", msg_id = %sequence);
                    span.in_scope(|| self.submit(sequence, &submit))
                }
                SessionEvent::Request(other) => {
                    // The session lets only SUBMITs through on a type-1 link.
                    debug!(command = ?other.body.command_id(), "SGIP request ignored");
                    true
                }
                SessionEvent::LateResponse(_) => true,
                SessionEvent::Closed { reason } => {
                    debug!(?reason, "SGIP customer session closed");
                    let _ = self.session.cast(SessionMsg::Closed(format!("{reason:?}")));
                    false
                }
            };
            if !alive {
                break;
            }
        }
    }

    fn respond(&self, sequence: SequenceNumber, result: u8) {
        self.handle.respond(submit_resp(sequence, result));
    }

    /// Hands one SUBMIT to the session; false when the session is gone.
    fn submit(&self, sequence: SequenceNumber, submit: &Submit) -> bool {
        self.sp_node.store(sequence.node_id, Ordering::Relaxed);
        let now = (now_ms() / 1000) as i64;
        let messages = match mapping::submit_to_messages(submit, now) {
            Ok(messages) => messages,
            Err(error) => {
                let code = error.result();
                debug!(%error, "SUBMIT refused");
                self.respond(sequence, code);
                return self.refused(refuse(Rejection::Malformed, "malformed"), code);
            }
        };
        let id = wire_id(sequence);
        // A text part of a long message to one user is held to be joined with the others
        // (see tern_actors::parts); anything else goes as it is.
        let hold = match mapping::text_part(submit) {
            Some((concat, octets)) if messages.len() == 1 && concat.total <= MAX_TOTAL => {
                Some(Hold {
                    concat,
                    octets: octets.to_vec(),
                    wire_id: id,
                    join,
                })
            }
            _ => None,
        };
        let reply = self.handle.clone();
        let request = PipelineSubmit {
            messages,
            wire_ids: vec![id],
            hold,
            respond: Box::new(move |outcome| {
                let code = outcome.map_or_else(result_for, |_| result::OK);
                reply.respond(submit_resp(sequence, code));
            }),
        };
        if self.session.cast(SessionMsg::Submit(request)).is_err() {
            self.respond(sequence, result::NODE_BUSY);
            return false;
        }
        true
    }

    /// Counts a refusal this connector answered itself; false when the session is gone.
    fn refused(&self, refusal: Refusal, code: u8) -> bool {
        let message = SessionMsg::Refused {
            refusal,
            status: u32::from(code),
            message: None,
        };
        self.session.cast(message).is_ok()
    }
}

fn submit_resp(sequence: SequenceNumber, result: u8) -> Pdu {
    Pdu {
        sequence,
        body: Body::SubmitResp(Response {
            result,
            reserve: String::new(),
        }),
    }
}

/// The message the text of every part makes, given the first part.
fn join(first: &Message, octets: &[u8]) -> Option<Message> {
    mapping::joined(first, octets).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use tern_model::{Address, DeliveryReport, MessageState};

    fn held(kind: HeldKind, report: Option<DeliveryReport>) -> HeldDelivery {
        let message = Message::text(
            Address::international("8613000000000"),
            Address::international("8613100000000"),
            "hi",
        );
        HeldDelivery {
            account: "sp001".into(),
            key: 7,
            kind,
            message,
            report,
            held_ms: 0,
            expires_ms: u64::MAX,
        }
    }

    #[test]
    fn a_receipt_becomes_one_report_per_id_the_sp_was_given() {
        let first = SequenceNumber::new(3_010_012_345, 1_206_120_000, 1);
        let second = SequenceNumber::new(3_010_012_345, 1_206_120_001, 2);
        let report = DeliveryReport {
            message_id: format!("{} {}", wire_id(first), wire_id(second)),
            state: MessageState::Delivered,
            submitted: 1,
            delivered: 1,
            submit_unix: None,
            done_unix: None,
            error: 0,
            text: String::new(),
        };
        let item = held(HeldKind::Receipt, Some(report));
        let bodies = render(&item, &LinkOptions::default(), 3_010_012_345).unwrap();
        let named: Vec<SequenceNumber> = bodies
            .iter()
            .map(|body| match body {
                Body::Report(report) => {
                    assert_eq!(report.user_number, "8613100000000");
                    report.submit_sequence
                }
                other => panic!("expected a REPORT, got {other:?}"),
            })
            .collect();
        assert_eq!(named, vec![first, second]);
    }

    #[test]
    fn an_mo_becomes_a_deliver() {
        let item = held(HeldKind::Mo, None);
        let bodies = render(&item, &LinkOptions::default(), 0).unwrap();
        match bodies.as_slice() {
            [Body::Deliver(deliver)] => {
                assert_eq!(deliver.user_number, "8613000000000");
                assert_eq!(&deliver.message_content[..], b"hi");
            }
            other => panic!("expected one DELIVER, got {other:?}"),
        }
    }

    #[test]
    fn a_submits_sequence_number_survives_the_pipelines_id() {
        let sequence = SequenceNumber::new(3_010_012_345, 1_231_235_959, u32::MAX);
        assert_eq!(sequence_of(3_010_012_345, wire_id(sequence)), sequence);
        let small = SequenceNumber::new(1, 101_000_000, 0);
        assert_eq!(sequence_of(1, wire_id(small)), small);
    }

    #[test]
    fn every_rejection_has_a_command_result() {
        for rejection in [
            Rejection::Throttled,
            Rejection::InvalidDestination,
            Rejection::InvalidSource,
            Rejection::NotAllowed,
            Rejection::CannotSplit,
            Rejection::Malformed,
            Rejection::SystemError,
        ] {
            assert_ne!(result_for(rejection), result::OK, "{rejection:?}");
        }
        assert_eq!(result_for(Rejection::Throttled), result::NODE_BUSY);
    }
}
