//! The end of a message part's life: the record's final state, the store operations that
//! make it durable, and the receipt owed to the customer.

use std::sync::Arc;
use std::time::Duration;

use tern_model::{DeliveryReport, MessageState};
use tern_storage::{HeldDelivery, HeldKind, MessageRecord, RecordState, Transition, WriteOp};
use tracing::{debug, warn};

use crate::context::{now_ms, AggregatePolicy, Context};

pub fn record_state(state: MessageState) -> RecordState {
    match state {
        MessageState::Delivered => RecordState::Delivered,
        MessageState::Expired => RecordState::Expired,
        MessageState::Undeliverable | MessageState::Deleted => RecordState::Undeliverable,
        MessageState::Rejected => RecordState::Failed,
        MessageState::Enroute | MessageState::Accepted => RecordState::Submitted,
        MessageState::Unknown | MessageState::Skipped => RecordState::Unknown,
    }
}

pub fn report_state(state: RecordState) -> MessageState {
    match state {
        RecordState::Delivered => MessageState::Delivered,
        RecordState::Expired => MessageState::Expired,
        RecordState::Undeliverable => MessageState::Undeliverable,
        RecordState::Failed | RecordState::Rejected => MessageState::Rejected,
        // A merged part travels on inside the message it was merged into.
        RecordState::Accepted | RecordState::Submitted | RecordState::Merged => {
            MessageState::Enroute
        }
        RecordState::Unknown => MessageState::Unknown,
        RecordState::Cancelled => MessageState::Deleted,
    }
}

/// `record` moved to `state`, with the step noted in its history.
pub fn transition(
    record: &MessageRecord,
    state: RecordState,
    detail: impl Into<String>,
) -> MessageRecord {
    let mut next = record.clone();
    next.state = state;
    next.history.push(Transition {
        state,
        at_ms: now_ms(),
        detail: detail.into(),
    });
    next
}

/// Ends a part that never reached a final receipt from the operator (permanent error,
/// expiry, no route): the record, the pending entry, and the customer's receipt if this
/// was the message's last open part.
pub async fn finish_locally(
    ctx: &Context,
    record: &MessageRecord,
    state: RecordState,
    error: Option<u32>,
    detail: &str,
) -> (Vec<WriteOp>, Option<HeldDelivery>) {
    let mut finished = transition(record, state, detail);
    finished.error = error.or(record.error);
    let report = DeliveryReport {
        message_id: record.id.to_decimal(),
        state: report_state(state),
        submitted: 1,
        delivered: 0,
        submit_unix: Some((record.accepted_ms / 1000) as i64),
        done_unix: Some((now_ms() / 1000) as i64),
        error: error.map(|e| (e & 0xffff) as u16).unwrap_or(0),
        text: String::new(),
    };
    finished.receipt = Some(report);
    let held = customer_receipt(ctx, &finished).await;
    let (_, mut ops) = with_receipt(finished, held.as_ref());
    ops.push(WriteOp::RemovePending {
        shard: ctx.shard_of(record.id),
        id: record.id,
        part: record.part,
    });
    (ops, held)
}

/// The writes that make `record` durable with the customer's receipt `held`, when this
/// step made it: the record notes then, in the same write, that the receipt was made, so
/// that a second look at a long message's parts (see [`recheck_receipt`]) makes no copy.
pub fn with_receipt(
    mut record: MessageRecord,
    held: Option<&HeldDelivery>,
) -> (Arc<MessageRecord>, Vec<WriteOp>) {
    if let Some(held) = held {
        record.receipt_made_ms = Some(held.held_ms);
    }
    let record = Arc::new(record);
    let mut ops = vec![WriteOp::PutMessage(record.clone())];
    if let Some(held) = held {
        ops.push(WriteOp::Hold(Box::new(held.clone())));
    }
    (record, ops)
}

/// The receipt owed to the customer for the message of `latest` once every part is final,
/// aggregated per the configured policy; `None` while parts are open or when the customer
/// asked for no receipt of this outcome.
pub async fn customer_receipt(ctx: &Context, latest: &MessageRecord) -> Option<HeldDelivery> {
    let parts: Vec<MessageRecord> = if latest.parts <= 1 {
        if !latest.state.is_final() {
            return None;
        }
        vec![latest.clone()]
    } else {
        // The store may not have the newest writes of this or the other parts yet.
        let stored = async { ctx.store.message_parts(latest.id).await.ok() };
        ctx.finals.settle(latest, stored).await?
    };
    receipt_of(ctx, latest, &parts)
}

