//! Every operation and read path of the embedded store, against a real directory.

mod common;

use common::{held, open, pending, put, record, temp_dir, write, Wait};
use tern_model::MessageId;
use tern_storage::{
    EmbeddedConfig, EmbeddedStore, MessageStore, PendingEntry, RecordState, StoreError, Submission,
    WriteOp,
};

#[test]
fn put_message_is_readable_by_id_and_by_part() {
    let dir = temp_dir();
    let store = open(dir.path());
    let parts: Vec<_> = (0..3).map(|p| record(7, p, "acme", 1_000)).collect();
    // Written out of order on purpose: reads come back in part order.
    write(
        &store,
        vec![
            put(parts[2].clone()),
            put(parts[0].clone()),
            put(parts[1].clone()),
            put(record(8, 0, "acme", 1_000)),
        ],
    )
    .unwrap();

    assert_eq!(
        store.message(MessageId(7), 1).wait().unwrap(),
        Some(parts[1].clone())
    );
    assert_eq!(store.message(MessageId(7), 3).wait().unwrap(), None);
    assert_eq!(store.message(MessageId(6), 0).wait().unwrap(), None);
    assert_eq!(store.message_parts(MessageId(7)).wait().unwrap(), parts);
    assert_eq!(store.message_parts(MessageId(9)).wait().unwrap(), vec![]);
}

#[test]
fn put_message_replaces_the_record() {
    let dir = temp_dir();
    let store = open(dir.path());
    let mut rec = record(1, 0, "acme", 1_000);
    write(&store, vec![put(rec.clone())]).unwrap();
    rec.state = RecordState::Submitted;
    rec.link = Some("vodafone-1".into());
    rec.operator_id = Some("A1B2".into());
    rec.attempts = 1;
    write(&store, vec![put(rec.clone())]).unwrap();

    assert_eq!(
        store.message(MessageId(1), 0).wait().unwrap(),
        Some(rec.clone())
    );
    // The CDR index still lists it once.
    assert_eq!(
        store
            .messages_by_account("acme", None, 0, u64::MAX, 10)
            .wait()
            .unwrap(),
        vec![rec]
    );
}

#[test]
fn applying_a_batch_twice_leaves_the_same_state() {
    let dir = temp_dir();
    let store = open(dir.path());
    let batch = vec![
        put(record(1, 0, "acme", 5_000)),
        WriteOp::AddPending(pending(3, 1, 0)),
        WriteOp::IndexReceipt {
            link: "orange-2".into(),
            operator_id: "x-9".into(),
            id: MessageId(1),
            part: 0,
        },
        WriteOp::Hold(Box::new(held("acme", 1))),
        WriteOp::PutMeta {
            key: "id.high".into(),
            value: vec![1, 2, 3],
        },
        WriteOp::RemovePending {
            shard: 3,
            id: MessageId(2),
            part: 0,
        },
        WriteOp::Release {
            account: "acme".into(),
            key: 99,
        },
    ];
    write(&store, batch.clone()).unwrap();
    write(&store, batch).unwrap();

    assert_eq!(store.message_parts(MessageId(1)).wait().unwrap().len(), 1);
    assert_eq!(
        store.pending(3, None, 10).wait().unwrap(),
        vec![pending(3, 1, 0)]
    );
    assert_eq!(
        store.receipt_owner("orange-2", "x-9").wait().unwrap(),
        Some((MessageId(1), 0))
    );
    assert_eq!(
        store.held("acme", 10).wait().unwrap(),
        vec![held("acme", 1)]
    );
    assert_eq!(
        store.held_accounts().wait().unwrap(),
        vec!["acme".to_string()]
    );
    assert_eq!(
        store
            .messages_by_account("acme", None, 0, u64::MAX, 10)
            .wait()
            .unwrap(),
        vec![record(1, 0, "acme", 5_000)]
    );
    assert_eq!(store.meta("id.high").wait().unwrap(), Some(vec![1, 2, 3]));
}

