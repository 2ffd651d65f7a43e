//! The wall clock, read in one place: every layer that stamps a record, a request or a
//! wire time asks [`now_ms`]. Code that must stay deterministic (the ledger's state
//! machine) never calls it and takes its time from its inputs.
//!
//! A build with the `test-clock` feature (only `tern`'s `failpoints` builds, for the chaos
//! scenarios) reads it through [`test_clock`]: a step and a drift set while the node runs,
//! where stepping the machine's own clock cannot be had.

/// Milliseconds since the Unix epoch; 0 if the clock is before 1970.
pub fn now_ms() -> u64 {
    let real = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
    #[cfg(feature = "test-clock")]
    let real = test_clock::adjust(real);
    real
}

/// A clock stepped and drifting on request, for tests of what a wrong clock does.
#[cfg(feature = "test-clock")]
pub mod test_clock {
    use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

    static OFFSET_MS: AtomicI64 = AtomicI64::new(0);
    static DRIFT_PPM: AtomicI64 = AtomicI64::new(0);
    /// The real time the drift counts from.
    static SINCE_MS: AtomicU64 = AtomicU64::new(0);

    /// From now on the clock is `offset_ms` off the real one, and runs `drift_ppm`
    /// millionths fast (negative: slow) from here.
    pub fn set(offset_ms: i64, drift_ppm: i64) {
        let real = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
        SINCE_MS.store(real, Ordering::SeqCst);
        DRIFT_PPM.store(drift_ppm, Ordering::SeqCst);
        OFFSET_MS.store(offset_ms, Ordering::SeqCst);
    }

    pub(super) fn adjust(real: u64) -> u64 {
        let offset = OFFSET_MS.load(Ordering::SeqCst);
        let drift = DRIFT_PPM.load(Ordering::SeqCst);
        let since = SINCE_MS.load(Ordering::SeqCst);
        let elapsed = i64::try_from(real.saturating_sub(since)).unwrap_or(i64::MAX);
        let skew = offset.saturating_add(elapsed.saturating_mul(drift) / 1_000_000);
        real.saturating_add_signed(skew)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(feature = "test-clock")]
    #[test]
    fn the_test_clock_steps_and_drifts() {
        let before = now_ms();
        test_clock::set(3_600_000, 0);
        let stepped = now_ms();
        assert!(stepped >= before + 3_600_000);
        test_clock::set(-3_600_000, 1_000_000);
        std::thread::sleep(std::time::Duration::from_millis(50));
        let drifting = now_ms();
        assert!(drifting + 3_500_000 < stepped, "{drifting} {stepped}");
        test_clock::set(0, 0);
    }

    #[test]
    fn the_clock_is_past_2024() {
        // 2024-01-01T00:00:00Z
        assert!(now_ms() > 1_704_067_200_000);
    }
}
