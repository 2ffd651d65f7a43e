//! The server: SPs (our customers) connect over TCP, log in with Login, and become
//! sessions handed to the application's [`Handler`].
//!
//! A connection that does not send a valid Login within `connect_timeout` is closed without
//! becoming a session; so is one over `max_connections`. The handler decides whether the
//! account may log in and names its secret; the authenticator and the timestamp window are
//! checked here, so that no handler can forget them.

use std::future::Future;
use std::marker::PhantomData;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::BytesMut;
use tern_cn::login::{check_login, AuthFailure};
use tern_cn::session as cn;
use tern_transport::driver::server::{self as driver_server, Accept, Incoming};
use tern_transport::driver::{Conn, NoSide};
use tern_transport::Stream;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{debug, info, warn};

use super::handshake::{self, ReadError};
use super::stats::Stats;
use super::{session_parts, Protocol, Session, SessionEvent, SessionHandle};

/// How long a refused connection is drained before it is dropped.
const LINGER: Duration = Duration::from_secs(1);
const LINGER_BYTES: usize = 64 * 1024;

/// Largest frame accepted by default; both protocols' SUBMITs to 100 terminals fit.
pub const DEFAULT_MAX_PDU_BYTES: usize = 8 * 1024;

/// Everything a listener needs to know.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Requests outstanding per direction; the peer's beyond it get the busy status.
    pub window: usize,
    /// Idle time after which we send Active_Test.
    pub active_test_interval: Duration,
    /// Nothing received for this long: close.
    pub inactivity_timeout: Duration,
    /// How long a request of ours (Deliver, Exit) waits for its response.
    pub response_timeout: Duration,
    /// Login must arrive within this after the TCP connection.
    pub connect_timeout: Duration,
    /// Largest PDU accepted, header included.
    pub max_pdu_bytes: usize,
    /// Connections beyond this are closed at once.
    pub max_connections: usize,
    /// Login timestamps further than this from now are refused as replays.
    pub timestamp_window: Duration,
}

impl Default for ServerConfig {
    fn default() -> Self {
        let active_test_interval = Duration::from_secs(30);
        Self {
            window: 16,
            active_test_interval,
            inactivity_timeout: active_test_interval * 3,
            response_timeout: Duration::from_secs(10),
            connect_timeout: Duration::from_secs(10),
            max_pdu_bytes: DEFAULT_MAX_PDU_BYTES,
            max_connections: 10_000,
            timestamp_window: Duration::from_secs(15 * 60),
        }
    }
}

impl ServerConfig {
    fn session(&self) -> cn::Config {
        cn::Config {
            window: self.window.max(1),
            active_test_interval: Some(self.active_test_interval),
            inactivity_timeout: self.inactivity_timeout,
            response_timeout: self.response_timeout,
        }
    }
}

/// A Login, as the application sees it.
#[derive(Debug, Clone)]
pub struct LoginRequest {
    /// The account the SP logs in as.
    pub client_id: String,
    /// 0 send, 1 receive, 2 transmit.
    pub login_mode: u8,
    /// The ClientVersion octet (no higher than ours).
    pub version: u8,
    pub peer: SocketAddr,
    /// MMDDHHMMSS as sent.
    pub timestamp: u32,
}

/// What the application does with Logins and logged-in sessions of protocol `P`.
pub trait Handler<P: Protocol>: Send + Sync + 'static {
    /// Whatever the application keeps per session (an account, a connection-slot guard).
    /// Dropped when the Login fails after all, or when the application drops it.
    type Grant: Send + 'static;

    /// The account `client_id` may log in from `peer`: `Ok` gives the grant and the
    /// account's shared secret; `Err` the Login_Resp status (in both protocols 20 bad
    /// IP, 21 unknown account, 2 too many connections, 1 busy).
    fn login(
        &self,
        request: LoginRequest,
    ) -> impl Future<Output = Result<(Self::Grant, String), u32>> + Send;

    /// A Login the application granted failed authentication here (status 21 was sent),
    /// so that the application can count failures and lock out a guesser; `grant` is
    /// dropped afterwards.
    fn authentication_failed(
        &self,
        request: &LoginRequest,
        failure: AuthFailure,
        grant: &Self::Grant,
    ) {
        let _ = (request, failure, grant);
    }

    /// A session is logged in. Answer `events` through `handle` until
    /// `SessionEvent::Closed`. Dropping every clone of `handle` exits the session.
    fn session(
        self: &Arc<Self>,
        grant: Self::Grant,
        login: LoginRequest,
        handle: SessionHandle<P>,
        events: mpsc::Receiver<SessionEvent<P::Pdu>>,
    );
}

