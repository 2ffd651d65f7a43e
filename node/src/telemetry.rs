//! Logs and metrics: the only place that installs the tracing subscriber and the
//! Prometheus exporter.

use std::net::SocketAddr;

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder};
use tracing_subscriber::EnvFilter;

use crate::config::{LogFormat, LogSection};

/// Logs to stderr. `RUST_LOG`, when set, overrides the configured level.
pub fn init_tracing(log: &LogSection) {
    // The storage engine logs every flush at info; keep it to warnings unless asked.
    let quiet = ",fjall=warn,lsm_tree=warn";
    let filter = EnvFilter::try_from_default_env()
        .or_else(|_| EnvFilter::try_new(format!("{}{quiet}", log.level)))
        .unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_target(false);
    let _ = match log.format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().try_init(),
    };
}

/// Latency buckets from 100 µs to 30 s.
const LATENCY_BUCKETS: &[f64] = &[
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
    5.0, 10.0, 30.0,
];

/// Serves `/metrics` on `listen`. Must run inside the tokio runtime.
pub fn init_metrics(listen: SocketAddr) -> anyhow::Result<()> {
    PrometheusBuilder::new()
        .with_http_listener(listen)
        .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), LATENCY_BUCKETS)?
        .install()?;
    serve_from_zero();
    Ok(())
}

/// Counters of rare events are served as 0 from the start: `rate()` then counts their
/// first increment, and alert rules and dashboards find them on a healthy node.
fn serve_from_zero() {
    let rare = [
        "tern_quota_ledger_errors_total",
        "tern_quota_exhausted_total",
        "tern_store_write_errors_total",
        "tern_receipts_early_total",
        "tern_receipts_deferred_total",
        "tern_outbox_handoff_missed_total",
        "tern_dispatch_resent_unknown_outcome_total",
        "tern_link_throttled_total",
    ];
    for name in rare {
        metrics::counter!(name).increment(0);
    }
}
