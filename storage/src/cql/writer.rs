//! The group-commit writer: one task takes every write queued since its last round,
//! groups the rows by partition, packs the groups into unlogged batches of at most
//! `max_batch_bytes` (the rows of one partition together, unless they alone exceed it),
//! sends the round's batches concurrently and reports to each write call, in the order the
//! calls were made, once every batch holding its rows is acknowledged.
//!
//! A batch that fails or times out may or may not have been applied: every call with rows
//! in it gets `Unavailable`. Nothing is retried here: the driver already retried what
//! its policy allows, and the caller decides what a write it cannot count on means.

use std::collections::HashMap;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use scylla::client::session::Session;
use scylla::errors::{DbError, ExecutionError, RequestAttemptError};
use scylla::statement::batch::{Batch, BatchType};
use scylla::value::CqlValue;
use tokio::sync::mpsc::Receiver;
use tokio::time::Instant;

use super::encode::{now_micros, Partition, PreparedWrite, Row};
use super::statements::Statements;
use super::Requests;
use crate::{Completion, StoreError};

/// The longest a write may wait between getting its timestamps and being sent; older ones
/// are failed unsent. With the request timeout (at most 15 s) this bounds how late an
/// acknowledged write can land after its timestamp, which the pending-bucket clean-up
/// counts on (see the module doc of `cql`).
pub(super) const MAX_WRITE_AGE: Duration = Duration::from_secs(15);

/// One queued write call.
pub(super) struct Job {
    pub(super) write: PreparedWrite,
    pub(super) done: Completion,
}

/// What the writer has done, shared with the store.
#[derive(Debug, Default)]
pub(super) struct Counters {
    pub(super) rounds: AtomicU64,
    pub(super) batches: AtomicU64,
    pub(super) ops: AtomicU64,
    pub(super) writes: AtomicU64,
    pub(super) failed_writes: AtomicU64,
}

pub(super) struct Writer {
    pub(super) session: Arc<Session>,
    pub(super) statements: Arc<Statements>,
    pub(super) queue: Receiver<Job>,
    pub(super) max_batch_bytes: usize,
    pub(super) max_in_flight_batches: usize,
    pub(super) counters: Arc<Counters>,
    pub(super) requests: Arc<Requests>,
}

/// A write call of the round being sent.
struct Call {
    done: Option<Completion>,
    /// Batches holding its rows not acknowledged yet.
    waiting: usize,
    error: Option<String>,
    /// Completed with an error.
    failed: bool,
}

/// Rows of one partition, or one batch, and the calls they belong to.
#[derive(Default)]
struct Rows {
    rows: Vec<Row>,
    bytes: usize,
    /// Indexes into the round's calls, ascending, each once.
    calls: Vec<usize>,
}

impl Rows {
    fn add_call(&mut self, call: usize) {
        if self.calls.last() != Some(&call) {
            self.calls.push(call);
        }
    }

    fn push(&mut self, row: Row, call: usize) {
        self.bytes += row.bytes;
        self.rows.push(row);
        self.add_call(call);
    }

    fn append(&mut self, other: Rows) {
        self.bytes += other.bytes;
        self.rows.extend(other.rows);
        for call in other.calls {
            if !self.calls.contains(&call) {
                self.calls.push(call);
            }
        }
    }
}

impl Writer {
    /// Runs until every sender is gone and the queue is empty.
    pub(super) async fn run(mut self) {
        // A round takes about one wave of full batches: more would only wait in the round.
        let budget = self
            .max_batch_bytes
            .saturating_mul(self.max_in_flight_batches);
        while let Some(first) = self.queue.recv().await {
            let mut bytes = first.write.rows.iter().map(|r| r.bytes).sum::<usize>();
            let mut jobs = vec![first];
            while bytes < budget {
                match self.queue.try_recv() {
                    Ok(job) => {
                        bytes += job.write.rows.iter().map(|r| r.bytes).sum::<usize>();
                        jobs.push(job);
                    }
                    Err(_) => break,
                }
            }
            metrics::gauge!("tern_store_queued_writes").set(self.queue.len() as f64);
            self.round(jobs).await;
        }
        tracing::debug!("CQL store writer stopped");
    }

