//! The `MessageStore` conformance suite: one set of tests, written against the trait alone,
//! that every backend must pass unchanged (conformance_embedded.rs, conformance_cql.rs).
//! Each test names the point of the trait's contract (storage/src/lib.rs) that it checks,
//! so a failure says which promise a backend breaks, not how it stores things.
//!
//! A backend is plugged in through [`Backend`]: a fresh, empty store per test, a way to
//! close it and open it again on the same data, and a clean-up. `conformance_tests!`
//! expands to one `#[tokio::test]` per suite function.
#![allow(clippy::unwrap_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tern_model::{
    Address, Body, Coding, DeliveryReport, Message, MessageId, MessageState, ReceiptRequest,
};
use tern_storage::{
    write_durable, CdrCursor, Claim, HeldDelivery, HeldKind, MessageRecord, MessageStore,
    PendingEntry, RecordState, StoreError, Submission, Transition, WriteOp,
    MAX_IDEMPOTENCY_KEY_BYTES, MAX_IDEMPOTENT_VALUE_BYTES,
};

/// A backend under test.
pub trait Backend: Send + Sized + 'static {
    /// A fresh, empty store for the test `name`; `None` when the backend cannot run here
    /// and the test is skipped (the backend says why).
    fn fresh(name: &'static str) -> impl Future<Output = Option<Self>> + Send;

    fn store(&self) -> Arc<dyn MessageStore>;

    /// Closes the store and opens it again on the same data. The suite holds no clone of
    /// [`Self::store`] across this call.
    fn reopen(&mut self) -> impl Future<Output = ()> + Send;

    /// Removes what the test left behind.
    fn finish(self) -> impl Future<Output = ()> + Send;
}

/// One `#[tokio::test]` per suite function, run against the backend type given.
macro_rules! conformance_tests {
    ($backend:ty) => {
        conformance_tests!(@each $backend;
            put_message_is_read_back_whole,
            put_message_replaces_the_whole_record,
            message_parts_lists_every_part_in_part_order,
            every_write_op_applied_twice_equals_once,
            ops_of_one_batch_take_effect_in_their_order,
            mark_submitted_is_merged_into_an_accepted_record,
            a_later_put_message_supersedes_mark_submitted,
            mark_submitted_after_a_final_state_changes_nothing,
            pending_lists_one_shard_in_id_order,
            pending_pages_with_a_cursor_across_many_entries,
            remove_pending_drops_only_that_entry,
            receipt_index_finds_the_part_until_removed,
            held_lists_an_account_oldest_first_with_a_limit,
            release_forgets_one_held_delivery,
            held_accounts_lists_every_account_with_something_held,
            messages_by_account_pages_over_several_utc_days,
            messages_by_account_keeps_to_its_account_and_range,
            messages_by_link_lists_a_record_under_its_current_link_only,
            messages_by_link_pages_over_several_utc_days,
            messages_by_client_ref_lists_newest_first,
            meta_is_stored_replaced_and_read,
            charges_add_up_per_lease_until_forgotten,
            an_empty_write_is_a_barrier,
            every_completion_is_called_exactly_once,
            a_refused_write_stores_nothing_and_never_completes,
            durable_writes_are_read_after_a_reopen,
            a_big_batch_is_stored_whole,
            idempotency_records_are_put_read_replaced_and_removed,
            an_expired_idempotency_record_reads_as_absent_and_is_claimed_again,
            a_claim_takes_a_free_key_and_then_finds_it_taken,
            concurrent_claims_of_one_key_give_exactly_one_claimed,
            idempotency_records_survive_a_reopen,
            invalid_idempotency_keys_and_values_are_refused,
        );
    };
    (@each $backend:ty; $($test:ident),+ $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $test() {
                let Some(mut backend) =
                    <$backend as conformance::Backend>::fresh(stringify!($test)).await
                else {
                    return;
                };
                conformance::$test(&mut backend).await;
                conformance::Backend::finish(backend).await;
            }
        )+
    };
}

// ----------------------------------------------------------------------------- data

pub const DAY_MS: u64 = 86_400_000;
/// 2026-03-01T00:00:00Z: the first of the UTC days the CDR scans cross.
pub const DAY0_MS: u64 = 1_772_323_200_000;

/// When the held deliveries of the tests expire: years after the clock of any run, so a
/// backend that drops them at expiry (the CQL one, by TTL) still has them.
pub const HELD_UNTIL_MS: u64 = DAY0_MS + 3_650 * DAY_MS;

/// An id made the way the gateway makes them: ordered in time, so that `unix_millis` is
/// the time it was accepted.
pub fn id_at(unix_ms: u64, sequence: u16) -> MessageId {
    MessageId::from_parts(unix_ms - MessageId::EPOCH_UNIX_MS, 3, sequence)
}

/// Part `part` of `parts` of message `id`, accepted from `account` at the id's time.
pub fn accepted(id: MessageId, part: u8, parts: u8, account: &str) -> MessageRecord {
    let at = id.unix_millis();
    let mut message = Message::text(
        Address::international("4915112345678"),
        Address::international("447700900123"),
        format!("Your code is {}. Part {part} of {parts}.", id.0 % 1_000_000),
    );
    message.id = Some(id);
    message.service_type = "CMT".into();
    message.receipt = ReceiptRequest::Final;
    MessageRecord {
        id,
        part,
        parts,
        account: account.into(),
        message,
        state: RecordState::Accepted,
        history: vec![Transition {
            state: RecordState::Accepted,
            at_ms: at,
            detail: format!("smpp bind {account}-1"),
        }],
        attempts: 0,
        link: None,
        operator_id: None,
        error: None,
        receipt: None,
        accepted_ms: at,
        expires_ms: at + DAY_MS,
        wire_id: None,
        route: Some("de-mobile".into()),
        price: 7,
        client_ref: None,
        receipt_made_ms: None,
    }
}

/// The record once `link` took it under `operator_id`, as the pipeline writes it.
pub fn submitted(mut record: MessageRecord, link: &str, operator_id: &str) -> MessageRecord {
    record.attempts += 1;
    let at = record.accepted_ms + 150 * u64::from(record.attempts);
    record.state = RecordState::Submitted;
    record.history.push(Transition {
        state: RecordState::Submitted,
        at_ms: at,
        detail: format!("{link} {operator_id}"),
    });
    record.link = Some(link.into());
    record.operator_id = Some(operator_id.into());
    record
}

/// The record after its final receipt.
pub fn delivered(mut record: MessageRecord) -> MessageRecord {
    let at = record.accepted_ms + 4_000;
    record.state = RecordState::Delivered;
    record.history.push(Transition {
        state: RecordState::Delivered,
        at_ms: at,
        detail: "DELIVRD".into(),
    });
    record.receipt = Some(DeliveryReport {
        message_id: record.operator_id.clone().unwrap_or_default(),
        state: MessageState::Delivered,
        submitted: 1,
        delivered: 1,
        submit_unix: Some((record.accepted_ms / 1000) as i64),
        done_unix: Some((at / 1000) as i64),
        error: 0,
        text: "Your code is".into(),
    });
    record
}

/// The record after its link refused it with `error` (before it is sent elsewhere).
pub fn failed_over(mut record: MessageRecord, error: u32) -> MessageRecord {
    record.state = RecordState::Failed;
    record.error = Some(error);
    record.history.push(Transition {
        state: RecordState::Failed,
        at_ms: record.accepted_ms + 300,
        detail: format!("status 0x{error:08x}"),
    });
    record
}

pub fn submission(record: &MessageRecord, link: &str, operator_id: &str) -> Submission {
    Submission {
        id: record.id,
        part: record.part,
        link: link.into(),
        operator_id: operator_id.into(),
        attempts: record.attempts + 1,
        at_ms: record.accepted_ms + 120,
    }
}

pub fn put(record: &MessageRecord) -> WriteOp {
    WriteOp::PutMessage(Arc::new(record.clone()))
}

pub fn pending(shard: u16, id: MessageId, part: u8) -> PendingEntry {
    PendingEntry {
        shard,
        id,
        part,
        due_ms: id.unix_millis() + 1_000,
        attempts: u16::from(part),
    }
}

pub fn held(account: &str, key: u64, kind: HeldKind) -> HeldDelivery {
    let message = Message::text(
        Address::international("447700900123"),
        Address::international("4915112345678"),
        format!("held {key}"),
    );
    HeldDelivery {
        account: account.into(),
        key,
        kind,
        message,
        report: (kind == HeldKind::Receipt).then(|| DeliveryReport {
            message_id: key.to_string(),
            state: MessageState::Undeliverable,
            submitted: 1,
            delivered: 0,
            submit_unix: Some(1_772_323_200),
            done_unix: Some(1_772_323_260),
            error: 11,
            text: "held".into(),
        }),
        held_ms: DAY0_MS + key % 1_000,
        expires_ms: HELD_UNTIL_MS,
    }
}

// ----------------------------------------------------------------------------- helpers

/// Writes a batch and waits until it is durable; a failure fails the test.
pub async fn write(store: &dyn MessageStore, ops: Vec<WriteOp>) {
    let count = ops.len();
    tokio::time::timeout(Duration::from_secs(120), write_durable(store, ops))
        .await
        .unwrap_or_else(|_| panic!("a batch of {count} ops was not durable within 120 s"))
        .unwrap_or_else(|e| panic!("a batch of {count} ops failed: {e}"));
}

