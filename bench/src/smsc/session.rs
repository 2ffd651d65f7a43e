//! One bound ESME: its submits are answered in batches (every event already queued is taken
//! at once), with the status the submit's fate, the operator's faults and the bind's TPS cap
//! decide; accepted submits that ask for a receipt hand it to the account's queue, one batch
//! per turn. The bind's slot goes back as soon as the session's close is seen, before
//! anything else that could wait.
//!
//! A response held back (`slow_answer`, or `receipt_before_resp` until the receipt's
//! deliver_sm has been answered) is written by a task of its own, so the bind's other
//! submits are answered meanwhile. A dropped submit (`drop_after_read`) is never answered:
//! the bind is unbound, and whatever else it still delivers goes unanswered too.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use tern_encoding::udh::{self, ConcatInfo};
use tern_encoding::{gsm7, latin1, ucs2};
use tern_model::MessageState;
use tern_smpp::net::{SessionEvent, SessionHandle};
use tern_smpp::rusmpp::pdus::{SubmitSm, SubmitSmResp};
use tern_smpp::rusmpp::tlvs::TlvValue;
use tern_smpp::rusmpp::types::COctetString;
use tern_smpp::session::{error_response, BindKind, CloseReason};
use tern_smpp::{Command, CommandId, CommandStatus, Pdu};
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;

use super::account::{unix_now, AccountMsg, Addr, Deliverable, Kind, Route, Short};
use super::binds::{unix_ms, BindSlot};
use super::dedup::fingerprint;
use super::history::{By, Event, Fault, SubmitLine};
use super::{AccountRef, Shared};

/// Events taken from the session at once.
const BATCH: usize = 256;

/// esm_class bit 6: the user data starts with a UDH (SMPP 3.4 §5.2.12).
const UDHI: u8 = 0x40;

/// The longest a submit_sm_resp waits for its receipt (`receipt_before_resp`): an ESME
/// that answers no deliver_sm before its submit_sm_resp still gets it.
const RECEIPT_FIRST_LIMIT: Duration = Duration::from_secs(30);

/// The random choices for one submit. All of them are drawn for every submit, whether or
/// not their fault is configured, so each submit consumes the same draws and the totals
/// depend only on the seed.
struct Fate {
    status: CommandStatus,
    /// Which error rate refused it.
    refusal: Option<Fault>,
    disconnect: bool,
    state: MessageState,
    delay: Duration,
    drop: bool,
    slow: bool,
    receipt_first: bool,
    other_bind: bool,
    duplicate: bool,
}

impl Shared {
    fn fate(&self, seq: u64) -> Fate {
        let config = &self.config;
        // SmallRng's seeding mixes the input, so neighbouring sequence numbers give
        // unrelated streams.
        let mut rng =
            SmallRng::seed_from_u64(config.seed ^ seq.wrapping_mul(0x9E37_79B9_7F4A_7C15));
        let outcome: f64 = rng.gen();
        let leave: f64 = rng.gen();
        let total: u64 = config.final_states.iter().map(|(_, w)| u64::from(*w)).sum();
        let mut pick = rng.gen_range(0..total.max(1));
        let spread: f64 = rng.gen();
        // Drawn after the others, so that a seed's earlier choices stay what they were.
        let drop: f64 = rng.gen();
        let slow: f64 = rng.gen();
        let receipt_first: f64 = rng.gen();
        let other_bind: f64 = rng.gen();
        let duplicate: f64 = rng.gen();

        let permanent = config.permanent_error_rate;
        let transient = permanent + config.transient_error_rate;
        let throttled = transient + config.throttle_rate;
        let (status, refusal) = if outcome < permanent {
            (config.permanent_error_status, Some(Fault::PermanentError))
        } else if outcome < transient {
            (CommandStatus::EsmeRsyserr, Some(Fault::TransientError))
        } else if outcome < throttled {
            (CommandStatus::EsmeRthrottled, Some(Fault::Throttle))
        } else {
            (CommandStatus::EsmeRok, None)
        };
        let disconnect = config.disconnect_every.is_some_and(|n| seq % n == n - 1)
            || leave < config.disconnect_probability;
        let mut state = MessageState::Delivered;
        for (candidate, weight) in &config.final_states {
            if pick < u64::from(*weight) {
                state = *candidate;
                break;
            }
            pick -= u64::from(*weight);
        }
        let delay = config.receipt_delay.min
            + (config.receipt_delay.max - config.receipt_delay.min).mul_f64(spread);
        Fate {
            status,
            refusal,
            disconnect,
            state,
            delay,
            drop: drop < config.drop_after_read,
            slow: slow < config.slow_answer,
            receipt_first: receipt_first < config.receipt_before_resp,
            other_bind: other_bind < config.receipt_other_bind,
            duplicate: duplicate < config.duplicate_receipts,
        }
    }
}