    async fn round(&self, jobs: Vec<Job>) {
        let started = Instant::now();
        let ops: usize = jobs.iter().map(|j| j.write.ops).sum();
        let (mut calls, groups) = group(jobs, now_micros());
        let batches = pack(groups, self.max_batch_bytes);
        for batch in &batches {
            for &call in &batch.calls {
                calls[call].waiting += 1;
            }
        }
        let batch_count = batches.len();
        let mut failed_batches = 0usize;
        let mut next = 0;
        let mut sent = futures::stream::iter(batches.into_iter().map(|batch| {
            let calls = batch.calls;
            let send = self.send(batch.rows);
            async move { (calls, send.await) }
        }))
        .buffer_unordered(self.max_in_flight_batches);
        while let Some((batch_calls, result)) = sent.next().await {
            if let Err(e) = &result {
                failed_batches += 1;
                let kind = error_kind(e);
                metrics::counter!("tern_store_cql_batch_errors_total", "kind" => kind).increment(1);
                tracing::warn!(error = %e, kind, "a CQL write batch was not confirmed");
            }
            for call in batch_calls {
                let call = &mut calls[call];
                call.waiting -= 1;
                if let Err(e) = &result {
                    call.error.get_or_insert_with(|| e.to_string());
                }
            }
            next = complete_ready(&mut calls, next, &self.counters);
        }
        drop(sent);
        complete_ready(&mut calls, next, &self.counters);

        let failed_calls = calls.iter().filter(|c| c.failed).count();
        let c = &self.counters;
        c.rounds.fetch_add(1, Ordering::Relaxed);
        c.batches.fetch_add(batch_count as u64, Ordering::Relaxed);
        c.ops.fetch_add(ops as u64, Ordering::Relaxed);
        metrics::histogram!("tern_store_fsync_batch_ops").record(ops as f64);
        metrics::histogram!("tern_store_fsync_batch_writes").record(calls.len() as f64);
        metrics::histogram!("tern_store_cql_round_batches").record(batch_count as f64);
        metrics::histogram!("tern_store_commit_latency_seconds")
            .record(started.elapsed().as_secs_f64());
        if failed_calls > 0 {
            metrics::counter!("tern_store_write_errors_total").increment(1);
            tracing::error!(
                failed_batches,
                batches = batch_count,
                failed_writes = failed_calls,
                "CQL write round: writes not confirmed"
            );
        }
    }

    /// Sends one batch: a lone row as a plain statement, more as an unlogged batch.
    async fn send(&self, rows: Vec<Row>) -> Result<(), ExecutionError> {
        self.requests.count(1);
        if let [row] = rows.as_slice() {
            let statement = self.statements.write(row.write);
            return self
                .session
                .execute_unpaged(statement, &row.values)
                .await
                .map(|_| ());
        }
        let mut batch = Batch::new(BatchType::Unlogged);
        batch.set_is_idempotent(true);
        let mut values: Vec<Vec<CqlValue>> = Vec::with_capacity(rows.len());
        for row in rows {
            batch.append_statement(self.statements.write(row.write).clone());
            values.push(row.values);
        }
        self.session.batch(&batch, values).await.map(|_| ())
    }
}

/// The round's calls, and its rows grouped by partition in the order partitions first
/// appear. Equal markers collapse into one row with the highest timestamp. A write older
/// than [`MAX_WRITE_AGE`] is not sent: its call fails at once.
fn group(jobs: Vec<Job>, now_us: u64) -> (Vec<Call>, Vec<Rows>) {
    let mut calls = Vec::with_capacity(jobs.len());
    let mut groups: Vec<Rows> = Vec::new();
    let mut by_partition: HashMap<Partition, usize> = HashMap::new();
    let mut markers: HashMap<(Partition, Vec<u8>), (usize, usize)> = HashMap::new();
    let max_age_us = MAX_WRITE_AGE.as_micros() as u64;
    for (index, job) in jobs.into_iter().enumerate() {
        let age_us = now_us.saturating_sub(job.write.stamped_us);
        let mut call = Call {
            done: Some(job.done),
            waiting: 0,
            error: None,
            failed: false,
        };
        if age_us > max_age_us && !job.write.rows.is_empty() {
            call.error = Some(format!(
                "the write waited {} ms to be sent, longer than {} s: not sent",
                age_us / 1000,
                MAX_WRITE_AGE.as_secs()
            ));
            calls.push(call);
            continue;
        }
        calls.push(call);
        for row in job.write.rows {
            let next_group = groups.len();
            let g = *by_partition
                .entry(row.partition.clone())
                .or_insert(next_group);
            if g == groups.len() {
                groups.push(Rows::default());
            }
            if let Some(marker) = &row.marker {
                let at = (g, groups[g].rows.len());
                let (mg, mr) = *markers
                    .entry((row.partition.clone(), marker.clone()))
                    .or_insert(at);
                if (mg, mr) != at {
                    let kept = &mut groups[mg];
                    if row.timestamp > kept.rows[mr].timestamp {
                        kept.bytes = kept.bytes - kept.rows[mr].bytes + row.bytes;
                        kept.rows[mr] = row;
                    }
                    kept.add_call(index);
                    continue;
                }
            }
            groups[g].push(row, index);
        }
    }
    (calls, groups)
}

