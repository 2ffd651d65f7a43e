//! What is particular to the CQL store, against a real database (`TERN_CQL`): the bytes
//! it stores, write timestamps and a replayed batch, TTLs, the pending buckets and their
//! clean-up, scans longer than a page, `Overloaded`, and claims of idempotency records from
//! two nodes at once. What every backend promises is the
//! conformance suite's (conformance_cql.rs).
#![allow(clippy::unwrap_used)]

mod cql_support;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use cql_support::{
    accepted, eventually, held, id_at, now_ms, pending, put, reporting, with_state, write, Keyspace,
};
use tern_model::MessageId;
use tern_storage::{Claim, CqlStore, MessageStore, RecordState, StoreError, WriteOp};

const HOUR_MS: u64 = 3_600_000;

#[tokio::test]
async fn records_are_stored_as_the_embedded_store_encodes_them_with_ordered_timestamps() {
    let Some(ks) = Keyspace::new("bytes_and_timestamps").await else {
        return;
    };
    let store = ks.store().await;
    let record = accepted(id_at(now_ms(), 1), 0, "acme");
    let id = record.id.0 as i64;
    let submission = tern_storage::Submission {
        id: record.id,
        part: 0,
        link: "op-1".into(),
        operator_id: "X1".into(),
        attempts: 1,
        at_ms: now_ms(),
    };
    write(
        &store,
        vec![put(&record), WriteOp::MarkSubmitted(submission.clone())],
    )
    .await
    .unwrap();
    let blobs: Vec<Vec<u8>> = ks
        .column(&format!(
            "SELECT record FROM {{ks}}.messages WHERE id = {id}"
        ))
        .await;
    assert_eq!(blobs, [postcard::to_stdvec(&record).unwrap()]);
    let copies: Vec<Vec<u8>> = ks
        .column("SELECT record FROM {ks}.cdr_by_account WHERE account = 'acme' ALLOW FILTERING")
        .await;
    assert_eq!(copies, blobs);
    // One timestamp per operation, in call order: the submission after the record.
    let record_at: Vec<i64> = ks
        .column(&format!(
            "SELECT WRITETIME(record) FROM {{ks}}.messages WHERE id = {id}"
        ))
        .await;
    let submission_at: Vec<i64> = ks
        .column(&format!(
            "SELECT WRITETIME(submission) FROM {{ks}}.messages WHERE id = {id}"
        ))
        .await;
    assert!(submission_at[0] > record_at[0]);
    assert!((record_at[0] / 1000).abs_diff(now_ms() as i64) < 60_000);
    // Records live for the retention: 400 days by default.
    let ttl: Vec<i32> = ks
        .column(&format!(
            "SELECT TTL(record) FROM {{ks}}.messages WHERE id = {id}"
        ))
        .await;
    assert!(
        (400 * 86_400 - 120..=400 * 86_400).contains(&ttl[0]),
        "{ttl:?}"
    );
    let read = store.message(record.id, 0).await.unwrap().unwrap();
    assert_eq!(read, record.with_submission(submission));
    store.close().await.unwrap();
    ks.drop().await;
}

#[tokio::test]
async fn a_replayed_batch_never_overwrites_a_later_state() {
    let Some(ks) = Keyspace::new("replayed_batch").await else {
        return;
    };
    let store = ks.store().await;
    let record = accepted(id_at(now_ms(), 2), 0, "acme");
    let first = store
        .prepare_write(vec![
            put(&record),
            WriteOp::AddPending(pending(3, record.id)),
        ])
        .unwrap();
    submit(&store, first.clone()).await.unwrap();
    let delivered = with_state(record.clone(), RecordState::Delivered, Some("op-1"));
    write(
        &store,
        vec![
            put(&delivered),
            WriteOp::RemovePending {
                shard: 3,
                id: record.id,
                part: 0,
            },
        ],
    )
    .await
    .unwrap();
    // The first batch again, as a retry that arrives late would send it.
    submit(&store, first).await.unwrap();
    assert_eq!(
        store.message(record.id, 0).await.unwrap(),
        Some(delivered.clone())
    );
    assert!(store.pending(3, None, 10).await.unwrap().is_empty());
    let day = record.accepted_ms - record.accepted_ms % 86_400_000;
    let listed = store
        .messages_by_account("acme", None, day, day + 86_400_000, 10)
        .await
        .unwrap();
    assert_eq!(listed, [delivered]);
    store.close().await.unwrap();
    ks.drop().await;
}

