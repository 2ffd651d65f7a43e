//! A simulated operator SMSC: ESMEs (a gateway's carrier links, or the load generator) bind
//! to it over SMPP, it answers submit_sm with a message id or an injected error, and sends
//! the delivery receipts back as deliver_sm after a configurable delay, on a receiving bind
//! of the same account. It also injects disconnects, throttling and mobile-originated
//! messages, and counts everything a test wants to assert on, duplicates included. It can
//! hold each account to a number of binds, as operators do, and logs every bind with the
//! submits it carried ([`SmscHandle::sessions`]), so a test can prove that a gateway cluster
//! never held more binds than allowed and that a paused node sent nothing on its old binds.
//!
//! For a harness that checks a gateway from outside, it records what it saw and did in a
//! history file ([`history`]) and injects the faults operators are known for: throttling
//! storms, a part of every long message refused once, receipts before the submit_sm_resp,
//! on another bind or twice, connections closed with a submit unanswered, and answers that
//! come late.
//!
//! Built for speed on one core: a submit costs no task and no allocation beyond its
//! response; each account has one task that holds its receipts in a [`DelayQueue`]
//! (receipt data is copied into a fixed-size record, so no read buffer stays pinned) and
//! keeps a window of deliver_sm in flight per bind. Every random choice is derived from the
//! seed and the submit's sequence number, so the totals of a run do not depend on how the
//! binds interleave; of the operator faults, only the storms (which follow the clock) and a
//! refused part (its first copy to arrive) do not.
//!
//! [`DelayQueue`]: tokio_util::time::DelayQueue

mod account;
mod binds;
mod dedup;
pub mod history;
mod http;
mod session;
mod stats;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::Serialize;
use tern_model::MessageState;
use tern_smpp::net::{serve, BindRequest, Handler, ServerConfig, SessionEvent, SessionHandle};
use tern_smpp::session::{self as smpp_session, BindKind, Role};
use tern_smpp::CommandStatus;
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

pub use binds::{SessionLog, LOG_CAPACITY};
pub use stats::SmscStats;

use account::AccountMsg;
use binds::{unix_ms, BindSlot, Binds};
use dedup::Dedup;
use history::{By, Event, Recorder, Writer};
use stats::Counters;

/// How message ids are written in submit_sm_resp and in receipts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum IdFormat {
    /// `4711`
    Decimal,
    /// `1267`, upper case, as many SMSCs write them.
    Hex,
}

impl IdFormat {
    pub fn render(self, id: u64) -> String {
        match self {
            IdFormat::Decimal => id.to_string(),
            IdFormat::Hex => format!("{id:X}"),
        }
    }
}

/// Who may bind.
#[derive(Debug, Clone, Serialize)]
pub enum Accounts {
    /// Any system_id and password.
    Any,
    /// Only these (system_id, password) pairs.
    List(Vec<(String, String)>),
}

/// How long after the submit a receipt is due: fixed when `min == max`, else uniform.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct ReceiptDelay {
    #[serde(serialize_with = "crate::parse::secs")]
    pub min: Duration,
    #[serde(serialize_with = "crate::parse::secs")]
    pub max: Duration,
}

impl ReceiptDelay {
    pub const ZERO: ReceiptDelay = ReceiptDelay::fixed(Duration::ZERO);

    pub const fn fixed(delay: Duration) -> Self {
        Self {
            min: delay,
            max: delay,
        }
    }
}

/// Mobile-originated traffic the SMSC makes up.
#[derive(Debug, Clone, Serialize)]
pub struct MoConfig {
    /// Messages per second, over all accounts.
    pub rate: f64,
    /// The number the handsets write to (a short code or long number of the customer).
    pub destination: String,
    /// Senders are this prefix followed by digits.
    pub source_prefix: String,
    /// The account that gets them; `None` spreads them over the accounts that have a
    /// receiving bind at that moment.
    pub system_id: Option<String>,
}

