//! The raw rate of a CQL database (ScyllaDB, Cassandra): prepared single-row INSERTs from
//! the same driver the CQL store uses, N in flight at once, into a table of one partition a
//! row. It is the database's own ceiling on this machine, the denominator of a node's rate
//! on the CQL store, as `raw` is for the SMPP path.
//!
//! The table is deliberately simpler than the store's (one row, no index, no batch): what a
//! node gets below this figure is what its schema, batching and round trips cost.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use hdrhistogram::Histogram;
use rand::rngs::SmallRng;
use rand::{RngCore as _, SeedableRng as _};
use scylla::client::session::Session;
use scylla::client::session_builder::SessionBuilder;
use scylla::statement::prepared::PreparedStatement;
use scylla::statement::Consistency;
use serde::Serialize;
use tokio::time::Instant;

use crate::load::Latency;
use crate::process::{CpuMark, ProcessUsage};

/// Latencies are recorded in microseconds up to a minute (a request times out well before).
const HISTOGRAM_MAX_MICROS: u64 = 60_000_000;
/// Cassandra's and ScyllaDB's longest keyspace or table name.
const MAX_NAME_LEN: usize = 48;
/// Requests in flight at most: more only queues in the driver.
const MAX_CONCURRENCY: usize = 4_096;
/// A record at most (the largest a message record could reasonably be).
const MAX_RECORD_BYTES: usize = 64 * 1024;

/// One run of single-row INSERTs.
#[derive(Debug, Clone, Serialize)]
pub struct CqlRawConfig {
    /// Nodes to reach the cluster through, `host:port`.
    pub contact_points: Vec<String>,
    pub keyspace: String,
    pub table: String,
    /// Create the keyspace (SimpleStrategy, one replica) when it is missing.
    pub create_keyspace: bool,
    /// Drop the keyspace at the end, whatever the run's outcome.
    pub drop_keyspace: bool,
    /// INSERTs in flight at once.
    pub concurrency: usize,
    /// Rows to insert; the run also ends at `duration`.
    pub count: u64,
    pub duration: Duration,
    /// Bytes of the `record` blob of each row.
    pub record_bytes: usize,
    /// Consistency of every INSERT: `quorum` like the store, or `one`.
    #[serde(serialize_with = "consistency_name")]
    pub consistency: Consistency,
    /// The longest one INSERT may take before it counts as failed.
    pub request_timeout: Duration,
    pub seed: u64,
    /// Processes of the database whose CPU and memory to report (when it runs here).
    pub pids: Vec<u32>,
    /// A line a second on stderr.
    pub progress: bool,
}

fn consistency_name<S: serde::Serializer>(c: &Consistency, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&format!("{c:?}").to_ascii_lowercase())
}

/// What a run did.
#[derive(Debug, Clone, Serialize)]
pub struct CqlRawReport {
    pub concurrency: usize,
    /// INSERTs the database confirmed.
    pub rows: u64,
    /// INSERTs that failed or timed out.
    pub errors: u64,
    /// The first failure, as the driver put it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_error: Option<String>,
    pub elapsed_secs: f64,
    pub rows_per_sec: f64,
    /// From sending an INSERT to its confirmation.
    pub insert_latency: Latency,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub process: Option<ProcessUsage>,
}

#[derive(Debug, thiserror::Error)]
pub enum CqlRawError {
    #[error("{field}: {problem}")]
    Config {
        field: &'static str,
        problem: String,
    },
    #[error("cannot connect to {contact_points}: {message}")]
    Connect {
        contact_points: String,
        message: String,
    },
    #[error("{cql}: {message}")]
    Statement { cql: String, message: String },
    #[error("histogram: {0}")]
    Histogram(String),
    #[error("reading /proc: {0}")]
    Process(#[from] std::io::Error),
}

impl CqlRawConfig {
    /// Checks what ends up inside CQL text and what bounds the run.
    pub fn validate(&self) -> Result<(), CqlRawError> {
        let problem = |field, problem: &str| {
            Err(CqlRawError::Config {
                field,
                problem: problem.into(),
            })
        };
        if self.contact_points.is_empty() {
            return problem("contact_points", "at least one host:port");
        }
        if !is_cql_name(&self.keyspace) {
            return problem(
                "keyspace",
                "a lower case letter, then letters, digits, _ (48 at most)",
            );
        }
        if !is_cql_name(&self.table) {
            return problem(
                "table",
                "a lower case letter, then letters, digits, _ (48 at most)",
            );
        }
        if self.concurrency == 0 || self.concurrency > MAX_CONCURRENCY {
            return problem("concurrency", &format!("1 to {MAX_CONCURRENCY}"));
        }
        if self.record_bytes > MAX_RECORD_BYTES {
            return problem("record_bytes", &format!("{MAX_RECORD_BYTES} at most"));
        }
        if self.duration.is_zero() {
            return problem("duration", "longer than 0");
        }
        Ok(())
    }
}

/// A name that can go into CQL text unquoted.
fn is_cql_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some('a'..='z'))
        && name.len() <= MAX_NAME_LEN
        && chars.all(|c| matches!(c, 'a'..='z' | '0'..='9' | '_'))
}

