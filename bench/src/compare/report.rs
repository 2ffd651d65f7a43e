//! What a comparison writes: `results.json` (every figure, and each run's whole load
//! report) and `results.md` (the tables, the ratios the targets name, and what failed).

use std::fmt::Write as _;
use std::path::Path;

use anyhow::Context as _;
use serde::Serialize;

use super::backlog::BacklogResult;
use super::scenario::{Drain, Phase, Plan, Scenario};
use super::system::SystemKind;
use crate::load::{Latency, LoadReport};
use crate::smsc::SmscStats;

/// Latency percentiles in milliseconds.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Millis {
    pub p50: f64,
    pub p99: f64,
    pub p999: f64,
    pub max: f64,
}

impl Millis {
    fn of(l: &Latency) -> Self {
        let ms = |us: u64| us as f64 / 1000.0;
        Self {
            p50: ms(l.p50_us),
            p99: ms(l.p99_us),
            p999: ms(l.p999_us),
            max: ms(l.max_us),
        }
    }
}

/// One system in one scenario and phase.
#[derive(Debug, Clone, Serialize)]
pub struct Row {
    pub scenario: Scenario,
    pub system: SystemKind,
    /// `max` (closed loop) or `rate` (open loop at `target_rate`).
    pub phase: &'static str,
    pub target_rate: Option<f64>,
    /// `smpp` or `http`.
    pub protocol: &'static str,
    /// Accepted messages per second (submit_sm_resp OK; HTTP 2xx): what the customer sees.
    pub msg_per_sec: f64,
    pub accepted: u64,
    /// Submits the operator (the simulator) accepted by the end of the drain.
    pub forwarded: u64,
    /// `forwarded` over the time from the start of the load to the last of them: what gets
    /// through, end to end. A system that queues fast and forwards slowly shows it here.
    pub forwarded_per_sec: f64,
    /// submit→resp (HTTP: request→answer).
    pub latency_ms: Millis,
    /// submit→receipt, with receipts on.
    pub receipt_latency_ms: Option<Millis>,
    pub receipts_matched: Option<u64>,
    pub receipts_missing: Option<u64>,
    /// CPU time of the system's processes per accepted message, from the start of the load
    /// until it had forwarded what it accepted (the load's own figure stops at the last
    /// response: `load.process`).
    pub cpu_us_per_msg: Option<f64>,
    /// Peak resident memory of the system's processes, added up.
    pub peak_rss_mib: Option<f64>,
    /// Submits refused (any status but OK) or failed (timeout, closed, not sent).
    pub errors: u64,
    pub binds: usize,
    pub window: usize,
    pub idle_binds: usize,
    /// The machine's 1-minute load average at the end of the run: above the CPU count,
    /// something else was competing for them.
    pub load_average: f64,
    /// The peer's own account of itself (its start line), the node's config path.
    pub info: serde_json::Value,
    pub load: LoadReport,
    pub smsc: SmscStats,
}

impl Row {
    /// What the system sustains end to end: the lower of the accepted and forwarded rates.
    pub fn through_per_sec(&self) -> f64 {
        self.msg_per_sec.min(self.forwarded_per_sec)
    }

    #[allow(clippy::too_many_arguments)]
    pub fn new(
        scenario: Scenario,
        system: SystemKind,
        phase: Phase,
        plan: &Plan,
        load: LoadReport,
        drain: Drain,
        smsc: SmscStats,
        info: serde_json::Value,
    ) -> Self {
        let errors = load.answered.saturating_sub(load.accepted) + load.failures.total();
        Self {
            scenario,
            system,
            phase: if phase.rate.is_some() { "rate" } else { "max" },
            target_rate: phase.rate,
            protocol: load.protocol,
            msg_per_sec: load.msg_per_sec,
            accepted: load.accepted,
            forwarded: drain.forwarded,
            forwarded_per_sec: if drain.secs > 0.0 {
                drain.forwarded as f64 / drain.secs
            } else {
                0.0
            },
            latency_ms: Millis::of(&load.submit_latency),
            receipt_latency_ms: load.receipt_latency.as_ref().map(Millis::of),
            receipts_matched: load.receipts.as_ref().map(|r| r.matched),
            receipts_missing: load.receipts.as_ref().map(|r| r.missing),
            cpu_us_per_msg: drain
                .usage
                .as_ref()
                .or(load.process.as_ref())
                .map(|p| p.cpu_micros_per_message),
            peak_rss_mib: drain
                .usage
                .as_ref()
                .or(load.process.as_ref())
                .map(|p| p.peak_rss_kib as f64 / 1024.0),
            errors,
            binds: plan.binds,
            window: plan.window,
            idle_binds: plan.idle_binds,
            load_average: load_average(),
            info,
            load,
            smsc,
        }
    }
}

