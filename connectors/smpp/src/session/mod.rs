//! The SMPP session as a state machine without I/O, driven by explicit time.
//!
//! The driver feeds it decoded PDUs (`handle_command`), asks it to send requests
//! (`send_request`) and responses (`respond`), moves whatever `poll_transmit` yields to the
//! socket, hands whatever `poll_event` yields to the application, and calls
//! `handle_timeout(now)` when `poll_timeout()` is due. Windows, bind states, keepalive and
//! response timers all live here, so they are tested without sockets.

mod rules;
#[cfg(test)]
mod tests;

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

use rusmpp::pdus::{BindReceiverResp, BindTransceiverResp, BindTransmitterResp};
use rusmpp::values::InterfaceVersion;
use rusmpp::{Command, CommandId, CommandStatus, Pdu};

use crate::codec::{self, FrameError, Header};

pub use rules::{
    accepted_interface_version, c_octet, error_response, expects_no_response, is_message_request,
    request_allowed, BindKind,
};

/// Which side of the bind this session is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// We are the SMSC: ESMEs bind to us.
    Server,
    /// We are the ESME: we bind to an operator SMSC.
    Client,
}

/// Where the session stands (SMPP 3.4 §2.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    /// Connected, not bound.
    Open,
    /// Client: bind sent, waiting for its response.
    Binding(BindKind),
    Bound(BindKind),
    /// We stop sending new requests and wait for the outstanding ones, then unbind.
    Draining,
    /// Our unbind is on its way; waiting for unbind_resp.
    Unbinding,
    /// Nothing more is sent or accepted; the driver closes the connection.
    Closed,
}

/// Limits and timers of one session.
#[derive(Debug, Clone)]
pub struct Config {
    pub role: Role,
    /// Message requests we may have outstanding towards the peer.
    pub window_out: usize,
    /// Message requests from the peer we may be working on at once; more get
    /// ESME_RTHROTTLED.
    pub window_in: usize,
    /// Idle time after which we send enquire_link.
    pub enquire_link_interval: Duration,
    /// Nothing received for this long: the session is dead.
    pub inactivity_timeout: Duration,
    /// How long a request of ours waits for its response.
    pub response_timeout: Duration,
    /// How long a fresh connection may stay unbound.
    pub bind_timeout: Duration,
    /// How long a response that came too late is still recognised as late.
    pub late_response_grace: Duration,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            role: Role::Server,
            window_out: 64,
            window_in: 64,
            enquire_link_interval: Duration::from_secs(30),
            inactivity_timeout: Duration::from_secs(120),
            response_timeout: Duration::from_secs(10),
            bind_timeout: Duration::from_secs(10),
            late_response_grace: Duration::from_secs(60),
        }
    }
}

/// Why a request could not be sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SendError {
    #[error("the window of {0} outstanding requests is full")]
    WindowFull(usize),
    #[error("the session is not bound for this operation (state {0:?})")]
    NotBound(State),
    /// The caller no longer wanted it sent by the time the window had room (see
    /// `SessionHandle::request_if`).
    #[error("withdrawn by the caller before it was written")]
    Withdrawn,
}

/// Why a session ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CloseReason {
    /// The peer unbound, or answered our unbind.
    Unbound,
    /// The peer never bound in time.
    BindTimeout,
    /// The peer refused our bind.
    BindRejected(CommandStatus),
    /// Nothing was received for the inactivity timeout, or enquire_link went unanswered.
    PeerSilent,
    /// The connection broke or the peer closed it without unbinding.
    PeerGone,
    /// The peer sent something that ends the session (bad framing, not SMPP).
    ProtocolError,
    /// The application asked to close.
    Local,
}

/// A request of ours that is waiting for its response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Outstanding {
    pub sequence_number: u32,
    pub command_id: CommandId,
    pub sent_at: Instant,
    deadline: Instant,
}

/// What the application must hear about.
#[derive(Debug)]
pub enum Event {
    /// Server: an ESME asks to bind; answer with `accept_bind` or `reject_bind`.
    BindRequest {
        sequence_number: u32,
        kind: BindKind,
        command: Command,
    },
    /// Client: the SMSC asks us to bind (outbind).
    Outbind(Command),
    /// The session is bound.
    Bound {
        kind: BindKind,
        interface_version: u8,
    },
    /// A message request from the peer (submit_sm, deliver_sm, data_sm, query_sm, ...);
    /// answer it with `respond`.
    Request(Command),
    /// The response to one of our requests.
    Response {
        request: Outstanding,
        command: Command,
    },
    /// A response arrived after its request had timed out: the request did reach the peer.
    LateResponse {
        command_id: CommandId,
        command: Command,
    },
    /// One of our requests got no response in time: its outcome is unknown.
    ResponseTimeout(Outstanding),
    /// The session ended; these requests never got a response.
    Closed {
        reason: CloseReason,
        unanswered: Vec<Outstanding>,
    },
}

