//! What the admin API asks of this node's pipeline: its sessions, queues, links and
//! messages, and the checks a route or link must pass before it is proposed.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use ractor::rpc::CallResult;
use ractor::{ActorRef, RpcReplyPort};

use tern_actors::dispatcher::{DispatcherMsg, ShardDepth};
use tern_actors::session::SessionSupervisorMsg;
use tern_actors::PipelineHandle;
use tern_cluster::Cluster;
use tern_model::MessageId;
use tern_storage::report::ReportConfig;
use tern_storage::{MessageRecord, MessageStore, RecordState};

use crate::admin::{
    BoxFut, CancelOutcome, LinkView, MessageView, NodeOps, QueueView, ReportSource, SessionView,
};
use crate::config::SmppSection;
use crate::replica;

/// The local node, for the admin API.
pub struct LocalOps {
    pub pipeline: PipelineHandle,
    pub store: Arc<dyn MessageStore>,
    pub cluster: Cluster,
    pub smpp: SmppSection,
}

fn view(parts: &[MessageRecord]) -> Option<MessageView> {
    let first = parts.first()?;
    // The message's state is its least advanced part's.
    let state = parts
        .iter()
        .map(|p| p.state)
        .find(|s| !s.is_final())
        .unwrap_or(first.state);
    Some(MessageView {
        id: first.id.0,
        account: first.account.clone(),
        source: first.message.source.value.clone(),
        destination: first.message.destination.value.clone(),
        state: state.as_str().to_owned(),
        parts: u32::from(first.parts),
        submitted_at_ms: first.accepted_ms,
        operator_id: first.operator_id.clone(),
        link: first.link.clone(),
        error: error(first),
    })
}

/// The error of a part as an operator reads it: a refusal names its reason
/// (`no_credit (0x45)`), as its Rejected CDR records it; other errors are the status
/// the operator or the gateway gave.
fn error(record: &MessageRecord) -> Option<String> {
    let status = record.error.map(|e| format!("{e:#x}"));
    let reason = (record.state == RecordState::Rejected)
        .then(|| record.history.last())
        .flatten()
        .map(|t| t.detail.as_str())
        .filter(|d| !d.is_empty());
    match (reason, status) {
        (Some(reason), Some(status)) => Some(format!("{reason} ({status})")),
        (Some(reason), None) => Some(reason.to_owned()),
        (None, status) => status,
    }
}

/// Receipts an operator sends after the message's validity ended still change its day.
const LATE_RECEIPT_MARGIN: Duration = Duration::from_secs(24 * 3600);

/// A day's records may change until the longest validity and the margin after it passed.
fn report_config(settings: &tern_actors::Settings) -> ReportConfig {
    let settle = settings.max_validity.saturating_add(LATE_RECEIPT_MARGIN);
    ReportConfig {
        settle_ms: u64::try_from(settle.as_millis()).unwrap_or(u64::MAX),
        ..ReportConfig::default()
    }
}

/// How long an admin call waits for an actor of the pipeline: a stuck actor makes the call
/// fail with an error that names it, instead of hanging the operator's `tern ctl`.
const ACTOR_TIMEOUT: Duration = Duration::from_secs(5);

/// Why an actor of the pipeline gave no answer.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
enum AskError {
    #[error("{0} did not answer within {1} ms")]
    Timeout(String, u128),
    #[error("{0} is not running")]
    Gone(String),
}

impl From<AskError> for String {
    fn from(error: AskError) -> String {
        error.to_string()
    }
}

/// Asks `actor` (`what` in the error) and waits at most `timeout` for its answer.
async fn ask<M, T>(
    actor: &ActorRef<M>,
    what: &str,
    timeout: Duration,
    request: impl FnOnce(RpcReplyPort<T>) -> M,
) -> Result<T, AskError>
where
    M: ractor::Message,
    T: Send + 'static,
{
    match actor.call(request, Some(timeout)).await {
        Ok(CallResult::Success(answer)) => Ok(answer),
        Ok(CallResult::Timeout) => Err(AskError::Timeout(what.to_owned(), timeout.as_millis())),
        Ok(CallResult::SenderError) | Err(_) => Err(AskError::Gone(what.to_owned())),
    }
}