/// A run that did not give a row.
#[derive(Debug, Clone, Serialize)]
pub struct Failure {
    pub scenario: Scenario,
    pub system: SystemKind,
    pub phase: &'static str,
    pub error: String,
}

/// The machine the comparison ran on.
#[derive(Debug, Clone, Serialize)]
pub struct Machine {
    pub cpus: usize,
    pub cpu_model: String,
    pub memory_mib: u64,
    pub kernel: String,
    /// 1-minute load average when the comparison started.
    pub load_average: f64,
}

fn load_average() -> f64 {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|l| l.split_whitespace().next().and_then(|v| v.parse().ok()))
        .unwrap_or(0.0)
}

impl Machine {
    pub fn read() -> Self {
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
        Self {
            cpus: std::thread::available_parallelism().map_or(0, usize::from),
            cpu_model: cpuinfo
                .lines()
                .find_map(|l| l.strip_prefix("model name"))
                .and_then(|l| l.split(':').nth(1))
                .unwrap_or("unknown")
                .trim()
                .to_owned(),
            memory_mib: meminfo
                .lines()
                .find_map(|l| l.strip_prefix("MemTotal:"))
                .and_then(|l| l.split_whitespace().next())
                .and_then(|kib| kib.parse::<u64>().ok())
                .map_or(0, |kib| kib / 1024),
            kernel: std::fs::read_to_string("/proc/sys/kernel/osrelease")
                .unwrap_or_default()
                .trim()
                .to_owned(),
            load_average: load_average(),
        }
    }
}

/// Everything a comparison found.
#[derive(Debug, Clone, Serialize)]
pub struct Results {
    /// The command line, as run.
    pub command: String,
    pub machine: Machine,
    pub pinned: bool,
    pub scenarios: Vec<Scenario>,
    pub systems: Vec<SystemKind>,
    pub plans: Vec<(Scenario, Plan)>,
    /// S1's common open-loop rate, msg/s.
    pub sustain_rate: Option<f64>,
    pub rows: Vec<Row>,
    pub backlog: Option<BacklogResult>,
    pub failures: Vec<Failure>,
    pub notes: Vec<String>,
}

impl Results {
    /// The rows of each scenario that has a table (S3 has its own) and each phase
    /// ("max", then "rate"), in order; empty groups left out.
    pub fn tables(&self) -> Vec<(Scenario, &'static str, Vec<&Row>)> {
        let mut tables = Vec::new();
        for &scenario in self.scenarios.iter().filter(|&&s| s != Scenario::S3) {
            for phase in ["max", "rate"] {
                let rows: Vec<&Row> = self
                    .rows
                    .iter()
                    .filter(|r| r.scenario == scenario && r.phase == phase)
                    .collect();
                if !rows.is_empty() {
                    tables.push((scenario, phase, rows));
                }
            }
        }
        tables
    }

    pub fn row(&self, scenario: Scenario, system: SystemKind, phase: &str) -> Option<&Row> {
        self.rows
            .iter()
            .find(|r| r.scenario == scenario && r.system == system && r.phase == phase)
    }

    pub fn write(&self, dir: &Path) -> anyhow::Result<()> {
        let json = serde_json::to_string_pretty(self)?;
        let path = dir.join("results.json");
        std::fs::write(&path, json + "\n")
            .with_context(|| format!("writing {}", path.display()))?;
        let path = dir.join("results.md");
        std::fs::write(&path, self.markdown())
            .with_context(|| format!("writing {}", path.display()))?;
        Ok(())
    }

