//! The notifier: threshold crossings and other ledger events, delivered once per crossing
//! as a log line, a metric and a webhook POST.
//!
//! Events are numbered in the replicated log. Only the leader delivers them, then records
//! how far it got (`AckEvents`), so a new leader carries on where the old one stopped:
//! delivery is at least once, and an event repeated after a leader change carries the
//! same `seq` for the receiver to recognise.

use std::time::Duration;

use tern_cluster::Cluster;
use tern_ledger::{Command, Event, EventKind, Request, Webhook};
use tracing::{info, warn};

/// Events delivered per round.
const BATCH: usize = 100;
/// Attempts per webhook and event.
const ATTEMPTS: u32 = 4;

fn kind_label(kind: &EventKind) -> &'static str {
    match kind {
        EventKind::MessagesThreshold { .. } => "messages_threshold",
        EventKind::CreditThreshold { .. } => "credit_threshold",
        EventKind::LeaseReclaimed { .. } => "lease_reclaimed",
        EventKind::ParentTopUp { .. } => "parent_topup",
    }
}

/// Delivers events while this node leads; runs until the task is aborted.
pub async fn run(cluster: Cluster) {
    let client = match reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
    {
        Ok(client) => client,
        Err(error) => {
            warn!(%error, "notifier has no HTTP client; webhooks are not delivered");
            return;
        }
    };
    let mut applied = cluster.applied();
    loop {
        // New events come with applied entries; the timer retries failed rounds.
        let _ = tokio::time::timeout(Duration::from_secs(1), applied.changed()).await;
        if !cluster.is_leader() {
            continue;
        }
        let round = cluster.read(|s| {
            let events: Vec<Event> = s
                .events_after(s.events_acked)
                .take(BATCH)
                .cloned()
                .collect();
            let deliveries: Vec<(Event, Vec<Webhook>)> = events
                .into_iter()
                .map(|event| {
                    let hooks = s
                        .webhooks
                        .values()
                        .filter(|hook| {
                            hook.accounts.is_empty()
                                || hook.accounts.iter().any(|a| {
                                    *a == event.account || s.descendants(a).contains(&event.account)
                                })
                        })
                        .cloned()
                        .collect();
                    (event, hooks)
                })
                .collect();
            deliveries
        });
        let Some(last) = round.last().map(|(e, _)| e.seq) else {
            continue;
        };
        for (event, hooks) in &round {
            deliver(&client, event, hooks).await;
        }
        let ack = Request {
            at_ms: 0,
            audit: None,
            command: Command::AckEvents { seq: last },
        };
        if let Err(error) = cluster.propose(ack).await {
            warn!(%error, "could not record delivered events; they will be sent again");
        }
    }
}

async fn deliver(client: &reqwest::Client, event: &Event, hooks: &[Webhook]) {
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
    for hook in hooks {
        let mut delay = Duration::from_millis(250);
        let mut delivered = false;
        for attempt in 1..=ATTEMPTS {
            match client.post(&hook.url).json(event).send().await {
                Ok(response) if response.status().is_success() => {
                    delivered = true;
                    break;
                }
                Ok(response) => {
                    warn!(hook = hook.id, status = %response.status(), attempt, "webhook refused the event");
                }
                Err(error) => {
                    // The error's text would carry the URL, and with it any password.
                    let error = error.without_url();
                    warn!(hook = hook.id, %error, attempt, "webhook unreachable");
                }
            }
            if attempt < ATTEMPTS {
                tokio::time::sleep(delay).await;
                delay *= 2;
            }
        }
        let result = if delivered { "delivered" } else { "failed" };
        metrics::counter!("tern_webhook_posts_total", "result" => result).increment(1);
    }
}
