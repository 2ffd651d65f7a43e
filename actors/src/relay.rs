//! The serving side of the calls between nodes (see [`crate::membership`]): parts
//! accepted elsewhere for a shard dispatched here, jobs for a bind held here, and
//! receipts or MO for an account delivered from here.
//!
//! Every payload is decoded before anything is done; one that does not decode is an error
//! answer, never a panic. A call about work this node does not hold (a shard it does not
//! dispatch, a link it holds no bind of) is answered so that the caller acts elsewhere.

use std::sync::Arc;

use tern_storage::HeldDelivery;
use tokio::sync::oneshot;

use crate::context::{now_ms, Context};
use crate::dispatcher::{DispatcherMsg, Job};
use crate::link::LinkMsg;
use crate::membership::{AcceptedBatch, SubmitBatch, WireJob, WireOutcome, ACCEPTED, HELD, SUBMIT};

/// Serves one call of kind `kind` from node `from`.
pub async fn serve(
    ctx: Arc<Context>,
    from: u64,
    kind: &str,
    body: &[u8],
) -> Result<bytes::Bytes, String> {
    match kind {
        ACCEPTED => {
            let batch: AcceptedBatch = decode(body)?;
            accepted(&ctx, batch);
            Ok(bytes::Bytes::new())
        }
        SUBMIT => {
            let batch: SubmitBatch = decode(body)?;
            let outcomes = submit(&ctx, from, batch).await;
            postcard::to_stdvec(&outcomes)
                .map(bytes::Bytes::from)
                .map_err(|e| e.to_string())
        }
        HELD => {
            let item: HeldDelivery = decode(body)?;
            // Durable already: an outbox that is restarting reads it from the store.
            let _ = ctx
                .refs
                .outbox
                .cast(crate::outbox::OutboxMsg::Held(Arc::new(item)));
            Ok(bytes::Bytes::new())
        }
        other => Err(format!("unknown call {other:?}")),
    }
}

fn decode<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, String> {
    postcard::from_bytes(body).map_err(|e| format!("undecodable payload: {e}"))
}

/// A notice of parts accepted this long ago or earlier may have been overtaken by the
/// owner's sweep; more than the nodes' clocks may differ, far less than the sweep's period.
const NOTICE_FRESH_MS: u64 = 2_000;

/// Queues parts accepted on another node at this shard's dispatcher, if this node
/// dispatches the shard; otherwise its owner pages them in.
fn accepted(ctx: &Context, batch: AcceptedBatch) {
    if ctx.membership.shard_epoch(batch.shard).is_none() {
        return;
    }
    let Some(dispatcher) = ctx.refs.dispatcher(batch.shard) else {
        return;
    };
    for parts in batch.messages {
        if parts.is_empty() {
            continue;
        }
        // A notice is only about parts of its own shard.
        if parts.iter().any(|p| ctx.shard_of(p.id) != batch.shard) {
            continue;
        }
        // A notice held up (by a partition, say) may come after a sweep found the parts
        // and sent them: it is read from the store again before anything is sent. By the
        // time of acceptance, not the id's: ids run up to a few seconds ahead of the clock
        // after a restart (see `crate::ids`).
        let stale = parts
            .first()
            .is_some_and(|p| now_ms().saturating_sub(p.accepted_ms) > NOTICE_FRESH_MS);
        let mut job = Job::new(parts.into_iter().map(Arc::new).collect());
        if stale {
            if let Some(first) = job.parts.first() {
                tracing::debug!(shard = batch.shard, message_id = %first.id, "a notice held up: its parts are read again");
            }
            job = job.read_again();
        }
        dispatcher.cast(DispatcherMsg::Accepted(job));
    }
}

/// Whether node `from` still dispatches the shard of `job` as this node sees the ownership
/// map: it owns the shard, or hands it off and has not released it yet (its jobs in flight
/// are still its own).
fn sender_dispatches(ctx: &Context, from: u64, job: &Job) -> bool {
    let Some(first) = job.parts.first() else {
        return true;
    };
    let shard = ctx.shard_of(first.id);
    match ctx.membership.view().cluster.shard_owner(shard) {
        Some(claim) => claim.node == from || claim.from == Some(from),
        // Not in the map (yet): nothing to go by.
        None => true,
    }
}

/// Sends each job on this node's binds of the link; the outcomes in order.
async fn submit(ctx: &Context, from: u64, batch: SubmitBatch) -> Vec<WireOutcome> {
    let link = ctx.refs.link(&batch.link);
    let mut waiting = Vec::with_capacity(batch.jobs.len());
    for wire in batch.jobs {
        let mut job = Job::new(wire.parts.into_iter().map(Arc::new).collect());
        job.exclude = wire.exclude;
        let (tx, rx) = oneshot::channel();
        let copy = job.clone();
        if !sender_dispatches(ctx, from, &job) {
            // A request from before its sender lost the shard (held up by a partition,
            // say): the shard's owner now sends these parts; sending them here too would
            // send them twice. The sender drops the job, or tries again if it still
            // dispatches the shard by then.
            metrics::counter!("tern_cluster_jobs_fenced_total", "link" => batch.link.clone())
                .increment(1);
            waiting.push((copy, Err(std::time::Duration::from_secs(1))));
            continue;
        }
        let sent = match &link {
            Some(link) => link.cast(LinkMsg::SubmitFor(job, tx)).is_ok(),
            None => false,
        };
        // No such link here (any more): the other node sends it elsewhere.
        waiting.push((
            copy,
            if sent {
                Ok(rx)
            } else {
                Err(std::time::Duration::ZERO)
            },
        ));
    }
    let mut outcomes = Vec::with_capacity(waiting.len());
    for (copy, rx) in waiting {
        let retry = match rx {
            Ok(rx) => match rx.await {
                Ok(end) => end,
                // The link stopped with the job, perhaps while sending it: the other node
                // sends it again (at least once), after a pause.
                Err(_) => Some((copy, std::time::Duration::from_secs(1))),
            },
            Err(delay) => Some((copy, delay)),
        };
        outcomes.push(WireOutcome {
            retry: retry.map(|(job, delay)| {
                (
                    WireJob {
                        parts: job.parts.iter().map(|p| (**p).clone()).collect(),
                        exclude: job.exclude,
                    },
                    delay.as_millis() as u64,
                )
            }),
        });
    }
    tracing::debug!(
        from,
        link = batch.link,
        jobs = outcomes.len(),
        "jobs submitted for another node"
    );
    outcomes
}
