//! The connected session that SMGP and CNGP share, as a state machine without I/O driven
//! by explicit time. Both protocols have the same five commands (Login, Submit, Deliver,
//! Active_Test, Exit), answer a refused request with its own response and an error status,
//! and number the same statuses for a busy peer and a repeated sequence id; what differs
//! (header layout, where the status travels) stays behind [`Wire`], which each protocol
//! crate implements for its PDU.
//!
//! Login is exchanged before a session exists, so every session here is authenticated. The
//! driver feeds it decoded PDUs (`handle_pdu`, `handle_malformed`), asks it to send
//! requests (`send_request`) and responses (`respond`), writes whatever `poll_transmit`
//! yields, hands whatever `poll_event` yields to the application, and calls
//! `handle_timeout(now)` when `poll_timeout()` is due. Windows, Active_Test keepalive,
//! inactivity, response timers and the Exit exchange live here, tested without sockets.

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

/// How long the sequence ids of timed-out requests are kept to recognise late responses.
const LATE_RESPONSE_GRACE: Duration = Duration::from_secs(60);

/// The commands SMGP 3.0 and CNGP 2.0 both have; a response is the same command with
/// the response bit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Command {
    Login,
    Submit,
    Deliver,
    ActiveTest,
    Exit,
}

/// The bit that makes a request's id its response's.
const RESPONSE_BIT: u32 = 0x8000_0000;

impl Command {
    /// The request's id on the wire: SMGP 3.0 and CNGP 2.0 number these five alike.
    pub fn id(self) -> u32 {
        match self {
            Command::Login => 1,
            Command::Submit => 2,
            Command::Deliver => 3,
            Command::ActiveTest => 4,
            Command::Exit => 6,
        }
    }

    /// The command of a wire id, and whether the id is its response's.
    pub fn from_id(id: u32) -> Option<(Command, bool)> {
        let command = match id & !RESPONSE_BIT {
            1 => Command::Login,
            2 => Command::Submit,
            3 => Command::Deliver,
            4 => Command::ActiveTest,
            6 => Command::Exit,
            _ => return None,
        };
        Some((command, id & RESPONSE_BIT != 0))
    }

    /// Requests the application sends and answers; the session owns Login, Active_Test
    /// and Exit.
    pub fn is_application_request(self) -> bool {
        matches!(self, Command::Submit | Command::Deliver)
    }

    /// A bounded metric label.
    pub fn name(self, response: bool) -> &'static str {
        match (self, response) {
            (Command::Login, false) => "login",
            (Command::Login, true) => "login_resp",
            (Command::Submit, false) => "submit",
            (Command::Submit, true) => "submit_resp",
            (Command::Deliver, false) => "deliver",
            (Command::Deliver, true) => "deliver_resp",
            (Command::ActiveTest, false) => "active_test",
            (Command::ActiveTest, true) => "active_test_resp",
            (Command::Exit, false) => "exit",
            (Command::Exit, true) => "exit_resp",
        }
    }
}

/// What the session needs to know of a protocol's PDUs.
pub trait Wire {
    /// A whole PDU, header included.
    type Pdu: std::fmt::Debug + Send + Sync + 'static;
    /// A request's body, before the session gives it a sequence id.
    type Body: std::fmt::Debug + Send + Sync + 'static;
    /// The status that answers a request beyond the window: system busy, 1 in SMGP 3.0
    /// and CNGP 2.0 alike.
    const BUSY: u32 = 1;
    /// The status that answers a request reusing a sequence id still unanswered (12).
    const DUPLICATE_SEQUENCE: u32 = 12;

    fn sequence(pdu: &Self::Pdu) -> u32;
    /// The command and whether the PDU is its response; `None` for a command the protocol
    /// crate does not model.
    fn command(pdu: &Self::Pdu) -> Option<(Command, bool)>;
    fn body_command(body: &Self::Body) -> Option<Command>;
    /// `body` sent with `sequence`.
    fn request(sequence: u32, body: Self::Body) -> Self::Pdu;
    /// The body of a request without fields: Active_Test or Exit.
    fn plain(command: Command) -> Option<Self::Body>;
    /// The response that answers `request` with `status` (a Deliver_Resp carries the
    /// Deliver's MsgID).
    fn response_for(request: &Self::Pdu, status: u32) -> Option<Self::Pdu>;
    /// The response to a request known only by its command and sequence id.
    fn error_response(command: Command, sequence: u32, status: u32) -> Option<Self::Pdu>;
}

