//! CMPP operator links: a part rendered as a SUBMIT (with room for the operator's
//! signature), the SUBMIT_RESP result sorted into the link's verdicts, and what the
//! operator gateway sends — status reports to the correlator, MO to the MO dispatcher —
//! answered with DELIVER_RESP once the pipeline has them.

use std::sync::Arc;

use futures::future::BoxFuture;
use tern_actors::link::{Verdict, WireResult};
use tern_actors::mo::MoOutcome;
use tern_actors::protocol::{
    BindEvents, CarrierBind, CarrierProtocol, Inbound, OpenBind, ReceiptReply,
};
use tern_model::{Message, Rejection};
use tern_storage::MessageRecord;
use tokio::sync::mpsc;

use crate::codec::{DeliverResp, Report, Submit};
use crate::mapping::{self, LinkOptions};
use crate::net::{Client, ClientConfig, ClientEvent, RequestError, SessionHandle};
use crate::{result, Body, Pdu};

/// How a SUBMIT_RESP result is handled: flow control slows down and resends, errors that
/// describe the message fail it, the rest (duplicate sequence, codes the specification
/// does not name) are resent later.
pub fn verdict(result: u32) -> Verdict {
    match result {
        result::OK => Verdict::Accepted,
        result::FLOW_CONTROL => Verdict::Throttled,
        1 | 2 | 4..=7 | 9..=13 => Verdict::Permanent,
        _ => Verdict::Transient,
    }
}

/// The DELIVER_RESP to the DELIVER numbered `sequence_id` carrying `msg_id`.
pub(super) fn deliver_resp(sequence_id: u32, msg_id: u64, result: u32) -> Pdu {
    Pdu {
        sequence_id,
        body: Body::DeliverResp(DeliverResp { msg_id, result }),
    }
}

/// A CMPP operator gateway's link.
#[derive(Debug, Clone)]
pub struct CmppCarrier {
    pub client: ClientConfig,
    pub options: LinkOptions,
}

impl CarrierProtocol for CmppCarrier {
    fn protocol(&self) -> &'static str {
        "cmpp"
    }

    fn window(&self) -> usize {
        self.client.window
    }

    /// The CMPP split: 140 octets a part, less the room for the operator's signature.
    fn split(&self, message: &Message, now_ms: u64) -> Result<Vec<Message>, Rejection> {
        let reference = (now_ms & 0xff) as u8;
        let submits = mapping::message_to_submits(message, &self.options, reference)
            .map_err(|_| Rejection::CannotSplit)?;
        if submits.len() <= 1 {
            return Ok(vec![message.clone()]);
        }
        let mut parts = Vec::with_capacity(submits.len());
        for submit in &submits {
            let decoded =
                mapping::submit_to_messages(submit, self.options.version, (now_ms / 1000) as i64)
                    .map_err(|_| Rejection::CannotSplit)?;
            for mut part in decoded {
                // The addresses and options are the customer's, not the rendering's.
                part.source = message.source.clone();
                part.destination = message.destination.clone();
                part.receipt = message.receipt;
                part.validity_unix = message.validity_unix;
                part.schedule_unix = message.schedule_unix;
                part.priority = message.priority;
                parts.push(part);
            }
        }
        Ok(parts)
    }

    fn open(&self, bind: OpenBind<'_>) -> Arc<dyn CarrierBind> {
        let mut client = self.client.clone();
        client.gate = Some(bind.gate);
        let (client, events) = Client::start(client, bind.stop, bind.tasks);
        let link = Link {
            events: bind.events,
            inbound: bind.inbound,
        };
        bind.tasks.spawn(link.serve(events));
        Arc::new(CmppBind {
            client,
            options: self.options.clone(),
        })
    }
}

/// One bind's client.
struct CmppBind {
    client: Client,
    options: LinkOptions,
}

impl CarrierBind for CmppBind {
    /// `part` as one SUBMIT (it is already one billed part).
    fn submit(&self, part: &MessageRecord) -> Result<BoxFuture<'static, WireResult>, u32> {
        let submits =
            mapping::message_to_submits(&part.message, &self.options, (part.id.0 & 0xff) as u8)
                .map_err(|error| error.result())?;
        let mut submits = submits.into_iter();
        let submit = submits.next().ok_or(result::BAD_MSG_LENGTH)?;
        if submits.next().is_some() {
            // The operator's signature pushed the part over one SMS: it cannot be one part.
            return Err(result::TOO_LONG);
        }
        let client = self.client.clone();
        Ok(Box::pin(async move { send(&client, submit).await }))
    }
}