#[test]
fn pending_scans_one_shard_in_id_order_and_pages_with_after() {
    let dir = temp_dir();
    let store = open(dir.path());
    let mut ops = Vec::new();
    // Ids that sort differently as text and as numbers, in shards 0, 1 and u16::MAX.
    for id in [300_u64, 2, 1 << 40, 10, 256] {
        for part in [1, 0] {
            ops.push(WriteOp::AddPending(pending(1, id, part)));
        }
        ops.push(WriteOp::AddPending(pending(0, id, 0)));
        ops.push(WriteOp::AddPending(pending(u16::MAX, id, 0)));
    }
    write(&store, ops).unwrap();

    let expected: Vec<PendingEntry> = [2_u64, 10, 256, 300, 1 << 40]
        .into_iter()
        .flat_map(|id| [pending(1, id, 0), pending(1, id, 1)])
        .collect();
    assert_eq!(store.pending(1, None, 100).wait().unwrap(), expected);

    let mut paged = Vec::new();
    let mut after = None;
    loop {
        let page = store.pending(1, after, 3).wait().unwrap();
        assert!(page.len() <= 3);
        let Some(last) = page.last() else { break };
        after = Some((last.id, last.part));
        paged.extend(page);
    }
    assert_eq!(paged, expected);

    assert_eq!(
        store
            .pending(1, Some((MessageId(10), 0)), 2)
            .wait()
            .unwrap(),
        vec![pending(1, 10, 1), pending(1, 256, 0)]
    );
    assert_eq!(store.pending(1, None, 0).wait().unwrap(), vec![]);
    assert_eq!(store.pending(0, None, 100).wait().unwrap().len(), 5);
    assert_eq!(store.pending(u16::MAX, None, 100).wait().unwrap().len(), 5);
    assert_eq!(store.pending(2, None, 100).wait().unwrap(), vec![]);
}

#[test]
fn removed_pending_entries_are_gone() {
    let dir = temp_dir();
    let store = open(dir.path());
    write(
        &store,
        (0..5)
            .map(|id| WriteOp::AddPending(pending(4, id, 0)))
            .collect(),
    )
    .unwrap();
    write(
        &store,
        vec![
            WriteOp::RemovePending {
                shard: 4,
                id: MessageId(1),
                part: 0,
            },
            WriteOp::RemovePending {
                shard: 4,
                id: MessageId(3),
                part: 0,
            },
        ],
    )
    .unwrap();
    let ids: Vec<u64> = store
        .pending(4, None, 10)
        .wait()
        .unwrap()
        .iter()
        .map(|e| e.id.0)
        .collect();
    assert_eq!(ids, vec![0, 2, 4]);
}

#[test]
fn pending_entry_keeps_its_due_time() {
    let dir = temp_dir();
    let store = open(dir.path());
    let mut entry = pending(9, 1, 0);
    write(&store, vec![WriteOp::AddPending(entry)]).unwrap();
    entry.due_ms = 1_700_000_030_000;
    write(&store, vec![WriteOp::AddPending(entry)]).unwrap();
    assert_eq!(store.pending(9, None, 10).wait().unwrap(), vec![entry]);
}

#[test]
fn receipt_index_maps_link_and_operator_id_to_the_part() {
    let dir = temp_dir();
    let store = open(dir.path());
    let index = |link: &str, op: &str, id: u64, part: u8| WriteOp::IndexReceipt {
        link: link.into(),
        operator_id: op.into(),
        id: MessageId(id),
        part,
    };
    write(
        &store,
        vec![
            index("a", "bc", 1, 0),
            index("ab", "c", 2, 1),
            index("a", "", 3, 2),
        ],
    )
    .unwrap();
    assert_eq!(
        store.receipt_owner("a", "bc").wait().unwrap(),
        Some((MessageId(1), 0))
    );
    assert_eq!(
        store.receipt_owner("ab", "c").wait().unwrap(),
        Some((MessageId(2), 1))
    );
    assert_eq!(
        store.receipt_owner("a", "").wait().unwrap(),
        Some((MessageId(3), 2))
    );
    assert_eq!(store.receipt_owner("abc", "").wait().unwrap(), None);
    assert_eq!(store.receipt_owner("a\0b", "c").wait().unwrap(), None);

    write(
        &store,
        vec![WriteOp::RemoveReceiptIndex {
            link: "a".into(),
            operator_id: "bc".into(),
        }],
    )
    .unwrap();
    assert_eq!(store.receipt_owner("a", "bc").wait().unwrap(), None);
    assert_eq!(
        store.receipt_owner("ab", "c").wait().unwrap(),
        Some((MessageId(2), 1))
    );
}