/// Every page of a CDR scan, each at most `limit` long, the cursor taken from the last
/// record of the page before; the scan ends at the first short page.
async fn all_pages<F, Fut>(limit: usize, mut page: F) -> Vec<MessageRecord>
where
    F: FnMut(Option<CdrCursor>) -> Fut,
    Fut: Future<Output = Result<Vec<MessageRecord>, StoreError>>,
{
    let mut out = Vec::new();
    let mut after = None;
    for _ in 0..100_000 {
        let got = page(after).await.expect("a page of the scan");
        assert!(
            got.len() <= limit,
            "a page of {} records, the limit is {limit}",
            got.len()
        );
        let last = got.len() < limit;
        if let Some(r) = got.last() {
            after = Some((r.accepted_ms, r.id, r.part));
        }
        out.extend(got);
        if last {
            return out;
        }
    }
    panic!("the scan did not end after 100,000 pages");
}

async fn by_account(
    store: &dyn MessageStore,
    account: &str,
    (from_ms, to_ms): (u64, u64),
    limit: usize,
) -> Vec<MessageRecord> {
    all_pages(limit, |after| {
        store.messages_by_account(account, after, from_ms, to_ms, limit)
    })
    .await
}

async fn by_link(
    store: &dyn MessageStore,
    link: &str,
    (from_ms, to_ms): (u64, u64),
    limit: usize,
) -> Vec<MessageRecord> {
    all_pages(limit, |after| {
        store.messages_by_link(link, after, from_ms, to_ms, limit)
    })
    .await
}

fn keys_of(records: &[MessageRecord]) -> Vec<(u64, MessageId, u8)> {
    records
        .iter()
        .map(|r| (r.accepted_ms, r.id, r.part))
        .collect()
}

/// Records in the order a CDR scan returns them.
fn in_scan_order(mut records: Vec<MessageRecord>) -> Vec<MessageRecord> {
    records.sort_by_key(|r| (r.accepted_ms, r.id, r.part));
    records
}

/// Every pending entry of a shard, paged by `limit`.
async fn all_pending(store: &dyn MessageStore, shard: u16, limit: usize) -> Vec<PendingEntry> {
    let mut out: Vec<PendingEntry> = Vec::new();
    let mut after = None;
    loop {
        let page = store
            .pending(shard, after, limit)
            .await
            .expect("a page of pending entries");
        assert!(page.len() <= limit, "a page longer than its limit");
        let last = page.len() < limit;
        if let Some(e) = page.last() {
            after = Some((e.id, e.part));
        }
        out.extend(page);
        if last {
            return out;
        }
        assert!(out.len() <= 1_000_000, "pending paging does not end");
    }
}

/// What a test can see of a store through every read, for the ids, shards, links,
/// accounts and leases given.
#[derive(Debug, PartialEq)]
struct Seen {
    messages: Vec<Option<MessageRecord>>,
    parts: Vec<Vec<MessageRecord>>,
    pending: Vec<Vec<PendingEntry>>,
    receipts: Vec<Option<(MessageId, u8)>>,
    held: Vec<Vec<HeldDelivery>>,
    by_account: Vec<Vec<MessageRecord>>,
    by_link: Vec<Vec<MessageRecord>>,
    by_ref: Vec<Vec<MessageId>>,
    meta: Vec<Option<Vec<u8>>>,
    charged: Vec<(u64, i64)>,
    idempotent: Vec<Option<Vec<u8>>>,
}

struct Probe<'a> {
    ids: &'a [(MessageId, u8)],
    shards: &'a [u16],
    receipts: &'a [(&'a str, &'a str)],
    accounts: &'a [&'a str],
    links: &'a [&'a str],
    refs: &'a [(&'a str, &'a str)],
    meta: &'a [&'a str],
    leases: &'a [u64],
    idempotent: &'a [(&'a str, &'a str)],
}

impl Probe<'_> {
    async fn seen(&self, store: &dyn MessageStore) -> Seen {
        let range = (DAY0_MS - DAY_MS, DAY0_MS + 10 * DAY_MS);
        let mut seen = Seen {
            messages: Vec::new(),
            parts: Vec::new(),
            pending: Vec::new(),
            receipts: Vec::new(),
            held: Vec::new(),
            by_account: Vec::new(),
            by_link: Vec::new(),
            by_ref: Vec::new(),
            meta: Vec::new(),
            charged: Vec::new(),
            idempotent: Vec::new(),
        };
        for &(id, part) in self.ids {
            seen.messages
                .push(store.message(id, part).await.expect("message"));
            seen.parts
                .push(store.message_parts(id).await.expect("message_parts"));
        }
        for &shard in self.shards {
            seen.pending.push(all_pending(store, shard, 50).await);
        }
        for &(link, operator_id) in self.receipts {
            seen.receipts.push(
                store
                    .receipt_owner(link, operator_id)
                    .await
                    .expect("receipt_owner"),
            );
        }
        for &account in self.accounts {
            seen.held
                .push(store.held(account, 1_000).await.expect("held"));
            seen.by_account
                .push(by_account(store, account, range, 1_000).await);
        }
        for &link in self.links {
            seen.by_link.push(by_link(store, link, range, 1_000).await);
        }
        for &(account, client_ref) in self.refs {
            seen.by_ref.push(
                store
                    .messages_by_client_ref(account, client_ref, 100)
                    .await
                    .expect("messages_by_client_ref"),
            );
        }
        for &key in self.meta {
            seen.meta.push(store.meta(key).await.expect("meta"));
        }
        for &lease in self.leases {
            seen.charged
                .push(store.charged(lease).await.expect("charged"));
        }
        for &(account, key) in self.idempotent {
            seen.idempotent
                .push(store.idempotent(account, key).await.expect("idempotent"));
        }
        seen
    }
}

// ----------------------------------------------------------------------------- records

/// PutMessage: a record is read back field for field, the billing fields and the
/// customer's reference included; a part never written is absent.
pub async fn put_message_is_read_back_whole<B: Backend>(b: &mut B) {
    let store = b.store();
    let id = id_at(DAY0_MS + 3_600_000, 1);
    let mut text = accepted(id, 0, 2, "acme");
    text.wire_id = Some(0x0123_4567_89ab_cdef);
    text.client_ref = Some("order-4711".into());
    text.route = Some("uk-premium".into());
    text.price = -3;
    let mut binary = accepted(id, 1, 2, "acme");
    binary.message.coding = Coding::Ucs2;
    binary.message.data_coding = 8;
    binary.message.body = Body::Binary(vec![0x00, 0x48, 0x00, 0x69, 0xd8, 0x3d].into());
    binary.message.udh = Some(vec![0x05, 0x00, 0x03, 0x2a, 0x02, 0x02].into());
    binary.message.validity_unix = Some(1_772_409_600);
    binary.route = None;
    binary.price = 0;
    let binary = delivered(submitted(binary, "vodafone-1", "0b1c2d3e"));
    write(&*store, vec![put(&text), put(&binary)]).await;

    assert_eq!(store.message(id, 0).await.unwrap(), Some(text));
    assert_eq!(store.message(id, 1).await.unwrap(), Some(binary));
    assert_eq!(store.message(id, 2).await.unwrap(), None);
    assert_eq!(store.message(MessageId(id.0 + 1), 0).await.unwrap(), None);
}

/// PutMessage is insert or replace: the later record is read, whole, fields it clears
/// included.
pub async fn put_message_replaces_the_whole_record<B: Backend>(b: &mut B) {
    let store = b.store();
    let id = id_at(DAY0_MS + 7_200_000, 2);
    let mut first = submitted(accepted(id, 0, 1, "acme"), "op-a", "A-1");
    first.client_ref = Some("r1".into());
    first.error = Some(0x58);
    write(&*store, vec![put(&first)]).await;
    let mut second = delivered(first.clone());
    second.error = None;
    second.attempts = 4;
    second.wire_id = Some(99);
    write(&*store, vec![put(&second)]).await;
    assert_eq!(store.message(id, 0).await.unwrap(), Some(second.clone()));
    assert_eq!(store.message_parts(id).await.unwrap(), vec![second]);
}

/// message_parts: every part of one message in part order, however they were written,
/// and nothing of another message.
pub async fn message_parts_lists_every_part_in_part_order<B: Backend>(b: &mut B) {
    let store = b.store();
    let id = id_at(DAY0_MS + 10_000, 5);
    let next = MessageId(id.0 + 1);
    let parts: Vec<MessageRecord> = (0..4).map(|p| accepted(id, p, 4, "acme")).collect();
    write(
        &*store,
        vec![put(&parts[2]), put(&accepted(next, 0, 1, "acme"))],
    )
    .await;
    write(&*store, vec![put(&parts[3]), put(&parts[0])]).await;
    write(&*store, vec![put(&parts[1])]).await;
    write(
        &*store,
        vec![put(&accepted(MessageId(id.0 - 1), 0, 1, "acme"))],
    )
    .await;
    assert_eq!(store.message_parts(id).await.unwrap(), parts);
    assert_eq!(store.message_parts(next).await.unwrap().len(), 1);
    assert!(store
        .message_parts(MessageId(id.0 + 2))
        .await
        .unwrap()
        .is_empty());
}

