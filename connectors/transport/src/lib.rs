//! Byte transport for Tern's wire protocols: TCP and TLS streams behind one type, TLS
//! configuration from PEM files, and the HAProxy PROXY protocol (v1 and v2) so a client's
//! address survives a load balancer. It knows no protocol above the byte stream.

pub mod proxy;
mod stream;
pub mod tls;

pub use stream::Stream;
