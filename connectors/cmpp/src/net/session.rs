//! A connected CMPP session as a state machine without I/O, driven by explicit time.
//!
//! CONNECT is exchanged before a session exists (see `handshake`), so every session here
//! is already authenticated and speaks one version. The driver feeds it decoded PDUs
//! (`handle_pdu`, `handle_malformed`), asks it to send requests (`send_request`) and
//! responses (`respond`), writes whatever `poll_transmit` yields, hands whatever
//! `poll_event` yields to the application, and calls `handle_timeout(now)` when
//! `poll_timeout()` is due. Windows, keepalive, inactivity, response timers and the
//! TERMINATE exchange live here so that they are tested without sockets.
//!
//! CMPP has no generic_nack: a request we cannot take is answered with its own response
//! carrying an error result, and a PDU we cannot answer at all ends the session.

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

use crate::codec::{Body, CommandId, Pdu};
use crate::result;

use super::rules;
use super::CloseReason;

/// How long the sequence ids of timed-out requests are kept to recognise late responses.
const LATE_RESPONSE_GRACE: Duration = Duration::from_secs(60);

/// Limits and timers of one session.
#[derive(Debug, Clone)]
pub(crate) struct Config {
    /// Requests outstanding per direction.
    pub window: usize,
    /// Idle time after which we send ACTIVE_TEST.
    pub active_test_interval: Duration,
    /// Nothing received for this long: the session is dead.
    pub inactivity_timeout: Duration,
    /// How long a request of ours waits for its response.
    pub response_timeout: Duration,
}

/// Where the session stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum State {
    Open,
    /// We stop taking new requests and wait for the outstanding ones, then TERMINATE.
    Draining,
    /// Our TERMINATE is on its way; waiting for TERMINATE_RESP.
    Terminating,
    Closed,
}

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

/// A request of ours waiting for its response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Outstanding {
    pub sequence_id: u32,
    pub command: CommandId,
    pub sent_at: Instant,
    deadline: Instant,
}

/// What the application must hear about.
#[derive(Debug)]
pub(crate) enum Event {
    /// A SUBMIT, DELIVER, QUERY or CANCEL of the peer; answer it with `respond`.
    Request(Pdu),
    /// The response to one of our requests.
    Response { request: Outstanding, pdu: Pdu },
    /// A response after its request had timed out: the request did reach the peer.
    LateResponse(Pdu),
    /// One of our requests got no response in time: its outcome is unknown.
    ResponseTimeout(Outstanding),
    /// The session ended. Requests still outstanding never got a response.
    Closed(CloseReason),
}

/// Counts a driver exports as metrics; taken (and reset) with `take_counters`.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Counters {
    /// Responses to no request of ours (or of the wrong command).
    pub unexpected_responses: u64,
    pub late_responses: u64,
    /// Peer requests beyond the window, answered with result 8.
    pub flow_controlled: u64,
    /// Peer requests reusing a sequence id still in flight, answered with result 3.
    pub repeated_sequences: u64,
    /// Frames of a known command whose body did not decode.
    pub malformed: u64,
}

/// One connected session, either side.
#[derive(Debug)]
pub(crate) struct Session {
    config: Config,
    state: State,
    next_sequence: u32,
    outstanding: HashMap<u32, Outstanding>,
    /// Application requests in `outstanding`: the outbound window in use.
    outstanding_requests: usize,
    /// Requests of ours that timed out, kept to recognise their late responses.
    timed_out: VecDeque<(u32, Instant)>,
    /// Peer requests the application has not answered yet: the inbound window.
    inbound: HashMap<u32, CommandId>,
    last_received: Instant,
    last_sent: Instant,
    active_test_outstanding: bool,
    /// The reason reported once our TERMINATE completes.
    terminate_reason: CloseReason,
    transmit: VecDeque<Pdu>,
    events: VecDeque<Event>,
    counters: Counters,
}

impl Session {
    /// A session whose CONNECT used sequence id `connect_sequence` (the client's next
    /// request follows it).
    pub fn new(config: Config, now: Instant, connect_sequence: u32) -> Self {
        Self {
            config,
            state: State::Open,
            next_sequence: connect_sequence.wrapping_add(1).max(1),
            outstanding: HashMap::new(),
            outstanding_requests: 0,
            timed_out: VecDeque::new(),
            inbound: HashMap::new(),
            last_received: now,
            last_sent: now,
            active_test_outstanding: false,
            terminate_reason: CloseReason::ByUs,
            transmit: VecDeque::new(),
            events: VecDeque::new(),
            counters: Counters::default(),
        }
    }

