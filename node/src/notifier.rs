//! The notifier: threshold crossings and other ledger events, delivered once per crossing
//! as a log line, a metric and a webhook POST, retried until the receiver takes it.
//!
//! Events are numbered in the replicated log. Only the leader delivers them. Each try at
//! a webhook is recorded in the replicated state (`RecordDeliveries`): delivered, pending
//! with its attempts and the time of the next try, or given up once `notify.retry_for_secs`
//! has passed since the first try. Waits between tries start at one second and double up
//! to `notify.retry_max_interval_secs`. A new leader carries on from that record, so
//! delivery is at least once, and an event repeated after a leader change carries the
//! same `seq` for the receiver to recognise. `AckEvents` marks how far every event is
//! settled (delivered or given up at each of its webhooks).

use std::time::Duration;

use futures::StreamExt;
use tern_cluster::Cluster;
use tern_ledger::{
    Command, Delivery, DeliveryRecord, DeliveryState, Event, EventKind, Request, State, Webhook,
};
use tern_model::now_ms;
use tracing::{info, warn};

use crate::config::NotifySection;

/// Tries made per round, and events logged per round.
const BATCH: usize = 100;
/// POSTs in flight at once.
const PARALLEL: usize = 8;
/// How long one POST may take.
const POST_TIMEOUT: Duration = Duration::from_secs(5);
/// The wait before the first retry.
const FIRST_RETRY: Duration = Duration::from_secs(1);

fn kind_label(kind: &EventKind) -> &'static str {
    match kind {
        EventKind::MessagesThreshold { .. } => "messages_threshold",
        EventKind::CreditThreshold { .. } => "credit_threshold",
        EventKind::LeaseReclaimed { .. } => "lease_reclaimed",
        EventKind::ParentTopUp { .. } => "parent_topup",
    }
}

fn ms(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

/// The webhooks an event is meant for: those of its account or an ancestor, and those of
/// every account.
fn hooks_for<'a>(state: &'a State, event: &'a Event) -> impl Iterator<Item = &'a Webhook> + 'a {
    state.webhooks.values().filter(move |hook| {
        hook.accounts.is_empty()
            || hook
                .accounts
                .iter()
                .any(|a| *a == event.account || state.descendants(a).contains(&event.account))
    })
}

fn delivery<'a>(state: &'a State, seq: u64, hook: &str) -> Option<&'a Delivery> {
    state.deliveries.get(&seq).and_then(|hooks| hooks.get(hook))
}

/// A POST to make: the event, the webhook, and the record so far.
struct Due {
    event: Event,
    hook: Webhook,
    previous: Option<Delivery>,
}

/// The tries due at `now`, oldest event first.
fn due(state: &State, now: u64) -> Vec<Due> {
    let mut due = Vec::new();
    for event in state.events_after(state.events_acked) {
        for hook in hooks_for(state, event) {
            let previous = delivery(state, event.seq, &hook.id);
            let ready = match previous {
                None => true,
                Some(d) => d.state == DeliveryState::Pending && d.next_at_ms <= now,
            };
            if ready {
                due.push(Due {
                    event: event.clone(),
                    hook: hook.clone(),
                    previous: previous.cloned(),
                });
                if due.len() >= BATCH {
                    return due;
                }
            }
        }
    }
    due
}

/// The last event up to `limit` such that it and every event before it is settled: each
/// of its webhooks has it delivered or gave up.
fn settled_through(state: &State, limit: u64) -> u64 {
    let mut settled = state.events_acked;
    for event in state.events_after(state.events_acked) {
        if event.seq > limit {
            break;
        }
        let open = hooks_for(state, event).any(|hook| {
            delivery(state, event.seq, &hook.id).is_none_or(|d| d.state == DeliveryState::Pending)
        });
        if open {
            break;
        }
        settled = event.seq;
    }
    settled
}

