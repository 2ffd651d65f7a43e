#![allow(clippy::unwrap_used)]
//! The CDR reports of a node that carried traffic with known outcomes: delivered by one
//! operator, undeliverable at another, refused by a third, rejected for want of a route or
//! of quota, expired before it could leave. `tern ctl report ...` (the real binary, table,
//! CSV and JSON) and the admin API must say what the test counted it sent and what each
//! operator answered.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use common::*;
use serde_json::Value;
use tern_bench::smsc::SmscConfig;
use tern_model::{MessageState, Tlv};
use tern_node::admin::proto;
use tern_smpp::mapping::Concat;
use tern_smpp::session::BindKind;
use tern_smpp::CommandStatus;

const TOKEN: &str = "reports-token";

async fn ctl(admin: SocketAddr, args: &[&str]) -> common::ctl::CtlRun {
    common::ctl::ctl(admin, TOKEN, args).await
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

/// Today in UTC, `YYYY-MM-DD`, after waiting out the last minute of a day so that the
/// test's traffic falls on one day.
async fn one_utc_day() -> String {
    const DAY_MS: u64 = 86_400_000;
    let left = DAY_MS - now_ms() % DAY_MS;
    if left < 90_000 {
        tokio::time::sleep(Duration::from_millis(left + 1_000)).await;
    }
    tern_storage::report::Day::of_ms(now_ms()).to_string()
}

/// A submit whose validity ends a second from now but that is due only three seconds
/// from now: it expires waiting.
fn expiring_submit(to: &str) -> tern_smpp::rusmpp::pdus::SubmitSm {
    let time = |text: &str| {
        tern_smpp::rusmpp::types::EmptyOrFullCOctetString::from_string(text.into()).unwrap()
    };
    let now = (now_ms() / 1000) as i64;
    let mut pdu = short_submit(to, "too late");
    pdu.schedule_delivery_time = time(&tern_smpp::time::unix_to_smpp_absolute(now + 3));
    pdu.validity_period = time(&tern_smpp::time::unix_to_smpp_absolute(now + 1));
    pdu
}

/// A short message carrying the customer's reference (SMPP user_message_reference).
fn referenced_submit(to: &str, reference: u16) -> tern_smpp::rusmpp::pdus::SubmitSm {
    let mut message = text_message(to, "with a reference");
    message.tlvs.push(Tlv {
        tag: 0x0204,
        value: Bytes::copy_from_slice(&reference.to_be_bytes()),
    });
    let mut pdus = submits(&message, Concat::Udh8);
    assert_eq!(pdus.len(), 1);
    pdus.remove(0)
}

/// What the test sent and was answered, per account.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
struct Counted {
    submitted: u64,
    delivered: u64,
    failed: u64,
    expired: u64,
    rejected: u64,
    money: i64,
}

fn figures_of(value: &Value) -> Counted {
    let n = |key: &str| value[key].as_u64().unwrap_or(0);
    Counted {
        submitted: n("submitted"),
        delivered: n("delivered"),
        failed: n("failed"),
        expired: n("expired"),
        rejected: n("rejected"),
        money: value["money"].as_i64().unwrap_or(0),
    }
}

/// The reasons of a figures object, `reason → parts`.
fn reasons_of(value: &Value) -> BTreeMap<String, u64> {
    value["reasons"]
        .as_array()
        .map(|reasons| {
            reasons
                .iter()
                .map(|r| {
                    (
                        r["reason"].as_str().unwrap().to_owned(),
                        r["parts"].as_u64().unwrap(),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

/// A call to the admin API with the token.
fn authorized<T>(message: T) -> tonic::Request<T> {
    let mut request = tonic::Request::new(message);
    request
        .metadata_mut()
        .insert("authorization", format!("Bearer {TOKEN}").parse().unwrap());
    request
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reports_say_what_was_sent_and_what_the_operators_answered() {
    init_tracing();
    let dir = tempfile::tempdir().unwrap();
    let delivers = start_sim(sim_config()).await;
    let undeliverable = start_sim(SmscConfig {
        final_states: vec![(MessageState::Undeliverable, 1)],
        ..sim_config()
    })
    .await;
    let refuses = start_sim(SmscConfig {
        permanent_error_rate: 1.0,
        permanent_error_status: CommandStatus::EsmeRinvdstadr,
        ..sim_config()
    })
    .await;
    let route = |name: &str, prefix: &str, link: &str| {
        format!(
            "\n[[route]]\nname = \"{name}\"\nprefixes = [\"{prefix}\"]\ngroups = [{{ links = [\"{link}\"] }}]\n"
        )
    };
    let toml = base_toml(&dir.path().join("store"))
        + &format!("\n[admin]\nlisten = \"127.0.0.1:0\"\ntoken = \"{TOKEN}\"\n")
        + &account_toml("alice", "secret", "credit = 100000")
        + &account_toml("capped", "secret", "credit = 100000\nmax_messages = 2")
        + &account_toml("idle", "secret", "")
        + &upstream_toml("ok", delivers.addr(), "")
        + &upstream_toml("undeliv", undeliverable.addr(), "")
        + &upstream_toml("refuse", refuses.addr(), "")
        + &route("delivers", "4915", "ok")
        + &route("undeliverable", "4916", "undeliv")
        + &route("refuses", "4917", "refuse")
        + "\n[[price]]\nper_part = 5\n";
    let node = start_node(&toml).await;
    let admin = node.endpoints.admin.unwrap();
    let day = one_utc_day().await;
    let started = now_ms();

    let alice = Esme::connect(smpp_addr(&node), BindKind::Transceiver, "alice", "secret").await;
    let mut alice_count = Counted::default();
    let mut delivered_ids = Vec::new();
    for i in 0..3 {
        delivered_ids.push(
            alice
                .submit_ok(short_submit(&format!("491510000{i:03}"), "hello"))
                .await,
        );
    }
    let referenced = alice.submit_ok(referenced_submit("4915100009", 4242)).await;
    delivered_ids.push(referenced.clone());
    // 200 GSM characters: two parts.
    let long = alice
        .submit_ok(payload_submit("4915100010", &"0123456789".repeat(20)))
        .await;
    delivered_ids.push(long.clone());
    alice_count.submitted += 6;
    alice_count.delivered += 6;
    let mut failed_ids = BTreeSet::new();
    for i in 0..3 {
        failed_ids.insert(
            alice
                .submit_ok(short_submit(&format!("491610000{i:03}"), "not there"))
                .await,
        );
    }
    for i in 0..2 {
        failed_ids.insert(
            alice
                .submit_ok(short_submit(&format!("491710000{i:03}"), "refused"))
                .await,
        );
    }
    alice_count.submitted += 5;
    alice_count.failed += 5;
    let expired = alice.submit_ok(expiring_submit("4915100011")).await;
    alice_count.submitted += 1;
    alice_count.expired += 1;
    assert_eq!(
        alice
            .submit_refused(short_submit("4918100000", "nowhere to go"))
            .await,
        CommandStatus::EsmeRinvdstadr
    );
    alice_count.rejected += 1;
    alice_count.money = 5 * alice_count.submitted as i64;

    let capped = Esme::connect(smpp_addr(&node), BindKind::Transceiver, "capped", "secret").await;
    let mut capped_count = Counted::default();
    for i in 0..2 {
        delivered_ids.push(
            capped
                .submit_ok(short_submit(&format!("491520000{i:03}"), "within"))
                .await,
        );
    }
    assert_eq!(
        capped
            .submit_refused(short_submit("4915200099", "one too many"))
            .await,
        CommandStatus::EsmeRsubmitfail
    );
    capped_count.submitted = 2;
    capped_count.delivered = 2;
    capped_count.rejected = 1;
    capped_count.money = 10;

    // Every accepted message ends: a receipt for each.
    let mut every: Vec<String> = delivered_ids.clone();
    every.extend(failed_ids.iter().cloned());
    every.push(expired.clone());
    let alice_ids: Vec<&String> = every
        .iter()
        .filter(|id| !delivered_ids[delivered_ids.len() - 2..].contains(id))
        .collect();
    assert!(
        alice.inbox.wait_for_receipts(alice_ids, WAIT).await,
        "receipts of alice: {:?}",
        alice.inbox.receipts_by_id().keys().collect::<Vec<_>>()
    );
    assert!(
        capped
            .inbox
            .wait_for_receipts(&delivered_ids[delivered_ids.len() - 2..], WAIT)
            .await
    );
    let elapsed_ms = now_ms() - started;
    // What each operator answered, from the operators' side.
    assert_eq!(delivers.stats().unique_submits, 6 + 2);
    assert_eq!(undeliverable.stats().unique_submits, 3);

    // The admin API: one row per account, the idle one too, and the total.
    let mut client = proto::admin_client::AdminClient::connect(format!("http://{admin}"))
        .await
        .unwrap();
    let traffic = client
        .traffic(authorized(proto::TrafficRequest {
            day: String::new(),
            reasons: 10,
        }))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(traffic.day, day);
    let keys: Vec<&str> = traffic.rows.iter().map(|r| r.key.as_str()).collect();
    assert_eq!(keys, ["alice", "capped", "idle"]);
    let api_json = serde_json::to_value(&traffic).unwrap();

    // tern ctl: JSON, CSV and the table say the same.
    let json = ctl(admin, &["--json", "report", "traffic", "--day", &day])
        .await
        .json();
    assert_eq!(json["day"], day);
    let rows: BTreeMap<&str, &Value> = json["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["key"].as_str().unwrap(), &r["figures"]))
        .collect();
    assert_eq!(figures_of(rows["alice"]), alice_count, "{json}");
    assert_eq!(figures_of(rows["capped"]), capped_count, "{json}");
    assert_eq!(figures_of(rows["idle"]), Counted::default(), "{json}");
    for (row, api_row) in json["rows"]
        .as_array()
        .unwrap()
        .iter()
        .zip(api_json["rows"].as_array().unwrap())
    {
        assert_eq!(figures_of(&row["figures"]), figures_of(&api_row["figures"]));
    }
    let total = figures_of(&json["total"]);
    assert_eq!(
        total.submitted,
        alice_count.submitted + capped_count.submitted
    );
    assert_eq!(total.money, alice_count.money + capped_count.money);
    assert_eq!(total.rejected, 2);
    for row in [rows["alice"], rows["capped"]] {
        assert_eq!(row["pending"], 0, "{json}");
        let average = row["delivery_avg_ms"].as_u64().unwrap();
        let p95 = row["delivery_p95_ms"].as_u64().unwrap();
        assert!(
            average <= p95 + p95 / 100 && p95 <= elapsed_ms,
            "average {average}, p95 {p95}, the test took {elapsed_ms} ms"
        );
    }
    assert!(rows["idle"]["delivery_p95_ms"].is_null());

    let csv = ctl(admin, &["report", "traffic", "--day", &day, "--csv"])
        .await
        .stdout_ok();
    let mut lines = csv.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    assert_eq!(header[..3], ["day", "account", "submitted"]);
    let column = |name: &str| header.iter().position(|h| *h == name).unwrap();
    let records: Vec<Vec<&str>> = lines.map(|l| l.split(',').collect()).collect();
    assert_eq!(records.len(), 3, "{csv}");
    for record in &records {
        assert_eq!(record.len(), header.len(), "{csv}");
        assert_eq!(record[column("day")], day);
        let row = rows[record[column("account")]];
        for name in [
            "submitted",
            "delivered",
            "failed",
            "expired",
            "rejected",
            "money",
        ] {
            assert_eq!(record[column(name)], row[name].to_string(), "{name}: {csv}");
        }
    }
    let table = ctl(admin, &["report", "traffic"]).await.stdout_ok();
    let alice_line = table.lines().find(|l| l.starts_with("alice ")).unwrap();
    let cells: Vec<&str> = alice_line.split_whitespace().collect();
    assert_eq!(cells[1..6], ["12", "6", "5", "1", "1"], "{table}");

    // The account for the day and for the month: the same figures, and why parts failed.
    let account = ctl(
        admin,
        &["--json", "report", "account", "alice", "--day", &day],
    )
    .await
    .json();
    assert_eq!(figures_of(&account["total"]), alice_count);
    let reasons = reasons_of(&account["total"]);
    let undeliv: u64 = reasons
        .iter()
        .filter(|(r, _)| r.starts_with("receipt UNDELIV"))
        .map(|(_, n)| n)
        .sum();
    assert_eq!(undeliv, 3, "{reasons:?}");
    assert_eq!(
        reasons.get("refused by the operator (0xb)"),
        Some(&2),
        "{reasons:?}"
    );
    assert_eq!(reasons.get("no_route (0xb)"), Some(&1), "{reasons:?}");
    assert_eq!(
        reasons.get("validity ended before delivery"),
        Some(&1),
        "{reasons:?}"
    );
    assert_eq!(reasons.values().sum::<u64>(), 7, "{reasons:?}");
    let month = &day[..7];
    let monthly = ctl(
        admin,
        &["--json", "report", "account", "alice", "--month", month],
    )
    .await
    .json();
    assert_eq!(figures_of(&monthly["total"]), alice_count);
    let days = monthly["days"].as_array().unwrap();
    assert_eq!(days.len(), day[8..].parse::<usize>().unwrap());
    assert_eq!(days.last().unwrap()["key"], day);
    assert_eq!(days.last().unwrap()["settled"], false);
    let csv = ctl(
        admin,
        &["report", "account", "alice", "--month", month, "--csv"],
    )
    .await
    .stdout_ok();
    assert_eq!(csv.lines().count(), 1 + days.len(), "{csv}");

    // Links: what each one carried.
    let link = |name: &'static str| {
        let day = day.clone();
        async move {
            let json = ctl(admin, &["--json", "report", "link", name, "--day", &day])
                .await
                .json();
            figures_of(&json["total"])
        }
    };
    assert_eq!(
        link("ok").await,
        Counted {
            submitted: 8,
            delivered: 8,
            money: 40,
            ..Counted::default()
        }
    );
    assert_eq!(
        link("undeliv").await,
        Counted {
            submitted: 3,
            failed: 3,
            money: 15,
            ..Counted::default()
        }
    );

    // The failed parts, each with its reason.
    let failed = ctl(admin, &["--json", "report", "failed", "--account", "alice"])
        .await
        .json();
    assert_eq!(failed["more"], false);
    let parts = failed["parts"].as_array().unwrap();
    let listed: BTreeSet<String> = parts
        .iter()
        .filter(|p| p["state"] != "rejected")
        .map(|p| p["id"].as_u64().unwrap().to_string())
        .collect();
    let mut want = failed_ids.clone();
    want.insert(expired.clone());
    assert_eq!(listed, want, "{failed}");
    let rejected: Vec<&Value> = parts.iter().filter(|p| p["state"] == "rejected").collect();
    assert_eq!(rejected.len(), 1);
    assert_eq!(rejected[0]["reason"], "no_route (0xb)");
    assert!(parts
        .iter()
        .all(|p| !p["reason"].as_str().unwrap().is_empty()));
    let text = ctl(admin, &["report", "failed", "--account", "alice"])
        .await
        .stdout_ok();
    assert_eq!(text.lines().count(), 1 + 7, "{text}");

    // A message's history: both parts of the long one, each accepted, submitted, delivered.
    let history = ctl(admin, &["--json", "report", "message", &long])
        .await
        .json();
    let message = &history["messages"][0];
    assert_eq!(message["id"].as_u64().unwrap().to_string(), long);
    let message_parts = message["parts"].as_array().unwrap();
    assert_eq!(message_parts.len(), 2);
    for part in message_parts {
        let states: Vec<&str> = part["steps"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["state"].as_str().unwrap())
            .collect();
        assert_eq!(states, ["accepted", "submitted", "delivered"], "{history}");
        assert_eq!(part["link"], "ok");
        assert_eq!(part["price"], 5);
    }
    // By the customer's reference.
    let by_ref = ctl(
        admin,
        &[
            "--json",
            "report",
            "message",
            "--ref",
            "4242",
            "--account",
            "alice",
        ],
    )
    .await
    .json();
    let found: Vec<String> = by_ref["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_u64().unwrap().to_string())
        .collect();
    assert_eq!(found, std::slice::from_ref(&referenced));
    let text = ctl(admin, &["report", "message", &referenced])
        .await
        .stdout_ok();
    assert!(text.contains("reference    4242"), "{text}");

    // Mistakes are refused before any call, with the usage exit code.
    for args in [
        &["report", "account", "alice"][..],
        &["report", "account", "alice", "--day", "2026-02-30"],
        &["report", "link", "ok", "--month", "2026-13"],
        &["report", "failed"],
        &["report", "message"],
    ] {
        assert_eq!(ctl(admin, args).await.code, Some(2), "{args:?}");
    }
    let unknown = ctl(admin, &["report", "message", "1"]).await;
    assert_eq!(unknown.code, Some(1));
    assert!(unknown.stderr.contains("not found"), "{}", unknown.stderr);

    alice.unbind().await;
    capped.unbind().await;
    node.shutdown().await;
    for sim in [delivers, undeliverable, refuses] {
        sim.shutdown().await;
    }
}
