//! The client: one link to an operator's gateway (an SMGW, a CNGP gateway), with a window, a TPS cap, Active_Test
//! keepalive and reconnection with jittered exponential backoff.
//!
//! A request is never sent twice by the link: when its response times out the caller
//! hears `RequestError::Timeout` (outcome unknown), and a response that still arrives
//! afterwards comes out as `ClientEvent::LateResponse`, so the caller can record it
//! instead of resending. A Login refused by the gateway is reported as
//! `ClientEvent::Down` with `CloseReason::LoginRefused(status)` and retried after the
//! backoff, since a gateway's account or allowlist may be fixed while we wait.

use std::marker::PhantomData;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use bytes::BytesMut;
use tern_cn::session as cn;
use tern_transport::driver::client::{self, reconnect, Backoff, Current, Dialer, Pace};
use tern_transport::driver::{Conn, NoSide};
use tern_transport::Stream;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{error, info, warn, Instrument};

use super::handshake::{self, ClientFailure, Credentials, LOGIN_SEQUENCE};
use super::server::DEFAULT_MAX_PDU_BYTES;
use super::stats::Stats;
use super::{
    session_parts, CloseReason, Protocol, RequestError, Session, SessionEvent, SessionHandle,
};

/// LoginMode 2: both ways on one connection (the same in SMGP and CNGP).
const TRANSMIT: u8 = 2;

/// One operator link of protocol `P`.
#[derive(Debug, Clone)]
pub struct ClientConfig<P> {
    /// The link's name in logs and metrics.
    pub name: String,
    pub host: String,
    pub port: u16,
    /// The account we log in as (ClientID: 8 octets in SMGP, 10 in CNGP).
    pub client_id: String,
    /// The shared secret for the authenticator.
    pub secret: String,
    /// The version octet of Login (0x30 for SMGP 3.0, 0x20 for CNGP 2.0).
    pub version: u8,
    /// 0 send, 1 receive, 2 transmit.
    pub login_mode: u8,
    /// Requests outstanding per direction.
    pub window: usize,
    /// Requests per second, never more in any one second; `None` is unlimited.
    pub tps: Option<NonZeroU32>,
    /// Idle time after which we send Active_Test.
    pub active_test_interval: Duration,
    /// Nothing received for this long: the link is dead.
    pub inactivity_timeout: Duration,
    /// How long a request (and Login) waits for its response.
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
    pub protocol: PhantomData<P>,
}

impl<P: Protocol> ClientConfig<P> {
    pub fn new(name: impl Into<String>, host: impl Into<String>, port: u16) -> Self {
        let active_test_interval = Duration::from_secs(30);
        Self {
            name: name.into(),
            host: host.into(),
            port,
            client_id: String::new(),
            secret: String::new(),
            version: P::VERSION,
            login_mode: TRANSMIT,
            window: 16,
            tps: None,
            active_test_interval,
            inactivity_timeout: active_test_interval * 3,
            response_timeout: Duration::from_secs(10),
            reconnect_min: Duration::from_millis(500),
            reconnect_max: Duration::from_secs(30),
            connect_timeout: Duration::from_secs(10),
            ready_timeout: Duration::from_secs(5),
            max_pdu_bytes: DEFAULT_MAX_PDU_BYTES,
            gate: None,
            protocol: PhantomData,
        }
    }

    fn session(&self) -> cn::Config {
        cn::Config {
            window: self.window.max(1),
            active_test_interval: Some(self.active_test_interval),
            inactivity_timeout: self.inactivity_timeout,
            response_timeout: self.response_timeout,
        }
    }
}

/// What the link reports to its owner.
#[derive(Debug)]
pub enum ClientEvent<P: Protocol> {
    /// Login succeeded; requests can flow.
    Up,
    /// The session ended, or a Login was refused (`CloseReason::LoginRefused`).
    Down { reason: CloseReason },
    /// A Deliver (an MO or a status report) of the gateway: answer it with Deliver_Resp
    /// through `handle`.
    Request {
        pdu: P::Pdu,
        handle: SessionHandle<P>,
    },
    /// A response that came after its request had timed out.
    LateResponse(P::Pdu),
}

struct Inner<P: Protocol> {
    config: ClientConfig<P>,
    /// The logged-in session, while the link is up.
    link: Current<SessionHandle<P>>,
    pace: Pace,
}

/// A running link. Cheap to clone.
pub struct Client<P: Protocol> {
    inner: Arc<Inner<P>>,
}

impl<P: Protocol> Clone for Client<P> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
        }
    }
}

