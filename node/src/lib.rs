//! The Tern node: configuration, wiring of listeners and links, the metrics endpoint and
//! graceful shutdown. The only crate that installs the tracing subscriber, the metrics
//! exporter and the runtime.

pub use tern_actors::allowlist;
pub mod config;
pub use tern_actors::ids;
pub mod relay;
pub mod telemetry;

use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use tern_smpp::net::{self as smpp_net, BindMode, Client, ClientConfig, ServerConfig};
use tern_smpp::receipt::IdFormat;
use tern_smpp::session;
use tern_transport::tls;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{info, warn};

use crate::config::{Config, IdFormatConfig, SmppSection, SmppUrl, UpstreamBind, UpstreamConfig};
use crate::relay::{Relay, Upstream};

fn session_config(smpp: &SmppSection, role: session::Role, window: usize) -> session::Config {
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

fn client_config(smpp: &SmppSection, upstream: &UpstreamConfig) -> anyhow::Result<ClientConfig> {
    let url = SmppUrl::parse(&upstream.url)
        .map_err(|m| anyhow::anyhow!("upstream {}: url {m}", upstream.name))?;
    let mut config = ClientConfig::new(&upstream.name, &url.host, url.port);
    config.system_id = url.user;
    config.password = url.password;
    config.system_type = upstream.system_type.clone();
    config.bind = match upstream.bind {
        UpstreamBind::Transceiver => BindMode::Transceiver,
        UpstreamBind::TxRx => BindMode::TransmitterReceiver,
    };
    config.session = session_config(smpp, session::Role::Client, upstream.window);
    config.max_pdu_bytes = smpp.max_pdu_bytes;
    config.tps = NonZeroU32::new(upstream.tps);
    if url.tls {
        let ca = upstream
            .tls_ca
            .as_deref()
            .context("an smpps:// upstream needs tls_ca")?;
        config.tls = Some(tls::Connector::trusting_pem_file(ca)?);
    }
    Ok(config)
}

/// Runs the node until SIGTERM or SIGINT, then unbinds every session and drains.
pub async fn run(config: Config) -> anyhow::Result<()> {
    if let Some(listen) = config.metrics.listen {
        telemetry::init_metrics(listen).with_context(|| format!("metrics.listen {listen}"))?;
        info!(%listen, "metrics at /metrics");
    }
    let customers = CancellationToken::new();
    let upstreams = CancellationToken::new();
    let customer_tasks = TaskTracker::new();
    let upstream_tasks = TaskTracker::new();

    let upstream = match config.upstreams.first() {
        Some(up) => {
            let client_config = client_config(&config.smpp, up)?;
            let (client, events) = Client::start(client_config, upstreams.clone(), &upstream_tasks);
            if config.upstreams.len() > 1 {
                warn!("only the first upstream carries traffic until routing is configured");
            }
            Some((
                Upstream {
                    client,
                    submit_ids: id_format(up.submit_id_format),
                    receipt_ids: id_format(up.receipt_id_format),
                },
                events,
            ))
        }
        None => None,
    };
    let (upstream, upstream_events) = match upstream {
        Some((u, e)) => (Some(u), Some(e)),
        None => (None, None),
    };
    let relay = Arc::new(Relay::new(config.node.id, &config.accounts, upstream));
    if let Some(events) = upstream_events {
        tokio::spawn(relay.clone().run_upstream(events));
    }

    let server_config = Arc::new(ServerConfig {
        session: session_config(&config.smpp, session::Role::Server, config.smpp.window),
        max_pdu_bytes: config.smpp.max_pdu_bytes,
        proxy_protocol: config.smpp.proxy_protocol,
        max_connections: config.smpp.max_connections,
        handshake_timeout: Duration::from_secs(config.smpp.bind_timeout_secs),
    });
    let mut listeners = Vec::new();
    if let Some(addr) = config.smpp.listen {
        let listener = TcpListener::bind(addr)
            .await
            .with_context(|| format!("smpp.listen {addr}"))?;
        info!(addr = %listener.local_addr()?, "SMPP listening");
        listeners.push((listener, None));
    }
    if let Some(addr) = config.smpp.tls_listen {
        let (Some(cert), Some(key)) = (&config.smpp.tls_cert, &config.smpp.tls_key) else {
            anyhow::bail!("smpp.tls_listen needs smpp.tls_cert and smpp.tls_key");
        };
        let acceptor =
            tls::Acceptor::from_pem_files(cert, key).context("smpp.tls_cert / smpp.tls_key")?;
        let listener = TcpListener::bind(addr)
            .await
            .with_context(|| format!("smpp.tls_listen {addr}"))?;
        info!(addr = %listener.local_addr()?, "SMPP over TLS listening");
        listeners.push((listener, Some(acceptor)));
    }
    if listeners.is_empty() {
        warn!("no SMPP listener configured (smpp.listen / smpp.tls_listen)");
    }
    let mut accept_loops = Vec::new();
    for (listener, acceptor) in listeners {
        accept_loops.push(tokio::spawn(smpp_net::serve(
            listener,
            acceptor,
            server_config.clone(),
            relay.clone(),
            customers.clone(),
            customer_tasks.clone(),
        )));
    }

    wait_for_signal().await;
    let grace = Duration::from_secs(config.node.shutdown_grace_secs);
    info!(
        grace_secs = grace.as_secs(),
        "shutting down: unbinding customer sessions"
    );
    customers.cancel();
    for accept in accept_loops {
        let _ = accept.await;
    }
    customer_tasks.close();
    if tokio::time::timeout(grace, customer_tasks.wait())
        .await
        .is_err()
    {
        warn!("customer sessions did not all unbind within the grace period");
    }
    info!("unbinding upstream links");
    upstreams.cancel();
    upstream_tasks.close();
    if tokio::time::timeout(grace, upstream_tasks.wait())
        .await
        .is_err()
    {
        warn!("upstream links did not all unbind within the grace period");
    }
    info!("stopped");
    Ok(())
}

async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match (
            signal(SignalKind::terminate()),
            signal(SignalKind::interrupt()),
        ) {
            (Ok(mut term), Ok(mut int)) => {
                tokio::select! {
                    _ = term.recv() => info!("SIGTERM"),
                    _ = int.recv() => info!("SIGINT"),
                }
            }
            _ => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
