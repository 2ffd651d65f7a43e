//! The accept path of a message, whatever protocol brought it: account state and TPS cap,
//! destination and sender rules, transliteration, the parts an operator bills, a route, a
//! price and a quota debit for every part, a time-ordered id, and the ACCEPTED records
//! with their pending entries, ready for one store write. The protocol front ends decode
//! their PDUs into domain messages, call [`accept`], write the store batch, and answer the
//! customer only once it is durable.

use std::sync::Arc;

use tern_encoding::{Alphabet, ChoosePolicy};
use tern_model::{Body, Coding, Message, MessageId, Rejection};
use tern_storage::{MessageRecord, PendingEntry, RecordState, Transition, WriteOp};

use crate::accounts::Account;
use crate::context::{now_ms, Context};
use crate::quota::{Charge, Lease, Spend};

/// Why a message was refused: its kind, which each protocol answers with its own status,
/// and the reason metrics and CDRs name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Refusal {
    pub kind: Rejection,
    pub reason: &'static str,
}

pub fn refuse(kind: Rejection, reason: &'static str) -> Refusal {
    Refusal { kind, reason }
}

/// A refusal, and the message for its CDR when there is one worth keeping.
pub type Refused = (Refusal, Option<Box<Message>>);

/// A message that passed every check, not yet durable.
pub struct Accepted {
    pub id: MessageId,
    pub shard: u16,
    pub records: Vec<Arc<MessageRecord>>,
    pub ops: Vec<WriteOp>,
    /// The parts and the price of the message.
    pub parts: u64,
    pub cost: i64,
    /// What it was charged: committed once the records are durable, cancelled if not.
    pub charge: Charge,
}

/// Checks `message` for `account` and charges its quota. `wire_ids` are the ids the
/// customer's protocol knows it by, when not ours: part `j` of the message records
/// `wire_ids[j]`, or the last one when there are fewer (one id for a whole message, or one
/// per part the customer sent of a message joined here). `prepaid` parts and money were
/// charged already (to the parts a message is joined from): only the rest is charged.
pub async fn accept(
    ctx: &Context,
    account: &Account,
    lease: &mut Lease,
    mut message: Message,
    wire_ids: &[u64],
    prepaid: (u64, i64),
) -> Result<Accepted, Refused> {
    let now = now_ms();
    let fail = |status, reason, message: &Message| {
        Err((refuse(status, reason), Some(Box::new(message.clone()))))
    };
    let policy = account.policy();
    if !policy.enabled {
        return fail(Rejection::NotAllowed, "account_disabled", &message);
    }
    if !account.admit() {
        return Err((refuse(Rejection::Throttled, "account_tps"), None));
    }
    // A node outside its cluster lease cannot vouch for quota or hand the message on.
    if !ctx.membership.lease_valid() {
        return Err((refuse(Rejection::Throttled, "cluster_lease"), None));
    }
    if message.destination.validate(20).is_err() {
        return fail(Rejection::InvalidDestination, "bad_destination", &message);
    }
    if message.source.validate(20).is_err() || !policy.sender_allowed(&message.source) {
        return fail(Rejection::InvalidSource, "sender_not_allowed", &message);
    }
    if policy.transliterate {
        transliterate(&mut message);
    }
    let routes = ctx.routes();
    let Some(route) = routes.route_for(&account.id, message.destination.digits()) else {
        return fail(Rejection::InvalidDestination, "no_route", &message);
    };
    let parts = match split(ctx, &route.groups, &message, now) {
        Ok(parts) => parts,
        Err(kind) => return fail(kind, "cannot_split", &message),
    };
    let price = ctx
        .ledger
        .price(&account.id, Some(&route.name), message.destination.digits());
    let count = parts.len() as u64;
    let cost = price.saturating_mul(count as i64);
    let client_ref = client_ref(&message);
    let (due_parts, due_amount) = (
        count.saturating_sub(prepaid.0),
        cost.saturating_sub(prepaid.1).max(0),
    );
    // The id comes before the charge: when none can be issued, nothing is to be given back.
    let Ok(id) = ctx.ids.try_next() else {
        return Err((refuse(Rejection::Throttled, "ids_not_durable"), None));
    };
    let charge = if due_parts == 0 && due_amount == 0 {
        Charge::none()
    } else {
        match lease.spend(ctx, due_parts, due_amount).await {
            Ok(charge) => charge,
            Err(Spend::OverQuota) => return fail(Rejection::NotAllowed, "over_quota", &message),
            Err(Spend::NoCredit) => return fail(Rejection::NotAllowed, "no_credit", &message),
            Err(Spend::Unavailable) => {
                return Err((refuse(Rejection::Throttled, "quota_unavailable"), None))
            }
        }
    };
    let max = now + ctx.settings.max_validity.as_millis() as u64;
    let expires_ms = message
        .validity_unix
        .map(|v| (v.max(0) as u64).saturating_mul(1000).min(max))
        .unwrap_or(now + ctx.settings.default_validity.as_millis() as u64);
    let due_ms = message
        .schedule_unix
        .map_or(0, |s| (s.max(0) as u64).saturating_mul(1000));
    let shard = ctx.shard_of(id);
    let total = parts.len() as u8;
    let records: Vec<Arc<MessageRecord>> = parts
        .into_iter()
        .enumerate()
        .map(|(i, part)| {
            Arc::new(MessageRecord {
                id,
                part: i as u8,
                parts: total,
                account: account.id.clone(),
                message: part,
                state: RecordState::Accepted,
                history: vec![Transition {
                    state: RecordState::Accepted,
                    at_ms: now,
                    detail: String::new(),
                }],
                attempts: 0,
                link: None,
                operator_id: None,
                error: None,
                receipt: None,
                accepted_ms: now,
                expires_ms,
                wire_id: wire_ids.get(i).or(wire_ids.last()).copied(),
                route: Some(route.name.clone()),
                price,
                client_ref: client_ref.clone(),
                receipt_made_ms: None,
            })
        })
        .collect();
    let mut ops = Vec::with_capacity(records.len() * 2 + 1);
    ops.extend(charge.op(id));
    for record in &records {
        ops.push(WriteOp::PutMessage(record.clone()));
        ops.push(WriteOp::AddPending(PendingEntry {
            shard,
            id,
            part: record.part,
            due_ms,
            attempts: 0,
        }));
    }
    Ok(Accepted {
        id,
        shard,
        records,
        ops,
        parts: count,
        cost,
        charge,
    })
}

