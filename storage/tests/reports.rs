#![allow(clippy::unwrap_used)]
//! The CDR reports over a real store filled with records of known outcomes across several
//! days: every figure is checked against what the test itself generated, settled days are
//! kept in meta and read back from there, a month is the sum of its days, and a month's
//! p95 comes from the days' histograms combined.
//!
//! Runs on the embedded store, and on the CQL store when `TERN_CQL` names a contact point
//! (with `CI` set and `TERN_CQL` unset the CQL test fails instead of skipping).

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use tern_model::{Address, DeliveryReport, Message, MessageId, MessageState};
use tern_storage::report::{Day, Month, ReportConfig, Reports, Subject};
use tern_storage::{
    write_durable, CqlConfig, CqlStore, MessageRecord, MessageStore, RecordState, Transition,
    WriteOp,
};

const DAY_MS: u64 = 86_400_000;
/// Days of 2025-03 that hold records.
const DAYS: [&str; 3] = ["2025-03-01", "2025-03-02", "2025-03-04"];
/// Long after March 2025: every day of it is settled.
const LATER_MS: u64 = 1_800_000_000_000;

/// What the test made a part to be, and so what the reports must say of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Delivered(u64),
    Undeliverable,
    OperatorRefused,
    Unknown,
    Expired,
    NoCredit,
    OverQuota,
    Cancelled,
    Submitted,
    Accepted,
    Merged,
}

/// A small deterministic generator, so a failure can be replayed.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        self.0 >> 33
    }
}

fn kind(rng: &mut Lcg) -> Kind {
    match rng.next() % 100 {
        0..=54 => {
            // Mostly seconds, some minutes, a few hours: a p95 far from the mean.
            let delay = match rng.next() % 20 {
                0 => 3_600_000 + rng.next() % 7_200_000,
                1..=4 => 60_000 + rng.next() % 600_000,
                _ => 200 + rng.next() % 20_000,
            };
            Kind::Delivered(delay)
        }
        55..=62 => Kind::Undeliverable,
        63..=66 => Kind::OperatorRefused,
        67..=68 => Kind::Unknown,
        69..=73 => Kind::Expired,
        74..=77 => Kind::NoCredit,
        78..=79 => Kind::OverQuota,
        80..=83 => Kind::Cancelled,
        84..=88 => Kind::Submitted,
        89..=92 => Kind::Accepted,
        93..=94 => Kind::Merged,
        _ => Kind::Delivered(500),
    }
}

/// One generated part and what is known of it.
#[derive(Debug, Clone)]
struct Part {
    record: MessageRecord,
    kind: Kind,
}

fn step(state: RecordState, at_ms: u64, detail: &str) -> Transition {
    Transition {
        state,
        at_ms,
        detail: detail.into(),
    }
}

fn receipt(state: MessageState, error: u16) -> DeliveryReport {
    DeliveryReport {
        message_id: "op-1".into(),
        state,
        submitted: 1,
        delivered: u16::from(state == MessageState::Delivered),
        submit_unix: None,
        done_unix: None,
        error,
        text: String::new(),
    }
}

