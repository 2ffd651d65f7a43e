//! Node-to-node messages outside raft: a node tells a shard's owner about accepted
//! messages, hands submit jobs to the node holding an operator bind, passes receipts to the
//! node where the customer is bound. This module only carries them; what a body means is
//! the node's business, postcard of its own types, and the node registers the
//! [`RelayHandler`] that answers them.
//!
//! A call goes over the raft service's `Relay` RPC, on the same per-peer channels and
//! behind the same shared secret as raft traffic. Because raft shares those connections,
//! relay calls in flight to one peer are capped below the server's per-connection limit,
//! so slow handlers cannot starve heartbeats and elections.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::Duration;

use bytes::Bytes;
use futures::future::BoxFuture;
use metrics::SharedString;
use serde::{Deserialize, Serialize};
use tokio::sync::Semaphore;
use tokio::time::Instant;
use tonic::Code;

use crate::network::{CallError, Peers, Rpc};
use crate::telemetry;
use crate::types::NodeId;

/// Relay calls in flight from this node to one peer. The rest of the server's
/// per-connection limit stays free for replication, votes and forwarded proposals.
const IN_FLIGHT_PER_PEER: usize = crate::service::CONCURRENCY_PER_CONNECTION / 2;
/// A call that waited for its turn goes out only with this much of its timeout left. One
/// sent with less is cancelled before the server takes it, and a burst of those (every
/// waiting call let go at once) makes the server drop the whole connection (h2's guard
/// against rapid resets), raft traffic included.
const MIN_TIME_LEFT: Duration = Duration::from_millis(20);
/// The longest `kind`; kinds label metrics, so they are short names from a fixed set.
const MAX_KIND_LEN: usize = 32;

/// Answers the relay calls other nodes (or this one) send to this node.
///
/// `from` is the calling node's id, `kind` the caller's short name for the message
/// (`accepted`, `submit`, `deliver`: 1 to 32 of `a-z`, `0-9` and `_`), `body` the
/// caller's payload. The answer's `Ok` body goes back to the caller as it is; an `Err`
/// reaches it as [`RelayError::Failed`] with the message.
///
/// A closure `Fn(u64, String, Bytes) -> BoxFuture<'static, Result<Bytes, String>>` is a
/// handler.
pub trait RelayHandler: Send + Sync + 'static {
    fn handle(
        &self,
        from: u64,
        kind: String,
        body: Bytes,
    ) -> BoxFuture<'static, Result<Bytes, String>>;
}

impl<F> RelayHandler for F
where
    F: Fn(u64, String, Bytes) -> BoxFuture<'static, Result<Bytes, String>> + Send + Sync + 'static,
{
    fn handle(
        &self,
        from: u64,
        kind: String,
        body: Bytes,
    ) -> BoxFuture<'static, Result<Bytes, String>> {
        self(from, kind, body)
    }
}

/// Why a relay call did not bring an answer back. Only `UnknownNode` and `Unreachable`
/// say for sure that the target's handler did not run.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RelayError {
    /// The target is not in the current membership: nothing was sent.
    #[error("node {0} is not a member of the cluster")]
    UnknownNode(u64),
    /// The request was not sent (no connection to the target, or too many calls to it in
    /// flight until the timeout): safe to try elsewhere.
    #[error("not sent: the target cannot be reached")]
    Unreachable,
    /// The target's handler answered with this error (or there is none yet, or the kind is
    /// not a plain name), or the call broke after it was sent: the outcome is unknown.
    #[error("relay failed: {0}")]
    Failed(String),
    /// No answer within the timeout: the target may have handled the request.
    #[error("no answer in time")]
    Timeout,
}

/// A relay call on the wire, postcard-encoded in the RPC's payload.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct Envelope {
    pub(crate) from: NodeId,
    pub(crate) kind: String,
    pub(crate) body: Vec<u8>,
}

/// A relay answer on the wire. The server encodes it from borrowed parts,
/// `Result<&[u8], &str>`, which postcard writes the same way.
pub(crate) type Answer = Result<Vec<u8>, String>;

