//! CMPP as the connection driver sees it: the codec in the version CONNECT settled, what
//! the shared session's driver glue (`tern_cn::driver`) needs of CMPP ([`Driven`]), and
//! its counts through `stats`.
//!
//! CMPP has no generic_nack: a request whose body does not decode gets its own response
//! with an error result, an unknown command ends the session, and a response that does
//! not fit the version is replaced by the error response of its request.

use bytes::BytesMut;
use tern_cn::driver::Driven;
use tern_cn::session as cn;
use tern_transport::driver::{self, Frame, Note};

use super::rules::{self, command_name};
use super::session::{self, Cmpp, Session};
use super::stats::{self, Direction, Role};
use super::{CloseReason, SessionEvent};
use crate::codec::{CommandId, Decoder, EncodeError, FrameError, Pdu};

/// A frame of a known command whose body did not decode.
#[derive(Debug)]
pub struct Garbled {
    pub command: CommandId,
    pub sequence_id: u32,
    pub reason: &'static str,
}

impl driver::Codec for Decoder {
    type FrameError = FrameError;
    type EncodeError = EncodeError;
    type Malformed = Garbled;
    type In = Pdu;
    type Out = Pdu;

    fn decode(&mut self, buf: &mut BytesMut) -> driver::Decoded<Self> {
        match Decoder::decode(self, buf) {
            Ok(pdu) => Ok(pdu.map(Frame::Pdu)),
            Err(FrameError::Malformed {
                command,
                sequence_id,
                reason,
            }) => Ok(Some(Frame::Malformed(Garbled {
                command,
                sequence_id,
                reason,
            }))),
            Err(error) => Err(error),
        }
    }

    fn encode(&mut self, pdu: &Pdu, buf: &mut BytesMut) -> Result<(), EncodeError> {
        pdu.encode(self.version(), buf)
    }
}

impl Driven for Cmpp {
    type Codec = Decoder;
    type Notice = SessionEvent;

    fn name(pdu: &Pdu) -> &'static str {
        command_name(pdu.body.command_id())
    }

    /// A request whose body does not decode is answered with the result its reason
    /// calls for; every frame CMPP's codec consumes is of a known command.
    fn malformed(frame: Garbled) -> Result<cn::Garbled<Cmpp>, CloseReason> {
        let result = rules::malformed_result(frame.reason);
        Ok(session::garbled(
            frame.command,
            frame.sequence_id,
            result,
            &frame.reason,
        ))
    }

    fn unencodable_response(response: &Pdu) -> Option<Pdu> {
        let request = rules::request_command(response.body.command_id())?;
        Pdu::error_response(request, response.sequence_id, rules::RESULT_OTHER)
    }
}

/// The `tern_cmpp_*` counts of one connection.
pub(crate) struct Metrics(pub Role);

impl driver::Telemetry<Session> for Metrics {
    fn note(&self, note: Note<'_, Session>) {
        let role = self.0;
        match note {
            Note::Opened => stats::session_opened(role),
            Note::Sent(pdu) => stats::pdu(role, pdu.body.command_id(), Direction::Out),
            Note::Received(pdu) => stats::pdu(role, pdu.body.command_id(), Direction::In),
            Note::Unencodable(pdu) => stats::encode_error(role, pdu.body.command_id()),
            Note::GateClosed => {
                metrics::counter!("tern_cmpp_gate_closes_total", "role" => role).increment(1)
            }
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