/// Every WriteOp is idempotent: batches of every kind applied twice (and each op repeated
/// within its batch) leave what applying them once left, through every read. (Ops that
/// undo others go in a later batch here; their order within one batch is the next test's.)
pub async fn every_write_op_applied_twice_equals_once<B: Backend>(b: &mut B) {
    let store = b.store();
    let t = DAY0_MS + 5 * 3_600_000;
    let (a, c, d) = (id_at(t, 1), id_at(t + 10, 2), id_at(t + 20, 3));
    let mut rec_a = accepted(a, 0, 1, "acme");
    rec_a.client_ref = Some("ref-a".into());
    let rec_c = submitted(accepted(c, 0, 1, "acme"), "op-1", "C-1");
    let rec_d = accepted(d, 0, 1, "beta");
    let ops = vec![
        put(&rec_a),
        put(&rec_c),
        put(&rec_d),
        WriteOp::MarkSubmitted(submission(&rec_d, "op-2", "D-1")),
        WriteOp::AddPending(pending(1, a, 0)),
        WriteOp::AddPending(pending(1, c, 0)),
        WriteOp::IndexReceipt {
            link: "op-1".into(),
            operator_id: "C-1".into(),
            id: c,
            part: 0,
        },
        WriteOp::IndexReceipt {
            link: "op-1".into(),
            operator_id: "X-9".into(),
            id: a,
            part: 0,
        },
        WriteOp::Hold(Box::new(held("acme", 10, HeldKind::Receipt))),
        WriteOp::Hold(Box::new(held("acme", 11, HeldKind::Mo))),
        WriteOp::PutMeta {
            key: "idgen/high".into(),
            value: vec![1, 2, 3],
        },
        WriteOp::Charge {
            lease: 7,
            id: a,
            parts: 1,
            amount: 7,
        },
        WriteOp::Charge {
            lease: 7,
            id: c,
            parts: 2,
            amount: 14,
        },
        WriteOp::Charge {
            lease: 8,
            id: d,
            parts: 1,
            amount: 5,
        },
        WriteOp::PutIdempotent {
            account: "acme".into(),
            key: "req-1".into(),
            value: b"ids a".to_vec(),
            expires_ms: in_a_day(),
        },
        WriteOp::PutIdempotent {
            account: "acme".into(),
            key: "req-2".into(),
            value: b"ids c".to_vec(),
            expires_ms: in_a_day(),
        },
    ];
    let undo = vec![
        WriteOp::RemovePending {
            shard: 1,
            id: c,
            part: 0,
        },
        WriteOp::RemoveReceiptIndex {
            link: "op-1".into(),
            operator_id: "X-9".into(),
        },
        WriteOp::Release {
            account: "acme".into(),
            key: 11,
        },
        WriteOp::ForgetCharges { lease: 8 },
        WriteOp::RemoveIdempotent {
            account: "acme".into(),
            key: "req-2".into(),
        },
    ];
    let probe = Probe {
        ids: &[(a, 0), (c, 0), (d, 0)],
        shards: &[1],
        receipts: &[("op-1", "C-1"), ("op-1", "X-9")],
        accounts: &["acme", "beta"],
        links: &["op-1", "op-2"],
        refs: &[("acme", "ref-a")],
        meta: &["idgen/high"],
        leases: &[7, 8],
        idempotent: &[("acme", "req-1"), ("acme", "req-2")],
    };
    write(&*store, ops.clone()).await;
    write(&*store, undo.clone()).await;
    let once = probe.seen(&*store).await;
    // What once means, so that "the same twice" is not "nothing both times".
    assert_eq!(once.messages[0], Some(rec_a.clone()));
    assert_eq!(
        once.messages[2].as_ref().map(|r| r.state),
        Some(RecordState::Submitted)
    );
    assert_eq!(once.pending, vec![vec![pending(1, a, 0)]]);
    assert_eq!(once.receipts, vec![Some((c, 0)), None]);
    assert_eq!(once.held[0], vec![held("acme", 10, HeldKind::Receipt)]);
    assert_eq!(once.by_ref, vec![vec![a]]);
    assert_eq!(once.meta, vec![Some(vec![1, 2, 3])]);
    assert_eq!(once.charged, vec![(3, 21), (0, 0)]);
    assert_eq!(once.idempotent, vec![Some(b"ids a".to_vec()), None]);

    write(&*store, ops.clone()).await;
    write(&*store, undo.clone()).await;
    assert_eq!(probe.seen(&*store).await, once, "the batches applied twice");
    let doubled = |ops: &[WriteOp]| -> Vec<WriteOp> {
        ops.iter().flat_map(|op| [op.clone(), op.clone()]).collect()
    };
    write(&*store, doubled(&ops)).await;
    write(&*store, doubled(&undo)).await;
    assert_eq!(
        probe.seen(&*store).await,
        once,
        "every op twice within one batch"
    );
}

/// A batch's ops take effect in their order: of two ops on the same key in one batch the
/// later wins, whether it writes or removes (callers rely on the order of a batch, see the
/// crate doc).
pub async fn ops_of_one_batch_take_effect_in_their_order<B: Backend>(b: &mut B) {
    let store = b.store();
    let t = DAY0_MS + 6 * 3_600_000;
    let (a, c) = (id_at(t, 1), id_at(t + 1, 2));
    let first = accepted(a, 0, 1, "acme");
    let second = delivered(submitted(first.clone(), "op-1", "A-1"));
    let meta = |value: &[u8]| WriteOp::PutMeta {
        key: "order".into(),
        value: value.to_vec(),
    };
    let charge = |lease, id| WriteOp::Charge {
        lease,
        id,
        parts: 1,
        amount: 7,
    };
    let index = |id| WriteOp::IndexReceipt {
        link: "op-1".into(),
        operator_id: "R".into(),
        id,
        part: 0,
    };
    let unindex = || WriteOp::RemoveReceiptIndex {
        link: "op-1".into(),
        operator_id: "R".into(),
    };
    let hold = |key| WriteOp::Hold(Box::new(held("acme", key, HeldKind::Mo)));
    let release = |key| WriteOp::Release {
        account: "acme".into(),
        key,
    };
    let add = |id| WriteOp::AddPending(pending(1, id, 0));
    let remove = |id| WriteOp::RemovePending {
        shard: 1,
        id,
        part: 0,
    };
    write(
        &*store,
        vec![
            put(&first),
            put(&second),
            meta(b"one"),
            meta(b"two"),
            charge(5, a),
            WriteOp::ForgetCharges { lease: 5 },
            WriteOp::ForgetCharges { lease: 6 },
            charge(6, c),
            index(a),
            unindex(),
            add(a),
            remove(a),
            remove(c),
            add(c),
            hold(1),
            release(1),
            release(2),
            hold(2),
        ],
    )
    .await;
    assert_eq!(store.message(a, 0).await.unwrap(), Some(second));
    assert_eq!(store.meta("order").await.unwrap(), Some(b"two".to_vec()));
    assert_eq!(
        store.charged(5).await.unwrap(),
        (0, 0),
        "Charge, then ForgetCharges"
    );
    assert_eq!(
        store.charged(6).await.unwrap(),
        (1, 7),
        "ForgetCharges, then Charge"
    );
    assert_eq!(store.receipt_owner("op-1", "R").await.unwrap(), None);
    assert_eq!(
        store.pending(1, None, 10).await.unwrap(),
        vec![pending(1, c, 0)],
        "AddPending then RemovePending of one, the other way round of the other"
    );
    assert_eq!(
        store.held("acme", 10).await.unwrap(),
        vec![held("acme", 2, HeldKind::Mo)],
        "Hold then Release of one, the other way round of the other"
    );
    write(&*store, vec![unindex(), index(c)]).await;
    assert_eq!(
        store.receipt_owner("op-1", "R").await.unwrap(),
        Some((c, 0))
    );
}

// ----------------------------------------------------------------------------- submissions

/// MarkSubmitted: reads merge it into an ACCEPTED record (state SUBMITTED, link, operator
/// id, attempts, one more step in the history), through message, message_parts and the
/// CDR scan alike.
pub async fn mark_submitted_is_merged_into_an_accepted_record<B: Backend>(b: &mut B) {
    let store = b.store();
    let id = id_at(DAY0_MS + 60_000, 9);
    let record = accepted(id, 0, 1, "acme");
    let sub = submission(&record, "vodafone-1", "VF-77");
    write(&*store, vec![put(&record)]).await;
    write(&*store, vec![WriteOp::MarkSubmitted(sub.clone())]).await;

    let expected = record.clone().with_submission(sub.clone());
    assert_eq!(expected.state, RecordState::Submitted);
    assert_eq!(expected.link.as_deref(), Some("vodafone-1"));
    assert_eq!(store.message(id, 0).await.unwrap(), Some(expected.clone()));
    assert_eq!(
        store.message_parts(id).await.unwrap(),
        vec![expected.clone()]
    );
    let day = (DAY0_MS, DAY0_MS + DAY_MS);
    assert_eq!(
        by_account(&*store, "acme", day, 10).await,
        vec![expected.clone()]
    );

    // Applied again, it is still one step in the history.
    write(&*store, vec![WriteOp::MarkSubmitted(sub)]).await;
    assert_eq!(store.message(id, 0).await.unwrap(), Some(expected));
}

/// MarkSubmitted is superseded by the next PutMessage of a later state: the record read is
/// that one exactly, with no merged step.
pub async fn a_later_put_message_supersedes_mark_submitted<B: Backend>(b: &mut B) {
    let store = b.store();
    let id = id_at(DAY0_MS + 120_000, 4);
    let record = accepted(id, 0, 1, "acme");
    write(&*store, vec![put(&record)]).await;
    write(
        &*store,
        vec![WriteOp::MarkSubmitted(submission(&record, "op-a", "A-1"))],
    )
    .await;
    let done = delivered(submitted(record.clone(), "op-a", "A-1"));
    write(&*store, vec![put(&done)]).await;
    assert_eq!(store.message(id, 0).await.unwrap(), Some(done.clone()));

    // The same in one batch: the submission and the final record together.
    let id2 = id_at(DAY0_MS + 120_001, 5);
    let record2 = accepted(id2, 0, 1, "acme");
    write(&*store, vec![put(&record2)]).await;
    let failed = failed_over(submitted(record2.clone(), "op-b", "B-1"), 0x45);
    write(
        &*store,
        vec![
            WriteOp::MarkSubmitted(submission(&record2, "op-b", "B-1")),
            put(&failed),
        ],
    )
    .await;
    assert_eq!(store.message(id2, 0).await.unwrap(), Some(failed));
}

