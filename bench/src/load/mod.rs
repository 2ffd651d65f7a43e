//! The load generator: N binds with a window each, against any SMPP server (Tern, or the
//! simulator for a baseline), closed-loop (as fast as the windows allow) or open-loop at a
//! fixed rate. With [`LoadConfig::cmpp`], [`LoadConfig::sgip`], [`LoadConfig::smgp`] or
//! [`LoadConfig::cngp`] the connections are an SP's over CMPP, SGIP, SMGP or CNGP instead
//! (closed loop only, in [`sp`]), with [`LoadConfig::http`] requests to a send-SMS URL.
//!
//! Open-loop runs keep a fixed timeline per bind and measure each message's latency from
//! the moment it was due, not from when it could finally be sent, so a stalled system is
//! charged for the messages it held back (coordinated omission, after Gil Tene's wrk2):
//! when the window was full at or after a message's due time, or the send is more than a
//! timer tick late, the latency runs from the due time. Every submit is accounted for: it
//! was answered with a status, or its request failed (timeout, closed, not sent).

mod bind;
mod cmpp;
mod cngp;
mod correlate;
mod http;
mod links;
mod messages;
mod schedule;
mod sgip;
mod smgp;
mod sp;

use std::collections::BTreeMap;
use std::io::IsTerminal as _;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use hdrhistogram::Histogram;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde::Serialize;
use tern_smpp::net::{BindMode, Client, ClientConfig};
use tern_smpp::session::{self as smpp_session, Role};
use tokio::sync::Notify;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

pub use cmpp::CmppTarget;
pub use cngp::CngpTarget;
pub use http::{HttpApi, HttpTarget};
pub use messages::MessageMix;
pub use sgip::SgipTarget;
pub use smgp::SmgpTarget;

use crate::process::{CpuMark, ProcessUsage};
use correlate::Correlator;
use links::Links;
use messages::Shape;

/// Latencies are recorded in microseconds up to an hour.
const HISTOGRAM_MAX_MICROS: u64 = 3_600_000_000;

/// One load run.
#[derive(Debug, Clone, Serialize)]
pub struct LoadConfig {
    pub host: String,
    pub port: u16,
    pub system_id: String,
    #[serde(skip)]
    pub password: String,
    pub binds: usize,
    /// submit_sm in flight per bind.
    pub window: usize,
    /// Messages per second over all binds (open loop); `None` sends as fast as the windows
    /// allow (closed loop).
    pub rate: Option<f64>,
    /// Messages to send (a long message counts once, whatever its parts).
    pub count: Option<u64>,
    /// How long to send; with `count` too, whichever ends first.
    #[serde(serialize_with = "crate::parse::opt_secs")]
    pub duration: Option<Duration>,
    pub mix: MessageMix,
    /// Characters of a one-part GSM 7-bit message (30-160).
    pub gsm7_len: usize,
    /// Ask for receipts and match them.
    pub registered_delivery: bool,
    /// How long to wait for outstanding receipts after the last response.
    #[serde(serialize_with = "crate::parse::secs")]
    pub receipt_timeout: Duration,
    #[serde(serialize_with = "crate::parse::secs")]
    pub response_timeout: Duration,
    /// How long the binds may take to come up.
    #[serde(serialize_with = "crate::parse::secs")]
    pub bind_timeout: Duration,
    pub source: String,
    /// Destinations are this prefix and 7 digits of the message number.
    pub destination_prefix: String,
    pub seed: u64,
    /// Measure these processes' CPU time and peak memory over the run (the system under
    /// test: one process, or several added up).
    pub pids: Vec<u32>,
    /// A line a second on stderr.
    pub progress: bool,
    /// Speak CMPP as this SP instead of SMPP (`system_id` and `password` are then unused).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cmpp: Option<CmppTarget>,
    /// Speak SGIP as this SP instead (`system_id` and `password` are then unused).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sgip: Option<SgipTarget>,
    /// Speak SMGP 3.0 as this SP instead (`system_id` and `password` are then unused).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub smgp: Option<SmgpTarget>,
    /// Speak CNGP 2.0 as this SP instead (`system_id` and `password` are then unused).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cngp: Option<CngpTarget>,
    /// Call this send-SMS URL over HTTP instead (`system_id` and `password` are then
    /// unused).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub http: Option<HttpTarget>,
}