/// SMPP 3.4 §5.3.2.17 user_message_reference: the customer's own reference for a message.
const USER_MESSAGE_REFERENCE: u16 = 0x0204;

/// The customer's reference for `message`: the one its HTTP request gave, or its
/// user_message_reference (two octets) as a decimal number. None without one, or with a
/// user_message_reference of another length.
fn client_ref(message: &Message) -> Option<String> {
    if let Some(reference) = message.tlv_text(Message::CLIENT_REF_TAG) {
        return Some(reference.to_owned());
    }
    let tlv = message
        .tlvs
        .iter()
        .find(|tlv| tlv.tag == USER_MESSAGE_REFERENCE)?;
    let value: [u8; 2] = tlv.value.as_ref().try_into().ok()?;
    Some(u16::from_be_bytes(value).to_string())
}

/// Writes the CDR of a refused message. Best effort: the customer already has its answer.
/// It names the route the message falls under, if any, and no price: nothing was charged.
/// `status` is the protocol's status the customer was answered with.
pub fn rejected_cdr(ctx: &Context, account: &str, message: Message, refusal: Refusal, status: u32) {
    let Ok(id) = ctx.ids.try_next() else {
        return;
    };
    let now = now_ms();
    let route = ctx
        .routes()
        .route_for(account, message.destination.digits())
        .map(|route| route.name.clone());
    let client_ref = client_ref(&message);
    let record = MessageRecord {
        id,
        part: 0,
        parts: 1,
        account: account.to_owned(),
        message,
        state: RecordState::Rejected,
        history: vec![Transition {
            state: RecordState::Rejected,
            at_ms: now,
            detail: refusal.reason.to_owned(),
        }],
        attempts: 0,
        link: None,
        operator_id: None,
        error: Some(status),
        receipt: None,
        accepted_ms: now,
        expires_ms: now,
        wire_id: None,
        route,
        price: 0,
        client_ref,
        receipt_made_ms: None,
    };
    let _ = ctx.store.write_deferred(
        vec![WriteOp::PutMessage(Arc::new(record))],
        Box::new(|_| {}),
    );
}

/// Counts a refusal in the metrics.
/// `status` is the protocol's status for it.
pub fn count_refusal(refusal: &Refusal, protocol: &'static str, status: u32) {
    metrics::counter!(
        "tern_submits_refused_total",
        "reason" => refusal.reason,
        "status" => format!("{status:#04x}"),
        "protocol" => protocol
    )
    .increment(1);
}

/// UCS-2 text that GSM 7-bit carries without loss after transliteration goes as GSM.
fn transliterate(message: &mut Message) {
    if message.coding != Coding::Ucs2 || message.udh.is_some() || message.concat.is_some() {
        return;
    }
    let Body::Text(text) = &message.body else {
        return;
    };
    let policy = ChoosePolicy {
        allow_latin1: false,
        allow_ucs2: true,
        transliterate: true,
    };
    let choice = tern_encoding::choose(text, &policy);
    if choice.alphabet == Alphabet::Gsm7 && !choice.lossy {
        let text = choice.text.into_owned();
        message.body = Body::Text(text);
        message.coding = Coding::Gsm7;
        message.data_coding = 0;
        metrics::counter!("tern_transliterated_total").increment(1);
    }
}

/// The parts of `message` as the links of its route bill it: one when the customer already
/// sent a part (UDH or SAR), otherwise the split that makes the most parts of the links'
/// protocols, so that every part fits every link the message may take (an operator that
/// appends a signature leaves less room in each part).
fn split(
    ctx: &Context,
    groups: &[crate::routing::LinkGroup],
    message: &Message,
    now: u64,
) -> Result<Vec<Message>, Rejection> {
    if message.udh.is_some() || message.concat.is_some() {
        return Ok(vec![message.clone()]);
    }
    let links = ctx.links();
    let mut best: Option<Vec<Message>> = None;
    let mut tried: Vec<*const ()> = Vec::new();
    for name in groups.iter().flat_map(|g| g.links.iter()) {
        let Some(config) = links.iter().find(|c| c.name == name.link) else {
            continue;
        };
        // Links of one protocol and settings split alike: each is asked once.
        let carrier = Arc::as_ptr(&config.carrier).cast::<()>();
        if tried.contains(&carrier) {
            continue;
        }
        tried.push(carrier);
        let parts = config.carrier.split(message, now)?;
        if best.as_ref().is_none_or(|b| parts.len() > b.len()) {
            best = Some(parts);
        }
    }
    Ok(best.unwrap_or_else(|| vec![message.clone()]))
}
