//! One task per account delivers its receipts and MOs: it holds them in a [`DelayQueue`]
//! until due, then hands them to the account's receiving binds, round robin, with at most a
//! window of deliver_sm in flight per bind. Items wait (bounded in count and in time) while
//! the account has no receiving bind, and go out when one binds again. A deliver_sm that
//! could not be written, or whose session closed under it, is queued again; one that timed
//! out is counted and dropped, as its outcome is unknown (or, with
//! `retry_timed_out_delivers`, sent again, as most SMSCs do). One answered with a temporary error
//! (throttled, queue full, system error, temporary application error) is sent again a second later, for as long as the
//! pending receipt TTL allows.
//!
//! A receipt may be bound for the bind that submitted its message, or for any other
//! (`receipt_other_bind`); it then waits for that bind's window rather than go elsewhere,
//! unless the bind is gone. One whose submit_sm_resp waits for it (`receipt_before_resp`)
//! tells the session once a deliver_sm of it has been answered, timed out or given up.

use std::collections::VecDeque;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use futures::stream::FuturesUnordered;
use futures::{FutureExt, StreamExt};
use tern_model::{DeliveryReport, MessageState};
use tern_smpp::net::{RequestError, SessionHandle};
use tern_smpp::receipt::{add_receipt_tlvs, build_text, NetworkError};
use tern_smpp::rusmpp::pdus::parts::DeliverSmParts;
use tern_smpp::rusmpp::pdus::DeliverSm;
use tern_smpp::rusmpp::types::{EmptyOrFullCOctetString, OctetString};
use tern_smpp::rusmpp::values::{
    DataCoding, EsmClass, Npi, PriorityFlag, RegisteredDelivery, ReplaceIfPresentFlag, ServiceType,
    Ton,
};
use tern_smpp::session::c_octet;
use tern_smpp::{Command, CommandStatus, Pdu};
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;
use tokio_util::time::DelayQueue;

use super::binds::unix_ms;
use super::history::{Event, Fault};
use super::{AccountRef, MoConfig, Shared, SmscConfig};

/// Batches a session may queue towards its account before it waits.
pub(crate) const CHANNEL_BATCHES: usize = 256;

/// How often waiting items are checked against the TTL and closed binds are let go.
const SWEEP: Duration = Duration::from_millis(250);

/// esm_class of an SMSC delivery receipt (SMPP 3.4 §5.2.12).
const RECEIPT_ESM_CLASS: u8 = 0x04;

/// Up to `N` octets inline: a queued item owns no heap memory.
#[derive(Clone, Copy)]
pub(crate) struct Short<const N: usize> {
    len: u8,
    bytes: [u8; N],
}

impl<const N: usize> Short<N> {
    /// The first `N` octets of `from`.
    pub(crate) fn new(from: &[u8]) -> Self {
        let len = from.len().min(N).min(usize::from(u8::MAX));
        let mut bytes = [0; N];
        bytes[..len].copy_from_slice(&from[..len]);
        Self {
            len: len as u8,
            bytes,
        }
    }

    pub(crate) fn as_bytes(&self) -> &[u8] {
        &self.bytes[..usize::from(self.len)]
    }

    pub(crate) fn as_str(&self) -> &str {
        std::str::from_utf8(self.as_bytes()).unwrap_or("")
    }
}

/// An SMPP address: at most 20 characters (SMPP 3.4 §5.2.8).
#[derive(Clone, Copy)]
pub(crate) struct Addr {
    pub ton: u8,
    pub npi: u8,
    pub value: Short<20>,
}

#[derive(Clone, Copy)]
pub(crate) enum Kind {
    Receipt {
        id: u64,
        state: MessageState,
        submit_unix: i64,
    },
    Mo,
}

/// Which of the account's receiving binds may carry a receipt.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Route {
    /// Any, in turn.
    Any,
    /// This bind while it is there (the one that submitted), else any.
    Same(u64),
    /// Any but this one, unless it is the only one.
    Other(u64),
}

