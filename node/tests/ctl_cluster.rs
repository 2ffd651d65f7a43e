#![allow(clippy::unwrap_used)]
//! `tern ctl cluster` and `link show` against a running one-node cluster: the ownership
//! map as an operator reads it, and a drain that cannot finish because no other node can
//! take the work.

mod common;

use std::time::Duration;

use common::*;
use serde_json::Value;

const TOKEN: &str = "ctl-cluster-token";

async fn ctl(admin: std::net::SocketAddr, args: &[&str]) -> common::ctl::CtlRun {
    common::ctl::ctl(admin, TOKEN, args).await
}

/// `cluster status --json` once node 1 owns both shards and both binds of `op` (its first
/// heartbeats are applied within a second or two of the start).
async fn settled_status(admin: std::net::SocketAddr) -> Value {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    loop {
        let status = ctl(admin, &["--json", "cluster", "status"]).await.json();
        let settled = status["shards"].as_array().is_some_and(|s| s.len() == 2)
            && status["binds"].as_array().is_some_and(|b| b.len() == 2);
        if settled || tokio::time::Instant::now() > deadline {
            return status;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_node_owns_everything_and_cannot_be_drained() {
    init_tracing();
    let dir = tempfile::tempdir().unwrap();
    let sim = start_sim(sim_config()).await;
    let toml = base_toml(&dir.path().join("store"))
        + &format!("\n[admin]\nlisten = \"127.0.0.1:0\"\ntoken = \"{TOKEN}\"\n")
        + &upstream_toml("op", sim.addr(), "binds = 2");
    let node = start_node(&toml).await;
    let admin = node.endpoints.admin.unwrap();

    // Status: node 1 is alive, owns both shards and both bind slots, and holds its lease.
    let status = settled_status(admin).await;
    assert_eq!(status["lease_valid"], true, "{status}");
    assert_eq!(status["shard_count"], 2, "{status}");
    let members = status["members"].as_array().unwrap();
    assert_eq!(members.len(), 1, "{status}");
    let me = &members[0];
    assert_eq!(me["id"], 1);
    assert_eq!(me["raft"], true);
    assert_eq!(me["liveness"]["alive"], true, "{status}");
    assert_eq!(me["liveness"]["draining"], false, "{status}");
    assert!(me["liveness"]["renewed_ms"].as_u64().unwrap() > 0);
    assert_eq!(me["shards"], 2, "{status}");
    assert_eq!(me["binds"], 2, "{status}");
    for (i, shard) in status["shards"].as_array().unwrap().iter().enumerate() {
        assert_eq!(shard["shard"], i);
        assert_eq!(shard["node"], 1);
        assert_eq!(shard["from"], Value::Null);
    }
    let slots: Vec<(String, u64, u64)> = status["binds"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| {
            (
                b["link"].as_str().unwrap().to_owned(),
                b["slot"].as_u64().unwrap(),
                b["node"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(slots, [("op".into(), 0, 1), ("op".into(), 1, 1)]);

    let text = ctl(admin, &["cluster", "status"]).await.stdout_ok();
    assert!(text.contains("lease           valid"), "{text}");
    let header = text.lines().find(|l| l.starts_with("ID")).unwrap();
    assert_eq!(
        header
            .split("  ")
            .filter(|c| !c.is_empty())
            .map(str::trim)
            .collect::<Vec<_>>(),
        [
            "ID",
            "ADDR",
            "VOTER",
            "ALIVE",
            "DRAINING",
            "LAST HEARTBEAT",
            "SHARDS",
            "BINDS"
        ],
        "{text}"
    );
    let row: Vec<&str> = text
        .lines()
        .skip_while(|l| !l.starts_with("ID"))
        .nth(1)
        .unwrap()
        .split_whitespace()
        .collect();
    // 1 ADDR yes yes no N.Ns ago 2 2
    assert_eq!(row[0], "1", "{text}");
    assert_eq!(&row[2..5], ["yes", "yes", "no"], "{text}");
    assert!(row[5].ends_with('s') && row[6] == "ago", "{text}");
    assert_eq!(&row[7..], ["2", "2"], "{text}");
    assert!(text.contains("SHARD  NODE  EPOCH"), "{text}");
    assert!(text.contains("LINK  SLOT  NODE  EPOCH"), "{text}");

    // link show: the link's row, its two binds on node 1, its table.
    let shown = ctl(admin, &["link", "show", "op"]).await.stdout_ok();
    let binds: Vec<Vec<&str>> = shown
        .lines()
        .skip_while(|l| !l.starts_with("SLOT"))
        .skip(1)
        .take_while(|l| !l.is_empty())
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(binds.len(), 2, "{shown}");
    for (slot, bind) in binds.iter().enumerate() {
        assert_eq!(bind[0], slot.to_string(), "{shown}");
        assert_eq!(bind[1], "1", "{shown}");
        assert_eq!(bind[3], "yes", "{shown}");
    }
    assert!(shown.contains("binds = 2"), "{shown}");
    let link = ctl(admin, &["--json", "link", "show", "op"]).await.json();
    assert_eq!(link["binds"].as_array().unwrap().len(), 2, "{link}");
    let missing = ctl(admin, &["link", "show", "nope"]).await;
    assert_eq!(missing.code, Some(1), "{missing:?}");
    assert!(
        missing.stderr.contains("link nope not found"),
        "{missing:?}"
    );

    // Drain: with no other node nothing can move, so it is not drained in time.
    let started = tokio::time::Instant::now();
    let drain = ctl(admin, &["cluster", "drain", "1", "--wait", "1"]).await;
    assert_eq!(drain.code, Some(1), "{drain:?}");
    assert!(started.elapsed() < Duration::from_secs(10), "{drain:?}");
    assert!(
        drain
            .stdout
            .starts_with("node 1 is not drained: it still holds 2 shards and 2 binds"),
        "{drain:?}"
    );
    assert!(drain.stdout.contains("no other live node"), "{drain:?}");
    assert_eq!(
        drain.stderr.trim(),
        "error: node 1 is not drained after 1 s",
        "{drain:?}"
    );
    let status = ctl(admin, &["--json", "cluster", "status"]).await.json();
    assert_eq!(
        status["members"][0]["liveness"]["draining"], true,
        "{status}"
    );
    // Nothing moved: node 1 still owns everything, and still acts.
    assert!(status["shards"]
        .as_array()
        .unwrap()
        .iter()
        .all(|s| s["node"] == 1));
    let drained = ctl(admin, &["--json", "cluster", "drain", "1", "--wait", "0"])
        .await
        .json();
    assert_eq!(drained["drained"], false, "{drained}");
    assert_eq!(drained["takers"], Value::Array(vec![]), "{drained}");
    assert_eq!(drained["shards"].as_array().unwrap().len(), 2, "{drained}");

    // Undo: the node takes work again.
    let undo = ctl(admin, &["cluster", "drain", "1", "--undo"])
        .await
        .stdout_ok();
    assert!(undo.starts_with("node 1 is not draining"), "{undo}");
    let status = ctl(admin, &["--json", "cluster", "status"]).await.json();
    assert_eq!(
        status["members"][0]["liveness"]["draining"], false,
        "{status}"
    );

    // A node the map does not know, and a live node, cannot be drained or forgotten.
    let unknown = ctl(admin, &["cluster", "drain", "9"]).await;
    assert_eq!(unknown.code, Some(1), "{unknown:?}");
    assert!(unknown.stderr.contains("node 9 not found"), "{unknown:?}");
    let unknown = ctl(admin, &["cluster", "forget", "9"]).await;
    assert!(unknown.stderr.contains("node 9 not found"), "{unknown:?}");
    let alive = ctl(admin, &["cluster", "forget", "1"]).await;
    assert_eq!(alive.code, Some(1), "{alive:?}");
    assert!(alive.stderr.contains("node 1 is alive"), "{alive:?}");

    let audit = ctl(admin, &["audit", "list"]).await.stdout_ok();
    assert!(audit.contains("Drain 1\n"), "{audit}");
    assert!(audit.contains("Drain 1 undo"), "{audit}");

    node.shutdown().await;
    sim.shutdown().await;
}
