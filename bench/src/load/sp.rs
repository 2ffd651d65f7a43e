//! The load as an SP of a Chinese operator's gateway (CMPP, SGIP, SMGP and CNGP): each
//! connection is one task in a closed loop, up to a window of SUBMITs in flight, each
//! message a domain `Message` written out by the protocol crate's own mapping, one SUBMIT
//! per part. What differs between the protocols (how a link is opened, a SUBMIT written
//! and its answer read, what the gateway sends back) is an [`SpProtocol`]; the loop, the
//! accounting and the matching of status reports are here.

use std::collections::VecDeque;
use std::fmt::Display;
use std::future::Future;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use futures::future::BoxFuture;
use futures::stream::FuturesUnordered;
use futures::StreamExt;
use tern_model::{Address, Message, ReceiptRequest};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use super::bind::{micros, BindOutcome};
use super::messages::Shape;
use super::{invalid, LoadConfig, LoadError, Run};

/// How many messages validation writes out: every kind of the mix, in every length.
const VALIDATED: u64 = 64;

/// What a SUBMIT's answer said.
pub(crate) struct Answer<Id> {
    /// The result code, as the report counts it.
    pub code: u32,
    /// Accepted: the message id its status report will name.
    pub accepted: Option<Id>,
}

impl<Id> Answer<Id> {
    /// A response that is not a SUBMIT_RESP, counted under `u32::MAX`.
    pub const UNEXPECTED: Self = Self {
        code: u32::MAX,
        accepted: None,
    };

    /// A SUBMIT_RESP with result `code`: accepted when it is `ok`, the message `id`.
    pub fn of(code: impl Into<u32>, ok: impl Into<u32>, id: Id) -> Self {
        let code = code.into();
        Self {
            code,
            accepted: (code == ok.into()).then_some(id),
        }
    }
}

/// A protocol's SUBMIT_RESP results by name: `result_names!(result: OK, NODE_BUSY)`.
macro_rules! result_names {
    ($module:ident: $($name:ident),+ $(,)?) => {
        &[$(($module::$name, stringify!($name))),+]
    };
}
pub(crate) use result_names;

/// The name of a SUBMIT_RESP result in a report's counts, from the protocol's `names`.
pub(crate) fn result_name<C: Copy + Into<u32>>(code: u32, names: &[(C, &str)]) -> String {
    if code == u32::MAX {
        return "NOT_A_SUBMIT_RESP".into();
    }
    names
        .iter()
        .find(|(known, _)| (*known).into() == code)
        .map_or_else(|| format!("RESULT_{code}"), |(_, name)| (*name).to_owned())
}

/// Why a SUBMIT got no answer.
pub(crate) enum Failure {
    /// No response within the response timeout: the outcome is unknown.
    Timeout,
    /// The session closed after the SUBMIT was written.
    Closed,
    /// Never written: the link was down.
    NotSent,
}

/// Each protocol crate's `RequestError` has the same three cases; named by its module.
macro_rules! failure_from {
    ($($($module:ident)::+),+) => {$(
        impl From<$($module)::+::RequestError> for Failure {
            fn from(error: $($module)::+::RequestError) -> Self {
                match error {
                    $($module)::+::RequestError::Timeout { .. } => Failure::Timeout,
                    $($module)::+::RequestError::Closed => Failure::Closed,
                    $($module)::+::RequestError::NotSent(_) => Failure::NotSent,
                }
            }
        }
    )+};
}

// CMPP's `RequestError` is SMGP's and CNGP's (`tern_cn::driver::RequestError`); SGIP's is
// its own.
failure_from!(tern_cmpp::net, tern_sgip::net);

/// What a connection, or a listener of the load, heard from the gateway. Requests are
/// answered before they are noted.
pub(crate) enum Seen {
    Up,
    Down,
    /// A response that came after its request had timed out.
    LateResponse,
    /// A status report naming this message id.
    Receipt(String),
    /// A status report whose message id could not be read.
    Unreadable,
    /// A mobile-originated message.
    Mo,
    /// Nothing the load counts.
    Other,
}

/// One protocol as an SP speaks it.
pub(crate) trait SpProtocol: Send + Sync + 'static {
    /// A SUBMIT, as the protocol's mapping writes it.
    type Submit: Send + 'static;
    /// The id a SUBMIT's answer gives and its status report names.
    type Id: Display + Send;
    /// One connection; cheap to clone.
    type Client: Clone + Send + Sync + 'static;
    /// What the connection reports.
    type Event: Send + 'static;

    /// Why the mapping could not write a message.
    type Error: Display;

    /// The SUBMITs of `message`: one, or one per part, tied together by `reference`.
    fn submits(&self, message: &Message, reference: u8) -> Result<Vec<Self::Submit>, Self::Error>;

    /// Sends one SUBMIT and reads its answer.
    fn submit(
        client: Self::Client,
        submit: Self::Submit,
    ) -> impl Future<Output = Result<Answer<Self::Id>, Failure>> + Send;

    /// Answers what the gateway asked on the connection (a DELIVER) and says what it was.
    fn event(event: Self::Event) -> Seen;

    fn is_up(client: &Self::Client) -> bool;
}

