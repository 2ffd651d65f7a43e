//! The message id generator of this node: time-ordered 64-bit ids, unique per node id.

use std::sync::atomic::{AtomicU64, Ordering};

use tern_model::MessageId;

/// Hands out ids that only grow. Within one millisecond 4096 ids are available; beyond
/// that the generator borrows from the next millisecond rather than repeat an id.
#[derive(Debug)]
pub struct IdGenerator {
    node: u16,
    last: AtomicU64,
}

impl IdGenerator {
    pub fn new(node: u16) -> Self {
        Self::resuming(node, MessageId(0))
    }

    /// A generator that never hands out an id at or below `floor`: the high-water mark
    /// persisted before a restart, so a clock that went back cannot repeat an id.
    pub fn resuming(node: u16, floor: MessageId) -> Self {
        Self {
            node,
            last: AtomicU64::new(floor.0),
        }
    }

    /// The last id handed out.
    pub fn high_water(&self) -> MessageId {
        MessageId(self.last.load(Ordering::Relaxed))
    }

    pub fn next(&self) -> MessageId {
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
            match self
                .last
                .compare_exchange_weak(last, next, Ordering::Relaxed, Ordering::Relaxed)
            {
                Ok(_) => return MessageId(next),
                Err(actual) => last = actual,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