/// Packs partition groups into batches of at most `max_bytes`; a group that alone
/// exceeds it is cut into batches of its own.
fn pack(groups: Vec<Rows>, max_bytes: usize) -> Vec<Rows> {
    let mut batches = Vec::new();
    let mut current = Rows::default();
    for group in groups {
        if group.bytes > max_bytes {
            let calls = group.calls;
            let mut chunk = Rows::default();
            for row in group.rows {
                if !chunk.rows.is_empty() && chunk.bytes + row.bytes > max_bytes {
                    chunk.calls.clone_from(&calls);
                    batches.push(std::mem::take(&mut chunk));
                }
                chunk.bytes += row.bytes;
                chunk.rows.push(row);
            }
            chunk.calls = calls;
            batches.push(chunk);
            continue;
        }
        if !current.rows.is_empty() && current.bytes + group.bytes > max_bytes {
            batches.push(std::mem::take(&mut current));
        }
        current.append(group);
    }
    if !current.rows.is_empty() {
        batches.push(current);
    }
    batches
}

/// Completes, in call order, every call from `next` on whose batches are all answered;
/// returns the first call still waiting. A call is counted before its completion runs, so
/// that what the completion's receiver reads of the counters includes it.
fn complete_ready(calls: &mut [Call], mut next: usize, counters: &Counters) -> usize {
    while let Some(call) = calls.get_mut(next) {
        if call.waiting > 0 {
            break;
        }
        counters.writes.fetch_add(1, Ordering::Relaxed);
        let result = match call.error.take() {
            None => Ok(()),
            Some(e) => {
                call.failed = true;
                counters.failed_writes.fetch_add(1, Ordering::Relaxed);
                Err(StoreError::Unavailable(e))
            }
        };
        if let Some(done) = call.done.take() {
            if catch_unwind(AssertUnwindSafe(move || done(result))).is_err() {
                tracing::error!("a store completion panicked");
            }
        }
        next += 1;
    }
    next
}

