//! Long messages a customer sends in parts, joined before they go to an operator. A
//! connector asks for it ([`Hold`], with its protocol's way of joining the parts' text)
//! where its protocol gives each part an id of its own (CMPP's Msg_Id, say).
//!
//! A part that crosses as it is may not fit the operator's part: GBK text that is mostly
//! ASCII takes twice the room in UCS-2 on an SMPP link, and an operator that appends a
//! signature needs room for it in every part. So the parts of a text message are joined
//! here and split again for the route.
//!
//! Every part is accepted, stored and acknowledged at once, as any message: a customer that
//! waits for each SUBMIT_RESP before the next part (a window of one) is served as fast as
//! any other, and a crash loses nothing. What differs is that its pending entry waits
//! [`HOLD`], and it comes back to its session instead of going to a dispatcher. When the
//! session has every part within [`JOIN_WITHIN`], one write replaces the parts by the joined
//! message: the parts become MERGED (their history names the message), their pending
//! entries go, and the joined message's records keep the customer's Msg_Ids so each of them
//! gets its status report. Parts whose others do not come in time, or that cannot be
//! joined, go as they are. After a crash the store's pending entries send the parts as they
//! are once [`HOLD`] has passed; the gap between the two times keeps a part from being both
//! joined and sent.
//!
//! Bounded: [`MAX_TOTAL`] parts a message, [`MAX_PARTIALS`] messages and
//! [`MAX_BUFFERED`] octets a session, each for at most [`JOIN_WITHIN`].

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use tern_encoding::reassembly::{Fragment, Incomplete, Reassembler, ReassemblyLimits, Status};
use tern_model::{ConcatRef, Message};
use tern_storage::{MessageRecord, RecordState, WriteOp};
use tracing::{debug, warn};

use crate::accept;
use crate::context::{now_ms, Context};
use crate::outcome::transition;
use crate::session::{dispatch, CustomerState, SessionMsg};

/// How long the pending entry of a held part waits before a dispatcher that reads it from
/// the store (after a restart) sends it as it is.
pub const HOLD: Duration = Duration::from_secs(10);
/// How long a session waits for the rest of a message after its first part.
pub const JOIN_WITHIN: Duration = Duration::from_secs(8);
/// Messages of more parts go part by part.
pub const MAX_TOTAL: u8 = 16;
const MAX_PARTIALS: usize = 32;
const MAX_BUFFERED: usize = MAX_PARTIALS * 4 * 140;

/// Parts are joined only with parts of the same sender, destination and format.
type Key = (String, String, u8);

/// What a part needs to be held once it is durable.
#[derive(Debug)]
pub struct Hold {
    pub concat: ConcatRef,
    /// The part's content after its UDH.
    pub octets: Vec<u8>,
    /// The id the customer got for it.
    pub wire_id: u64,
    /// The message the joined `octets` of every part make, given the first part; `None`
    /// when they do not decode.
    pub join: fn(&Message, &[u8]) -> Option<Message>,
}

/// A durable, acknowledged part waiting for the rest of its message.
#[derive(Debug)]
pub struct HeldPart {
    hold: Hold,
    shard: u16,
    records: Vec<Arc<MessageRecord>>,
    /// What it was debited, given back when it is merged.
    parts: u64,
    cost: i64,
}

impl HeldPart {
    pub fn new(
        hold: Hold,
        shard: u16,
        records: Vec<Arc<MessageRecord>>,
        parts: u64,
        cost: i64,
    ) -> Self {
        Self {
            hold,
            shard,
            records,
            parts,
            cost,
        }
    }

    fn message(&self) -> Option<&Message> {
        self.records.first().map(|r| &r.message)
    }

    fn key(&self) -> Option<Key> {
        let m = self.message()?;
        Some((
            m.source.value.clone(),
            m.destination.value.clone(),
            m.data_coding,
        ))
    }
}

/// The parts a session holds.
pub struct LongMessages {
    reassembler: Reassembler<Key, u64>,
    /// The held parts of each partial message, by (key, reference).
    held: HashMap<(Key, u16), Vec<HeldPart>>,
    /// An ExpireParts message is on its way.
    tick_pending: bool,
}