/// A receipt or MO waiting to go out.
pub(crate) struct Deliverable {
    pub due: Instant,
    pub kind: Kind,
    pub source: Addr,
    pub destination: Addr,
    /// Receipt: the echoed start of the message (ASCII); MO: the whole text.
    pub text: Short<20>,
    pub route: Route,
    /// The injected fault this receipt shows, for the history.
    pub fault: Option<Fault>,
    /// Told once a deliver_sm of this item has been answered or timed out (or dropped
    /// with the item): a submit_sm_resp waits for it.
    pub answered: Option<oneshot::Sender<()>>,
}

pub(crate) enum AccountMsg {
    Deliver(Vec<Deliverable>),
    /// A receiving bind of the account is up.
    Bound {
        bind: u64,
        conn: u64,
        handle: SessionHandle,
    },
    Unbound {
        bind: u64,
    },
}

struct Bind {
    id: u64,
    conn: u64,
    handle: SessionHandle,
    inflight: usize,
}

struct Sent {
    bind: u64,
    conn: u64,
    item: Deliverable,
    result: Result<Command, RequestError>,
}

/// The deliver_sm on `bind`. Not an `async fn`: the future must not borrow the bind list,
/// which changes while it runs.
fn send(bind: &Bind, pdu: Pdu, item: Deliverable) -> impl std::future::Future<Output = Sent> {
    let handle = bind.handle.clone();
    let (bind, conn) = (bind.id, bind.conn);
    async move {
        Sent {
            bind,
            conn,
            item,
            result: handle.request(pdu).await,
        }
    }
}

