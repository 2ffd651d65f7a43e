//! SGIP operator links: we are the SP towards an operator's SMG. A part goes out as a
//! SUBMIT on a type-1 link; its sequence number is the message id the SMG's REPORT names,
//! so that is the id the part is indexed by. The SMG sends REPORTs and DELIVERs on
//! connections of its own, bound with login type 2 to a listener on `report_listen` and
//! checked against the link's credentials: REPORTs go to the correlator and DELIVERs (MO)
//! to the MO dispatcher, answered once the pipeline has them.
//!
//! One listener serves a link: its first bind opens it, and a further bind of the same link
//! finds the address taken and waits to take it over should the first one close.
//!
//! SGIP has no keepalive, so the type-1 link unbinds when idle; that is not a bind going
//! down, since the next SUBMIT binds again.

use std::net::SocketAddr;
use std::sync::Arc;

use futures::future::BoxFuture;
use tern_actors::link::{Verdict, WireResult};
use tern_actors::mo::MoOutcome;
use tern_actors::protocol::{
    BindEvents, CarrierBind, CarrierProtocol, Inbound, OpenBind, ReceiptReply,
};
use tern_model::{now_ms, Message, Rejection};
use tern_storage::MessageRecord;
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{debug, warn, Instrument};

use crate::codec::{CommandId, Submit};
use crate::mapping::{self, LinkOptions};
use crate::msgid::SequenceNumber;
use crate::net::{
    serve, BindRequest, Client, ClientConfig, ClientEvent, CloseReason, Handler, RequestError,
    ServerConfig, SessionEvent, SessionHandle,
};
use crate::{result, Body, LoginType, Pdu};

/// How often a report listener whose address is taken tries again.
const LISTEN_RETRY: std::time::Duration = std::time::Duration::from_secs(1);

/// How a SUBMIT_RESP result is handled: node busy and a full SMSC queue slow down and
/// resend; results that describe the message (its format, numbers, length, sequence
/// number, a route that does not exist) fail it; the rest (login, connections, an
/// unreachable node, codes the specification does not name) are resent later.
pub fn verdict(result: u8) -> Verdict {
    match result {
        result::OK => Verdict::Accepted,
        result::NODE_BUSY | result::SMSC_QUEUE_FULL => Verdict::Throttled,
        5..=9 | 22..=24 | 26..=31 => Verdict::Permanent,
        _ => Verdict::Transient,
    }
}

/// An SGIP operator link.
#[derive(Debug, Clone)]
pub struct SgipCarrier {
    /// The type-1 link to the SMG (its login type is set to 1 whatever it says).
    pub client: ClientConfig,
    pub options: LinkOptions,
    /// Where the SMG binds with login type 2, with the link's login name and password, to
    /// send REPORTs and DELIVERs.
    pub report_listen: SocketAddr,
}

impl CarrierProtocol for SgipCarrier {
    fn protocol(&self) -> &'static str {
        super::PROTOCOL
    }

    fn window(&self) -> usize {
        self.client.window
    }

    /// The SGIP split: one SMS a part, less the room for the operator's signature; each
    /// part keeps the message's addresses and options.
    fn split(&self, message: &Message, now_ms: u64) -> Result<Vec<Message>, Rejection> {
        let reference = (now_ms & 0xff) as u8;
        let submits = mapping::message_to_submits(message, &self.options, reference)
            .map_err(|_| Rejection::CannotSplit)?;
        if submits.len() <= 1 {
            return Ok(vec![message.clone()]);
        }
        let now = (now_ms / 1000) as i64;
        let as_part = |submit: &Submit| {
            let decoded = mapping::submit_to_messages(submit, now).ok()?;
            let part = decoded.into_iter().next()?;
            // The addresses and options are the customer's, not the rendering's.
            Some(Message {
                source: message.source.clone(),
                destination: message.destination.clone(),
                receipt: message.receipt,
                validity_unix: message.validity_unix,
                schedule_unix: message.schedule_unix,
                priority: message.priority,
                ..part
            })
        };
        submits
            .iter()
            .map(as_part)
            .collect::<Option<Vec<_>>>()
            .ok_or(Rejection::CannotSplit)
    }

    /// Starts the type-1 link and the report listener. A link kept open (`keep_open`)
    /// binds again as soon as it idles out; otherwise on the next SUBMIT.
    fn open(&self, bind: OpenBind<'_>) -> Arc<dyn CarrierBind> {
        let mut config = self.client.clone();
        config.gate = Some(bind.gate);
        config.login_type = LoginType::SpToSmg;
        let (client, events) = Client::start(config, bind.stop.clone(), bind.tasks);
        bind.tasks.spawn(link_events(events, bind.events));
        self.listen(bind.inbound, bind.stop, bind.tasks);
        Arc::new(SgipBind {
            client,
            options: self.options.clone(),
        })
    }
}

