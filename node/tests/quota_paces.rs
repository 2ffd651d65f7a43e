#![allow(clippy::unwrap_used)]
//! What the ledger counts against what customers were told, on one node through SMPP and
//! `tern ctl`, at the paces customers really send: a burst, one message every 0.1 s, every
//! 0.3 s, every 1.2 s, and slower than a lease stays open. Once the counters settle, each
//! account's use and balance equal what its client saw accepted and what the CDRs show,
//! exactly; and threshold events fire on use, reporting the use that crossed them.

mod common;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use common::*;
use serde_json::Value;
use tern_smpp::session::BindKind;

const TOKEN: &str = "paces-token";
const PRICE: i64 = 7;
const CREDIT: i64 = 1_000;

async fn ctl(admin: SocketAddr, args: &[&str]) -> Value {
    let mut all = vec!["--json"];
    all.extend_from_slice(args);
    common::ctl::ctl(admin, TOKEN, &all).await.json()
}

async fn create(admin: SocketAddr, account: &str, max: u64, period: &str, credit: i64) {
    let (max, credit) = (max.to_string(), credit.to_string());
    ctl(
        admin,
        &[
            "account",
            "create",
            account,
            "--password",
            "pw",
            "--max-messages",
            &max,
            "--period",
            period,
            "--credit",
            &credit,
        ],
    )
    .await;
}

/// The account's ledger once nothing is reserved any more (counters settle every second
/// and close idle leases after three).
async fn settled(admin: SocketAddr, account: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let ledger = ctl(admin, &["account", "show", account]).await["ledger"].clone();
        let reserved = ledger["reserved_parts"].as_u64().unwrap_or(0)
            + ledger["reserved_amount"].as_u64().unwrap_or(0);
        if reserved == 0 {
            return ledger;
        }
        assert!(
            Instant::now() < deadline,
            "{account}: still reserved {ledger}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Records of `account` in the store that were accepted (every state but rejected).
async fn accepted_cdrs(admin: SocketAddr, account: &str) -> u64 {
    let list = ctl(
        admin,
        &[
            "message",
            "list",
            "--account",
            account,
            "--from",
            "0",
            "--limit",
            "1000",
        ],
    )
    .await;
    list["messages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["state"] != "rejected")
        .count() as u64
}

/// `count` single-part messages `gap` apart over one bind; what was accepted.
async fn send_paced(addr: SocketAddr, account: &str, count: usize, gap: Duration) -> u64 {
    let esme = Esme::connect(addr, BindKind::Transceiver, account, "pw").await;
    let mut accepted = 0;
    for i in 0..count {
        if i > 0 {
            tokio::time::sleep(gap).await;
        }
        match esme
            .submit(short_submit("4915112345678", &format!("{account} {i}")))
            .await
        {
            Ok(Outcome::Accepted(_)) => accepted += 1,
            other => panic!("{account}: submit {i}: {other:?}"),
        }
    }
    esme.unbind().await;
    accepted
}

/// Threshold events of `account`: (kind, percent, used parts or balance).
async fn thresholds(admin: SocketAddr, account: &str) -> Vec<(String, u64, i64)> {
    let events = ctl(admin, &["notify", "events"]).await;
    events["events"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .filter(|e| e["account"] == account)
        .filter_map(|e| {
            let text = e.to_string();
            let find = |key: &str| -> Option<i64> {
                let at = text.find(&format!("\"{key}\":"))? + key.len() + 3;
                let digits: String = text[at..]
                    .chars()
                    .take_while(|c| c.is_ascii_digit() || *c == '-')
                    .collect();
                digits.parse().ok()
            };
            let percent = find("percent")? as u64;
            if text.contains("essages") {
                Some(("messages".to_owned(), percent, find("used")?))
            } else if text.contains("redit") {
                Some(("credit".to_owned(), percent, find("balance")?))
            } else {
                None
            }
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_ledger_counts_what_customers_were_told_at_every_pace() {
    init_tracing();
    let dir = tempfile::tempdir().unwrap();
    let sim = start_sim(sim_config()).await;
    let toml = base_toml(&dir.path().join("store"))
        + &format!("\n[admin]\nlisten = \"127.0.0.1:0\"\ntoken = \"{TOKEN}\"\n")
        + &upstream_toml("op", sim.addr(), "");
    let node = start_node(&toml).await;
    let admin = node.endpoints.admin.unwrap();
    let addr = smpp_addr(&node);
    ctl(
        admin,
        &["price", "set", &PRICE.to_string(), "--prefix", "49"],
    )
    .await;

    let paces: [(&str, usize, u64); 5] = [
        ("burst", 10, 0),
        ("tenth", 10, 100),
        ("third", 10, 300),
        ("second", 3, 1_200),
        // Slower than a lease stays open without use: every message takes a new lease.
        ("slow", 3, 4_000),
    ];
    for (account, _, _) in paces {
        create(admin, account, 100, "day", CREDIT).await;
    }
    let runs = paces.map(|(account, count, gap)| async move {
        let accepted = send_paced(addr, account, count, Duration::from_millis(gap)).await;
        (account, accepted)
    });
    let accepted = futures::future::join_all(runs).await;
    for (account, accepted) in accepted {
        let ledger = settled(admin, account).await;
        let cdrs = accepted_cdrs(admin, account).await;
        eprintln!("{account}: client {accepted}, CDRs {cdrs}, ledger {ledger}");
        assert_eq!(cdrs, accepted, "{account}: CDRs against the client's count");
        assert_eq!(ledger["period_used"], accepted, "{account}: {ledger}");
        assert_eq!(
            ledger["balance"].as_i64(),
            Some(CREDIT - PRICE * accepted as i64),
            "{account}: {ledger}"
        );
    }

    // Thresholds fire on use, not on what a lease reserved: the first message of an
    // account with 20 parts a month and 140 of credit crosses nothing.
    create(admin, "watch", 20, "month", 140).await;
    assert_eq!(send_paced(addr, "watch", 1, Duration::ZERO).await, 1);
    settled(admin, "watch").await;
    assert_eq!(thresholds(admin, "watch").await, vec![]);
    // 16 parts and 112 spent are 80% of both.
    assert_eq!(send_paced(addr, "watch", 15, Duration::ZERO).await, 15);
    settled(admin, "watch").await;
    let mut crossed = thresholds(admin, "watch").await;
    crossed.sort();
    assert_eq!(
        crossed,
        vec![("credit".into(), 80, 28), ("messages".into(), 80, 16)]
    );
    assert_eq!(send_paced(addr, "watch", 4, Duration::ZERO).await, 4);
    settled(admin, "watch").await;
    let mut crossed = thresholds(admin, "watch").await;
    crossed.sort();
    assert_eq!(
        crossed,
        vec![
            ("credit".into(), 80, 28),
            ("credit".into(), 100, 0),
            ("messages".into(), 80, 16),
            ("messages".into(), 100, 20),
        ]
    );

    node.shutdown().await;
    sim.shutdown().await;
}