/// The account's delivery loop; ends at shutdown.
pub(crate) async fn run(shared: Arc<Shared>, _name: String, mut rx: mpsc::Receiver<AccountMsg>) {
    let config = &shared.config;
    let counters = &shared.counters;
    let mut delayed: DelayQueue<Deliverable> = DelayQueue::new();
    let mut ready: VecDeque<(Instant, Deliverable)> = VecDeque::new();
    let mut binds: Vec<Bind> = Vec::new();
    let mut cursor = 0usize;
    let mut inflight = FuturesUnordered::new();
    let mut messages = Vec::with_capacity(64);
    let mut sweep = tokio::time::interval(SWEEP);
    sweep.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut open = true;
    loop {
        let now_unix = unix_now();
        while let Some((_, front)) = ready.front() {
            let Some(index) = pick(&binds, &mut cursor, config.receipt_window, front.route) else {
                break;
            };
            let Some((since, item)) = ready.pop_front() else {
                break;
            };
            if since.elapsed() > config.pending_receipt_ttl {
                drop_item(&shared, &item);
                continue;
            }
            let bind = &mut binds[index];
            bind.inflight += 1;
            let pdu = deliver_pdu(config, &item, now_unix);
            inflight.push(send(bind, pdu, item));
        }
        tokio::select! {
            received = rx.recv_many(&mut messages, 64), if open => {
                if received == 0 {
                    open = false;
                }
                for message in messages.drain(..) {
                    match message {
                        AccountMsg::Deliver(items) => {
                            let now = Instant::now();
                            for item in items {
                                if delayed.len() + ready.len() >= config.max_pending_receipts {
                                    count_dropped(&shared, &item);
                                    continue;
                                }
                                counters.pending.fetch_add(1, Ordering::Relaxed);
                                if item.due <= now {
                                    ready.push_back((now, item));
                                } else {
                                    let due = item.due;
                                    delayed.insert_at(item, due);
                                }
                            }
                        }
                        AccountMsg::Bound { bind, conn, handle } => binds.push(Bind {
                            id: bind,
                            conn,
                            handle,
                            inflight: 0,
                        }),
                        AccountMsg::Unbound { bind } => binds.retain(|b| b.id != bind),
                    }
                }
            }
            Some(expired) = delayed.next(), if !delayed.is_empty() => {
                let now = Instant::now();
                ready.push_back((now, expired.into_inner()));
                // Everything else that is due too, without another turn of the loop.
                while let Some(Some(expired)) = delayed.next().now_or_never() {
                    ready.push_back((now, expired.into_inner()));
                }
            }
            Some(mut sent) = inflight.next(), if !inflight.is_empty() => {
                let bind = binds.iter_mut().position(|b| b.id == sent.bind);
                if let Some(index) = bind {
                    binds[index].inflight = binds[index].inflight.saturating_sub(1);
                }
                if shared.history.is_some() {
                    record_attempt(&shared, &sent).await;
                }
                if !matches!(sent.result, Err(RequestError::NotSent(_) | RequestError::Closed)) {
                    if let Some(answered) = sent.item.answered.take() {
                        let _ = answered.send(());
                    }
                }
                match sent.result {
                    Ok(response) if is_temporary(response.status())
                        && sent.item.due.elapsed() <= config.pending_receipt_ttl =>
                    {
                        // Refused for now (the gateway is throttled or its store is away):
                        // sent again a little later, as an SMSC retries a deliver_sm.
                        counters.deliver_retries.fetch_add(1, Ordering::Relaxed);
                        delayed.insert(sent.item, DELIVER_RETRY);
                    }
                    Ok(response) => {
                        let ok = response.status() == CommandStatus::EsmeRok;
                        let (sent_counter, acked) = match sent.item.kind {
                            Kind::Receipt { .. } => (&counters.receipts_sent, &counters.receipts_acked),
                            Kind::Mo => (&counters.mo_sent, &counters.mo_acked),
                        };
                        sent_counter.fetch_add(1, Ordering::Relaxed);
                        if ok {
                            acked.fetch_add(1, Ordering::Relaxed);
                        }
                        counters.pending.fetch_sub(1, Ordering::Relaxed);
                    }
                    Err(RequestError::Timeout { .. }) => {
                        counters.deliver_timeouts.fetch_add(1, Ordering::Relaxed);
                        if config.retry_timed_out_delivers
                            && sent.item.due.elapsed() <= config.pending_receipt_ttl
                        {
                            counters.deliver_retries.fetch_add(1, Ordering::Relaxed);
                            delayed.insert(sent.item, DELIVER_RETRY);
                        } else {
                            counters.pending.fetch_sub(1, Ordering::Relaxed);
                        }
                    }
                    Err(RequestError::NotSent(_) | RequestError::Closed) => {
                        // The bind is going away: stop using it, and try the item again on
                        // another bind (or when the account binds again).
                        if let Some(index) = bind {
                            binds.swap_remove(index);
                        }
                        ready.push_front((Instant::now(), sent.item));
                    }
                }
            }
            _ = sweep.tick() => {
                binds.retain(|b| !b.handle.is_closed());
                while let Some((since, _)) = ready.front() {
                    if since.elapsed() <= config.pending_receipt_ttl {
                        break;
                    }
                    if let Some((_, item)) = ready.pop_front() {
                        drop_item(&shared, &item);
                    }
                }
            }
            _ = shared.shutdown.cancelled() => break,
        }
    }
    let left = delayed.len() + ready.len() + inflight.len();
    counters.pending.fetch_sub(left as i64, Ordering::Relaxed);
}

/// Writes the history line of a receipt's deliver_sm attempt (MOs have none). An attempt
/// that was never handed to the connection is none.
async fn record_attempt(shared: &Shared, sent: &Sent) {
    let Kind::Receipt { id, state, .. } = sent.item.kind else {
        return;
    };
    let acked = match &sent.result {
        Ok(response) => response.status() == CommandStatus::EsmeRok,
        Err(RequestError::Timeout { .. } | RequestError::Closed) => false,
        Err(RequestError::NotSent(_)) => return,
    };
    let fault = match (sent.item.fault, sent.item.route) {
        // Asked for another bind, but only the submitting one was there.
        (Some(Fault::ReceiptOtherBind), Route::Other(from)) if from == sent.bind => None,
        (fault, _) => fault,
    };
    shared
        .record(|| Event::Receipt {
            t_ms: unix_ms(),
            conn: sent.conn,
            id: shared.config.id_format.render(id),
            stat: state.stat_word(),
            dst: sent.item.source.value.as_str().to_owned(),
            acked,
            fault,
        })
        .await;
}