/// Accepts connections until `shutdown`; each connection runs on `tracker`, so the caller
/// can wait for every session to exit.
pub async fn serve<P: Protocol, H: Handler<P>>(
    listener: TcpListener,
    config: Arc<ServerConfig>,
    handler: Arc<H>,
    shutdown: CancellationToken,
    tracker: TaskTracker,
) {
    let limit = config.max_connections;
    let accept = Arc::new(Listener {
        config,
        handler,
        protocol: PhantomData::<fn() -> P>,
    });
    driver_server::serve(listener, limit, accept, shutdown, tracker).await;
}

/// What every connection of one listener shares.
struct Listener<P, H> {
    config: Arc<ServerConfig>,
    handler: Arc<H>,
    protocol: PhantomData<fn() -> P>,
}

impl<P: Protocol, H: Handler<P>> Accept for Listener<P, H> {
    fn span(&self, peer: SocketAddr) -> tracing::Span {
        tracing::info_span!(
            "cn_session",
            protocol = P::NAME,
            %peer,
            role = "server",
            client_id = tracing::field::Empty,
        )
    }

    fn refused(&self, _peer: SocketAddr) {
        stats::<P>().login_refused("limit");
    }

    async fn connection(self: Arc<Self>, incoming: Incoming, shutdown: CancellationToken) {
        let peer = incoming.peer();
        let established = incoming.plain();
        let (config, handler) = (self.config.clone(), self.handler.clone());
        connection::<P, H>(established.stream, peer, config, handler, shutdown).await;
    }
}

fn stats<P: Protocol>() -> Stats {
    Stats {
        names: P::NAMES,
        role: "server",
    }
}

async fn connection<P: Protocol, H: Handler<P>>(
    mut stream: Stream,
    peer: SocketAddr,
    config: Arc<ServerConfig>,
    handler: Arc<H>,
    shutdown: CancellationToken,
) {
    let mut rbuf = BytesMut::with_capacity(4096);
    let mut codec = P::codec(config.max_pdu_bytes);
    let stats = stats::<P>();
    let outcome = tokio::select! {
        outcome = handshake::<P, H>(&mut stream, &mut rbuf, &mut codec, &config, &*handler, peer) => outcome,
        _ = shutdown.cancelled() => Err("shutdown"),
    };
    let (grant, login) = match outcome {
        Ok(accepted) => accepted,
        Err(reason) => {
            stats.login_refused(reason);
            stats.login_result("refused");
            linger(&mut stream).await;
            return;
        }
    };
    stats.login_result("ok");
    let parts = session_parts(config.window, login.version);
    let now = tokio::time::Instant::now().into_std();
    let session = Session::<P>::new(config.session(), now, cn::Counter::after(0));
    handler.session(grant, login, parts.handle, parts.events_rx);
    let conn = Conn::new(session, codec, parts.link, stats).with_buffered(rbuf);
    conn.with_peer(peer.to_string())
        .run(stream, &mut NoSide, shutdown)
        .await;
}

/// Closes a refused connection so that the Login_Resp already written reaches the
/// client: our side is shut first, and what the client still sends is read and dropped
/// (briefly, and at most `LINGER_BYTES`), since closing a socket with unread input resets
/// the connection and can destroy the answer in flight.
async fn linger(stream: &mut Stream) {
    let _ = tokio::time::timeout(LINGER, async {
        let _ = stream.shutdown().await;
        let mut sink = [0u8; 1024];
        let mut read = 0;
        while read < LINGER_BYTES {
            match stream.read(&mut sink).await {
                Ok(0) | Err(_) => break,
                Ok(n) => read += n,
            }
        }
    })
    .await;
}