/// How an SP protocol's messages are written from the run's shape: a one-part text of at
/// most `one_part` characters, long texts in parts of `part_chars`, and a `--source` that
/// is not a number replaced by `numeric_source` (these protocols carry numbers only).
pub(crate) struct Texts {
    pub one_part: usize,
    pub part_chars: usize,
    pub numeric_source: &'static str,
}

impl Texts {
    /// Message `n` as a domain message, with a receipt asked for when the run wants them.
    pub(crate) fn message(&self, shape: &Shape, n: u64) -> Message {
        let (_, text) = shape.text(n, self.one_part, self.part_chars);
        let numeric = !shape.source.is_empty() && shape.source.bytes().all(|b| b.is_ascii_digit());
        let source = if numeric {
            shape.source.as_str()
        } else {
            self.numeric_source
        };
        let destination = Address::international(shape.destination(n));
        let mut message = Message::text(Address::international(source), destination, text);
        if shape.registered_delivery {
            message.receipt = ReceiptRequest::Final;
        }
        message
    }
}

/// The SUBMITs of message `n`.
pub(crate) fn submits<P: SpProtocol>(
    protocol: &P,
    texts: &Texts,
    shape: &Shape,
    n: u64,
) -> Result<Vec<P::Submit>, P::Error> {
    // The low octet of the message number ties the parts of a long message together.
    protocol.submits(&texts.message(shape, n), n as u8)
}

/// What every SP run needs beyond the common settings: no open loop, and messages the
/// mapping can write (tried on one message of each kind).
pub(crate) fn validate<P: SpProtocol>(
    config: &LoadConfig,
    protocol: &P,
    texts: &Texts,
    name: &str,
) -> Result<(), LoadError> {
    if config.rate.is_some() {
        return Err(invalid("rate", format!("{name} runs are closed loop only")));
    }
    let shape = config.shape();
    for n in 0..VALIDATED {
        if let Err(error) = submits(protocol, texts, &shape, n) {
            return Err(invalid(
                "source",
                format!("message {n} cannot be written: {error}"),
            ));
        }
    }
    Ok(())
}

/// A task of the run beside the connections' (a listener the gateway sends reports to),
/// started once the run is.
pub(crate) type Beside = Box<dyn FnOnce(Arc<Run>) -> BoxFuture<'static, BindOutcome> + Send>;

/// The connections of an SP run, whatever its protocol.
pub(crate) trait SpLinks: Send {
    /// Connections up.
    fn up(&self) -> usize;
    /// A task per connection, and one per task beside them.
    fn spawn(self: Box<Self>, run: &Arc<Run>) -> Vec<JoinHandle<BindOutcome>>;
}

/// The connections of one protocol.
pub(crate) struct Connections<P: SpProtocol> {
    pub protocol: Arc<P>,
    pub texts: Arc<Texts>,
    pub links: Vec<(P::Client, mpsc::Receiver<P::Event>)>,
    pub beside: Option<Beside>,
}

impl<P: SpProtocol> SpLinks for Connections<P> {
    fn up(&self) -> usize {
        self.links
            .iter()
            .filter(|(client, _)| P::is_up(client))
            .count()
    }

    fn spawn(self: Box<Self>, run: &Arc<Run>) -> Vec<JoinHandle<BindOutcome>> {
        let Connections {
            protocol,
            texts,
            links,
            beside,
        } = *self;
        let mut tasks: Vec<_> = links
            .into_iter()
            .map(|(client, events)| {
                let (run, protocol, texts) = (run.clone(), protocol.clone(), texts.clone());
                tokio::spawn(connection(run, protocol, texts, client, events))
            })
            .collect();
        if let Some(beside) = beside {
            tasks.push(tokio::spawn(beside(run.clone())));
        }
        tasks
    }
}

struct Done<Id> {
    start: Instant,
    receipt: bool,
    result: Result<Answer<Id>, Failure>,
}

async fn submit<P: SpProtocol>(client: P::Client, submit: P::Submit, receipt: bool) -> Done<P::Id> {
    let start = Instant::now();
    Done {
        start,
        receipt,
        result: P::submit(client, submit).await,
    }
}

