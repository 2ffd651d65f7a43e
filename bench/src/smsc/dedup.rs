//! Recognises a message the SMSC has accepted before, by a 64-bit fingerprint of its
//! source, destination and content: a gateway that resubmits an acknowledged message shows
//! up here. Memory is bounded: the window keeps the most recent fingerprints and forgets the
//! oldest, in shards so that sessions on different cores rarely meet on one lock.

use std::collections::{HashSet, VecDeque};
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::Mutex;

const SHARDS: usize = 16;

/// The keys are hashes already; hashing them again would only cost time.
#[derive(Default)]
struct Identity(u64);

impl Hasher for Identity {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(b);
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

struct Window {
    seen: HashSet<u64, BuildHasherDefault<Identity>>,
    order: VecDeque<u64>,
    capacity: usize,
}

pub(crate) struct Dedup {
    shards: Vec<Mutex<Window>>,
}

impl Dedup {
    /// Keeps about `capacity` fingerprints in all; 0 recognises nothing.
    pub(crate) fn new(capacity: usize) -> Self {
        let per_shard = capacity.div_ceil(SHARDS);
        let shards = if capacity == 0 { 0 } else { SHARDS };
        Self {
            shards: (0..shards)
                .map(|_| {
                    Mutex::new(Window {
                        seen: HashSet::default(),
                        order: VecDeque::new(),
                        capacity: per_shard,
                    })
                })
                .collect(),
        }
    }

    /// Records `fingerprint`; true when it was already there.
    pub(crate) fn seen_before(&self, fingerprint: u64) -> bool {
        if self.shards.is_empty() {
            return false;
        }
        // The low bits pick the hash bucket inside the shard; the high ones pick the shard.
        let shard = (fingerprint >> 60) as usize % self.shards.len();
        let Some(Ok(mut window)) = self.shards.get(shard).map(Mutex::lock) else {
            return false;
        };
        if window.seen.contains(&fingerprint) {
            return true;
        }
        if window.order.len() >= window.capacity {
            if let Some(oldest) = window.order.pop_front() {
                window.seen.remove(&oldest);
            }
        }
        window.seen.insert(fingerprint);
        window.order.push_back(fingerprint);
        false
    }
}

/// The fingerprint of a message: its addresses and user data, separated so that moving an
/// octet from one field to the next changes it.
pub(crate) fn fingerprint(source: &[u8], destination: &[u8], content: &[&[u8]]) -> u64 {
    // SipHash with fixed keys: the same within a run, and distinct messages of a bench run
    // do not collide in 64 bits.
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    hasher.write(source);
    hasher.write_u8(0xFF);
    hasher.write(destination);
    hasher.write_u8(0xFF);
    for part in content {
        hasher.write(part);
    }
    hasher.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_repeated_fingerprint_is_recognised_until_it_leaves_the_window() {
        let dedup = Dedup::new(SHARDS);
        let a = fingerprint(b"A", b"1", &[b"hello"]);
        assert!(!dedup.seen_before(a));
        assert!(dedup.seen_before(a));
        // Fill a's shard with others: one slot per shard, so a is forgotten.
        let mut n = 0u64;
        loop {
            let other = fingerprint(b"A", b"1", &[&n.to_be_bytes()]);
            n += 1;
            if other >> 60 == a >> 60 && other != a {
                assert!(!dedup.seen_before(other));
                break;
            }
        }
        assert!(!dedup.seen_before(a));
    }

    #[test]
    fn fields_do_not_run_into_each_other() {
        assert_ne!(
            fingerprint(b"12", b"3", &[b"x"]),
            fingerprint(b"1", b"23", &[b"x"])
        );
        assert!(!Dedup::new(0).seen_before(1));
    }
}