impl LocalOps {
    /// The depth of every dispatcher shard; a shard restarting at that moment is left out.
    async fn depths(&self) -> Result<Vec<ShardDepth>, String> {
        let mut depths = Vec::new();
        for (shard, slot) in self.pipeline.ctx.refs.dispatchers.iter().enumerate() {
            if let Some(dispatcher) = slot.get() {
                let what = format!("the dispatcher of shard {shard}");
                match ask(&dispatcher, &what, ACTOR_TIMEOUT, DispatcherMsg::Depth).await {
                    Ok(depth) => depths.push(depth),
                    Err(AskError::Gone(_)) => {}
                    Err(error) => return Err(error.into()),
                }
            }
        }
        Ok(depths)
    }

    fn sessions_actor(&self) -> Result<ActorRef<SessionSupervisorMsg>, String> {
        self.pipeline
            .sessions()
            .ok_or_else(|| "the session supervisor is not running".to_owned())
    }
}

impl NodeOps for LocalOps {
    fn sessions(&self) -> BoxFut<'_, Result<Vec<SessionView>, String>> {
        Box::pin(async move {
            let sessions = self.sessions_actor()?;
            let list = ask(
                &sessions,
                "the session supervisor",
                ACTOR_TIMEOUT,
                SessionSupervisorMsg::List,
            )
            .await?;
            Ok(list
                .into_iter()
                .map(|s| SessionView {
                    id: s.id,
                    account: s.account,
                    protocol: "smpp".into(),
                    bind: s.kind.into(),
                    peer: s.peer.to_string(),
                    since_ms: s.since_ms,
                    in_flight: 0,
                })
                .collect())
        })
    }

    fn kick(&self, id: u64) -> BoxFut<'_, Result<bool, String>> {
        Box::pin(async move {
            let sessions = self.sessions_actor()?;
            ask(
                &sessions,
                "the session supervisor",
                ACTOR_TIMEOUT,
                |reply| SessionSupervisorMsg::Kick(id, reply),
            )
            .await
            .map_err(String::from)
        })
    }

    fn queues(&self) -> BoxFut<'_, Result<Vec<QueueView>, String>> {
        Box::pin(async move {
            let depths = self.depths().await?;
            let mut links: BTreeMap<String, u64> = BTreeMap::new();
            let mut views = Vec::new();
            for depth in &depths {
                views.push(QueueView {
                    kind: "shard".into(),
                    name: depth.shard.to_string(),
                    depth: depth.queued as u64,
                });
                for (link, waiting) in &depth.waiting {
                    *links.entry(link.clone()).or_default() += *waiting as u64;
                }
            }
            for link in self.pipeline.ctx.links().iter() {
                links.entry(link.name.clone()).or_default();
            }
            views.extend(links.into_iter().map(|(name, depth)| QueueView {
                kind: "link".into(),
                name,
                depth,
            }));
            Ok(views)
        })
    }

    fn links(&self) -> BoxFut<'_, Result<Vec<LinkView>, String>> {
        Box::pin(async move {
            let depths = self.depths().await?;
            let ctx = &self.pipeline.ctx;
            Ok(ctx
                .links()
                .iter()
                .map(|link| {
                    let sum =
                        |pick: fn(&ShardDepth) -> &std::collections::HashMap<String, usize>| {
                            depths
                                .iter()
                                .filter_map(|d| pick(d).get(&link.name))
                                .sum::<usize>()
                        };
                    LinkView {
                        name: link.name.clone(),
                        up: ctx.health.get(&link.name).is_some_and(|h| h.is_up()),
                        window_in_use: sum(|d| &d.in_flight) as u32,
                        queued: sum(|d| &d.waiting) as u64,
                    }
                })
                .collect())
        })
    }

    fn message(&self, id: u64) -> BoxFut<'_, Result<Option<MessageView>, String>> {
        Box::pin(async move {
            let parts = self
                .store
                .message_parts(MessageId(id))
                .await
                .map_err(|e| e.to_string())?;
            Ok(view(&parts))
        })
    }

    fn messages(
        &self,
        account: String,
        from_ms: u64,
        to_ms: u64,
        limit: usize,
    ) -> BoxFut<'_, Result<Vec<MessageView>, String>> {
        Box::pin(async move {
            let records = self
                .store
                .messages_by_account(&account, None, from_ms, to_ms, limit.saturating_mul(4))
                .await
                .map_err(|e| e.to_string())?;
            let mut by_id: BTreeMap<MessageId, Vec<MessageRecord>> = BTreeMap::new();
            for record in records {
                by_id.entry(record.id).or_default().push(record);
            }
            Ok(by_id
                .values()
                .filter_map(|parts| view(parts))
                .take(limit)
                .collect())
        })
    }

    fn cancel(&self, id: u64) -> BoxFut<'_, Result<CancelOutcome, String>> {
        Box::pin(async move {
            let id = MessageId(id);
            let ctx = &self.pipeline.ctx;
            if tern_actors::dispatcher::withdraw(ctx, id, "cancelled by an administrator").await? {
                return Ok(CancelOutcome::Cancelled);
            }
            let parts = self
                .store
                .message_parts(id)
                .await
                .map_err(|e| e.to_string())?;
            let Some(message) = view(&parts) else {
                return Ok(CancelOutcome::NotFound);
            };
            let open = parts
                .iter()
                .any(|p| matches!(p.state, RecordState::Accepted | RecordState::Submitted));
            if open {
                return Err(format!(
                    "message {} is {} at a link or waiting in the store; it can be cancelled only while queued in memory or scheduled for later",
                    id.0, message.state
                ));
            }
            Ok(CancelOutcome::AlreadyFinal(message.state))
        })
    }

    fn check_route(&self, toml: &str) -> Result<String, String> {
        let names: Vec<String> = self.cluster.read(|s| s.links.keys().cloned().collect());
        let names: HashSet<&str> = names.iter().map(String::as_str).collect();
        replica::parse_route(toml, &names)
            .map(|r| r.name)
            .map_err(|e| e.to_string())
    }

    fn check_link(&self, toml: &str) -> Result<String, String> {
        let upstream = replica::parse_upstream(toml).map_err(|e| e.to_string())?;
        crate::link_config(&self.smpp, &upstream).map_err(|e| format!("upstream: {e:#}"))?;
        Ok(upstream.name)
    }

    fn reports(&self) -> Option<ReportSource> {
        Some(ReportSource {
            store: self.store.clone(),
            config: report_config(&self.pipeline.ctx.settings),
        })
    }

    fn lease_valid(&self) -> bool {
        self.pipeline.ctx.membership.lease_valid()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ractor::{Actor, ActorProcessingErr};

    /// An actor whose handler never finishes in time: what a stuck pipeline actor looks like
    /// to the admin API.
    struct Stuck;

    impl Actor for Stuck {
        type Msg = RpcReplyPort<u32>;
        type State = ();
        type Arguments = ();

        async fn pre_start(
            &self,
            _myself: ActorRef<Self::Msg>,
            _: (),
        ) -> Result<(), ActorProcessingErr> {
            Ok(())
        }

        async fn handle(
            &self,
            _myself: ActorRef<Self::Msg>,
            reply: Self::Msg,
            _state: &mut (),
        ) -> Result<(), ActorProcessingErr> {
            tokio::time::sleep(Duration::from_secs(30)).await;
            let _ = reply.send(1);
            Ok(())
        }
    }

    #[tokio::test]
    async fn a_stuck_actor_fails_the_admin_call_with_its_name() {
        let (stuck, _) = Actor::spawn(None, Stuck, ()).await.unwrap();
        let started = tokio::time::Instant::now();
        let answer = ask(&stuck, "the stuck actor", Duration::from_millis(100), |r| r).await;
        assert_eq!(
            answer.map_err(String::from),
            Err("the stuck actor did not answer within 100 ms".to_owned())
        );
        assert!(started.elapsed() < Duration::from_secs(5));
        stuck.kill();
    }

    #[tokio::test]
    async fn a_stopped_actor_fails_the_admin_call_at_once() {
        let (gone, handle) = Actor::spawn(None, Stuck, ()).await.unwrap();
        gone.stop(None);
        handle.await.unwrap();
        let answer = ask(&gone, "the session supervisor", ACTOR_TIMEOUT, |r| r).await;
        assert_eq!(
            answer.map_err(String::from),
            Err("the session supervisor is not running".to_owned())
        );
    }
}
