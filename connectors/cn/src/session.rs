//! The connected session of the Chinese operators' protocols (CMPP 2.0/3.0, SGIP 1.2, SMGP
//! 3.0, CNGP 2.0), as one state machine without I/O driven by explicit time. All four
//! exchange a login before the session, send requests the peer answers with its own
//! response under the request's sequence number, answer a refused request with that
//! response and an error status (none has a generic NACK), and end with an exit request
//! (TERMINATE, UNBIND, Exit). What differs stays behind [`Wire`], which each protocol crate
//! implements for its PDUs: its command ids and what kind of command each is to the
//! session, its sequence numbers (32 bits, or SGIP's 96 with the node id and a timestamp),
//! its statuses, whether a login in session ends it, and which requests each side of a
//! one-way session may send.
//!
//! The login is exchanged before a session exists, so every session here is authenticated.
//! The driver feeds it decoded PDUs (`handle_pdu`, `handle_malformed`), asks it to send
//! requests (`send_request`) and responses (`respond`), writes whatever `poll_transmit`
//! yields, hands whatever `poll_event` yields to the application, and calls
//! `handle_timeout(now)` when `poll_timeout()` is due. Windows, keepalive (or, for a
//! protocol without one, the close of an idle session), inactivity, response timers and
//! the exit exchange live here, tested without sockets.

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::hash::Hash;
use std::time::{Duration, Instant};

/// How long the sequence ids of timed-out requests are kept to recognise late responses.
const LATE_RESPONSE_GRACE: Duration = Duration::from_secs(60);

/// What a command is to the session. Each protocol names its own commands and ids; the
/// session only needs to know which of these four a request is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    /// The login (CONNECT, Bind, Login): exchanged before the session, so one in session
    /// is either refused or ends it ([`Wire::LOGIN_IN_SESSION`]).
    Login,
    /// A request the application sends and answers (a Submit, Deliver, Report, ...).
    Request,
    /// The keepalive request and its answer, owned by the session.
    ActiveTest,
    /// The request that ends the session (TERMINATE, UNBIND, Exit), owned by the session.
    Exit,
}

/// Why a session ends, as the shared session and its driver (`crate::driver`) see it;
/// each protocol's close reason has a variant for every one of these
/// ([`Wire::CloseReason`] converts from it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ending {
    /// The peer sent its exit request.
    Exited,
    /// We ended it: the reason reported for our exit when none was given.
    ByUs,
    /// Nothing arrived for the inactivity timeout (with keepalive), or nothing was sent or
    /// received for it with nothing outstanding (without).
    Inactivity,
    /// The peer closed the connection without its exit request.
    PeerClosed,
    /// A login arrived in session and the protocol ends the session on one.
    LoginInSession {
        /// Its body did not decode.
        malformed: bool,
    },
    /// The connection failed (reset, a write error).
    Io(String),
    /// The peer sent something that ends the session (framing lost, a PDU left
    /// half-received).
    Protocol(String),
    /// We are shutting down.
    Shutdown,
}

/// The errors of `send_request` that the session itself finds, in a protocol's words.
pub trait SendFailure {
    /// The outbound window of `window` requests is full.
    fn window_full(window: usize) -> Self;
    /// The session is draining or waiting for its exit's answer.
    fn exiting() -> Self;
    fn closed() -> Self;
    /// The request does not fit the wire and was not written.
    fn unencodable(reason: String) -> Self;
}

