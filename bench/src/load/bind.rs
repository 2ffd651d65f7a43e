//! One bind of a load run: a task that keeps up to a window of submit_sm in flight, records
//! their latencies, answers every deliver_sm and matches receipts. One task per bind, no
//! task per message: the requests in flight are futures polled by this task.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use futures::stream::FuturesUnordered;
use futures::StreamExt;
use hdrhistogram::Histogram;
use tern_smpp::net::{Client, ClientEvent, RequestError};
use tern_smpp::receipt::{is_receipt, parse_text, receipted_message_id};
use tern_smpp::rusmpp::pdus::{DataSmResp, DeliverSmResp};
use tern_smpp::session::error_response;
use tern_smpp::{Command, CommandStatus, Pdu};
use tokio::sync::mpsc;
use tokio::time::Instant;

use super::schedule::Schedule;
use super::Run;

/// Lateness of a scheduled send that is put down to the timer (tokio's timers tick in
/// milliseconds) rather than charged as latency.
pub(crate) const TIMER_SLACK: Duration = Duration::from_millis(2);

/// What one bind did.
pub(crate) struct BindOutcome {
    pub submit_latency: Histogram<u64>,
    pub receipt_latency: Histogram<u64>,
    /// Open loop: how far behind its due time each submit went out.
    pub send_lag: Histogram<u64>,
    pub by_status: HashMap<u32, u64>,
    pub timeouts: u64,
    pub closed: u64,
    pub not_sent: u64,
    pub late_sends: u64,
    pub late_responses: u64,
    pub receipts_unreadable: u64,
    pub mo_received: u64,
    pub ups: u64,
    pub last_response: Option<Instant>,
    pub last_receipt: Option<Instant>,
}

impl BindOutcome {
    /// Nothing done yet; histograms with the run's bounds.
    pub(crate) fn new(histogram: &Histogram<u64>) -> Self {
        Self {
            submit_latency: histogram.clone(),
            receipt_latency: histogram.clone(),
            send_lag: histogram.clone(),
            by_status: HashMap::new(),
            timeouts: 0,
            closed: 0,
            not_sent: 0,
            late_sends: 0,
            late_responses: 0,
            receipts_unreadable: 0,
            mo_received: 0,
            ups: 0,
            last_response: None,
            last_receipt: None,
        }
    }
}

struct Done {
    /// The latency reference: when the submit was sent, or was due to be.
    start: Instant,
    receipt: bool,
    result: Result<Command, RequestError>,
}

async fn submit(client: Client, pdu: Pdu, start: Instant, receipt: bool) -> Done {
    Done {
        start,
        receipt,
        result: client.request(pdu).await,
    }
}

pub(crate) fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX).max(1)
}

pub(crate) async fn run(
    run: Arc<Run>,
    index: usize,
    client: Client,
    mut events: mpsc::Receiver<ClientEvent>,
    t0: Instant,
) -> BindOutcome {
    let config = &run.config;
    let mut out = BindOutcome::new(&run.histogram);
    let window = config.window;
    let mut schedule = Schedule::new(config, index, t0);
    // When the window was last full: a send due before then was held back by the system.
    let mut last_full = t0 - Duration::from_secs(1);
    let mut inflight = FuturesUnordered::new();
    let mut parts: VecDeque<(Pdu, Option<Instant>)> = VecDeque::new();
    let mut sending = true;
    let mut events_open = true;
    let mut reported = false;
    loop {
        while sending && inflight.len() < window {
            if parts.is_empty() {
                if run.stop.is_cancelled() {
                    sending = false;
                    break;
                }
                if !schedule.is_due(Instant::now()) {
                    break;
                }
                let Some(n) = run.ticket() else {
                    sending = false;
                    break;
                };
                let due = schedule.take();
                parts.extend(run.shape.submits(n).into_iter().map(|pdu| (pdu, due)));
            }
            let Some((pdu, due)) = parts.pop_front() else {
                break;
            };
            let now = Instant::now();
            if let Some(due) = due {
                out.send_lag
                    .saturating_record(micros(now.saturating_duration_since(due)));
            }
            let start = match due {
                None => now,
                Some(due) if last_full >= due => due,
                Some(due) if now.saturating_duration_since(due) > TIMER_SLACK => {
                    out.late_sends += 1;
                    due
                }
                Some(_) => now,
            };
            run.live.sent.fetch_add(1, Ordering::Relaxed);
            inflight.push(submit(
                client.clone(),
                pdu,
                start,
                config.registered_delivery,
            ));
        }
        if !sending && parts.is_empty() && inflight.is_empty() && !reported {
            reported = true;
            run.bind_done();
        }
        let await_schedule =
            sending && schedule.is_open_loop() && parts.is_empty() && inflight.len() < window;
        tokio::select! {
            Some(done) = inflight.next(), if !inflight.is_empty() => {
                let now = Instant::now();
                if inflight.len() + 1 >= window {
                    last_full = now;
                }
                record(&run, &mut out, done, now);
            }
            event = events.recv(), if events_open => match event {
                Some(event) => handle_event(&run, &mut out, event),
                None => events_open = false,
            },
            _ = tokio::time::sleep_until(schedule.next_due()), if await_schedule => {}
            _ = run.stop.cancelled(), if sending => sending = false,
            _ = run.finish.cancelled() => break,
        }
    }
    out
}

