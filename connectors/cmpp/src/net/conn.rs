//! The task that owns one connected CMPP session: it moves frames between the socket and
//! the sans-IO [`Session`], carries out the handles' controls, hands events to the
//! application and fires timers.
//!
//! Reads and writes run concurrently in one `select!` over the split stream, so a peer
//! that is slow to read never stops us from reading its responses. Every buffer is
//! bounded: reads and new work stop while the write buffer is above its high-water mark,
//! the decoder refuses frames over the configured size before reserving memory, and a
//! frame that stays half-received for a response timeout ends the session.

use std::collections::HashMap;
use std::time::Duration;

use bytes::BytesMut;
use tern_transport::Stream;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::{mpsc, OwnedSemaphorePermit};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use super::rules::{self, command_name};
use super::session::{Event, Session};
use super::stats::{self, Direction, Role};
use super::{CloseReason, Control, Reply, RequestError, SessionEvent, SessionShared};
use crate::codec::{CommandId, Decoder, FrameError, Pdu, Version};

/// Above this many unwritten octets we stop reading and stop taking new work.
const WRITE_HIGH_WATER: usize = 256 * 1024;
/// Controls taken in one turn of the loop, so that one write carries many PDUs.
const CONTROL_BATCH: usize = 256;
/// How long the last octets (TERMINATE_RESP, say) may take to leave at the close.
const FINAL_FLUSH: Duration = Duration::from_secs(2);
/// How long the close event may wait for an application that does not read its events.
const CLOSE_EVENT_WAIT: Duration = Duration::from_secs(1);

/// A request of ours on the wire, with the window slot it holds until answered.
struct Pending {
    reply: Reply,
    _permit: OwnedSemaphorePermit,
}

pub(crate) struct Conn {
    session: Session,
    decoder: Decoder,
    version: Version,
    rbuf: BytesMut,
    wbuf: BytesMut,
    events: mpsc::Sender<SessionEvent>,
    role: Role,
    pending: HashMap<u32, Pending>,
    /// When a frame started arriving and has not been completed since.
    partial_since: Option<Instant>,
    /// Asked before each write; closed, nothing more leaves (see `ClientConfig::gate`).
    pub gate: Option<tern_transport::Gate>,
}

fn std_now() -> std::time::Instant {
    Instant::now().into_std()
}

impl Conn {
    /// `rbuf` holds whatever arrived after CONNECT (or CONNECT_RESP) already.
    pub fn new(
        session: Session,
        decoder: Decoder,
        rbuf: BytesMut,
        events: mpsc::Sender<SessionEvent>,
        role: Role,
    ) -> Self {
        Self {
            session,
            version: decoder.version(),
            decoder,
            rbuf,
            wbuf: BytesMut::with_capacity(8 * 1024),
            events,
            role,
            pending: HashMap::new(),
            partial_since: None,
            gate: None,
        }
    }

