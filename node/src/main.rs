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
    test_clock();
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

/// A failpoints build whose `TERN_TEST_CLOCK` names a file reads its clock's step and drift
/// from it (`OFFSET_MS DRIFT_PPM`), again whenever the file changes: the chaos scenarios
/// step the clock of a running node this way.
#[cfg(feature = "failpoints")]
fn test_clock() {
    let Some(path) = std::env::var_os("TERN_TEST_CLOCK").filter(|p| !p.is_empty()) else {
        return;
    };
    tracing::warn!(path = %std::path::Path::new(&path).display(), "TEST CLOCK: this node's clock is stepped and drifted by a file");
    let spawned = std::thread::Builder::new()
        .name("test-clock".into())
        .spawn(move || {
            let mut last = String::new();
            loop {
                if let Ok(text) = std::fs::read_to_string(&path) {
                    if text != last {
                        let mut fields = text.split_whitespace().map(str::parse::<i64>);
                        match (fields.next(), fields.next()) {
                            (Some(Ok(offset)), Some(Ok(drift))) => {
                                tern_model::clock::test_clock::set(offset, drift);
                                tracing::warn!(
                                    offset_ms = offset,
                                    drift_ppm = drift,
                                    "TEST CLOCK set"
                                );
                            }
                            _ => tracing::warn!(text, "TEST CLOCK: not OFFSET_MS DRIFT_PPM"),
                        }
                        last = text;
                    }
                }
                std::thread::sleep(std::time::Duration::from_millis(50));
            }
        });
    if let Err(error) = spawned {
        tracing::warn!(%error, "TEST CLOCK: no thread to read it");
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