/// How long after its own final write a node reads a long message's parts again.
const RECHECK_AFTER: Duration = Duration::from_secs(1);

/// In a cluster the parts of one long message can finish on different nodes at the same
/// moment (their receipts came on binds of different nodes), each before the other's
/// write is durable, so that neither sees every part final and no receipt is made. A node
/// whose final write of such a part found parts still open reads them again a moment
/// after that write is durable, and makes the receipt if every part is final by then and
/// no part says the receipt was made.
///
/// The mark matters: the other node's finish may have seen every part final and made the
/// receipt, which may be delivered and released by now; a second copy held then would be
/// delivered again. The copy made here is held first and marked after, so a hold that
/// fails is tried again rather than found marked. Two nodes looking again at once could
/// both make it; each waits a time of its own part's (`RECHECK_AFTER` plus
/// `RECHECK_STAGGER` per part number), so one finds the other's mark, and copies made
/// before either is delivered are one row (the key is the message id).
pub fn recheck_receipt(
    runtime: &tokio::runtime::Handle,
    ctx: Arc<Context>,
    latest: Arc<MessageRecord>,
) {
    // One node alone finishes every part itself, in one correlator: nothing to race.
    let alone = ctx.membership.is_standalone() || ctx.membership.view().cluster.members.len() <= 1;
    if latest.parts <= 1 || alone {
        return;
    }
    // Called from a store's completion, which may run on the store's own thread: the task
    // goes to the runtime the caller named.
    runtime.spawn(async move {
        tokio::time::sleep(RECHECK_AFTER + RECHECK_STAGGER * u32::from(latest.part)).await;
        // A store that does not answer (a database out of reach) is asked again: giving up
        // would leave the message without its receipt for good.
        let mut pause = RECHECK_AFTER;
        for _ in 0..RECHECK_TRIES {
            match ctx.store.message_parts(latest.id).await {
                Ok(parts) => {
                    let complete = parts.len() >= usize::from(latest.parts)
                        && parts.iter().all(|p| p.state.is_final());
                    let made = parts.iter().any(|p| p.receipt_made_ms.is_some());
                    if !complete || made {
                        return;
                    }
                    let Some(held) = receipt_of(&ctx, &latest, &parts) else {
                        return;
                    };
                    let hold = vec![WriteOp::Hold(Box::new(held.clone()))];
                    if tern_storage::write_durable(ctx.store.as_ref(), hold)
                        .await
                        .is_ok()
                    {
                        metrics::counter!("tern_receipts_rechecked_total").increment(1);
                        mark_made(&ctx, &parts, latest.part, &held).await;
                        hand_to_outbox(&ctx, Some(held));
                        return;
                    }
                }
                Err(error) => {
                    debug!(message_id = %latest.id, %error, "parts unreadable; asking again")
                }
            }
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(Duration::from_secs(10));
        }
        warn!(message_id = %latest.id, "the receipt of a long message could not be made: the store did not answer");
    });
}

/// Notes on this node's part, as read, that the message's receipt was made. Best effort:
/// without the mark another node's second look may make a copy of its own.
async fn mark_made(ctx: &Context, parts: &[MessageRecord], part: u8, held: &HeldDelivery) {
    let Some(record) = parts.iter().find(|p| p.part == part) else {
        return;
    };
    let mut marked = record.clone();
    marked.receipt_made_ms = Some(held.held_ms);
    let mark = vec![WriteOp::PutMessage(Arc::new(marked))];
    if let Err(error) = tern_storage::write_durable(ctx.store.as_ref(), mark).await {
        debug!(message_id = %record.id, %error, "the receipt's mark was not written");
    }
}

/// Between the second looks of a long message's parts, so that two nodes do not look at
/// the same moment.
const RECHECK_STAGGER: Duration = Duration::from_millis(300);

/// How many times the second look is tried while the store does not answer (about five
/// minutes with the pauses doubling up to 10 s).
const RECHECK_TRIES: u32 = 36;