/// Delivers events while this node leads; runs until the task is aborted.
pub async fn run(cluster: Cluster, retry: NotifySection) {
    let client = match reqwest::Client::builder().timeout(POST_TIMEOUT).build() {
        Ok(client) => client,
        Err(error) => {
            warn!(%error, "notifier has no HTTP client; webhooks are not delivered");
            return;
        }
    };
    let mut applied = cluster.applied();
    // The last event this node logged; an event is logged again by a new leader.
    let mut logged = 0u64;
    loop {
        // New events come with applied entries; the timer runs the retries.
        let _ = tokio::time::timeout(Duration::from_secs(1), applied.changed()).await;
        if !cluster.is_leader() {
            logged = 0;
            continue;
        }
        let fresh: Vec<Event> = cluster.read(|s| {
            s.events_after(s.events_acked.max(logged))
                .take(BATCH)
                .cloned()
                .collect()
        });
        for event in &fresh {
            announce(event);
            logged = event.seq;
        }
        let now = now_ms();
        let due = cluster.read(|s| due(s, now));
        if !due.is_empty() {
            let records: Vec<DeliveryRecord> = futures::stream::iter(due)
                .map(|due| attempt(&client, due, &retry))
                .buffer_unordered(PARALLEL)
                .collect()
                .await;
            let request = Request {
                at_ms: now_ms(),
                audit: None,
                command: Command::RecordDeliveries { records },
            };
            if let Err(error) = cluster.propose(request).await {
                warn!(%error, "could not record webhook deliveries; they will be tried again");
                continue;
            }
        }
        let (acked, settled) = cluster.read(|s| (s.events_acked, settled_through(s, logged)));
        if settled > acked {
            let ack = Request {
                at_ms: now_ms(),
                audit: None,
                command: Command::AckEvents { seq: settled },
            };
            if let Err(error) = cluster.propose(ack).await {
                warn!(%error, "could not record settled events");
            }
        }
    }
}

/// The log line and the metric of an event.
fn announce(event: &Event) {
    let kind = kind_label(&event.kind);
    info!(
        target: "tern::notify",
        seq = event.seq,
        account = event.account,
        kind,
        detail = ?event.kind,
        "ledger event"
    );
    metrics::counter!("tern_ledger_events_total", "kind" => kind).increment(1);
}

/// One POST of an event to a webhook, and the record it leaves.
async fn attempt(client: &reqwest::Client, due: Due, retry: &NotifySection) -> DeliveryRecord {
    let Due {
        event,
        hook,
        previous,
    } = due;
    let started = now_ms();
    let attempts = previous
        .as_ref()
        .map_or(0, |d| d.attempts)
        .saturating_add(1);
    let first_at_ms = previous.as_ref().map_or(started, |d| d.first_at_ms);
    let error = match client.post(&hook.url).json(&event).send().await {
        Ok(response) if response.status().is_success() => None,
        Ok(response) => Some(format!("status {}", response.status())),
        // The error's text would carry the URL, and with it any password.
        Err(error) => Some(error.without_url().to_string()),
    };
    let now = now_ms();
    let delivery = match error {
        None => {
            metrics::counter!("tern_webhook_posts_total", "result" => "delivered").increment(1);
            Delivery {
                state: DeliveryState::Delivered,
                attempts,
                first_at_ms,
                last_at_ms: now,
                next_at_ms: 0,
                error: String::new(),
            }
        }
        Some(error) => {
            metrics::counter!("tern_webhook_posts_total", "result" => "failed").increment(1);
            let give_up = now.saturating_sub(first_at_ms) >= ms(retry.retry_for());
            let wait = FIRST_RETRY
                .saturating_mul(
                    1u32.checked_shl(attempts.saturating_sub(1))
                        .unwrap_or(u32::MAX),
                )
                .min(retry.retry_max_interval());
            if give_up {
                metrics::counter!("tern_webhook_deliveries_given_up_total").increment(1);
                warn!(
                    seq = event.seq,
                    hook = hook.id,
                    %error,
                    attempts,
                    "webhook given up: every try within notify.retry_for_secs failed"
                );
            } else {
                warn!(seq = event.seq, hook = hook.id, %error, attempts, "webhook did not take the event; it is tried again");
            }
            Delivery {
                state: if give_up {
                    DeliveryState::GaveUp
                } else {
                    DeliveryState::Pending
                },
                attempts,
                first_at_ms,
                last_at_ms: now,
                next_at_ms: if give_up {
                    0
                } else {
                    now.saturating_add(ms(wait))
                },
                error,
            }
        }
    };
    DeliveryRecord {
        seq: event.seq,
        hook: hook.id,
        delivery,
    }
}
