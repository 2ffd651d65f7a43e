//! The client side of the raft transport: openraft's `RaftNetworkFactory` and
//! `RaftNetwork` over the tonic service of `proto/tern/cluster/v1/raft.proto`, and the
//! same channels for forwarding proposals to the leader and for relay calls.
//!
//! One tonic `Channel` per peer, created on first use and connected lazily, is shared by
//! every replication stream and forward to that peer (HTTP/2 multiplexes them); a peer
//! whose address changes gets a new channel. Every call has a deadline: openraft's
//! per-RPC TTL for raft traffic, the caller's for forwards and relays. A peer that cannot
//! be connected to is reported as `Unreachable`, so openraft backs off instead of spinning.

use std::collections::HashMap;
use std::error::Error as _;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use openraft::error::{InstallSnapshotError, NetworkError, RPCError, RemoteError, Unreachable};
use openraft::network::{RPCOption, RaftNetwork, RaftNetworkFactory};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest, InstallSnapshotResponse,
    VoteRequest, VoteResponse,
};
use openraft::BasicNode;
use serde::de::DeserializeOwned;
use serde::Serialize;
use tonic::metadata::{Ascii, MetadataValue};
use tonic::service::interceptor::InterceptedService;
use tonic::transport::{Channel, Endpoint};
use tonic::{Code, Status};

use crate::pb;
use crate::pb::raft_client::RaftClient;
use crate::telemetry;
use crate::types::{NodeId, RaftError, RpcError, TypeConfig};

/// The largest gRPC message either side accepts: a batch of entries or a snapshot chunk.
pub(crate) const MAX_MESSAGE_BYTES: usize = 64 * 1024 * 1024;
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);

/// Which RPC of the service a call is.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Rpc {
    AppendEntries,
    Vote,
    InstallSnapshot,
    Forward,
    Relay,
}

impl Rpc {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Rpc::AppendEntries => "append_entries",
            Rpc::Vote => "vote",
            Rpc::InstallSnapshot => "install_snapshot",
            Rpc::Forward => "forward",
            Rpc::Relay => "relay",
        }
    }
}

/// Adds the shared secret to every outgoing call.
#[derive(Clone)]
pub(crate) struct Bearer(Option<MetadataValue<Ascii>>);

impl tonic::service::Interceptor for Bearer {
    fn call(&mut self, mut request: tonic::Request<()>) -> Result<tonic::Request<()>, Status> {
        if let Some(value) = &self.0 {
            request
                .metadata_mut()
                .insert("authorization", value.clone());
        }
        Ok(request)
    }
}

type Client = RaftClient<InterceptedService<Channel, Bearer>>;

/// Why a call failed.
#[derive(Debug, thiserror::Error)]
pub(crate) enum CallError {
    /// The connection could not be made: the request was not sent.
    #[error("{addr} unreachable: {message}")]
    Unreachable { addr: String, message: String },
    /// Sent, but no usable answer came back.
    #[error("{addr} {rpc}: {message}")]
    Failed {
        addr: String,
        rpc: &'static str,
        message: String,
        code: Option<Code>,
    },
}

/// The channels to every peer, shared by replication and forwarding.
pub(crate) struct Peers {
    channels: Mutex<HashMap<NodeId, (String, Channel)>>,
    bearer: Bearer,
    /// Addresses dialled instead of the advertised ones (`ClusterConfig::dial`).
    dial: HashMap<NodeId, String>,
}

impl Peers {
    pub(crate) fn new(
        secret: Option<&str>,
        dial: HashMap<NodeId, String>,
    ) -> Result<Self, crate::ClusterError> {
        let bearer = match secret {
            Some(secret) => Some(format!("Bearer {secret}").parse().map_err(|_| {
                crate::ClusterError::Config("secret must be printable ASCII".into())
            })?),
            None => None,
        };
        Ok(Self {
            channels: Mutex::new(HashMap::new()),
            bearer: Bearer(bearer),
            dial,
        })
    }

