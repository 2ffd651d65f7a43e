//! A Tern cluster on this machine, as separate processes: N `tern node`s on one CQL
//! keyspace of their own, a simulated operator (`tern-bench smsc`) or a real SMSC, and the
//! Cassandra node of `scripts/cassandra` when no database is given. Newcomers start it to
//! try a cluster out, tests and the chaos harness to break one.
//!
//! Everything is driven from outside: processes by PID and signal, nodes through their
//! configuration files and `tern ctl`. What runs is described in `<run dir>/cluster.json`,
//! so that another process (`tern-chaos cluster down`) can stop what `up` started; the
//! processes run in process groups of their own and outlive the command that started them.

mod bringup;
mod config;
mod operator;
pub mod process;

use std::collections::{BTreeMap, HashSet};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context as _;
use rustix::process::Signal;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tokio::time::Instant;

pub use config::{DEMO_ACCOUNT, UPSTREAM_BINDS, UPSTREAM_NAME};
pub use operator::{OperatorStats, SIMULATOR_ACCOUNT};
pub use process::ProcessId;

use bringup::{absolute, prepare_dir, run_script};
use process::Children;

use crate::proxy::{Fault, Proxy};
use crate::support::{self, random_hex, tail, PortPicker};

/// Nodes of a cluster unless asked otherwise.
pub const DEFAULT_NODES: u16 = 3;
/// The state file in the run directory.
pub const STATE_FILE: &str = "cluster.json";
/// How long a node may take to stop after SIGTERM before it gets SIGKILL.
pub const STOP_GRACE: Duration = Duration::from_secs(15);
/// What `up` starts.
#[derive(Debug, Clone)]
pub struct Options {
    pub nodes: u16,
    /// A real SMSC, `smpp://USER:PASSWORD@HOST:PORT`, instead of the simulator.
    pub upstream: Option<String>,
    /// The run directory: the state file, and a directory per node and for the operator.
    pub dir: PathBuf,
    /// A CQL database, `host:port`; none: `scripts/cassandra` (started when it is not
    /// running, and then stopped by `down`).
    pub cql: Option<String>,
    /// How long the nodes may take to answer and agree on the members.
    pub deadline: Duration,
    /// The programs; none: [`Binaries::find`].
    pub binaries: Option<Binaries>,
    /// Progress lines on stderr.
    pub progress: bool,
    /// More flags for the simulator (`--history FILE`, operator faults).
    pub operator_args: Vec<String>,
    /// A fault proxy on every path from one node to another (raft and the relay), for
    /// partitions; they live in this process (see [`LocalCluster::cut`]).
    pub node_proxies: bool,
    /// `[cluster] snapshot_logs` of every node; none: the node's default.
    pub snapshot_logs: Option<u64>,
    /// A fault proxy between each node and the CQL database (see
    /// [`LocalCluster::cut_database`]).
    pub database_proxies: bool,
    /// Nodes planned beyond `nodes` (ids `nodes + 1`...), with their files and proxies,
    /// but neither started nor members: [`LocalCluster::join`] adds one.
    pub spare: u16,
}

impl Default for Options {
    /// Three nodes on the simulator in `target/cluster`, on `TERN_CQL` when it is set.
    fn default() -> Self {
        Self {
            nodes: DEFAULT_NODES,
            upstream: None,
            dir: workspace_root().join("target").join("cluster"),
            cql: std::env::var("TERN_CQL").ok().filter(|v| !v.is_empty()),
            deadline: Duration::from_secs(90),
            binaries: None,
            progress: true,
            operator_args: Vec::new(),
            node_proxies: false,
            snapshot_logs: None,
            database_proxies: false,
            spare: 0,
        }
    }
}

/// The programs a cluster runs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Binaries {
    pub tern: PathBuf,
    pub tern_bench: PathBuf,
}

impl Binaries {
    /// `TERN_BIN` and `TERN_BENCH_BIN`; else beside this program (or one directory up:
    /// a test program runs from `target/<profile>/deps`); else the newer of
    /// `target/release` and `target/debug`.
    pub fn find() -> anyhow::Result<Self> {
        Ok(Self {
            tern: find_binary("tern", "TERN_BIN")?,
            tern_bench: find_binary("tern-bench", "TERN_BENCH_BIN")?,
        })
    }
}

