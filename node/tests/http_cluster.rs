#![allow(clippy::unwrap_used)]
//! The HTTP API's idempotency across the nodes of a cluster: a send retried with its
//! `Idempotency-Key` on another node of the cluster (they share one CQL store) gets the
//! first answer and sends nothing; the same key sent to two nodes at once sends once.

mod common;

use std::time::Duration;

use common::*;
use serde_json::{json, Value};
use tern_ledger::{ApiKey, Command, Request, Response};

fn node_toml(
    dir: &std::path::Path,
    id: u16,
    raft: u16,
    peers: &[(u16, u16)],
    sim: std::net::SocketAddr,
    (cql, keyspace): (&str, &str),
) -> String {
    let bootstrap = !peers.is_empty();
    let peers: Vec<String> = peers
        .iter()
        .map(|(id, port)| format!("{{ id = {id}, addr = \"127.0.0.1:{port}\" }}"))
        .collect();
    let mut toml = cluster_base_toml(&dir.join(format!("store{id}")), cql, keyspace)
        .replace("[node]\n", &format!("[node]\nid = {id}\n"))
        .replacen(
            "[cluster]\nlisten = \"127.0.0.1:0\"",
            &format!(
                "[cluster]\nlisten = \"127.0.0.1:{raft}\"\nbootstrap = {bootstrap}\nsecret = \"s\"\npeers = [{}]",
                peers.join(", ")
            ),
            1,
        );
    toml += "\n[http]\nlisten = \"127.0.0.1:0\"\n";
    if bootstrap {
        toml += &upstream_toml("op", sim, "");
        toml += &account_toml("shop", "secret", "");
    }
    toml
}

async fn post(url: &str, key: &str, idempotency: &str, body: &Value) -> (u16, Value) {
    let answer = reqwest::Client::new()
        .post(url)
        .bearer_auth(key)
        .header("Idempotency-Key", idempotency)
        .json(body)
        .send()
        .await
        .unwrap();
    let status = answer.status().as_u16();
    (status, answer.json().await.unwrap_or(Value::Null))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_retried_on_another_node_sends_once() {
    init_tracing();
    let Some(cql) = cql_or_skip("a_key_retried_on_another_node_sends_once") else {
        return;
    };
    let keyspace = test_keyspace();
    let db = (cql.as_str(), keyspace.as_str());
    let dir = tempfile::tempdir().unwrap();
    let sim = start_sim(sim_config()).await;
    let ports = [free_port(), free_port()];
    let first = start_node(&node_toml(
        dir.path(),
        1,
        ports[0],
        &[(2, ports[1])],
        sim.addr(),
        db,
    ))
    .await;
    let second = start_node(&node_toml(dir.path(), 2, ports[1], &[], sim.addr(), db)).await;
    let formed = eventually(Duration::from_secs(30), || {
        first
            .cluster
            .status()
            .members
            .iter()
            .filter(|m| m.voter)
            .count()
            == 2
    })
    .await;
    assert!(formed, "not two voters: {:?}", first.cluster.status());

    let (id, key) = tern_actors::api_key::generate();
    let api_key = ApiKey {
        id,
        account: "shop".into(),
        label: "cluster".into(),
        hash: tern_actors::api_key::hash_text(&key),
        created_ms: 0,
    };
    let request = Request {
        at_ms: 0,
        audit: None,
        command: Command::PutApiKey { key: api_key },
    };
    assert_eq!(first.cluster.propose(request).await.unwrap(), Response::Ok);
    let urls: Vec<String> = [&first, &second]
        .iter()
        .map(|n| format!("http://{}/v1/messages", n.endpoints.listening["http"]))
        .collect();
    // Both nodes know the key once their pipelines took the change.
    for url in &urls {
        let balance = url.replace("/messages", "/balance");
        let mut known = false;
        for _ in 0..300 {
            let answer = reqwest::Client::new()
                .get(&balance)
                .bearer_auth(&key)
                .send()
                .await
                .unwrap();
            if answer.status() != 401 {
                known = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert!(known, "{url} never took the key");
    }

    // A retry on the other node: the first answer, nothing sent again.
    let body = json!({ "to": "491701234567", "from": "Shop", "text": "once" });
    let (status, first_answer) = post(&urls[0], &key, "order-1", &body).await;
    assert_eq!(status, 201, "{first_answer}");
    let (status, again) = post(&urls[1], &key, "order-1", &body).await;
    assert_eq!((status, &again), (201, &first_answer));

    // The same key to both nodes at once: one message; the other answer is the first
    // one replayed, or 409 while it still runs.
    let body = json!({ "to": "491701234568", "from": "Shop", "text": "raced" });
    let (a, b) = tokio::join!(
        post(&urls[0], &key, "order-2", &body),
        post(&urls[1], &key, "order-2", &body)
    );
    let created: Vec<&Value> = [&a, &b]
        .iter()
        .filter(|(s, _)| *s == 201)
        .map(|(_, v)| v)
        .collect();
    assert!(!created.is_empty(), "{a:?} {b:?}");
    assert!(created.windows(2).all(|w| w[0] == w[1]), "{a:?} {b:?}");
    assert!(
        [a.0, b.0].iter().all(|s| *s == 201 || *s == 409),
        "{a:?} {b:?}"
    );

    let sent = sim.wait_for(WAIT, |s| s.unique_submits >= 2).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(sim.stats().unique_submits, 2, "{sent:?}");
    assert_eq!(sim.stats().submits, 2, "{:?}", sim.stats());
    first.shutdown().await;
    second.shutdown().await;
    sim.shutdown().await;
}
