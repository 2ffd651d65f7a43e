//! Committed ledger operations per second through raft, with the log fsync'd on every
//! append, on one node and on three in-process nodes over loopback gRPC, in one run and
//! side by side. Then the lease arithmetic: how many ledger operations the quota counters
//! of a busy cluster need, against what the three nodes commit.
//!
//! Workloads (each committed command is one op; latency is `Cluster::propose` to answer):
//! - `lease`: AcquireLease then SettleLease(close) of the same lease, in a loop, from C
//!   concurrent proposers (C = 1, 16, 64), as a quota counter's leases go;
//! - `topup`: TopUp from 64 concurrent proposers.
//!
//! On three nodes proposer i proposes on node i % 3, as every gateway node's counters do:
//! a follower forwards to the leader. Each row runs for `TERN_BENCH_LEDGER_SECS` (default
//! 4) or `TERN_BENCH_LEDGER_MAX_OPS` ops (default 400,000), whichever comes first. The
//! arithmetic reads `TERN_BENCH_LEDGER_MSG_PER_SEC` (default 50,000 per node),
//! `TERN_BENCH_LEDGER_ACCOUNTS` (active accounts per node, default 100) and
//! `TERN_BENCH_LEDGER_NODES` (default 3). Without `--bench` (under `cargo test`) every row
//! runs for a moment only, to prove the benchmark still works.
//!
//! The raft directories live under the target directory, on the disk the build uses; the
//! fsync latency of that disk is measured first and printed with the results.

use std::io::Write;
use std::path::Path;
use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use hdrhistogram::Histogram;
use metrics::{Counter, Gauge, HistogramFn, Key, KeyName, Metadata, Recorder, SharedString, Unit};
use tern_cluster::{telemetry, Cluster, ClusterConfig};
use tern_ledger::{AccountSpec, Command, Limits, Request, Response};

/// Parts (and money, one unit a part) per lease: two seconds at 500 parts/s, the rate of
/// one of 100 accounts sharing 50,000 msg/s.
const LEASE_PARTS: u64 = 1_000;
/// Accounts the proposers spread over.
const BENCH_ACCOUNTS: usize = 100;
/// What the quota counter uses (actors/src/quota.rs): a lease covers this much traffic,
/// and never fewer parts than `MIN_BLOCK`.
const LEASE_SECONDS: f64 = 2.0;
const MIN_BLOCK: f64 = 32.0;
const MAX_OPEN_LEASES: f64 = 4.0;
const CONCURRENCY: [usize; 3] = [1, 16, 64];
const TOPUP_CONCURRENCY: usize = 64;
const LEADER_WAIT: Duration = Duration::from_secs(15);

struct Settings {
    /// Full run (`cargo bench`) or a smoke run (`cargo test --benches`).
    full: bool,
    row: Duration,
    warmup: Duration,
    max_ops: u64,
    msg_per_sec: f64,
    accounts: f64,
    nodes: f64,
}

fn env_or<T: FromStr>(name: &str, default: T) -> Result<T>
where
    T::Err: std::fmt::Display,
{
    match std::env::var(name) {
        Ok(text) => text
            .trim()
            .parse()
            .map_err(|e| anyhow::anyhow!("{name}={text:?}: {e}")),
        Err(std::env::VarError::NotPresent) => Ok(default),
        Err(e) => bail!("{name}: {e}"),
    }
}

impl Settings {
    fn from_env() -> Result<Settings> {
        let full = std::env::args().any(|a| a == "--bench");
        let secs: f64 = env_or("TERN_BENCH_LEDGER_SECS", 4.0)?;
        if !(secs > 0.0 && secs <= 600.0) {
            bail!("TERN_BENCH_LEDGER_SECS must be in (0, 600], not {secs}");
        }
        let max_ops: u64 = env_or("TERN_BENCH_LEDGER_MAX_OPS", 400_000)?;
        let settings = Settings {
            full,
            row: if full {
                Duration::from_secs_f64(secs)
            } else {
                Duration::from_millis(200)
            },
            warmup: if full {
                Duration::from_secs(1)
            } else {
                Duration::ZERO
            },
            max_ops: if full { max_ops.max(2) } else { 200 },
            msg_per_sec: env_or("TERN_BENCH_LEDGER_MSG_PER_SEC", 50_000.0)?,
            accounts: env_or("TERN_BENCH_LEDGER_ACCOUNTS", 100.0)?,
            nodes: env_or("TERN_BENCH_LEDGER_NODES", 3.0)?,
        };
        if settings.msg_per_sec <= 0.0 || settings.accounts < 1.0 || settings.nodes < 1.0 {
            bail!("msg/s, accounts and nodes must be positive");
        }
        Ok(settings)
    }
}