fn record(run: &Run, out: &mut BindOutcome, done: Done, now: Instant) {
    match done.result {
        Ok(response) => {
            out.last_response = Some(now);
            out.submit_latency
                .saturating_record(micros(now.saturating_duration_since(done.start)));
            let status = response.status();
            *out.by_status.entry(u32::from(status)).or_default() += 1;
            run.live.answered.fetch_add(1, Ordering::Relaxed);
            if status != CommandStatus::EsmeRok {
                return;
            }
            run.live.ok.fetch_add(1, Ordering::Relaxed);
            if !done.receipt {
                return;
            }
            if let Some(Pdu::SubmitSmResp(resp)) = response.pdu() {
                if let Some(latency) = run
                    .correlator
                    .submitted(resp.message_id().as_str(), done.start)
                {
                    out.receipt_latency.saturating_record(micros(latency));
                    out.last_receipt = out.last_receipt.max(Some(done.start + latency));
                }
            }
        }
        Err(RequestError::Timeout { .. }) => out.timeouts += 1,
        Err(RequestError::Closed) => out.closed += 1,
        Err(RequestError::NotSent(_)) => out.not_sent += 1,
    }
}

fn handle_event(run: &Run, out: &mut BindOutcome, event: ClientEvent) {
    match event {
        ClientEvent::Up { .. } => out.ups += 1,
        ClientEvent::Down { .. } => {}
        ClientEvent::LateResponse { .. } => out.late_responses += 1,
        ClientEvent::Request { command, handle } => {
            let now = Instant::now();
            let sequence_number = command.sequence_number();
            let response = match command.pdu() {
                Some(Pdu::DeliverSm(_)) => Command::new(
                    CommandStatus::EsmeRok,
                    sequence_number,
                    Pdu::from(DeliverSmResp::default()),
                ),
                Some(Pdu::DataSm(_)) => Command::new(
                    CommandStatus::EsmeRok,
                    sequence_number,
                    Pdu::from(DataSmResp::default()),
                ),
                _ => error_response(command.id(), sequence_number, CommandStatus::EsmeRinvcmdid),
            };
            handle.respond(response);
            let Some(Pdu::DeliverSm(deliver)) = command.pdu() else {
                return;
            };
            if !is_receipt(u8::from(deliver.esm_class)) {
                out.mo_received += 1;
                return;
            }
            let id = receipted_message_id(deliver.tlvs())
                .map(str::to_owned)
                .or_else(|| {
                    let text = std::str::from_utf8(deliver.short_message().as_ref()).ok()?;
                    parse_text(text).ok().map(|report| report.message_id)
                });
            match id {
                Some(id) => {
                    run.live.receipts.fetch_add(1, Ordering::Relaxed);
                    if let Some(latency) = run.correlator.received(&id, now) {
                        out.receipt_latency.saturating_record(micros(latency));
                        out.last_receipt = Some(now);
                    }
                }
                None => out.receipts_unreadable += 1,
            }
        }
    }
}