async fn submit(
    store: &CqlStore,
    write: tern_storage::cql::PreparedWrite,
) -> Result<(), StoreError> {
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    store.submit(write, reporting(tx))?;
    rx.recv().await.unwrap()
}

#[tokio::test]
async fn held_deliveries_expire_and_the_account_stays_listed_while_one_lives() {
    let Some(ks) = Keyspace::new("held_ttl").await else {
        return;
    };
    let store = ks.store().await;
    let soon = now_ms() + 1_500;
    let later = now_ms() + 120_000;
    // The later expiry first: the marker written after it, with the sooner one, must not
    // cut the account's listing short.
    write(
        &store,
        vec![WriteOp::Hold(Box::new(held("long", 2, later)))],
    )
    .await
    .unwrap();
    write(
        &store,
        vec![
            WriteOp::Hold(Box::new(held("long", 1, soon))),
            WriteOp::Hold(Box::new(held("short", 1, soon))),
        ],
    )
    .await
    .unwrap();
    let mut accounts = store.held_accounts().await.unwrap();
    accounts.sort();
    assert_eq!(accounts, ["long", "short"]);
    assert_eq!(store.held("long", 10).await.unwrap().len(), 2);
    let expired = eventually(Duration::from_secs(10), || async {
        store.held("short", 10).await.unwrap().is_empty()
    })
    .await;
    assert!(expired, "a delivery outlived its expiry");
    assert!(
        eventually(Duration::from_secs(5), || async {
            store.held_accounts().await.unwrap() == ["long"]
        })
        .await
    );
    let left: Vec<u64> = store
        .held("long", 10)
        .await
        .unwrap()
        .iter()
        .map(|h| h.key)
        .collect();
    assert_eq!(left, [2]);
    assert!(matches!(
        store.write(
            vec![WriteOp::Hold(Box::new(held("", 1, later)))],
            Box::new(|_| {})
        ),
        Err(StoreError::Invalid(_))
    ));
    store.close().await.unwrap();
    ks.drop().await;
}

#[tokio::test]
async fn receipt_index_entries_expire_after_their_ttl() {
    let Some(ks) = Keyspace::new("receipt_ttl").await else {
        return;
    };
    let mut config = ks.config();
    config.receipt_index_ttl_secs = 1;
    let store = CqlStore::connect(config).await.unwrap();
    let id = id_at(now_ms(), 3);
    write(
        &store,
        vec![WriteOp::IndexReceipt {
            link: "op-1".into(),
            operator_id: "R1".into(),
            id,
            part: 2,
        }],
    )
    .await
    .unwrap();
    assert_eq!(
        store.receipt_owner("op-1", "R1").await.unwrap(),
        Some((id, 2))
    );
    let gone = eventually(Duration::from_secs(10), || async {
        store.receipt_owner("op-1", "R1").await.unwrap().is_none()
    })
    .await;
    assert!(gone, "the receipt index entry outlived its TTL");
    store.close().await.unwrap();
    ks.drop().await;
}

async fn buckets(ks: &Keyspace, shard: u16) -> Vec<i64> {
    ks.column(&format!(
        "SELECT bucket FROM {{ks}}.pending_buckets WHERE shard = {shard}"
    ))
    .await
}