/// A token bucket: `rate` submits a second, bursts of up to a second's worth.
struct Bucket {
    rate: f64,
    tokens: f64,
    last: Instant,
}

impl Bucket {
    fn take(&mut self, now: Instant) -> bool {
        let refill = now.saturating_duration_since(self.last).as_secs_f64() * self.rate;
        self.tokens = (self.tokens + refill).min(self.rate);
        self.last = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

/// Counts of one batch, added to the shared counters at its end.
struct Tally {
    submits: u64,
    by_status: Vec<u64>,
    unique: u64,
    duplicates: u64,
    dropped: u64,
}

impl Tally {
    fn flush(&mut self, shared: &Shared) {
        let counters = &shared.counters;
        counters.submits.fetch_add(self.submits, Ordering::Relaxed);
        for (slot, count) in self.by_status.iter_mut().enumerate() {
            if *count > 0 {
                if let Some(counter) = counters.by_status.get(slot) {
                    counter.fetch_add(*count, Ordering::Relaxed);
                }
                *count = 0;
            }
        }
        counters
            .unique_submits
            .fetch_add(self.unique, Ordering::Relaxed);
        counters
            .duplicates
            .fetch_add(self.duplicates, Ordering::Relaxed);
        if self.dropped > 0 {
            counters
                .submits_dropped
                .fetch_add(self.dropped, Ordering::Relaxed);
        }
        self.submits = 0;
        self.unique = 0;
        self.duplicates = 0;
        self.dropped = 0;
    }
}

/// Serves one bound session until it closes.
pub(crate) async fn run(
    shared: Arc<Shared>,
    account: Arc<AccountRef>,
    slot: BindSlot,
    conn: u64,
    kind: BindKind,
    handle: SessionHandle,
    mut events: mpsc::Receiver<SessionEvent>,
) {
    let counters = &shared.counters;
    counters.binds_open.fetch_add(1, Ordering::Relaxed);
    counters.binds_total.fetch_add(1, Ordering::Relaxed);
    let bind = slot.id();
    let mut slot = Some(slot);
    if kind.can_receive() {
        account.receivers.fetch_add(1, Ordering::Relaxed);
        let bound = AccountMsg::Bound {
            bind,
            conn,
            handle: handle.clone(),
        };
        let _ = account.tx.send(bound).await;
    }
    let mut bucket = shared.config.tps_cap.map(|cap| Bucket {
        rate: f64::from(cap),
        tokens: f64::from(cap),
        last: Instant::now(),
    });
    let mut tally = Tally {
        submits: 0,
        by_status: vec![0; counters.slots.len()],
        unique: 0,
        duplicates: 0,
        dropped: 0,
    };
    let mut batch = Vec::with_capacity(BATCH);
    let mut lines = Vec::new();
    let mut disconnecting = false;
    // A submit was dropped: nothing more is answered on this bind.
    let mut dropping = false;
    let mut close = None;
    loop {
        if events.recv_many(&mut batch, BATCH).await == 0 {
            break;
        }
        let submits = batch
            .iter()
            .filter(|e| matches!(e, SessionEvent::Request(c) if c.id() == CommandId::SubmitSm))
            .count() as u64;
        let mut seq = shared.submit_seq.fetch_add(submits, Ordering::Relaxed);
        // Logged before any of them is answered: an ESME that has its answer and then sets
        // the mark must not see its own submit counted after the mark.
        if let Some(slot) = &slot {
            slot.submitted(submits);
        }
        let now = Instant::now();
        let submit = Submit {
            shared: &shared,
            account: &account,
            bind,
            conn,
            seq,
            now,
            now_unix: unix_now(),
            now_ms: if shared.history.is_some() {
                unix_ms()
            } else {
                0
            },
        };
        let mut receipts = Vec::new();
        let mut disconnect = false;
        for event in batch.drain(..) {
            match event {
                SessionEvent::Request(command) if command.id() == CommandId::SubmitSm => {
                    let fate = shared.fate(seq);
                    let submit = Submit { seq, ..submit };
                    seq += 1;
                    if dropping || fate.drop {
                        dropping = true;
                        tally.dropped += 1;
                        if shared.history.is_some() {
                            let mut line = submit.line(&command, None);
                            line.fault = Some(Fault::DropAfterRead);
                            lines.push(Event::Submit(line));
                        }
                        continue;
                    }
                    disconnect |= fate.disconnect;
                    let answer =
                        submit.answer(&command, fate, bucket.as_mut(), &mut tally, &mut receipts);
                    match answer.hold {
                        None => {
                            let answered = handle.respond(answer.response);
                            if let Some(mut line) = answer.line {
                                line.answered = answered;
                                lines.push(Event::Submit(line));
                            }
                        }
                        Some(hold) => {
                            answer_later(&shared, &handle, answer.response, hold, answer.line)
                        }
                    }
                }
                SessionEvent::Request(command) => {
                    handle.respond(error_response(
                        command.id(),
                        command.sequence_number(),
                        CommandStatus::EsmeRinvcmdid,
                    ));
                }
                SessionEvent::LateResponse { .. } => {}
                SessionEvent::Closed { reason } => close = Some(reason),
            }
        }
        tally.flush(&shared);
        if close.is_some() {
            // The session is gone: the account may bind again at once.
            drop(slot.take());
        }
        if let Some(history) = &shared.history {
            for line in lines.drain(..) {
                history.record(line).await;
            }
        }
        if !receipts.is_empty() {
            let count = receipts.len() as u64;
            counters
                .receipts_scheduled
                .fetch_add(count, Ordering::Relaxed);
            if account
                .tx
                .send(AccountMsg::Deliver(receipts))
                .await
                .is_err()
            {
                counters
                    .receipts_dropped
                    .fetch_add(count, Ordering::Relaxed);
            }
        }
        if (disconnect || dropping) && !disconnecting && close.is_none() {
            disconnecting = true;
            if disconnect {
                counters.disconnects.fetch_add(1, Ordering::Relaxed);
            }
            handle.unbind().await;
        }
        if close.is_some() {
            break;
        }
    }
    if kind.can_receive() {
        account.receivers.fetch_sub(1, Ordering::Relaxed);
        let _ = account.tx.send(AccountMsg::Unbound { bind }).await;
    }
    counters.binds_open.fetch_sub(1, Ordering::Relaxed);
    let by = closed_by(close, disconnecting || shared.shutdown.is_cancelled());
    shared
        .record(|| Event::Close {
            t_ms: unix_ms(),
            conn,
            by,
        })
        .await;
}

/// Who ended the session: the simulator when it unbound (or shut down) or gave up on the
/// peer, else the peer.
fn closed_by(reason: Option<CloseReason>, we_unbound: bool) -> By {
    match reason {
        Some(CloseReason::Unbound | CloseReason::PeerGone) | None if !we_unbound => By::Peer,
        _ => By::Smsc,
    }
}

/// Why a response waits.
enum Hold {
    /// `slow_answer`.
    For(Duration),
    /// `receipt_before_resp`: until a deliver_sm of the receipt is answered.
    Receipt(oneshot::Receiver<()>),
}

/// Hands `response` to the session once `hold` is over (at once on shutdown), then writes
/// the submit's history line.
fn answer_later(
    shared: &Arc<Shared>,
    handle: &SessionHandle,
    response: Command,
    hold: Hold,
    line: Option<SubmitLine>,
) {
    let (task_shared, handle) = (shared.clone(), handle.clone());
    shared.tracker.spawn(async move {
        let shared = task_shared;
        let shutdown = shared.shutdown.clone();
        match hold {
            Hold::For(delay) => {
                tokio::select! {
                    _ = tokio::time::sleep(delay) => {}
                    _ = shutdown.cancelled() => {}
                }
            }
            Hold::Receipt(answered) => {
                tokio::select! {
                    _ = answered => {}
                    _ = tokio::time::sleep(RECEIPT_FIRST_LIMIT) => {}
                    _ = shutdown.cancelled() => {}
                }
            }
        }
        let answered = handle.respond(response);
        if let Some(mut line) = line {
            line.t_ms = unix_ms();
            line.answered = answered;
            shared.record(|| Event::Submit(line)).await;
        }
    });
}

/// What becomes of one submit.
struct Answer {
    response: Command,
    /// Held back before it is handed to the session.
    hold: Option<Hold>,
    /// Its history line, with history on (`answered` is filled in when it is handed over).
    line: Option<SubmitLine>,
}

/// One submit_sm being answered.
#[derive(Clone, Copy)]
struct Submit<'a> {
    shared: &'a Shared,
    account: &'a AccountRef,
    /// The bind (session log id) and the connection (history number) it came on.
    bind: u64,
    conn: u64,
    /// Its sequence number among all submits: its id and its fate follow from it.
    seq: u64,
    now: Instant,
    now_unix: i64,
    /// Unix milliseconds, only with history on.
    now_ms: u64,
}

impl Submit<'_> {
    fn answer(
        &self,
        command: &Command,
        fate: Fate,
        bucket: Option<&mut Bucket>,
        tally: &mut Tally,
        receipts: &mut Vec<Deliverable>,
    ) -> Answer {
        let sequence_number = command.sequence_number();
        let slots = &self.shared.counters.slots;
        let config = &self.shared.config;
        let history = self.shared.history.is_some();
        tally.submits += 1;
        let Some(Pdu::SubmitSm(submit)) = command.pdu() else {
            // The codec hands over submit_sm with a body only; anything else is our bug.
            let status = CommandStatus::EsmeRsyserr;
            if let Some(count) = tally.by_status.get_mut(slots.slot(status)) {
                *count += 1;
            }
            return Answer {
                response: error_response(CommandId::SubmitSm, sequence_number, status),
                hold: None,
                line: history.then(|| self.line(command, Some(status))),
            };
        };
        let concat = config.refuse_part.and_then(|_| concat(submit));
        let (status, refusal) = self.status(submit, concat, &fate, bucket);
        if let Some(count) = tally.by_status.get_mut(slots.slot(status)) {
            *count += 1;
        }
        let mut hold = None;
        if fate.slow {
            self.shared
                .counters
                .slow_answers
                .fetch_add(1, Ordering::Relaxed);
            hold = Some(Hold::For(config.slow_answer_delay));
        }
        let mut fault = if fate.slow {
            Some(Fault::SlowAnswer)
        } else {
            refusal.or(fate.disconnect.then_some(Fault::Disconnect))
        };
        let line = |status: CommandStatus, id: Option<u64>, fault: Option<Fault>| {
            history.then(|| SubmitLine {
                status: Some(status),
                id: id.map(|id| config.id_format.render(id)),
                fault,
                ..self.line(command, Some(status))
            })
        };
        if status != CommandStatus::EsmeRok {
            return Answer {
                response: error_response(CommandId::SubmitSm, sequence_number, status),
                hold,
                line: line(status, None, fault),
            };
        }
        let id = config.first_id.wrapping_add(self.seq);
        let user_data = submit.short_message().as_ref();
        let payload = message_payload(submit);
        let print = fingerprint(
            submit.source_addr.as_str().as_bytes(),
            submit.destination_addr.as_str().as_bytes(),
            &[user_data, payload],
        );
        if self.shared.dedup.seen_before(print) {
            tally.duplicates += 1;
        } else {
            tally.unique += 1;
        }
        if wants_receipt(u8::from(submit.registered_delivery), fate.state) {
            let content = if user_data.is_empty() {
                payload
            } else {
                user_data
            };
            // Only while the account can receive: else the receipt could not go first.
            let first = fate.receipt_first
                && !fate.slow
                && self.account.receivers.load(Ordering::Relaxed) > 0;
            let route = if config.receipt_other_bind > 0.0 {
                if fate.other_bind {
                    Route::Other(self.bind)
                } else {
                    Route::Same(self.bind)
                }
            } else {
                Route::Any
            };
            let mut answered = None;
            if first {
                let (tx, rx) = oneshot::channel();
                answered = Some(tx);
                hold = Some(Hold::Receipt(rx));
                fault = Some(Fault::ReceiptBeforeResp);
                self.shared
                    .counters
                    .receipts_before_resp
                    .fetch_add(1, Ordering::Relaxed);
            }
            if matches!(route, Route::Other(_)) {
                self.shared
                    .counters
                    .receipts_other_bind
                    .fetch_add(1, Ordering::Relaxed);
            }
            let receipt = Deliverable {
                due: if first {
                    self.now
                } else {
                    self.now + fate.delay
                },
                kind: Kind::Receipt {
                    id,
                    state: fate.state,
                    submit_unix: self.now_unix,
                },
                // A receipt travels back: from the handset to the sender.
                source: Addr {
                    ton: u8::from(submit.dest_addr_ton),
                    npi: u8::from(submit.dest_addr_npi),
                    value: Short::new(submit.destination_addr.as_str().as_bytes()),
                },
                destination: Addr {
                    ton: u8::from(submit.source_addr_ton),
                    npi: u8::from(submit.source_addr_npi),
                    value: Short::new(submit.source_addr.as_str().as_bytes()),
                },
                text: echo(
                    u8::from(submit.esm_class),
                    u8::from(submit.data_coding),
                    content,
                ),
                route,
                fault: match route {
                    Route::Other(_) => Some(Fault::ReceiptOtherBind),
                    _ if first => Some(Fault::ReceiptBeforeResp),
                    _ => None,
                },
                answered,
            };
            if fate.duplicate {
                self.shared
                    .counters
                    .receipts_duplicated
                    .fetch_add(1, Ordering::Relaxed);
                let copy = Deliverable {
                    fault: Some(Fault::DuplicateReceipts),
                    answered: None,
                    ..receipt
                };
                receipts.push(receipt);
                receipts.push(copy);
            } else {
                receipts.push(receipt);
            }
        }
        let message_id =
            COctetString::from_string(config.id_format.render(id)).unwrap_or_else(|_| {
                // Cannot happen: an id is at most 20 digits.
                COctetString::empty()
            });
        Answer {
            response: Command::new(
                CommandStatus::EsmeRok,
                sequence_number,
                Pdu::from(SubmitSmResp::new(message_id, Vec::new())),
            ),
            hold,
            line: line(status, Some(id), fault),
        }
    }