/// A MarkSubmitted that arrives after the record reached a final state (a late duplicate)
/// leaves that record as it is.
pub async fn mark_submitted_after_a_final_state_changes_nothing<B: Backend>(b: &mut B) {
    let store = b.store();
    let id = id_at(DAY0_MS + 180_000, 6);
    let done = delivered(submitted(accepted(id, 0, 1, "acme"), "op-a", "A-1"));
    write(&*store, vec![put(&done)]).await;
    let mut late = submission(&done, "op-z", "Z-9");
    late.attempts = 9;
    write(&*store, vec![WriteOp::MarkSubmitted(late)]).await;
    assert_eq!(store.message(id, 0).await.unwrap(), Some(done));
}

// ----------------------------------------------------------------------------- pending

/// pending: the entries of one shard only, in (id, part) order whatever order they were
/// added in, fields as written; AddPending of a key already there replaces the entry.
pub async fn pending_lists_one_shard_in_id_order<B: Backend>(b: &mut B) {
    let store = b.store();
    let t = DAY0_MS + 1_000;
    let ids: Vec<MessageId> = (0..6).map(|i| id_at(t + i * 7, i as u16)).collect();
    let mut ops = Vec::new();
    for (n, &id) in ids.iter().enumerate().rev() {
        ops.push(WriteOp::AddPending(pending(4, id, 1)));
        ops.push(WriteOp::AddPending(pending(4, id, 0)));
        let other = if n % 2 == 0 { 3 } else { 5 };
        ops.push(WriteOp::AddPending(pending(other, id, 0)));
    }
    ops.push(WriteOp::AddPending(pending(u16::MAX, ids[0], 0)));
    ops.push(WriteOp::AddPending(pending(0, ids[0], 0)));
    write(&*store, ops).await;

    let mut expected: Vec<PendingEntry> = ids
        .iter()
        .flat_map(|&id| [pending(4, id, 0), pending(4, id, 1)])
        .collect();
    assert_eq!(store.pending(4, None, 100).await.unwrap(), expected);
    assert_eq!(
        store.pending(u16::MAX, None, 100).await.unwrap(),
        vec![pending(u16::MAX, ids[0], 0)]
    );
    assert_eq!(
        store.pending(0, None, 100).await.unwrap(),
        vec![pending(0, ids[0], 0)]
    );
    assert!(store.pending(6, None, 100).await.unwrap().is_empty());
    assert!(store.pending(4, None, 0).await.unwrap().is_empty());

    // A retry rewrites the entry with a later due time and one more attempt.
    let mut retry = pending(4, ids[2], 1);
    retry.due_ms += 30_000;
    retry.attempts = 3;
    write(&*store, vec![WriteOp::AddPending(retry)]).await;
    expected[5] = retry;
    assert_eq!(store.pending(4, None, 100).await.unwrap(), expected);
}

/// pending pages: starting after a cursor, at most `limit` per page, the pages together
/// are every entry once, in order; nothing after the last.
pub async fn pending_pages_with_a_cursor_across_many_entries<B: Backend>(b: &mut B) {
    let store = b.store();
    let t = DAY0_MS + 2 * DAY_MS;
    let mut expected = Vec::new();
    let mut ops = Vec::new();
    for i in 0..1_200u64 {
        let id = id_at(t + i / 3, (i % 3) as u16);
        let entry = pending(7, id, (i % 2) as u8);
        expected.push(entry);
        ops.push(WriteOp::AddPending(entry));
        ops.push(WriteOp::AddPending(pending(6 + 2 * (i % 2) as u16, id, 0)));
        if ops.len() >= 400 {
            write(&*store, std::mem::take(&mut ops)).await;
        }
    }
    write(&*store, ops).await;
    expected.sort_by_key(|e| (e.id, e.part));

    for limit in [1_000, 64, 7] {
        let got = all_pending(&*store, 7, limit).await;
        assert_eq!(got.len(), expected.len(), "pages of {limit}");
        assert_eq!(got, expected, "pages of {limit}");
    }
    let last = expected.last().map(|e| (e.id, e.part));
    assert!(store.pending(7, last, 10).await.unwrap().is_empty());
    let middle = (expected[599].id, expected[599].part);
    assert_eq!(
        store.pending(7, Some(middle), 3).await.unwrap(),
        expected[600..603].to_vec()
    );
}

/// RemovePending: that entry is gone, its neighbours stay; removing one that is not there
/// changes nothing.
pub async fn remove_pending_drops_only_that_entry<B: Backend>(b: &mut B) {
    let store = b.store();
    let t = DAY0_MS + 3_000;
    let ids: Vec<MessageId> = (0..4).map(|i| id_at(t + i, 0)).collect();
    let mut ops: Vec<WriteOp> = ids
        .iter()
        .map(|&id| WriteOp::AddPending(pending(2, id, 0)))
        .collect();
    ops.push(WriteOp::AddPending(pending(2, ids[1], 1)));
    ops.push(WriteOp::AddPending(pending(9, ids[1], 0)));
    write(&*store, ops).await;
    let remove = |shard, id, part| WriteOp::RemovePending { shard, id, part };
    write(&*store, vec![remove(2, ids[1], 0)]).await;
    write(&*store, vec![remove(2, ids[1], 0), remove(2, ids[3], 5)]).await;
    assert_eq!(
        store.pending(2, None, 10).await.unwrap(),
        vec![
            pending(2, ids[0], 0),
            pending(2, ids[1], 1),
            pending(2, ids[2], 0),
            pending(2, ids[3], 0)
        ]
    );
    assert_eq!(
        store.pending(9, None, 10).await.unwrap(),
        vec![pending(9, ids[1], 0)]
    );
}

// ----------------------------------------------------------------------------- receipts

/// IndexReceipt: (link, operator id) finds the part, per link; indexed again it finds the
/// new part; RemoveReceiptIndex forgets it, twice as well as once.
pub async fn receipt_index_finds_the_part_until_removed<B: Backend>(b: &mut B) {
    let store = b.store();
    let a = id_at(DAY0_MS + 9_000, 1);
    let c = id_at(DAY0_MS + 9_001, 1);
    let index = |link: &str, op: &str, id, part| WriteOp::IndexReceipt {
        link: link.into(),
        operator_id: op.into(),
        id,
        part,
    };
    let remove = |link: &str, op: &str| WriteOp::RemoveReceiptIndex {
        link: link.into(),
        operator_id: op.into(),
    };
    write(
        &*store,
        vec![
            index("op-1", "77", a, 2),
            index("op-2", "77", c, 0),
            index("op-1", "770", c, 1),
        ],
    )
    .await;
    assert_eq!(
        store.receipt_owner("op-1", "77").await.unwrap(),
        Some((a, 2))
    );
    assert_eq!(
        store.receipt_owner("op-2", "77").await.unwrap(),
        Some((c, 0))
    );
    assert_eq!(
        store.receipt_owner("op-1", "770").await.unwrap(),
        Some((c, 1))
    );
    assert_eq!(store.receipt_owner("op-1", "7").await.unwrap(), None);
    assert_eq!(store.receipt_owner("op-3", "77").await.unwrap(), None);

    write(&*store, vec![index("op-1", "77", c, 0)]).await;
    assert_eq!(
        store.receipt_owner("op-1", "77").await.unwrap(),
        Some((c, 0))
    );

    write(&*store, vec![remove("op-1", "77")]).await;
    write(&*store, vec![remove("op-1", "77"), remove("op-9", "1")]).await;
    assert_eq!(store.receipt_owner("op-1", "77").await.unwrap(), None);
    assert_eq!(
        store.receipt_owner("op-2", "77").await.unwrap(),
        Some((c, 0))
    );
    assert_eq!(
        store.receipt_owner("op-1", "770").await.unwrap(),
        Some((c, 1))
    );
}

// ----------------------------------------------------------------------------- held

/// held: an account's deliveries oldest (smallest key) first, at most `limit`, whole;
/// nothing of another account.
pub async fn held_lists_an_account_oldest_first_with_a_limit<B: Backend>(b: &mut B) {
    let store = b.store();
    let base = id_at(DAY0_MS, 0).0;
    let keys = [
        base + 500,
        base + 3,
        base + 90_000,
        base + 4,
        base + (1 << 40),
    ];
    let mut ops: Vec<WriteOp> = keys
        .iter()
        .enumerate()
        .map(|(i, &k)| {
            let kind = if i % 2 == 0 {
                HeldKind::Receipt
            } else {
                HeldKind::Mo
            };
            WriteOp::Hold(Box::new(held("acme", k, kind)))
        })
        .collect();
    ops.push(WriteOp::Hold(Box::new(held(
        "acme2",
        base + 1,
        HeldKind::Mo,
    ))));
    ops.push(WriteOp::Hold(Box::new(held("acm", base + 2, HeldKind::Mo))));
    write(&*store, ops).await;

    let mut sorted = keys.to_vec();
    sorted.sort_unstable();
    let all = store.held("acme", 100).await.unwrap();
    assert_eq!(all.iter().map(|h| h.key).collect::<Vec<_>>(), sorted);
    assert!(all.iter().all(|h| h.account == "acme"));
    assert_eq!(all[0], held("acme", base + 3, HeldKind::Mo));
    assert_eq!(all[1], held("acme", base + 4, HeldKind::Mo));
    let three = store.held("acme", 3).await.unwrap();
    assert_eq!(three, all[..3].to_vec());
    assert!(store.held("acme", 0).await.unwrap().is_empty());
    assert_eq!(store.held("acme2", 10).await.unwrap().len(), 1);
    assert!(store.held("nobody", 10).await.unwrap().is_empty());
}

