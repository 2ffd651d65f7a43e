//! The administrative gRPC API (`tern.admin.v1.Admin`), served by every node.
//!
//! The API knows the cluster only through two traits: [`Control`], the replicated state
//! (changes are proposed through raft, reads see the applied state) and [`NodeOps`], the
//! pipeline of the node answering (sessions, messages, queues, live link state, its
//! lease). Keeping them as traits lets the API be tested against a state behind a mutex
//! and lets the node wire in raft and the pipeline without this module knowing either.
//!
//! Every call needs `authorization: Bearer <token>`. Every change carries an [`Audit`]
//! record (`who` names the token by a hash prefix, never the token) that the state
//! machine keeps in its audit trail, and is logged under the `tern::audit` target.
//! Passwords are hashed here ([`password`]) before anything is proposed.
//!
//! Changes that edit one field of an account (disable, password, limits) read the
//! account's spec and propose the whole spec back: two administrators editing the same
//! account at the same instant may lose one edit, the state stays consistent.
//!
//! [`Audit`]: tern_ledger::Audit

pub mod password;
pub mod proto;

mod accounts;
mod api_keys;
mod auth;
mod catalog;
mod cluster;
mod convert;
mod local;
mod mo;
mod reports;
mod service;

use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use tern_model::now_ms;
use tokio::net::TcpListener;
use tonic::transport::server::TcpIncoming;
use tonic::transport::{Identity, Server, ServerTlsConfig};

pub type BoxFut<'a, T> = std::pin::Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// The replicated state, as the admin API needs it.
pub trait Control: Send + Sync + 'static {
    /// Applies a request through raft and returns the state machine's answer.
    fn propose(
        &self,
        request: tern_ledger::Request,
    ) -> BoxFut<'_, Result<tern_ledger::Response, String>>;
    /// Reads the state (after the local node caught up with the leader when possible).
    /// `f` is called once, before the future resolves with `Ok`.
    fn read<'a>(
        &'a self,
        f: &'a mut (dyn FnMut(&tern_ledger::State) + Send),
    ) -> BoxFut<'a, Result<(), String>>;
    /// Reads the state as this node has applied it, without asking the leader: at once,
    /// even while no leader can be reached (for the node's own view of the cluster).
    fn read_local(&self, f: &mut dyn FnMut(&tern_ledger::State));
    fn status(&self) -> ClusterView;
    fn add_learner(&self, id: u64, addr: String) -> BoxFut<'_, Result<(), String>>;
    fn promote(&self, ids: Vec<u64>) -> BoxFut<'_, Result<(), String>>;
    fn remove(&self, ids: Vec<u64>) -> BoxFut<'_, Result<(), String>>;
}

/// The local node's pipeline.
///
/// Every call is bounded in time: an actor that does not answer makes it fail with an
/// error that says which one.
pub trait NodeOps: Send + Sync + 'static {
    fn sessions(&self) -> BoxFut<'_, Result<Vec<SessionView>, String>>;
    /// Unbinds a session; false when there is no session with that id.
    fn kick(&self, id: u64) -> BoxFut<'_, Result<bool, String>>;
    fn queues(&self) -> BoxFut<'_, Result<Vec<QueueView>, String>>;
    fn links(&self) -> BoxFut<'_, Result<Vec<LinkView>, String>>;
    fn message(&self, id: u64) -> BoxFut<'_, Result<Option<MessageView>, String>>;
    /// Messages of `account` submitted in `from_ms..=to_ms`, oldest first, at most `limit`.
    fn messages(
        &self,
        account: String,
        from_ms: u64,
        to_ms: u64,
        limit: usize,
    ) -> BoxFut<'_, Result<Vec<MessageView>, String>>;
    fn cancel(&self, id: u64) -> BoxFut<'_, Result<CancelOutcome, String>>;
    /// Checks a `[[route]]` or `[[upstream]]` TOML table the way the config file is
    /// checked and returns its name; Err names the key.
    fn check_route(&self, toml: &str) -> Result<String, String>;
    fn check_link(&self, toml: &str) -> Result<String, String>;
    /// The store the CDR reports are made from; `None` on a node that keeps no CDRs.
    fn reports(&self) -> Option<ReportSource> {
        None
    }
    /// Whether this node's cluster lease runs now (it may act on the shards and binds it
    /// owns); false on a node without a pipeline.
    fn lease_valid(&self) -> bool {
        false
    }
}

/// Where the reports read the CDRs, and how long a day's records may still change.
#[derive(Clone)]
pub struct ReportSource {
    pub store: Arc<dyn tern_storage::MessageStore>,
    pub config: tern_storage::report::ReportConfig,
}

/// The raft view of the answering node.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClusterView {
    pub node_id: u64,
    pub leader: Option<u64>,
    pub term: u64,
    /// "leader", "follower", "candidate" or "learner".
    pub role: String,
    pub last_log_index: Option<u64>,
    pub applied_index: Option<u64>,
    pub members: Vec<MemberView>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberView {
    pub id: u64,
    pub addr: String,
    /// False for a learner.
    pub voter: bool,
}