/// The receipt of a message whose `parts` are all final, as `latest`'s customer wants it.
fn receipt_of(
    ctx: &Context,
    latest: &MessageRecord,
    parts: &[MessageRecord],
) -> Option<HeldDelivery> {
    let parts = parts.to_vec();
    let delivered = |p: &MessageRecord| p.state == RecordState::Delivered;
    let report_state = report_state(final_state(ctx.settings.aggregate, &parts));
    if !latest.message.receipt.wants(report_state.is_delivered()) {
        return None;
    }
    let last = parts
        .iter()
        .filter_map(|p| p.receipt.as_ref())
        .max_by_key(|r| r.done_unix);
    let report = DeliveryReport {
        message_id: customer_ids(&parts).unwrap_or_else(|| latest.id.to_decimal()),
        state: report_state,
        submitted: parts.len() as u16,
        delivered: parts.iter().filter(|p| delivered(p)).count() as u16,
        submit_unix: Some((latest.accepted_ms / 1000) as i64),
        done_unix: last
            .and_then(|r| r.done_unix)
            .or(Some((now_ms() / 1000) as i64)),
        error: last.map(|r| r.error).unwrap_or(0),
        text: receipt_text(&parts),
    };
    let now = now_ms();
    Some(HeldDelivery {
        account: latest.account.clone(),
        key: latest.id.0,
        kind: HeldKind::Receipt,
        message: latest.message.clone(),
        report: Some(report),
        held_ms: now,
        expires_ms: now + ctx.settings.held_ttl.as_millis() as u64,
    })
}

/// The `text:` of a message's receipt: the first 20 characters the customer sent (SMPP 3.4
/// Appendix B), which are in its first part, whichever part finished last. Empty for a
/// binary message.
fn receipt_text(parts: &[MessageRecord]) -> String {
    parts
        .iter()
        .min_by_key(|p| p.part)
        .and_then(|p| p.message.body.as_text())
        .map(|text| text.chars().take(20).collect())
        .unwrap_or_default()
}

/// The final state of a message whose `parts` are all final, aggregated per `policy`: what
/// its receipt and a query_sm report.
pub fn final_state(policy: AggregatePolicy, parts: &[MessageRecord]) -> RecordState {
    let delivered = |p: &MessageRecord| p.state == RecordState::Delivered;
    match policy {
        AggregatePolicy::AllDelivered if parts.iter().all(delivered) => RecordState::Delivered,
        AggregatePolicy::AnyDelivered if parts.iter().any(delivered) => RecordState::Delivered,
        _ => parts
            .iter()
            .find(|p| !delivered(p))
            .map(|p| p.state)
            .unwrap_or(RecordState::Unknown),
    }
}

/// The ids the customer was given for a message in its protocol's own form (CMPP Msg_Ids),
/// in part order and separated by spaces: one, or one per part the customer sent of a
/// message joined here. `None` when the customer was given the gateway's id.
fn customer_ids(parts: &[MessageRecord]) -> Option<String> {
    let mut ids: Vec<u64> = Vec::new();
    for id in parts.iter().filter_map(|p| p.wire_id) {
        if ids.last() != Some(&id) {
            ids.push(id);
        }
    }
    (!ids.is_empty()).then(|| ids.iter().map(u64::to_string).collect::<Vec<_>>().join(" "))
}

/// Tells the outbox about deliveries that just became durable.
pub fn hand_to_outbox(ctx: &Context, held: Option<HeldDelivery>) {
    if let Some(held) = held {
        if let Some(node) = ctx.membership.receiver_elsewhere(&held.account) {
            // The account is bound on another node: it delivers. Should the call fail, that
            // node's outbox finds the delivery in the store.
            let membership = ctx.membership.clone();
            tokio::spawn(async move {
                if let Err(error) = membership.hand_held(node, &held).await {
                    tracing::debug!(node, %error, account = held.account, "held delivery not handed over; it waits in the store");
                    metrics::counter!("tern_outbox_handoff_missed_total").increment(1);
                } else {
                    metrics::counter!("tern_cluster_deliveries_handed_total").increment(1);
                }
            });
            return;
        }
        if !ctx
            .refs
            .outbox
            .cast(crate::outbox::OutboxMsg::Held(Arc::new(held)))
        {
            // The outbox reloads held deliveries from the store when it restarts.
            metrics::counter!("tern_outbox_handoff_missed_total").increment(1);
        }
    }
}
