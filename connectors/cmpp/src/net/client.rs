//! The CMPP client: one link to an operator's ISMG, with a window, a TPS cap, ACTIVE_TEST
//! keepalive and reconnection with jittered exponential backoff.
//!
//! A request is never sent twice by the link: when its response times out the caller
//! hears `RequestError::Timeout` (outcome unknown), and a response that still arrives
//! afterwards comes out as `ClientEvent::LateResponse`, so the caller can record it
//! instead of resending. A CONNECT refused by the gateway is reported as
//! `ClientEvent::Down` with `CloseReason::ConnectRefused(status)` and retried after the
//! backoff, since a gateway's account or allowlist may be fixed while we wait.

use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use bytes::BytesMut;
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use tern_transport::Stream;
use tokio::net::TcpStream;
use tokio::sync::{mpsc, watch};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{error, info, warn, Instrument};

use super::conn::Conn;
use super::handshake::{self, ClientFailure, CONNECT_SEQUENCE};
use super::session::{self, Session};
use super::stats;
use super::{session_parts, CloseReason, RequestError, SessionEvent, SessionHandle};
use crate::codec::{Body, Decoder, Pdu, Version, DEFAULT_MAX_LEN};
use crate::result;

/// One operator link.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// The link's name in logs and metrics.
    pub name: String,
    pub host: String,
    pub port: u16,
    /// The SP's enterprise code (6 digits).
    pub source_addr: String,
    /// The shared secret for the authenticator.
    pub secret: String,
    pub version: Version,
    /// Requests outstanding per direction.
    pub window: usize,
    /// Requests per second, never more in any one second (no burst: operators count per
    /// second and throttle past it); `None` is unlimited.
    pub tps: Option<NonZeroU32>,
    /// Idle time after which we send ACTIVE_TEST.
    pub active_test_interval: Duration,
    /// Nothing received for this long: the link is dead.
    pub inactivity_timeout: Duration,
    /// How long a request (and CONNECT) waits for its response.
    pub response_timeout: Duration,
    pub reconnect_min: Duration,
    pub reconnect_max: Duration,
    /// How long the TCP connection may take.
    pub connect_timeout: Duration,
    /// How long a request waits for the link to be up before giving up.
    pub ready_timeout: Duration,
    /// Largest PDU accepted, header included.
    pub max_pdu_bytes: usize,
    /// Asked before anything is written to the socket: once it says no, nothing more
    /// leaves and the connection closes (a cluster node that lost its claim on the bind).
    pub gate: Option<tern_transport::Gate>,
}

impl ClientConfig {
    pub fn new(name: impl Into<String>, host: impl Into<String>, port: u16) -> Self {
        let active_test_interval = Duration::from_secs(30);
        Self {
            name: name.into(),
            host: host.into(),
            port,
            source_addr: String::new(),
            secret: String::new(),
            version: Version::V30,
            window: 16,
            tps: None,
            active_test_interval,
            inactivity_timeout: active_test_interval * 3,
            response_timeout: Duration::from_secs(10),
            reconnect_min: Duration::from_millis(500),
            reconnect_max: Duration::from_secs(30),
            connect_timeout: Duration::from_secs(10),
            ready_timeout: Duration::from_secs(5),
            max_pdu_bytes: DEFAULT_MAX_LEN,
            gate: None,
        }
    }

    fn session(&self) -> session::Config {
        session::Config {
            window: self.window.max(1),
            active_test_interval: self.active_test_interval,
            inactivity_timeout: self.inactivity_timeout,
            response_timeout: self.response_timeout,
        }
    }
}

/// What the link reports to its owner.
#[derive(Debug)]
pub enum ClientEvent {
    /// CONNECT succeeded; requests can flow.
    Up,
    /// The session ended, or a CONNECT was refused (`CloseReason::ConnectRefused`).
    Down { reason: CloseReason },
    /// A DELIVER (an MO or a status report) of the gateway: answer it with DELIVER_RESP
    /// through `handle`.
    Request { pdu: Pdu, handle: SessionHandle },
    /// A response that came after its request had timed out.
    LateResponse(Pdu),
}

struct Inner {
    config: ClientConfig,
    link: watch::Sender<Option<SessionHandle>>,
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
            .field("up", &self.is_up())
            .finish()
    }
}

impl Client {
    /// Starts the link's task on `tracker`; it reconnects until `shutdown`.
    pub fn start(
        config: ClientConfig,
        shutdown: CancellationToken,
        tracker: &TaskTracker,
    ) -> (Client, mpsc::Receiver<ClientEvent>) {
        let limiter = config
            .tps
            .map(|tps| RateLimiter::direct(Quota::per_second(tps).allow_burst(NonZeroU32::MIN)));
        let (events, events_rx) = mpsc::channel(config.window.max(1) * 2 + 64);
        let span = tracing::info_span!("cmpp_link", link = %config.name, role = "client");
        let inner = Arc::new(Inner {
            config,
            link: watch::channel(None).0,
            limiter,
        });
        tracker.spawn(run_link(inner.clone(), events, shutdown).instrument(span));
        (Client { inner }, events_rx)
    }

    pub fn name(&self) -> &str {
        &self.inner.config.name
    }

    pub fn is_up(&self) -> bool {
        self.inner
            .link
            .borrow()
            .as_ref()
            .is_some_and(|handle| !handle.is_closed())
    }

    /// Free slots in the window; 0 while the link is down.
    pub fn window_available(&self) -> usize {
        self.inner
            .link
            .borrow()
            .as_ref()
            .map_or(0, SessionHandle::window_available)
    }