fn find_binary(name: &str, variable: &str) -> anyhow::Result<PathBuf> {
    if let Some(path) = std::env::var_os(variable).filter(|v| !v.is_empty()) {
        let path = PathBuf::from(path);
        anyhow::ensure!(
            path.is_file(),
            "{variable}={}: no such file",
            path.display()
        );
        return Ok(path);
    }
    if let Some(dir) = std::env::current_exe()
        .ok()
        .and_then(|e| e.parent().map(Path::to_owned))
    {
        for dir in [Some(dir.as_path()), dir.parent()].into_iter().flatten() {
            let path = dir.join(name);
            if path.is_file() {
                return Ok(path);
            }
        }
    }
    let target = workspace_root().join("target");
    ["release", "debug"]
        .iter()
        .map(|profile| target.join(profile).join(name))
        .filter_map(|path| Some((path.metadata().ok()?.modified().ok()?, path)))
        .max()
        .map(|(_, path)| path)
        .ok_or_else(|| {
            anyhow::anyhow!(
                "no {name} binary: set {variable}, or build it (cargo build --release --bin {name})"
            )
        })
}

/// The repository this crate is in: `scripts/cassandra` and the default run directory.
pub fn workspace_root() -> PathBuf {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest.parent().unwrap_or(manifest).to_owned()
}

/// Everything about a running cluster; `<run dir>/cluster.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ClusterState {
    pub dir: PathBuf,
    /// The admin API's token, the same on every node.
    pub token: String,
    /// The raft secret the nodes present to each other.
    pub raft_secret: String,
    /// The CQL database, `host:port`.
    pub cql: String,
    pub keyspace: String,
    /// `up` started the database (`scripts/cassandra start`), and `down` stops it.
    pub started_cassandra: bool,
    /// The operator, `host:port`.
    pub operator: String,
    /// The simulator, when the operator is one.
    pub simulator: Option<Simulator>,
    pub nodes: Vec<NodeState>,
    pub binaries: Binaries,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Simulator {
    pub process: ProcessId,
    pub log: PathBuf,
}

/// One node: its addresses, files and process.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct NodeState {
    pub id: u16,
    /// None until it is first started.
    pub process: Option<ProcessId>,
    /// Customers' SMPP.
    pub smpp: SocketAddr,
    /// The gRPC admin API (`tern ctl --server http://ADDR`).
    pub admin: SocketAddr,
    /// Prometheus text at `/metrics`.
    pub metrics: SocketAddr,
    /// Raft between the nodes.
    pub raft: SocketAddr,
    pub dir: PathBuf,
    pub config: PathBuf,
    pub log: PathBuf,
}

/// The line `tern-chaos cluster up` prints.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Summary {
    pub nodes: Vec<NodeSummary>,
    pub token: String,
    pub operator: String,
    pub cql: String,
    pub keyspace: String,
    pub dir: PathBuf,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct NodeSummary {
    pub id: u16,
    pub pid: Option<u32>,
    pub smpp: SocketAddr,
    pub admin: SocketAddr,
    pub metrics: SocketAddr,
}

impl ClusterState {
    pub fn summary(&self) -> Summary {
        Summary {
            nodes: self
                .nodes
                .iter()
                .map(|n| NodeSummary {
                    id: n.id,
                    pid: n.process.map(|p| p.pid),
                    smpp: n.smpp,
                    admin: n.admin,
                    metrics: n.metrics,
                })
                .collect(),
            token: self.token.clone(),
            operator: self.operator.clone(),
            cql: self.cql.clone(),
            keyspace: self.keyspace.clone(),
            dir: self.dir.clone(),
        }
    }

    /// Reads `<dir>/cluster.json`.
    pub fn load(dir: &Path) -> anyhow::Result<Self> {
        let path = dir.join(STATE_FILE);
        let text = std::fs::read_to_string(&path).with_context(|| {
            format!("no cluster runs from {}: {}", dir.display(), path.display())
        })?;
        serde_json::from_str(&text).with_context(|| format!("reading {}", path.display()))
    }

