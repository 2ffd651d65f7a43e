//! Jobs of a link this node holds no bind of: sent in batches to a node that holds one
//! (see [`crate::membership`]), and their outcomes given back to the dispatchers as for
//! jobs sent here.

use std::sync::Arc;
use std::time::Duration;

use tern_storage::MessageRecord;
use tokio_util::sync::CancellationToken;
use tracing::warn;

use super::finish_job;
use crate::context::Context;
use crate::dispatcher::Job;

/// Jobs per forwarded batch, and batches in flight per link.
const FORWARD_BATCH: usize = 64;
const FORWARD_CALLS: usize = 8;

/// Sends the jobs of a link this node holds no bind of to nodes that hold one, in batches,
/// and gives the outcomes to the dispatchers.
pub(super) async fn forward_jobs(
    ctx: Arc<Context>,
    link: String,
    mut jobs: tokio::sync::mpsc::Receiver<Job>,
    stop: CancellationToken,
) {
    let calls = Arc::new(tokio::sync::Semaphore::new(FORWARD_CALLS));
    loop {
        let first = tokio::select! {
            () = stop.cancelled() => return,
            job = jobs.recv() => match job {
                Some(job) => job,
                None => return,
            },
        };
        let mut batch = vec![first];
        while batch.len() < FORWARD_BATCH {
            match jobs.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        let Ok(permit) = calls.clone().acquire_owned().await else {
            return;
        };
        let ctx = ctx.clone();
        let link = link.clone();
        tokio::spawn(async move {
            forward_batch(&ctx, &link, batch).await;
            drop(permit);
        });
    }
}

async fn forward_batch(ctx: &Context, link: &str, batch: Vec<Job>) {
    let Some(node) = ctx.membership.bind_holder(link) else {
        for job in batch {
            finish_job(
                ctx,
                link,
                job.clone(),
                Some((job, Duration::from_millis(500))),
            );
        }
        return;
    };
    let wire = crate::membership::SubmitBatch {
        link: link.to_owned(),
        jobs: batch
            .iter()
            .map(|job| crate::membership::WireJob {
                parts: job.parts.iter().map(|p| MessageRecord::clone(p)).collect(),
                exclude: job.exclude.clone(),
            })
            .collect(),
    };
    let count = batch.len() as u64;
    match ctx.membership.submit_elsewhere(node, &wire).await {
        Ok(outcomes) => {
            metrics::counter!("tern_cluster_jobs_forwarded_total", "link" => link.to_owned(), "result" => "ok").increment(count);
            for (job, outcome) in batch.into_iter().zip(outcomes) {
                let end = outcome.retry.map(|(rest, delay)| {
                    let mut back = Job::new(rest.parts.into_iter().map(Arc::new).collect());
                    back.exclude = rest.exclude;
                    // A pause means an error or an unknown outcome there: a late answer
                    // may yet record a part submitted, so it is read again first.
                    if delay > 0 {
                        back = back.read_again();
                    }
                    (back, Duration::from_millis(delay))
                });
                finish_job(ctx, link, job, end);
            }
        }
        Err(error) => {
            let result = match error {
                crate::membership::RelayError::NotSent(_) => "not_sent",
                crate::membership::RelayError::Unknown(_) => "unknown",
            };
            metrics::counter!("tern_cluster_jobs_forwarded_total", "link" => link.to_owned(), "result" => result).increment(count);
            warn!(link, node, %error, jobs = count, "jobs not forwarded; retried");
            // Sent and unanswered: the other node may have submitted them. Sending again
            // is at-least-once, after a pause.
            let delay = match error {
                crate::membership::RelayError::NotSent(_) => Duration::from_millis(200),
                crate::membership::RelayError::Unknown(_) => Duration::from_secs(1),
            };
            for job in batch {
                let back = job.clone().read_again();
                finish_job(ctx, link, job, Some((back, delay)));
            }
        }
    }
}
