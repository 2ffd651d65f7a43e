//! `tern-bench compare`: the same scenario against several systems in turn, each in front
//! of a fresh simulated SMSC in this process: the raw harness (the load generator straight
//! to the simulator), `tern node` (over SMPP or HTTP), and Kannel and Jasmin as
//! `bench/peers` starts them, in their default and tuned profiles (Jasmin over SMPP or its
//! HTTP API). It writes `results.json`, `results.md` and SVG plots.
//!
//! Scenarios ([`Scenario`]): S1 MT only (the highest rate, then one open-loop rate all
//! systems sustain, for latency), S2 MT with receipts, S3 a backlog of a million messages
//! and a restart (Tern only), S5 1,000 idle binds beside 50 active ones. Every run is
//! bounded in count and time and stops what it started, also when it fails; a system that
//! fails is reported as such and the others still run.

mod backlog;
mod plot;
mod report;
mod scenario;
mod system;

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context as _;

pub use report::{Results, Row};
pub use scenario::{Overrides, Plan, Scenario};
pub use system::SystemKind;

use report::{Failure, Machine};
use scenario::Phase;
use system::Environment;

/// What to compare, and how.
#[derive(Debug, Clone)]
pub struct CompareConfig {
    pub scenarios: Vec<Scenario>,
    pub systems: Vec<SystemKind>,
    pub out: PathBuf,
    pub overrides: Overrides,
    /// S1's common open-loop rate; `None`: half the lowest closed-loop rate measured (the
    /// lower of accepted and forwarded).
    pub sustain_rate: Option<f64>,
    pub sustain_duration: Duration,
    /// Skip S1's open-loop phase.
    pub no_sustain: bool,
    /// S1's open-loop phase only, at `sustain_rate`.
    pub sustain_only: bool,
    pub tern: PathBuf,
    pub peers: PathBuf,
    pub pin: bool,
    pub start_timeout: Duration,
    pub seed: u64,
    pub progress: bool,
    /// The command line, for the record.
    pub command: String,
}

/// The `tern` binary beside this one (both are built into the same target directory).
pub fn default_tern() -> PathBuf {
    std::env::current_exe()
        .ok()
        .and_then(|exe| exe.parent().map(|dir| dir.join("tern")))
        .unwrap_or_else(|| PathBuf::from("tern"))
}

/// `bench/peers` of this source tree.
pub fn default_peers() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/peers"))
}

fn say(config: &CompareConfig, line: &str) {
    if config.progress {
        eprintln!("{line}");
    }
}

/// Runs the comparison and writes its results into `config.out`.
pub async fn run(config: CompareConfig) -> anyhow::Result<Results> {
    std::fs::create_dir_all(&config.out)
        .with_context(|| format!("creating {}", config.out.display()))?;
    let work = config.out.join("work");
    std::fs::create_dir_all(&work).with_context(|| format!("creating {}", work.display()))?;
    let env = Environment {
        tern: config.tern.clone(),
        peers: config.peers.clone(),
        work: work.clone(),
        pin: config.pin,
        start_timeout: config.start_timeout,
    };
    if config.pin {
        system::pin(std::process::id(), "1").await?;
    }
    let mut results = Results {
        command: config.command.clone(),
        machine: Machine::read(),
        pinned: config.pin,
        scenarios: config.scenarios.clone(),
        systems: config.systems.clone(),
        plans: config
            .scenarios
            .iter()
            .map(|&s| (s, Plan::of(s, &config.overrides)))
            .collect(),
        sustain_rate: None,
        rows: Vec::new(),
        backlog: None,
        failures: Vec::new(),
        notes: notes(&config),
    };
    for &scenario in &config.scenarios {
        let plan = Plan::of(scenario, &config.overrides);
        if scenario == Scenario::S3 {
            say(&config, "== S3 backlog: tern");
            match backlog::run(&plan, &env, config.progress, config.seed).await {
                Ok(b) => results.backlog = Some(b),
                Err(e) => results.failures.push(Failure {
                    scenario,
                    system: SystemKind::Tern,
                    phase: "max",
                    error: format!("{e:#}"),
                }),
            }
            continue;
        }
        let phase = Phase {
            rate: None,
            duration: plan.duration,
            count: plan.count,
        };
        let sustain_only = scenario == Scenario::S1 && config.sustain_only;
        if !sustain_only {
            for &kind in &config.systems {
                run_row(&config, &env, &mut results, scenario, kind, &plan, phase).await;
            }
        }
        if scenario == Scenario::S1 && !config.no_sustain {
            let rate = config.sustain_rate.or_else(|| {
                results
                    .rows
                    .iter()
                    .filter(|r| r.scenario == Scenario::S1 && r.phase == "max")
                    .map(Row::through_per_sec)
                    .filter(|r| *r > 0.0)
                    .reduce(f64::min)
                    .map(|lowest| (lowest / 2.0).floor().max(1.0))
            });
            let Some(rate) = rate else { continue };
            results.sustain_rate = Some(rate);
            let secs = config.sustain_duration.as_secs_f64();
            let phase = Phase {
                rate: Some(rate),
                duration: config.sustain_duration,
                count: ((rate * secs).ceil() as u64).max(1),
            };
            for &kind in &config.systems {
                run_row(&config, &env, &mut results, scenario, kind, &plan, phase).await;
            }
        }
        // What the rows so far show, in case a later scenario does not finish.
        results.write(&config.out)?;
    }
    results.write(&config.out)?;
    plot::write(&results, &config.out)?;
    let _ = std::fs::remove_dir_all(&work);
    Ok(results)
}

