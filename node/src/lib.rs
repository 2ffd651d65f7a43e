//! The Tern node: configuration, wiring of the store, the actor pipeline, the listeners,
//! the metrics endpoint and graceful shutdown. The only crate that installs the tracing
//! subscriber, the metrics exporter and the runtime.

pub mod admin;
pub mod config;
mod control;
pub mod dev;
pub mod ledger;
pub mod membership;
pub mod notifier;
mod ops;
mod protocols;
pub mod replica;
pub mod telemetry;

pub use tern_actors::{allowlist, ids};

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use tern_actors::link::LinkConfig;
use tern_actors::{AggregatePolicy, Pipeline, PipelineConfig, Settings};
use tern_storage::embedded::EmbeddedStore;
use tern_storage::MessageStore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{error, info, warn};

use crate::config::{AggregateConfig, Config, LinkUrl, SmppSection, UpstreamConfig};

/// The operator link an `[[upstream]]` describes, in the protocol of its URL's scheme.
pub fn link_config(smpp: &SmppSection, upstream: &UpstreamConfig) -> anyhow::Result<LinkConfig> {
    let url = LinkUrl::parse(&upstream.url)
        .map_err(|m| anyhow::anyhow!("upstream {}: url {m}", upstream.name))?;
    let protocol = protocols::for_scheme(&url.scheme).with_context(|| {
        format!(
            "upstream {}: no protocol for {}://",
            upstream.name, url.scheme
        )
    })?;
    Ok(LinkConfig {
        name: upstream.name.clone(),
        carrier: protocol
            .carrier(smpp, url, upstream)
            .with_context(|| format!("upstream {} ({})", upstream.name, protocol.name()))?,
        credit: upstream.window.saturating_mul(2).max(2),
        revision: 0,
        binds: upstream.binds.max(1),
    })
}

/// The pipeline's timers and limits from the file.
pub fn settings(config: &Config) -> Settings {
    let p = &config.pipeline;
    Settings {
        node_id: config.node.id,
        shards: p.shards,
        default_validity: Duration::from_secs(p.default_validity_secs),
        max_validity: Duration::from_secs(p.max_validity_secs),
        held_ttl: Duration::from_secs(p.held_ttl_secs),
        retry_min: Duration::from_millis(p.retry_min_ms),
        retry_max: Duration::from_secs(p.retry_max_secs),
        aggregate: match p.aggregate {
            AggregateConfig::AllDelivered => AggregatePolicy::AllDelivered,
            AggregateConfig::AnyDelivered => AggregatePolicy::AnyDelivered,
        },
        max_queued_in_memory: p.max_queued_in_memory,
        bind_guard: config.bind_lockout.guard(),
    }
}

/// The pipeline's configuration: timers from the file, accounts, routes, links and MO
/// rules from the replicated state.
pub fn pipeline_config(
    config: &Config,
    state: &tern_ledger::State,
    ledger: Arc<dyn tern_actors::quota::Ledger>,
    membership: Option<Arc<tern_actors::membership::Membership>>,
) -> PipelineConfig {
    PipelineConfig {
        settings: settings(config),
        accounts: replica::policies(state),
        routes: replica::routes(state),
        links: replica::links(state, &config.smpp),
        mo_rules: replica::mo_rules(state),
        ledger,
        membership,
    }
}

/// What a started node listens on.
#[derive(Debug, Clone, Default)]
pub struct Endpoints {
    pub smpp: Option<std::net::SocketAddr>,
    pub smpps: Option<std::net::SocketAddr>,
    pub cmpp: Option<std::net::SocketAddr>,
    /// Every customer listener by its name ("smpp", "smpps", "cmpp", ...).
    pub listening: std::collections::BTreeMap<&'static str, std::net::SocketAddr>,
    pub metrics: Option<std::net::SocketAddr>,
    pub raft: Option<std::net::SocketAddr>,
    pub admin: Option<std::net::SocketAddr>,
}

