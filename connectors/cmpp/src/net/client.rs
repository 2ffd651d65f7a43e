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
use tern_cn::session::Counter;
use tern_transport::driver::client::{self, reconnect, Backoff, Current, Dialer, Pace};
use tern_transport::driver::{Conn, NoSide};
use tern_transport::Stream;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{error, info, warn, Instrument};

use super::handshake::{self, ClientFailure, CONNECT_SEQUENCE};
use super::protocol::Metrics;
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
            active_test_interval: Some(self.active_test_interval),
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
    /// The connected session, while the link is up.
    link: Current<SessionHandle>,
    pace: Pace,
}

/// A running link. Cheap to clone.
#[derive(Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut debug = f.debug_struct("Client");
        debug.field("name", &self.inner.config.name);
        debug.field("up", &self.is_up()).finish()
    }
}

impl Client {
    /// Starts the link's task on `tracker`; it reconnects until `shutdown`.
    pub fn start(
        config: ClientConfig,
        shutdown: CancellationToken,
        tracker: &TaskTracker,
    ) -> (Client, mpsc::Receiver<ClientEvent>) {
        let (events, events_rx) = mpsc::channel(config.window.max(1) * 2 + 64);
        let span = tracing::info_span!("cmpp_link", link = %config.name, role = "client");
        let backoff = Backoff {
            min: config.reconnect_min,
            max: config.reconnect_max,
        };
        let pace = Pace::per_second(config.tps);
        let inner = Arc::new(Inner {
            config,
            link: Current::default(),
            pace,
        });
        let mut dialer = LinkDialer {
            inner: inner.clone(),
            events,
        };
        let run = async move { reconnect(&mut dialer, backoff, &shutdown).await };
        tracker.spawn(run.instrument(span));
        (Client { inner }, events_rx)
    }

    pub fn name(&self) -> &str {
        &self.inner.config.name
    }

    pub fn is_up(&self) -> bool {
        self.inner.link.get(|handle| !handle.is_closed()).is_some()
    }

    /// Free slots in the window; 0 while the link is down.
    pub fn window_available(&self) -> usize {
        let link = &self.inner.link;
        link.inspect(|handle| handle.map_or(0, SessionHandle::window_available))
    }

    /// Sends a SUBMIT (or another request) and waits for its response: first for the link
    /// (up to `ready_timeout`, else `NotSent`), then for a window slot, then for the TPS
    /// cap, so that what leaves the socket keeps to the cap.
    pub async fn request(&self, body: Body) -> Result<Pdu, RequestError> {
        let ready_timeout = self.inner.config.ready_timeout;
        let Some(handle) = self
            .inner
            .link
            .ready(ready_timeout, |h| !h.is_closed())
            .await
        else {
            return Err(RequestError::NotSent("the link is down".into()));
        };
        handle
            .request_paced(body, Some(&self.inner.pace), || true)
            .await
    }
}

/// The link as the driver's client reconnects it: TCP and CONNECT, then the session.
struct LinkDialer {
    inner: Arc<Inner>,
    events: mpsc::Sender<ClientEvent>,
}

impl Dialer for LinkDialer {
    type Connected = (Stream, BytesMut, Decoder);
    type Error = ClientFailure;

    /// Opens TCP and exchanges CONNECT.
    async fn connect(&mut self) -> Result<(Stream, BytesMut, Decoder), ClientFailure> {
        let config = &self.inner.config;
        let timeout = config.connect_timeout;
        let mut stream = client::connect(&config.host, config.port, None, timeout)
            .await
            .map_err(|error| match error.kind() {
                std::io::ErrorKind::TimedOut => ClientFailure::Timeout,
                _ => ClientFailure::Io(error.to_string()),
            })?;
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

    async fn run(
        &mut self,
        (stream, rbuf, decoder): (Stream, BytesMut, Decoder),
        shutdown: &CancellationToken,
    ) -> bool {
        let (inner, events) = (&self.inner, &self.events);
        let config = &inner.config;
        stats::connect_result("client", "ok");
        info!(version = config.version.byte(), "link up");
        let parts = session_parts(config.window, config.version);
        let now = tokio::time::Instant::now().into_std();
        let session = Session::new(config.session(), now, Counter::after(CONNECT_SEQUENCE));
        let conn = Conn::new(session, decoder, parts.link, Metrics("client"))
            .with_buffered(rbuf)
            .with_gate(config.gate.clone())
            .with_peer(config.name.clone());
        inner.link.set(Some(parts.handle.clone()));
        stats::link_up(&config.name, true);
        client::emit(events, ClientEvent::Up, shutdown).await;
        let handle = parts.handle;
        let forward = client::forward(parts.events_rx, events, shutdown, |event| match event {
            SessionEvent::Request(pdu) => Some(ClientEvent::Request {
                pdu,
                handle: handle.clone(),
            }),
            SessionEvent::LateResponse(pdu) => Some(ClientEvent::LateResponse(pdu)),
            SessionEvent::Closed { .. } => None,
        });
        let mut side = NoSide;
        let run = conn.run(stream, &mut side, shutdown.clone());
        let (reason, ()) = tokio::join!(run, forward);
        inner.link.set(None);
        stats::link_up(&config.name, false);
        warn!(?reason, "link down");
        client::emit(events, ClientEvent::Down { reason }, shutdown).await;
        true
    }

    async fn failed(&mut self, failure: ClientFailure, shutdown: &CancellationToken) {
        let Err(code) = refused(failure) else {
            return;
        };
        let reason = CloseReason::ConnectRefused(code);
        client::emit(&self.events, ClientEvent::Down { reason }, shutdown).await;
    }
}

/// Logs and counts a failed attempt; `Err` carries the status of a refused CONNECT.
fn refused(failure: ClientFailure) -> Result<(), u32> {
    let ClientFailure::Refused(code) = failure else {
        stats::connect_result("client", "failed");
        warn!(%failure, "connect failed");
        return Ok(());
    };
    stats::connect_result("client", "refused");
    if code == result::AUTH_FAILED {
        error!(status = code, "the gateway refused our CONNECT: authentication failed (check the source address, the secret and our clock)");
    } else {
        warn!(status = code, "the gateway refused our CONNECT");
    }
    Err(code)
}
