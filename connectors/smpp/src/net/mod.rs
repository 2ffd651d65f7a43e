//! The SMPP connector on tokio: the server (customers bind to us) and the client (we bind
//! to an operator SMSC), both on the connection driver of `tern_transport::driver`, which
//! runs the sans-IO [`crate::session::Session`] as `protocol` plugs it in.

mod client;
mod protocol;
mod server;

use rusmpp::{Command, CommandId, Pdu};
use tern_transport::driver;

pub use client::{BindMode, Client, ClientConfig, ClientEvent, LinkState};

pub use tern_transport::Gate;

pub use server::{serve, BindRequest, Handler, ServerConfig};

use crate::session::{CloseReason, SendError, Session};

/// What the application hears from a session.
#[derive(Debug)]
pub enum SessionEvent {
    /// A message request of the peer; answer it with [`SessionHandle::respond`].
    Request(Command),
    /// A response that came after its request had timed out: the peer did get the request.
    LateResponse {
        command_id: CommandId,
        command: Command,
    },
    /// The session ended; no further event follows.
    Closed { reason: CloseReason },
}

/// Why a request of ours got no response.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum RequestError {
    #[error("request not sent: {0}")]
    NotSent(SendError),
    /// No response within the session's `response_timeout`, so the outcome is unknown:
    /// the peer may have acted on it, and a response that still comes is a
    /// [`SessionEvent::LateResponse`] with this sequence number.
    #[error("no response within the response timeout (sequence {sequence})")]
    Timeout { sequence: u32 },
    /// The outcome is unknown if the request had been written.
    #[error("the session closed before the response arrived")]
    Closed,
}

/// The application's side of one bound session. Cheap to clone.
#[derive(Debug, Clone)]
pub struct SessionHandle(driver::Handle<Session>);

impl SessionHandle {
    /// Sends a request and waits for its response. Waits first for a free slot in the
    /// window: that wait is the back-pressure towards the caller.
    pub async fn request(&self, pdu: Pdu) -> Result<Command, RequestError> {
        self.request_if(pdu, || true).await
    }

    /// [`Self::request`], sent only if `still()` holds once the window has room: a caller
    /// whose right to send may lapse while it waits (a cluster node delivering under a
    /// lease) asks again at the last moment. Otherwise nothing is written and the answer
    /// is `NotSent(Withdrawn)`.
    pub async fn request_if(
        &self,
        pdu: Pdu,
        still: impl FnOnce() -> bool,
    ) -> Result<Command, RequestError> {
        // Session requests (enquire_link, unbind) take no slot of the window.
        let permit = match crate::session::is_message_request(pdu.command_id()) {
            true => Some(self.0.permit().await.ok_or(RequestError::Closed)?),
            false => None,
        };
        if !still() {
            return Err(RequestError::NotSent(SendError::Withdrawn));
        }
        Ok(self.0.send(pdu, permit).await?)
    }

    /// Answers a request of the peer. Returns false when the session is gone.
    pub fn respond(&self, response: Command) -> bool {
        self.0.respond(response)
    }

    /// Unbinds gracefully: outstanding requests finish first.
    pub async fn unbind(&self) {
        self.0.close().await;
    }

    pub fn is_closed(&self) -> bool {
        self.0.is_closed()
    }

    /// Free slots in the outbound window.
    pub fn window_available(&self) -> usize {
        self.0.window_available()
    }
}

/// The channels of one session, sized so that neither a full inbound nor a full outbound
/// window blocks: the handle, the connection's end, and the application's events.
pub(crate) fn channels(
    config: &crate::session::Config,
) -> (
    SessionHandle,
    driver::Link<Session>,
    tokio::sync::mpsc::Receiver<SessionEvent>,
) {
    let (handle, link, events) = driver::channels(driver::Sizes {
        window: config.window_out,
        controls: config.window_in + config.window_out + 8,
        events: config.window_in + 16,
    });
    (SessionHandle(handle), link, events)
}
