//! Message ids that survive a restart without a pause: the generator's reservation kept in
//! the store.
//!
//! A gateway's ids hold a period (CMPP a second, SMGP and CNGP a minute) and a sequence
//! within it, and must not repeat while a report can still name them. A generator that
//! knew only "some time before the crash" would have to treat the whole period as used,
//! and an SP of a restarted node would be told "busy" for up to a minute. Instead the
//! generator hands out only sequences below a mark the store holds durably (the hi/lo
//! scheme): a task writes the next mark, a block of sequences further, whenever less than
//! half a block is left or a new period begins, and a restart carries on from the last
//! mark in the same period. The store sees one small write per block or per period with
//! traffic, and none while the gateway is idle.
//!
//! The mark is kept under `ids/<protocol>/<gateway code>` (a node's code is its own, so
//! the nodes of a cluster sharing one store keep theirs apart): the Unix second of the
//! period (8 octets, big-endian) and the sequence (4 octets).

use std::sync::{Arc, Weak};
use std::time::Duration;

use tern_storage::{write_durable, MessageStore, StoreError, WriteOp};
use tokio::sync::Notify;
use tracing::warn;

use super::{Generator, Layout};

/// How long a failed write waits before it is tried again.
const RETRY: Duration = Duration::from_secs(1);

/// A generator whose reservation is kept in the store. Cheap to share behind an `Arc`.
#[derive(Debug)]
pub struct DurableGenerator<L> {
    generator: Generator<L>,
    /// The protocol, a metric label.
    protocol: &'static str,
    /// Sequences reserved per write.
    block: u32,
    /// Wakes the task that writes the next mark.
    wake: Arc<Notify>,
}

/// Why a generator could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("gateway code {0} does not fit the message id")]
    GatewayCode(u32),
    #[error("the store: {0}")]
    Store(#[from] StoreError),
}

/// The store key of a generator's mark.
pub fn mark_key(protocol: &str, gateway_code: u32) -> String {
    format!("ids/{protocol}/{gateway_code}")
}

fn encode(unix_secs: i64, sequence: u32) -> Vec<u8> {
    let mut value = unix_secs.to_be_bytes().to_vec();
    value.extend_from_slice(&sequence.to_be_bytes());
    value
}

fn decode(value: &[u8]) -> Option<(i64, u32)> {
    let secs = <[u8; 8]>::try_from(value.get(..8)?).ok()?;
    let sequence = <[u8; 4]>::try_from(value.get(8..12)?).ok()?;
    Some((i64::from_be_bytes(secs), u32::from_be_bytes(sequence)))
}

impl<L: Layout + Send + Sync + 'static> DurableGenerator<L> {
    /// Reads `protocol`'s mark for `gateway_code`, makes the first reservation durable and
    /// starts the task that keeps it ahead (it ends once the generator is dropped).
    ///
    /// Without a mark (a new store, or one written before marks were kept) the generator
    /// starts past `floor_unix_secs`, the last second an earlier run may have used
    /// (0: none), as [`Generator::resume`] does.
    pub async fn start(
        store: Arc<dyn MessageStore>,
        protocol: &'static str,
        gateway_code: u32,
        floor_unix_secs: i64,
    ) -> Result<Arc<Self>, StartError> {
        let key = mark_key(protocol, gateway_code);
        let from = match store.meta(&key).await?.as_deref().and_then(decode) {
            Some(mark) => Some(mark),
            // Every sequence of the floor's period counts as used.
            None if floor_unix_secs > 0 => Some((floor_unix_secs, L::PER_PERIOD)),
            None => None,
        };
        let generator = Generator::<L>::bounded(gateway_code, from)
            .ok_or(StartError::GatewayCode(gateway_code))?;
        let this = Arc::new(DurableGenerator {
            generator,
            protocol,
            block: (L::PER_PERIOD / 16).clamp(1, 16_384),
            wake: Arc::new(Notify::new()),
        });
        if let Some(mark) = this.to_reserve(now_unix_secs()) {
            write_durable(store.as_ref(), vec![put(&key, mark)]).await?;
            this.generator.counter().reserve(mark.0, mark.1);
        }
        let task = keep_ahead(
            Arc::downgrade(&this),
            this.wake.clone(),
            store,
            key,
            protocol,
        );
        tokio::spawn(task);
        Ok(this)
    }

    /// The next id for `unix_secs`, or `None` when the period is used up or the reservation
    /// has not kept up (the caller answers "busy").
    pub fn next(&self, unix_secs: i64) -> Option<L> {
        let id = self.generator.next(unix_secs);
        if id.is_none() {
            metrics::counter!("tern_msg_ids_refused_total", "protocol" => self.protocol)
                .increment(1);
        }
        if self.to_reserve(unix_secs).is_some() {
            self.wake.notify_one();
        }
        id
    }

    pub fn gateway_code(&self) -> u32 {
        self.generator.gateway_code()
    }

    fn to_reserve(&self, unix_secs: i64) -> Option<(i64, u32)> {
        self.generator.counter().to_reserve(unix_secs, self.block)
    }
}

