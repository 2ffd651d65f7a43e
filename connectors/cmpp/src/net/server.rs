//! The CMPP server: SPs (our customers) connect over TCP, authenticate with CONNECT, and
//! become sessions handed to the application's [`Handler`].
//!
//! A connection that does not send a valid CONNECT within `connect_timeout` is closed
//! without becoming a session; so is one over `max_connections`. The handler decides
//! whether the account may connect and names its secret; the authenticator and the
//! timestamp window are checked here, so that no handler can forget them.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::BytesMut;
use tern_cn::session::Counter;
use tern_transport::driver::server::{self as driver_server, Accept, Incoming};
use tern_transport::driver::{Conn, NoSide};
use tern_transport::Stream;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{debug, info, warn};

use super::handshake::{self, AuthFailure, ReadError, VersionCheck};
use super::protocol::Metrics;
use super::rules::CONNECT_OTHER;
use super::session::{self, Session};
use super::stats;
use super::{session_parts, SessionEvent, SessionHandle};
use crate::codec::{Body, CommandId, Decoder, Version, DEFAULT_MAX_LEN};
use crate::result;

/// How long a refused connection is drained before it is dropped.
const LINGER: Duration = Duration::from_secs(1);
const LINGER_BYTES: usize = 64 * 1024;

/// Everything a listener needs to know.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Requests outstanding per direction; the peer's beyond it get result 8.
    pub window: usize,
    /// Idle time after which we send ACTIVE_TEST.
    pub active_test_interval: Duration,
    /// Nothing received for this long: close.
    pub inactivity_timeout: Duration,
    /// How long a request of ours (DELIVER, TERMINATE) waits for its response.
    pub response_timeout: Duration,
    /// CONNECT must arrive within this after the TCP connection.
    pub connect_timeout: Duration,
    /// Largest PDU accepted, header included.
    pub max_pdu_bytes: usize,
    /// Connections beyond this are closed at once.
    pub max_connections: usize,
    /// CONNECT timestamps further than this from now are refused (status 3) as replays.
    pub timestamp_window: Duration,
    /// The highest version we speak; a CONNECT asking for more gets status 4.
    pub max_version: Version,
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
            max_pdu_bytes: DEFAULT_MAX_LEN,
            max_connections: 10_000,
            timestamp_window: Duration::from_secs(15 * 60),
            max_version: Version::V30,
        }
    }
}

impl ServerConfig {
    fn session(&self) -> session::Config {
        session::Config {
            window: self.window.max(1),
            active_test_interval: Some(self.active_test_interval),
            inactivity_timeout: self.inactivity_timeout,
            response_timeout: self.response_timeout,
        }
    }
}

/// A CONNECT, as the application sees it.
#[derive(Debug, Clone)]
pub struct ConnectRequest {
    /// The SP's enterprise code.
    pub source_addr: String,
    /// The version the client asked for (no higher than `max_version`).
    pub version: Version,
    pub peer: SocketAddr,
    /// MMDDHHMMSS as sent.
    pub timestamp: u32,
}

/// What the application does with CONNECTs and connected sessions.
pub trait Handler: Send + Sync + 'static {
    /// Whatever the application keeps per session (an account, a connection-slot guard).
    /// Dropped when the CONNECT fails after all, or when the application drops it.
    type Grant: Send + 'static;

    /// The account for `source_addr` may connect from `peer` (allowlist, connection
    /// limit, enabled, not locked out after failed CONNECTs): `Ok` gives the grant and the
    /// account's shared secret; `Err` the CONNECT_RESP status (2 bad source address, 5+
    /// other).
    fn connect(
        &self,
        request: ConnectRequest,
    ) -> impl Future<Output = Result<(Self::Grant, String), u32>> + Send;

    /// A CONNECT the application granted failed authentication here (status 3 was sent),
    /// so that the application can count failures and lock out a guesser; `grant` is
    /// dropped afterwards.
    fn authentication_failed(
        &self,
        request: &ConnectRequest,
        failure: AuthFailure,
        grant: &Self::Grant,
    ) {
        let _ = (request, failure, grant);
    }

    /// A session is connected (its authenticator verified). Answer `events` through
    /// `handle` until `SessionEvent::Closed`. Dropping every clone of `handle` terminates
    /// the session.
    fn session(
        self: &Arc<Self>,
        grant: Self::Grant,
        version: Version,
        handle: SessionHandle,
        events: mpsc::Receiver<SessionEvent>,
    );
}

/// Accepts connections until `shutdown`; each connection runs on `tracker`, so the caller
/// can wait for every session to terminate.
pub async fn serve<H: Handler>(
    listener: TcpListener,
    config: Arc<ServerConfig>,
    handler: Arc<H>,
    shutdown: CancellationToken,
    tracker: TaskTracker,
) {
    let limit = config.max_connections;
    let accept = Arc::new(Listener { config, handler });
    driver_server::serve(listener, limit, accept, shutdown, tracker).await;
}

/// What every connection of one listener shares.
struct Listener<H> {
    config: Arc<ServerConfig>,
    handler: Arc<H>,
}

impl<H: Handler> Accept for Listener<H> {
    fn span(&self, peer: SocketAddr) -> tracing::Span {
        tracing::info_span!(
            "cmpp_session",
            %peer,
            role = "server",
            source_addr = tracing::field::Empty,
            version = tracing::field::Empty,
        )
    }

    fn refused(&self, _peer: SocketAddr) {
        stats::connect_refused("limit");
    }

    async fn connection(self: Arc<Self>, incoming: Incoming, shutdown: CancellationToken) {
        let peer = incoming.peer();
        let established = incoming.plain();
        let (config, handler) = (self.config.clone(), self.handler.clone());
        connection(established.stream, peer, config, handler, shutdown).await;
    }
}

