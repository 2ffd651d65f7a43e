//! The connection layer that SMGP 3.0 and CNGP 2.0 share, generic over a [`Protocol`]:
//! their common commands and the ids they number alike ([`Command`]), the Login exchange
//! (`handshake`), the server (`server`), the reconnecting client (`client`), the session
//! `tern_cn::session` runs plugged into the connection driver of `tern_transport::driver`
//! (`conn`), and the metrics (`stats`). The two protocols have the same commands, the
//! same Login proof and the same statuses for a busy peer; a protocol supplies its codec
//! and the few PDUs that differ (where a status travels, which fields a Login carries).
//! Written here because no maintained crate speaks either protocol; it lives in
//! `tern-smgp` since `tern-cn` keeps to what all four protocols share, and `tern-cngp`
//! uses it from here.
//!
//! Every queue is bounded: our requests wait for a window slot before they are queued, the
//! peer's requests beyond the window are answered with the busy status instead of being
//! queued, and responses fit beside a full window.

#[cfg(feature = "gateway")]
pub mod carrier;
mod client;
mod command;
mod conn;
#[cfg(feature = "gateway")]
pub mod customer;
mod handshake;
mod server;
mod stats;

use std::fmt;

use tern_cn::driver::Driven;
use tern_cn::session::{Counter, Garbled, SendError, Wire};
use tern_transport::driver::{self, client::Pace};
use tokio::sync::mpsc;

pub use client::{Client, ClientConfig, ClientEvent};
pub use command::Command;
pub use conn::{unencodable_response, Session};
pub use server::{serve, Handler, LoginRequest, ServerConfig, DEFAULT_MAX_PDU_BYTES};
pub use stats::Names;
pub use tern_cn::login::AuthFailure;
pub use tern_cn::session::CloseReason;

/// What the Login PDU of either protocol carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoginFields {
    pub client_id: String,
    pub authenticator_client: [u8; 16],
    pub login_mode: u8,
    /// MMDDHHMMSS as a decimal number.
    pub timestamp: u32,
    pub version: u8,
}

/// What a Login_Resp of either protocol says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LoginAnswer {
    pub status: u32,
    pub authenticator_server: [u8; 16],
    pub version: u8,
}

/// A protocol this layer runs: its names, statuses and Login PDUs, beside its codec and
/// notices for the driver ([`Driven`]).
pub trait Protocol:
    Wire<
        Command = Command,
        Sequence = u32,
        Status = u32,
        Side = Counter,
        SendError = SendError,
        CloseReason = CloseReason,
    > + Driven<
        Codec: driver::Codec<Malformed = Garbled<Self>>,
        Notice = SessionEvent<<Self as Wire>::Pdu>,
    > + fmt::Debug
    + Clone
    + Default
    + Send
    + Sync
    + 'static
{
    /// "smgp" or "cngp": span fields and logs.
    const NAME: &'static str;
    /// The metric names, `tern_<protocol>_<what>_<unit>`.
    const NAMES: Names;
    /// The version we speak; a Login asking for more is refused.
    const VERSION: u8;
    // The statuses SMGP 3.0 and CNGP 2.0 number alike.
    const OK: u32 = 0;
    /// Login: a wrong authenticator or a stale timestamp.
    const AUTH_FAILED: u32 = 21;
    const VERSION_TOO_HIGH: u32 = 22;
    /// A body that does not have its command's layout.
    const BAD_STRUCTURE: u32 = 10;

    fn codec(max_pdu_bytes: usize) -> Self::Codec;
    /// The response to a request known only by its command and sequence id.
    fn error_response(command: Command, sequence: u32, status: u32) -> Option<Self::Pdu>;
    fn login(sequence: u32, login: &LoginFields) -> Self::Pdu;
    /// The Login in `pdu`, if it is one.
    fn login_fields(pdu: &Self::Pdu) -> Option<LoginFields>;
    fn login_resp(sequence: u32, answer: LoginAnswer) -> Self::Pdu;
    /// The Login_Resp in `pdu`, if it is one.
    fn login_answer(pdu: &Self::Pdu) -> Option<LoginAnswer>;
    /// Whether an accepting answer proves the server knows `secret`.
    fn server_knows_secret(
        answer: &LoginAnswer,
        authenticator_client: &[u8; 16],
        secret: &[u8],
    ) -> bool {
        let expected =
            tern_cn::auth::authenticator_server(answer.status, authenticator_client, secret);
        tern_cn::auth::same_authenticator(&expected, &answer.authenticator_server)
    }
}

