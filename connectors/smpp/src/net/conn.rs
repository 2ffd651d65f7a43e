//! The task that owns one SMPP connection: it moves frames between the socket and the
//! sans-IO [`Session`], replies to the application's requests, and fires timers.
//!
//! Reads and writes run concurrently in one `select!` over the split stream, so a peer that
//! is slow to read never stops us from reading its responses. Every buffer is bounded:
//! reads stop while the write buffer is above its high-water mark, and the decoder refuses
//! frames over the configured size before reserving memory for them.

use std::collections::HashMap;
use std::time::Duration;

use bytes::BytesMut;
use rusmpp::{Command, CommandId, CommandStatus, Pdu};
use tern_transport::Stream;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::{mpsc, oneshot, OwnedSemaphorePermit};
use tokio::time::Instant;
use tracing::{debug, info, warn};

use crate::codec::{self, Decoder, Inbound};
use crate::net::{Control, RequestError, SessionEvent};
use crate::session::{BindKind, CloseReason, Event, Session};

/// Above this many unwritten octets we stop reading and stop taking new work.
const WRITE_HIGH_WATER: usize = 256 * 1024;
/// Controls taken in one turn of the loop.
const CONTROL_BATCH: usize = 256;
/// How long the last octets may take to leave when the session closes.
const FINAL_FLUSH: Duration = Duration::from_secs(2);

/// What the connection asks of the side that owns it while binding.
pub(crate) trait Binder: Send {
    /// Server: decide on a bind request; `Ok` carries the system_id for the response.
    fn bind(
        &mut self,
        kind: BindKind,
        command: Command,
    ) -> impl std::future::Future<Output = Result<String, CommandStatus>> + Send;
    /// The session is bound: the application may now be told.
    fn bound(&mut self, kind: BindKind, interface_version: u8);
}

type Reply = oneshot::Sender<Result<Command, RequestError>>;

/// Labels for metrics: which side and which account or link.
#[derive(Debug, Clone)]
pub(crate) struct Labels {
    pub role: &'static str,
    pub peer: String,
}

pub(crate) struct Conn {
    pub session: Session,
    pub decoder: Decoder,
    pub rbuf: BytesMut,
    pub events: mpsc::Sender<SessionEvent>,
    pub labels: Labels,
    /// Our requests waiting for a response, with the window permit they hold.
    pending: HashMap<u32, (Reply, Option<OwnedSemaphorePermit>)>,
    wbuf: BytesMut,
    /// When a frame started arriving and has not been completed since.
    partial_since: Option<Instant>,
    /// Asked before each write; closed, nothing more leaves (see `ClientConfig::gate`).
    pub gate: Option<crate::net::Gate>,
}

impl Conn {
    pub fn new(
        session: Session,
        decoder: Decoder,
        rbuf: BytesMut,
        events: mpsc::Sender<SessionEvent>,
        labels: Labels,
    ) -> Self {
        Self {
            session,
            decoder,
            rbuf,
            events,
            labels,
            pending: HashMap::new(),
            wbuf: BytesMut::with_capacity(8 * 1024),
            partial_since: None,
            gate: None,
        }
    }

    fn now(&self) -> std::time::Instant {
        Instant::now().into_std()
    }

    /// Sends a request outside the application's flow (the client's bind).
    pub fn send_bind(&mut self, kind: BindKind, pdu: Pdu) {
        let now = self.now();
        if let Err(e) = self.session.bind(now, kind, pdu) {
            warn!(error = %e, "bind could not be sent");
        }
    }

