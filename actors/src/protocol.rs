//! The seam between the pipeline and the wire protocols. The pipeline speaks only the
//! domain (`Message`, `DeliveryReport`, [`Rejection`]); each protocol's connector implements
//! these traits in its own crate and registers with the node:
//!
//! - a customer side ([`CustomerLink`]): one bound customer connection, to which the
//!   pipeline delivers receipts and MO and which it may unbind. The connector decodes the
//!   customer's requests itself and hands the session domain messages
//!   ([`crate::session::SessionMsg::Submit`]), answering in its own statuses;
//! - a carrier side ([`CarrierProtocol`], [`CarrierBind`]): how an operator's link splits a
//!   message into the parts it bills, opens a bind, and submits one part; what the operator
//!   sends back (receipts, MO) goes in through [`Inbound`], and how the bind fares through
//!   [`BindEvents`].

use std::sync::Arc;

use futures::future::BoxFuture;
use ractor::ActorRef;
use tern_model::{DeliveryReport, Message, MessageId, Rejection};
use tern_storage::{HeldDelivery, MessageRecord};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::context::Context;
use crate::correlator::CorrelatorMsg;
use crate::link::{LinkConfig, LinkMsg, WireResult};
use crate::mo::{MoMsg, MoOutcome};

/// How a submit is answered once its messages are durable (with the first id) or refused.
pub type Respond = Box<dyn FnOnce(Result<MessageId, Rejection>) + Send>;

/// Asked right before a delivery leaves: false when this node may no longer deliver to the
/// customer (its lease ran out, another node took the account over).
pub type StillOurs = Arc<dyn Fn() -> bool + Send + Sync>;

/// One bound customer connection, in its protocol.
pub trait CustomerLink: Send + Sync + 'static {
    /// The protocol, as metrics and CDRs name it ("smpp", "cmpp").
    fn protocol(&self) -> &'static str;
    /// The bind's kind, as administrators see it ("transceiver", "cmpp").
    fn kind(&self) -> &'static str;
    /// Whether receipts and MO may be delivered on this connection.
    fn can_receive(&self) -> bool;
    /// Whether this connection takes `item`: by default every receipt and MO but the
    /// receipts of messages submitted over a protocol that takes only its own (see
    /// [`CustomerLink::own_only`]).
    fn takes(&self, item: &HeldDelivery) -> bool {
        item.kind != tern_storage::HeldKind::Receipt
            || item
                .message
                .tlv_text(tern_model::Message::ORIGIN_TAG)
                .is_none_or(|origin| origin == self.protocol())
    }
    /// Whether this protocol's connections are the last choice for what was not submitted
    /// over it (HTTP callbacks: receipts of messages submitted over SMPP go to SMPP binds,
    /// and MO to them first). Messages submitted over such a protocol carry it as their
    /// origin ([`tern_model::Message::ORIGIN_TAG`]).
    fn own_only(&self) -> bool {
        false
    }
    /// The protocol's status for a refusal, as metrics label it.
    fn status(&self, rejection: Rejection) -> u32;
    /// Renders a receipt or MO and delivers it; resolves to whether the customer took it.
    /// One that can never be rendered resolves to true: it is dropped, not retried forever.
    fn deliver(&self, item: Arc<HeldDelivery>, still_ours: StillOurs) -> BoxFuture<'static, bool>;
    /// Ends the session.
    fn unbind(&self) -> BoxFuture<'static, ()>;
}

impl std::fmt::Debug for dyn CustomerLink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "CustomerLink({}, {})", self.protocol(), self.kind())
    }
}

/// An operator's protocol, with one link's settings.
pub trait CarrierProtocol: Send + Sync + std::fmt::Debug + 'static {
    /// The protocol, as metrics name it.
    fn protocol(&self) -> &'static str;
    /// Requests one bind may have outstanding.
    fn window(&self) -> usize;
    /// The parts `message` is sent in on this link, each one billed part.
    fn split(&self, message: &Message, now_ms: u64) -> Result<Vec<Message>, Rejection>;
    /// The receipt-index key of an id the operator gave in its answer to a submit.
    fn submit_key(&self, operator_id: &str) -> String {
        operator_id.to_owned()
    }
    /// Starts the client of one bind.
    fn open(&self, bind: OpenBind<'_>) -> Arc<dyn CarrierBind>;
}

