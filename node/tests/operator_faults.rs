#![allow(clippy::unwrap_used)]
//! The operator misbehaves: it throttles and fails transiently (every message still gets
//! there once), the first link of a route fails or is down (the next group takes over), or
//! it refuses everything for good (the customer hears so in a receipt and the CDR says
//! Failed), it sends every receipt twice (the customer hears one), or it answers late (the
//! late acceptance is recorded and the resend left out).

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::*;
use tern_bench::smsc::SmscConfig;
use tern_model::MessageState;
use tern_smpp::rusmpp::values::RegisteredDelivery;
use tern_smpp::session::BindKind;
use tern_smpp::CommandStatus;
use tern_storage::RecordState;

/// Every id has exactly one receipt, and it says DELIVRD.
fn assert_delivered_once(inbox: &Inbox, ids: &[String]) {
    let by_id = inbox.receipts_by_id();
    for id in ids {
        let receipts = by_id.get(id).map(Vec::as_slice).unwrap_or_default();
        assert_eq!(receipts.len(), 1, "receipts of {id}: {receipts:?}");
        assert_eq!(receipts[0].state(), Some(MessageState::Delivered));
    }
    assert_eq!(inbox.receipts().len(), ids.len());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn throttling_and_transient_errors_are_retried_without_duplicates() {
    init_tracing();
    let dir = tempfile::tempdir().unwrap();
    let sim = start_sim(SmscConfig {
        throttle_rate: 0.3,
        transient_error_rate: 0.1,
        seed: 7,
        ..sim_config()
    })
    .await;
    let toml = base_toml(dir.path())
        + &account_toml("alice", "secret", "")
        + &upstream_toml("op", sim.addr(), "");
    let node = start_node(&toml).await;
    let esme =
        Arc::new(Esme::connect(smpp_addr(&node), BindKind::Transceiver, "alice", "secret").await);
    // With 30 % of submits throttled at random the link's window stays small and every
    // throttle pauses it: 100 messages take a few seconds.
    const N: usize = 100;
    let ids = submit_windowed(&esme, distinct_submits(N, "retried"), 32).await;
    assert_distinct_decimal(&ids);
    assert!(
        esme.inbox
            .wait_for_receipts(&ids, Duration::from_secs(20))
            .await,
        "{} of {N} receipts; operator: {:?}",
        esme.inbox.receipts_by_id().len(),
        sim.stats()
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_delivered_once(&esme.inbox, &ids);
    let stats = sim.stats();
    eprintln!("operator saw {stats:?}");
    assert_eq!(stats.duplicates, 0, "{stats:?}");
    assert_eq!(stats.unique_submits, N as u64, "{stats:?}");
    let refused = |name: &str| stats.submits_by_status.get(name).copied().unwrap_or(0);
    assert!(
        refused("ESME_RTHROTTLED") > 0 && refused("ESME_RSYSERR") > 0,
        "the errors were injected: {stats:?}"
    );
    assert_eq!(
        stats.submits,
        N as u64 + refused("ESME_RTHROTTLED") + refused("ESME_RSYSERR")
    );
    Arc::try_unwrap(esme).ok().unwrap().unbind().await;
    node.shutdown().await;
    sim.shutdown().await;
}

/// A route whose first group is link `a` and second group link `b`.
fn failover_toml(
    store: &std::path::Path,
    a: std::net::SocketAddr,
    b: std::net::SocketAddr,
) -> String {
    base_toml(store)
        + &account_toml("alice", "secret", "")
        + &upstream_toml("a", a, "")
        + &upstream_toml("b", b, "")
        + "\n[[route]]\nname = \"all\"\ngroups = [{ links = [\"a\"], failover_after = 3 }, { links = [\"b\"] }]\n"
}

async fn all_go_to_the_second_group(
    a: Option<&tern_bench::smsc::SmscHandle>,
    a_addr: std::net::SocketAddr,
) {
    let dir = tempfile::tempdir().unwrap();
    let b = start_sim(sim_config()).await;
    let node = start_node(&failover_toml(dir.path(), a_addr, b.addr())).await;
    let esme =
        Arc::new(Esme::connect(smpp_addr(&node), BindKind::Transceiver, "alice", "secret").await);
    const N: usize = 50;
    let ids = submit_windowed(&esme, distinct_submits(N, "failover"), 8).await;
    assert!(
        esme.inbox.wait_for_receipts(&ids, WAIT).await,
        "{} of {N} receipts; b: {:?}; a: {:?}",
        esme.inbox.receipts_by_id().len(),
        b.stats(),
        a.map(|a| a.stats())
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_delivered_once(&esme.inbox, &ids);
    let on_b = b.stats();
    assert_eq!(
        (on_b.unique_submits, on_b.duplicates),
        (N as u64, 0),
        "{on_b:?}"
    );
    if let Some(a) = a {
        let on_a = a.stats();
        assert!(on_a.submits > 0, "the first group was tried: {on_a:?}");
        assert_eq!(on_a.unique_submits, 0, "{on_a:?}");
    }
    Arc::try_unwrap(esme).ok().unwrap().unbind().await;
    node.shutdown().await;
    b.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_first_link_fails_over_to_the_next_group() {
    init_tracing();
    let a = start_sim(SmscConfig {
        transient_error_rate: 1.0,
        ..sim_config()
    })
    .await;
    all_go_to_the_second_group(Some(&a), a.addr()).await;
    a.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_first_link_that_is_down_fails_over_to_the_next_group() {
    init_tracing();
    // Nothing listens there.
    let down = std::net::SocketAddr::from(([127, 0, 0, 1], free_port()));
    all_go_to_the_second_group(None, down).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn permanent_errors_fail_the_message_and_the_customer_hears_so() {
    init_tracing();
    let dir = tempfile::tempdir().unwrap();
    let sim = start_sim(SmscConfig {
        permanent_error_rate: 1.0,
        ..sim_config()
    })
    .await;
    let toml = base_toml(dir.path())
        + &account_toml("alice", "secret", "")
        + &upstream_toml("op", sim.addr(), "");
    let node = start_node(&toml).await;
    let esme = Esme::connect(smpp_addr(&node), BindKind::Transceiver, "alice", "secret").await;
    let mut want_receipt = Vec::new();
    let mut no_receipt = Vec::new();
    for i in 0..10 {
        want_receipt.push(
            esme.submit_ok(short_submit("4915112345678", &format!("refused {i}")))
                .await,
        );
        let mut quiet = short_submit("4915112345678", &format!("quiet {i}"));
        quiet.registered_delivery = RegisteredDelivery::from(0);
        no_receipt.push(esme.submit_ok(quiet).await);
    }
    assert!(
        esme.inbox.wait_for_receipts(&want_receipt, WAIT).await,
        "{:?}",
        esme.inbox.receipts_by_id().keys().collect::<Vec<_>>()
    );
    // Every message was tried once and never again.
    let stats = sim.wait_for(WAIT, |s| s.submits >= 20).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(sim.stats().submits, 20, "{stats:?}");
    let by_id = esme.inbox.receipts_by_id();
    for id in &want_receipt {
        let receipts = &by_id[id];
        assert_eq!(receipts.len(), 1, "{receipts:?}");
        let state = receipts[0].state();
        assert!(
            matches!(
                state,
                Some(MessageState::Undeliverable | MessageState::Rejected)
            ),
            "receipt of {id} says {state:?}"
        );
    }
    for id in &no_receipt {
        assert!(!by_id.contains_key(id), "{id} asked for no receipt");
    }
    esme.unbind().await;
    node.shutdown().await;
    sim.shutdown().await;

    let store = reopen_store(&toml).await;
    let records = store
        .messages_by_account("alice", None, 0, u64::MAX, 1000)
        .await
        .unwrap();
    assert_eq!(records.len(), 20);
    let refusal = u32::from(CommandStatus::EsmeRinvdstadr);
    for record in &records {
        assert_eq!(record.state, RecordState::Failed, "{record:?}");
        assert_eq!(record.error, Some(refusal), "{record:?}");
        assert!(
            want_receipt.contains(&record.id.to_decimal())
                || no_receipt.contains(&record.id.to_decimal())
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operator_that_sends_every_receipt_twice_is_heard_once() {
    init_tracing();
    let dir = tempfile::tempdir().unwrap();
    let sim = start_sim(SmscConfig {
        duplicate_receipts: 1.0,
        receipt_before_resp: 0.3,
        seed: 11,
        ..sim_config()
    })
    .await;
    let toml = base_toml(dir.path())
        + &account_toml("alice", "secret", "")
        + &upstream_toml("op", sim.addr(), "");
    let node = start_node(&toml).await;
    let esme =
        Arc::new(Esme::connect(smpp_addr(&node), BindKind::Transceiver, "alice", "secret").await);
    const N: usize = 40;
    let ids = submit_windowed(&esme, distinct_submits(N, "twice"), 8).await;
    assert!(
        esme.inbox
            .wait_for_receipts(&ids, Duration::from_secs(20))
            .await,
        "{} of {N} receipts; operator: {:?}",
        esme.inbox.receipts_by_id().len(),
        sim.stats()
    );
    // Time for second copies to come through, were they passed on.
    let stats = sim
        .wait_for(WAIT, |s| {
            s.receipts_duplicated >= N as u64 && s.receipts_pending == 0
        })
        .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(stats.receipts_duplicated, N as u64, "{stats:?}");
    assert_delivered_once(&esme.inbox, &ids);
    Arc::try_unwrap(esme).ok().unwrap().unbind().await;
    node.shutdown().await;
    sim.shutdown().await;
}

/// The operator answers some submits only after the link's response timer ran out: the late
/// acceptance is recorded (the part is submitted, under the id the receipt carries), so the
/// resend due later is left out and each message reaches the operator once and gets its
/// one receipt.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_late_acceptance_is_recorded_and_saves_the_resend() {
    init_tracing();
    let dir = tempfile::tempdir().unwrap();
    let sim = start_sim(SmscConfig {
        slow_answer: 0.3,
        slow_answer_delay: Duration::from_secs(2),
        seed: 13,
        ..sim_config()
    })
    .await;
    // Timer 1 s, late answers at 2 s, resends due 4 s after the timer.
    let toml = base_toml(dir.path())
        .replacen(
            "[smpp]\nlisten = \"127.0.0.1:0\"\n",
            "[smpp]\nlisten = \"127.0.0.1:0\"\nresponse_timeout_secs = 1\n",
            1,
        )
        .replacen("retry_min_ms = 50", "retry_min_ms = 4000", 1)
        .replacen("retry_max_secs = 1", "retry_max_secs = 10", 1)
        + &account_toml("alice", "secret", "")
        + &upstream_toml("op", sim.addr(), "");
    assert!(toml.contains("response_timeout_secs = 1\n") && toml.contains("retry_min_ms = 4000"));
    let node = start_node(&toml).await;
    let esme =
        Arc::new(Esme::connect(smpp_addr(&node), BindKind::Transceiver, "alice", "secret").await);
    const N: usize = 30;
    let ids = submit_windowed(&esme, distinct_submits(N, "late"), 8).await;
    assert!(
        esme.inbox
            .wait_for_receipts(&ids, Duration::from_secs(30))
            .await,
        "{} of {N} receipts; operator: {:?}",
        esme.inbox.receipts_by_id().len(),
        sim.stats()
    );
    // Past the resends' due time: none may come.
    tokio::time::sleep(Duration::from_secs(5)).await;
    let stats = sim.stats();
    eprintln!("operator saw {stats:?}");
    assert!(
        stats.slow_answers > 0,
        "slow answers were injected: {stats:?}"
    );
    assert_eq!(stats.duplicates, 0, "{stats:?}");
    assert_eq!(stats.unique_submits, N as u64, "{stats:?}");
    assert_delivered_once(&esme.inbox, &ids);
    Arc::try_unwrap(esme).ok().unwrap().unbind().await;
    node.shutdown().await;
    sim.shutdown().await;
}
