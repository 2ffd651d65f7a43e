//! Matches receipts to submits by the message id of the submit_sm_resp. A receipt may come
//! on any bind of the account, and before the submit_sm_resp it reports (the SMSC may
//! answer and report at once, on another connection), so both orders are matched. The map
//! is sharded: every bind task touches it for each message.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

const SHARDS: usize = 16;

/// Receipts held while their submit_sm_resp has not come: beyond this they are counted as
/// unmatched at once.
const MAX_EARLY: u64 = 1_000_000;

enum Entry {
    /// Submitted at this instant (the latency reference), receipt not yet seen.
    Submitted(Instant),
    /// The receipt came at this instant, before its submit_sm_resp.
    Received(Instant),
}

#[derive(Default)]
pub(crate) struct Correlator {
    shards: [Mutex<HashMap<Box<str>, Entry>>; SHARDS],
    /// Submits accepted that asked for a receipt.
    expected: AtomicU64,
    matched: AtomicU64,
    early: AtomicU64,
    /// Receipts not held: over the early limit, or with an id already reported.
    rejected: AtomicU64,
}

/// Where the correlator stands at the end of a run.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Outcome {
    pub expected: u64,
    pub matched: u64,
    /// Receipts that matched no submit: unknown or repeated ids.
    pub unmatched: u64,
}

fn shard_of(id: &str) -> usize {
    // FNV-1a: cheap, and ids differ in their last digits.
    let hash = id.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
    });
    (hash % SHARDS as u64) as usize
}

impl Correlator {
    /// A submit with `id` was accepted. Returns the receipt latency when its receipt came
    /// first.
    pub(crate) fn submitted(&self, id: &str, start: Instant) -> Option<Duration> {
        self.expected.fetch_add(1, Ordering::Relaxed);
        let mut shard = self.shards[shard_of(id)].lock().ok()?;
        match shard.remove(id) {
            Some(Entry::Received(at)) => {
                self.early.fetch_sub(1, Ordering::Relaxed);
                self.matched.fetch_add(1, Ordering::Relaxed);
                Some(at.saturating_duration_since(start))
            }
            Some(Entry::Submitted(earlier)) => {
                // The SMSC gave two submits the same id; the receipt can match one only.
                shard.insert(id.into(), Entry::Submitted(earlier));
                self.rejected.fetch_add(1, Ordering::Relaxed);
                None
            }
            None => {
                shard.insert(id.into(), Entry::Submitted(start));
                None
            }
        }
    }

    /// A receipt for `id` came at `at`. Returns its latency when the submit is known.
    pub(crate) fn received(&self, id: &str, at: Instant) -> Option<Duration> {
        let mut shard = self.shards[shard_of(id)].lock().ok()?;
        match shard.remove(id) {
            Some(Entry::Submitted(start)) => {
                self.matched.fetch_add(1, Ordering::Relaxed);
                Some(at.saturating_duration_since(start))
            }
            Some(Entry::Received(first)) => {
                shard.insert(id.into(), Entry::Received(first));
                self.rejected.fetch_add(1, Ordering::Relaxed);
                None
            }
            None => {
                if self.early.load(Ordering::Relaxed) >= MAX_EARLY {
                    self.rejected.fetch_add(1, Ordering::Relaxed);
                } else {
                    self.early.fetch_add(1, Ordering::Relaxed);
                    shard.insert(id.into(), Entry::Received(at));
                }
                None
            }
        }
    }

    pub(crate) fn matched(&self) -> u64 {
        self.matched.load(Ordering::Relaxed)
    }

    /// Receipts still awaited.
    pub(crate) fn waiting(&self) -> u64 {
        self.expected
            .load(Ordering::Relaxed)
            .saturating_sub(self.matched())
    }

    pub(crate) fn outcome(&self) -> Outcome {
        Outcome {
            expected: self.expected.load(Ordering::Relaxed),
            matched: self.matched(),
            unmatched: self.early.load(Ordering::Relaxed) + self.rejected.load(Ordering::Relaxed),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn receipts_match_in_either_order() {
        let c = Correlator::default();
        let t0 = Instant::now();
        let later = t0 + Duration::from_millis(5);
        assert_eq!(c.submitted("1", t0), None);
        assert_eq!(c.received("1", later), Some(Duration::from_millis(5)));
        assert_eq!(c.received("2", later), None);
        assert_eq!(c.submitted("2", t0), Some(Duration::from_millis(5)));
        assert_eq!(c.waiting(), 0);
        assert_eq!(
            c.received("1", later),
            None,
            "a repeated receipt matches nothing"
        );
        let outcome = c.outcome();
        assert_eq!(
            (outcome.expected, outcome.matched, outcome.unmatched),
            (2, 2, 1)
        );
    }
}
