//! The HTTP API: the `[http]` listener for customers (JSON REST, signed callbacks, and the
//! Kannel and Jasmin endpoints). It has no operator side: no upstream scheme.

use std::sync::Arc;

use anyhow::Context as _;
use futures::future::BoxFuture;
use futures::FutureExt as _;
use tern_actors::protocol::CarrierProtocol;
use tern_actors::Sessions;
use tern_http::HttpFrontend;
use tokio::net::TcpListener;
use tracing::info;

use super::{Listener, Protocol};
use crate::config::{Config, LinkUrl, SmppSection, UpstreamConfig};

pub(super) struct Http;

impl Protocol for Http {
    fn name(&self) -> &'static str {
        "http"
    }

    fn schemes(&self) -> &'static [&'static str] {
        &[]
    }

    fn upstream_problems(&self, _: &LinkUrl, _: &UpstreamConfig) -> Vec<(&'static str, String)> {
        Vec::new()
    }

    fn carrier(
        &self,
        _: &SmppSection,
        _: LinkUrl,
        _: &UpstreamConfig,
    ) -> anyhow::Result<Arc<dyn CarrierProtocol>> {
        anyhow::bail!("HTTP has no operator links")
    }

    fn listen<'a>(
        &'a self,
        config: &'a Config,
        sessions: Sessions,
    ) -> BoxFuture<'a, anyhow::Result<Vec<Listener>>> {
        async move {
            let Some(addr) = config.http.listen else {
                return Ok(Vec::new());
            };
            let listener = TcpListener::bind(addr)
                .await
                .with_context(|| format!("http.listen {addr}"))?;
            let addr = listener.local_addr()?;
            info!(%addr, "HTTP API listening");
            let frontend = HttpFrontend::new(sessions, config.http.frontend());
            Ok(vec![Listener {
                name: "http",
                addr,
                serve: Box::new(move |stop, _tasks| {
                    tern_http::serve(listener, frontend, stop).boxed()
                }),
            }])
        }
        .boxed()
    }
}