/// Raft log syncs, the entries written between them and the time the syncs took, from the
/// cluster's own `tern_raft_sync_batch_appends` (one record per sync),
/// `tern_raft_append_entries` and `tern_raft_log_sync_seconds`.
#[derive(Default)]
struct Appends {
    count: AtomicU64,
    entries: AtomicU64,
    nanos: AtomicU64,
}

/// Appends, entries and nanoseconds so far.
type AppendTotals = (u64, u64, u64);

impl Appends {
    fn snapshot(&self) -> AppendTotals {
        (
            self.count.load(Ordering::Relaxed),
            self.entries.load(Ordering::Relaxed),
            self.nanos.load(Ordering::Relaxed),
        )
    }
}

struct AppendEntries(Arc<Appends>);

impl HistogramFn for AppendEntries {
    fn record(&self, value: f64) {
        self.0.entries.fetch_add(value as u64, Ordering::Relaxed);
    }
}

struct Syncs(Arc<Appends>);

impl HistogramFn for Syncs {
    fn record(&self, _appends: f64) {
        self.0.count.fetch_add(1, Ordering::Relaxed);
    }
}

struct AppendSeconds(Arc<Appends>);

impl HistogramFn for AppendSeconds {
    fn record(&self, value: f64) {
        self.0
            .nanos
            .fetch_add((value * 1e9) as u64, Ordering::Relaxed);
    }
}

/// Keeps the append and sync histograms; every other metric is dropped.
struct AppendRecorder(Arc<Appends>);

