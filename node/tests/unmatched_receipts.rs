#![allow(clippy::unwrap_used)]
mod common;
use common::*;
use tern_smpp::session::BindKind;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn receipts_for_unknown_ids_do_not_block_the_link() {
    init_tracing();
    let dir = tempfile::tempdir().unwrap();
    let sim = start_sim(sim_config()).await;
    let toml = base_toml(dir.path())
        + &account_toml("alice", "secret", "")
        + &upstream_toml("op", sim.addr(), "");
    let node = start_node(&toml).await;
    let alice = Esme::connect(smpp_addr(&node), BindKind::Transceiver, "alice", "secret").await;
    assert_eq!(sim.wait_for(WAIT, |s| s.binds == 1).await.binds, 1);
    // Someone else submits on the node's operator account: the operator sends the node a
    // window's worth of receipts for ids the node never had.
    let stranger = Esme::connect(sim.addr(), BindKind::Transmitter, SIM_USER, SIM_PASSWORD).await;
    for i in 0..64 {
        stranger
            .submit_ok(short_submit("4915112345678", &format!("stranger {i}")))
            .await;
    }
    let id = alice.submit_ok(short_submit("4915112345678", "mine")).await;
    let got = alice.inbox.wait_for_receipts([&id], WAIT).await;
    eprintln!("operator: {:?}", sim.stats());
    assert!(got, "the customer's receipt did not come");
    node.shutdown().await;
}
