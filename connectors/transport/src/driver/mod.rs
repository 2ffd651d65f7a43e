//! One connection driver for every wire protocol: the task that moves frames between a
//! byte stream and a sans-IO session ([`conn`]), the application's handle on it
//! ([`handle`]), a client that reconnects with backoff ([`client`]), an accept loop with a
//! connection limit and a handshake timeout ([`server`]), and reads and writes for the
//! exchanges that come before a session exists ([`handshake`]).
//!
//! A protocol supplies three things: a [`Codec`] (frames with a maximum length, PDUs to
//! octets), a [`Session`] (the state machine: windows, timers, keepalive, close), and for
//! the steps the driver does not know (a bind answered by the application) a [`Side`]. It
//! names its metrics through a [`Telemetry`] that hears typed [`Note`]s. The driver knows no
//! protocol: it never looks inside a PDU.

pub mod client;
pub mod conn;
pub mod handle;
pub mod handshake;
pub mod server;
#[cfg(test)]
mod tests;

use std::convert::Infallible;
use std::fmt;
use std::future::Future;
use std::time::{Duration, Instant};

use bytes::BytesMut;

pub use conn::{Conn, Limits};
pub use handle::{channels, Failure, Handle, Link, Permit, Sizes};

/// One frame split off the read buffer.
#[derive(Debug)]
pub enum Frame<P, M> {
    /// A whole, well-formed PDU.
    Pdu(P),
    /// A whole frame whose body did not decode; the stream can still be framed.
    Malformed(M),
}

/// Octets to PDUs and back. A decoder checks a frame's length against its maximum before it
/// reserves memory for it, so a peer announcing four gigabytes costs nothing.
pub trait Codec: Send + 'static {
    /// A PDU from the peer.
    type In: Send + 'static;
    /// A PDU to the peer.
    type Out: Send + 'static;
    /// What the session needs to answer a frame whose body did not decode.
    type Malformed: Send + 'static;
    /// The stream cannot be framed any more (a length out of bounds): the session ends.
    type FrameError: fmt::Display + Send + 'static;
    /// A PDU that does not fit the wire (a field too long for the negotiated version).
    type EncodeError: fmt::Display + Send + 'static;

    /// Splits one frame off `buf`; `Ok(None)` while the frame is incomplete.
    fn decode(&mut self, buf: &mut BytesMut) -> Decoded<Self>;

    /// Appends `pdu` to `buf`, or leaves `buf` as it was.
    fn encode(&mut self, pdu: &Self::Out, buf: &mut BytesMut) -> Result<(), Self::EncodeError>;
}

/// What [`Codec::decode`] gives: a frame, nothing yet, or a stream that cannot be framed.
pub type Decoded<C> =
    Result<Option<Frame<<C as Codec>::In, <C as Codec>::Malformed>>, <C as Codec>::FrameError>;

/// A PDU from the peer, of session `S`.
pub type In<S> = <<S as Session>::Codec as Codec>::In;
/// A PDU to the peer, of session `S`.
pub type Out<S> = <<S as Session>::Codec as Codec>::Out;
/// A frame of session `S` whose body did not decode.
pub type Malformed<S> = <<S as Session>::Codec as Codec>::Malformed;
/// Why the stream of session `S` cannot be framed.
pub type FrameError<S> = <<S as Session>::Codec as Codec>::FrameError;
/// Why a PDU of session `S` did not encode.
pub type EncodeError<S> = <<S as Session>::Codec as Codec>::EncodeError;

/// A request of ours on the wire, as the session reports it with its response or timeout.
pub trait Sent: Send + 'static {
    /// The sequence number the request went out with.
    fn sequence(&self) -> u32;
    /// When it was queued.
    fn sent_at(&self) -> Instant;
}

/// Why the driver ends a session at once: facts of the connection the session maps to
/// its own close reasons.
#[derive(Debug)]
pub enum Abort {
    /// The peer closed its side of the connection.
    PeerClosed,
    /// Reading failed.
    ReadFailed(std::io::Error),
    /// Writing failed.
    WriteFailed(std::io::Error),
    /// The [`crate::Gate`] closed: nothing more may leave.
    GateClosed,
    /// A frame stayed half-received for [`Session::frame_timeout`].
    PartialFrame,
}

/// Why the driver asks a session to close gracefully (finish what is outstanding, then
/// say goodbye in the protocol's way).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Drain {
    /// The application asked ([`Handle::close`]).
    Asked,
    /// Every handle was dropped: nobody can answer or send on the session any more.
    HandlesGone,
    /// The process is shutting down.
    Shutdown,
}

/// What to do with a PDU that did not encode.
#[derive(Debug)]
pub enum Unencodable<O, E> {
    /// Write this instead (a response replaced by an error response of its request).
    Replace(O),
    /// A request of ours that was never written: its caller hears this error.
    Fail { sequence: u32, error: E },
    /// Nothing more to do.
    Drop,
}