/// Everything the simulator does.
#[derive(Debug, Clone, Serialize)]
pub struct SmscConfig {
    pub listen: SocketAddr,
    pub accounts: Accounts,
    /// The system_id we answer binds with.
    pub system_id: String,
    pub id_format: IdFormat,
    /// The id of the first submit; the n-th submit gets `first_id + n`.
    pub first_id: u64,
    pub receipt_delay: ReceiptDelay,
    /// Final states of receipts, by weight.
    pub final_states: Vec<(MessageState, u32)>,
    /// Share of submits refused with `permanent_error_status`.
    pub permanent_error_rate: f64,
    #[serde(serialize_with = "status_name")]
    pub permanent_error_status: CommandStatus,
    /// Share of submits refused with ESME_RSYSERR.
    pub transient_error_rate: f64,
    /// Share of submits refused with ESME_RTHROTTLED.
    pub throttle_rate: f64,
    /// Submits per second a bind may make; above it ESME_RTHROTTLED.
    pub tps_cap: Option<u32>,
    /// Unbind the bind that made every N-th submit (counted over all binds).
    pub disconnect_every: Option<u64>,
    /// Unbind the bind after a submit with this probability.
    pub disconnect_probability: f64,
    /// Receipts and MOs an account may have waiting (not yet due, or due with no receiving
    /// bind); more are dropped and counted.
    pub max_pending_receipts: usize,
    /// How long a due receipt waits for a receiving bind before it is dropped and counted.
    #[serde(serialize_with = "crate::parse::secs")]
    pub pending_receipt_ttl: Duration,
    /// Send a deliver_sm that got no response in time again (a second later) instead of
    /// dropping it; the ESME may then see it twice.
    pub retry_timed_out_delivers: bool,
    /// deliver_sm in flight per bind.
    pub receipt_window: usize,
    /// submit_sm a bind may have unanswered; more get ESME_RTHROTTLED from the session.
    pub submit_window: usize,
    /// Fingerprints of accepted submits kept to recognise duplicates; 0 turns it off.
    pub duplicate_window: usize,
    pub mo: Option<MoConfig>,
    /// Distinct system_ids that may bind (bounds memory under `Accounts::Any`).
    pub max_accounts: usize,
    /// Binds that can submit (transmitters and transceivers; the receiver of a pair does not
    /// count) a system_id may have open at once; one more is refused with ESME_RBINDFAIL.
    /// `None`: no limit.
    pub max_binds: Option<u32>,
    /// Throttling storms: for `storm_length` at the start of every `storm_every` (counted
    /// from the start), every submit is refused with `storm_status`. Both or neither.
    #[serde(serialize_with = "crate::parse::opt_secs")]
    pub storm_every: Option<Duration>,
    #[serde(serialize_with = "crate::parse::opt_secs")]
    pub storm_length: Option<Duration>,
    #[serde(serialize_with = "status_name")]
    pub storm_status: CommandStatus,
    /// The first submit of part K of a concatenated message (known by its destination and
    /// reference) is refused with `refuse_part_status`; the same part sent again is
    /// answered as any other submit.
    pub refuse_part: Option<u8>,
    #[serde(serialize_with = "status_name")]
    pub refuse_part_status: CommandStatus,
    /// Share of accepted submits whose receipt is sent at once, and its deliver_sm answered
    /// (or failed), before their submit_sm_resp is written; only while the account has a
    /// receiving bind.
    pub receipt_before_resp: f64,
    /// Share of receipts sent on a receiving bind of the account other than the one that
    /// submitted (when there is one). When above 0, the others go back on the submitting
    /// bind when it can receive.
    pub receipt_other_bind: f64,
    /// Share of receipts sent twice.
    pub duplicate_receipts: f64,
    /// Share of submits after which the connection is closed (unbound) without answering
    /// them, nor any later submit on it.
    pub drop_after_read: f64,
    /// Share of submits whose submit_sm_resp is written only after `slow_answer_delay`;
    /// other submits of the bind are answered meanwhile.
    pub slow_answer: f64,
    #[serde(serialize_with = "crate::parse::secs")]
    pub slow_answer_delay: Duration,
    /// Write the history of binds, submits, receipts and closes here ([`history`]).
    pub history: Option<PathBuf>,
    pub seed: u64,
}

