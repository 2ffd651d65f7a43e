//! The wall clock, read in one place: every layer that stamps a record, a request or a
//! wire time asks [`now_ms`]. Code that must stay deterministic (the ledger's state
//! machine) never calls it and takes its time from its inputs.

/// Milliseconds since the Unix epoch; 0 if the clock is before 1970.
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_clock_is_past_2024() {
        // 2024-01-01T00:00:00Z
        assert!(now_ms() > 1_704_067_200_000);
    }
}
