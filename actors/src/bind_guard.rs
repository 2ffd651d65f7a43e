//! Failed binds, counted per source address and per account, with a lockout: after
//! `max_failures` failed binds within `window`, the source (or the account) is refused
//! every bind for `lockout`, before any password is checked, so that nobody can guess
//! passwords at the speed of the network.
//!
//! Both tables are bounded (`quick_cache`, CLOCK-Pro: a source seen once is evicted before
//! one that failed again and again) and each entry carries its own expiry: a tally whose
//! window and lockout are over counts as absent and is swept out once per window. IPv6
//! sources are counted by their /64, the block one subscriber usually holds; IPv4-mapped
//! IPv6 addresses count as the IPv4 address. A successful bind neither ends a lockout in
//! force nor clears the failures counted so far: they end with their window.
//!
//! Every lockout is counted in `tern_bind_lockouts_total` and logged under the
//! `tern::audit` target.

use std::net::{IpAddr, Ipv6Addr};
use std::sync::Mutex;
use std::time::Duration;

use quick_cache::sync::{Cache, EntryAction, EntryResult};
use tokio::time::Instant;

/// The limits; `[bind_lockout]` in the node's configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BindGuardConfig {
    /// Failed binds within `window` that lock a source or an account out.
    pub max_failures: u32,
    /// The period in which failures are counted, from the first one.
    pub window: Duration,
    /// How long a source or an account is refused once locked out.
    pub lockout: Duration,
    /// Sources (and, separately, accounts) tracked at once.
    pub max_tracked: usize,
}

impl Default for BindGuardConfig {
    fn default() -> Self {
        Self {
            max_failures: 5,
            window: Duration::from_secs(60),
            lockout: Duration::from_secs(300),
            max_tracked: 10_000,
        }
    }
}

/// What is locked out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    Source,
    Account,
}

impl Scope {
    pub fn label(self) -> &'static str {
        match self {
            Scope::Source => "source",
            Scope::Account => "account",
        }
    }
}

/// The failures of one source or account.
#[derive(Debug, Clone, Copy)]
struct Tally {
    window_start: Instant,
    failures: u32,
    locked_until: Option<Instant>,
}

impl Tally {
    fn locked(&self, now: Instant) -> bool {
        self.locked_until.is_some_and(|until| now < until)
    }

    /// Nothing left to remember: the window and any lockout are over.
    fn expired(&self, now: Instant, window: Duration) -> bool {
        !self.locked(now) && now >= self.window_start + window
    }

    /// Counts one failure; true when it starts a lockout.
    fn fail(&mut self, now: Instant, config: &BindGuardConfig) -> bool {
        if self.locked(now) {
            return false;
        }
        if now >= self.window_start + config.window {
            self.window_start = now;
            self.failures = 0;
        }
        self.failures = self.failures.saturating_add(1);
        if self.failures < config.max_failures {
            return false;
        }
        self.locked_until = Some(now + config.lockout);
        // The next window starts when the lockout ends.
        self.window_start = now + config.lockout;
        self.failures = 0;
        true
    }
}

/// Failed binds per source and per account, and the lockouts they lead to.
pub struct BindGuard {
    config: BindGuardConfig,
    sources: Cache<IpAddr, Tally>,
    accounts: Cache<String, Tally>,
    last_sweep: Mutex<Instant>,
}

impl std::fmt::Debug for BindGuard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BindGuard")
            .field("config", &self.config)
            .field("sources", &self.sources.len())
            .field("accounts", &self.accounts.len())
            .finish()
    }
}

impl Default for BindGuard {
    fn default() -> Self {
        Self::new(BindGuardConfig::default())
    }
}

impl BindGuard {
    pub fn new(config: BindGuardConfig) -> Self {
        let capacity = config.max_tracked.max(1);
        Self {
            sources: Cache::new(capacity),
            accounts: Cache::new(capacity),
            last_sweep: Mutex::new(Instant::now()),
            config,
        }
    }