    #[cfg(test)]
    pub fn state(&self) -> State {
        self.state
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    pub fn is_closed(&self) -> bool {
        self.state == State::Closed
    }

    #[cfg(test)]
    /// Peer requests waiting for our answer.
    pub fn inbound_in_use(&self) -> usize {
        self.inbound.len()
    }

    #[cfg(test)]
    /// Our requests waiting for the peer's answer.
    pub fn outbound_in_use(&self) -> usize {
        self.outstanding_requests
    }

    pub fn take_counters(&mut self) -> Counters {
        std::mem::take(&mut self.counters)
    }

    /// The next PDU to write to the socket.
    pub fn poll_transmit(&mut self) -> Option<Pdu> {
        self.transmit.pop_front()
    }

    /// The next thing the application must hear about.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    fn next_sequence(&mut self) -> u32 {
        loop {
            let seq = self.next_sequence;
            // Sequence_Id cycles; 0 is avoided because some gateways treat it as unset.
            self.next_sequence = seq.checked_add(1).unwrap_or(1);
            if !self.outstanding.contains_key(&seq) {
                return seq;
            }
        }
    }

    fn queue(&mut self, now: Instant, pdu: Pdu) {
        self.last_sent = now;
        self.transmit.push_back(pdu);
    }

    // ----- requests of ours -----

    /// Queues a request of the application; returns its sequence id.
    pub fn send_request(&mut self, now: Instant, body: Body) -> Result<u32, SendError> {
        let command = body.command_id();
        if !rules::is_application_request(command) {
            return Err(SendError::NotARequest(command));
        }
        match self.state {
            State::Open => {}
            State::Draining | State::Terminating => return Err(SendError::Terminating),
            State::Closed => return Err(SendError::Closed),
        }
        if self.outstanding_requests >= self.config.window {
            return Err(SendError::WindowFull(self.config.window));
        }
        self.outstanding_requests += 1;
        Ok(self.send(now, body))
    }

    fn send(&mut self, now: Instant, body: Body) -> u32 {
        let sequence_id = self.next_sequence();
        let command = body.command_id();
        self.outstanding.insert(
            sequence_id,
            Outstanding {
                sequence_id,
                command,
                sent_at: now,
                deadline: now + self.config.response_timeout,
            },
        );
        self.queue(now, Pdu { sequence_id, body });
        sequence_id
    }

    /// Takes back a request that could not be written (it did not encode): it frees its
    /// window slot and will not time out.
    pub fn forget_request(&mut self, now: Instant, sequence_id: u32) {
        if let Some(request) = self.outstanding.remove(&sequence_id) {
            if rules::is_application_request(request.command) {
                self.outstanding_requests = self.outstanding_requests.saturating_sub(1);
            }
        }
        self.drain_step(now);
    }

    /// Stops taking new requests, lets the outstanding ones finish (or time out), then
    /// sends TERMINATE; `reason` is what the close will report.
    pub fn terminate(&mut self, now: Instant, reason: CloseReason) {
        if self.state != State::Open {
            return;
        }
        self.terminate_reason = reason;
        self.state = State::Draining;
        self.drain_step(now);
    }