    fn client(&self, target: NodeId, addr: &str) -> Result<Client, CallError> {
        let mut channels = self.channels.lock().unwrap_or_else(PoisonError::into_inner);
        let channel = match channels.get(&target) {
            Some((known, channel)) if known == addr => channel.clone(),
            _ => {
                let endpoint = Endpoint::from_shared(format!("http://{addr}")).map_err(|e| {
                    CallError::Unreachable {
                        addr: addr.to_string(),
                        message: format!("bad address: {e}"),
                    }
                })?;
                let channel = endpoint
                    .connect_timeout(CONNECT_TIMEOUT)
                    .tcp_nodelay(true)
                    .http2_keep_alive_interval(Duration::from_secs(5))
                    .keep_alive_while_idle(true)
                    .connect_lazy();
                channels.insert(target, (addr.to_string(), channel.clone()));
                channel
            }
        };
        Ok(RaftClient::with_interceptor(channel, self.bearer.clone())
            .max_decoding_message_size(MAX_MESSAGE_BYTES)
            .max_encoding_message_size(MAX_MESSAGE_BYTES))
    }

    /// Sends `request` to `target` at `addr` and decodes its answer, within `timeout`.
    pub(crate) async fn call<Req: Serialize, Resp: DeserializeOwned>(
        &self,
        target: NodeId,
        addr: &str,
        rpc: Rpc,
        request: &Req,
        timeout: Duration,
    ) -> Result<Resp, CallError> {
        let addr = self.dial.get(&target).map_or(addr, String::as_str);
        let started = Instant::now();
        let failed = |message: String, code: Option<Code>| CallError::Failed {
            addr: addr.to_string(),
            rpc: rpc.name(),
            message,
            code,
        };
        let payload = postcard::to_stdvec(request).map_err(|e| failed(e.to_string(), None))?;
        let mut client = self.client(target, addr)?;
        let mut request = tonic::Request::new(pb::Payload {
            payload: payload.into(),
        });
        request.set_timeout(timeout);
        let call = async {
            match rpc {
                Rpc::AppendEntries => client.append_entries(request).await,
                Rpc::Vote => client.vote(request).await,
                Rpc::InstallSnapshot => client.install_snapshot(request).await,
                Rpc::Forward => client.forward(request).await,
                Rpc::Relay => client.relay(request).await,
            }
        };
        let answer = match tokio::time::timeout(timeout, call).await {
            Ok(Ok(answer)) => answer.into_inner(),
            Ok(Err(status)) => {
                metrics::counter!(telemetry::RPC_ERRORS_TOTAL, "rpc" => rpc.name()).increment(1);
                return Err(if is_connect_error(&status) {
                    CallError::Unreachable {
                        addr: addr.to_string(),
                        message: status.message().to_string(),
                    }
                } else {
                    failed(status.message().to_string(), Some(status.code()))
                });
            }
            Err(_) => {
                metrics::counter!(telemetry::RPC_ERRORS_TOTAL, "rpc" => rpc.name()).increment(1);
                return Err(failed(
                    format!("no answer within {timeout:?}"),
                    Some(Code::DeadlineExceeded),
                ));
            }
        };
        metrics::histogram!(telemetry::RPC_SECONDS, "rpc" => rpc.name())
            .record(started.elapsed().as_secs_f64());
        postcard::from_bytes(&answer.payload).map_err(|e| failed(format!("bad answer: {e}"), None))
    }
}

/// True when `status` says the connection could not be made, so the request never left.
///
/// tonic reports connect failures and broken connections alike as `Unavailable`; only the
/// error chain tells them apart: a connect failure carries the connector's error (refused,
/// timed out, no route) with nothing sent.
pub(crate) fn is_connect_error(status: &Status) -> bool {
    if status.code() != Code::Unavailable {
        return false;
    }
    let mut source = status.source();
    while let Some(error) = source {
        if let Some(io) = error.downcast_ref::<std::io::Error>() {
            use std::io::ErrorKind::*;
            if matches!(
                io.kind(),
                ConnectionRefused | HostUnreachable | NetworkUnreachable | AddrNotAvailable
            ) {
                return true;
            }
        }
        let text = error.to_string();
        if text.contains("tcp connect error") || text.contains("dns error") {
            return true;
        }
        source = error.source();
    }
    status.message().contains("tcp connect error")
}

/// Makes openraft's per-peer clients.
#[derive(Clone)]
pub struct NetworkFactory {
    peers: Arc<Peers>,
}

impl NetworkFactory {
    pub(crate) fn new(peers: Arc<Peers>) -> Self {
        Self { peers }
    }
}

impl RaftNetworkFactory<TypeConfig> for NetworkFactory {
    type Network = PeerNetwork;

