//! The lock-free counter behind every message id generator here, and the BCD MsgID that
//! SMGP 3.0 and CNGP 2.0 share.
//!
//! A gateway assigns the id of a SUBMIT in its response and repeats it in the status
//! report, so ids must not repeat while a report can still come back. Each protocol's id
//! holds a time without year (to the second in CMPP, to the minute in SMGP and CNGP), the
//! gateway's code and a sequence that starts again each period: a [`PeriodCounter`] hands
//! out those sequences, at most its capacity per period, never one twice, and a
//! [`Generator`] makes them ids of a [`Layout`]. The layouts are the protocols' (CMPP's 64
//! bits in `tern-cmpp`; the BCD MsgID in [`bcd`]; SGIP's sequence number, which has no
//! period, in `tern-sgip`).
//!
//! Uniqueness across nodes needs a gateway code per node: two generators with the same
//! code can collide. Across a restart, a generator starts empty: seed it with
//! [`Generator::resume`] and the last second it may have used. The fields have no year, so
//! an id comes back after a year at the earliest, long after any report.

pub mod bcd;

use std::marker::PhantomData;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::time::Civil;

/// A message id layout: the range of its gateway code, the period its sequence starts
/// again in, and how a gateway code, a time and a sequence make an id.
pub trait Layout: Sized {
    /// The largest gateway code the layout holds.
    const MAX_GATEWAY_CODE: u32;
    /// Seconds of the period each sequence starts again in: 1 or 60.
    const PERIOD_SECS: u32;
    /// Ids per period.
    const PER_PERIOD: u32;

    /// The id of `gateway` (at most [`Layout::MAX_GATEWAY_CODE`]) for the period that
    /// starts at `at` (UTC+8) and `sequence` (below [`Layout::PER_PERIOD`]).
    fn id(gateway: u32, at: Civil, sequence: u32) -> Option<Self>;
}

/// Hands out the ids of layout `L` for one gateway code, from any thread: the period's
/// sequence from a [`PeriodCounter`].
#[derive(Debug)]
pub struct Generator<L> {
    gateway: u32,
    counter: PeriodCounter,
    layout: PhantomData<fn() -> L>,
}

impl<L: Layout> Generator<L> {
    /// A generator for `gateway_code`, or `None` when the layout has no room for the code.
    pub fn new(gateway_code: u32) -> Option<Self> {
        Self::with(
            gateway_code,
            PeriodCounter::new(L::PERIOD_SECS, L::PER_PERIOD),
        )
    }

    /// A generator that treats every period up to and including the one of
    /// `last_used_unix_secs` as used up: after a restart, ids start in the next period.
    pub fn resume(gateway_code: u32, last_used_unix_secs: i64) -> Option<Self> {
        let counter = PeriodCounter::resuming(L::PERIOD_SECS, L::PER_PERIOD, last_used_unix_secs);
        Self::with(gateway_code, counter)
    }

    fn with(gateway_code: u32, counter: PeriodCounter) -> Option<Self> {
        (gateway_code <= L::MAX_GATEWAY_CODE).then_some(Generator {
            gateway: gateway_code,
            counter,
            layout: PhantomData,
        })
    }

    pub fn gateway_code(&self) -> u32 {
        self.gateway
    }

    /// The next id for `unix_secs`, or `None` when this period's ids are all given out
    /// (wait for the next period, or throttle).
    pub fn next(&self, unix_secs: i64) -> Option<L> {
        let (start, sequence) = self.counter.next(unix_secs)?;
        L::id(self.gateway, Civil::from_unix(start), sequence)
    }
}

/// Hands out sequence numbers per period of time (a second, a minute), from any thread.
///
/// One atomic word holds the last period used (upper bits) and how many sequences it has
/// given (lower bits, 0 to the capacity); a compare-and-swap takes the next one, so the
/// counter is lock-free and a sequence is never handed out twice. A period earlier than the
/// last one used (a clock step back, or a caller that read the clock before another) is
/// served from the last period instead, so ids stay unique and their time runs at most
/// that far ahead. When a period's sequences are used up, [`PeriodCounter::next`] says so
/// and the caller waits for the next period or throttles.
#[derive(Debug)]
pub struct PeriodCounter {
    period_secs: u32,
    per_period: u32,
    count_bits: u32,
    state: AtomicU64,
}

impl PeriodCounter {
    /// A counter of `per_period` sequences (0 to `per_period - 1`) per `period_secs`
    /// seconds (at least 1 of each).
    pub fn new(period_secs: u32, per_period: u32) -> PeriodCounter {
        let per_period = per_period.max(1);
        PeriodCounter {
            period_secs: period_secs.max(1),
            per_period,
            // Room to count up to per_period itself: a full period.
            count_bits: u32::BITS - per_period.leading_zeros(),
            state: AtomicU64::new(0),
        }
    }

