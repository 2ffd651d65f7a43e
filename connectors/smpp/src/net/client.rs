//! The SMPP client: one link to an operator SMSC, as a transceiver or a transmitter and
//! receiver pair, with a window, a TPS cap, keepalive and reconnection with backoff.
//!
//! A request is never sent twice by the link: when its response times out the caller hears
//! `RequestError::Timeout` (outcome unknown), and a response that still arrives afterwards
//! comes out as `ClientEvent::LateResponse`, so the caller can record it instead of resending.

use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use bytes::BytesMut;
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use rusmpp::pdus::{BindReceiver, BindTransceiver, BindTransmitter};
use rusmpp::values::{InterfaceVersion, Npi, Ton};
use rusmpp::{Command, CommandId, CommandStatus, Pdu};
use tern_transport::tls::Connector;
use tern_transport::Stream;
use tokio::net::TcpStream;
use tokio::sync::{mpsc, watch};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{info, warn, Instrument};

use super::conn::{Binder, Conn, Labels};
use super::{control_channel, event_channel, RequestError, SessionEvent, SessionHandle};
use crate::codec::Decoder;
use crate::session::{self, c_octet, BindKind, CloseReason, Role, SendError, Session, State};

/// How the link binds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BindMode {
    /// One bind_transceiver connection.
    Transceiver,
    /// A bind_transmitter connection for submits and a bind_receiver one for deliveries.
    TransmitterReceiver,
}

/// One operator link.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// The link's name in logs and metrics.
    pub name: String,
    pub host: String,
    pub port: u16,
    /// TLS towards the SMSC, verified against `host`.
    pub tls: Option<Connector>,
    pub system_id: String,
    pub password: String,
    pub system_type: String,
    pub interface_version: u8,
    pub bind: BindMode,
    pub session: session::Config,
    pub max_pdu_bytes: usize,
    /// Submits per second, never more in any one second (no burst: operators count per
    /// second and throttle past it); `None` is unlimited.
    pub tps: Option<NonZeroU32>,
    pub reconnect_min: Duration,
    pub reconnect_max: Duration,
    pub connect_timeout: Duration,
    /// How long a submit waits for the link to be up before giving up.
    pub ready_timeout: Duration,
    /// Asked before anything is written to the socket: once it says no, nothing more
    /// leaves and the connection closes (a cluster node that lost its claim on the bind).
    pub gate: Option<crate::net::Gate>,
}

impl ClientConfig {
    pub fn new(name: impl Into<String>, host: impl Into<String>, port: u16) -> Self {
        Self {
            name: name.into(),
            host: host.into(),
            port,
            tls: None,
            system_id: String::new(),
            password: String::new(),
            system_type: String::new(),
            interface_version: 0x34,
            bind: BindMode::Transceiver,
            session: session::Config {
                role: Role::Client,
                ..session::Config::default()
            },
            max_pdu_bytes: crate::codec::DEFAULT_MAX_LEN,
            tps: None,
            reconnect_min: Duration::from_millis(500),
            reconnect_max: Duration::from_secs(30),
            connect_timeout: Duration::from_secs(10),
            ready_timeout: Duration::from_secs(5),
            gate: None,
        }
    }
}

/// Whether the link can carry submits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkState {
    Down,
    Up,
}

/// What the link reports to its owner.
#[derive(Debug)]
pub enum ClientEvent {
    Up {
        kind: BindKind,
    },
    Down {
        kind: BindKind,
        reason: CloseReason,
    },
    /// A request of the SMSC (deliver_sm with an MO or a receipt, data_sm,
    /// alert_notification): answer it through `handle`.
    Request {
        command: Command,
        handle: SessionHandle,
    },
    /// A response that came after its request had timed out.
    LateResponse {
        command_id: CommandId,
        command: Command,
    },
}

struct Inner {
    config: ClientConfig,
    transmitter: watch::Sender<Option<SessionHandle>>,
    limiter: Option<DefaultDirectRateLimiter>,
}

/// A running link. Cheap to clone.
#[derive(Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("name", &self.inner.config.name)
            .field("state", &self.state())
            .finish()
    }
}

