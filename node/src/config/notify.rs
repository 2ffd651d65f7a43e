//! `[notify]`: how long and how often the notifier retries a webhook that does not take
//! an event. The attempts are recorded in the replicated state, so a leader change or a
//! restart carries on with the same schedule.

use std::time::Duration;

use serde::Deserialize;

use super::{invalid, ConfigError};

/// The longest retry period accepted: thirty days.
const MAX_RETRY_FOR_SECS: u64 = 30 * 24 * 3600;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NotifySection {
    /// How long after its first try an event is still retried at a webhook; then it is
    /// given up.
    pub retry_for_secs: u64,
    /// The first retry comes after one second, and each wait doubles up to this.
    pub retry_max_interval_secs: u64,
}

impl Default for NotifySection {
    fn default() -> Self {
        Self {
            retry_for_secs: 24 * 3600,
            retry_max_interval_secs: 600,
        }
    }
}

impl NotifySection {
    pub fn retry_for(&self) -> Duration {
        Duration::from_secs(self.retry_for_secs)
    }

    pub fn retry_max_interval(&self) -> Duration {
        Duration::from_secs(self.retry_max_interval_secs)
    }

    pub(super) fn validate(&self, errors: &mut Vec<ConfigError>) {
        if !(1..=MAX_RETRY_FOR_SECS).contains(&self.retry_for_secs) {
            errors.push(invalid(
                "notify.retry_for_secs",
                format!("must be from 1 to {MAX_RETRY_FOR_SECS} (30 days)"),
            ));
        }
        if !(1..=24 * 3600).contains(&self.retry_max_interval_secs) {
            errors.push(invalid(
                "notify.retry_max_interval_secs",
                "must be from 1 to 86400",
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::config::Config;

    #[test]
    fn retry_keys_default_and_are_checked() {
        let config = Config::parse("").unwrap();
        assert_eq!(config.notify.retry_for_secs, 86_400);
        for (toml, key) in [
            ("[notify]\nretry_for_secs = 0", "notify.retry_for_secs"),
            (
                "[notify]\nretry_for_secs = 2592001",
                "notify.retry_for_secs",
            ),
            (
                "[notify]\nretry_max_interval_secs = 0",
                "notify.retry_max_interval_secs",
            ),
        ] {
            let error = Config::parse(toml).unwrap_err().to_string();
            assert!(error.contains(key), "{toml}: {error}");
        }
        let config = Config::parse("[notify]\nretry_for_secs = 7200").unwrap();
        assert_eq!(config.notify.retry_for().as_secs(), 7200);
    }
}