/// A started node: the replicated state, the pipeline and its listeners.
pub struct Node {
    pub endpoints: Endpoints,
    pub cluster: tern_cluster::Cluster,
    pipeline: Pipeline,
    background: Vec<tokio::task::JoinHandle<()>>,
    admin: Option<admin::Running>,
    store: Arc<dyn MessageStore>,
    customers: CancellationToken,
    customer_tasks: TaskTracker,
    accept_loops: Vec<tokio::task::JoinHandle<()>>,
    grace: Duration,
}

impl Node {
    /// Opens the store, starts the pipeline and the listeners.
    pub async fn start(config: &Config) -> anyhow::Result<Self> {
        use_ring_for_tls();
        let mut metrics = None;
        if let Some(listen) = config.metrics.listen {
            telemetry::init_metrics(listen).with_context(|| format!("metrics.listen {listen}"))?;
            tern_cluster::telemetry::describe_metrics();
            info!(%listen, "metrics at /metrics");
            metrics = Some(listen);
        }
        refuse_shared_nothing_cluster(config)?;
        let store = open_store(&config.store).await?;
        let cluster = ledger::start_cluster(config).await?;
        let backend = Arc::new(ledger::ClusterLedger::new(cluster.clone()));
        let membership = tern_actors::membership::Membership::clustered(
            u64::from(config.node.id),
            config.pipeline.shards,
        );
        membership.set_relay(Arc::new(membership::ClusterRelay(cluster.clone())));
        let pipeline_config =
            cluster.read(|s| pipeline_config(config, s, backend.clone(), Some(membership.clone())));
        let pipeline = Pipeline::start(store.clone(), pipeline_config).await?;
        membership::serve_relay(&cluster, &pipeline.handle());
        let member = tokio::spawn(membership::run(cluster.clone(), pipeline.handle()));
        let watcher = tokio::spawn(ledger::follow_changes(
            cluster.clone(),
            pipeline.handle(),
            config.smpp.clone(),
        ));
        let notifier = tokio::spawn(notifier::run(cluster.clone(), config.notify.clone()));
        let peers = tokio::spawn(ledger::join_peers(
            cluster.clone(),
            if config.cluster.bootstrap {
                config.cluster.peers.clone()
            } else {
                Vec::new()
            },
        ));
        let customers = CancellationToken::new();
        let customer_tasks = TaskTracker::new();
        let mut endpoints = Endpoints {
            metrics,
            raft: Some(cluster.raft_addr()),
            ..Endpoints::default()
        };
        let mut listeners = Vec::new();
        for protocol in protocols::ALL {
            listeners.extend(protocol.listen(config, pipeline.sessions()?).await?);
        }
        for listener in &listeners {
            endpoints.listening.insert(listener.name, listener.addr);
        }
        endpoints.smpp = endpoints.listening.get("smpp").copied();
        endpoints.smpps = endpoints.listening.get("smpps").copied();
        endpoints.cmpp = endpoints.listening.get("cmpp").copied();
        let admin = match config.admin.listen {
            Some(listen) => {
                let token = config
                    .admin
                    .token()?
                    .context("admin.listen needs admin.token or admin.token_file")?;
                let ops = Arc::new(ops::LocalOps {
                    pipeline: pipeline.handle(),
                    store: store.clone(),
                    cluster: cluster.clone(),
                    smpp: config.smpp.clone(),
                });
                let stop = customers.clone();
                let running = admin::spawn(
                    admin::AdminConfig {
                        listen,
                        token,
                        tls: None,
                    },
                    backend.clone(),
                    ops,
                    async move { stop.cancelled().await },
                )
                .await?;
                endpoints.admin = Some(running.addr);
                Some(running)
            }
            None => None,
        };
        // Customers are let in once the node holds its lease (it throttles them before).
        if tokio::time::timeout(LEASE_WAIT, async {
            while !membership.lease_valid() {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
        .await
        .is_err()
        {
            warn!(
                waited_secs = LEASE_WAIT.as_secs(),
                "no cluster lease yet: customers are throttled until the node holds one"
            );
        }
        // Customers are let in only now, every protocol at once.
        let accept_loops: Vec<tokio::task::JoinHandle<()>> = listeners
            .into_iter()
            .map(|listener| {
                tokio::spawn((listener.serve)(customers.clone(), customer_tasks.clone()))
            })
            .collect();
        Ok(Self {
            endpoints,
            cluster,
            pipeline,
            background: vec![watcher, notifier, peers, member],
            admin,
            store,
            customers,
            customer_tasks,
            accept_loops,
            grace: Duration::from_secs(config.node.shutdown_grace_secs),
        })
    }

    /// Waits for `signal`, or for the pipeline to stop on its own: then the error says why,
    /// and the caller shuts down and exits non-zero.
    pub async fn until_stopped(
        &self,
        signal: impl std::future::Future<Output = ()>,
    ) -> anyhow::Result<()> {
        tokio::select! {
            () = signal => Ok(()),
            reason = self.pipeline.ended() => {
                error!(
                    reason,
                    "the message pipeline stopped; the node shuts down and exits non-zero so that its service manager restarts it"
                );
                Err(anyhow::anyhow!("the message pipeline stopped: {reason}"))
            }
            failure = store_failed(self.store.as_ref()) => {
                error!(
                    failure,
                    "the message store failed and takes no more writes; the node shuts down and exits non-zero so that a restart recovers the store"
                );
                Err(anyhow::anyhow!("the message store failed: {failure}"))
            }
        }
    }

    /// Unbinds every customer (their outstanding submits finish first), stops the
    /// pipeline (links unbind), and lets the store finish its queued writes.
    pub async fn shutdown(self) {
        info!(
            grace_secs = self.grace.as_secs(),
            "shutting down: unbinding customer sessions"
        );
        self.customers.cancel();
        for accept in self.accept_loops {
            let _ = accept.await;
        }
        self.customer_tasks.close();
        if tokio::time::timeout(self.grace, self.customer_tasks.wait())
            .await
            .is_err()
        {
            warn!("customer sessions did not all unbind within the grace period");
        }
        if let Some(admin) = self.admin {
            let _ = tokio::time::timeout(Duration::from_secs(2), admin.join()).await;
        }
        info!("stopping the pipeline");
        for task in &self.background {
            task.abort();
        }
        self.pipeline.stop().await;
        self.cluster.shutdown().await;
        // Link tasks finish their in-flight requests before the store goes.
        tokio::time::sleep(Duration::from_millis(200)).await;
        // An empty write is a barrier: it is done once every write queued before it is.
        if let Err(error) = tern_storage::write_durable(self.store.as_ref(), Vec::new()).await {
            warn!(%error, "the store's last writes did not complete");
        }
        drop(self.store);
        info!("stopped");
    }
}

/// How long a starting node waits for its cluster lease before it lets customers in.
const LEASE_WAIT: Duration = Duration::from_secs(15);

/// A cluster of several nodes keeps its queues in the shared CQL store, so that a
/// survivor can take over a dead node's: one on embedded stores is refused.
fn refuse_shared_nothing_cluster(config: &Config) -> anyhow::Result<()> {
    let joins = !config.cluster.peers.is_empty() || !config.cluster.bootstrap;
    if joins && config.store.backend == config::StoreBackend::Embedded {
        anyhow::bail!(
            "cluster: a cluster of several nodes needs the shared store ([store] backend = \"scylla\" with [store.cql]): \
             with the embedded store a node's queue could not be taken over when it dies. \
             One node on the embedded store needs no cluster.peers and cluster.bootstrap = true"
        );
    }
    Ok(())
}

/// Makes ring the process's TLS crypto provider. rustls picks one by itself only when one
/// is compiled in, and the CQL driver brings a second (aws-lc): every TLS setup of the
/// node calls this first. Installing it twice is harmless.
pub fn use_ring_for_tls() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// Opens the backend `[store]` names: the embedded store in `store.dir`, or the CQL
/// database of `[store.cql]` (its schema migrated on the way).
pub async fn open_store(section: &config::StoreSection) -> anyhow::Result<Arc<dyn MessageStore>> {
    match (section.backend, &section.cql) {
        (config::StoreBackend::Scylla, Some(cql)) => {
            let store = tern_storage::cql::CqlStore::connect(cql.clone())
                .await
                .with_context(|| {
                    format!(
                        "store.cql: keyspace {} at {}",
                        cql.keyspace,
                        cql.contact_points.join(",")
                    )
                })?;
            info!(keyspace = %cql.keyspace, "message store: CQL");
            Ok(Arc::new(store))
        }
        (config::StoreBackend::Scylla, None) => {
            anyhow::bail!("store.cql: needed with store.backend = \"scylla\"")
        }
        (config::StoreBackend::Embedded, _) => {
            std::fs::create_dir_all(&section.dir)
                .with_context(|| format!("store.dir {}", section.dir.display()))?;
            let store = EmbeddedStore::open(&section.dir, section.embedded_config())
                .with_context(|| format!("store.dir {}", section.dir.display()))?;
            Ok(Arc::new(store))
        }
    }
}

/// Resolves with the store's failure once it has failed for good (fail-stop, see
/// [`MessageStore::failure`]).
async fn store_failed(store: &dyn MessageStore) -> String {
    let mut tick = tokio::time::interval(Duration::from_millis(200));
    loop {
        tick.tick().await;
        if let Some(failure) = store.failure() {
            return failure;
        }
    }
}

/// Runs the node until SIGTERM or SIGINT, then shuts down gracefully. If the pipeline
/// stops first (its supervisor gave up), the node shuts down too and the error makes the
/// process exit non-zero, so that systemd or Kubernetes restart it.
pub async fn run(config: Config) -> anyhow::Result<()> {
    let node = Node::start(&config).await?;
    let outcome = node.until_stopped(wait_for_signal()).await;
    node.shutdown().await;
    outcome
}

/// Resolves on SIGTERM or SIGINT.
pub async fn wait_for_signal() {
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

#[cfg(test)]
mod tests {
    use super::*;

    /// A node that would join others, or name peers, on the embedded store is refused with
    /// a message that says why and what to configure; one node on its own is not.
    #[test]
    #[allow(clippy::unwrap_used)]
    fn a_cluster_on_embedded_stores_is_refused() {
        let alone = Config::parse("[cluster]\nlisten = \"127.0.0.1:0\"\n").unwrap();
        assert!(refuse_shared_nothing_cluster(&alone).is_ok());
        for cluster in [
            "bootstrap = false",
            "peers = [{ id = 2, addr = \"127.0.0.1:7001\" }]",
        ] {
            let toml = format!("[cluster]\nlisten = \"127.0.0.1:0\"\n{cluster}\n");
            let config = Config::parse(&toml).unwrap();
            let error = refuse_shared_nothing_cluster(&config)
                .unwrap_err()
                .to_string();
            assert!(
                error.contains("backend = \"scylla\"") && error.contains("taken over"),
                "{error}"
            );
        }
    }

    /// What `tern node` and `tern dev` do when the pipeline's supervisor gives up: the wait
    /// ends with an error (the process then exits non-zero), without any signal.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    #[allow(clippy::unwrap_used)]
    async fn a_node_whose_pipeline_stops_ends_with_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let toml = format!(
            "[smpp]\nlisten = \"127.0.0.1:0\"\n\n[cluster]\nlisten = \"127.0.0.1:0\"\n\n\
             [store]\ndir = {:?}\n",
            dir.path().join("store").display().to_string()
        );
        let node = Node::start(&Config::parse(&toml).unwrap()).await.unwrap();
        let running = tokio::time::timeout(
            Duration::from_millis(300),
            node.until_stopped(std::future::pending()),
        )
        .await;
        assert!(running.is_err(), "a running node keeps waiting");
        node.pipeline.supervisor.kill();
        let ended = tokio::time::timeout(
            Duration::from_secs(5),
            node.until_stopped(std::future::pending()),
        )
        .await
        .expect("the node noticed that its pipeline stopped");
        let error = ended.expect_err("the node reports an error, so the process exits non-zero");
        assert!(error.to_string().contains("pipeline stopped"), "{error}");
        node.shutdown().await;
    }
}
