//! SMGP as the connection driver sees it: the codec, the session `tern_cn::session` runs
//! for SMGP's PDUs, and its counts through `stats`.
//!
//! SMGP has no generic NACK: a request whose body does not decode gets its own response
//! with status 10 (bad structure) and the session goes on; a request id we do not know
//! has no response at all and is only counted; a PacketLength out of bounds ends the
//! session, since the stream cannot be framed any more.

use std::time::{Duration, Instant};

use bytes::BytesMut;
use tern_cn::session::{self as cn, Command, Garbled, Outstanding, SendError, Wire};
use tern_transport::driver::{self, Abort, Delivery, Drain, Failure, Frame, Note, Unencodable};
use tracing::{debug, warn};

use super::stats::{self, Direction, Role};
use super::{CloseReason, RequestError, SessionEvent, CLOSED};
use crate::codec::{status, Body, Decoder, EncodeError, FrameError, Pdu, RequestId};

/// How long the close event may wait for an application that does not read its events.
const CLOSE_EVENT_WAIT: Duration = Duration::from_secs(1);

/// SMGP's PDUs as the shared session reads them.
#[derive(Debug)]
pub(crate) struct Smgp;

/// The shared command of a request id, and whether it is the response.
pub(crate) fn command(id: RequestId) -> (Command, bool) {
    let command = match id {
        RequestId::Login | RequestId::LoginResp => Command::Login,
        RequestId::Submit | RequestId::SubmitResp => Command::Submit,
        RequestId::Deliver | RequestId::DeliverResp => Command::Deliver,
        RequestId::ActiveTest | RequestId::ActiveTestResp => Command::ActiveTest,
        RequestId::Exit | RequestId::ExitResp => Command::Exit,
    };
    (command, id.is_response())
}

impl Wire for Smgp {
    type Pdu = Pdu;
    type Body = Body;
    const BUSY: u32 = status::SYSTEM_BUSY;
    const DUPLICATE_SEQUENCE: u32 = status::DUPLICATE_SEQUENCE;

    fn sequence(pdu: &Pdu) -> u32 {
        pdu.sequence_id
    }

    fn command(pdu: &Pdu) -> Option<(Command, bool)> {
        Some(command(pdu.body.request_id()))
    }

    fn body_command(body: &Body) -> Option<Command> {
        Some(command(body.request_id()).0)
    }

    fn request(sequence_id: u32, body: Body) -> Pdu {
        Pdu { sequence_id, body }
    }

    fn plain(command: Command) -> Option<Body> {
        match command {
            Command::ActiveTest => Some(Body::ActiveTest),
            Command::Exit => Some(Body::Exit),
            _ => None,
        }
    }

    fn response_for(request: &Pdu, status: u32) -> Option<Pdu> {
        Pdu::response_for(request, status)
    }
}

/// The shared session, run for SMGP.
#[derive(Debug)]
pub(crate) struct Session(pub cn::Session<Smgp>);

/// A request of ours on the wire, as the driver tracks it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Sent(pub Outstanding);

impl driver::Sent for Sent {
    fn sequence(&self) -> u32 {
        self.0.sequence_id
    }

    fn sent_at(&self) -> Instant {
        self.0.sent_at
    }
}

impl driver::Codec for Decoder {
    type FrameError = FrameError;
    type EncodeError = EncodeError;
    type Malformed = Garbled<Pdu>;
    type In = Pdu;
    type Out = Pdu;

    fn decode(&mut self, buf: &mut BytesMut) -> driver::Decoded<Self> {
        match Decoder::decode(self, buf) {
            Ok(pdu) => Ok(pdu.map(Frame::Pdu)),
            Err(
                error @ FrameError::Malformed {
                    request,
                    sequence_id,
                    ..
                },
            ) => Ok(Some(Frame::Malformed(Garbled {
                command: Some(command(request)),
                sequence_id,
                answer: error.response(),
                reason: error.to_string(),
            }))),
            Err(error @ FrameError::UnknownRequest { sequence_id, .. }) => {
                Ok(Some(Frame::Malformed(Garbled {
                    command: None,
                    sequence_id,
                    answer: error.response(),
                    reason: error.to_string(),
                })))
            }
            Err(error) => Err(error),
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

    fn is_closed(&self) -> bool {
        self.0.is_closed()
    }

    fn frame_timeout(&self) -> Duration {
        self.0.config().response_timeout
    }

    fn handle_timeout(&mut self, now: Instant) {
        self.0.handle_timeout(now);
    }

    fn handle_malformed(&mut self, now: Instant, frame: Garbled<Pdu>) {
        debug!(sequence_id = frame.sequence_id, reason = %frame.reason, "malformed PDU");
        self.0.handle_malformed(now, frame);
    }

    fn handle_frame_error(&mut self, _now: Instant, error: &FrameError) {
        self.0.close(CloseReason::Protocol(error.to_string()));
    }

    fn handle_unencodable(
        &mut self,
        now: Instant,
        pdu: Pdu,
        error: EncodeError,
    ) -> Unencodable<Pdu, SendError> {
        let id = pdu.body.request_id();
        if id.is_response() {
            // The peer's window slot is freed all the same.
            warn!(request_id = ?id, %error, "response does not encode; answering with an error status");
            let request = RequestId::from_value(id.value() & 0x7fff_ffff);
            let fallback = request.and_then(|request| {
                Pdu::error_response(request, pdu.sequence_id, status::SYSTEM_BUSY)
            });
            return fallback.map_or(Unencodable::Drop, Unencodable::Replace);
        }
        debug!(request_id = ?id, %error, "request does not encode");
        self.0.forget_request(now, pdu.sequence_id);
        Unencodable::Fail {
            sequence: pdu.sequence_id,
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

    fn poll_transmit(&mut self) -> Option<Pdu> {
        self.0.poll_transmit()
    }

    fn poll_event(&mut self) -> Option<driver::Event<Self>> {
        // Room for a full window of requests is kept in the application's queue: a late
        // response never takes it, and a request finds it full only when the application
        // stopped reading, and is then answered with system busy.
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

/// The `tern_smgp_*` counts of one connection.
pub(crate) struct Metrics(pub Role);

fn name(pdu: &Pdu) -> &'static str {
    let (command, response) = command(pdu.body.request_id());
    command.name(response)
}

impl driver::Telemetry<Session> for Metrics {
    fn note(&self, note: Note<'_, Session>) {
        let role = self.0;
        match note {
            Note::Opened => stats::session_opened(role),
            Note::Sent(pdu) => stats::pdu(role, name(pdu), Direction::Out),
            Note::Received(pdu) => stats::pdu(role, name(pdu), Direction::In),
            Note::Unencodable(pdu) => stats::encode_error(role, name(pdu)),
            Note::GateClosed => stats::gate_closed(role),
            Note::Answered(request) => stats::response_latency(
                role,
                request.0.command.name(false),
                request.0.sent_at.elapsed().as_secs_f64(),
            ),
            Note::TimedOut(request) => stats::response_timeout(role, request.0.command.name(false)),
            Note::Dropped => stats::event_dropped(role),
            // Malformed frames are counted by the session; the rest ends in a close.
            Note::Malformed(_) | Note::Unframeable(_) | Note::PartialFrameTimeout => {}
        }
    }

    fn turn(&self, session: &mut Session) {
        stats::session_counters(self.0, session.0.take_counters());
    }

    fn closed(&self, _session: &Session, reason: &CloseReason) {
        stats::session_closed(self.0, reason);
    }
}
