#![allow(clippy::unwrap_used)]
//! The shared session without sockets: windows, keepalive, inactivity, timeouts, Exit and
//! malformed frames, driven by explicit instants over a toy wire whose PDUs are a command,
//! a response flag, a sequence id and a status.

use std::time::{Duration, Instant};

use super::*;

/// The commands of the toy wire, one of each kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Command {
    Login,
    Submit,
    Deliver,
    ActiveTest,
    Exit,
}

/// A PDU of the toy wire.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Toy {
    command: Command,
    response: bool,
    sequence: u32,
    status: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct ToyWire;

impl Wire for ToyWire {
    type Pdu = Toy;
    type Body = Command;
    type Command = Command;
    type Sequence = u32;
    type Status = u32;
    type Side = Counter;
    type SendError = SendError;
    type CloseReason = CloseReason;

    const ACCEPTED: u32 = 0;
    const BUSY: u32 = 1;
    const DUPLICATE_SEQUENCE: u32 = 12;

    fn sequence(pdu: &Toy) -> u32 {
        pdu.sequence
    }

    fn key(sequence: &u32) -> u32 {
        *sequence
    }

    fn command(pdu: &Toy) -> Option<(Command, bool)> {
        Some((pdu.command, pdu.response))
    }

    fn kind(command: Command) -> Kind {
        match command {
            Command::Login => Kind::Login,
            Command::Submit | Command::Deliver => Kind::Request,
            Command::ActiveTest => Kind::ActiveTest,
            Command::Exit => Kind::Exit,
        }
    }

    fn body_command(body: &Command) -> Option<Command> {
        Some(*body)
    }

    fn request(sequence: u32, command: Command) -> Toy {
        Toy {
            command,
            response: false,
            sequence,
            status: 0,
        }
    }

    fn plain(kind: Kind) -> Option<Command> {
        match kind {
            Kind::ActiveTest => Some(Command::ActiveTest),
            Kind::Exit => Some(Command::Exit),
            Kind::Login | Kind::Request => None,
        }
    }

    fn response_for(request: &Toy, status: u32) -> Option<Toy> {
        Some(response(request.command, request.sequence, status))
    }

    fn next_sequence(side: &mut Counter) -> u32 {
        side.issue()
    }

    fn sendable(_side: &Counter, body: &Command) -> Result<Command, SendError> {
        Some(*body)
            .filter(|command| Self::kind(*command) == Kind::Request)
            .ok_or(SendError::NotARequest)
    }
}

type S = Session<ToyWire>;

fn config() -> Config {
    Config {
        window: 2,
        active_test_interval: Some(Duration::from_secs(30)),
        inactivity_timeout: Duration::from_secs(90),
        response_timeout: Duration::from_secs(10),
    }
}

fn request(command: Command, sequence: u32) -> Toy {
    ToyWire::request(sequence, command)
}

fn response(command: Command, sequence: u32, status: u32) -> Toy {
    Toy {
        command,
        response: true,
        sequence,
        status,
    }
}

fn transmitted(session: &mut S) -> Vec<Toy> {
    std::iter::from_fn(|| session.poll_transmit()).collect()
}

fn events(session: &mut S) -> Vec<Event<ToyWire>> {
    std::iter::from_fn(|| session.poll_event()).collect()
}

#[test]
fn a_request_gets_its_response_and_frees_the_window() {
    let t0 = Instant::now();
    let mut s = S::new(config(), t0, Counter::after(1));
    let seq = s.send_request(t0, Command::Submit).unwrap();
    assert_eq!(seq, 2, "the client's requests follow its Login");
    assert_eq!(transmitted(&mut s), [request(Command::Submit, 2)]);
    assert_eq!(s.outbound_in_use(), 1);
    s.handle_pdu(t0, response(Command::Submit, seq, 0));
    assert!(matches!(
        events(&mut s).as_slice(),
        [Event::Response { request, .. }] if request.sequence == seq
    ));
    assert_eq!(s.outbound_in_use(), 0);
}

#[test]
fn our_window_is_a_hard_limit_and_login_is_not_ours_to_send() {
    let t0 = Instant::now();
    let mut s = S::new(config(), t0, Counter::after(0));
    s.send_request(t0, Command::Submit).unwrap();
    s.send_request(t0, Command::Deliver).unwrap();
    assert_eq!(
        s.send_request(t0, Command::Submit),
        Err(SendError::WindowFull(2))
    );
    assert_eq!(
        s.send_request(t0, Command::Login),
        Err(SendError::NotARequest)
    );
}

#[test]
fn peer_requests_beyond_the_window_are_answered_busy_and_repeats_refused() {
    let t0 = Instant::now();
    let mut s = S::new(config(), t0, Counter::after(0));
    s.handle_pdu(t0, request(Command::Submit, 5));
    s.handle_pdu(t0, request(Command::Submit, 5));
    assert_eq!(transmitted(&mut s), [response(Command::Submit, 5, 12)]);
    s.handle_pdu(t0, request(Command::Submit, 6));
    s.handle_pdu(t0, request(Command::Submit, 7));
    assert_eq!(transmitted(&mut s), [response(Command::Submit, 7, 1)]);
    assert_eq!(s.inbound_in_use(), 2);
    assert_eq!(events(&mut s).len(), 2);
    // Answering frees the slot; an answer to nothing waiting is dropped.
    assert!(s.respond(t0, response(Command::Submit, 5, 0)));
    assert!(!s.respond(t0, response(Command::Submit, 5, 0)));
    assert!(!s.respond(t0, response(Command::Deliver, 6, 0)));
    assert_eq!(s.inbound_in_use(), 1);
    let counters = s.take_counters();
    assert_eq!(
        (counters.flow_controlled, counters.repeated_sequences),
        (1, 1)
    );
}