    pub fn config(&self) -> &BindGuardConfig {
        &self.config
    }

    /// What of `peer` and `account` is locked out now, if anything.
    pub fn locked(&self, peer: IpAddr, account: Option<&str>) -> Option<Scope> {
        let now = Instant::now();
        if self
            .sources
            .get(&source_key(peer))
            .is_some_and(|t| t.locked(now))
        {
            return Some(Scope::Source);
        }
        account
            .and_then(|id| self.accounts.get(id))
            .is_some_and(|t| t.locked(now))
            .then_some(Scope::Account)
    }

    /// Counts a failed bind from `peer`, against `account` too when it names one that
    /// exists, and locks out whichever reaches the limit. `protocol` labels the metrics.
    pub fn failed(&self, peer: IpAddr, account: Option<&str>, protocol: &'static str) {
        metrics::counter!("tern_bind_failures_total", "protocol" => protocol).increment(1);
        let now = Instant::now();
        self.sweep(now);
        if count(&self.sources, &source_key(peer), now, &self.config) {
            self.audit(Scope::Source, &peer.to_string(), peer, account, protocol);
        }
        if let Some(id) = account {
            if count(&self.accounts, id, now, &self.config) {
                self.audit(Scope::Account, id, peer, account, protocol);
            }
        }
    }

    fn audit(
        &self,
        scope: Scope,
        key: &str,
        peer: IpAddr,
        account: Option<&str>,
        protocol: &'static str,
    ) {
        metrics::counter!(
            "tern_bind_lockouts_total",
            "scope" => scope.label(),
            "protocol" => protocol
        )
        .increment(1);
        let what = format!(
            "bind lockout of {} {key} for {} s after {} failed binds within {} s",
            scope.label(),
            self.config.lockout.as_secs(),
            self.config.max_failures,
            self.config.window.as_secs(),
        );
        tracing::warn!(
            target: "tern::audit",
            who = %peer,
            account = account.unwrap_or(""),
            protocol,
            what = %what,
            outcome = "locked",
        );
    }

    /// Drops the tallies that have nothing left to say, at most once per window.
    fn sweep(&self, now: Instant) {
        let Ok(mut last) = self.last_sweep.lock() else {
            return;
        };
        if now < *last + self.config.window {
            return;
        }
        *last = now;
        drop(last);
        let window = self.config.window;
        self.sources.retain(|_, t| !t.expired(now, window));
        self.accounts.retain(|_, t| !t.expired(now, window));
    }
}

/// Counts a failure of `key`; true when it starts a lockout.
fn count<K, Q>(cache: &Cache<K, Tally>, key: &Q, now: Instant, config: &BindGuardConfig) -> bool
where
    K: Eq + std::hash::Hash + Clone,
    Q: std::hash::Hash + quick_cache::Equivalent<K> + ToOwned<Owned = K> + ?Sized,
{
    let fresh = Tally {
        window_start: now,
        failures: 0,
        locked_until: None,
    };
    match cache.entry(key, Some(Duration::ZERO), |_, tally| {
        EntryAction::Retain(tally.fail(now, config))
    }) {
        EntryResult::Retained(locked) => locked,
        EntryResult::Vacant(guard) => {
            let mut tally = fresh;
            let locked = tally.fail(now, config);
            let _ = guard.insert(tally);
            locked
        }
        // Another failure of the same key is being inserted right now: this one is lost,
        // which a limit of several failures tolerates.
        EntryResult::Timeout | EntryResult::Removed(..) | EntryResult::Replaced(..) => false,
    }
}