#[test]
fn held_deliveries_come_oldest_first_per_account() {
    let dir = temp_dir();
    let store = open(dir.path());
    let mut ops = Vec::new();
    for key in [500_u64, 3, 1 << 50, 256] {
        ops.push(WriteOp::Hold(Box::new(held("acme", key))));
        ops.push(WriteOp::Hold(Box::new(held("acme2", key))));
    }
    ops.push(WriteOp::Hold(Box::new(held("acm", 1))));
    write(&store, ops).unwrap();

    let keys: Vec<u64> = store
        .held("acme", 10)
        .wait()
        .unwrap()
        .iter()
        .map(|h| h.key)
        .collect();
    assert_eq!(keys, vec![3, 256, 500, 1 << 50]);
    assert_eq!(store.held("acme", 2).wait().unwrap().len(), 2);
    assert_eq!(store.held("acm", 10).wait().unwrap(), vec![held("acm", 1)]);
    assert_eq!(store.held("ac", 10).wait().unwrap(), vec![]);
    assert_eq!(store.held("acme", 0).wait().unwrap(), vec![]);
}

#[test]
fn held_accounts_follow_hold_and_release_and_survive_reopen() {
    let dir = temp_dir();
    {
        let store = open(dir.path());
        assert_eq!(store.held_accounts().wait().unwrap(), Vec::<String>::new());
        write(
            &store,
            vec![
                WriteOp::Hold(Box::new(held("beta", 1))),
                WriteOp::Hold(Box::new(held("beta", 2))),
                WriteOp::Hold(Box::new(held("alpha", 1))),
                WriteOp::Hold(Box::new(held("gamma", 1))),
            ],
        )
        .unwrap();
        assert_eq!(
            store.held_accounts().wait().unwrap(),
            ["alpha", "beta", "gamma"]
        );

        let release = |account: &str, key| WriteOp::Release {
            account: account.into(),
            key,
        };
        // beta keeps one item; alpha is released and held again in the same batch;
        // gamma is emptied.
        write(
            &store,
            vec![
                release("beta", 1),
                release("alpha", 1),
                WriteOp::Hold(Box::new(held("alpha", 7))),
                release("gamma", 1),
            ],
        )
        .unwrap();
        assert_eq!(store.held_accounts().wait().unwrap(), ["alpha", "beta"]);
        store.close().unwrap();
    }
    let store = open(dir.path());
    assert_eq!(store.held_accounts().wait().unwrap(), ["alpha", "beta"]);
    assert_eq!(
        store.held("beta", 10).wait().unwrap(),
        vec![held("beta", 2)]
    );
    assert_eq!(store.held("gamma", 10).wait().unwrap(), vec![]);
}