#[test]
fn an_idle_session_sends_active_test_and_closes_when_nothing_comes() {
    let t0 = Instant::now();
    let mut s = S::new(config(), t0, Counter::after(0));
    assert_eq!(s.poll_timeout(), Some(t0 + Duration::from_secs(30)));
    let t1 = t0 + Duration::from_secs(30);
    s.handle_timeout(t1);
    let sent = transmitted(&mut s);
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].command, Command::ActiveTest);
    // Its response keeps nothing outstanding, and the peer's Active_Test is answered.
    s.handle_pdu(t1, response(Command::ActiveTest, sent[0].sequence, 0));
    s.handle_pdu(t1, request(Command::ActiveTest, 9));
    assert_eq!(transmitted(&mut s), [response(Command::ActiveTest, 9, 0)]);
    s.handle_timeout(t1 + Duration::from_secs(90));
    assert!(matches!(
        events(&mut s).as_slice(),
        [Event::Closed(CloseReason::Inactivity)]
    ));
    assert!(s.is_closed());
}

#[test]
fn a_timed_out_request_frees_its_slot_and_its_late_response_is_reported() {
    let t0 = Instant::now();
    let mut s = S::new(config(), t0, Counter::after(0));
    let seq = s.send_request(t0, Command::Submit).unwrap();
    transmitted(&mut s);
    s.handle_timeout(t0 + Duration::from_secs(10));
    assert!(matches!(
        events(&mut s).as_slice(),
        [Event::ResponseTimeout(request)] if request.sequence == seq
    ));
    assert_eq!(s.outbound_in_use(), 0);
    s.handle_pdu(t0, response(Command::Submit, seq, 0));
    assert!(matches!(
        events(&mut s).as_slice(),
        [Event::LateResponse(_)]
    ));
    // A response to nothing is counted, never answered.
    s.handle_pdu(t0, response(Command::Submit, 99, 0));
    assert!(transmitted(&mut s).is_empty());
    assert_eq!(s.take_counters().unexpected_responses, 1);
}

#[test]
fn exit_waits_for_our_outstanding_requests_then_completes_on_exit_resp() {
    let t0 = Instant::now();
    let mut s = S::new(config(), t0, Counter::after(0));
    let seq = s.send_request(t0, Command::Submit).unwrap();
    transmitted(&mut s);
    s.exit(t0, CloseReason::Shutdown);
    assert_eq!(s.state(), State::Draining);
    assert!(transmitted(&mut s).is_empty());
    assert_eq!(s.send_request(t0, Command::Submit), Err(SendError::Exiting));
    s.handle_pdu(t0, response(Command::Submit, seq, 0));
    let exit = transmitted(&mut s);
    assert_eq!(exit.len(), 1);
    assert_eq!(exit[0].command, Command::Exit);
    assert_eq!(s.state(), State::Exiting);
    s.handle_pdu(t0, response(Command::Exit, exit[0].sequence, 0));
    assert!(matches!(
        events(&mut s).last(),
        Some(Event::Closed(CloseReason::Shutdown))
    ));
}

#[test]
fn the_peer_s_exit_is_answered_and_closes() {
    let t0 = Instant::now();
    let mut s = S::new(config(), t0, Counter::after(0));
    s.handle_pdu(t0, request(Command::Exit, 3));
    assert_eq!(transmitted(&mut s), [response(Command::Exit, 3, 0)]);
    assert!(matches!(
        events(&mut s).as_slice(),
        [Event::Closed(CloseReason::Exited)]
    ));
}

#[test]
fn malformed_requests_get_the_codec_s_answer_and_a_login_in_session_closes() {
    let t0 = Instant::now();
    let mut s = S::new(config(), t0, Counter::after(0));
    let answer = response(Command::Submit, 4, 10);
    let garbled = Garbled::new(
        Some((Command::Submit, false)),
        4,
        Some(answer.clone()),
        &"cut",
    );
    s.handle_malformed(t0, garbled);
    assert_eq!(transmitted(&mut s), [answer]);
    // A broken Active_Test is still a keepalive.
    s.handle_malformed(
        t0,
        Garbled::new(Some((Command::ActiveTest, false)), 5, None, &"long"),
    );
    assert_eq!(transmitted(&mut s), [response(Command::ActiveTest, 5, 0)]);
    assert!(!s.is_closed());
    assert_eq!(s.take_counters().malformed, 2);
    s.handle_pdu(t0, request(Command::Login, 6));
    assert!(matches!(
        events(&mut s).as_slice(),
        [Event::Closed(CloseReason::Protocol(_))]
    ));
}
