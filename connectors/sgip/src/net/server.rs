//! The SGIP server: peers connect over TCP, BIND with a login type and credentials, and
//! become sessions handed to the application's [`Handler`].
//!
//! A gateway serves two kinds of binds: its SPs bind with login type 1 to send SUBMITs,
//! and an operator's SMG binds with login type 2 to send DELIVERs and REPORTs. A listener
//! takes the types in [`ServerConfig::login_types`] (result 4 for the others). A connection
//! that sends no BIND within `bind_timeout` is closed without becoming a session; so is
//! one over `max_connections`. The handler names the password of the login name; the
//! comparison is made here, in constant time, so that no handler can forget it.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::BytesMut;
use tern_transport::driver::server::{self as driver_server, Accept, Incoming};
use tern_transport::driver::{Conn, NoSide};
use tern_transport::Stream;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{debug, info, warn};

use super::handshake::{self, bind_resp, ReadError};
use super::protocol::Metrics;
use super::rules::login_type_name;
use super::session;
use super::stats;
use super::{session_parts, SessionEvent, SessionHandle};
use crate::auth::{self, BindRefusal};
use crate::codec::{Body, CommandId, Decoder, FrameError, LoginType, DEFAULT_MAX_LEN};
use crate::msgid::{SequenceGenerator, SequenceNumber};
use crate::result;

/// How long a refused connection is drained before it is dropped, and how much of it.
const LINGER: Duration = Duration::from_secs(1);
const LINGER_BYTES: usize = 64 * 1024;

/// Everything a listener needs to know.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Requests outstanding per direction; the peer's beyond it get result 11.
    pub window: usize,
    /// Nothing sent or received for this long, with nothing outstanding: UNBIND.
    pub inactivity_timeout: Duration,
    /// How long a request of ours (UNBIND) waits for its response.
    pub response_timeout: Duration,
    /// BIND must arrive within this after the TCP connection.
    pub bind_timeout: Duration,
    /// Largest PDU accepted, header included.
    pub max_pdu_bytes: usize,
    /// Connections beyond this are closed at once.
    pub max_connections: usize,
    /// The login types a BIND may ask for here.
    pub login_types: Vec<LoginType>,
    /// Our node id, the first word of the sequence numbers we issue (SGIP 1.2 §3.3).
    pub node_id: u32,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            window: 16,
            inactivity_timeout: Duration::from_secs(120),
            response_timeout: Duration::from_secs(10),
            bind_timeout: Duration::from_secs(10),
            max_pdu_bytes: DEFAULT_MAX_LEN,
            max_connections: 10_000,
            login_types: vec![LoginType::SpToSmg, LoginType::SmgToSp],
            node_id: 0,
        }
    }
}

impl ServerConfig {
    fn session(&self, login_type: LoginType) -> session::Config {
        session::Config {
            window: self.window.max(1),
            inactivity_timeout: self.inactivity_timeout,
            response_timeout: self.response_timeout,
            login_type,
            binder: false,
        }
    }
}

/// A BIND, as the application sees it.
#[derive(Debug, Clone)]
pub struct BindRequest {
    pub login_name: String,
    /// One of [`ServerConfig::login_types`].
    pub login_type: LoginType,
    pub peer: SocketAddr,
    /// The BIND's sequence number: its first word is the peer's node id.
    pub sequence: SequenceNumber,
}

/// What the application does with BINDs and bound sessions.
pub trait Handler: Send + Sync + 'static {
    /// Whatever the application keeps per session (an account, a connection-slot guard).
    /// Dropped when the BIND fails after all, or when the application drops it.
    type Grant: Send + 'static;

    /// Whether `request.login_name` may bind with this login type from this peer: `Ok`
    /// gives the grant and the password to check; `Err` the BIND_RESP result (1 illegal
    /// login, 3 too many connections, 4 bad login type).
    fn bind(
        &self,
        request: BindRequest,
    ) -> impl Future<Output = Result<(Self::Grant, String), u8>> + Send;

    /// A BIND the application granted had the wrong password (result 1 was sent), so that
    /// the application can count failures; `grant` is dropped afterwards.
    fn authentication_failed(&self, request: &BindRequest, grant: &Self::Grant) {
        let _ = (request, grant);
    }

    /// A session is bound. Answer `events` through `handle` until `SessionEvent::Closed`.
    /// Dropping every clone of `handle` unbinds the session.
    fn session(
        self: &Arc<Self>,
        grant: Self::Grant,
        request: BindRequest,
        handle: SessionHandle,
        events: mpsc::Receiver<SessionEvent>,
    );
}

/// Accepts connections until `shutdown`; each connection runs on `tracker`, so the caller
/// can wait for every session to unbind.
pub async fn serve<H: Handler>(
    listener: TcpListener,
    config: Arc<ServerConfig>,
    handler: Arc<H>,
    shutdown: CancellationToken,
    tracker: TaskTracker,
) {
    let limit = config.max_connections;
    let sequences = Arc::new(SequenceGenerator::new(config.node_id));
    let accept = Arc::new(Listener {
        config,
        handler,
        sequences,
    });
    driver_server::serve(listener, limit, accept, shutdown, tracker).await;
}

/// What every connection of one listener shares.
struct Listener<H> {
    config: Arc<ServerConfig>,
    handler: Arc<H>,
    sequences: Arc<SequenceGenerator>,
}

impl<H: Handler> Accept for Listener<H> {
    fn span(&self, peer: SocketAddr) -> tracing::Span {
        tracing::info_span!(
            "sgip_session",
            %peer,
            role = "server",
            login_name = tracing::field::Empty,
            login_type = tracing::field::Empty,
        )
    }