/// Release: that delivery is forgotten, the account's others stay; releasing one that is
/// not there changes nothing.
pub async fn release_forgets_one_held_delivery<B: Backend>(b: &mut B) {
    let store = b.store();
    let hold = |k| WriteOp::Hold(Box::new(held("acme", k, HeldKind::Receipt)));
    write(&*store, vec![hold(1), hold(2), hold(3)]).await;
    let release = |account: &str, key| WriteOp::Release {
        account: account.into(),
        key,
    };
    write(&*store, vec![release("acme", 2), release("beta", 1)]).await;
    write(&*store, vec![release("acme", 2), release("acme", 99)]).await;
    let keys: Vec<u64> = store
        .held("acme", 10)
        .await
        .unwrap()
        .iter()
        .map(|h| h.key)
        .collect();
    assert_eq!(keys, vec![1, 3]);
}

/// held_accounts: every account with something held is listed; an account listed has
/// had something held (it may have nothing left).
pub async fn held_accounts_lists_every_account_with_something_held<B: Backend>(b: &mut B) {
    let store = b.store();
    assert!(store.held_accounts().await.unwrap().is_empty());
    let hold = |account: &str, k| WriteOp::Hold(Box::new(held(account, k, HeldKind::Mo)));
    write(
        &*store,
        vec![
            hold("acme", 1),
            hold("beta", 2),
            hold("gamma", 3),
            hold("acme", 4),
        ],
    )
    .await;
    write(
        &*store,
        vec![WriteOp::Release {
            account: "beta".into(),
            key: 2,
        }],
    )
    .await;
    let listed: BTreeSet<String> = store.held_accounts().await.unwrap().into_iter().collect();
    for account in ["acme", "gamma"] {
        assert!(
            listed.contains(account),
            "{account} missing from {listed:?}"
        );
    }
    let ever: BTreeSet<String> = ["acme", "beta", "gamma"].map(String::from).into();
    assert!(
        listed.is_subset(&ever),
        "{listed:?} lists an account never held"
    );
}

// ----------------------------------------------------------------------------- CDR scans

/// Records accepted at the edges of four UTC days and in between, several in one
/// millisecond, some with several parts.
fn days_of_records(account: &str, seq: u16) -> Vec<MessageRecord> {
    let mut out = Vec::new();
    for day in 0..4u64 {
        let start = DAY0_MS + day * DAY_MS;
        for (n, at) in [start, start + 1, start + 43_200_000, start + DAY_MS - 1]
            .into_iter()
            .enumerate()
        {
            for s in 0..2u16 {
                let id = id_at(at, seq + s * 100 + n as u16);
                let parts = if s == 0 { 1 } else { 3 };
                for part in 0..parts {
                    out.push(accepted(id, part, parts, account));
                }
            }
        }
    }
    out
}

/// messages_by_account: over four UTC days, paged with the cursor of each page's last
/// record, every record of the account once, oldest first (time, id, part).
pub async fn messages_by_account_pages_over_several_utc_days<B: Backend>(b: &mut B) {
    let store = b.store();
    let records = days_of_records("acme", 0);
    let ops: Vec<WriteOp> = records.iter().map(put).collect();
    write(&*store, ops).await;
    let expected = in_scan_order(records);
    assert_eq!(expected.len(), 4 * 4 * 4);

    let range = (DAY0_MS, DAY0_MS + 4 * DAY_MS);
    for limit in [1_000, 7, 1] {
        let got = by_account(&*store, "acme", range, limit).await;
        assert_eq!(keys_of(&got), keys_of(&expected), "pages of {limit}");
        assert_eq!(got, expected, "pages of {limit}");
    }
    // One day, from its first millisecond to the next day's first, excluded.
    let day2 = (DAY0_MS + 2 * DAY_MS, DAY0_MS + 3 * DAY_MS);
    let in_day2: Vec<MessageRecord> = expected
        .iter()
        .filter(|r| r.accepted_ms >= day2.0 && r.accepted_ms < day2.1)
        .cloned()
        .collect();
    assert_eq!(in_day2.len(), 16);
    assert_eq!(by_account(&*store, "acme", day2, 5).await, in_day2);
}

/// messages_by_account: `[from_ms, to_ms)` exactly, only the account asked for (not one
/// whose name starts the same), an empty range is empty.
pub async fn messages_by_account_keeps_to_its_account_and_range<B: Backend>(b: &mut B) {
    let store = b.store();
    let acme = days_of_records("acme", 0);
    let mut ops: Vec<WriteOp> = acme.iter().map(put).collect();
    ops.extend(days_of_records("acme2", 10).iter().map(put));
    ops.extend(days_of_records("acm", 20).iter().map(put));
    write(&*store, ops).await;

    let from = DAY0_MS + 1;
    let to = DAY0_MS + 2 * DAY_MS + 43_200_000;
    let expected = in_scan_order(
        acme.into_iter()
            .filter(|r| r.accepted_ms >= from && r.accepted_ms < to)
            .collect(),
    );
    assert_eq!(
        keys_of(&by_account(&*store, "acme", (from, to), 4).await),
        keys_of(&expected)
    );
    assert!(by_account(&*store, "acme", (to, to), 4).await.is_empty());
    assert!(by_account(&*store, "acme", (to, from), 4).await.is_empty());
    assert!(by_account(&*store, "nobody", (from, to), 4)
        .await
        .is_empty());
    let earlier = (DAY0_MS - 3 * DAY_MS, DAY0_MS);
    assert!(by_account(&*store, "acme", earlier, 4).await.is_empty());
    assert!(store
        .messages_by_account("acme", None, from, to, 0)
        .await
        .unwrap()
        .is_empty());
}

/// messages_by_link: a record is listed under the link named in its current state only;
/// the entry a record left under a link it no longer names is skipped, and a record that
/// names no link is under none.
pub async fn messages_by_link_lists_a_record_under_its_current_link_only<B: Backend>(b: &mut B) {
    let store = b.store();
    let t = DAY0_MS + DAY_MS - 500;
    let ids: Vec<MessageId> = (0..4).map(|i| id_at(t + i * 200, 0)).collect();
    let first: Vec<MessageRecord> = ids.iter().map(|&id| accepted(id, 0, 1, "acme")).collect();
    write(&*store, first.iter().map(put).collect()).await;
    let on_a: Vec<MessageRecord> = first
        .iter()
        .map(|r| submitted(r.clone(), "link-a", "A"))
        .collect();
    write(&*store, on_a.iter().map(put).collect()).await;
    // 0 and 1 fail over to link-b; 2 is delivered on link-a; 3 stays submitted on link-a.
    let moved: Vec<MessageRecord> = on_a[..2]
        .iter()
        .map(|r| submitted(failed_over(r.clone(), 0x58), "link-b", "B"))
        .collect();
    let done = delivered(on_a[2].clone());
    let mut ops: Vec<WriteOp> = moved.iter().map(put).collect();
    ops.push(put(&done));
    write(&*store, ops).await;
    let unrouted = accepted(id_at(t + 50, 1), 0, 1, "acme");
    write(&*store, vec![put(&unrouted)]).await;

    let range = (DAY0_MS, DAY0_MS + 3 * DAY_MS);
    assert_eq!(
        by_link(&*store, "link-a", range, 10).await,
        vec![done, on_a[3].clone()]
    );
    assert_eq!(by_link(&*store, "link-b", range, 1).await, moved);
    assert!(by_link(&*store, "link", range, 10).await.is_empty());
    assert!(by_link(&*store, "", range, 10).await.is_empty());

    // And back again: the record moves once more, the other list forgets it.
    let back = submitted(failed_over(moved[0].clone(), 0x58), "link-a", "A2");
    write(&*store, vec![put(&back)]).await;
    assert_eq!(
        by_link(&*store, "link-b", range, 10).await,
        vec![moved[1].clone()]
    );
    let on_a_now = by_link(&*store, "link-a", range, 10).await;
    assert_eq!(
        keys_of(&on_a_now)[0],
        (back.accepted_ms, back.id, back.part)
    );
    assert_eq!(on_a_now.len(), 3);
}

/// messages_by_link pages as messages_by_account does: over four UTC days, every record
/// of the link once, oldest first, and only those of the range.
pub async fn messages_by_link_pages_over_several_utc_days<B: Backend>(b: &mut B) {
    let store = b.store();
    let records = days_of_records("acme", 0);
    let mut on_link = Vec::new();
    let mut ops = Vec::new();
    for (n, r) in records.iter().enumerate() {
        ops.push(put(r));
        let link = if n % 3 == 0 { "other" } else { "vodafone-1" };
        let s = submitted(r.clone(), link, &format!("VF{n}"));
        ops.push(put(&s));
        if link == "vodafone-1" {
            on_link.push(s);
        }
    }
    write(&*store, ops).await;
    let expected = in_scan_order(on_link);

    let range = (DAY0_MS, DAY0_MS + 4 * DAY_MS);
    for limit in [500, 6] {
        assert_eq!(
            by_link(&*store, "vodafone-1", range, limit).await,
            expected,
            "pages of {limit}"
        );
    }
    let day3 = (DAY0_MS + 3 * DAY_MS, DAY0_MS + 4 * DAY_MS);
    let in_day3: Vec<_> = expected
        .iter()
        .filter(|r| r.accepted_ms >= day3.0)
        .cloned()
        .collect();
    assert!(!in_day3.is_empty());
    assert_eq!(by_link(&*store, "vodafone-1", day3, 4).await, in_day3);
}