impl Default for LoadConfig {
    fn default() -> Self {
        Self {
            host: "127.0.0.1".into(),
            port: 2775,
            system_id: "bench".into(),
            password: "bench".into(),
            binds: 4,
            window: 64,
            rate: None,
            count: Some(100_000),
            duration: None,
            mix: MessageMix::default(),
            gsm7_len: 160,
            registered_delivery: false,
            receipt_timeout: Duration::from_secs(10),
            response_timeout: Duration::from_secs(10),
            bind_timeout: Duration::from_secs(10),
            source: "TernBench".into(),
            destination_prefix: "4917".into(),
            seed: 1,
            pids: Vec::new(),
            progress: false,
            cmpp: None,
            sgip: None,
            smgp: None,
            cngp: None,
            http: None,
        }
    }
}

/// The protocol a run speaks, and where.
#[derive(Clone, Copy)]
enum Target<'a> {
    Smpp,
    Cmpp(&'a CmppTarget),
    Sgip(&'a SgipTarget),
    Smgp(&'a SmgpTarget),
    Cngp(&'a CngpTarget),
    Http(&'a HttpTarget),
}

/// Why a run could not start or finish.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// `field` is the config field (the flag of the same name).
    #[error("invalid load setting {field}: {problem}")]
    Config {
        field: &'static str,
        problem: String,
    },
    #[error("only {up} of {wanted} binds came up within {timeout:?}")]
    BindTimeout {
        up: usize,
        wanted: usize,
        timeout: Duration,
    },
    #[error("cannot read /proc for pids {pids:?}: {source}")]
    Process {
        pids: Vec<u32>,
        source: std::io::Error,
    },
    #[error("histogram: {0}")]
    Histogram(String),
}

fn invalid(field: &'static str, problem: impl Into<String>) -> LoadError {
    LoadError::Config {
        field,
        problem: problem.into(),
    }
}

impl LoadConfig {
    pub fn validate(&self) -> Result<(), LoadError> {
        if self.binds == 0 {
            return Err(invalid("binds", "must be at least 1"));
        }
        if self.window == 0 {
            return Err(invalid("window", "must be at least 1"));
        }
        if let Some(rate) = self.rate {
            if !(rate > 0.0 && rate.is_finite()) {
                return Err(invalid("rate", "must be a positive number"));
            }
        }
        if self.count.is_none() && self.duration.is_none() {
            return Err(invalid("count", "give a count, a duration, or both"));
        }
        if self.count == Some(0) {
            return Err(invalid("count", "must be at least 1"));
        }
        if self.mix.total() == 0 {
            return Err(invalid("mix", "no kind of message has a non-zero weight"));
        }
        if !(30..=160).contains(&self.gsm7_len) {
            return Err(invalid("gsm7_len", "must be 30-160 characters"));
        }
        if self.source.is_empty() || self.source.len() > 20 {
            return Err(invalid("source", "must be 1-20 characters"));
        }
        if self.destination_prefix.len() > 13
            || !self.destination_prefix.bytes().all(|b| b.is_ascii_digit())
        {
            return Err(invalid("destination_prefix", "must be at most 13 digits"));
        }
        match self.target()? {
            Target::Smpp | Target::Http(_)
                if self.system_id.len() > 15 || self.password.len() > 8 =>
            {
                Err(invalid(
                    "system_id",
                    "system_id is at most 15 characters and password at most 8",
                ))
            }
            Target::Cmpp(target) => cmpp::validate(self, target),
            Target::Sgip(target) => sgip::validate(self, target),
            Target::Smgp(target) => smgp::validate(self, target),
            Target::Cngp(target) => cngp::validate(self, target),
            Target::Http(target) if !target.url.starts_with("http://") => {
                Err(invalid("url", "an http:// URL"))
            }
            Target::Smpp | Target::Http(_) => Ok(()),
        }
    }

    /// The one protocol set, SMPP when none is.
    fn target(&self) -> Result<Target<'_>, LoadError> {
        let set: Vec<Target<'_>> = [
            self.cmpp.as_ref().map(Target::Cmpp),
            self.sgip.as_ref().map(Target::Sgip),
            self.smgp.as_ref().map(Target::Smgp),
            self.cngp.as_ref().map(Target::Cngp),
            self.http.as_ref().map(Target::Http),
        ]
        .into_iter()
        .flatten()
        .collect();
        match set.as_slice() {
            [] => Ok(Target::Smpp),
            [target] => Ok(*target),
            _ => Err(invalid(
                "protocol",
                "one of CMPP, SGIP, SMGP, CNGP and HTTP",
            )),
        }
    }

    fn shape(&self) -> Shape {
        Shape {
            mix: self.mix,
            gsm7_len: self.gsm7_len,
            source: self.source.clone(),
            destination_prefix: self.destination_prefix.clone(),
            registered_delivery: self.registered_delivery,
            seed: self.seed,
        }
    }
}

/// A latency distribution, in microseconds.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Latency {
    pub count: u64,
    pub mean_us: f64,
    pub p50_us: u64,
    pub p90_us: u64,
    pub p99_us: u64,
    pub p999_us: u64,
    pub max_us: u64,
}