fn status_name<S: serde::Serializer>(status: &CommandStatus, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&crate::status::name(*status))
}

impl Default for SmscConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            accounts: Accounts::Any,
            system_id: "tern-smsc".into(),
            id_format: IdFormat::Decimal,
            first_id: 1,
            receipt_delay: ReceiptDelay::ZERO,
            final_states: vec![
                (MessageState::Delivered, 97),
                (MessageState::Undeliverable, 2),
                (MessageState::Expired, 1),
            ],
            permanent_error_rate: 0.0,
            permanent_error_status: CommandStatus::EsmeRinvdstadr,
            transient_error_rate: 0.0,
            throttle_rate: 0.0,
            tps_cap: None,
            disconnect_every: None,
            disconnect_probability: 0.0,
            max_pending_receipts: 1_000_000,
            pending_receipt_ttl: Duration::from_secs(300),
            retry_timed_out_delivers: false,
            receipt_window: 64,
            submit_window: 1024,
            duplicate_window: 1_000_000,
            mo: None,
            max_accounts: 1024,
            max_binds: None,
            storm_every: None,
            storm_length: None,
            storm_status: CommandStatus::EsmeRthrottled,
            refuse_part: None,
            refuse_part_status: CommandStatus::EsmeRthrottled,
            receipt_before_resp: 0.0,
            receipt_other_bind: 0.0,
            duplicate_receipts: 0.0,
            drop_after_read: 0.0,
            slow_answer: 0.0,
            slow_answer_delay: Duration::from_secs(5),
            history: None,
            seed: 1,
        }
    }
}

/// A setting that cannot work; `field` is the config field (the flag of the same name).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {problem}")]
pub struct ConfigError {
    pub field: &'static str,
    pub problem: String,
}

fn invalid(field: &'static str, problem: impl Into<String>) -> ConfigError {
    ConfigError {
        field,
        problem: problem.into(),
    }
}

impl SmscConfig {
    pub fn validate(&self) -> Result<(), ConfigError> {
        for (field, rate) in [
            ("permanent_error_rate", self.permanent_error_rate),
            ("transient_error_rate", self.transient_error_rate),
            ("throttle_rate", self.throttle_rate),
            ("disconnect_probability", self.disconnect_probability),
            ("receipt_before_resp", self.receipt_before_resp),
            ("receipt_other_bind", self.receipt_other_bind),
            ("duplicate_receipts", self.duplicate_receipts),
            ("drop_after_read", self.drop_after_read),
            ("slow_answer", self.slow_answer),
        ] {
            if !(0.0..=1.0).contains(&rate) {
                return Err(invalid(field, format!("{rate} is not between 0 and 1")));
            }
        }
        let errors = self.permanent_error_rate + self.transient_error_rate + self.throttle_rate;
        if errors > 1.0 + 1e-9 {
            return Err(invalid(
                "throttle_rate",
                format!("the three error rates add up to {errors}, more than 1"),
            ));
        }
        for (field, status) in [
            ("permanent_error_status", self.permanent_error_status),
            ("storm_status", self.storm_status),
            ("refuse_part_status", self.refuse_part_status),
        ] {
            if status == CommandStatus::EsmeRok {
                return Err(invalid(field, "must not be ESME_ROK"));
            }
        }
        match (self.storm_every, self.storm_length) {
            (None, None) => {}
            (Some(_), None) => return Err(invalid("storm_length", "needed with storm_every")),
            (None, Some(_)) => return Err(invalid("storm_every", "needed with storm_length")),
            (Some(every), Some(length)) => {
                if length.is_zero() {
                    return Err(invalid("storm_length", "must be above 0"));
                }
                if length > every {
                    return Err(invalid("storm_length", "longer than storm_every"));
                }
            }
        }
        if self.refuse_part == Some(0) {
            return Err(invalid("refuse_part", "parts count from 1"));
        }
        if self.slow_answer > 0.0 && self.slow_answer_delay.is_zero() {
            return Err(invalid("slow_answer_delay", "must be above 0"));
        }
        if let Accounts::List(list) = &self.accounts {
            if list.is_empty() {
                return Err(invalid("accounts", "empty list: no one could bind"));
            }
        }
        if self.final_states.iter().all(|(_, w)| *w == 0) {
            return Err(invalid("final_states", "no state has a non-zero weight"));
        }
        if self.receipt_delay.min > self.receipt_delay.max {
            return Err(invalid("receipt_delay", "minimum above maximum"));
        }
        let positive = [
            ("receipt_window", self.receipt_window),
            ("submit_window", self.submit_window),
            ("max_pending_receipts", self.max_pending_receipts),
            ("max_accounts", self.max_accounts),
        ];
        for (field, value) in positive {
            if value == 0 {
                return Err(invalid(field, "must be at least 1"));
            }
        }
        if self.tps_cap == Some(0) {
            return Err(invalid("tps_cap", "must be at least 1"));
        }
        if self.max_binds == Some(0) {
            return Err(invalid("max_binds", "must be at least 1"));
        }
        if self.disconnect_every == Some(0) {
            return Err(invalid("disconnect_every", "must be at least 1"));
        }
        if self.system_id.is_empty() || self.system_id.len() > 15 {
            return Err(invalid("system_id", "must be 1-15 characters"));
        }
        if let Some(mo) = &self.mo {
            if !(mo.rate > 0.0 && mo.rate.is_finite()) {
                return Err(invalid("mo_rate", "must be a positive number"));
            }
            if mo.destination.is_empty() || mo.destination.len() > 20 {
                return Err(invalid("mo_destination", "must be 1-20 characters"));
            }
            if mo.source_prefix.len() > 12 {
                return Err(invalid("mo_source", "prefix must be at most 12 digits"));
            }
        }
        Ok(())
    }
}