async fn send(client: &Client, submit: Submit) -> WireResult {
    match client.request(Body::Submit(submit)).await {
        Ok(Pdu {
            body: Body::SubmitResp(resp),
            ..
        }) => match verdict(resp.result) {
            Verdict::Accepted => WireResult::Accepted(resp.msg_id.to_string()),
            other => WireResult::Refused(other, resp.result),
        },
        Ok(other) => WireResult::Unknown(format!("not a SUBMIT_RESP: {other:?}"), None),
        Err(RequestError::NotSent(_)) => WireResult::NotSent,
        Err(error @ RequestError::Timeout { sequence }) => {
            WireResult::Unknown(error.to_string(), Some(sequence))
        }
        Err(error) => WireResult::Unknown(error.to_string(), None),
    }
}

/// What the operator gateway sends on one bind, and how the bind fares.
struct Link {
    events: BindEvents,
    inbound: Inbound,
}

impl Link {
    async fn serve(self, mut events: mpsc::Receiver<ClientEvent>) {
        while let Some(event) = events.recv().await {
            let alive = match event {
                ClientEvent::Up => self.events.up(),
                ClientEvent::Down { reason } => self.events.down(format!("{reason:?}")),
                ClientEvent::Request { pdu, handle } => {
                    self.request(pdu, handle);
                    true
                }
                ClientEvent::LateResponse(pdu) => {
                    let accepted = match pdu.body {
                        Body::SubmitResp(resp) if verdict(resp.result) == Verdict::Accepted => {
                            Some(resp.msg_id.to_string())
                        }
                        _ => None,
                    };
                    self.events.late(pdu.sequence_id, accepted)
                }
            };
            if !alive {
                break;
            }
        }
    }

    /// A DELIVER: a status report or an MO.
    fn request(&self, pdu: Pdu, handle: SessionHandle) {
        let sequence_id = pdu.sequence_id;
        let Body::Deliver(deliver) = pdu.body else {
            return;
        };
        let msg_id = deliver.msg_id;
        let version = handle.version();
        if deliver.registered_delivery == 1 {
            let reply = Box::new(Answer {
                sequence_id,
                msg_id,
                handle,
            });
            match Report::decode(version, &deliver.msg_content) {
                Ok(report) => {
                    let report = mapping::report_to_domain(&report);
                    let key = report.message_id.clone();
                    if let Err(reply) = self.inbound.receipt(key, report, reply) {
                        reply.retry();
                    }
                }
                Err(error) => {
                    self.inbound.unreadable_receipt(&error);
                    // Acknowledged: resending it would not make it readable.
                    reply.ok();
                }
            }
            return;
        }
        let message = match mapping::deliver_to_message(&deliver, version) {
            Ok(message) => message,
            Err(error) => {
                self.inbound.malformed_mo();
                handle.respond(deliver_resp(sequence_id, msg_id, error.result()));
                return;
            }
        };
        let reply = handle.clone();
        let taken = self.inbound.mo(
            message,
            Box::new(move |outcome| {
                let result = match outcome {
                    MoOutcome::Held => result::OK,
                    // Nobody will ever take it: a permanent refusal.
                    MoOutcome::NoOwner => 9,
                    MoOutcome::Busy => result::FLOW_CONTROL,
                };
                reply.respond(deliver_resp(sequence_id, msg_id, result));
            }),
        );
        if !taken {
            handle.respond(deliver_resp(sequence_id, msg_id, result::FLOW_CONTROL));
        }
    }
}

/// A status report's DELIVER, and the session to answer it on.
struct Answer {
    sequence_id: u32,
    msg_id: u64,
    handle: SessionHandle,
}

impl ReceiptReply for Answer {
    fn ok(self: Box<Self>) {
        self.handle
            .respond(deliver_resp(self.sequence_id, self.msg_id, result::OK));
    }

    /// "Flow control": the gateway resends the report later.
    fn retry(self: Box<Self>) {
        self.handle.respond(deliver_resp(
            self.sequence_id,
            self.msg_id,
            result::FLOW_CONTROL,
        ));
    }
}