#[test]
fn messages_by_account_returns_the_half_open_time_range() {
    let dir = temp_dir();
    let store = open(dir.path());
    let mut ops = Vec::new();
    for (id, ms) in [
        (1_u64, 1_000_u64),
        (2, 1_999),
        (3, 2_000),
        (4, 2_000),
        (5, 3_000),
    ] {
        ops.push(put(record(id, 0, "acme", ms)));
        ops.push(put(record(id + 100, 0, "acme2", ms)));
    }
    ops.push(put(record(200, 0, "acm", 1_500)));
    write(&store, ops).unwrap();

    let ids = |from, to, limit| -> Vec<u64> {
        store
            .messages_by_account("acme", None, from, to, limit)
            .wait()
            .unwrap()
            .iter()
            .map(|r| r.id.0)
            .collect()
    };
    assert_eq!(ids(0, u64::MAX, 100), vec![1, 2, 3, 4, 5]);
    assert_eq!(ids(1_000, 2_000, 100), vec![1, 2]);
    assert_eq!(ids(1_001, 2_001, 100), vec![2, 3, 4]);
    assert_eq!(ids(2_000, 3_000, 1), vec![3]);
    assert_eq!(ids(3_001, 9_000, 100), Vec::<u64>::new());
    assert_eq!(ids(2_000, 2_000, 100), Vec::<u64>::new());
    assert_eq!(ids(3_000, 1_000, 100), Vec::<u64>::new());
    assert_eq!(
        store
            .messages_by_account("acm", None, 0, u64::MAX, 100)
            .wait()
            .unwrap()
            .len(),
        1
    );
}

#[test]
fn messages_by_account_pages_through_a_range_once() {
    let dir = temp_dir();
    let store = open(dir.path());
    let mut ops = Vec::new();
    // Three records in one millisecond, two parts of one message: a page boundary may fall
    // between any of them.
    for (id, part, ms) in [
        (1_u64, 0_u8, 1_000_u64),
        (2, 0, 2_000),
        (3, 0, 2_000),
        (3, 1, 2_000),
        (4, 0, 2_000),
        (5, 0, 3_000),
    ] {
        ops.push(put(record(id, part, "acme", ms)));
    }
    ops.push(put(record(9, 0, "acme2", 2_000)));
    write(&store, ops).unwrap();

    for page in 1..=7 {
        let mut seen = Vec::new();
        let mut after = None;
        loop {
            let records = store
                .messages_by_account("acme", after, 1_000, 3_000, page)
                .wait()
                .unwrap();
            assert!(records.len() <= page);
            seen.extend(records.iter().map(|r| (r.id.0, r.part)));
            match records.last() {
                Some(last) if records.len() == page => {
                    after = Some((last.accepted_ms, last.id, last.part));
                }
                _ => break,
            }
        }
        assert_eq!(
            seen,
            vec![(1, 0), (2, 0), (3, 0), (3, 1), (4, 0)],
            "page of {page}"
        );
    }
}

#[test]
fn a_record_moved_to_another_time_leaves_no_stale_cdr() {
    let dir = temp_dir();
    let store = open(dir.path());
    write(&store, vec![put(record(1, 0, "acme", 1_000))]).unwrap();
    write(&store, vec![put(record(1, 0, "acme", 5_000))]).unwrap();
    write(&store, vec![put(record(2, 0, "acme", 1_000))]).unwrap();
    write(&store, vec![put(record(2, 0, "other", 1_000))]).unwrap();
    assert_eq!(
        store
            .messages_by_account("acme", None, 0, 10_000, 10)
            .wait()
            .unwrap(),
        vec![record(1, 0, "acme", 5_000)]
    );
    assert_eq!(
        store
            .messages_by_account("other", None, 0, 10_000, 10)
            .wait()
            .unwrap(),
        vec![record(2, 0, "other", 1_000)]
    );
}

#[test]
fn meta_round_trips() {
    let dir = temp_dir();
    let store = open(dir.path());
    assert_eq!(store.meta("id.high").wait().unwrap(), None);
    write(
        &store,
        vec![WriteOp::PutMeta {
            key: "id.high".into(),
            value: 42_u64.to_be_bytes().to_vec(),
        }],
    )
    .unwrap();
    assert_eq!(
        store.meta("id.high").wait().unwrap(),
        Some(42_u64.to_be_bytes().to_vec())
    );
}

