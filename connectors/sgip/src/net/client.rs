//! The SGIP client: one link that binds to a peer with a given login type (1 to an SMG to
//! send SUBMITs, 2 to an SP to send DELIVERs and REPORTs), with a window, a TPS cap, and
//! reconnection with jittered exponential backoff.
//!
//! SGIP has no keepalive: a link idle for the inactivity timeout unbinds. With
//! `keep_open` the link binds again at once; without it, it binds again when the next
//! request asks for it. A request is never sent twice by the link: when its response
//! times out the caller hears `RequestError::Timeout` (outcome unknown), and a response
//! that still arrives comes out as `ClientEvent::LateResponse`. A BIND refused by the peer
//! is reported as `ClientEvent::Down` with `CloseReason::BindRefused(result)` and retried
//! after the backoff.

use std::num::NonZeroU32;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::BytesMut;
use tern_transport::driver::client::{self, reconnect, Backoff, Current, Dialer, Pace};
use tern_transport::driver::{Conn, NoSide};
use tern_transport::Stream;
use tokio::sync::{mpsc, Notify};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{error, info, warn, Instrument};

use super::handshake::{self, ClientFailure, Login};
use super::protocol::Metrics;
use super::rules::login_type_name;
use super::session;
use super::stats;
use super::{session_parts, CloseReason, RequestError, SessionEvent, SessionHandle};
use crate::codec::{Body, Decoder, LoginType, Pdu, DEFAULT_MAX_LEN};
use crate::msgid::SequenceGenerator;
use crate::result;

/// One link to a peer.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// The link's name in logs and metrics.
    pub name: String,
    pub host: String,
    pub port: u16,
    /// Login Name and Login Password of the BIND, at most 16 ASCII characters each.
    pub login_name: String,
    pub password: String,
    /// 1 ([`LoginType::SpToSmg`]) to send SUBMITs, 2 ([`LoginType::SmgToSp`]) to send
    /// DELIVERs and REPORTs.
    pub login_type: LoginType,
    /// Our node id, the first word of every sequence number we issue (SGIP 1.2 §3.3; an
    /// SP's is `3AAAAQQQQQ`, see [`crate::msgid::sp_node_id`]).
    pub node_id: u32,
    /// Requests outstanding.
    pub window: usize,
    /// Requests per second, never more in any one second; `None` is unlimited.
    pub tps: Option<NonZeroU32>,
    /// Nothing sent or received for this long, with nothing outstanding: UNBIND.
    pub inactivity_timeout: Duration,
    /// Bind again at once after an inactivity close, rather than on the next request.
    pub keep_open: bool,
    /// How long a request (and BIND) waits for its response.
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
    /// A type-1 link (SP to SMG) with the defaults; set the credentials and node id.
    pub fn new(name: impl Into<String>, host: impl Into<String>, port: u16) -> Self {
        Self {
            name: name.into(),
            host: host.into(),
            port,
            login_name: String::new(),
            password: String::new(),
            login_type: LoginType::SpToSmg,
            node_id: 0,
            window: 16,
            tps: None,
            inactivity_timeout: Duration::from_secs(120),
            keep_open: false,
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
            inactivity_timeout: self.inactivity_timeout,
            response_timeout: self.response_timeout,
            login_type: self.login_type,
            binder: true,
        }
    }
}

/// What the link reports to its owner.
#[derive(Debug)]
pub enum ClientEvent {
    /// BIND succeeded; requests can flow.
    Up,
    /// The session ended (`CloseReason::Inactivity` when it idled out), or a BIND was
    /// refused (`CloseReason::BindRefused`).
    Down { reason: CloseReason },
    /// A response that came after its request had timed out (boxed: it is rare and large).
    LateResponse(Box<Pdu>),
}

