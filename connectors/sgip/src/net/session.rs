//! A bound SGIP session as a state machine without I/O, driven by explicit time.
//!
//! BIND is exchanged before a session exists (see `handshake`), so every session here is
//! authenticated and knows its login type and which side sends. The driver feeds it decoded
//! PDUs (`handle_pdu`, `handle_malformed`), asks it to send requests (`send_request`) and
//! responses (`respond`), writes whatever `poll_transmit` yields, hands whatever
//! `poll_event` yields to the application, and calls `handle_timeout(now)` when
//! `poll_timeout()` is due. Windows, response timers, the inactivity close and the UNBIND
//! exchange live here so that they are tested without sockets.
//!
//! SGIP has no generic NACK: a request we cannot take is answered with its own response
//! carrying an error result (11 node busy past the window, 9 a repeated sequence number, 4
//! a command the login type does not carry, 2 a second BIND). SGIP 1.2 §3.7.2.4.2 has a
//! receiver close on a command it cannot parse; a malformed body is answered with its
//! error result instead and the session carries on, since the frame was whole and the
//! stream is still in step. An unknown command has no response we could write: it closes.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::codec::{result, Body, CommandId, LoginType, Pdu};
use crate::msgid::{SequenceGenerator, SequenceNumber};

use super::rules;
use super::CloseReason;

/// How long the sequence numbers of timed-out requests are kept to recognise late
/// responses.
const LATE_RESPONSE_GRACE: Duration = Duration::from_secs(60);

/// Limits and timers of one session.
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

impl Config {
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

/// Where the session stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum State {
    Open,
    /// No new requests; waiting for the outstanding ones, then UNBIND.
    Draining,
    /// Our UNBIND is on its way; waiting for UNBIND_RESP.
    Unbinding,
    Closed,
}

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

/// A request of ours waiting for its response.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Outstanding {
    pub sequence: SequenceNumber,
    pub command: CommandId,
    pub sent_at: Instant,
    pub deadline: Instant,
}

/// What the application must hear about.
#[derive(Debug)]
pub(crate) enum Event {
    Request(Pdu),
    Response { request: Outstanding, pdu: Pdu },
    LateResponse(Pdu),
    ResponseTimeout(Outstanding),
    Closed(CloseReason),
}

/// Counts since they were last taken, for the metrics.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Counters {
    pub unexpected_responses: u64,
    pub late_responses: u64,
    pub busy: u64,
    pub repeated_sequences: u64,
    pub malformed: u64,
    pub not_carried: u64,
}

pub(crate) struct Session {
    config: Config,
    state: State,
    sequences: Arc<SequenceGenerator>,
    /// Our requests by the counter word of their sequence number, which the driver keys
    /// its waiting callers by: unique within a session until it wraps.
    outstanding: HashMap<u32, Outstanding>,
    /// Application requests in `outstanding`: the outbound window in use.
    outstanding_requests: usize,
    /// Requests of ours that timed out, kept to recognise their late responses.
    timed_out: VecDeque<(SequenceNumber, Instant)>,
    /// Peer requests the application has not answered yet: the inbound window.
    inbound: HashMap<SequenceNumber, CommandId>,
    last_activity: Instant,
    /// The reason reported once our UNBIND completes.
    unbind_reason: CloseReason,
    transmit: VecDeque<Pdu>,
    events: VecDeque<Event>,
    counters: Counters,
}

