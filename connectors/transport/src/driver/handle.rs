//! The application's side of one session ([`Handle`]) and the connection task's side of
//! the same channels ([`Link`]).
//!
//! Every queue is bounded. A request first takes a [`Permit`] from the window (waiting for
//! one is the back-pressure towards the caller) and holds it until its response, timeout or
//! the close; responses fit in the control channel beside a full window of requests.

use std::fmt;
use std::sync::Arc;

use tokio::sync::{mpsc, oneshot, watch, OwnedSemaphorePermit, Semaphore};

use super::{Out, Session};

/// Why a request of ours got no response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure<E> {
    /// The session refused it (a full window, the wrong state); it was never written.
    Refused(E),
    /// The session had closed before it took the request; it was never written.
    Gone,
    /// No response within the response timeout: the peer may have acted on it.
    Timeout { sequence: u32 },
    /// The session closed after the request was taken: the outcome is unknown.
    Closed,
}

/// A slot of the outbound window, held until the request is answered.
#[derive(Debug)]
pub struct Permit {
    _slot: OwnedSemaphorePermit,
}

pub(crate) type Reply<S> =
    oneshot::Sender<Result<<S as Session>::Response, Failure<<S as Session>::SendError>>>;

/// What a handle asks of its connection task.
pub(crate) enum Control<S: Session> {
    Respond(Out<S>),
    Request {
        request: S::Request,
        reply: Reply<S>,
        permit: Option<Permit>,
    },
    Close,
}

/// State shared by a session's handles and its connection task.
#[derive(Debug)]
pub(crate) struct Shared {
    window: Arc<Semaphore>,
    closed: watch::Sender<bool>,
}

impl Shared {
    /// Marks the session closed: callers waiting for a window slot stop waiting.
    pub(crate) fn close(&self) {
        self.window.close();
        self.closed.send_replace(true);
    }
}

/// The capacities of a session's channels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sizes {
    /// Requests of ours outstanding at once.
    pub window: usize,
    /// Controls queued towards the connection: a full window of responses beside a full
    /// window of requests, so that answering never waits.
    pub controls: usize,
    /// Events queued towards the application.
    pub events: usize,
}

/// The application's side of one session. Cheap to clone; when every clone is dropped the
/// session closes gracefully.
pub struct Handle<S: Session> {
    controls: mpsc::Sender<Control<S>>,
    shared: Arc<Shared>,
}

impl<S: Session> Clone for Handle<S> {
    fn clone(&self) -> Self {
        Self {
            controls: self.controls.clone(),
            shared: self.shared.clone(),
        }
    }
}

impl<S: Session> fmt::Debug for Handle<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Handle")
            .field("closed", &self.is_closed())
            .field("window_available", &self.window_available())
            .finish()
    }
}

impl<S: Session> Handle<S> {
    /// Waits for a free slot in the window; `None` once the session is closed.
    pub async fn permit(&self) -> Option<Permit> {
        let permit = self.shared.window.clone().acquire_owned().await;
        permit.ok().map(|slot| Permit { _slot: slot })
    }

    /// Hands a request to the session and waits for its response. `permit`, if any, is
    /// held until then.
    pub async fn send(
        &self,
        request: S::Request,
        permit: Option<Permit>,
    ) -> Result<S::Response, Failure<S::SendError>> {
        let (reply, response) = oneshot::channel();
        let control = Control::Request {
            request,
            reply,
            permit,
        };
        if self.controls.send(control).await.is_err() {
            return Err(Failure::Gone);
        }
        // The connection answers every request it took; a dropped reply means it stopped
        // mid-way, after the request may have been written.
        response.await.unwrap_or(Err(Failure::Closed))
    }

    /// Answers a request of the peer. False when the session is gone.
    pub fn respond(&self, response: Out<S>) -> bool {
        // The channel has room for a full window of responses beside a full window of
        // requests, so this fails only on a closed session.
        self.controls.try_send(Control::Respond(response)).is_ok()
    }

    /// Asks for a graceful close: outstanding requests finish first.
    pub async fn close(&self) {
        let _ = self.controls.send(Control::Close).await;
    }

    /// Returns once the session has closed.
    pub async fn closed(&self) {
        let mut closed = self.shared.closed.subscribe();
        let _ = closed.wait_for(|closed| *closed).await;
    }

    pub fn is_closed(&self) -> bool {
        *self.shared.closed.borrow() || self.controls.is_closed()
    }

    /// Free slots in the window; 0 once closed.
    pub fn window_available(&self) -> usize {
        if self.is_closed() {
            return 0;
        }
        self.shared.window.available_permits()
    }
}

/// The connection task's side of a session's channels.
pub struct Link<S: Session> {
    pub(crate) controls: mpsc::Receiver<Control<S>>,
    pub(crate) events: mpsc::Sender<S::Notice>,
    pub(crate) shared: Arc<Shared>,
}

/// Builds the channels of one session: the handle for the application, the link for the
/// connection task, and the receiver of the application's events.
pub fn channels<S: Session>(sizes: Sizes) -> (Handle<S>, Link<S>, mpsc::Receiver<S::Notice>) {
    let (controls_tx, controls) = mpsc::channel(sizes.controls.max(1));
    let (events, events_rx) = mpsc::channel(sizes.events.max(1));
    let shared = Arc::new(Shared {
        window: Arc::new(Semaphore::new(sizes.window.max(1))),
        closed: watch::channel(false).0,
    });
    let handle = Handle {
        controls: controls_tx,
        shared: shared.clone(),
    };
    let link = Link {
        controls,
        events,
        shared,
    };
    (handle, link, events_rx)
}