/// The record of part `part` of message `id`, accepted at `at`, made to be `kind`.
#[allow(clippy::too_many_arguments)]
fn make(
    id: u64,
    part: u8,
    parts: u8,
    account: &str,
    link: &str,
    at: u64,
    price: i64,
    client_ref: Option<String>,
    kind: Kind,
) -> MessageRecord {
    let mut message = Message::text(
        Address::international("4930123456"),
        Address::international(format!("49151{id:08}")),
        "report fixture",
    );
    message.id = Some(MessageId(id));
    let mut record = MessageRecord {
        id: MessageId(id),
        part,
        parts,
        account: account.into(),
        message,
        state: RecordState::Accepted,
        history: vec![step(RecordState::Accepted, at, "smpp bind")],
        attempts: 0,
        link: None,
        operator_id: None,
        error: None,
        receipt: None,
        accepted_ms: at,
        expires_ms: at + 2 * DAY_MS,
        wire_id: None,
        route: Some("de".into()),
        price,
        client_ref,
        receipt_made_ms: None,
    };
    let submitted = |r: &mut MessageRecord| {
        r.attempts = 1;
        r.link = Some(link.into());
        r.operator_id = Some(format!("op-{id}-{part}"));
        r.history
            .push(step(RecordState::Submitted, at + 50, &format!("{link} op")));
    };
    let end = |r: &mut MessageRecord, state, after: u64, detail: &str| {
        r.state = state;
        r.history.push(step(state, at + after, detail));
    };
    match kind {
        Kind::Accepted => {}
        Kind::Submitted => {
            submitted(&mut record);
            record.state = RecordState::Submitted;
        }
        Kind::Delivered(delay) => {
            submitted(&mut record);
            record.receipt = Some(receipt(MessageState::Delivered, 0));
            end(
                &mut record,
                RecordState::Delivered,
                delay,
                "receipt DELIVRD",
            );
        }
        Kind::Undeliverable => {
            submitted(&mut record);
            record.receipt = Some(receipt(MessageState::Undeliverable, 11));
            end(
                &mut record,
                RecordState::Undeliverable,
                9_000,
                "receipt UNDELIV",
            );
        }
        Kind::Unknown => {
            submitted(&mut record);
            record.receipt = Some(receipt(MessageState::Unknown, 0));
            end(&mut record, RecordState::Unknown, 9_000, "receipt UNKNOWN");
        }
        Kind::OperatorRefused => {
            record.link = Some(link.into());
            record.attempts = 1;
            record.error = Some(0x45);
            end(
                &mut record,
                RecordState::Failed,
                70,
                "refused by the operator",
            );
        }
        Kind::Expired => {
            record.link = Some(link.into());
            end(
                &mut record,
                RecordState::Expired,
                2 * DAY_MS,
                "validity ended",
            );
        }
        Kind::NoCredit | Kind::OverQuota => {
            let reason = if kind == Kind::NoCredit {
                "no_credit"
            } else {
                "over_quota"
            };
            record.history = vec![step(RecordState::Rejected, at, reason)];
            record.state = RecordState::Rejected;
            record.error = Some(0x45);
            record.expires_ms = at;
        }
        Kind::Cancelled => end(
            &mut record,
            RecordState::Cancelled,
            1_000,
            "cancelled by an administrator",
        ),
        Kind::Merged => end(&mut record, RecordState::Merged, 10, "merged into 1"),
    }
    record
}

/// Names unique to one run, so that runs against one database do not meet.
struct Names {
    accounts: [String; 2],
    links: [String; 2],
    /// Message ids of the run start above this.
    ids: u64,
}

impl Names {
    fn new() -> Self {
        let run = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        Names {
            accounts: [format!("acme-{run}"), format!("zeta-{run}")],
            links: [format!("op-a-{run}"), format!("op-b-{run}")],
            ids: (run % 1_000_000) as u64 * 10_000_000,
        }
    }
}

/// Messages of one or two parts for each account on each day of [`DAYS`].
fn fixture(names: &Names, first_id: u64) -> Vec<Part> {
    let mut rng = Lcg(7);
    let mut parts = Vec::new();
    let mut id = first_id;
    for day in DAYS {
        let start = Day::parse(day).unwrap().start_ms();
        for (a, account) in names.accounts.iter().enumerate() {
            let messages = if a == 0 { 90 } else { 35 };
            for i in 0..messages {
                id += 1;
                let at = start + (i * (DAY_MS / messages)) + rng.next() % 1000;
                let count: u8 = if rng.next().is_multiple_of(4) { 2 } else { 1 };
                let client_ref = (i % 3 == 0).then(|| format!("ref-{}", i % 7));
                let link = &names.links[(rng.next() % 2) as usize];
                let price = (rng.next() % 9) as i64 + 1;
                for part in 0..count {
                    let mut kind = kind(&mut rng);
                    // A refusal refuses the whole message, before it has parts of its own.
                    if matches!(kind, Kind::NoCredit | Kind::OverQuota) && count > 1 {
                        kind = Kind::Submitted;
                    }
                    let record = make(
                        id,
                        part,
                        count,
                        account,
                        link,
                        at,
                        price,
                        client_ref.clone(),
                        kind,
                    );
                    parts.push(Part { record, kind });
                }
            }
        }
    }
    parts
}

/// What the reports must say of some parts, counted from how they were made.
#[derive(Debug, Default, Clone, PartialEq)]
struct Expected {
    submitted: u64,
    delivered: u64,
    failed: u64,
    expired: u64,
    rejected: u64,
    cancelled: u64,
    pending: u64,
    merged: u64,
    money: i64,
    delays: Vec<u64>,
    reasons: BTreeMap<String, u64>,
}