    fn save(&self) -> anyhow::Result<()> {
        use std::io::Write as _;
        use std::os::unix::fs::OpenOptionsExt as _;
        let path = self.dir.join(STATE_FILE);
        let part = self.dir.join(format!("{STATE_FILE}.part"));
        let json = serde_json::to_string_pretty(self)? + "\n";
        // It holds the admin token and the raft secret.
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .write(true)
            .truncate(true)
            .mode(0o600)
            .open(&part)
            .with_context(|| format!("writing {}", part.display()))?;
        file.write_all(json.as_bytes())
            .with_context(|| format!("writing {}", part.display()))?;
        std::fs::rename(&part, &path).with_context(|| format!("writing {}", path.display()))
    }
}

/// What `down` found at the end.
#[derive(Debug, Clone, Default)]
pub struct DownReport {
    /// The simulator's final counters, when it ran and printed them.
    pub operator: Option<OperatorStats>,
    /// The same, every counter it has (`submits_by_status`, ...).
    pub operator_json: Option<Value>,
}

/// A running local cluster. Dropped, it stops what it started, unless
/// [`LocalCluster::keep_running`] was called (or it was [`LocalCluster::attach`]ed).
///
/// `up` and `restart` are async: they wait for nodes over the network. Stopping is not
/// (`Drop` has to do it too): `kill`, `stop`, `cont` return at once, `down` blocks until
/// the processes are gone, up to [`STOP_GRACE`] and a few seconds more.
pub struct LocalCluster {
    state: ClusterState,
    children: Children,
    progress: bool,
    /// Stop nothing when dropped.
    keep: bool,
    /// Everything was stopped (`down`, or `Drop` of a failed `up`).
    stopped: bool,
    /// The proxy on the path from node `a` to node `b` (`a` dials through it), by `(a, b)`.
    paths: BTreeMap<(u16, u16), Proxy>,
    /// The proxy between node `id` and the database, by `id`.
    databases: BTreeMap<u16, Proxy>,
}

impl LocalCluster {
    /// Starts the database (if needed), the operator and the nodes, and waits until every
    /// node answers and lists all the members. On failure, what was started is stopped.
    pub async fn up(options: Options) -> anyhow::Result<Self> {
        anyhow::ensure!(
            (1..=1023).contains(&options.nodes),
            "--nodes {}: from 1 to 1023",
            options.nodes
        );
        let binaries = match options.binaries.clone() {
            Some(binaries) => binaries,
            None => Binaries::find()?,
        };
        let dir = absolute(&options.dir)?;
        prepare_dir(&dir)?;
        let mut cluster = LocalCluster {
            state: ClusterState {
                dir: dir.clone(),
                token: random_hex(16),
                raft_secret: random_hex(16),
                cql: String::new(),
                keyspace: format!("tern_cluster_{}", random_hex(6)),
                started_cassandra: false,
                operator: String::new(),
                simulator: None,
                nodes: Vec::new(),
                binaries,
            },
            children: Children::default(),
            progress: options.progress,
            keep: false,
            stopped: false,
            paths: BTreeMap::new(),
            databases: BTreeMap::new(),
        };
        cluster.state.save()?;
        cluster.state.cql = match options.cql.clone() {
            Some(cql) => cql,
            None => cluster.cassandra_up().await?,
        };
        cluster.state.save()?;
        let mut ports = PortPicker::default();
        let upstream_url = match &options.upstream {
            Some(url) => {
                cluster.state.operator = operator::url_host_port(url)?;
                url.clone()
            }
            None => {
                cluster
                    .start_simulator(&mut ports, &options.operator_args)
                    .await?
            }
        };
        cluster.state.save()?;
        cluster
            .plan_nodes(
                options.nodes,
                options.nodes.saturating_add(options.spare),
                &mut ports,
                &upstream_url,
                &options,
            )
            .await?;
        cluster.state.save()?;
        let deadline = Instant::now() + options.deadline;

        // Node 1 first: it creates the keyspace and its tables, and starts the cluster.
        cluster.start_node(1)?;
        cluster.wait_answers(1, deadline).await?;
        for id in 2..=options.nodes {
            cluster.start_node(id)?;
        }
        cluster.wait_formed(deadline).await?;
        cluster.note(format_args!(
            "{} nodes form a cluster; files and logs in {}",
            options.nodes,
            cluster.state.dir.display()
        ));
        Ok(cluster)
    }

