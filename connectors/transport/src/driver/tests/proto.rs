//! A tiny protocol to drive the driver with: a 12-octet header (length, command,
//! sequence), a request, a keepalive and a goodbye, each with its response; a window,
//! response timers, late responses, keepalive and inactivity, as the real protocols have.

use std::collections::{HashMap, VecDeque};
use std::convert::Infallible;
use std::time::{Duration, Instant};

use bytes::{Buf, BufMut, Bytes, BytesMut};

use crate::driver::{self, Abort, Delivery, Drain, Event, Frame, Unencodable};

pub const REQUEST: u32 = 1;
pub const PING: u32 = 2;
pub const BYE: u32 = 3;
pub const RESPONSE: u32 = 0x8000_0000;
pub const HEADER: usize = 12;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pdu {
    pub command: u32,
    pub sequence: u32,
    pub body: Bytes,
}

impl Pdu {
    pub fn new(command: u32, sequence: u32, body: &'static [u8]) -> Self {
        Self {
            command,
            sequence,
            body: Bytes::from_static(body),
        }
    }

    pub fn to_bytes(&self) -> BytesMut {
        let mut buf = BytesMut::new();
        let _ = driver::Codec::encode(&mut Codec { max: usize::MAX }, self, &mut buf);
        buf
    }
}

/// Frames of at most `max` octets; an unknown command is a malformed frame.
#[derive(Debug)]
pub struct Codec {
    pub max: usize,
}

impl driver::Codec for Codec {
    type In = Pdu;
    type Out = Pdu;
    type Malformed = Pdu;
    type FrameError = String;
    type EncodeError = String;

    fn decode(&mut self, buf: &mut BytesMut) -> driver::Decoded<Self> {
        if buf.len() < 4 {
            return Ok(None);
        }
        let length = u32::from_be_bytes([buf[0], buf[1], buf[2], buf[3]]) as usize;
        if !(HEADER..=self.max).contains(&length) {
            return Err(format!("length {length} outside {HEADER}..={}", self.max));
        }
        if buf.len() < length {
            return Ok(None);
        }
        let mut frame = buf.split_to(length);
        frame.advance(4);
        let command = frame.get_u32();
        let sequence = frame.get_u32();
        let pdu = Pdu {
            command,
            sequence,
            body: frame.freeze(),
        };
        if matches!(command & !RESPONSE, REQUEST | PING | BYE) {
            Ok(Some(Frame::Pdu(pdu)))
        } else {
            Ok(Some(Frame::Malformed(pdu)))
        }
    }

    fn encode(&mut self, pdu: &Pdu, buf: &mut BytesMut) -> Result<(), String> {
        if pdu.body.len() > 255 {
            return Err("body over 255 octets".into());
        }
        buf.put_u32((HEADER + pdu.body.len()) as u32);
        buf.put_u32(pdu.command);
        buf.put_u32(pdu.sequence);
        buf.put_slice(&pdu.body);
        Ok(())
    }
}

#[derive(Debug, Clone, Copy)]
pub struct Config {
    pub window: usize,
    pub response_timeout: Duration,
    pub keepalive: Duration,
    pub inactivity: Duration,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            window: 2,
            response_timeout: Duration::from_secs(5),
            keepalive: Duration::from_secs(30),
            inactivity: Duration::from_secs(90),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reason {
    /// The peer said goodbye.
    PeerBye,
    /// Our goodbye was answered (or the peer left after it).
    ByUs,
    Inactivity,
    PeerClosed,
    Io,
    Protocol(String),
}

#[derive(Debug, PartialEq, Eq)]
pub enum Notice {
    Request(Pdu),
    Late(Pdu),
    Closed(Reason),
}

#[derive(Debug, Clone, Copy)]
pub struct Outstanding {
    sequence: u32,
    command: u32,
    sent_at: Instant,
    deadline: Instant,
}

impl driver::Sent for Outstanding {
    fn sequence(&self) -> u32 {
        self.sequence
    }

