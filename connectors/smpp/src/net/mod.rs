//! The SMPP connector on tokio: the connection task, the server (customers bind to us) and
//! the client (we bind to an operator SMSC).

mod client;
mod conn;
mod server;

use std::sync::Arc;

use rusmpp::{Command, CommandId, Pdu};
use tokio::sync::{mpsc, oneshot, OwnedSemaphorePermit, Semaphore};

pub use client::{BindMode, Client, ClientConfig, ClientEvent, LinkState};

pub use tern_transport::Gate;

pub use server::{serve, BindRequest, Handler, ServerConfig};

use crate::session::{CloseReason, SendError};

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
    /// The outcome is unknown: the peer may have acted on it. A response that still comes
    /// is a late response with this sequence number.
    #[error("no response within the response timeout (sequence {sequence})")]
    Timeout { sequence: u32 },
    /// The outcome is unknown if the request had been written.
    #[error("the session closed before the response arrived")]
    Closed,
}

pub(crate) enum Control {
    Respond(Command),
    Request {
        pdu: Pdu,
        reply: oneshot::Sender<Result<Command, RequestError>>,
        permit: Option<OwnedSemaphorePermit>,
    },
    Unbind,
}

/// The application's side of one bound session. Cheap to clone.
#[derive(Debug, Clone)]
pub struct SessionHandle {
    controls: mpsc::Sender<Control>,
    window: Arc<Semaphore>,
}

impl SessionHandle {
    pub(crate) fn new(controls: mpsc::Sender<Control>, window: usize) -> Self {
        Self {
            controls,
            window: Arc::new(Semaphore::new(window.max(1))),
        }
    }

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
        let permit = if crate::session::is_message_request(pdu.command_id()) {
            let permit = self.window.clone().acquire_owned().await;
            Some(permit.map_err(|_| RequestError::Closed)?)
        } else {
            None
        };
        if !still() {
            return Err(RequestError::NotSent(crate::session::SendError::Withdrawn));
        }
        let (reply, response) = oneshot::channel();
        self.controls
            .send(Control::Request { pdu, reply, permit })
            .await
            .map_err(|_| RequestError::Closed)?;
        response.await.map_err(|_| RequestError::Closed)?
    }

    /// Answers a request of the peer. Returns false when the session is gone.
    pub fn respond(&self, response: Command) -> bool {
        // The channel has room for a full inbound window of responses beside a full
        // outbound window of requests, so this only fails on a closed session.
        self.controls.try_send(Control::Respond(response)).is_ok()
    }

    /// Unbinds gracefully: outstanding requests finish first.
    pub async fn unbind(&self) {
        let _ = self.controls.send(Control::Unbind).await;
    }

    pub fn is_closed(&self) -> bool {
        self.controls.is_closed()
    }

    /// Free slots in the outbound window.
    pub fn window_available(&self) -> usize {
        self.window.available_permits()
    }
}

/// A channel pair sized so that neither a full inbound nor a full outbound window blocks.
pub(crate) fn control_channel(
    config: &crate::session::Config,
) -> (mpsc::Sender<Control>, mpsc::Receiver<Control>) {
    mpsc::channel(config.window_in + config.window_out + 8)
}

pub(crate) fn event_channel(
    config: &crate::session::Config,
) -> (mpsc::Sender<SessionEvent>, mpsc::Receiver<SessionEvent>) {
    mpsc::channel(config.window_in + 16)
}