impl SgipCarrier {
    /// Serves the SMG's type-2 binds on `report_listen` until `stop`. While the address is
    /// taken (by another bind of the link, or by this bind's predecessor still closing) it
    /// is tried again every second, so the listener moves to a bind that outlives the one
    /// that held it.
    fn listen(&self, inbound: Inbound, stop: CancellationToken, tasks: &TaskTracker) {
        let config = ServerConfig {
            window: self.client.window,
            login_types: vec![LoginType::SmgToSp],
            node_id: self.client.node_id,
            ..ServerConfig::default()
        };
        let reports = Reports {
            login_name: self.client.login_name.clone(),
            password: self.client.password.clone(),
            inbound,
        };
        let (addr, connections) = (self.report_listen, tasks.clone());
        let run = async move {
            let Some(listener) = bind_listener(addr, &stop).await else {
                return;
            };
            serve(
                listener,
                Arc::new(config),
                Arc::new(reports),
                stop,
                connections,
            )
            .await;
        };
        let span = tracing::info_span!("sgip_reports", link = %self.client.name, %addr);
        tasks.spawn(run.instrument(span));
    }
}

/// The listener on `addr`, once it can be had; `None` when `stop` comes first.
async fn bind_listener(addr: SocketAddr, stop: &CancellationToken) -> Option<TcpListener> {
    let mut warned = false;
    loop {
        match TcpListener::bind(addr).await {
            Ok(listener) => return Some(listener),
            Err(error) if !warned => {
                warn!(%error, "SGIP report listener not opened yet; trying again every second");
                warned = true;
            }
            Err(error) => debug!(%error, "SGIP report listener still not opened"),
        }
        tokio::select! {
            _ = tokio::time::sleep(LISTEN_RETRY) => {}
            _ = stop.cancelled() => return None,
        }
    }
}

/// One bind's client.
struct SgipBind {
    client: Client,
    options: LinkOptions,
}

impl CarrierBind for SgipBind {
    /// `part` as one SUBMIT (it is already one billed part).
    fn submit(&self, part: &MessageRecord) -> Result<BoxFuture<'static, WireResult>, u32> {
        let reference = (part.id.0 & 0xff) as u8;
        let submits = mapping::message_to_submits(&part.message, &self.options, reference)
            .map_err(|error| u32::from(error.result()))?;
        let [submit]: [Submit; 1] = submits
            .try_into()
            .map_err(|_| u32::from(result::BAD_LENGTH))?;
        let client = self.client.clone();
        Ok(Box::pin(async move { send(&client, submit).await }))
    }
}

async fn send(client: &Client, submit: Submit) -> WireResult {
    // The session numbers the SUBMIT, and that number is its message id.
    let span = tracing::debug_span!("sgip_submit", msg_id = tracing::field::Empty);
    match client.request(Body::Submit(submit)).await {
        Ok(Pdu {
            sequence,
            body: Body::SubmitResp(resp),
        }) => {
            span.record("msg_id", tracing::field::display(sequence));
            let _entered = span.enter();
            debug!(result = resp.result, "SUBMIT answered");
            match verdict(resp.result) {
                Verdict::Accepted => WireResult::Accepted(sequence.to_text()),
                other => WireResult::Refused(other, u32::from(resp.result)),
            }
        }
        Ok(other) => WireResult::Unknown(format!("not a SUBMIT_RESP: {other:?}"), None),
        Err(RequestError::NotSent(_)) => WireResult::NotSent,
        Err(error @ RequestError::Timeout { sequence }) => {
            WireResult::Unknown(error.to_string(), Some(sequence))
        }
        Err(error) => WireResult::Unknown(error.to_string(), None),
    }
}

/// How the type-1 link fares, told to the pipeline's link.
async fn link_events(mut events: mpsc::Receiver<ClientEvent>, link: BindEvents) {
    while let Some(event) = events.recv().await {
        let alive = match event {
            ClientEvent::Up => link.up(),
            // Idled out: the next SUBMIT binds again, so the bind stays usable.
            ClientEvent::Down {
                reason: CloseReason::Inactivity,
            } => true,
            ClientEvent::Down { reason } => link.down(format!("{reason:?}")),
            ClientEvent::LateResponse(pdu) => {
                let accepted = match &pdu.body {
                    Body::SubmitResp(resp) if verdict(resp.result) == Verdict::Accepted => {
                        Some(pdu.sequence.to_text())
                    }
                    _ => None,
                };
                link.late(pdu.sequence.sequence, accepted)
            }
        };
        if !alive {
            break;
        }
    }
}

/// The SMG's type-2 binds on one link's report listener.
struct Reports {
    login_name: String,
    password: String,
    inbound: Inbound,
}

impl Handler for Reports {
    type Grant = ();

    async fn bind(&self, request: BindRequest) -> Result<((), String), u8> {
        if request.login_name != self.login_name {
            warn!(
                login_name = request.login_name,
                link = self.inbound.link(),
                "SMG bind with another login name"
            );
            return Err(result::ILLEGAL_LOGIN);
        }
        Ok(((), self.password.clone()))
    }