    async fn new_client(&mut self, target: NodeId, node: &BasicNode) -> PeerNetwork {
        PeerNetwork {
            target,
            addr: node.addr.clone(),
            peers: Arc::clone(&self.peers),
        }
    }
}

/// openraft's connection to one peer.
pub struct PeerNetwork {
    target: NodeId,
    addr: String,
    peers: Arc<Peers>,
}

impl PeerNetwork {
    async fn send<Req, Resp, E>(
        &self,
        rpc: Rpc,
        request: &Req,
        option: &RPCOption,
    ) -> Result<Resp, RPCError<NodeId, BasicNode, RaftError<E>>>
    where
        Req: Serialize,
        Resp: DeserializeOwned,
        E: std::error::Error + DeserializeOwned,
    {
        let answer: Result<Resp, RaftError<E>> = self
            .peers
            .call(self.target, &self.addr, rpc, request, option.hard_ttl())
            .await
            .map_err(|e| match e {
                CallError::Unreachable { .. } => RPCError::Unreachable(Unreachable::new(&e)),
                CallError::Failed { .. } => RPCError::Network(NetworkError::new(&e)),
            })?;
        answer.map_err(|e| RPCError::RemoteError(RemoteError::new(self.target, e)))
    }
}

impl RaftNetwork<TypeConfig> for PeerNetwork {
    #[tracing::instrument(level = "debug", skip_all, fields(target = self.target))]
    async fn append_entries(
        &mut self,
        rpc: AppendEntriesRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<AppendEntriesResponse<NodeId>, RpcError> {
        self.send(Rpc::AppendEntries, &rpc, &option).await
    }

    #[tracing::instrument(level = "debug", skip_all, fields(target = self.target))]
    async fn install_snapshot(
        &mut self,
        rpc: InstallSnapshotRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<InstallSnapshotResponse<NodeId>, RpcError<InstallSnapshotError>> {
        self.send(Rpc::InstallSnapshot, &rpc, &option).await
    }

    #[tracing::instrument(level = "debug", skip_all, fields(target = self.target))]
    async fn vote(
        &mut self,
        rpc: VoteRequest<NodeId>,
        option: RPCOption,
    ) -> Result<VoteResponse<NodeId>, RpcError> {
        self.send(Rpc::Vote, &rpc, &option).await
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[tokio::test]
    async fn a_refused_connection_is_unreachable_so_it_may_be_retried() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        drop(listener);
        let peers = Peers::new(None, HashMap::new()).unwrap();
        let answer: Result<u64, CallError> = peers
            .call(7, &addr, Rpc::Vote, &1u64, Duration::from_secs(2))
            .await;
        assert!(
            matches!(answer, Err(CallError::Unreachable { .. })),
            "{answer:?}"
        );
    }

    #[tokio::test]
    async fn a_peer_is_dialled_where_the_node_is_told_to() {
        // Something listens at the dial address (not a raft node: the call fails there),
        // and nothing at the advertised one.
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let dial = listener.local_addr().unwrap().to_string();
        tokio::spawn(async move {
            let mut held = Vec::new();
            while let Ok((socket, _)) = listener.accept().await {
                held.push(socket);
            }
        });
        let peers = Peers::new(None, HashMap::from([(7, dial.clone())])).unwrap();
        let answer: Result<u64, CallError> = peers
            .call(
                7,
                "127.0.0.1:1",
                Rpc::Vote,
                &1u64,
                Duration::from_millis(500),
            )
            .await;
        let error = answer.unwrap_err().to_string();
        assert!(error.contains(&dial), "{error}");
        let other: Result<u64, CallError> = peers
            .call(
                8,
                "127.0.0.1:1",
                Rpc::Vote,
                &1u64,
                Duration::from_millis(500),
            )
            .await;
        assert!(
            matches!(other, Err(CallError::Unreachable { .. })),
            "{other:?}"
        );
    }

    #[test]
    fn other_statuses_are_not_connect_errors() {
        assert!(!is_connect_error(&Status::unavailable("connection reset")));
        assert!(!is_connect_error(&Status::internal("tcp connect error")));
    }

    #[test]
    fn a_secret_that_is_not_a_header_value_is_a_config_error() {
        assert!(Peers::new(Some("line\nbreak"), HashMap::new()).is_err());
    }
}