impl std::fmt::Debug for LongMessages {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LongMessages")
            .field("partials", &self.held.len())
            .finish()
    }
}

impl Default for LongMessages {
    fn default() -> Self {
        Self::new()
    }
}

impl LongMessages {
    pub fn new() -> Self {
        Self {
            reassembler: Reassembler::new(ReassemblyLimits {
                max_partials: MAX_PARTIALS,
                max_buffered_bytes: MAX_BUFFERED,
                max_total: MAX_TOTAL,
                timeout: JOIN_WITHIN,
            }),
            held: HashMap::new(),
            tick_pending: false,
        }
    }

    /// Takes a part: the whole message's parts in order and its octets when this was the
    /// last one, and the parts that must go as they are (this one included when it cannot
    /// be held).
    fn push(&mut self, part: HeldPart, now: u64) -> (Option<Whole>, Released) {
        let mut released = Released::default();
        let Some(key) = part.key() else {
            released.add(vec![part], "unreadable");
            return (None, released);
        };
        let concat = part.hold.concat;
        let fragment = Fragment {
            reference: concat.reference,
            total: concat.total,
            seq: concat.seq,
            data: &part.hold.octets,
        };
        let pushed = match self.reassembler.push(key.clone(), fragment, now) {
            Ok(pushed) => pushed,
            Err(error) => {
                debug!(%error, "part goes as it is");
                released.add(vec![part], "not_joinable");
                return (None, released);
            }
        };
        for gone in pushed.evicted {
            released.add(self.take(&gone), "evicted");
        }
        match pushed.status {
            Status::Duplicate => {
                // Sent again by the customer and acknowledged again: it goes on its own.
                released.add(vec![part], "duplicate");
                (None, released)
            }
            Status::Pending { .. } => {
                self.held
                    .entry((key, concat.reference))
                    .or_default()
                    .push(part);
                (None, released)
            }
            Status::Complete(octets) => {
                let mut parts = self
                    .held
                    .remove(&(key, concat.reference))
                    .unwrap_or_default();
                parts.push(part);
                parts.sort_by_key(|p| p.hold.concat.seq);
                (Some((parts, octets)), released)
            }
        }
    }

    fn take(&mut self, gone: &Incomplete<Key>) -> Vec<HeldPart> {
        self.held
            .remove(&(gone.key.clone(), gone.reference))
            .unwrap_or_default()
    }

    /// Parts whose messages did not complete in time.
    fn expire(&mut self, now: u64) -> Vec<HeldPart> {
        let expired = self.reassembler.expire(now);
        expired.iter().flat_map(|gone| self.take(gone)).collect()
    }

    /// Every part held, for a session that ends.
    pub fn drain(&mut self) -> Vec<HeldPart> {
        self.reassembler = Self::new().reassembler;
        self.held.drain().flat_map(|(_, parts)| parts).collect()
    }

    fn held_parts(&self) -> usize {
        self.held.values().map(Vec::len).sum()
    }
}

/// Every part of a message, in order, and their octets joined.
type Whole = (Vec<HeldPart>, Vec<u8>);

