//! Routes: which carrier link a message goes to.
//!
//! A route matches destinations by prefix or by number range and may be reserved for some
//! accounts (a per-account override beats a general route; a longer prefix beats a shorter
//! one). It is an ordered list of link groups: the first group with a usable link carries
//! the message, weighted across its links; a link is unusable while it is down or after
//! `failover_after` consecutive failures, so traffic falls back to the next group.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::Arc;

/// One link of a group and its share of the group's traffic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WeightedLink {
    pub link: String,
    pub weight: u32,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkGroup {
    pub links: Vec<WeightedLink>,
    /// Consecutive failures of a link after which the next group is used.
    pub failover_after: u32,
}

/// An inclusive range of numbers of one length (`4915000000000`..=`4915999999999`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NumberRange {
    pub low: u128,
    pub high: u128,
    pub digits: usize,
}

impl NumberRange {
    pub fn parse(low: &str, high: &str) -> Option<Self> {
        let digits = low.len();
        if digits == 0 || digits != high.len() || digits > 38 {
            return None;
        }
        let all_digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
        if !all_digits(low) || !all_digits(high) {
            return None;
        }
        let (low, high) = (low.parse().ok()?, high.parse().ok()?);
        (low <= high).then_some(Self { low, high, digits })
    }

    fn contains(&self, number: &str) -> bool {
        number.len() == self.digits
            && number
                .parse::<u128>()
                .is_ok_and(|n| (self.low..=self.high).contains(&n))
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    pub name: String,
    /// Destination prefixes (digits, no `+`); empty with no ranges matches everything.
    pub prefixes: Vec<String>,
    pub ranges: Vec<NumberRange>,
    /// Only these accounts use the route; empty: every account.
    pub accounts: Vec<String>,
    pub groups: Vec<LinkGroup>,
}

impl Route {
    /// How well the route matches: `None` if not at all, otherwise a rank where higher wins.
    fn rank(&self, account: &str, number: &str) -> Option<(bool, usize)> {
        let own = !self.accounts.is_empty();
        if own && !self.accounts.iter().any(|a| a == account) {
            return None;
        }
        let catch_all = self.prefixes.is_empty() && self.ranges.is_empty();
        let prefix = self
            .prefixes
            .iter()
            .filter(|p| number.starts_with(p.as_str()))
            .map(|p| p.len())
            .max();
        // A range is as specific as a prefix of its full length.
        let range = self
            .ranges
            .iter()
            .any(|r| r.contains(number))
            .then_some(number.len());
        let specificity = match (prefix, range) {
            (None, None) if catch_all => 0,
            (None, None) => return None,
            (a, b) => a.max(b).unwrap_or(0),
        };
        Some((own, specificity))
    }
}

/// The routing table: a snapshot, replaced whole when the configuration changes.
#[derive(Debug, Clone, Default)]
pub struct RouteTable {
    routes: Vec<Route>,
}

impl RouteTable {
    pub fn new(routes: Vec<Route>) -> Self {
        Self { routes }
    }

    /// The best route for `account` sending to `number` (digits).
    pub fn route_for(&self, account: &str, number: &str) -> Option<&Route> {
        let number = number.strip_prefix('+').unwrap_or(number);
        self.routes
            .iter()
            .filter_map(|r| r.rank(account, number).map(|rank| (rank, r)))
            // Earlier routes win ties: max_by_key keeps the last maximum, so compare reversed.
            .fold(
                None,
                |best: Option<((bool, usize), &Route)>, (rank, r)| match best {
                    Some((b, _)) if b >= rank => best,
                    _ => Some((rank, r)),
                },
            )
            .map(|(_, r)| r)
    }