    /// The status of a submit that got this far, and the fault that refused it: a part
    /// refused once, a storm, the TPS cap, then the fate's error rates.
    fn status(
        &self,
        submit: &SubmitSm,
        concat: Option<ConcatInfo>,
        fate: &Fate,
        bucket: Option<&mut Bucket>,
    ) -> (CommandStatus, Option<Fault>) {
        let config = &self.shared.config;
        let counters = &self.shared.counters;
        if let (Some(part), Some(info)) = (config.refuse_part, concat) {
            let key = fingerprint(
                b"",
                submit.destination_addr.as_str().as_bytes(),
                &[&info.reference.to_be_bytes()],
            );
            if info.seq == part && !self.shared.parts_seen.seen_before(key) {
                counters.parts_refused.fetch_add(1, Ordering::Relaxed);
                return (config.refuse_part_status, Some(Fault::RefusePart));
            }
        }
        if self.in_storm() {
            counters.storm_refusals.fetch_add(1, Ordering::Relaxed);
            return (config.storm_status, Some(Fault::Storm));
        }
        if bucket.is_some_and(|bucket| !bucket.take(self.now)) {
            return (CommandStatus::EsmeRthrottled, Some(Fault::TpsCap));
        }
        (fate.status, fate.refusal)
    }

    /// Whether a storm window is open: the first `storm_length` of every `storm_every`
    /// since the start.
    fn in_storm(&self) -> bool {
        let config = &self.shared.config;
        let (Some(every), Some(length)) = (config.storm_every, config.storm_length) else {
            return false;
        };
        let since = self.now.saturating_duration_since(self.shared.started);
        since.as_nanos() % every.as_nanos().max(1) < length.as_nanos()
    }

