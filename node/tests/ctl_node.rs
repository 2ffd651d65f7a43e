#![allow(clippy::unwrap_used)]
//! `tern ctl` against a running node, for what an operator reads and changes there:
//! why a message was refused, and MO rules changed live.

mod common;

use common::*;
use tern_smpp::session::BindKind;
use tern_smpp::CommandStatus;

const TOKEN: &str = "ctl-node-token";

async fn ctl(admin: std::net::SocketAddr, args: &[&str]) -> common::ctl::CtlRun {
    common::ctl::ctl(admin, TOKEN, args).await
}

/// The one message `account` has in the store, as `tern ctl message show` prints it.
async fn shown_refusal(admin: std::net::SocketAddr, account: &str) -> String {
    let listed = ctl(admin, &["--json", "message", "list", "--account", account])
        .await
        .json();
    let messages = listed["messages"].as_array().unwrap();
    let refused: Vec<&serde_json::Value> = messages
        .iter()
        .filter(|m| m["state"] == "rejected")
        .collect();
    assert_eq!(refused.len(), 1, "{listed}");
    let id = refused[0]["id"].as_u64().unwrap().to_string();
    ctl(admin, &["message", "show", &id]).await.stdout_ok()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn message_show_names_why_a_submit_was_refused() {
    init_tracing();
    let dir = tempfile::tempdir().unwrap();
    let sim = start_sim(sim_config()).await;
    let toml = base_toml(&dir.path().join("store"))
        + &format!("\n[admin]\nlisten = \"127.0.0.1:0\"\ntoken = \"{TOKEN}\"\n")
        + &account_toml("broke", "secret", "credit = 0")
        + &account_toml("capped", "secret", "max_messages = 1")
        + &upstream_toml("op", sim.addr(), "")
        + "\n[[price]]\naccount = \"broke\"\nper_part = 5\n";
    let node = start_node(&toml).await;
    let admin = node.endpoints.admin.unwrap();

    let broke = Esme::connect(smpp_addr(&node), BindKind::Transceiver, "broke", "secret").await;
    assert_eq!(
        broke
            .submit_refused(short_submit("4915112345678", "no money"))
            .await,
        CommandStatus::EsmeRsubmitfail
    );
    let capped = Esme::connect(smpp_addr(&node), BindKind::Transceiver, "capped", "secret").await;
    capped
        .submit_ok(short_submit("4915112345678", "the one allowed"))
        .await;
    assert_eq!(
        capped
            .submit_refused(short_submit("4915112345678", "one too many"))
            .await,
        CommandStatus::EsmeRsubmitfail
    );

    let shown = shown_refusal(admin, "broke").await;
    let error = shown.lines().find(|l| l.starts_with("error")).unwrap();
    assert_eq!(
        error.split_whitespace().collect::<Vec<_>>(),
        ["error", "no_credit", "(0x45)"],
        "{shown}"
    );
    let shown = shown_refusal(admin, "capped").await;
    let error = shown.lines().find(|l| l.starts_with("error")).unwrap();
    assert_eq!(
        error.split_whitespace().collect::<Vec<_>>(),
        ["error", "over_quota", "(0x45)"],
        "{shown}"
    );

    broke.unbind().await;
    capped.unbind().await;
    node.shutdown().await;
    sim.shutdown().await;
}
