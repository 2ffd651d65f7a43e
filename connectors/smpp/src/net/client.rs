//! The SMPP client: one link to an operator SMSC, as a transceiver or a transmitter and
//! receiver pair, with a window, a TPS cap, keepalive and reconnection with backoff.
//!
//! A request is never sent twice by the link: when its response times out the caller hears
//! `RequestError::Timeout` (outcome unknown), and a response that still arrives afterwards
//! comes out as `ClientEvent::LateResponse`, so the caller can record it instead of resending.

use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use rusmpp::pdus::{BindReceiver, BindTransceiver, BindTransmitter};
use rusmpp::values::{InterfaceVersion, Npi, Ton};
use rusmpp::{Command, CommandId, CommandStatus, Pdu};
use tern_transport::driver::client::{self, reconnect, Backoff, Current, Dialer, Pace};
use tern_transport::driver::{Conn, Side};
use tern_transport::tls::Connector;
use tern_transport::Stream;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{debug, info, warn, Instrument};

use super::protocol::{Binding, Metrics};
use super::{channels, RequestError, SessionEvent, SessionHandle};
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
    /// The bound session that carries submits, if any.
    transmitter: Current<SessionHandle>,
    pace: Pace,
}

/// A running link: its binds reconnect on their own until shutdown. Cheap to clone.
#[derive(Clone)]
pub struct Client(Arc<Inner>);

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Client({}, {:?})", self.0.config.name, self.state())
    }
}

impl Client {
    pub fn name(&self) -> &str {
        &self.0.config.name
    }

    /// Starts the link's connection tasks on `tracker`; they reconnect until `shutdown`.
    pub fn start(
        config: ClientConfig,
        shutdown: CancellationToken,
        tracker: &TaskTracker,
    ) -> (Client, mpsc::Receiver<ClientEvent>) {
        let kinds: &[BindKind] = match config.bind {
            BindMode::Transceiver => &[BindKind::Transceiver],
            BindMode::TransmitterReceiver => &[BindKind::Transmitter, BindKind::Receiver],
        };
        let (events, events_rx) = mpsc::channel(config.session.window_in * 2 + 64);
        let inner = Arc::new(Inner {
            pace: Pace::per_second(config.tps),
            transmitter: Current::default(),
            config,
        });
        for &kind in kinds {
            let span =
                tracing::info_span!("smpp_link", link = %inner.config.name, kind = kind.as_str());
            let mut dialer = BindDialer {
                inner: inner.clone(),
                kind,
                events: events.clone(),
            };
            let backoff = Backoff {
                min: inner.config.reconnect_min,
                max: inner.config.reconnect_max,
            };
            let shutdown = shutdown.clone();
            tracker.spawn(
                async move { reconnect(&mut dialer, backoff, &shutdown).await }.instrument(span),
            );
        }
        (Client(inner), events_rx)
    }

    pub fn state(&self) -> LinkState {
        match self.0.transmitter.get(|h| !h.is_closed()) {
            Some(_) => LinkState::Up,
            None => LinkState::Down,
        }
    }

    /// Free slots in the submit window; 0 while the link is down.
    pub fn window_available(&self) -> usize {
        let transmitter = &self.0.transmitter;
        transmitter.inspect(|h| h.map_or(0, SessionHandle::window_available))
    }

    /// Sends a submit (or any request the transmitter may send) and waits for its
    /// response, after the TPS cap and a free window slot allow it.
    pub async fn request(&self, pdu: Pdu) -> Result<Command, RequestError> {
        self.0.pace.ready().await;
        let ready_timeout = self.0.config.ready_timeout;
        let transmitter = self.0.transmitter.ready(ready_timeout, |h| !h.is_closed());
        let handle = transmitter
            .await
            .ok_or(RequestError::NotSent(SendError::NotBound(State::Closed)))?;
        handle.request(pdu).await
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

/// One bind of the link, as the driver's client reconnects it.
struct BindDialer {
    inner: Arc<Inner>,
    kind: BindKind,
    events: mpsc::Sender<ClientEvent>,
}

impl Dialer for BindDialer {
    type Connected = Stream;
    type Error = std::io::Error;

    async fn connect(&mut self) -> std::io::Result<Stream> {
        let config = &self.inner.config;
        let tls = config.tls.as_ref();
        client::connect(&config.host, config.port, tls, config.connect_timeout).await
    }

    async fn run(&mut self, stream: Stream, shutdown: &CancellationToken) -> bool {
        let (inner, kind) = (&self.inner, self.kind);
        let config = &inner.config;
        let mut session_config = config.session.clone();
        session_config.role = Role::Client;
        let (handle, link, session_events) = channels(&session_config);
        let now = tokio::time::Instant::now().into_std();
        let mut session = Session::new(session_config, now);
        if let Err(e) = session.bind(now, kind, bind_pdu(config, kind)) {
            warn!(error = %e, "bind could not be sent");
        }
        let conn = Conn::new(
            session,
            Decoder::new(config.max_pdu_bytes),
            link,
            Metrics::new("client"),
        )
        .with_gate(config.gate.clone())
        .with_peer(config.name.clone());
        let mut binder = ClientBinder {
            inner: inner.clone(),
            kind,
            handle: handle.clone(),
            events: self.events.clone(),
            bound: false,
        };
        let forward = client::forward(session_events, &self.events, shutdown, |event| {
            Some(match event {
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
                SessionEvent::Closed { .. } => return None,
            })
        });
        let run = conn.run(stream, &mut binder, shutdown.clone());
        let (reason, ()) = tokio::join!(run, forward);
        if binder.bound {
            if kind.can_submit() {
                inner.transmitter.set(None);
            }
            metrics::gauge!("tern_smpp_link_up", "link" => config.name.clone()).set(0.0);
            let _ = self.events.send(ClientEvent::Down { kind, reason }).await;
        } else {
            warn!(?reason, "bind failed");
        }
        if let CloseReason::BindRejected(status) = reason {
            metrics::counter!("tern_smpp_binds_total", "role" => "client", "result" => "rejected")
                .increment(1);
            warn!(status = ?status, "the SMSC refused the bind");
        }
        binder.bound
    }

    async fn failed(&mut self, error: std::io::Error, _shutdown: &CancellationToken) {
        warn!(%error, "connect failed");
    }
}

/// The link's answer to the steps of a bind.
struct ClientBinder {
    inner: Arc<Inner>,
    kind: BindKind,
    handle: SessionHandle,
    events: mpsc::Sender<ClientEvent>,
    bound: bool,
}

impl Side<Session> for ClientBinder {
    async fn handle(&mut self, session: &mut Session, binding: Binding) {
        match binding {
            Binding::Request {
                sequence_number, ..
            } => {
                // The session never asks a client to authenticate a bind.
                let now = tokio::time::Instant::now().into_std();
                session.reject_bind(now, sequence_number, CommandStatus::EsmeRinvbndsts);
            }
            Binding::Outbind => debug!("outbind received; binding is driven by the link"),
            Binding::Bound {
                kind,
                interface_version,
            } => {
                info!(kind = kind.as_str(), interface_version, "bound");
                self.bound = true;
                metrics::counter!("tern_smpp_binds_total", "role" => "client", "result" => "ok")
                    .increment(1);
                metrics::gauge!("tern_smpp_link_up", "link" => self.inner.config.name.clone())
                    .set(1.0);
                if self.kind.can_submit() {
                    self.inner.transmitter.set(Some(self.handle.clone()));
                }
                let _ = self.events.try_send(ClientEvent::Up { kind: self.kind });
            }
        }
    }
}
