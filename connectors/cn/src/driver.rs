//! The shared session as the connection driver of `tern_transport::driver` runs it (with
//! the `driver` feature), for every protocol that says how its codec and its
//! application's notices fit ([`Driven`]): what the driver reports becomes the session's
//! close reasons, events go to the application with the delivery each needs, a frame
//! that did not decode is answered through the session, and a PDU of ours that does not
//! encode is replaced (a response) or failed back to its caller (a request). Each
//! protocol crate keeps its metrics (`driver::Telemetry`) and its API's error types.

use std::convert::Infallible;
use std::time::{Duration, Instant};

use tern_transport::driver::{
    self, Abort, Delivery, Drain, EncodeError, FrameError, Malformed, Unencodable,
};
use tracing::{debug, warn};

use crate::session::{Ending, Event, Garbled, Outstanding, SendFailure, Session, Wire};

/// How long the close event may wait for an application that does not read its events.
const CLOSE_EVENT_WAIT: Duration = Duration::from_secs(1);

/// What the application hears from a session: a request of the peer (answered through the
/// session's handle, under the request's sequence number), a response that came after its
/// request had timed out (the peer did get the request), or the end (nothing follows).
/// CMPP, SGIP, SMGP and CNGP name it for their PDU and close reasons.
#[derive(Debug)]
pub enum SessionEvent<Pdu, Reason = crate::session::CloseReason> {
    Request(Pdu),
    LateResponse(Pdu),
    Closed { reason: Reason },
}

impl<Pdu: Send + 'static, Reason: Send + 'static> Notice<Pdu, Reason>
    for SessionEvent<Pdu, Reason>
{
    fn request(pdu: Pdu) -> Self {
        SessionEvent::Request(pdu)
    }

    fn late_response(pdu: Pdu) -> Self {
        SessionEvent::LateResponse(pdu)
    }

    fn closed(reason: Reason) -> Self {
        SessionEvent::Closed { reason }
    }

    fn into_request(self) -> Option<Pdu> {
        match self {
            SessionEvent::Request(pdu) => Some(pdu),
            SessionEvent::LateResponse(_) | SessionEvent::Closed { .. } => None,
        }
    }
}

/// Why a request of ours got no response (CMPP, SMGP and CNGP; SGIP's names its sequence
/// counter in the timeout's text).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RequestError {
    /// Never written: safe to send again elsewhere.
    #[error("request not sent: {0}")]
    NotSent(String),
    /// The outcome is unknown: the peer may have acted on it. A response that still comes
    /// is a late response with this sequence number.
    #[error("no response within the response timeout (sequence {sequence})")]
    Timeout { sequence: u32 },
    /// The session closed after the request was written: the outcome is unknown.
    #[error("the session closed before the response arrived")]
    Closed,
}

/// Why a request found no session to go on.
pub const CLOSED: &str = "the session is closed";

impl<E: std::fmt::Display> From<driver::Failure<E>> for RequestError {
    fn from(failure: driver::Failure<E>) -> Self {
        match failure {
            driver::Failure::Refused(error) => RequestError::NotSent(error.to_string()),
            driver::Failure::Gone => RequestError::NotSent(CLOSED.into()),
            driver::Failure::Timeout { sequence } => RequestError::Timeout { sequence },
            driver::Failure::Closed => RequestError::Closed,
        }
    }
}

/// What the application of a protocol hears from a session: its own enum, built here
/// ([`SessionEvent`] for these protocols).
pub trait Notice<Pdu, Reason>: Send + 'static {
    /// A request of the peer, to be answered.
    fn request(pdu: Pdu) -> Self;
    /// A response that came after its request had timed out.
    fn late_response(pdu: Pdu) -> Self;
    /// The session ended; nothing follows.
    fn closed(reason: Reason) -> Self;
    /// The peer's request a notice carries, if it is one.
    fn into_request(self) -> Option<Pdu>;
}

/// A protocol the connection driver runs on the shared session.
pub trait Driven: Wire {
    type Codec: driver::Codec<In = Self::Pdu, Out = Self::Pdu>;
    type Notice: Notice<Self::Pdu, Self::CloseReason>;

    /// A bounded label of a PDU's command, for logs.
    fn name(pdu: &Self::Pdu) -> &'static str;
    /// A frame the codec consumed without decoding its body, as the session takes it; a
    /// frame no response can answer (an unknown command, where the protocol has no
    /// generic answer) ends the session with the reason given instead.
    fn malformed(
        frame: <Self::Codec as driver::Codec>::Malformed,
    ) -> Result<Garbled<Self>, Self::CloseReason>;
    /// What goes out instead of a response of ours that does not encode: its request's
    /// error response, so that the peer's window slot is freed all the same.
    fn unencodable_response(response: &Self::Pdu) -> Option<Self::Pdu>;
}