impl Latency {
    pub(crate) fn of(h: &Histogram<u64>) -> Self {
        if h.is_empty() {
            return Self::default();
        }
        Self {
            count: h.len(),
            mean_us: h.mean(),
            p50_us: h.value_at_quantile(0.50),
            p90_us: h.value_at_quantile(0.90),
            p99_us: h.value_at_quantile(0.99),
            p999_us: h.value_at_quantile(0.999),
            max_us: h.max(),
        }
    }
}

/// Submits whose request failed, by why.
#[derive(Debug, Clone, Default, Serialize)]
pub struct RequestFailures {
    /// No response within the response timeout: the outcome is unknown.
    pub timeout: u64,
    /// The session closed before the response came.
    pub closed: u64,
    /// The link was down or not bound for submits; never sent.
    pub not_sent: u64,
}

impl RequestFailures {
    pub fn total(&self) -> u64 {
        self.timeout + self.closed + self.not_sent
    }
}

/// What happened to the receipts asked for.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ReceiptCounts {
    /// Accepted submits that asked for a receipt.
    pub expected: u64,
    pub matched: u64,
    /// Expected but not received by the end of the receipt timeout.
    pub missing: u64,
    /// Received with an id that matched no accepted submit, or a second time.
    pub unmatched: u64,
    /// Receipts with neither `receipted_message_id` nor a readable `id:`.
    pub unreadable: u64,
}

/// The result of a run.
#[derive(Debug, Clone, Serialize)]
pub struct LoadReport {
    pub binds: usize,
    pub window: usize,
    /// `smpp`, `cmpp`, `sgip`, `smgp`, `cngp` or `http`.
    pub protocol: &'static str,
    /// `closed` or `open`.
    pub mode: &'static str,
    pub target_rate: Option<f64>,
    /// From the first submit to the last submit_sm_resp.
    pub elapsed_secs: f64,
    /// Messages started (a long message once).
    pub messages: u64,
    /// submit_sm sent (each part of a long message).
    pub submits: u64,
    /// submit_sm answered, whatever the status.
    pub answered: u64,
    /// submit_sm answered with ESME_ROK.
    pub accepted: u64,
    /// Accepted submit_sm per second: the headline msg/s.
    pub msg_per_sec: f64,
    /// Answered submit_sm per second.
    pub answered_per_sec: f64,
    /// With receipts on: from the first submit to the last matched receipt.
    pub receipt_elapsed_secs: Option<f64>,
    /// With receipts on: matched receipts over `receipt_elapsed_secs`.
    pub receipts_per_sec: Option<f64>,
    /// submit_sm → submit_sm_resp.
    pub submit_latency: Latency,
    /// submit_sm → its receipt, with receipts on.
    pub receipt_latency: Option<Latency>,
    pub by_status: BTreeMap<String, u64>,
    pub failures: RequestFailures,
    /// Open loop: sends more than a timer tick behind schedule for the generator's own
    /// reasons (their latency runs from the due time). Many of them mean the generator,
    /// not the system, was the limit.
    pub late_sends: u64,
    /// Open loop: how far behind their due time submits went out (the generator's timer
    /// and scheduling, plus waits for the window).
    pub send_lag: Option<Latency>,
    pub receipts: Option<ReceiptCounts>,
    /// deliver_sm without the receipt bit.
    pub mo_received: u64,
    /// Binds that came up again after going down.
    pub reconnects: u64,
    /// Responses that came after their request had timed out.
    pub late_responses: u64,
    pub process: Option<ProcessUsage>,
}

impl LoadReport {
    /// Every submit sent was answered or failed as counted.
    pub fn all_accounted(&self) -> bool {
        self.answered + self.failures.total() == self.submits
    }
}

/// Counters the progress line reads while the run goes.
#[derive(Default)]
struct Live {
    sent: AtomicU64,
    answered: AtomicU64,
    ok: AtomicU64,
    receipts: AtomicU64,
}