impl Recorder for AppendRecorder {
    fn describe_counter(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn describe_gauge(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn describe_histogram(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn register_counter(&self, _: &Key, _: &Metadata<'_>) -> Counter {
        Counter::noop()
    }
    fn register_gauge(&self, _: &Key, _: &Metadata<'_>) -> Gauge {
        Gauge::noop()
    }
    fn register_histogram(&self, key: &Key, _: &Metadata<'_>) -> metrics::Histogram {
        let appends = Arc::clone(&self.0);
        match key.name() {
            telemetry::APPEND_ENTRIES => {
                metrics::Histogram::from_arc(Arc::new(AppendEntries(appends)))
            }
            telemetry::SYNC_SECONDS => {
                metrics::Histogram::from_arc(Arc::new(AppendSeconds(appends)))
            }
            telemetry::APPENDS_PER_SYNC => metrics::Histogram::from_arc(Arc::new(Syncs(appends))),
            _ => metrics::Histogram::noop(),
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Workload {
    /// AcquireLease + SettleLease(close), one lease after the other.
    Lease,
    TopUp,
}

impl Workload {
    fn name(self) -> &'static str {
        match self {
            Workload::Lease => "lease acquire+close",
            Workload::TopUp => "topup",
        }
    }
}

/// When a row ends: at its deadline or once `max_ops` ops were started.
struct Budget {
    deadline: Instant,
    max_ops: u64,
    started: AtomicU64,
}

impl Budget {
    fn take(&self, ops: u64) -> bool {
        Instant::now() < self.deadline
            && self.started.fetch_add(ops, Ordering::Relaxed) < self.max_ops
    }
}

/// What one proposer saw.
struct Tally {
    ops: u64,
    errors: u64,
    refused: u64,
    latency: Histogram<u64>,
}

impl Tally {
    fn new() -> Result<Tally> {
        Ok(Tally {
            ops: 0,
            errors: 0,
            refused: 0,
            latency: Histogram::new_with_bounds(1, 60_000_000, 3)?,
        })
    }

    /// Proposes and records the latency; the answer when the command was committed.
    async fn propose(&mut self, node: &Cluster, command: Command) -> Option<Response> {
        let started = Instant::now();
        let result = node
            .propose(Request {
                at_ms: 0,
                audit: None,
                command,
            })
            .await;
        let micros = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX);
        match result {
            Ok(response) => {
                self.ops += 1;
                self.latency.saturating_record(micros);
                if matches!(response, Response::Refused(_)) {
                    self.refused += 1;
                }
                Some(response)
            }
            Err(_) => {
                self.errors += 1;
                None
            }
        }
    }
}

async fn proposer(
    node: Cluster,
    workload: Workload,
    account: String,
    leases: Arc<AtomicU64>,
    budget: Arc<Budget>,
) -> Result<Tally> {
    let mut tally = Tally::new()?;
    let per_round = match workload {
        Workload::Lease => 2,
        Workload::TopUp => 1,
    };
    while budget.take(per_round) {
        match workload {
            Workload::Lease => {
                let lease = leases.fetch_add(1, Ordering::Relaxed);
                let acquire = Command::AcquireLease {
                    lease,
                    account: account.clone(),
                    node: node.node_id(),
                    parts: LEASE_PARTS,
                    amount: LEASE_PARTS as i64,
                    ttl_ms: 30_000,
                };
                let Some(Response::Lease { parts, amount }) = tally.propose(&node, acquire).await
                else {
                    continue;
                };
                let settle = Command::SettleLease {
                    lease,
                    used_parts: parts,
                    used_amount: amount,
                    ttl_ms: 30_000,
                    close: true,
                };
                tally.propose(&node, settle).await;
            }
            Workload::TopUp => {
                let topup = Command::TopUp {
                    account: account.clone(),
                    amount: 1,
                    from_parent: false,
                };
                tally.propose(&node, topup).await;
            }
        }
    }
    Ok(tally)
}

/// One row's result.
struct Row {
    ops: u64,
    errors: u64,
    refused: u64,
    secs: f64,
    p50_ms: f64,
    p99_ms: f64,
    /// Appends (fsyncs) on all nodes together, the entries they carried, their time.
    appends: u64,
    entries: u64,
    append_nanos: u64,
}

impl Row {
    fn ops_per_sec(&self) -> f64 {
        self.ops as f64 / self.secs.max(1e-9)
    }

    fn entries_per_fsync(&self) -> f64 {
        self.entries as f64 / (self.appends.max(1)) as f64
    }

    /// Mean time of one append with its fsync, in ms.
    fn append_ms(&self) -> f64 {
        self.append_nanos as f64 / 1e6 / (self.appends.max(1)) as f64
    }
}

struct Bench {
    nodes: Vec<Cluster>,
    leases: Arc<AtomicU64>,
    appends: Arc<Appends>,
}

impl Bench {
    async fn run(
        &self,
        workload: Workload,
        concurrency: usize,
        length: Duration,
        max_ops: u64,
    ) -> Result<Row> {
        let budget = Arc::new(Budget {
            deadline: Instant::now() + length,
            max_ops,
            started: AtomicU64::new(0),
        });
        let (appends_before, entries_before, nanos_before) = self.appends.snapshot();
        let started = Instant::now();
        let mut tasks = Vec::with_capacity(concurrency);
        for i in 0..concurrency {
            tasks.push(tokio::spawn(proposer(
                self.nodes[i % self.nodes.len()].clone(),
                workload,
                account(i % BENCH_ACCOUNTS),
                Arc::clone(&self.leases),
                Arc::clone(&budget),
            )));
        }
        let mut total = Tally::new()?;
        for task in tasks {
            let tally = task.await.context("proposer panicked")??;
            total.ops += tally.ops;
            total.errors += tally.errors;
            total.refused += tally.refused;
            total.latency.add(&tally.latency)?;
        }
        let secs = started.elapsed().as_secs_f64();
        let (appends_after, entries_after, nanos_after) = self.appends.snapshot();
        Ok(Row {
            ops: total.ops,
            errors: total.errors,
            refused: total.refused,
            secs,
            p50_ms: total.latency.value_at_quantile(0.50) as f64 / 1_000.0,
            p99_ms: total.latency.value_at_quantile(0.99) as f64 / 1_000.0,
            appends: appends_after - appends_before,
            entries: entries_after - entries_before,
            append_nanos: nanos_after - nanos_before,
        })
    }

    async fn shutdown(&self) {
        for node in &self.nodes {
            node.shutdown().await;
        }
    }
}

fn account(i: usize) -> String {
    format!("bench-{i:03}")
}

fn node_config(id: u64, dir: &Path) -> Result<ClusterConfig> {
    let mut config = ClusterConfig::new(id, "127.0.0.1:0".parse()?, dir.join(id.to_string()));
    config.bootstrap = id == 1;
    // No ledger ticks: every op committed in a row is one the proposers sent.
    config.tick_ms = 0;
    Ok(config)
}

/// Starts `n` nodes in one process, node 1 leading, the others added and promoted, and
/// creates the accounts.
async fn start(n: u64, dir: &Path, appends: &Arc<Appends>) -> Result<Bench> {
    let mut nodes = Vec::new();
    for id in 1..=n {
        nodes.push(Cluster::start(node_config(id, dir)?).await?);
    }
    let leader = nodes[0].wait_for_leader(LEADER_WAIT).await?;
    if leader != 1 {
        bail!("node {leader} leads, expected node 1");
    }
    for node in &nodes[1..] {
        nodes[0]
            .add_learner(node.node_id(), node.raft_addr().to_string())
            .await?;
    }
    if n > 1 {
        nodes[0].promote((2..=n).collect()).await?;
    }
    for i in 0..BENCH_ACCOUNTS {
        let spec = AccountSpec {
            id: account(i),
            password_hash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA".into(),
            enabled: true,
            max_binds: 4,
            allowed_ips: vec![],
            sender_ids: vec![],
            transliterate: false,
            parent: None,
            tags: Default::default(),
            limits: Limits {
                credit_limit: Some(0),
                ..Limits::default()
            },
            secrets: Default::default(),
        };
        let created = nodes[0]
            .propose(Request {
                at_ms: 0,
                audit: None,
                command: Command::CreateAccount {
                    spec,
                    credit: 1_000_000_000_000_000,
                },
            })
            .await?;
        if created != Response::Ok {
            bail!("creating {} answered {created:?}", account(i));
        }
    }
    Ok(Bench {
        nodes,
        leases: Arc::new(AtomicU64::new(1 << 40)),
        appends: Arc::clone(appends),
    })
}

/// fsync latency of the disk under `dir`: 4 KiB written and fdatasync'd, 200 times.
fn fsync_probe(dir: &Path) -> Result<(f64, f64)> {
    let path = dir.join("fsync-probe");
    let mut file = std::fs::File::create(&path)?;
    let mut latency = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3)?;
    let block = [0x5a_u8; 4096];
    for _ in 0..200 {
        let started = Instant::now();
        file.write_all(&block)?;
        file.sync_data()?;
        latency.saturating_record(u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX));
    }
    drop(file);
    std::fs::remove_file(&path)?;
    Ok((
        latency.value_at_quantile(0.50) as f64 / 1_000.0,
        latency.value_at_quantile(0.99) as f64 / 1_000.0,
    ))
}

/// Every row of one topology: a warm-up, the lease rows, the topup row.
async fn topology(
    n: u64,
    dir: &Path,
    appends: &Arc<Appends>,
    settings: &Settings,
) -> Result<Vec<Row>> {
    let bench = start(n, &dir.join(format!("nodes-{n}")), appends).await?;
    let result = async {
        if !settings.warmup.is_zero() {
            bench
                .run(Workload::Lease, 16, settings.warmup, settings.max_ops)
                .await?;
        }
        let mut rows = Vec::new();
        let plan = CONCURRENCY
            .iter()
            .map(|&c| (Workload::Lease, c))
            .chain([(Workload::TopUp, TOPUP_CONCURRENCY)]);
        for (workload, concurrency) in plan {
            let row = bench
                .run(workload, concurrency, settings.row, settings.max_ops)
                .await?;
            eprintln!(
                "  {n} node(s) {:<20} C={concurrency:<3} {:>8.0} ops/s  p50 {:.2} ms  p99 {:.2} ms  \
                 {:.1} entries/fsync  fsync {:.2} ms  errors {}  refused {}",
                workload.name(),
                row.ops_per_sec(),
                row.p50_ms,
                row.p99_ms,
                row.entries_per_fsync(),
                row.append_ms(),
                row.errors,
                row.refused,
            );
            rows.push(row);
        }
        Ok::<_, anyhow::Error>(rows)
    }
    .await;
    bench.shutdown().await;
    result
}

fn print_table(one: &[Row], three: &[Row]) {
    let labels = CONCURRENCY
        .iter()
        .map(|&c| (Workload::Lease, c))
        .chain([(Workload::TopUp, TOPUP_CONCURRENCY)]);
    let head = [
        "1 node/s",
        "p50 ms",
        "p99 ms",
        "ent/fs",
        "fs ms",
        "3 nodes/s",
        "p50 ms",
        "p99 ms",
        "ent/fs",
        "fs ms",
    ];
    let mut line = format!("{:<21}{:>4} |", "", "C");
    for (i, name) in head.iter().enumerate() {
        let width = if i % 5 == 0 { 10 } else { 8 };
        line += &format!("{name:>width$}");
        if i == 4 {
            line += " |";
        }
    }
    println!("{line} | 3 / 1");
    for ((workload, concurrency), (a, b)) in labels.zip(one.iter().zip(three)) {
        let cells = |r: &Row| {
            format!(
                "{:>10.0}{:>8.2}{:>8.2}{:>8.1}{:>8.2}",
                r.ops_per_sec(),
                r.p50_ms,
                r.p99_ms,
                r.entries_per_fsync(),
                r.append_ms()
            )
        };
        println!(
            "{:<21}{:>4} |{} |{} | {:>5.2}",
            workload.name(),
            concurrency,
            cells(a),
            cells(b),
            b.ops_per_sec() / a.ops_per_sec().max(1e-9),
        );
    }
    let failed: u64 = one.iter().chain(three).map(|r| r.errors + r.refused).sum();
    if failed > 0 {
        println!("WARNING: {failed} proposals failed or were refused (not counted as ops)");
    }
}

/// The ledger ops per second the quota counters of the whole cluster need.
fn print_arithmetic(settings: &Settings, three: &[Row]) {
    let per_counter = settings.msg_per_sec / settings.accounts;
    let lease_parts = (per_counter * LEASE_SECONDS).max(MIN_BLOCK);
    let acquires = per_counter / lease_parts;
    // Each lease is acquired once and closed once; the counter settles once a second.
    let expected = 2.0 * acquires + 1.0;
    // Every one of the open leases settled every second.
    let worst = 2.0 * acquires + MAX_OPEN_LEASES;
    let counters = settings.accounts * settings.nodes;
    println!();
    println!(
        "lease arithmetic: {:.0} msg/s per node over {:.0} accounts = {per_counter:.0} parts/s \
         per counter; a lease = {LEASE_SECONDS:.0} s = {lease_parts:.0} parts",
        settings.msg_per_sec, settings.accounts
    );
    println!(
        "  per counter: {acquires:.2} acquires/s + as many closes + 1 settle/s = \
         {expected:.2} ops/s (all {MAX_OPEN_LEASES:.0} open leases settled each second: \
         {worst:.2} ops/s)"
    );
    println!(
        "  {:.0} nodes x {:.0} counters = {counters:.0} counters: {:.0} ops/s needed \
         ({:.0} ops/s at worst)",
        settings.nodes,
        settings.accounts,
        counters * expected,
        counters * worst
    );
    for (row, c) in three.iter().zip(CONCURRENCY) {
        let capacity = row.ops_per_sec();
        println!(
            "  headroom, 3-node lease capacity at C={c:<2}: {capacity:>7.0} / {:.0} = {:>6.1}x \
             (worst case {:.1}x; aim >= 2x)",
            counters * expected,
            capacity / (counters * expected),
            capacity / (counters * worst),
        );
    }
}

fn main() -> Result<()> {
    if std::env::var_os("RUST_LOG").is_some() {
        tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
            .with_writer(std::io::stderr)
            .init();
    }
    let settings = Settings::from_env()?;
    let appends = Arc::new(Appends::default());
    if metrics::set_global_recorder(AppendRecorder(Arc::clone(&appends))).is_err() {
        bail!("a metrics recorder was already installed");
    }
    let dir = tempfile::Builder::new()
        .prefix("ledger-bench")
        .tempdir_in(env!("CARGO_TARGET_TMPDIR"))?;
    let (fsync_p50, fsync_p99) = fsync_probe(dir.path())?;
    let cores = std::thread::available_parallelism().map_or(0, usize::from);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let started = Instant::now();
    let (one, three) = runtime.block_on(async {
        eprintln!("ledger benchmark: 1 node");
        let one = topology(1, dir.path(), &appends, &settings).await?;
        eprintln!("ledger benchmark: 3 nodes");
        let three = topology(3, dir.path(), &appends, &settings).await?;
        Ok::<_, anyhow::Error>((one, three))
    })?;
    if !settings.full {
        println!("ledger benchmark smoke run passed (run `cargo bench` for figures)");
        return Ok(());
    }
    println!();
    println!(
        "committed ledger ops/s through raft, fsync before every acknowledgement (grouped); {cores} cores; {:.1} s per \
         row; disk fsync (4 KiB + fdatasync) p50 {fsync_p50:.2} ms p99 {fsync_p99:.2} ms",
        settings.row.as_secs_f64()
    );
    println!(
        "3 nodes: in one process over loopback gRPC, proposer i on node i % 3 (followers \
         forward); ent/fs = log entries per fsync, fs ms = mean fsync, all nodes"
    );
    print_table(&one, &three);
    print_arithmetic(&settings, &three);
    println!("(total {:.0} s)", started.elapsed().as_secs_f64());
    Ok(())
}
