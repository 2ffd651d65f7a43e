//! CMPP: `cmpp://` upstreams (Source_Addr and shared secret as the URL's credentials), and
//! the `[cmpp]` listener for SPs.

use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use futures::future::BoxFuture;
use futures::FutureExt as _;
use tern_actors::protocol::CarrierProtocol;
use tern_actors::Sessions;
use tern_cmpp::gateway::{CmppCarrier, CmppFrontend, FrontendError};
use tokio::net::TcpListener;
use tracing::info;

use super::{Listener, Protocol};
use crate::config::{CnSection, Config, LinkUrl, SmppSection, UpstreamConfig};

pub(super) struct Cmpp;

/// The CMPP listener's settings from `[cmpp]`.
fn server_config(cmpp: &CnSection) -> tern_cmpp::net::ServerConfig {
    let interval = Duration::from_secs(cmpp.active_test_secs);
    tern_cmpp::net::ServerConfig {
        window: cmpp.window,
        active_test_interval: interval,
        inactivity_timeout: interval * 3,
        response_timeout: Duration::from_secs(cmpp.response_timeout_secs),
        timestamp_window: Duration::from_secs(cmpp.timestamp_window_secs),
        max_connections: cmpp.max_connections,
        ..tern_cmpp::net::ServerConfig::default()
    }
}

/// How messages are rendered for CMPP customers (the version is each session's).
fn options(cmpp: &CnSection) -> tern_cmpp::mapping::LinkOptions {
    tern_cmpp::mapping::LinkOptions {
        signature_chars: cmpp.signature_chars,
        ..tern_cmpp::mapping::LinkOptions::default()
    }
}

impl Protocol for Cmpp {
    fn name(&self) -> &'static str {
        "cmpp"
    }

    fn schemes(&self) -> &'static [&'static str] {
        &["cmpp"]
    }

    fn upstream_problems(
        &self,
        url: &LinkUrl,
        upstream: &UpstreamConfig,
    ) -> Vec<(&'static str, String)> {
        let mut problems = Vec::new();
        if url.user.len() != 6 || !url.user.bytes().all(|b| b.is_ascii_digit()) {
            problems.push(("url", "the CMPP Source_Addr must be 6 digits".to_owned()));
        }
        if !matches!(upstream.version.as_str(), "2.0" | "3.0") {
            problems.push(("version", "must be \"2.0\" or \"3.0\"".to_owned()));
        }
        if upstream.tls_ca.is_some() {
            problems.push(("tls_ca", "is only used with an smpps:// url".to_owned()));
        }
        problems
    }

    fn carrier(
        &self,
        _smpp: &SmppSection,
        url: LinkUrl,
        upstream: &UpstreamConfig,
    ) -> anyhow::Result<Arc<dyn CarrierProtocol>> {
        let version = if upstream.version == "2.0" {
            tern_cmpp::Version::V20
        } else {
            tern_cmpp::Version::V30
        };
        let mut client = tern_cmpp::net::ClientConfig::new(&upstream.name, &url.host, url.port);
        client.source_addr = url.user.clone();
        client.secret = url.password.clone();
        client.version = version;
        client.window = upstream.window;
        client.tps = NonZeroU32::new(upstream.tps);
        Ok(Arc::new(CmppCarrier {
            client,
            options: tern_cmpp::mapping::LinkOptions {
                version,
                msg_src: url.user,
                service_id: upstream.service_id.clone(),
                src_id: upstream.src_id.clone(),
                signature_chars: upstream.signature_chars,
                prefer_gbk: upstream.gbk,
                ..tern_cmpp::mapping::LinkOptions::default()
            },
        }))
    }

    fn listen<'a>(
        &'a self,
        config: &'a Config,
        sessions: Sessions,
    ) -> BoxFuture<'a, anyhow::Result<Vec<Listener>>> {
        async move {
            let Some(addr) = config.cmpp.listen else {
                return Ok(Vec::new());
            };
            let listener = TcpListener::bind(addr)
                .await
                .with_context(|| format!("cmpp.listen {addr}"))?;
            let addr = listener.local_addr()?;
            info!(%addr, "CMPP listening");
            let gateway_code = config
                .cmpp
                .gateway_code
                .unwrap_or(u32::from(config.node.id));
            let frontend = CmppFrontend::new(sessions, options(&config.cmpp), gateway_code)
                .await
                .map_err(|error| match error {
                    FrontendError::GatewayCode(_) => {
                        anyhow::Error::new(error).context("cmpp.gateway_code")
                    }
                    other => anyhow::Error::new(other),
                })?;
            let frontend = Arc::new(frontend);
            let server = Arc::new(server_config(&config.cmpp));
            Ok(vec![Listener {
                name: "cmpp",
                addr,
                serve: Box::new(move |stop, tasks| {
                    tern_cmpp::net::serve(listener, server, frontend, stop, tasks).boxed()
                }),
            }])
        }
        .boxed()
    }
}
