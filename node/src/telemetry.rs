//! Logs and metrics: the only place that installs the tracing subscriber and the
//! Prometheus exporter.

use std::net::SocketAddr;

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder};
use tracing_subscriber::filter::LevelFilter;
use tracing_subscriber::EnvFilter;

use crate::config::{LogFormat, LogSection};

/// Logs to stderr. `RUST_LOG`, when set, overrides the configured level.
pub fn init_tracing(log: &LogSection) {
    let filter = EnvFilter::try_from_default_env()
        .or_else(|_| EnvFilter::try_new(filter_directives(&log.level)))
        .unwrap_or_else(|_| EnvFilter::new(filter_directives("info")));
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

/// The tracing filter for `log.level`. A bare level (`info`, `debug`) is the level of
/// Tern's own logs (every target starting with `tern`); dependencies (openraft, fjall,
/// tonic, ...) log only warnings and errors, since at info they narrate their internals
/// (openraft prints dozens of lines while a node starts). A directive that names a
/// target (`openraft=info`) is kept as written, and so is a bare level of `warn` or
/// quieter, which applies to everything.
pub fn filter_directives(level: &str) -> String {
    let parts: Vec<&str> = level
        .split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .collect();
    let names_tern = parts.iter().any(|p| {
        p.split_once('=')
            .is_some_and(|(target, _)| target == "tern")
    });
    let mut out = Vec::with_capacity(parts.len() + 1);
    for part in parts {
        match part.parse::<LevelFilter>() {
            Ok(bare) if bare > LevelFilter::WARN => {
                out.push("warn".to_owned());
                if !names_tern {
                    out.push(format!("tern={part}"));
                }
            }
            _ => out.push(part.to_owned()),
        }
    }
    out.join(",")
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
        "tern_cluster_lease_lapses_total",
        "tern_cluster_shard_takeovers_total",
        "tern_cluster_shards_fenced_total",
        "tern_cluster_claims_released_total",
        "tern_cluster_notices_sent_total",
        "tern_cluster_notices_dropped_total",
        "tern_cluster_deliveries_handed_total",
    ];
    for name in rare {
        metrics::counter!(name).increment(0);
    }
    // The store's throttling refusals, which `TernStoreBackPressure` watches.
    for reason in ["store_overloaded", "store_unavailable"] {
        for protocol in ["smpp", "cmpp"] {
            metrics::counter!(
                "tern_submits_refused_total",
                "reason" => reason,
                "status" => "0x58",
                "protocol" => protocol
            )
            .increment(0);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;
    use std::sync::{Arc, Mutex};

    use super::*;

    #[test]
    fn a_bare_level_is_terns_and_dependencies_stay_at_warn() {
        assert_eq!(filter_directives("info"), "warn,tern=info");
        assert_eq!(filter_directives("debug"), "warn,tern=debug");
        assert_eq!(filter_directives("warn"), "warn");
        assert_eq!(filter_directives("tern=debug,info"), "tern=debug,warn");
        assert_eq!(
            filter_directives("info,openraft=info"),
            "warn,tern=info,openraft=info"
        );
    }

    /// A writer the test reads back.
    #[derive(Clone, Default)]
    struct Buffer(Arc<Mutex<Vec<u8>>>);

    impl Write for Buffer {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            if let Ok(mut buffer) = self.0.lock() {
                buffer.extend_from_slice(bytes);
            }
            Ok(bytes.len())
        }

        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    fn logged(level: &str, emit: impl FnOnce()) -> String {
        let buffer = Buffer::default();
        let writer = buffer.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_env_filter(EnvFilter::try_new(filter_directives(level)).unwrap())
            .with_writer(move || writer.clone())
            .with_ansi(false)
            .finish();
        tracing::subscriber::with_default(subscriber, emit);
        let bytes = buffer.0.lock().unwrap().clone();
        String::from_utf8(bytes).unwrap()
    }

    #[test]
    fn openraft_info_is_not_logged_at_the_default_level() {
        let out = logged("info", || {
            tracing::info!(target: "openraft::engine", "openraft internals");
            tracing::warn!(target: "openraft::engine", "openraft trouble");
            tracing::info!(target: "tern_node::dev", "tern news");
            tracing::info!(target: "tern::audit", "an audit record");
        });
        assert!(!out.contains("openraft internals"), "{out}");
        assert!(out.contains("openraft trouble"), "{out}");
        assert!(out.contains("tern news"), "{out}");
        assert!(out.contains("an audit record"), "{out}");
        let asked = logged("info,openraft=info", || {
            tracing::info!(target: "openraft::engine", "openraft internals");
        });
        assert!(asked.contains("openraft internals"), "{asked}");
    }
}
