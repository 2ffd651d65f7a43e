//! The SMPP server: ESMEs connect over TCP or TLS (optionally behind a PROXY-protocol load
//! balancer), bind, and become sessions handed to the application's [`Handler`].

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::{Buf, BytesMut};
use rusmpp::{Command, CommandStatus, Pdu};
use tern_transport::proxy::{self, Parsed};
use tern_transport::tls::Acceptor;
use tern_transport::Stream;
use tokio::io::AsyncReadExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, Semaphore};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{debug, info, warn, Instrument};

use super::conn::{Binder, Conn, Labels};
use super::{control_channel, event_channel, SessionEvent, SessionHandle};
use crate::codec::Decoder;
use crate::session::{self, BindKind, Role, Session};

/// Everything a listener needs to know.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    pub session: session::Config,
    /// Largest PDU accepted, header included.
    pub max_pdu_bytes: usize,
    /// Expect a PROXY protocol v1/v2 header before anything else.
    pub proxy_protocol: bool,
    /// Connections beyond this are closed at once.
    pub max_connections: usize,
    /// Time allowed for the TLS handshake and the PROXY header.
    pub handshake_timeout: Duration,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            session: session::Config::default(),
            max_pdu_bytes: crate::codec::DEFAULT_MAX_LEN,
            proxy_protocol: false,
            max_connections: 10_000,
            handshake_timeout: Duration::from_secs(10),
        }
    }
}

/// A bind request, as the application sees it.
#[derive(Debug, Clone)]
pub struct BindRequest {
    pub kind: BindKind,
    pub system_id: String,
    pub password: String,
    pub system_type: String,
    pub interface_version: u8,
    pub address_range: String,
    /// The client's address: from the PROXY header when there is one.
    pub peer: SocketAddr,
    pub tls: bool,
}

/// What the application does with binds and bound sessions.
pub trait Handler: Send + Sync + 'static {
    /// Whatever the application keeps per session (an account, a bind-slot guard). Dropped
    /// when the application drops it, not by the server.
    type Grant: Send + 'static;

    /// Authenticates a bind. `Ok` carries the grant and the system_id we answer with; `Err`
    /// the bind_resp status (ESME_RINVPASWD, ESME_RINVSYSID, ESME_RBINDFAIL, ...).
    fn bind(
        &self,
        request: BindRequest,
    ) -> impl std::future::Future<Output = Result<(Self::Grant, String), CommandStatus>> + Send;

    /// A session is bound. The application answers `events` through `handle` until
    /// `SessionEvent::Closed`.
    fn session(
        self: &Arc<Self>,
        grant: Self::Grant,
        kind: BindKind,
        handle: SessionHandle,
        events: mpsc::Receiver<SessionEvent>,
    );
}

/// Accepts connections until `shutdown`; each connection runs on `tracker`, so the caller
/// can wait for every session to unbind.
pub async fn serve<H: Handler>(
    listener: TcpListener,
    tls: Option<Acceptor>,
    config: Arc<ServerConfig>,
    handler: Arc<H>,
    shutdown: CancellationToken,
    tracker: TaskTracker,
) {
    let slots = Arc::new(Semaphore::new(config.max_connections));
    let scheme = if tls.is_some() { "smpps" } else { "smpp" };
    loop {
        let (tcp, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    // Out of file descriptors and the like: pause instead of spinning.
                    warn!(%error, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = shutdown.cancelled() => break,
        };
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            metrics::counter!("tern_smpp_connections_refused_total", "reason" => "limit")
                .increment(1);
            warn!(%peer, "connection limit reached; refusing");
            continue;
        };
        let _ = tcp.set_nodelay(true);
        let config = config.clone();
        let handler = handler.clone();
        let tls = tls.clone();
        let shutdown = shutdown.clone();
        let span =
            tracing::info_span!("smpp_session", %peer, scheme, system_id = tracing::field::Empty);
        tracker.spawn(
            async move {
                metrics::gauge!("tern_smpp_open_sessions", "role" => "server").increment(1.0);
                if let Err(error) = connection(tcp, peer, tls, config, handler, shutdown).await {
                    debug!(%error, "connection ended before binding");
                }
                metrics::gauge!("tern_smpp_open_sessions", "role" => "server").decrement(1.0);
                drop(slot);
            }
            .instrument(span),
        );
    }
    info!(scheme, "listener stopped");
}