    /// A counter that treats every period up to and including the one of
    /// `last_used_unix_secs` as used up: after a restart, sequences start in the next one.
    pub fn resuming(period_secs: u32, per_period: u32, last_used_unix_secs: i64) -> Self {
        let counter = PeriodCounter::new(period_secs, per_period);
        let period = counter.period_of(last_used_unix_secs);
        counter.state.store(
            period << counter.count_bits | u64::from(counter.per_period),
            Ordering::Release,
        );
        counter
    }

    /// Sequences per period.
    pub fn per_period(&self) -> u32 {
        self.per_period
    }

    /// The next sequence for `unix_secs`, with the Unix second its period starts at, or
    /// `None` when this period's sequences are all given out.
    pub fn next(&self, unix_secs: i64) -> Option<(i64, u32)> {
        let wanted = self.period_of(unix_secs);
        let mask = (1u64 << self.count_bits) - 1;
        let mut current = self.state.load(Ordering::Acquire);
        loop {
            let last = current >> self.count_bits;
            let used = current & mask;
            let (period, sequence) = if wanted > last {
                (wanted, 0)
            } else if used < u64::from(self.per_period) {
                (last, used)
            } else {
                return None;
            };
            let next = period << self.count_bits | (sequence + 1);
            match self.state.compare_exchange_weak(
                current,
                next,
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => {
                    let start = period.saturating_mul(u64::from(self.period_secs));
                    // The sequence is below per_period, a u32.
                    let sequence = u32::try_from(sequence).unwrap_or(u32::MAX);
                    return Some((i64::try_from(start).unwrap_or(i64::MAX), sequence));
                }
                Err(actual) => current = actual,
            }
        }
    }

    /// Periods since the epoch as stored in the state word: not before the epoch, and
    /// within the bits above the count.
    fn period_of(&self, unix_secs: i64) -> u64 {
        u64::try_from(unix_secs.div_euclid(i64::from(self.period_secs)))
            .unwrap_or(0)
            .min((1 << (u64::BITS - self.count_bits)) - 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;
    use std::sync::Arc;

    // 2024-03-01 12:00:00 +08:00.
    const NOON: i64 = 1_709_265_600;

    #[test]
    fn a_period_holds_its_capacity_then_none() {
        let counter = PeriodCounter::new(60, 1000);
        for expected in 0..1000 {
            assert_eq!(counter.next(NOON + 59), Some((NOON, expected)));
        }
        assert_eq!(counter.next(NOON + 30), None);
        // An earlier period is served from the last one, which is full too.
        assert_eq!(counter.next(NOON - 120), None);
        assert_eq!(counter.next(NOON + 60), Some((NOON + 60, 0)));
    }

    #[test]
    fn seconds_hold_65536_and_minutes_a_million() {
        let seconds = PeriodCounter::new(1, 1 << 16);
        assert_eq!(seconds.count_bits, 17);
        let minutes = PeriodCounter::new(60, 1_000_000);
        assert_eq!(minutes.count_bits, 20);
        let mut last = None;
        for _ in 0..1_000_000 {
            last = minutes.next(NOON);
        }
        assert_eq!(last, Some((NOON, 999_999)));
        assert_eq!(minutes.next(NOON + 59), None);
    }

    #[test]
    fn clock_stepping_back_never_repeats_a_sequence() {
        let counter = PeriodCounter::new(1, 10);
        assert_eq!(counter.next(NOON), Some((NOON, 0)));
        assert_eq!(counter.next(NOON - 3600), Some((NOON, 1)));
        assert_eq!(counter.next(-5), Some((NOON, 2)));
    }

    #[test]
    fn resuming_skips_the_periods_already_used() {
        let counter = PeriodCounter::resuming(60, 10, NOON + 10);
        assert_eq!(counter.next(NOON + 59), None);
        assert_eq!(counter.next(NOON + 60), Some((NOON + 60, 0)));
        let seconds = PeriodCounter::resuming(1, 10, NOON);
        assert_eq!(seconds.next(NOON), None);
        assert_eq!(seconds.next(NOON + 1), Some((NOON + 1, 0)));
    }

    #[test]
    fn threads_get_distinct_sequences() {
        let counter = Arc::new(PeriodCounter::new(1, 1 << 16));
        let handles: Vec<_> = (0..4)
            .map(|_| {
                let counter = Arc::clone(&counter);
                std::thread::spawn(move || {
                    (0..20_000)
                        .filter_map(|_| counter.next(NOON))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        let mut all = HashSet::new();
        for handle in handles {
            for taken in handle.join().expect("thread") {
                assert!(all.insert(taken), "duplicate {taken:?}");
            }
        }
        assert_eq!(all.len(), 1 << 16);
    }
}
