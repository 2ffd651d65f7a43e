//! DlrCorrelator: an operator's receipt, matched by (link, operator message id) to the part
//! it reports on, gives that part its state; when the message's last part is final, the
//! customer's receipt is held durably and handed to the outbox. The operator's receipt is
//! answered (deliver_sm_resp, DELIVER_RESP, ...) only after all that is durable, so a crash
//! makes the operator send the receipt again instead of losing it.
//!
//! A receipt can overtake the answer to its own message's submit (the operator answers the
//! submit late, or on another bind). Such a receipt waits here for the link to report the
//! part submitted, unanswered, for at most `EARLY_HOLD`: long enough for
//! the SUBMITTED write it races (a group commit), short enough that receipts which can
//! never match (for the operator's second copy of a message resent after a crash) do not
//! stall the operator's window. Past the hold it is acknowledged and kept, unanswered no
//! longer, for a late match until `EARLY_TTL`; only a crash inside that late window loses it.
//! In a cluster the part may have been submitted by another node, whose report of it
//! reaches only its own correlator: early receipts are then looked up in the shared store
//! again every tick.
//!
//! Operators send a receipt again (a lost answer, a reconnect, a plain duplicate).
//! A part that already has its final state keeps it: a second final receipt for it is
//! acknowledged and dropped, so the customer hears of each message once. The check is on
//! the stored record, and, for a copy that comes while the first copy's write is still in
//! flight, on the keys this node made final in the last `FINAL_TTL`; a key whose write
//! failed is taken out again, so the operator's resend of it is not dropped.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use ractor::{Actor, ActorProcessingErr, ActorRef};
use tern_model::DeliveryReport;
use tern_storage::{RecordState, WriteOp};
use tokio::time::Instant;
use tracing::{debug, warn};

use crate::context::Context;
use crate::outcome;
use crate::protocol::ReceiptReply;

const EARLY_TTL: Duration = Duration::from_secs(120);
/// How long an early receipt stays unanswered.
const EARLY_HOLD: Duration = Duration::from_secs(2);
const MAX_EARLY: usize = 20_000;
/// Early receipts looked up again per tick in a cluster (see `recheck_early`).
const RECHECK_PER_TICK: usize = 256;
/// How long a key made final is remembered in memory (the stored record covers the rest).
const FINAL_TTL: Duration = Duration::from_secs(600);
const MAX_FINALS: usize = 200_000;

#[derive(Debug)]
pub enum CorrelatorMsg {
    /// A receipt from an operator's link, keyed as its part was indexed; answered through
    /// `reply` once its effect is durable.
    Report {
        link: String,
        key: String,
        report: DeliveryReport,
        reply: Box<dyn ReceiptReply>,
    },
    /// A part was submitted and indexed: receipts that came early can match now.
    Submitted { link: String, operator_id: String },
    /// Forget early receipts past their TTL.
    Tick,
}

pub struct Correlator;

struct Early {
    report: DeliveryReport,
    at: Instant,
    /// Unanswered until matched or `EARLY_HOLD` has passed.
    ack: Ack,
}

/// How a receipt is answered, while it is unanswered.
type Ack = Option<Box<dyn ReceiptReply>>;

pub struct CorrelatorState {
    ctx: Arc<Context>,
    early: HashMap<(String, String), Early>,
    early_order: VecDeque<(Instant, (String, String))>,
    /// Early receipts still unanswered, in arrival order.
    holds: VecDeque<(Instant, (String, String))>,
    finals: Arc<Mutex<Finals>>,
}

/// Receipt keys this node made final lately, bounded in count and age.
#[derive(Default)]
struct Finals {
    at: HashMap<(String, String), Instant>,
    order: VecDeque<(Instant, (String, String))>,
}

impl Finals {
    fn insert(&mut self, key: (String, String)) {
        let now = Instant::now();
        self.at.insert(key.clone(), now);
        self.order.push_back((now, key));
        while let Some((at, key)) = self.order.front() {
            if now.duration_since(*at) < FINAL_TTL && self.at.len() <= MAX_FINALS {
                break;
            }
            if self.at.get(key) == Some(at) {
                self.at.remove(key);
            }
            self.order.pop_front();
        }
    }

    fn contains(&self, key: &(String, String)) -> bool {
        self.at.get(key).is_some_and(|at| at.elapsed() < FINAL_TTL)
    }

    fn remove(&mut self, key: &(String, String)) {
        self.at.remove(key);
    }
}