    pub fn links(&self) -> impl Iterator<Item = &str> {
        self.routes
            .iter()
            .flat_map(|r| r.groups.iter())
            .flat_map(|g| g.links.iter())
            .map(|l| l.link.as_str())
    }
}

/// A link that failed `failover_after` times in a row gets one probe after this long, so
/// that a route whose only link failed comes back without a restart.
pub const PROBE_AFTER_MS: u64 = 5_000;

/// Live state of one link, shared by the link and the router.
#[derive(Debug, Default)]
pub struct LinkHealth {
    up: AtomicBool,
    consecutive_failures: AtomicU32,
    last_failure_ms: AtomicU64,
    picks: AtomicU64,
    /// Bumped whenever a link becomes usable again; shared by every link.
    changes: Arc<AtomicU64>,
}

impl LinkHealth {
    pub fn set_up(&self, up: bool) {
        let was = self.up.swap(up, Ordering::AcqRel);
        if up {
            self.consecutive_failures.store(0, Ordering::Release);
        }
        if up && !was {
            self.changes.fetch_add(1, Ordering::AcqRel);
        }
    }

    pub fn is_up(&self) -> bool {
        self.up.load(Ordering::Acquire)
    }

    pub fn success(&self) {
        if self.consecutive_failures.swap(0, Ordering::AcqRel) > 0 {
            self.changes.fetch_add(1, Ordering::AcqRel);
        }
    }

    pub fn failure(&self) -> u32 {
        self.last_failure_ms
            .store(crate::context::now_ms(), Ordering::Release);
        self.consecutive_failures.fetch_add(1, Ordering::AcqRel) + 1
    }

    /// Up, and not failing — or failing long enough ago to deserve a probe.
    fn usable(&self, failover_after: u32, now_ms: u64) -> bool {
        self.is_up()
            && (self.failures() < failover_after.max(1)
                || now_ms.saturating_sub(self.last_failure_ms.load(Ordering::Acquire))
                    >= PROBE_AFTER_MS)
    }

    pub fn failures(&self) -> u32 {
        self.consecutive_failures.load(Ordering::Acquire)
    }
}

/// The health of every link, by name.
#[derive(Debug, Clone, Default)]
pub struct Health {
    links: Arc<std::sync::RwLock<HashMap<String, Arc<LinkHealth>>>>,
    changes: Arc<AtomicU64>,
}

impl Health {
    pub fn new<'a>(names: impl IntoIterator<Item = &'a str>) -> Self {
        let changes = Arc::new(AtomicU64::new(0));
        let health = Self {
            links: Arc::default(),
            changes,
        };
        health.retain(names);
        health
    }

    /// Keeps the health of exactly these links: new ones start down, known ones keep
    /// their history.
    pub fn retain<'a>(&self, names: impl IntoIterator<Item = &'a str>) {
        let Ok(mut links) = self.links.write() else {
            return;
        };
        let mut next = HashMap::new();
        for name in names {
            let health = links.remove(name).unwrap_or_else(|| {
                Arc::new(LinkHealth {
                    changes: self.changes.clone(),
                    ..LinkHealth::default()
                })
            });
            next.insert(name.to_owned(), health);
        }
        *links = next;
    }

    /// Changes whenever some link becomes usable again.
    pub fn epoch(&self) -> u64 {
        self.changes.load(Ordering::Acquire)
    }

    pub fn get(&self, link: &str) -> Option<Arc<LinkHealth>> {
        self.links.read().ok()?.get(link).cloned()
    }
}

