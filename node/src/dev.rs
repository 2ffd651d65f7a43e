//! `tern dev`: a complete one-node gateway for trying Tern out. An embedded store in a data
//! directory (or a CQL database with `--store cql://...`), the simulated operator SMSC in-process as the default route (or a real SMSC
//! given with `--upstream`), and a demo account, `demo` / `demo`, that also receives every
//! MO.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context as _;
use tern_bench::smsc::{Accounts, ReceiptDelay, Smsc, SmscConfig};

use crate::config::{
    redact_url, AccountConfig, AdminSection, ClusterSection, CnSection, ConcatConfig, Config,
    HttpSection, IdFormatConfig, LinkUrl, MetricsSection, MoRuleConfig, PeriodConfig, SgipSection,
    SmppSection, StoreBackend, StoreSection, UpstreamBind, UpstreamConfig,
};
use tern_storage::cql::CqlConfig;

/// The flags of `tern dev`.
#[derive(Debug, Clone, clap::Args)]
pub struct DevArgs {
    /// Where the embedded store keeps its files.
    #[arg(long, default_value = "tern-dev-data")]
    pub data_dir: PathBuf,
    /// The SMPP listener for customers.
    #[arg(long, default_value = "127.0.0.1:2775")]
    pub smpp_listen: SocketAddr,
    /// Prometheus metrics at /metrics.
    #[arg(long, default_value = "127.0.0.1:9100")]
    pub metrics_listen: SocketAddr,
    /// A real SMSC as the default route instead of the simulator:
    /// smpp://USER:PASSWORD@HOST:PORT (or smpps://).
    #[arg(long)]
    pub upstream: Option<String>,
    /// CA certificates (PEM) the upstream's TLS certificate must chain to, for smpps://.
    #[arg(long)]
    pub upstream_ca: Option<PathBuf>,
    /// How long the simulator waits before sending a receipt.
    #[arg(long, default_value_t = 100)]
    pub sim_receipt_delay_ms: u64,
    /// The gRPC admin API (`tern ctl`).
    #[arg(long, default_value = "127.0.0.1:50051")]
    pub grpc_listen: SocketAddr,
    /// The admin API's bearer token; default: a random one, printed and written to
    /// `<data-dir>/admin.token`.
    #[arg(long, env = "TERN_ADMIN_TOKEN")]
    pub admin_token: Option<String>,
    /// The CMPP listener for customers; demo account Source_Addr 901234, secret `demo`.
    #[arg(long, default_value = "127.0.0.1:7890")]
    pub cmpp_listen: SocketAddr,
    /// The SMGP 3.0 listener for customers; demo account ClientID 901234, secret `demo`.
    #[arg(long, default_value = "127.0.0.1:8890")]
    pub smgp_listen: SocketAddr,
    /// The CNGP 2.0 listener for customers; demo account ClientID 901234, secret `demo`.
    #[arg(long, default_value = "127.0.0.1:9890")]
    pub cngp_listen: SocketAddr,
    /// The SGIP 1.2 listener for customers; demo account Login_Name 901234, password
    /// `demo`.
    #[arg(long, default_value = "127.0.0.1:8801")]
    pub sgip_listen: SocketAddr,
    /// Where the SGIP demo account's reports and MO go: the SP's own listener, HOST:PORT,
    /// which the node binds to with Login_Name 901234 and password `demo`. Without it they
    /// are held.
    #[arg(long, value_name = "ADDR")]
    pub sgip_deliver_to: Option<SocketAddr>,
    /// The HTTP API (JSON REST, callbacks, Kannel's /cgi-bin/sendsms and Jasmin's /send);
    /// the demo account's API key is printed and written to `<data-dir>/api.key`.
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub http_listen: SocketAddr,
    /// Raft RPC (a one-node cluster needs no peers; port 0 picks a free one).
    #[arg(long, default_value = "127.0.0.1:0")]
    pub raft_listen: SocketAddr,
    /// Messages, queues and CDRs in a ScyllaDB or Cassandra database instead of the
    /// embedded store: cql://HOST:PORT/KEYSPACE (the keyspace is created if missing, with
    /// one replica). The raft log stays in --data-dir.
    #[arg(long, value_name = "URL", value_parser = parse_store_url)]
    pub store: Option<CqlConfig>,
}

