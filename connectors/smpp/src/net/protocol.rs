//! SMPP as the connection driver sees it: the frame codec, the sans-IO session with its
//! binds handed to the side that owns the connection, and the `tern_smpp_*` metrics.

use std::convert::Infallible;
use std::time::{Duration, Instant};

use bytes::BytesMut;
use rusmpp::{Command, CommandId, CommandStatus};
use tern_transport::driver::{self, Abort, Delivery, Drain, Failure, Frame, Note, Unencodable};
use tracing::debug;

use super::{RequestError, SessionEvent};
use crate::codec::DecodeFailure;
use crate::codec::{self, Decoder, FrameError, Header, Inbound};
use crate::session::{BindKind, CloseReason, Event, Outstanding, SendError, Session};

/// A frame whose body did not decode: its request gets `status` in its response.
#[derive(Debug)]
pub struct Rejected {
    header: Header,
    status: CommandStatus,
    reason: DecodeFailure,
}

impl driver::Codec for Decoder {
    type In = Command;
    type Out = Command;
    type Malformed = Rejected;
    type FrameError = FrameError;
    type EncodeError = Infallible;

    fn decode(&mut self, buf: &mut BytesMut) -> driver::Decoded<Self> {
        Ok(Decoder::decode(self, buf)?.map(|inbound| match inbound {
            Inbound::Command(command) => Frame::Pdu(command),
            Inbound::Rejected {
                header,
                status,
                reason,
            } => Frame::Malformed(Rejected {
                header,
                status,
                reason,
            }),
        }))
    }

    fn encode(&mut self, command: &Command, buf: &mut BytesMut) -> Result<(), Infallible> {
        codec::encode(command, buf);
        Ok(())
    }
}

impl From<Failure<SendError>> for RequestError {
    fn from(failure: Failure<SendError>) -> Self {
        match failure {
            Failure::Refused(error) => RequestError::NotSent(error),
            Failure::Timeout { sequence } => RequestError::Timeout { sequence },
            Failure::Gone | Failure::Closed => RequestError::Closed,
        }
    }
}

impl driver::Sent for Outstanding {
    fn sequence(&self) -> u32 {
        self.sequence_number
    }

    fn sent_at(&self) -> Instant {
        self.sent_at
    }
}

/// The steps of a bind, for the side that owns the connection.
#[derive(Debug)]
pub enum Binding {
    /// Server: an ESME asks to bind; answer with `accept_bind` or `reject_bind`.
    Request {
        sequence_number: u32,
        kind: BindKind,
        // Boxed: a bind is one PDU of a session, the other steps are small.
        command: Box<Command>,
    },
    /// Client: the SMSC asks us to bind.
    Outbind,
    Bound {
        kind: BindKind,
        interface_version: u8,
    },
}

impl driver::Session for Session {
    type Codec = Decoder;
    type Request = rusmpp::Pdu;
    type Response = Command;
    type Sent = Outstanding;
    type SendError = SendError;
    type CloseReason = CloseReason;
    type Notice = SessionEvent;
    type Custom = Binding;

    fn handle_pdu(&mut self, now: Instant, command: Command) {
        self.handle_command(now, command);
    }

    fn handle_malformed(&mut self, now: Instant, frame: Rejected) {
        debug!(reason = %frame.reason, status = ?frame.status, "PDU rejected");
        self.handle_rejected(now, &frame.header, frame.status);
    }

    fn handle_frame_error(&mut self, now: Instant, error: &FrameError) {
        Session::handle_frame_error(self, now, error);
    }

    fn handle_unencodable(
        &mut self,
        _now: Instant,
        _command: Command,
        error: Infallible,
    ) -> Unencodable<Command, SendError> {
        match error {}
    }

    fn send_request(&mut self, now: Instant, pdu: rusmpp::Pdu) -> Result<u32, SendError> {
        Session::send_request(self, now, pdu)
    }

    fn respond(&mut self, now: Instant, response: Command) -> bool {
        Session::respond(self, now, response)
    }

    // Every event is delivered with `Delivery::Wait`: none comes back.
    fn undelivered(&mut self, _now: Instant, _event: SessionEvent) {}

    fn drain(&mut self, now: Instant, _why: Drain) {
        self.unbind(now);
    }

