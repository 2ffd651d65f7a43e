//! `[bind_lockout]`: how many failed binds (SMPP) and CONNECTs (CMPP) a source address or
//! an account may have within a window before it is refused every bind for a while, and
//! how many sources are tracked at once, so that passwords cannot be guessed at the speed
//! of the network and the tracking itself cannot exhaust memory.

use std::time::Duration;

use serde::Deserialize;
use tern_actors::bind_guard::BindGuardConfig;

use super::{invalid, ConfigError};

/// The longest lockout accepted: a day.
const MAX_LOCKOUT_SECS: u64 = 24 * 3600;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BindLockoutSection {
    /// Failed binds within `window_secs` that lock a source address, or an account, out.
    pub max_failures: u32,
    /// The period failures are counted in, from the first one.
    pub window_secs: u64,
    /// How long binds are refused once locked out.
    pub lockout_secs: u64,
    /// Source addresses (and, separately, accounts) tracked at once; past it the least
    /// used are forgotten.
    pub max_tracked: usize,
}

impl Default for BindLockoutSection {
    fn default() -> Self {
        let defaults = BindGuardConfig::default();
        Self {
            max_failures: defaults.max_failures,
            window_secs: defaults.window.as_secs(),
            lockout_secs: defaults.lockout.as_secs(),
            max_tracked: defaults.max_tracked,
        }
    }
}

impl BindLockoutSection {
    pub fn guard(&self) -> BindGuardConfig {
        BindGuardConfig {
            max_failures: self.max_failures,
            window: Duration::from_secs(self.window_secs),
            lockout: Duration::from_secs(self.lockout_secs),
            max_tracked: self.max_tracked,
        }
    }

    pub(super) fn validate(&self, errors: &mut Vec<ConfigError>) {
        if !(1..=1000).contains(&self.max_failures) {
            errors.push(invalid(
                "bind_lockout.max_failures",
                "must be from 1 to 1000",
            ));
        }
        if !(1..=MAX_LOCKOUT_SECS).contains(&self.window_secs) {
            errors.push(invalid(
                "bind_lockout.window_secs",
                format!("must be from 1 to {MAX_LOCKOUT_SECS}"),
            ));
        }
        if !(1..=MAX_LOCKOUT_SECS).contains(&self.lockout_secs) {
            errors.push(invalid(
                "bind_lockout.lockout_secs",
                format!("must be from 1 to {MAX_LOCKOUT_SECS} (a day)"),
            ));
        }
        if !(100..=10_000_000).contains(&self.max_tracked) {
            errors.push(invalid(
                "bind_lockout.max_tracked",
                "must be from 100 to 10000000",
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::config::Config;

    #[test]
    fn lockout_keys_default_and_every_bad_one_is_named() {
        let config = Config::parse("").unwrap();
        let guard = config.bind_lockout.guard();
        assert_eq!(guard.max_failures, 5);
        assert_eq!(guard.window.as_secs(), 60);
        assert_eq!(guard.lockout.as_secs(), 300);
        let error = Config::parse(
            "[bind_lockout]\nmax_failures = 0\nwindow_secs = 0\nlockout_secs = 86401\nmax_tracked = 10",
        )
        .unwrap_err()
        .to_string();
        for key in [
            "bind_lockout.max_failures",
            "bind_lockout.window_secs",
            "bind_lockout.lockout_secs",
            "bind_lockout.max_tracked",
        ] {
            assert!(error.contains(key), "{key}: {error}");
        }
        assert!(Config::parse("[bind_lockout]\nmaximum = 3").is_err());
        let config = Config::parse("[bind_lockout]\nmax_failures = 3\nlockout_secs = 2").unwrap();
        assert_eq!(config.bind_lockout.guard().lockout.as_secs(), 2);
    }
}