/// How long a deliver_sm refused with a temporary error waits before it is sent again.
const DELIVER_RETRY: Duration = Duration::from_secs(1);

/// A deliver_sm_resp status that asks the SMSC to try again later (0x64 is SMPP's
/// "ESME receiver temporary application error").
fn is_temporary(status: CommandStatus) -> bool {
    matches!(
        status,
        CommandStatus::EsmeRthrottled
            | CommandStatus::EsmeRmsgqful
            | CommandStatus::EsmeRsyserr
            | CommandStatus::EsmeRxTAppn
    )
}

/// The bind the next item of `route` goes to: round robin among those the route allows
/// that have room in their window. `None`: wait for room.
fn pick(binds: &[Bind], cursor: &mut usize, window: usize, route: Route) -> Option<usize> {
    let open = |b: &Bind| !b.handle.is_closed();
    // (bind, whether it must be that one or must not be), when the route can be kept.
    let only = match route {
        Route::Same(id) if binds.iter().any(|b| b.id == id && open(b)) => Some((id, true)),
        Route::Other(id) if binds.iter().any(|b| b.id != id && open(b)) => Some((id, false)),
        _ => None,
    };
    let allowed = |b: &Bind| only.is_none_or(|(id, same)| (b.id == id) == same);
    for _ in 0..binds.len() {
        *cursor = (*cursor + 1) % binds.len();
        let bind = &binds[*cursor];
        if allowed(bind) && bind.inflight < window && open(bind) {
            return Some(*cursor);
        }
    }
    None
}

/// An item that was accepted into the queue and is given up.
fn drop_item(shared: &Shared, item: &Deliverable) {
    shared.counters.pending.fetch_sub(1, Ordering::Relaxed);
    count_dropped(shared, item);
}

fn count_dropped(shared: &Shared, item: &Deliverable) {
    let counter = match item.kind {
        Kind::Receipt { .. } => &shared.counters.receipts_dropped,
        Kind::Mo => &shared.counters.mo_dropped,
    };
    counter.fetch_add(1, Ordering::Relaxed);
}

pub(crate) fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// The `err:` a receipt of `state` carries: GSM MAP causes an SMSC would report.
fn error_code(state: MessageState) -> u16 {
    match state {
        // Unknown subscriber.
        MessageState::Undeliverable => 1,
        // Absent subscriber.
        MessageState::Expired => 27,
        // Call barred.
        MessageState::Rejected => 13,
        _ => 0,
    }
}

/// The deliver_sm for a receipt (SMPP 3.4 Appendix B text plus `receipted_message_id`,
/// `message_state` and, for failures, `network_error_code`) or for an MO.
pub(crate) fn deliver_pdu(config: &SmscConfig, item: &Deliverable, now_unix: i64) -> Pdu {
    let (esm_class, text, receipt) = match item.kind {
        Kind::Receipt {
            id,
            state,
            submit_unix,
        } => {
            let id = config.id_format.render(id);
            let report = DeliveryReport {
                message_id: id.clone(),
                state,
                submitted: 1,
                delivered: u16::from(state == MessageState::Delivered),
                submit_unix: Some(submit_unix),
                done_unix: Some(now_unix.max(submit_unix)),
                error: error_code(state),
                text: item.text.as_str().to_owned(),
            };
            let text = build_text(&report, false);
            (RECEIPT_ESM_CLASS, text, Some((id, state, report.error)))
        }
        Kind::Mo => (0, item.text.as_str().to_owned(), None),
    };
    // Every piece is ASCII and the text stays under 254 octets (SMPP 3.4 §5.2.21), so
    // these conversions do not fail; an empty message would still be a valid PDU.
    let short_message = OctetString::from_vec(text.into_bytes()).unwrap_or_default();
    let mut deliver = DeliverSm::from_parts(DeliverSmParts {
        service_type: ServiceType::default(),
        source_addr_ton: Ton::from(item.source.ton),
        source_addr_npi: Npi::from(item.source.npi),
        source_addr: c_octet(item.source.value.as_str()),
        dest_addr_ton: Ton::from(item.destination.ton),
        dest_addr_npi: Npi::from(item.destination.npi),
        destination_addr: c_octet(item.destination.value.as_str()),
        esm_class: EsmClass::from(esm_class),
        protocol_id: 0,
        priority_flag: PriorityFlag::from(0),
        schedule_delivery_time: EmptyOrFullCOctetString::empty(),
        validity_period: EmptyOrFullCOctetString::empty(),
        registered_delivery: RegisteredDelivery::from(0),
        replace_if_present_flag: ReplaceIfPresentFlag::from(0),
        data_coding: DataCoding::from(0),
        sm_default_msg_id: 0,
        sm_length: u8::try_from(short_message.len()).unwrap_or(u8::MAX),
        short_message,
        tlvs: Vec::new(),
    });
    if let Some((id, state, error)) = receipt {
        let network_error = (error != 0).then_some(NetworkError {
            network_type: NetworkError::GSM,
            code: error,
        });
        // Our ids are 1-20 ASCII digits, always a valid receipted_message_id.
        let _ = add_receipt_tlvs(&mut deliver, &id, state, network_error);
    }
    Pdu::from(deliver)
}

