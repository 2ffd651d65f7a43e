//! The message id generator of this node: time-ordered 64-bit ids, unique per node id.
//!
//! Uniqueness across restarts rests on a high-water mark kept in the store: the generator
//! issues ids only below the last mark the store reported durable, and the node renews the
//! mark ahead of the clock every second ([`persist_mark`]). A restart resumes above the
//! stored mark, so even a crash right after a failed write cannot repeat an id: past the
//! durable mark the generator refuses, and the caller answers with a temporary error.
//! Each node keeps its own mark ([`mark_key`]), since the nodes of a cluster share the store.
//!
//! An id's time is the clock's at issue only roughly: a node restarted within
//! [`MARK_LEAD`] of its last mark issues ids up to that far (and two seconds more) ahead
//! of the clock until the clock catches up. Decisions that need the time of acceptance
//! read the record's `accepted_ms`.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tern_model::MessageId;
use tern_storage::{MessageStore, WriteOp};
use tracing::warn;

/// The key of the high-water mark as one node kept it before marks were kept per node
/// (read at a start, so that an upgraded node stays above it; never written).
const SHARED_MARK_KEY: &str = "ids/high_water";

/// The key under which node `node` keeps its id generator's high-water mark. One per node:
/// in a cluster the nodes share the store, and a node that took another's mark would
/// start its ids that far ahead of the clock (each start adding the lead again), or, were
/// the other's mark the lower, below ids it had issued already.
pub fn mark_key(node: u16) -> String {
    format!("{SHARED_MARK_KEY}/{node}")
}

/// The id a node restarting on `store` must stay above: its stored mark (and the older
/// shared mark), with two seconds more, which covers a mark an earlier version wrote as
/// the last id issued, up to a second behind. Zero on a new store.
pub async fn stored_floor(
    store: &dyn MessageStore,
    node: u16,
) -> Result<MessageId, tern_storage::StoreError> {
    let mut floor = MessageId(0);
    for key in [mark_key(node), SHARED_MARK_KEY.to_owned()] {
        let mark = store
            .meta(&key)
            .await?
            .and_then(|v| <[u8; 8]>::try_from(v.as_slice()).ok())
            .map(u64::from_be_bytes)
            .map(|hwm| MessageId(hwm.saturating_add(2000 << 22)));
        floor = floor.max(mark.unwrap_or(MessageId(0)));
    }
    Ok(floor)
}

/// How far ahead of the clock a new mark is put: ids keep coming for this long while the
/// store cannot write a new one.
pub const MARK_LEAD: Duration = Duration::from_secs(10);

/// No id can be issued until a higher mark is durable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("message ids have reached the last durable high-water mark")]
pub struct NotDurable;

/// Hands out ids that only grow. Within one millisecond 4096 ids are available; beyond
/// that the generator borrows from the next millisecond rather than repeat an id.
#[derive(Debug)]
pub struct IdGenerator {
    node: u16,
    last: AtomicU64,
    /// Ids are issued strictly below this mark, which the store holds durably.
    durable: AtomicU64,
}

impl IdGenerator {
    /// A generator with no durable mark: every id is issued. For tests and tools that
    /// never restart on the same store.
    pub fn new(node: u16) -> Self {
        let generator = Self::resuming(node, MessageId(0));
        generator.mark_durable(MessageId(u64::MAX));
        generator
    }

    /// A generator that never hands out an id at or below `floor` (the mark persisted
    /// before a restart) and none at all until [`Self::mark_durable`] raises its limit.
    pub fn resuming(node: u16, floor: MessageId) -> Self {
        Self {
            node,
            last: AtomicU64::new(floor.0),
            durable: AtomicU64::new(floor.0),
        }
    }

    /// The last id handed out.
    pub fn high_water(&self) -> MessageId {
        MessageId(self.last.load(Ordering::Relaxed))
    }

    /// The limit below which ids are issued.
    pub fn durable(&self) -> MessageId {
        MessageId(self.durable.load(Ordering::Acquire))
    }

    /// The store holds `mark` durably: ids up to it may be issued.
    pub fn mark_durable(&self, mark: MessageId) {
        self.durable.fetch_max(mark.0, Ordering::AcqRel);
    }

