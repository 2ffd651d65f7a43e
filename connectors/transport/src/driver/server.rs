//! The server side: an accept loop bounded by a connection limit, each connection on the
//! caller's task tracker, and the steps every fresh connection takes before its protocol
//! speaks: the TLS handshake and the PROXY header, both within the handshake timeout.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::{Buf, BytesMut};
use tokio::io::AsyncReadExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{info, warn, Instrument};

use crate::proxy::{self, Parsed};
use crate::tls::Acceptor;
use crate::Stream;

/// What a protocol's listener does with the connections the loop accepts.
pub trait Accept: Send + Sync + 'static {
    /// The span a connection's task runs in.
    fn span(&self, peer: SocketAddr) -> tracing::Span;

    /// A connection refused because `limit` connections are open.
    fn refused(&self, peer: SocketAddr);

    /// Serves one connection until it ends. [`Incoming::establish`] takes it through TLS
    /// and the PROXY header.
    fn connection(
        self: Arc<Self>,
        incoming: Incoming,
        shutdown: CancellationToken,
    ) -> impl Future<Output = ()> + Send;
}

/// Accepts connections until `shutdown`, at most `limit` open at once; each runs on
/// `tracker`, so the caller can wait for every one to end.
pub async fn serve<A: Accept>(
    listener: TcpListener,
    limit: usize,
    accept: Arc<A>,
    shutdown: CancellationToken,
    tracker: TaskTracker,
) {
    let slots = Arc::new(Semaphore::new(limit));
    loop {
        let (tcp, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    // Out of file descriptors and the like: pause instead of spinning.
                    warn!(%error, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = shutdown.cancelled() => break,
        };
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            accept.refused(peer);
            warn!(%peer, "connection limit reached; refusing");
            continue;
        };
        let _ = tcp.set_nodelay(true);
        let span = accept.span(peer);
        let incoming = Incoming { tcp, peer };
        let task = accept.clone().connection(incoming, shutdown.clone());
        tracker.spawn(
            async move {
                task.await;
                drop(slot);
            }
            .instrument(span),
        );
    }
    info!("listener stopped");
}

/// A connection just accepted.
#[derive(Debug)]
pub struct Incoming {
    tcp: TcpStream,
    peer: SocketAddr,
}

/// A connection through its TLS handshake and PROXY header.
#[derive(Debug)]
pub struct Established {
    pub stream: Stream,
    /// Octets that followed the PROXY header.
    pub rbuf: BytesMut,
    /// The client's address: from the PROXY header when there is one.
    pub peer: SocketAddr,
    pub tls: bool,
}

/// Why a connection did not get through its first steps.
#[derive(Debug, thiserror::Error)]
pub enum EstablishError {
    #[error("TLS handshake: {0}")]
    Tls(std::io::Error),
    #[error("{0} timed out")]
    Timeout(&'static str),
    #[error("PROXY header: {0}")]
    ProxyHeader(std::io::Error),
}

impl Incoming {
    pub fn peer(&self) -> SocketAddr {
        self.peer
    }

    /// A plain connection, as it is.
    pub fn plain(self) -> Established {
        Established {
            stream: Stream::Plain(self.tcp),
            rbuf: BytesMut::with_capacity(4096),
            peer: self.peer,
            tls: false,
        }
    }

    /// Runs the TLS handshake (with `tls`) and reads the PROXY header (if `proxy_header`),
    /// each within `timeout`.
    pub async fn establish(
        self,
        tls: Option<&Acceptor>,
        proxy_header: bool,
        timeout: Duration,
    ) -> Result<Established, EstablishError> {
        let peer = self.peer;
        let mut established = match tls {
            Some(acceptor) => {
                let stream = tokio::time::timeout(timeout, acceptor.accept(self.tcp))
                    .await
                    .map_err(|_| EstablishError::Timeout("TLS handshake"))?
                    .map_err(EstablishError::Tls)?;
                Established {
                    stream,
                    rbuf: BytesMut::with_capacity(4096),
                    peer,
                    tls: true,
                }
            }
            None => self.plain(),
        };
        if proxy_header {
            let read = read_proxy_header(&mut established.stream, &mut established.rbuf);
            match tokio::time::timeout(timeout, read).await {
                Ok(Ok(source)) => established.peer = source.unwrap_or(peer),
                Ok(Err(error)) => return Err(EstablishError::ProxyHeader(error)),
                Err(_) => return Err(EstablishError::Timeout("PROXY header")),
            }
        }
        Ok(established)
    }
}

/// Reads until a whole PROXY header is buffered; leaves what follows it in `rbuf`.
async fn read_proxy_header(
    stream: &mut Stream,
    rbuf: &mut BytesMut,
) -> std::io::Result<Option<SocketAddr>> {
    loop {
        match proxy::parse(rbuf) {
            Ok(Parsed::Done { consumed, source }) => {
                rbuf.advance(consumed);
                return Ok(source);
            }
            Ok(Parsed::Incomplete) => {}
            Err(error) => {
                return Err(std::io::Error::new(std::io::ErrorKind::InvalidData, error));
            }
        }
        if stream.read_buf(rbuf).await? == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
    }
}
