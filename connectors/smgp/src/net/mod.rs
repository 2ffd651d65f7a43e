//! The SMGP 3.0 connector on tokio: the server (SPs, our customers, log in to us) and the
//! client (we log in to an operator's SMGW), over the connection driver of
//! `tern_transport::driver`. Written here because no maintained crate speaks SMGP.
//!
//! Layers, each knowing only the one below: `handshake` exchanges Login and Login_Resp on
//! a fresh stream (ClientID, AuthenticatorClient, LoginMode, timestamp window, version);
//! the session is `tern_cn::session`, the state machine SMGP shares with CNGP (windows,
//! Active_Test, inactivity, response timers, Exit); `protocol` plugs codec and session
//! into the driver; `server` and `client` wire them to the application.
//!
//! The application holds a [`SessionHandle`] per session and reads [`SessionEvent`]s (or
//! [`ClientEvent`]s on a link). Every queue is bounded: our requests wait for a window slot
//! before they are queued, the peer's requests beyond the window are answered with status
//! 1 (system busy; SMGP has no flow-control status) instead of being queued, and responses
//! fit beside a full window.

mod client;
mod handshake;
mod protocol;
mod server;
mod stats;

use tern_transport::driver::{self, client::Pace};
use tokio::sync::mpsc;

use crate::codec::{Body, Pdu};
use protocol::Session;

pub use client::{Client, ClientConfig, ClientEvent};
pub use server::{serve, Handler, LoginRequest, ServerConfig};
pub use tern_cn::login::AuthFailure;
pub use tern_cn::session::CloseReason;

/// What the application hears from a session.
#[derive(Debug)]
pub enum SessionEvent {
    /// A Submit or Deliver of the peer; answer it with [`SessionHandle::respond`] (the
    /// response carries the request's `sequence_id`).
    Request(Pdu),
    /// A response that came after its request had timed out: the peer did get the request.
    LateResponse(Pdu),
    /// The session ended; no further event follows.
    Closed { reason: CloseReason },
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

pub(crate) const CLOSED: &str = "the session is closed";

/// The application's side of one logged-in session. Cheap to clone; when every clone is
/// dropped the session exits.
#[derive(Debug, Clone)]
pub struct SessionHandle {
    inner: driver::Handle<Session>,
    version: u8,
}

impl SessionHandle {
    /// Sends a Submit or Deliver (the session assigns the SequenceID) once a window slot
    /// is free, and waits for its response. The wait for a slot is the back-pressure
    /// towards the caller.
    pub async fn request(&self, body: Body) -> Result<Pdu, RequestError> {
        self.request_paced(body, None).await
    }

    /// As [`SessionHandle::request`], waiting for `pace` after the window slot, so that
    /// the rate is kept on the wire and not only at the caller.
    pub(crate) async fn request_paced(
        &self,
        body: Body,
        pace: Option<&Pace>,
    ) -> Result<Pdu, RequestError> {
        if !matches!(body, Body::Submit(_) | Body::Deliver(_)) {
            return Err(RequestError::NotSent(format!(
                "{:?} is not a request the application sends",
                body.request_id()
            )));
        }
        let Some(permit) = self.inner.permit().await else {
            return Err(RequestError::NotSent(CLOSED.into()));
        };
        if let Some(pace) = pace {
            pace.ready().await;
        }
        Ok(self.inner.send(body, Some(permit)).await?)
    }

    /// Answers a request of the peer; the response carries the request's `sequence_id`.
    /// False when the session is gone.
    pub fn respond(&self, response: Pdu) -> bool {
        self.inner.respond(response)
    }

    /// Exits gracefully: outstanding requests finish (or time out) first, then Exit is
    /// sent. Returns once the session has closed.
    pub async fn exit(&self) {
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

    /// The version octet Login settled (the client's).
    pub fn version(&self) -> u8 {
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
pub(crate) fn session_parts(window: usize, version: u8) -> SessionParts {
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