/// Makes up mobile-originated messages at `mo.rate` per second until shutdown.
pub(crate) async fn generate_mo(shared: Arc<Shared>, mo: MoConfig) {
    let mut tick = tokio::time::interval(Duration::from_millis(10));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last = Instant::now();
    let mut credit = 0.0f64;
    let mut number = 0u64;
    let mut turn = 0usize;
    let destination = address(&mo.destination);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = shared.shutdown.cancelled() => break,
        }
        let now = Instant::now();
        credit += mo.rate * now.duration_since(last).as_secs_f64();
        last = now;
        let due = credit.floor() as u64;
        if due == 0 {
            continue;
        }
        credit -= due as f64;
        let targets = mo_targets(&shared, &mo);
        if targets.is_empty() {
            shared.counters.mo_dropped.fetch_add(due, Ordering::Relaxed);
            continue;
        }
        let mut batches: Vec<Vec<Deliverable>> = targets.iter().map(|_| Vec::new()).collect();
        for _ in 0..due {
            number += 1;
            turn = turn.wrapping_add(1);
            let source = format!("{}{:08}", mo.source_prefix, number % 100_000_000);
            let text = format!("MO {number}");
            if let Some(batch) = batches.get_mut(turn % targets.len()) {
                batch.push(Deliverable {
                    due: now,
                    kind: Kind::Mo,
                    source: address(&source),
                    destination,
                    text: Short::new(text.as_bytes()),
                    route: Route::Any,
                    fault: None,
                    answered: None,
                });
            }
        }
        for (target, batch) in targets.iter().zip(batches) {
            let len = batch.len() as u64;
            if len > 0 && target.tx.try_send(AccountMsg::Deliver(batch)).is_err() {
                shared.counters.mo_dropped.fetch_add(len, Ordering::Relaxed);
            }
        }
    }
}

fn mo_targets(shared: &Arc<Shared>, mo: &MoConfig) -> Vec<Arc<AccountRef>> {
    if let Some(name) = &mo.system_id {
        return shared.account(name).into_iter().collect();
    }
    let Ok(accounts) = shared.accounts.lock() else {
        return Vec::new();
    };
    let mut targets: Vec<Arc<AccountRef>> = accounts
        .values()
        .filter(|a| a.receivers.load(Ordering::Relaxed) > 0)
        .cloned()
        .collect();
    targets.sort_by(|a, b| a.name.cmp(&b.name));
    targets
}

/// A handset number is international (TON 1, NPI 1); a short code has TON and NPI unknown.
fn address(value: &str) -> Addr {
    let international = value.len() > 8 && value.bytes().all(|b| b.is_ascii_digit());
    Addr {
        ton: u8::from(international),
        npi: u8::from(international),
        value: Short::new(value.as_bytes()),
    }
}
