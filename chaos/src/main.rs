//! `tern-chaos`: fault scenarios against real Tern processes, with a checker of the
//! invariants over what every party saw (`list`, `run`, `suite`, `check`), and a local Tern
//! cluster for trying Tern out and for tests: `cluster up` starts it and prints one JSON
//! line that says where everything is; `cluster down` stops what `up` started, `cluster
//! status` shows how it is.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use serde_json::json;
use tern_chaos::checker::check;
use tern_chaos::cluster::{Binaries, LocalCluster, Options, DEFAULT_NODES};
use tern_chaos::history::History;
use tern_chaos::report::{self, ScenarioResult, Summary};
use tern_chaos::scenario::{self, catalogue, Injection, RunOptions, Scenario};

#[derive(Parser)]
#[command(
    name = "tern-chaos",
    version,
    about = "Local Tern clusters, and faults for them"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// A local cluster of `tern node` processes.
    #[command(subcommand)]
    Cluster(ClusterCommand),
    /// The scenarios: their faults, the invariants they check, whether they need a cluster.
    List {
        /// One JSON object per line.
        #[arg(long)]
        json: bool,
    },
    /// Runs scenarios by name and checks their invariants; exits 1 on a violation.
    Run {
        #[arg(required = true)]
        names: Vec<String>,
        #[command(flatten)]
        run: RunArgs,
    },
    /// Runs the quick subset (CI, a few minutes) or every scenario but the soak.
    Suite {
        #[arg(long, conflicts_with = "full", required_unless_present = "full")]
        quick: bool,
        #[arg(long)]
        full: bool,
        #[command(flatten)]
        run: RunArgs,
    },
    /// Checks a history saved by an earlier run again (`DIR/<scenario>/history`).
    Check { dir: PathBuf },
}

#[derive(Args)]
struct RunArgs {
    /// Seed of every random choice; printed in the report, and a run with it replays the
    /// same schedule. Default: from the clock.
    #[arg(long)]
    seed: Option<u64>,
    /// How long traffic runs in each scenario: 20s, 2m.
    #[arg(long, default_value = "20s", value_parser = duration)]
    duration: Duration,
    /// Submits per second.
    #[arg(long, default_value_t = 50.0)]
    rate: f64,
    /// Where histories and reports go (default: target/chaos/<time>).
    #[arg(long)]
    out: Option<PathBuf>,
}

fn duration(text: &str) -> Result<Duration, String> {
    let (number, unit) = text
        .find(|c: char| !c.is_ascii_digit())
        .map_or((text, "s"), |at| text.split_at(at));
    let n: u64 = number
        .parse()
        .map_err(|_| format!("{text:?}: a number and s, m or h"))?;
    match unit {
        "s" => Ok(Duration::from_secs(n)),
        "m" => Ok(Duration::from_secs(n * 60)),
        "h" => Ok(Duration::from_secs(n * 3600)),
        _ => Err(format!("{text:?}: a number and s, m or h")),
    }
}

#[derive(Subcommand)]
enum ClusterCommand {
    /// Starts the nodes (and the simulated operator, and Cassandra unless TERN_CQL names a
    /// database), waits until they form a cluster, prints one JSON line and leaves them
    /// running.
    Up {
        /// Nodes, with ids 1..=N.
        #[arg(long, default_value_t = DEFAULT_NODES)]
        nodes: u16,
        /// A real SMSC instead of the simulator: smpp://USER:PASSWORD@HOST:PORT.
        #[arg(long)]
        upstream: Option<String>,
        #[command(flatten)]
        dir: DirArg,
        /// Seconds the nodes may take to answer and agree on the members.
        #[arg(long, default_value_t = 90)]
        deadline_secs: u64,
    },
    /// Stops what `up` started: the nodes, the simulator and a Cassandra it started.
    Down {
        #[command(flatten)]
        dir: DirArg,
    },
    /// Prints one JSON line: each node's process and its view of the cluster. Exits 1 when
    /// a node does not run or does not answer.
    Status {
        #[command(flatten)]
        dir: DirArg,
    },
}

#[derive(Args)]
struct DirArg {
    /// The run directory (default: target/cluster of the repository).
    #[arg(long)]
    dir: Option<PathBuf>,
}

