//! S3, the backlog: `tern node` in front of an operator capped at a few submits a second,
//! a million messages (by default) accepted into its store, then the node is killed
//! (SIGKILL, the harder case than an orderly stop) and started again on the same store.
//! Measured: how fast the backlog was accepted, what it cost in memory, and from the
//! restart, when the node listens again and when it accepts its first submit.

use std::time::Duration;

use anyhow::{anyhow, Context as _};
use serde::Serialize;
use tokio::time::Instant;

use super::scenario::{self, Phase, Plan};
use super::system::{self, Environment, TernFiles, TernSettings};
use crate::load::{self, LoadConfig, LoadReport};
use crate::smsc::Smsc;

/// Submits per second the operator takes, per bind; the rest waits in Tern.
pub const OPERATOR_TPS_CAP: u32 = 50;

/// How long the restarted node has to accept a submit.
const FIRST_SUBMIT_LIMIT: Duration = Duration::from_secs(60);

/// What S3 found.
#[derive(Debug, Clone, Serialize)]
pub struct BacklogResult {
    pub count: u64,
    pub accepted: u64,
    /// Accepted per second while the backlog built up.
    pub submit_msg_per_sec: f64,
    pub submit_p99_ms: f64,
    pub operator_tps_cap: u32,
    /// Messages the operator had taken when the node was killed.
    pub forwarded_before_restart: u64,
    /// Accepted but not yet forwarded when the node was killed.
    pub queued_at_restart: u64,
    /// Resident memory with the backlog queued, just before the kill.
    pub rss_mib_before_restart: f64,
    pub peak_rss_mib: f64,
    pub cpu_us_per_msg: Option<f64>,
    pub store_mib: f64,
    /// How the node was stopped before the restart.
    pub restart: &'static str,
    /// From the restart to the SMPP port accepting connections.
    pub listening_secs: f64,
    /// From the restart to the first submit_sm answered with ESME_ROK.
    pub first_accepted_secs: Option<f64>,
    /// Submits tried before that one.
    pub probe_attempts: u64,
    pub load: LoadReport,
}

impl BacklogResult {
    pub fn markdown(&self, md: &mut String) {
        use std::fmt::Write as _;
        let _ = writeln!(md, "## S3 backlog and restart (Tern)\n");
        let _ = writeln!(
            md,
            "| queued | accepted msg/s | submit p99 ms | RSS MiB queued | store MiB | restart | listening after s | first accepted submit after s |\n|---|---|---|---|---|---|---|---|"
        );
        let _ = writeln!(
            md,
            "| {} of {} | {:.0} | {:.2} | {:.1} | {:.1} | {} | {:.2} | {} |\n",
            self.queued_at_restart,
            self.accepted,
            self.submit_msg_per_sec,
            self.submit_p99_ms,
            self.rss_mib_before_restart,
            self.store_mib,
            self.restart,
            self.listening_secs,
            self.first_accepted_secs
                .map_or("never (60 s)".into(), |s| format!("{s:.2}")),
        );
    }
}

fn rss_mib(pid: u32) -> f64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|l| l.split_whitespace().next())
                .and_then(|kib| kib.parse::<f64>().ok())
        })
        .map_or(0.0, |kib| kib / 1024.0)
}

fn dir_mib(dir: &std::path::Path) -> f64 {
    fn walk(dir: &std::path::Path) -> u64 {
        std::fs::read_dir(dir)
            .map(|entries| {
                entries
                    .flatten()
                    .map(|e| match e.metadata() {
                        Ok(m) if m.is_dir() => walk(&e.path()),
                        Ok(m) => m.len(),
                        Err(_) => 0,
                    })
                    .sum()
            })
            .unwrap_or(0)
    }
    walk(dir) as f64 / (1024.0 * 1024.0)
}

/// One submit, as a customer would try after the restart.
async fn probe(port: u16, seed: u64) -> bool {
    let config = LoadConfig {
        port,
        binds: 1,
        window: 1,
        count: Some(1),
        bind_timeout: Duration::from_secs(5),
        response_timeout: Duration::from_secs(5),
        seed,
        ..LoadConfig::default()
    };
    matches!(load::run(config).await, Ok(report) if report.accepted == 1)
}

pub async fn run(
    plan: &Plan,
    env: &Environment,
    progress: bool,
    seed: u64,
) -> anyhow::Result<BacklogResult> {
    let simulator = Smsc::start(scenario::simulator_config(
        seed,
        Some(OPERATOR_TPS_CAP),
        Duration::ZERO,
    ))
    .await
    .context("starting the simulated SMSC")?;
    let dir = env.work.join("S3-tern");
    let settings = TernSettings {
        max_binds: plan.binds + 8,
        window: plan.window.max(64),
        max_queued_in_memory: None,
        http: false,
    };
    let result = async {
        let files = TernFiles::write(&dir, simulator.addr(), &settings)?;
        let mut child = system::spawn_tern(env, &files).await?;
        let pid = child
            .id()
            .ok_or_else(|| anyhow!("tern node exited at once"))?;
        let target = system::Target::Smpp {
            addr: std::net::SocketAddr::from(([127, 0, 0, 1], files.smpp_port)),
            system_id: "bench".into(),
            password: "bench".into(),
        };
        let phase = Phase {
            rate: None,
            duration: plan.duration,
            count: plan.count,
        };
        let config = scenario::load_config(&target, plan, phase, vec![pid], progress, seed);
        let report = load::run(config).await;
        let report = match report {
            Ok(report) => report,
            Err(e) => {
                system::terminate(&mut child).await;
                return Err(e.into());
            }
        };
        let forwarded = simulator
            .stats()
            .submits_by_status
            .get("ESME_ROK")
            .copied()
            .unwrap_or(0);
        let rss_before = rss_mib(pid);
        let _ = child.kill().await;
        let store_mib = dir_mib(&dir.join("store"));

        let restarted = Instant::now();
        let mut child = system::spawn_tern(env, &files).await?;
        let listening = restarted.elapsed().as_secs_f64();
        let mut attempts = 0;
        let mut first = None;
        while restarted.elapsed() < FIRST_SUBMIT_LIMIT {
            attempts += 1;
            if probe(files.smpp_port, seed.wrapping_add(attempts)).await {
                first = Some(restarted.elapsed().as_secs_f64());
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        system::terminate(&mut child).await;
        anyhow::Ok(BacklogResult {
            count: plan.count,
            accepted: report.accepted,
            submit_msg_per_sec: report.msg_per_sec,
            submit_p99_ms: report.submit_latency.p99_us as f64 / 1000.0,
            operator_tps_cap: OPERATOR_TPS_CAP,
            forwarded_before_restart: forwarded,
            queued_at_restart: report.accepted.saturating_sub(forwarded),
            rss_mib_before_restart: rss_before,
            peak_rss_mib: report
                .process
                .as_ref()
                .map_or(0.0, |p| p.peak_rss_kib as f64 / 1024.0),
            cpu_us_per_msg: report.process.as_ref().map(|p| p.cpu_micros_per_message),
            store_mib,
            restart: "SIGKILL",
            listening_secs: listening,
            first_accepted_secs: first,
            probe_attempts: attempts,
            load: report,
        })
    }
    .await;
    simulator.shutdown().await;
    let _ = std::fs::remove_dir_all(dir.join("store"));
    result
}