    /// The mark to persist next: `MARK_LEAD` past the clock, or past the last id when a
    /// burst borrowed ahead of the clock.
    pub fn next_mark(&self) -> MessageId {
        let lead = MARK_LEAD.as_millis() as u64;
        let now = crate::context::now_ms().saturating_sub(MessageId::EPOCH_UNIX_MS);
        let last = MessageId(self.last.load(Ordering::Relaxed));
        let last_ms = last.unix_millis().saturating_sub(MessageId::EPOCH_UNIX_MS);
        MessageId::from_parts(now.max(last_ms).saturating_add(lead), self.node, 0)
    }

    /// The next id, if it is below the durable mark.
    pub fn try_next(&self) -> Result<MessageId, NotDurable> {
        self.issue(true).ok_or_else(|| {
            metrics::counter!("tern_ids_refused_total").increment(1);
            NotDurable
        })
    }

    /// The next id whether or not it is below the durable mark, for numbers that are
    /// not message ids and need only be unique while the node runs.
    pub fn next(&self) -> MessageId {
        self.issue(false).unwrap_or(MessageId(u64::MAX))
    }

    /// The next id; `None` when `bounded` and it would reach the durable mark.
    fn issue(&self, bounded: bool) -> Option<MessageId> {
        let now_ms = crate::context::now_ms().saturating_sub(MessageId::EPOCH_UNIX_MS);
        let floor = MessageId::from_parts(now_ms, self.node, 0).0;
        let mut last = self.last.load(Ordering::Relaxed);
        loop {
            let mut next = floor.max(last + 1);
            // The sequence overflowed into the node bits: move to the next millisecond.
            if MessageId(next).node() != self.node {
                next = MessageId::from_parts(
                    MessageId(last).unix_millis() - MessageId::EPOCH_UNIX_MS + 1,
                    self.node,
                    0,
                )
                .0;
            }
            if bounded && next >= self.durable.load(Ordering::Acquire) {
                return None;
            }
            match self
                .last
                .compare_exchange_weak(last, next, Ordering::Relaxed, Ordering::Relaxed)
            {
                Ok(_) => return Some(MessageId(next)),
                Err(actual) => last = actual,
            }
        }
    }
}

/// Writes the next high-water mark; once the store reports it durable the generator may
/// issue ids up to it. A failed write leaves the limit where it was, so the generator
/// stops at the last durable mark instead of running ahead of what a restart would see;
/// the next call retries.
pub fn persist_mark(ids: &Arc<IdGenerator>, store: &dyn MessageStore) {
    let mark = ids.next_mark();
    let generator = ids.clone();
    let queued = store.write(
        vec![mark_op(ids.node, mark)],
        Box::new(move |result| match result {
            Ok(()) => generator.mark_durable(mark),
            Err(error) => mark_failed(&error),
        }),
    );
    if let Err(error) = queued {
        mark_failed(&error);
    }
}

/// Writes the first mark of a start and waits until it is durable: before it, no id.
pub async fn persist_first_mark(
    ids: &IdGenerator,
    store: &dyn MessageStore,
) -> Result<(), tern_storage::StoreError> {
    let mark = ids.next_mark();
    tern_storage::write_durable(store, vec![mark_op(ids.node, mark)]).await?;
    ids.mark_durable(mark);
    Ok(())
}

fn mark_op(node: u16, mark: MessageId) -> WriteOp {
    WriteOp::PutMeta {
        key: mark_key(node),
        value: mark.0.to_be_bytes().to_vec(),
    }
}

fn mark_failed(error: &tern_storage::StoreError) {
    metrics::counter!("tern_ids_mark_failures_total").increment(1);
    warn!(%error, "message id high-water mark not stored; ids stop at the last durable mark");
}

#[cfg(test)]
mod tests {
    use super::*;
    use tern_storage::StoreFuture;

    #[test]
    fn ids_are_unique_increasing_and_carry_the_node() {
        let generator = IdGenerator::new(42);
        let mut previous = generator.next();
        for _ in 0..100_000 {
            let id = generator.next();
            assert!(id > previous);
            assert_eq!(id.node(), 42);
            previous = id;
        }
    }

    #[test]
    fn a_resumed_generator_stays_above_its_floor() {
        let far = MessageId::from_parts(1 << 41, 9, 0);
        let generator = IdGenerator::resuming(9, far);
        assert!(generator.next() > far);
    }