/// What the CONNECT exchange settled.
struct Accepted<G> {
    grant: G,
    version: Version,
}

async fn connection<H: Handler>(
    mut stream: Stream,
    peer: SocketAddr,
    config: Arc<ServerConfig>,
    handler: Arc<H>,
    shutdown: CancellationToken,
) {
    let mut rbuf = BytesMut::with_capacity(4096);
    // CONNECT has the same layout in both versions.
    let mut decoder = Decoder::new(config.max_version, config.max_pdu_bytes);
    let outcome = tokio::select! {
        outcome = handshake(&mut stream, &mut rbuf, &mut decoder, &config, &*handler, peer) => outcome,
        _ = shutdown.cancelled() => Err("shutdown"),
    };
    let accepted = match outcome {
        Ok(accepted) => accepted,
        Err(reason) => {
            stats::connect_refused(reason);
            stats::connect_result("server", "refused");
            linger(&mut stream).await;
            return;
        }
    };
    stats::connect_result("server", "ok");
    let version = accepted.version;
    decoder.set_version(version);
    let parts = session_parts(config.window, version);
    let now = tokio::time::Instant::now().into_std();
    let session = Session::new(config.session(), now, Counter::after(0));
    handler.session(accepted.grant, version, parts.handle, parts.events_rx);
    let conn = Conn::new(session, decoder, parts.link, Metrics("server")).with_buffered(rbuf);
    conn.with_peer(peer.to_string())
        .run(stream, &mut NoSide, shutdown)
        .await;
}

/// Closes a refused connection so that the CONNECT_RESP already written reaches the
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

/// Reads CONNECT and answers it. `Err` carries the metric reason of a refusal.
async fn handshake<H: Handler>(
    stream: &mut Stream,
    rbuf: &mut BytesMut,
    decoder: &mut Decoder,
    config: &ServerConfig,
    handler: &H,
    peer: SocketAddr,
) -> Result<Accepted<H::Grant>, &'static str> {
    let first = tokio::time::timeout(
        config.connect_timeout,
        handshake::read_pdu(stream, rbuf, decoder),
    )
    .await;
    let (sequence_id, connect) = match first {
        Err(_) => {
            debug!("no CONNECT within the connect timeout");
            return Err("timeout");
        }
        Ok(Ok(pdu)) => match pdu.body {
            Body::Connect(connect) => (pdu.sequence_id, connect),
            other => {
                debug!(command = ?other.command_id(), "first PDU is not CONNECT");
                return Err("not_connect");
            }
        },
        Ok(Err(ReadError::Malformed(frame))) if frame.command == CommandId::Connect => {
            debug!(reason = frame.reason, "malformed CONNECT");
            let resp =
                handshake::refuse(frame.sequence_id, result::BAD_STRUCTURE, config.max_version);
            let _ = handshake::write_pdu(stream, &resp, config.max_version).await;
            return Err("malformed");
        }
        Ok(Err(error @ (ReadError::Malformed(_) | ReadError::Frame(_)))) => {
            debug!(%error, "first PDU is not CONNECT");
            return Err("not_connect");
        }
        Ok(Err(error)) => {
            debug!(%error, "connection ended before CONNECT");
            return Err("closed");
        }
    };
    let span = tracing::Span::current();
    span.record("source_addr", connect.source_addr.as_str());
    let version = match handshake::check_version(connect.version, config.max_version) {
        VersionCheck::Accepted(version) => version,
        VersionCheck::Refused { status, layout } => {
            info!(
                requested = connect.version,
                status, "CONNECT version refused"
            );
            let resp = handshake::refuse(sequence_id, status, config.max_version);
            let _ = handshake::write_pdu(stream, &resp, layout).await;
            return Err("version");
        }
    };
    span.record("version", version.byte());
    let refuse = |status: u32| handshake::refuse(sequence_id, status, version);
    let request = ConnectRequest {
        source_addr: connect.source_addr.clone(),
        version,
        peer,
        timestamp: connect.timestamp,
    };
    let decided =
        tokio::time::timeout(config.response_timeout, handler.connect(request.clone())).await;
    let (grant, secret) = match decided {
        Ok(Ok(granted)) => granted,
        Ok(Err(status)) => {
            // A refusal must not read as success to the client.
            let status = if status == result::OK {
                CONNECT_OTHER
            } else {
                status
            };
            info!(status, "CONNECT refused by the application");
            let _ = handshake::write_pdu(stream, &refuse(status), version).await;
            return Err("rejected");
        }
        Err(_) => {
            warn!("the application did not decide on CONNECT in time");
            let _ = handshake::write_pdu(stream, &refuse(CONNECT_OTHER), version).await;
            return Err("rejected");
        }
    };
    let verified = handshake::verify_connect(
        &connect,
        &secret,
        config.timestamp_window,
        crate::time::unix_now(),
    );
    if let Err(failure) = verified {
        let reason = match failure {
            AuthFailure::Authenticator => "authenticator",
            AuthFailure::Timestamp => "timestamp",
        };
        warn!(
            reason,
            timestamp = connect.timestamp,
            "CONNECT authentication failed"
        );
        handler.authentication_failed(&request, failure, &grant);
        let _ = handshake::write_pdu(stream, &refuse(result::AUTH_FAILED), version).await;
        return Err(reason);
    }
    let resp = handshake::accept(&connect, sequence_id, version, &secret);
    if let Err(error) = handshake::write_pdu(stream, &resp, version).await {
        debug!(%error, "CONNECT_RESP could not be written");
        return Err("io");
    }
    info!("connected");
    Ok(Accepted { grant, version })
}