/// Picks a link of `route`: the first group with a usable link, weighted within the group
/// by a smooth round robin over the picks so far. Links in `exclude` (those that just
/// failed this message) are skipped.
pub fn pick<'r>(route: &'r Route, health: &Health, exclude: &[String]) -> Option<&'r str> {
    let now = crate::context::now_ms();
    for group in &route.groups {
        let usable: Vec<&WeightedLink> = group
            .links
            .iter()
            .filter(|l| l.weight > 0 && !exclude.contains(&l.link))
            .filter(|l| {
                health
                    .get(&l.link)
                    .is_some_and(|h| h.usable(group.failover_after, now))
            })
            .collect();
        if usable.is_empty() {
            continue;
        }
        // Deterministic weighting: each link's picks stay proportional to its weight.
        let chosen = usable
            .iter()
            .min_by(|a, b| {
                let load = |l: &WeightedLink| {
                    let picks = health
                        .get(&l.link)
                        .map_or(0, |h| h.picks.load(Ordering::Relaxed));
                    (picks as f64 + 1.0) / f64::from(l.weight)
                };
                load(a).total_cmp(&load(b))
            })
            .copied()?;
        if let Some(h) = health.get(&chosen.link) {
            h.picks.fetch_add(1, Ordering::Relaxed);
        }
        return Some(chosen.link.as_str());
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn group(links: &[(&str, u32)], failover_after: u32) -> LinkGroup {
        LinkGroup {
            links: links
                .iter()
                .map(|(l, w)| WeightedLink {
                    link: l.to_string(),
                    weight: *w,
                })
                .collect(),
            failover_after,
        }
    }

    fn route(name: &str, prefixes: &[&str], accounts: &[&str], groups: Vec<LinkGroup>) -> Route {
        Route {
            name: name.into(),
            prefixes: prefixes.iter().map(|p| p.to_string()).collect(),
            ranges: Vec::new(),
            accounts: accounts.iter().map(|a| a.to_string()).collect(),
            groups,
        }
    }

    #[test]
    fn the_longest_prefix_and_own_routes_win() {
        let table = RouteTable::new(vec![
            route("default", &[], &[], vec![]),
            route("de", &["49"], &[], vec![]),
            route("de-mobile", &["4915"], &[], vec![]),
            route("acme-de", &["49"], &["acme"], vec![]),
        ]);
        assert_eq!(
            table.route_for("x", "4915112345678").unwrap().name,
            "de-mobile"
        );
        assert_eq!(table.route_for("x", "+4930123").unwrap().name, "de");
        assert_eq!(table.route_for("x", "33123").unwrap().name, "default");
        assert_eq!(
            table.route_for("acme", "4915112345678").unwrap().name,
            "acme-de"
        );
    }

    #[test]
    fn number_ranges_match_whole_numbers_of_their_length() {
        let mut r = route("range", &[], &[], vec![]);
        r.ranges
            .push(NumberRange::parse("4915100000000", "4915199999999").unwrap());
        let table = RouteTable::new(vec![r]);
        assert!(table.route_for("x", "4915112345678").is_some());
        assert!(table.route_for("x", "491511234567").is_none());
        assert!(table.route_for("x", "4915212345678").is_none());
        assert!(NumberRange::parse("2", "1").is_none());
        assert!(NumberRange::parse("12", "123").is_none());
    }

    #[test]
    fn failover_moves_to_the_next_group_after_consecutive_failures() {
        let r = route(
            "r",
            &[],
            &[],
            vec![group(&[("a", 1)], 3), group(&[("b", 1)], 3)],
        );
        let health = Health::new(["a", "b"]);
        health.get("a").unwrap().set_up(true);
        health.get("b").unwrap().set_up(true);
        assert_eq!(pick(&r, &health, &[]), Some("a"));
        for _ in 0..3 {
            health.get("a").unwrap().failure();
        }
        assert_eq!(pick(&r, &health, &[]), Some("b"));
        health.get("a").unwrap().success();
        assert_eq!(pick(&r, &health, &[]), Some("a"));
        health.get("a").unwrap().set_up(false);
        assert_eq!(pick(&r, &health, &[]), Some("b"));
        assert_eq!(pick(&r, &health, &["b".into()]), None);
    }

    #[test]
    fn weights_share_traffic_within_a_group() {
        let r = route("r", &[], &[], vec![group(&[("a", 3), ("b", 1)], 3)]);
        let health = Health::new(["a", "b"]);
        health.get("a").unwrap().set_up(true);
        health.get("b").unwrap().set_up(true);
        let mut a = 0;
        for _ in 0..400 {
            if pick(&r, &health, &[]) == Some("a") {
                a += 1;
            }
        }
        assert_eq!(a, 300);
    }
}