/// A bounded label for an error: what an operator looks at first.
pub(super) fn error_kind(e: &ExecutionError) -> &'static str {
    match e {
        ExecutionError::RequestTimeout(_) => "timeout",
        ExecutionError::ConnectionPoolError(_) | ExecutionError::EmptyPlan => "connection",
        ExecutionError::LastAttemptError(attempt) => match attempt {
            RequestAttemptError::DbError(db, _) => match db {
                DbError::WriteTimeout { .. } | DbError::ReadTimeout { .. } => "timeout",
                DbError::Unavailable { .. } => "unavailable",
                DbError::Overloaded | DbError::RateLimitReached { .. } => "overloaded",
                DbError::Invalid | DbError::SyntaxError | DbError::Unauthorized => "refused",
                _ => "database",
            },
            RequestAttemptError::BrokenConnectionError(_)
            | RequestAttemptError::UnableToAllocStreamId => "connection",
            _ => "other",
        },
        _ => "other",
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;
    use crate::cql::encode::{Table, Ttls};
    use crate::cql::statements::Write;
    use crate::{PendingEntry, WriteOp};
    use tern_model::MessageId;

    fn row(table: Table, key: u8, bytes: usize) -> Row {
        Row {
            write: Write::Meta,
            partition: Partition {
                table,
                key: vec![key],
            },
            marker: None,
            timestamp: 1,
            values: Vec::new(),
            bytes,
        }
    }

    fn job(rows: Vec<Row>, stamped_us: u64, log: &Arc<Mutex<Vec<(usize, bool)>>>, n: usize) -> Job {
        let log = Arc::clone(log);
        Job {
            write: PreparedWrite {
                ops: rows.len(),
                rows,
                stamped_us,
            },
            done: Box::new(move |r| log.lock().unwrap().push((n, r.is_ok()))),
        }
    }

    #[test]
    fn rows_of_a_partition_are_grouped_across_calls() {
        let log = Arc::default();
        let jobs = vec![
            job(
                vec![row(Table::Meta, 1, 10), row(Table::Held, 1, 10)],
                0,
                &log,
                0,
            ),
            job(
                vec![row(Table::Meta, 1, 10), row(Table::Meta, 2, 10)],
                0,
                &log,
                1,
            ),
        ];
        let (calls, groups) = group(jobs, 0);
        assert_eq!(calls.len(), 2);
        let shape: Vec<(usize, Vec<usize>)> = groups
            .iter()
            .map(|g| (g.rows.len(), g.calls.clone()))
            .collect();
        assert_eq!(shape, [(2, vec![0, 1]), (1, vec![0]), (1, vec![1])]);
    }

    #[test]
    fn equal_markers_are_sent_once_with_the_latest_timestamp() {
        let entry = |id: u64| {
            WriteOp::AddPending(PendingEntry {
                shard: 3,
                id: MessageId(id << 22),
                part: 0,
                due_ms: 0,
                attempts: 0,
            })
        };
        let ttls = Ttls { receipt: 1, cdr: 0 };
        let first = super::super::encode::prepare(vec![entry(1), entry(2)], ttls).unwrap();
        let second = super::super::encode::prepare(vec![entry(3)], ttls).unwrap();
        let latest = second.rows[1].timestamp;
        let jobs = vec![
            Job {
                write: first,
                done: Box::new(|_| {}),
            },
            Job {
                write: second,
                done: Box::new(|_| {}),
            },
        ];
        let (_, groups) = group(jobs, now_micros());
        let markers: Vec<&Rows> = groups
            .iter()
            .filter(|g| g.rows.iter().any(|r| r.marker.is_some()))
            .collect();
        assert_eq!(markers.len(), 1);
        assert_eq!(markers[0].rows.len(), 1);
        assert_eq!(markers[0].rows[0].timestamp, latest);
        assert_eq!(markers[0].calls, [0, 1]);
    }

    #[test]
    fn batches_keep_partitions_together_and_cut_only_oversized_ones() {
        let log = Arc::default();
        let mut rows: Vec<Row> = (0..3).map(|_| row(Table::Meta, 1, 400)).collect();
        rows.extend((0..10).map(|_| row(Table::Held, 2, 300)));
        rows.push(row(Table::Charges, 3, 500));
        let (_, groups) = group(vec![job(rows, 0, &log, 0)], 0);
        let batches = pack(groups, 1_000);
        let sizes: Vec<(usize, usize)> = batches.iter().map(|b| (b.rows.len(), b.bytes)).collect();
        // 1200 bytes of one partition (cut at 1000), then 3000 (cut in 3s), then 500 alone.
        assert_eq!(
            sizes,
            [
                (2, 800),
                (1, 400),
                (3, 900),
                (3, 900),
                (3, 900),
                (1, 300),
                (1, 500)
            ]
        );
        assert!(batches.iter().all(|b| b.calls == [0]));
    }

    #[test]
    fn small_partitions_share_a_batch() {
        let log = Arc::default();
        let rows = (0..6).map(|k| row(Table::Meta, k, 300)).collect();
        let (_, groups) = group(vec![job(rows, 0, &log, 0)], 0);
        let sizes: Vec<usize> = pack(groups, 1_000).iter().map(|b| b.rows.len()).collect();
        assert_eq!(sizes, [3, 3]);
    }

    #[test]
    fn completions_run_in_call_order_once_all_their_batches_are_answered() {
        let log: Arc<Mutex<Vec<(usize, bool)>>> = Arc::default();
        let mut calls: Vec<Call> = (0..3)
            .map(|n| {
                let log = Arc::clone(&log);
                Call {
                    done: Some(Box::new(move |r: Result<(), StoreError>| {
                        log.lock().unwrap().push((n, r.is_ok()))
                    })),
                    waiting: 1,
                    error: None,
                    failed: false,
                }
            })
            .collect();
        calls[2].waiting = 0;
        calls[1].waiting = 0;
        calls[1].error = Some("timed out".into());
        let counters = Counters::default();
        assert_eq!(complete_ready(&mut calls, 0, &counters), 0);
        assert!(log.lock().unwrap().is_empty());
        calls[0].waiting = 0;
        assert_eq!(complete_ready(&mut calls, 0, &counters), 3);
        assert_eq!(*log.lock().unwrap(), [(0, true), (1, false), (2, true)]);
        assert_eq!(counters.writes.load(Ordering::Relaxed), 3);
        assert_eq!(counters.failed_writes.load(Ordering::Relaxed), 1);
    }

    #[test]
    fn a_write_queued_too_long_fails_unsent_and_an_empty_one_does_not() {
        let log = Arc::default();
        let old = MAX_WRITE_AGE.as_micros() as u64 + 1;
        let jobs = vec![
            job(vec![row(Table::Meta, 1, 10)], 0, &log, 0),
            job(Vec::new(), 0, &log, 1),
        ];
        let (mut calls, groups) = group(jobs, old);
        assert!(groups.is_empty());
        assert_eq!(complete_ready(&mut calls, 0, &Counters::default()), 2);
        assert_eq!(*log.lock().unwrap(), [(0, false), (1, true)]);
    }
}