    #[test]
    fn threads_never_share_an_id() {
        let generator = std::sync::Arc::new(IdGenerator::new(3));
        let handles: Vec<_> = (0..4)
            .map(|_| {
                let generator = generator.clone();
                std::thread::spawn(move || {
                    (0..20_000).map(|_| generator.next().0).collect::<Vec<_>>()
                })
            })
            .collect();
        let mut all: Vec<u64> = handles
            .into_iter()
            .flat_map(|h| h.join().unwrap())
            .collect();
        let count = all.len();
        all.sort_unstable();
        all.dedup();
        assert_eq!(all.len(), count);
    }

    #[test]
    fn no_id_is_issued_at_or_above_the_durable_mark() {
        // A floor far past the clock: ids follow the floor, not the time.
        let far = MessageId::from_parts(1 << 41, 5, 0);
        let generator = IdGenerator::resuming(5, far);
        assert_eq!(generator.try_next(), Err(NotDurable));
        generator.mark_durable(MessageId(far.0 + 3));
        assert_eq!(generator.try_next(), Ok(MessageId(far.0 + 1)));
        assert_eq!(generator.try_next(), Ok(MessageId(far.0 + 2)));
        assert_eq!(generator.try_next(), Err(NotDurable));
        // A lower mark reported late does not lower the limit.
        generator.mark_durable(far);
        assert_eq!(generator.durable(), MessageId(far.0 + 3));
    }

    /// The embedded store, with writes that fail while `fail` is set.
    struct FailingStore {
        inner: tern_storage::EmbeddedStore,
        fail: std::sync::atomic::AtomicBool,
    }