/// The key a source is counted under: IPv4 as is, IPv6 by its /64.
fn source_key(peer: IpAddr) -> IpAddr {
    match peer {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let prefix = u128::from(v6) & !(u128::MAX >> 64);
                IpAddr::V6(Ipv6Addr::from(prefix))
            }
        },
        v4 => v4,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn guard(max_tracked: usize) -> BindGuard {
        BindGuard::new(BindGuardConfig {
            max_failures: 3,
            window: Duration::from_secs(10),
            lockout: Duration::from_secs(30),
            max_tracked,
        })
    }

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[tokio::test(start_paused = true)]
    async fn failures_within_the_window_lock_the_source_and_the_account_until_the_lockout_ends() {
        let guard = guard(100);
        let attacker = ip("192.0.2.1");
        for _ in 0..2 {
            guard.failed(attacker, Some("acme"), "smpp");
        }
        assert_eq!(guard.locked(attacker, Some("acme")), None);
        guard.failed(attacker, Some("acme"), "smpp");
        assert_eq!(guard.locked(attacker, None), Some(Scope::Source));
        // The account is locked from any source; another account from another source is not.
        assert_eq!(
            guard.locked(ip("198.51.100.7"), Some("acme")),
            Some(Scope::Account)
        );
        assert_eq!(guard.locked(ip("198.51.100.7"), Some("other")), None);
        tokio::time::advance(Duration::from_secs(29)).await;
        assert_eq!(guard.locked(attacker, None), Some(Scope::Source));
        tokio::time::advance(Duration::from_secs(1)).await;
        assert_eq!(guard.locked(attacker, Some("acme")), None);
    }

    #[tokio::test(start_paused = true)]
    async fn failures_spread_wider_than_the_window_do_not_lock() {
        let guard = guard(100);
        let peer = ip("192.0.2.1");
        for _ in 0..5 {
            guard.failed(peer, None, "cmpp");
            guard.failed(peer, None, "cmpp");
            tokio::time::advance(Duration::from_secs(11)).await;
        }
        assert_eq!(guard.locked(peer, None), None);
    }

    #[tokio::test(start_paused = true)]
    async fn failures_during_a_lockout_do_not_extend_it() {
        let guard = guard(100);
        let peer = ip("192.0.2.1");
        for _ in 0..3 {
            guard.failed(peer, None, "smpp");
        }
        tokio::time::advance(Duration::from_secs(20)).await;
        for _ in 0..3 {
            guard.failed(peer, None, "smpp");
        }
        tokio::time::advance(Duration::from_secs(10)).await;
        assert_eq!(guard.locked(peer, None), None);
    }

    #[tokio::test(start_paused = true)]
    async fn ipv6_sources_count_by_their_64_and_mapped_ipv4_as_ipv4() {
        let guard = guard(100);
        guard.failed(ip("2001:db8:1:2::1"), None, "smpp");
        guard.failed(ip("2001:db8:1:2::ffff"), None, "smpp");
        guard.failed(ip("2001:db8:1:2:aaaa::3"), None, "smpp");
        assert_eq!(
            guard.locked(ip("2001:db8:1:2::9"), None),
            Some(Scope::Source)
        );
        assert_eq!(guard.locked(ip("2001:db8:1:3::1"), None), None);
        for _ in 0..3 {
            guard.failed(ip("::ffff:192.0.2.9"), None, "smpp");
        }
        assert_eq!(guard.locked(ip("192.0.2.9"), None), Some(Scope::Source));
    }

    #[tokio::test(start_paused = true)]
    async fn the_tables_stay_within_their_bound_and_expired_tallies_are_swept() {
        let guard = guard(64);
        for i in 0..10_000u32 {
            let peer = IpAddr::V4(std::net::Ipv4Addr::from(0x0a00_0000 + i));
            guard.failed(peer, Some(&format!("acct{i}")), "smpp");
        }
        assert!(guard.sources.len() <= 64, "{}", guard.sources.len());
        assert!(guard.accounts.len() <= 64, "{}", guard.accounts.len());
        tokio::time::advance(Duration::from_secs(11)).await;
        guard.failed(ip("192.0.2.1"), None, "smpp");
        assert_eq!(guard.sources.len(), 1);
        assert_eq!(guard.accounts.len(), 0);
    }
}