/// messages_by_client_ref: the messages of the account with exactly that reference, each
/// once however many parts it has, newest first, at most `limit`.
pub async fn messages_by_client_ref_lists_newest_first<B: Backend>(b: &mut B) {
    let store = b.store();
    let t = DAY0_MS + 20 * 3_600_000;
    let with_ref = |id, part, parts, account: &str, client_ref: &str| {
        let mut r = accepted(id, part, parts, account);
        r.client_ref = Some(client_ref.into());
        r
    };
    let ids: Vec<MessageId> = (0..4).map(|i| id_at(t + i * DAY_MS / 3, 0)).collect();
    let mut ops = vec![
        put(&with_ref(ids[2], 0, 1, "acme", "order-17")),
        put(&with_ref(ids[0], 0, 2, "acme", "order-17")),
        put(&with_ref(ids[0], 1, 2, "acme", "order-17")),
        put(&with_ref(ids[3], 0, 1, "acme", "order-17x")),
        put(&with_ref(ids[1], 0, 1, "beta", "order-17")),
    ];
    ops.push(put(&accepted(id_at(t + 5, 1), 0, 1, "acme")));
    write(&*store, ops).await;
    let later = with_ref(ids[1], 0, 1, "acme", "order-17");
    let later = MessageRecord {
        id: MessageId(ids[1].0 + 1),
        ..later
    };
    write(&*store, vec![put(&later)]).await;

    assert_eq!(
        store
            .messages_by_client_ref("acme", "order-17", 10)
            .await
            .unwrap(),
        vec![ids[2], later.id, ids[0]]
    );
    assert_eq!(
        store
            .messages_by_client_ref("acme", "order-17", 2)
            .await
            .unwrap(),
        vec![ids[2], later.id]
    );
    assert_eq!(
        store
            .messages_by_client_ref("beta", "order-17", 10)
            .await
            .unwrap(),
        vec![ids[1]]
    );
    for (account, client_ref) in [
        ("acme", "order-1"),
        ("acme", "order"),
        ("gamma", "order-17"),
    ] {
        assert!(
            store
                .messages_by_client_ref(account, client_ref, 10)
                .await
                .unwrap()
                .is_empty(),
            "{account}/{client_ref}"
        );
    }
    assert!(store
        .messages_by_client_ref("acme", "order-17", 0)
        .await
        .unwrap()
        .is_empty());
}

// ----------------------------------------------------------------------------- meta, charges

/// PutMeta: the value is read back byte for byte, a later put replaces it, an unknown key
/// is absent.
pub async fn meta_is_stored_replaced_and_read<B: Backend>(b: &mut B) {
    let store = b.store();
    let bytes: Vec<u8> = (0..=255).collect();
    write(
        &*store,
        vec![
            WriteOp::PutMeta {
                key: "idgen/high".into(),
                value: 41u64.to_be_bytes().to_vec(),
            },
            WriteOp::PutMeta {
                key: "report/account/acme/2026-03-01".into(),
                value: bytes.clone(),
            },
            WriteOp::PutMeta {
                key: "empty".into(),
                value: Vec::new(),
            },
        ],
    )
    .await;
    write(
        &*store,
        vec![WriteOp::PutMeta {
            key: "idgen/high".into(),
            value: 42u64.to_be_bytes().to_vec(),
        }],
    )
    .await;
    assert_eq!(
        store.meta("idgen/high").await.unwrap(),
        Some(42u64.to_be_bytes().to_vec())
    );
    assert_eq!(
        store.meta("report/account/acme/2026-03-01").await.unwrap(),
        Some(bytes)
    );
    assert_eq!(store.meta("empty").await.unwrap(), Some(Vec::new()));
    assert_eq!(store.meta("idgen").await.unwrap(), None);
    assert_eq!(store.meta("idgen/high/").await.unwrap(), None);
}

/// Charge and charged: a lease's charges add up (parts and money), one per message however
/// often written; ForgetCharges empties that lease only.
pub async fn charges_add_up_per_lease_until_forgotten<B: Backend>(b: &mut B) {
    let store = b.store();
    let charge = |lease, id, parts, amount| WriteOp::Charge {
        lease,
        id,
        parts,
        amount,
    };
    let ids: Vec<MessageId> = (0..50).map(|i| id_at(DAY0_MS + i, 0)).collect();
    let mut ops: Vec<WriteOp> = ids.iter().map(|&id| charge(1, id, 2, 14)).collect();
    ops.push(charge(2, ids[0], 1, -7));
    ops.push(charge(u64::MAX, ids[1], 3, 1_000_000_000_000));
    write(&*store, ops).await;
    write(&*store, vec![charge(1, ids[3], 2, 14)]).await;
    assert_eq!(store.charged(1).await.unwrap(), (100, 700));
    assert_eq!(store.charged(2).await.unwrap(), (1, -7));
    assert_eq!(
        store.charged(u64::MAX).await.unwrap(),
        (3, 1_000_000_000_000)
    );
    assert_eq!(store.charged(3).await.unwrap(), (0, 0));

    write(&*store, vec![WriteOp::ForgetCharges { lease: 1 }]).await;
    write(&*store, vec![WriteOp::ForgetCharges { lease: 1 }]).await;
    assert_eq!(store.charged(1).await.unwrap(), (0, 0));
    assert_eq!(store.charged(2).await.unwrap(), (1, -7));
}

// ----------------------------------------------------------------------------- completions

/// A completion that reports into a channel, with the count of calls kept apart.
fn counting(
    calls: Arc<AtomicUsize>,
    tx: tokio::sync::mpsc::UnboundedSender<Result<(), StoreError>>,
) -> tern_storage::Completion {
    Box::new(move |result| {
        calls.fetch_add(1, Ordering::SeqCst);
        let _ = tx.send(result);
    })
}

/// An empty batch is a barrier: its completion runs once every batch queued before it is
/// durable, and their writes are then read.
pub async fn an_empty_write_is_a_barrier<B: Backend>(b: &mut B) {
    let store = b.store();
    let batches = 40usize;
    let done_before = Arc::new(AtomicUsize::new(0));
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let mut ids = Vec::new();
    for n in 0..batches {
        let id = id_at(DAY0_MS + n as u64, 0);
        ids.push(id);
        let ops = vec![
            put(&accepted(id, 0, 1, "acme")),
            WriteOp::AddPending(pending(1, id, 0)),
        ];
        let count = done_before.clone();
        let tx = tx.clone();
        queue(
            &*store,
            ops,
            Box::new(move |result| {
                result.expect("a batch before the barrier");
                count.fetch_add(1, Ordering::SeqCst);
                let _ = tx.send(());
            }),
        )
        .await;
    }
    let (btx, brx) = tokio::sync::oneshot::channel();
    let seen = done_before.clone();
    queue(
        &*store,
        Vec::new(),
        Box::new(move |result| {
            let _ = btx.send((result, seen.load(Ordering::SeqCst)));
        }),
    )
    .await;
    let (result, before) = tokio::time::timeout(Duration::from_secs(60), brx)
        .await
        .expect("the barrier completes within 60 s")
        .expect("the barrier's completion runs");
    result.expect("the barrier succeeds");
    // Read before the other completions are awaited: durable means readable. (Their
    // completions may still be on their way; only their effect is promised.)
    let mut missing = Vec::new();
    for &id in &ids {
        if store.message(id, 0).await.unwrap().is_none() {
            missing.push(id);
        }
    }
    assert!(
        missing.is_empty(),
        "{} of {batches} batches queued before the barrier not read after it \
         ({before} had completed)",
        missing.len()
    );
    assert_eq!(store.pending(1, None, 1_000).await.unwrap().len(), batches);
    for _ in 0..batches {
        rx.recv().await.expect("every batch completes");
    }
}

/// Queues a batch, waiting out `Overloaded` (the caller sheds load; a test just waits).
async fn queue(store: &dyn MessageStore, ops: Vec<WriteOp>, done: tern_storage::Completion) {
    let done = Arc::new(Mutex::new(Some(done)));
    for _ in 0..6_000 {
        let slot = done.clone();
        let once: tern_storage::Completion = Box::new(move |result| {
            if let Some(done) = slot.lock().expect("completion slot").take() {
                done(result);
            }
        });
        match store.write(ops.clone(), once) {
            Ok(()) => return,
            Err(StoreError::Overloaded) => tokio::time::sleep(Duration::from_millis(10)).await,
            Err(e) => panic!("write refused: {e}"),
        }
    }
    panic!("the store stayed overloaded for a minute");
}

/// Completions: every accepted batch's completion runs exactly once, from concurrent
/// writers, and none runs twice later.
pub async fn every_completion_is_called_exactly_once<B: Backend>(b: &mut B) {
    let writers = 8u64;
    let per_writer = 40u64;
    let calls: Arc<Vec<AtomicUsize>> = Arc::new(
        (0..writers * per_writer)
            .map(|_| AtomicUsize::new(0))
            .collect(),
    );
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let mut tasks = Vec::new();
    for w in 0..writers {
        let store = b.store();
        let calls = calls.clone();
        let tx = tx.clone();
        tasks.push(tokio::spawn(async move {
            for n in 0..per_writer {
                let slot = (w * per_writer + n) as usize;
                let id = id_at(DAY0_MS + slot as u64, w as u16);
                let ops = vec![
                    put(&accepted(id, 0, 1, "acme")),
                    WriteOp::Charge {
                        lease: w,
                        id,
                        parts: 1,
                        amount: 3,
                    },
                ];
                let calls = calls.clone();
                let tx = tx.clone();
                let done: tern_storage::Completion = Box::new(move |result| {
                    calls[slot].fetch_add(1, Ordering::SeqCst);
                    let _ = tx.send(result);
                });
                queue(&*store, ops, done).await;
            }
        }));
    }
    drop(tx);
    for task in tasks {
        task.await.expect("a writer task");
    }
    let total = (writers * per_writer) as usize;
    for n in 0..total {
        let result = tokio::time::timeout(Duration::from_secs(60), rx.recv())
            .await
            .unwrap_or_else(|_| panic!("{n} of {total} completions within 60 s"))
            .expect("a completion");
        result.expect("every batch is durable");
    }
    // Anything called twice would show up now.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let counts: BTreeMap<usize, usize> =
        calls
            .iter()
            .map(|c| c.load(Ordering::SeqCst))
            .fold(BTreeMap::new(), |mut m, c| {
                *m.entry(c).or_default() += 1;
                m
            });
    assert_eq!(counts, BTreeMap::from([(1, total)]), "calls per completion");
    assert!(rx.recv().await.is_none());
    let store = b.store();
    for w in 0..writers {
        assert_eq!(
            store.charged(w).await.unwrap(),
            (per_writer, 3 * per_writer as i64)
        );
    }
}