fn parse_store_url(url: &str) -> Result<CqlConfig, String> {
    CqlConfig::from_url(url).map_err(|e| e.to_string())
}

/// The demo account of the Chinese operators' protocols: CMPP's Source_Addr, SMGP's and
/// CNGP's ClientID, SGIP's Login_Name; the shared secret of each (and the password) is
/// `demo`.
const CN_DEMO: &str = "901234";

/// A demo account with password `demo`, and the same shared secret for `protocols`.
fn demo_account(id: &str, protocols: &[&str]) -> AccountConfig {
    AccountConfig {
        system_id: id.into(),
        password: "demo".into(),
        max_binds: 64,
        allowed_ips: Vec::new(),
        transliterate: false,
        sender_ids: Vec::new(),
        max_parts_per_day: None,
        max_messages: None,
        period: PeriodConfig::Day,
        credit: None,
        credit_limit: None,
        tps: None,
        parent: None,
        auto_topup: None,
        thresholds: None,
        tags: Default::default(),
        enabled: true,
        cmpp_secret: None,
        secrets: protocols
            .iter()
            .map(|p| ((*p).to_owned(), "demo".to_owned()))
            .collect(),
    }
}

const SIM_USER: &str = "tern";
const SIM_PASSWORD: &str = "tern";

/// The node's configuration for `tern dev`, with the simulator (if any) at `simulator`.
pub fn dev_config(args: &DevArgs, upstream_url: &str, token: &str) -> Config {
    Config {
        cluster: ClusterSection {
            listen: args.raft_listen,
            dir: Some(args.data_dir.join("raft")),
            ..ClusterSection::default()
        },
        admin: AdminSection {
            listen: Some(args.grpc_listen),
            token: Some(token.to_owned()),
            token_file: None,
        },
        smpp: SmppSection {
            listen: Some(args.smpp_listen),
            ..SmppSection::default()
        },
        cmpp: CnSection {
            listen: Some(args.cmpp_listen),
            ..CnSection::default()
        },
        smgp: CnSection {
            listen: Some(args.smgp_listen),
            ..CnSection::default()
        },
        cngp: CnSection {
            listen: Some(args.cngp_listen),
            ..CnSection::default()
        },
        sgip: SgipSection {
            listen: Some(args.sgip_listen),
            deliver_to: args
                .sgip_deliver_to
                .iter()
                .map(|addr| (CN_DEMO.to_owned(), *addr))
                .collect(),
            ..SgipSection::default()
        },
        http: HttpSection {
            listen: Some(args.http_listen),
            ..HttpSection::default()
        },
        metrics: MetricsSection {
            listen: Some(args.metrics_listen),
        },
        store: match &args.store {
            Some(cql) => StoreSection {
                backend: StoreBackend::Scylla,
                cql: Some(cql.clone()),
                ..StoreSection::embedded(args.data_dir.join("store"))
            },
            None => StoreSection::embedded(args.data_dir.join("store")),
        },
        accounts: vec![
            demo_account("demo", &[]),
            demo_account(CN_DEMO, &["cmpp", "smgp", "cngp", "sgip"]),
        ],
        upstreams: vec![UpstreamConfig {
            name: "default".into(),
            url: upstream_url.to_owned(),
            bind: UpstreamBind::Transceiver,
            window: 256,
            tps: 0,
            system_type: String::new(),
            tls_ca: args.upstream_ca.clone(),
            submit_id_format: IdFormatConfig::AsIs,
            receipt_id_format: IdFormatConfig::AsIs,
            concat: ConcatConfig::Udh8,
            version: "3.0".into(),
            service_id: String::new(),
            src_id: String::new(),
            signature_chars: 0,
            gbk: false,
            binds: 1,
            report_listen: None,
            corp_id: String::new(),
            area_code: String::new(),
        }],
        mo_rules: vec![MoRuleConfig {
            account: "demo".into(),
            prefixes: vec![String::new()],
            ..MoRuleConfig::default()
        }],
        ..Config::default()
    }
}