/// A final receipt for a part that has its final state already: acknowledged, dropped.
fn duplicate(key: &(String, String), ack: Ack) {
    metrics::counter!("tern_receipts_duplicate_total", "link" => key.0.clone()).increment(1);
    debug!(
        link = key.0,
        operator_id = key.1,
        "receipt for a final part dropped"
    );
    if let Some(reply) = ack {
        reply.ok();
    }
}

impl CorrelatorState {
    fn made_final(&self, key: &(String, String)) -> bool {
        self.finals
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .contains(key)
    }

    fn expire_early(&mut self) {
        let now = Instant::now();
        while let Some((at, key)) = self.holds.front() {
            if now.duration_since(*at) < EARLY_HOLD {
                break;
            }
            let (at, key) = (*at, key.clone());
            self.holds.pop_front();
            // Matched or replaced since: nothing to answer here.
            if let Some(early) = self.early.get_mut(&key).filter(|e| e.at == at) {
                if let Some(reply) = early.ack.take() {
                    reply.ok();
                }
            }
        }
        while let Some((at, key)) = self.early_order.front() {
            if now.duration_since(*at) < EARLY_TTL && self.early.len() <= MAX_EARLY {
                break;
            }
            let (at, key) = (*at, key.clone());
            self.early_order.pop_front();
            if self.early.get(&key).is_some_and(|e| e.at == at) {
                if let Some(early) = self.early.remove(&key) {
                    self.ctx.early_receipts.fetch_sub(1, Ordering::SeqCst);
                    if let Some(reply) = early.ack {
                        reply.ok();
                    }
                }
                metrics::counter!("tern_receipts_unmatched_total", "link" => key.0.clone())
                    .increment(1);
                warn!(
                    link = key.0,
                    operator_id = key.1,
                    "receipt matched no message"
                );
            }
        }
    }

    /// In a cluster a receipt may come in on a bind of another node than the one that
    /// submitted its part, and that node's report of the part reaches only its own
    /// correlator: early receipts here are looked up in the store again.
    async fn recheck_early(&mut self) {
        let keys: Vec<(String, String)> = self
            .early_order
            .iter()
            .filter(|(at, key)| self.early.get(key).is_some_and(|e| e.at == *at))
            .take(RECHECK_PER_TICK)
            .map(|(_, key)| key.clone())
            .collect();
        for key in keys {
            if !matches!(
                self.ctx.store.receipt_owner(&key.0, &key.1).await,
                Ok(Some(_))
            ) {
                continue;
            }
            if let Some(early) = self.early.remove(&key) {
                self.ctx.early_receipts.fetch_sub(1, Ordering::SeqCst);
                metrics::counter!("tern_receipts_early_matched_total").increment(1);
                self.apply(key, early.report, early.ack).await;
            }
        }
    }

