//! One bound ESME: its submits are answered in batches (every event already queued is taken
//! at once), with the status the submit's fate and the bind's TPS cap decide; accepted
//! submits that ask for a receipt hand it to the account's queue, one batch per turn.
//! The bind's slot goes back as soon as the session's close is seen, before anything else
//! that could wait.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use tern_encoding::{gsm7, latin1, ucs2, udh};
use tern_model::MessageState;
use tern_smpp::net::{SessionEvent, SessionHandle};
use tern_smpp::rusmpp::pdus::{SubmitSm, SubmitSmResp};
use tern_smpp::rusmpp::tlvs::TlvValue;
use tern_smpp::rusmpp::types::COctetString;
use tern_smpp::session::{error_response, BindKind};
use tern_smpp::{Command, CommandId, CommandStatus, Pdu};
use tokio::sync::mpsc;
use tokio::time::Instant;

use super::account::{unix_now, AccountMsg, Addr, Deliverable, Kind, Short};
use super::binds::BindSlot;
use super::dedup::fingerprint;
use super::{AccountRef, Shared};

/// Events taken from the session at once.
const BATCH: usize = 256;

/// esm_class bit 6: the user data starts with a UDH (SMPP 3.4 §5.2.12).
const UDHI: u8 = 0x40;

/// The random choices for one submit. All of them are drawn for every submit, so each
/// submit consumes the same draws and the totals depend only on the seed.
struct Fate {
    status: CommandStatus,
    disconnect: bool,
    state: MessageState,
    delay: Duration,
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

        let permanent = config.permanent_error_rate;
        let transient = permanent + config.transient_error_rate;
        let throttled = transient + config.throttle_rate;
        let status = if outcome < permanent {
            config.permanent_error_status
        } else if outcome < transient {
            CommandStatus::EsmeRsyserr
        } else if outcome < throttled {
            CommandStatus::EsmeRthrottled
        } else {
            CommandStatus::EsmeRok
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
            disconnect,
            state,
            delay,
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
        self.submits = 0;
        self.unique = 0;
        self.duplicates = 0;
    }
}

/// Serves one bound session until it closes.
pub(crate) async fn run(
    shared: Arc<Shared>,
    account: Arc<AccountRef>,
    slot: BindSlot,
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
    };
    let mut batch = Vec::with_capacity(BATCH);
    let mut disconnecting = false;
    loop {
        if events.recv_many(&mut batch, BATCH).await == 0 {
            break;
        }
        let submits = batch
            .iter()
            .filter(|e| matches!(e, SessionEvent::Request(c) if c.id() == CommandId::SubmitSm))
            .count() as u64;
        let mut seq = shared.submit_seq.fetch_add(submits, Ordering::Relaxed);
        let now = Instant::now();
        let now_unix = unix_now();
        let mut receipts = Vec::new();
        let mut disconnect = false;
        let mut closed = false;
        for event in batch.drain(..) {
            match event {
                SessionEvent::Request(command) if command.id() == CommandId::SubmitSm => {
                    let fate = shared.fate(seq);
                    disconnect |= fate.disconnect;
                    let submit = Submit {
                        shared: &shared,
                        seq,
                        now,
                        now_unix,
                    };
                    seq += 1;
                    let response =
                        submit.answer(&command, fate, bucket.as_mut(), &mut tally, &mut receipts);
                    handle.respond(response);
                }
                SessionEvent::Request(command) => {
                    handle.respond(error_response(
                        command.id(),
                        command.sequence_number(),
                        CommandStatus::EsmeRinvcmdid,
                    ));
                }
                SessionEvent::LateResponse { .. } => {}
                SessionEvent::Closed { .. } => closed = true,
            }
        }
        tally.flush(&shared);
        if let Some(slot) = &slot {
            slot.submitted(submits);
        }
        if closed {
            // The session is gone: the account may bind again at once.
            drop(slot.take());
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
        if disconnect && !disconnecting && !closed {
            disconnecting = true;
            counters.disconnects.fetch_add(1, Ordering::Relaxed);
            handle.unbind().await;
        }
        if closed {
            break;
        }
    }
    if kind.can_receive() {
        account.receivers.fetch_sub(1, Ordering::Relaxed);
        let _ = account.tx.send(AccountMsg::Unbound { bind }).await;
    }
    counters.binds_open.fetch_sub(1, Ordering::Relaxed);
}

/// One submit_sm being answered.
struct Submit<'a> {
    shared: &'a Shared,
    /// Its sequence number among all submits: its id and its fate follow from it.
    seq: u64,
    now: Instant,
    now_unix: i64,
}

impl Submit<'_> {
    fn answer(
        &self,
        command: &Command,
        fate: Fate,
        bucket: Option<&mut Bucket>,
        tally: &mut Tally,
        receipts: &mut Vec<Deliverable>,
    ) -> Command {
        let sequence_number = command.sequence_number();
        let slots = &self.shared.counters.slots;
        tally.submits += 1;
        let status = match command.pdu() {
            Some(Pdu::SubmitSm(_)) => {
                let capped = bucket.is_some_and(|bucket| !bucket.take(self.now));
                if capped {
                    CommandStatus::EsmeRthrottled
                } else {
                    fate.status
                }
            }
            // The codec hands over submit_sm with a body only; anything else is our bug.
            _ => CommandStatus::EsmeRsyserr,
        };
        if let Some(count) = tally.by_status.get_mut(slots.slot(status)) {
            *count += 1;
        }
        let Some(Pdu::SubmitSm(submit)) =
            command.pdu().filter(|_| status == CommandStatus::EsmeRok)
        else {
            return error_response(CommandId::SubmitSm, sequence_number, status);
        };
        let config = &self.shared.config;
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
            receipts.push(Deliverable {
                due: self.now + fate.delay,
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
            });
        }
        let message_id =
            COctetString::from_string(config.id_format.render(id)).unwrap_or_else(|_| {
                // Cannot happen: an id is at most 20 digits.
                COctetString::empty()
            });
        Command::new(
            CommandStatus::EsmeRok,
            sequence_number,
            Pdu::from(SubmitSmResp::new(message_id, Vec::new())),
        )
    }
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
