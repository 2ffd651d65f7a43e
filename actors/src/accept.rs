//! The accept path of a message, whatever protocol brought it: account state and TPS cap,
//! destination and sender rules, transliteration, the parts an operator bills, a route, a
//! price and a quota debit for every part, a time-ordered id, and the ACCEPTED records
//! with their pending entries, ready for one store write. The protocol front ends decode
//! their PDUs into domain messages, call [`accept`], write the store batch, and answer the
//! customer only once it is durable.

use std::sync::Arc;

use tern_encoding::{Alphabet, ChoosePolicy};
use tern_model::{Body, Coding, Message, MessageId};
use tern_smpp::mapping::{self, LinkOptions};
use tern_smpp::CommandStatus;
use tern_storage::{MessageRecord, PendingEntry, RecordState, Transition, WriteOp};

use crate::accounts::Account;
use crate::context::{now_ms, Context};
use crate::quota::{Charge, Lease, Spend};

/// Why a message was refused, with the SMPP status for it (other protocols map it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Refusal {
    pub status: CommandStatus,
    pub reason: &'static str,
}

pub fn refuse(status: CommandStatus, reason: &'static str) -> Refusal {
    Refusal { status, reason }
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
    options: &LinkOptions,
    wire_ids: &[u64],
    prepaid: (u64, i64),
) -> Result<Accepted, Refused> {
    let now = now_ms();
    let fail = |status, reason, message: &Message| {
        Err((refuse(status, reason), Some(Box::new(message.clone()))))
    };
    let policy = account.policy();
    if !policy.enabled {
        return fail(CommandStatus::EsmeRsubmitfail, "account_disabled", &message);
    }
    if !account.admit() {
        return Err((refuse(CommandStatus::EsmeRthrottled, "account_tps"), None));
    }
    // A node outside its cluster lease cannot vouch for quota or hand the message on.
    if !ctx.membership.lease_valid() {
        return Err((refuse(CommandStatus::EsmeRthrottled, "cluster_lease"), None));
    }
    if message.destination.validate(20).is_err() {
        return fail(CommandStatus::EsmeRinvdstadr, "bad_destination", &message);
    }
    if message.source.validate(20).is_err() || !policy.sender_allowed(&message.source) {
        return fail(
            CommandStatus::EsmeRinvsrcadr,
            "sender_not_allowed",
            &message,
        );
    }
    if policy.transliterate {
        transliterate(&mut message);
    }
    let routes = ctx.routes();
    let Some(route) = routes.route_for(&account.id, message.destination.digits()) else {
        return fail(CommandStatus::EsmeRinvdstadr, "no_route", &message);
    };
    // A route with a CMPP link splits as CMPP does, leaving room for the operator's
    // signature: the parts then fit every link of the route.
    let links = ctx.links();
    let cmpp = route
        .groups
        .iter()
        .flat_map(|g| g.links.iter())
        .find_map(|l| {
            links
                .iter()
                .find(|c| c.name == l.link)
                .and_then(|c| c.cmpp().map(|cmpp| cmpp.options.clone()))
        });
    let parts = match &cmpp {
        Some(cmpp) => split_cmpp(&message, cmpp, now),
        None => split(&message, options),
    };
    let parts = match parts {
        Ok(parts) => parts,
        Err(status) => return fail(status, "cannot_split", &message),
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
        return Err((
            refuse(CommandStatus::EsmeRthrottled, "ids_not_durable"),
            None,
        ));
    };
    let charge = if due_parts == 0 && due_amount == 0 {
        Charge::none()
    } else {
        match lease.spend(ctx, due_parts, due_amount).await {
            Ok(charge) => charge,
            Err(Spend::OverQuota) => {
                return fail(CommandStatus::EsmeRsubmitfail, "over_quota", &message)
            }
            Err(Spend::NoCredit) => {
                return fail(CommandStatus::EsmeRsubmitfail, "no_credit", &message)
            }
            Err(Spend::Unavailable) => {
                return Err((
                    refuse(CommandStatus::EsmeRthrottled, "quota_unavailable"),
                    None,
                ))
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

/// The customer's reference for `message`: its user_message_reference (two octets), as a
/// decimal number. None without one, or with one of another length.
fn client_ref(message: &Message) -> Option<String> {
    let tlv = message
        .tlvs
        .iter()
        .find(|tlv| tlv.tag == USER_MESSAGE_REFERENCE)?;
    let value: [u8; 2] = tlv.value.as_ref().try_into().ok()?;
    Some(u16::from_be_bytes(value).to_string())
}

/// Writes the CDR of a refused message. Best effort: the customer already has its answer.
/// It names the route the message falls under, if any, and no price: nothing was charged.
pub fn rejected_cdr(ctx: &Context, account: &str, message: Message, refusal: Refusal) {
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
        error: Some(u32::from(refusal.status)),
        receipt: None,
        accepted_ms: now,
        expires_ms: now,
        wire_id: None,
        route,
        price: 0,
        client_ref,
        receipt_made_ms: None,
    };
    let _ = ctx.store.write(
        vec![WriteOp::PutMessage(Arc::new(record))],
        Box::new(|_| {}),
    );
}

/// Counts a refusal in the metrics.
pub fn count_refusal(refusal: &Refusal, protocol: &'static str) {
    metrics::counter!(
        "tern_submits_refused_total",
        "reason" => refusal.reason,
        "status" => format!("{:#04x}", u32::from(refusal.status)),
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

/// The parts of `message` as a CMPP link sends them: one when the customer already sent a
/// part, otherwise the CMPP split (140 octets a part, less the signature room).
fn split_cmpp(
    message: &Message,
    options: &tern_cmpp::mapping::LinkOptions,
    now: u64,
) -> Result<Vec<Message>, CommandStatus> {
    if message.udh.is_some() || message.concat.is_some() {
        return Ok(vec![message.clone()]);
    }
    let reference = (now & 0xff) as u8;
    let submits = tern_cmpp::mapping::message_to_submits(message, options, reference)
        .map_err(|_| CommandStatus::EsmeRinvmsglen)?;
    if submits.len() <= 1 {
        return Ok(vec![message.clone()]);
    }
    let mut parts = Vec::with_capacity(submits.len());
    for submit in &submits {
        let decoded =
            tern_cmpp::mapping::submit_to_messages(submit, options.version, (now / 1000) as i64)
                .map_err(|_| CommandStatus::EsmeRinvmsglen)?;
        for mut part in decoded {
            // The addresses and options are the customer's, not the rendering's.
            part.source = message.source.clone();
            part.destination = message.destination.clone();
            part.receipt = message.receipt;
            part.validity_unix = message.validity_unix;
            part.schedule_unix = message.schedule_unix;
            part.priority = message.priority;
            parts.push(part);
        }
    }
    Ok(parts)
}

/// The parts an operator bills for `message`: one when the customer already sent a part
/// (UDH or SAR), otherwise the split of the text.
fn split(message: &Message, options: &LinkOptions) -> Result<Vec<Message>, CommandStatus> {
    if message.udh.is_some() || message.concat.is_some() {
        return Ok(vec![message.clone()]);
    }
    // One part without splitting: 160 septets of GSM, 70 UCS-2 units, 140 octets.
    let one_part = match (&message.body, message.coding) {
        (Body::Text(text), Coding::Gsm7) => {
            tern_encoding::gsm7::septet_len(text).is_some_and(|n| n <= 160)
        }
        (Body::Text(text), Coding::Ucs2) => text.encode_utf16().count() <= 70,
        (Body::Text(text), _) => text.len() <= 140,
        (Body::Binary(data), _) => data.len() <= 140,
    };
    if one_part {
        return Ok(vec![message.clone()]);
    }
    let now = now_ms();
    let reference = (now & 0xffff) as u16;
    // One clock reading for both ways, so that the times come back as they were.
    let now_unix = (now / 1000) as i64;
    let pdus = mapping::message_to_submit_sm(message, options, reference, now_unix)
        .map_err(|e| e.status())?;
    if pdus.len() <= 1 {
        return Ok(vec![message.clone()]);
    }
    pdus.iter()
        .map(|pdu| mapping::submit_sm_to_message(pdu, options, now_unix).map_err(|e| e.status()))
        .collect()
}
