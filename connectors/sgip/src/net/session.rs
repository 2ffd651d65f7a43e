//! SGIP on the shared session of `tern_cn::session`, the state machine without I/O that
//! CMPP, SMGP and CNGP run too: what SGIP's PDUs are to it ([`Sgip`]), which requests each
//! side of a bound session may send ([`Side`]), and SGIP's words for a request it refuses
//! ([`SendError`]) and for the end of a session.
//!
//! BIND is exchanged before a session exists (see `handshake`), so every session here is
//! authenticated and knows its login type and which side sends. Two things set SGIP apart
//! on the shared session: its sequence numbers are 96 bits (node id, timestamp, counter),
//! issued by the link's [`SequenceGenerator`] and known to the driver by their counter
//! word; and it has no keepalive command, so a session idle for the inactivity timeout
//! (nothing sent or received, nothing outstanding either way) is ended with UNBIND.
//!
//! SGIP has no generic NACK: a request we cannot take is answered with its own response
//! carrying an error result (11 node busy past the window, 9 a repeated sequence number, 4
//! a command the login type does not carry, 2 a second BIND). SGIP 1.2 §3.7.2.4.2 has a
//! receiver close on a command it cannot parse; a malformed body is answered with its
//! error result instead and the session carries on, since the frame was whole and the
//! stream is still in step. An unknown command has no response we could write: it closes.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tern_cn::session::{self as cn, Ending, Kind, SendFailure, Wire};

use crate::codec::{result, Body, CommandId, LoginType, Pdu};
use crate::msgid::{SequenceGenerator, SequenceNumber};

use super::rules;
use super::CloseReason;

pub(crate) use tern_cn::session::Counters;
#[cfg(test)]
pub(crate) use tern_cn::session::State;

/// Limits and timers of one session, and which way it carries requests.
#[derive(Debug, Clone)]
pub(crate) struct Config {
    /// Requests outstanding per direction.
    pub window: usize,
    /// Nothing sent or received for this long, with nothing outstanding: UNBIND.
    pub inactivity_timeout: Duration,
    /// How long a request of ours waits for its response.
    pub response_timeout: Duration,
    pub login_type: LoginType,
    /// We bound (and send the login type's requests); otherwise we accepted the BIND (and
    /// answer them).
    pub binder: bool,
}

/// SGIP 1.2, as the shared session reads it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct Sgip;

/// This side of one SGIP session: where its sequence numbers come from, and which
/// requests go which way.
#[derive(Debug)]
pub(crate) struct Side {
    sequences: Arc<SequenceGenerator>,
    login_type: LoginType,
    binder: bool,
}

impl Side {
    /// Requests the application may send on this session.
    fn ours(&self) -> &'static [CommandId] {
        if self.binder {
            rules::carried(self.login_type)
        } else {
            &[]
        }
    }

    /// Requests the peer may send on this session.
    fn theirs(&self) -> &'static [CommandId] {
        if self.binder {
            &[]
        } else {
            rules::carried(self.login_type)
        }
    }
}

/// The shared session, run for SGIP.
pub(crate) type Session = cn::Session<Sgip>;

/// A session whose requests take their sequence numbers from `sequences`, shared by the
/// binds of one link so that they never issue the same one.
pub(crate) fn open(config: Config, now: Instant, sequences: Arc<SequenceGenerator>) -> Session {
    let shared = cn::Config {
        window: config.window,
        active_test_interval: None,
        inactivity_timeout: config.inactivity_timeout,
        response_timeout: config.response_timeout,
    };
    let side = Side {
        sequences,
        login_type: config.login_type,
        binder: config.binder,
    };
    cn::Session::new(shared, now, side)
}

#[cfg(test)]
pub(crate) type Event = cn::Event<Sgip>;

/// Why a request could not be sent.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum SendError {
    #[error("the window of {0} outstanding requests is full")]
    WindowFull(usize),
    #[error("the session is unbinding")]
    Unbinding,
    #[error("the session is closed")]
    Closed,
    #[error("{command:?} is not a request this side of a login type {login_type} link sends")]
    NotCarried { command: CommandId, login_type: u8 },
    #[error("the request does not encode: {0}")]
    Unencodable(String),
}