    fn sent_at(&self) -> Instant {
        self.sent_at
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SendError {
    WindowFull,
    Closing,
}

pub struct Session {
    config: Config,
    next: u32,
    outstanding: HashMap<u32, Outstanding>,
    requests: usize,
    timed_out: VecDeque<u32>,
    inbound: Vec<u32>,
    last_received: Instant,
    last_sent: Instant,
    draining: bool,
    closed: bool,
    transmit: VecDeque<Pdu>,
    events: VecDeque<Event<Self>>,
}

impl Session {
    pub fn new(config: Config, now: Instant) -> Self {
        Self {
            config,
            next: 1,
            outstanding: HashMap::new(),
            requests: 0,
            timed_out: VecDeque::new(),
            inbound: Vec::new(),
            last_received: now,
            last_sent: now,
            draining: false,
            closed: false,
            transmit: VecDeque::new(),
            events: VecDeque::new(),
        }
    }

    fn send(&mut self, now: Instant, command: u32, body: Bytes) -> u32 {
        let sequence = self.next;
        self.next += 1;
        let deadline = now + self.config.response_timeout;
        let sent = Outstanding {
            sequence,
            command,
            sent_at: now,
            deadline,
        };
        self.outstanding.insert(sequence, sent);
        self.queue(now, command, sequence, body);
        sequence
    }

    fn queue(&mut self, now: Instant, command: u32, sequence: u32, body: Bytes) {
        self.last_sent = now;
        let pdu = Pdu {
            command,
            sequence,
            body,
        };
        self.transmit.push_back(pdu);
    }

    fn close(&mut self, reason: Reason) {
        if self.closed {
            return;
        }
        self.closed = true;
        self.events.push_back(Event::Closed {
            notice: Notice::Closed(reason.clone()),
            reason,
            delivery: Delivery::WaitAtMost(Duration::from_secs(1)),
        });
    }

    fn drain_step(&mut self, now: Instant) {
        if self.draining
            && self.requests == 0
            && !self.outstanding.values().any(|o| o.command == BYE)
        {
            self.send(now, BYE, Bytes::new());
        }
    }
}

impl driver::Session for Session {
    type Codec = Codec;
    type Request = Bytes;
    type Response = Pdu;
    type Sent = Outstanding;
    type SendError = SendError;
    type CloseReason = Reason;
    type Notice = Notice;
    type Custom = Infallible;

    fn handle_pdu(&mut self, now: Instant, pdu: Pdu) {
        self.last_received = now;
        if pdu.command & RESPONSE != 0 {
            let Some(request) = self.outstanding.remove(&pdu.sequence) else {
                if let Some(at) = self.timed_out.iter().position(|s| *s == pdu.sequence) {
                    self.timed_out.remove(at);
                    self.events
                        .push_back(Event::Deliver(Notice::Late(pdu), Delivery::Wait));
                }
                return;
            };
            match request.command {
                BYE => self.close(Reason::ByUs),
                PING => {}
                _ => {
                    self.requests -= 1;
                    let response = pdu;
                    self.events.push_back(Event::Response { request, response });
                    self.drain_step(now);
                }
            }
            return;
        }
        match pdu.command {
            PING => self.queue(now, PING | RESPONSE, pdu.sequence, Bytes::new()),
            BYE => {
                self.queue(now, BYE | RESPONSE, pdu.sequence, Bytes::new());
                self.close(Reason::PeerBye);
            }
            _ => {
                self.inbound.push(pdu.sequence);
                self.events
                    .push_back(Event::Deliver(Notice::Request(pdu), Delivery::OrRefuse));
            }
        }
    }

    fn handle_malformed(&mut self, now: Instant, frame: Pdu) {
        self.last_received = now;
        self.queue(
            now,
            frame.command | RESPONSE,
            frame.sequence,
            Bytes::from_static(b"bad"),
        );
    }

    fn handle_frame_error(&mut self, _now: Instant, error: &String) {
        self.close(Reason::Protocol(error.clone()));
    }

    fn handle_unencodable(
        &mut self,
        _now: Instant,
        pdu: Pdu,
        _error: String,
    ) -> Unencodable<Pdu, SendError> {
        if self.outstanding.remove(&pdu.sequence).is_some() {
            self.requests -= 1;
            return Unencodable::Fail {
                sequence: pdu.sequence,
                error: SendError::Closing,
            };
        }
        Unencodable::Drop
    }

    fn send_request(&mut self, now: Instant, body: Bytes) -> Result<u32, SendError> {
        if self.draining || self.closed {
            return Err(SendError::Closing);
        }
        if self.requests >= self.config.window {
            return Err(SendError::WindowFull);
        }
        self.requests += 1;
        Ok(self.send(now, REQUEST, body))
    }

    fn respond(&mut self, now: Instant, response: Pdu) -> bool {
        let Some(at) = self.inbound.iter().position(|s| *s == response.sequence) else {
            return false;
        };
        self.inbound.remove(at);
        self.queue(now, response.command, response.sequence, response.body);
        true
    }

    fn undelivered(&mut self, now: Instant, notice: Notice) {
        if let Notice::Request(pdu) = notice {
            self.inbound.retain(|s| *s != pdu.sequence);
            self.queue(
                now,
                REQUEST | RESPONSE,
                pdu.sequence,
                Bytes::from_static(b"busy"),
            );
        }
    }

    fn drain(&mut self, now: Instant, _why: Drain) {
        if !self.closed && !self.draining {
            self.draining = true;
            self.drain_step(now);
        }
    }

    fn abort(&mut self, why: Abort) {
        self.close(match why {
            Abort::PeerClosed => Reason::PeerClosed,
            Abort::ReadFailed(_) | Abort::WriteFailed(_) => Reason::Io,
            Abort::GateClosed => Reason::ByUs,
            Abort::PartialFrame => Reason::Protocol("half a frame".into()),
        });
    }

    fn poll_transmit(&mut self) -> Option<Pdu> {
        self.transmit.pop_front()
    }

    fn poll_event(&mut self) -> Option<Event<Self>> {
        self.events.pop_front()
    }

    fn poll_timeout(&self) -> Option<Instant> {
        if self.closed {
            return None;
        }
        let idle = self.last_received.max(self.last_sent) + self.config.keepalive;
        let silent = self.last_received + self.config.inactivity;
        let deadline = self.outstanding.values().map(|o| o.deadline).min();
        Some(deadline.map_or(idle.min(silent), |d| d.min(idle).min(silent)))
    }

    fn handle_timeout(&mut self, now: Instant) {
        if now >= self.last_received + self.config.inactivity {
            return self.close(Reason::Inactivity);
        }
        let expired: Vec<Outstanding> = self
            .outstanding
            .values()
            .filter(|o| o.deadline <= now)
            .copied()
            .collect();
        for request in expired {
            self.outstanding.remove(&request.sequence);
            if request.command == REQUEST {
                self.requests -= 1;
                self.timed_out.push_back(request.sequence);
                self.events.push_back(Event::ResponseTimeout(request));
            }
        }
        self.drain_step(now);
        if now >= self.last_received.max(self.last_sent) + self.config.keepalive {
            self.send(now, PING, Bytes::new());
        }
    }

    fn is_closed(&self) -> bool {
        self.closed
    }

    fn frame_timeout(&self) -> Duration {
        self.config.response_timeout
    }
}