/// Why the simulator did not start.
#[derive(Debug, thiserror::Error)]
pub enum SmscError {
    #[error("invalid SMSC setting {0}")]
    Config(#[from] ConfigError),
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("cannot write the history to {path}: {source}")]
    History {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// One account's receipt queue, as the sessions see it.
pub(crate) struct AccountRef {
    name: String,
    tx: mpsc::Sender<AccountMsg>,
    /// Receiver and transceiver binds open now.
    receivers: AtomicUsize,
}

/// State every session and account task shares.
pub(crate) struct Shared {
    config: SmscConfig,
    counters: Counters,
    dedup: Dedup,
    accounts: Mutex<HashMap<String, Arc<AccountRef>>>,
    /// Open binds, their peaks and the session log.
    binds: Arc<Binds>,
    /// Submits seen so far: the sequence number that seeds each submit's random choices.
    submit_seq: AtomicU64,
    /// The number of the next connection whose bind request comes in.
    next_conn: AtomicU64,
    /// Parts `refuse_part` has refused once (empty without it).
    parts_seen: Dedup,
    /// Storms are counted from here.
    started: Instant,
    history: Option<Recorder>,
    shutdown: CancellationToken,
    tracker: TaskTracker,
}

impl Shared {
    /// The account's queue, started on its first bind.
    fn account(self: &Arc<Self>, name: &str) -> Option<Arc<AccountRef>> {
        let mut accounts = self.accounts.lock().ok()?;
        if let Some(account) = accounts.get(name) {
            return Some(account.clone());
        }
        if accounts.len() >= self.config.max_accounts {
            return None;
        }
        let (tx, rx) = mpsc::channel(account::CHANNEL_BATCHES);
        let account = Arc::new(AccountRef {
            name: name.to_owned(),
            tx,
            receivers: AtomicUsize::new(0),
        });
        accounts.insert(name.to_owned(), account.clone());
        self.tracker
            .spawn(account::run(self.clone(), name.to_owned(), rx));
        Some(account)
    }

    fn stats(&self) -> SmscStats {
        let mut stats = self.counters.snapshot();
        self.binds.fill(&mut stats);
        stats
    }

    async fn record(&self, event: impl FnOnce() -> Event) {
        if let Some(history) = &self.history {
            history.record(event()).await;
        }
    }

    fn check_credentials(&self, request: &BindRequest) -> Result<(), CommandStatus> {
        match &self.config.accounts {
            Accounts::Any => Ok(()),
            Accounts::List(list) => match list.iter().find(|(id, _)| *id == request.system_id) {
                None => Err(CommandStatus::EsmeRinvsysid),
                Some((_, password)) if *password != request.password => {
                    Err(CommandStatus::EsmeRinvpaswd)
                }
                Some(_) => Ok(()),
            },
        }
    }
}

struct SmscHandler {
    shared: Arc<Shared>,
}

/// What an accepted bind holds until its session is gone.
pub(crate) struct Grant {
    account: Arc<AccountRef>,
    slot: BindSlot,
    conn: u64,
}

/// A bind kind as the history writes it.
fn kind_name(kind: BindKind) -> &'static str {
    match kind {
        BindKind::Transmitter => "tx",
        BindKind::Receiver => "rx",
        BindKind::Transceiver => "trx",
    }
}

impl Handler for SmscHandler {
    type Grant = Grant;