/// Reads Login and answers it. `Err` carries the metric reason of a refusal.
async fn handshake<P: Protocol, H: Handler<P>>(
    stream: &mut Stream,
    rbuf: &mut BytesMut,
    codec: &mut P::Codec,
    config: &ServerConfig,
    handler: &H,
    peer: SocketAddr,
) -> Result<(H::Grant, LoginRequest), &'static str> {
    let first = tokio::time::timeout(
        config.connect_timeout,
        handshake::read_pdu::<P>(stream, rbuf, codec),
    )
    .await;
    let (sequence_id, login) = match first {
        Err(_) => {
            debug!("no Login within the login timeout");
            return Err("timeout");
        }
        Ok(Ok(pdu)) => match P::login_fields(&pdu) {
            Some(login) => (P::sequence(&pdu), login),
            None => {
                debug!(?pdu, "first PDU is not Login");
                return Err("not_login");
            }
        },
        Ok(Err(ReadError::<P>::Malformed(frame))) if handshake::is_login(frame.command) => {
            debug!(reason = %frame.reason, "malformed Login");
            let resp = handshake::refuse::<P>(frame.sequence, P::BAD_STRUCTURE);
            let _ = handshake::write_pdu::<P>(stream, codec, &resp).await;
            return Err("malformed");
        }
        Ok(Err(error @ (ReadError::<P>::Malformed(_) | ReadError::<P>::Frame(_)))) => {
            debug!(%error, "first PDU is not Login");
            return Err("not_login");
        }
        Ok(Err(error)) => {
            debug!(%error, "connection ended before Login");
            return Err("closed");
        }
    };
    tracing::Span::current().record("client_id", login.client_id.as_str());
    if login.version > P::VERSION {
        info!(requested = login.version, "Login version refused");
        let resp = handshake::refuse::<P>(sequence_id, P::VERSION_TOO_HIGH);
        let _ = handshake::write_pdu::<P>(stream, codec, &resp).await;
        return Err("version");
    }
    let request = LoginRequest {
        client_id: login.client_id.clone(),
        login_mode: login.login_mode,
        version: login.version,
        peer,
        timestamp: login.timestamp,
    };
    let decided =
        tokio::time::timeout(config.response_timeout, handler.login(request.clone())).await;
    let refusal = match decided {
        Ok(Ok(granted)) => Ok(granted),
        // A refusal must not read as success to the client.
        Ok(Err(status)) if status == P::OK => Err(P::BUSY),
        Ok(Err(status)) => Err(status),
        Err(_) => {
            warn!("the application did not decide on Login in time");
            Err(P::BUSY)
        }
    };
    let (grant, secret) = match refusal {
        Ok(granted) => granted,
        Err(status) => {
            info!(status, "Login refused by the application");
            let resp = handshake::refuse::<P>(sequence_id, status);
            let _ = handshake::write_pdu::<P>(stream, codec, &resp).await;
            return Err("rejected");
        }
    };
    let verified = check_login(
        &login.client_id,
        &login.authenticator_client,
        login.timestamp,
        secret.as_bytes(),
        config.timestamp_window,
        tern_cn::time::unix_now(),
    );
    if let Err(failure) = verified {
        warn!(
            reason = failure.label(),
            timestamp = login.timestamp,
            "Login authentication failed"
        );
        handler.authentication_failed(&request, failure, &grant);
        let resp = handshake::refuse::<P>(sequence_id, P::AUTH_FAILED);
        let _ = handshake::write_pdu::<P>(stream, codec, &resp).await;
        return Err(failure.label());
    }
    let resp = handshake::accept::<P>(&login, sequence_id, &secret);
    if let Err(error) = handshake::write_pdu::<P>(stream, codec, &resp).await {
        debug!(%error, "Login_Resp could not be written");
        return Err("io");
    }
    info!("logged in");
    Ok((grant, request))
}