/// Limits and timers of one session.
#[derive(Debug, Clone)]
pub struct Config {
    /// Requests outstanding per direction.
    pub window: usize,
    /// Idle time after which we send Active_Test.
    pub active_test_interval: Duration,
    /// Nothing received for this long: the session is dead.
    pub inactivity_timeout: Duration,
    /// How long a request of ours waits for its response.
    pub response_timeout: Duration,
}

/// Why a session ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CloseReason {
    /// The peer sent Exit.
    Exited,
    /// We sent Exit (asked for, or every handle was dropped).
    ByUs,
    /// Nothing arrived for the inactivity timeout, Active_Test included.
    Inactivity,
    /// The peer closed the connection without Exit.
    PeerClosed,
    /// The connection failed (reset, a write error, a connect or Login timeout).
    Io(String),
    /// The peer sent something that ends the session (lost framing, a Login in session).
    Protocol(String),
    /// We are shutting down.
    Shutdown,
    /// Client: the gateway answered Login with this non-zero status.
    LoginRefused(u32),
}

impl CloseReason {
    /// A bounded metric label.
    pub fn label(&self) -> &'static str {
        match self {
            CloseReason::Exited => "exited",
            CloseReason::ByUs => "by_us",
            CloseReason::Inactivity => "inactivity",
            CloseReason::PeerClosed => "peer_closed",
            CloseReason::Io(_) => "io",
            CloseReason::Protocol(_) => "protocol",
            CloseReason::Shutdown => "shutdown",
            CloseReason::LoginRefused(_) => "login_refused",
        }
    }
}

/// Where the session stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    Open,
    /// We take no new requests and wait for the outstanding ones, then send Exit.
    Draining,
    /// Our Exit is on its way; waiting for Exit_Resp.
    Exiting,
    Closed,
}

/// Why a request could not be sent.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SendError {
    #[error("the window of {0} outstanding requests is full")]
    WindowFull(usize),
    #[error("the session is exiting")]
    Exiting,
    #[error("the session is closed")]
    Closed,
    #[error("not a request the application may send")]
    NotARequest,
    /// It does not fit the wire; it was not written.
    #[error("{0}")]
    Unencodable(String),
}

/// A request of ours waiting for its response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Outstanding {
    pub sequence_id: u32,
    pub command: Command,
    pub sent_at: Instant,
    deadline: Instant,
}

/// What the application must hear about.
#[derive(Debug)]
pub enum Event<P> {
    /// A Submit or Deliver of the peer; answer it with `respond`.
    Request(P),
    /// The response to one of our requests.
    Response { request: Outstanding, pdu: P },
    /// A response after its request had timed out: the request did reach the peer.
    LateResponse(P),
    /// One of our requests got no response in time: its outcome is unknown.
    ResponseTimeout(Outstanding),
    /// The session ended. Requests still outstanding never got a response.
    Closed(CloseReason),
}

/// A frame whose body did not decode, as the codec reports it.
#[derive(Debug)]
pub struct Garbled<P> {
    /// The command, when the protocol crate knows it.
    pub command: Option<(Command, bool)>,
    pub sequence_id: u32,
    /// The error response the codec owes the peer, if any.
    pub answer: Option<P>,
    pub reason: String,
}

impl<P> Garbled<P> {
    pub fn new(
        command: Option<(Command, bool)>,
        sequence_id: u32,
        answer: Option<P>,
        reason: &dyn std::fmt::Display,
    ) -> Self {
        Self {
            command,
            sequence_id,
            answer,
            reason: reason.to_string(),
        }
    }
}

/// Counts a driver exports as metrics; taken (and reset) with `take_counters`.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Counters {
    /// Responses to no request of ours (or of the wrong command).
    pub unexpected_responses: u64,
    pub late_responses: u64,
    /// Peer requests beyond the window, answered with the busy status.
    pub flow_controlled: u64,
    /// Peer requests reusing a sequence id still in flight.
    pub repeated_sequences: u64,
    /// Frames whose body did not decode.
    pub malformed: u64,
}

