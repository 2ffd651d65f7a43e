//! The task that owns one connection: it moves frames between the stream and the sans-IO
//! [`Session`], carries out the handles' controls, hands events to the application and the
//! protocol's [`Side`], and fires timers.
//!
//! Reads and writes run concurrently in one `select!` over the split stream, so a peer that
//! is slow to read never stops us from reading its responses. Every buffer is bounded:
//! reads and new work stop while the write buffer is above its high-water mark, the codec
//! refuses frames over its maximum before reserving memory, and a frame that stays
//! half-received for the session's frame timeout ends the session.

use std::collections::HashMap;
use std::time::Duration;

use bytes::BytesMut;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use super::handle::{Control, Failure, Link, Permit, Reply};
use super::{Abort, Codec, Delivery, Drain, Event, Frame, Note, Session, Side, Telemetry};
use super::{Sent, Unencodable};
use crate::Gate;

/// The bounds of one connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Above this many unwritten octets reads and new work stop.
    pub write_high_water: usize,
    /// Controls taken in one turn of the loop, so that one write carries many PDUs.
    pub control_batch: usize,
    /// How long the last octets may take to leave when the session closes.
    pub final_flush: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            write_high_water: 256 * 1024,
            control_batch: 256,
            final_flush: Duration::from_secs(2),
        }
    }
}

/// A request of ours on the wire, with the window slot it holds until answered.
struct Pending<S: Session> {
    reply: Reply<S>,
    _permit: Option<Permit>,
}

/// One connection of session `S`, with the metrics of `T`.
pub struct Conn<S: Session, T: Telemetry<S>> {
    session: S,
    codec: S::Codec,
    link: Link<S>,
    telemetry: T,
    rbuf: BytesMut,
    wbuf: BytesMut,
    pending: HashMap<u32, Pending<S>>,
    /// When a frame started arriving and has not been completed since.
    partial_since: Option<Instant>,
    /// Asked before each write; closed, nothing more leaves.
    gate: Option<Gate>,
    limits: Limits,
    /// The peer, for logs.
    peer: String,
}

fn std_now() -> std::time::Instant {
    Instant::now().into_std()
}

impl<S: Session, T: Telemetry<S>> Conn<S, T> {
    pub fn new(session: S, codec: S::Codec, link: Link<S>, telemetry: T) -> Self {
        Self {
            session,
            codec,
            link,
            telemetry,
            rbuf: BytesMut::with_capacity(8 * 1024),
            wbuf: BytesMut::with_capacity(8 * 1024),
            pending: HashMap::new(),
            partial_since: None,
            gate: None,
            limits: Limits::default(),
            peer: String::new(),
        }
    }

    /// Octets that arrived before the session began (after a PROXY header or a
    /// handshake): they are decoded first.
    pub fn with_buffered(mut self, rbuf: BytesMut) -> Self {
        self.rbuf = rbuf;
        self
    }

    /// Checked before each write: once it says no, nothing more leaves.
    pub fn with_gate(mut self, gate: Option<Gate>) -> Self {
        self.gate = gate;
        self
    }

    pub fn with_limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    /// Names the peer in logs.
    pub fn with_peer(mut self, peer: impl Into<String>) -> Self {
        self.peer = peer.into();
        self
    }

    fn gate_closed(&self) -> bool {
        self.gate.as_ref().is_some_and(|gate| !gate.is_open())
    }

