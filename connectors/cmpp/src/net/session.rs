//! CMPP on the shared session of `tern_cn::session`, the state machine without I/O that
//! SGIP, SMGP and CNGP run too: what CMPP's PDUs are to it ([`Cmpp`]), and CMPP's words
//! for a request it refuses ([`SendError`]) and for the end of a session.
//!
//! CONNECT is exchanged before a session exists (see `handshake`), so every session here
//! is already authenticated and speaks one version. Windows, ACTIVE_TEST keepalive,
//! inactivity, response timers and the TERMINATE exchange are the shared session's.
//!
//! CMPP has no generic_nack: a request we cannot take is answered with its own response
//! carrying an error result (8 flow control past the window, 3 a repeated Sequence_Id,
//! DELIVER_RESP with the DELIVER's Msg_Id), a CONNECT in session ends it, and a PDU we
//! cannot answer at all ends the session.

use tern_cn::session::{self as cn, Counter, Ending, Kind, SendFailure, Wire};

use crate::codec::{Body, CommandId, Pdu};
use crate::result;

use super::rules;
use super::CloseReason;

#[cfg(test)]
pub(crate) use tern_cn::session::State;
pub(crate) use tern_cn::session::{Config, Counters};

/// CMPP 2.0/3.0, as the shared session reads it: Sequence_Ids of 32 bits numbered on from
/// the CONNECT's, SUBMIT, DELIVER, QUERY and CANCEL for the application.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct Cmpp;

/// The shared session, run for CMPP.
pub(crate) type Session = cn::Session<Cmpp>;
#[cfg(test)]
pub(crate) type Event = cn::Event<Cmpp>;

/// Why a request could not be sent.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum SendError {
    #[error("the window of {0} outstanding requests is full")]
    WindowFull(usize),
    #[error("the session is terminating")]
    Terminating,
    #[error("the session is closed")]
    Closed,
    #[error("{0:?} is not a request the application may send")]
    NotARequest(CommandId),
    /// It does not fit the negotiated version's layout; it was not written.
    #[error("{0}")]
    Unencodable(String),
}

impl SendFailure for SendError {
    fn window_full(window: usize) -> Self {
        SendError::WindowFull(window)
    }

    fn exiting() -> Self {
        SendError::Terminating
    }

    fn closed() -> Self {
        SendError::Closed
    }

    fn unencodable(reason: String) -> Self {
        SendError::Unencodable(reason)
    }
}

impl From<Ending> for CloseReason {
    fn from(ending: Ending) -> Self {
        match ending {
            Ending::Exited => CloseReason::Terminated,
            Ending::ByUs => CloseReason::ByUs,
            Ending::Inactivity => CloseReason::Inactivity,
            Ending::PeerClosed => CloseReason::PeerClosed,
            Ending::LoginInSession { malformed: false } => {
                CloseReason::Protocol("CONNECT on a connected session".into())
            }
            Ending::LoginInSession { malformed: true } => {
                CloseReason::Protocol("malformed CONNECT in a session".into())
            }
            Ending::Io(error) => CloseReason::Io(error),
            Ending::Protocol(what) => CloseReason::Protocol(what),
            Ending::Shutdown => CloseReason::Shutdown,
        }
    }
}

/// The request command of a command id, and whether the id is its response's.
fn split(command: CommandId) -> Option<(CommandId, bool)> {
    if command.is_response() {
        rules::request_command(command).map(|request| (request, true))
    } else {
        Some((command, false))
    }
}

impl Wire for Cmpp {
    type Pdu = Pdu;
    type Body = Body;
    type Command = CommandId;
    type Sequence = u32;
    type Status = u32;
    type Side = Counter;
    type SendError = SendError;
    type CloseReason = CloseReason;

    const ACCEPTED: u32 = 0;
    const BUSY: u32 = result::FLOW_CONTROL;
    const DUPLICATE_SEQUENCE: u32 = result::DUPLICATE_SEQUENCE;

    fn sequence(pdu: &Pdu) -> u32 {
        pdu.sequence_id
    }

    fn key(sequence: &u32) -> u32 {
        *sequence
    }

    fn command(pdu: &Pdu) -> Option<(CommandId, bool)> {
        split(pdu.body.command_id())
    }

    fn kind(command: CommandId) -> Kind {
        match command {
            CommandId::Connect => Kind::Login,
            CommandId::ActiveTest => Kind::ActiveTest,
            CommandId::Terminate => Kind::Exit,
            _ => Kind::Request,
        }
    }

    fn body_command(body: &Body) -> Option<CommandId> {
        Some(body.command_id())
    }

    fn request(sequence_id: u32, body: Body) -> Pdu {
        Pdu { sequence_id, body }
    }

    fn plain(kind: Kind) -> Option<Body> {
        match kind {
            Kind::ActiveTest => Some(Body::ActiveTest),
            Kind::Exit => Some(Body::Terminate),
            Kind::Login | Kind::Request => None,
        }
    }

    /// A DELIVER_RESP carries the DELIVER's Msg_Id; a QUERY has no error form and gets
    /// nothing (its sender times out).
    fn response_for(request: &Pdu, status: u32) -> Option<Pdu> {
        Pdu::response_for(request, status)
    }

    fn next_sequence(side: &mut Counter) -> u32 {
        side.issue()
    }

    fn sendable(_side: &Counter, body: &Body) -> Result<CommandId, SendError> {
        let command = body.command_id();
        if rules::is_application_request(command) {
            Ok(command)
        } else {
            Err(SendError::NotARequest(command))
        }
    }
}

/// A frame of a known command whose body did not decode, as the session takes it: a
/// request is owed its response with `result`; a response is only counted.
pub(crate) fn garbled(
    command: CommandId,
    sequence_id: u32,
    result: u32,
    reason: &dyn std::fmt::Display,
) -> cn::Garbled<Cmpp> {
    let answer = if command.is_response() {
        None
    } else {
        Pdu::error_response(command, sequence_id, result)
    };
    cn::Garbled::new(split(command), sequence_id, answer, reason)
}
