//! Operator links of SMGP and CNGP in the gateway's pipeline, generic over a [`Carrying`]
//! protocol: a part rendered as one Submit (the operator's billing and signature come from
//! the link's mapping options), the Submit_Resp status sorted into the link's verdicts, and
//! what the operator's gateway sends back — status reports to the correlator, MO to the MO
//! dispatcher, both through [`Inbound`] — answered with Deliver_Resp once the pipeline has
//! them. Built with the `gateway` feature.

use std::sync::Arc;

use futures::future::BoxFuture;
use tern_actors::link::{Verdict, WireResult};
use tern_actors::mo::MoOutcome;
use tern_actors::protocol::{
    BindEvents, CarrierBind, CarrierProtocol, Inbound, OpenBind, ReceiptReply,
};
use tern_model::{DeliveryReport, Message, Rejection};
use tern_storage::MessageRecord;
use tokio::sync::mpsc;
use tracing::Instrument;

use super::{Client, ClientConfig, ClientEvent, Protocol, RequestError, SessionHandle};

/// What a Deliver of the operator carries.
#[derive(Debug)]
pub enum Delivered {
    /// A status report, or why it could not be read.
    Report(Result<DeliveryReport, String>),
    /// A mobile-originated message, or the status that refuses it.
    Mo(Result<Message, u32>),
}

/// What the carrier side needs of a protocol beyond its connection layer.
pub trait Carrying: Protocol {
    /// How the link writes messages (the mapping's `LinkOptions`).
    type Options: Clone + std::fmt::Debug + Send + Sync + 'static;
    /// "Message too long": a part that the operator's signature pushes over one Submit
    /// (36 in SMGP 3.0 and CNGP 2.0).
    const TOO_LONG: u32 = 36;

    /// The Submits that carry `message`, one per part, or the status that refuses it.
    fn submits(
        message: &Message,
        options: &Self::Options,
        reference: u8,
    ) -> Result<Vec<Self::Body>, u32>;
    /// The domain parts one Submit carries.
    fn parts(submit: &Self::Body, now_unix: i64) -> Result<Vec<Message>, u32>;
    /// The status and the operator's MsgID (as the report's `message_id` writes it) of a
    /// Submit_Resp.
    fn submit_answer(pdu: &Self::Pdu) -> Option<(u32, String)>;
    /// What a Deliver carries; `None` when `pdu` is not a Deliver.
    fn delivered(pdu: &Self::Pdu) -> Option<Delivered>;
}

/// How a Submit_Resp status is handled, by the code tables of SMGP 3.0 and CNGP 2.0, which
/// agree: 1 (system busy) slows down and resends; codes that describe the message or the
/// SP's rights (10, 11 and 23 to 73, 76) fail it; 2, 12 (repeated sequence), 74 and 75
/// (outside the SP's hours, over its daily volume) and codes the specifications do not
/// name are resent later.
pub fn verdict(status: u32) -> Verdict {
    match status {
        0 => Verdict::Accepted,
        1 => Verdict::Throttled,
        10 | 11 | 20..=73 | 76 => Verdict::Permanent,
        _ => Verdict::Transient,
    }
}

/// The status a refusal of the pipeline is answered with, by the code tables of SMGP 3.0
/// and CNGP 2.0, which agree on these numbers:
///
/// | refusal              | status | name in the specifications            |
/// |----------------------|--------|---------------------------------------|
/// | `Throttled`          | 1      | system busy (the SP sends again)      |
/// | `InvalidDestination` | 47     | bad DestTermID                        |
/// | `InvalidSource`      | 46     | bad SrcTermID                         |
/// | `NotAllowed`         | 69     | bad SPID (the SP may not send this)   |
/// | `CannotSplit`        | 36     | bad MsgLength                         |
/// | `Malformed`          | 10     | bad message structure                 |
/// | `SystemError`        | 1      | system busy: neither has an "other"   |
pub fn status_for(rejection: Rejection) -> u32 {
    match rejection {
        Rejection::Throttled | Rejection::SystemError => 1,
        Rejection::InvalidDestination => 47,
        Rejection::InvalidSource => 46,
        Rejection::NotAllowed => 69,
        Rejection::CannotSplit => 36,
        Rejection::Malformed => 10,
    }
}

