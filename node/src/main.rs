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
    test_disk();
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
    watch_test_file("TERN_TEST_CLOCK", "TEST CLOCK", |text| {
        let mut fields = text.split_whitespace().map(str::parse::<i64>);
        match (fields.next(), fields.next()) {
            (Some(Ok(offset)), Some(Ok(drift))) => {
                tern_model::clock::test_clock::set(offset, drift);
                tracing::warn!(offset_ms = offset, drift_ppm = drift, "TEST CLOCK set");
            }
            _ => tracing::warn!(text, "TEST CLOCK: not OFFSET_MS DRIFT_PPM"),
        }
    });
}

/// A failpoints build whose `TERN_TEST_DISK` names a file takes the embedded store's disk
/// mode from it (`healthy`, `failing` or `power-loss`), again whenever the file changes:
/// the chaos scenarios of disk errors and power loss fail the disk of a running node so.
#[cfg(feature = "failpoints")]
fn test_disk() {
    use tern_storage::embedded::test_disk::{self, Mode};
    watch_test_file("TERN_TEST_DISK", "TEST DISK", |text| {
        match Mode::parse(text) {
            Some(mode) => {
                tracing::warn!(?mode, "TEST DISK set");
                test_disk::set(mode);
            }
            None => tracing::warn!(text, "TEST DISK: not healthy, failing or power-loss"),
        }
    });
}

/// Reads the file the environment variable `var` names every 50 ms, and gives its text to
/// `apply` whenever it changed; nothing when the variable is not set.
#[cfg(feature = "failpoints")]
fn watch_test_file(var: &str, what: &'static str, apply: impl Fn(&str) + Send + 'static) {
    let Some(path) = std::env::var_os(var).filter(|p| !p.is_empty()) else {
        return;
    };
    tracing::warn!(path = %std::path::Path::new(&path).display(), "{what}: set by a file (tests only)");
    let spawned = std::thread::Builder::new()
        .name(what.to_lowercase().replace(' ', "-"))
        .spawn(move || {
            let mut last = String::new();
            loop {
                if let Ok(text) = std::fs::read_to_string(&path) {
                    if text != last {
                        apply(&text);
                        last = text;
                    }
                }
                std::thread::sleep(std::time::Duration::from_millis(50));
            }
        });
    if let Err(error) = spawned {
        tracing::warn!(%error, "{what}: no thread to read it");
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