#[tokio::test]
async fn pending_walks_its_buckets_in_id_order_and_pages_across_them() {
    let Some(ks) = Keyspace::new("pending_buckets").await else {
        return;
    };
    let store = ks.store().await;
    let now = now_ms();
    let mut ids = Vec::new();
    for age in [3 * HOUR_MS, 2 * HOUR_MS, HOUR_MS, HOUR_MS / 2, 0] {
        for n in 0..3 {
            ids.push(id_at(now - age + n, n as u16));
        }
    }
    // Written newest first, in one batch and in several.
    let ops: Vec<WriteOp> = ids
        .iter()
        .rev()
        .map(|&id| WriteOp::AddPending(pending(4, id)))
        .collect();
    write(&store, ops[..7].to_vec()).await.unwrap();
    write(&store, ops[7..].to_vec()).await.unwrap();
    write(&store, vec![WriteOp::AddPending(pending(5, ids[0]))])
        .await
        .unwrap();
    assert_eq!(buckets(&ks, 4).await.len(), 5);

    let all: Vec<MessageId> = store
        .pending(4, None, 100)
        .await
        .unwrap()
        .iter()
        .map(|e| e.id)
        .collect();
    assert_eq!(all, ids);
    let mut paged = Vec::new();
    let mut after = None;
    loop {
        let page = store.pending(4, after, 4).await.unwrap();
        paged.extend(page.iter().map(|e| e.id));
        match page.last() {
            Some(last) if page.len() == 4 => after = Some((last.id, last.part)),
            _ => break,
        }
    }
    assert_eq!(paged, ids);
    assert_eq!(store.pending(5, None, 100).await.unwrap().len(), 1);
    store.close().await.unwrap();
    ks.drop().await;
}

#[tokio::test]
async fn empty_old_buckets_are_forgotten_but_never_under_a_racing_add_pending() {
    let Some(ks) = Keyspace::new("bucket_cleanup").await else {
        return;
    };
    let store = ks.store().await;
    let now = now_ms();
    let (fresh, older, recent) = (
        id_at(now - 2 * HOUR_MS, 1),
        id_at(now - 3 * HOUR_MS, 2),
        id_at(now, 3),
    );
    let bucket_of = |id: MessageId| (id.unix_millis() / 600_000) as i64;
    // An old bucket emptied just now: its marker was written within the margin.
    let add = |id| WriteOp::AddPending(pending(7, id));
    write(&store, vec![add(fresh)]).await.unwrap();
    write(
        &store,
        vec![WriteOp::RemovePending {
            shard: 7,
            id: fresh,
            part: 0,
        }],
    )
    .await
    .unwrap();
    // Markers written ten minutes ago, their entries long gone: one of an old bucket, one
    // of the bucket of the last ten minutes.
    let long_ago_us = (now - 600_000) * 1000;
    for id in [older, recent] {
        ks.cql(&format!(
            "INSERT INTO {{ks}}.pending_buckets (shard, bucket) VALUES (7, {}) \
             USING TIMESTAMP {long_ago_us}",
            bucket_of(id)
        ))
        .await;
    }
    assert_eq!(buckets(&ks, 7).await.len(), 3);

    // An AddPending stamped before the scan and applied after it: the scan finds its
    // bucket empty and deletes the marker, which must not hide the entry.
    let racing = store.prepare_write(vec![add(older)]).unwrap();
    assert!(store.pending(7, None, 10).await.unwrap().is_empty());
    let mut left = buckets(&ks, 7).await;
    left.sort();
    assert_eq!(left, [bucket_of(fresh), bucket_of(recent)]);
    submit(&store, racing).await.unwrap();
    let listed: Vec<MessageId> = store
        .pending(7, None, 10)
        .await
        .unwrap()
        .iter()
        .map(|e| e.id)
        .collect();
    assert_eq!(listed, [older]);
    assert_eq!(buckets(&ks, 7).await.len(), 3);
    store.close().await.unwrap();
    ks.drop().await;
}

