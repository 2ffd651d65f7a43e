//! A caller's batch turned into CQL rows on the caller's thread: values encoded (the same
//! postcard bytes the embedded store writes), partitions named for grouping, and every
//! operation stamped with its write timestamp, so that the writer task only groups and
//! sends.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use scylla::value::CqlValue;
use serde::Serialize;
use tern_model::MessageId;

use super::statements::Write;
use crate::{MessageRecord, RecordState, StoreError, WriteOp};

/// Width of a pending bucket: entries are bucketed by their id's time.
pub(super) const BUCKET_MS: u64 = 10 * 60 * 1000;
pub(super) const DAY_MS: u64 = 86_400_000;

/// Microseconds since the Unix epoch, the unit of CQL write timestamps.
pub(super) fn now_micros() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX))
}

/// The last write timestamp handed out by this process.
static LAST_TIMESTAMP: AtomicU64 = AtomicU64::new(0);

/// `n` write timestamps, strictly increasing across the process: the first is
/// `max(now, last + 1)`, one microsecond apart. Two operations of this process never share
/// a timestamp, so the later one always wins, whatever order the database applies them in.
pub(super) fn timestamps(n: u64) -> u64 {
    let now = now_micros();
    let mut first = 0;
    let _ = LAST_TIMESTAMP.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |last| {
        first = now.max(last + 1);
        Some(first + n.max(1) - 1)
    });
    first
}

/// The table of a row and the bytes of its partition key: rows with equal partitions go
/// to the same replicas and are sent together.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(super) struct Partition {
    pub(super) table: Table,
    pub(super) key: Vec<u8>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(super) enum Table {
    Messages,
    Pending,
    PendingBuckets,
    Receipts,
    Held,
    HeldAccounts,
    Meta,
    Charges,
    CdrByAccount,
    CdrByLink,
    ClientRefs,
    Idempotency,
}

/// One statement to send.
#[derive(Debug, Clone)]
pub(super) struct Row {
    pub(super) write: Write,
    pub(super) partition: Partition,
    /// For marker rows (a bucket or an account that has entries): their clustering key.
    /// Equal markers of one round are sent once, with the highest timestamp.
    pub(super) marker: Option<Vec<u8>>,
    pub(super) timestamp: i64,
    pub(super) values: Vec<CqlValue>,
    /// Roughly what the row weighs in a batch: its values and keys.
    pub(super) bytes: usize,
}

/// A batch of operations turned into rows, stamped with their timestamps when it was
/// made. Sending it again (see [`super::CqlStore::submit`]) writes the same cells at the
/// same timestamps.
#[derive(Debug, Clone)]
pub struct PreparedWrite {
    pub(super) rows: Vec<Row>,
    pub(super) ops: usize,
    /// The first timestamp of the batch, in microseconds: the writer refuses to send a
    /// batch older than [`super::writer::MAX_WRITE_AGE`].
    pub(super) stamped_us: u64,
}

impl PreparedWrite {
    /// Operations in the batch.
    pub fn ops(&self) -> usize {
        self.ops
    }
}

/// TTLs the operations need.
#[derive(Debug, Clone, Copy)]
pub(super) struct Ttls {
    pub(super) receipt: i32,
    /// 0: kept.
    pub(super) cdr: i32,
}

pub(super) fn prepare(ops: Vec<WriteOp>, ttls: Ttls) -> Result<PreparedWrite, StoreError> {
    let count = ops.len();
    let first = timestamps(count as u64);
    let now_ms = first / 1000;
    let mut rows = Vec::with_capacity(count * 2);
    for (n, op) in ops.into_iter().enumerate() {
        let ts = as_timestamp(first + n as u64);
        push(&mut rows, op, ts, now_ms, ttls)?;
    }
    Ok(PreparedWrite {
        rows,
        ops: count,
        stamped_us: first,
    })
}

/// Ids, keys and leases are u64; CQL has i64. The bits are kept: ids stay below 2^63
/// until 2093 (42 bits of milliseconds since 2024, shifted by 22), so their order as
/// bigint is their order.
pub(super) fn big(v: u64) -> CqlValue {
    CqlValue::BigInt(v as i64)
}

fn small(part: u8) -> CqlValue {
    CqlValue::SmallInt(i16::from(part))
}

fn int(v: u16) -> CqlValue {
    CqlValue::Int(i32::from(v))
}

