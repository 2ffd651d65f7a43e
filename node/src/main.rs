//! `tern`: the Tern SMS gateway node and its tools.

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

mod ctl;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{CommandFactory, Parser, Subcommand};

use tern_node::config::Config;

#[derive(Debug, Parser)]
#[command(name = "tern", version, about = "Tern, a carrier-grade SMS gateway")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
// Parsed once at start: the size of the `dev` flags (with a CQL store) does not matter.
#[allow(clippy::large_enum_variant)]
enum Command {
    /// Runs a node from a TOML configuration file.
    Node {
        #[arg(long, short)]
        config: PathBuf,
    },
    /// Runs a complete one-node gateway: embedded store, simulated operator, demo account.
    Dev(tern_node::dev::DevArgs),
    /// Validates a configuration file and exits.
    CheckConfig {
        #[arg(long, short)]
        config: PathBuf,
    },
    /// Administers a running cluster through a node's admin API.
    Ctl(ctl::CtlArgs),
}

/// sysexits.h EX_CONFIG: the configuration is wrong.
const EX_CONFIG: u8 = 78;

/// Runs `work` on a multi-threaded runtime; its error is logged and printed.
fn run_on_runtime(work: impl std::future::Future<Output = anyhow::Result<()>>) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("tern: cannot start the runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(work) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!("{error:#}");
            eprintln!("tern: {error:#}");
            ExitCode::FAILURE
        }
    }
}

/// A build with the `failpoints` feature turns on the bugs `FAILPOINTS` names, and says
/// so loudly: such a node loses or repeats messages on purpose.
#[cfg(feature = "failpoints")]
fn failpoints() -> Result<(), ExitCode> {
    match tern_actors::failpoints::configure_from_env() {
        Ok(active) if active.is_empty() => {
            tracing::warn!("built with failpoints (for tests only); none active");
            Ok(())
        }
        Ok(active) => {
            let names: Vec<String> = active
                .iter()
                .map(|(name, actions)| format!("{name}={actions}"))
                .collect();
            let names = names.join(";");
            tracing::warn!(
                failpoints = names,
                "FAILPOINTS ACTIVE: bugs planted on purpose are on, this node loses or \
                 repeats messages (for the chaos checker's tests only)"
            );
            eprintln!("tern: FAILPOINTS ACTIVE: {names}");
            Ok(())
        }
        Err(error) => {
            eprintln!("tern: {error}");
            Err(ExitCode::from(EX_CONFIG))
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Ctl(args) => ctl::run(args, Cli::command),
        Command::Dev(args) => {
            tern_node::telemetry::init_tracing(&tern_node::config::LogSection::default());
            #[cfg(feature = "failpoints")]
            if let Err(code) = failpoints() {
                return code;
            }
            run_on_runtime(tern_node::dev::run(args))
        }
        Command::CheckConfig { config } => match Config::load(&config) {
            Ok(_) => {
                println!("{}: ok", config.display());
                ExitCode::SUCCESS
            }
            Err(error) => {
                eprintln!("tern: {error}");
                ExitCode::from(EX_CONFIG)
            }
        },
        Command::Node { config } => {
            let config = match Config::load(&config) {
                Ok(config) => config,
                Err(error) => {
                    eprintln!("tern: {error}");
                    return ExitCode::from(EX_CONFIG);
                }
            };
            tern_node::telemetry::init_tracing(&config.log);
            #[cfg(feature = "failpoints")]
            if let Err(code) = failpoints() {
                return code;
            }
            run_on_runtime(tern_node::run(config))
        }
    }
}
