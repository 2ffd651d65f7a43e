//! The CMPP connector on tokio: the server (customers, as SPs, connect to us) and the
//! client (we connect to an operator's ISMG), over one connection task.
//!
//! Layers, each knowing only the one below: `handshake` exchanges CONNECT and
//! CONNECT_RESP on a fresh stream (authenticator, timestamp window, version); `session`
//! runs CMPP on the state machine without I/O that `tern_cn::session` shares among the
//! Chinese operators' protocols (windows, ACTIVE_TEST, inactivity, response timers,
//! TERMINATE); `protocol` plugs codec and session into the
//! connection driver of `tern_transport::driver`, which moves frames between the socket
//! and the session; `server` and `client` wire them to the application.
//!
//! The application holds a [`SessionHandle`] per session and reads [`SessionEvent`]s (or
//! [`ClientEvent`]s on a link). Every queue is bounded: our requests wait for a window slot
//! before they are queued, the peer's requests beyond the window are answered with result
//! 8 (flow control) instead of being queued, and responses fit beside a full window.

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

use crate::codec::{Body, Pdu, Version};
use session::Session;

pub use client::{Client, ClientConfig, ClientEvent};
pub use handshake::AuthFailure;
pub use server::{serve, ConnectRequest, Handler, ServerConfig};

/// What the application hears from a session: a SUBMIT, DELIVER, QUERY or CANCEL of the
/// peer (answer it with [`SessionHandle::respond`], under the request's `sequence_id`), a
/// late response, or the end.
pub type SessionEvent = tern_cn::driver::SessionEvent<Pdu, CloseReason>;

pub use tern_cn::driver::RequestError;
use tern_cn::driver::CLOSED;

/// Why a session ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CloseReason {
    /// The peer sent TERMINATE.
    Terminated,
    /// We terminated it ([`SessionHandle::terminate`], or every handle was dropped).
    ByUs,
    /// Nothing arrived for the inactivity timeout, ACTIVE_TEST included.
    Inactivity,
    /// The peer closed the connection without TERMINATE.
    PeerClosed,
    /// The connection failed (reset, a write error, a connect or CONNECT timeout).
    Io(String),
    /// The peer sent something that ends the session (bad framing, an unknown command).
    Protocol(String),
    /// We are shutting down.
    Shutdown,
    /// Client: the gateway answered CONNECT with this non-zero status (2 bad source
    /// address, 3 authentication, 4 version too high, 5+ other).
    ConnectRefused(u32),
}

/// Why a [`SessionHandle::request_if`] was not sent: its condition no longer held.
pub const WITHDRAWN: &str = "withdrawn: the condition to send no longer held";

/// The application's side of one connected session. Cheap to clone; when every clone
/// is dropped the session terminates.
#[derive(Debug, Clone)]
pub struct SessionHandle {
    inner: driver::Handle<Session>,
    version: Version,
}

impl SessionHandle {
    /// Sends a request (SUBMIT, DELIVER, QUERY or CANCEL; the session assigns the
    /// Sequence_Id) once a window slot is free, and waits for its response. The wait for a
    /// slot is the back-pressure towards the caller.
    pub async fn request(&self, body: Body) -> Result<Pdu, RequestError> {
        self.request_paced(body, None, || true).await
    }

    /// [`SessionHandle::request`], sent only if `still()` holds once the window has room: a
    /// caller whose right to send may lapse while it waits (a cluster node delivering under
    /// a lease) asks again at the last moment. Otherwise nothing is written and the answer
    /// is `NotSent` ([`WITHDRAWN`]).
    pub async fn request_if(
        &self,
        body: Body,
        still: impl FnOnce() -> bool,
    ) -> Result<Pdu, RequestError> {
        self.request_paced(body, None, still).await
    }

    /// As [`SessionHandle::request`], waiting for `pace` after the window slot, so that
    /// the rate is kept on the wire and not only at the caller.
    pub(crate) async fn request_paced(
        &self,
        body: Body,
        pace: Option<&Pace>,
        still: impl FnOnce() -> bool,
    ) -> Result<Pdu, RequestError> {
        let command = body.command_id();
        if !rules::is_application_request(command) {
            return Err(RequestError::NotSent(format!(
                "{command:?} is not a request the application sends"
            )));
        }
        let Some(permit) = self.inner.permit().await else {
            return Err(RequestError::NotSent(CLOSED.into()));
        };
        if let Some(pace) = pace {
            pace.ready().await;
        }
        if !still() {
            return Err(RequestError::NotSent(WITHDRAWN.into()));
        }
        Ok(self.inner.send(body, Some(permit)).await?)
    }

    /// Answers a request of the peer; the response carries the request's `sequence_id`.
    /// False when the session is gone.
    pub fn respond(&self, response: Pdu) -> bool {
        self.inner.respond(response)
    }

    /// Terminates gracefully: outstanding requests finish (or time out) first, then
    /// TERMINATE is sent. Returns once the session has closed.
    pub async fn terminate(&self) {
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

    /// The version negotiated by CONNECT.
    pub fn version(&self) -> Version {
        self.version
    }
}

/// The pieces of one session: the handle given to the application, the connection's end
/// of its channels, and the application's events.
pub(crate) struct SessionParts {
    pub handle: SessionHandle,
    pub link: driver::Link<Session>,
    pub events_rx: mpsc::Receiver<SessionEvent>,
}

/// Builds the channels of a session with `window` slots per direction. The control
/// channel holds a full window of responses beside a full window of requests; the event
/// channel a full window of requests beside some late responses and the close.
pub(crate) fn session_parts(window: usize, version: Version) -> SessionParts {
    let window = window.max(1);
    let (inner, link, events_rx) = driver::channels(driver::Sizes {
        window,
        controls: window * 2 + 8,
        events: window + 17,
    });
    SessionParts {
        handle: SessionHandle { inner, version },
        link,
        events_rx,
    }
}