fn text(s: &str) -> CqlValue {
    CqlValue::Text(s.to_owned())
}

fn as_timestamp(us: u64) -> i64 {
    i64::try_from(us).unwrap_or(i64::MAX)
}

pub(super) fn bucket(id: MessageId) -> u64 {
    id.unix_millis() / BUCKET_MS
}

pub(super) fn day(ms: u64) -> i32 {
    i32::try_from(ms / DAY_MS).unwrap_or(i32::MAX)
}

/// Partition key bytes: each part length-prefixed, so that ("ab", "c") ≠ ("a", "bc").
fn key(parts: &[&[u8]]) -> Vec<u8> {
    let mut out = Vec::with_capacity(parts.iter().map(|p| p.len() + 4).sum());
    for part in parts {
        out.extend_from_slice(&(part.len() as u32).to_be_bytes());
        out.extend_from_slice(part);
    }
    out
}

fn row(write: Write, table: Table, key: Vec<u8>, ts: i64, values: Vec<CqlValue>) -> Row {
    let bytes = 16 + values.iter().map(value_bytes).sum::<usize>();
    Row {
        write,
        partition: Partition { table, key },
        marker: None,
        timestamp: ts,
        values,
        bytes,
    }
}

fn value_bytes(value: &CqlValue) -> usize {
    match value {
        CqlValue::Blob(b) => b.len() + 4,
        CqlValue::Text(s) => s.len() + 4,
        _ => 8,
    }
}

fn push(
    rows: &mut Vec<Row>,
    op: WriteOp,
    ts: i64,
    now_ms: u64,
    ttls: Ttls,
) -> Result<(), StoreError> {
    let tsv = CqlValue::BigInt(ts);
    let cdr_ttl = CqlValue::Int(ttls.cdr);
    match op {
        WriteOp::PutMessage(record) => put_message(rows, &record, ts, ttls.cdr)?,
        WriteOp::MarkSubmitted(submission) => {
            let id = submission.id;
            let part = submission.part;
            rows.push(row(
                Write::Submission,
                Table::Messages,
                key(&[&id.0.to_be_bytes()]),
                ts,
                vec![
                    cdr_ttl,
                    tsv,
                    CqlValue::Blob(encode("submission", &submission)?),
                    big(id.0),
                    small(part),
                ],
            ));
        }
        WriteOp::AddPending(entry) => {
            let bucket = bucket(entry.id);
            let partition = key(&[&entry.shard.to_be_bytes(), &bucket.to_be_bytes()]);
            rows.push(row(
                Write::Pending,
                Table::Pending,
                partition,
                ts,
                vec![
                    int(entry.shard),
                    big(bucket),
                    big(entry.id.0),
                    small(entry.part),
                    CqlValue::Blob(encode("pending entry", &entry)?),
                    tsv.clone(),
                ],
            ));
            let mut marker = row(
                Write::PendingBucket,
                Table::PendingBuckets,
                key(&[&entry.shard.to_be_bytes()]),
                ts,
                vec![int(entry.shard), big(bucket), tsv],
            );
            marker.marker = Some(bucket.to_be_bytes().to_vec());
            rows.push(marker);
        }
        WriteOp::RemovePending { shard, id, part } => {
            let bucket = bucket(id);
            rows.push(row(
                Write::PendingDelete,
                Table::Pending,
                key(&[&shard.to_be_bytes(), &bucket.to_be_bytes()]),
                ts,
                vec![tsv, int(shard), big(bucket), big(id.0), small(part)],
            ));
        }
        WriteOp::IndexReceipt {
            link,
            operator_id,
            id,
            part,
        } => rows.push(row(
            Write::Receipt,
            Table::Receipts,
            key(&[link.as_bytes(), operator_id.as_bytes()]),
            ts,
            vec![
                CqlValue::Text(link),
                CqlValue::Text(operator_id),
                big(id.0),
                small(part),
                CqlValue::Int(ttls.receipt),
                tsv,
            ],
        )),
        WriteOp::RemoveReceiptIndex { link, operator_id } => rows.push(row(
            Write::ReceiptDelete,
            Table::Receipts,
            key(&[link.as_bytes(), operator_id.as_bytes()]),
            ts,
            vec![tsv, CqlValue::Text(link), CqlValue::Text(operator_id)],
        )),
        WriteOp::Hold(delivery) => hold(rows, &delivery, ts, now_ms)?,
        WriteOp::Release { account, key: held } => rows.push(row(
            Write::HeldDelete,
            Table::Held,
            key(&[account.as_bytes()]),
            ts,
            vec![tsv, CqlValue::Text(account), big(held)],
        )),
        WriteOp::PutMeta { key: name, value } => rows.push(row(
            Write::Meta,
            Table::Meta,
            key(&[name.as_bytes()]),
            ts,
            vec![CqlValue::Text(name), CqlValue::Blob(value), tsv],
        )),
        WriteOp::Charge {
            lease,
            id,
            parts,
            amount,
        } => rows.push(row(
            Write::Charge,
            Table::Charges,
            key(&[&lease.to_be_bytes()]),
            ts,
            vec![
                big(lease),
                big(id.0),
                big(parts),
                CqlValue::BigInt(amount),
                tsv,
            ],
        )),
        WriteOp::ForgetCharges { lease } => rows.push(row(
            Write::ChargesDelete,
            Table::Charges,
            key(&[&lease.to_be_bytes()]),
            ts,
            vec![tsv, big(lease)],
        )),
        WriteOp::PutIdempotent {
            account,
            key: name,
            value,
            expires_ms,
        } => rows.push(row(
            Write::Idempotent,
            Table::Idempotency,
            key(&[account.as_bytes(), name.as_bytes()]),
            ts,
            vec![
                CqlValue::Text(account),
                CqlValue::Text(name),
                CqlValue::Blob(value),
                CqlValue::BigInt(as_millis(expires_ms)),
                CqlValue::Int(ttl_until(expires_ms, now_ms)),
                tsv,
            ],
        )),
        WriteOp::RemoveIdempotent { account, key: name } => rows.push(row(
            Write::IdempotentDelete,
            Table::Idempotency,
            key(&[account.as_bytes(), name.as_bytes()]),
            ts,
            vec![tsv, CqlValue::Text(account), CqlValue::Text(name)],
        )),
    }
    Ok(())
}

