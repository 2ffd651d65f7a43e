//! The shared session as the connection driver sees it, for any [`Protocol`]: the driver
//! glue itself is `tern_cn::driver`'s, which SMGP and CNGP share with CMPP and SGIP; here
//! are what it needs of the two (their notices, the label and the fallback of a PDU) and
//! every count going through `stats`.
//!
//! A request whose body does not decode gets the codec's error response and the session
//! goes on; a stream that cannot be framed any more ends the session.

use tern_cn::session as cn;
use tern_transport::driver::{self, Note};

use super::stats::{Direction, Stats};
use super::{command_name, CloseReason, Protocol};

/// The shared session, run for protocol `P`.
pub type Session<P> = cn::Session<P>;

/// What goes out instead of a response of ours that does not encode: its request's
/// response with status 10 (bad structure), for `tern_cn::driver::Driven`.
pub fn unencodable_response<P: Protocol>(response: &P::Pdu) -> Option<P::Pdu> {
    let (command, _) = P::command(response)?;
    P::error_response(command, P::sequence(response), P::BAD_STRUCTURE)
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
                request.command.name(false),
                request.sent_at.elapsed().as_secs_f64(),
            ),
            Note::TimedOut(request) => self.response_timeout(request.command.name(false)),
            Note::Dropped => self.event_dropped(),
            // Malformed frames are counted by the session; the rest ends in a close.
            Note::Malformed(_) | Note::Unframeable(_) | Note::PartialFrameTimeout => {}
        }
    }

    fn turn(&self, session: &mut Session<P>) {
        self.session_counters(session.take_counters());
    }

    fn closed(&self, _session: &Session<P>, reason: &CloseReason) {
        self.session_closed(reason);
    }
}