    fn abort(&mut self, why: Abort) {
        self.close(match why {
            Abort::PeerClosed | Abort::ReadFailed(_) | Abort::WriteFailed(_) => {
                CloseReason::PeerGone
            }
            Abort::GateClosed => CloseReason::Local,
            Abort::PartialFrame => CloseReason::ProtocolError,
        });
    }

    fn poll_transmit(&mut self) -> Option<Command> {
        Session::poll_transmit(self)
    }

    fn poll_event(&mut self) -> Option<driver::Event<Self>> {
        // Requests and late responses are bounded by the inbound window and the response
        // timers; a full queue means the application is behind, and waiting for it is the
        // back-pressure.
        Some(match Session::poll_event(self)? {
            Event::BindRequest {
                sequence_number,
                kind,
                command,
            } => driver::Event::Custom(Binding::Request {
                sequence_number,
                kind,
                command: Box::new(command),
            }),
            Event::Outbind(_) => driver::Event::Custom(Binding::Outbind),
            Event::Bound {
                kind,
                interface_version,
            } => driver::Event::Custom(Binding::Bound {
                kind,
                interface_version,
            }),
            Event::Request(command) => {
                driver::Event::Deliver(SessionEvent::Request(command), Delivery::Wait)
            }
            Event::Response { request, command } => driver::Event::Response {
                request,
                response: command,
            },
            Event::LateResponse {
                command_id,
                command,
            } => driver::Event::Deliver(
                SessionEvent::LateResponse {
                    command_id,
                    command,
                },
                Delivery::Wait,
            ),
            Event::ResponseTimeout(request) => driver::Event::ResponseTimeout(request),
            Event::Closed { reason, .. } => driver::Event::Closed {
                reason,
                notice: SessionEvent::Closed { reason },
                delivery: Delivery::Wait,
            },
        })
    }

    fn poll_timeout(&self) -> Option<Instant> {
        Session::poll_timeout(self)
    }

    fn handle_timeout(&mut self, now: Instant) {
        Session::handle_timeout(self, now);
    }

    fn is_closed(&self) -> bool {
        Session::is_closed(self)
    }

    fn frame_timeout(&self) -> Duration {
        self.config().response_timeout
    }
}

/// The `tern_smpp_*` metrics of one connection.
pub(crate) struct Metrics {
    /// "server" (an ESME bound to us) or "client" (our link to an SMSC).
    pub role: &'static str,
    /// The counters and latency histograms of the PDUs every message moves, looked up once
    /// per connection rather than in the registry for every PDU.
    hot: Vec<HotCommand>,
}

/// The cached metrics of one command.
struct HotCommand {
    id: CommandId,
    sent: metrics::Counter,
    received: metrics::Counter,
    /// For a request: the latency of its answers.
    answered: Option<metrics::Histogram>,
}

/// The commands whose metrics [`Metrics`] caches.
const HOT_COMMANDS: [CommandId; 4] = [
    CommandId::SubmitSm,
    CommandId::SubmitSmResp,
    CommandId::DeliverSm,
    CommandId::DeliverSmResp,
];

impl Metrics {
    pub(crate) fn new(role: &'static str) -> Self {
        let hot = HOT_COMMANDS
            .iter()
            .map(|&id| {
                let command = command_name(id);
                HotCommand {
                    id,
                    sent: metrics::counter!("tern_smpp_pdus_sent_total", "role" => role, "command" => command),
                    received: metrics::counter!("tern_smpp_pdus_received_total", "role" => role, "command" => command),
                    answered: matches!(id, CommandId::SubmitSm | CommandId::DeliverSm).then(|| {
                        metrics::histogram!("tern_smpp_response_latency_seconds", "role" => role, "command" => command)
                    }),
                }
            })
            .collect();
        Self { role, hot }
    }

    fn hot(&self, id: CommandId) -> Option<&HotCommand> {
        self.hot.iter().find(|h| h.id == id)
    }
}