/// Where a call goes.
pub(crate) enum Target {
    /// This node: its own handler, without the network.
    Here,
    /// A member, at its raft address.
    Peer(NodeId, String),
    /// Not in the membership.
    Unknown(NodeId),
}

/// The handler slot and the per-peer caps, one per node.
pub(crate) struct Relay {
    handler: RwLock<Option<Arc<dyn RelayHandler>>>,
    in_flight: Mutex<HashMap<NodeId, Arc<Semaphore>>>,
}

impl Relay {
    pub(crate) fn new() -> Self {
        Self {
            handler: RwLock::new(None),
            in_flight: Mutex::new(HashMap::new()),
        }
    }

    pub(crate) fn set_handler(&self, handler: Option<Arc<dyn RelayHandler>>) {
        *self.handler.write().unwrap_or_else(PoisonError::into_inner) = handler;
    }

    /// Runs one call on this node's handler, whoever sent it.
    pub(crate) async fn serve(
        &self,
        from: NodeId,
        kind: String,
        body: Bytes,
    ) -> Result<Bytes, String> {
        metrics::counter!(telemetry::RELAY_SERVED_TOTAL, "kind" => label(&kind)).increment(1);
        if !is_plain(&kind) {
            return Err(bad_kind());
        }
        let handler = self
            .handler
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        match handler {
            Some(handler) => handler.handle(from, kind, body).await,
            None => Err("no relay handler yet".into()),
        }
    }

    /// Sends one call from node `from` to `target` and waits for its answer, at most
    /// `timeout`; counts it by kind and outcome.
    pub(crate) async fn call(
        &self,
        peers: &Peers,
        from: NodeId,
        target: Target,
        kind: &str,
        body: Vec<u8>,
        timeout: Duration,
    ) -> Result<Bytes, RelayError> {
        let started = Instant::now();
        let (result, outcome) = self.attempt(peers, from, target, kind, body, timeout).await;
        let kind = label(kind);
        metrics::counter!(telemetry::RELAY_CALLS_TOTAL, "kind" => kind.clone(), "outcome" => outcome)
            .increment(1);
        metrics::histogram!(telemetry::RELAY_CALL_SECONDS, "kind" => kind)
            .record(started.elapsed().as_secs_f64());
        result
    }

    /// The call and its outcome label: ok, refused, unreachable, failed or timeout.
    async fn attempt(
        &self,
        peers: &Peers,
        from: NodeId,
        target: Target,
        kind: &str,
        body: Vec<u8>,
        timeout: Duration,
    ) -> (Result<Bytes, RelayError>, &'static str) {
        if !is_plain(kind) {
            return (Err(RelayError::Failed(bad_kind())), "refused");
        }
        let deadline = Instant::now() + timeout;
        let (target, addr) = match target {
            Target::Unknown(id) => return (Err(RelayError::UnknownNode(id)), "unreachable"),
            Target::Here => {
                let served = self.serve(from, kind.to_owned(), Bytes::from(body));
                return match tokio::time::timeout_at(deadline, served).await {
                    Ok(Ok(answer)) => (Ok(answer), "ok"),
                    Ok(Err(message)) => (Err(RelayError::Failed(message)), "refused"),
                    Err(_) => (Err(RelayError::Timeout), "timeout"),
                };
            }
            Target::Peer(id, addr) => (id, addr),
        };
        let permits = self.permits(target);
        let _permit = match permits.clone().try_acquire_owned() {
            Ok(permit) => permit,
            Err(_) => {
                let waited = tokio::time::timeout_at(deadline, permits.acquire_owned()).await;
                let left = deadline.saturating_duration_since(Instant::now());
                match waited {
                    Ok(Ok(permit)) if left >= MIN_TIME_LEFT => permit,
                    _ => {
                        tracing::debug!(target, kind, "relay not sent: too many calls in flight");
                        return (Err(RelayError::Unreachable), "unreachable");
                    }
                }
            }
        };
        let envelope = Envelope {
            from,
            kind: kind.to_owned(),
            body,
        };
        let remaining = deadline.saturating_duration_since(Instant::now());
        let answer: Result<Answer, CallError> = peers
            .call(target, &addr, Rpc::Relay, &envelope, remaining)
            .await;
        match answer {
            Ok(Ok(answer)) => (Ok(Bytes::from(answer)), "ok"),
            Ok(Err(message)) => (Err(RelayError::Failed(message)), "refused"),
            Err(e @ CallError::Unreachable { .. }) => {
                tracing::debug!(target, kind, error = %e, "relay not sent");
                (Err(RelayError::Unreachable), "unreachable")
            }
            Err(CallError::Failed {
                code: Some(Code::Unauthenticated),
                message,
                ..
            }) => (Err(RelayError::Failed(message)), "refused"),
            // The caller's own deadline, or the server's reading of the grpc-timeout header.
            Err(CallError::Failed {
                code: Some(Code::DeadlineExceeded | Code::Cancelled),
                ..
            }) => (Err(RelayError::Timeout), "timeout"),
            Err(e) => (Err(RelayError::Failed(e.to_string())), "failed"),
        }
    }

