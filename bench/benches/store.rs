//! Committed messages per second of the embedded store, with and without fsync, for 1, 16
//! and 64 writer threads. Each writer does what a customer session does for one accepted
//! message: one batch of `PutMessage` (a ~300-byte record) + `AddPending`, and waits for
//! its completion before the next. Throughput is in messages (elements) per second.
//!
//! The store lives in a temporary directory under the target directory, on the same disk
//! as the build, so fsync costs what it costs there. Like the codec benchmark this links
//! an internal crate: the store has no wire of its own to drive.

// Benchmark setup: a failed unwrap is a broken benchmark, not a production path.
#![allow(clippy::unwrap_used)]

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use tern_model::{Address, Message, MessageId, ReceiptRequest};
use tern_storage::{
    EmbeddedConfig, EmbeddedStore, MessageRecord, MessageStore, PendingEntry, RecordState,
    Transition, WriteOp,
};

const SHARDS: u64 = 64;

/// An accepted single-part message as a session writes it (~300 bytes encoded).
fn record(id: u64) -> MessageRecord {
    let now_ms = 1_706_704_200_000 + id / 1_000;
    let text = "Your verification code is 482913. It expires in 10 minutes. Do not share it \
                with anyone, including our staff. Questions? Call 0800 123 4567.";
    let mut message = Message::text(
        Address::alphanumeric("TernBank"),
        Address::international("4915112345678"),
        text,
    );
    message.id = Some(MessageId(id));
    message.receipt = ReceiptRequest::Final;
    message.service_type = "CMT".into();
    message.validity_unix = Some(1_706_790_600);
    MessageRecord {
        id: MessageId(id),
        part: 0,
        parts: 1,
        account: "acme-retail".into(),
        message,
        state: RecordState::Accepted,
        history: vec![Transition {
            state: RecordState::Accepted,
            at_ms: now_ms,
            detail: "smpp acme-retail/tx-3 10.0.4.17".into(),
        }],
        attempts: 0,
        link: None,
        operator_id: None,
        error: None,
        receipt: None,
        accepted_ms: now_ms,
        expires_ms: now_ms + 86_400_000,
        wire_id: None,
        route: Some("de-mobile".into()),
        price: 7,
        client_ref: None,
        receipt_made_ms: None,
    }
}

fn batch(id: u64) -> Vec<WriteOp> {
    vec![
        WriteOp::PutMessage(std::sync::Arc::new(record(id))),
        WriteOp::AddPending(PendingEntry {
            attempts: 0,
            shard: (id % SHARDS) as u16,
            id: MessageId(id),
            part: 0,
            due_ms: 0,
        }),
    ]
}

/// `iters` messages written by `threads` writers, each waiting for every completion.
fn run(store: &EmbeddedStore, next_id: &AtomicU64, threads: u64, iters: u64) -> Duration {
    let started = Instant::now();
    std::thread::scope(|scope| {
        for t in 0..threads {
            let count = iters / threads + u64::from(t < iters % threads);
            scope.spawn(move || {
                let (tx, rx) = mpsc::channel();
                for _ in 0..count {
                    let id = next_id.fetch_add(1, Ordering::Relaxed);
                    let tx = tx.clone();
                    store
                        .write(
                            batch(id),
                            Box::new(move |result| {
                                let _ = tx.send(result);
                            }),
                        )
                        .unwrap();
                    rx.recv().unwrap().unwrap();
                }
            });
        }
    });
    started.elapsed()
}

fn store_commit(c: &mut Criterion) {
    let mut group = c.benchmark_group("store_commit");
    group
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(4))
        .throughput(Throughput::Elements(1));
    for fsync in [true, false] {
        let dir = tempfile::Builder::new()
            .prefix("tern-bench-store-")
            .tempdir_in(env!("CARGO_TARGET_TMPDIR"))
            .unwrap();
        let config = EmbeddedConfig {
            fsync,
            ..EmbeddedConfig::default()
        };
        let store = EmbeddedStore::open(dir.path(), config).unwrap();
        let next_id = AtomicU64::new(1);
        let name = if fsync { "fsync" } else { "no_fsync" };
        for threads in [1_u64, 16, 64] {
            group.bench_function(BenchmarkId::new(name, threads), |b| {
                b.iter_custom(|iters| run(&store, &next_id, threads, iters));
            });
        }
        let stats = store.stats();
        eprintln!(
            "{name}: {} batches in {} commits ({:.1} batches per commit)",
            stats.batches,
            stats.commits,
            stats.batches as f64 / stats.commits.max(1) as f64
        );
        store.close().unwrap();
    }
    group.finish();
}

criterion_group!(benches, store_commit);
criterion_main!(benches);