    /// The history line of the submit in `command`, not yet answered.
    fn line(&self, command: &Command, status: Option<CommandStatus>) -> SubmitLine {
        let submit = match command.pdu() {
            Some(Pdu::SubmitSm(submit)) => Some(submit),
            _ => None,
        };
        let concat = submit.and_then(concat);
        SubmitLine {
            t_ms: self.now_ms,
            conn: self.conn,
            seq: command.sequence_number(),
            src: submit.map_or_else(String::new, |s| s.source_addr.as_str().to_owned()),
            dst: submit.map_or_else(String::new, |s| s.destination_addr.as_str().to_owned()),
            reference: concat.map(|c| c.reference),
            part: concat.map(|c| c.seq),
            parts: concat.map(|c| c.total),
            registered: submit.map_or(0, |s| u8::from(s.registered_delivery)),
            status,
            id: None,
            answered: false,
            fault: None,
        }
    }
}

/// Where the submit sits in a concatenated message: from the UDH (8- or 16-bit reference)
/// or the sar_* TLVs (SMPP 3.4 §5.3.2.22-24); numbers out of range count as none.
fn concat(submit: &SubmitSm) -> Option<ConcatInfo> {
    if u8::from(submit.esm_class) & UDHI != 0 {
        let short = submit.short_message().as_ref();
        let user_data = if short.is_empty() {
            message_payload(submit)
        } else {
            short
        };
        let found = udh::split_user_data(user_data)
            .ok()
            .and_then(|(header, _)| udh::parse_concat_udh(header).ok().flatten())
            .filter(|info| info.validate().is_ok());
        if found.is_some() {
            return found;
        }
    }
    let (mut reference, mut total, mut seq) = (None, None, None);
    for tlv in submit.tlvs() {
        match tlv.value() {
            Some(TlvValue::SarMsgRefNum(v)) => reference = Some(*v),
            Some(TlvValue::SarTotalSegments(v)) => total = Some(*v),
            Some(TlvValue::SarSegmentSeqnum(v)) => seq = Some(*v),
            _ => {}
        }
    }
    let info = ConcatInfo {
        reference: reference?,
        total: total?,
        seq: seq?,
    };
    info.validate().is_ok().then_some(info)
}

