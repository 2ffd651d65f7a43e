//! SGIP as the connection driver sees it: the codec, what the shared session's driver
//! glue (`tern_cn::driver`) needs of SGIP ([`Driven`]), and its counts through `stats`.
//!
//! A whole frame that did not decode (a malformed body, an unknown command) reaches the
//! session as the codec's [`FrameError`]; only a Message Length out of bounds loses the
//! framing and ends the session at once.

use bytes::BytesMut;
use tern_cn::driver::Driven;
use tern_cn::session as cn;
use tern_transport::driver::{self, Failure, Frame, Note};

use super::rules::command_name;
use super::session::{self, SendError, Session, Sgip};
use super::stats::{self, Direction, Role};
use super::{CloseReason, RequestError, SessionEvent, CLOSED};
use crate::codec::{result, Decoder, EncodeError, FrameError, Pdu};

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

impl Driven for Sgip {
    type Codec = Decoder;
    type Notice = SessionEvent;

    fn name(pdu: &Pdu) -> &'static str {
        command_name(pdu.body.command_id())
    }

    /// A malformed body is answered with the codec's result; a command SGIP 1.2 does not
    /// define here has no response we could write and closes.
    fn malformed(frame: FrameError) -> Result<cn::Garbled<Sgip>, CloseReason> {
        match frame {
            FrameError::Malformed {
                command,
                sequence,
                reason,
                result,
            } => Ok(session::garbled(command, sequence, result, &reason)),
            other => Err(CloseReason::Protocol(other.to_string())),
        }
    }

    /// A system failure under the response's own sequence number.
    fn unencodable_response(response: &Pdu) -> Option<Pdu> {
        let command = response.body.command_id();
        let request = crate::codec::CommandId::from_value(command.value() & 0x7fff_ffff)?;
        Pdu::error_response(request, response.sequence, result::SYSTEM_FAILURE)
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
                request.command,
                request.sent_at.elapsed().as_secs_f64(),
            ),
            Note::TimedOut(request) => stats::response_timeout(role, request.command),
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
