//! SGIP as the connection driver sees it: the codec, the sans-IO session, and its counts
//! through `stats`.
//!
//! A whole frame that did not decode (a malformed body, an unknown command) reaches the
//! session as the codec's [`FrameError`]; only a Message Length out of bounds loses the
//! framing and ends the session at once.

use std::time::{Duration, Instant};

use bytes::BytesMut;
use tern_transport::driver::{self, Abort, Delivery, Drain, Failure, Frame, Note, Unencodable};
use tracing::{debug, warn};

use super::rules::command_name;
use super::session::{self as sgip, Event, Outstanding, SendError, Session};
use super::stats::{self, Direction, Role};
use super::{CloseReason, RequestError, SessionEvent, CLOSED};
use crate::codec::{result, Body, Decoder, EncodeError, FrameError, Pdu};

/// How long the close event may wait for an application that does not read its events.
const CLOSE_EVENT_WAIT: Duration = Duration::from_secs(1);

impl driver::Codec for Decoder {
    type In = Pdu;
    type Out = Pdu;
    /// `Malformed` or `UnknownCommand`: the frame was consumed.
    type Malformed = FrameError;
    type FrameError = FrameError;
    type EncodeError = EncodeError;

    fn decode(&mut self, buf: &mut BytesMut) -> driver::Decoded<Self> {
        match Decoder::decode(self, buf) {
            Ok(pdu) => Ok(pdu.map(Frame::Pdu)),
            Err(error @ (FrameError::Malformed { .. } | FrameError::UnknownCommand { .. })) => {
                Ok(Some(Frame::Malformed(error)))
            }
            Err(error @ FrameError::BadLength(_)) => Err(error),
        }
    }

    fn encode(&mut self, pdu: &Pdu, buf: &mut BytesMut) -> Result<(), EncodeError> {
        pdu.encode(buf)
    }
}

impl From<Failure<SendError>> for RequestError {
    fn from(failure: Failure<SendError>) -> Self {
        match failure {
            Failure::Refused(error) => RequestError::NotSent(error.to_string()),
            Failure::Gone => RequestError::NotSent(CLOSED.into()),
            Failure::Timeout { sequence } => RequestError::Timeout { sequence },
            Failure::Closed => RequestError::Closed,
        }
    }
}

/// A request of ours on the wire, as the driver tracks it (by its counter word).
#[derive(Debug)]
pub(crate) struct Sent(Outstanding);

impl driver::Sent for Sent {
    fn sequence(&self) -> u32 {
        self.0.key()
    }

    fn sent_at(&self) -> Instant {
        self.0.sent_at
    }
}

impl driver::Session for Session {
    type Codec = Decoder;
    type Request = Body;
    type Response = Pdu;
    type Sent = Sent;
    type SendError = SendError;
    type CloseReason = CloseReason;
    type Notice = SessionEvent;
    type Custom = std::convert::Infallible;

    fn handle_pdu(&mut self, now: Instant, pdu: Pdu) {
        self.0.handle_pdu(now, pdu);
    }

    fn handle_malformed(&mut self, now: Instant, frame: FrameError) {
        match frame {
            FrameError::Malformed {
                command,
                sequence,
                reason,
                result,
            } => {
                debug!(command = command_name(command), %sequence, reason, "malformed PDU");
                self.0
                    .handle_malformed(now, sgip::garbled(command, sequence, result, &reason));
            }
            other => {
                debug!(error = %other, "closing on a command SGIP 1.2 does not define here");
                self.close(CloseReason::Protocol(other.to_string()));
            }
        }
    }

    fn handle_frame_error(&mut self, _now: Instant, error: &FrameError) {
        self.close(CloseReason::Protocol(error.to_string()));
    }

    fn handle_unencodable(
        &mut self,
        now: Instant,
        pdu: Pdu,
        error: EncodeError,
    ) -> Unencodable<Pdu, SendError> {
        let command = pdu.body.command_id();
        if command.is_response() {
            // The peer's window slot is freed all the same.
            warn!(command = command_name(command), %error, "response does not encode; answering with a system failure");
            let request = crate::codec::CommandId::from_value(command.value() & 0x7fff_ffff);
            let fallback = request.and_then(|request| {
                Pdu::error_response(request, pdu.sequence, result::SYSTEM_FAILURE)
            });
            return fallback.map_or(Unencodable::Drop, Unencodable::Replace);
        }
        debug!(command = command_name(command), %error, "request does not encode");
        self.forget_request(now, pdu.sequence.sequence);
        Unencodable::Fail {
            sequence: pdu.sequence.sequence,
            error: SendError::Unencodable(error.to_string()),
        }
    }

