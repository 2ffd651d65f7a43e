//! A commit that fails stops the embedded store for good: nothing is acknowledged past the
//! failure, even once the disk works again, and a reopened store has every write that was
//! acknowledged before it. The failure is the test disk's (`test-disk` feature); this
//! binary is built only with it: `cargo test -p tern-storage --features test-disk`.

#![cfg(feature = "test-disk")]
#![allow(clippy::unwrap_used)]

mod common;

use common::{open, put, record, temp_dir, write, Wait};
use tern_model::MessageId;
use tern_storage::embedded::test_disk::{self, Mode};
use tern_storage::{MessageStore, StoreError};

#[test]
fn a_failed_commit_stops_the_store_until_it_is_reopened() {
    let dir = temp_dir();
    let store = open(dir.path());
    write(&store, vec![put(record(1, 1, "alice", 1_000))]).unwrap();
    assert_eq!(store.failure(), None);

    test_disk::set(Mode::Failing);
    let failed = write(&store, vec![put(record(2, 1, "alice", 1_000))]);
    assert!(matches!(failed, Err(StoreError::Io(_))), "{failed:?}");

    // The disk works again, but the store does not acknowledge past the gap.
    test_disk::set(Mode::Healthy);
    let failure = store.failure().expect("the store says it failed");
    assert!(failure.contains("no space left"), "{failure}");
    let refused = store.write(vec![put(record(3, 1, "alice", 1_000))], Box::new(|_| {}));
    assert!(matches!(refused, Err(StoreError::Io(_))), "{refused:?}");
    drop(store);

    // Reopened: what was acknowledged is there, the failed batch is not, writes work.
    let store = open(dir.path());
    assert_eq!(store.failure(), None);
    assert!(store.message(MessageId(1), 1).wait().unwrap().is_some());
    assert!(store.message(MessageId(2), 1).wait().unwrap().is_none());
    write(&store, vec![put(record(3, 1, "alice", 1_000))]).unwrap();
    assert!(store.message(MessageId(3), 1).wait().unwrap().is_some());
}