/// What the session needs to know of a protocol's PDUs. Every function is about PDUs or
/// commands alone, except the few that read [`Wire::Side`], the protocol's own state of
/// one session.
pub trait Wire: fmt::Debug + Sized + 'static {
    /// A whole PDU, header included.
    type Pdu: fmt::Debug + Send + Sync + 'static;
    /// A request's body, before the session gives it a sequence number.
    type Body: fmt::Debug + Send + Sync + 'static;
    /// A command as the protocol names it (requests; a response is its request's command
    /// with the response flag).
    type Command: fmt::Debug + Clone + Copy + PartialEq + Eq + Hash + Send + Sync + 'static;
    /// A sequence number: the 32 bits of CMPP, SMGP and CNGP, or SGIP's node id,
    /// timestamp and counter.
    type Sequence: fmt::Debug + Clone + Copy + PartialEq + Eq + Hash + Send + Sync + 'static;
    /// A response's status or result.
    type Status: fmt::Debug + Clone + Copy + Send + Sync + 'static;
    /// This side of one session as the protocol keeps it: where the sequence numbers of
    /// our requests come from and, for a protocol whose requests go one way, which way
    /// this session carries them.
    type Side: fmt::Debug + Send + 'static;
    /// Why `send_request` refused a request.
    type SendError: SendFailure + fmt::Debug + Send + 'static;
    /// Why a session ended, as the protocol's API reports it.
    type CloseReason: From<Ending> + fmt::Debug + Clone + Send + Sync + 'static;

    /// The status of a plain answer (to a keepalive or an exit request).
    const ACCEPTED: Self::Status;
    /// The status that answers a request beyond the window: system or node busy.
    const BUSY: Self::Status;
    /// The status that answers a request reusing a sequence number still unanswered.
    const DUPLICATE_SEQUENCE: Self::Status;
    /// What a login in session gets: `None` ends the session; a status answers it with
    /// that status (and a malformed one with the codec's answer) and the session goes on.
    const LOGIN_IN_SESSION: Option<Self::Status> = None;

    fn sequence(pdu: &Self::Pdu) -> Self::Sequence;
    /// The number our requests are keyed by and the driver knows them by: the sequence
    /// number itself, or the part of it that is unique within a session.
    fn key(sequence: &Self::Sequence) -> u32;
    /// The command and whether the PDU is its response; `None` for a command the protocol
    /// crate does not model.
    fn command(pdu: &Self::Pdu) -> Option<(Self::Command, bool)>;
    fn kind(command: Self::Command) -> Kind;
    /// The command of a request's body; `None` for one the session does not send.
    fn body_command(body: &Self::Body) -> Option<Self::Command>;
    /// `body` sent with `sequence`.
    fn request(sequence: Self::Sequence, body: Self::Body) -> Self::Pdu;
    /// The body of a request without fields of kind `kind` (Active_Test or Exit), if the
    /// protocol has one.
    fn plain(kind: Kind) -> Option<Self::Body>;
    /// The response that answers `request` with `status`.
    fn response_for(request: &Self::Pdu, status: Self::Status) -> Option<Self::Pdu>;

    /// The next sequence number for a request of ours.
    fn next_sequence(side: &mut Self::Side) -> Self::Sequence;
    /// The command of a request the application asks us to send, or why it may not.
    fn sendable(side: &Self::Side, body: &Self::Body) -> Result<Self::Command, Self::SendError>;
    /// Whether the peer may send us the request `command`; otherwise the status that
    /// refuses it. Every request may come, unless the protocol says otherwise.
    fn receivable(side: &Self::Side, command: Self::Command) -> Result<(), Self::Status> {
        let _ = (side, command);
        Ok(())
    }
}

/// The 32-bit sequence ids of CMPP, SMGP and CNGP: the requests of a session follow its
/// login's id and cycle, skipping 0, which some gateways treat as unset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Counter {
    next: u32,
}

impl Counter {
    /// The ids after the login's `login_sequence` (the client's next request follows it).
    pub fn after(login_sequence: u32) -> Self {
        Self {
            next: login_sequence.wrapping_add(1).max(1),
        }
    }

    /// The id for the next request.
    pub fn issue(&mut self) -> u32 {
        let sequence = self.next;
        self.next = sequence.checked_add(1).unwrap_or(1);
        sequence
    }
}

