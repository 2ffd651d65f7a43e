//! The CMPP connector on tokio: the server (customers, as SPs, connect to us) and the
//! client (we connect to an operator's ISMG), over one connection task.
//!
//! Layers, each knowing only the one below: `handshake` exchanges CONNECT and
//! CONNECT_RESP on a fresh stream (authenticator, timestamp window, version); `session`
//! is the connected session as a state machine without I/O (windows, ACTIVE_TEST,
//! inactivity, response timers, TERMINATE); `conn` is the task that moves frames between
//! the socket and the session; `server` and `client` wire them to the application.
//!
//! The application holds a [`SessionHandle`] per session and reads [`SessionEvent`]s (or
//! [`ClientEvent`]s on a link). Every queue is bounded: our requests wait for a window slot
//! before they are queued, the peer's requests beyond the window are answered with result
//! 8 (flow control) instead of being queued, and responses fit beside a full window.

mod client;
mod conn;
mod handshake;
mod rules;
mod server;
mod session;
#[cfg(test)]
mod session_tests;
mod stats;

use std::sync::Arc;

use governor::DefaultDirectRateLimiter;
use tokio::sync::{mpsc, oneshot, watch, OwnedSemaphorePermit, Semaphore};

use crate::codec::{Body, Pdu, Version};

pub use client::{Client, ClientConfig, ClientEvent};
pub use handshake::AuthFailure;
pub use server::{serve, ConnectRequest, Handler, ServerConfig};

/// What the application hears from a session.
#[derive(Debug)]
pub enum SessionEvent {
    /// A SUBMIT, DELIVER, QUERY or CANCEL of the peer; answer it with
    /// [`SessionHandle::respond`] (the response carries the request's `sequence_id`).
    Request(Pdu),
    /// A response that came after its request had timed out: the peer did get the request.
    LateResponse(Pdu),
    /// The session ended; no further event follows.
    Closed { reason: CloseReason },
}

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

/// Why a request of ours got no response.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RequestError {
    /// Never written: safe to send again elsewhere.
    #[error("request not sent: {0}")]
    NotSent(String),
    /// The outcome is unknown: the peer may have acted on it. A response that still comes
    /// is a late response with this sequence number.
    #[error("no response within the response timeout (sequence {sequence})")]
    Timeout { sequence: u32 },
    /// The session closed after the request was written: the outcome is unknown.
    #[error("the session closed before the response arrived")]
    Closed,
}

type Reply = oneshot::Sender<Result<Pdu, RequestError>>;

/// What a handle asks of its connection task.
pub(crate) enum Control {
    Respond(Pdu),
    Request {
        body: Body,
        reply: Reply,
        permit: OwnedSemaphorePermit,
    },
    Terminate,
}

/// State shared by a session's handles and its connection task.
#[derive(Debug)]
struct Shared {
    window: Arc<Semaphore>,
    version: Version,
    /// True once the session has closed.
    closed: watch::Sender<bool>,
}

/// The application's side of one connected session. Cheap to clone; when every clone
/// is dropped the session terminates.
#[derive(Debug, Clone)]
pub struct SessionHandle {
    controls: mpsc::Sender<Control>,
    shared: Arc<Shared>,
}

impl SessionHandle {
    /// Sends a request (SUBMIT, DELIVER, QUERY or CANCEL; the session assigns the
    /// Sequence_Id) once a window slot is free, and waits for its response. The wait for a
    /// slot is the back-pressure towards the caller.
    pub async fn request(&self, body: Body) -> Result<Pdu, RequestError> {
        self.request_limited(body, None).await
    }

    /// As [`SessionHandle::request`], waiting for `limiter` after the window slot, so that
    /// the rate is kept on the wire and not only at the caller.
    pub(crate) async fn request_limited(
        &self,
        body: Body,
        limiter: Option<&DefaultDirectRateLimiter>,
    ) -> Result<Pdu, RequestError> {
        let command = body.command_id();
        if !rules::is_application_request(command) {
            return Err(RequestError::NotSent(format!(
                "{command:?} is not a request the application sends"
            )));
        }
        let Ok(permit) = self.shared.window.clone().acquire_owned().await else {
            return Err(RequestError::NotSent("the session is closed".into()));
        };
        if let Some(limiter) = limiter {
            limiter.until_ready().await;
        }
        let (reply, response) = oneshot::channel();
        let control = Control::Request {
            body,
            reply,
            permit,
        };
        if self.controls.send(control).await.is_err() {
            return Err(RequestError::NotSent("the session is closed".into()));
        }
        // The connection answers every request it took; a dropped reply means it stopped
        // mid-way, after the request may have been written.
        response.await.unwrap_or(Err(RequestError::Closed))
    }

    /// Answers a request of the peer; the response carries the request's `sequence_id`.
    /// False when the session is gone.
    pub fn respond(&self, response: Pdu) -> bool {
        // The channel has room for a full window of responses beside a full window of
        // requests, so this fails only on a closed session.
        self.controls.try_send(Control::Respond(response)).is_ok()
    }

    /// Terminates gracefully: outstanding requests finish (or time out) first, then
    /// TERMINATE is sent. Returns once the session has closed.
    pub async fn terminate(&self) {
        let _ = self.controls.send(Control::Terminate).await;
        let mut closed = self.shared.closed.subscribe();
        let _ = closed.wait_for(|closed| *closed).await;
    }

    pub fn is_closed(&self) -> bool {
        *self.shared.closed.borrow()
    }

    /// Free slots in the outbound window; 0 once closed.
    pub fn window_available(&self) -> usize {
        if self.is_closed() {
            return 0;
        }
        self.shared.window.available_permits()
    }

    /// The version negotiated by CONNECT.
    pub fn version(&self) -> Version {
        self.shared.version
    }
}

/// The pieces of one session: the handle given to the application, and what the
/// connection task keeps.
pub(crate) struct SessionParts {
    pub handle: SessionHandle,
    pub controls: mpsc::Receiver<Control>,
    pub shared: SessionShared,
    pub events_tx: mpsc::Sender<SessionEvent>,
    pub events_rx: mpsc::Receiver<SessionEvent>,
}

/// The connection task's view of the shared state.
#[derive(Debug)]
pub(crate) struct SessionShared(Arc<Shared>);

impl SessionShared {
    /// Marks the session closed: waiting requests stop waiting for a slot.
    pub fn close(&self) {
        self.0.window.close();
        self.0.closed.send_replace(true);
    }
}

/// Builds the channels of a session with `window` slots per direction. The control
/// channel holds a full window of responses beside a full window of requests; the event
/// channel a full window of requests beside some late responses and the close.
pub(crate) fn session_parts(window: usize, version: Version) -> SessionParts {
    let window = window.max(1);
    let (controls_tx, controls) = mpsc::channel(window * 2 + 8);
    let (events_tx, events_rx) = mpsc::channel(window + 17);
    let shared = Arc::new(Shared {
        window: Arc::new(Semaphore::new(window)),
        version,
        closed: watch::channel(false).0,
    });
    SessionParts {
        handle: SessionHandle {
            controls: controls_tx,
            shared: shared.clone(),
        },
        controls,
        shared: SessionShared(shared),
        events_tx,
        events_rx,
    }
}