    /// Runs the session until it closes; returns why it closed.
    pub async fn run(
        mut self,
        stream: Stream,
        mut controls: mpsc::Receiver<Control>,
        shared: SessionShared,
        shutdown: CancellationToken,
    ) -> CloseReason {
        stats::session_opened(self.role);
        let (mut rd, mut wr) = tokio::io::split(stream);
        let mut shutting_down = false;
        let mut controls_open = true;
        let mut fenced = false;
        if !self.rbuf.is_empty() {
            self.decode_frames();
        }
        let reason = loop {
            if let Some(reason) = self.dispatch_events(&shared, &mut controls).await {
                break reason;
            }
            self.flush_session();
            stats::session_counters(self.role, self.session.take_counters());
            if !self.wbuf.is_empty() && self.gate.as_ref().is_some_and(|g| !g.is_open()) {
                // Whatever waits to be written stays unwritten: the requests among it
                // fail with the connection.
                tracing::warn!("the gate closed: closing without writing");
                metrics::counter!("tern_cmpp_gate_closes_total", "role" => self.role).increment(1);
                self.wbuf.clear();
                fenced = true;
                self.session.close(CloseReason::ByUs);
                continue;
            }
            let deadline = self.next_deadline();
            let writable = !self.wbuf.is_empty();
            let room = self.wbuf.len() < WRITE_HIGH_WATER;
            // Biased, in this order: what is written goes out first, then what came in
            // is read, and only then do timers fire. A node that was paused (or starved
            // of CPU) reads the responses waiting in its socket before it holds their
            // requests timed out, instead of picking either at random and redelivering
            // what the peer had answered.
            tokio::select! {
                biased;
                written = wr.write_buf(&mut self.wbuf), if writable => {
                    if let Err(error) = written {
                        self.session.close(CloseReason::Io(error.to_string()));
                    }
                }
                read = rd.read_buf(&mut self.rbuf), if room => match read {
                    Ok(0) => self.session.peer_closed(),
                    Ok(_) => self.decode_frames(),
                    Err(error) => self.session.close(CloseReason::Io(error.to_string())),
                },
                control = controls.recv(), if room && controls_open => match control {
                    Some(control) => {
                        self.handle_control(control);
                        for _ in 0..CONTROL_BATCH {
                            match controls.try_recv() {
                                Ok(control) => self.handle_control(control),
                                Err(_) => break,
                            }
                        }
                    }
                    // Every handle is gone: nobody can answer or send on this session.
                    None => {
                        controls_open = false;
                        self.session.terminate(std_now(), CloseReason::ByUs);
                    }
                },
                _ = tokio::time::sleep_until(deadline) => self.handle_timeout(),
                _ = shutdown.cancelled(), if !shutting_down => {
                    shutting_down = true;
                    self.session.terminate(std_now(), CloseReason::Shutdown);
                }
            }
        };
        // The last PDUs (TERMINATE_RESP, an error response) still leave before the socket
        // shuts, unless the gate closed.
        self.flush_session();
        if fenced || self.gate.as_ref().is_some_and(|g| !g.is_open()) {
            self.wbuf.clear();
        }
        let _ = tokio::time::timeout(FINAL_FLUSH, async {
            let _ = wr.write_all(&self.wbuf).await;
            let _ = wr.shutdown().await;
        })
        .await;
        stats::session_closed(self.role, &reason);
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
            Some(since) => session.min(since + self.session.config().response_timeout),
            None => session,
        }
    }

    fn handle_timeout(&mut self) {
        let now = Instant::now();
        if let Some(since) = self.partial_since {
            if now >= since + self.session.config().response_timeout {
                warn!("a PDU stayed half-received too long; closing");
                self.session.close(CloseReason::Protocol(
                    "a PDU stayed half-received for the response timeout".into(),
                ));
                return;
            }
        }
        self.session.handle_timeout(now.into_std());
    }

    fn flush_session(&mut self) {
        while let Some(pdu) = self.session.poll_transmit() {
            let command = pdu.body.command_id();
            match pdu.encode(self.version, &mut self.wbuf) {
                Ok(()) => stats::pdu(self.role, command, Direction::Out),
                Err(error) => self.encode_failed(pdu, command, error.to_string()),
            }
        }
    }

    /// A PDU that does not fit the version's layout: a request fails back to its caller
    /// without having been sent; a response is replaced by the error response of its
    /// request, so the peer's window slot is freed all the same.
    fn encode_failed(&mut self, pdu: Pdu, command: CommandId, error: String) {
        stats::encode_error(self.role, command);
        if command.is_response() {
            warn!(command = command_name(command), %error, "response does not encode; answering with an error result");
            let fallback = rules::request_command(command).and_then(|request| {
                Pdu::error_response(request, pdu.sequence_id, rules::RESULT_OTHER)
            });
            if let Some(fallback) = fallback {
                let fallback_command = fallback.body.command_id();
                if fallback.encode(self.version, &mut self.wbuf).is_ok() {
                    stats::pdu(self.role, fallback_command, Direction::Out);
                }
            }
            return;
        }
        debug!(command = command_name(command), %error, "request does not encode");
        self.session.forget_request(std_now(), pdu.sequence_id);
        if let Some(pending) = self.pending.remove(&pdu.sequence_id) {
            let _ = pending.reply.send(Err(RequestError::NotSent(error)));
        }
    }

    fn decode_frames(&mut self) {
        let now = std_now();
        while !self.session.is_closed() {
            match self.decoder.decode(&mut self.rbuf) {
                Ok(Some(pdu)) => {
                    stats::pdu(self.role, pdu.body.command_id(), Direction::In);
                    self.session.handle_pdu(now, pdu);
                }
                Ok(None) => break,
                Err(FrameError::Malformed {
                    command,
                    sequence_id,
                    reason,
                }) => {
                    debug!(
                        command = command_name(command),
                        sequence_id, reason, "malformed PDU"
                    );
                    let result = rules::malformed_result(reason);
                    self.session
                        .handle_malformed(now, command, sequence_id, result);
                }
                Err(error @ FrameError::UnknownCommand { .. }) => {
                    // CMPP has no generic_nack to answer it with.
                    warn!(%error, "unknown command; closing");
                    self.session.close(CloseReason::Protocol(error.to_string()));
                }
                Err(error @ FrameError::BadLength(_)) => {
                    warn!(%error, "stream cannot be framed; closing");
                    self.session.close(CloseReason::Protocol(error.to_string()));
                    self.rbuf.clear();
                }
            }
        }
        self.partial_since = match (self.rbuf.is_empty(), self.partial_since) {
            (true, _) => None,
            (false, None) => Some(Instant::now()),
            (false, since) => since,
        };
    }

    fn handle_control(&mut self, control: Control) {
        let now = std_now();
        match control {
            Control::Respond(pdu) => {
                let seq = pdu.sequence_id;
                if !self.session.respond(now, pdu) {
                    debug!(
                        sequence_id = seq,
                        "response to no waiting request of the peer dropped"
                    );
                }
            }
            Control::Request {
                body,
                reply,
                permit,
            } => match self.session.send_request(now, body) {
                Ok(seq) => {
                    self.pending.insert(
                        seq,
                        Pending {
                            reply,
                            _permit: permit,
                        },
                    );
                }
                Err(error) => {
                    let _ = reply.send(Err(RequestError::NotSent(error.to_string())));
                }
            },
            Control::Terminate => self.session.terminate(now, CloseReason::ByUs),
        }
    }

    /// Hands session events to the application and answers waiting callers. Returns the
    /// close reason once the session has closed.
    async fn dispatch_events(
        &mut self,
        shared: &SessionShared,
        controls: &mut mpsc::Receiver<Control>,
    ) -> Option<CloseReason> {
        while let Some(event) = self.session.poll_event() {
            match event {
                Event::Request(pdu) => {
                    // Room for a full window of requests is kept in the channel, so this
                    // fails only when the application stopped reading.
                    if let Err(error) = self.events.try_send(SessionEvent::Request(pdu)) {
                        if let SessionEvent::Request(pdu) = error.into_inner() {
                            self.session.refuse_request(std_now(), &pdu);
                        }
                    }
                }
                Event::Response { request, pdu } => {
                    stats::response_latency(
                        self.role,
                        request.command,
                        request.sent_at.elapsed().as_secs_f64(),
                    );
                    if let Some(pending) = self.pending.remove(&request.sequence_id) {
                        let _ = pending.reply.send(Ok(pdu));
                    }
                }
                Event::LateResponse(pdu) => {
                    let room = self.events.capacity() > self.session.config().window + 1;
                    if !room
                        || self
                            .events
                            .try_send(SessionEvent::LateResponse(pdu))
                            .is_err()
                    {
                        stats::event_dropped(self.role);
                    }
                }
                Event::ResponseTimeout(request) => {
                    stats::response_timeout(self.role, request.command);
                    if let Some(pending) = self.pending.remove(&request.sequence_id) {
                        let _ = pending.reply.send(Err(RequestError::Timeout {
                            sequence: request.sequence_id,
                        }));
                    }
                }
                Event::Closed(reason) => {
                    shared.close();
                    for (_, pending) in self.pending.drain() {
                        let _ = pending.reply.send(Err(RequestError::Closed));
                    }
                    // Requests still queued were never written.
                    controls.close();
                    while let Ok(control) = controls.try_recv() {
                        if let Control::Request { reply, .. } = control {
                            let error = RequestError::NotSent("the session closed".into());
                            let _ = reply.send(Err(error));
                        }
                    }
                    let closed = SessionEvent::Closed {
                        reason: reason.clone(),
                    };
                    let _ = tokio::time::timeout(CLOSE_EVENT_WAIT, self.events.send(closed)).await;
                    info!(?reason, "session closed");
                    return Some(reason);
                }
            }
        }
        None
    }
}
