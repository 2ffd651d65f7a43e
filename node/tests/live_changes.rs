#![allow(clippy::unwrap_used)]
//! Changes through `tern ctl` take effect on a running node without a restart: a new
//! carrier link binds, a new route sends traffic to it, a TPS cap throttles, a changed
//! link restarts with its new settings, and a disabled account is unbound and refused.

mod common;

use std::time::Duration;

use common::*;
use tern_smpp::session::BindKind;
use tern_smpp::CommandStatus;

const TOKEN: &str = "live-token";

async fn ctl(admin: std::net::SocketAddr, args: &[&str]) -> String {
    common::ctl::ctl(admin, TOKEN, args).await.stdout_ok()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn routes_links_caps_and_accounts_change_live() {
    init_tracing();
    let dir = tempfile::tempdir().unwrap();
    let first = start_sim(sim_config()).await;
    let second = start_sim(sim_config()).await;
    let toml = base_toml(&dir.path().join("store"))
        + &format!("\n[admin]\nlisten = \"127.0.0.1:0\"\ntoken = \"{TOKEN}\"\n")
        + &account_toml("alice", "secret", "")
        + &upstream_toml("a", first.addr(), "");
    let node = start_node(&toml).await;
    let admin = node.endpoints.admin.unwrap();
    let alice = Esme::connect(smpp_addr(&node), BindKind::Transceiver, "alice", "secret").await;
    alice.submit_ok(short_submit("4915112345678", "to a")).await;
    first.wait_for(WAIT, |s| s.submits >= 1).await;

    // A second link, then a route that sends 4917 to it.
    let link = dir.path().join("b.toml");
    std::fs::write(
        &link,
        upstream_toml("b", second.addr(), "window = 8").replace("\n[[upstream]]\n", ""),
    )
    .unwrap();
    ctl(admin, &["link", "put", "--file", link.to_str().unwrap()]).await;
    let bound = second.wait_for(WAIT, |s| s.binds >= 1).await;
    assert!(bound.binds >= 1, "the new link did not bind: {bound:?}");
    let route = dir.path().join("route.toml");
    std::fs::write(
        &route,
        "[[route]]\nname = \"mobile-17\"\nprefixes = [\"4917\"]\ngroups = [{ links = [\"b\"] }]\n\n\
         [[route]]\nname = \"rest\"\ngroups = [{ links = [\"a\"] }]\n",
    )
    .unwrap();
    // One table per call: split the file.
    let text = std::fs::read_to_string(&route).unwrap();
    for (i, table) in text.split("\n\n").enumerate() {
        let path = dir.path().join(format!("route{i}.toml"));
        std::fs::write(&path, table).unwrap();
        ctl(admin, &["route", "put", "--file", path.to_str().unwrap()]).await;
    }
    let mut routed = false;
    for _ in 0..50 {
        alice.submit_ok(short_submit("4917012345678", "to b")).await;
        if second
            .wait_for(Duration::from_millis(200), |s| s.submits >= 1)
            .await
            .submits
            >= 1
        {
            routed = true;
            break;
        }
    }
    assert!(routed, "nothing reached the new link over the new route");

    // A changed link restarts with its new settings: it binds again.
    let before = second.stats().binds_total;
    std::fs::write(
        &link,
        upstream_toml("b", second.addr(), "window = 16").replace("\n[[upstream]]\n", ""),
    )
    .unwrap();
    ctl(admin, &["link", "put", "--file", link.to_str().unwrap()]).await;
    let rebound = second.wait_for(WAIT, |s| s.binds_total > before).await;
    assert!(
        rebound.binds_total > before,
        "the changed link did not restart"
    );

    // A TPS cap of 2: a burst of 20 is mostly throttled with 0x58.
    ctl(admin, &["account", "update", "alice", "--tps", "2"]).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut throttled = 0;
    for i in 0..20 {
        match alice
            .submit(short_submit("4915112345678", &format!("burst {i}")))
            .await
        {
            Ok(Outcome::Refused(CommandStatus::EsmeRthrottled)) => throttled += 1,
            Ok(_) => {}
            Err(_) => panic!("connection lost"),
        }
    }
    assert!(
        throttled >= 15,
        "only {throttled} of 20 throttled under a cap of 2/s"
    );
    ctl(admin, &["account", "update", "alice", "--unlimited-tps"]).await;

    // Disabled: the session is unbound and a new bind is refused.
    ctl(admin, &["account", "disable", "alice"]).await;
    assert!(
        eventually(WAIT, || alice.is_closed()).await,
        "the disabled account's session stayed bound"
    );
    let refused = Esme::bind(smpp_addr(&node), BindKind::Transceiver, "alice", "secret").await;
    assert_eq!(refused.err(), Some(CommandStatus::EsmeRbindfail));
    ctl(admin, &["account", "enable", "alice"]).await;
    let mut back = None;
    for _ in 0..50 {
        if let Ok(esme) =
            Esme::bind(smpp_addr(&node), BindKind::Transceiver, "alice", "secret").await
        {
            back = Some(esme);
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let back = back.expect("the enabled account binds again");
    back.submit_ok(short_submit("4915112345678", "welcome back"))
        .await;
    back.unbind().await;
    node.shutdown().await;
    first.shutdown().await;
    second.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mo_rules_change_live_through_tern_ctl() {
    init_tracing();
    let dir = tempfile::tempdir().unwrap();
    const SHORT_CODE: &str = "4915550001";
    let sim = start_sim(tern_bench::smsc::SmscConfig {
        mo: Some(tern_bench::smsc::MoConfig {
            rate: 20.0,
            destination: SHORT_CODE.into(),
            source_prefix: "49170".into(),
            system_id: Some(SIM_USER.into()),
        }),
        ..sim_config()
    })
    .await;
    let toml = base_toml(&dir.path().join("store"))
        + &format!("\n[admin]\nlisten = \"127.0.0.1:0\"\ntoken = \"{TOKEN}\"\n")
        + &account_toml("alice", "secret", "")
        + &upstream_toml("op", sim.addr(), "");
    let node = start_node(&toml).await;
    let admin = node.endpoints.admin.unwrap();
    let alice = Esme::connect(smpp_addr(&node), BindKind::Receiver, "alice", "secret").await;

    // Nobody owns the number yet: the operator's MO are refused.
    let refused = sim.wait_for(WAIT, |s| s.mo_sent >= 3).await;
    assert!(refused.mo_sent >= 3, "{refused:?}");
    assert_eq!(refused.mo_acked, 0, "MO acknowledged without any rule");

    let bad = common::ctl::ctl(
        admin,
        TOKEN,
        &[
            "mo",
            "put",
            "shop",
            "--account",
            "nobody",
            "--number",
            SHORT_CODE,
        ],
    )
    .await;
    assert!(
        !bad.ok() && bad.stderr.contains("mo_rule.account"),
        "{bad:?}"
    );

    ctl(
        admin,
        &[
            "mo",
            "put",
            "shop",
            "--account",
            "alice",
            "--number",
            SHORT_CODE,
        ],
    )
    .await;
    assert!(
        eventually(WAIT, || alice.inbox.mos().len() >= 3).await,
        "no MO reached alice after the rule was put: {:?}",
        sim.stats()
    );
    assert!(alice
        .inbox
        .mos()
        .iter()
        .all(|mo| mo.destination == SHORT_CODE && mo.source.starts_with("49170")));

    let listed = common::ctl::ctl(admin, TOKEN, &["--json", "mo", "list"])
        .await
        .json();
    let rules = listed["rules"].as_array().unwrap();
    assert_eq!(rules.len(), 1, "{listed}");
    assert_eq!(rules[0]["name"], "shop");
    assert_eq!(rules[0]["account"], "alice");
    assert_eq!(rules[0]["numbers"][0], SHORT_CODE);
    let table = ctl(admin, &["mo", "list"]).await;
    assert!(
        table
            .lines()
            .any(|l| l.starts_with("shop") && l.contains("alice")),
        "{table}"
    );

    ctl(admin, &["mo", "delete", "shop"]).await;
    let listed = common::ctl::ctl(admin, TOKEN, &["--json", "mo", "list"])
        .await
        .json();
    assert!(
        listed["rules"].as_array().is_none_or(Vec::is_empty),
        "{listed}"
    );
    // A rule from a file, stored disabled: listed, not used.
    let file = dir.path().join("rule.toml");
    std::fs::write(
        &file,
        format!(
            "[[mo_rule]]\nname = \"later\"\naccount = \"alice\"\nnumbers = [\"{SHORT_CODE}\"]\n"
        ),
    )
    .unwrap();
    ctl(
        admin,
        &["mo", "put", "--file", file.to_str().unwrap(), "--disabled"],
    )
    .await;
    let listed = common::ctl::ctl(admin, TOKEN, &["--json", "mo", "list"])
        .await
        .json();
    assert_eq!(listed["rules"][0]["name"], "later", "{listed}");
    assert_eq!(listed["rules"][0]["enabled"], false, "{listed}");
    // Once the deletion is applied, MO are refused again and alice gets no more.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let acked = sim.stats().mo_acked;
    assert!(
        eventually(WAIT, || alice.inbox.mos().len() as u64 >= acked).await,
        "alice did not get every MO acknowledged before the deletion"
    );
    let got = alice.inbox.mos().len();
    let sent = sim.stats().mo_sent;
    let later = sim.wait_for(WAIT, |s| s.mo_sent >= sent + 5).await;
    assert!(later.mo_sent >= sent + 5, "{later:?}");
    assert_eq!(
        later.mo_acked, acked,
        "MO acknowledged after the rule was deleted"
    );
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(
        alice.inbox.mos().len(),
        got,
        "alice got MO after the rule was deleted"
    );

    alice.unbind().await;
    node.shutdown().await;
    sim.shutdown().await;
}
