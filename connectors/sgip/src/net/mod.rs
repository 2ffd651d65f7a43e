//! The SGIP connector on tokio: the server (peers bind to us) and the reconnecting client
//! (we bind to a peer), over the shared connection driver of `tern_transport::driver`.
//! Hand-written like the codec: no maintained Rust crate speaks SGIP. Its session is the
//! one `tern_cn::session` runs for CMPP, SMGP and CNGP too, with SGIP's 12-octet sequence
//! numbers, its one-way connections and no keepalive behind that session's `Wire`.
//!
//! An SGIP connection carries requests one way, chosen by the Bind's Login Type: on type 1
//! an SP sends SUBMITs to the SMG, on type 2 the SMG sends DELIVERs (MO) and REPORTs
//! (status reports) to the SP. The side that connected sends; the side that accepted
//! answers. SGIP has no keepalive command, so a connection idle for the inactivity timeout
//! is closed with UNBIND, and a client binds again when it next has work (or at once, when
//! configured to keep its connection open).
//!
//! Layers, each knowing only the one below: `handshake` exchanges BIND and BIND_RESP on a
//! fresh stream; `session` runs SGIP on the shared state machine without I/O (windows,
//! response timers, inactivity, UNBIND); `protocol` plugs codec and session into the
//! driver; `server` and `client` wire them to the application. Every queue is bounded: our
//! requests wait for a window slot, the peer's requests beyond the window are answered with
//! result 11 (node busy) instead of being queued.

mod client;
mod handshake;
mod protocol;
mod rules;
mod server;
mod session;
#[cfg(test)]
mod session_tests;
mod stats;

use tern_transport::driver::{self, client::Pace};
use tokio::sync::mpsc;

use crate::codec::{Body, LoginType, Pdu};
use session::Session;

pub use client::{Client, ClientConfig, ClientEvent};
pub use server::{serve, BindRequest, Handler, ServerConfig};

/// What the application hears from a session: a request of the peer (SUBMIT on a type-1
/// link, DELIVER or REPORT on a type-2 link; answer it with [`SessionHandle::respond`],
/// under the request's sequence number), a late response, or the end.
pub type SessionEvent = tern_cn::driver::SessionEvent<Pdu, CloseReason>;

/// Why a session ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CloseReason {
    /// The peer sent UNBIND.
    Unbound,
    /// We unbound it ([`SessionHandle::unbind`], or every handle was dropped).
    ByUs,
    /// Nothing was sent or received for the inactivity timeout; we unbound it.
    Inactivity,
    /// The peer closed the connection without UNBIND.
    PeerClosed,
    /// The connection failed (reset, a write error, a connect or BIND timeout).
    Io(String),
    /// The peer sent something that ends the session (framing lost, an unknown command).
    Protocol(String),
    /// We are shutting down.
    Shutdown,
    /// Client: the peer answered BIND with this non-zero result (1 illegal login, 4 bad
    /// login type, ...).
    BindRefused(u8),
}

/// Why a request of ours got no response.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RequestError {
    /// Never written: safe to send again elsewhere.
    #[error("request not sent: {0}")]
    NotSent(String),
    /// The outcome is unknown: the peer may have acted on it. A response that still comes
    /// is a late response whose sequence number ends in this counter.
    #[error("no response within the response timeout (sequence counter {sequence})")]
    Timeout { sequence: u32 },
    /// The session closed after the request was written: the outcome is unknown.
    #[error("the session closed before the response arrived")]
    Closed,
}

use tern_cn::driver::CLOSED;

/// The application's side of one bound session. Cheap to clone; when every clone is
/// dropped the session unbinds.
#[derive(Debug, Clone)]
pub struct SessionHandle {
    inner: driver::Handle<Session>,
    login_type: LoginType,
}

impl SessionHandle {
    /// Sends a request (the session assigns its sequence number) once a window slot is
    /// free, and waits for its response. Only the binding side sends, and only what its
    /// login type carries; the wait for a slot is the back-pressure towards the caller.
    pub async fn request(&self, body: Body) -> Result<Pdu, RequestError> {
        self.request_paced(body, None).await
    }

    pub(crate) async fn request_paced(
        &self,
        body: Body,
        pace: Option<&Pace>,
    ) -> Result<Pdu, RequestError> {
        let Some(permit) = self.inner.permit().await else {
            return Err(RequestError::NotSent(CLOSED.into()));
        };
        if let Some(pace) = pace {
            pace.ready().await;
        }
        Ok(self.inner.send(body, Some(permit)).await?)
    }

    /// Answers a request of the peer under its sequence number. False when the session is
    /// gone.
    pub fn respond(&self, response: Pdu) -> bool {
        self.inner.respond(response)
    }

    /// Unbinds gracefully: outstanding requests finish (or time out) first, then UNBIND is
    /// sent. Returns once the session has closed.
    pub async fn unbind(&self) {
        self.inner.close().await;
        self.inner.closed().await;
    }

    pub fn is_closed(&self) -> bool {
        self.inner.is_closed()
    }

    /// Free slots in the outbound window; 0 once closed.
    pub fn window_available(&self) -> usize {
        self.inner.window_available()
    }

    /// The Login Type the session was bound with.
    pub fn login_type(&self) -> LoginType {
        self.login_type
    }
}

/// The pieces of one session: the handle given to the application, the connection's end
/// of its channels, and the application's events.
pub(crate) struct SessionParts {
    pub handle: SessionHandle,
    pub link: driver::Link<Session>,
    pub events_rx: mpsc::Receiver<SessionEvent>,
}

/// The channels of a session with `window` slots per direction: room for a full window of
/// responses beside a full window of requests, and for a window of the peer's requests
/// beside late responses and the close.
pub(crate) fn session_parts(window: usize, login_type: LoginType) -> SessionParts {
    let window = window.max(1);
    let (inner, link, events_rx) = driver::channels(driver::Sizes {
        window,
        controls: window * 2 + 8,
        events: window + 17,
    });
    SessionParts {
        handle: SessionHandle { inner, login_type },
        link,
        events_rx,
    }
}