impl Client {
    /// Starts the link's connection tasks on `tracker`; they reconnect until `shutdown`.
    pub fn start(
        config: ClientConfig,
        shutdown: CancellationToken,
        tracker: &TaskTracker,
    ) -> (Client, mpsc::Receiver<ClientEvent>) {
        let limiter = config
            .tps
            .map(|tps| RateLimiter::direct(Quota::per_second(tps).allow_burst(NonZeroU32::MIN)));
        let (transmitter, _) = watch::channel(None);
        let inner = Arc::new(Inner {
            config,
            transmitter,
            limiter,
        });
        let (events, events_rx) = mpsc::channel(inner.config.session.window_in * 2 + 64);
        let kinds: &[BindKind] = match inner.config.bind {
            BindMode::Transceiver => &[BindKind::Transceiver],
            BindMode::TransmitterReceiver => &[BindKind::Transmitter, BindKind::Receiver],
        };
        for &kind in kinds {
            let span =
                tracing::info_span!("smpp_link", link = %inner.config.name, kind = kind.as_str());
            tracker.spawn(
                run_bind(inner.clone(), kind, events.clone(), shutdown.clone()).instrument(span),
            );
        }
        (Client { inner }, events_rx)
    }

    pub fn name(&self) -> &str {
        &self.inner.config.name
    }

    pub fn state(&self) -> LinkState {
        match &*self.inner.transmitter.borrow() {
            Some(handle) if !handle.is_closed() => LinkState::Up,
            _ => LinkState::Down,
        }
    }

    /// Free slots in the submit window; 0 while the link is down.
    pub fn window_available(&self) -> usize {
        match &*self.inner.transmitter.borrow() {
            Some(handle) => handle.window_available(),
            None => 0,
        }
    }

    /// Sends a submit (or any request the transmitter may send) and waits for its
    /// response, after the TPS cap and a free window slot allow it.
    pub async fn request(&self, pdu: Pdu) -> Result<Command, RequestError> {
        if let Some(limiter) = &self.inner.limiter {
            limiter.until_ready().await;
        }
        let handle = self.transmitter().await?;
        handle.request(pdu).await
    }

    async fn transmitter(&self) -> Result<SessionHandle, RequestError> {
        // The common case, a bound link, without a timer or a subscription.
        if let Some(handle) = &*self.inner.transmitter.borrow() {
            if !handle.is_closed() {
                return Ok(handle.clone());
            }
        }
        let mut watch = self.inner.transmitter.subscribe();
        let ready = tokio::time::timeout(
            self.inner.config.ready_timeout,
            watch.wait_for(|h| h.as_ref().is_some_and(|h| !h.is_closed())),
        )
        .await;
        match ready {
            Ok(Ok(handle)) => handle
                .clone()
                .ok_or(RequestError::NotSent(SendError::NotBound(State::Closed))),
            _ => Err(RequestError::NotSent(SendError::NotBound(State::Closed))),
        }
    }
}

async fn connect(config: &ClientConfig) -> std::io::Result<Stream> {
    let address = (config.host.as_str(), config.port);
    let tcp = tokio::time::timeout(config.connect_timeout, TcpStream::connect(address))
        .await
        .map_err(|_| std::io::Error::new(std::io::ErrorKind::TimedOut, "connect"))??;
    let _ = tcp.set_nodelay(true);
    match &config.tls {
        None => Ok(Stream::Plain(tcp)),
        Some(connector) => {
            tokio::time::timeout(config.connect_timeout, connector.connect(&config.host, tcp))
                .await
                .map_err(|_| std::io::Error::new(std::io::ErrorKind::TimedOut, "TLS handshake"))?
                .map_err(|e| std::io::Error::other(e.to_string()))
        }
    }
}

fn bind_pdu(config: &ClientConfig, kind: BindKind) -> Pdu {
    let system_id = c_octet(&config.system_id);
    let password = c_octet(&config.password);
    let system_type = c_octet(&config.system_type);
    let version = InterfaceVersion::from(config.interface_version);
    let range = c_octet("");
    match kind {
        BindKind::Transmitter => Pdu::from(BindTransmitter::new(
            system_id,
            password,
            system_type,
            version,
            Ton::Unknown,
            Npi::Unknown,
            range,
        )),
        BindKind::Receiver => Pdu::from(BindReceiver::new(
            system_id,
            password,
            system_type,
            version,
            Ton::Unknown,
            Npi::Unknown,
            range,
        )),
        BindKind::Transceiver => Pdu::from(BindTransceiver::new(
            system_id,
            password,
            system_type,
            version,
            Ton::Unknown,
            Npi::Unknown,
            range,
        )),
    }
}