/// What the bind tasks of a run share.
pub(crate) struct Run {
    config: LoadConfig,
    shape: Shape,
    histogram: Histogram<u64>,
    /// The next message number.
    tickets: AtomicU64,
    /// No new messages: the duration is up.
    stop: CancellationToken,
    /// The run is over: bind tasks return.
    finish: CancellationToken,
    done: AtomicUsize,
    done_notify: Notify,
    live: Live,
    correlator: Correlator,
}

impl Run {
    fn new(config: LoadConfig, histogram: Histogram<u64>) -> Self {
        Self {
            shape: config.shape(),
            config,
            histogram,
            tickets: AtomicU64::new(0),
            stop: CancellationToken::new(),
            finish: CancellationToken::new(),
            done: AtomicUsize::new(0),
            done_notify: Notify::new(),
            live: Live::default(),
            correlator: Correlator::default(),
        }
    }

    /// The next message number, while the count lasts.
    fn ticket(&self) -> Option<u64> {
        let n = self.tickets.fetch_add(1, Ordering::Relaxed);
        match self.config.count {
            Some(count) if n >= count => None,
            _ => Some(n),
        }
    }

    fn bind_done(&self) {
        self.done.fetch_add(1, Ordering::Relaxed);
        self.done_notify.notify_one();
    }
}

fn client_config(config: &LoadConfig, index: usize) -> ClientConfig {
    let mut client = ClientConfig::new(format!("load-{index}"), config.host.clone(), config.port);
    client.system_id = config.system_id.clone();
    client.password = config.password.clone();
    client.bind = BindMode::Transceiver;
    client.session = smpp_session::Config {
        role: Role::Client,
        window_out: config.window,
        // Receipts may come faster than submits go out; never throttle the SMSC's.
        window_in: config.window.max(1024),
        response_timeout: config.response_timeout,
        ..smpp_session::Config::default()
    };
    client.reconnect_min = Duration::from_millis(50);
    client.reconnect_max = Duration::from_secs(1);
    client.connect_timeout = config.bind_timeout;
    client.ready_timeout = config.bind_timeout;
    client
}

/// Runs a load as configured and reports it.
pub async fn run(config: LoadConfig) -> Result<LoadReport, LoadError> {
    config.validate()?;
    let histogram = Histogram::new_with_bounds(1, HISTOGRAM_MAX_MICROS, 3)
        .map_err(|e| LoadError::Histogram(e.to_string()))?;
    let shutdown = CancellationToken::new();
    let tracker = TaskTracker::new();
    let links = match config.target()? {
        Target::Http(target) => {
            let clients = http::clients(&config)?;
            if let Some(client) = clients.first() {
                http::authenticate(target, client).await;
            }
            Links::Http {
                target: target.clone(),
                clients,
                dlr: if config.registered_delivery {
                    Some(http::DlrListener::bind().await?)
                } else {
                    None
                },
            }
        }
        Target::Smpp => Links::Smpp(
            (0..config.binds)
                .map(|i| Client::start(client_config(&config, i), shutdown.clone(), &tracker))
                .collect(),
        ),
        Target::Cmpp(target) => Links::Sp(cmpp::start(&config, target, &shutdown, &tracker)),
        Target::Sgip(target) => Links::Sp(sgip::start(&config, target, &shutdown, &tracker).await?),
        Target::Smgp(target) => Links::Sp(smgp::start(&config, target, &shutdown, &tracker)),
        Target::Cngp(target) => Links::Sp(cngp::start(&config, target, &shutdown, &tracker)),
    };
    let report = drive(config, histogram, links).await;
    shutdown.cancel();
    tracker.close();
    let _ = tokio::time::timeout(Duration::from_secs(5), tracker.wait()).await;
    report
}

