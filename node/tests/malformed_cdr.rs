#![allow(clippy::unwrap_used)]
//! A submit refused because it does not map to a message (both bodies set, odd-length
//! UCS-2) leaves no Rejected CDR; every other refusal does.

mod common;

use common::*;
use tern_smpp::rusmpp::types::OctetString;
use tern_smpp::rusmpp::values::DataCoding;
use tern_smpp::session::BindKind;
use tern_smpp::CommandStatus;
use tern_storage::RecordState;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreadable_submits_leave_a_rejected_cdr() {
    init_tracing();
    let dir = tempfile::tempdir().unwrap();
    let sim = start_sim(sim_config()).await;
    let toml = base_toml(dir.path())
        + &account_toml("alice", "secret", "")
        + &upstream_toml("op", sim.addr(), "");
    let node = start_node(&toml).await;
    let alice = Esme::connect(smpp_addr(&node), BindKind::Transceiver, "alice", "secret").await;
    let mut two_bodies = payload_submit("4915112345678", "in the payload");
    two_bodies.set_short_message(OctetString::from_slice(b"and here").unwrap());
    assert_eq!(
        alice.submit_refused(two_bodies).await,
        CommandStatus::EsmeRinvtlvval
    );
    let mut odd = short_submit("4915112345678", "x");
    odd.data_coding = DataCoding::from(8);
    odd.set_short_message(OctetString::from_slice(&[0x00, 0x41, 0x00]).unwrap());
    assert_eq!(
        alice.submit_refused(odd).await,
        CommandStatus::EsmeRinvmsglen
    );
    alice.unbind().await;
    node.shutdown().await;
    sim.shutdown().await;

    let store = reopen_store(&toml).await;
    let mut errors: Vec<Option<u32>> = store
        .messages_by_account("alice", None, 0, u64::MAX, 100)
        .await
        .unwrap()
        .into_iter()
        .filter(|r| r.state == RecordState::Rejected)
        .map(|r| r.error)
        .collect();
    errors.sort();
    assert_eq!(
        errors,
        vec![
            Some(u32::from(CommandStatus::EsmeRinvmsglen)),
            Some(u32::from(CommandStatus::EsmeRinvtlvval)),
        ]
    );
}
