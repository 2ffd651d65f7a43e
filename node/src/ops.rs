//! What the admin API asks of this node's pipeline: its sessions, queues, links and
//! messages, and the checks a route or link must pass before it is proposed.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;

use tern_actors::dispatcher::{DispatcherMsg, ShardDepth};
use tern_actors::session::SessionSupervisorMsg;
use tern_actors::PipelineHandle;
use tern_cluster::Cluster;
use tern_model::MessageId;
use tern_storage::{MessageRecord, MessageStore, RecordState};

use crate::admin::{BoxFut, CancelOutcome, LinkView, MessageView, NodeOps, QueueView, SessionView};
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

impl LocalOps {
    async fn depths(&self) -> Vec<ShardDepth> {
        let mut depths = Vec::new();
        for slot in &self.pipeline.ctx.refs.dispatchers {
            if let Some(dispatcher) = slot.get() {
                if let Ok(depth) = ractor::call!(dispatcher, DispatcherMsg::Depth) {
                    depths.push(depth);
                }
            }
        }
        depths
    }
}

impl NodeOps for LocalOps {
    fn sessions(&self) -> BoxFut<'_, Vec<SessionView>> {
        Box::pin(async move {
            let Some(sessions) = self.pipeline.sessions() else {
                return Vec::new();
            };
            let list = ractor::call!(sessions, SessionSupervisorMsg::List).unwrap_or_default();
            list.into_iter()
                .map(|s| SessionView {
                    id: s.id,
                    account: s.account,
                    protocol: "smpp".into(),
                    bind: s.kind.into(),
                    peer: s.peer.to_string(),
                    since_ms: s.since_ms,
                    in_flight: 0,
                })
                .collect()
        })
    }

    fn kick(&self, id: u64) -> BoxFut<'_, bool> {
        Box::pin(async move {
            let Some(sessions) = self.pipeline.sessions() else {
                return false;
            };
            ractor::call!(sessions, |reply| SessionSupervisorMsg::Kick(id, reply)).unwrap_or(false)
        })
    }

    fn queues(&self) -> BoxFut<'_, Vec<QueueView>> {
        Box::pin(async move {
            let depths = self.depths().await;
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
            views
        })
    }

    fn links(&self) -> BoxFut<'_, Vec<LinkView>> {
        Box::pin(async move {
            let depths = self.depths().await;
            let ctx = &self.pipeline.ctx;
            ctx.links()
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
                .collect()
        })
    }

    fn message(&self, id: u64) -> BoxFut<'_, Result<Option<MessageView>, String>> {
        Box::pin(async move {
            let parts = self
                .store
                .message_parts(MessageId(id))
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
                .messages_by_account(&account, from_ms, to_ms, limit.saturating_mul(4))
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
            let parts = self.store.message_parts(id).map_err(|e| e.to_string())?;
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
}
