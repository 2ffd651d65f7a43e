//! The SMPP server: ESMEs connect over TCP or TLS (optionally behind a PROXY-protocol load
//! balancer), bind, and become sessions handed to the application's [`Handler`]. The
//! accept loop, the connection limit and the handshake timeout are the driver's; the bind
//! is answered here, inside the session, as SMPP wants it.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use rusmpp::{Command, CommandStatus, Pdu};
use tern_transport::driver::server::{self as driver_server, Accept, EstablishError, Incoming};
use tern_transport::driver::{Conn, Side};
use tern_transport::tls::Acceptor;
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{debug, info};

use super::protocol::{Binding, Metrics};
use super::{channels, SessionEvent, SessionHandle};
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
        // What the ESME bound as: whether it submits, receives, or both.
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
    let limit = config.max_connections;
    let scheme = if tls.is_some() { "smpps" } else { "smpp" };
    let listener_side = Arc::new(Listener {
        tls,
        config,
        handler,
        scheme,
    });
    driver_server::serve(listener, limit, listener_side, shutdown, tracker).await;
}

/// One listener's share of every connection it accepts.
struct Listener<H> {
    tls: Option<Acceptor>,
    config: Arc<ServerConfig>,
    handler: Arc<H>,
    scheme: &'static str,
}

impl<H: Handler> Accept for Listener<H> {
    fn span(&self, peer: SocketAddr) -> tracing::Span {
        let scheme = self.scheme;
        tracing::info_span!("smpp_session", %peer, scheme, system_id = tracing::field::Empty)
    }

    fn refused(&self, _peer: SocketAddr) {
        metrics::counter!("tern_smpp_connections_refused_total", "reason" => "limit").increment(1);
    }

    async fn connection(self: Arc<Self>, incoming: Incoming, shutdown: CancellationToken) {
        metrics::gauge!("tern_smpp_open_sessions", "role" => "server").increment(1.0);
        if let Err(error) = self.session(incoming, shutdown).await {
            debug!(%error, "connection ended before binding");
        }
        metrics::gauge!("tern_smpp_open_sessions", "role" => "server").decrement(1.0);
    }
}

impl<H: Handler> Listener<H> {
    async fn session(
        &self,
        incoming: Incoming,
        shutdown: CancellationToken,
    ) -> Result<(), EstablishError> {
        let config = &self.config;
        let established = incoming
            .establish(
                self.tls.as_ref(),
                config.proxy_protocol,
                config.handshake_timeout,
            )
            .await
            .inspect_err(|error| {
                if let EstablishError::ProxyHeader(_) = error {
                    metrics::counter!("tern_smpp_connections_refused_total", "reason" => "proxy_header")
                        .increment(1);
                }
            })?;
        let mut session_config = config.session.clone();
        session_config.role = Role::Server;
        let (handle, link, events) = channels(&session_config);
        let now = tokio::time::Instant::now().into_std();
        let peer = established.peer;
        let conn = Conn::new(
            Session::new(session_config, now),
            Decoder::new(config.max_pdu_bytes),
            link,
            Metrics::new("server"),
        )
        .with_buffered(established.rbuf)
        .with_peer(peer.to_string());
        let mut binder = ServerBinder {
            handler: self.handler.clone(),
            peer,
            tls: established.tls,
            grant: None,
            events: Some(events),
            handle,
        };
        // The binder holds a handle, so the control channel stays open until the
        // application drops its own handles and the session ends.
        conn.run(established.stream, &mut binder, shutdown).await;
        Ok(())
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

impl<H: Handler> ServerBinder<H> {
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
}

impl<H: Handler> Side<Session> for ServerBinder<H> {
    async fn handle(&mut self, session: &mut Session, binding: Binding) {
        match binding {
            Binding::Request {
                sequence_number,
                kind,
                command,
            } => {
                let result = self.bind(kind, *command).await;
                let now = tokio::time::Instant::now().into_std();
                match result {
                    Ok(system_id) => session.accept_bind(now, sequence_number, &system_id),
                    Err(status) => session.reject_bind(now, sequence_number, status),
                }
            }
            Binding::Outbind => debug!("outbind from a client ignored"),
            Binding::Bound { kind, .. } => {
                info!(kind = kind.as_str(), "bound");
                if let (Some(grant), Some(events)) = (self.grant.take(), self.events.take()) {
                    self.handler
                        .session(grant, kind, self.handle.clone(), events);
                }
            }
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