fn message_payload(submit: &SubmitSm) -> &[u8] {
    submit
        .tlvs()
        .iter()
        .find_map(|tlv| match tlv.value() {
            Some(TlvValue::MessagePayload(payload)) => Some(payload.value.as_ref()),
            _ => None,
        })
        .unwrap_or(&[])
}

/// registered_delivery bits 1-0 (SMPP 3.4 §5.2.17): 1 any final outcome, 2 failures only,
/// 3 successes only (SMPP 5.0).
fn wants_receipt(registered_delivery: u8, state: MessageState) -> bool {
    match registered_delivery & 0x03 {
        1 => true,
        2 => state != MessageState::Delivered,
        3 => state == MessageState::Delivered,
        _ => false,
    }
}

/// The first 20 characters of the message for the receipt's `text:`, with anything a
/// receipt could not carry as plain ASCII turned into `?`.
fn echo(esm_class: u8, data_coding: u8, user_data: &[u8]) -> Short<20> {
    let body = if esm_class & UDHI != 0 {
        udh::split_user_data(user_data).map_or(&[][..], |(_, body)| body)
    } else {
        user_data
    };
    // Enough units for 20 characters even when each is an escape pair or a surrogate pair.
    let head = &body[..body.len().min(80)];
    let text = match data_coding {
        0 => gsm7::decode(head),
        8 => ucs2::decode(&head[..head.len() & !1]).unwrap_or_default(),
        1 | 3 => latin1::decode(head),
        _ => String::new(),
    };
    let mut out = [0u8; 20];
    let mut len = 0;
    for (slot, c) in out.iter_mut().zip(text.chars()) {
        *slot = if c.is_ascii_alphanumeric() || " .,:;!?'\"()+-/=*#%&<>".contains(c) {
            c as u8
        } else {
            b'?'
        };
        len += 1;
    }
    Short::new(&out[..len])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn receipts_follow_registered_delivery() {
        assert!(!wants_receipt(0, MessageState::Delivered));
        assert!(wants_receipt(1, MessageState::Expired));
        assert!(!wants_receipt(2, MessageState::Delivered));
        assert!(wants_receipt(2, MessageState::Undeliverable));
        assert!(wants_receipt(3, MessageState::Delivered));
        assert!(
            wants_receipt(0x11, MessageState::Delivered),
            "intermediate bit ignored"
        );
    }

    #[test]
    fn echo_skips_the_udh_and_keeps_ascii() {
        let mut user_data = vec![0x05, 0x00, 0x03, 0x2A, 0x02, 0x01];
        user_data.extend(gsm7::encode("Hello {world} and more text").unwrap());
        let text = echo(UDHI, 0, &user_data);
        assert_eq!(text.as_bytes(), b"Hello ?world? and mo");
        let text = echo(0, 8, &ucs2::encode("Привет ok"));
        assert_eq!(text.as_bytes(), b"?????? ok");
    }
}