struct Inner {
    config: ClientConfig,
    /// The bound session, while the link is up.
    link: Current<SessionHandle>,
    pace: Pace,
    sequences: Arc<SequenceGenerator>,
    /// Set while the link idles unbound, waiting for a request to bind again.
    parked: AtomicBool,
    /// Woken by a request while `parked`.
    wanted: Notify,
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
    /// Starts the link's task on `tracker`; it binds, and binds again, until `shutdown`.
    pub fn start(
        config: ClientConfig,
        shutdown: CancellationToken,
        tracker: &TaskTracker,
    ) -> (Client, mpsc::Receiver<ClientEvent>) {
        let (events, events_rx) = mpsc::channel(config.window.max(1) * 2 + 64);
        let span = tracing::info_span!(
            "sgip_link",
            link = %config.name,
            role = "client",
            login_type = config.login_type.value()
        );
        let backoff = Backoff {
            min: config.reconnect_min,
            max: config.reconnect_max,
        };
        let inner = Arc::new(Inner {
            pace: Pace::per_second(config.tps),
            sequences: Arc::new(SequenceGenerator::starting_at(
                config.node_id,
                random_start(),
            )),
            config,
            link: Current::default(),
            parked: AtomicBool::new(false),
            wanted: Notify::new(),
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

    /// Sends a SUBMIT (type 1) or a DELIVER or REPORT (type 2) and waits for its response:
    /// first for the link (binding again if it idled out; up to `ready_timeout`, else
    /// `NotSent`), then for a window slot, then for the TPS cap. The response carries the
    /// request's sequence number, which is a SUBMIT's message id.
    pub async fn request(&self, body: Body) -> Result<Pdu, RequestError> {
        let inner = &self.inner;
        if inner.parked.load(Ordering::Acquire) {
            inner.wanted.notify_one();
        }
        let ready = inner.config.ready_timeout;
        let Some(handle) = inner.link.ready(ready, |h| !h.is_closed()).await else {
            return Err(RequestError::NotSent("the link is down".into()));
        };
        handle.request_paced(body, Some(&inner.pace)).await
    }
}

/// The link as the driver's client reconnects it: TCP and BIND, then the session.
struct LinkDialer {
    inner: Arc<Inner>,
    events: mpsc::Sender<ClientEvent>,
}

impl Dialer for LinkDialer {
    type Connected = (Stream, BytesMut, Decoder);
    type Error = ClientFailure;

    async fn connect(&mut self) -> Result<(Stream, BytesMut, Decoder), ClientFailure> {
        let config = &self.inner.config;
        let stream = client::connect(&config.host, config.port, None, config.connect_timeout);
        let mut stream = stream.await.map_err(|error| match error.kind() {
            std::io::ErrorKind::TimedOut => ClientFailure::Timeout,
            _ => ClientFailure::Io(error.to_string()),
        })?;
        let mut rbuf = BytesMut::with_capacity(8 * 1024);
        let mut decoder = Decoder::new(config.max_pdu_bytes);
        let login = Login {
            login_type: config.login_type,
            login_name: &config.login_name,
            password: &config.password,
            sequence: self.inner.sequences.next_now(),
        };
        let timeout = config.response_timeout;
        handshake::client_bind(&mut stream, &mut rbuf, &mut decoder, login, timeout).await?;
        Ok((stream, rbuf, decoder))
    }

    async fn run(
        &mut self,
        (stream, rbuf, decoder): (Stream, BytesMut, Decoder),
        shutdown: &CancellationToken,
    ) -> bool {
        let (inner, events) = (&self.inner, &self.events);
        let config = &inner.config;
        stats::bind_result("client", login_type_name(config.login_type), "ok");
        info!("link up");
        let parts = session_parts(config.window, config.login_type);
        let now = tokio::time::Instant::now().into_std();
        let session = session::open(config.session(), now, inner.sequences.clone());
        let conn = Conn::new(session, decoder, parts.link, Metrics("client"))
            .with_buffered(rbuf)
            .with_gate(config.gate.clone())
            .with_peer(config.name.clone());
        inner.link.set(Some(parts.handle));
        stats::link_up(&config.name, true);
        client::emit(events, ClientEvent::Up, shutdown).await;
        let forward = client::forward(parts.events_rx, events, shutdown, |event| match event {
            SessionEvent::LateResponse(pdu) => Some(ClientEvent::LateResponse(Box::new(pdu))),
            // The binding side is sent no requests: the session refuses them itself.
            SessionEvent::Request(_) | SessionEvent::Closed { .. } => None,
        });
        let mut side = NoSide;
        let run = conn.run(stream, &mut side, shutdown.clone());
        let (reason, ()) = tokio::join!(run, forward);
        let idle = reason == CloseReason::Inactivity;
        let park = idle && !config.keep_open;
        // Parked before the link reads as down, so that a request that finds it down
        // also finds it waiting for work.
        inner.parked.store(park, Ordering::Release);
        inner.link.set(None);
        stats::link_up(&config.name, false);
        if idle {
            info!("link idle; unbound");
        } else {
            warn!(?reason, "link down");
        }
        client::emit(events, ClientEvent::Down { reason }, shutdown).await;
        if park {
            tokio::select! {
                _ = inner.wanted.notified() => {}
                _ = shutdown.cancelled() => {}
            }
            inner.parked.store(false, Ordering::Release);
        }
        true
    }

    async fn failed(&mut self, failure: ClientFailure, shutdown: &CancellationToken) {
        let ClientFailure::Refused(code) = failure else {
            stats::bind_result(
                "client",
                login_type_name(self.inner.config.login_type),
                "failed",
            );
            warn!(%failure, "bind failed");
            return;
        };
        stats::bind_result(
            "client",
            login_type_name(self.inner.config.login_type),
            "refused",
        );
        if code == result::ILLEGAL_LOGIN {
            error!(
                result = code,
                "the peer refused our BIND: illegal login (check the login name and password)"
            );
        } else {
            warn!(result = code, "the peer refused our BIND");
        }
        let reason = CloseReason::BindRefused(code);
        client::emit(&self.events, ClientEvent::Down { reason }, shutdown).await;
    }
}

/// Where a client's sequence counter starts: a random point, so that the clients of one
/// node id (the binds of one link, a link after a restart) do not hand out the same
/// numbers, which are the ids their REPORTs name, in the same second.
fn random_start() -> u32 {
    use std::hash::{BuildHasher, Hasher};
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos()),
    );
    hasher.finish() as u32
}