/// What the driver does with an event for the application when the application's queue
/// has no room for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delivery {
    /// Wait for room: the connection stops until the application reads.
    Wait,
    /// Wait at most this long, then drop the event.
    WaitAtMost(Duration),
    /// Deliver only while more than `reserve` slots stay free, else drop it (noted as
    /// [`Note::Dropped`]): the room kept is for requests of the peer.
    KeepRoom { reserve: usize },
    /// Hand it back to the session ([`Session::undelivered`]), which answers the peer.
    OrRefuse,
}

/// What a session tells the driver.
pub enum Event<S: Session + ?Sized> {
    /// Something for the application.
    Deliver(S::Notice, Delivery),
    /// The response to a request of ours.
    Response {
        request: S::Sent,
        response: S::Response,
    },
    /// A request of ours got no response in time: its outcome is unknown.
    ResponseTimeout(S::Sent),
    /// A step only the protocol's [`Side`] handles (a bind to authenticate).
    Custom(S::Custom),
    /// The session ended; `notice` tells the application. Nothing follows.
    Closed {
        reason: S::CloseReason,
        notice: S::Notice,
        delivery: Delivery,
    },
}

/// A protocol session as a state machine without I/O, driven by explicit time: the
/// driver feeds it what arrives, writes what it transmits, hands its events on, and calls
/// `handle_timeout` when `poll_timeout` is due.
pub trait Session: Send + 'static {
    type Codec: Codec;
    /// A request the application sends (the session assigns its sequence number).
    type Request: Send + 'static;
    /// What answers a request of ours.
    type Response: Send + 'static;
    /// A request of ours on the wire.
    type Sent: Sent;
    /// Why a request could not be sent.
    type SendError: Send + 'static;
    type CloseReason: Clone + fmt::Debug + Send + 'static;
    /// What the application hears (requests of the peer, late responses, the close).
    type Notice: Send + 'static;
    /// Steps for the protocol's [`Side`]; [`Infallible`] when there are none.
    type Custom: Send + 'static;

    fn handle_pdu(&mut self, now: Instant, pdu: In<Self>);
    /// A frame whose body did not decode: answer it if it was a request.
    fn handle_malformed(&mut self, now: Instant, frame: Malformed<Self>);
    /// The stream cannot be framed any more: the session must close.
    fn handle_frame_error(&mut self, now: Instant, error: &FrameError<Self>);
    /// A PDU from `poll_transmit` did not encode.
    fn handle_unencodable(
        &mut self,
        now: Instant,
        pdu: Out<Self>,
        error: EncodeError<Self>,
    ) -> Unencodable<Out<Self>, Self::SendError>;
    /// Queues a request; returns its sequence number. A full window is an error.
    fn send_request(
        &mut self,
        now: Instant,
        request: Self::Request,
    ) -> Result<u32, Self::SendError>;
    /// Answers a request of the peer; false when no request waits for this answer.
    fn respond(&mut self, now: Instant, response: Out<Self>) -> bool;
    /// A notice delivered with [`Delivery::OrRefuse`] found no room.
    fn undelivered(&mut self, now: Instant, notice: Self::Notice);
    /// Starts a graceful close.
    fn drain(&mut self, now: Instant, why: Drain);
    /// Ends the session at once.
    fn abort(&mut self, why: Abort);
    fn poll_transmit(&mut self) -> Option<Out<Self>>;
    fn poll_event(&mut self) -> Option<Event<Self>>;
    fn poll_timeout(&self) -> Option<Instant>;
    fn handle_timeout(&mut self, now: Instant);
    fn is_closed(&self) -> bool;
    /// How long a frame may stay half-received.
    fn frame_timeout(&self) -> Duration;
}

/// The protocol's answer to [`Event::Custom`]: the steps of a session the driver cannot
/// take alone, such as asking the application whether a bind may proceed.
pub trait Side<S: Session>: Send {
    fn handle(&mut self, session: &mut S, event: S::Custom) -> impl Future<Output = ()> + Send;
}

/// The [`Side`] of a session without custom steps.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoSide;

impl<S: Session<Custom = Infallible>> Side<S> for NoSide {
    async fn handle(&mut self, _session: &mut S, event: Infallible) {
        match event {}
    }
}

/// Something a connection did that a protocol counts.
pub enum Note<'a, S: Session> {
    /// The connection task started.
    Opened,
    Sent(&'a Out<S>),
    Received(&'a In<S>),
    Malformed(&'a Malformed<S>),
    Unframeable(&'a FrameError<S>),
    /// A PDU that did not encode (see [`Session::handle_unencodable`]).
    Unencodable(&'a Out<S>),
    /// The gate closed with octets waiting: they were dropped, the session aborted.
    GateClosed,
    PartialFrameTimeout,
    /// A request of ours was answered.
    Answered(&'a S::Sent),
    TimedOut(&'a S::Sent),
    /// An event for the application found no room and was dropped.
    Dropped,
}

/// A protocol's metrics: every count a connection makes goes through here, so names and
/// labels are the protocol's and stay in one place.
pub trait Telemetry<S: Session>: Send {
    fn note(&self, note: Note<'_, S>);
    /// Once per turn of the loop, after what was due was written into the buffer.
    fn turn(&self, session: &mut S) {
        let _ = session;
    }
    /// The connection ended, its last octets flushed.
    fn closed(&self, session: &S, reason: &S::CloseReason) {
        let _ = (session, reason);
    }
}
