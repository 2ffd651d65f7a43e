#![cfg(feature = "failpoints")]
#![allow(clippy::unwrap_used)]
//! The failpoints a `tern` built with `--features failpoints` turns on from `FAILPOINTS`,
//! seen on the wire: each is a bug the chaos checker must catch, so each must really do
//! its damage. Runs that binary as a child process against an operator that records every
//! submit_sm.
//!
//! `cargo test -p tern-node --features failpoints --test failpoints` (the chaos step of
//! `scripts/test` runs it).

mod common;

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use common::operator::RecordingOperator;
use common::process::NodeProcess;
use common::*;
use tern_smpp::session::BindKind;

const TOKEN: &str = "failpoints-token";

/// A node with one account (alice) and one upstream (the recording `operator`), its SMPP
/// and admin API on the given ports; returns its configuration file.
fn write_config(
    dir: &Path,
    operator: SocketAddr,
    smpp: SocketAddr,
    admin: SocketAddr,
) -> std::path::PathBuf {
    let toml = base_toml(&dir.join("store")).replacen(
        "listen = \"127.0.0.1:0\"",
        &format!("listen = \"{smpp}\""),
        1,
    ) + &format!("\n[admin]\nlisten = \"{admin}\"\ntoken = \"{TOKEN}\"\n")
        + &account_toml("alice", "secret", "")
        + &upstream_toml("op", operator, "");
    let config = dir.join("tern.toml");
    std::fs::write(&config, toml).unwrap();
    config
}

/// Binds alice as a transmitter once the node listens (it may still be starting).
async fn bind_when_up(addr: SocketAddr) -> Esme {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        if tokio::net::TcpStream::connect(addr).await.is_ok() {
            return Esme::connect(addr, BindKind::Transmitter, "alice", "secret").await;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the node did not listen on {addr}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// How many submit_sm the operator got for `destination`.
fn submits_to(operator: &RecordingOperator, destination: &str) -> usize {
    operator
        .submits()
        .iter()
        .filter(|s| s.destination_addr.as_str() == destination)
        .count()
}

/// The node's log says loudly which failpoints are on.
fn assert_warned(log: &Path, failpoint: &str) {
    let text = std::fs::read_to_string(log).unwrap();
    assert!(
        text.lines()
            .any(|l| l.contains("FAILPOINTS ACTIVE") && l.contains(failpoint)),
        "no warning naming {failpoint} in the log:\n{text}"
    );
}

/// accept_ack_before_durable, on for the first submit only (`1*return`): the customer is
/// answered OK with an id, yet nothing reaches the operator and the admin API knows no
/// such message. The second submit goes through as usual and shows that the first would
/// have reached the operator by then.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn accept_ack_before_durable_answers_ok_and_writes_nothing() {
    init_tracing();
    let dir = tempfile::tempdir().unwrap();
    let operator = RecordingOperator::start().await;
    let smpp = SocketAddr::from(([127, 0, 0, 1], free_port()));
    let admin = SocketAddr::from(([127, 0, 0, 1], free_port()));
    let config = write_config(dir.path(), operator.addr(), smpp, admin);
    let log = dir.path().join("node.log");
    let _node = NodeProcess::start_with_env(
        &config,
        log.clone(),
        &[("FAILPOINTS", "accept_ack_before_durable=1*return")],
    );
    let esme = bind_when_up(smpp).await;

    let lost = esme
        .submit_ok(short_submit("4915100000001", "answered, never written"))
        .await;
    let kept = esme
        .submit_ok(short_submit("4915100000002", "written as usual"))
        .await;
    assert_distinct_decimal(&[lost.clone(), kept.clone()]);
    assert!(
        eventually(WAIT, || submits_to(&operator, "4915100000002") == 1).await,
        "the second message did not reach the operator: {:?}",
        operator.submits()
    );
    // The first was answered earlier: had it been written, it would be there by now.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        submits_to(&operator, "4915100000001"),
        0,
        "the message answered before it was durable reached the operator"
    );

    let history = common::ctl::ctl(admin, TOKEN, &["report", "message", &lost]).await;
    assert_eq!(history.code, Some(1), "{history:?}");
    assert!(history.stderr.contains("not found"), "{history:?}");
    let history = common::ctl::ctl(admin, TOKEN, &["--json", "report", "message", &kept])
        .await
        .json();
    assert_eq!(
        history["messages"][0]["id"].as_u64().unwrap().to_string(),
        kept,
        "{history}"
    );
    assert_warned(&log, "accept_ack_before_durable");
    esme.unbind().await;
}

/// link_resend_known: a part the operator accepted is submitted to it once more, and only
/// once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn link_resend_known_submits_an_accepted_part_twice() {
    init_tracing();
    let dir = tempfile::tempdir().unwrap();
    let operator = RecordingOperator::start().await;
    let smpp = SocketAddr::from(([127, 0, 0, 1], free_port()));
    let admin = SocketAddr::from(([127, 0, 0, 1], free_port()));
    let config = write_config(dir.path(), operator.addr(), smpp, admin);
    let log = dir.path().join("node.log");
    let _node = NodeProcess::start_with_env(
        &config,
        log.clone(),
        &[("FAILPOINTS", "link_resend_known=return")],
    );
    let esme = bind_when_up(smpp).await;

    esme.submit_ok(short_submit("4915100000003", "sent twice"))
        .await;
    assert!(
        eventually(WAIT, || submits_to(&operator, "4915100000003") >= 2).await,
        "the operator did not receive the part twice: {:?}",
        operator.submits()
    );
    // The resend is not resent in turn.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let submits = operator.submits();
    assert_eq!(submits.len(), 2, "{submits:?}");
    assert_eq!(
        submits[0].short_message(),
        submits[1].short_message(),
        "the same part both times"
    );
    assert_warned(&log, "link_resend_known");
    esme.unbind().await;
}