/// Limits and timers of one session.
#[derive(Debug, Clone)]
pub struct Config {
    /// Requests outstanding per direction.
    pub window: usize,
    /// Idle time after which we send Active_Test; `None` for a protocol without keepalive
    /// (SGIP), whose idle sessions end on `inactivity_timeout` instead.
    pub active_test_interval: Option<Duration>,
    /// With keepalive: nothing received for this long, the session is dead and closes.
    /// Without: nothing sent or received for this long and nothing outstanding either
    /// way, the session exits.
    pub inactivity_timeout: Duration,
    /// How long a request of ours waits for its response.
    pub response_timeout: Duration,
}

/// Why a session ended: the close reason SMGP and CNGP report.
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

impl From<Ending> for CloseReason {
    fn from(ending: Ending) -> Self {
        match ending {
            Ending::Exited => CloseReason::Exited,
            Ending::ByUs => CloseReason::ByUs,
            Ending::Inactivity => CloseReason::Inactivity,
            Ending::PeerClosed => CloseReason::PeerClosed,
            Ending::LoginInSession { malformed: false } => {
                CloseReason::Protocol("Login on a logged-in session".into())
            }
            Ending::LoginInSession { malformed: true } => {
                CloseReason::Protocol("malformed Login in a session".into())
            }
            Ending::Io(error) => CloseReason::Io(error),
            Ending::Protocol(what) => CloseReason::Protocol(what),
            Ending::Shutdown => CloseReason::Shutdown,
        }
    }
}

/// Where the session stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    Open,
    /// We take no new requests and wait for the outstanding ones, then send our exit.
    Draining,
    /// Our exit request is on its way; waiting for its response.
    Exiting,
    Closed,
}

/// Why a request could not be sent: SMGP's and CNGP's words.
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

impl SendFailure for SendError {
    fn window_full(window: usize) -> Self {
        SendError::WindowFull(window)
    }

    fn exiting() -> Self {
        SendError::Exiting
    }

    fn closed() -> Self {
        SendError::Closed
    }

    fn unencodable(reason: String) -> Self {
        SendError::Unencodable(reason)
    }
}

/// A request of ours waiting for its response.
#[derive(Debug)]
pub struct Outstanding<W: Wire> {
    pub sequence: W::Sequence,
    pub command: W::Command,
    pub sent_at: Instant,
    deadline: Instant,
}

// Written out: a derive would ask the same of the protocol's marker type `W`.
impl<W: Wire> Clone for Outstanding<W> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<W: Wire> Copy for Outstanding<W> {}

impl<W: Wire> PartialEq for Outstanding<W> {
    fn eq(&self, other: &Self) -> bool {
        self.sequence == other.sequence
            && self.command == other.command
            && self.sent_at == other.sent_at
            && self.deadline == other.deadline
    }
}

impl<W: Wire> Eq for Outstanding<W> {}

impl<W: Wire> Outstanding<W> {
    /// The number the driver knows the request by.
    pub fn key(&self) -> u32 {
        W::key(&self.sequence)
    }
}

/// What the application must hear about.
#[derive(Debug)]
pub enum Event<W: Wire> {
    /// An application request of the peer; answer it with `respond`.
    Request(W::Pdu),
    /// The response to one of our requests.
    Response {
        request: Outstanding<W>,
        pdu: W::Pdu,
    },
    /// A response after its request had timed out: the request did reach the peer.
    LateResponse(W::Pdu),
    /// One of our requests got no response in time: its outcome is unknown.
    ResponseTimeout(Outstanding<W>),
    /// The session ended. Requests still outstanding never got a response.
    Closed(W::CloseReason),
}

/// A frame whose body did not decode, as the codec reports it.
#[derive(Debug)]
pub struct Garbled<W: Wire> {
    /// The command, when the protocol crate knows it.
    pub command: Option<(W::Command, bool)>,
    pub sequence: W::Sequence,
    /// The error response the codec owes the peer, if any.
    pub answer: Option<W::Pdu>,
    pub reason: String,
}