fn expected<'a>(parts: impl IntoIterator<Item = &'a Part>) -> Expected {
    let mut e = Expected::default();
    for part in parts {
        let reason = match part.kind {
            Kind::Delivered(delay) => {
                e.delivered += 1;
                e.delays.push(delay);
                None
            }
            Kind::Undeliverable => {
                e.failed += 1;
                Some("receipt UNDELIV (err:011)")
            }
            Kind::OperatorRefused => {
                e.failed += 1;
                Some("refused by the operator (0x45)")
            }
            Kind::Unknown => {
                e.failed += 1;
                Some("receipt UNKNOWN")
            }
            Kind::Expired => {
                e.expired += 1;
                Some("validity ended")
            }
            Kind::NoCredit => {
                e.rejected += 1;
                Some("no_credit (0x45)")
            }
            Kind::OverQuota => {
                e.rejected += 1;
                Some("over_quota (0x45)")
            }
            Kind::Cancelled => {
                e.cancelled += 1;
                None
            }
            Kind::Submitted | Kind::Accepted => {
                e.pending += 1;
                None
            }
            Kind::Merged => {
                e.merged += 1;
                None
            }
        };
        if let Some(reason) = reason {
            *e.reasons.entry(reason.to_owned()).or_default() += 1;
        }
        if !matches!(part.kind, Kind::NoCredit | Kind::OverQuota | Kind::Merged) {
            e.submitted += 1;
            e.money += part.record.price;
        }
    }
    e.delays.sort_unstable();
    e
}