/// One connected session, either side.
#[derive(Debug)]
pub struct Session<W: Wire> {
    config: Config,
    state: State,
    next_sequence: u32,
    outstanding: HashMap<u32, Outstanding>,
    /// Application requests in `outstanding`: the outbound window in use.
    outstanding_requests: usize,
    /// Requests of ours that timed out, kept to recognise their late responses.
    timed_out: VecDeque<(u32, Instant)>,
    /// Peer requests the application has not answered yet: the inbound window.
    inbound: HashMap<u32, Command>,
    last_received: Instant,
    last_sent: Instant,
    active_test_outstanding: bool,
    /// The reason reported once our Exit completes.
    exit_reason: CloseReason,
    transmit: VecDeque<W::Pdu>,
    events: VecDeque<Event<W::Pdu>>,
    counters: Counters,
}

impl<W: Wire> Session<W> {
    /// A session whose Login used sequence id `login_sequence` (the client's next request
    /// follows it).
    pub fn new(config: Config, now: Instant, login_sequence: u32) -> Self {
        Self {
            config,
            state: State::Open,
            next_sequence: login_sequence.wrapping_add(1).max(1),
            outstanding: HashMap::new(),
            outstanding_requests: 0,
            timed_out: VecDeque::new(),
            inbound: HashMap::new(),
            last_received: now,
            last_sent: now,
            active_test_outstanding: false,
            exit_reason: CloseReason::ByUs,
            transmit: VecDeque::new(),
            events: VecDeque::new(),
            counters: Counters::default(),
        }
    }

