//! Bringing a cluster up: its run directory, the Cassandra node when none is given, the
//! simulated operator, and the plan of every node (ports, proxies, files); and what `down`
//! needs of the same tools.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use anyhow::Context as _;
use tokio::time::Instant;

use super::{
    config, operator, process, workspace_root, ClusterState, LocalCluster, NodeState, Options,
    Simulator, SIMULATOR_ACCOUNT, STATE_FILE,
};
use crate::proxy::Proxy;
use crate::support::{local, tail, PortPicker};

impl LocalCluster {
    /// `scripts/cassandra`'s node: the running one, or one started now (and remembered,
    /// so that `down` stops it).
    pub(super) async fn cassandra_up(&mut self) -> anyhow::Result<String> {
        let script = workspace_root().join("scripts").join("cassandra");
        let status = tokio::process::Command::new(&script)
            .arg("status")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .await
            .with_context(|| format!("running {} status", script.display()))?;
        let command = if status.success() {
            "env"
        } else {
            self.note(format_args!(
                "no TERN_CQL: starting Cassandra (scripts/cassandra start, about a minute)"
            ));
            // Remembered before it is started: a start that fails half-way is stopped too.
            self.state.started_cassandra = true;
            self.state.save()?;
            "start"
        };
        let output = tokio::process::Command::new(&script)
            .arg(command)
            .stdin(Stdio::null())
            .stderr(if self.progress {
                Stdio::inherit()
            } else {
                Stdio::null()
            })
            .output()
            .await
            .with_context(|| format!("running {} {command}", script.display()))?;
        let stdout = String::from_utf8_lossy(&output.stdout);
        anyhow::ensure!(
            output.status.success(),
            "scripts/cassandra {command} failed: {}",
            stdout.trim()
        );
        let cql = stdout
            .lines()
            .find_map(|l| l.strip_prefix("TERN_CQL="))
            .ok_or_else(|| anyhow::anyhow!("scripts/cassandra {command} printed no TERN_CQL"))?;
        Ok(cql.trim().to_owned())
    }

    /// Starts `tern-bench smsc` and waits until it listens; returns the URL the nodes
    /// bind to.
    pub(super) async fn start_simulator(
        &mut self,
        ports: &mut PortPicker,
        more: &[String],
    ) -> anyhow::Result<String> {
        let dir = self.state.dir.join("operator");
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        let listen = SocketAddr::from(([127, 0, 0, 1], ports.pick()?));
        let (user, password) = SIMULATOR_ACCOUNT;
        let args: Vec<String> = [
            "smsc",
            "--listen",
            &listen.to_string(),
            "--account",
            &format!("{user}:{password}"),
            "--receipt-delay",
            "100ms",
        ]
        .iter()
        .map(|s| s.to_string())
        .chain(more.iter().cloned())
        .collect();
        let log = dir.join("smsc.log");
        let child = process::spawn(&self.state.binaries.tern_bench, &args, &dir, &log)?;
        let id = process::id_of(&child)?;
        self.children.adopt(child);
        self.state.simulator = Some(Simulator {
            process: id,
            log: log.clone(),
        });
        self.state.operator = listen.to_string();
        self.state.save()?;
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if operator::listening(&operator::read_log(&log)) {
                break;
            }
            anyhow::ensure!(
                self.children.alive(id),
                "the simulator ended at once:\n{}",
                tail(&log)
            );
            anyhow::ensure!(
                Instant::now() < deadline,
                "the simulator does not listen after 10 s:\n{}",
                tail(&log)
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        self.note(format_args!("simulated operator on {listen}"));
        Ok(format!("smpp://{user}:{password}@{listen}"))
    }

    /// Picks every node's ports and writes its directory and file, checked by `tern
    /// check-config`.
    /// Plans nodes 1..=`planned`; the first `members` form the cluster.
    pub(super) async fn plan_nodes(
        &mut self,
        members: u16,
        planned: u16,
        ports: &mut PortPicker,
        upstream_url: &str,
        options: &Options,
    ) -> anyhow::Result<()> {
        let mut nodes = Vec::new();
        for id in 1..=planned {
            let dir = self.state.dir.join(format!("node{id}"));
            nodes.push(NodeState {
                id,
                process: None,
                smpp: local(ports.pick()?),
                admin: local(ports.pick()?),
                metrics: local(ports.pick()?),
                raft: local(ports.pick()?),
                config: dir.join("tern.toml"),
                log: dir.join("node.log"),
                dir,
            });
        }
        let peers: Vec<(u16, SocketAddr)> = nodes
            .iter()
            .skip(1)
            .take(usize::from(members.saturating_sub(1)))
            .map(|n| (n.id, n.raft))
            .collect();
        if options.node_proxies {
            for from in &nodes {
                for to in nodes.iter().filter(|to| to.id != from.id) {
                    let name = format!("node{}-node{}", from.id, to.id);
                    let seed = u64::from(from.id) << 16 | u64::from(to.id);
                    let proxy = Proxy::start(&name, to.raft, seed)
                        .await
                        .with_context(|| format!("starting the proxy {name}"))?;
                    self.paths.insert((from.id, to.id), proxy);
                }
            }
        }
        if options.database_proxies {
            let database = tokio::net::lookup_host(self.state.cql.as_str())
                .await
                .ok()
                .and_then(|mut addrs| addrs.next())
                .ok_or_else(|| anyhow::anyhow!("the database {} has no address", self.state.cql))?;
            for node in &nodes {
                let name = format!("node{}-database", node.id);
                let proxy = Proxy::start(&name, database, u64::from(node.id) << 32)
                    .await
                    .with_context(|| format!("starting the proxy {name}"))?;
                self.databases.insert(node.id, proxy);
            }
        }
        for node in &nodes {
            let cql = self
                .databases
                .get(&node.id)
                .map_or_else(|| self.state.cql.clone(), |p| p.addr().to_string());
            let dial: Vec<(u16, SocketAddr)> = self
                .paths
                .iter()
                .filter(|((from, _), _)| *from == node.id)
                .map(|((_, to), proxy)| (*to, proxy.addr()))
                .collect();
            std::fs::create_dir_all(&node.dir)
                .with_context(|| format!("creating {}", node.dir.display()))?;
            let file = config::NodeFile {
                id: node.id,
                smpp: node.smpp,
                admin: node.admin,
                metrics: node.metrics,
                raft: node.raft,
                data_dir: &node.dir.join("data"),
                token: &self.state.token,
                secret: &self.state.raft_secret,
                cql: &cql,
                keyspace: &self.state.keyspace,
                bootstrap: node.id == 1,
                peers: &peers,
                dial: &dial,
                snapshot_logs: options.snapshot_logs,
                upstream_url,
            };
            std::fs::write(&node.config, file.render())
                .with_context(|| format!("writing {}", node.config.display()))?;
            let check = std::process::Command::new(&self.state.binaries.tern)
                .arg("check-config")
                .arg("--config")
                .arg(&node.config)
                .stdin(Stdio::null())
                .output()
                .context("running tern check-config")?;
            anyhow::ensure!(
                check.status.success(),
                "{} is refused: {}",
                node.config.display(),
                String::from_utf8_lossy(&check.stderr).trim()
            );
        }
        self.state.nodes = nodes;
        Ok(())
    }

    pub(super) fn drop_keyspace(&self) -> anyhow::Result<()> {
        let mut command = std::process::Command::new(&self.state.binaries.tern_bench);
        command
            .args(["cql-raw", "--contact", &self.state.cql])
            .args(["--keyspace", &self.state.keyspace])
            .args(["--count", "0", "--drop-keyspace", "--quiet"]);
        let output = output_within(command, Duration::from_secs(60))
            .context("tern-bench cql-raw --drop-keyspace")?;
        anyhow::ensure!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr).trim()
        );
        Ok(())
    }
}