impl Session {
    pub fn new(config: Config, now: Instant, sequences: Arc<SequenceGenerator>) -> Self {
        Self {
            config,
            state: State::Open,
            sequences,
            outstanding: HashMap::new(),
            outstanding_requests: 0,
            timed_out: VecDeque::new(),
            inbound: HashMap::new(),
            last_activity: now,
            unbind_reason: CloseReason::ByUs,
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
    pub fn inbound_in_use(&self) -> usize {
        self.inbound.len()
    }

    pub fn take_counters(&mut self) -> Counters {
        std::mem::take(&mut self.counters)
    }

    pub fn poll_transmit(&mut self) -> Option<Pdu> {
        self.transmit.pop_front()
    }

    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    fn next_sequence(&mut self) -> SequenceNumber {
        loop {
            let sequence = self.sequences.next_now();
            if !self.outstanding.contains_key(&sequence.sequence) {
                return sequence;
            }
        }
    }

    fn queue(&mut self, now: Instant, pdu: Pdu) {
        self.last_activity = now;
        self.transmit.push_back(pdu);
    }

    // ----- requests of ours -----

    /// Queues a request of the application; returns the counter word of its sequence
    /// number.
    pub fn send_request(&mut self, now: Instant, body: Body) -> Result<u32, SendError> {
        let command = body.command_id();
        if !self.config.ours().contains(&command) {
            return Err(SendError::NotCarried {
                command,
                login_type: self.config.login_type.value(),
            });
        }
        match self.state {
            State::Open => {}
            State::Draining | State::Unbinding => return Err(SendError::Unbinding),
            State::Closed => return Err(SendError::Closed),
        }
        if self.outstanding_requests >= self.config.window {
            return Err(SendError::WindowFull(self.config.window));
        }
        self.outstanding_requests += 1;
        Ok(self.send(now, body))
    }

    fn send(&mut self, now: Instant, body: Body) -> u32 {
        let sequence = self.next_sequence();
        self.outstanding.insert(
            sequence.sequence,
            Outstanding {
                sequence,
                command: body.command_id(),
                sent_at: now,
                deadline: now + self.config.response_timeout,
            },
        );
        self.queue(now, Pdu { sequence, body });
        sequence.sequence
    }

    /// Takes back a request that could not be written: it frees its window slot and will
    /// not time out.
    pub fn forget_request(&mut self, now: Instant, counter: u32) {
        if let Some(request) = self.outstanding.remove(&counter) {
            if request.command != CommandId::Unbind {
                self.outstanding_requests = self.outstanding_requests.saturating_sub(1);
            }
        }
        self.drain_step(now);
    }

    /// Stops taking new requests, lets the outstanding ones finish (or time out), then
    /// sends UNBIND; `reason` is what the close will report.
    pub fn unbind(&mut self, now: Instant, reason: CloseReason) {
        if self.state != State::Open {
            return;
        }
        self.unbind_reason = reason;
        self.state = State::Draining;
        self.drain_step(now);
    }

    fn drain_step(&mut self, now: Instant) {
        if self.state == State::Draining && self.outstanding_requests == 0 {
            self.state = State::Unbinding;
            self.send(now, Body::Unbind);
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

    /// The peer closed the connection; after our UNBIND that is as good as UNBIND_RESP.
    pub fn peer_closed(&mut self) {
        let reason = match self.state {
            State::Unbinding => self.unbind_reason.clone(),
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
        let Some(&request) = self.inbound.get(&response.sequence) else {
            return false;
        };
        if rules::response_command(request) != Some(response.body.command_id()) {
            return false;
        }
        self.inbound.remove(&response.sequence);
        self.queue(now, response);
        true
    }

    /// The application could not take a request it was handed (its queue was full):
    /// answer it with node busy instead.
    pub fn refuse_request(&mut self, now: Instant, request: &Pdu) {
        if self.inbound.remove(&request.sequence).is_some() {
            self.counters.busy += 1;
            self.refuse(
                now,
                request.body.command_id(),
                request.sequence,
                result::NODE_BUSY,
            );
        }
    }

    fn refuse(&mut self, now: Instant, command: CommandId, sequence: SequenceNumber, code: u8) {
        if let Some(response) = Pdu::error_response(command, sequence, code) {
            self.queue(now, response);
        }
    }

    // ----- what the peer sends -----

    pub fn handle_pdu(&mut self, now: Instant, pdu: Pdu) {
        if self.state == State::Closed {
            return;
        }
        self.last_activity = now;
        let command = pdu.body.command_id();
        if command.is_response() {
            return self.handle_response(now, pdu);
        }
        match command {
            CommandId::Unbind => {
                let sequence = pdu.sequence;
                self.queue(
                    now,
                    Pdu {
                        sequence,
                        body: Body::UnbindResp,
                    },
                );
                self.close(CloseReason::Unbound);
            }
            CommandId::Bind => {
                self.refuse(now, command, pdu.sequence, result::REPEATED_LOGIN);
            }
            _ => self.handle_request(now, pdu),
        }
    }

    fn handle_request(&mut self, now: Instant, pdu: Pdu) {
        let command = pdu.body.command_id();
        let sequence = pdu.sequence;
        if !self.config.theirs().contains(&command) {
            self.counters.not_carried += 1;
            return self.refuse(now, command, sequence, result::BAD_LOGIN_TYPE);
        }
        if self.inbound.len() >= self.config.window {
            self.counters.busy += 1;
            return self.refuse(now, command, sequence, result::NODE_BUSY);
        }
        if self.inbound.contains_key(&sequence) {
            self.counters.repeated_sequences += 1;
            return self.refuse(now, command, sequence, result::BAD_SEQUENCE_NUMBER);
        }
        self.inbound.insert(sequence, command);
        self.events.push_back(Event::Request(pdu));
    }

    /// A frame of a known command whose body did not decode: a request gets its response
    /// with `code`, an UNBIND is an UNBIND all the same (only its length can be wrong), a
    /// broken response is counted and dropped (its request runs into its timeout).
    pub fn handle_malformed(
        &mut self,
        now: Instant,
        command: CommandId,
        sequence: SequenceNumber,
        code: u8,
    ) {
        if self.state == State::Closed {
            return;
        }
        self.last_activity = now;
        self.counters.malformed += 1;
        match command {
            _ if command.is_response() => {}
            CommandId::Unbind => self.handle_pdu(
                now,
                Pdu {
                    sequence,
                    body: Body::Unbind,
                },
            ),
            _ => self.refuse(now, command, sequence, code),
        }
    }

    fn handle_response(&mut self, now: Instant, pdu: Pdu) {
        let counter = pdu.sequence.sequence;
        let command = pdu.body.command_id();
        let matches = self.outstanding.get(&counter).is_some_and(|o| {
            o.sequence == pdu.sequence && rules::response_command(o.command) == Some(command)
        });
        if !matches {
            if let Some(pos) = self.timed_out.iter().position(|(s, _)| *s == pdu.sequence) {
                self.timed_out.remove(pos);
                self.counters.late_responses += 1;
                self.events.push_back(Event::LateResponse(pdu));
            } else {
                // Never answered: answering a response would start a ping-pong.
                self.counters.unexpected_responses += 1;
            }
            return;
        }
        let Some(request) = self.outstanding.remove(&counter) else {
            return;
        };
        if request.command == CommandId::Unbind {
            return self.close(self.unbind_reason.clone());
        }
        self.outstanding_requests = self.outstanding_requests.saturating_sub(1);
        self.events.push_back(Event::Response { request, pdu });
        self.drain_step(now);
    }

    // ----- time -----

    /// Whether the inactivity timer runs: nothing of either side is waiting for an answer.
    fn idle(&self) -> bool {
        self.state == State::Open && self.outstanding.is_empty() && self.inbound.is_empty()
    }

    /// The next instant at which `handle_timeout` has work to do.
    pub fn poll_timeout(&self) -> Option<Instant> {
        if self.state == State::Closed {
            return None;
        }
        let deadlines = self.outstanding.values().map(|o| o.deadline);
        let late = self
            .timed_out
            .front()
            .map(|(_, at)| *at + LATE_RESPONSE_GRACE);
        let idle = self
            .idle()
            .then(|| self.last_activity + self.config.inactivity_timeout);
        deadlines.chain(late).chain(idle).min()
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
        let mut expired: Vec<Outstanding> = self
            .outstanding
            .values()
            .filter(|o| o.deadline <= now)
            .copied()
            .collect();
        expired.sort_by_key(|o| o.sent_at);
        for request in expired {
            self.outstanding.remove(&request.sequence.sequence);
            if request.command == CommandId::Unbind {
                // The peer did not confirm our UNBIND: we close anyway.
                return self.close(self.unbind_reason.clone());
            }
            self.outstanding_requests = self.outstanding_requests.saturating_sub(1);
            self.timed_out.push_back((request.sequence, now));
            // Bounded: never more than a few windows' worth.
            while self.timed_out.len() > self.config.window.saturating_mul(4).max(16) {
                self.timed_out.pop_front();
            }
            self.events.push_back(Event::ResponseTimeout(request));
        }
        self.drain_step(now);
        if self.idle() && now >= self.last_activity + self.config.inactivity_timeout {
            self.unbind(now, CloseReason::Inactivity);
        }
    }
}