/// An operator gateway's link of protocol `P`.
#[derive(Debug, Clone)]
pub struct Carrier<P: Carrying> {
    pub client: ClientConfig<P>,
    pub options: P::Options,
}

impl<P: Carrying> CarrierProtocol for Carrier<P> {
    fn protocol(&self) -> &'static str {
        P::NAME
    }

    fn window(&self) -> usize {
        self.client.window
    }

    /// The operator's split: as many parts as the link's options render.
    fn split(&self, message: &Message, now_ms: u64) -> Result<Vec<Message>, Rejection> {
        let reference = (now_ms & 0xff) as u8;
        let submits =
            P::submits(message, &self.options, reference).map_err(|_| Rejection::CannotSplit)?;
        if submits.len() <= 1 {
            return Ok(vec![message.clone()]);
        }
        let now_unix = i64::try_from(now_ms / 1000).unwrap_or(i64::MAX);
        let mut parts = Vec::with_capacity(submits.len());
        for submit in &submits {
            let decoded = P::parts(submit, now_unix).map_err(|_| Rejection::CannotSplit)?;
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
        let link = Link::<P> {
            events: bind.events,
            inbound: bind.inbound,
            protocol: std::marker::PhantomData,
        };
        bind.tasks.spawn(link.serve(events));
        Arc::new(Bind::<P> {
            client,
            options: self.options.clone(),
        })
    }
}

/// One bind's client.
struct Bind<P: Carrying> {
    client: Client<P>,
    options: P::Options,
}

impl<P: Carrying> CarrierBind for Bind<P> {
    /// `part` as one Submit (it is already one billed part).
    fn submit(&self, part: &MessageRecord) -> Result<BoxFuture<'static, WireResult>, u32> {
        let reference = (part.id.0 & 0xff) as u8;
        let mut submits = P::submits(&part.message, &self.options, reference)?.into_iter();
        let submit = submits.next().ok_or(P::TOO_LONG)?;
        if submits.next().is_some() {
            // The operator's signature pushed the part over one SMS: it cannot be one part.
            return Err(P::TOO_LONG);
        }
        let client = self.client.clone();
        let span = tracing::info_span!("submit", protocol = P::NAME, message_id = part.id.0);
        Ok(Box::pin(
            async move { send(&client, submit).await }.instrument(span),
        ))
    }
}

async fn send<P: Carrying>(client: &Client<P>, submit: P::Body) -> WireResult {
    match client.request(submit).await {
        Ok(pdu) => match P::submit_answer(&pdu) {
            Some((status, msg_id)) => match verdict(status) {
                Verdict::Accepted => WireResult::Accepted(msg_id),
                other => WireResult::Refused(other, status),
            },
            None => WireResult::Unknown(format!("not a Submit_Resp: {pdu:?}"), None),
        },
        Err(RequestError::NotSent(_)) => WireResult::NotSent,
        Err(error @ RequestError::Timeout { sequence }) => {
            WireResult::Unknown(error.to_string(), Some(sequence))
        }
        Err(error) => WireResult::Unknown(error.to_string(), None),
    }
}

/// What the operator gateway sends on one bind, and how the bind fares.
struct Link<P> {
    events: BindEvents,
    inbound: Inbound,
    protocol: std::marker::PhantomData<fn() -> P>,
}