async fn drive(
    config: LoadConfig,
    histogram: Histogram<u64>,
    links: Links,
) -> Result<LoadReport, LoadError> {
    let bind_deadline = Instant::now() + config.bind_timeout;
    loop {
        let up = links.up();
        if up == config.binds {
            break;
        }
        if Instant::now() >= bind_deadline {
            return Err(LoadError::BindTimeout {
                up,
                wanted: config.binds,
                timeout: config.bind_timeout,
            });
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let cpu = if config.pids.is_empty() {
        None
    } else {
        Some(
            CpuMark::of(&config.pids).map_err(|source| LoadError::Process {
                pids: config.pids.clone(),
                source,
            })?,
        )
    };
    let run = Arc::new(Run::new(config, histogram));
    let config = &run.config;
    let t0 = Instant::now();
    let tasks = links.spawn(&run, t0);

    let mut progress = Progress::new(config, t0);
    let stop_at = config.duration.map(|d| t0 + d);
    while run.done.load(Ordering::Relaxed) < config.binds {
        tokio::select! {
            _ = run.done_notify.notified() => {}
            _ = sleep_until_opt(stop_at), if !run.stop.is_cancelled() => run.stop.cancel(),
            _ = progress.tick() => progress.print(&run),
        }
    }
    if config.registered_delivery {
        let deadline = Instant::now() + config.receipt_timeout;
        while run.correlator.waiting() > 0 && Instant::now() < deadline {
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_millis(5)) => {}
                _ = progress.tick() => progress.print(&run),
            }
        }
    }
    progress.finish();
    run.finish.cancel();
    let mut outcomes = Vec::with_capacity(tasks.len());
    for task in tasks {
        // A bind task only ends by returning (nothing aborts it); a panic in one is a bug
        // worth surfacing as such.
        match task.await {
            Ok(outcome) => outcomes.push(outcome),
            Err(error) if error.is_panic() => std::panic::resume_unwind(error.into_panic()),
            Err(_) => {}
        }
    }
    let end = outcomes
        .iter()
        .filter_map(|o| o.last_response)
        .max()
        .unwrap_or(t0);
    let elapsed = end.saturating_duration_since(t0).as_secs_f64();
    let accepted = run.live.ok.load(Ordering::Relaxed);
    let process = match cpu {
        Some(mark) => Some(
            mark.usage(accepted, t0.elapsed().as_secs_f64())
                .map_err(|source| LoadError::Process {
                    pids: config.pids.clone(),
                    source,
                })?,
        ),
        None => None,
    };
    Ok(report(&run, outcomes, t0, elapsed, process))
}