/// A customer session bound to this node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionView {
    pub id: u64,
    pub account: String,
    /// "smpp".
    pub protocol: String,
    /// "transmitter", "receiver" or "transceiver".
    pub bind: String,
    pub peer: String,
    pub since_ms: u64,
    /// Submits accepted and not yet answered.
    pub in_flight: u32,
}

/// The depth of one queue of this node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueView {
    /// "link" or "shard".
    pub kind: String,
    pub name: String,
    pub depth: u64,
}

/// The live state of a carrier link on this node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkView {
    pub name: String,
    /// Bound to the carrier.
    pub up: bool,
    pub window_in_use: u32,
    pub queued: u64,
}

/// A message in this node's store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageView {
    pub id: u64,
    pub account: String,
    pub source: String,
    pub destination: String,
    /// "ENROUTE", "DELIVERED", ...
    pub state: String,
    pub parts: u32,
    pub submitted_at_ms: u64,
    /// The carrier's message id, once submitted.
    pub operator_id: Option<String>,
    pub link: Option<String>,
    pub error: Option<String>,
}

/// What cancelling a message did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CancelOutcome {
    Cancelled,
    /// The message already reached this final state.
    AlreadyFinal(String),
    NotFound,
}

/// Where and how the admin API listens.
#[derive(Debug, Clone)]
pub struct AdminConfig {
    pub listen: SocketAddr,
    /// The bearer token every call must present.
    pub token: String,
    /// PEM files of the server's certificate chain and private key; plain HTTP/2 without.
    pub tls: Option<(PathBuf, PathBuf)>,
}

#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    #[error("admin token is empty")]
    EmptyToken,
    #[error("admin listen {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("admin tls {path}: {source}")]
    TlsFile {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("admin tls: {0}")]
    Tls(tonic::transport::Error),
    #[error("admin reflection: {0}")]
    Reflection(String),
    #[error("admin server: {0}")]
    Serve(tonic::transport::Error),
    #[error("admin server task: {0}")]
    Task(String),
}

/// A running admin server.
pub struct Running {
    /// The address bound (the real port when the configuration asked for port 0).
    pub addr: SocketAddr,
    task: tokio::task::JoinHandle<Result<(), tonic::transport::Error>>,
}

impl Running {
    /// Waits until the server stopped (after the shutdown future resolved and the calls in
    /// flight finished).
    pub async fn join(self) -> Result<(), AdminError> {
        match self.task.await {
            Ok(result) => result.map_err(AdminError::Serve),
            Err(error) => Err(AdminError::Task(error.to_string())),
        }
    }
}

const CALL_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(60);

/// Binds the admin API and serves it on a task until `shutdown` resolves.
pub async fn spawn(
    config: AdminConfig,
    control: Arc<dyn Control>,
    ops: Arc<dyn NodeOps>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<Running, AdminError> {
    if config.token.is_empty() {
        return Err(AdminError::EmptyToken);
    }
    // Every call ends in time, even one whose proposal waits for a leader that never comes.
    let mut builder = Server::builder().timeout(CALL_TIMEOUT);
    if let Some((cert, key)) = &config.tls {
        let read = |path: &PathBuf| {
            std::fs::read(path).map_err(|source| AdminError::TlsFile {
                path: path.clone(),
                source,
            })
        };
        let identity = Identity::from_pem(read(cert)?, read(key)?);
        crate::use_ring_for_tls();
        builder = builder
            .tls_config(ServerTlsConfig::new().identity(identity))
            .map_err(AdminError::Tls)?;
    }
    // Both versions of the reflection protocol: v1alpha is what many clients still ask for.
    let reflection = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(proto::FILE_DESCRIPTOR_SET)
        .build_v1()
        .map_err(|error| AdminError::Reflection(error.to_string()))?;
    let reflection_alpha = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(proto::FILE_DESCRIPTOR_SET)
        .build_v1alpha()
        .map_err(|error| AdminError::Reflection(error.to_string()))?;
    let token = auth::Token::new(&config.token);
    let admin = service::AdminService::new(control, ops, token.who());
    let listener = TcpListener::bind(config.listen)
        .await
        .map_err(|source| AdminError::Bind {
            addr: config.listen,
            source,
        })?;
    let addr = listener.local_addr().map_err(|source| AdminError::Bind {
        addr: config.listen,
        source,
    })?;
    let router = builder
        .layer(tonic::service::InterceptorLayer::new(token))
        .add_service(proto::admin_server::AdminServer::new(admin))
        .add_service(reflection)
        .add_service(reflection_alpha);
    let incoming = TcpIncoming::from(listener).with_nodelay(Some(true));
    let task = tokio::spawn(router.serve_with_incoming_shutdown(incoming, shutdown));
    tracing::info!(%addr, tls = config.tls.is_some(), "admin API listening");
    Ok(Running { addr, task })
}