impl SendFailure for SendError {
    fn window_full(window: usize) -> Self {
        SendError::WindowFull(window)
    }

    fn exiting() -> Self {
        SendError::Unbinding
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
            Ending::Exited => CloseReason::Unbound,
            Ending::ByUs => CloseReason::ByUs,
            Ending::Inactivity => CloseReason::Inactivity,
            Ending::PeerClosed => CloseReason::PeerClosed,
            // A BIND in session is refused (`Wire::LOGIN_IN_SESSION`), never closed on.
            Ending::LoginInSession { malformed: false } => {
                CloseReason::Protocol("BIND on a bound session".into())
            }
            Ending::LoginInSession { malformed: true } => {
                CloseReason::Protocol("malformed BIND in a session".into())
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
        CommandId::from_value(command.value() & 0x7fff_ffff).map(|request| (request, true))
    } else {
        Some((command, false))
    }
}

impl Wire for Sgip {
    type Pdu = Pdu;
    type Body = Body;
    type Command = CommandId;
    type Sequence = SequenceNumber;
    type Status = u8;
    type Side = Side;
    type SendError = SendError;
    type CloseReason = CloseReason;

    const ACCEPTED: u8 = result::OK;
    const BUSY: u8 = result::NODE_BUSY;
    const DUPLICATE_SEQUENCE: u8 = result::BAD_SEQUENCE_NUMBER;
    const LOGIN_IN_SESSION: Option<u8> = Some(result::REPEATED_LOGIN);

    fn sequence(pdu: &Pdu) -> SequenceNumber {
        pdu.sequence
    }

    /// The counter word, which the driver keys its waiting callers by: unique within a
    /// session until it wraps.
    fn key(sequence: &SequenceNumber) -> u32 {
        sequence.sequence
    }

    fn command(pdu: &Pdu) -> Option<(CommandId, bool)> {
        split(pdu.body.command_id())
    }

    fn kind(command: CommandId) -> Kind {
        match command {
            CommandId::Bind => Kind::Login,
            CommandId::Unbind => Kind::Exit,
            _ => Kind::Request,
        }
    }

    fn body_command(body: &Body) -> Option<CommandId> {
        Some(body.command_id())
    }

    fn request(sequence: SequenceNumber, body: Body) -> Pdu {
        Pdu { sequence, body }
    }

    /// UNBIND; SGIP has no keepalive command.
    fn plain(kind: Kind) -> Option<Body> {
        match kind {
            Kind::Exit => Some(Body::Unbind),
            Kind::ActiveTest | Kind::Login | Kind::Request => None,
        }
    }

    fn response_for(request: &Pdu, status: u8) -> Option<Pdu> {
        Pdu::response_for(request, status)
    }

    fn next_sequence(side: &mut Side) -> SequenceNumber {
        side.sequences.next_now()
    }

    fn sendable(side: &Side, body: &Body) -> Result<CommandId, SendError> {
        let command = body.command_id();
        if side.ours().contains(&command) {
            Ok(command)
        } else {
            Err(SendError::NotCarried {
                command,
                login_type: side.login_type.value(),
            })
        }
    }

    /// A request the login type does not carry this way gets result 4.
    fn receivable(side: &Side, command: CommandId) -> Result<(), u8> {
        if side.theirs().contains(&command) {
            Ok(())
        } else {
            Err(result::BAD_LOGIN_TYPE)
        }
    }
}

/// A frame of a known command whose body did not decode, as the session takes it: a
/// request is owed its response with `code`; a response is only counted.
pub(crate) fn garbled(
    command: CommandId,
    sequence: SequenceNumber,
    code: u8,
    reason: &dyn std::fmt::Display,
) -> cn::Garbled<Sgip> {
    let answer = if command.is_response() {
        None
    } else {
        Pdu::error_response(command, sequence, code)
    };
    cn::Garbled::new(split(command), sequence, answer, reason)
}