#[test]
fn everything_survives_a_reopen() {
    let dir = temp_dir();
    {
        let store = open(dir.path());
        write(
            &store,
            vec![
                put(record(1, 0, "acme", 1_000)),
                WriteOp::AddPending(pending(0, 1, 0)),
                WriteOp::IndexReceipt {
                    link: "l".into(),
                    operator_id: "o".into(),
                    id: MessageId(1),
                    part: 0,
                },
                WriteOp::Hold(Box::new(held("acme", 1))),
                WriteOp::PutMeta {
                    key: "k".into(),
                    value: vec![9],
                },
            ],
        )
        .unwrap();
    }
    let store = open(dir.path());
    assert_eq!(
        store.message(MessageId(1), 0).wait().unwrap(),
        Some(record(1, 0, "acme", 1_000))
    );
    assert_eq!(
        store.pending(0, None, 10).wait().unwrap(),
        vec![pending(0, 1, 0)]
    );
    assert_eq!(
        store.receipt_owner("l", "o").wait().unwrap(),
        Some((MessageId(1), 0))
    );
    assert_eq!(
        store.held("acme", 10).wait().unwrap(),
        vec![held("acme", 1)]
    );
    assert_eq!(store.meta("k").wait().unwrap(), Some(vec![9]));
    assert_eq!(
        store
            .messages_by_account("acme", None, 0, 2_000, 10)
            .wait()
            .unwrap()
            .len(),
        1
    );
}

#[test]
fn names_with_nul_are_refused_before_queueing() {
    let dir = temp_dir();
    let store = open(dir.path());
    let refused = [
        put(record(1, 0, "ac\0me", 1)),
        WriteOp::Hold(Box::new(held("a\0", 1))),
        WriteOp::Release {
            account: "\0".into(),
            key: 1,
        },
        WriteOp::IndexReceipt {
            link: "l\0".into(),
            operator_id: "o".into(),
            id: MessageId(1),
            part: 0,
        },
    ];
    for op in refused {
        let result = store.write(vec![op], Box::new(|_| panic!("a refused batch completed")));
        assert!(matches!(result, Err(StoreError::Invalid(_))), "{result:?}");
    }
    assert_eq!(store.stats().batches, 0);
    // An operator id may hold anything: it ends the key.
    write(
        &store,
        vec![WriteOp::IndexReceipt {
            link: "l".into(),
            operator_id: "o\0p".into(),
            id: MessageId(1),
            part: 0,
        }],
    )
    .unwrap();
    assert_eq!(
        store.receipt_owner("l", "o\0p").wait().unwrap(),
        Some((MessageId(1), 0))
    );
}

#[test]
fn a_record_that_does_not_decode_is_corrupt_and_named() {
    let dir = temp_dir();
    {
        let store = open(dir.path());
        write(&store, vec![put(record(1, 0, "acme", 1))]).unwrap();
    }
    {
        let db = fjall::Database::builder(dir.path()).open().unwrap();
        let messages = db
            .keyspace("messages", fjall::KeyspaceCreateOptions::default)
            .unwrap();
        let mut key = 2_u64.to_be_bytes().to_vec();
        key.push(0);
        messages.insert(key, vec![0xff; 3]).unwrap();
        db.persist(fjall::PersistMode::SyncAll).unwrap();
    }
    let store = open(dir.path());
    assert!(store.message(MessageId(1), 0).wait().unwrap().is_some());
    match store.message(MessageId(2), 0).wait() {
        Err(StoreError::Corrupt(what)) => {
            assert!(what.contains("messages key"), "{what}");
            assert!(what.contains("\\x02\\x00"), "{what}");
        }
        other => panic!("expected Corrupt, got {other:?}"),
    }
    assert!(matches!(
        store.message_parts(MessageId(2)).wait(),
        Err(StoreError::Corrupt(_))
    ));
}

#[test]
fn open_names_the_path_on_failure() {
    let dir = temp_dir();
    let file = dir.path().join("not-a-directory");
    std::fs::write(&file, b"x").unwrap();
    let Err(e) = EmbeddedStore::open(&file, EmbeddedConfig::default()) else {
        panic!("opened a store on a file");
    };
    assert!(e.to_string().contains("not-a-directory"), "{e}");
}