impl<W: Wire> Garbled<W> {
    pub fn new(
        command: Option<(W::Command, bool)>,
        sequence: W::Sequence,
        answer: Option<W::Pdu>,
        reason: &dyn fmt::Display,
    ) -> Self {
        Self {
            command,
            sequence,
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
    /// Peer requests reusing a sequence number still in flight.
    pub repeated_sequences: u64,
    /// Frames whose body did not decode.
    pub malformed: u64,
    /// Peer requests this side of a one-way session does not take.
    pub not_carried: u64,
}

/// One connected session, either side.
#[derive(Debug)]
pub struct Session<W: Wire> {
    config: Config,
    state: State,
    side: W::Side,
    /// Our requests by their key.
    outstanding: HashMap<u32, Outstanding<W>>,
    /// Application requests in `outstanding`: the outbound window in use.
    outstanding_requests: usize,
    /// Requests of ours that timed out, kept to recognise their late responses.
    timed_out: VecDeque<(W::Sequence, Instant)>,
    /// Peer requests the application has not answered yet: the inbound window.
    inbound: HashMap<W::Sequence, W::Command>,
    last_received: Instant,
    last_sent: Instant,
    active_test_outstanding: bool,
    /// The reason reported once our exit completes.
    exit_reason: W::CloseReason,
    transmit: VecDeque<W::Pdu>,
    events: VecDeque<Event<W>>,
    counters: Counters,
}

impl<W: Wire> Session<W> {
    /// A session whose requests are numbered and directed by `side`.
    pub fn new(config: Config, now: Instant, side: W::Side) -> Self {
        Self {
            config,
            state: State::Open,
            side,
            outstanding: HashMap::new(),
            outstanding_requests: 0,
            timed_out: VecDeque::new(),
            inbound: HashMap::new(),
            last_received: now,
            last_sent: now,
            active_test_outstanding: false,
            exit_reason: Ending::ByUs.into(),
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

    pub fn side(&self) -> &W::Side {
        &self.side
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
    pub fn poll_event(&mut self) -> Option<Event<W>> {
        self.events.pop_front()
    }

    /// The protocol's next sequence number whose key no request of ours still holds.
    fn next_sequence(&mut self) -> W::Sequence {
        loop {
            let sequence = W::next_sequence(&mut self.side);
            if !self.outstanding.contains_key(&W::key(&sequence)) {
                return sequence;
            }
        }
    }

    fn queue(&mut self, now: Instant, pdu: W::Pdu) {
        self.last_sent = now;
        self.transmit.push_back(pdu);
    }

    // ----- requests of ours -----

    /// Queues a request of the application; returns its key.
    pub fn send_request(&mut self, now: Instant, body: W::Body) -> Result<u32, W::SendError> {
        let command = W::sendable(&self.side, &body)?;
        match self.state {
            State::Open => {}
            State::Draining | State::Exiting => return Err(W::SendError::exiting()),
            State::Closed => return Err(W::SendError::closed()),
        }
        if self.outstanding_requests >= self.config.window {
            return Err(W::SendError::window_full(self.config.window));
        }
        self.outstanding_requests += 1;
        Ok(self.send(now, command, body))
    }

    fn send(&mut self, now: Instant, command: W::Command, body: W::Body) -> u32 {
        let sequence = self.next_sequence();
        let key = W::key(&sequence);
        self.outstanding.insert(
            key,
            Outstanding {
                sequence,
                command,
                sent_at: now,
                deadline: now + self.config.response_timeout,
            },
        );
        self.queue(now, W::request(sequence, body));
        key
    }

    /// Sends the session's own request of kind `kind` (Active_Test or Exit).
    fn send_plain(&mut self, now: Instant, kind: Kind) {
        let Some(body) = W::plain(kind) else {
            return;
        };
        if let Some(command) = W::body_command(&body) {
            self.send(now, command, body);
        }
    }

    /// Takes back a request that could not be written (it did not encode): it frees its
    /// window slot and will not time out.
    pub fn forget_request(&mut self, now: Instant, key: u32) {
        if let Some(request) = self.outstanding.remove(&key) {
            if W::kind(request.command) == Kind::Request {
                self.outstanding_requests = self.outstanding_requests.saturating_sub(1);
            }
        }
        self.drain_step(now);
    }

    /// Takes no new requests, lets the outstanding ones finish (or time out), then sends
    /// the exit request; `reason` is what the close will report.
    pub fn exit(&mut self, now: Instant, reason: W::CloseReason) {
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
            self.send_plain(now, Kind::Exit);
        }
    }

    /// Ends the session at once.
    pub fn close(&mut self, reason: W::CloseReason) {
        if self.state == State::Closed {
            return;
        }
        self.state = State::Closed;
        self.outstanding.clear();
        self.outstanding_requests = 0;
        self.inbound.clear();
        self.events.push_back(Event::Closed(reason));
    }

    /// The peer closed the connection. After our exit request that is as good as its
    /// response.
    pub fn peer_closed(&mut self) {
        let reason = match self.state {
            State::Exiting => self.exit_reason.clone(),
            _ => Ending::PeerClosed.into(),
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
        let sequence = W::sequence(&response);
        let Some(&request) = self.inbound.get(&sequence) else {
            return false;
        };
        if W::command(&response) != Some((request, true)) {
            return false;
        }
        self.inbound.remove(&sequence);
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
        match W::kind(command) {
            Kind::ActiveTest => self.answer(now, &pdu, W::ACCEPTED),
            Kind::Exit => {
                self.answer(now, &pdu, W::ACCEPTED);
                self.close(Ending::Exited.into());
            }
            Kind::Login => match W::LOGIN_IN_SESSION {
                Some(status) => self.answer(now, &pdu, status),
                None => self.close(Ending::LoginInSession { malformed: false }.into()),
            },
            Kind::Request => self.handle_request(now, command, pdu),
        }
    }

    fn handle_request(&mut self, now: Instant, command: W::Command, pdu: W::Pdu) {
        let sequence = W::sequence(&pdu);
        if let Err(status) = W::receivable(&self.side, command) {
            self.counters.not_carried += 1;
            return self.answer(now, &pdu, status);
        }
        if self.inbound.len() >= self.config.window {
            self.counters.flow_controlled += 1;
            return self.answer(now, &pdu, W::BUSY);
        }
        if self.inbound.contains_key(&sequence) {
            self.counters.repeated_sequences += 1;
            return self.answer(now, &pdu, W::DUPLICATE_SEQUENCE);
        }
        self.inbound.insert(sequence, command);
        self.events.push_back(Event::Request(pdu));
    }

    fn answer(&mut self, now: Instant, request: &W::Pdu, status: W::Status) {
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
    /// request runs into its timeout). A malformed login ends the session unless the
    /// protocol refuses logins in session. Active_Test and exit requests have no body
    /// to break (only their length can be wrong), so they are taken as they are.
    pub fn handle_malformed(&mut self, now: Instant, frame: Garbled<W>) {
        if self.state == State::Closed {
            return;
        }
        self.last_received = now;
        self.counters.malformed += 1;
        let kind = match frame.command {
            Some((_, true)) => return,
            Some((command, false)) => Some(W::kind(command)),
            None => None,
        };
        match kind {
            Some(Kind::Login) if W::LOGIN_IN_SESSION.is_none() => {
                self.close(Ending::LoginInSession { malformed: true }.into())
            }
            Some(kind @ (Kind::ActiveTest | Kind::Exit)) => {
                if let Some(body) = W::plain(kind) {
                    self.handle_pdu(now, W::request(frame.sequence, body));
                }
            }
            Some(Kind::Login | Kind::Request) | None => {
                if let Some(answer) = frame.answer {
                    self.queue(now, answer);
                }
            }
        }
    }

    fn handle_response(&mut self, now: Instant, command: W::Command, pdu: W::Pdu) {
        let sequence = W::sequence(&pdu);
        let key = W::key(&sequence);
        let matches = self
            .outstanding
            .get(&key)
            .is_some_and(|o| o.sequence == sequence && o.command == command);
        if !matches {
            if let Some(pos) = self.timed_out.iter().position(|(s, _)| *s == sequence) {
                self.timed_out.remove(pos);
                self.counters.late_responses += 1;
                self.events.push_back(Event::LateResponse(pdu));
            } else {
                // Never answered: answering a response would start a ping-pong.
                self.counters.unexpected_responses += 1;
            }
            return;
        }
        let Some(request) = self.outstanding.remove(&key) else {
            return;
        };
        match W::kind(request.command) {
            Kind::ActiveTest => self.active_test_outstanding = false,
            Kind::Exit => self.close(self.exit_reason.clone()),
            Kind::Login | Kind::Request => {
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

    /// Without keepalive, whether the inactivity timer runs: the session is open and
    /// nothing of either side is waiting for an answer.
    fn quiet(&self) -> bool {
        self.state == State::Open && self.outstanding.is_empty() && self.inbound.is_empty()
    }

    /// The next instant at which `handle_timeout` has work to do.
    pub fn poll_timeout(&self) -> Option<Instant> {
        if self.state == State::Closed {
            return None;
        }
        let deadline = self.outstanding.values().map(|o| o.deadline).min();
        let late = self
            .timed_out
            .front()
            .map(|(_, at)| *at + LATE_RESPONSE_GRACE);
        let liveness = match self.config.active_test_interval {
            Some(interval) => {
                let mut next = self.last_received + self.config.inactivity_timeout;
                if !self.active_test_outstanding && self.state != State::Exiting {
                    next = next.min(self.idle_since() + interval);
                }
                Some(next)
            }
            None => self
                .quiet()
                .then(|| self.idle_since() + self.config.inactivity_timeout),
        };
        [liveness, deadline, late].into_iter().flatten().min()
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
        let keepalive = self.config.active_test_interval;
        if keepalive.is_some() && now >= self.last_received + self.config.inactivity_timeout {
            return self.close(Ending::Inactivity.into());
        }
        let mut expired: Vec<Outstanding<W>> = self
            .outstanding
            .values()
            .filter(|o| o.deadline <= now)
            .copied()
            .collect();
        expired.sort_by_key(|o| o.sent_at);
        for request in expired {
            self.outstanding.remove(&request.key());
            match W::kind(request.command) {
                // Unanswered keepalives are retried each interval; inactivity decides.
                Kind::ActiveTest => self.active_test_outstanding = false,
                // The peer did not confirm our exit: we close anyway.
                Kind::Exit => return self.close(self.exit_reason.clone()),
                Kind::Login | Kind::Request => {
                    self.outstanding_requests = self.outstanding_requests.saturating_sub(1);
                    self.timed_out.push_back((request.sequence, now));
                    // Bounded: never more than a few windows' worth.
                    while self.timed_out.len() > self.config.window.saturating_mul(4).max(16) {
                        self.timed_out.pop_front();
                    }
                    self.events.push_back(Event::ResponseTimeout(request));
                }
            }
        }
        self.drain_step(now);
        match keepalive {
            Some(interval) => {
                if matches!(self.state, State::Open | State::Draining)
                    && !self.active_test_outstanding
                    && now >= self.idle_since() + interval
                {
                    self.active_test_outstanding = true;
                    self.send_plain(now, Kind::ActiveTest);
                }
            }
            None => {
                if self.quiet() && now >= self.idle_since() + self.config.inactivity_timeout {
                    self.exit(now, Ending::Inactivity.into());
                }
            }
        }
    }
}

#[cfg(test)]
#[path = "session_tests.rs"]
mod tests;