/// A write the store refuses (`Err` from `write`): nothing of it is stored and its
/// completion is dropped without being called. One it accepts completes once. A name with
/// a NUL byte is the input a backend may refuse; either answer must keep the contract.
pub async fn a_refused_write_stores_nothing_and_never_completes<B: Backend>(b: &mut B) {
    let store = b.store();
    let id = id_at(DAY0_MS + 77, 0);
    let good = accepted(id, 0, 1, "acme");
    let bad = accepted(id, 1, 2, "ac\0me");
    let calls = Arc::new(AtomicUsize::new(0));
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let ops = vec![
        put(&good),
        put(&bad),
        WriteOp::AddPending(pending(1, id, 0)),
    ];
    match store.write(ops, counting(calls.clone(), tx)) {
        Err(StoreError::Invalid(_)) => {
            // The closure (and its sender) is gone: the channel closes with no message.
            assert!(rx.recv().await.is_none(), "a refused batch completed");
            assert_eq!(calls.load(Ordering::SeqCst), 0);
            assert_eq!(store.message(id, 0).await.unwrap(), None);
            assert!(store.pending(1, None, 10).await.unwrap().is_empty());
        }
        Err(e) => panic!("refused with {e}, expected Invalid or success"),
        Ok(()) => {
            let result = tokio::time::timeout(Duration::from_secs(60), rx.recv())
                .await
                .expect("completion within 60 s")
                .expect("a completion");
            result.expect("an accepted batch is durable");
            assert!(rx.recv().await.is_none());
            assert_eq!(calls.load(Ordering::SeqCst), 1);
            assert_eq!(store.message(id, 0).await.unwrap(), Some(good));
            assert_eq!(store.message(id, 1).await.unwrap(), Some(bad));
        }
    }
    // The store still works.
    write(&*store, vec![WriteOp::AddPending(pending(2, id, 0))]).await;
    assert_eq!(store.pending(2, None, 10).await.unwrap().len(), 1);
}

// ----------------------------------------------------------------------------- durability

/// A completed batch is durable: after the store is closed and opened again, every kind
/// of write reads as before.
pub async fn durable_writes_are_read_after_a_reopen<B: Backend>(b: &mut B) {
    let t = DAY0_MS + DAY_MS + 600_000;
    let (a, c) = (id_at(t, 1), id_at(t + DAY_MS, 2));
    let mut rec_a = accepted(a, 0, 1, "acme");
    rec_a.client_ref = Some("keep".into());
    let rec_c = accepted(c, 0, 1, "acme");
    let probe = Probe {
        ids: &[(a, 0), (c, 0)],
        shards: &[5],
        receipts: &[("op-1", "X")],
        accounts: &["acme"],
        links: &["op-1"],
        refs: &[("acme", "keep")],
        meta: &["k"],
        leases: &[4],
        idempotent: &[("acme", "req-1")],
    };
    let before = {
        let store = b.store();
        write(&*store, vec![put(&rec_a), put(&rec_c)]).await;
        write(
            &*store,
            vec![
                put(&submitted(rec_a.clone(), "op-1", "X")),
                WriteOp::MarkSubmitted(submission(&rec_c, "op-1", "Y")),
                WriteOp::AddPending(pending(5, c, 0)),
                WriteOp::IndexReceipt {
                    link: "op-1".into(),
                    operator_id: "X".into(),
                    id: a,
                    part: 0,
                },
                WriteOp::Hold(Box::new(held("acme", 5, HeldKind::Mo))),
                WriteOp::PutMeta {
                    key: "k".into(),
                    value: b"v".to_vec(),
                },
                WriteOp::Charge {
                    lease: 4,
                    id: a,
                    parts: 1,
                    amount: 7,
                },
                WriteOp::PutIdempotent {
                    account: "acme".into(),
                    key: "req-1".into(),
                    value: b"ids a".to_vec(),
                    expires_ms: in_a_day(),
                },
            ],
        )
        .await;
        probe.seen(&*store).await
    };
    assert_eq!(before.idempotent, vec![Some(b"ids a".to_vec())]);
    assert_eq!(before.receipts, vec![Some((a, 0))]);
    assert_eq!(
        before.messages[1].as_ref().map(|r| r.state),
        Some(RecordState::Submitted)
    );
    b.reopen().await;
    let store = b.store();
    assert_eq!(probe.seen(&*store).await, before);
    assert!(store
        .held_accounts()
        .await
        .unwrap()
        .contains(&"acme".to_string()));
}

/// A big batch (thousands of ops, megabytes) is accepted and stored whole, as every other.
pub async fn a_big_batch_is_stored_whole<B: Backend>(b: &mut B) {
    let store = b.store();
    let count = 3_000u64;
    let t = DAY0_MS + 2 * DAY_MS - 1_000;
    let mut ops = Vec::new();
    let mut records = Vec::new();
    for n in 0..count {
        let id = id_at(t + n, (n % 4) as u16);
        let mut r = accepted(id, 0, 1, "bulk");
        r.message.body = Body::Text(format!("{n:06} {}", "x".repeat(300)));
        r.client_ref = Some(format!("batch-{}", n % 10));
        ops.push(put(&r));
        ops.push(WriteOp::AddPending(pending(11, id, 0)));
        ops.push(WriteOp::Charge {
            lease: 99,
            id,
            parts: 1,
            amount: 2,
        });
        records.push(r);
    }
    ops.push(WriteOp::Hold(Box::new(held("bulk", 1, HeldKind::Mo))));
    write(&*store, ops).await;

    let range = (t, t + count);
    let got = by_account(&*store, "bulk", range, 1_000).await;
    assert_eq!(got.len(), count as usize);
    assert_eq!(got, in_scan_order(records));
    assert_eq!(all_pending(&*store, 11, 1_000).await.len(), count as usize);
    assert_eq!(store.charged(99).await.unwrap(), (count, 2 * count as i64));
    assert_eq!(
        store
            .messages_by_client_ref("bulk", "batch-3", 1_000)
            .await
            .unwrap()
            .len(),
        (count / 10) as usize
    );
    assert_eq!(store.held("bulk", 10).await.unwrap().len(), 1);
}

// ----------------------------------------------------------------------------- idempotency

/// A day from now: a live idempotency record.
fn in_a_day() -> u64 {
    tern_model::now_ms() + DAY_MS
}

fn put_idempotent(account: &str, key: &str, value: &[u8], expires_ms: u64) -> WriteOp {
    WriteOp::PutIdempotent {
        account: account.into(),
        key: key.into(),
        value: value.to_vec(),
        expires_ms,
    }
}

fn remove_idempotent(account: &str, key: &str) -> WriteOp {
    WriteOp::RemoveIdempotent {
        account: account.into(),
        key: key.into(),
    }
}

async fn claim(
    store: &dyn MessageStore,
    account: &str,
    key: &str,
    value: &[u8],
    expires_ms: u64,
) -> Claim {
    tokio::time::timeout(
        Duration::from_secs(60),
        store.claim_idempotent(account, key, value.to_vec(), expires_ms),
    )
    .await
    .unwrap_or_else(|_| panic!("a claim of {key:?} within 60 s"))
    .unwrap_or_else(|e| panic!("a claim of {key:?} failed: {e}"))
}

/// PutIdempotent and RemoveIdempotent: a record is read back byte for byte under its
/// account and key only, a later put replaces it, a remove forgets it (twice is once), and
/// the ops of one batch apply in their order. The longest key and the largest value are
/// kept whole.
pub async fn idempotency_records_are_put_read_replaced_and_removed<B: Backend>(b: &mut B) {
    let store = b.store();
    let until = in_a_day();
    let longest: String = "ü-/:+= ~!\"#".chars().cycle().take(200).collect::<String>();
    let longest = format!(
        "{longest}{}",
        "k".repeat(MAX_IDEMPOTENCY_KEY_BYTES - longest.len())
    );
    assert_eq!(longest.len(), MAX_IDEMPOTENCY_KEY_BYTES);
    let largest: Vec<u8> = (0..MAX_IDEMPOTENT_VALUE_BYTES).map(|i| i as u8).collect();
    write(
        &*store,
        vec![
            put_idempotent("acme", "req-1", b"first", until),
            put_idempotent("acme", &longest, &largest, until),
            put_idempotent("beta", "req-2", b"", until),
        ],
    )
    .await;
    assert_eq!(
        store.idempotent("acme", "req-1").await.unwrap(),
        Some(b"first".to_vec())
    );
    assert_eq!(
        store.idempotent("acme", &longest).await.unwrap(),
        Some(largest)
    );
    assert_eq!(
        store.idempotent("beta", "req-2").await.unwrap(),
        Some(Vec::new())
    );
    assert_eq!(store.idempotent("beta", "req-1").await.unwrap(), None);
    assert_eq!(store.idempotent("acme", "req-2").await.unwrap(), None);
    assert_eq!(store.idempotent("acme", "req-").await.unwrap(), None);
    assert_eq!(store.idempotent("acm", "ereq-1").await.unwrap(), None);

    write(
        &*store,
        vec![put_idempotent("acme", "req-1", b"second", until)],
    )
    .await;
    assert_eq!(
        store.idempotent("acme", "req-1").await.unwrap(),
        Some(b"second".to_vec())
    );
    write(&*store, vec![remove_idempotent("acme", "req-1")]).await;
    write(&*store, vec![remove_idempotent("acme", "req-1")]).await;
    assert_eq!(store.idempotent("acme", "req-1").await.unwrap(), None);
    assert_eq!(
        store.idempotent("beta", "req-2").await.unwrap(),
        Some(Vec::new())
    );

    // In one batch the later op wins, whether it puts or removes.
    write(
        &*store,
        vec![
            put_idempotent("acme", "req-3", b"gone", until),
            remove_idempotent("acme", "req-3"),
            remove_idempotent("acme", "req-4"),
            put_idempotent("acme", "req-4", b"kept", until),
        ],
    )
    .await;
    assert_eq!(store.idempotent("acme", "req-3").await.unwrap(), None);
    assert_eq!(
        store.idempotent("acme", "req-4").await.unwrap(),
        Some(b"kept".to_vec())
    );
}

