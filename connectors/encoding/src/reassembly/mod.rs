//! Bounded reassembly of concatenated messages received part by part.
//!
//! Parts arrive in any order, duplicated or never. Memory is bounded three
//! ways (partial messages, buffered octets, a deadline per partial), and time
//! is whatever the caller passes in, so the reassembler is deterministic and
//! fuzzable. A partial is keyed by the caller's key (e.g. source and
//! destination) plus the concatenation reference; its part total is checked
//! against the first part rather than keyed, so a disagreeing part is reported
//! instead of silently opening a second partial.

use std::collections::{BTreeMap, HashMap};
use std::hash::Hash;
use std::time::{Duration, Instant};

use thiserror::Error;

use crate::udh::{ConcatError, ConcatInfo};

/// A point in time the caller controls.
pub trait Timestamp: Copy + Ord {
    /// `self + timeout`, saturating instead of overflowing.
    fn after(self, timeout: Duration) -> Self;
}

impl Timestamp for Instant {
    fn after(self, timeout: Duration) -> Self {
        // Only an absurd timeout overflows; expiring at once beats panicking.
        self.checked_add(timeout).unwrap_or(self)
    }
}

/// Milliseconds on any clock the caller chooses.
impl Timestamp for u64 {
    fn after(self, timeout: Duration) -> Self {
        self.saturating_add(u64::try_from(timeout.as_millis()).unwrap_or(u64::MAX))
    }
}

/// Time since an epoch of the caller's choosing.
impl Timestamp for Duration {
    fn after(self, timeout: Duration) -> Self {
        self.saturating_add(timeout)
    }
}

/// Bounds on what a [`Reassembler`] holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReassemblyLimits {
    /// Partial messages held at once (at least 1); a new one beyond it evicts
    /// the oldest.
    pub max_partials: usize,
    /// Octets of part data held at once; a part beyond it evicts the oldest
    /// other partials. Per-part bookkeeping is not counted.
    pub max_buffered_bytes: usize,
    /// Largest part total accepted.
    pub max_total: u8,
    /// How long a partial waits for its missing parts, from its first part.
    pub timeout: Duration,
}

impl Default for ReassemblyLimits {
    fn default() -> Self {
        ReassemblyLimits {
            max_partials: 10_000,
            max_buffered_bytes: 16 * 1024 * 1024,
            max_total: u8::MAX,
            timeout: Duration::from_secs(120),
        }
    }
}

/// One received part.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Fragment<'a> {
    pub reference: u16,
    pub total: u8,
    /// 1-based.
    pub seq: u8,
    /// The part's user data after its UDH, in whatever form the caller
    /// concatenates (e.g. unpacked septets).
    pub data: &'a [u8],
}

impl<'a> Fragment<'a> {
    pub fn new(info: ConcatInfo, data: &'a [u8]) -> Self {
        Fragment {
            reference: info.reference,
            total: info.total,
            seq: info.seq,
            data,
        }
    }
}

/// A part that cannot be taken.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ReassemblyError {
    #[error(transparent)]
    Concat(#[from] ConcatError),
    #[error("message of {total} parts exceeds the limit of {limit}")]
    TotalAboveLimit { total: u8, limit: u8 },
    #[error("part says {got} parts, earlier parts of reference {reference} said {expected}")]
    TotalMismatch {
        reference: u16,
        expected: u8,
        got: u8,
    },
    #[error("part of {len} octets does not fit the reassembly budget of {budget} octets")]
    OverBudget { len: usize, budget: usize },
}

/// What became of a pushed part.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Status {
    /// It was the last missing part: the message's parts in order, concatenated.
    Complete(Vec<u8>),
    /// Stored; the message still misses parts.
    Pending { received: u8, total: u8 },
    /// This sequence number was already held; the first copy is kept.
    Duplicate,
}

/// Why a partial message was dropped before completing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EvictReason {
    Expired,
    TooManyPartials,
    BufferFull,
}