#[tokio::test]
async fn scans_longer_than_a_page_are_read_whole_and_in_order() {
    let Some(ks) = Keyspace::new("long_scans").await else {
        return;
    };
    let store = ks.store().await;
    let start = now_ms() - now_ms() % 86_400_000 + 1_000;
    let records: Vec<_> = (0..2_500u64)
        .map(|n| {
            let record = accepted(id_at(start + n, (n % 4096) as u16), 0, "bulk");
            if n % 2 == 0 {
                with_state(record, RecordState::Submitted, Some("op-bulk"))
            } else {
                with_state(record, RecordState::Delivered, Some("op-other"))
            }
        })
        .collect();
    for chunk in records.chunks(500) {
        let mut ops: Vec<WriteOp> = chunk.iter().map(put).collect();
        ops.extend(chunk.iter().map(|r| WriteOp::Charge {
            lease: 9,
            id: r.id,
            parts: 1,
            amount: 3,
        }));
        write(&store, ops).await.unwrap();
    }
    let day = (
        start - start % 86_400_000,
        start - start % 86_400_000 + 86_400_000,
    );
    let all = store
        .messages_by_account("bulk", None, day.0, day.1, 3_000)
        .await
        .unwrap();
    assert_eq!(all, records);
    let mut paged = Vec::new();
    let mut after = None;
    loop {
        let page = store
            .messages_by_link("op-bulk", after, day.0, day.1, 700)
            .await
            .unwrap();
        paged.extend(page.iter().map(|r| r.id));
        match page.last() {
            Some(last) if page.len() == 700 => after = Some((last.accepted_ms, last.id, last.part)),
            _ => break,
        }
    }
    let on_link: Vec<MessageId> = records.iter().step_by(2).map(|r| r.id).collect();
    assert_eq!(paged, on_link);
    assert_eq!(store.charged(9).await.unwrap(), (2_500, 7_500));
    store.close().await.unwrap();
    ks.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_queue_refuses_at_once_and_refused_writes_never_complete() {
    let Some(ks) = Keyspace::new("overloaded").await else {
        return;
    };
    let mut config = ks.config();
    config.write_queue_capacity = 1;
    let store = CqlStore::connect(config).await.unwrap();
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let (mut queued, mut overloaded) = (0usize, 0usize);
    let calls = Arc::new(AtomicUsize::new(0));
    for n in 0..500u32 {
        let ops = vec![WriteOp::PutMeta {
            key: format!("k{n}"),
            value: n.to_be_bytes().to_vec(),
        }];
        let done = reporting(tx.clone());
        let calls = Arc::clone(&calls);
        match store.write(
            ops,
            Box::new(move |result| {
                calls.fetch_add(1, Ordering::SeqCst);
                done(result)
            }),
        ) {
            Ok(()) => queued += 1,
            Err(StoreError::Overloaded) => overloaded += 1,
            Err(e) => panic!("{e}"),
        }
    }
    drop(tx);
    assert!(overloaded > 0, "a queue of one never filled");
    let mut completed = 0;
    while let Some(result) = rx.recv().await {
        result.unwrap();
        completed += 1;
    }
    assert_eq!(completed, queued);
    assert_eq!(calls.load(Ordering::SeqCst), queued);
    store.close().await.unwrap();
    ks.drop().await;
}

/// Two stores on one keyspace, as two nodes of a cluster: claims of one key from both at
/// once (a lightweight transaction each) give exactly one `Claimed`, over a free key and
/// over a row that has expired but not yet gone, and every loser finds the winner's value.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_nodes_claiming_one_key_at_once_give_exactly_one_claimed() {
    let Some(ks) = Keyspace::new("idempotency_two_nodes").await else {
        return;
    };
    let nodes = [Arc::new(ks.store().await), Arc::new(ks.store().await)];
    let expired: Vec<WriteOp> = (0..4)
        .map(|k| WriteOp::PutIdempotent {
            account: "acme".into(),
            key: format!("race-{k}"),
            value: b"expired".to_vec(),
            expires_ms: now_ms() - 1,
        })
        .collect();
    write(&*nodes[0], expired).await.unwrap();
    let per_node = 8;
    for k in 0..8 {
        let key = format!("race-{k}");
        let start = Arc::new(tokio::sync::Barrier::new(2 * per_node));
        let mut claims = Vec::new();
        for (n, node) in nodes.iter().enumerate() {
            for t in 0..per_node {
                let (node, key, start) = (Arc::clone(node), key.clone(), Arc::clone(&start));
                claims.push(tokio::spawn(async move {
                    let value = format!("node {n} task {t}").into_bytes();
                    start.wait().await;
                    let claim = node
                        .claim_idempotent("acme", &key, value.clone(), now_ms() + HOUR_MS)
                        .await
                        .unwrap();
                    (value, claim)
                }));
            }
        }
        let mut winners = Vec::new();
        let mut found = std::collections::BTreeSet::new();
        for claim in claims {
            match claim.await.unwrap() {
                (value, Claim::Claimed) => winners.push(value),
                (_, Claim::Exists(value)) => {
                    found.insert(value);
                }
            }
        }
        assert_eq!(
            winners.len(),
            1,
            "{key}: {} nodes' claims won",
            winners.len()
        );
        assert_eq!(found.into_iter().collect::<Vec<_>>(), winners, "{key}");
        for node in &nodes {
            assert_eq!(
                node.idempotent("acme", &key).await.unwrap().as_ref(),
                winners.first()
            );
        }
    }
    for node in nodes {
        Arc::try_unwrap(node)
            .unwrap_or_else(|_| panic!("a node still in use"))
            .close()
            .await
            .unwrap();
    }
    ks.drop().await;
}

