//! SGIP 1.2: `sgip://` upstreams (Login_Name and Login_Password as the URL's credentials,
//! `report_listen` where the operator's SMG binds back with reports and MO), and the
//! `[sgip]` listener for SPs, whose reports and MO go to `[sgip.deliver_to]`.

use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use futures::future::BoxFuture;
use futures::FutureExt as _;
use tern_actors::protocol::CarrierProtocol;
use tern_actors::Sessions;
use tern_sgip::gateway::{SgipCarrier, SgipFrontend};
use tern_sgip::msgid::sp_node_id;
use tokio::net::TcpListener;
use tracing::info;

use super::{Listener, Protocol};
use crate::config::{Config, LinkUrl, SgipSection, SmppSection, UpstreamConfig};

pub(super) struct Sgip;

/// The node id of this node's SGIP listener: `[sgip] node_id`, else 3000000000 plus the
/// node's id.
fn node_id(config: &Config) -> u32 {
    config
        .sgip
        .node_id
        .unwrap_or(3_000_000_000 + u32::from(config.node.id))
}

/// The SGIP listener's settings from `[sgip]`.
fn server_config(sgip: &SgipSection, node_id: u32) -> tern_sgip::net::ServerConfig {
    tern_sgip::net::ServerConfig {
        window: sgip.window,
        inactivity_timeout: Duration::from_secs(sgip.inactivity_secs),
        response_timeout: Duration::from_secs(sgip.response_timeout_secs),
        max_connections: sgip.max_connections,
        node_id,
        ..tern_sgip::net::ServerConfig::default()
    }
}

impl Protocol for Sgip {
    fn name(&self) -> &'static str {
        "sgip"
    }

    fn schemes(&self) -> &'static [&'static str] {
        &["sgip"]
    }

    fn upstream_problems(
        &self,
        url: &LinkUrl,
        upstream: &UpstreamConfig,
    ) -> Vec<(&'static str, String)> {
        let mut problems = Vec::new();
        if url.user.is_empty() || url.user.len() > 16 {
            problems.push((
                "url",
                "the SGIP Login_Name must be 1 to 16 characters".into(),
            ));
        }
        if url.password.len() > 16 {
            problems.push((
                "url",
                "the SGIP Login_Password must be at most 16 characters".into(),
            ));
        }
        if upstream.report_listen.is_none() {
            problems.push((
                "report_listen",
                "an sgip:// upstream needs the address its SMG binds back to".into(),
            ));
        }
        if sp_node_id(area_code(upstream), &upstream.corp_id).is_none() {
            problems.push(("corp_id", "must be one to five digits".into()));
        }
        if !upstream.area_code.is_empty() && sp_node_id(&upstream.area_code, "0").is_none() {
            problems.push(("area_code", "must be one to four digits".into()));
        }
        if upstream.tls_ca.is_some() {
            problems.push(("tls_ca", "is only used with an smpps:// url".into()));
        }
        problems
    }

    fn carrier(
        &self,
        _smpp: &SmppSection,
        url: LinkUrl,
        upstream: &UpstreamConfig,
    ) -> anyhow::Result<Arc<dyn CarrierProtocol>> {
        let report_listen = upstream
            .report_listen
            .context("an sgip:// upstream needs report_listen")?;
        let node_id = sp_node_id(area_code(upstream), &upstream.corp_id)
            .context("corp_id and area_code must be digits")?;
        let mut client = tern_sgip::net::ClientConfig::new(&upstream.name, &url.host, url.port);
        client.login_name = url.user;
        client.password = url.password;
        client.node_id = node_id;
        client.window = upstream.window;
        client.tps = NonZeroU32::new(upstream.tps);
        Ok(Arc::new(SgipCarrier {
            client,
            options: tern_sgip::mapping::LinkOptions {
                sp_number: upstream.src_id.clone(),
                corp_id: upstream.corp_id.clone(),
                service_type: upstream.service_id.clone(),
                signature_chars: upstream.signature_chars,
                prefer_gbk: upstream.gbk,
                ..tern_sgip::mapping::LinkOptions::default()
            },
            report_listen,
        }))
    }

    fn listen<'a>(
        &'a self,
        config: &'a Config,
        sessions: Sessions,
    ) -> BoxFuture<'a, anyhow::Result<Vec<Listener>>> {
        async move {
            let Some(addr) = config.sgip.listen else {
                return Ok(Vec::new());
            };
            let listener = TcpListener::bind(addr)
                .await
                .with_context(|| format!("sgip.listen {addr}"))?;
            let addr = listener.local_addr()?;
            info!(%addr, "SGIP listening");
            let node_id = node_id(config);
            let options = tern_sgip::mapping::LinkOptions {
                signature_chars: config.sgip.signature_chars,
                ..tern_sgip::mapping::LinkOptions::default()
            };
            let deliver_to: HashMap<String, std::net::SocketAddr> = config
                .sgip
                .deliver_to
                .iter()
                .map(|(account, addr)| (account.clone(), *addr))
                .collect();
            let frontend = Arc::new(SgipFrontend::new(sessions, options, node_id, deliver_to));
            let server = Arc::new(server_config(&config.sgip, node_id));
            Ok(vec![Listener {
                name: "sgip",
                addr,
                serve: Box::new(move |stop, tasks| {
                    tern_sgip::net::serve(listener, server, frontend, stop, tasks).boxed()
                }),
            }])
        }
        .boxed()
    }
}

/// The area code of an upstream's node id; "0" when it gives none.
fn area_code(upstream: &UpstreamConfig) -> &str {
    match upstream.area_code.as_str() {
        "" => "0",
        code => code,
    }
}
