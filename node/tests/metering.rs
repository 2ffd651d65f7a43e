#![allow(clippy::unwrap_used)]
//! Metering is explicit through `tern ctl account create`: without a choice an account is
//! prepaid (a zero opening balance included) and cannot send past its money; `--postpaid`
//! goes to its limit below zero; `--unmetered` is not metered, and is refused under a
//! metered parent, whose money it would spend without asking it.

mod common;

use std::net::SocketAddr;

use common::*;
use serde_json::Value;
use tern_smpp::session::BindKind;
use tern_smpp::CommandStatus;

const TOKEN: &str = "metering-token";

async fn ctl(admin: SocketAddr, args: &[&str]) -> common::ctl::CtlRun {
    common::ctl::ctl(admin, TOKEN, args).await
}

async fn show(admin: SocketAddr, id: &str) -> Value {
    ctl(admin, &["--json", "account", "show", id]).await.json()
}

/// No credit: 0x45, never the "try later" of 0x58, since the money is really spent.
fn refused_for_money(status: CommandStatus) -> bool {
    status == CommandStatus::EsmeRsubmitfail
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn accounts_are_prepaid_unless_said_otherwise() {
    init_tracing();
    let dir = tempfile::tempdir().unwrap();
    let sim = start_sim(sim_config()).await;
    let toml = base_toml(&dir.path().join("store"))
        + &format!("\n[admin]\nlisten = \"127.0.0.1:0\"\ntoken = \"{TOKEN}\"\n")
        + &upstream_toml("op", sim.addr(), "");
    let node = start_node(&toml).await;
    let admin = node.endpoints.admin.unwrap();
    ctl(admin, &["price", "set", "5", "--prefix", "49"])
        .await
        .stdout_ok();

    // No metering flag and no credit: prepaid with nothing to spend.
    for (id, extra) in [
        ("bare", vec![]),
        ("zero", vec!["--credit", "0"]),
        ("post", vec!["--postpaid", "10"]),
        ("free", vec!["--unmetered"]),
    ] {
        let mut args = vec!["account", "create", id, "--password", "pw"];
        args.extend(extra);
        ctl(admin, &args).await.stdout_ok();
    }
    for id in ["bare", "zero"] {
        let shown = show(admin, id).await;
        assert_eq!(shown["limits"]["credit_limit"], 0, "{shown}");
    }
    assert_eq!(show(admin, "post").await["limits"]["credit_limit"], 10);
    assert_eq!(
        show(admin, "free").await["limits"]["credit_limit"],
        Value::Null
    );

    // The prepaid account cannot send; the postpaid one goes to -10 and stops.
    let bare = Esme::connect(smpp_addr(&node), BindKind::Transceiver, "bare", "pw").await;
    let status = bare
        .submit_refused(short_submit("4915112345678", "x"))
        .await;
    assert!(refused_for_money(status), "{status:?}");
    let post = Esme::connect(smpp_addr(&node), BindKind::Transceiver, "post", "pw").await;
    for i in 0..2 {
        post.submit_ok(short_submit("4915112345678", &format!("p{i}")))
            .await;
    }
    let status = post
        .submit_refused(short_submit("4915112345678", "over"))
        .await;
    assert!(refused_for_money(status), "{status:?}");
    let free = Esme::connect(smpp_addr(&node), BindKind::Transceiver, "free", "pw").await;
    free.submit_ok(short_submit("4915112345678", "f")).await;

    // An unmetered child of a metered parent is refused, and so is taking a metered
    // child's metering away; a prepaid child is fine.
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
    .await
    .stdout_ok();
    let refused = ctl(
        admin,
        &[
            "account",
            "create",
            "kid",
            "--password",
            "pw",
            "--parent",
            "parent",
            "--unmetered",
        ],
    )
    .await;
    assert!(!refused.ok(), "{refused:?}");
    assert!(refused.stderr.contains("not metered"), "{refused:?}");
    ctl(
        admin,
        &[
            "account",
            "create",
            "kid",
            "--password",
            "pw",
            "--parent",
            "parent",
        ],
    )
    .await
    .stdout_ok();
    let refused = ctl(admin, &["account", "limits", "kid", "--unmetered"]).await;
    assert!(refused.stderr.contains("not metered"), "{refused:?}");
    assert_eq!(show(admin, "kid").await["limits"]["credit_limit"], 0);
    // Metering changes later, by name.
    for (flag, expected) in [
        (vec!["--unmetered"], Value::Null),
        (vec!["--postpaid", "7"], Value::from(7)),
        (vec!["--prepaid"], Value::from(0)),
    ] {
        let mut args = vec!["account", "limits", "zero"];
        args.extend(flag);
        ctl(admin, &args).await.stdout_ok();
        assert_eq!(
            show(admin, "zero").await["limits"]["credit_limit"],
            expected
        );
    }

    // Unmetered with money makes no sense and is a usage error.
    let usage = ctl(
        admin,
        &[
            "account",
            "create",
            "odd",
            "--password",
            "pw",
            "--unmetered",
            "--credit",
            "5",
        ],
    )
    .await;
    assert_eq!(usage.code, Some(2), "{usage:?}");

    // What the postpaid account spent stops at its limit.
    let mut balance = Value::Null;
    for _ in 0..50 {
        let shown = show(admin, "post").await;
        balance = shown["ledger"]["balance"].clone();
        if balance == -10 && shown["ledger"]["reserved_amount"].as_i64().unwrap_or(0) == 0 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    assert_eq!(balance, -10);

    bare.unbind().await;
    post.unbind().await;
    free.unbind().await;
    node.shutdown().await;
    sim.shutdown().await;
}