    /// Sends a SUBMIT (or another request) and waits for its response: first for the link
    /// (up to `ready_timeout`, else `NotSent`), then for a window slot, then for the TPS
    /// cap, so that what leaves the socket keeps to the cap.
    pub async fn request(&self, body: Body) -> Result<Pdu, RequestError> {
        let handle = self.ready().await?;
        handle
            .request_limited(body, self.inner.limiter.as_ref())
            .await
    }

    async fn ready(&self) -> Result<SessionHandle, RequestError> {
        // The common case, an up link, without a timer or a subscription.
        if let Some(handle) = &*self.inner.link.borrow() {
            if !handle.is_closed() {
                return Ok(handle.clone());
            }
        }
        let mut link = self.inner.link.subscribe();
        let ready = tokio::time::timeout(
            self.inner.config.ready_timeout,
            link.wait_for(|h| h.as_ref().is_some_and(|h| !h.is_closed())),
        )
        .await;
        match ready {
            Ok(Ok(handle)) => handle
                .clone()
                .ok_or_else(|| RequestError::NotSent("the link is down".into())),
            _ => Err(RequestError::NotSent("the link is down".into())),
        }
    }
}

/// Opens TCP and exchanges CONNECT.
async fn connect(config: &ClientConfig) -> Result<(Stream, BytesMut, Decoder), ClientFailure> {
    let address = (config.host.as_str(), config.port);
    let tcp = tokio::time::timeout(config.connect_timeout, TcpStream::connect(address))
        .await
        .map_err(|_| ClientFailure::Timeout)?
        .map_err(|error| ClientFailure::Io(error.to_string()))?;
    let _ = tcp.set_nodelay(true);
    let mut stream = Stream::Plain(tcp);
    let mut rbuf = BytesMut::with_capacity(8 * 1024);
    let mut decoder = Decoder::new(config.version, config.max_pdu_bytes);
    handshake::client_connect(
        &mut stream,
        &mut rbuf,
        &mut decoder,
        &config.source_addr,
        &config.secret,
        config.response_timeout,
    )
    .await?;
    Ok((stream, rbuf, decoder))
}

/// Sends an event to the owner; after shutdown only if there is room, so that an owner
/// that stopped reading cannot hold the link task.
async fn emit(
    events: &mpsc::Sender<ClientEvent>,
    event: ClientEvent,
    shutdown: &CancellationToken,
) {
    if shutdown.is_cancelled() {
        let _ = events.try_send(event);
        return;
    }
    tokio::select! {
        _ = events.send(event) => {}
        _ = shutdown.cancelled() => {}
    }
}

/// The link, reconnected with exponential backoff until shutdown.
async fn run_link(
    inner: Arc<Inner>,
    events: mpsc::Sender<ClientEvent>,
    shutdown: CancellationToken,
) {
    let config = &inner.config;
    let mut backoff = config.reconnect_min;
    while !shutdown.is_cancelled() {
        let attempt = tokio::select! {
            attempt = connect(config) => attempt,
            _ = shutdown.cancelled() => break,
        };
        match attempt {
            Ok((stream, rbuf, decoder)) => {
                stats::connect_result("client", "ok");
                info!(version = config.version.byte(), "link up");
                let parts = session_parts(config.window, config.version);
                let now = tokio::time::Instant::now().into_std();
                let session = Session::new(config.session(), now, CONNECT_SEQUENCE);
                let mut conn = Conn::new(session, decoder, rbuf, parts.events_tx, "client");
                conn.gate = config.gate.clone();
                inner.link.send_replace(Some(parts.handle.clone()));
                stats::link_up(&config.name, true);
                emit(&events, ClientEvent::Up, &shutdown).await;
                let forward = forward_events(parts.events_rx, parts.handle, &events, &shutdown);
                let run = conn.run(stream, parts.controls, parts.shared, shutdown.clone());
                let (reason, ()) = tokio::join!(run, forward);
                inner.link.send_replace(None);
                stats::link_up(&config.name, false);
                warn!(?reason, "link down");
                emit(&events, ClientEvent::Down { reason }, &shutdown).await;
                backoff = config.reconnect_min;
            }
            Err(ClientFailure::Refused(code)) => {
                stats::connect_result("client", "refused");
                if code == result::AUTH_FAILED {
                    error!(status = code, "the gateway refused our CONNECT: authentication failed (check the source address, the secret and our clock)");
                } else {
                    warn!(status = code, "the gateway refused our CONNECT");
                }
                let reason = CloseReason::ConnectRefused(code);
                emit(&events, ClientEvent::Down { reason }, &shutdown).await;
            }
            Err(failure) => {
                stats::connect_result("client", "failed");
                warn!(%failure, "connect failed");
            }
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

/// ±20 %, so that many links that dropped together do not reconnect together.
fn jitter(base: Duration) -> Duration {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let factor = 0.8 + f64::from(nanos % 1000) / 1000.0 * 0.4;
    base.mul_f64(factor)
}

/// Moves the session's events to the link's owner until the session closes.
async fn forward_events(
    mut from: mpsc::Receiver<SessionEvent>,
    handle: SessionHandle,
    to: &mpsc::Sender<ClientEvent>,
    shutdown: &CancellationToken,
) {
    while let Some(event) = from.recv().await {
        let event = match event {
            SessionEvent::Request(pdu) => ClientEvent::Request {
                pdu,
                handle: handle.clone(),
            },
            SessionEvent::LateResponse(pdu) => ClientEvent::LateResponse(pdu),
            SessionEvent::Closed { .. } => break,
        };
        emit(to, event, shutdown).await;
    }
}
