//! SMPP: `smpp://` and `smpps://` upstreams, and the `[smpp]` listeners (plain and TLS).

use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use futures::future::BoxFuture;
use futures::FutureExt as _;
use tern_actors::protocol::CarrierProtocol;
use tern_actors::Sessions;
use tern_smpp::gateway::{SmppCarrier, SmppFrontend};
use tern_smpp::mapping::{Concat, DefaultAlphabet, LinkOptions};
use tern_smpp::net::{BindMode, ClientConfig, ServerConfig};
use tern_smpp::receipt::IdFormat;
use tern_smpp::session;
use tern_transport::tls;
use tokio::net::TcpListener;
use tracing::{info, warn};

use super::{Listener, Protocol};
use crate::config::{
    ConcatConfig, Config, IdFormatConfig, LinkUrl, SmppSection, UpstreamBind, UpstreamConfig,
};

pub(super) struct Smpp;

/// The session timers and window of `[smpp]`, for one side of a bind.
pub(crate) fn session_config(
    smpp: &SmppSection,
    role: session::Role,
    window: usize,
) -> session::Config {
    session::Config {
        role,
        window_out: window,
        window_in: window,
        enquire_link_interval: Duration::from_secs(smpp.enquire_link_secs),
        inactivity_timeout: Duration::from_secs(smpp.inactivity_secs),
        response_timeout: Duration::from_secs(smpp.response_timeout_secs),
        bind_timeout: Duration::from_secs(smpp.bind_timeout_secs),
        late_response_grace: Duration::from_secs(60),
    }
}

fn id_format(format: IdFormatConfig) -> IdFormat {
    match format {
        IdFormatConfig::AsIs => IdFormat::AsIs,
        IdFormatConfig::Decimal => IdFormat::Decimal,
        IdFormatConfig::Hex => IdFormat::Hex,
    }
}

impl Protocol for Smpp {
    fn name(&self) -> &'static str {
        "smpp"
    }

    fn schemes(&self) -> &'static [&'static str] {
        &["smpp", "smpps"]
    }

    fn upstream_problems(
        &self,
        url: &LinkUrl,
        upstream: &UpstreamConfig,
    ) -> Vec<(&'static str, String)> {
        let mut problems = Vec::new();
        if url.user.len() > 15 || url.password.len() > 8 {
            problems.push((
                "url",
                "user must be at most 15 and password at most 8 characters".to_owned(),
            ));
        }
        if upstream.tls_ca.is_some() && url.scheme != "smpps" {
            problems.push(("tls_ca", "is only used with an smpps:// url".to_owned()));
        }
        problems
    }

    fn carrier(
        &self,
        smpp: &SmppSection,
        url: LinkUrl,
        upstream: &UpstreamConfig,
    ) -> anyhow::Result<Arc<dyn CarrierProtocol>> {
        let mut client = ClientConfig::new(&upstream.name, &url.host, url.port);
        client.system_id = url.user;
        client.password = url.password;
        client.system_type = upstream.system_type.clone();
        client.bind = match upstream.bind {
            UpstreamBind::Transceiver => BindMode::Transceiver,
            UpstreamBind::TxRx => BindMode::TransmitterReceiver,
        };
        client.session = session_config(smpp, session::Role::Client, upstream.window);
        client.max_pdu_bytes = smpp.max_pdu_bytes;
        client.tps = NonZeroU32::new(upstream.tps);
        if url.scheme == "smpps" {
            let ca = upstream
                .tls_ca
                .as_deref()
                .context("an smpps:// upstream needs tls_ca")?;
            client.tls = Some(tls::Connector::trusting_pem_file(ca)?);
        }
        let concat = match upstream.concat {
            ConcatConfig::Udh8 => Concat::Udh8,
            ConcatConfig::Udh16 => Concat::Udh16,
            ConcatConfig::Sar => Concat::Sar,
            ConcatConfig::Payload => Concat::Payload { max_octets: 64_000 },
        };
        Ok(Arc::new(SmppCarrier {
            client,
            options: LinkOptions {
                default_alphabet: DefaultAlphabet::Gsm7,
                concat,
                ..LinkOptions::default()
            },
            submit_ids: id_format(upstream.submit_id_format),
            receipt_ids: id_format(upstream.receipt_id_format),
        }))
    }

    fn listen<'a>(
        &'a self,
        config: &'a Config,
        sessions: Sessions,
    ) -> BoxFuture<'a, anyhow::Result<Vec<Listener>>> {
        async move {
            let smpp = &config.smpp;
            let server = Arc::new(ServerConfig {
                session: session_config(smpp, session::Role::Server, smpp.window),
                max_pdu_bytes: smpp.max_pdu_bytes,
                proxy_protocol: smpp.proxy_protocol,
                max_connections: smpp.max_connections,
                handshake_timeout: Duration::from_secs(smpp.bind_timeout_secs),
            });
            let frontend = Arc::new(SmppFrontend { sessions });
            let mut bound = Vec::new();
            if let Some(addr) = smpp.listen {
                let listener = TcpListener::bind(addr)
                    .await
                    .with_context(|| format!("smpp.listen {addr}"))?;
                bound.push(("smpp", listener, None));
            }
            if let Some(addr) = smpp.tls_listen {
                let (Some(cert), Some(key)) = (&smpp.tls_cert, &smpp.tls_key) else {
                    anyhow::bail!("smpp.tls_listen needs smpp.tls_cert and smpp.tls_key");
                };
                let acceptor = tls::Acceptor::from_pem_files(cert, key)
                    .context("smpp.tls_cert / smpp.tls_key")?;
                let listener = TcpListener::bind(addr)
                    .await
                    .with_context(|| format!("smpp.tls_listen {addr}"))?;
                bound.push(("smpps", listener, Some(acceptor)));
            }
            if bound.is_empty() {
                warn!("no SMPP listener configured (smpp.listen / smpp.tls_listen)");
            }
            let mut listeners = Vec::new();
            for (name, listener, acceptor) in bound {
                let addr = listener.local_addr()?;
                info!(%addr, tls = acceptor.is_some(), "SMPP listening");
                let (server, frontend) = (server.clone(), frontend.clone());
                listeners.push(Listener {
                    name,
                    addr,
                    serve: Box::new(move |stop, tasks| {
                        tern_smpp::net::serve(listener, acceptor, server, frontend, stop, tasks)
                            .boxed()
                    }),
                });
            }
            Ok(listeners)
        }
        .boxed()
    }
}
