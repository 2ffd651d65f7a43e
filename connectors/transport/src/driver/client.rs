//! The client side: connect over TCP (and TLS), run a session until it ends, and connect
//! again after a jittered exponential backoff, until shutdown. The protocol supplies the
//! steps of one attempt as a [`Dialer`]; [`Current`] tells callers which session of the
//! link is up, and waits a bounded time for one; [`Pace`] keeps a link to its rate.

use std::fmt;
use std::future::Future;
use std::num::NonZeroU32;
use std::time::Duration;

use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};

use tokio::net::TcpStream;
use tokio::sync::{mpsc, watch};
use tokio_util::sync::CancellationToken;
use tracing::info;

use crate::tls::Connector;
use crate::Stream;

/// How long to wait between attempts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    /// The first wait, and the wait after a session that was up.
    pub min: Duration,
    /// The longest wait; each failed attempt doubles the wait up to it.
    pub max: Duration,
}

/// One way of reaching the peer: connect (TCP, TLS, the protocol's handshake), then run the
/// session until it ends.
pub trait Dialer: Send {
    /// A connection ready for its session.
    type Connected: Send;
    type Error: fmt::Display + Send;

    /// Connects; cancelled when shutdown comes first.
    fn connect(&mut self) -> impl Future<Output = Result<Self::Connected, Self::Error>> + Send;

    /// Runs the session until it ends; true if it came up (then the backoff starts over).
    fn run(
        &mut self,
        connected: Self::Connected,
        shutdown: &CancellationToken,
    ) -> impl Future<Output = bool> + Send;

    /// An attempt that did not connect.
    fn failed(
        &mut self,
        error: Self::Error,
        shutdown: &CancellationToken,
    ) -> impl Future<Output = ()> + Send;
}

/// Connects with `dialer` again and again until `shutdown`, waiting per `backoff` between
/// attempts.
pub async fn reconnect(dialer: &mut impl Dialer, backoff: Backoff, shutdown: &CancellationToken) {
    let mut wait = backoff.min;
    while !shutdown.is_cancelled() {
        let attempt = tokio::select! {
            attempt = dialer.connect() => attempt,
            _ = shutdown.cancelled() => break,
        };
        match attempt {
            Ok(connected) => {
                if dialer.run(connected, shutdown).await {
                    wait = backoff.min;
                }
            }
            Err(error) => dialer.failed(error, shutdown).await,
        }
        let delay = jitter(wait);
        info!(delay_ms = delay.as_millis() as u64, "reconnecting");
        tokio::select! {
            _ = tokio::time::sleep(delay) => {}
            _ = shutdown.cancelled() => break,
        }
        wait = (wait * 2).min(backoff.max);
    }
}

/// ±20 %, so that many links that dropped together do not reconnect together.
pub fn jitter(base: Duration) -> Duration {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let factor = 0.8 + f64::from(nanos % 1000) / 1000.0 * 0.4;
    base.mul_f64(factor)
}

/// Opens TCP to `host:port` (with TLS verified against `host` when `tls` is set), each
/// step within `timeout`.
pub async fn connect(
    host: &str,
    port: u16,
    tls: Option<&Connector>,
    timeout: Duration,
) -> std::io::Result<Stream> {
    let tcp = tokio::time::timeout(timeout, TcpStream::connect((host, port)))
        .await
        .map_err(|_| std::io::Error::new(std::io::ErrorKind::TimedOut, "connect"))??;
    let _ = tcp.set_nodelay(true);
    match tls {
        None => Ok(Stream::Plain(tcp)),
        Some(connector) => tokio::time::timeout(timeout, connector.connect(host, tcp))
            .await
            .map_err(|_| std::io::Error::new(std::io::ErrorKind::TimedOut, "TLS handshake"))?
            .map_err(|e| std::io::Error::other(e.to_string())),
    }
}

/// The session of a link that is up now, if any: what callers send through.
#[derive(Debug)]
pub struct Current<H> {
    slot: watch::Sender<Option<H>>,
}

impl<H> Default for Current<H> {
    fn default() -> Self {
        Self {
            slot: watch::channel(None).0,
        }
    }
}

impl<H: Clone> Current<H> {
    /// The session now up (`Some`) or none (`None`).
    pub fn set(&self, handle: Option<H>) {
        self.slot.send_replace(handle);
    }

    /// The session, if one is set and `up` holds for it.
    pub fn get(&self, up: impl Fn(&H) -> bool) -> Option<H> {
        self.slot.borrow().as_ref().filter(|h| up(h)).cloned()
    }

    /// What `f` says of the session set now.
    pub fn inspect<R>(&self, f: impl FnOnce(Option<&H>) -> R) -> R {
        f(self.slot.borrow().as_ref())
    }

    /// The session, waiting up to `timeout` for one for which `up` holds.
    pub async fn ready(&self, timeout: Duration, up: impl Fn(&H) -> bool) -> Option<H> {
        // The common case, an up link, without a timer or a subscription.
        if let Some(handle) = self.get(&up) {
            return Some(handle);
        }
        let mut slot = self.slot.subscribe();
        let ready = tokio::time::timeout(timeout, slot.wait_for(|h| h.as_ref().is_some_and(&up)));
        let handle = match ready.await {
            Ok(Ok(handle)) => handle.clone(),
            _ => None,
        };
        handle
    }
}

/// Sends an event to a link's owner; after shutdown only if there is room, so that an
/// owner that stopped reading cannot hold the link's task.
pub async fn emit<E>(events: &mpsc::Sender<E>, event: E, shutdown: &CancellationToken) {
    if shutdown.is_cancelled() {
        let _ = events.try_send(event);
        return;
    }
    tokio::select! {
        _ = events.send(event) => {}
        _ = shutdown.cancelled() => {}
    }
}

/// Moves a session's events to the link's owner, as `map` turns them into the owner's
/// events, until `map` says the session ended (`None`).
pub async fn forward<N, E>(
    mut from: mpsc::Receiver<N>,
    to: &mpsc::Sender<E>,
    shutdown: &CancellationToken,
    map: impl Fn(N) -> Option<E>,
) {
    while let Some(event) = from.recv().await {
        let Some(event) = map(event) else {
            break;
        };
        emit(to, event, shutdown).await;
    }
}

/// A cap on requests per second, never more in any one second (no burst: operators count
/// per second and throttle past it).
#[derive(Debug)]
pub struct Pace(Option<DefaultDirectRateLimiter>);

impl Pace {
    /// `None` is unlimited.
    pub fn per_second(limit: Option<NonZeroU32>) -> Self {
        let quota = |limit| Quota::per_second(limit).allow_burst(NonZeroU32::MIN);
        Self(limit.map(|limit| RateLimiter::direct(quota(limit))))
    }

    /// Waits until one more request keeps to the cap.
    pub async fn ready(&self) {
        if let Some(limiter) = &self.0 {
            limiter.until_ready().await;
        }
    }
}
