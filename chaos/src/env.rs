//! One node on its embedded store, with the simulated operator, for the scenarios that do
//! not need a cluster: both run as processes of their own (`tern node`, `tern-bench
//! smsc --history`), optionally behind fault proxies (customer → node, node → operator),
//! and everything started is stopped by PID when the environment is dropped, also on an
//! error or an interrupt.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context as _;
use rustix::process::Signal;
use serde_json::Value;

use crate::cluster::process::{self, Children, ProcessId};
use crate::cluster::Binaries;
use crate::history::{read_lines, Figures, OperatorEvent};
use crate::proxy::Proxy;
use crate::support::{self, local, random_hex, tail, PortPicker};

/// The customers' account.
pub const ACCOUNT: (&str, &str) = ("chaos", "chaos");
/// The node's account at the simulated operator.
const OPERATOR_ACCOUNT: (&str, &str) = ("tern", "tern");
/// The one link, and the route to it.
pub const LINK: &str = "op";
/// How long a node may take to answer after it was started.
const START_LIMIT: Duration = Duration::from_secs(60);

/// How the environment is set up.
#[derive(Debug, Clone)]
pub struct EnvOptions {
    pub dir: PathBuf,
    pub binaries: Binaries,
    pub seed: u64,
    /// Flags of `tern-bench smsc` beyond the listen address, account and history.
    pub operator_flags: Vec<String>,
    /// `[[upstream]]` keys: binds and submits per second per bind (0: unlimited).
    pub binds: u16,
    pub tps: u32,
    /// The account's quota of parts (`max_messages`), if any.
    pub quota: Option<u64>,
    /// A fault proxy between the customers and the node.
    pub customer_proxy: bool,
    /// A fault proxy between the node and the operator.
    pub operator_proxy: bool,
    /// More environment variables of the node (`FAILPOINTS` of a test build).
    pub node_env: Vec<(String, String)>,
    /// The node reads its clock's step and drift ([`SingleNode::set_clock`]) and its disk's
    /// mode ([`SingleNode::set_disk`]) from files; needs a `tern` built with `--features
    /// failpoints`.
    pub test_files: bool,
}

/// A running node and operator.
pub struct SingleNode {
    options: EnvOptions,
    children: Children,
    node: Option<ProcessId>,
    operator: Option<ProcessId>,
    pub smpp: SocketAddr,
    pub admin: SocketAddr,
    pub metrics: SocketAddr,
    pub operator_addr: SocketAddr,
    token: String,
    history: PathBuf,
    pub customer_proxy: Option<Proxy>,
    pub operator_proxy: Option<Proxy>,
}

impl SingleNode {
    /// Starts the operator, then the node, and waits until the node's link is bound.
    pub async fn start(options: EnvOptions) -> anyhow::Result<Self> {
        std::fs::create_dir_all(&options.dir)
            .with_context(|| format!("creating {}", options.dir.display()))?;
        let mut ports = PortPicker::default();
        let token = random_hex(16);
        let mut env = Self {
            smpp: local(ports.pick()?),
            admin: local(ports.pick()?),
            metrics: local(ports.pick()?),
            operator_addr: local(ports.pick()?),
            history: options.dir.join("operator-history.jsonl"),
            options,
            children: Children::default(),
            node: None,
            operator: None,
            token,
            customer_proxy: None,
            operator_proxy: None,
        };
        let raft = local(ports.pick()?);
        if env.options.test_files {
            env.set_clock(0, 0)?;
            env.set_disk("healthy")?;
            let (clock, disk) = (env.test_file("clock"), env.test_file("disk"));
            env.options.node_env.extend([
                ("TERN_TEST_CLOCK".into(), clock.display().to_string()),
                ("TERN_TEST_DISK".into(), disk.display().to_string()),
            ]);
        }
        env.start_operator().await?;
        if env.options.operator_proxy {
            env.operator_proxy =
                Some(Proxy::start("node-operator", env.operator_addr, env.options.seed).await?);
        }
        if env.options.customer_proxy {
            env.customer_proxy =
                Some(Proxy::start("customer-node", env.smpp, env.options.seed ^ 1).await?);
        }
        let operator = env
            .operator_proxy
            .as_ref()
            .map_or(env.operator_addr, Proxy::addr);
        let toml = env.node_toml(raft, operator);
        std::fs::write(env.config_path(), toml)
            .with_context(|| format!("writing {}", env.config_path().display()))?;
        env.start_node().await?;
        Ok(env)
    }

    fn config_path(&self) -> PathBuf {
        self.options.dir.join("tern.toml")
    }