/// Runs `tern dev` until SIGTERM or SIGINT.
pub async fn run(args: DevArgs) -> anyhow::Result<()> {
    let simulator = match &args.upstream {
        Some(url) => {
            LinkUrl::parse(url).map_err(|m| anyhow::anyhow!("--upstream: {m}"))?;
            None
        }
        None => {
            let config = SmscConfig {
                accounts: Accounts::List(vec![(SIM_USER.into(), SIM_PASSWORD.into())]),
                receipt_delay: ReceiptDelay::fixed(Duration::from_millis(
                    args.sim_receipt_delay_ms,
                )),
                ..SmscConfig::default()
            };
            Some(Smsc::start(config).await.context("simulated SMSC")?)
        }
    };
    let upstream_url = match (&args.upstream, &simulator) {
        (Some(url), _) => url.clone(),
        (None, Some(sim)) => format!("smpp://{SIM_USER}:{SIM_PASSWORD}@{}", sim.addr()),
        (None, None) => anyhow::bail!("no upstream"),
    };
    std::fs::create_dir_all(&args.data_dir)
        .with_context(|| format!("--data-dir {}", args.data_dir.display()))?;
    let token = match &args.admin_token {
        Some(token) => token.clone(),
        None => random_token()?,
    };
    let token_file = args.data_dir.join("admin.token");
    std::fs::write(&token_file, format!("{token}\n"))
        .with_context(|| format!("writing {}", token_file.display()))?;
    let config = dev_config(&args, &upstream_url, &token);
    config.validate()?;
    let node = crate::Node::start(&config).await?;
    // The simulator listens on a new port each run: point the state's link at it.
    if let Some(upstream) = config.upstreams.first() {
        crate::replica::put_link_if_changed(&node.cluster, upstream).await?;
    }
    let smpp = node
        .endpoints
        .smpp
        .map_or_else(|| "-".to_owned(), |a| a.to_string());
    println!("Tern dev node is up.");
    println!(
        "  SMPP      {smpp}   system_id=demo password=demo (transmitter, receiver or transceiver)"
    );
    for (name, credentials) in [
        ("cmpp", "Source_Addr=901234 secret=demo (CMPP 2.0 or 3.0)"),
        ("smgp", "ClientID=901234 secret=demo (SMGP 3.0)"),
        ("cngp", "ClientID=901234 secret=demo (CNGP 2.0)"),
        (
            "sgip",
            "Login_Name=901234 password=demo (SGIP 1.2; reports to --sgip-deliver-to)",
        ),
    ] {
        if let Some(addr) = node.endpoints.listening.get(name) {
            println!("  {:<9} {addr}   {credentials}", name.to_uppercase());
        }
    }
    if let Some(http) = node.endpoints.listening.get("http") {
        let key_file = args.data_dir.join("api.key");
        let key = demo_api_key(&node.cluster, &key_file).await?;
        println!(
            "  HTTP      http://{http}   API key {key} (also in {}); Kannel /cgi-bin/sendsms and Jasmin /send take demo / demo",
            key_file.display()
        );
        println!(
            "            curl -H \"Authorization: Bearer $(cat {})\" -d '{{\"to\":\"+491701234567\",\"from\":\"Tern\",\"text\":\"Hello from Tern\"}}' http://{http}/v1/messages",
            key_file.display()
        );
    }
    if let Some(metrics) = node.endpoints.metrics {
        println!("  metrics   http://{metrics}/metrics");
    }
    if let Some(admin) = node.endpoints.admin {
        println!(
            "  admin     http://{admin}   token {token} (also in {})",
            token_file.display()
        );
        println!(
            "            tern ctl --server http://{admin} --token $(cat {}) cluster status",
            token_file.display()
        );
    }
    match &simulator {
        Some(sim) => println!(
            "  operator  simulated SMSC at {} (receipts after {} ms)",
            sim.addr(),
            args.sim_receipt_delay_ms
        ),
        None => println!("  operator  {}", redact_url(&upstream_url)),
    }
    println!("  data      {}", args.data_dir.display());
    if let Some(cql) = &args.store {
        println!(
            "  store     CQL keyspace {} at {}",
            cql.keyspace,
            cql.contact_points.join(",")
        );
    }
    println!("Ctrl-C to stop.");
    // Like `tern node`: a pipeline that stops on its own ends the process non-zero.
    let outcome = node.until_stopped(crate::wait_for_signal()).await;
    node.shutdown().await;
    if let Some(sim) = simulator {
        sim.shutdown().await;
    }
    outcome
}