/// Parts to send as they are, with why.
#[derive(Default)]
struct Released(Vec<(HeldPart, &'static str)>);

impl Released {
    fn add(&mut self, parts: Vec<HeldPart>, reason: &'static str) {
        self.0.extend(parts.into_iter().map(|p| (p, reason)));
    }
}

/// Sends a held part as it is.
pub fn release(ctx: &Context, part: HeldPart, reason: &'static str) {
    send_alone(ctx, vec![(part.shard, part.records)], reason);
}

/// A held part became durable.
pub(crate) async fn stored(state: &mut CustomerState, part: HeldPart) {
    let now = now_ms();
    let (complete, released) = state.long.push(part, now);
    for (part, reason) in released.0 {
        release(&state.ctx, part, reason);
    }
    if let Some((parts, octets)) = complete {
        merge(state, parts, octets).await;
    }
    gauge(state);
    if !state.long.held.is_empty() && !state.long.tick_pending {
        state.long.tick_pending = true;
        state
            .myself
            .send_after(JOIN_WITHIN + Duration::from_millis(50), || {
                SessionMsg::ExpireParts
            });
    }
}

/// Sends the parts whose messages did not complete in time.
pub(crate) fn expire(state: &mut CustomerState) {
    state.long.tick_pending = false;
    for part in state.long.expire(now_ms()) {
        release(&state.ctx, part, "incomplete");
    }
    gauge(state);
    if let Some(deadline) = state.long.reassembler.next_deadline() {
        state.long.tick_pending = true;
        let wait = Duration::from_millis(deadline.saturating_sub(now_ms()) + 50);
        state.myself.send_after(wait, || SessionMsg::ExpireParts);
    }
}

fn gauge(state: &CustomerState) {
    metrics::gauge!("tern_held_parts", "account" => state.account.id.clone())
        .set(state.long.held_parts() as f64);
}

/// Replaces `parts` (every part of one message, in order) by the message they make, split
/// for its route; sends them as they are when that cannot be done.
async fn merge(state: &mut CustomerState, parts: Vec<HeldPart>, octets: Vec<u8>) {
    let joined = match parts
        .first()
        .and_then(|first| (first.hold.join)(first.message()?, &octets))
    {
        Some(joined) => joined,
        _ => return release_all(&state.ctx, parts, "not_joinable"),
    };
    let wire_ids: Vec<u64> = parts.iter().map(|p| p.hold.wire_id).collect();
    // The parts were charged when they were accepted, and their charges stand: the joined
    // message pays only for what it sends beyond them.
    let paid = parts
        .iter()
        .fold((0, 0), |(n, c), p| (n + p.parts, c + p.cost));
    let accepted = match accept::accept(
        &state.ctx,
        &state.account,
        &mut state.lease,
        joined,
        &wire_ids,
        paid,
    )
    .await
    {
        Ok(accepted) => accepted,
        Err((refusal, _)) => {
            debug!(
                reason = refusal.reason,
                "joined message refused; parts go as they are"
            );
            return release_all(&state.ctx, parts, "refused");
        }
    };
    if accepted.records.len() < parts.len() {
        // Fewer parts than the customer's: some Msg_Id would get no report. The customer's
        // parts are short enough to go as they are.
        accepted.charge.cancel();
        return release_all(&state.ctx, parts, "fewer_parts");
    }
    let into = format!("merged into {}", accepted.id);
    let mut ops = accepted.ops;
    for part in &parts {
        for record in &part.records {
            let merged = transition(record, RecordState::Merged, into.clone());
            ops.push(WriteOp::PutMessage(Arc::new(merged)));
            ops.push(WriteOp::RemovePending {
                shard: part.shard,
                id: record.id,
                part: record.part,
            });
        }
    }
    let ctx = state.ctx.clone();
    let charge = accepted.charge;
    let settle = charge.clone();
    let (shard, records) = (accepted.shard, accepted.records);
    let count = parts.len();
    let alone: Vec<(u16, Vec<Arc<MessageRecord>>)> =
        parts.iter().map(|p| (p.shard, p.records.clone())).collect();
    let written = state.ctx.store.write(
        ops,
        Box::new(move |result| match result {
            Ok(()) => {
                settle.commit();
                metrics::counter!("tern_long_messages_joined_total").increment(1);
                debug!(parts = count, "long message joined");
                dispatch(&ctx, shard, records, false);
            }
            Err(error) => {
                warn!(%error, "joined message not stored; its parts go as they are");
                settle.cancel();
                send_alone(&ctx, alone, "store_error");
            }
        }),
    );
    if written.is_err() {
        charge.cancel();
        release_all(&state.ctx, parts, "store_overloaded");
    }
}

fn send_alone(ctx: &Context, parts: Vec<(u16, Vec<Arc<MessageRecord>>)>, reason: &'static str) {
    for (shard, records) in parts {
        metrics::counter!("tern_parts_sent_alone_total", "reason" => reason).increment(1);
        dispatch(ctx, shard, records, false);
    }
}

fn release_all(ctx: &Context, parts: Vec<HeldPart>, reason: &'static str) {
    for part in parts {
        release(ctx, part, reason);
    }
}
