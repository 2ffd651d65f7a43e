//! The simulator's counters: atomics that sessions add to once per batch, and the snapshot
//! tests and reports read.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use tern_smpp::CommandStatus;

use super::SmscConfig;

/// What the simulator has seen and done so far.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SmscStats {
    /// Binds open now.
    pub binds: u64,
    /// Binds accepted since the start.
    pub binds_total: u64,
    /// Binds refused, for any reason.
    pub binds_rejected: u64,
    /// Binds refused because their account had `max_binds` binds that can submit open
    /// (also counted in `binds_rejected`).
    pub binds_refused_over_limit: u64,
    /// The most binds that can submit (transmitters and transceivers) open at once, over all
    /// accounts. A bind counts from its acceptance until its session is gone.
    pub binds_peak: u64,
    /// The same per system_id.
    pub binds_peak_by_account: BTreeMap<String, u64>,
    /// submit_sm answered, whatever the status.
    pub submits: u64,
    pub submits_by_status: BTreeMap<String, u64>,
    /// Accepted submits whose (source, destination, short_message) was new.
    pub unique_submits: u64,
    /// Accepted submits whose (source, destination, short_message) had been accepted before.
    pub duplicates: u64,
    /// Receipts due to be sent (the submit asked for one), second copies
    /// (`duplicate_receipts`) included.
    pub receipts_scheduled: u64,
    /// Receipt deliver_sm answered by the ESME, whatever the status.
    pub receipts_sent: u64,
    /// Receipt deliver_sm answered with ESME_ROK.
    pub receipts_acked: u64,
    /// Receipts dropped: the account's queue was full, or no receiving bind came in time.
    pub receipts_dropped: u64,
    /// Receipts and MOs waiting now (not due yet, waiting for a bind, or in flight).
    pub receipts_pending: u64,
    /// deliver_sm (receipt or MO) that got no response in time.
    pub deliver_timeouts: u64,
    /// deliver_sm answered with a temporary error and queued to be sent again.
    pub deliver_retries: u64,
    pub mo_sent: u64,
    pub mo_acked: u64,
    pub mo_dropped: u64,
    /// Binds the simulator unbound on purpose.
    pub disconnects_injected: u64,
    /// Submits refused by a throttling storm (`storm_every`).
    #[serde(default)]
    pub storm_refusals: u64,
    /// Parts refused the first time they came (`refuse_part`).
    #[serde(default)]
    pub parts_refused: u64,
    /// Submits read and never answered: the connection was closed under them on purpose
    /// (`drop_after_read`, counting every later submit the connection still delivered).
    /// Not in `submits`.
    #[serde(default)]
    pub submits_dropped: u64,
    /// Submits whose response was held back by `slow_answer`.
    #[serde(default)]
    pub slow_answers: u64,
    /// Submits whose response waited for their receipt (`receipt_before_resp`).
    #[serde(default)]
    pub receipts_before_resp: u64,
    /// Receipts sent to a bind other than the submitting one on purpose
    /// (`receipt_other_bind`).
    #[serde(default)]
    pub receipts_other_bind: u64,
    /// Receipts scheduled twice (`duplicate_receipts`).
    #[serde(default)]
    pub receipts_duplicated: u64,
    /// Lines written to the history file (`history`).
    #[serde(default)]
    pub history_events: u64,
}

/// The statuses the simulator answers submits with; each has its own counter.
const FIXED_STATUSES: [CommandStatus; 4] = [
    CommandStatus::EsmeRok,
    CommandStatus::EsmeRsyserr,
    CommandStatus::EsmeRthrottled,
    CommandStatus::EsmeRinvcmdid,
];

/// Slot of `status` in [`Counters::by_status`]; the last slot counts anything else.
#[derive(Debug)]
pub(crate) struct StatusSlots {
    codes: Vec<CommandStatus>,
}

impl StatusSlots {
    fn new(config: &SmscConfig) -> Self {
        let mut codes = FIXED_STATUSES.to_vec();
        for status in [
            config.permanent_error_status,
            config.storm_status,
            config.refuse_part_status,
        ] {
            if !codes.contains(&status) {
                codes.push(status);
            }
        }
        Self { codes }
    }

    pub(crate) fn len(&self) -> usize {
        self.codes.len() + 1
    }

    pub(crate) fn slot(&self, status: CommandStatus) -> usize {
        self.codes
            .iter()
            .position(|s| *s == status)
            .unwrap_or(self.codes.len())
    }
}

