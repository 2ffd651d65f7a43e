#![allow(clippy::unwrap_used)]
//! SMPP query_sm and cancel_sm from a bound customer: a message still queued or scheduled
//! is withdrawn and never reaches the operator, a delivered or queued message reports its
//! state, and another account's message or an unknown id answers with the error.

mod common;

use std::time::Duration;

use common::*;
use tern_smpp::rusmpp::pdus::{CancelSm, QuerySm, QuerySmResp};
use tern_smpp::session::{c_octet, BindKind};
use tern_smpp::{CommandStatus, Pdu};

/// A route for `4917…` to link `dead`, whose operator never answers, and every other
/// destination to link `op` at the simulator.
fn node_toml(dir: &std::path::Path, sim: std::net::SocketAddr) -> String {
    let dead = std::net::SocketAddr::from(([127, 0, 0, 1], free_port()));
    base_toml(dir)
        + &account_toml("alice", "secret", "")
        + &account_toml("bob", "secret", "")
        + &upstream_toml("op", sim, "")
        + &upstream_toml("dead", dead, "")
        + "\n[[route]]\nname = \"held\"\nprefixes = [\"4917\"]\ngroups = [{ links = [\"dead\"] }]\n"
        + "\n[[route]]\nname = \"live\"\ngroups = [{ links = [\"op\"] }]\n"
}

async fn query(esme: &Esme, id: &str) -> Result<QuerySmResp, CommandStatus> {
    let pdu = QuerySm::builder()
        .message_id(c_octet(id))
        .source_addr(c_octet(SENDER))
        .build();
    let response = esme.request(pdu).await.unwrap();
    match response.pdu() {
        Some(Pdu::QuerySmResp(resp)) if response.status() == CommandStatus::EsmeRok => {
            Ok(resp.clone())
        }
        _ => Err(response.status()),
    }
}

async fn cancel(esme: &Esme, id: &str) -> CommandStatus {
    let pdu = CancelSm::builder()
        .message_id(c_octet(id))
        .source_addr(c_octet(SENDER))
        .build();
    esme.request(pdu).await.unwrap().status()
}

fn now_unix() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn customers_query_and_cancel_only_their_own_messages() {
    init_tracing();
    let dir = tempfile::tempdir().unwrap();
    let sim = start_sim(sim_config()).await;
    let node = start_node(&node_toml(dir.path(), sim.addr())).await;
    let addr = smpp_addr(&node);
    let alice = Esme::connect(addr, BindKind::Transceiver, "alice", "secret").await;
    let bob = Esme::connect(addr, BindKind::Transceiver, "bob", "secret").await;

    // Delivered: its state, the date it became final, no error.
    let delivered = alice
        .submit_ok(short_submit("4915112345001", "delivered"))
        .await;
    assert!(alice.inbox.wait_for_receipts([&delivered], WAIT).await);
    let resp = query(&alice, &delivered).await.unwrap();
    assert_eq!(resp.message_id.as_str(), delivered);
    assert_eq!(u8::from(resp.message_state), 2, "DELIVERED");
    assert_eq!(resp.error_code, 0);
    let final_unix = tern_smpp::time::smpp_time_to_unix(resp.final_date.as_str(), now_unix())
        .unwrap()
        .expect("a delivered message has a final date");
    assert!((final_unix - now_unix()).abs() < 60, "{resp:?}");
    assert_eq!(
        cancel(&alice, &delivered).await,
        CommandStatus::EsmeRcancelfail,
        "a delivered message cannot be withdrawn"
    );

    // Queued behind a link that never comes up: ENROUTE, no final date.
    let queued = alice
        .submit_ok(short_submit("4917112345002", "queued"))
        .await;
    let resp = query(&alice, &queued).await.unwrap();
    assert_eq!(u8::from(resp.message_state), 1, "ENROUTE");
    assert!(resp.final_date.is_empty(), "{resp:?}");

    // Another account's message is unknown to alice, for a query and a cancel alike.
    let bobs = bob.submit_ok(short_submit("4917112345003", "bob's")).await;
    assert_eq!(
        query(&alice, &bobs).await.unwrap_err(),
        CommandStatus::EsmeRqueryfail
    );
    assert_eq!(cancel(&alice, &bobs).await, CommandStatus::EsmeRcancelfail);
    assert_eq!(u8::from(query(&bob, &bobs).await.unwrap().message_state), 1);
    for unknown in ["12345", "not-an-id", ""] {
        assert_eq!(
            cancel(&alice, unknown).await,
            CommandStatus::EsmeRcancelfail
        );
        assert_eq!(
            query(&alice, unknown).await.unwrap_err(),
            CommandStatus::EsmeRqueryfail
        );
    }

    // The queued message is withdrawn: DELETED from then on, and its receipt says so.
    assert_eq!(cancel(&alice, &queued).await, CommandStatus::EsmeRok);
    let resp = query(&alice, &queued).await.unwrap();
    assert_eq!(u8::from(resp.message_state), 4, "DELETED");
    assert!(!resp.final_date.is_empty());
    assert_eq!(
        cancel(&alice, &queued).await,
        CommandStatus::EsmeRcancelfail,
        "withdrawn once"
    );

    // Scheduled a few seconds ahead for the live operator, withdrawn, never sent.
    let mut scheduled = text_message("4915112345004", "scheduled");
    let due = now_unix() + 4;
    scheduled.schedule_unix = Some(due);
    let pdu = submits(&scheduled, tern_smpp::mapping::Concat::Udh8).remove(0);
    let scheduled = alice.submit_ok(pdu).await;
    assert_eq!(cancel(&alice, &scheduled).await, CommandStatus::EsmeRok);
    let resp = query(&alice, &scheduled).await.unwrap();
    assert_eq!(u8::from(resp.message_state), 4, "DELETED");
    let wait = Duration::from_secs((due + 2 - now_unix()).max(0) as u64);
    tokio::time::sleep(wait).await;
    assert_eq!(
        sim.stats().submits,
        1,
        "only the delivered message reached the operator"
    );

    alice.unbind().await;
    bob.unbind().await;
    node.shutdown().await;
    sim.shutdown().await;
}
