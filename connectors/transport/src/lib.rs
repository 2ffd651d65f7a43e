//! Byte transport for Tern's wire protocols: TCP and TLS streams behind one type, TLS
//! configuration from PEM files, and the HAProxy PROXY protocol (v1 and v2) so a client's
//! address survives a load balancer; and the connection driver every protocol runs on
//! (`driver`), generic over a protocol's codec and sans-IO session, knowing neither.

pub mod driver;
pub mod proxy;
mod stream;
pub mod tls;

pub use stream::Stream;

/// A check a connection makes before it writes anything: once it says no, nothing more
/// leaves and the connection closes. A cluster node gates an operator bind on its claim,
/// so that a node that lost the claim (paused, cut off) sends nothing more on it.
#[derive(Clone)]
pub struct Gate(std::sync::Arc<dyn Fn() -> bool + Send + Sync>);

impl Gate {
    pub fn new(open: impl Fn() -> bool + Send + Sync + 'static) -> Self {
        Self(std::sync::Arc::new(open))
    }

    pub fn is_open(&self) -> bool {
        (self.0)()
    }
}

impl std::fmt::Debug for Gate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Gate")
    }
}
