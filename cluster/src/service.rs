//! The server side of the raft transport: decodes each payload, hands it to the local
//! openraft node (or, for `Forward`, to [`forward::execute`]; for `Relay`, to the node's
//! relay handler) and encodes the result, errors included, so the caller sees openraft's
//! own error types.
//!
//! With a shared secret configured, an interceptor refuses every call whose
//! `authorization` header is not `Bearer <secret>` before anything is decoded.

use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use serde::de::DeserializeOwned;
use serde::Serialize;
use tokio::sync::watch;
use tonic::metadata::MetadataValue;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::server::TcpIncoming;
use tonic::{Request, Response, Status};

use crate::forward::{self, Forward};
use crate::network::MAX_MESSAGE_BYTES;
use crate::pb::raft_server::{Raft as RaftRpc, RaftServer};
use crate::pb::Payload;
use crate::relay::{Envelope, Relay};
use crate::telemetry;
use crate::types::Raft;

/// Calls in progress per connection; more wait until one finishes. Replication sends
/// one call at a time per stream, so this bounds forwarded proposals from one peer.
pub(crate) const CONCURRENCY_PER_CONNECTION: usize = 256;

pub(crate) struct RaftService {
    raft: Raft,
    relay: Arc<Relay>,
}

fn decode<T: DeserializeOwned>(request: Request<Payload>) -> Result<T, Status> {
    postcard::from_bytes(&request.into_inner().payload)
        .map_err(|e| Status::invalid_argument(format!("undecodable payload: {e}")))
}

fn reply<T: Serialize>(value: &T) -> Result<Response<Payload>, Status> {
    let payload = postcard::to_stdvec(value)
        .map_err(|e| Status::internal(format!("cannot encode the answer: {e}")))?;
    Ok(Response::new(Payload {
        payload: payload.into(),
    }))
}

#[tonic::async_trait]
impl RaftRpc for RaftService {
    #[tracing::instrument(level = "trace", skip_all)]
    async fn append_entries(&self, request: Request<Payload>) -> Result<Response<Payload>, Status> {
        let rpc = decode(request)?;
        reply(&self.raft.append_entries(rpc).await)
    }

    #[tracing::instrument(level = "debug", skip_all)]
    async fn vote(&self, request: Request<Payload>) -> Result<Response<Payload>, Status> {
        let rpc = decode(request)?;
        reply(&self.raft.vote(rpc).await)
    }

    #[tracing::instrument(level = "debug", skip_all)]
    async fn install_snapshot(
        &self,
        request: Request<Payload>,
    ) -> Result<Response<Payload>, Status> {
        let rpc = decode(request)?;
        reply(&self.raft.install_snapshot(rpc).await)
    }

    #[tracing::instrument(level = "debug", skip_all, fields(op))]
    async fn forward(&self, request: Request<Payload>) -> Result<Response<Payload>, Status> {
        let op: Forward = decode(request)?;
        tracing::Span::current().record("op", op.kind());
        metrics::counter!(telemetry::FORWARDED_TOTAL, "op" => op.kind()).increment(1);
        reply(&forward::execute(&self.raft, op).await)
    }

    #[tracing::instrument(level = "debug", skip_all, fields(from, kind))]
    async fn relay(&self, request: Request<Payload>) -> Result<Response<Payload>, Status> {
        let call: Envelope = decode(request)?;
        let span = tracing::Span::current();
        span.record("from", call.from);
        span.record("kind", call.kind.as_str());
        let answer = self
            .relay
            .serve(call.from, call.kind, Bytes::from(call.body))
            .await;
        let answer: Result<&[u8], &str> = match &answer {
            Ok(body) => Ok(body),
            Err(message) => Err(message),
        };
        reply(&answer)
    }
}

/// Refuses calls without the shared secret.
#[derive(Clone)]
struct CheckBearer(Option<Vec<u8>>);

impl tonic::service::Interceptor for CheckBearer {
    fn call(&mut self, request: tonic::Request<()>) -> Result<tonic::Request<()>, Status> {
        let Some(expected) = &self.0 else {
            return Ok(request);
        };
        let given = request
            .metadata()
            .get("authorization")
            .map(MetadataValue::as_bytes);
        match given {
            Some(given) if constant_time_eq(given, expected) => Ok(request),
            _ => {
                metrics::counter!(telemetry::UNAUTHENTICATED_TOTAL).increment(1);
                Err(Status::unauthenticated("bad or missing raft secret"))
            }
        }
    }
}

/// Compares without returning early, so the time taken does not tell how much matched.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Serves the raft RPCs on `listener` until `shutdown` turns true.
pub(crate) async fn serve(
    raft: Raft,
    relay: Arc<Relay>,
    secret: Option<String>,
    listener: tokio::net::TcpListener,
    mut shutdown: watch::Receiver<bool>,
    addr: SocketAddr,
) {
    let check = CheckBearer(secret.map(|s| format!("Bearer {s}").into_bytes()));
    let server = RaftServer::new(RaftService { raft, relay })
        .max_decoding_message_size(MAX_MESSAGE_BYTES)
        .max_encoding_message_size(MAX_MESSAGE_BYTES);
    let service = InterceptedService::new(server, check);
    let incoming = TcpIncoming::from(listener).with_nodelay(Some(true));
    let stopped = async move {
        let _ = shutdown.wait_for(|stop| *stop).await;
    };
    let served = tonic::transport::Server::builder()
        .concurrency_limit_per_connection(CONCURRENCY_PER_CONNECTION)
        // A call the client gives up on before the server took it counts against h2's
        // guard against rapid resets (20 by default), which then drops the connection and
        // every raft RPC on it. Timeouts of many relays at once must not do that; the
        // callers' own caps keep such streams below this.
        .http2_max_pending_accept_reset_streams(Some(CONCURRENCY_PER_CONNECTION))
        .add_service(service)
        .serve_with_incoming_shutdown(incoming, stopped)
        .await;
    match served {
        Ok(()) => tracing::info!(%addr, "raft RPC server stopped"),
        Err(e) => tracing::error!(%addr, error = %e, "raft RPC server failed"),
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::constant_time_eq;
    use crate::forward::Forward;
    use crate::relay::{Answer, Envelope};
    use crate::types::TypeConfig;

    #[test]
    fn secret_comparison_needs_every_byte() {
        assert!(constant_time_eq(b"Bearer s3", b"Bearer s3"));
        assert!(!constant_time_eq(b"Bearer s3", b"Bearer s4"));
        assert!(!constant_time_eq(b"Bearer s", b"Bearer s3"));
    }

    fn decodes<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> bool {
        postcard::from_bytes::<T>(bytes).is_ok()
    }

    proptest! {
        /// Whatever a peer sends, decoding it gives a value or an error, never a panic or
        /// an allocation the payload does not pay for.
        #[test]
        fn any_payload_decodes_or_is_refused(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
            let _ = decodes::<openraft::raft::AppendEntriesRequest<TypeConfig>>(&bytes);
            let _ = decodes::<openraft::raft::VoteRequest<u64>>(&bytes);
            let _ = decodes::<openraft::raft::InstallSnapshotRequest<TypeConfig>>(&bytes);
            let _ = decodes::<Forward>(&bytes);
            let _ = decodes::<tern_ledger::Request>(&bytes);
            let _ = decodes::<Envelope>(&bytes);
            let _ = decodes::<Answer>(&bytes);
        }
    }
}