/// One bind of the link, reconnected with exponential backoff until shutdown.
async fn run_bind(
    inner: Arc<Inner>,
    kind: BindKind,
    events: mpsc::Sender<ClientEvent>,
    shutdown: CancellationToken,
) {
    let config = &inner.config;
    let mut backoff = config.reconnect_min;
    let labels = Labels {
        role: "client",
        peer: config.name.clone(),
    };
    while !shutdown.is_cancelled() {
        match connect(config).await {
            Ok(stream) => {
                let mut session_config = config.session.clone();
                session_config.role = Role::Client;
                let (controls_tx, controls_rx) = control_channel(&session_config);
                let (events_tx, events_rx) = event_channel(&session_config);
                let handle = SessionHandle::new(controls_tx, session_config.window_out);
                let now = tokio::time::Instant::now().into_std();
                let mut conn = Conn::new(
                    Session::new(session_config, now),
                    Decoder::new(config.max_pdu_bytes),
                    BytesMut::with_capacity(8 * 1024),
                    events_tx,
                    labels.clone(),
                );
                conn.gate = config.gate.clone();
                conn.send_bind(kind, bind_pdu(config, kind));
                let forward =
                    tokio::spawn(forward_events(events_rx, handle.clone(), events.clone()));
                let mut binder = ClientBinder {
                    inner: inner.clone(),
                    kind,
                    handle,
                    events: events.clone(),
                    bound: false,
                };
                let reason = conn
                    .run(stream, controls_rx, &mut binder, shutdown.clone())
                    .await;
                let _ = forward.await;
                if binder.bound {
                    if kind.can_submit() {
                        inner.transmitter.send_replace(None);
                    }
                    metrics::gauge!("tern_smpp_link_up", "link" => config.name.clone()).set(0.0);
                    let _ = events.send(ClientEvent::Down { kind, reason }).await;
                    backoff = config.reconnect_min;
                } else {
                    warn!(?reason, "bind failed");
                }
                if let CloseReason::BindRejected(status) = reason {
                    metrics::counter!("tern_smpp_binds_total", "role" => "client", "result" => "rejected")
                        .increment(1);
                    warn!(status = ?status, "the SMSC refused the bind");
                }
            }
            Err(error) => warn!(%error, "connect failed"),
        }
        let delay = jitter(backoff);
        info!(delay_ms = delay.as_millis() as u64, "reconnecting");
        tokio::select! {
            _ = tokio::time::sleep(delay) => {}
            _ = shutdown.cancelled() => break,
        }
        backoff = (backoff * 2).min(config.reconnect_max);
    }
}

/// ±20% so that many links that dropped together do not reconnect together.
fn jitter(base: Duration) -> Duration {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let factor = 0.8 + f64::from(nanos % 1000) / 1000.0 * 0.4;
    base.mul_f64(factor)
}

async fn forward_events(
    mut from: mpsc::Receiver<SessionEvent>,
    handle: SessionHandle,
    to: mpsc::Sender<ClientEvent>,
) {
    while let Some(event) = from.recv().await {
        let event = match event {
            SessionEvent::Request(command) => ClientEvent::Request {
                command,
                handle: handle.clone(),
            },
            SessionEvent::LateResponse {
                command_id,
                command,
            } => ClientEvent::LateResponse {
                command_id,
                command,
            },
            SessionEvent::Closed { .. } => break,
        };
        if to.send(event).await.is_err() {
            break;
        }
    }
}

struct ClientBinder {
    inner: Arc<Inner>,
    kind: BindKind,
    handle: SessionHandle,
    events: mpsc::Sender<ClientEvent>,
    bound: bool,
}

impl Binder for ClientBinder {
    async fn bind(&mut self, _kind: BindKind, _command: Command) -> Result<String, CommandStatus> {
        // The session never asks a client to authenticate a bind.
        Err(CommandStatus::EsmeRinvbndsts)
    }

    fn bound(&mut self, _kind: BindKind, _interface_version: u8) {
        self.bound = true;
        metrics::counter!("tern_smpp_binds_total", "role" => "client", "result" => "ok")
            .increment(1);
        metrics::gauge!("tern_smpp_link_up", "link" => self.inner.config.name.clone()).set(1.0);
        if self.kind.can_submit() {
            self.inner
                .transmitter
                .send_replace(Some(self.handle.clone()));
        }
        let _ = self.events.try_send(ClientEvent::Up { kind: self.kind });
    }
}