/// What a bind is started with.
pub struct OpenBind<'a> {
    /// Closed once this node no longer holds the bind: nothing may be written after that,
    /// even what was queued before.
    pub gate: tern_transport::Gate,
    pub stop: CancellationToken,
    /// Every task of the bind, waited for when it closes.
    pub tasks: &'a TaskTracker,
    pub events: BindEvents,
    pub inbound: Inbound,
}

/// One bind's client.
pub trait CarrierBind: Send + Sync {
    /// Encodes `part` for the operator. The future sends it when first polled and
    /// resolves to the operator's answer; `Err` is the code to fail the part with.
    fn submit(&self, part: &MessageRecord) -> Result<BoxFuture<'static, WireResult>, u32>;
}

/// How a bind tells its link how it fares.
#[derive(Clone)]
pub struct BindEvents {
    pub(crate) link: ActorRef<LinkMsg>,
    pub(crate) slot: u16,
}

impl BindEvents {
    /// The bind can submit.
    pub fn up(&self) -> bool {
        self.link
            .cast(LinkMsg::Bind(self.slot, BindEvent::Up))
            .is_ok()
    }

    /// The bind cannot submit.
    pub fn down(&self, reason: String) -> bool {
        self.link
            .cast(LinkMsg::Bind(self.slot, BindEvent::Down(reason)))
            .is_ok()
    }

    /// The answer to the request numbered `sequence` came after it had timed out; with the
    /// operator's id when it accepted a submit.
    pub fn late(&self, sequence: u32, accepted: Option<String>) -> bool {
        self.link
            .cast(LinkMsg::Bind(
                self.slot,
                BindEvent::Late { sequence, accepted },
            ))
            .is_ok()
    }
}

/// What became of a bind.
#[derive(Debug)]
pub enum BindEvent {
    Up,
    Down(String),
    Late {
        sequence: u32,
        accepted: Option<String>,
    },
}

/// How an operator's receipt is answered, once the pipeline has made it durable.
pub trait ReceiptReply: Send {
    /// Acknowledges it.
    fn ok(self: Box<Self>);
    /// Refuses it with a temporary error, so that the operator sends it again.
    fn retry(self: Box<Self>);
}

impl std::fmt::Debug for dyn ReceiptReply {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ReceiptReply")
    }
}

/// Where a carrier bind hands what its operator sends.
#[derive(Clone)]
pub struct Inbound {
    pub(crate) ctx: Arc<Context>,
    pub(crate) link: Arc<LinkConfig>,
}

impl Inbound {
    /// The link's name.
    pub fn link(&self) -> &str {
        &self.link.name
    }

    /// A receipt, under the key its part was indexed by (see
    /// [`CarrierProtocol::submit_key`]); `reply` is answered once its effect is durable.
    /// When the pipeline cannot take it now (restarting), `reply` comes back to be answered
    /// with a temporary error.
    pub fn receipt(
        &self,
        key: String,
        report: DeliveryReport,
        reply: Box<dyn ReceiptReply>,
    ) -> Result<(), Box<dyn ReceiptReply>> {
        let Some(correlator) = self.ctx.refs.correlator.get() else {
            return Err(reply);
        };
        let message = CorrelatorMsg::Report {
            link: self.link.name.clone(),
            key,
            report,
            reply,
        };
        match correlator.cast(message) {
            Ok(()) => Ok(()),
            Err(ractor::MessagingErr::SendErr(CorrelatorMsg::Report { reply, .. })) => Err(reply),
            // The mailbox is gone with the message: the operator, unanswered, sends it again.
            Err(_) => Ok(()),
        }
    }

    /// A receipt the operator sent that cannot be read: counted; the connector acknowledges
    /// it, since sending it again would not make it readable.
    pub fn unreadable_receipt(&self, error: &dyn std::fmt::Display) {
        metrics::counter!("tern_receipts_unparsable_total", "link" => self.link.name.clone())
            .increment(1);
        tracing::warn!(link = self.link.name, %error, "receipt not understood");
    }

    /// A mobile-originated message; `answer` hears once it is durable, refused or not stored.
    /// False when the pipeline cannot take it now: answer with a temporary error.
    pub fn mo(&self, message: Message, answer: Box<dyn FnOnce(MoOutcome) + Send>) -> bool {
        self.ctx.refs.mo.cast(MoMsg::Message { message, answer })
    }

    /// An MO the operator sent that does not decode: counted; the connector refuses it.
    pub fn malformed_mo(&self) {
        metrics::counter!("tern_mo_refused_total", "reason" => "malformed").increment(1);
    }
}