/// The items of `tern_cn::session::Wire` that SMGP and CNGP have alike, for the body of
/// their `impl Wire` blocks: the shared [`Command`]s and their kinds, 32-bit sequence ids
/// numbered by a `Counter`, the statuses 1 (system busy) and 12 (repeated sequence id),
/// and Submit and Deliver as the requests the application may send.
#[macro_export]
macro_rules! link_wire_items {
    () => {
        type Command = $crate::link::Command;
        type Sequence = u32;
        type Status = u32;
        type Side = ::tern_cn::session::Counter;
        type SendError = ::tern_cn::session::SendError;
        type CloseReason = $crate::link::CloseReason;

        const ACCEPTED: u32 = 0;
        const BUSY: u32 = 1;
        const DUPLICATE_SEQUENCE: u32 = 12;

        fn key(sequence: &u32) -> u32 {
            *sequence
        }

        fn kind(command: $crate::link::Command) -> ::tern_cn::session::Kind {
            command.kind()
        }

        fn next_sequence(side: &mut ::tern_cn::session::Counter) -> u32 {
            side.issue()
        }

        fn sendable(
            _side: &::tern_cn::session::Counter,
            body: &Self::Body,
        ) -> Result<$crate::link::Command, ::tern_cn::session::SendError> {
            <Self as ::tern_cn::session::Wire>::body_command(body)
                .filter(|command| command.is_application_request())
                .ok_or(::tern_cn::session::SendError::NotARequest)
        }
    };
}

/// Implements `tern_cn::driver::Driven` for a protocol of this layer, whose codec hands
/// malformed frames over as the session takes them: its notices are [`SessionEvent`]s,
/// its PDUs are labelled by [`command_name`], and a response that does not encode is
/// replaced by [`unencodable_response`].
#[macro_export]
macro_rules! link_driven {
    ($protocol:ty, $codec:ty, $pdu:ty) => {
        impl ::tern_cn::driver::Driven for $protocol {
            type Codec = $codec;
            type Notice = $crate::link::SessionEvent<$pdu>;

            fn name(pdu: &$pdu) -> &'static str {
                $crate::link::command_name::<Self>(pdu)
            }

            fn malformed(
                frame: ::tern_cn::session::Garbled<Self>,
            ) -> Result<::tern_cn::session::Garbled<Self>, $crate::link::CloseReason> {
                Ok(frame)
            }

            fn unencodable_response(response: &$pdu) -> Option<$pdu> {
                $crate::link::unencodable_response::<Self>(response)
            }
        }
    };
}

/// Declares a protocol's instances of this layer in the module it is invoked in, named as
/// CMPP's are so that the node registers every protocol alike: `SessionHandle`,
/// `SessionEvent`, `Client`, `ClientConfig`, `ClientEvent` and `serve`.
#[macro_export]
macro_rules! link_api {
    ($protocol:ty, $pdu:ty, $name:literal) => {
        #[doc = concat!("The application's side of one ", $name, " session.")]
        pub type SessionHandle = $crate::link::SessionHandle<$protocol>;
        #[doc = concat!("What the application hears from a ", $name, " session.")]
        pub type SessionEvent = $crate::link::SessionEvent<$pdu>;
        #[doc = concat!("A link to an operator's ", $name, " gateway.")]
        pub type Client = $crate::link::Client<$protocol>;
        #[doc = concat!("One ", $name, " link's settings: `ClientConfig::new(name, host, port)`.")]
        pub type ClientConfig = $crate::link::ClientConfig<$protocol>;
        #[doc = concat!("What a ", $name, " link reports to its owner.")]
        pub type ClientEvent = $crate::link::ClientEvent<$protocol>;

        #[doc = concat!("Accepts ", $name, " connections until `shutdown`; each runs on `tracker`, so")]
        /// the caller can wait for every session to exit.
        pub async fn serve<H: $crate::link::Handler<$protocol>>(
            listener: ::tokio::net::TcpListener,
            config: ::std::sync::Arc<$crate::link::ServerConfig>,
            handler: ::std::sync::Arc<H>,
            shutdown: ::tokio_util::sync::CancellationToken,
            tracker: ::tokio_util::task::TaskTracker,
        ) {
            $crate::link::serve::<$protocol, H>(listener, config, handler, shutdown, tracker).await;
        }
    };
}