    fn session(
        self: &Arc<Self>,
        _: (),
        _request: BindRequest,
        handle: SessionHandle,
        mut events: mpsc::Receiver<SessionEvent>,
    ) {
        let inbound = self.inbound.clone();
        tokio::spawn(
            async move {
                while let Some(event) = events.recv().await {
                    match event {
                        SessionEvent::Request(pdu) => request(&inbound, pdu, &handle),
                        SessionEvent::LateResponse(_) => {}
                        SessionEvent::Closed { reason } => {
                            debug!(?reason, "SMG report session closed");
                            break;
                        }
                    }
                }
            }
            .in_current_span(),
        );
    }
}

/// A REPORT or a DELIVER of the SMG.
fn request(inbound: &Inbound, pdu: Pdu, handle: &SessionHandle) {
    let sequence = pdu.sequence;
    match pdu.body {
        Body::Report(report) => {
            let report = mapping::report_to_domain(&report, (now_ms() / 1000) as i64);
            let key = report.message_id.clone();
            let span = tracing::debug_span!("sgip_report", msg_id = %key);
            let _entered = span.enter();
            let reply = Box::new(Answer {
                command: CommandId::Report,
                sequence,
                handle: handle.clone(),
            });
            if let Err(reply) = inbound.receipt(key, report, reply) {
                reply.retry();
            }
        }
        Body::Deliver(deliver) => {
            let message = match mapping::deliver_to_message(&deliver) {
                Ok(message) => message,
                Err(error) => {
                    inbound.malformed_mo();
                    debug!(%error, msg_id = %sequence, "DELIVER refused");
                    answer(handle, CommandId::Deliver, sequence, error.result());
                    return;
                }
            };
            let reply = handle.clone();
            let taken = inbound.mo(
                message,
                Box::new(move |outcome| {
                    let code = match outcome {
                        MoOutcome::Held => result::OK,
                        // No account owns the number it was sent to: no route to it.
                        MoOutcome::NoOwner => result::ROUTE_NOT_FOUND,
                        MoOutcome::Busy => result::NODE_BUSY,
                    };
                    answer(&reply, CommandId::Deliver, sequence, code);
                }),
            );
            if !taken {
                answer(handle, CommandId::Deliver, sequence, result::NODE_BUSY);
            }
        }
        // The session lets only REPORTs and DELIVERs through on a type-2 link.
        other => debug!(command = ?other.command_id(), "SMG request ignored"),
    }
}

fn answer(handle: &SessionHandle, command: CommandId, sequence: SequenceNumber, code: u8) {
    if let Some(response) = Pdu::error_response(command, sequence, code) {
        handle.respond(response);
    }
}

/// A REPORT, and the session to answer it on.
struct Answer {
    command: CommandId,
    sequence: SequenceNumber,
    handle: SessionHandle,
}

impl ReceiptReply for Answer {
    fn ok(self: Box<Self>) {
        answer(&self.handle, self.command, self.sequence, result::OK);
    }

    /// Node busy: the SMG sends the report again later.
    fn retry(self: Box<Self>) {
        answer(&self.handle, self.command, self.sequence, result::NODE_BUSY);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tern_model::Address;

    fn carrier() -> SgipCarrier {
        SgipCarrier {
            client: ClientConfig::new("smg", "127.0.0.1", 8801),
            options: LinkOptions::default(),
            report_listen: SocketAddr::from(([127, 0, 0, 1], 0)),
        }
    }

    #[test]
    fn submit_results_sort_into_verdicts() {
        assert_eq!(verdict(result::OK), Verdict::Accepted);
        assert_eq!(verdict(result::NODE_BUSY), Verdict::Throttled);
        assert_eq!(verdict(result::SMSC_QUEUE_FULL), Verdict::Throttled);
        assert_eq!(verdict(result::ILLEGAL_PHONE_NUMBER), Verdict::Permanent);
        assert_eq!(verdict(result::BAD_LENGTH), Verdict::Permanent);
        assert_eq!(verdict(result::ILLEGAL_LOGIN), Verdict::Transient);
        assert_eq!(verdict(result::DESTINATION_UNREACHABLE), Verdict::Transient);
        assert_eq!(verdict(200), Verdict::Transient);
    }

    #[test]
    fn a_long_message_splits_into_parts_with_the_customers_addresses() {
        let message = Message::text(
            Address::international("8610655"),
            Address::international("8613000000000"),
            "x".repeat(300),
        );
        let parts = carrier().split(&message, 1_000).unwrap();
        assert!(parts.len() >= 2, "{} parts", parts.len());
        for part in &parts {
            assert_eq!(part.source, message.source);
            assert_eq!(part.destination, message.destination);
            assert!(part.concat.is_some() || part.udh.is_some());
        }
        let short = Message::text(
            Address::international("8610655"),
            Address::international("8613000000000"),
            "hi",
        );
        assert_eq!(carrier().split(&short, 1_000).unwrap(), vec![short]);
    }
}
