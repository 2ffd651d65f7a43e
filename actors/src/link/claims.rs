//! The parts this node's binds of a link are sending, or saw accepted a moment ago.
//!
//! The same part can reach a link twice at once. A node that forwarded a job to the bind
//! holder and heard nothing back (the call held up by a partition) reads the part again
//! and, finding it still unsent, forwards it again; when the partition lifts, both calls
//! arrive together. Each job claims its part before sending it: a part claimed by a job in
//! flight, or accepted by the operator within [`KEEP`], is not sent again, and the second
//! job ends there (the first one owns the message). A part that was not accepted (an error,
//! a refusal, no answer) is released, so its retry may send it.
//!
//! Bounded: an entry leaves when it is released, after [`KEEP`] once accepted, and the
//! oldest go first past [`MAX`].

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use tern_model::MessageId;

/// How long an accepted part is remembered: far longer than two copies of one request
/// held up together arrive apart.
const KEEP: Duration = Duration::from_secs(60);
/// Parts remembered at once per link.
const MAX: usize = 65_536;

type Key = (MessageId, u8);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Held {
    Sending,
    Accepted(Instant),
}

#[derive(Debug, Default)]
struct Inner {
    parts: HashMap<Key, Held>,
    /// Accepted parts in the order they were, for expiry.
    order: VecDeque<(Instant, Key)>,
}

#[derive(Debug, Default)]
pub(crate) struct Claims {
    inner: Mutex<Inner>,
}

impl Claims {
    /// Claims a part for sending; `None` when a job is sending it now or the operator
    /// accepted it within [`KEEP`]. A claim dropped without [`Claim::settle`] (its task
    /// stopped half-way) is released.
    pub(crate) fn claim(self: &Arc<Self>, id: MessageId, part: u8) -> Option<Claim> {
        let mut inner = self.lock();
        inner.expire(Instant::now());
        if inner.parts.contains_key(&(id, part)) {
            return None;
        }
        inner.parts.insert((id, part), Held::Sending);
        Some(Claim {
            claims: self.clone(),
            key: (id, part),
            settled: false,
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// A part being sent by one job.
#[derive(Debug)]
pub(crate) struct Claim {
    claims: Arc<Claims>,
    key: Key,
    settled: bool,
}

impl Claim {
    /// The send ended: accepted (remembered for a while) or not (released).
    pub(crate) fn settle(mut self, accepted: bool) {
        self.settled = true;
        let mut inner = self.claims.lock();
        if accepted {
            let now = Instant::now();
            inner.parts.insert(self.key, Held::Accepted(now));
            inner.order.push_back((now, self.key));
            while inner.order.len() > MAX {
                if let Some((_, key)) = inner.order.pop_front() {
                    inner.forget_accepted(key);
                }
            }
        } else {
            inner.parts.remove(&self.key);
        }
    }
}

impl Drop for Claim {
    fn drop(&mut self) {
        if !self.settled {
            self.claims.lock().parts.remove(&self.key);
        }
    }
}

impl Inner {
    fn expire(&mut self, now: Instant) {
        while let Some(&(at, key)) = self.order.front() {
            if now.duration_since(at) < KEEP {
                break;
            }
            self.order.pop_front();
            self.forget_accepted(key);
        }
    }

    /// Forgets `key` if it is still the acceptance the order entry was for (a part
    /// claimed again after it is not).
    fn forget_accepted(&mut self, key: Key) {
        if matches!(self.parts.get(&key), Some(Held::Accepted(_))) {
            self.parts.remove(&key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_part_is_sent_by_one_job_at_a_time_and_not_again_once_accepted() {
        let claims = Arc::new(Claims::default());
        let id = MessageId(7);
        let first = claims.claim(id, 0).unwrap();
        assert!(
            claims.claim(id, 0).is_none(),
            "in flight: the second job stops"
        );
        let other = claims.claim(id, 1).unwrap();
        first.settle(true);
        assert!(claims.claim(id, 0).is_none(), "accepted a moment ago");
        other.settle(false);
        let again = claims
            .claim(id, 1)
            .expect("not accepted: its retry may send it");
        drop(again);
        assert!(
            claims.claim(id, 1).is_some(),
            "a claim dropped unsettled is released"
        );
    }
}