    async fn bind(&self, request: BindRequest) -> Result<(Self::Grant, String), CommandStatus> {
        let shared = &self.shared;
        // A refused bind closes its connection, so every connection asks at most once.
        let conn = shared.next_conn.fetch_add(1, Ordering::Relaxed);
        let checked = shared.check_credentials(&request).and_then(|()| {
            let account = shared
                .account(&request.system_id)
                .ok_or(CommandStatus::EsmeRbindfail)?;
            let Some(slot) = shared
                .binds
                .open(&request.system_id, request.kind, request.peer)
            else {
                shared
                    .counters
                    .binds_over_limit
                    .fetch_add(1, Ordering::Relaxed);
                return Err(CommandStatus::EsmeRbindfail);
            };
            Ok(Grant {
                account,
                slot,
                conn,
            })
        });
        let ok = checked.is_ok();
        shared
            .record(|| Event::Bind {
                t_ms: unix_ms(),
                conn,
                system_id: request.system_id.clone(),
                kind: kind_name(request.kind),
                ok,
            })
            .await;
        match checked {
            Ok(grant) => Ok((grant, shared.config.system_id.clone())),
            Err(status) => {
                shared
                    .counters
                    .binds_rejected
                    .fetch_add(1, Ordering::Relaxed);
                shared
                    .record(|| Event::Close {
                        t_ms: unix_ms(),
                        conn,
                        by: By::Smsc,
                    })
                    .await;
                Err(status)
            }
        }
    }

