#![allow(clippy::unwrap_used)]
//! Three nodes in one process form a cluster from their files alone: the first bootstraps
//! and adds the peers it names; an account created on one node binds on another, and its
//! messages reach the operator over the one bind the cluster holds, wherever it is.

mod common;

use std::time::Duration;

use common::*;
use tern_ledger::{AccountSpec, Command, Limits, Request, Response};
use tern_smpp::session::BindKind;

fn node_toml(
    dir: &std::path::Path,
    id: u16,
    raft: u16,
    peers: &[(u16, u16)],
    sim: std::net::SocketAddr,
    (cql, keyspace): (&str, &str),
) -> String {
    let bootstrap = !peers.is_empty();
    let peers: Vec<String> = peers
        .iter()
        .map(|(id, port)| format!("{{ id = {id}, addr = \"127.0.0.1:{port}\" }}"))
        .collect();
    let mut toml = cluster_base_toml(&dir.join(format!("store{id}")), cql, keyspace)
        .replace("[node]\n", &format!("[node]\nid = {id}\n"))
        .replacen(
            "[cluster]\nlisten = \"127.0.0.1:0\"",
            &format!(
                "[cluster]\nlisten = \"127.0.0.1:{raft}\"\nbootstrap = {bootstrap}\nsecret = \"s\"\npeers = [{}]",
                peers.join(", ")
            ),
            1,
        );
    if bootstrap {
        toml += &upstream_toml("op", sim, "");
        toml += &account_toml("alice", "secret", "");
        toml += "\n[[mo_rule]]\naccount = \"alice\"\nnumbers = [\"4915550001\"]\n";
    }
    toml
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cluster_forms_from_its_files_and_shares_accounts() {
    init_tracing();
    let Some(cql) = cql_or_skip("a_cluster_forms_from_its_files_and_shares_accounts") else {
        return;
    };
    let keyspace = test_keyspace();
    let db = (cql.as_str(), keyspace.as_str());
    let dir = tempfile::tempdir().unwrap();
    // The operator also sends MO for alice's number.
    let sim = start_sim(tern_bench::smsc::SmscConfig {
        mo: Some(tern_bench::smsc::MoConfig {
            rate: 10.0,
            destination: "4915550001".into(),
            source_prefix: "49170".into(),
            system_id: Some(SIM_USER.into()),
        }),
        ..sim_config()
    })
    .await;
    let ports = [free_port(), free_port(), free_port()];
    let first = start_node(&node_toml(
        dir.path(),
        1,
        ports[0],
        &[(2, ports[1]), (3, ports[2])],
        sim.addr(),
        db,
    ))
    .await;
    let second = start_node(&node_toml(dir.path(), 2, ports[1], &[], sim.addr(), db)).await;
    let third = start_node(&node_toml(dir.path(), 3, ports[2], &[], sim.addr(), db)).await;

    let formed = eventually(Duration::from_secs(30), || {
        let status = first.cluster.status();
        status.members.iter().filter(|m| m.voter).count() == 3
    })
    .await;
    assert!(formed, "not three voters: {:?}", first.cluster.status());

    // Proposed on a follower, forwarded to the leader, applied everywhere.
    let spec = AccountSpec {
        id: "carol".into(),
        password_hash: tern_actors::accounts::hash_password("pw").unwrap(),
        enabled: true,
        max_binds: 4,
        allowed_ips: Vec::new(),
        sender_ids: Vec::new(),
        transliterate: false,
        parent: None,
        tags: Default::default(),
        limits: Limits::default(),
        secrets: Default::default(),
    };
    let response = third
        .cluster
        .propose(Request {
            at_ms: 0,
            audit: None,
            command: Command::CreateAccount { spec, credit: 0 },
        })
        .await
        .unwrap();
    assert_eq!(response, Response::Ok);
    // The link of the first node's file allows one bind: the cluster holds one, on one
    // node, and carol binds on the second.
    let linked = sim.wait_for(WAIT, |s| s.binds >= 1).await;
    assert_eq!(linked.binds, 1, "{linked:?}");
    let mut carol = None;
    for _ in 0..100 {
        if let Ok(esme) = Esme::bind(smpp_addr(&second), BindKind::Transceiver, "carol", "pw").await
        {
            carol = Some(esme);
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let carol = carol.expect("carol binds on the second node");
    let mut ids = Vec::new();
    for i in 0..10 {
        ids.push(
            carol
                .submit_ok(short_submit("4915112345678", &format!("hello cluster {i}")))
                .await,
        );
    }
    // Whichever node holds the bind sends them all, over the one bind.
    let sent = sim.wait_for(WAIT, |s| s.submits >= 10).await;
    assert_eq!(sent.submits, 10, "{sent:?}");
    assert_eq!(sent.binds, 1, "{sent:?}");
    assert_eq!(sent.binds_total, 1, "{sent:?}");
    // Receipts come in on the bind's node and reach carol on hers.
    assert!(
        carol.inbox.wait_for_receipts(&ids, WAIT).await,
        "receipts: {:?}",
        carol.inbox.all()
    );
    // MO come in on the bind's node and reach alice on a node that holds no bind.
    let holder = *first
        .cluster
        .read(|s| s.cluster.bind_holders("op"))
        .keys()
        .next()
        .unwrap();
    let elsewhere = [&first, &second, &third]
        .into_iter()
        .find(|n| n.cluster.node_id() != holder)
        .unwrap();
    let alice = Esme::connect(smpp_addr(elsewhere), BindKind::Receiver, "alice", "secret").await;
    assert!(
        eventually(WAIT, || alice.inbox.mos().len() >= 5).await,
        "MO for alice on node {}: {:?}",
        elsewhere.cluster.node_id(),
        alice.inbox.all()
    );
    alice.unbind().await;
    carol.unbind().await;
    for node in [third, second, first] {
        node.shutdown().await;
    }
    sim.shutdown().await;
}