    fn send_request(&mut self, now: Instant, body: Body) -> Result<u32, SendError> {
        self.0.send_request(now, body)
    }

    fn respond(&mut self, now: Instant, response: Pdu) -> bool {
        self.0.respond(now, response)
    }

    fn undelivered(&mut self, now: Instant, notice: SessionEvent) {
        if let SessionEvent::Request(pdu) = notice {
            self.refuse_request(now, &pdu);
        }
    }

    fn drain(&mut self, now: Instant, why: Drain) {
        let reason = match why {
            Drain::Shutdown => CloseReason::Shutdown,
            Drain::Asked | Drain::HandlesGone => CloseReason::ByUs,
        };
        self.0.exit(now, reason);
    }

    fn abort(&mut self, why: Abort) {
        match why {
            Abort::PeerClosed => self.peer_closed(),
            Abort::ReadFailed(error) | Abort::WriteFailed(error) => {
                self.close(CloseReason::Io(error.to_string()))
            }
            Abort::GateClosed => self.close(CloseReason::ByUs),
            Abort::PartialFrame => self.close(CloseReason::Protocol(
                "a PDU stayed half-received for the response timeout".into(),
            )),
        }
    }

    fn poll_transmit(&mut self) -> Option<Pdu> {
        self.0.poll_transmit()
    }

    fn poll_event(&mut self) -> Option<driver::Event<Self>> {
        // A full window of the peer's requests always fits the application's queue: a late
        // response never takes that room, and a request that finds the queue full (the
        // application stopped reading) is answered with node busy.
        let window = self.config().window;
        Some(match self.0.poll_event()? {
            Event::Request(pdu) => {
                driver::Event::Deliver(SessionEvent::Request(pdu), Delivery::OrRefuse)
            }
            Event::Response { request, pdu } => driver::Event::Response {
                request: Sent(request),
                response: pdu,
            },
            Event::LateResponse(pdu) => driver::Event::Deliver(
                SessionEvent::LateResponse(pdu),
                Delivery::KeepRoom {
                    reserve: window + 1,
                },
            ),
            Event::ResponseTimeout(request) => driver::Event::ResponseTimeout(Sent(request)),
            Event::Closed(reason) => driver::Event::Closed {
                notice: SessionEvent::Closed {
                    reason: reason.clone(),
                },
                reason,
                delivery: Delivery::WaitAtMost(CLOSE_EVENT_WAIT),
            },
        })
    }

    fn poll_timeout(&self) -> Option<Instant> {
        self.0.poll_timeout()
    }

    fn handle_timeout(&mut self, now: Instant) {
        self.0.handle_timeout(now);
    }

    fn is_closed(&self) -> bool {
        self.0.is_closed()
    }

    fn frame_timeout(&self) -> Duration {
        self.config().response_timeout
    }
}

/// The `tern_sgip_*` counts of one connection.
pub(crate) struct Metrics(pub Role);

impl driver::Telemetry<Session> for Metrics {
    fn note(&self, note: Note<'_, Session>) {
        let role = self.0;
        match note {
            Note::Opened => stats::session_opened(role),
            Note::Sent(pdu) => stats::pdu(role, pdu.body.command_id(), Direction::Out),
            Note::Received(pdu) => stats::pdu(role, pdu.body.command_id(), Direction::In),
            Note::Unencodable(pdu) => stats::encode_error(role, pdu.body.command_id()),
            Note::GateClosed => stats::gate_closed(role),
            Note::Answered(request) => stats::response_latency(
                role,
                request.0.command,
                request.0.sent_at.elapsed().as_secs_f64(),
            ),
            Note::TimedOut(request) => stats::response_timeout(role, request.0.command),
            Note::Dropped => stats::event_dropped(role),
            // Malformed frames are counted by the session; the rest ends in a close.
            Note::Malformed(_) | Note::Unframeable(_) | Note::PartialFrameTimeout => {}
        }
    }

    fn turn(&self, session: &mut Session) {
        stats::session_counters(self.0, session.take_counters());
    }

    fn closed(&self, _session: &Session, reason: &CloseReason) {
        stats::session_closed(self.0, reason);
    }
}