    fn session(
        self: &Arc<Self>,
        grant: Self::Grant,
        kind: BindKind,
        handle: SessionHandle,
        events: mpsc::Receiver<SessionEvent>,
    ) {
        self.shared.tracker.spawn(session::run(
            self.shared.clone(),
            grant.account,
            grant.slot,
            grant.conn,
            kind,
            handle,
            events,
        ));
    }
}

/// The simulator.
pub struct Smsc;

impl Smsc {
    /// Validates `config`, listens, and serves until [`SmscHandle::shutdown`].
    pub async fn start(config: SmscConfig) -> Result<SmscHandle, SmscError> {
        config.validate()?;
        let listener =
            TcpListener::bind(config.listen)
                .await
                .map_err(|source| SmscError::Listen {
                    addr: config.listen,
                    source,
                })?;
        let addr = listener.local_addr().map_err(|source| SmscError::Listen {
            addr: config.listen,
            source,
        })?;
        let server_config = ServerConfig {
            session: smpp_session::Config {
                role: Role::Server,
                window_in: config.submit_window,
                window_out: config.receipt_window,
                ..smpp_session::Config::default()
            },
            ..ServerConfig::default()
        };
        let counters = Counters::new(&config);
        let (history, writer) = match &config.history {
            Some(path) => {
                let (recorder, writer) = Writer::open(path, counters.history_events.clone())
                    .await
                    .map_err(|source| SmscError::History {
                        path: path.clone(),
                        source,
                    })?;
                (Some(recorder), Some(writer))
            }
            None => (None, None),
        };
        let shutdown = CancellationToken::new();
        let tracker = TaskTracker::new();
        let shared = Arc::new(Shared {
            dedup: Dedup::new(config.duplicate_window),
            parts_seen: Dedup::new(if config.refuse_part.is_some() {
                PARTS_REMEMBERED
            } else {
                0
            }),
            counters,
            binds: Arc::new(Binds::new(config.max_binds)),
            config,
            accounts: Mutex::new(HashMap::new()),
            submit_seq: AtomicU64::new(0),
            next_conn: AtomicU64::new(1),
            started: Instant::now(),
            history,
            shutdown: shutdown.clone(),
            tracker: tracker.clone(),
        });
        tracker.spawn(serve(
            listener,
            None,
            Arc::new(server_config),
            Arc::new(SmscHandler {
                shared: shared.clone(),
            }),
            shutdown.clone(),
            tracker.clone(),
        ));
        if let Some(mo) = shared.config.mo.clone() {
            tracker.spawn(account::generate_mo(shared.clone(), mo));
        }
        Ok(SmscHandle {
            addr,
            shared,
            history: writer,
        })
    }
}

/// Concatenated messages whose refused part `refuse_part` remembers.
const PARTS_REMEMBERED: usize = 1_000_000;

/// A running simulator. Dropping it stops the simulator without waiting (and without
/// flushing the history's last lines: [`SmscHandle::shutdown`] does).
pub struct SmscHandle {
    addr: SocketAddr,
    shared: Arc<Shared>,
    history: Option<Writer>,
}

impl SmscHandle {
    /// Where ESMEs connect.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn config(&self) -> &SmscConfig {
        &self.shared.config
    }

    /// The counters as they stand.
    pub fn stats(&self) -> SmscStats {
        self.shared.stats()
    }

    /// The last [`LOG_CAPACITY`] binds and every older one still open, oldest first.
    pub fn sessions(&self) -> Vec<SessionLog> {
        self.shared.binds.sessions()
    }

    /// Sets every bind's [`SessionLog::submits_after_mark`] to 0: from now on it counts the
    /// submits handled after this call returned, exactly. Returns the time of the mark, unix
    /// milliseconds.
    pub fn set_mark(&self) -> u64 {
        self.shared.binds.set_mark()
    }

    /// Answers `GET /stats` ([`SmscStats`] as JSON), `GET /sessions` (the
    /// [`sessions`](Self::sessions) as JSON) and `POST /mark` ([`set_mark`](Self::set_mark),
    /// answered with `{"mark_ms": ...}`) over HTTP on `addr` until shutdown, for tools that
    /// run the simulator as a process. Returns the address it listens on.
    pub async fn listen_stats(&self, addr: SocketAddr) -> Result<SocketAddr, SmscError> {
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|source| SmscError::Listen { addr, source })?;
        let local = listener
            .local_addr()
            .map_err(|source| SmscError::Listen { addr, source })?;
        self.shared
            .tracker
            .spawn(http::serve(self.shared.clone(), listener));
        Ok(local)
    }

    /// Waits until `done(stats)` holds or `timeout` passes; returns the last stats either way.
    pub async fn wait_for(
        &self,
        timeout: Duration,
        mut done: impl FnMut(&SmscStats) -> bool,
    ) -> SmscStats {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let stats = self.stats();
            if done(&stats) || tokio::time::Instant::now() >= deadline {
                return stats;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Unbinds every session (outstanding deliver_sm get up to 5 s to be answered), writes
    /// the history's last lines and stops. Returns the counters as they end.
    pub async fn shutdown(mut self) -> SmscStats {
        self.shared.shutdown.cancel();
        self.shared.tracker.close();
        let _ = tokio::time::timeout(Duration::from_secs(5), self.shared.tracker.wait()).await;
        if let Some(writer) = self.history.take() {
            let _ = tokio::time::timeout(Duration::from_secs(5), writer.close()).await;
        }
        self.shared.stats()
    }
}

impl Drop for SmscHandle {
    fn drop(&mut self) {
        self.shared.shutdown.cancel();
    }
}