#[test]
fn bad_config_is_refused_with_the_key() {
    let dir = temp_dir();
    let config = EmbeddedConfig {
        queue_capacity: 0,
        ..EmbeddedConfig::default()
    };
    let Err(e) = EmbeddedStore::open(dir.path(), config) else {
        panic!("opened with queue_capacity 0");
    };
    assert!(e.to_string().contains("queue_capacity"), "{e}");
}

#[test]
fn write_durable_waits_for_the_commit() {
    let dir = temp_dir();
    let store = open(dir.path());
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    runtime
        .block_on(tern_storage::write_durable(
            &store,
            vec![put(record(5, 0, "acme", 1))],
        ))
        .unwrap();
    assert!(store.message(MessageId(5), 0).wait().unwrap().is_some());
}

#[test]
fn a_submission_entry_reads_as_the_submitted_record_until_a_later_state_replaces_it() {
    let dir = temp_dir();
    let store = open(dir.path());
    let accepted = record(70, 0, "acme", 1_000);
    write(&store, vec![put(accepted.clone())]).unwrap();
    let submission = Submission {
        id: MessageId(70),
        part: 0,
        link: "op".into(),
        operator_id: "X1".into(),
        attempts: 1,
        at_ms: 2_000,
    };
    write(&store, vec![WriteOp::MarkSubmitted(submission.clone())]).unwrap();
    let read = store.message(MessageId(70), 0).wait().unwrap().unwrap();
    assert_eq!(read.state, RecordState::Submitted);
    assert_eq!(read.operator_id.as_deref(), Some("X1"));
    assert_eq!(read.link.as_deref(), Some("op"));
    assert_eq!(read.history.last().map(|t| t.at_ms), Some(2_000));
    assert_eq!(
        store.message_parts(MessageId(70)).wait().unwrap()[0].state,
        RecordState::Submitted
    );
    let by_account = store
        .messages_by_account("acme", None, 0, 10_000, 10)
        .wait()
        .unwrap();
    assert_eq!(by_account[0].state, RecordState::Submitted);

    // The final state is written from the merged record and replaces the entry.
    let mut delivered = read.clone();
    delivered.state = RecordState::Delivered;
    write(&store, vec![put(delivered)]).unwrap();
    let read = store.message(MessageId(70), 0).wait().unwrap().unwrap();
    assert_eq!(read.state, RecordState::Delivered);
    assert_eq!(read.operator_id.as_deref(), Some("X1"));
    // A stale submission entry written again later cannot pull a final record back.
    write(&store, vec![WriteOp::MarkSubmitted(submission)]).unwrap();
    assert_eq!(
        store
            .message(MessageId(70), 0)
            .wait()
            .unwrap()
            .unwrap()
            .state,
        RecordState::Delivered
    );
}

#[test]
fn charges_add_up_per_lease_survive_a_reopen_and_are_forgotten() {
    let dir = temp_dir();
    let charge = |lease: u64, id: u64, parts: u64, amount: i64| WriteOp::Charge {
        lease,
        id: MessageId(id),
        parts,
        amount,
    };
    {
        let store = open(dir.path());
        write(
            &store,
            vec![charge(7, 1, 1, 5), charge(7, 2, 3, 15), charge(8, 3, 2, 10)],
        )
        .unwrap();
        // Written twice (a batch replayed): counted once.
        write(&store, vec![charge(7, 2, 3, 15)]).unwrap();
        assert_eq!(store.charged(7).wait().unwrap(), (4, 20));
    }
    let store = open(dir.path());
    assert_eq!(store.charged(7).wait().unwrap(), (4, 20));
    assert_eq!(store.charged(8).wait().unwrap(), (2, 10));
    assert_eq!(store.charged(9).wait().unwrap(), (0, 0));
    write(&store, vec![WriteOp::ForgetCharges { lease: 7 }]).unwrap();
    assert_eq!(store.charged(7).wait().unwrap(), (0, 0));
    assert_eq!(
        store.charged(8).wait().unwrap(),
        (2, 10),
        "another lease stays"
    );
}