async fn run_row(
    config: &CompareConfig,
    env: &Environment,
    results: &mut Results,
    scenario: Scenario,
    kind: SystemKind,
    plan: &Plan,
    phase: Phase,
) {
    let phase_name = if phase.rate.is_some() { "rate" } else { "max" };
    say(
        config,
        &format!(
            "== {} {}: {}{}",
            scenario.name(),
            scenario.title(),
            kind.name(),
            phase
                .rate
                .map(|r| format!(" at {r:.0} msg/s"))
                .unwrap_or_default()
        ),
    );
    let label = format!("{}-{}-{phase_name}", scenario.name(), kind.name());
    match scenario::run_one(
        scenario,
        kind,
        plan,
        phase,
        env,
        config.progress,
        config.seed,
        &label,
    )
    .await
    {
        Ok(row) => {
            say(
                config,
                &format!(
                    "   {:.0} msg/s accepted, {:.0} forwarded, p99 {:.2} ms, {} µs CPU/msg, {} errors",
                    row.msg_per_sec,
                    row.forwarded_per_sec,
                    row.latency_ms.p99,
                    row.cpu_us_per_msg.map_or("-".into(), |c| format!("{c:.1}")),
                    row.errors
                ),
            );
            results.rows.push(row);
        }
        Err(e) => {
            say(config, &format!("   failed: {e:#}"));
            results.failures.push(Failure {
                scenario,
                system: kind,
                phase: phase_name,
                error: format!("{e:#}"),
            });
        }
    }
}

fn notes(config: &CompareConfig) -> Vec<String> {
    let mut notes = vec![
        "raw: the load generator and the simulator in one process; its CPU and RSS are both of them."
            .to_owned(),
        "tern, kannel, jasmin: CPU and RSS of the system's own processes only (the simulator and the load run in tern-bench); RSS is the sum of each process's peak."
            .to_owned(),
    ];
    if config
        .systems
        .iter()
        .any(|s| matches!(s, SystemKind::Kannel | SystemKind::KannelTuned))
    {
        notes.push(
            "kannel: Debian has no opensmppbox, so the load goes over HTTP sendsms (keep-alive, one connection per request in flight) and receipts come back to dlr-url; its latency is HTTP request to answer, and an HTTP 202 is an accepted message."
                .to_owned(),
        );
    }
    if config.systems.contains(&SystemKind::TernHttp) {
        notes.push(
            "tern-http: the tern node with an [http] listener, loaded at its Kannel-compatible /cgi-bin/sendsms with the same requests, connections and dlr-url as kannel; an HTTP 202 comes once the message is durable (fsync on)."
                .to_owned(),
        );
    }
    if config
        .systems
        .iter()
        .any(|s| matches!(s, SystemKind::JasminHttp | SystemKind::JasminTunedHttp))
    {
        notes.push(
            "jasmin-http: Jasmin loaded at its HTTP API's /send (GET, keep-alive, one connection per request in flight) with content, dlr=yes, dlr-level=2, dlr-method=GET and a dlr-url; 200 `Success \"<id>\"` is an accepted message, and Jasmin answers it before the message reaches the operator."
                .to_owned(),
        );
    }
    if config.scenarios.contains(&Scenario::S3) {
        notes.push(
            "S3 runs Tern only: Kannel's store file and Jasmin's RabbitMQ queues hold messages too, but neither gives an accepting restart to compare under the same terms."
                .to_owned(),
        );
    }
    notes
}