/// A partial message handed back for the caller to deliver or reject.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Incomplete<K> {
    pub key: K,
    pub reference: u16,
    pub total: u8,
    /// Received parts as (seq, data), ascending by seq.
    pub parts: Vec<(u8, Vec<u8>)>,
    pub reason: EvictReason,
}

/// The outcome of [`Reassembler::push`]: the part's fate and any partials
/// evicted to make room for it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pushed<K> {
    pub status: Status,
    pub evicted: Vec<Incomplete<K>>,
}

struct Partial<T> {
    total: u8,
    /// Ascending by seq, no duplicates.
    parts: Vec<(u8, Vec<u8>)>,
    bytes: usize,
    /// (deadline, serial): its key in `by_deadline`.
    slot: (T, u64),
}

/// Collects the parts of concatenated messages; see the module doc.
pub struct Reassembler<K, T> {
    limits: ReassemblyLimits,
    partials: HashMap<(K, u16), Partial<T>>,
    /// Oldest deadline first; the serial breaks ties in arrival order.
    by_deadline: BTreeMap<(T, u64), (K, u16)>,
    next_serial: u64,
    buffered: usize,
}

impl<K: Eq + Hash + Clone, T: Timestamp> Reassembler<K, T> {
    pub fn new(limits: ReassemblyLimits) -> Self {
        Reassembler {
            limits: ReassemblyLimits {
                max_partials: limits.max_partials.max(1),
                ..limits
            },
            partials: HashMap::new(),
            by_deadline: BTreeMap::new(),
            next_serial: 0,
            buffered: 0,
        }
    }

    /// Takes one part received at `now`. A message of one part completes at
    /// once without being stored.
    pub fn push(
        &mut self,
        key: K,
        fragment: Fragment<'_>,
        now: T,
    ) -> Result<Pushed<K>, ReassemblyError> {
        let Fragment {
            reference,
            total,
            seq,
            data,
        } = fragment;
        ConcatInfo {
            reference,
            total,
            seq,
        }
        .validate()?;
        if total > self.limits.max_total {
            return Err(ReassemblyError::TotalAboveLimit {
                total,
                limit: self.limits.max_total,
            });
        }
        let budget = self.limits.max_buffered_bytes;
        let map_key = (key, reference);
        let mut evicted = Vec::new();

        let Some(partial) = self.partials.get_mut(&map_key) else {
            if total == 1 {
                return Ok(Pushed {
                    status: Status::Complete(data.to_vec()),
                    evicted,
                });
            }
            if data.len() > budget {
                return Err(ReassemblyError::OverBudget {
                    len: data.len(),
                    budget,
                });
            }
            while self.partials.len() >= self.limits.max_partials {
                match self.evict_oldest(None, EvictReason::TooManyPartials) {
                    Some(gone) => evicted.push(gone),
                    None => break,
                }
            }
            self.make_room(data.len(), None, &mut evicted);
            let slot = (now.after(self.limits.timeout), self.next_serial);
            self.next_serial += 1;
            self.by_deadline.insert(slot, map_key.clone());
            self.buffered += data.len();
            self.partials.insert(
                map_key,
                Partial {
                    total,
                    parts: vec![(seq, data.to_vec())],
                    bytes: data.len(),
                    slot,
                },
            );
            return Ok(Pushed {
                status: Status::Pending { received: 1, total },
                evicted,
            });
        };

        if partial.total != total {
            return Err(ReassemblyError::TotalMismatch {
                reference,
                expected: partial.total,
                got: total,
            });
        }
        let Err(pos) = partial.parts.binary_search_by_key(&seq, |&(s, _)| s) else {
            return Ok(Pushed {
                status: Status::Duplicate,
                evicted,
            });
        };
        if partial.parts.len() + 1 == usize::from(total) {
            let slot = partial.slot;
            let message = self
                .take(&map_key, slot)
                .map(|done| assemble(done.parts, pos, data));
            return Ok(Pushed {
                status: Status::Complete(message.unwrap_or_default()),
                evicted,
            });
        }
        if partial.bytes + data.len() > budget {
            return Err(ReassemblyError::OverBudget {
                len: partial.bytes + data.len(),
                budget,
            });
        }
        let serial = partial.slot.1;
        self.make_room(data.len(), Some(serial), &mut evicted);
        // make_room spares the partial being added to, so it is still there.
        let received = match self.partials.get_mut(&map_key) {
            Some(partial) => {
                partial.parts.insert(pos, (seq, data.to_vec()));
                partial.bytes += data.len();
                self.buffered += data.len();
                u8::try_from(partial.parts.len()).unwrap_or(u8::MAX)
            }
            None => 0,
        };
        Ok(Pushed {
            status: Status::Pending { received, total },
            evicted,
        })
    }

