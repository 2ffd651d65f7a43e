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
//! [`Generator::resume`] and the last second it may have used, or keep its state in the
//! store with [`durable`], which reserves sequences ahead in blocks so that a restart
//! carries on in the same period instead of waiting for the next one. The fields have no
//! year, so an id comes back after a year at the earliest, long after any report.

pub mod bcd;
#[cfg(feature = "durable")]
pub mod durable;

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

    /// The counter behind the ids: its reservation, for [`durable`].
    pub fn counter(&self) -> &PeriodCounter {
        &self.counter
    }

    /// A generator that hands out only what its counter has reserved (see
    /// [`PeriodCounter::bounded`]).
    pub fn bounded(gateway_code: u32, from: Option<(i64, u32)>) -> Option<Self> {
        let counter = PeriodCounter::bounded(L::PERIOD_SECS, L::PER_PERIOD, from);
        Self::with(gateway_code, counter)
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
///
/// A bounded counter ([`PeriodCounter::bounded`]) hands out a sequence only below its
/// reservation, a (period, sequence) mark in the same layout that its owner raises once the
/// mark is durable ([`PeriodCounter::reserve`], [`durable`]). A new period that is not
/// reserved yet is served from the last one while that has reserved room, so ids lag the
/// clock by a moment rather than wait for the write.
#[derive(Debug)]
pub struct PeriodCounter {
    period_secs: u32,
    per_period: u32,
    count_bits: u32,
    state: AtomicU64,
    /// Sequences are handed out strictly below this (period, count) mark.
    reserved: AtomicU64,
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
            reserved: AtomicU64::new(u64::MAX),
        }
    }

    /// A counter that hands out nothing until [`PeriodCounter::reserve`] says how far it
    /// may go. `from` (a Unix second in a period, a sequence) is where an earlier run's
    /// durable reservation ended: the sequences below it in that period, and every earlier
    /// period, count as used.
    pub fn bounded(period_secs: u32, per_period: u32, from: Option<(i64, u32)>) -> Self {
        let counter = PeriodCounter::new(period_secs, per_period);
        let start = match from {
            Some((unix_secs, sequence)) => counter.pack(
                counter.period_of(unix_secs),
                u64::from(sequence.min(counter.per_period)),
            ),
            None => 0,
        };
        counter.state.store(start, Ordering::Release);
        counter.reserved.store(start, Ordering::Release);
        counter
    }

    /// Allows the sequences below `sequence` of the period of `unix_secs` (and every one
    /// before it): the mark is durable. A mark below the current one changes nothing.
    pub fn reserve(&self, unix_secs: i64, sequence: u32) {
        let mark = self.pack(
            self.period_of(unix_secs),
            u64::from(sequence.min(self.per_period)),
        );
        self.reserved.fetch_max(mark, Ordering::AcqRel);
    }

    /// The reservation to make durable next, as (Unix second of its period, sequence), when
    /// the current one leaves less than half of `block` for `unix_secs`: up to `block`
    /// sequences past the last one handed out, in the clock's period when that is newer.
    /// `None` while there is room.
    pub fn to_reserve(&self, unix_secs: i64, block: u32) -> Option<(i64, u32)> {
        let wanted = self.period_of(unix_secs);
        let (last, used) = self.unpack(self.state.load(Ordering::Acquire));
        let (period, from) = if wanted > last {
            (wanted, 0)
        } else {
            (last, used)
        };
        let per_period = u64::from(self.per_period);
        let half = (from + u64::from(block.max(2) / 2)).min(per_period);
        if self.reserved.load(Ordering::Acquire) >= self.pack(period, half) {
            return None;
        }
        let until = (from + u64::from(block.max(1))).min(per_period);
        let start = period.saturating_mul(u64::from(self.period_secs));
        // `until` is at most per_period, a u32.
        Some((
            i64::try_from(start).unwrap_or(i64::MAX),
            u32::try_from(until).unwrap_or(self.per_period),
        ))
    }

    fn pack(&self, period: u64, count: u64) -> u64 {
        period << self.count_bits | count
    }

    fn unpack(&self, word: u64) -> (u64, u64) {
        (
            word >> self.count_bits,
            word & ((1u64 << self.count_bits) - 1),
        )
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
        let reserved = self.reserved.load(Ordering::Acquire);
        let mut current = self.state.load(Ordering::Acquire);
        loop {
            let (last, used) = self.unpack(current);
            let (period, sequence) = if wanted > last && self.pack(wanted, 0) < reserved {
                (wanted, 0)
            } else if used < u64::from(self.per_period) && current < reserved {
                (last, used)
            } else {
                return None;
            };
            let next = self.pack(period, sequence + 1);
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
    fn a_bounded_counter_gives_only_what_is_reserved() {
        let counter = PeriodCounter::bounded(60, 1000, None);
        assert_eq!(counter.next(NOON), None, "nothing reserved yet");
        assert_eq!(counter.to_reserve(NOON, 100), Some((NOON, 100)));
        counter.reserve(NOON, 100);
        assert_eq!(counter.to_reserve(NOON, 100), None, "room for half a block");
        for expected in 0..100 {
            assert_eq!(counter.next(NOON + 1), Some((NOON, expected)));
        }
        assert_eq!(counter.next(NOON + 1), None, "the block is used up");
        assert_eq!(counter.to_reserve(NOON + 1, 100), Some((NOON, 200)));
        counter.reserve(NOON, 200);
        assert_eq!(counter.next(NOON + 2), Some((NOON, 100)));
        // A lower mark changes nothing.
        counter.reserve(NOON, 10);
        assert_eq!(counter.next(NOON + 2), Some((NOON, 101)));
    }

    #[test]
    fn a_new_period_is_served_from_the_last_until_it_is_reserved() {
        let counter = PeriodCounter::bounded(60, 1000, None);
        counter.reserve(NOON, 10);
        assert_eq!(counter.next(NOON), Some((NOON, 0)));
        // The clock is in the next minute; it is not reserved yet.
        assert_eq!(counter.next(NOON + 60), Some((NOON, 1)));
        assert_eq!(counter.to_reserve(NOON + 60, 10), Some((NOON + 60, 10)));
        counter.reserve(NOON + 60, 10);
        assert_eq!(counter.next(NOON + 61), Some((NOON + 60, 0)));
        assert_eq!(counter.next(NOON + 61), Some((NOON + 60, 1)));
    }

    #[test]
    fn a_bounded_counter_resumes_where_the_durable_mark_ended() {
        // An earlier run reserved up to sequence 500 of this minute.
        let counter = PeriodCounter::bounded(60, 1000, Some((NOON + 10, 500)));
        assert_eq!(counter.next(NOON + 20), None);
        assert_eq!(counter.to_reserve(NOON + 20, 100), Some((NOON, 600)));
        counter.reserve(NOON, 600);
        assert_eq!(counter.next(NOON + 20), Some((NOON, 500)));
        // A mark of a period already over: the clock's period starts at 0.
        let later = PeriodCounter::bounded(60, 1000, Some((NOON - 60, 999)));
        assert_eq!(later.to_reserve(NOON, 100), Some((NOON, 100)));
        later.reserve(NOON, 100);
        assert_eq!(later.next(NOON), Some((NOON, 0)));
        // A full period: the next one.
        let full = PeriodCounter::bounded(60, 1000, Some((NOON, 1000)));
        assert_eq!(full.to_reserve(NOON + 5, 100), None);
        assert_eq!(full.next(NOON + 5), None);
        assert_eq!(full.to_reserve(NOON + 60, 100), Some((NOON + 60, 100)));
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