/// `record` as it was encoded before today's last fields existed: postcard writes a struct
/// as its fields in order, so an earlier layout is today's encoding without its tail.
/// `receipt_made_ms: None`, `client_ref: None`, `price: 0` and `route: None` are one byte
/// each, and so is `wire_id: None` before them.
fn encoded_without_last_fields(record: &tern_storage::MessageRecord, fields: usize) -> Vec<u8> {
    assert_eq!(record.receipt_made_ms, None);
    if fields > 1 {
        assert_eq!(
            (&record.route, record.price, &record.client_ref),
            (&None, 0, &None)
        );
    }
    let mut bytes = postcard::to_stdvec(record).expect("a record encodes");
    bytes.truncate(bytes.len() - fields);
    bytes
}

#[test]
fn records_of_every_earlier_layout_are_read_in_todays() {
    let dir = temp_dir();
    let mut billed = record(3, 0, "acme", 999);
    billed.wire_id = Some(0x1234);
    billed.client_ref = Some("r".into());
    let mut with_wire_id = record(1, 0, "acme", 1_000);
    with_wire_id.wire_id = Some(0xabcdef);
    let mut before_wire_id = record(2, 0, "acme", 1_001);
    for r in [&mut with_wire_id, &mut before_wire_id] {
        r.route = None;
        r.price = 0;
    }
    {
        // Written through the store first, for their index entries.
        let store = open(dir.path());
        write(
            &store,
            vec![
                put(billed.clone()),
                put(with_wire_id.clone()),
                put(before_wire_id.clone()),
            ],
        )
        .unwrap();
    }
    {
        let db = fjall::Database::builder(dir.path()).open().unwrap();
        let messages = db
            .keyspace("messages", fjall::KeyspaceCreateOptions::default)
            .unwrap();
        let key = |id: u64| [&id.to_be_bytes()[..], &[0]].concat();
        messages
            .insert(key(3), encoded_without_last_fields(&billed, 1))
            .unwrap();
        messages
            .insert(key(1), encoded_without_last_fields(&with_wire_id, 4))
            .unwrap();
        messages
            .insert(key(2), encoded_without_last_fields(&before_wire_id, 5))
            .unwrap();
        db.persist(fjall::PersistMode::SyncAll).unwrap();
    }
    let store = open(dir.path());
    assert_eq!(
        store.message(MessageId(3), 0).wait().unwrap(),
        Some(billed.clone())
    );
    assert_eq!(
        store.message(MessageId(1), 0).wait().unwrap(),
        Some(with_wire_id.clone())
    );
    let mut read = before_wire_id.clone();
    read.wire_id = None;
    assert_eq!(
        store.message_parts(MessageId(2)).wait().unwrap(),
        vec![read.clone()]
    );
    assert_eq!(
        store
            .messages_by_account("acme", None, 0, 10_000, 10)
            .wait()
            .unwrap(),
        vec![billed, with_wire_id, read]
    );
}

