//! A disk that fails on purpose, for the chaos scenarios of disk errors and power loss (F13,
//! F14): only in builds with the `test-disk` feature (`tern`'s failpoints build), where
//! the node sets the mode from a file the harness writes. Without the feature the writer
//! never asks.

use std::sync::atomic::{AtomicU8, Ordering};

/// What the next commits of the embedded store meet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Commits go to the disk as usual.
    Healthy,
    /// Every commit fails, as a full disk or a failed fsync would make it.
    Failing,
    /// The power goes: the commit at hand is not written and the process ends at once,
    /// so that nothing queued or being written reaches the disk.
    PowerLoss,
}

impl Mode {
    /// `healthy`, `failing` or `power-loss`.
    pub fn parse(text: &str) -> Option<Self> {
        match text.trim() {
            "healthy" => Some(Self::Healthy),
            "failing" => Some(Self::Failing),
            "power-loss" => Some(Self::PowerLoss),
            _ => None,
        }
    }
}

static MODE: AtomicU8 = AtomicU8::new(0);

/// Sets what the next commits meet.
pub fn set(mode: Mode) {
    MODE.store(mode as u8, Ordering::SeqCst);
}

pub(super) fn mode() -> Mode {
    match MODE.load(Ordering::SeqCst) {
        1 => Mode::Failing,
        2 => Mode::PowerLoss,
        _ => Mode::Healthy,
    }
}