/// The metric label of a PDU.
pub fn command_name<P: Protocol>(pdu: &P::Pdu) -> &'static str {
    P::command(pdu).map_or("unknown", |(command, response)| command.name(response))
}

use tern_cn::driver::CLOSED;
pub use tern_cn::driver::{RequestError, SessionEvent};
/// Why a request sent with [`SessionHandle::request_if`] was not written.
pub const WITHDRAWN: &str = "withdrawn: no longer ours to send";

/// The application's side of one logged-in session. Cheap to clone; when every clone is
/// dropped the session exits.
pub struct SessionHandle<P: Protocol> {
    inner: driver::Handle<Session<P>>,
    version: u8,
}

impl<P: Protocol> Clone for SessionHandle<P> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
            version: self.version,
        }
    }
}

impl<P: Protocol> fmt::Debug for SessionHandle<P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SessionHandle")
            .field("protocol", &P::NAME)
            .field("inner", &self.inner)
            .field("version", &self.version)
            .finish()
    }
}

impl<P: Protocol> SessionHandle<P> {
    /// Sends a Submit or Deliver (the session assigns the sequence id) once a window slot
    /// is free, and waits for its response. The wait for a slot is the back-pressure
    /// towards the caller.
    pub async fn request(&self, body: P::Body) -> Result<P::Pdu, RequestError> {
        self.request_paced(body, None, || true).await
    }

    /// [`SessionHandle::request`], sent only if `still()` holds once the window has room: a
    /// caller whose right to send may lapse while it waits (a cluster node delivering under
    /// a lease) asks again at the last moment. Otherwise nothing is written and the answer
    /// is `NotSent`.
    pub async fn request_if(
        &self,
        body: P::Body,
        still: impl FnOnce() -> bool,
    ) -> Result<P::Pdu, RequestError> {
        self.request_paced(body, None, still).await
    }

    /// As [`SessionHandle::request`], waiting for `pace` after the window slot, so that
    /// the rate is kept on the wire and not only at the caller.
    pub(crate) async fn request_paced(
        &self,
        body: P::Body,
        pace: Option<&Pace>,
        still: impl FnOnce() -> bool,
    ) -> Result<P::Pdu, RequestError> {
        if !P::body_command(&body).is_some_and(Command::is_application_request) {
            return Err(RequestError::NotSent(format!(
                "{body:?} is not a request the application sends"
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

    /// Answers a request of the peer; the response carries the request's sequence id.
    /// False when the session is gone.
    pub fn respond(&self, response: P::Pdu) -> bool {
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

    /// The version octet the Login carried.
    pub fn version(&self) -> u8 {
        self.version
    }
}

/// The pieces of one session: the handle given to the application, the connection's end
/// of its channels, and the application's events.
pub(crate) struct SessionParts<P: Protocol> {
    pub handle: SessionHandle<P>,
    pub link: driver::Link<Session<P>>,
    pub events_rx: mpsc::Receiver<SessionEvent<P::Pdu>>,
}

/// Builds the channels of a session with `window` slots per direction. The control
/// channel holds a full window of responses beside a full window of requests; the event
/// channel a full window of requests beside some late responses and the close.
pub(crate) fn session_parts<P: Protocol>(window: usize, version: u8) -> SessionParts<P> {
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
