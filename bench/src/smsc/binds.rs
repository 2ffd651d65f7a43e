//! Who is bound, and what each bind did: a test of a gateway cluster must prove that the
//! cluster never holds more binds to an operator than it may, also while it takes over a
//! dead node's binds, and that a node that was paused sends nothing on its old binds once
//! it wakes up.
//!
//! A bind takes a [`BindSlot`] when it is accepted, before its bind_resp is written, and
//! gives it back when its session is gone (unbound or the socket closed). The limit check,
//! the open counts, the peaks and the session log live under one mutex, so two binds racing
//! for the last slot cannot both get it, and a bind that closes and one that is accepted are
//! counted in the order they really happened. "Gone" is when the session's task sees the
//! close, a moment after the socket's; a client that binds again at once may be refused
//! for that moment, as by an operator's SMSC. Sessions add their submits once per batch.
//!
//! The log keeps the last [`LOG_CAPACITY`] binds and every older one still open (those are
//! bounded by the listener's connection limit). "Session 7 received no submit after T" is
//! answered exactly by a mark: [`Binds::set_mark`] zeroes every session's
//! `submits_after_mark` under the same mutex the sessions count under, so a submit counts
//! after the mark if and only if the simulator handled it after `set_mark` returned. The
//! time of the last submit (`last_submit_ms`) answers the same question against a wall
//! clock, to the millisecond.

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use serde::{Deserialize, Serialize};
use tern_smpp::session::BindKind;

use super::SmscStats;

/// Binds the log keeps beyond those still open.
pub const LOG_CAPACITY: usize = 4096;

/// One bind as the simulator saw it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionLog {
    /// Increases with every accepted bind, from 1.
    pub id: u64,
    pub system_id: String,
    /// `transmitter`, `receiver` or `transceiver`.
    pub kind: String,
    /// The client's address (from the PROXY header when there is one).
    pub peer: SocketAddr,
    /// When the bind was accepted, unix milliseconds.
    pub bound_ms: u64,
    /// When the session was gone (unbound or the socket closed), unix milliseconds.
    pub closed_ms: Option<u64>,
    /// submit_sm received on this bind, whatever they were answered with.
    pub submits: u64,
    /// When the simulator handled the last of them, unix milliseconds.
    pub last_submit_ms: Option<u64>,
    /// submit_sm the simulator handled after the last [`set_mark`](super::SmscHandle::set_mark)
    /// (all of them when no mark was set).
    pub submits_after_mark: u64,
}

#[derive(Debug, Default)]
struct Table {
    /// Binds that can submit (transmitters and transceivers) open now, per system_id.
    open: HashMap<String, u64>,
    open_total: u64,
    peak: u64,
    peak_by_account: BTreeMap<String, u64>,
    next_id: u64,
    log: BTreeMap<u64, SessionLog>,
}

/// The open binds, their peaks and the session log.
#[derive(Debug)]
pub(crate) struct Binds {
    max_per_account: Option<u32>,
    table: Mutex<Table>,
}

impl Binds {
    pub(crate) fn new(max_per_account: Option<u32>) -> Self {
        Self {
            max_per_account,
            table: Mutex::new(Table {
                next_id: 1,
                ..Table::default()
            }),
        }
    }

    /// A panic elsewhere leaves the table consistent (every update is complete before the
    /// guard drops), so a poisoned lock is used as it is.
    fn lock(&self) -> MutexGuard<'_, Table> {
        self.table.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Counts and logs an accepted bind; `None` when the account already has as many binds
    /// that can submit as it may.
    pub(crate) fn open(
        self: &Arc<Self>,
        system_id: &str,
        kind: BindKind,
        peer: SocketAddr,
    ) -> Option<BindSlot> {
        let mut table = self.lock();
        let counted = kind.can_submit();
        if counted {
            let open = table.open.get(system_id).copied().unwrap_or(0);
            if self
                .max_per_account
                .is_some_and(|max| open >= u64::from(max))
            {
                return None;
            }
            table.open.insert(system_id.to_owned(), open + 1);
            table.open_total += 1;
            table.peak = table.peak.max(table.open_total);
            let peak = table
                .peak_by_account
                .entry(system_id.to_owned())
                .or_default();
            *peak = (*peak).max(open + 1);
        }
        let id = table.next_id;
        table.next_id += 1;
        table.log.insert(
            id,
            SessionLog {
                id,
                system_id: system_id.to_owned(),
                kind: kind.as_str().to_owned(),
                peer,
                bound_ms: unix_ms(),
                closed_ms: None,
                submits: 0,
                last_submit_ms: None,
                submits_after_mark: 0,
            },
        );
        evict(&mut table.log);
        Some(BindSlot {
            binds: self.clone(),
            id,
            system_id: system_id.to_owned(),
            counted,
        })
    }

