#![allow(clippy::unwrap_used)]
//! The quota ledger end to end on one node, through `tern ctl` and SMPP: an account
//! created with limits spends up to them and no further, gets the documented refusal and
//! a CDR for it, and its threshold crossings reach the event list and a webhook once each.

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::*;
use serde_json::Value;
use tern_smpp::session::BindKind;
use tern_smpp::CommandStatus;
use tokio::net::TcpListener;

const TOKEN: &str = "e2e-token";

/// Runs `tern ctl` against the node; returns stdout, panicking with stderr on failure.
async fn ctl(admin: std::net::SocketAddr, args: &[&str]) -> String {
    common::ctl::ctl(admin, TOKEN, args).await.stdout_ok()
}

async fn ctl_json(admin: std::net::SocketAddr, args: &[&str]) -> Value {
    let mut all = vec!["--json"];
    all.extend_from_slice(args);
    serde_json::from_str(&ctl(admin, &all).await).unwrap()
}

/// A webhook receiver: answers every POST with 200 and keeps the bodies.
async fn webhook() -> (std::net::SocketAddr, Arc<Mutex<Vec<Value>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    (addr, common::webhook::serve(listener))
}

/// The messages threshold percentages among events of `account`, in order.
fn message_thresholds(events: &[Value], account: &str) -> Vec<u64> {
    events
        .iter()
        .filter(|e| e["account"] == account)
        .filter_map(|e| {
            let text = e.to_string();
            if !text.contains("essages") {
                return None;
            }
            find_number(e, "percent")
        })
        .collect()
}

fn find_number(value: &Value, key: &str) -> Option<u64> {
    match value {
        Value::Object(map) => map
            .get(key)
            .and_then(Value::as_u64)
            .or_else(|| map.values().find_map(|v| find_number(v, key))),
        Value::Array(items) => items.iter().find_map(|v| find_number(v, key)),
        _ => None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_account_spends_to_its_limit_through_ctl_and_smpp() {
    init_tracing();
    let dir = tempfile::tempdir().unwrap();
    let sim = start_sim(sim_config()).await;
    let toml = base_toml(&dir.path().join("store"))
        + &format!("\n[admin]\nlisten = \"127.0.0.1:0\"\ntoken = \"{TOKEN}\"\n")
        + &upstream_toml("op", sim.addr(), "");
    let node = start_node(&toml).await;
    let admin = node.endpoints.admin.unwrap();
    let (hook, posted) = webhook().await;

    // A volume-limited account and a prepaid one, a price, a webhook.
    ctl(
        admin,
        &[
            "account",
            "create",
            "vol",
            "--password",
            "pw",
            "--unmetered",
            "--max-messages",
            "10",
            "--period",
            "day",
        ],
    )
    .await;
    ctl(
        admin,
        &[
            "account",
            "create",
            "cash",
            "--password",
            "pw",
            "--credit",
            "100",
        ],
    )
    .await;
    ctl(admin, &["price", "set", "7", "--prefix", "49"]).await;
    ctl(
        admin,
        &[
            "notify",
            "webhook",
            "add",
            "ops",
            &format!("http://{hook}/events"),
        ],
    )
    .await;

    // Up to the limit and past it: ten accepted, then 0x45 with a CDR.
    let vol = Esme::connect(smpp_addr(&node), BindKind::Transceiver, "vol", "pw").await;
    for i in 0..10 {
        vol.submit_ok(short_submit("4915112345678", &format!("m{i}")))
            .await;
    }
    for _ in 0..2 {
        let status = vol
            .submit_refused(short_submit("4915112345678", "over"))
            .await;
        assert_eq!(status, CommandStatus::EsmeRsubmitfail);
    }
    // 100 of credit at 7 a part: fourteen messages to Germany.
    let cash = Esme::connect(smpp_addr(&node), BindKind::Transceiver, "cash", "pw").await;
    for i in 0..14 {
        cash.submit_ok(short_submit("4915112345678", &format!("c{i}")))
            .await;
    }
    let status = cash
        .submit_refused(short_submit("4915112345678", "broke"))
        .await;
    assert_eq!(status, CommandStatus::EsmeRsubmitfail);

    // The ledger shows exactly what was used once the idle leases are closed.
    let mut shown = Value::Null;
    for _ in 0..100 {
        shown = ctl_json(admin, &["account", "show", "vol"]).await;
        let cash_shown = ctl_json(admin, &["account", "show", "cash"]).await;
        let settled = find_number(&shown["ledger"], "reserved_parts") == Some(0)
            && find_number(&cash_shown["ledger"], "reserved_amount").unwrap_or(0) == 0
            && cash_shown["ledger"]["balance"].as_i64() == Some(2);
        if settled {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(
        find_number(&shown["ledger"], "period_used"),
        Some(10),
        "{shown}"
    );
    let cash_shown = ctl_json(admin, &["account", "show", "cash"]).await;
    assert_eq!(
        cash_shown["ledger"]["balance"].as_i64(),
        Some(2),
        "{cash_shown}"
    );

    // 80% and 100% crossed once each, listed and posted to the webhook.
    let events = ctl_json(admin, &["notify", "events"]).await;
    let list = events["events"].as_array().cloned().unwrap_or_default();
    assert_eq!(message_thresholds(&list, "vol"), vec![80, 100], "{events}");
    let mut delivered = Vec::new();
    for _ in 0..100 {
        delivered = message_thresholds(&posted.lock().unwrap().clone(), "vol");
        if delivered.len() >= 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(delivered, vec![80, 100]);

    // The refusals have their CDRs.
    let messages = ctl_json(
        admin,
        &[
            "message",
            "list",
            "--account",
            "vol",
            "--from",
            "0",
            "--to",
            "4102444800000",
        ],
    )
    .await;
    let text = messages.to_string();
    assert_eq!(text.matches("\"rejected\"").count(), 2, "{messages}");

    vol.unbind().await;
    cash.unbind().await;
    node.shutdown().await;
    sim.shutdown().await;
}