impl<P: Protocol> std::fmt::Debug for Client<P> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut debug = f.debug_struct("Client");
        debug.field("name", &self.inner.config.name);
        debug.field("up", &self.is_up()).finish()
    }
}

impl<P: Protocol> Client<P> {
    /// Starts the link's task on `tracker`; it reconnects until `shutdown`.
    pub fn start(
        config: ClientConfig<P>,
        shutdown: CancellationToken,
        tracker: &TaskTracker,
    ) -> (Client<P>, mpsc::Receiver<ClientEvent<P>>) {
        let (events, events_rx) = mpsc::channel(config.window.max(1) * 2 + 64);
        let span = tracing::info_span!("cn_link", protocol = P::NAME, link = %config.name, role = "client");
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
        link.inspect(|handle| handle.map_or(0, SessionHandle::<P>::window_available))
    }

    /// Sends a Submit (or a Deliver) and waits for its response: first for the link (up
    /// to `ready_timeout`, else `NotSent`), then for a window slot, then for the TPS cap,
    /// so that what leaves the socket keeps to the cap.
    pub async fn request(&self, body: P::Body) -> Result<P::Pdu, RequestError> {
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

/// The link as the driver's client reconnects it: TCP and Login, then the session.
struct LinkDialer<P: Protocol> {
    inner: Arc<Inner<P>>,
    events: mpsc::Sender<ClientEvent<P>>,
}

impl<P: Protocol> LinkDialer<P> {
    fn stats(&self) -> Stats {
        Stats {
            names: P::NAMES,
            role: "client",
        }
    }
}

impl<P: Protocol> Dialer for LinkDialer<P> {
    type Connected = (Stream, BytesMut, P::Codec);
    type Error = ClientFailure;

    /// Opens TCP and exchanges Login.
    async fn connect(&mut self) -> Result<(Stream, BytesMut, P::Codec), ClientFailure> {
        let config = &self.inner.config;
        let timeout = config.connect_timeout;
        let mut stream = client::connect(&config.host, config.port, None, timeout)
            .await
            .map_err(|error| match error.kind() {
                std::io::ErrorKind::TimedOut => ClientFailure::Timeout,
                _ => ClientFailure::Io(error.to_string()),
            })?;
        let mut rbuf = BytesMut::with_capacity(8 * 1024);
        let mut codec = P::codec(config.max_pdu_bytes);
        let credentials = Credentials {
            client_id: &config.client_id,
            secret: &config.secret,
            login_mode: config.login_mode,
            version: config.version,
        };
        let timeout = config.response_timeout;
        handshake::client_login::<P>(&mut stream, &mut rbuf, &mut codec, &credentials, timeout)
            .await?;
        Ok((stream, rbuf, codec))
    }

    async fn run(
        &mut self,
        (stream, rbuf, codec): (Stream, BytesMut, P::Codec),
        shutdown: &CancellationToken,
    ) -> bool {
        let stats = self.stats();
        let (inner, events) = (&self.inner, &self.events);
        let config = &inner.config;
        stats.login_result("ok");
        info!(version = config.version, "link up");
        let parts = session_parts(config.window, config.version);
        let now = tokio::time::Instant::now().into_std();
        let session = Session::<P>::new(config.session(), now, cn::Counter::after(LOGIN_SEQUENCE));
        let conn = Conn::new(session, codec, parts.link, stats)
            .with_buffered(rbuf)
            .with_gate(config.gate.clone())
            .with_peer(config.name.clone());
        inner.link.set(Some(parts.handle.clone()));
        stats.link_up(&config.name, true);
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
        stats.link_up(&config.name, false);
        warn!(?reason, "link down");
        client::emit(events, ClientEvent::Down { reason }, shutdown).await;
        true
    }

    async fn failed(&mut self, failure: ClientFailure, shutdown: &CancellationToken) {
        let Err(code) = refused::<P>(self.stats(), failure) else {
            return;
        };
        let reason = CloseReason::LoginRefused(code);
        client::emit(&self.events, ClientEvent::Down { reason }, shutdown).await;
    }
}

/// Logs and counts a failed attempt; `Err` carries the status of a refused Login.
fn refused<P: Protocol>(stats: Stats, failure: ClientFailure) -> Result<(), u32> {
    let ClientFailure::Refused(code) = failure else {
        stats.login_result("failed");
        warn!(%failure, "login failed");
        return Ok(());
    };
    stats.login_result("refused");
    if code == P::AUTH_FAILED {
        error!(status = code, "the gateway refused our Login: authentication failed (check the ClientID, the secret and our clock)");
    } else {
        warn!(status = code, "the gateway refused our Login");
    }
    Err(code)
}