    impl MessageStore for FailingStore {
        fn write(
            &self,
            ops: Vec<WriteOp>,
            done: tern_storage::Completion,
        ) -> Result<(), tern_storage::StoreError> {
            if self.fail.load(Ordering::SeqCst) {
                done(Err(tern_storage::StoreError::Io("no space left".into())));
                return Ok(());
            }
            self.inner.write(ops, done)
        }
        fn message(
            &self,
            id: MessageId,
            part: u8,
        ) -> StoreFuture<'_, Option<tern_storage::MessageRecord>> {
            self.inner.message(id, part)
        }
        fn message_parts(
            &self,
            id: MessageId,
        ) -> StoreFuture<'_, Vec<tern_storage::MessageRecord>> {
            self.inner.message_parts(id)
        }
        fn pending(
            &self,
            shard: u16,
            after: Option<(MessageId, u8)>,
            limit: usize,
        ) -> StoreFuture<'_, Vec<tern_storage::PendingEntry>> {
            self.inner.pending(shard, after, limit)
        }
        fn receipt_owner<'a>(
            &'a self,
            link: &'a str,
            operator_id: &'a str,
        ) -> StoreFuture<'a, Option<(MessageId, u8)>> {
            self.inner.receipt_owner(link, operator_id)
        }
        fn held<'a>(
            &'a self,
            account: &'a str,
            limit: usize,
        ) -> StoreFuture<'a, Vec<tern_storage::HeldDelivery>> {
            self.inner.held(account, limit)
        }
        fn held_accounts(&self) -> StoreFuture<'_, Vec<String>> {
            self.inner.held_accounts()
        }
        fn messages_by_account<'a>(
            &'a self,
            account: &'a str,
            after: Option<tern_storage::CdrCursor>,
            from_ms: u64,
            to_ms: u64,
            limit: usize,
        ) -> StoreFuture<'a, Vec<tern_storage::MessageRecord>> {
            self.inner
                .messages_by_account(account, after, from_ms, to_ms, limit)
        }
        fn messages_by_link<'a>(
            &'a self,
            link: &'a str,
            after: Option<tern_storage::CdrCursor>,
            from_ms: u64,
            to_ms: u64,
            limit: usize,
        ) -> StoreFuture<'a, Vec<tern_storage::MessageRecord>> {
            self.inner
                .messages_by_link(link, after, from_ms, to_ms, limit)
        }
        fn messages_by_client_ref<'a>(
            &'a self,
            account: &'a str,
            client_ref: &'a str,
            limit: usize,
        ) -> StoreFuture<'a, Vec<MessageId>> {
            self.inner
                .messages_by_client_ref(account, client_ref, limit)
        }
        fn meta<'a>(&'a self, key: &'a str) -> StoreFuture<'a, Option<Vec<u8>>> {
            self.inner.meta(key)
        }
        fn charged(&self, lease: u64) -> StoreFuture<'_, (u64, i64)> {
            self.inner.charged(lease)
        }
    }

    async fn wait_for(what: &str, done: impl Fn() -> bool) {
        for _ in 0..200 {
            if done() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("{what}");
    }

    async fn stored_mark(store: &FailingStore) -> Option<MessageId> {
        let value = store.meta(&mark_key(7)).await.unwrap()?;
        Some(MessageId(u64::from_be_bytes(value.try_into().unwrap())))
    }

    #[tokio::test]
    async fn a_failed_mark_write_keeps_ids_below_the_last_durable_mark() {
        let dir = tempfile::tempdir().unwrap();
        let store = FailingStore {
            inner: tern_storage::EmbeddedStore::open(dir.path(), Default::default()).unwrap(),
            fail: false.into(),
        };
        let ids = Arc::new(IdGenerator::resuming(7, MessageId(0)));
        assert_eq!(ids.try_next(), Err(NotDurable));

        persist_mark(&ids, &store);
        wait_for("the first mark never became durable", || {
            ids.durable() > MessageId(0)
        })
        .await;
        let first = ids.durable();
        assert_eq!(stored_mark(&store).await, Some(first));
        let id = ids.try_next().unwrap();
        assert!(id < first);

        // The disk fails: the limit stays at the stored mark, whatever the clock says.
        store.fail.store(true, Ordering::SeqCst);
        tokio::time::sleep(Duration::from_millis(5)).await;
        persist_mark(&ids, &store);
        assert_eq!(ids.durable(), first);
        assert_eq!(stored_mark(&store).await, Some(first));
        // Ids run up to the stored mark and no further.
        let before = first.unix_millis() - MessageId::EPOCH_UNIX_MS - 1;
        ids.last
            .store(MessageId::from_parts(before, 7, 4094).0, Ordering::Relaxed);
        assert_eq!(ids.try_next(), Ok(MessageId::from_parts(before, 7, 4095)));
        assert_eq!(ids.try_next(), Err(NotDurable));

        // The disk is back: the next attempt raises the limit past the old mark.
        store.fail.store(false, Ordering::SeqCst);
        persist_mark(&ids, &store);
        wait_for("the mark was not renewed", || ids.durable() > first).await;
        assert_eq!(stored_mark(&store).await, Some(ids.durable()));
        assert!(ids.try_next().unwrap() >= first);
    }

    /// Two nodes on one store: each restarts above the ids it issued, whatever the other
    /// wrote, and a node whose ids ran ahead does not pull the other's ahead with it.
    #[tokio::test]
    async fn each_node_restarts_above_its_own_mark() {
        let dir = tempfile::tempdir().unwrap();
        let store = tern_storage::EmbeddedStore::open(dir.path(), Default::default()).unwrap();
        // Node 2's ids run a minute ahead of the clock (a burst borrowing, or marks of
        // earlier starts); node 1 writes its mark after it.
        let ahead = crate::context::now_ms() - MessageId::EPOCH_UNIX_MS + 60_000;
        let two = IdGenerator::resuming(2, MessageId::from_parts(ahead, 2, 0));
        persist_first_mark(&two, &store).await.unwrap();
        let issued = two.try_next().unwrap();
        let one = IdGenerator::resuming(1, MessageId(0));
        persist_first_mark(&one, &store).await.unwrap();

        assert!(stored_floor(&store, 2).await.unwrap() > issued);
        let floor = stored_floor(&store, 1).await.unwrap();
        assert!(floor > one.high_water());
        assert!(
            floor.unix_millis() < issued.unix_millis() - 30_000,
            "node 1 starts near the clock, not at node 2's mark"
        );
        assert_eq!(stored_floor(&store, 3).await.unwrap(), MessageId(0));
    }

    /// A mark written under the shared key before marks were per node is still honoured.
    #[tokio::test]
    async fn the_shared_mark_of_an_earlier_version_is_a_floor_too() {
        let dir = tempfile::tempdir().unwrap();
        let store = tern_storage::EmbeddedStore::open(dir.path(), Default::default()).unwrap();
        let old = MessageId::from_parts(1 << 40, 4, 0);
        let put = WriteOp::PutMeta {
            key: SHARED_MARK_KEY.to_owned(),
            value: old.0.to_be_bytes().to_vec(),
        };
        tern_storage::write_durable(&store, vec![put])
            .await
            .unwrap();
        assert!(stored_floor(&store, 4).await.unwrap() > old);
    }
}
