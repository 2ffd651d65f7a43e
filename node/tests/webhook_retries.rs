#![allow(clippy::unwrap_used)]
//! Webhook deliveries are retried over `notify.retry_for_secs` and shown as they stand:
//! an event whose receiver is down shows pending with its tries, reaches the receiver
//! once it is up and then shows delivered; at a receiver that never comes up it is given
//! up when the retry period is over.

mod common;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::*;
use serde_json::Value;
use tokio::net::TcpListener;

const TOKEN: &str = "hook-token";

async fn ctl(admin: SocketAddr, args: &[&str]) -> Value {
    let mut all = vec!["--json"];
    all.extend_from_slice(args);
    common::ctl::ctl(admin, TOKEN, &all).await.json()
}

/// A receiver on `port` that answers every POST with 200 and keeps the bodies.
async fn receiver(port: u16) -> Arc<Mutex<Vec<Value>>> {
    let listener = TcpListener::bind(("127.0.0.1", port)).await.unwrap();
    common::webhook::serve(listener)
}

/// The delivery of the child's top-up event at `hook`, as `tern ctl notify events` shows it.
async fn delivery(admin: SocketAddr, hook: &str) -> Value {
    let list = ctl(admin, &["notify", "events"]).await;
    let event = list["events"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["account"] == "child")
        .cloned()
        .unwrap_or(Value::Null);
    event["deliveries"]
        .as_array()
        .and_then(|all| all.iter().find(|d| d["hook"] == hook).cloned())
        .unwrap_or(Value::Null)
}

/// Polls the delivery at `hook` until `done` holds; fails the test after `within`.
async fn wait_for(
    admin: SocketAddr,
    hook: &str,
    within: Duration,
    done: impl Fn(&Value) -> bool,
) -> Value {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        let shown = delivery(admin, hook).await;
        if done(&shown) {
            return shown;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{hook}: still {shown}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_waits_for_a_receiver_that_is_down_and_is_given_up_after_the_retry_period() {
    init_tracing();
    let dir = tempfile::tempdir().unwrap();
    let toml = base_toml(&dir.path().join("store"))
        + &format!("\n[admin]\nlisten = \"127.0.0.1:0\"\ntoken = \"{TOKEN}\"\n")
        + "\n[notify]\nretry_for_secs = 6\nretry_max_interval_secs = 2\n";
    let node = start_node(&toml).await;
    let admin = node.endpoints.admin.unwrap();

    // Nothing listens at either webhook yet.
    let late = free_port();
    let never = free_port();
    for (id, port) in [("late", late), ("never", never)] {
        let url = format!("http://127.0.0.1:{port}/events");
        ctl(admin, &["notify", "webhook", "add", id, &url]).await;
    }
    ctl(
        admin,
        &[
            "account",
            "create",
            "parent",
            "--password",
            "pw",
            "--credit",
            "100",
        ],
    )
    .await;
    ctl(
        admin,
        &[
            "account",
            "create",
            "child",
            "--password",
            "pw",
            "--parent",
            "parent",
        ],
    )
    .await;
    ctl(admin, &["account", "topup", "child", "10", "--from-parent"]).await;

    // While the receiver is down the event is pending, with its tries and the next one.
    let pending = wait_for(admin, "late", Duration::from_secs(10), |d| {
        d["state"] == "pending" && d["attempts"].as_u64() >= Some(2)
    })
    .await;
    assert!(
        pending["next_at_ms"].as_u64() > pending["last_at_ms"].as_u64(),
        "{pending}"
    );
    assert!(!pending["error"].as_str().unwrap().is_empty(), "{pending}");

    // Once it is up, the event arrives and shows delivered.
    let bodies = receiver(late).await;
    let delivered = wait_for(admin, "late", Duration::from_secs(10), |d| {
        d["state"] == "delivered"
    })
    .await;
    assert!(delivered["attempts"].as_u64() >= Some(3), "{delivered}");
    let posted = bodies.lock().unwrap().clone();
    assert_eq!(posted.len(), 1, "{posted:?}");
    assert_eq!(posted[0]["account"], "child");

    // The receiver that never came up is given up once the six seconds are over.
    let gave_up = wait_for(admin, "never", Duration::from_secs(15), |d| {
        d["state"] == "gave_up"
    })
    .await;
    assert!(
        gave_up["last_at_ms"].as_u64().unwrap() - gave_up["first_at_ms"].as_u64().unwrap() >= 6_000,
        "{gave_up}"
    );
    assert_eq!(gave_up["next_at_ms"].as_u64(), Some(0));
    // Both ends reached: the event is settled and no longer retried.
    let mut list = Value::Null;
    for _ in 0..50 {
        list = ctl(admin, &["notify", "events"]).await;
        let seq = list["events"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["account"] == "child")
            .and_then(|e| e["seq"].as_u64());
        if seq.is_some() && list["acked"].as_u64() >= seq {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let seq = list["events"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["account"] == "child")
        .and_then(|e| e["seq"].as_u64());
    assert!(list["acked"].as_u64() >= seq, "{list}");
    let text = common::ctl::ctl(admin, TOKEN, &["notify", "events"])
        .await
        .stdout_ok();
    assert!(text.contains("late delivered"), "{text}");
    assert!(text.contains("never gave up"), "{text}");
    node.shutdown().await;
}
