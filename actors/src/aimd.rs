//! The flow control of one operator bind: an additive-increase, multiplicative-decrease
//! limit on submits in flight, halved and paused when the operator throttles and grown
//! back one step per window of successes.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use tokio::sync::Notify;
use tokio::time::Instant;

/// An additive-increase, multiplicative-decrease limit on requests in flight.
#[derive(Debug)]
pub struct Aimd {
    max: usize,
    limit: AtomicUsize,
    in_flight: AtomicUsize,
    successes: AtomicUsize,
    paused_until: Mutex<Option<Instant>>,
    pause: Mutex<Duration>,
    changed: Notify,
}

impl Aimd {
    pub fn new(max: usize) -> Self {
        Self {
            max: max.max(1),
            limit: AtomicUsize::new(max.max(1)),
            in_flight: AtomicUsize::new(0),
            successes: AtomicUsize::new(0),
            paused_until: Mutex::new(None),
            pause: Mutex::new(Duration::from_millis(100)),
            changed: Notify::new(),
        }
    }

    pub fn limit(&self) -> usize {
        self.limit.load(Ordering::Acquire)
    }

    /// Requests in flight now.
    pub fn in_flight(&self) -> usize {
        self.in_flight.load(Ordering::Acquire)
    }

    /// Waits for room under the limit and for the end of a throttling pause.
    pub async fn acquire(&self) {
        loop {
            let notified = self.changed.notified();
            let paused = self.paused_until.lock().ok().and_then(|p| *p);
            if let Some(until) = paused {
                if Instant::now() < until {
                    tokio::time::sleep_until(until).await;
                    continue;
                }
            }
            let in_flight = self.in_flight.load(Ordering::Acquire);
            if in_flight < self.limit() {
                if self
                    .in_flight
                    .compare_exchange(
                        in_flight,
                        in_flight + 1,
                        Ordering::AcqRel,
                        Ordering::Acquire,
                    )
                    .is_ok()
                {
                    return;
                }
                continue;
            }
            notified.await;
        }
    }

    /// A request ended without throttling.
    pub fn success(&self) {
        self.in_flight.fetch_sub(1, Ordering::AcqRel);
        let limit = self.limit();
        if limit < self.max && self.successes.fetch_add(1, Ordering::AcqRel) + 1 >= limit {
            self.successes.store(0, Ordering::Release);
            self.limit.store(limit + 1, Ordering::Release);
        }
        if let Ok(mut pause) = self.pause.lock() {
            *pause = Duration::from_millis(100);
        }
        self.changed.notify_waiters();
    }

    /// The operator throttled: halve the limit and pause the link, longer each time in a row.
    pub fn throttled(&self) {
        self.in_flight.fetch_sub(1, Ordering::AcqRel);
        let limit = self.limit();
        self.limit.store((limit / 2).max(1), Ordering::Release);
        self.successes.store(0, Ordering::Release);
        let pause = self
            .pause
            .lock()
            .map(|mut p| {
                let current = *p;
                *p = (current * 2).min(Duration::from_secs(5));
                current
            })
            .unwrap_or(Duration::from_millis(100));
        if let Ok(mut until) = self.paused_until.lock() {
            *until = Some(Instant::now() + pause);
        }
        metrics::counter!("tern_link_throttled_total").increment(1);
        self.changed.notify_waiters();
    }

    /// A request ended with no verdict on the rate (link down, timeout).
    pub fn release(&self) {
        self.in_flight.fetch_sub(1, Ordering::AcqRel);
        self.changed.notify_waiters();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn aimd_halves_on_throttling_and_grows_back() {
        let aimd = Aimd::new(8);
        aimd.acquire().await;
        aimd.throttled();
        assert_eq!(aimd.limit(), 4);
        // Paused: the next acquire waits for the pause to end.
        let started = Instant::now();
        aimd.acquire().await;
        assert!(started.elapsed() >= Duration::from_millis(90));
        aimd.success();
        for _ in 0..4 {
            aimd.acquire().await;
            aimd.success();
        }
        assert_eq!(aimd.limit(), 5);
    }
}