    /// Runs the session over `io` until it closes; returns why it closed.
    pub async fn run<IO>(
        mut self,
        io: IO,
        side: &mut impl Side<S>,
        shutdown: CancellationToken,
    ) -> S::CloseReason
    where
        IO: AsyncRead + AsyncWrite + Send,
    {
        self.telemetry.note(Note::Opened);
        let (mut rd, mut wr) = tokio::io::split(io);
        let mut shutting_down = false;
        let mut controls_open = true;
        let mut fenced = false;
        if !self.rbuf.is_empty() {
            self.decode_frames();
        }
        let reason = loop {
            if let Some(reason) = self.dispatch_events(side).await {
                break reason;
            }
            self.flush_session();
            self.telemetry.turn(&mut self.session);
            if !self.wbuf.is_empty() && self.gate_closed() {
                // Whatever waits to be written stays unwritten: the requests among it
                // fail with the connection.
                warn!(peer = %self.peer, "the gate closed: closing without writing");
                self.telemetry.note(Note::GateClosed);
                self.wbuf.clear();
                fenced = true;
                self.session.abort(Abort::GateClosed);
                continue;
            }
            let deadline = self.next_deadline();
            let writable = !self.wbuf.is_empty();
            let room = self.wbuf.len() < self.limits.write_high_water;
            // Biased, in this order: what is written goes out first, then what came in
            // is read, and only then do timers fire. A node that was paused (or starved
            // of CPU) reads the responses waiting in its socket before it holds their
            // requests timed out, instead of picking either at random and redelivering
            // what the peer had answered.
            tokio::select! {
                biased;
                written = wr.write_buf(&mut self.wbuf), if writable => {
                    if let Err(error) = written {
                        self.session.abort(Abort::WriteFailed(error));
                    }
                }
                read = rd.read_buf(&mut self.rbuf), if room => match read {
                    Ok(0) => self.session.abort(Abort::PeerClosed),
                    Ok(_) => self.decode_frames(),
                    Err(error) => self.session.abort(Abort::ReadFailed(error)),
                },
                control = self.link.controls.recv(), if room && controls_open => match control {
                    Some(control) => {
                        self.handle_control(control);
                        for _ in 0..self.limits.control_batch {
                            match self.link.controls.try_recv() {
                                Ok(control) => self.handle_control(control),
                                Err(_) => break,
                            }
                        }
                    }
                    // Every handle is gone: nobody can answer or send on this session.
                    None => {
                        controls_open = false;
                        self.session.drain(std_now(), Drain::HandlesGone);
                    }
                },
                _ = tokio::time::sleep_until(deadline) => self.handle_timeout(),
                _ = shutdown.cancelled(), if !shutting_down => {
                    shutting_down = true;
                    self.session.drain(std_now(), Drain::Shutdown);
                }
            }
        };
        // The last PDUs (the answer to the peer's goodbye, an error response) still leave
        // before the stream shuts, unless the gate closed.
        self.flush_session();
        if fenced || self.gate_closed() {
            self.wbuf.clear();
        }
        let wbuf = &self.wbuf;
        let _ = tokio::time::timeout(self.limits.final_flush, async {
            let _ = wr.write_all(wbuf).await;
            let _ = wr.shutdown().await;
        })
        .await;
        self.telemetry.closed(&self.session, &reason);
        reason
    }

    fn next_deadline(&self) -> Instant {
        let far = Instant::now() + Duration::from_secs(3600);
        let session = self
            .session
            .poll_timeout()
            .map(Instant::from_std)
            .unwrap_or(far);
        match self.partial_since {
            Some(since) => session.min(since + self.session.frame_timeout()),
            None => session,
        }
    }

    fn handle_timeout(&mut self) {
        let now = Instant::now();
        if let Some(since) = self.partial_since {
            if now >= since + self.session.frame_timeout() {
                warn!(peer = %self.peer, "a PDU stayed half-received too long; closing");
                self.telemetry.note(Note::PartialFrameTimeout);
                self.session.abort(Abort::PartialFrame);
                return;
            }
        }
        self.session.handle_timeout(now.into_std());
    }

    fn flush_session(&mut self) {
        while let Some(pdu) = self.session.poll_transmit() {
            match self.codec.encode(&pdu, &mut self.wbuf) {
                Ok(()) => self.telemetry.note(Note::Sent(&pdu)),
                Err(error) => self.encode_failed(pdu, error),
            }
        }
    }

    fn encode_failed(&mut self, pdu: super::Out<S>, error: super::EncodeError<S>) {
        self.telemetry.note(Note::Unencodable(&pdu));
        match self.session.handle_unencodable(std_now(), pdu, error) {
            Unencodable::Replace(replacement) => {
                if self.codec.encode(&replacement, &mut self.wbuf).is_ok() {
                    self.telemetry.note(Note::Sent(&replacement));
                }
            }
            Unencodable::Fail { sequence, error } => {
                if let Some(pending) = self.pending.remove(&sequence) {
                    let _ = pending.reply.send(Err(Failure::Refused(error)));
                }
            }
            Unencodable::Drop => {}
        }
    }