    /// Removes and returns every partial whose deadline is at or before `now`,
    /// oldest first.
    pub fn expire(&mut self, now: T) -> Vec<Incomplete<K>> {
        let mut expired = Vec::new();
        while let Some(entry) = self.by_deadline.first_entry() {
            if entry.key().0 > now {
                break;
            }
            let map_key = entry.remove();
            if let Some(partial) = self.partials.remove(&map_key) {
                self.buffered -= partial.bytes;
                expired.push(incomplete(map_key, partial, EvictReason::Expired));
            }
        }
        expired
    }

    /// When [`expire`](Self::expire) next has something to return.
    pub fn next_deadline(&self) -> Option<T> {
        self.by_deadline
            .first_key_value()
            .map(|(&(deadline, _), _)| deadline)
    }

    /// Partial messages held.
    pub fn len(&self) -> usize {
        self.partials.len()
    }

    pub fn is_empty(&self) -> bool {
        self.partials.is_empty()
    }

    /// Octets of part data held.
    pub fn buffered_bytes(&self) -> usize {
        self.buffered
    }

    pub fn limits(&self) -> &ReassemblyLimits {
        &self.limits
    }

    /// Evicts the oldest partials other than `keep` until `len` more octets fit.
    fn make_room(&mut self, len: usize, keep: Option<u64>, evicted: &mut Vec<Incomplete<K>>) {
        while self.buffered + len > self.limits.max_buffered_bytes {
            match self.evict_oldest(keep, EvictReason::BufferFull) {
                Some(gone) => evicted.push(gone),
                None => break,
            }
        }
    }

    fn evict_oldest(&mut self, keep: Option<u64>, reason: EvictReason) -> Option<Incomplete<K>> {
        let slot = *self
            .by_deadline
            .keys()
            .find(|&&(_, serial)| Some(serial) != keep)?;
        let map_key = self.by_deadline.remove(&slot)?;
        let partial = self.partials.remove(&map_key)?;
        self.buffered -= partial.bytes;
        Some(incomplete(map_key, partial, reason))
    }

    fn take(&mut self, map_key: &(K, u16), slot: (T, u64)) -> Option<Partial<T>> {
        self.by_deadline.remove(&slot);
        let partial = self.partials.remove(map_key)?;
        self.buffered -= partial.bytes;
        Some(partial)
    }
}

fn incomplete<K, T>(
    (key, reference): (K, u16),
    partial: Partial<T>,
    reason: EvictReason,
) -> Incomplete<K> {
    Incomplete {
        key,
        reference,
        total: partial.total,
        parts: partial.parts,
        reason,
    }
}

/// The stored parts in order with `data` placed at index `pos`.
fn assemble(parts: Vec<(u8, Vec<u8>)>, pos: usize, data: &[u8]) -> Vec<u8> {
    let len = parts.iter().map(|(_, d)| d.len()).sum::<usize>() + data.len();
    let mut out = Vec::with_capacity(len);
    for (i, (_, part)) in parts.iter().enumerate() {
        if i == pos {
            out.extend_from_slice(data);
        }
        out.extend_from_slice(part);
    }
    if pos >= parts.len() {
        out.extend_from_slice(data);
    }
    out
}

#[cfg(test)]
mod tests;