    fn refused(&self, _peer: SocketAddr) {
        stats::bind_refused("limit");
    }

    async fn connection(self: Arc<Self>, incoming: Incoming, shutdown: CancellationToken) {
        let peer = incoming.peer();
        let mut stream = incoming.plain().stream;
        let mut rbuf = BytesMut::with_capacity(4096);
        let mut decoder = Decoder::new(self.config.max_pdu_bytes);
        let outcome = tokio::select! {
            outcome = self.handshake(&mut stream, &mut rbuf, &mut decoder, peer) => outcome,
            _ = shutdown.cancelled() => Err("shutdown"),
        };
        let (grant, request) = match outcome {
            Ok(accepted) => accepted,
            Err(reason) => {
                stats::bind_refused(reason);
                linger(&mut stream).await;
                return;
            }
        };
        let login_type = request.login_type;
        stats::bind_result("server", login_type_name(login_type), "ok");
        let parts = session_parts(self.config.window, login_type);
        let now = tokio::time::Instant::now().into_std();
        let session = session::open(self.config.session(login_type), now, self.sequences.clone());
        self.handler
            .session(grant, request, parts.handle, parts.events_rx);
        Conn::new(session, decoder, parts.link, Metrics("server"))
            .with_buffered(rbuf)
            .with_peer(peer.to_string())
            .run(stream, &mut NoSide, shutdown)
            .await;
    }
}

impl<H: Handler> Listener<H> {
    /// Reads BIND and answers it. `Err` carries the metric reason of a refusal.
    async fn handshake(
        &self,
        stream: &mut Stream,
        rbuf: &mut BytesMut,
        decoder: &mut Decoder,
        peer: SocketAddr,
    ) -> Result<(H::Grant, BindRequest), &'static str> {
        let config = &self.config;
        let first = tokio::time::timeout(
            config.bind_timeout,
            handshake::read_pdu(stream, rbuf, decoder),
        )
        .await;
        let (sequence, bind) = match first {
            Err(_) => {
                debug!("no BIND within the bind timeout");
                return Err("timeout");
            }
            Ok(Ok(pdu)) => match pdu.body {
                Body::Bind(bind) => (pdu.sequence, bind),
                other => {
                    debug!(command = ?other.command_id(), "first PDU is not BIND");
                    return Err("not_bind");
                }
            },
            Ok(Err(ReadError::Malformed(FrameError::Malformed {
                command: CommandId::Bind,
                sequence,
                reason,
                result,
            }))) => {
                debug!(reason, "malformed BIND");
                let _ = handshake::write_pdu(stream, &bind_resp(sequence, result)).await;
                return Err("malformed");
            }
            Ok(Err(error @ (ReadError::Malformed(_) | ReadError::Frame(_)))) => {
                debug!(%error, "first PDU is not BIND");
                return Err("not_bind");
            }
            Ok(Err(error)) => {
                debug!(%error, "connection ended before BIND");
                return Err("closed");
            }
        };
        let span = tracing::Span::current();
        span.record("login_name", bind.login_name.as_str());
        let refuse = |code: u8| bind_resp(sequence, code);
        let login_type = match auth::check_login_type(&bind, &config.login_types) {
            Ok(login_type) => login_type,
            Err(refusal) => {
                info!(login_type = bind.login_type, "BIND login type refused");
                let _ = handshake::write_pdu(stream, &refuse(refusal.result())).await;
                return Err("login_type");
            }
        };
        span.record("login_type", login_type.value());
        let request = BindRequest {
            login_name: bind.login_name.clone(),
            login_type,
            peer,
            sequence,
        };
        let decided =
            tokio::time::timeout(config.response_timeout, self.handler.bind(request.clone())).await;
        let (grant, password) = match decided {
            Ok(Ok(granted)) => granted,
            Ok(Err(code)) => {
                // A refusal must not read as success to the client.
                let code = if code == result::OK {
                    result::ILLEGAL_LOGIN
                } else {
                    code
                };
                info!(result = code, "BIND refused by the application");
                let _ = handshake::write_pdu(stream, &refuse(code)).await;
                return Err("rejected");
            }
            Err(_) => {
                warn!("the application did not decide on BIND in time");
                let _ = handshake::write_pdu(stream, &refuse(result::NODE_BUSY)).await;
                return Err("rejected");
            }
        };
        if !auth::verify_credentials(&bind, &request.login_name, &password) {
            warn!("BIND with a wrong password");
            self.handler.authentication_failed(&request, &grant);
            let code = BindRefusal::Credentials.result();
            let _ = handshake::write_pdu(stream, &refuse(code)).await;
            return Err("credentials");
        }
        if let Err(error) = handshake::write_pdu(stream, &refuse(result::OK)).await {
            debug!(%error, "BIND_RESP could not be written");
            return Err("io");
        }
        info!("bound");
        Ok((grant, request))
    }
}

/// Closes a refused connection so that the BIND_RESP already written reaches the peer:
/// our side shuts first, and what the peer still sends is read and dropped (briefly, and
/// at most `LINGER_BYTES`), since closing a socket with unread input resets the connection
/// and can destroy the answer in flight.
async fn linger(stream: &mut Stream) {
    let drain = async {
        let _ = stream.shutdown().await;
        let mut sink = [0u8; 1024];
        let mut left = LINGER_BYTES;
        while left > 0 {
            match stream.read(&mut sink).await {
                Ok(0) | Err(_) => return,
                Ok(n) => left = left.saturating_sub(n),
            }
        }
    };
    let _ = tokio::time::timeout(LINGER, drain).await;
}