impl<W: Wire> driver::Sent for Outstanding<W> {
    fn sequence(&self) -> u32 {
        self.key()
    }

    fn sent_at(&self) -> Instant {
        self.sent_at
    }
}

impl<W: Driven> driver::Session for Session<W> {
    type Codec = W::Codec;
    type Request = W::Body;
    type Response = W::Pdu;
    type Sent = Outstanding<W>;
    type SendError = W::SendError;
    type CloseReason = W::CloseReason;
    type Notice = W::Notice;
    type Custom = Infallible;

    fn handle_pdu(&mut self, now: Instant, pdu: W::Pdu) {
        Session::handle_pdu(self, now, pdu);
    }

    fn handle_malformed(&mut self, now: Instant, frame: Malformed<Self>) {
        match W::malformed(frame) {
            Ok(frame) => {
                debug!(command = ?frame.command, sequence = ?frame.sequence, reason = %frame.reason, "malformed PDU");
                Session::handle_malformed(self, now, frame);
            }
            Err(reason) => {
                debug!(?reason, "closing on a frame that cannot be answered");
                self.close(reason);
            }
        }
    }

    fn handle_frame_error(&mut self, _now: Instant, error: &FrameError<Self>) {
        self.close(Ending::Protocol(error.to_string()).into());
    }

    fn handle_unencodable(
        &mut self,
        now: Instant,
        pdu: W::Pdu,
        error: EncodeError<Self>,
    ) -> Unencodable<W::Pdu, W::SendError> {
        let command = W::name(&pdu);
        if let Some((_, true)) = W::command(&pdu) {
            warn!(command, %error, "response does not encode; answering with an error status");
            return W::unencodable_response(&pdu).map_or(Unencodable::Drop, Unencodable::Replace);
        }
        debug!(command, %error, "request does not encode");
        let key = W::key(&W::sequence(&pdu));
        self.forget_request(now, key);
        Unencodable::Fail {
            sequence: key,
            error: W::SendError::unencodable(error.to_string()),
        }
    }

    fn send_request(&mut self, now: Instant, body: W::Body) -> Result<u32, W::SendError> {
        Session::send_request(self, now, body)
    }

    fn respond(&mut self, now: Instant, response: W::Pdu) -> bool {
        Session::respond(self, now, response)
    }

    fn undelivered(&mut self, now: Instant, notice: W::Notice) {
        if let Some(pdu) = notice.into_request() {
            self.refuse_request(now, &pdu);
        }
    }

    fn drain(&mut self, now: Instant, why: Drain) {
        let reason = match why {
            Drain::Shutdown => Ending::Shutdown,
            Drain::Asked | Drain::HandlesGone => Ending::ByUs,
        };
        self.exit(now, reason.into());
    }

    fn abort(&mut self, why: Abort) {
        match why {
            Abort::PeerClosed => self.peer_closed(),
            Abort::ReadFailed(error) | Abort::WriteFailed(error) => {
                self.close(Ending::Io(error.to_string()).into())
            }
            Abort::GateClosed => self.close(Ending::ByUs.into()),
            Abort::PartialFrame => self.close(
                Ending::Protocol("a PDU stayed half-received for the response timeout".into())
                    .into(),
            ),
        }
    }

    fn poll_transmit(&mut self) -> Option<W::Pdu> {
        Session::poll_transmit(self)
    }

    fn poll_event(&mut self) -> Option<driver::Event<Self>> {
        // Room for a full window of requests is kept in the application's queue: a late
        // response never takes it, and a request finds it full only when the application
        // stopped reading, and is then answered with the busy status.
        let window = self.config().window;
        Some(match Session::poll_event(self)? {
            Event::Request(pdu) => {
                driver::Event::Deliver(W::Notice::request(pdu), Delivery::OrRefuse)
            }
            Event::Response { request, pdu } => driver::Event::Response {
                request,
                response: pdu,
            },
            Event::LateResponse(pdu) => driver::Event::Deliver(
                W::Notice::late_response(pdu),
                Delivery::KeepRoom {
                    reserve: window + 1,
                },
            ),
            Event::ResponseTimeout(request) => driver::Event::ResponseTimeout(request),
            Event::Closed(reason) => driver::Event::Closed {
                notice: W::Notice::closed(reason.clone()),
                reason,
                delivery: Delivery::WaitAtMost(CLOSE_EVENT_WAIT),
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