/// Connects, sets up the table, inserts until `count` rows or `duration`, and drops the
/// keyspace if asked (even when the inserts failed).
pub async fn run(config: CqlRawConfig) -> Result<CqlRawReport, CqlRawError> {
    config.validate()?;
    let session = connect(&config).await?;
    let outcome = prepare_and_insert(&session, &config).await;
    if config.drop_keyspace {
        let dropped = ddl(
            &session,
            format!("DROP KEYSPACE IF EXISTS {}", config.keyspace),
        )
        .await;
        // The run's own error says more than the clean-up's.
        if outcome.is_ok() {
            dropped?;
        }
    }
    outcome
}

async fn connect(config: &CqlRawConfig) -> Result<Session, CqlRawError> {
    SessionBuilder::new()
        .known_nodes(&config.contact_points)
        .connection_timeout(config.request_timeout)
        .build()
        .await
        .map_err(|e| CqlRawError::Connect {
            contact_points: config.contact_points.join(", "),
            message: e.to_string(),
        })
}

/// A schema statement; the driver waits for the cluster to agree on the schema after it.
async fn ddl(session: &Session, cql: String) -> Result<(), CqlRawError> {
    session
        .query_unpaged(cql.as_str(), ())
        .await
        .map(|_| ())
        .map_err(|e| CqlRawError::Statement {
            cql,
            message: e.to_string(),
        })
}

async fn prepare_and_insert(
    session: &Session,
    config: &CqlRawConfig,
) -> Result<CqlRawReport, CqlRawError> {
    let table = format!("{}.{}", config.keyspace, config.table);
    if config.create_keyspace {
        ddl(
            session,
            format!(
                "CREATE KEYSPACE IF NOT EXISTS {} WITH replication = \
                 {{'class': 'SimpleStrategy', 'replication_factor': 1}}",
                config.keyspace
            ),
        )
        .await?;
    }
    ddl(
        session,
        format!(
            "CREATE TABLE IF NOT EXISTS {table} \
             (id bigint, part tinyint, record blob, PRIMARY KEY ((id), part))"
        ),
    )
    .await?;
    let cql = format!("INSERT INTO {table} (id, part, record) VALUES (?, ?, ?)");
    let mut insert = session
        .prepare(cql.as_str())
        .await
        .map_err(|e| CqlRawError::Statement {
            cql: cql.clone(),
            message: e.to_string(),
        })?;
    insert.set_consistency(config.consistency);
    insert.set_request_timeout(Some(config.request_timeout));
    insert.set_is_idempotent(true);
    insert_rows(session, &insert, config).await
}

/// What the workers share: the next row's id and the counts so far.
struct Shared {
    next_id: AtomicU64,
    rows: AtomicU64,
    errors: AtomicU64,
}