    fn decode_frames(&mut self) {
        let now = std_now();
        while !self.session.is_closed() {
            match self.codec.decode(&mut self.rbuf) {
                Ok(Some(Frame::Pdu(pdu))) => {
                    self.telemetry.note(Note::Received(&pdu));
                    self.session.handle_pdu(now, pdu);
                }
                Ok(Some(Frame::Malformed(frame))) => {
                    self.telemetry.note(Note::Malformed(&frame));
                    self.session.handle_malformed(now, frame);
                }
                Ok(None) => break,
                Err(error) => {
                    warn!(peer = %self.peer, %error, "the stream cannot be framed; closing");
                    self.telemetry.note(Note::Unframeable(&error));
                    self.session.handle_frame_error(now, &error);
                    self.rbuf.clear();
                    break;
                }
            }
        }
        self.partial_since = match (self.rbuf.is_empty(), self.partial_since) {
            (true, _) => None,
            (false, None) => Some(Instant::now()),
            (false, since) => since,
        };
    }

    fn handle_control(&mut self, control: Control<S>) {
        let now = std_now();
        match control {
            Control::Respond(response) => {
                if !self.session.respond(now, response) {
                    debug!(peer = %self.peer, "response to no waiting request of the peer dropped");
                }
            }
            Control::Request {
                request,
                reply,
                permit,
            } => match self.session.send_request(now, request) {
                Ok(sequence) => {
                    let pending = Pending {
                        reply,
                        _permit: permit,
                    };
                    self.pending.insert(sequence, pending);
                }
                Err(error) => {
                    let _ = reply.send(Err(Failure::Refused(error)));
                }
            },
            Control::Close => self.session.drain(now, Drain::Asked),
        }
    }

    /// Hands an event to the application, as `delivery` says when its queue is full.
    async fn deliver(&mut self, notice: S::Notice, delivery: Delivery) {
        let events = &self.link.events;
        match delivery {
            Delivery::Wait => {
                let _ = events.send(notice).await;
            }
            Delivery::WaitAtMost(limit) => {
                let _ = tokio::time::timeout(limit, events.send(notice)).await;
            }
            Delivery::KeepRoom { reserve } => {
                if events.capacity() <= reserve || events.try_send(notice).is_err() {
                    self.telemetry.note(Note::Dropped);
                }
            }
            Delivery::OrRefuse => {
                if let Err(error) = events.try_send(notice) {
                    self.session.undelivered(std_now(), error.into_inner());
                }
            }
        }
    }

    /// Hands session events on and answers waiting callers. Returns the close reason once
    /// the session has closed.
    async fn dispatch_events(&mut self, side: &mut impl Side<S>) -> Option<S::CloseReason> {
        while let Some(event) = self.session.poll_event() {
            match event {
                Event::Deliver(notice, delivery) => self.deliver(notice, delivery).await,
                Event::Response { request, response } => {
                    self.telemetry.note(Note::Answered(&request));
                    if let Some(pending) = self.pending.remove(&request.sequence()) {
                        let _ = pending.reply.send(Ok(response));
                    }
                }
                Event::ResponseTimeout(request) => {
                    self.telemetry.note(Note::TimedOut(&request));
                    let sequence = request.sequence();
                    if let Some(pending) = self.pending.remove(&sequence) {
                        let _ = pending.reply.send(Err(Failure::Timeout { sequence }));
                    }
                }
                Event::Custom(custom) => side.handle(&mut self.session, custom).await,
                Event::Closed {
                    reason,
                    notice,
                    delivery,
                } => {
                    self.close_link();
                    self.deliver(notice, delivery).await;
                    info!(peer = %self.peer, ?reason, "session closed");
                    return Some(reason);
                }
            }
        }
        None
    }

    /// The session closed: waiting callers hear it, requests still queued were never
    /// written.
    fn close_link(&mut self) {
        self.link.shared.close();
        for (_, pending) in self.pending.drain() {
            let _ = pending.reply.send(Err(Failure::Closed));
        }
        self.link.controls.close();
        while let Ok(control) = self.link.controls.try_recv() {
            if let Control::Request { reply, .. } = control {
                let _ = reply.send(Err(Failure::Gone));
            }
        }
    }
}