    fn drain_step(&mut self, now: Instant) {
        if self.state == State::Draining && self.outstanding_requests == 0 {
            self.state = State::Terminating;
            self.send(now, Body::Terminate);
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

    /// The peer closed the connection. After our TERMINATE that is as good as its
    /// TERMINATE_RESP.
    pub fn peer_closed(&mut self) {
        let reason = match self.state {
            State::Terminating => self.terminate_reason.clone(),
            _ => CloseReason::PeerClosed,
        };
        self.close(reason);
    }

    // ----- answers to the peer's requests -----

    /// Answers a request of the peer. A response to no request waiting for one (already
    /// answered, never received, or of another command) is dropped: false.
    pub fn respond(&mut self, now: Instant, response: Pdu) -> bool {
        if self.state == State::Closed {
            return false;
        }
        let seq = response.sequence_id;
        let Some(&request) = self.inbound.get(&seq) else {
            return false;
        };
        if rules::response_command(request) != Some(response.body.command_id()) {
            return false;
        }
        self.inbound.remove(&seq);
        self.queue(now, response);
        true
    }

    // ----- what the peer sends -----

    /// Handles one decoded PDU of the peer.
    pub fn handle_pdu(&mut self, now: Instant, pdu: Pdu) {
        if self.state == State::Closed {
            return;
        }
        self.last_received = now;
        let command = pdu.body.command_id();
        if command.is_response() {
            return self.handle_response(now, pdu);
        }
        let seq = pdu.sequence_id;
        match command {
            CommandId::ActiveTest => self.queue(
                now,
                Pdu {
                    sequence_id: seq,
                    body: Body::ActiveTestResp(0),
                },
            ),
            CommandId::Terminate => {
                self.queue(
                    now,
                    Pdu {
                        sequence_id: seq,
                        body: Body::TerminateResp,
                    },
                );
                self.close(CloseReason::Terminated);
            }
            CommandId::Connect => self.close(CloseReason::Protocol(
                "CONNECT on a connected session".into(),
            )),
            _ => self.handle_request(now, pdu),
        }
    }

    fn handle_request(&mut self, now: Instant, pdu: Pdu) {
        let seq = pdu.sequence_id;
        if self.inbound.len() >= self.config.window {
            self.counters.flow_controlled += 1;
            return self.refuse(now, &pdu, result::FLOW_CONTROL);
        }
        if self.inbound.contains_key(&seq) {
            self.counters.repeated_sequences += 1;
            return self.refuse(now, &pdu, result::DUPLICATE_SEQUENCE);
        }
        self.inbound.insert(seq, pdu.body.command_id());
        self.events.push_back(Event::Request(pdu));
    }

    /// Answers `request` with `result` (a DELIVER_RESP carries the DELIVER's Msg_Id). A
    /// QUERY has no error form and gets nothing; its sender times out.
    fn refuse(&mut self, now: Instant, request: &Pdu, result: u32) {
        if let Some(response) = Pdu::response_for(request, result) {
            self.queue(now, response);
        }
    }

    fn answer_error(&mut self, now: Instant, command: CommandId, seq: u32, result: u32) {
        if let Some(response) = Pdu::error_response(command, seq, result) {
            self.queue(now, response);
        }
    }

    /// The application could not take a request it was handed (its queue was full):
    /// answer it with flow control instead.
    pub fn refuse_request(&mut self, now: Instant, request: &Pdu) {
        if self.inbound.remove(&request.sequence_id).is_some() {
            self.counters.flow_controlled += 1;
            self.refuse(now, request, result::FLOW_CONTROL);
        }
    }

    /// Handles a frame of a known command whose body did not decode: a request gets its
    /// response with `result`, a broken response is counted and dropped (its request runs
    /// into its timeout). A malformed CONNECT or TERMINATE cannot be answered: close.
    pub fn handle_malformed(&mut self, now: Instant, command: CommandId, seq: u32, result: u32) {
        if self.state == State::Closed {
            return;
        }
        self.last_received = now;
        self.counters.malformed += 1;
        if command.is_response() {
            return;
        }
        match command {
            CommandId::Connect => self.close(CloseReason::Protocol(
                "malformed CONNECT in a session".into(),
            )),
            // Only a body of the wrong length can make these malformed: answer anyway.
            CommandId::ActiveTest | CommandId::Terminate => self.handle_pdu(
                now,
                Pdu {
                    sequence_id: seq,
                    body: if command == CommandId::Terminate {
                        Body::Terminate
                    } else {
                        Body::ActiveTest
                    },
                },
            ),
            _ => self.answer_error(now, command, seq, result),
        }
    }

    fn handle_response(&mut self, now: Instant, pdu: Pdu) {
        let seq = pdu.sequence_id;
        let command = pdu.body.command_id();
        let matches = self
            .outstanding
            .get(&seq)
            .is_some_and(|o| rules::response_command(o.command) == Some(command));
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
            CommandId::ActiveTest => self.active_test_outstanding = false,
            CommandId::Terminate => self.close(self.terminate_reason.clone()),
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
        if !self.active_test_outstanding && self.state != State::Terminating {
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
                CommandId::ActiveTest => self.active_test_outstanding = false,
                // The peer did not confirm our TERMINATE: we close anyway.
                CommandId::Terminate => return self.close(self.terminate_reason.clone()),
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
            self.send(now, Body::ActiveTest);
        }
    }
}