/// The demo account's API key: the one in `file` while the state still has it, else a new
/// one, added to the state and written to `file`.
async fn demo_api_key(
    cluster: &tern_cluster::Cluster,
    file: &std::path::Path,
) -> anyhow::Result<String> {
    if let Ok(text) = std::fs::read_to_string(file) {
        let key = text.trim().to_owned();
        let known = tern_actors::api_key::id_of(&key).is_some_and(|id| {
            cluster.read(|s| {
                s.http.keys.get(id).is_some_and(|k| {
                    k.account == "demo" && k.hash == tern_actors::api_key::hash_text(&key)
                })
            })
        });
        if known {
            return Ok(key);
        }
    }
    let (id, key) = tern_actors::api_key::generate();
    let api_key = tern_ledger::ApiKey {
        id,
        account: "demo".into(),
        label: "tern dev".into(),
        hash: tern_actors::api_key::hash_text(&key),
        created_ms: tern_model::now_ms(),
    };
    let response = cluster
        .propose(tern_ledger::Request {
            at_ms: 0,
            audit: None,
            command: tern_ledger::Command::PutApiKey { key: api_key },
        })
        .await
        .map_err(|e| anyhow::anyhow!("creating the demo API key: {e}"))?;
    if let tern_ledger::Response::Refused(refusal) = response {
        anyhow::bail!("creating the demo API key: {refusal}");
    }
    std::fs::write(file, format!("{key}\n"))
        .with_context(|| format!("writing {}", file.display()))?;
    Ok(key)
}

/// 32 hex characters from the system's random source.
fn random_token() -> anyhow::Result<String> {
    let mut bytes = [0u8; 16];
    ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut bytes)
        .map_err(|_| anyhow::anyhow!("no randomness for the admin token"))?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_dev_config_is_valid() {
        let args = DevArgs {
            data_dir: "x".into(),
            smpp_listen: "127.0.0.1:2775".parse().unwrap(),
            metrics_listen: "127.0.0.1:9100".parse().unwrap(),
            upstream: None,
            upstream_ca: None,
            sim_receipt_delay_ms: 100,
            grpc_listen: "127.0.0.1:50051".parse().unwrap(),
            admin_token: None,
            raft_listen: "127.0.0.1:0".parse().unwrap(),
            cmpp_listen: "127.0.0.1:7890".parse().unwrap(),
            smgp_listen: "127.0.0.1:8890".parse().unwrap(),
            cngp_listen: "127.0.0.1:9890".parse().unwrap(),
            sgip_listen: "127.0.0.1:8801".parse().unwrap(),
            sgip_deliver_to: None,
            http_listen: "127.0.0.1:8080".parse().unwrap(),
            store: None,
        };
        dev_config(&args, "smpp://tern:tern@127.0.0.1:1", "t")
            .validate()
            .unwrap();
    }
}