    async fn apply(&mut self, key: (String, String), report: DeliveryReport, ack: Ack) {
        let refuse = |ack: Ack| {
            if let Some(reply) = ack {
                reply.retry();
            }
        };
        if report.state.is_final() && self.made_final(&key) {
            return duplicate(&key, ack);
        }
        // Counted before the index is read: a link that makes the index entry durable after
        // this read then sees the count and reports the part (SeqCst orders the two).
        self.ctx.early_receipts.fetch_add(1, Ordering::SeqCst);
        let owner = self.ctx.store.receipt_owner(&key.0, &key.1).await;
        if !matches!(owner, Ok(None)) {
            self.ctx.early_receipts.fetch_sub(1, Ordering::SeqCst);
        }
        let owner = match owner {
            Ok(owner) => owner,
            Err(error) => {
                warn!(%error, "receipt index unreadable");
                return refuse(ack);
            }
        };
        let Some((id, part)) = owner else {
            self.expire_early();
            metrics::counter!("tern_receipts_early_total").increment(1);
            let at = Instant::now();
            self.early_order.push_back((at, key.clone()));
            self.holds.push_back((at, key.clone()));
            let replaced = self.early.insert(key, Early { report, at, ack });
            // The same receipt sent again: the first copy is answered now.
            if let Some(replaced) = replaced {
                self.ctx.early_receipts.fetch_sub(1, Ordering::SeqCst);
                if let Some(reply) = replaced.ack {
                    reply.ok();
                }
            }
            return;
        };
        let record = match self.ctx.store.message(id, part).await {
            Ok(Some(record)) => record,
            Ok(None) => {
                if let Some(reply) = ack {
                    reply.ok();
                }
                return;
            }
            Err(error) => {
                warn!(%error, "message record unreadable");
                return refuse(ack);
            }
        };
        if report.state.is_final()
            && record.state.is_final()
            && record.receipt.as_ref().is_some_and(|r| r.state.is_final())
        {
            return duplicate(&key, ack);
        }
        let state = outcome::record_state(report.state);
        let next = if state == RecordState::Submitted {
            record.state
        } else {
            state
        };
        let mut updated = outcome::transition(
            &record,
            next,
            format!("receipt {}", report.state.stat_word()),
        );
        updated.receipt = Some(report.clone());
        let mut held = None;
        // The index entry goes only once the final state and the customer's receipt are
        // durable, in a write of its own: a write whose outcome is unknown (a database
        // that did not confirm) may have applied any part of it, and a receipt the
        // operator sends again must still find its message then.
        let mut forget = None;
        let mut finals = None;
        if report.state.is_final() {
            self.finals
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .insert(key.clone());
            finals = Some((self.finals.clone(), key.clone()));
            forget = Some(WriteOp::RemoveReceiptIndex {
                link: key.0.clone(),
                operator_id: key.1.clone(),
            });
            held = outcome::customer_receipt(&self.ctx, &updated).await;
        }
        let (updated, ops) = outcome::with_receipt(updated, held.as_ref());
        // A long message's last open part may have finished on another node just now.
        let recheck = report.state.is_final() && held.is_none() && updated.parts > 1;
        let updated_again = updated.clone();
        let runtime = tokio::runtime::Handle::current();
        metrics::counter!("tern_receipts_matched_total", "link" => key.0.clone()).increment(1);
        debug!(message_id = %id, part, state = report.state.stat_word(), "receipt matched");
        let ctx = self.ctx.clone();
        // The operator hears back only once the new state is durable: a crash before that
        // makes it send the receipt again.
        let written = self.ctx.store.write(
            ops,
            Box::new(move |result| match result {
                Ok(()) => {
                    if let Some(reply) = ack {
                        reply.ok();
                    }
                    if let Some(forget) = forget {
                        // Best effort: an entry left behind expires, and a receipt sent
                        // again for it is matched again, harmlessly.
                        let _ = ctx.store.write_deferred(vec![forget], Box::new(|_| {}));
                    }
                    outcome::hand_to_outbox(&ctx, held);
                    if recheck {
                        outcome::recheck_receipt(&runtime, ctx, updated_again);
                    }
                }
                Err(_) => {
                    // Not final after all: the operator's resend must be matched.
                    if let Some((finals, key)) = finals {
                        finals
                            .lock()
                            .unwrap_or_else(PoisonError::into_inner)
                            .remove(&key);
                    }
                    refuse(ack)
                }
            }),
        );
        if written.is_err() {
            metrics::counter!("tern_receipts_deferred_total").increment(1);
        }
    }
}

impl Actor for Correlator {
    type Msg = CorrelatorMsg;
    type State = CorrelatorState;
    type Arguments = Arc<Context>;

    async fn pre_start(
        &self,
        myself: ActorRef<CorrelatorMsg>,
        ctx: Arc<Context>,
    ) -> Result<CorrelatorState, ActorProcessingErr> {
        myself.send_interval(Duration::from_millis(250), || CorrelatorMsg::Tick);
        Ok(CorrelatorState {
            ctx,
            early: HashMap::new(),
            early_order: VecDeque::new(),
            holds: VecDeque::new(),
            finals: Arc::default(),
        })
    }

    async fn handle(
        &self,
        _myself: ActorRef<CorrelatorMsg>,
        message: CorrelatorMsg,
        state: &mut CorrelatorState,
    ) -> Result<(), ActorProcessingErr> {
        match message {
            CorrelatorMsg::Report {
                link,
                key,
                report,
                reply,
            } => state.apply((link, key), report, Some(reply)).await,
            CorrelatorMsg::Submitted { link, operator_id } => {
                let key = (link, operator_id);
                if let Some(early) = state.early.remove(&key) {
                    state.ctx.early_receipts.fetch_sub(1, Ordering::SeqCst);
                    metrics::counter!("tern_receipts_early_matched_total").increment(1);
                    state.apply(key, early.report, early.ack).await;
                }
            }
            CorrelatorMsg::Tick => {
                state.expire_early();
                if !state.ctx.membership.is_standalone() {
                    state.recheck_early().await;
                }
            }
        }
        Ok(())
    }
}
