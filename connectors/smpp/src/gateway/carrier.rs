//! SMPP operator links: how an SMSC's link splits and renders parts, its client per bind,
//! and what the SMSC sends on it — receipts to the correlator, MO to the MO dispatcher,
//! each answered with its deliver_sm_resp or data_sm_resp once the pipeline has it.

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

use super::status::verdict;
use crate::mapping::{self, LinkOptions};
use crate::net::{Client, ClientConfig, ClientEvent, RequestError, SessionHandle};
use crate::receipt::{self, IdFormat};
use crate::rusmpp::pdus::{DataSmResp, DeliverSmResp};
use crate::session::error_response;
use crate::{Command, CommandStatus, Pdu};

/// An SMPP SMSC's link: its client and how parts are rendered for it.
#[derive(Debug, Clone)]
pub struct SmppCarrier {
    pub client: ClientConfig,
    pub options: LinkOptions,
    /// How the SMSC writes message ids in its submit_sm_resp, and in its receipts: both are
    /// brought to one form to be matched.
    pub submit_ids: IdFormat,
    pub receipt_ids: IdFormat,
}

impl CarrierProtocol for SmppCarrier {
    fn protocol(&self) -> &'static str {
        "smpp"
    }

    fn window(&self) -> usize {
        self.client.session.window_out
    }

    /// The split of SMPP: 160 GSM septets, 70 UCS-2 units or 140 octets in one part,
    /// otherwise parts with a concatenation header.
    fn split(&self, message: &Message, now_ms: u64) -> Result<Vec<Message>, Rejection> {
        split(message, now_ms)
    }

    fn submit_key(&self, operator_id: &str) -> String {
        receipt::normalise(operator_id, self.submit_ids)
    }

    fn open(&self, bind: OpenBind<'_>) -> Arc<dyn CarrierBind> {
        let mut client = self.client.clone();
        client.gate = Some(bind.gate);
        let (client, events) = Client::start(client, bind.stop, bind.tasks);
        let link = Link {
            events: bind.events,
            inbound: bind.inbound,
            options: self.options,
            receipt_ids: self.receipt_ids,
        };
        bind.tasks.spawn(link.serve(events));
        Arc::new(SmppBind {
            client,
            options: self.options,
        })
    }
}

/// The parts of `message` as SMPP sends them.
fn split(message: &Message, now_ms: u64) -> Result<Vec<Message>, Rejection> {
    use tern_model::{Body, Coding};
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
    let options = LinkOptions::default();
    let reference = (now_ms & 0xffff) as u16;
    // One clock reading for both ways, so that the times come back as they were.
    let now_unix = (now_ms / 1000) as i64;
    let pdus = mapping::message_to_submit_sm(message, &options, reference, now_unix)
        .map_err(|_| Rejection::CannotSplit)?;
    if pdus.len() <= 1 {
        return Ok(vec![message.clone()]);
    }
    pdus.iter()
        .map(|pdu| {
            mapping::submit_sm_to_message(pdu, &options, now_unix)
                .map_err(|_| Rejection::CannotSplit)
        })
        .collect()
}

/// One bind's client.
struct SmppBind {
    client: Client,
    options: LinkOptions,
}

impl CarrierBind for SmppBind {
    fn submit(&self, part: &MessageRecord) -> Result<BoxFuture<'static, WireResult>, u32> {
        let pdus = mapping::message_to_submit_sm(
            &part.message,
            &self.options,
            (part.id.0 & 0xffff) as u16,
            (tern_model::now_ms() / 1000) as i64,
        )
        .map_err(|error| u32::from(error.status()))?;
        let pdu = pdus
            .into_iter()
            .next()
            .map(Pdu::from)
            .ok_or(u32::from(CommandStatus::EsmeRinvmsglen))?;
        let client = self.client.clone();
        Ok(Box::pin(async move { result(client.request(pdu).await) }))
    }
}

fn result(result: Result<Command, RequestError>) -> WireResult {
    let response = match result {
        Ok(response) => response,
        Err(RequestError::NotSent(_)) => return WireResult::NotSent,
        Err(error @ RequestError::Timeout { sequence }) => {
            return WireResult::Unknown(error.to_string(), Some(sequence))
        }
        Err(error) => return WireResult::Unknown(error.to_string(), None),
    };
    let status = response.status();
    match verdict(status) {
        Verdict::Accepted => WireResult::Accepted(match response.pdu() {
            Some(Pdu::SubmitSmResp(r)) => r.message_id().as_str().to_owned(),
            _ => String::new(),
        }),
        other => WireResult::Refused(other, u32::from(status)),
    }
}

