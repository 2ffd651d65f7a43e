//! `tern ctl`: the command line of the admin gRPC API. One subcommand group per area
//! (`account`, `apikey`, `price`, `campaign`, `route`, `link`, `mo`, `session`, `message`,
//! `queue`, `cluster`, `notify`, `audit`, `report`), each command one RPC (`cluster drain`
//! then asks again until the node is drained).
//!
//! Output is an aligned table or `name value` lines for people, or with `--json` the
//! reply message as JSON for scripts. A failure prints one line, `error: <what>`, on
//! stderr and exits 1; a command line that does not parse exits 2.

use tern_node::admin::proto;

mod account;
mod apikey;
mod catalog;
mod mo;
mod node;
mod render;
mod report;
mod table;
mod time;

use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Subcommand};
use serde::Serialize;
use tonic::metadata::{Ascii, MetadataValue};
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint};

use proto::admin_client::AdminClient;

/// The heading of the flags every `tern ctl` command takes.
const GLOBAL: &str = "Global options";

#[derive(Debug, Args)]
pub struct CtlArgs {
    /// The admin API of any node of the cluster.
    #[arg(
        long,
        global = true,
        env = "TERN_SERVER",
        default_value = "http://127.0.0.1:50051",
        help_heading = GLOBAL
    )]
    server: String,
    /// The admin token (`admin.token` of the node's configuration).
    #[arg(long, global = true, env = "TERN_TOKEN", hide_env_values = true, help_heading = GLOBAL)]
    token: Option<String>,
    /// CA certificates (PEM) the server's certificate must chain to, for https://.
    #[arg(long, global = true, env = "TERN_CA", help_heading = GLOBAL)]
    ca: Option<PathBuf>,
    /// Print the reply as JSON.
    #[arg(long, global = true, help_heading = GLOBAL)]
    json: bool,
    #[command(subcommand)]
    command: CtlCommand,
}

#[derive(Debug, Subcommand)]
enum CtlCommand {
    /// Accounts, their limits and their money.
    #[command(subcommand)]
    Account(account::AccountCommand),
    /// API keys of the HTTP API: made, listed and revoked.
    #[command(subcommand)]
    Apikey(apikey::ApiKeyCommand),
    /// Prices per message part.
    #[command(subcommand)]
    Price(catalog::PriceCommand),
    /// Campaign bookings.
    #[command(subcommand)]
    Campaign(catalog::CampaignCommand),
    /// Routes (`[[route]]` tables).
    #[command(subcommand)]
    Route(catalog::SpecCommand),
    /// Carrier links (`[[upstream]]` tables).
    #[command(subcommand)]
    Link(catalog::SpecCommand),
    /// MO rules (`[[mo_rule]]` tables): which account receives MO to a number or keyword.
    #[command(subcommand)]
    Mo(mo::MoCommand),
    /// Customer sessions bound to the node.
    #[command(subcommand)]
    Session(node::SessionCommand),
    /// Messages in the node's store.
    #[command(subcommand)]
    Message(node::MessageCommand),
    /// Queue depths of the node.
    #[command(subcommand)]
    Queue(node::QueueCommand),
    /// The raft cluster.
    #[command(subcommand)]
    Cluster(node::ClusterCommand),
    /// Thresholds, webhooks and events.
    #[command(subcommand)]
    Notify(node::NotifyCommand),
    /// The audit trail of changes.
    #[command(subcommand)]
    Audit(node::AuditCommand),
    /// Reports from the CDRs: traffic, accounts and links by day or month (UTC), failed
    /// parts, a message's history.
    #[command(subcommand)]
    Report(report::ReportCommand),
    /// Prints a shell completion script for `tern`.
    Completions { shell: clap_complete::Shell },
}

/// Why a command failed; printed as one line.
#[derive(Debug)]
pub(crate) enum CtlError {
    /// The command line asks for something impossible (exit code 2).
    Usage(String),
    /// The server refused or failed the call.
    Status(tonic::Status),
    Other(String),
}

impl std::fmt::Display for CtlError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CtlError::Usage(what) | CtlError::Other(what) => f.write_str(what),
            CtlError::Status(status) => {
                use tonic::Code;
                let message = status.message();
                match status.code() {
                    // The server's message says it all ("account acme not found").
                    Code::NotFound
                    | Code::AlreadyExists
                    | Code::InvalidArgument
                    | Code::FailedPrecondition
                        if !message.is_empty() =>
                    {
                        f.write_str(message)
                    }
                    code if message.is_empty() => f.write_str(code_name(code)),
                    code => write!(f, "{}: {message}", code_name(code)),
                }
            }
        }
    }
}

/// A status code as a short phrase (tonic's descriptions are sentences).
fn code_name(code: tonic::Code) -> &'static str {
    use tonic::Code;
    match code {
        Code::Ok => "ok",
        Code::Cancelled => "cancelled",
        Code::Unknown => "unknown error",
        Code::InvalidArgument => "invalid argument",
        Code::DeadlineExceeded => "timed out",
        Code::NotFound => "not found",
        Code::AlreadyExists => "already exists",
        Code::PermissionDenied => "permission denied",
        Code::ResourceExhausted => "resource exhausted",
        Code::FailedPrecondition => "failed precondition",
        Code::Aborted => "aborted",
        Code::OutOfRange => "out of range",
        Code::Unimplemented => "not implemented by the server",
        Code::Internal => "internal error",
        Code::Unavailable => "unavailable",
        Code::DataLoss => "data loss",
        Code::Unauthenticated => "unauthenticated",
    }
}