async fn sleep_until_opt(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

fn report(
    run: &Run,
    outcomes: Vec<bind::BindOutcome>,
    t0: Instant,
    elapsed: f64,
    process: Option<ProcessUsage>,
) -> LoadReport {
    let config = &run.config;
    let mut submit_latency = run.histogram.clone();
    let mut receipt_latency = run.histogram.clone();
    let mut send_lag = run.histogram.clone();
    let mut by_code: BTreeMap<u32, u64> = BTreeMap::new();
    let mut failures = RequestFailures::default();
    let (mut late_sends, mut late_responses, mut unreadable, mut mo_received, mut reconnects) =
        (0, 0, 0, 0, 0);
    for outcome in &outcomes {
        // Same bounds on both sides: adding cannot fail.
        let _ = submit_latency.add(&outcome.submit_latency);
        let _ = receipt_latency.add(&outcome.receipt_latency);
        let _ = send_lag.add(&outcome.send_lag);
        for (code, count) in &outcome.by_status {
            *by_code.entry(*code).or_default() += count;
        }
        failures.timeout += outcome.timeouts;
        failures.closed += outcome.closed;
        failures.not_sent += outcome.not_sent;
        late_sends += outcome.late_sends;
        late_responses += outcome.late_responses;
        unreadable += outcome.receipts_unreadable;
        mo_received += outcome.mo_received;
        reconnects += outcome.ups.saturating_sub(1);
    }
    let answered = run.live.answered.load(Ordering::Relaxed);
    let accepted = run.live.ok.load(Ordering::Relaxed);
    let per_sec = |n: u64| {
        if elapsed > 0.0 {
            n as f64 / elapsed
        } else {
            0.0
        }
    };
    let receipts = config.registered_delivery.then(|| {
        let outcome = run.correlator.outcome();
        ReceiptCounts {
            expected: outcome.expected,
            matched: outcome.matched,
            missing: outcome.expected.saturating_sub(outcome.matched),
            unmatched: outcome.unmatched,
            unreadable,
        }
    });
    let receipt_elapsed = config.registered_delivery.then(|| {
        outcomes
            .iter()
            .filter_map(|o| o.last_receipt)
            .max()
            .map_or(0.0, |last| last.saturating_duration_since(t0).as_secs_f64())
    });
    let receipts_per_sec = receipt_elapsed.zip(receipts.as_ref()).map(|(secs, r)| {
        if secs > 0.0 {
            r.matched as f64 / secs
        } else {
            0.0
        }
    });
    let count = config.count.unwrap_or(u64::MAX);
    let (protocol, status_name): (_, fn(u32) -> String) = match config.target() {
        Ok(Target::Http(_)) => ("http", http::status_name),
        Ok(Target::Cmpp(_)) => ("cmpp", |code| sp::result_name(code, cmpp::RESULTS)),
        Ok(Target::Sgip(_)) => ("sgip", |code| sp::result_name(code, sgip::RESULTS)),
        Ok(Target::Smgp(_)) => ("smgp", |code| sp::result_name(code, smgp::RESULTS)),
        Ok(Target::Cngp(_)) => ("cngp", |code| sp::result_name(code, cngp::RESULTS)),
        // Validated before the run.
        Ok(Target::Smpp) | Err(_) => ("smpp", crate::status::name_of),
    };
    LoadReport {
        binds: config.binds,
        window: config.window,
        protocol,
        mode: if config.rate.is_some() {
            "open"
        } else {
            "closed"
        },
        target_rate: config.rate,
        elapsed_secs: elapsed,
        messages: run.tickets.load(Ordering::Relaxed).min(count),
        submits: run.live.sent.load(Ordering::Relaxed),
        answered,
        accepted,
        msg_per_sec: per_sec(accepted),
        answered_per_sec: per_sec(answered),
        receipt_elapsed_secs: receipt_elapsed,
        receipts_per_sec,
        submit_latency: Latency::of(&submit_latency),
        receipt_latency: config
            .registered_delivery
            .then(|| Latency::of(&receipt_latency)),
        by_status: by_code
            .into_iter()
            .map(|(code, count)| (status_name(code), count))
            .collect(),
        failures,
        late_sends,
        send_lag: config.rate.map(|_| Latency::of(&send_lag)),
        receipts,
        mo_received,
        reconnects,
        late_responses,
        process,
    }
}

/// Progress on stderr: a bar on a terminal (messages started out of the count, with the
/// rate), otherwise a line a second.
struct Progress {
    enabled: bool,
    t0: Instant,
    interval: tokio::time::Interval,
    last_answered: u64,
    last_at: Instant,
    bar: Option<ProgressBar>,
}

impl Progress {
    fn new(config: &LoadConfig, t0: Instant) -> Self {
        let bar = (config.progress && std::io::stderr().is_terminal()).then(|| {
            let bar = match config.count {
                Some(count) => ProgressBar::new(count).with_style(
                    ProgressStyle::with_template(
                        "{elapsed_precise} [{bar:40.cyan/blue}] {pos}/{len} {msg}",
                    )
                    .unwrap_or_else(|_| ProgressStyle::default_bar())
                    .progress_chars("=> "),
                ),
                None => ProgressBar::new_spinner(),
            };
            bar.set_draw_target(ProgressDrawTarget::stderr());
            bar
        });
        let every = if bar.is_some() {
            Duration::from_millis(250)
        } else {
            Duration::from_secs(1)
        };
        let mut interval = tokio::time::interval_at(t0 + every, every);
        interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        Self {
            enabled: config.progress,
            t0,
            interval,
            last_answered: 0,
            last_at: t0,
            bar,
        }
    }

    async fn tick(&mut self) {
        if self.enabled {
            self.interval.tick().await;
        } else {
            std::future::pending::<()>().await;
        }
    }

    fn print(&mut self, run: &Run) {
        let live = &run.live;
        let now = Instant::now();
        let answered = live.answered.load(Ordering::Relaxed);
        let secs = now.saturating_duration_since(self.last_at).as_secs_f64();
        let rate = if secs > 0.0 {
            answered.saturating_sub(self.last_answered) as f64 / secs
        } else {
            0.0
        };
        self.last_answered = answered;
        self.last_at = now;
        let mut detail = format!(
            "{rate:>8.0} msg/s  sent {}  answered {}  ok {}",
            live.sent.load(Ordering::Relaxed),
            answered,
            live.ok.load(Ordering::Relaxed),
        );
        if run.config.registered_delivery {
            detail.push_str(&format!(
                "  receipts {} (waiting {})",
                live.receipts.load(Ordering::Relaxed),
                run.correlator.waiting()
            ));
        }
        match &self.bar {
            Some(bar) => {
                let started = run.tickets.load(Ordering::Relaxed);
                bar.set_position(run.config.count.map_or(started, |c| started.min(c)));
                bar.set_message(detail);
            }
            None => eprintln!("[{:6.1}s] {detail}", self.t0.elapsed().as_secs_f64()),
        }
    }

    fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}
