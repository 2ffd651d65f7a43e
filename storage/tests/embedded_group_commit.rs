//! Group commit: many writers, few syncs, every completion called, nothing lost on close.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc};
use std::time::Duration;

use common::{open, pending, put, record, temp_dir, write, Wait};
use tern_model::MessageId;
use tern_storage::{EmbeddedConfig, EmbeddedStore, MessageStore, StoreError, WriteOp};

const THREADS: u64 = 16;

fn batch(id: u64) -> Vec<WriteOp> {
    vec![
        put(record(id, 0, "acme", id)),
        WriteOp::AddPending(pending((id % 64) as u16, id, 0)),
    ]
}

#[test]
fn concurrent_writers_all_complete_and_everything_survives_reopen() {
    const PER_THREAD: u64 = 200;
    let dir = temp_dir();
    {
        let store = Arc::new(open(dir.path()));
        let workers: Vec<_> = (0..THREADS)
            .map(|t| {
                let store = Arc::clone(&store);
                std::thread::spawn(move || {
                    // Each writer waits for its batch, as a session waits before it answers.
                    for i in 0..PER_THREAD {
                        write(&*store, batch(t * PER_THREAD + i)).unwrap();
                    }
                })
            })
            .collect();
        for worker in workers {
            worker.join().unwrap();
        }
        let stats = store.stats();
        assert_eq!(stats.batches, THREADS * PER_THREAD);
        assert_eq!(stats.ops, 2 * THREADS * PER_THREAD);
        assert_eq!(stats.write_errors, 0);
    }
    let store = open(dir.path());
    for id in 0..THREADS * PER_THREAD {
        assert!(
            store.message(MessageId(id), 0).wait().unwrap().is_some(),
            "message {id} lost"
        );
    }
    let pending: usize = (0..64)
        .map(|shard| store.pending(shard, None, 10_000).wait().unwrap().len())
        .sum();
    assert_eq!(pending as u64, THREADS * PER_THREAD);
}

#[test]
fn one_sync_covers_many_batches() {
    const PER_THREAD: u64 = 500;
    let dir = temp_dir();
    let store = Arc::new(open(dir.path()));
    let completed = Arc::new(AtomicUsize::new(0));
    let workers: Vec<_> = (0..THREADS)
        .map(|t| {
            let store = Arc::clone(&store);
            let completed = Arc::clone(&completed);
            std::thread::spawn(move || {
                // Pipelined writers: a batch is queued while earlier ones are in flight.
                let (tx, rx) = mpsc::channel();
                for i in 0..PER_THREAD {
                    let tx = tx.clone();
                    let completed = Arc::clone(&completed);
                    store
                        .write(
                            batch(t * PER_THREAD + i),
                            Box::new(move |result| {
                                completed.fetch_add(1, Ordering::Relaxed);
                                let _ = tx.send(result);
                            }),
                        )
                        .unwrap();
                }
                for _ in 0..PER_THREAD {
                    rx.recv_timeout(Duration::from_secs(60)).unwrap().unwrap();
                }
            })
        })
        .collect();
    for worker in workers {
        worker.join().unwrap();
    }
    let stats = store.stats();
    let batches = THREADS * PER_THREAD;
    assert_eq!(completed.load(Ordering::Relaxed) as u64, batches);
    assert_eq!(stats.batches, batches);
    assert!(
        stats.commits * 10 <= batches,
        "{} commits for {batches} batches",
        stats.commits
    );
}

#[test]
fn completions_run_in_queue_order() {
    let dir = temp_dir();
    let store = open(dir.path());
    let (tx, rx) = mpsc::channel();
    for i in 0..2_000_u64 {
        let tx = tx.clone();
        store
            .write(
                batch(i),
                Box::new(move |result| {
                    result.unwrap();
                    let _ = tx.send(i);
                }),
            )
            .unwrap();
    }
    drop(tx);
    let order: Vec<u64> = rx.iter().collect();
    assert_eq!(order, (0..2_000).collect::<Vec<_>>());
}

#[test]
fn close_commits_everything_queued() {
    let dir = temp_dir();
    let completed = Arc::new(AtomicUsize::new(0));
    {
        let store = open(dir.path());
        for i in 0..3_000 {
            let completed = Arc::clone(&completed);
            store
                .write(
                    batch(i),
                    Box::new(move |result| {
                        result.unwrap();
                        completed.fetch_add(1, Ordering::Relaxed);
                    }),
                )
                .unwrap();
        }
        store.close().unwrap();
    }
    assert_eq!(completed.load(Ordering::Relaxed), 3_000);
    let store = open(dir.path());
    assert!(store.message(MessageId(2_999), 0).wait().unwrap().is_some());
}

