//! Group commit on the CQL store under load, against a real database (`TERN_CQL`): many
//! sessions queue small batches at once, as customers' submits do, and the writer must
//! share rounds and batches between them, so that a message costs less than one round
//! trip. Prints what it measured (messages per second, requests per message); run with
//! `--release --nocapture` for figures worth quoting.
#![allow(clippy::unwrap_used)]

mod cql_support;

use std::sync::Arc;
use std::time::Instant;

use cql_support::{accepted, id_at, now_ms, pending, put, write, Keyspace};
use tern_storage::{MessageStore, WriteOp};

const SESSIONS: u64 = 16;
const BATCHES_PER_SESSION: u64 = 40;
const MESSAGES_PER_BATCH: u64 = 8;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_sessions_share_rounds_and_batches() {
    let Some(ks) = Keyspace::new("group_commit_load").await else {
        return;
    };
    let store = Arc::new(ks.store().await);
    let before = store.stats();
    let base = now_ms() - 60_000;
    let started = Instant::now();
    let sessions = (0..SESSIONS).map(|session| {
        let store = Arc::clone(&store);
        tokio::spawn(async move {
            for batch in 0..BATCHES_PER_SESSION {
                let mut ops = Vec::new();
                for n in 0..MESSAGES_PER_BATCH {
                    let seq = (batch * MESSAGES_PER_BATCH + n) as u16;
                    let id = id_at(base + session * 3_000 + batch, seq);
                    let mut record = accepted(id, 0, &format!("acct{}", session % 4));
                    record.client_ref = Some(format!("ref-{session}-{batch}-{n}"));
                    ops.push(put(&record));
                    ops.push(WriteOp::AddPending(pending((session % 8) as u16, id)));
                }
                write(&*store, ops).await.unwrap();
            }
        })
    });
    for session in futures::future::join_all(sessions).await {
        session.unwrap();
    }
    let elapsed = started.elapsed();
    let stats = store.stats();
    let messages = SESSIONS * BATCHES_PER_SESSION * MESSAGES_PER_BATCH;
    let writes = stats.writes - before.writes;
    let requests = stats.requests - before.requests;
    let rounds = stats.rounds - before.rounds;
    let batches = stats.batches - before.batches;
    println!(
        "{messages} messages in {writes} write calls from {SESSIONS} sessions: {:.2} s, \
         {:.0} messages/s; {rounds} rounds, {batches} batches, {requests} requests, \
         {:.3} requests per message",
        elapsed.as_secs_f64(),
        messages as f64 / elapsed.as_secs_f64(),
        requests as f64 / messages as f64,
    );
    assert_eq!(writes, SESSIONS * BATCHES_PER_SESSION);
    assert_eq!(stats.failed_writes, 0);
    assert!(rounds < writes, "no round was shared: {rounds} rounds");
    assert!(
        requests < messages,
        "{requests} requests for {messages} messages"
    );
    let pending: usize = {
        let mut total = 0;
        for shard in 0..8 {
            total += store.pending(shard, None, 10_000).await.unwrap().len();
        }
        total
    };
    assert_eq!(pending as u64, messages);
    Arc::try_unwrap(store).ok().unwrap().close().await.unwrap();
    ks.drop().await;
}
