//! Parts of long messages that just reached a final state, kept for a few seconds so that
//! the last part to finish sees the others as final even before their writes are durable.
//!
//! The receipts of a message's parts often arrive within a millisecond of each other. The
//! part finished first is written through group commit; when the second is finished, a read
//! of the store may not show the first yet, and without this neither would send the
//! customer its receipt. Both finishes go through [`Finals::settle`], which notes its part
//! before it reads the store and overlays every noted part after the read: the later of
//! the two finishes sees both, and the first to see every part final takes the message's
//! entry, so exactly one of them makes the receipt. The lock is not held across the read.
//!
//! Bounded: only parts of messages of more than one part enter; an entry leaves when its
//! message's receipt is made or after [`KEEP`], by which time the store has it.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tern_model::MessageId;
use tern_storage::MessageRecord;

/// Far longer than a group commit takes.
const KEEP: Duration = Duration::from_secs(10);
/// Messages remembered at once; the oldest go first beyond it.
const MAX_MESSAGES: usize = 100_000;

#[derive(Default)]
struct Inner {
    parts: HashMap<MessageId, Vec<Arc<MessageRecord>>>,
    order: VecDeque<(Instant, MessageId)>,
}

#[derive(Default)]
pub struct Finals {
    inner: Mutex<Inner>,
}

impl std::fmt::Debug for Finals {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Finals").finish_non_exhaustive()
    }
}

impl Finals {
    /// Records `latest` and returns every part of its message: what `stored` (a read of
    /// the store) says, with the parts finished here put over it. `Some` only when every
    /// part is final, and then the message is forgotten so no later call makes its receipt
    /// again.
    pub async fn settle(
        &self,
        latest: &MessageRecord,
        stored: impl std::future::Future<Output = Option<Vec<MessageRecord>>>,
    ) -> Option<Vec<MessageRecord>> {
        self.note(latest)?;
        let parts = stored.await?;
        self.complete(latest, parts)
    }

    fn note(&self, latest: &MessageRecord) -> Option<()> {
        let mut inner = self.inner.lock().ok()?;
        let now = Instant::now();
        inner.expire(now);
        let id = latest.id;
        if !inner.parts.contains_key(&id) {
            inner.order.push_back((now, id));
        }
        let known = inner.parts.entry(id).or_default();
        known.retain(|p| p.part != latest.part);
        known.push(Arc::new(latest.clone()));
        Some(())
    }

    /// `parts` as read, with the noted parts over them, when every part is final. A
    /// message whose entry is gone was completed by another call since `latest` was
    /// noted, with `latest` among its parts.
    fn complete(
        &self,
        latest: &MessageRecord,
        mut parts: Vec<MessageRecord>,
    ) -> Option<Vec<MessageRecord>> {
        let mut inner = self.inner.lock().ok()?;
        let known = inner.parts.get(&latest.id)?;
        for part in parts.iter_mut() {
            if let Some(newer) = known.iter().find(|k| k.part == part.part) {
                *part = MessageRecord::clone(newer);
            }
        }
        let complete = parts.len() >= usize::from(latest.parts.max(1))
            && parts.iter().all(|p| p.state.is_final());
        if complete {
            inner.parts.remove(&latest.id);
            Some(parts)
        } else {
            None
        }
    }
}

impl Inner {
    fn expire(&mut self, now: Instant) {
        while let Some(&(at, id)) = self.order.front() {
            if now.duration_since(at) < KEEP && self.order.len() <= MAX_MESSAGES {
                break;
            }
            self.order.pop_front();
            self.parts.remove(&id);
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use tern_model::{Address, Message};
    use tern_storage::RecordState;

    fn part(part: u8, state: RecordState) -> MessageRecord {
        MessageRecord {
            id: MessageId(7),
            part,
            parts: 2,
            account: "a".into(),
            message: Message::text(Address::default(), Address::default(), "x"),
            state,
            history: Vec::new(),
            attempts: 0,
            link: None,
            operator_id: None,
            error: None,
            receipt: None,
            accepted_ms: 0,
            expires_ms: 0,
            wire_id: None,
            route: None,
            price: 0,
            client_ref: None,
            receipt_made_ms: None,
        }
    }

    /// The store still says both parts are submitted.
    async fn stale() -> Option<Vec<MessageRecord>> {
        Some(vec![
            part(0, RecordState::Submitted),
            part(1, RecordState::Submitted),
        ])
    }

    #[tokio::test]
    async fn the_last_part_sees_the_first_before_the_store_does() {
        let finals = Finals::default();
        assert!(finals
            .settle(&part(0, RecordState::Delivered), stale())
            .await
            .is_none());
        let all = finals
            .settle(&part(1, RecordState::Delivered), stale())
            .await
            .expect("every part final");
        assert!(all.iter().all(|p| p.state == RecordState::Delivered));
        // Made once: the same receipt again does not complete the message a second time.
        assert!(finals
            .settle(&part(1, RecordState::Delivered), stale())
            .await
            .is_none());
    }

    #[tokio::test]
    async fn two_parts_finishing_while_both_reads_are_in_flight_complete_once() {
        let finals = Finals::default();
        let (first_read, first) = tokio::sync::oneshot::channel();
        let (second_read, second) = tokio::sync::oneshot::channel();
        let read = |rx: tokio::sync::oneshot::Receiver<()>| async move {
            rx.await.ok()?;
            stale().await
        };
        let (p0, p1) = (
            part(0, RecordState::Delivered),
            part(1, RecordState::Failed),
        );
        let (a, b, ()) = tokio::join!(
            finals.settle(&p0, read(first)),
            finals.settle(&p1, read(second)),
            async {
                // Both parts are noted (the two settles above were polled first) before
                // either read returns.
                first_read.send(()).unwrap();
                second_read.send(()).unwrap();
            }
        );
        let made: Vec<_> = [a, b].into_iter().flatten().collect();
        assert_eq!(made.len(), 1, "exactly one finish makes the receipt");
        let states: Vec<_> = made[0].iter().map(|p| p.state).collect();
        assert_eq!(states, [RecordState::Delivered, RecordState::Failed]);
    }
}