/// The nearest-rank p95 of sorted values.
fn exact_p95(sorted: &[u64]) -> Option<u64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = ((0.95 * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    Some(sorted[rank - 1])
}

fn assert_figures(what: &str, got: &tern_storage::report::Figures, want: &Expected) {
    let counts = |f: &tern_storage::report::Figures| {
        [
            f.submitted,
            f.delivered,
            f.failed,
            f.expired,
            f.rejected,
            f.cancelled,
            f.pending,
            f.merged,
        ]
    };
    assert_eq!(
        counts(got),
        [
            want.submitted,
            want.delivered,
            want.failed,
            want.expired,
            want.rejected,
            want.cancelled,
            want.pending,
            want.merged
        ],
        "{what}: submitted, delivered, failed, expired, rejected, cancelled, pending, merged"
    );
    assert_eq!(got.money, want.money, "{what}: money");
    assert_eq!(got.delivery.count, want.delays.len() as u64, "{what}");
    let average = (!want.delays.is_empty())
        .then(|| want.delays.iter().sum::<u64>() / want.delays.len() as u64);
    assert_eq!(got.delivery.average_ms(), average, "{what}: average");
    match (got.delivery.p95_ms(), exact_p95(&want.delays)) {
        (Some(got), Some(exact)) => assert!(
            got >= exact && got <= exact + exact / 128,
            "{what}: p95 {got}, exact {exact}"
        ),
        (got, exact) => assert_eq!(got, exact, "{what}: p95"),
    }
    let reasons: BTreeMap<String, u64> = got.reasons.top(usize::MAX).into_iter().collect();
    assert_eq!(reasons, want.reasons, "{what}: reasons");
}

fn in_day(part: &Part, day: Day) -> bool {
    (day.start_ms()..day.end_ms()).contains(&part.record.accepted_ms)
}

fn config() -> ReportConfig {
    ReportConfig {
        settle_ms: 3 * DAY_MS,
        // Small pages: every day takes several.
        page: 7,
    }
}

/// Writes every part, each with the records it has made so far.
async fn fill<S: MessageStore + ?Sized>(store: &S, parts: &[Part]) {
    for chunk in parts.chunks(200) {
        let ops = chunk
            .iter()
            .map(|p| WriteOp::PutMessage(Arc::new(p.record.clone())))
            .collect();
        write_durable(store, ops).await.unwrap();
    }
}

async fn days_and_months_match_what_was_written<S: MessageStore + ?Sized>(store: &S) {
    let names = Names::new();
    let parts = fixture(&names, names.ids);
    fill(store, &parts).await;
    let reports = Reports::new(store, config());
    let days: Vec<Day> = DAYS.iter().map(|d| Day::parse(d).unwrap()).collect();
    let subjects: Vec<Subject> = names
        .accounts
        .iter()
        .map(|a| Subject::Account(a.clone()))
        .chain(names.links.iter().map(|l| Subject::Link(l.clone())))
        .collect();
    let belongs = |subject: &Subject, part: &Part| match subject {
        Subject::Account(a) => &part.record.account == a,
        Subject::Link(l) => part.record.link.as_deref() == Some(l.as_str()),
    };

    // A day that is not settled yet is computed and not kept.
    let young = reports
        .day(&subjects[1], days[2], days[2].end_ms() + DAY_MS)
        .await
        .unwrap();
    assert!(!young.settled);
    assert_eq!(
        store.meta(&subjects[1].meta_key(days[2])).await.unwrap(),
        None
    );

    for subject in &subjects {
        for day in &days {
            let want = expected(
                parts
                    .iter()
                    .filter(|p| belongs(subject, p) && in_day(p, *day)),
            );
            assert!(want.submitted > 0, "the fixture has {subject} on {day}");
            let got = reports.day(subject, *day, LATER_MS).await.unwrap();
            assert!(got.settled);
            assert_figures(&format!("{subject} {day}"), &got.figures, &want);
            assert!(
                store.meta(&subject.meta_key(*day)).await.unwrap().is_some(),
                "{subject} {day} kept"
            );
        }
        // The month: every day of it (those without records are zero), summed.
        let month = reports
            .month(subject, Month::parse("2025-03").unwrap(), LATER_MS)
            .await
            .unwrap();
        assert_eq!(month.days.len(), 31);
        assert!(month.days.iter().all(|d| d.settled));
        let want = expected(parts.iter().filter(|p| belongs(subject, p)));
        assert_figures(&format!("{subject} 2025-03"), &month.total, &want);
        let summed: u64 = month.days.iter().map(|d| d.figures.submitted).sum();
        assert_eq!(summed, month.total.submitted);
        assert_eq!(
            month
                .days
                .iter()
                .filter(|d| d.figures.submitted > 0)
                .count(),
            DAYS.len()
        );
    }

    // Midway through the month only the days begun count, and the youngest is live.
    let midway = Day::parse("2025-03-02").unwrap().start_ms() + DAY_MS / 2;
    let partial = reports
        .month(&subjects[0], Month::parse("2025-03").unwrap(), midway)
        .await
        .unwrap();
    assert_eq!(partial.days.len(), 2);
    assert!(partial.days.iter().all(|d| !d.settled));
}

async fn settled_days_are_read_from_meta<S: MessageStore + ?Sized>(store: &S) {
    let names = Names::new();
    let parts = fixture(&names, names.ids);
    fill(store, &parts).await;
    let reports = Reports::new(store, config());
    let day = Day::parse(DAYS[0]).unwrap();
    let account = Subject::Account(names.accounts[0].clone());
    let first = reports.day(&account, day, LATER_MS).await.unwrap();

    // A part written into the settled day afterwards: the kept figures do not see it, a
    // live computation does.
    let late = make(
        names.ids + 9_000_000,
        0,
        1,
        &names.accounts[0],
        &names.links[0],
        day.start_ms() + 5,
        4,
        None,
        Kind::Delivered(1_000),
    );
    write_durable(store, vec![WriteOp::PutMessage(Arc::new(late))])
        .await
        .unwrap();
    let kept = reports.day(&account, day, LATER_MS).await.unwrap();
    assert_eq!(kept, first);
    let live = reports.day(&account, day, day.end_ms()).await.unwrap();
    assert!(!live.settled);
    assert_eq!(live.figures.delivered, first.figures.delivered + 1);
    assert_eq!(live.figures.money, first.figures.money + 4);

    // What is kept is what was computed, and decodes to the same figures.
    let bytes = store.meta(&account.meta_key(day)).await.unwrap().unwrap();
    assert_eq!(bytes, first.encode().unwrap());
}

async fn failed_parts_and_histories<S: MessageStore + ?Sized>(store: &S) {
    let names = Names::new();
    let parts = fixture(&names, names.ids);
    fill(store, &parts).await;
    let reports = Reports::new(store, config());
    let day = Day::parse(DAYS[1]).unwrap();
    let account = Subject::Account(names.accounts[0].clone());
    let failures: Vec<&Part> = parts
        .iter()
        .filter(|p| p.record.account == names.accounts[0] && in_day(p, day))
        .filter(|p| {
            matches!(
                p.kind,
                Kind::Undeliverable
                    | Kind::OperatorRefused
                    | Kind::Unknown
                    | Kind::Expired
                    | Kind::NoCredit
                    | Kind::OverQuota
            )
        })
        .collect();
    assert!(failures.len() > 5, "the fixture has failures");

    let all = reports.failed(&account, day, 1000).await.unwrap();
    assert!(!all.more);
    let got: BTreeSet<(u64, u8)> = all.records.iter().map(|r| (r.id.0, r.part)).collect();
    let want: BTreeSet<(u64, u8)> = failures
        .iter()
        .map(|p| (p.record.id.0, p.record.part))
        .collect();
    assert_eq!(got, want);
    assert!(all
        .records
        .windows(2)
        .all(|w| w[0].accepted_ms <= w[1].accepted_ms));
    let few = reports.failed(&account, day, 5).await.unwrap();
    assert!(few.more);
    assert_eq!(few.records[..], all.records[..5]);

    // A two-part message, whole.
    let two = parts
        .iter()
        .find(|p| p.record.parts == 2 && p.record.account == names.accounts[0])
        .unwrap();
    let history = reports.history(two.record.id).await.unwrap();
    let want: Vec<MessageRecord> = parts
        .iter()
        .filter(|p| p.record.id == two.record.id)
        .map(|p| p.record.clone())
        .collect();
    assert_eq!(history, want);
    assert!(reports
        .history(MessageId(names.ids + 9_999_999))
        .await
        .unwrap()
        .is_empty());

    // By the customer's reference: every message of the account with it, newest first.
    let by_ref = reports
        .history_by_ref(&names.accounts[1], "ref-3", 100)
        .await
        .unwrap();
    let mut want: Vec<(u64, MessageId)> = parts
        .iter()
        .filter(|p| p.record.account == names.accounts[1] && p.record.part == 0)
        .filter(|p| p.record.client_ref.as_deref() == Some("ref-3"))
        .map(|p| (p.record.accepted_ms, p.record.id))
        .collect();
    want.sort_unstable();
    want.reverse();
    assert!(!want.is_empty());
    let got: Vec<MessageId> = by_ref.iter().map(|m| m[0].id).collect();
    assert_eq!(got, want.iter().map(|w| w.1).collect::<Vec<_>>());
    for message in &by_ref {
        assert_eq!(message.len(), usize::from(message[0].parts));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn embedded_reports_match_what_was_written() {
    let dir = common::temp_dir();
    let store = common::open(dir.path());
    days_and_months_match_what_was_written(&store).await;
    settled_days_are_read_from_meta(&store).await;
    failed_parts_and_histories(&store).await;
}

/// The database to test against, or `None` (skip) outside CI when none is given.
fn cql_contact_point() -> Option<String> {
    match std::env::var("TERN_CQL") {
        Ok(v) if !v.trim().is_empty() => Some(v.trim().to_owned()),
        _ if std::env::var_os("CI").is_some() => panic!(
            "TERN_CQL is not set: start Cassandra with `scripts/cassandra start` and export \
             the TERN_CQL=HOST:PORT line it prints (scripts/test does both)"
        ),
        _ => {
            println!("skipped: TERN_CQL is not set (scripts/cassandra start prints it)");
            None
        }
    }
}

/// The keyspace of this test, dropped before (what a failed run left) and after it.
const CQL_KEYSPACE: &str = "reports_cdr";

async fn drop_keyspace(contact_point: &str) {
    let session = scylla::client::session_builder::SessionBuilder::new()
        .known_node(contact_point)
        .build()
        .await
        .expect("a session to drop the test keyspace");
    session
        .query_unpaged(format!("DROP KEYSPACE IF EXISTS {CQL_KEYSPACE}"), &[])
        .await
        .expect("the test keyspace is dropped");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cql_reports_match_what_was_written() {
    let Some(contact_point) = cql_contact_point() else {
        return;
    };
    drop_keyspace(&contact_point).await;
    let config = CqlConfig::from_url(&format!("cql://{contact_point}/{CQL_KEYSPACE}"))
        .expect("a valid CQL store URL");
    let store = tokio::time::timeout(Duration::from_secs(120), CqlStore::connect(config))
        .await
        .expect("the CQL store connects within 120 s")
        .expect("the CQL store connects");
    days_and_months_match_what_was_written(&store).await;
    settled_days_are_read_from_meta(&store).await;
    failed_parts_and_histories(&store).await;
    drop(store);
    drop_keyspace(&contact_point).await;
}