    /// Runs the connection until the session closes. Returns why it closed.
    pub async fn run(
        mut self,
        stream: Stream,
        mut controls: mpsc::Receiver<Control>,
        binder: &mut impl Binder,
        shutdown: tokio_util::sync::CancellationToken,
    ) -> CloseReason {
        let (mut rd, mut wr) = tokio::io::split(stream);
        let mut shutting_down = false;
        let mut fenced = false;
        let mut controls_open = true;
        // Octets that arrived with a PROXY header are already buffered.
        if !self.rbuf.is_empty() {
            self.decode_frames();
        }
        let reason = loop {
            if let Some(reason) = self.dispatch_events(binder).await {
                break reason;
            }
            self.flush_session();
            if !self.wbuf.is_empty() && self.gate.as_ref().is_some_and(|g| !g.is_open()) {
                // Whatever waits to be written stays unwritten: the requests among it
                // fail with the connection.
                warn!(peer = %self.labels.peer, "the gate closed: closing without writing");
                metrics::counter!("tern_smpp_gate_closes_total", "role" => self.labels.role)
                    .increment(1);
                self.wbuf.clear();
                fenced = true;
                self.session.close(CloseReason::Local);
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
                    if written.is_err() {
                        self.session.close(CloseReason::PeerGone);
                    }
                }
                read = rd.read_buf(&mut self.rbuf), if room => match read {
                    Ok(0) | Err(_) => {
                        self.session.close(CloseReason::PeerGone);
                    }
                    Ok(_) => self.decode_frames(),
                },
                control = controls.recv(), if room && controls_open => match control {
                    Some(control) => {
                        self.handle_control(control);
                        // Take what else is already queued, so that one write carries many
                        // PDUs instead of one syscall each.
                        for _ in 0..CONTROL_BATCH {
                            match controls.try_recv() {
                                Ok(control) => self.handle_control(control),
                                Err(_) => break,
                            }
                        }
                    }
                    // Every handle is gone: nobody will use this session again.
                    None => {
                        controls_open = false;
                        self.session.unbind(self.now());
                    }
                },
                _ = tokio::time::sleep_until(deadline) => self.handle_timeout(),
                _ = shutdown.cancelled(), if !shutting_down => {
                    shutting_down = true;
                    self.session.unbind(self.now());
                }
            }
        };
        // The last responses (unbind_resp, generic_nack) still leave before the socket shuts,
        // unless the gate closed.
        self.flush_session();
        if fenced || self.gate.as_ref().is_some_and(|g| !g.is_open()) {
            self.wbuf.clear();
        }
        let _ = tokio::time::timeout(FINAL_FLUSH, async {
            let _ = wr.write_all(&self.wbuf).await;
            let _ = wr.shutdown().await;
        })
        .await;
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
                warn!(peer = %self.labels.peer, "a PDU stayed half-sent too long; closing");
                metrics::counter!("tern_smpp_partial_frame_timeouts_total", "role" => self.labels.role)
                    .increment(1);
                self.session.close(CloseReason::ProtocolError);
                return;
            }
        }
        self.session.handle_timeout(now.into_std());
    }

    fn flush_session(&mut self) {
        while let Some(command) = self.session.poll_transmit() {
            metrics::counter!(
                "tern_smpp_pdus_sent_total",
                "role" => self.labels.role,
                "command" => command_name(command.id())
            )
            .increment(1);
            codec::encode(&command, &mut self.wbuf);
        }
    }

    fn decode_frames(&mut self) {
        let now = self.now();
        loop {
            match self.decoder.decode(&mut self.rbuf) {
                Ok(Some(Inbound::Command(command))) => {
                    metrics::counter!(
                        "tern_smpp_pdus_received_total",
                        "role" => self.labels.role,
                        "command" => command_name(command.id())
                    )
                    .increment(1);
                    self.session.handle_command(now, command);
                }
                Ok(Some(Inbound::Rejected {
                    header,
                    status,
                    reason,
                })) => {
                    debug!(peer = %self.labels.peer, %reason, ?status, "PDU rejected");
                    metrics::counter!(
                        "tern_smpp_pdus_rejected_total",
                        "role" => self.labels.role,
                        "status" => format!("{:#x}", u32::from(status))
                    )
                    .increment(1);
                    self.session.handle_rejected(now, &header, status);
                }
                Ok(None) => break,
                Err(error) => {
                    warn!(peer = %self.labels.peer, %error, "stream is not SMPP; closing");
                    metrics::counter!(
                        "tern_smpp_pdus_rejected_total",
                        "role" => self.labels.role,
                        "status" => format!("{:#x}", u32::from(error.status()))
                    )
                    .increment(1);
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

    fn handle_control(&mut self, control: Control) {
        let now = self.now();
        match control {
            Control::Respond(command) => {
                self.session.respond(now, command);
            }
            Control::Request { pdu, reply, permit } => match self.session.send_request(now, pdu) {
                Ok(seq) => {
                    self.pending.insert(seq, (reply, permit));
                }
                Err(error) => {
                    let _ = reply.send(Err(RequestError::NotSent(error)));
                }
            },
            Control::Unbind => self.session.unbind(now),
        }
    }

    /// Hands session events to the application. Returns the close reason once closed.
    async fn dispatch_events(&mut self, binder: &mut impl Binder) -> Option<CloseReason> {
        while let Some(event) = self.session.poll_event() {
            match event {
                Event::BindRequest {
                    sequence_number,
                    kind,
                    command,
                } => {
                    let now = self.now();
                    match binder.bind(kind, command).await {
                        Ok(system_id) => self.session.accept_bind(now, sequence_number, &system_id),
                        Err(status) => self.session.reject_bind(now, sequence_number, status),
                    }
                }
                Event::Outbind(_) => {
                    debug!(peer = %self.labels.peer, "outbind received; binding is driven by the link");
                }
                Event::Bound {
                    kind,
                    interface_version,
                } => {
                    info!(peer = %self.labels.peer, kind = kind.as_str(), interface_version, "bound");
                    binder.bound(kind, interface_version);
                }
                Event::Request(command) => {
                    // Bounded by the inbound window; a full channel means the application
                    // is behind, and waiting here is the back-pressure.
                    let _ = self.events.send(SessionEvent::Request(command)).await;
                }
                Event::Response { request, command } => {
                    metrics::histogram!(
                        "tern_smpp_response_latency_seconds",
                        "role" => self.labels.role,
                        "command" => command_name(request.command_id)
                    )
                    .record(request.sent_at.elapsed().as_secs_f64());
                    if let Some((reply, _permit)) = self.pending.remove(&request.sequence_number) {
                        let _ = reply.send(Ok(command));
                    }
                }
                Event::LateResponse {
                    command_id,
                    command,
                } => {
                    let _ = self
                        .events
                        .send(SessionEvent::LateResponse {
                            command_id,
                            command,
                        })
                        .await;
                }
                Event::ResponseTimeout(request) => {
                    metrics::counter!("tern_smpp_response_timeouts_total", "role" => self.labels.role)
                        .increment(1);
                    if let Some((reply, _permit)) = self.pending.remove(&request.sequence_number) {
                        let _ = reply.send(Err(RequestError::Timeout {
                            sequence: request.sequence_number,
                        }));
                    }
                }
                Event::Closed { reason, .. } => {
                    for (_, (reply, _permit)) in self.pending.drain() {
                        let _ = reply.send(Err(RequestError::Closed));
                    }
                    let _ = self.events.send(SessionEvent::Closed { reason }).await;
                    let counters = self.session.counters();
                    metrics::counter!("tern_smpp_unexpected_responses_total", "role" => self.labels.role)
                        .increment(counters.unexpected_responses);
                    metrics::counter!("tern_smpp_throttled_total", "role" => self.labels.role)
                        .increment(counters.throttled);
                    info!(peer = %self.labels.peer, ?reason, "session closed");
                    return Some(reason);
                }
            }
        }
        None
    }
}

/// A bounded label value for a command id.
pub(crate) fn command_name(id: CommandId) -> &'static str {
    match id {
        CommandId::BindReceiver => "bind_receiver",
        CommandId::BindTransmitter => "bind_transmitter",
        CommandId::BindTransceiver => "bind_transceiver",
        CommandId::BindReceiverResp => "bind_receiver_resp",
        CommandId::BindTransmitterResp => "bind_transmitter_resp",
        CommandId::BindTransceiverResp => "bind_transceiver_resp",
        CommandId::QuerySm => "query_sm",
        CommandId::QuerySmResp => "query_sm_resp",
        CommandId::SubmitSm => "submit_sm",
        CommandId::SubmitSmResp => "submit_sm_resp",
        CommandId::DeliverSm => "deliver_sm",
        CommandId::DeliverSmResp => "deliver_sm_resp",
        CommandId::Unbind => "unbind",
        CommandId::UnbindResp => "unbind_resp",
        CommandId::ReplaceSm => "replace_sm",
        CommandId::ReplaceSmResp => "replace_sm_resp",
        CommandId::CancelSm => "cancel_sm",
        CommandId::CancelSmResp => "cancel_sm_resp",
        CommandId::Outbind => "outbind",
        CommandId::EnquireLink => "enquire_link",
        CommandId::EnquireLinkResp => "enquire_link_resp",
        CommandId::SubmitMulti => "submit_multi",
        CommandId::SubmitMultiResp => "submit_multi_resp",
        CommandId::AlertNotification => "alert_notification",
        CommandId::DataSm => "data_sm",
        CommandId::DataSmResp => "data_sm_resp",
        CommandId::GenericNack => "generic_nack",
        CommandId::BroadcastSm
        | CommandId::BroadcastSmResp
        | CommandId::QueryBroadcastSm
        | CommandId::QueryBroadcastSmResp
        | CommandId::CancelBroadcastSm
        | CommandId::CancelBroadcastSmResp => "broadcast",
        CommandId::Other(_) => "other",
    }
}