/// Idempotency rows carry a TTL that ends at their expiry, at least one second: a claim's
/// and a put's alike, and a claim over an expired row takes the new TTL.
#[tokio::test]
async fn idempotency_rows_live_until_their_expiry() {
    let Some(ks) = Keyspace::new("idempotency_ttl").await else {
        return;
    };
    let store = ks.store().await;
    let ttl = |key: &'static str| {
        let ks = &ks;
        async move {
            let ttls: Vec<Option<i32>> = ks
                .column(&format!(
                    "SELECT TTL(value) FROM {{ks}}.idempotency \
                     WHERE account = 'acme' AND key = '{key}'"
                ))
                .await;
            ttls.into_iter().next().flatten()
        }
    };
    let claimed = store
        .claim_idempotent("acme", "claimed", b"v".to_vec(), now_ms() + HOUR_MS)
        .await
        .unwrap();
    assert_eq!(claimed, Claim::Claimed);
    write(
        &store,
        vec![
            WriteOp::PutIdempotent {
                account: "acme".into(),
                key: "put".into(),
                value: b"v".to_vec(),
                expires_ms: now_ms() + 2 * HOUR_MS,
            },
            WriteOp::PutIdempotent {
                account: "acme".into(),
                key: "expired".into(),
                value: b"v".to_vec(),
                expires_ms: now_ms() - HOUR_MS,
            },
        ],
    )
    .await
    .unwrap();
    let hour = (HOUR_MS / 1000) as i32;
    assert!(matches!(ttl("claimed").await, Some(t) if t > hour - 60 && t <= hour));
    assert!(matches!(ttl("put").await, Some(t) if t > 2 * hour - 60 && t <= 2 * hour));
    // An expired row lives a second at most, and a claim over it takes the key's new TTL.
    assert!(matches!(ttl("expired").await, None | Some(1)));
    let again = store
        .claim_idempotent("acme", "expired", b"w".to_vec(), now_ms() + HOUR_MS)
        .await
        .unwrap();
    assert_eq!(again, Claim::Claimed);
    assert!(matches!(ttl("expired").await, Some(t) if t > hour - 60 && t <= hour));
    assert!(
        eventually(Duration::from_secs(5), || async {
            store.idempotent("acme", "expired").await.unwrap() == Some(b"w".to_vec())
        })
        .await
    );
    store.close().await.unwrap();
    ks.drop().await;
}