impl From<tonic::Status> for CtlError {
    fn from(status: tonic::Status) -> Self {
        CtlError::Status(status)
    }
}

/// An error and its causes on one line.
fn chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let line = cause.to_string();
        if !text.contains(&line) {
            text.push_str(": ");
            text.push_str(&line);
        }
        source = cause.source();
    }
    text
}

/// A connected client and how to print.
pub(crate) struct Ctl {
    client: AdminClient<Channel>,
    authorization: MetadataValue<Ascii>,
    json: bool,
}

impl Ctl {
    async fn connect(args: &CtlArgs) -> Result<Self, CtlError> {
        let token = args
            .token
            .as_deref()
            .filter(|t| !t.is_empty())
            .ok_or_else(|| CtlError::Usage("no token: pass --token or set TERN_TOKEN".into()))?;
        let authorization = format!("Bearer {token}").parse().map_err(|_| {
            CtlError::Usage("the token has characters a header cannot carry".into())
        })?;
        let mut endpoint = Endpoint::from_shared(args.server.clone())
            .map_err(|_| CtlError::Usage(format!("--server {:?} is not a URL", args.server)))?
            .connect_timeout(Duration::from_secs(5))
            .timeout(Duration::from_secs(30));
        if args.server.starts_with("https://") {
            let ca = args.ca.as_ref().ok_or_else(|| {
                CtlError::Usage("an https:// server needs --ca FILE (or TERN_CA)".into())
            })?;
            let pem = std::fs::read(ca)
                .map_err(|e| CtlError::Other(format!("--ca {}: {e}", ca.display())))?;
            tern_node::use_ring_for_tls();
            endpoint = endpoint
                .tls_config(ClientTlsConfig::new().ca_certificate(Certificate::from_pem(pem)))
                .map_err(|e| CtlError::Other(format!("tls: {}", chain(&e))))?;
        }
        let channel = endpoint
            .connect()
            .await
            .map_err(|e| CtlError::Other(format!("cannot reach {}: {}", args.server, chain(&e))))?;
        Ok(Self {
            client: AdminClient::new(channel),
            authorization,
            json: args.json,
        })
    }

    pub(crate) fn client(&self) -> AdminClient<Channel> {
        self.client.clone()
    }

    /// `message` with the authorization header.
    pub(crate) fn req<T>(&self, message: T) -> tonic::Request<T> {
        let mut request = tonic::Request::new(message);
        request
            .metadata_mut()
            .insert("authorization", self.authorization.clone());
        request
    }

    /// Prints `value` as JSON with `--json`, else as `text` renders it.
    pub(crate) fn show<T: Serialize>(
        &self,
        value: &T,
        text: impl FnOnce(&T) -> String,
    ) -> Result<(), CtlError> {
        let out = if self.json {
            let mut json = serde_json::to_string_pretty(value)
                .map_err(|e| CtlError::Other(format!("json: {e}")))?;
            json.push('\n');
            json
        } else {
            text(value)
        };
        // A closed pipe (`| head`) is not a failure of the command.
        let _ = std::io::stdout().lock().write_all(out.as_bytes());
        Ok(())
    }

    /// Prints `ok` (or `{}` with `--json`) for a change with nothing to show.
    pub(crate) fn done(&self) -> Result<(), CtlError> {
        self.show(&proto::Done {}, |_| "ok\n".to_owned())
    }
}

async fn dispatch(args: CtlArgs) -> Result<(), CtlError> {
    let ctl = Ctl::connect(&args).await?;
    match args.command {
        CtlCommand::Account(command) => account::run(&ctl, command).await,
        CtlCommand::Apikey(command) => apikey::run(&ctl, command).await,
        CtlCommand::Price(command) => catalog::price(&ctl, command).await,
        CtlCommand::Campaign(command) => catalog::campaign(&ctl, command).await,
        CtlCommand::Route(command) => catalog::route(&ctl, command).await,
        CtlCommand::Link(command) => catalog::link(&ctl, command).await,
        CtlCommand::Mo(command) => mo::run(&ctl, command).await,
        CtlCommand::Session(command) => node::session(&ctl, command).await,
        CtlCommand::Message(command) => node::message(&ctl, command).await,
        CtlCommand::Queue(command) => node::queue(&ctl, command).await,
        CtlCommand::Cluster(command) => node::cluster(&ctl, command).await,
        CtlCommand::Notify(command) => node::notify(&ctl, command).await,
        CtlCommand::Audit(command) => node::audit(&ctl, command).await,
        CtlCommand::Report(command) => report::run(&ctl, command).await,
        // Handled before connecting.
        CtlCommand::Completions { .. } => Ok(()),
    }
}

/// Runs one `tern ctl` command; `command` is the whole `tern` command line, for the
/// completion scripts.
pub fn run(args: CtlArgs, command: impl FnOnce() -> clap::Command) -> ExitCode {
    if let CtlCommand::Completions { shell } = args.command {
        let mut command = command();
        let name = command.get_name().to_owned();
        // Into a buffer: writing straight to a closed stdout would panic in clap_complete.
        let mut script = Vec::new();
        clap_complete::generate(shell, &mut command, name, &mut script);
        let _ = std::io::stdout().lock().write_all(&script);
        return ExitCode::SUCCESS;
    }
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("error: cannot start the runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(dispatch(args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            let line = error.to_string().replace(['\n', '\r'], " ");
            eprintln!("error: {line}");
            match error {
                CtlError::Usage(_) => ExitCode::from(2),
                _ => ExitCode::FAILURE,
            }
        }
    }
}
