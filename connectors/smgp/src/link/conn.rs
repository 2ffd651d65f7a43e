//! The shared session as the connection driver sees it, for any [`Protocol`]: what the
//! driver reports is mapped to the session's close reasons, events go to the application
//! with the delivery each needs, and every count goes through `stats`.
//!
//! A request whose body does not decode gets the codec's error response and the session
//! goes on; a stream that cannot be framed any more ends the session.

use std::time::{Duration, Instant};

use tern_cn::session::{self as cn, Garbled, Outstanding, SendError};
use tern_transport::driver::{
    self, Abort, Delivery, Drain, EncodeError, Failure, FrameError, Note, Unencodable,
};
use tracing::{debug, warn};

use super::stats::{Direction, Stats};
use super::{command_name, CloseReason, Protocol, RequestError, SessionEvent, CLOSED};

/// How long the close event may wait for an application that does not read its events.
const CLOSE_EVENT_WAIT: Duration = Duration::from_secs(1);

/// The shared session, run for protocol `P`.
#[derive(Debug)]
pub struct Session<P: Protocol>(pub(crate) cn::Session<P>);

/// A request of ours on the wire, as the driver tracks it.
#[derive(Debug)]
pub struct Sent<P: Protocol>(Outstanding<P>);

impl<P: Protocol> driver::Sent for Sent<P> {
    fn sequence(&self) -> u32 {
        self.0.key()
    }

    fn sent_at(&self) -> Instant {
        self.0.sent_at
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

impl<P: Protocol> driver::Session for Session<P> {
    type Codec = P::Codec;
    type Request = P::Body;
    type Response = P::Pdu;
    type Sent = Sent<P>;
    type SendError = SendError;
    type CloseReason = CloseReason;
    type Notice = SessionEvent<P::Pdu>;
    type Custom = std::convert::Infallible;

    fn handle_pdu(&mut self, now: Instant, pdu: P::Pdu) {
        self.0.handle_pdu(now, pdu);
    }

    fn is_closed(&self) -> bool {
        self.0.is_closed()
    }

    fn frame_timeout(&self) -> Duration {
        self.0.config().response_timeout
    }

    fn handle_timeout(&mut self, now: Instant) {
        self.0.handle_timeout(now);
    }

    fn handle_malformed(&mut self, now: Instant, frame: Garbled<P>) {
        debug!(sequence_id = frame.sequence, reason = %frame.reason, "malformed PDU");
        self.0.handle_malformed(now, frame);
    }

    fn handle_frame_error(&mut self, _now: Instant, error: &FrameError<Self>) {
        self.0.close(CloseReason::Protocol(error.to_string()));
    }

    fn handle_unencodable(
        &mut self,
        now: Instant,
        pdu: P::Pdu,
        error: EncodeError<Self>,
    ) -> Unencodable<P::Pdu, SendError> {
        let sequence = P::sequence(&pdu);
        match P::command(&pdu) {
            Some((command, true)) => {
                // The peer's window slot is freed all the same.
                warn!(command = command.name(true), %error, "response does not encode; answering with an error status");
                P::error_response(command, sequence, P::BAD_STRUCTURE)
                    .map_or(Unencodable::Drop, Unencodable::Replace)
            }
            _ => {
                debug!(%error, "request does not encode");
                self.0.forget_request(now, sequence);
                Unencodable::Fail {
                    sequence,
                    error: SendError::Unencodable(error.to_string()),
                }
            }
        }
    }

    fn send_request(&mut self, now: Instant, body: P::Body) -> Result<u32, SendError> {
        self.0.send_request(now, body)
    }

    fn respond(&mut self, now: Instant, response: P::Pdu) -> bool {
        self.0.respond(now, response)
    }

    fn undelivered(&mut self, now: Instant, notice: SessionEvent<P::Pdu>) {
        if let SessionEvent::Request(pdu) = notice {
            self.0.refuse_request(now, &pdu);
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
            Abort::PeerClosed => self.0.peer_closed(),
            Abort::ReadFailed(error) | Abort::WriteFailed(error) => {
                self.0.close(CloseReason::Io(error.to_string()))
            }
            Abort::GateClosed => self.0.close(CloseReason::ByUs),
            Abort::PartialFrame => self.0.close(CloseReason::Protocol(
                "a PDU stayed half-received for the response timeout".into(),
            )),
        }
    }

    fn poll_transmit(&mut self) -> Option<P::Pdu> {
        self.0.poll_transmit()
    }

    fn poll_event(&mut self) -> Option<driver::Event<Self>> {
        // Room for a full window of requests is kept in the application's queue: a late
        // response never takes it, and a request finds it full only when the application
        // stopped reading, and is then answered with the busy status.
        let window = self.0.config().window;
        Some(match self.0.poll_event()? {
            cn::Event::Request(pdu) => {
                driver::Event::Deliver(SessionEvent::Request(pdu), Delivery::OrRefuse)
            }
            cn::Event::Response { request, pdu } => driver::Event::Response {
                request: Sent(request),
                response: pdu,
            },
            cn::Event::LateResponse(pdu) => driver::Event::Deliver(
                SessionEvent::LateResponse(pdu),
                Delivery::KeepRoom {
                    reserve: window + 1,
                },
            ),
            cn::Event::ResponseTimeout(request) => driver::Event::ResponseTimeout(Sent(request)),
            cn::Event::Closed(reason) => driver::Event::Closed {
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
}

impl<P: Protocol> driver::Telemetry<Session<P>> for Stats {
    fn note(&self, note: Note<'_, Session<P>>) {
        match note {
            Note::Opened => self.session_opened(),
            Note::Sent(pdu) => self.pdu(command_name::<P>(pdu), Direction::Out),
            Note::Received(pdu) => self.pdu(command_name::<P>(pdu), Direction::In),
            Note::Unencodable(pdu) => self.encode_error(command_name::<P>(pdu)),
            Note::GateClosed => self.gate_closed(),
            Note::Answered(request) => self.response_latency(
                request.0.command.name(false),
                request.0.sent_at.elapsed().as_secs_f64(),
            ),
            Note::TimedOut(request) => self.response_timeout(request.0.command.name(false)),
            Note::Dropped => self.event_dropped(),
            // Malformed frames are counted by the session; the rest ends in a close.
            Note::Malformed(_) | Note::Unframeable(_) | Note::PartialFrameTimeout => {}
        }
    }

    fn turn(&self, session: &mut Session<P>) {
        self.session_counters(session.0.take_counters());
    }

    fn closed(&self, _session: &Session<P>, reason: &CloseReason) {
        self.session_closed(reason);
    }
}