/// `concurrency` workers, each with one INSERT in flight, take ids until `count` is
/// reached or `duration` has passed.
async fn insert_rows(
    session: &Session,
    insert: &PreparedStatement,
    config: &CqlRawConfig,
) -> Result<CqlRawReport, CqlRawError> {
    let histogram = Histogram::<u64>::new_with_bounds(1, HISTOGRAM_MAX_MICROS, 3)
        .map_err(|e| CqlRawError::Histogram(e.to_string()))?;
    let shared = Shared {
        next_id: AtomicU64::new(0),
        rows: AtomicU64::new(0),
        errors: AtomicU64::new(0),
    };
    let cpu = if config.pids.is_empty() {
        None
    } else {
        Some(CpuMark::of(&config.pids)?)
    };
    let started = Instant::now();
    let deadline = started + config.duration;
    let workers = (0..config.concurrency).map(|worker| {
        let mut histogram = histogram.clone();
        let shared = &shared;
        let mut rng = SmallRng::seed_from_u64(config.seed.wrapping_add(worker as u64));
        async move {
            let mut record = vec![0u8; config.record_bytes];
            let mut first_error = None;
            loop {
                let id = shared.next_id.fetch_add(1, Ordering::Relaxed);
                if id >= config.count || Instant::now() >= deadline {
                    break;
                }
                rng.fill_bytes(&mut record);
                let sent = Instant::now();
                // Bound by the statement's request timeout, so a worker cannot hang.
                match session
                    .execute_unpaged(insert, (id as i64, 1i8, record.as_slice()))
                    .await
                {
                    Ok(_) => {
                        let micros = sent.elapsed().as_micros() as u64;
                        histogram.saturating_record(micros.max(1));
                        shared.rows.fetch_add(1, Ordering::Relaxed);
                    }
                    Err(error) => {
                        shared.errors.fetch_add(1, Ordering::Relaxed);
                        first_error.get_or_insert_with(|| error.to_string());
                    }
                }
            }
            (histogram, first_error)
        }
    });
    let run = futures::future::join_all(workers);
    let results = if config.progress {
        with_progress(run, &shared, started).await
    } else {
        run.await
    };
    let elapsed_secs = started.elapsed().as_secs_f64();
    let mut merged = histogram;
    let mut first_error = None;
    for (h, error) in results {
        merged
            .add(&h)
            .map_err(|e| CqlRawError::Histogram(e.to_string()))?;
        if first_error.is_none() {
            first_error = error;
        }
    }
    let rows = shared.rows.load(Ordering::Relaxed);
    let process = match cpu {
        Some(mark) => Some(mark.usage(rows, elapsed_secs)?),
        None => None,
    };
    Ok(CqlRawReport {
        concurrency: config.concurrency,
        rows,
        errors: shared.errors.load(Ordering::Relaxed),
        first_error,
        elapsed_secs,
        rows_per_sec: if elapsed_secs > 0.0 {
            rows as f64 / elapsed_secs
        } else {
            0.0
        },
        insert_latency: Latency::of(&merged),
        process,
    })
}

/// Runs `work` with a line a second on stderr: rows confirmed so far and the last second's rate.
async fn with_progress<F: std::future::Future>(
    work: F,
    shared: &Shared,
    started: Instant,
) -> F::Output {
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.tick().await;
    let mut last = 0;
    tokio::pin!(work);
    loop {
        tokio::select! {
            output = &mut work => return output,
            _ = tick.tick() => {
                let rows = shared.rows.load(Ordering::Relaxed);
                eprintln!(
                    "[{:6.1}s] {:>8} rows/s  rows {rows}  errors {}",
                    started.elapsed().as_secs_f64(),
                    rows - last,
                    shared.errors.load(Ordering::Relaxed),
                );
                last = rows;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> CqlRawConfig {
        CqlRawConfig {
            contact_points: vec!["127.0.0.1:9042".into()],
            keyspace: "tern_bench_1".into(),
            table: "raw_rows".into(),
            create_keyspace: true,
            drop_keyspace: true,
            concurrency: 4,
            count: 100,
            duration: Duration::from_secs(30),
            record_bytes: 250,
            consistency: Consistency::Quorum,
            request_timeout: Duration::from_secs(5),
            seed: 1,
            pids: Vec::new(),
            progress: false,
        }
    }

    #[test]
    fn names_that_would_change_the_statement_are_refused() {
        assert!(config().validate().is_ok());
        for keyspace in ["", "Tern", "1tern", "tern; DROP", "a".repeat(49).as_str()] {
            let mut c = config();
            c.keyspace = keyspace.into();
            assert!(
                matches!(
                    c.validate(),
                    Err(CqlRawError::Config {
                        field: "keyspace",
                        ..
                    })
                ),
                "{keyspace:?}"
            );
        }
        let mut c = config();
        c.concurrency = 0;
        assert!(c.validate().is_err());
    }

    /// Against the database in TERN_CQL; skipped without it.
    #[tokio::test]
    async fn inserts_the_count_and_drops_the_keyspace() {
        let Ok(contact) = std::env::var("TERN_CQL") else {
            eprintln!("TERN_CQL not set: skipped");
            return;
        };
        let mut c = config();
        c.contact_points = vec![contact];
        c.keyspace = format!("tern_bench_test_{}", std::process::id());
        let report = run(c.clone()).await.expect("run");
        assert_eq!(report.rows, 100, "{:?}", report.first_error);
        assert_eq!(report.errors, 0);
        assert_eq!(report.insert_latency.count, 100);
        let session = connect(&c).await.expect("connect");
        let gone = session
            .query_unpaged(
                format!("SELECT id FROM {}.raw_rows LIMIT 1", c.keyspace),
                (),
            )
            .await;
        assert!(gone.is_err(), "the keyspace is still there");
    }
}