impl DirArg {
    fn or_default(self) -> PathBuf {
        self.dir.unwrap_or_else(|| Options::default().dir)
    }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> ExitCode {
    let outcome = match Cli::parse().command {
        Command::Cluster(command) => run(command).await,
        Command::List { json } => list(json),
        Command::Run { names, run } => scenarios(names, run).await,
        Command::Suite {
            quick,
            full: _,
            run,
        } => {
            // The soak is a run of its own, with a duration of hours (F21).
            let test_build = failpoints_binary().is_some();
            let names = catalogue()
                .into_iter()
                .filter(|s| s.injection != Injection::Schedule)
                .filter(|s| !quick || s.quick)
                .filter(|s| {
                    if s.test_build && !test_build {
                        eprintln!(
                            "tern-chaos: {} skipped: it needs a tern built with --features failpoints (TERN_FAILPOINTS_BIN)",
                            s.name
                        );
                    }
                    test_build || !s.test_build
                })
                .map(|s| s.name.to_owned())
                .collect();
            scenarios(names, run).await
        }
        Command::Check { dir } => check_again(&dir),
    };
    match outcome {
        Ok(code) => code,
        Err(error) => {
            eprintln!("tern-chaos: {error:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(command: ClusterCommand) -> anyhow::Result<ExitCode> {
    match command {
        ClusterCommand::Up {
            nodes,
            upstream,
            dir,
            deadline_secs,
        } => {
            let options = Options {
                nodes,
                upstream,
                dir: dir.or_default(),
                deadline: Duration::from_secs(deadline_secs),
                ..Options::default()
            };
            let mut terminate =
                tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
            // Interrupted, the unfinished cluster is dropped, and that stops what it started.
            let mut cluster = tokio::select! {
                cluster = LocalCluster::up(options) => cluster?,
                _ = tokio::signal::ctrl_c() => anyhow::bail!("interrupted; what was started is stopped"),
                _ = terminate.recv() => anyhow::bail!("terminated; what was started is stopped"),
            };
            cluster.keep_running();
            println!("{}", serde_json::to_string(&cluster.summary())?);
            Ok(ExitCode::SUCCESS)
        }
        ClusterCommand::Down { dir } => {
            let cluster = LocalCluster::attach(&dir.or_default())?;
            let report = cluster.down()?;
            if let Some(stats) = report.operator {
                eprintln!(
                    "cluster: the simulator answered {} submits ({} duplicates) and sent {} receipts",
                    stats.submits, stats.duplicates, stats.receipts_sent
                );
            }
            eprintln!("cluster: stopped");
            Ok(ExitCode::SUCCESS)
        }
        ClusterCommand::Status { dir } => {
            let mut cluster = LocalCluster::attach(&dir.or_default())?;
            let summary = cluster.summary();
            let mut healthy = true;
            let mut nodes = Vec::new();
            for node in &summary.nodes {
                let running = cluster.running(node.id);
                let view = if running {
                    match cluster.cluster_status(node.id).await {
                        Ok(status) => json!({
                            "role": status["role"],
                            "leader": status["leader"],
                            "members": status["members"].as_array().map_or(0, Vec::len),
                        }),
                        Err(e) => {
                            healthy = false;
                            json!({ "error": format!("{e:#}") })
                        }
                    }
                } else {
                    healthy = false;
                    json!(null)
                };
                nodes.push(json!({
                    "id": node.id,
                    "pid": node.pid,
                    "running": running,
                    "smpp": node.smpp,
                    "admin": node.admin,
                    "metrics": node.metrics,
                    "cluster": view,
                }));
            }
            let line = json!({
                "nodes": nodes,
                "operator": summary.operator,
                "operator_stats": cluster.operator_stats(),
                "cql": summary.cql,
                "keyspace": summary.keyspace,
                "dir": summary.dir,
            });
            println!("{line}");
            Ok(if healthy {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
        }
    }
}

fn list(json: bool) -> anyhow::Result<ExitCode> {
    for s in catalogue() {
        let invariants: Vec<String> = s.invariants.iter().map(ToString::to_string).collect();
        if json {
            println!(
                "{}",
                json!({
                    "name": s.name,
                    "about": s.about,
                    "faults": s.faults,
                    "invariants": invariants,
                    "cluster": s.cluster,
                    "quick": s.quick,
                    "test_build": s.test_build,
                })
            );
        } else {
            println!(
                "{:<26} {:<8} {:<6} {}\n{:<26} checks {}\n",
                s.name,
                if s.faults.is_empty() {
                    "-".to_owned()
                } else {
                    s.faults.join(",")
                },
                if s.quick { "quick" } else { "full" },
                s.about,
                if s.cluster {
                    "(cluster)"
                } else if s.test_build {
                    "(test build)"
                } else {
                    ""
                },
                invariants.join(" ")
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// A `tern` built with `--features failpoints`, for the scenarios that need one.
fn failpoints_binary() -> Option<PathBuf> {
    std::env::var_os("TERN_FAILPOINTS_BIN")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
}

/// Runs `names` one after the other, writes the report, and says whether all held.
async fn scenarios(names: Vec<String>, args: RunArgs) -> anyhow::Result<ExitCode> {
    let all = catalogue();
    let mut chosen: Vec<Scenario> = Vec::new();
    for name in &names {
        let scenario = all
            .iter()
            .find(|s| s.name == name)
            .ok_or_else(|| anyhow::anyhow!("no scenario {name:?} (tern-chaos list)"))?;
        chosen.push(scenario.clone());
    }
    let seed = args.seed.unwrap_or_else(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(1, |d| d.as_secs())
    });
    let out = args.out.unwrap_or_else(|| {
        tern_chaos::cluster::workspace_root()
            .join("target")
            .join("chaos")
            .join(format!("{seed}"))
    });
    let binaries = Binaries::find()?;
    eprintln!(
        "tern-chaos: {} scenario(s), seed {seed}, {:?} of traffic each, into {}",
        chosen.len(),
        args.duration,
        out.display()
    );
    let mut results = Vec::new();
    for s in &chosen {
        let dir = out.join(s.name);
        let _ = std::fs::remove_dir_all(&dir);
        let mut binaries = binaries.clone();
        if s.test_build {
            binaries.tern = failpoints_binary().ok_or_else(|| {
                anyhow::anyhow!(
                    "{} needs a tern built with --features failpoints: TERN_FAILPOINTS_BIN=PATH",
                    s.name
                )
            })?;
        }
        let options = RunOptions {
            seed,
            duration: args.duration,
            rate: args.rate,
            dir: dir.join("run"),
            binaries,
            progress: true,
            node_env: Vec::new(),
        };
        eprintln!("tern-chaos: {} ...", s.name);
        let started = std::time::Instant::now();
        // The whole scenario is bounded; dropping it on a timeout or Ctrl-C stops what it
        // started.
        let limit = args.duration + Duration::from_secs(240);
        let outcome = tokio::select! {
            outcome = tokio::time::timeout(limit, scenario::run(s, &options)) => {
                outcome.unwrap_or_else(|_| Err(anyhow::anyhow!("not done within {limit:?}")))
            }
            _ = tokio::signal::ctrl_c() => anyhow::bail!("interrupted; what was started is stopped"),
        };
        let seconds = started.elapsed().as_secs_f64();
        let result = match outcome {
            Ok(history) => {
                history.save(&dir.join("history"))?;
                ScenarioResult {
                    scenario: s.name.into(),
                    seed,
                    seconds,
                    error: None,
                    verdicts: check(&history, s.invariants),
                    figures: Summary::of(&history),
                }
            }
            Err(error) => ScenarioResult {
                scenario: s.name.into(),
                seed,
                seconds,
                error: Some(format!("{error:#}")),
                verdicts: Vec::new(),
                figures: Summary::default(),
            },
        };
        eprintln!(
            "tern-chaos: {} {} in {seconds:.0} s",
            s.name,
            if result.violated() { "FAILED" } else { "held" }
        );
        results.push(result);
    }
    let title = format!("tern-chaos, seed {seed}");
    report::write(&out, &title, &results)?;
    println!("{}", report::table(&results));
    for r in results.iter().filter(|r| r.violated()) {
        if let Some(error) = &r.error {
            println!("{}: {error}", r.scenario);
        }
        for (invariant, verdict) in &r.verdicts {
            if let tern_chaos::checker::Verdict::Violated { detail, evidence } = verdict {
                println!("{}: {invariant} violated: {detail}", r.scenario);
                for e in evidence.iter().take(5) {
                    println!("  {e}");
                }
            }
        }
    }
    println!("report: {}", out.join("report.md").display());
    Ok(if results.iter().any(ScenarioResult::violated) {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

fn check_again(dir: &std::path::Path) -> anyhow::Result<ExitCode> {
    let history = History::load(&dir.join("history")).or_else(|_| History::load(dir))?;
    let scenario = catalogue()
        .into_iter()
        .find(|s| s.name == history.scenario)
        .ok_or_else(|| anyhow::anyhow!("no scenario {:?}", history.scenario))?;
    let result = ScenarioResult {
        scenario: history.scenario.clone(),
        seed: history.seed,
        seconds: 0.0,
        error: None,
        verdicts: check(&history, scenario.invariants),
        figures: Summary::of(&history),
    };
    println!(
        "{}",
        report::markdown("tern-chaos check", std::slice::from_ref(&result))
    );
    Ok(if result.violated() {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}