/// Counters a driver exports as metrics.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Counters {
    pub unexpected_responses: u64,
    pub late_responses: u64,
    pub throttled: u64,
    pub rejected_state: u64,
}

/// One SMPP session, either side.
#[derive(Debug)]
pub struct Session {
    config: Config,
    state: State,
    next_sequence: u32,
    outstanding: HashMap<u32, Outstanding>,
    /// Message requests in `outstanding`: the window in use.
    outstanding_messages: usize,
    /// Requests of ours that timed out, kept to recognise their late responses.
    timed_out: VecDeque<(u32, CommandId, Instant)>,
    /// Peer requests the application has not answered yet.
    inbound: HashMap<u32, CommandId>,
    interface_version: u8,
    /// The kind of bind, kept while draining and unbinding.
    bound: Option<BindKind>,
    opened_at: Instant,
    last_received: Instant,
    last_sent: Instant,
    enquire_outstanding: bool,
    transmit: VecDeque<Command>,
    events: VecDeque<Event>,
    counters: Counters,
}

impl Session {
    pub fn new(config: Config, now: Instant) -> Self {
        Self {
            config,
            state: State::Open,
            next_sequence: 1,
            outstanding: HashMap::new(),
            outstanding_messages: 0,
            timed_out: VecDeque::new(),
            inbound: HashMap::new(),
            interface_version: 0x34,
            bound: None,
            opened_at: now,
            last_received: now,
            last_sent: now,
            enquire_outstanding: false,
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

    pub fn counters(&self) -> Counters {
        self.counters
    }

    /// Message requests of ours waiting for a response.
    pub fn window_out_in_use(&self) -> usize {
        self.outstanding_messages
    }

    /// Peer message requests waiting for our answer.
    pub fn window_in_in_use(&self) -> usize {
        self.inbound.len()
    }

    /// Whether a message request may be sent now.
    pub fn can_send_message(&self) -> bool {
        matches!(self.state, State::Bound(_)) && self.outstanding_messages < self.config.window_out
    }

    pub fn is_closed(&self) -> bool {
        self.state == State::Closed
    }

    /// The next PDU to write to the socket.
    pub fn poll_transmit(&mut self) -> Option<Command> {
        self.transmit.pop_front()
    }

    /// The next thing the application must hear about.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    fn next_sequence(&mut self) -> u32 {
        let seq = self.next_sequence;
        // SMPP 3.4 §5.1.4: sequence numbers run 0x00000001..=0x7FFFFFFF.
        self.next_sequence = if seq >= 0x7FFF_FFFF { 1 } else { seq + 1 };
        seq
    }

    fn queue(&mut self, now: Instant, command: Command) {
        self.last_sent = now;
        self.transmit.push_back(command);
    }

    fn respond_status(&mut self, now: Instant, request: &Command, status: CommandStatus) {
        let response = rules::error_response(request.id(), request.sequence_number(), status);
        self.queue(now, response);
    }

    // ----- requests of ours -----

    /// Client: sends a bind of `kind` built by the caller.
    pub fn bind(&mut self, now: Instant, kind: BindKind, pdu: Pdu) -> Result<u32, SendError> {
        if self.state != State::Open || self.config.role != Role::Client {
            return Err(SendError::NotBound(self.state));
        }
        self.state = State::Binding(kind);
        Ok(self.send(now, pdu))
    }

    /// Sends a request PDU; returns its sequence number.
    pub fn send_request(&mut self, now: Instant, pdu: Pdu) -> Result<u32, SendError> {
        let id = pdu.command_id();
        let State::Bound(kind) = self.state else {
            // enquire_link is legal in every open state (SMPP 5.0 §2.4).
            if id == CommandId::EnquireLink && !matches!(self.state, State::Closed) {
                return Ok(self.send(now, pdu));
            }
            return Err(SendError::NotBound(self.state));
        };
        if !rules::request_allowed(self.config.role, kind, id) {
            return Err(SendError::NotBound(self.state));
        }
        if is_message_request(id) {
            if self.outstanding_messages >= self.config.window_out {
                return Err(SendError::WindowFull(self.config.window_out));
            }
            self.outstanding_messages += 1;
        }
        Ok(self.send(now, pdu))
    }

    fn send(&mut self, now: Instant, pdu: Pdu) -> u32 {
        let seq = self.next_sequence();
        let command_id = pdu.command_id();
        if rules::expects_no_response(command_id) {
            self.queue(now, Command::new(CommandStatus::EsmeRok, seq, pdu));
            return seq;
        }
        self.outstanding.insert(
            seq,
            Outstanding {
                sequence_number: seq,
                command_id,
                sent_at: now,
                deadline: now + self.config.response_timeout,
            },
        );
        self.queue(now, Command::new(CommandStatus::EsmeRok, seq, pdu));
        seq
    }

    /// Stops sending new requests, lets the outstanding ones finish, then unbinds.
    pub fn unbind(&mut self, now: Instant) {
        match self.state {
            State::Bound(_) if self.outstanding_messages > 0 => self.state = State::Draining,
            State::Bound(_) | State::Draining => self.send_unbind(now),
            State::Open | State::Binding(_) => self.close(CloseReason::Local),
            State::Unbinding | State::Closed => {}
        }
    }

    fn send_unbind(&mut self, now: Instant) {
        self.state = State::Unbinding;
        self.send(now, Pdu::Unbind);
    }

    /// Ends the session at once; outstanding requests are reported unanswered.
    pub fn close(&mut self, reason: CloseReason) {
        if self.state == State::Closed {
            return;
        }
        self.state = State::Closed;
        let mut unanswered: Vec<Outstanding> = self
            .outstanding
            .drain()
            .map(|(_, o)| o)
            .filter(|o| is_message_request(o.command_id))
            .collect();
        unanswered.sort_by_key(|o| o.sent_at);
        self.outstanding_messages = 0;
        self.inbound.clear();
        self.events.push_back(Event::Closed { reason, unanswered });
    }

    // ----- answers to the peer's requests -----

    /// Server: accepts a bind request.
    pub fn accept_bind(&mut self, now: Instant, sequence_number: u32, system_id: &str) {
        let Some(CommandId::BindTransmitter | CommandId::BindReceiver | CommandId::BindTransceiver) =
            self.inbound.remove(&sequence_number)
        else {
            return;
        };
        let Some(kind) = self.pending_bind_kind() else {
            return;
        };
        self.state = State::Bound(kind);
        self.bound = Some(kind);
        let system_id = c_octet(system_id);
        // SMPP 3.4 §4.1.2: sc_interface_version only towards ESMEs of version 3.4 or later.
        let version = (self.interface_version >= 0x34).then_some(InterfaceVersion::Smpp3_4);
        let pdu = match kind {
            BindKind::Transmitter => Pdu::from(BindTransmitterResp::new(system_id, version)),
            BindKind::Receiver => Pdu::from(BindReceiverResp::new(system_id, version)),
            BindKind::Transceiver => Pdu::from(BindTransceiverResp::new(system_id, version)),
        };
        self.queue(
            now,
            Command::new(CommandStatus::EsmeRok, sequence_number, pdu),
        );
        self.events.push_back(Event::Bound {
            kind,
            interface_version: self.interface_version,
        });
    }

    fn pending_bind_kind(&self) -> Option<BindKind> {
        match self.state {
            State::Binding(kind) => Some(kind),
            _ => None,
        }
    }

    /// Server: refuses a bind request; the session closes after the response is sent.
    pub fn reject_bind(&mut self, now: Instant, sequence_number: u32, status: CommandStatus) {
        let Some(id) = self.inbound.remove(&sequence_number) else {
            return;
        };
        self.queue(now, rules::error_response(id, sequence_number, status));
        self.state = State::Open;
        self.close(CloseReason::BindRejected(status));
    }

    /// Answers a message request of the peer. A response whose request is unknown (already
    /// answered, or never received) is dropped.
    pub fn respond(&mut self, now: Instant, mut response: Command) -> bool {
        let seq = response.sequence_number();
        if self.inbound.remove(&seq).is_none() || self.state == State::Closed {
            return false;
        }
        response.sequence_number = seq;
        self.queue(now, response);
        true
    }

    // ----- what the peer sends -----

    /// Handles one PDU from the peer.
    pub fn handle_command(&mut self, now: Instant, command: Command) {
        if self.state == State::Closed {
            return;
        }
        self.last_received = now;
        let id = command.id();
        if id.is_response() {
            self.handle_response(now, command);
            return;
        }
        match id {
            CommandId::EnquireLink => {
                self.queue(
                    now,
                    Command::new(
                        CommandStatus::EsmeRok,
                        command.sequence_number(),
                        Pdu::EnquireLinkResp,
                    ),
                );
            }
            CommandId::Unbind => {
                self.queue(
                    now,
                    Command::new(
                        CommandStatus::EsmeRok,
                        command.sequence_number(),
                        Pdu::UnbindResp,
                    ),
                );
                self.close(CloseReason::Unbound);
            }
            CommandId::BindTransmitter | CommandId::BindReceiver | CommandId::BindTransceiver => {
                self.handle_bind(now, command)
            }
            CommandId::Outbind if self.config.role == Role::Client && self.state == State::Open => {
                self.events.push_back(Event::Outbind(command));
            }
            _ => self.handle_request(now, command),
        }
    }

    /// Handles a frame whose body could not be decoded: a request gets `status` in its
    /// response (or generic_nack); a broken response is counted and dropped, and its request
    /// runs into its timeout.
    pub fn handle_rejected(&mut self, now: Instant, header: &Header, status: CommandStatus) {
        if self.state == State::Closed {
            return;
        }
        self.last_received = now;
        if codec::is_response(header.command_id) {
            self.counters.unexpected_responses += 1;
            return;
        }
        self.queue(now, codec::error_response(header, status));
    }

    /// The stream cannot be framed any more: generic_nack, then close.
    pub fn handle_frame_error(&mut self, now: Instant, error: &FrameError) {
        if self.state == State::Closed {
            return;
        }
        let nack = codec::generic_nack(error.header().sequence_number, error.status());
        self.queue(now, nack);
        self.close(CloseReason::ProtocolError);
    }

    fn handle_bind(&mut self, now: Instant, command: Command) {
        let Some(kind) = BindKind::from_command_id(command.id()) else {
            return;
        };
        if self.config.role == Role::Client {
            self.counters.rejected_state += 1;
            return self.respond_status(now, &command, CommandStatus::EsmeRinvbndsts);
        }
        if self.state != State::Open {
            self.counters.rejected_state += 1;
            return self.respond_status(now, &command, CommandStatus::EsmeRalybnd);
        }
        let version = rules::bind_interface_version(&command);
        if !rules::accepted_interface_version(version) {
            return self.respond_status(now, &command, CommandStatus::EsmeRbindfail);
        }
        self.interface_version = version;
        self.state = State::Binding(kind);
        self.inbound.insert(command.sequence_number(), command.id());
        self.events.push_back(Event::BindRequest {
            sequence_number: command.sequence_number(),
            kind,
            command,
        });
    }

    fn handle_request(&mut self, now: Instant, command: Command) {
        let id = command.id();
        let open = matches!(
            self.state,
            State::Bound(_) | State::Draining | State::Unbinding
        );
        let allowed = open
            && self
                .bound
                .is_some_and(|kind| rules::request_allowed(self.config.role.peer(), kind, id));
        if !allowed {
            self.counters.rejected_state += 1;
            return self.respond_status(now, &command, CommandStatus::EsmeRinvbndsts);
        }
        if rules::expects_no_response(id) {
            self.events.push_back(Event::Request(command));
            return;
        }
        if is_message_request(id) && self.inbound.len() >= self.config.window_in {
            self.counters.throttled += 1;
            return self.respond_status(now, &command, CommandStatus::EsmeRthrottled);
        }
        if self.inbound.insert(command.sequence_number(), id).is_some() {
            // The peer reused a sequence number still in flight; SMPP 3.4 §2.6 forbids it.
            return self.respond_status(now, &command, CommandStatus::EsmeRsyserr);
        }
        self.events.push_back(Event::Request(command));
    }

    fn handle_response(&mut self, now: Instant, command: Command) {
        let seq = command.sequence_number();
        let Some(request) = self.outstanding.remove(&seq) else {
            if let Some(pos) = self.timed_out.iter().position(|(s, _, _)| *s == seq) {
                let (_, command_id, _) =
                    self.timed_out
                        .remove(pos)
                        .unwrap_or((seq, command.id(), now));
                self.counters.late_responses += 1;
                self.events.push_back(Event::LateResponse {
                    command_id,
                    command,
                });
            } else {
                // A response nobody asked for is counted and dropped (never answered:
                // answering a response would start a ping-pong of nacks).
                self.counters.unexpected_responses += 1;
            }
            return;
        };
        if is_message_request(request.command_id) {
            self.outstanding_messages = self.outstanding_messages.saturating_sub(1);
        }
        match request.command_id {
            CommandId::EnquireLink => self.enquire_outstanding = false,
            CommandId::Unbind => return self.close(CloseReason::Unbound),
            CommandId::BindTransmitter | CommandId::BindReceiver | CommandId::BindTransceiver => {
                return self.handle_bind_response(command);
            }
            _ => {}
        }
        self.events.push_back(Event::Response { request, command });
        if self.state == State::Draining && self.outstanding_messages == 0 {
            self.send_unbind(now);
        }
    }

    fn handle_bind_response(&mut self, command: Command) {
        let State::Binding(kind) = self.state else {
            return;
        };
        if command.status() != CommandStatus::EsmeRok {
            self.state = State::Open;
            return self.close(CloseReason::BindRejected(command.status()));
        }
        self.state = State::Bound(kind);
        self.bound = Some(kind);
        let version = rules::bind_resp_interface_version(&command).unwrap_or(0x34);
        self.interface_version = version;
        self.events.push_back(Event::Bound {
            kind,
            interface_version: version,
        });
    }

    // ----- time -----

    /// The next instant at which `handle_timeout` has work to do.
    pub fn poll_timeout(&self) -> Option<Instant> {
        if self.state == State::Closed {
            return None;
        }
        let mut next = self.last_received + self.config.inactivity_timeout;
        if self.state == State::Open || matches!(self.state, State::Binding(_)) {
            next = next.min(self.opened_at + self.config.bind_timeout);
        }
        if matches!(self.state, State::Bound(_)) && !self.enquire_outstanding {
            next = next
                .min(self.last_received.max(self.last_sent) + self.config.enquire_link_interval);
        }
        if let Some(o) = self.outstanding.values().map(|o| o.deadline).min() {
            next = next.min(o);
        }
        if let Some((_, _, at)) = self.timed_out.front() {
            next = next.min(*at + self.config.late_response_grace);
        }
        Some(next)
    }

    /// Fires every timer that is due at `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        if self.state == State::Closed {
            return;
        }
        while let Some((_, _, at)) = self.timed_out.front() {
            if *at + self.config.late_response_grace > now {
                break;
            }
            self.timed_out.pop_front();
        }
        if now >= self.last_received + self.config.inactivity_timeout {
            return self.close(CloseReason::PeerSilent);
        }
        let unbound = matches!(self.state, State::Open | State::Binding(_));
        if unbound && now >= self.opened_at + self.config.bind_timeout {
            return self.close(CloseReason::BindTimeout);
        }
        let mut expired: Vec<Outstanding> = self
            .outstanding
            .values()
            .filter(|o| o.deadline <= now)
            .copied()
            .collect();
        expired.sort_by_key(|o| o.sequence_number);
        for request in expired {
            self.outstanding.remove(&request.sequence_number);
            match request.command_id {
                // An unanswered keepalive or unbind means the peer is gone.
                CommandId::EnquireLink | CommandId::Unbind => {
                    return self.close(CloseReason::PeerSilent)
                }
                CommandId::BindTransmitter
                | CommandId::BindReceiver
                | CommandId::BindTransceiver => return self.close(CloseReason::BindTimeout),
                _ => {}
            }
            if is_message_request(request.command_id) {
                self.outstanding_messages = self.outstanding_messages.saturating_sub(1);
            }
            self.timed_out
                .push_back((request.sequence_number, request.command_id, now));
            // Bounded: never more entries than could have been outstanding twice over.
            while self.timed_out.len() > self.config.window_out.saturating_mul(4).max(16) {
                self.timed_out.pop_front();
            }
            self.events.push_back(Event::ResponseTimeout(request));
        }
        if self.state == State::Draining && self.outstanding_messages == 0 {
            self.send_unbind(now);
        }
        if matches!(self.state, State::Bound(_))
            && !self.enquire_outstanding
            && now >= self.last_received.max(self.last_sent) + self.config.enquire_link_interval
        {
            self.enquire_outstanding = true;
            self.send(now, Pdu::EnquireLink);
        }
    }
}

impl Role {
    /// The role of the other end.
    pub fn peer(self) -> Role {
        match self {
            Role::Server => Role::Client,
            Role::Client => Role::Server,
        }
    }
}