    /// Starts counting `submits_after_mark` afresh; returns the mark, unix milliseconds.
    pub(crate) fn set_mark(&self) -> u64 {
        let mut table = self.lock();
        for session in table.log.values_mut() {
            session.submits_after_mark = 0;
        }
        unix_ms()
    }

    /// The log, oldest bind first.
    pub(crate) fn sessions(&self) -> Vec<SessionLog> {
        self.lock().log.values().cloned().collect()
    }

    /// Adds the peaks to a snapshot of the counters.
    pub(crate) fn fill(&self, stats: &mut SmscStats) {
        let table = self.lock();
        stats.binds_peak = table.peak;
        stats.binds_peak_by_account = table.peak_by_account.clone();
    }
}

/// Drops the oldest closed binds beyond the capacity.
fn evict(log: &mut BTreeMap<u64, SessionLog>) {
    while log.len() > LOG_CAPACITY {
        let oldest_closed = log.values().find(|s| s.closed_ms.is_some()).map(|s| s.id);
        match oldest_closed {
            Some(id) => {
                log.remove(&id);
            }
            None => break,
        }
    }
}

/// An accepted bind's place in the counts and the log, held until its session is gone.
#[derive(Debug)]
pub(crate) struct BindSlot {
    binds: Arc<Binds>,
    id: u64,
    system_id: String,
    counted: bool,
}

impl BindSlot {
    /// The bind's id, the same as in the log.
    pub(crate) fn id(&self) -> u64 {
        self.id
    }

    /// `count` submit_sm were handled on this bind just now.
    pub(crate) fn submitted(&self, count: u64) {
        if count == 0 {
            return;
        }
        let now = unix_ms();
        let mut table = self.binds.lock();
        if let Some(session) = table.log.get_mut(&self.id) {
            session.submits += count;
            session.submits_after_mark += count;
            session.last_submit_ms = Some(now);
        }
    }
}

impl Drop for BindSlot {
    fn drop(&mut self) {
        let mut table = self.binds.lock();
        if self.counted {
            if let Some(open) = table.open.get_mut(&self.system_id) {
                *open = open.saturating_sub(1);
            }
            table.open_total = table.open_total.saturating_sub(1);
        }
        if let Some(session) = table.log.get_mut(&self.id) {
            session.closed_ms = Some(unix_ms());
        }
        evict(&mut table.log);
    }
}

pub(crate) fn unix_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn peer() -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], 4000))
    }

    #[test]
    fn the_limit_counts_only_binds_that_can_submit() {
        let binds = Arc::new(Binds::new(Some(1)));
        let tx = binds.open("a", BindKind::Transmitter, peer());
        assert!(tx.is_some());
        assert!(binds.open("a", BindKind::Receiver, peer()).is_some());
        assert!(binds.open("a", BindKind::Transceiver, peer()).is_none());
        assert!(
            binds.open("b", BindKind::Transceiver, peer()).is_some(),
            "per account"
        );
        drop(tx);
        assert!(binds.open("a", BindKind::Transceiver, peer()).is_some());
    }

    #[test]
    fn the_log_keeps_open_binds_and_the_latest_closed_ones() {
        let binds = Arc::new(Binds::new(None));
        let first = binds.open("a", BindKind::Transceiver, peer());
        for _ in 0..LOG_CAPACITY + 10 {
            drop(binds.open("a", BindKind::Transmitter, peer()));
        }
        let log = binds.sessions();
        assert_eq!(log.len(), LOG_CAPACITY);
        assert_eq!(log.first().map(|s| s.id), Some(1), "the open bind stays");
        assert_eq!(log.get(1).map(|s| s.id), Some(13));
        assert_eq!(log.last().map(|s| s.id), Some(LOG_CAPACITY as u64 + 11));
        drop(first);
    }

    #[test]
    fn a_mark_restarts_the_count_after_it() {
        let binds = Arc::new(Binds::new(None));
        let Some(slot) = binds.open("a", BindKind::Transceiver, peer()) else {
            panic!("bind refused");
        };
        slot.submitted(3);
        binds.set_mark();
        slot.submitted(2);
        let log = binds.sessions();
        assert_eq!(log[0].submits, 5);
        assert_eq!(log[0].submits_after_mark, 2);
        assert!(log[0].last_submit_ms.is_some());
    }
}