#[derive(Debug)]
pub(crate) struct Counters {
    pub binds_open: AtomicI64,
    pub binds_total: AtomicU64,
    pub binds_rejected: AtomicU64,
    pub binds_over_limit: AtomicU64,
    pub submits: AtomicU64,
    pub slots: StatusSlots,
    pub by_status: Vec<AtomicU64>,
    pub unique_submits: AtomicU64,
    pub duplicates: AtomicU64,
    pub receipts_scheduled: AtomicU64,
    pub receipts_sent: AtomicU64,
    pub receipts_acked: AtomicU64,
    pub receipts_dropped: AtomicU64,
    pub pending: AtomicI64,
    pub deliver_timeouts: AtomicU64,
    pub deliver_retries: AtomicU64,
    pub mo_sent: AtomicU64,
    pub mo_acked: AtomicU64,
    pub mo_dropped: AtomicU64,
    pub disconnects: AtomicU64,
    pub storm_refusals: AtomicU64,
    pub parts_refused: AtomicU64,
    pub submits_dropped: AtomicU64,
    pub slow_answers: AtomicU64,
    pub receipts_before_resp: AtomicU64,
    pub receipts_other_bind: AtomicU64,
    pub receipts_duplicated: AtomicU64,
    /// Shared with the history's writer.
    pub history_events: Arc<AtomicU64>,
}

impl Counters {
    pub(crate) fn new(config: &SmscConfig) -> Self {
        let slots = StatusSlots::new(config);
        Self {
            by_status: (0..slots.len()).map(|_| AtomicU64::new(0)).collect(),
            slots,
            binds_open: AtomicI64::new(0),
            binds_total: AtomicU64::new(0),
            binds_rejected: AtomicU64::new(0),
            binds_over_limit: AtomicU64::new(0),
            submits: AtomicU64::new(0),
            unique_submits: AtomicU64::new(0),
            duplicates: AtomicU64::new(0),
            receipts_scheduled: AtomicU64::new(0),
            receipts_sent: AtomicU64::new(0),
            receipts_acked: AtomicU64::new(0),
            receipts_dropped: AtomicU64::new(0),
            pending: AtomicI64::new(0),
            deliver_timeouts: AtomicU64::new(0),
            deliver_retries: AtomicU64::new(0),
            mo_sent: AtomicU64::new(0),
            mo_acked: AtomicU64::new(0),
            mo_dropped: AtomicU64::new(0),
            disconnects: AtomicU64::new(0),
            storm_refusals: AtomicU64::new(0),
            parts_refused: AtomicU64::new(0),
            submits_dropped: AtomicU64::new(0),
            slow_answers: AtomicU64::new(0),
            receipts_before_resp: AtomicU64::new(0),
            receipts_other_bind: AtomicU64::new(0),
            receipts_duplicated: AtomicU64::new(0),
            history_events: Arc::new(AtomicU64::new(0)),
        }
    }

    /// The counters; the peaks are the bind table's ([`super::binds::Binds::fill`]).
    pub(crate) fn snapshot(&self) -> SmscStats {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        let mut submits_by_status = BTreeMap::new();
        for (i, count) in self.by_status.iter().enumerate() {
            let count = get(count);
            if count == 0 {
                continue;
            }
            let name = match self.slots.codes.get(i) {
                Some(status) => crate::status::name(*status),
                None => "other".to_owned(),
            };
            submits_by_status.insert(name, count);
        }
        SmscStats {
            binds: self.binds_open.load(Ordering::Relaxed).max(0) as u64,
            binds_total: get(&self.binds_total),
            binds_rejected: get(&self.binds_rejected),
            binds_refused_over_limit: get(&self.binds_over_limit),
            binds_peak: 0,
            binds_peak_by_account: BTreeMap::new(),
            submits: get(&self.submits),
            submits_by_status,
            unique_submits: get(&self.unique_submits),
            duplicates: get(&self.duplicates),
            receipts_scheduled: get(&self.receipts_scheduled),
            receipts_sent: get(&self.receipts_sent),
            receipts_acked: get(&self.receipts_acked),
            receipts_dropped: get(&self.receipts_dropped),
            receipts_pending: self.pending.load(Ordering::Relaxed).max(0) as u64,
            deliver_timeouts: get(&self.deliver_timeouts),
            deliver_retries: get(&self.deliver_retries),
            mo_sent: get(&self.mo_sent),
            mo_acked: get(&self.mo_acked),
            mo_dropped: get(&self.mo_dropped),
            disconnects_injected: get(&self.disconnects),
            storm_refusals: get(&self.storm_refusals),
            parts_refused: get(&self.parts_refused),
            submits_dropped: get(&self.submits_dropped),
            slow_answers: get(&self.slow_answers),
            receipts_before_resp: get(&self.receipts_before_resp),
            receipts_other_bind: get(&self.receipts_other_bind),
            receipts_duplicated: get(&self.receipts_duplicated),
            history_events: get(&self.history_events),
        }
    }
}