    /// The tables, one per scenario and phase, then the ratios of the targets.
    pub fn markdown(&self) -> String {
        let mut md = String::new();
        let m = &self.machine;
        let _ = writeln!(md, "# tern-bench compare\n");
        let _ = writeln!(md, "`{}`\n", self.command);
        let _ = writeln!(
            md,
            "Machine: {} CPUs ({}), {} MiB, Linux {}, load average {:.2} at the start{}.\n",
            m.cpus,
            m.cpu_model,
            m.memory_mib,
            m.kernel,
            m.load_average,
            if self.pinned {
                "; system under test pinned to CPU 0, tern-bench to CPU 1"
            } else {
                ""
            }
        );
        for (scenario, phase, rows) in self.tables() {
            let heading = match phase {
                "max" => "highest rate, closed loop".to_owned(),
                _ => format!(
                    "open loop at {:.0} msg/s, the same for every system",
                    rows[0].target_rate.unwrap_or_default()
                ),
            };
            let _ = writeln!(
                md,
                "## {} {}: {heading}\n",
                scenario.name(),
                scenario.title()
            );
            table(&mut md, &rows);
        }
        if let Some(b) = &self.backlog {
            b.markdown(&mut md);
        }
        self.targets(&mut md);
        self.http_ratios(&mut md);
        if !self.failures.is_empty() {
            let _ = writeln!(md, "## Runs that failed\n");
            for f in &self.failures {
                let _ = writeln!(
                    md,
                    "- {} {} ({}): {}",
                    f.scenario.name(),
                    f.system.name(),
                    f.phase,
                    f.error.replace('\n', " ")
                );
            }
            md.push('\n');
        }
        for note in &self.notes {
            let _ = writeln!(md, "- {note}");
        }
        md
    }

    /// Tern against the tuned peers, as the targets put it.
    fn targets(&self, md: &mut String) {
        let mut lines = Vec::new();
        let tern_max = self.row(Scenario::S1, SystemKind::Tern, "max");
        let tern_rate = self.row(Scenario::S1, SystemKind::Tern, "rate");
        for (peer, factor) in [
            (SystemKind::KannelTuned, 10.0),
            (SystemKind::JasminTuned, 100.0),
        ] {
            if let (Some(t), Some(p)) = (tern_max, self.row(Scenario::S1, peer, "max")) {
                let through = ratio(t.through_per_sec(), p.through_per_sec());
                lines.push(format!(
                    "S1 msg/s end to end (the lower of accepted and forwarded), tern / {}: {} \
                     (target ≥ {factor:.0}×): {}; accepted only: {}",
                    peer.name(),
                    times(through),
                    verdict(through.is_some_and(|r| r >= factor)),
                    times(ratio(t.msg_per_sec, p.msg_per_sec)),
                ));
            }
        }
        if let (Some(t), Some(k)) = (
            tern_rate,
            self.row(Scenario::S1, SystemKind::KannelTuned, "rate"),
        ) {
            let ratio = ratio(t.latency_ms.p99, k.latency_ms.p99);
            lines.push(format!(
                "S1 p99 at {:.0} msg/s, tern / kannel-tuned: {} (target ≤ 0.2): {}",
                t.target_rate.unwrap_or_default(),
                plain(ratio),
                verdict(ratio.is_some_and(|r| r <= 0.2))
            ));
        }
        if let (Some(t), Some(k)) = (
            tern_max,
            self.row(Scenario::S1, SystemKind::KannelTuned, "max"),
        ) {
            let ratio = ratio(
                t.cpu_us_per_msg.unwrap_or_default(),
                k.cpu_us_per_msg.unwrap_or_default(),
            );
            lines.push(format!(
                "S1 CPU µs/msg, tern / kannel-tuned: {} (target ≤ 0.2): {}",
                plain(ratio),
                verdict(ratio.is_some_and(|r| r <= 0.2))
            ));
        }
        if let Some(b) = &self.backlog {
            lines.push(format!(
                "S3 first accepted submit {} after the restart with {} queued (target ≤ 5 s): {}",
                b.first_accepted_secs
                    .map_or("never".to_owned(), |s| format!("{s:.2} s")),
                b.queued_at_restart,
                verdict(b.first_accepted_secs.is_some_and(|s| s <= 5.0))
            ));
        }
        if lines.is_empty() {
            return;
        }
        let _ = writeln!(md, "## Targets\n");
        for line in lines {
            let _ = writeln!(md, "- {line}");
        }
        md.push('\n');
    }
}