/// A record reads as absent once the wall clock reaches its `expires_ms`, whether it was
/// written already expired or expired since, and its key can then be claimed again.
pub async fn an_expired_idempotency_record_reads_as_absent_and_is_claimed_again<B: Backend>(
    b: &mut B,
) {
    let store = b.store();
    let now = tern_model::now_ms();
    write(
        &*store,
        vec![
            put_idempotent("acme", "past", b"old", now - 1_000),
            put_idempotent("acme", "soon", b"brief", now + 1_500),
        ],
    )
    .await;
    assert_eq!(store.idempotent("acme", "past").await.unwrap(), None);
    assert_eq!(
        claim(&*store, "acme", "past", b"new", in_a_day()).await,
        Claim::Claimed
    );
    assert_eq!(
        store.idempotent("acme", "past").await.unwrap(),
        Some(b"new".to_vec())
    );
    assert_eq!(
        claim(&*store, "acme", "past", b"other", in_a_day()).await,
        Claim::Exists(b"new".to_vec())
    );

    assert_eq!(
        store.idempotent("acme", "soon").await.unwrap(),
        Some(b"brief".to_vec())
    );
    let left = (now + 1_500).saturating_sub(tern_model::now_ms());
    tokio::time::sleep(Duration::from_millis(left + 100)).await;
    assert_eq!(store.idempotent("acme", "soon").await.unwrap(), None);
    assert_eq!(
        claim(&*store, "acme", "soon", b"again", in_a_day()).await,
        Claim::Claimed
    );
    assert_eq!(
        store.idempotent("acme", "soon").await.unwrap(),
        Some(b"again".to_vec())
    );

    // A claim that is itself already expired takes the key but leaves nothing live.
    assert_eq!(
        claim(&*store, "acme", "stillborn", b"x", now - 1).await,
        Claim::Claimed
    );
    assert_eq!(store.idempotent("acme", "stillborn").await.unwrap(), None);
    assert_eq!(
        claim(&*store, "acme", "stillborn", b"y", in_a_day()).await,
        Claim::Claimed
    );
}

/// claim_idempotent: a free key is claimed and its value read back; a second claim finds
/// the value that holds the key, whether the claim or a later put wrote it, and writes
/// nothing; a removed key is free again. Keys are per account.
pub async fn a_claim_takes_a_free_key_and_then_finds_it_taken<B: Backend>(b: &mut B) {
    let store = b.store();
    let until = in_a_day();
    assert_eq!(
        claim(&*store, "acme", "req-1", b"pending", until).await,
        Claim::Claimed
    );
    assert_eq!(
        store.idempotent("acme", "req-1").await.unwrap(),
        Some(b"pending".to_vec())
    );
    assert_eq!(
        claim(&*store, "acme", "req-1", b"second", until).await,
        Claim::Exists(b"pending".to_vec())
    );
    assert_eq!(
        claim(&*store, "beta", "req-1", b"beta's", until).await,
        Claim::Claimed
    );

    write(
        &*store,
        vec![put_idempotent("acme", "req-1", b"ids 41 42", until)],
    )
    .await;
    assert_eq!(
        claim(&*store, "acme", "req-1", b"third", until).await,
        Claim::Exists(b"ids 41 42".to_vec())
    );
    assert_eq!(
        store.idempotent("acme", "req-1").await.unwrap(),
        Some(b"ids 41 42".to_vec())
    );

    write(&*store, vec![remove_idempotent("acme", "req-1")]).await;
    assert_eq!(store.idempotent("acme", "req-1").await.unwrap(), None);
    assert_eq!(
        claim(&*store, "acme", "req-1", b"retry", until).await,
        Claim::Claimed
    );
    assert_eq!(
        store.idempotent("acme", "req-1").await.unwrap(),
        Some(b"retry".to_vec())
    );
    assert_eq!(
        store.idempotent("beta", "req-1").await.unwrap(),
        Some(b"beta's".to_vec())
    );
}

/// Claims of one key at once (16 tasks, several keys in turn, some of them over a record
/// that has expired): exactly one is Claimed, every other finds the winner's value, and
/// the winner's value is what is stored.
pub async fn concurrent_claims_of_one_key_give_exactly_one_claimed<B: Backend>(b: &mut B) {
    let tasks = 16usize;
    let now = tern_model::now_ms();
    let expired: Vec<WriteOp> = (0..3)
        .map(|k| put_idempotent("acme", &format!("race-{k}"), b"expired", now - 1))
        .collect();
    write(&*b.store(), expired).await;
    for k in 0..6 {
        let key = format!("race-{k}");
        let start = Arc::new(tokio::sync::Barrier::new(tasks));
        let mut handles = Vec::new();
        for t in 0..tasks {
            let store = b.store();
            let key = key.clone();
            let start = start.clone();
            handles.push(tokio::spawn(async move {
                let value = format!("task {t}").into_bytes();
                start.wait().await;
                let claim = claim(&*store, "acme", &key, &value, in_a_day()).await;
                (value, claim)
            }));
        }
        let mut winners = Vec::new();
        let mut found = BTreeSet::new();
        for handle in handles {
            match handle.await.expect("a claiming task") {
                (value, Claim::Claimed) => winners.push(value),
                (_, Claim::Exists(value)) => {
                    found.insert(value);
                }
            }
        }
        assert_eq!(
            winners.len(),
            1,
            "{key}: {} claims succeeded",
            winners.len()
        );
        let winner = winners.pop().unwrap();
        assert!(
            found.iter().all(|v| *v == winner),
            "{key}: the losers found {found:?}, the winner wrote {winner:?}"
        );
        assert_eq!(found.len(), 1, "{key}: no loser");
        assert_eq!(
            b.store().idempotent("acme", &key).await.unwrap(),
            Some(winner)
        );
    }
}

/// A claimed record and a put one are durable: after the store is closed and opened
/// again they are read as before and the claimed key is still taken.
pub async fn idempotency_records_survive_a_reopen<B: Backend>(b: &mut B) {
    let until = in_a_day();
    {
        let store = b.store();
        assert_eq!(
            claim(&*store, "acme", "claimed", b"pending", until).await,
            Claim::Claimed
        );
        write(
            &*store,
            vec![put_idempotent("acme", "put", b"ids 7", until)],
        )
        .await;
    }
    b.reopen().await;
    let store = b.store();
    assert_eq!(
        store.idempotent("acme", "claimed").await.unwrap(),
        Some(b"pending".to_vec())
    );
    assert_eq!(
        store.idempotent("acme", "put").await.unwrap(),
        Some(b"ids 7".to_vec())
    );
    assert_eq!(
        claim(&*store, "acme", "claimed", b"again", until).await,
        Claim::Exists(b"pending".to_vec())
    );
}

/// Keys longer than 255 bytes or with a NUL byte, accounts with one, empty names and
/// values over 64 KiB are refused with `Invalid` by writes, claims and reads alike, and a
/// refused batch stores nothing of its valid ops either.
pub async fn invalid_idempotency_keys_and_values_are_refused<B: Backend>(b: &mut B) {
    let store = b.store();
    let until = in_a_day();
    let long = "k".repeat(MAX_IDEMPOTENCY_KEY_BYTES + 1);
    let large = vec![1u8; MAX_IDEMPOTENT_VALUE_BYTES + 1];
    let bad: [(&str, &str, &[u8]); 6] = [
        ("acme", &long, b"v"),
        ("acme", "a\0b", b"v"),
        ("ac\0me", "k", b"v"),
        ("", "k", b"v"),
        ("acme", "", b"v"),
        ("acme", "k", &large),
    ];
    for (account, key, value) in bad {
        let what = format!("account {account:?}, key of {} bytes", key.len());
        let calls = Arc::new(AtomicUsize::new(0));
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let ops = vec![
            put_idempotent("acme", "good", b"v", until),
            put_idempotent(account, key, value, until),
        ];
        match store.write(ops, counting(calls.clone(), tx)) {
            Err(StoreError::Invalid(_)) => {}
            other => panic!("{what}: a put answered {other:?}"),
        }
        assert!(
            rx.recv().await.is_none(),
            "{what}: a refused batch completed"
        );
        match store
            .claim_idempotent(account, key, value.to_vec(), until)
            .await
        {
            Err(StoreError::Invalid(_)) => {}
            other => panic!("{what}: a claim answered {other:?}"),
        }
        if value.len() <= MAX_IDEMPOTENT_VALUE_BYTES {
            match store.write(
                vec![remove_idempotent(account, key)],
                Box::new(|_| panic!("a refused remove completed")),
            ) {
                Err(StoreError::Invalid(_)) => {}
                other => panic!("{what}: a remove answered {other:?}"),
            }
            match store.idempotent(account, key).await {
                Err(StoreError::Invalid(_)) => {}
                other => panic!("{what}: a read answered {other:?}"),
            }
        }
        assert_eq!(calls.load(Ordering::SeqCst), 0);
    }
    assert_eq!(store.idempotent("acme", "good").await.unwrap(), None);
    // The store still works.
    assert_eq!(
        claim(&*store, "acme", "good", b"v", until).await,
        Claim::Claimed
    );
}
