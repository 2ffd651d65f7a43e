#![allow(clippy::unwrap_used)]
//! The node describes its metrics to the exporter: /metrics carries a `# HELP` line (and
//! the unit) for the raft metrics named in `tern_cluster::telemetry`.

mod common;

use std::time::Duration;

use common::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn raft_metrics_are_served_with_their_help_text() {
    let dir = tempfile::tempdir().unwrap();
    let metrics = std::net::SocketAddr::from(([127, 0, 0, 1], free_port()));
    let toml = format!(
        "{}\n[metrics]\nlisten = \"{metrics}\"\n",
        base_toml(&dir.path().join("store"))
    );
    let node = start_node(&toml).await;
    // The raft gauges get their first value once the single node has elected itself.
    let deadline = tokio::time::Instant::now() + WAIT;
    let mut body = scrape_metrics(metrics).await;
    while !body.contains("\ntern_raft_term ") && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
        body = scrape_metrics(metrics).await;
    }
    assert!(
        body.contains("# HELP tern_raft_term current raft term"),
        "tern_raft_term is served without its description:\n{body}"
    );
    node.shutdown().await;
}