/// What the SMSC sends on one bind, and how the bind fares.
struct Link {
    events: BindEvents,
    inbound: Inbound,
    options: LinkOptions,
    receipt_ids: IdFormat,
}

impl Link {
    async fn serve(self, mut events: mpsc::Receiver<ClientEvent>) {
        while let Some(event) = events.recv().await {
            let alive = match event {
                ClientEvent::Up { kind } => !kind.can_submit() || self.events.up(),
                ClientEvent::Down { kind, reason } => {
                    !kind.can_submit() || self.events.down(format!("{} {reason:?}", kind.as_str()))
                }
                ClientEvent::Request { command, handle } => {
                    self.request(command, handle);
                    true
                }
                ClientEvent::LateResponse { command, .. } => {
                    let accepted = match command.pdu() {
                        Some(Pdu::SubmitSmResp(r))
                            if verdict(command.status()) == Verdict::Accepted =>
                        {
                            Some(r.message_id().as_str().to_owned())
                        }
                        _ => None,
                    };
                    self.events.late(command.sequence_number(), accepted)
                }
            };
            if !alive {
                break;
            }
        }
    }

    /// A deliver_sm or data_sm: a receipt or an MO.
    fn request(&self, command: Command, handle: SessionHandle) {
        let (is_receipt, report, message) = {
            let now_unix = (tern_model::now_ms() / 1000) as i64;
            match command.pdu() {
                Some(Pdu::DeliverSm(d)) if receipt::is_receipt(u8::from(d.esm_class)) => {
                    (true, Some(mapping::deliver_sm_to_report(d)), None)
                }
                Some(Pdu::DataSm(d)) if receipt::is_receipt(u8::from(d.esm_class)) => {
                    (true, Some(mapping::data_sm_to_report(d)), None)
                }
                Some(Pdu::DeliverSm(d)) => (
                    false,
                    None,
                    Some(mapping::deliver_sm_to_message(d, &self.options, now_unix)),
                ),
                Some(Pdu::DataSm(d)) => (
                    false,
                    None,
                    Some(mapping::data_sm_to_message(d, &self.options, now_unix)),
                ),
                _ => (false, None, None),
            }
        };
        if is_receipt {
            let reply = Box::new(Answer { command, handle });
            match report {
                Some(Ok(report)) => {
                    let key = receipt::normalise(&report.message_id, self.receipt_ids);
                    if let Err(reply) = self.inbound.receipt(key, report, reply) {
                        // Restarting: a temporary error makes the operator send it again.
                        reply.retry();
                    }
                }
                Some(Err(error)) => {
                    self.inbound.unreadable_receipt(&error);
                    // Acknowledged: resending it would not make it readable.
                    reply.ok();
                }
                None => {}
            }
            return;
        }
        let Some(message) = message else {
            return;
        };
        let message = match message {
            Ok(message) => message,
            Err(error) => {
                self.inbound.malformed_mo();
                handle.respond(response(&command, error.status()));
                return;
            }
        };
        let answer = Answer {
            command: command.clone(),
            handle: handle.clone(),
        };
        let taken = self.inbound.mo(
            message,
            Box::new(move |outcome| {
                let status = match outcome {
                    MoOutcome::Held => CommandStatus::EsmeRok,
                    MoOutcome::NoOwner => CommandStatus::EsmeRxRAppn,
                    MoOutcome::Busy => CommandStatus::EsmeRxTAppn,
                };
                answer.handle.respond(response(&answer.command, status));
            }),
        );
        if !taken {
            handle.respond(response(&command, CommandStatus::EsmeRxTAppn));
        }
    }
}

/// The SMSC's request, and the session to answer it on.
struct Answer {
    command: Command,
    handle: SessionHandle,
}

impl ReceiptReply for Answer {
    fn ok(self: Box<Self>) {
        self.handle
            .respond(response(&self.command, CommandStatus::EsmeRok));
    }

    fn retry(self: Box<Self>) {
        self.handle
            .respond(response(&self.command, CommandStatus::EsmeRxTAppn));
    }
}

/// The answer to a deliver_sm or data_sm with `status`.
fn response(command: &Command, status: CommandStatus) -> Command {
    let seq = command.sequence_number();
    if status != CommandStatus::EsmeRok {
        return error_response(command.id(), seq, status);
    }
    match command.pdu() {
        Some(Pdu::DataSm(_)) => Command::new(status, seq, DataSmResp::default()),
        _ => Command::new(status, seq, DeliverSmResp::default()),
    }
}
