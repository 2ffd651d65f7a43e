//! `tern-chaos`: a local Tern cluster for trying Tern out, tests and the chaos harness.
//! `cluster up` starts it and prints one JSON line that says where everything is;
//! `cluster down` stops what `up` started, `cluster status` shows how it is.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use serde_json::json;
use tern_chaos::cluster::{LocalCluster, Options, DEFAULT_NODES};

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

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let Command::Cluster(command) = Cli::parse().command;
    match run(command).await {
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