impl driver::Telemetry<Session> for Metrics {
    fn note(&self, note: Note<'_, Session>) {
        let role = self.role;
        match note {
            Note::Sent(command) => match self.hot(command.id()) {
                Some(hot) => hot.sent.increment(1),
                None => metrics::counter!(
                    "tern_smpp_pdus_sent_total",
                    "role" => role,
                    "command" => command_name(command.id())
                )
                .increment(1),
            },
            Note::Received(command) => match self.hot(command.id()) {
                Some(hot) => hot.received.increment(1),
                None => metrics::counter!(
                    "tern_smpp_pdus_received_total",
                    "role" => role,
                    "command" => command_name(command.id())
                )
                .increment(1),
            },
            Note::Malformed(Rejected { status, .. }) => rejected(role, *status),
            Note::Unframeable(error) => rejected(role, error.status()),
            Note::GateClosed => {
                metrics::counter!("tern_smpp_gate_closes_total", "role" => role).increment(1)
            }
            Note::PartialFrameTimeout => {
                metrics::counter!("tern_smpp_partial_frame_timeouts_total", "role" => role)
                    .increment(1)
            }
            Note::Answered(request) => {
                let seconds = request.sent_at.elapsed().as_secs_f64();
                match self
                    .hot(request.command_id)
                    .and_then(|h| h.answered.as_ref())
                {
                    Some(answered) => answered.record(seconds),
                    None => metrics::histogram!(
                        "tern_smpp_response_latency_seconds",
                        "role" => role,
                        "command" => command_name(request.command_id)
                    )
                    .record(seconds),
                }
            }
            Note::TimedOut(_) => {
                metrics::counter!("tern_smpp_response_timeouts_total", "role" => role).increment(1)
            }
            Note::Opened | Note::Unencodable(_) | Note::Dropped => {}
        }
    }

    fn closed(&self, session: &Session, _reason: &CloseReason) {
        let counters = session.counters();
        metrics::counter!("tern_smpp_unexpected_responses_total", "role" => self.role)
            .increment(counters.unexpected_responses);
        metrics::counter!("tern_smpp_throttled_total", "role" => self.role)
            .increment(counters.throttled);
    }
}

fn rejected(role: &'static str, status: CommandStatus) {
    metrics::counter!(
        "tern_smpp_pdus_rejected_total",
        "role" => role,
        "status" => format!("{:#x}", u32::from(status))
    )
    .increment(1);
}

/// A bounded label value for a command id.
pub(crate) fn command_name(id: CommandId) -> &'static str {
    match id {
        CommandId::BindReceiver => "bind_receiver",
        CommandId::BindTransmitter => "bind_transmitter",
        CommandId::BindTransceiver => "bind_transceiver",
        CommandId::BindReceiverResp => "bind_receiver_resp",
        CommandId::BindTransmitterResp => "bind_transmitter_resp",
        CommandId::BindTransceiverResp => "bind_transceiver_resp",
        CommandId::QuerySm => "query_sm",
        CommandId::QuerySmResp => "query_sm_resp",
        CommandId::SubmitSm => "submit_sm",
        CommandId::SubmitSmResp => "submit_sm_resp",
        CommandId::DeliverSm => "deliver_sm",
        CommandId::DeliverSmResp => "deliver_sm_resp",
        CommandId::Unbind => "unbind",
        CommandId::UnbindResp => "unbind_resp",
        CommandId::ReplaceSm => "replace_sm",
        CommandId::ReplaceSmResp => "replace_sm_resp",
        CommandId::CancelSm => "cancel_sm",
        CommandId::CancelSmResp => "cancel_sm_resp",
        CommandId::Outbind => "outbind",
        CommandId::EnquireLink => "enquire_link",
        CommandId::EnquireLinkResp => "enquire_link_resp",
        CommandId::SubmitMulti => "submit_multi",
        CommandId::SubmitMultiResp => "submit_multi_resp",
        CommandId::AlertNotification => "alert_notification",
        CommandId::DataSm => "data_sm",
        CommandId::DataSmResp => "data_sm_resp",
        CommandId::GenericNack => "generic_nack",
        CommandId::BroadcastSm
        | CommandId::BroadcastSmResp
        | CommandId::QueryBroadcastSm
        | CommandId::QueryBroadcastSmResp
        | CommandId::CancelBroadcastSm
        | CommandId::CancelBroadcastSmResp => "broadcast",
        CommandId::Other(_) => "other",
    }
}