impl<P: Carrying> Link<P> {
    async fn serve(self, mut events: mpsc::Receiver<ClientEvent<P>>) {
        while let Some(event) = events.recv().await {
            let alive = match event {
                ClientEvent::Up => self.events.up(),
                ClientEvent::Down { reason } => self.events.down(format!("{reason:?}")),
                ClientEvent::Request { pdu, handle } => {
                    self.request(pdu, handle);
                    true
                }
                ClientEvent::LateResponse(pdu) => {
                    let accepted = P::submit_answer(&pdu)
                        .filter(|(status, _)| verdict(*status) == Verdict::Accepted)
                        .map(|(_, msg_id)| msg_id);
                    self.events.late(P::sequence(&pdu), accepted)
                }
            };
            if !alive {
                break;
            }
        }
    }

    /// A Deliver: a status report or an MO.
    fn request(&self, pdu: P::Pdu, handle: SessionHandle<P>) {
        let Some(delivered) = P::delivered(&pdu) else {
            return;
        };
        let answer = Answer {
            pdu: Arc::new(pdu),
            handle,
        };
        match delivered {
            Delivered::Report(Ok(report)) => {
                let key = report.message_id.clone();
                if let Err(reply) = self.inbound.receipt(key, report, Box::new(answer)) {
                    reply.retry();
                }
            }
            Delivered::Report(Err(error)) => {
                self.inbound.unreadable_receipt(&error);
                // Acknowledged: resending it would not make it readable.
                answer.status(P::OK);
            }
            Delivered::Mo(Err(status)) => {
                self.inbound.malformed_mo();
                answer.status(status);
            }
            Delivered::Mo(Ok(message)) => {
                let (held, busy) = (answer.clone_handle(), answer.clone_handle());
                let taken = self.inbound.mo(
                    message,
                    Box::new(move |outcome| {
                        let status = match outcome {
                            MoOutcome::Held => P::OK,
                            // Nobody will ever take it: refused for good (no route).
                            MoOutcome::NoOwner => 58,
                            MoOutcome::Busy => P::BUSY,
                        };
                        held.status(status);
                    }),
                );
                if !taken {
                    busy.status(P::BUSY);
                }
            }
        }
    }
}

/// A Deliver, and the session to answer it on.
struct Answer<P: Protocol> {
    pdu: Arc<P::Pdu>,
    handle: SessionHandle<P>,
}

impl<P: Protocol> Answer<P> {
    fn clone_handle(&self) -> Answer<P> {
        Answer {
            pdu: self.pdu.clone(),
            handle: self.handle.clone(),
        }
    }

    fn status(&self, status: u32) {
        if let Some(response) = P::response_for(&self.pdu, status) {
            self.handle.respond(response);
        }
    }
}

impl<P: Protocol> ReceiptReply for Answer<P> {
    fn ok(self: Box<Self>) {
        self.status(P::OK);
    }

    /// System busy: the gateway resends the report later.
    fn retry(self: Box<Self>) {
        self.status(P::BUSY);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn busy_slows_down_message_errors_fail_and_the_rest_is_resent() {
        assert_eq!(verdict(0), Verdict::Accepted);
        assert_eq!(verdict(1), Verdict::Throttled);
        for permanent in [10, 36, 47, 58, 76] {
            assert_eq!(verdict(permanent), Verdict::Permanent, "{permanent}");
        }
        for transient in [2, 12, 74, 75, 99, 200] {
            assert_eq!(verdict(transient), Verdict::Transient, "{transient}");
        }
    }

    #[test]
    fn a_throttled_customer_is_told_busy_and_a_bad_message_is_failed() {
        assert_eq!(
            verdict(status_for(Rejection::Throttled)),
            Verdict::Throttled
        );
        for rejection in [
            Rejection::InvalidDestination,
            Rejection::InvalidSource,
            Rejection::NotAllowed,
            Rejection::CannotSplit,
            Rejection::Malformed,
        ] {
            assert_eq!(
                verdict(status_for(rejection)),
                Verdict::Permanent,
                "{rejection:?}"
            );
        }
    }
}