    pub fn state(&self) -> State {
        self.state
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    pub fn is_closed(&self) -> bool {
        self.state == State::Closed
    }

    /// Peer requests waiting for our answer.
    pub fn inbound_in_use(&self) -> usize {
        self.inbound.len()
    }

    /// Our requests waiting for the peer's answer.
    pub fn outbound_in_use(&self) -> usize {
        self.outstanding_requests
    }

    pub fn take_counters(&mut self) -> Counters {
        std::mem::take(&mut self.counters)
    }

    /// The next PDU to write to the socket.
    pub fn poll_transmit(&mut self) -> Option<W::Pdu> {
        self.transmit.pop_front()
    }

    /// The next thing the application must hear about.
    pub fn poll_event(&mut self) -> Option<Event<W::Pdu>> {
        self.events.pop_front()
    }

    fn next_sequence(&mut self) -> u32 {
        loop {
            let seq = self.next_sequence;
            // Sequence ids cycle; 0 is avoided because some gateways treat it as unset.
            self.next_sequence = seq.checked_add(1).unwrap_or(1);
            if !self.outstanding.contains_key(&seq) {
                return seq;
            }
        }
    }

    fn queue(&mut self, now: Instant, pdu: W::Pdu) {
        self.last_sent = now;
        self.transmit.push_back(pdu);
    }

    // ----- requests of ours -----

    /// Queues a request of the application; returns its sequence id.
    pub fn send_request(&mut self, now: Instant, body: W::Body) -> Result<u32, SendError> {
        let Some(command) = W::body_command(&body).filter(|c| c.is_application_request()) else {
            return Err(SendError::NotARequest);
        };
        match self.state {
            State::Open => {}
            State::Draining | State::Exiting => return Err(SendError::Exiting),
            State::Closed => return Err(SendError::Closed),
        }
        if self.outstanding_requests >= self.config.window {
            return Err(SendError::WindowFull(self.config.window));
        }
        self.outstanding_requests += 1;
        Ok(self.send(now, command, body))
    }

    fn send(&mut self, now: Instant, command: Command, body: W::Body) -> u32 {
        let sequence_id = self.next_sequence();
        self.outstanding.insert(
            sequence_id,
            Outstanding {
                sequence_id,
                command,
                sent_at: now,
                deadline: now + self.config.response_timeout,
            },
        );
        self.queue(now, W::request(sequence_id, body));
        sequence_id
    }

    fn send_plain(&mut self, now: Instant, command: Command) {
        if let Some(body) = W::plain(command) {
            self.send(now, command, body);
        }
    }

    /// Takes back a request that could not be written (it did not encode): it frees its
    /// window slot and will not time out.
    pub fn forget_request(&mut self, now: Instant, sequence_id: u32) {
        if let Some(request) = self.outstanding.remove(&sequence_id) {
            if request.command.is_application_request() {
                self.outstanding_requests = self.outstanding_requests.saturating_sub(1);
            }
        }
        self.drain_step(now);
    }

    /// Takes no new requests, lets the outstanding ones finish (or time out), then sends
    /// Exit; `reason` is what the close will report.
    pub fn exit(&mut self, now: Instant, reason: CloseReason) {
        if self.state != State::Open {
            return;
        }
        self.exit_reason = reason;
        self.state = State::Draining;
        self.drain_step(now);
    }

    fn drain_step(&mut self, now: Instant) {
        if self.state == State::Draining && self.outstanding_requests == 0 {
            self.state = State::Exiting;
            self.send_plain(now, Command::Exit);
        }
    }

    /// Ends the session at once.
    pub fn close(&mut self, reason: CloseReason) {
        if self.state == State::Closed {
            return;
        }
        self.state = State::Closed;
        self.outstanding.clear();
        self.outstanding_requests = 0;
        self.inbound.clear();
        self.events.push_back(Event::Closed(reason));
    }

    /// The peer closed the connection. After our Exit that is as good as its Exit_Resp.
    pub fn peer_closed(&mut self) {
        let reason = match self.state {
            State::Exiting => self.exit_reason.clone(),
            _ => CloseReason::PeerClosed,
        };
        self.close(reason);
    }

    // ----- answers to the peer's requests -----

    /// Answers a request of the peer. A response to no request waiting for one (already
    /// answered, never received, or of another command) is dropped: false.
    pub fn respond(&mut self, now: Instant, response: W::Pdu) -> bool {
        if self.state == State::Closed {
            return false;
        }
        let seq = W::sequence(&response);
        let Some(&request) = self.inbound.get(&seq) else {
            return false;
        };
        if W::command(&response) != Some((request, true)) {
            return false;
        }
        self.inbound.remove(&seq);
        self.queue(now, response);
        true
    }

    // ----- what the peer sends -----

    /// Handles one decoded PDU of the peer.
    pub fn handle_pdu(&mut self, now: Instant, pdu: W::Pdu) {
        if self.state == State::Closed {
            return;
        }
        self.last_received = now;
        let Some((command, response)) = W::command(&pdu) else {
            self.counters.unexpected_responses += 1;
            return;
        };
        if response {
            return self.handle_response(now, command, pdu);
        }
        match command {
            Command::ActiveTest => self.answer(now, &pdu, 0),
            Command::Exit => {
                self.answer(now, &pdu, 0);
                self.close(CloseReason::Exited);
            }
            Command::Login => {
                self.close(CloseReason::Protocol("Login on a logged-in session".into()))
            }
            Command::Submit | Command::Deliver => self.handle_request(now, command, pdu),
        }
    }

    fn handle_request(&mut self, now: Instant, command: Command, pdu: W::Pdu) {
        let seq = W::sequence(&pdu);
        if self.inbound.len() >= self.config.window {
            self.counters.flow_controlled += 1;
            return self.answer(now, &pdu, W::BUSY);
        }
        if self.inbound.contains_key(&seq) {
            self.counters.repeated_sequences += 1;
            return self.answer(now, &pdu, W::DUPLICATE_SEQUENCE);
        }
        self.inbound.insert(seq, command);
        self.events.push_back(Event::Request(pdu));
    }

    fn answer(&mut self, now: Instant, request: &W::Pdu, status: u32) {
        if let Some(response) = W::response_for(request, status) {
            self.queue(now, response);
        }
    }

    /// The application could not take a request it was handed (its queue was full):
    /// answer it with the busy status instead.
    pub fn refuse_request(&mut self, now: Instant, request: &W::Pdu) {
        if self.inbound.remove(&W::sequence(request)).is_some() {
            self.counters.flow_controlled += 1;
            self.answer(now, request, W::BUSY);
        }
    }

    /// Handles a frame whose body did not decode: a request gets the codec's error
    /// response and the session goes on; a broken response is counted and dropped (its
    /// request runs into its timeout). A malformed Login cannot be answered in session:
    /// close. Active_Test and Exit have no body to break, so they are taken as they are.
    pub fn handle_malformed(&mut self, now: Instant, frame: Garbled<W::Pdu>) {
        if self.state == State::Closed {
            return;
        }
        self.last_received = now;
        self.counters.malformed += 1;
        match frame.command {
            Some((_, true)) => {}
            Some((Command::Login, false)) => {
                self.close(CloseReason::Protocol("malformed Login in a session".into()))
            }
            Some((command @ (Command::ActiveTest | Command::Exit), false)) => {
                if let Some(body) = W::plain(command) {
                    self.handle_pdu(now, W::request(frame.sequence_id, body));
                }
            }
            Some((Command::Submit | Command::Deliver, false)) | None => {
                if let Some(answer) = frame.answer {
                    self.queue(now, answer);
                }
            }
        }
    }

    fn handle_response(&mut self, now: Instant, command: Command, pdu: W::Pdu) {
        let seq = W::sequence(&pdu);
        let matches = self
            .outstanding
            .get(&seq)
            .is_some_and(|o| o.command == command);
        if !matches {
            if let Some(pos) = self.timed_out.iter().position(|(s, _)| *s == seq) {
                self.timed_out.remove(pos);
                self.counters.late_responses += 1;
                self.events.push_back(Event::LateResponse(pdu));
            } else {
                // Never answered: answering a response would start a ping-pong.
                self.counters.unexpected_responses += 1;
            }
            return;
        }
        let Some(request) = self.outstanding.remove(&seq) else {
            return;
        };
        match request.command {
            Command::ActiveTest => self.active_test_outstanding = false,
            Command::Exit => self.close(self.exit_reason.clone()),
            _ => {
                self.outstanding_requests = self.outstanding_requests.saturating_sub(1);
                self.events.push_back(Event::Response { request, pdu });
                self.drain_step(now);
            }
        }
    }

    // ----- time -----

    fn idle_since(&self) -> Instant {
        self.last_received.max(self.last_sent)
    }

    /// The next instant at which `handle_timeout` has work to do.
    pub fn poll_timeout(&self) -> Option<Instant> {
        if self.state == State::Closed {
            return None;
        }
        let mut next = self.last_received + self.config.inactivity_timeout;
        if !self.active_test_outstanding && self.state != State::Exiting {
            next = next.min(self.idle_since() + self.config.active_test_interval);
        }
        if let Some(deadline) = self.outstanding.values().map(|o| o.deadline).min() {
            next = next.min(deadline);
        }
        if let Some((_, at)) = self.timed_out.front() {
            next = next.min(*at + LATE_RESPONSE_GRACE);
        }
        Some(next)
    }

    /// Fires every timer that is due at `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        if self.state == State::Closed {
            return;
        }
        while self
            .timed_out
            .front()
            .is_some_and(|(_, at)| *at + LATE_RESPONSE_GRACE <= now)
        {
            self.timed_out.pop_front();
        }
        if now >= self.last_received + self.config.inactivity_timeout {
            return self.close(CloseReason::Inactivity);
        }
        let mut expired: Vec<Outstanding> = self
            .outstanding
            .values()
            .filter(|o| o.deadline <= now)
            .copied()
            .collect();
        expired.sort_by_key(|o| o.sent_at);
        for request in expired {
            self.outstanding.remove(&request.sequence_id);
            match request.command {
                // Unanswered keepalives are retried each interval; inactivity decides.
                Command::ActiveTest => self.active_test_outstanding = false,
                // The peer did not confirm our Exit: we close anyway.
                Command::Exit => return self.close(self.exit_reason.clone()),
                _ => {
                    self.outstanding_requests = self.outstanding_requests.saturating_sub(1);
                    self.timed_out.push_back((request.sequence_id, now));
                    // Bounded: never more than a few windows' worth.
                    while self.timed_out.len() > self.config.window.saturating_mul(4).max(16) {
                        self.timed_out.pop_front();
                    }
                    self.events.push_back(Event::ResponseTimeout(request));
                }
            }
        }
        self.drain_step(now);
        if matches!(self.state, State::Open | State::Draining)
            && !self.active_test_outstanding
            && now >= self.idle_since() + self.config.active_test_interval
        {
            self.active_test_outstanding = true;
            self.send_plain(now, Command::ActiveTest);
        }
    }
}

#[cfg(test)]
#[path = "session_tests.rs"]
mod tests;