/// One connection's task: up to a window of SUBMITs in flight until the count or the
/// duration is used up, then the reports until the run finishes.
async fn connection<P: SpProtocol>(
    run: Arc<Run>,
    protocol: Arc<P>,
    texts: Arc<Texts>,
    client: P::Client,
    mut events: mpsc::Receiver<P::Event>,
) -> BindOutcome {
    let mut out = BindOutcome::new(&run.histogram);
    let receipts = run.config.registered_delivery;
    let window = run.config.window;
    let mut inflight = FuturesUnordered::new();
    let mut parts: VecDeque<P::Submit> = VecDeque::new();
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
                let Some(n) = run.ticket() else {
                    sending = false;
                    break;
                };
                match submits(&*protocol, &texts, &run.shape, n) {
                    Ok(submits) => parts.extend(submits),
                    // Validation wrote every kind of message: this is not expected, and
                    // counts as a submit never sent.
                    Err(_) => {
                        run.live.sent.fetch_add(1, Ordering::Relaxed);
                        out.not_sent += 1;
                        continue;
                    }
                }
            }
            let Some(part) = parts.pop_front() else {
                break;
            };
            run.live.sent.fetch_add(1, Ordering::Relaxed);
            inflight.push(submit::<P>(client.clone(), part, receipts));
        }
        if !sending && parts.is_empty() && inflight.is_empty() && !reported {
            reported = true;
            run.bind_done();
        }
        tokio::select! {
            Some(done) = inflight.next(), if !inflight.is_empty() => {
                record(&run, &mut out, done, Instant::now());
            }
            event = events.recv(), if events_open => match event {
                Some(event) => note(&run, &mut out, P::event(event), Instant::now()),
                None => events_open = false,
            },
            _ = run.stop.cancelled(), if sending => sending = false,
            _ = run.finish.cancelled() => break,
        }
    }
    out
}

fn record<Id: Display>(run: &Run, out: &mut BindOutcome, done: Done<Id>, now: Instant) {
    let answer = match done.result {
        Ok(answer) => answer,
        Err(failure) => {
            *match failure {
                Failure::Timeout => &mut out.timeouts,
                Failure::Closed => &mut out.closed,
                Failure::NotSent => &mut out.not_sent,
            } += 1;
            return;
        }
    };
    out.last_response = Some(now);
    out.submit_latency
        .saturating_record(micros(now.saturating_duration_since(done.start)));
    *out.by_status.entry(answer.code).or_default() += 1;
    run.live.answered.fetch_add(1, Ordering::Relaxed);
    let Some(id) = answer.accepted else {
        return;
    };
    run.live.ok.fetch_add(1, Ordering::Relaxed);
    if !done.receipt {
        return;
    }
    if let Some(latency) = run.correlator.submitted(&id.to_string(), done.start) {
        out.receipt_latency.saturating_record(micros(latency));
        out.last_receipt = out.last_receipt.max(Some(done.start + latency));
    }
}

/// Counts what the gateway sent at `now`, and matches a status report to its SUBMIT.
pub(crate) fn note(run: &Run, out: &mut BindOutcome, seen: Seen, now: Instant) {
    match seen {
        Seen::Up => out.ups += 1,
        Seen::LateResponse => out.late_responses += 1,
        Seen::Mo => out.mo_received += 1,
        Seen::Unreadable => out.receipts_unreadable += 1,
        Seen::Receipt(id) => {
            run.live.receipts.fetch_add(1, Ordering::Relaxed);
            if let Some(latency) = run.correlator.received(&id, now) {
                out.receipt_latency.saturating_record(micros(latency));
                out.last_receipt = Some(now);
            }
        }
        Seen::Down | Seen::Other => {}
    }
}

/// What the SP protocols' tests share.
#[cfg(test)]
pub(crate) mod checks {
    use super::*;
    use crate::load::MessageMix;

    /// A run's shape with every kind of message in turn, and receipts asked for.
    pub(crate) fn every_kind() -> Shape {
        LoadConfig {
            mix: MessageMix {
                gsm7: 1,
                long: 1,
                ucs2: 1,
            },
            registered_delivery: true,
            ..LoadConfig::default()
        }
        .shape()
    }

    /// Message `n`'s SUBMITs as `protocol` writes them, checked to be as many as the same
    /// message's submit_sm over SMPP.
    pub(crate) fn as_many_parts_as_over_smpp<P: SpProtocol>(
        protocol: &P,
        texts: &Texts,
        shape: &Shape,
        n: u64,
    ) -> Vec<P::Submit> {
        let submits = submits(protocol, texts, shape, n).unwrap_or_default();
        assert_eq!(submits.len(), shape.submits(n).len(), "message {n}");
        submits
    }
}
