//! When a connection's next message is due in an open-loop run.
//!
//! The rate is split over the connections, each offset by its index so their sends
//! interleave. A message's due time, not the time it was sent, is where its latency is
//! measured from, so a system that holds sends back is charged for the wait (no
//! coordinated omission). In a closed loop there is no schedule: a message goes as soon as
//! the window has room.

use std::time::Duration;

use tokio::time::Instant;

use super::LoadConfig;

pub(super) struct Schedule {
    /// Between two messages of this connection; `None` in a closed loop.
    period: Option<Duration>,
    next_due: Instant,
}

impl Schedule {
    /// The schedule of connection `index` of a run that starts at `t0`.
    pub(super) fn new(config: &LoadConfig, index: usize, t0: Instant) -> Self {
        match config.rate {
            Some(rate) if rate > 0.0 => Self {
                period: Some(Duration::from_secs_f64(config.binds as f64 / rate)),
                next_due: t0 + Duration::from_secs_f64(index as f64 / rate),
            },
            _ => Self {
                period: None,
                next_due: t0,
            },
        }
    }

    pub(super) fn is_open_loop(&self) -> bool {
        self.period.is_some()
    }

    /// Whether the next message may go now.
    pub(super) fn is_due(&self, now: Instant) -> bool {
        self.period.is_none() || self.next_due <= now
    }

    /// When the next message is due.
    pub(super) fn next_due(&self) -> Instant {
        self.next_due
    }

    /// Takes the next slot: its due time in an open loop, `None` in a closed loop.
    pub(super) fn take(&mut self) -> Option<Instant> {
        let period = self.period?;
        let due = self.next_due;
        self.next_due += period;
        Some(due)
    }
}