/// The record, and its rows in the CDR indexes. The by-account row carries a copy of the
/// record (a scan reads it without a second lookup); the by-link row only names the part,
/// since a scan has to read the current record anyway (the part may have moved to
/// another link since).
fn put_message(
    rows: &mut Vec<Row>,
    record: &MessageRecord,
    ts: i64,
    cdr_ttl: i32,
) -> Result<(), StoreError> {
    let bytes = encode("message record", record)?;
    let (id, part) = (record.id, record.part);
    let tsv = CqlValue::BigInt(ts);
    let ttl = CqlValue::Int(cdr_ttl);
    let write = if record.state == RecordState::Accepted {
        Write::MessageAccepted
    } else {
        Write::MessageLater
    };
    let day = day(record.accepted_ms);
    let accepted_ms = CqlValue::BigInt(record.accepted_ms as i64);
    rows.push(row(
        Write::CdrByAccount,
        Table::CdrByAccount,
        key(&[record.account.as_bytes(), &day.to_be_bytes()]),
        ts,
        vec![
            text(&record.account),
            CqlValue::Int(day),
            accepted_ms.clone(),
            big(id.0),
            small(part),
            CqlValue::Blob(bytes.clone()),
            ttl.clone(),
            tsv.clone(),
        ],
    ));
    if let Some(link) = &record.link {
        rows.push(row(
            Write::CdrByLink,
            Table::CdrByLink,
            key(&[link.as_bytes(), &day.to_be_bytes()]),
            ts,
            vec![
                text(link),
                CqlValue::Int(day),
                accepted_ms,
                big(id.0),
                small(part),
                ttl.clone(),
                tsv.clone(),
            ],
        ));
    }
    if let Some(client_ref) = &record.client_ref {
        rows.push(row(
            Write::ClientRef,
            Table::ClientRefs,
            key(&[record.account.as_bytes(), client_ref.as_bytes()]),
            ts,
            vec![
                text(&record.account),
                text(client_ref),
                big(id.0),
                ttl.clone(),
                tsv.clone(),
            ],
        ));
    }
    rows.push(row(
        write,
        Table::Messages,
        key(&[&id.0.to_be_bytes()]),
        ts,
        vec![big(id.0), small(part), CqlValue::Blob(bytes), ttl, tsv],
    ));
    Ok(())
}

