//! SMGP 3.0 and CNGP 2.0: `smgp://` and `cngp://` upstreams (ClientID and shared secret as
//! the URL's credentials), and the `[smgp]` and `[cngp]` listeners for SPs. The two
//! protocols share their connection layer and gateway side (`tern_smgp::link`), so they
//! register alike; what differs is each crate's message options.

use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use futures::future::BoxFuture;
use futures::FutureExt as _;
use tern_actors::protocol::CarrierProtocol;
use tern_actors::Sessions;
use tokio::net::TcpListener;
use tracing::info;

use super::{Listener, Protocol};
use crate::config::{CnSection, Config, LinkUrl, SmppSection, UpstreamConfig};

/// The listener's settings from its section.
fn server_config(section: &CnSection) -> tern_smgp::net::ServerConfig {
    let interval = Duration::from_secs(section.active_test_secs);
    tern_smgp::net::ServerConfig {
        window: section.window,
        active_test_interval: interval,
        inactivity_timeout: interval * 3,
        response_timeout: Duration::from_secs(section.response_timeout_secs),
        timestamp_window: Duration::from_secs(section.timestamp_window_secs),
        max_connections: section.max_connections,
        ..tern_smgp::net::ServerConfig::default()
    }
}

/// What an upstream of either protocol may not hold.
fn upstream_problems(
    url: &LinkUrl,
    upstream: &UpstreamConfig,
    id_len: usize,
) -> Vec<(&'static str, String)> {
    let mut problems = Vec::new();
    if url.user.is_empty() || url.user.len() > id_len {
        problems.push((
            "url",
            format!("the ClientID must be 1 to {id_len} characters"),
        ));
    }
    if upstream.tls_ca.is_some() {
        problems.push(("tls_ca", "is only used with an smpps:// url".to_owned()));
    }
    problems
}

macro_rules! cn_protocol {
    ($ty:ident, $name:literal, $section:ident, $id_len:expr, $krate:ident, $carrier:ident, $frontend:ident, $label:literal) => {
        pub(super) struct $ty;

        impl Protocol for $ty {
            fn name(&self) -> &'static str {
                $name
            }

            fn schemes(&self) -> &'static [&'static str] {
                &[$name]
            }

            fn upstream_problems(
                &self,
                url: &LinkUrl,
                upstream: &UpstreamConfig,
            ) -> Vec<(&'static str, String)> {
                upstream_problems(url, upstream, $id_len)
            }

            fn carrier(
                &self,
                _smpp: &SmppSection,
                url: LinkUrl,
                upstream: &UpstreamConfig,
            ) -> anyhow::Result<Arc<dyn CarrierProtocol>> {
                let mut client = $krate::net::ClientConfig::new(&upstream.name, &url.host, url.port);
                client.client_id = url.user;
                client.secret = url.password;
                client.window = upstream.window;
                client.tps = NonZeroU32::new(upstream.tps);
                Ok(Arc::new($krate::gateway::$carrier {
                    client,
                    options: $krate::mapping::LinkOptions {
                        service_id: upstream.service_id.clone(),
                        src_term_id: upstream.src_id.clone(),
                        signature_chars: upstream.signature_chars,
                        prefer_gbk: upstream.gbk,
                        ..$krate::mapping::LinkOptions::default()
                    },
                }))
            }

            fn listen<'a>(
                &'a self,
                config: &'a Config,
                sessions: Sessions,
            ) -> BoxFuture<'a, anyhow::Result<Vec<Listener>>> {
                async move {
                    let section = &config.$section;
                    let Some(addr) = section.listen else {
                        return Ok(Vec::new());
                    };
                    let listener = TcpListener::bind(addr)
                        .await
                        .with_context(|| format!("{}.listen {addr}", $name))?;
                    let addr = listener.local_addr()?;
                    info!(%addr, concat!($label, " listening"));
                    let gateway_code = section.gateway_code.unwrap_or(u32::from(config.node.id));
                    let options = $krate::mapping::LinkOptions {
                        signature_chars: section.signature_chars,
                        ..$krate::mapping::LinkOptions::default()
                    };
                    let frontend = $krate::gateway::$frontend::new(sessions, options, gateway_code)
                        .await
                        .map_err(|error| match error {
                            $krate::gateway::FrontendError::GatewayCode(_) => {
                                anyhow::Error::new(error)
                                    .context(format!("{}.gateway_code", $name))
                            }
                            other => anyhow::Error::new(other),
                        })?;
                    let frontend = Arc::new(frontend);
                    let server = Arc::new(server_config(section));
                    Ok(vec![Listener {
                        name: $name,
                        addr,
                        serve: Box::new(move |stop, tasks| {
                            $krate::net::serve(listener, server, frontend, stop, tasks).boxed()
                        }),
                    }])
                }
                .boxed()
            }
        }
    };
}

cn_protocol!(
    Smgp,
    "smgp",
    smgp,
    8,
    tern_smgp,
    SmgpCarrier,
    SmgpFrontend,
    "SMGP"
);
cn_protocol!(
    Cngp,
    "cngp",
    cngp,
    10,
    tern_cngp,
    CngpCarrier,
    CngpFrontend,
    "CNGP"
);