#[test]
fn messages_by_link_lists_a_record_under_the_link_it_names_now() {
    let dir = temp_dir();
    let store = open(dir.path());
    let sent = |id: u64, part: u8, ms: u64, link: &str| {
        let mut r = record(id, part, "acme", ms);
        r.state = RecordState::Submitted;
        r.link = Some(link.into());
        r
    };
    write(
        &store,
        vec![
            put(record(1, 0, "acme", 1_000)),
            put(sent(2, 0, 1_000, "op-a")),
            put(sent(3, 0, 2_000, "op-a")),
            put(sent(3, 1, 2_000, "op-a")),
            put(sent(4, 0, 3_000, "op-a")),
            put(sent(5, 0, 2_000, "op-a2")),
        ],
    )
    .unwrap();
    // Part 1 of message 3 failed over to another link and was delivered there.
    let mut moved = sent(3, 1, 2_000, "op-b");
    moved.state = RecordState::Delivered;
    write(&store, vec![put(moved.clone())]).unwrap();

    let ids = |link, from, to| -> Vec<(u64, u8)> {
        store
            .messages_by_link(link, None, from, to, 100)
            .wait()
            .unwrap()
            .iter()
            .map(|r| (r.id.0, r.part))
            .collect()
    };
    assert_eq!(ids("op-a", 0, u64::MAX), vec![(2, 0), (3, 0), (4, 0)]);
    assert_eq!(ids("op-a", 1_500, 3_000), vec![(3, 0)]);
    assert_eq!(ids("op-b", 0, u64::MAX), vec![(3, 1)]);
    assert_eq!(ids("op-a2", 0, u64::MAX), vec![(5, 0)]);
    assert_eq!(ids("op", 0, u64::MAX), vec![]);
    assert_eq!(ids("op\0a", 0, u64::MAX), vec![]);
    assert_eq!(
        store
            .messages_by_link("op-b", None, 0, u64::MAX, 10)
            .wait()
            .unwrap(),
        vec![moved]
    );

    // Paged with the cursor, one record at a time, each once.
    let mut seen = Vec::new();
    let mut after = None;
    loop {
        let page = store
            .messages_by_link("op-a", after, 0, u64::MAX, 1)
            .wait()
            .unwrap();
        let Some(last) = page.last() else { break };
        seen.push((last.id.0, last.part));
        after = Some((last.accepted_ms, last.id, last.part));
    }
    assert_eq!(seen, vec![(2, 0), (3, 0), (4, 0)]);

    // A link name with a NUL cannot be indexed: the batch is refused whole.
    let result = store.write(
        vec![put(sent(6, 0, 1_000, "op\0a"))],
        Box::new(|_| panic!("a refused batch completed")),
    );
    assert!(matches!(result, Err(StoreError::Invalid(_))), "{result:?}");
}

#[test]
fn messages_by_client_ref_finds_the_account_s_messages_newest_first() {
    let dir = temp_dir();
    let store = open(dir.path());
    let with_ref = |id: u64, part: u8, account: &str, client_ref: &str| {
        let mut r = record(id, part, account, 1_000);
        r.client_ref = Some(client_ref.into());
        r
    };
    write(
        &store,
        vec![
            put(with_ref(10, 0, "acme", "4711")),
            put(with_ref(10, 1, "acme", "4711")),
            put(with_ref(12, 0, "acme", "4711")),
            put(with_ref(11, 0, "acme", "47")),
            put(with_ref(13, 0, "other", "4711")),
            put(with_ref(14, 0, "acme", "47\0x")),
            put(record(15, 0, "acme", 1_000)),
        ],
    )
    .unwrap();
    // A later state of a record does not list it twice.
    let mut submitted = with_ref(12, 0, "acme", "4711");
    submitted.state = RecordState::Submitted;
    write(&store, vec![put(submitted)]).unwrap();

    let ids = |account, client_ref, limit| -> Vec<u64> {
        store
            .messages_by_client_ref(account, client_ref, limit)
            .wait()
            .unwrap()
            .iter()
            .map(|id| id.0)
            .collect()
    };
    assert_eq!(ids("acme", "4711", 10), vec![12, 10]);
    assert_eq!(ids("acme", "4711", 1), vec![12]);
    assert_eq!(ids("acme", "4711", 0), Vec::<u64>::new());
    assert_eq!(ids("acme", "47", 10), vec![11]);
    assert_eq!(ids("acme", "47\0x", 10), vec![14]);
    assert_eq!(ids("acme", "471", 10), Vec::<u64>::new());
    assert_eq!(ids("other", "4711", 10), vec![13]);
    assert_eq!(ids("acm", "4711", 10), Vec::<u64>::new());
    drop(store);
    let store = open(dir.path());
    assert_eq!(
        store
            .messages_by_client_ref("acme", "4711", 10)
            .wait()
            .unwrap(),
        vec![MessageId(12), MessageId(10)]
    );
}