/// The delivery, with a TTL that ends when it expires, and the account's marker. The
/// marker's timestamp is the expiry itself, not the clock: of all the markers written for
/// an account the one that expires last wins, so the account stays listed as long as any
/// of its deliveries lives. Markers are never deleted, so a timestamp in the future takes
/// nothing from anyone.
fn hold(
    rows: &mut Vec<Row>,
    delivery: &crate::HeldDelivery,
    ts: i64,
    now_ms: u64,
) -> Result<(), StoreError> {
    let ttl = ttl_until(delivery.expires_ms, now_ms);
    rows.push(row(
        Write::Held,
        Table::Held,
        key(&[delivery.account.as_bytes()]),
        ts,
        vec![
            text(&delivery.account),
            big(delivery.key),
            CqlValue::Blob(encode("held delivery", delivery)?),
            CqlValue::Int(ttl),
            CqlValue::BigInt(ts),
        ],
    ));
    let expiry_us = as_timestamp(delivery.expires_ms.saturating_mul(1000)).max(ts);
    let mut marker = row(
        Write::HeldAccount,
        Table::HeldAccounts,
        key(&[]),
        expiry_us,
        vec![
            text(&delivery.account),
            CqlValue::Int(ttl),
            CqlValue::BigInt(expiry_us),
        ],
    );
    marker.marker = Some(delivery.account.as_bytes().to_vec());
    rows.push(marker);
    Ok(())
}

/// Seconds until `expires_ms`, at least 1 (a TTL of 0 would keep the row for ever) and at
/// most the database's largest TTL.
pub(super) fn ttl_until(expires_ms: u64, now_ms: u64) -> i32 {
    let secs = expires_ms.saturating_sub(now_ms).div_ceil(1000);
    i32::try_from(secs.clamp(1, super::config::MAX_TTL_SECS)).unwrap_or(i32::MAX)
}

/// A time in milliseconds as a `bigint`; times past 2^63 ms (never, in practice) are cut
/// to the largest.
pub(super) fn as_millis(ms: u64) -> i64 {
    i64::try_from(ms).unwrap_or(i64::MAX)
}

fn encode<T: Serialize + ?Sized>(what: &str, value: &T) -> Result<Vec<u8>, StoreError> {
    postcard::to_stdvec(value)
        .map_err(|e| StoreError::Invalid(format!("cannot encode a {what}: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_increase_strictly_and_reserve_one_per_op() {
        let a = timestamps(3);
        let b = timestamps(1);
        let c = timestamps(0);
        assert!(b >= a + 3, "{a} {b}");
        assert!(c > b);
        let now = now_micros();
        assert!(a <= now + 1_000 && a + 60_000_000 > now);
    }

    #[test]
    fn partition_keys_do_not_run_together() {
        assert_ne!(key(&[b"ab", b"c"]), key(&[b"a", b"bc"]));
        assert_eq!(key(&[b"a"]), key(&[b"a"]));
    }

    #[test]
    fn ids_keep_their_order_as_bigint_until_2093() {
        let late = MessageId::from_parts((1 << 41) - 1, 1023, 4095);
        // 2093-09-07
        assert!(late.unix_millis() > 3_903_000_000_000);
        assert!(late.0 as i64 > 0);
        assert!((MessageId::from_parts(1, 0, 0).0 as i64) < late.0 as i64);
    }

    #[test]
    fn ttls_end_at_expiry_and_never_mean_forever() {
        assert_eq!(ttl_until(10_000, 1_000), 9);
        assert_eq!(ttl_until(10_001, 1_000), 10);
        assert_eq!(ttl_until(5, 1_000), 1);
        assert_eq!(
            ttl_until(u64::MAX, 1_000) as u64,
            super::super::config::MAX_TTL_SECS
        );
    }

    #[test]
    fn buckets_and_days_follow_the_id_and_acceptance_time() {
        let t = MessageId::EPOCH_UNIX_MS + 3 * BUCKET_MS + 5;
        let id = MessageId::from_parts(t - MessageId::EPOCH_UNIX_MS, 1, 1);
        assert_eq!(bucket(id), t / BUCKET_MS);
        assert_eq!(day(DAY_MS * 20_000 + 1), 20_000);
    }
}
