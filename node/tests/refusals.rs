#![allow(clippy::unwrap_used)]
//! Bad input gets the protocol's error and the session carries on; a refused message leaves
//! a Rejected CDR with the status it was refused with.

mod common;

use common::*;
use tern_smpp::rusmpp::types::OctetString;
use tern_smpp::rusmpp::values::DataCoding;
use tern_smpp::session::BindKind;
use tern_smpp::CommandStatus;
use tern_storage::{MessageRecord, RecordState};

/// A route for German numbers only; `quota` may send two parts a day.
fn toml(store: &std::path::Path, sim: std::net::SocketAddr) -> String {
    base_toml(store)
        + &account_toml("alice", "secret", "")
        + &account_toml("quota", "secret", "max_parts_per_day = 2")
        + &upstream_toml("op", sim, "")
        + "\n[[route]]\nname = \"de\"\nprefixes = [\"49\"]\ngroups = [{ links = [\"op\"] }]\n"
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_binds_are_refused_with_their_status() {
    init_tracing();
    let dir = tempfile::tempdir().unwrap();
    let sim = start_sim(sim_config()).await;
    // Six bad binds in a row from one address: more than a lockout allows by default.
    let lenient = toml(dir.path(), sim.addr()) + "\n[bind_lockout]\nmax_failures = 10\n";
    let node = start_node(&lenient).await;
    let addr = smpp_addr(&node);
    for kind in [
        BindKind::Transmitter,
        BindKind::Receiver,
        BindKind::Transceiver,
    ] {
        assert_eq!(
            Esme::bind(addr, kind, "mallory", "secret").await.err(),
            Some(CommandStatus::EsmeRinvsysid),
            "unknown account, {kind:?}"
        );
        assert_eq!(
            Esme::bind(addr, kind, "alice", "wrong").await.err(),
            Some(CommandStatus::EsmeRinvpaswd),
            "wrong password, {kind:?}"
        );
    }
    // The listener carries on: the right credentials bind and submit.
    let esme = Esme::connect(addr, BindKind::Transceiver, "alice", "secret").await;
    let id = esme
        .submit_ok(short_submit("4915112345678", "after bad binds"))
        .await;
    assert!(esme.inbox.wait_for_receipts([&id], WAIT).await);
    esme.unbind().await;
    node.shutdown().await;
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_submits_get_their_status_and_a_rejected_cdr() {
    init_tracing();
    let dir = tempfile::tempdir().unwrap();
    let sim = start_sim(sim_config()).await;
    let config = toml(dir.path(), sim.addr());
    let node = start_node(&config).await;
    let alice = Esme::connect(smpp_addr(&node), BindKind::Transceiver, "alice", "secret").await;
    let mut accepted = Vec::new();
    let mut valid = 0;
    let mut next_valid = || {
        valid += 1;
        short_submit("4915112345678", &format!("valid {valid}"))
    };

    // No route for France.
    assert_eq!(
        alice
            .submit_refused(short_submit("33612345678", "to France"))
            .await,
        CommandStatus::EsmeRinvdstadr
    );
    accepted.push(alice.submit_ok(next_valid()).await);

    // short_message and message_payload both set.
    let mut two_bodies = payload_submit("4915112345678", "in the payload");
    two_bodies.set_short_message(OctetString::from_slice(b"and here").unwrap());
    assert_eq!(
        alice.submit_refused(two_bodies).await,
        CommandStatus::EsmeRinvtlvval
    );
    accepted.push(alice.submit_ok(next_valid()).await);

    // 256 parts: one more than a message may have.
    let too_long = "x".repeat(255 * 153 + 1);
    assert_eq!(
        alice
            .submit_refused(payload_submit("4915112345678", &too_long))
            .await,
        CommandStatus::EsmeRinvmsglen
    );
    accepted.push(alice.submit_ok(next_valid()).await);

    // UCS-2 with an odd number of octets.
    let mut odd = short_submit("4915112345678", "x");
    odd.data_coding = DataCoding::from(8);
    odd.set_short_message(OctetString::from_slice(&[0x00, 0x41, 0x00]).unwrap());
    assert_eq!(
        alice.submit_refused(odd).await,
        CommandStatus::EsmeRinvmsglen
    );
    accepted.push(alice.submit_ok(next_valid()).await);

    // Two parts a day: the second message would be parts two and three.
    let quota = Esme::connect(smpp_addr(&node), BindKind::Transceiver, "quota", "secret").await;
    accepted.push(quota.submit_ok(next_valid()).await);
    let two_parts = payload_submit("4915112345678", &"y".repeat(200));
    assert_eq!(
        quota.submit_refused(two_parts).await,
        CommandStatus::EsmeRsubmitfail
    );
    // The session carries on, and the one part left is granted.
    accepted.push(quota.submit_ok(next_valid()).await);
    assert_eq!(
        quota.submit_refused(next_valid()).await,
        CommandStatus::EsmeRsubmitfail
    );

    assert_distinct_decimal(&accepted);
    let stats = sim.wait_for(WAIT, |s| s.submits >= 6).await;
    assert_eq!(
        stats.unique_submits, 6,
        "only accepted messages reach the operator"
    );
    alice.unbind().await;
    quota.unbind().await;
    node.shutdown().await;
    sim.shutdown().await;

    let store = reopen_store(&config).await;
    let records = |account| store.messages_by_account(account, None, 0, u64::MAX, 1000);
    let rejected = |records: Vec<MessageRecord>| -> Vec<(String, Option<u32>)> {
        let mut found: Vec<(String, Option<u32>)> = records
            .into_iter()
            .filter(|r| r.state == RecordState::Rejected)
            .map(|r| {
                let to = r.message.destination.value.clone();
                (to, r.error)
            })
            .collect();
        found.sort();
        found
    };
    let status = |s: CommandStatus| Some(u32::from(s));
    assert_eq!(
        rejected(records("quota").await.unwrap()),
        vec![
            (
                "4915112345678".into(),
                status(CommandStatus::EsmeRsubmitfail)
            ),
            (
                "4915112345678".into(),
                status(CommandStatus::EsmeRsubmitfail)
            ),
        ]
    );
    let alice_records = records("alice").await.unwrap();
    let alice_rejected = rejected(alice_records.clone());
    for expected in [
        ("33612345678".into(), status(CommandStatus::EsmeRinvdstadr)),
        (
            "4915112345678".into(),
            status(CommandStatus::EsmeRinvmsglen),
        ),
    ] {
        assert!(alice_rejected.contains(&expected), "{alice_rejected:?}");
    }
    // Accepted messages are not Rejected.
    let accepted_records = alice_records
        .into_iter()
        .filter(|r| accepted.contains(&r.id.to_decimal()))
        .count();
    assert_eq!(accepted_records, 4);
}