    /// The cluster described in `<dir>/cluster.json`, started by another process;
    /// dropping it stops nothing.
    pub fn attach(dir: &Path) -> anyhow::Result<Self> {
        let state = ClusterState::load(&absolute(dir)?)?;
        Ok(Self {
            state,
            children: Children::default(),
            progress: true,
            keep: true,
            stopped: false,
            paths: BTreeMap::new(),
            databases: BTreeMap::new(),
        })
    }

    pub fn state(&self) -> &ClusterState {
        &self.state
    }

    pub fn summary(&self) -> Summary {
        self.state.summary()
    }

    /// Node `id` (1..=N).
    pub fn node(&self, id: u16) -> anyhow::Result<&NodeState> {
        self.state
            .nodes
            .iter()
            .find(|n| n.id == id)
            .ok_or_else(|| anyhow::anyhow!("no node {id} (1..={})", self.state.nodes.len()))
    }

    /// The admin token of every node.
    pub fn token(&self) -> &str {
        &self.state.token
    }

    /// Leaves everything running when this value is dropped (`tern-chaos cluster up`).
    pub fn keep_running(&mut self) {
        self.keep = true;
        self.children.release();
    }

    /// Whether node `id`'s process runs (a stopped one, SIGSTOP, counts as running).
    pub fn running(&mut self, id: u16) -> bool {
        match self.node(id).ok().and_then(|n| n.process) {
            Some(process) => self.children.alive(process),
            None => false,
        }
    }

    /// Puts `fault` on the path from node `from` to node `to`: the connections `from` opens
    /// to `to` (its raft requests and relay calls, and `to`'s answers on them). The other
    /// direction, `to` dialling `from`, is a path of its own. Needs `node_proxies`.
    pub fn cut(&self, from: u16, to: u16, fault: Fault) -> anyhow::Result<()> {
        let path = self
            .paths
            .get(&(from, to))
            .ok_or_else(|| anyhow::anyhow!("no proxy from node {from} to node {to}"))?;
        self.note(format_args!("path node {from} → node {to}: {fault:?}"));
        path.set(fault);
        Ok(())
    }

    /// Cuts every path between a node of `side` and one outside it, both ways: nothing
    /// passes (bytes are held, as TCP would retransmit them once the network is back).
    pub fn partition(&self, side: &[u16]) -> anyhow::Result<()> {
        let blackhole = Fault {
            blackhole: true,
            ..Fault::default()
        };
        for (from, to) in self.paths.keys() {
            if side.contains(from) != side.contains(to) {
                self.cut(*from, *to, blackhole.clone())?;
            }
        }
        Ok(())
    }

    /// Puts `fault` on the path between node `id` and the database. Needs
    /// `database_proxies`.
    pub fn cut_database(&self, id: u16, fault: Fault) -> anyhow::Result<()> {
        let path = self
            .databases
            .get(&id)
            .ok_or_else(|| anyhow::anyhow!("no proxy from node {id} to the database"))?;
        self.note(format_args!("path node {id} → database: {fault:?}"));
        path.set(fault);
        Ok(())
    }

    /// Resets every connection between node `id` and the database.
    pub fn reset_database(&self, id: u16) -> anyhow::Result<()> {
        let path = self
            .databases
            .get(&id)
            .ok_or_else(|| anyhow::anyhow!("no proxy from node {id} to the database"))?;
        path.reset_all();
        Ok(())
    }

    /// Every path clean again, between the nodes and to the database.
    pub fn heal(&self) {
        self.note(format_args!(
            "every path between the nodes and to the database clean"
        ));
        for proxy in self.paths.values().chain(self.databases.values()) {
            proxy.clear();
        }
    }

    /// SIGKILL to node `id`; returns once it is gone.
    pub fn kill(&mut self, id: u16) -> anyhow::Result<()> {
        let process = self.process_of(id)?;
        self.note(format_args!("node {id}: SIGKILL"));
        self.children.kill(&[process])
    }

    /// SIGSTOP to node `id`: it stays, silent, until [`LocalCluster::cont`].
    pub fn stop(&mut self, id: u16) -> anyhow::Result<()> {
        self.send(id, Signal::STOP)
    }