    fn test_file(&self, name: &str) -> PathBuf {
        self.options.dir.join(name)
    }

    /// Writes a test file whole (a rename), so the node never reads half of it.
    fn write_test_file(&self, name: &str, text: &str) -> anyhow::Result<()> {
        let path = self.test_file(name);
        let part = path.with_extension("part");
        std::fs::write(&part, text).with_context(|| format!("writing {}", part.display()))?;
        std::fs::rename(&part, &path).with_context(|| format!("writing {}", path.display()))
    }

    /// Steps the node's clock to `offset_ms` off the real one, drifting `drift_ppm`
    /// millionths from now (a test build reads it within 50 ms).
    pub fn set_clock(&self, offset_ms: i64, drift_ppm: i64) -> anyhow::Result<()> {
        self.write_test_file("clock", &format!("{offset_ms} {drift_ppm}\n"))
    }

    /// Sets what the node's embedded store meets at its next commits: `healthy`, `failing`
    /// (a full disk, a failed fsync) or `power-loss` (a test build reads it within 50 ms).
    pub fn set_disk(&self, mode: &str) -> anyhow::Result<()> {
        self.write_test_file("disk", &format!("{mode}\n"))
    }

    /// Waits up to `limit` for the node to end by itself; whether it did, and how.
    pub async fn node_ended(&mut self, limit: Duration) -> Option<std::process::ExitStatus> {
        let id = self.node?;
        let deadline = tokio::time::Instant::now() + limit;
        while tokio::time::Instant::now() < deadline {
            if let Some(status) = self.children.exit_status(id) {
                self.node = None;
                return Some(status);
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        None
    }

    /// Where customers bind: the proxy when there is one.
    pub fn customer_addr(&self) -> SocketAddr {
        self.customer_proxy.as_ref().map_or(self.smpp, Proxy::addr)
    }

    fn node_toml(&self, raft: SocketAddr, operator: SocketAddr) -> String {
        let (user, password) = ACCOUNT;
        let (op_user, op_password) = OPERATOR_ACCOUNT;
        let quota = self
            .options
            .quota
            .map(|q| format!("max_messages = {q}\n"))
            .unwrap_or_default();
        format!(
            "# Written by tern-chaos for one run.\n\
             [node]\nid = 1\nshutdown_grace_secs = 5\n\n\
             [log]\nlevel = \"info\"\n\n\
             [smpp]\nlisten = \"{smpp}\"\n\n\
             [metrics]\nlisten = \"{metrics}\"\n\n\
             [admin]\nlisten = \"{admin}\"\ntoken = \"{token}\"\n\n\
             [cluster]\nlisten = \"{raft}\"\n\n\
             [store]\ndir = \"{data}\"\nfsync = true\n\n\
             [pipeline]\nshards = 2\nretry_min_ms = 50\nretry_max_secs = 1\n\n\
             [[account]]\nsystem_id = \"{user}\"\npassword = \"{password}\"\nmax_binds = 2000\n{quota}\n\
             [[upstream]]\nname = \"{LINK}\"\nurl = \"smpp://{op_user}:{op_password}@{operator}\"\n\
             binds = {binds}\ntps = {tps}\n\n\
             [[route]]\nname = \"everything\"\ngroups = [{{ links = [\"{LINK}\"] }}]\n",
            smpp = self.smpp,
            metrics = self.metrics,
            admin = self.admin,
            token = self.token,
            data = self.options.dir.join("data").display(),
            binds = self.options.binds.max(1),
            tps = self.options.tps,
        )
    }

    async fn start_operator(&mut self) -> anyhow::Result<()> {
        let (user, password) = OPERATOR_ACCOUNT;
        let mut args: Vec<String> = vec![
            "smsc".into(),
            "--listen".into(),
            self.operator_addr.to_string(),
            "--account".into(),
            format!("{user}:{password}"),
            "--history".into(),
            self.history.display().to_string(),
            "--seed".into(),
            self.options.seed.to_string(),
            "--receipt-delay".into(),
            "20ms..300ms".into(),
            // As a real SMSC: a receipt the node did not answer in time (paused, cut off) is
            // sent again, not dropped.
            "--retry-timed-out-delivers".into(),
        ];
        args.extend(self.options.operator_flags.iter().cloned());
        let log = self.options.dir.join("operator.log");
        let child = process::spawn(
            &self.options.binaries.tern_bench,
            &args,
            &self.options.dir,
            &log,
        )?;
        let id = process::id_of(&child)?;
        self.children.adopt(child);
        self.operator = Some(id);
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while tokio::net::TcpStream::connect(self.operator_addr)
            .await
            .is_err()
        {
            anyhow::ensure!(
                self.children.alive(id),
                "the simulated operator ended at once:\n{}",
                tail(&log)
            );
            anyhow::ensure!(
                tokio::time::Instant::now() < deadline,
                "the simulated operator does not listen after 10 s:\n{}",
                tail(&log)
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Ok(())
    }

    /// Starts the node (again) and waits until it answers and its link is bound.
    /// Starts the node and waits until it listens and its link is bound.
    pub async fn start_node(&mut self) -> anyhow::Result<()> {
        self.start_node_waiting(true).await
    }

    /// Starts the node and waits until it listens (the operator may be out of reach).
    pub async fn start_node_unbound(&mut self) -> anyhow::Result<()> {
        self.start_node_waiting(false).await
    }

    async fn start_node_waiting(&mut self, bound: bool) -> anyhow::Result<()> {
        let args = vec![
            "node".to_owned(),
            "--config".to_owned(),
            self.config_path().display().to_string(),
        ];
        let log = self.options.dir.join("node.log");
        let child = process::spawn_with(
            &self.options.binaries.tern,
            &args,
            &self.options.dir,
            &log,
            &self.options.node_env,
        )?;
        let id = process::id_of(&child)?;
        self.children.adopt(child);
        self.node = Some(id);
        let deadline = tokio::time::Instant::now() + START_LIMIT;
        loop {
            anyhow::ensure!(self.children.alive(id), "the node ended:\n{}", tail(&log));
            if tokio::net::TcpStream::connect(self.smpp).await.is_ok()
                && (!bound || self.binds_up().await.unwrap_or(0) > 0)
            {
                return Ok(());
            }
            anyhow::ensure!(
                tokio::time::Instant::now() < deadline,
                "the node is not up (its link bound: {bound}) after {START_LIMIT:?}:\n{}",
                tail(&log)
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    pub fn node_process(&self) -> Option<ProcessId> {
        self.node
    }

    /// Sends `signal` to the node; false when it was not running.
    pub fn signal_node(&self, signal: Signal) -> anyhow::Result<bool> {
        match self.node {
            Some(id) => process::signal(id, signal),
            None => Ok(false),
        }
    }

    /// kill -9, and waits until it is gone.
    pub fn kill_node(&mut self) -> anyhow::Result<()> {
        if let Some(id) = self.node.take() {
            self.children.kill(&[id])?;
        }
        Ok(())
    }

    /// SIGTERM (a graceful stop), and waits until it is gone.
    pub fn stop_node(&mut self) -> anyhow::Result<()> {
        if let Some(id) = self.node.take() {
            self.children.terminate(&[id], Duration::from_secs(20))?;
        }
        Ok(())
    }

    /// `tern ctl --json ARGS` against the node.
    pub async fn ctl(&self, args: &[&str]) -> anyhow::Result<Value> {
        support::ctl(
            &self.options.binaries.tern,
            self.admin,
            &self.token,
            "the node",
            args,
        )
        .await
    }

    /// The node's /metrics page.
    pub async fn metrics(&self) -> anyhow::Result<String> {
        scrape(self.metrics).await
    }

    /// Binds of the link that are up, from the node's metrics.
    pub async fn binds_up(&self) -> anyhow::Result<u64> {
        let page = self.metrics().await?;
        Ok(sum_metric(&page, "tern_link_bound_binds") as u64)
    }

    /// The node's resident memory in MiB, when it runs.
    pub fn rss_mib(&self) -> Option<f64> {
        let id = self.node?;
        let status = std::fs::read_to_string(format!("/proc/{}/status", id.pid)).ok()?;
        let kib: f64 = status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))?
            .split_whitespace()
            .next()?
            .parse()
            .ok()?;
        Some(kib / 1024.0)
    }

    /// Receipts and MO held for customers, from the node's metrics.
    pub async fn held(&self) -> anyhow::Result<u64> {
        let page = self.metrics().await?;
        Ok(sum_metric(&page, "tern_outbox_held_deliveries") as u64)
    }

    /// Submits sent to the operator and not yet answered, from the node's metrics.
    pub async fn at_operator(&self) -> anyhow::Result<u64> {
        let page = self.metrics().await?;
        Ok(sum_metric(&page, "tern_link_window_in_use_submits") as u64)
    }

    /// Queued parts over every queue, from `tern ctl queue list`.
    pub async fn queued(&self) -> anyhow::Result<u64> {
        let queues = self.ctl(&["queue", "list"]).await?;
        Ok(queues["queues"]
            .as_array()
            .map(|q| q.iter().filter_map(|q| q["depth"].as_u64()).sum())
            .unwrap_or(0))
    }

    /// The ledger's, the CDRs' and the metrics' figures; the CDRs of at most `sample` of
    /// `ids` are looked up.
    pub async fn figures(&self, ids: &[String], sample: usize) -> Figures {
        let mut figures = figures_via(|args| self.ctl_owned(args), ACCOUNT.0, ids, sample).await;
        if figures.quota_parts.is_none() {
            figures.quota_parts = self.options.quota;
        }
        figures.queued = self.queued().await.unwrap_or(u64::MAX);
        if let Ok(page) = self.metrics().await {
            figures.unmatched_receipts =
                Some(sum_metric(&page, "tern_receipts_unmatched_total") as u64);
        }
        figures
    }

    async fn ctl_owned(&self, args: Vec<String>) -> anyhow::Result<Value> {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        self.ctl(&args).await
    }

    /// Stops the node and then the operator (which writes out its history), and returns
    /// the operator's history.
    pub fn shutdown(mut self) -> anyhow::Result<Vec<OperatorEvent>> {
        self.stop_node()?;
        if let Some(id) = self.operator.take() {
            self.children.terminate(&[id], Duration::from_secs(10))?;
        }
        read_lines(&self.history)
    }
}

impl Drop for SingleNode {
    fn drop(&mut self) {
        let ids: Vec<ProcessId> = self
            .node
            .iter()
            .chain(self.operator.iter())
            .copied()
            .collect();
        if !ids.is_empty() {
            let _ = self.children.terminate(&ids, Duration::from_secs(5));
        }
    }
}

/// The ledger's figures of `account` and the CDR parts of at most `sample` of `ids`, through
/// `ctl` (`tern ctl --json ARGS` against a node).
pub async fn figures_via<F>(
    ctl: impl Fn(Vec<String>) -> F,
    account: &str,
    ids: &[String],
    sample: usize,
) -> Figures
where
    F: std::future::Future<Output = anyhow::Result<Value>>,
{
    let mut figures = Figures::default();
    let args = |a: &[&str]| a.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    if let Ok(usage) = ctl(args(&["account", "usage", account])).await {
        let row = usage["rows"]
            .as_array()
            .and_then(|rows| rows.iter().find(|r| r["account"] == account))
            .unwrap_or(&usage["total"]);
        figures.ledger_parts = row["parts_total"].as_u64();
        figures.ledger_balance = row["balance"].as_i64();
        figures.quota_parts = row["period_max"].as_u64();
    }
    let step = ids.len().div_ceil(sample.max(1)).max(1);
    for id in ids.iter().step_by(step) {
        let parts = match ctl(args(&["report", "message", id])).await {
            Ok(history) => history["messages"][0]["parts"]
                .as_array()
                .map(|parts| {
                    parts
                        .iter()
                        // The admin API numbers parts from 0.
                        .filter_map(|p| p["part"].as_u64().and_then(|n| u32::try_from(n + 1).ok()))
                        .collect()
                })
                .unwrap_or_default(),
            Err(_) => Vec::new(),
        };
        figures.cdr_parts.insert(id.clone(), parts);
    }
    figures
}

/// GET /metrics.
pub async fn scrape(addr: SocketAddr) -> anyhow::Result<String> {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let get = async {
        let mut stream = tokio::net::TcpStream::connect(addr).await?;
        stream
            .write_all(format!("GET /metrics HTTP/1.0\r\nHost: {addr}\r\n\r\n").as_bytes())
            .await?;
        let mut body = Vec::new();
        stream.read_to_end(&mut body).await?;
        anyhow::Ok(String::from_utf8_lossy(&body).into_owned())
    };
    tokio::time::timeout(Duration::from_secs(5), get)
        .await
        .map_err(|_| anyhow::anyhow!("metrics at {addr}: no answer in 5 s"))?
}

/// The sum of every series of `name` on a metrics page.
pub fn sum_metric(page: &str, name: &str) -> f64 {
    page.lines()
        .filter(|l| {
            l.strip_prefix(name)
                .is_some_and(|rest| rest.starts_with('{') || rest.starts_with(' '))
        })
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metrics_are_summed_over_their_series_and_only_theirs() {
        let page = "# TYPE tern_link_bound_binds gauge\n\
                    tern_link_bound_binds{link=\"a\"} 2\n\
                    tern_link_bound_binds{link=\"b\"} 1\n\
                    tern_link_bound_binds_other 7\n";
        assert_eq!(sum_metric(page, "tern_link_bound_binds"), 3.0);
        assert_eq!(sum_metric(page, "tern_nothing"), 0.0);
    }
}