    fn permits(&self, target: NodeId) -> Arc<Semaphore> {
        let mut in_flight = self
            .in_flight
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        Arc::clone(
            in_flight
                .entry(target)
                .or_insert_with(|| Arc::new(Semaphore::new(IN_FLIGHT_PER_PEER))),
        )
    }
}

/// A kind fit to be a metric label and a dispatch key.
fn is_plain(kind: &str) -> bool {
    !kind.is_empty()
        && kind.len() <= MAX_KIND_LEN
        && kind
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

fn bad_kind() -> String {
    format!("a relay kind is 1 to {MAX_KIND_LEN} of a-z, 0-9 and _")
}

/// The `kind` label: the kind itself, or `invalid`, so a bad peer cannot grow the series.
fn label(kind: &str) -> SharedString {
    if is_plain(kind) {
        SharedString::from(kind.to_owned())
    } else {
        SharedString::const_str("invalid")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_are_short_plain_names() {
        assert!(is_plain("accepted"));
        assert!(is_plain("submit_v2"));
        assert!(!is_plain(""));
        assert!(!is_plain("Submit"));
        assert!(!is_plain("a b"));
        assert!(!is_plain(&"x".repeat(MAX_KIND_LEN + 1)));
    }

    #[test]
    fn an_answer_encoded_from_borrowed_parts_decodes_as_owned() {
        let body: &[u8] = b"\x00\xffbody";
        let ok: Result<&[u8], &str> = Ok(body);
        let bytes = postcard::to_stdvec(&ok).unwrap();
        assert_eq!(
            postcard::from_bytes::<Answer>(&bytes).unwrap(),
            Ok(body.to_vec())
        );
        let err: Result<&[u8], &str> = Err("no");
        let bytes = postcard::to_stdvec(&err).unwrap();
        assert_eq!(
            postcard::from_bytes::<Answer>(&bytes).unwrap(),
            Err("no".into())
        );
    }

    #[tokio::test]
    async fn a_call_before_a_handler_is_set_is_refused_and_one_after_is_answered() {
        let relay = Relay::new();
        let peers = Peers::new(None, std::collections::HashMap::new()).unwrap();
        let early = relay
            .call(
                &peers,
                1,
                Target::Here,
                "accepted",
                vec![1],
                Duration::from_secs(1),
            )
            .await;
        assert_eq!(
            early,
            Err(RelayError::Failed("no relay handler yet".into()))
        );
        let echo =
            |from: u64, kind: String, body: Bytes| -> BoxFuture<'static, Result<Bytes, String>> {
                Box::pin(async move { Ok(Bytes::from(format!("{from} {kind} {}", body.len()))) })
            };
        relay.set_handler(Some(Arc::new(echo)));
        let answer = relay
            .call(
                &peers,
                1,
                Target::Here,
                "accepted",
                vec![1, 2],
                Duration::from_secs(1),
            )
            .await;
        assert_eq!(answer, Ok(Bytes::from_static(b"1 accepted 2")));
        let bad = relay
            .call(
                &peers,
                1,
                Target::Here,
                "Bad Kind",
                vec![],
                Duration::from_secs(1),
            )
            .await;
        assert!(matches!(bad, Err(RelayError::Failed(_))), "{bad:?}");
    }
}