async fn connection<H: Handler>(
    tcp: TcpStream,
    peer: SocketAddr,
    tls: Option<Acceptor>,
    config: Arc<ServerConfig>,
    handler: Arc<H>,
    shutdown: CancellationToken,
) -> std::io::Result<()> {
    let timeout = config.handshake_timeout;
    let is_tls = tls.is_some();
    let mut stream = match tls {
        Some(acceptor) => tokio::time::timeout(timeout, acceptor.accept(tcp))
            .await
            .map_err(|_| std::io::Error::new(std::io::ErrorKind::TimedOut, "TLS handshake"))??,
        None => Stream::Plain(tcp),
    };
    let mut rbuf = BytesMut::with_capacity(4096);
    let mut peer = peer;
    if config.proxy_protocol {
        let read = tokio::time::timeout(timeout, read_proxy_header(&mut stream, &mut rbuf)).await;
        match read {
            Ok(Ok(source)) => peer = source.unwrap_or(peer),
            Ok(Err(error)) => {
                metrics::counter!("tern_smpp_connections_refused_total", "reason" => "proxy_header")
                    .increment(1);
                return Err(error);
            }
            Err(_) => {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    "PROXY header",
                ))
            }
        }
    }
    let mut session_config = config.session.clone();
    session_config.role = Role::Server;
    let (controls_tx, controls_rx) = control_channel(&session_config);
    let (events_tx, events_rx) = event_channel(&session_config);
    let window = session_config.window_out;
    let now = tokio::time::Instant::now().into_std();
    let conn = Conn::new(
        Session::new(session_config, now),
        Decoder::new(config.max_pdu_bytes),
        rbuf,
        events_tx,
        Labels {
            role: "server",
            peer: peer.to_string(),
        },
    );
    let mut binder = ServerBinder {
        handler,
        peer,
        tls: is_tls,
        grant: None,
        events: Some(events_rx),
        handle: SessionHandle::new(controls_tx, window),
    };
    // The binder holds a handle, so the control channel stays open until the application
    // drops its own handles and the session ends.
    conn.run(stream, controls_rx, &mut binder, shutdown).await;
    Ok(())
}

/// Reads until a whole PROXY header is buffered; leaves what follows it in `rbuf`.
async fn read_proxy_header(
    stream: &mut Stream,
    rbuf: &mut BytesMut,
) -> std::io::Result<Option<SocketAddr>> {
    loop {
        match proxy::parse(rbuf) {
            Ok(Parsed::Done { consumed, source }) => {
                rbuf.advance(consumed);
                return Ok(source);
            }
            Ok(Parsed::Incomplete) => {}
            Err(error) => {
                return Err(std::io::Error::new(std::io::ErrorKind::InvalidData, error));
            }
        }
        if stream.read_buf(rbuf).await? == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
    }
}

struct ServerBinder<H: Handler> {
    handler: Arc<H>,
    peer: SocketAddr,
    tls: bool,
    grant: Option<H::Grant>,
    events: Option<mpsc::Receiver<SessionEvent>>,
    handle: SessionHandle,
}

impl<H: Handler> Binder for ServerBinder<H> {
    async fn bind(&mut self, kind: BindKind, command: Command) -> Result<String, CommandStatus> {
        let request = bind_request(kind, &command, self.peer, self.tls)
            .ok_or(CommandStatus::EsmeRbindfail)?;
        tracing::Span::current().record("system_id", request.system_id.as_str());
        let result = self.handler.bind(request).await;
        let label = match &result {
            Ok(_) => "ok",
            Err(_) => "rejected",
        };
        metrics::counter!("tern_smpp_binds_total", "role" => "server", "result" => label)
            .increment(1);
        let (grant, system_id) = result?;
        self.grant = Some(grant);
        Ok(system_id)
    }

    fn bound(&mut self, kind: BindKind, _interface_version: u8) {
        if let (Some(grant), Some(events)) = (self.grant.take(), self.events.take()) {
            self.handler
                .session(grant, kind, self.handle.clone(), events);
        }
    }
}

fn bind_request(
    kind: BindKind,
    command: &Command,
    peer: SocketAddr,
    tls: bool,
) -> Option<BindRequest> {
    macro_rules! fields {
        ($b:expr) => {
            BindRequest {
                kind,
                system_id: $b.system_id.as_str().to_owned(),
                password: $b.password.as_str().to_owned(),
                system_type: $b.system_type.as_str().to_owned(),
                interface_version: u8::from($b.interface_version),
                address_range: $b.address_range.as_str().to_owned(),
                peer,
                tls,
            }
        };
    }
    Some(match command.pdu()? {
        Pdu::BindTransmitter(b) => fields!(b),
        Pdu::BindReceiver(b) => fields!(b),
        Pdu::BindTransceiver(b) => fields!(b),
        _ => return None,
    })
}