impl Results {
    /// Tern over HTTP against each peer loaded over HTTP, in each table where both ran:
    /// the same requests on the same connections.
    fn http_ratios(&self, md: &mut String) {
        let peers = [
            SystemKind::Kannel,
            SystemKind::KannelTuned,
            SystemKind::JasminHttp,
            SystemKind::JasminTunedHttp,
        ];
        let mut lines = Vec::new();
        for (scenario, phase, rows) in self.tables() {
            let Some(tern) = rows.iter().find(|r| r.system == SystemKind::TernHttp) else {
                continue;
            };
            for peer in rows.iter().filter(|r| peers.contains(&r.system)) {
                lines.push(format!(
                    "| {} {phase} | {} | {} | {} | {} | {} |",
                    scenario.name(),
                    peer.system.name(),
                    times(ratio(tern.msg_per_sec, peer.msg_per_sec)),
                    times(ratio(tern.through_per_sec(), peer.through_per_sec())),
                    plain(ratio(tern.latency_ms.p99, peer.latency_ms.p99)),
                    plain(ratio(
                        tern.cpu_us_per_msg.unwrap_or_default(),
                        peer.cpu_us_per_msg.unwrap_or_default()
                    )),
                ));
            }
        }
        if lines.is_empty() {
            return;
        }
        let _ = writeln!(md, "## HTTP in: tern-http against the peers over HTTP\n");
        let _ = writeln!(
            md,
            "| table | peer | accepted msg/s tern-http / peer | end to end (lower of accepted and forwarded) | p99 tern-http / peer | CPU µs/msg tern-http / peer |"
        );
        let _ = writeln!(md, "|---|---|---|---|---|---|");
        for line in lines {
            let _ = writeln!(md, "{line}");
        }
        md.push('\n');
    }
}

fn ratio(a: f64, b: f64) -> Option<f64> {
    (b > 0.0 && a.is_finite() && b.is_finite()).then(|| a / b)
}

fn times(r: Option<f64>) -> String {
    r.map_or("-".into(), |r| format!("{r:.1}×"))
}

fn plain(r: Option<f64>) -> String {
    r.map_or("-".into(), |r| format!("{r:.3}"))
}

fn verdict(met: bool) -> &'static str {
    if met {
        "met"
    } else {
        "**not met**"
    }
}

fn opt(v: Option<f64>, digits: usize) -> String {
    v.map_or("-".into(), |v| format!("{v:.digits$}"))
}

fn table(md: &mut String, rows: &[&Row]) {
    let receipts = rows.iter().any(|r| r.receipt_latency_ms.is_some());
    let _ = write!(
        md,
        "| system | via | accepted msg/s | forwarded msg/s | p50 ms | p99 ms | p99.9 ms |"
    );
    if receipts {
        let _ = write!(md, " receipt p50 ms | receipt p99 ms | receipts missing |");
    }
    let _ = writeln!(
        md,
        " CPU µs/msg | peak RSS MiB | errors | accepted | load avg |"
    );
    let columns = 12 + if receipts { 3 } else { 0 };
    let _ = writeln!(md, "|{}", "---|".repeat(columns));
    for r in rows {
        let _ = write!(
            md,
            "| {} | {} | {:.0} | {:.0} | {:.2} | {:.2} | {:.2} |",
            r.system.name(),
            r.protocol,
            r.msg_per_sec,
            r.forwarded_per_sec,
            r.latency_ms.p50,
            r.latency_ms.p99,
            r.latency_ms.p999
        );
        if receipts {
            let _ = write!(
                md,
                " {} | {} | {} |",
                opt(r.receipt_latency_ms.map(|l| l.p50), 2),
                opt(r.receipt_latency_ms.map(|l| l.p99), 2),
                r.receipts_missing.map_or("-".into(), |n| n.to_string())
            );
        }
        let _ = writeln!(
            md,
            " {} | {} | {} | {} | {:.1} |",
            opt(r.cpu_us_per_msg, 1),
            opt(r.peak_rss_mib, 1),
            r.errors,
            r.accepted,
            r.load_average
        );
    }
    md.push('\n');
}