    /// SIGCONT to node `id`.
    pub fn cont(&mut self, id: u16) -> anyhow::Result<()> {
        self.send(id, Signal::CONT)
    }

    /// SIGTERM to node `id` (SIGKILL after [`STOP_GRACE`]); returns once it is gone.
    pub fn terminate(&mut self, id: u16) -> anyhow::Result<()> {
        let process = self.process_of(id)?;
        self.note(format_args!("node {id}: SIGTERM"));
        self.children.terminate(&[process], STOP_GRACE)
    }

    /// Starts spare node `id` (see [`Options::spare`]) and makes it a voter through node
    /// `via`: `tern ctl cluster add-learner`, then `promote`, as an operator adds a node.
    /// Returns once the new node answers with a leader.
    pub async fn join(&mut self, id: u16, via: u16) -> anyhow::Result<()> {
        self.add_learner(id, via).await?;
        self.promote(id, via).await
    }

    /// Starts spare node `id` and adds it as a learner through node `via` (`tern ctl
    /// cluster add-learner`): it takes the log but does not vote yet.
    pub async fn add_learner(&mut self, id: u16, via: u16) -> anyhow::Result<()> {
        let raft = self.node(id)?.raft;
        self.start_node(id)?;
        self.state.save()?;
        let deadline = Instant::now() + Duration::from_secs(60);
        // Its admin API first: a node that is no member yet answers without a leader.
        while self.ctl(id, &["cluster", "status"]).await.is_err() {
            self.check_running(id)?;
            anyhow::ensure!(
                Instant::now() < deadline,
                "node {id} did not answer in time"
            );
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        self.ctl(
            via,
            &["cluster", "add-learner", &id.to_string(), &raft.to_string()],
        )
        .await?;
        self.note(format_args!(
            "node {id} added as a learner through node {via}"
        ));
        Ok(())
    }

    /// Makes learner `id` a voter through node `via` (`tern ctl cluster promote`); returns
    /// once it answers with a leader.
    pub async fn promote(&mut self, id: u16, via: u16) -> anyhow::Result<()> {
        let deadline = Instant::now() + Duration::from_secs(60);
        self.ctl(via, &["cluster", "promote", &id.to_string()])
            .await?;
        self.note(format_args!("node {id} promoted through node {via}"));
        self.wait_answers(id, deadline).await
    }

    /// Stops node `id` if it runs (SIGTERM, SIGKILL after [`STOP_GRACE`]), starts it again
    /// on its directory and files, and waits until its admin API answers with a leader.
    pub async fn restart(&mut self, id: u16) -> anyhow::Result<()> {
        if let Some(process) = self.node(id)?.process {
            self.children.terminate(&[process], STOP_GRACE)?;
        }
        self.start_node(id)?;
        self.state.save()?;
        let deadline = Instant::now() + Duration::from_secs(60);
        self.wait_answers(id, deadline).await
    }

    /// Node `id`'s `tern ctl --json cluster status`.
    pub async fn cluster_status(&self, id: u16) -> anyhow::Result<Value> {
        self.ctl(id, &["cluster", "status"]).await
    }

    /// `tern ctl --json ARGS` against node `id`'s admin API.
    pub async fn ctl(&self, id: u16, args: &[&str]) -> anyhow::Result<Value> {
        let node = self.node(id)?;
        let who = format!("node {id}");
        support::ctl(
            &self.state.binaries.tern,
            node.admin,
            &self.state.token,
            &who,
            args,
        )
        .await
    }

    /// What the simulator has counted so far (from its progress line, up to a second
    /// old); none when the operator is a real SMSC or the simulator printed nothing yet.
    pub fn operator_stats(&self) -> Option<OperatorStats> {
        let simulator = self.state.simulator.as_ref()?;
        operator::last_progress(&operator::read_log(&simulator.log))
    }

    /// Stops the nodes (SIGTERM, SIGKILL after [`STOP_GRACE`]), then the simulator, drops
    /// the keyspace on a database it did not start and stops the one it started, and
    /// removes the state file. Node directories and logs stay for a look.
    pub fn down(mut self) -> anyhow::Result<DownReport> {
        self.stop_everything()
    }

    fn stop_everything(&mut self) -> anyhow::Result<DownReport> {
        self.stopped = true;
        let mut problems = Vec::new();
        let nodes: Vec<ProcessId> = self.state.nodes.iter().filter_map(|n| n.process).collect();
        if !nodes.is_empty() {
            self.note(format_args!("stopping the nodes"));
            if let Err(e) = self.children.terminate(&nodes, STOP_GRACE) {
                problems.push(format!("nodes: {e:#}"));
            }
        }
        let mut report = DownReport::default();
        if let Some(simulator) = self.state.simulator.clone() {
            self.note(format_args!("stopping the simulator"));
            match self.children.terminate(&[simulator.process], STOP_GRACE) {
                Ok(()) => {
                    if let Some((stats, json)) =
                        operator::final_stats(&operator::read_log(&simulator.log))
                    {
                        report.operator = Some(stats);
                        report.operator_json = Some(json);
                    }
                }
                Err(e) => problems.push(format!("simulator: {e:#}")),
            }
        }
        if self.state.started_cassandra {
            self.note(format_args!("stopping Cassandra (scripts/cassandra stop)"));
            if let Err(e) = run_script("stop") {
                problems.push(format!("cassandra: {e:#}"));
            }
        } else if self.state.nodes.iter().any(|n| n.process.is_some()) {
            // Each `up` makes a keyspace; a database that outlives the cluster (a
            // developer's, CI's) would otherwise keep a dozen tables of each on its heap.
            if let Err(e) = self.drop_keyspace() {
                self.note(format_args!(
                    "keyspace {} not dropped (a node may have stopped before making it): {e:#}",
                    self.state.keyspace
                ));
            }
        }
        if problems.is_empty() {
            let _ = std::fs::remove_file(self.state.dir.join(STATE_FILE));
            Ok(report)
        } else {
            anyhow::bail!("{}", problems.join("; "))
        }
    }

    fn process_of(&self, id: u16) -> anyhow::Result<ProcessId> {
        self.node(id)?
            .process
            .ok_or_else(|| anyhow::anyhow!("node {id} was never started"))
    }

    fn send(&mut self, id: u16, signal: Signal) -> anyhow::Result<()> {
        let process = self.process_of(id)?;
        anyhow::ensure!(
            process::signal(process, signal)?,
            "node {id} (PID {}) does not run",
            process.pid
        );
        Ok(())
    }

    fn note(&self, line: std::fmt::Arguments<'_>) {
        if self.progress {
            eprintln!("cluster: {line}");
        }
    }

    fn start_node(&mut self, id: u16) -> anyhow::Result<()> {
        let tern = self.state.binaries.tern.clone();
        let node = self
            .state
            .nodes
            .iter_mut()
            .find(|n| n.id == id)
            .ok_or_else(|| anyhow::anyhow!("no node {id}"))?;
        let args = vec![
            "node".to_owned(),
            "--config".to_owned(),
            node.config.display().to_string(),
        ];
        let child = process::spawn(&tern, &args, &node.dir, &node.log)?;
        node.process = Some(process::id_of(&child)?);
        self.children.adopt(child);
        self.state.save()?;
        self.note(format_args!("node {id} started"));
        Ok(())
    }

    /// Fails when node `id` has ended, quoting its log.
    fn check_running(&mut self, id: u16) -> anyhow::Result<()> {
        let node = self.node(id)?;
        let (process, log) = (node.process, node.log.clone());
        let Some(process) = process else {
            anyhow::bail!("node {id} was never started");
        };
        if let Some(status) = self.children.exit_status(process) {
            anyhow::bail!("node {id} ended ({status}):\n{}", tail(&log));
        }
        anyhow::ensure!(
            self.children.alive(process),
            "node {id} ended:\n{}",
            tail(&log)
        );
        Ok(())
    }

    /// Waits until node `id` answers `cluster status` naming a leader.
    async fn wait_answers(&mut self, id: u16, deadline: Instant) -> anyhow::Result<()> {
        loop {
            self.check_running(id)?;
            let last = match self.cluster_status(id).await {
                Ok(status) if status["leader"].as_u64().is_some() => {
                    self.note(format_args!("node {id} answers"));
                    return Ok(());
                }
                Ok(status) => format!("no leader yet: {status}"),
                Err(e) => format!("{e:#}"),
            };
            if Instant::now() >= deadline {
                anyhow::bail!(
                    "node {id} does not answer in time ({last}); its log ends:\n{}",
                    tail(&self.node(id)?.log)
                );
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }

    /// Waits until every node lists every member as a voter and names the same leader.
    async fn wait_formed(&mut self, deadline: Instant) -> anyhow::Result<()> {
        // The nodes started; spares are not members yet.
        let ids: Vec<u16> = self
            .state
            .nodes
            .iter()
            .filter(|n| n.process.is_some())
            .map(|n| n.id)
            .collect();
        let want: HashSet<u64> = ids.iter().map(|id| u64::from(*id)).collect();
        loop {
            let mut views = Vec::new();
            for id in &ids {
                self.check_running(*id)?;
                let view = match self.cluster_status(*id).await {
                    Ok(status) => describe(&status, &want),
                    Err(e) => Err(format!("{e:#}")),
                };
                views.push((*id, view));
            }
            let leaders: HashSet<u64> = views
                .iter()
                .filter_map(|(_, v)| v.as_ref().ok().copied())
                .collect();
            if leaders.len() == 1 && views.iter().all(|(_, v)| v.is_ok()) {
                return Ok(());
            }
            if Instant::now() >= deadline {
                let views: Vec<String> = views
                    .iter()
                    .map(|(id, v)| match v {
                        Ok(leader) => format!("node {id}: all members, leader {leader}"),
                        Err(e) => format!("node {id}: {e}"),
                    })
                    .collect();
                anyhow::bail!(
                    "the cluster did not form in time (logs in {}):\n  {}",
                    self.state.dir.display(),
                    views.join("\n  ")
                );
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }
}

impl Drop for LocalCluster {
    fn drop(&mut self) {
        if self.keep || self.stopped {
            return;
        }
        if let Err(e) = self.stop_everything() {
            eprintln!("cluster: stopping {}: {e:#}", self.state.dir.display());
        }
    }
}

/// The leader a node names when it lists exactly the members of `want`, all voters.
fn describe(status: &Value, want: &HashSet<u64>) -> Result<u64, String> {
    let members = status["members"].as_array().cloned().unwrap_or_default();
    let voters: HashSet<u64> = members
        .iter()
        .filter(|m| m["voter"] == true)
        .filter_map(|m| m["id"].as_u64())
        .collect();
    if voters != *want || members.len() != want.len() {
        let mut ids: Vec<u64> = voters.into_iter().collect();
        ids.sort_unstable();
        return Err(format!("voters {ids:?} of {} members", members.len()));
    }
    status["leader"]
        .as_u64()
        .ok_or_else(|| "all members, no leader".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_member_list_is_complete_only_with_every_node_a_voter_and_a_leader() {
        let want: HashSet<u64> = [1, 2, 3].into();
        let member =
            |id: u64, voter: bool| serde_json::json!({ "id": id, "addr": "x", "voter": voter });
        let status = |members: Vec<Value>, leader: Value| serde_json::json!({ "node_id": 1, "leader": leader, "members": members });
        let all = vec![member(1, true), member(2, true), member(3, true)];
        assert_eq!(describe(&status(all.clone(), 2.into()), &want), Ok(2));
        assert!(describe(&status(all, Value::Null), &want).is_err());
        let learner = vec![member(1, true), member(2, true), member(3, false)];
        assert!(describe(&status(learner, 1.into()), &want).is_err());
        assert!(describe(&status(vec![member(1, true)], 1.into()), &want).is_err());
    }

    #[test]
    fn an_earlier_run_is_cleared_but_nothing_else() {
        let dir = std::env::temp_dir().join(format!("tern-chaos-dir-{}", std::process::id()));
        for sub in ["node1/data", "node12", "operator", "notes", "node"] {
            std::fs::create_dir_all(dir.join(sub)).unwrap();
        }
        prepare_dir(&dir).unwrap();
        let mut left: Vec<String> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        left.sort();
        assert_eq!(left, ["node", "notes"]);
        std::fs::remove_dir_all(dir).unwrap();
    }
}
