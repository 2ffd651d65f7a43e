//! DlrCorrelator: an operator's receipt, matched by (link, operator message id) to the part
//! it reports on, gives that part its state; when the message's last part is final, the
//! customer's receipt is held durably and handed to the outbox. The operator's
//! deliver_sm_resp is sent only after all that is durable, so a crash makes the operator
//! send the receipt again instead of losing it.
//!
//! A receipt can overtake the submit_sm_resp of its own message (the operator answers the
//! submit late, or on another bind). Such a receipt waits here, bounded and with a TTL, and
//! is matched when the link reports the part submitted.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use ractor::{Actor, ActorProcessingErr, ActorRef};
use tern_model::DeliveryReport;
use tern_smpp::mapping;
use tern_smpp::net::SessionHandle;
use tern_smpp::receipt;
use tern_smpp::rusmpp::pdus::{DataSmResp, DeliverSmResp};
use tern_smpp::{Command, CommandStatus, Pdu};
use tern_storage::{RecordState, WriteOp};
use tokio::time::Instant;
use tracing::{debug, warn};

use crate::context::Context;
use crate::link::LinkConfig;
use crate::outcome;

const EARLY_TTL: Duration = Duration::from_secs(120);
const MAX_EARLY: usize = 20_000;

// Messages move once into the mailbox; boxing the large variant would cost an allocation
// per receipt.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
pub enum CorrelatorMsg {
    /// A receipt from an operator; answer it through `handle`.
    Receipt {
        link: Arc<LinkConfig>,
        command: Command,
        handle: SessionHandle,
    },
    /// A part was submitted and indexed: receipts that came early can match now.
    Submitted { link: String, operator_id: String },
}

pub struct Correlator;

struct Early {
    report: DeliveryReport,
    handle: SessionHandle,
    command: Command,
    at: Instant,
}

pub struct CorrelatorState {
    ctx: Arc<Context>,
    early: HashMap<(String, String), Early>,
    early_order: VecDeque<(Instant, (String, String))>,
}

fn ok_response(command: &Command) -> Command {
    let seq = command.sequence_number();
    match command.pdu() {
        Some(Pdu::DataSm(_)) => Command::new(CommandStatus::EsmeRok, seq, DataSmResp::default()),
        _ => Command::new(CommandStatus::EsmeRok, seq, DeliverSmResp::default()),
    }
}

impl CorrelatorState {
    fn expire_early(&mut self) {
        let now = Instant::now();
        while let Some((at, key)) = self.early_order.front() {
            if now.duration_since(*at) < EARLY_TTL && self.early.len() <= MAX_EARLY {
                break;
            }
            let key = key.clone();
            self.early_order.pop_front();
            if let Some(early) = self.early.remove(&key) {
                // Never matched: acknowledge so the operator stops resending, and count it.
                metrics::counter!("tern_receipts_unmatched_total", "link" => key.0.clone())
                    .increment(1);
                warn!(
                    link = key.0,
                    operator_id = key.1,
                    "receipt matched no message"
                );
                early.handle.respond(ok_response(&early.command));
            }
        }
    }

    fn receipt(&mut self, link: &LinkConfig, command: Command, handle: SessionHandle) {
        let report = match command.pdu() {
            Some(Pdu::DeliverSm(d)) => mapping::deliver_sm_to_report(d),
            Some(Pdu::DataSm(d)) => mapping::data_sm_to_report(d),
            _ => return,
        };
        let report = match report {
            Ok(report) => report,
            Err(error) => {
                metrics::counter!("tern_receipts_unparsable_total", "link" => link.name.clone())
                    .increment(1);
                warn!(link = link.name, %error, "receipt not understood");
                // Acknowledged: resending it would not make it readable.
                handle.respond(ok_response(&command));
                return;
            }
        };
        let key = (
            link.name.clone(),
            receipt::normalise(&report.message_id, link.receipt_ids),
        );
        self.apply(key, report, command, handle);
    }

    fn apply(
        &mut self,
        key: (String, String),
        report: DeliveryReport,
        command: Command,
        handle: SessionHandle,
    ) {
        let owner = match self.ctx.store.receipt_owner(&key.0, &key.1) {
            Ok(owner) => owner,
            Err(error) => {
                warn!(%error, "receipt index unreadable");
                handle.respond(tern_smpp::session::error_response(
                    command.id(),
                    command.sequence_number(),
                    CommandStatus::EsmeRxTAppn,
                ));
                return;
            }
        };
        let Some((id, part)) = owner else {
            self.expire_early();
            metrics::counter!("tern_receipts_early_total").increment(1);
            self.early_order.push_back((Instant::now(), key.clone()));
            self.early.insert(
                key,
                Early {
                    report,
                    handle,
                    command,
                    at: Instant::now(),
                },
            );
            return;
        };
        let record = match self.ctx.store.message(id, part) {
            Ok(Some(record)) => record,
            Ok(None) => {
                handle.respond(ok_response(&command));
                return;
            }
            Err(error) => {
                warn!(%error, "message record unreadable");
                handle.respond(tern_smpp::session::error_response(
                    command.id(),
                    command.sequence_number(),
                    CommandStatus::EsmeRxTAppn,
                ));
                return;
            }
        };
        let state = outcome::record_state(report.state);
        let mut updated = outcome::transition(
            &record,
            if state == RecordState::Submitted {
                record.state
            } else {
                state
            },
            format!("receipt {}", report.state.stat_word()),
        );
        updated.receipt = Some(report.clone());
        let mut ops = vec![WriteOp::PutMessage(std::sync::Arc::new(updated.clone()))];
        let mut held = None;
        if report.state.is_final() {
            ops.push(WriteOp::RemoveReceiptIndex {
                link: key.0.clone(),
                operator_id: key.1.clone(),
            });
            held = outcome::customer_receipt(&self.ctx, &updated);
            if let Some(h) = &held {
                ops.push(WriteOp::Hold(Box::new(h.clone())));
            }
        }
        metrics::counter!("tern_receipts_matched_total", "link" => key.0.clone()).increment(1);
        debug!(message_id = %id, part, state = report.state.stat_word(), "receipt matched");
        let ctx = self.ctx.clone();
        let written = self.ctx.store.write(
            ops,
            Box::new(move |result| match result {
                Ok(()) => {
                    handle.respond(ok_response(&command));
                    outcome::hand_to_outbox(&ctx, held);
                }
                Err(_) => {
                    handle.respond(tern_smpp::session::error_response(
                        command.id(),
                        command.sequence_number(),
                        CommandStatus::EsmeRxTAppn,
                    ));
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
        let _ = myself;
        Ok(CorrelatorState {
            ctx,
            early: HashMap::new(),
            early_order: VecDeque::new(),
        })
    }

    async fn handle(
        &self,
        _myself: ActorRef<CorrelatorMsg>,
        message: CorrelatorMsg,
        state: &mut CorrelatorState,
    ) -> Result<(), ActorProcessingErr> {
        match message {
            CorrelatorMsg::Receipt {
                link,
                command,
                handle,
            } => state.receipt(&link, command, handle),
            CorrelatorMsg::Submitted { link, operator_id } => {
                let key = (link, operator_id);
                if let Some(early) = state.early.remove(&key) {
                    metrics::counter!("tern_receipts_early_matched_total").increment(1);
                    let _ = early.at;
                    state.apply(key, early.report, early.command, early.handle);
                }
            }
        }
        Ok(())
    }
}