fn put(key: &str, (unix_secs, sequence): (i64, u32)) -> WriteOp {
    WriteOp::PutMeta {
        key: key.to_owned(),
        value: encode(unix_secs, sequence),
    }
}

/// The clock the ids' times are read from: the Unix second.
pub fn now_unix_secs() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

/// Writes the next mark each time the generator asks, until the generator is dropped; a
/// failed write is tried again after [`RETRY`] (meanwhile the generator stops at the last
/// durable mark).
async fn keep_ahead<L: Layout + Send + Sync + 'static>(
    generator: Weak<DurableGenerator<L>>,
    wake: Arc<Notify>,
    store: Arc<dyn MessageStore>,
    key: String,
    protocol: &'static str,
) {
    loop {
        if tokio::time::timeout(RETRY, wake.notified()).await.is_err() {
            // Nothing asked for: an idle gateway writes nothing.
            if generator.strong_count() == 0 {
                return;
            }
            continue;
        }
        let Some(mark) = generator
            .upgrade()
            .and_then(|g| g.to_reserve(now_unix_secs()))
        else {
            continue;
        };
        match write_durable(store.as_ref(), vec![put(&key, mark)]).await {
            Ok(()) => {
                if let Some(generator) = generator.upgrade() {
                    generator.generator.counter().reserve(mark.0, mark.1);
                }
                metrics::counter!("tern_msg_id_reservations_total", "protocol" => protocol)
                    .increment(1);
            }
            Err(error) => {
                metrics::counter!("tern_msg_id_reservation_failures_total", "protocol" => protocol)
                    .increment(1);
                warn!(%error, key, "message id reservation not written; retrying");
                tokio::time::sleep(RETRY).await;
                wake.notify_one();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::msgid::bcd::MsgId;
    use std::collections::HashSet;
    use tern_storage::embedded::{EmbeddedConfig, EmbeddedStore};

    fn open(dir: &std::path::Path) -> Arc<dyn MessageStore> {
        Arc::new(EmbeddedStore::open(dir, EmbeddedConfig::default()).expect("store"))
    }

    /// Issues `n` ids, letting the task write marks as blocks run low.
    async fn issue(ids: &DurableGenerator<MsgId>, n: usize) -> Vec<MsgId> {
        let mut out = Vec::new();
        while out.len() < n {
            match ids.next(now_unix_secs()) {
                Some(id) => out.push(id),
                None => tokio::time::sleep(Duration::from_millis(1)).await,
            }
        }
        out
    }

    #[tokio::test]
    async fn a_restart_carries_on_at_once_without_a_repeat() {
        let dir = tempfile::tempdir().expect("dir");
        let mut seen = HashSet::new();
        let store = open(dir.path());
        let ids = DurableGenerator::<MsgId>::start(store.clone(), "smgp", 100, 0)
            .await
            .expect("start");
        // More than a block (a sixteenth of a million per minute, capped at 16,384).
        for id in issue(&ids, 40_000).await {
            assert!(seen.insert(id), "repeated {id:?}");
        }
        drop(ids);
        drop(store);
        // The task lets the store go within a second of the generator.
        tokio::time::sleep(RETRY + Duration::from_millis(500)).await;
        // Restarted with the node's floor a minute ahead of the clock, as after a crash
        // right after the node's id mark was renewed: the first id comes at once.
        let store = open(dir.path());
        let floor = now_unix_secs() + 60;
        let ids = DurableGenerator::<MsgId>::start(store, "smgp", 100, floor)
            .await
            .expect("restart");
        let first = ids
            .next(now_unix_secs())
            .expect("an id at once after the restart");
        assert!(seen.insert(first));
        for id in issue(&ids, 20_000).await {
            assert!(seen.insert(id), "repeated {id:?} after the restart");
        }
    }

    #[tokio::test]
    async fn without_a_mark_the_floors_minute_counts_as_used() {
        let dir = tempfile::tempdir().expect("dir");
        let floor = now_unix_secs() + 120;
        let ids = DurableGenerator::<MsgId>::start(open(dir.path()), "cngp", 7, floor)
            .await
            .expect("start");
        assert_eq!(ids.next(now_unix_secs()), None);
        let next_minute = (floor / 60 + 1) * 60;
        assert_eq!(ids.to_reserve(next_minute), Some((next_minute, ids.block)));
    }

    #[test]
    fn a_mark_reads_back_and_a_short_one_does_not() {
        assert_eq!(
            decode(&encode(1_709_265_600, 123_456)),
            Some((1_709_265_600, 123_456))
        );
        assert_eq!(decode(&[0; 11]), None);
        assert_eq!(mark_key("smgp", 100), "ids/smgp/100");
    }
}