/// Refuses a directory a cluster still runs from; clears what an earlier run left.
pub(super) fn prepare_dir(dir: &Path) -> anyhow::Result<()> {
    if let Ok(state) = ClusterState::load(dir) {
        let running = state
            .nodes
            .iter()
            .filter_map(|n| n.process)
            .chain(state.simulator.iter().map(|s| s.process))
            .any(process::alive);
        anyhow::ensure!(
            !running,
            "a cluster runs from {} already: `tern-chaos cluster down --dir {}` first",
            dir.display(),
            dir.display()
        );
    }
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    // Only what `up` makes: node<N>/, operator/ and the state file.
    for entry in std::fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))? {
        let entry = entry?;
        let name = entry.file_name();
        let name = name.to_string_lossy();
        let ours = name == "operator"
            || name
                .strip_prefix("node")
                .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()));
        if ours && entry.file_type()?.is_dir() {
            std::fs::remove_dir_all(entry.path())
                .with_context(|| format!("removing {}", entry.path().display()))?;
        }
    }
    let _ = std::fs::remove_file(dir.join(STATE_FILE));
    Ok(())
}

pub(super) fn absolute(path: &Path) -> anyhow::Result<PathBuf> {
    std::path::absolute(path).with_context(|| format!("{}", path.display()))
}

/// Runs `command` to its end, or kills it after `limit`: `down` (and `Drop`) must not
/// hang on a database that does not answer. Its output must fit in the pipes' buffers.
pub(super) fn output_within(
    mut command: std::process::Command,
    limit: Duration,
) -> anyhow::Result<std::process::Output> {
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    let deadline = std::time::Instant::now() + limit;
    while child.try_wait()?.is_none() {
        if std::time::Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            anyhow::bail!("no end after {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    Ok(child.wait_with_output()?)
}

/// `scripts/cassandra COMMAND`, its output on stderr.
pub(super) fn run_script(command: &str) -> anyhow::Result<()> {
    let script = workspace_root().join("scripts").join("cassandra");
    let status = std::process::Command::new(&script)
        .arg(command)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .status()
        .with_context(|| format!("running {} {command}", script.display()))?;
    anyhow::ensure!(status.success(), "scripts/cassandra {command}: {status}");
    Ok(())
}