#[test]
fn a_full_queue_refuses_at_once_without_calling_done() {
    let dir = temp_dir();
    let config = EmbeddedConfig {
        queue_capacity: 2,
        ..EmbeddedConfig::default()
    };
    let store = EmbeddedStore::open(dir.path(), config).unwrap();
    let (tx, rx) = mpsc::channel();
    let mut accepted = 0;
    let mut refused = 0;
    for i in 0..5_000 {
        let tx = tx.clone();
        match store.write(batch(i), Box::new(move |r| tx.send(r).unwrap())) {
            Ok(()) => accepted += 1,
            Err(StoreError::Overloaded) => refused += 1,
            Err(e) => panic!("unexpected {e}"),
        }
    }
    drop(tx);
    assert!(refused > 0, "a queue of 2 never filled");
    let results: Vec<_> = rx.iter().collect();
    assert_eq!(results.len(), accepted);
    assert!(results.iter().all(Result::is_ok));
}

#[test]
fn a_panicking_completion_does_not_stop_the_writer() {
    let dir = temp_dir();
    let store = open(dir.path());
    store
        .write(batch(1), Box::new(|_| panic!("completion bug")))
        .unwrap();
    write(&store, batch(2)).unwrap();
    assert!(store.message(MessageId(1), 0).wait().unwrap().is_some());
    assert!(store.message(MessageId(2), 0).wait().unwrap().is_some());
}

#[test]
fn an_empty_batch_completes_after_the_batches_before_it() {
    let dir = temp_dir();
    let store = open(dir.path());
    let (tx, rx) = mpsc::channel();
    for i in 0..100 {
        let tx = tx.clone();
        store
            .write(batch(i), Box::new(move |_| tx.send(i).unwrap()))
            .unwrap();
    }
    write(&store, Vec::new()).unwrap();
    assert_eq!(rx.try_iter().count(), 100);
}

#[test]
fn unsynced_mode_still_commits_and_survives_close() {
    let dir = temp_dir();
    let config = EmbeddedConfig {
        fsync: false,
        ..EmbeddedConfig::default()
    };
    {
        let store = EmbeddedStore::open(dir.path(), config).unwrap();
        for i in 0..100 {
            write(&store, batch(i)).unwrap();
        }
        store.close().unwrap();
    }
    let store = open(dir.path());
    assert_eq!(store.pending(99 % 64, None, 10).wait().unwrap().len(), 2);
}

#[test]
fn a_completion_may_drop_the_last_handle() {
    let dir = temp_dir();
    let store = Arc::new(open(dir.path()));
    let (dropped_tx, dropped_rx) = mpsc::channel::<()>();
    let (done_tx, done_rx) = mpsc::channel();
    let handle = Arc::clone(&store);
    store
        .write(
            batch(1),
            Box::new(move |result| {
                dropped_rx.recv().unwrap();
                drop(handle);
                done_tx.send(result).unwrap();
            }),
        )
        .unwrap();
    drop(store);
    dropped_tx.send(()).unwrap();
    done_rx
        .recv_timeout(Duration::from_secs(30))
        .expect("the completion returned")
        .unwrap();
}

/// Queues `ops` as a deferred batch; the receiver gets its result.
fn write_deferred(
    store: &EmbeddedStore,
    ops: Vec<WriteOp>,
) -> mpsc::Receiver<Result<(), StoreError>> {
    let (tx, rx) = mpsc::channel();
    store
        .write_deferred(
            ops,
            Box::new(move |result| {
                let _ = tx.send(result);
            }),
        )
        .expect("the store takes the batch");
    rx
}

#[test]
fn a_deferred_batch_alone_is_made_durable_after_its_wait() {
    let dir = temp_dir();
    let store = open(dir.path());
    let before = store.stats().commits;
    let done = write_deferred(&store, batch(7));
    done.recv_timeout(Duration::from_secs(30))
        .expect("the deferred batch completed with nothing else queued")
        .unwrap();
    assert_eq!(store.stats().commits, before + 1, "committed on its own");
    assert!(store.message(MessageId(7), 0).wait().unwrap().is_some());
}

#[test]
fn a_deferred_batch_shares_the_sync_of_the_next_batch_waited_on() {
    let dir = temp_dir();
    let store = open(dir.path());
    // The two are queued back to back, well within the deferred wait; a thread that is
    // descheduled for longer between them makes two commits, so a few tries are allowed.
    let mut shared = false;
    for round in 0..5u64 {
        let before = store.stats().commits;
        let deferred = write_deferred(&store, batch(100 + round));
        write(&store, batch(200 + round)).unwrap();
        deferred
            .recv_timeout(Duration::from_secs(30))
            .expect("the deferred batch completed")
            .unwrap();
        if store.stats().commits - before == 1 {
            shared = true;
            break;
        }
    }
    assert!(shared, "a deferred batch never went with the next batch");
    for id in [100, 200] {
        assert!(store.message(MessageId(id), 0).wait().unwrap().is_some());
    }
}
