//! The load generator against the simulated SMSC over real sockets on 127.0.0.1: complete
//! runs with receipts, error and disconnect injection, id formats, receipts that wait for
//! their account to bind again, the bounds on waiting receipts, MO injection and the open
//! loop's rate. Every test is bounded in time.

// Test helpers: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::future::Future;
use std::time::Duration;

use tern_bench::load::{self, LoadConfig, LoadError, LoadReport, MessageMix};
use tern_bench::smsc::{
    Accounts, IdFormat, MoConfig, ReceiptDelay, Smsc, SmscConfig, SmscHandle, SmscStats,
};
use tern_model::MessageState;
use tern_smpp::net::{Client, ClientConfig, ClientEvent};
use tern_smpp::receipt::{is_receipt, receipted_message_id};
use tern_smpp::rusmpp::pdus::{DeliverSm, DeliverSmResp, SubmitSm};
use tern_smpp::rusmpp::types::OctetString;
use tern_smpp::rusmpp::values::{Npi, RegisteredDelivery, Ton};
use tern_smpp::session::c_octet;
use tern_smpp::{Command, CommandStatus, Pdu};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

const LIMIT: Duration = Duration::from_secs(60);

async fn bounded<T>(test: impl Future<Output = T>) -> T {
    tokio::time::timeout(LIMIT, test)
        .await
        .expect("the test finishes in time")
}

async fn smsc(config: SmscConfig) -> SmscHandle {
    Smsc::start(config).await.unwrap()
}

fn load_config(smsc: &SmscHandle, count: u64) -> LoadConfig {
    LoadConfig {
        host: "127.0.0.1".into(),
        port: smsc.addr().port(),
        binds: 2,
        window: 16,
        count: Some(count),
        bind_timeout: Duration::from_secs(5),
        receipt_timeout: Duration::from_secs(10),
        ..LoadConfig::default()
    }
}

fn total(counts: &BTreeMap<String, u64>) -> u64 {
    counts.values().sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_message_is_answered_and_every_receipt_matched() {
    bounded(async {
        let smsc = smsc(SmscConfig {
            receipt_delay: ReceiptDelay {
                min: Duration::ZERO,
                max: Duration::from_millis(20),
            },
            ..SmscConfig::default()
        })
        .await;
        let report = load::run(LoadConfig {
            binds: 4,
            registered_delivery: true,
            mix: MessageMix {
                gsm7: 60,
                long: 20,
                ucs2: 20,
            },
            ..load_config(&smsc, 3000)
        })
        .await
        .unwrap();
        let stats = smsc
            .wait_for(Duration::from_secs(5), |s| s.receipts_pending == 0)
            .await;

        assert_eq!(report.messages, 3000);
        assert!(report.submits > 3000, "long messages add parts");
        assert!(report.all_accounted());
        assert_eq!(report.failures.total(), 0);
        assert_eq!(report.by_status.get("ESME_ROK"), Some(&report.submits));
        assert_eq!(report.accepted, report.submits);
        let receipts = report.receipts.clone().unwrap();
        assert_eq!(receipts.expected, report.submits);
        assert_eq!(receipts.matched, report.submits);
        assert_eq!(
            (receipts.missing, receipts.unmatched, receipts.unreadable),
            (0, 0, 0)
        );
        assert_eq!(
            report.receipt_latency.as_ref().unwrap().count,
            report.submits
        );
        assert!(report.msg_per_sec > 0.0);

        assert_eq!(stats.submits, report.submits);
        assert_eq!(stats.unique_submits, report.submits);
        assert_eq!(stats.duplicates, 0);
        assert_eq!(stats.receipts_acked, report.submits);
        assert_eq!(stats.receipts_dropped, 0);
        smsc.shutdown().await;
    })
    .await
}

async fn throttled_run(seed: u64) -> (LoadReport, SmscStats) {
    let smsc = smsc(SmscConfig {
        throttle_rate: 0.3,
        seed,
        ..SmscConfig::default()
    })
    .await;
    let report = load::run(load_config(&smsc, 4000)).await.unwrap();
    let stats = smsc.stats();
    smsc.shutdown().await;
    (report, stats)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn throttle_injection_refuses_its_share_and_counts_add_up() {
    bounded(async {
        let (report, stats) = throttled_run(42).await;
        assert!(report.all_accounted());
        assert_eq!(total(&report.by_status), report.submits);
        assert_eq!(report.by_status, stats.submits_by_status);
        let throttled = report.by_status["ESME_RTHROTTLED"];
        let share = throttled as f64 / report.submits as f64;
        assert!((0.27..0.33).contains(&share), "throttled share {share}");
        assert_eq!(report.accepted + throttled, report.submits);

        // The same seed refuses exactly the same number, however the binds interleave.
        let (again, _) = throttled_run(42).await;
        assert_eq!(again.by_status, report.by_status);
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn permanent_and_transient_errors_are_counted_by_status() {
    bounded(async {
        let smsc = smsc(SmscConfig {
            permanent_error_rate: 0.1,
            transient_error_rate: 0.05,
            ..SmscConfig::default()
        })
        .await;
        let report = load::run(load_config(&smsc, 4000)).await.unwrap();
        assert!(report.all_accounted());
        assert_eq!(report.by_status, smsc.stats().submits_by_status);
        let permanent = report.by_status["ESME_RINVDSTADR"] as f64 / report.submits as f64;
        let transient = report.by_status["ESME_RSYSERR"] as f64 / report.submits as f64;
        assert!((0.08..0.12).contains(&permanent), "{permanent}");
        assert!((0.035..0.065).contains(&transient), "{transient}");
        smsc.shutdown().await;
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn injected_disconnects_are_survived_and_every_submit_counted() {
    bounded(async {
        let smsc = smsc(SmscConfig {
            disconnect_every: Some(700),
            ..SmscConfig::default()
        })
        .await;
        let report = load::run(LoadConfig {
            registered_delivery: true,
            receipt_timeout: Duration::from_secs(3),
            ..load_config(&smsc, 4000)
        })
        .await
        .unwrap();
        let stats = smsc.stats();
        assert!(stats.disconnects_injected >= 3, "{stats:?}");
        assert!(report.reconnects >= 1, "{report:?}");
        // Nothing lost silently: every submit was answered or its failure counted.
        assert!(report.all_accounted(), "{report:?}");
        assert_eq!(report.messages, 4000);
        assert!(report.answered >= 3000, "{report:?}");
        assert_eq!(total(&report.by_status), report.answered);
        // Submits the SMSC answered are the ones the generator heard of, or lost with a
        // closed session.
        assert!(stats.submits >= report.answered);
        assert!(stats.submits <= report.answered + report.failures.closed);
        // Receipts of submits whose response was lost are the only unmatched ones.
        let receipts = report.receipts.unwrap();
        assert_eq!(receipts.matched, receipts.expected, "{receipts:?}");
        assert!(receipts.unmatched <= report.failures.closed);
        smsc.shutdown().await;
    })
    .await
}

fn submit_pdu(destination: &str, text: &str) -> Pdu {
    Pdu::from(
        SubmitSm::builder()
            .source_addr_ton(Ton::Alphanumeric)
            .source_addr(c_octet("TernTest"))
            .dest_addr_ton(Ton::International)
            .dest_addr_npi(Npi::Isdn)
            .destination_addr(c_octet(destination))
            .registered_delivery(RegisteredDelivery::from(1))
            .short_message(OctetString::from_vec(text.as_bytes().to_vec()).unwrap())
            .build(),
    )
}

fn client_config(smsc: &SmscHandle, system_id: &str, password: &str) -> ClientConfig {
    let mut config = ClientConfig::new("test", "127.0.0.1", smsc.addr().port());
    config.system_id = system_id.into();
    config.password = password.into();
    config.reconnect_min = Duration::from_millis(50);
    config.reconnect_max = Duration::from_millis(200);
    config
}

struct Link {
    client: Client,
    events: mpsc::Receiver<ClientEvent>,
    stop: CancellationToken,
    tracker: TaskTracker,
}

impl Link {
    fn start(config: ClientConfig) -> Self {
        let stop = CancellationToken::new();
        let tracker = TaskTracker::new();
        let (client, events) = Client::start(config, stop.clone(), &tracker);
        Self {
            client,
            events,
            stop,
            tracker,
        }
    }

    /// The message id of an accepted submit.
    async fn submit(&self, destination: &str, text: &str) -> String {
        let response = self
            .client
            .request(submit_pdu(destination, text))
            .await
            .unwrap();
        assert_eq!(response.status(), CommandStatus::EsmeRok);
        match response.pdu() {
            Some(Pdu::SubmitSmResp(resp)) => resp.message_id().as_str().to_owned(),
            other => panic!("not a submit_sm_resp: {other:?}"),
        }
    }

    /// The next deliver_sm, answered.
    async fn deliver(&mut self) -> DeliverSm {
        loop {
            let event = tokio::time::timeout(Duration::from_secs(5), self.events.recv())
                .await
                .expect("a deliver_sm within 5 s")
                .expect("link events");
            if let ClientEvent::Request { command, handle } = event {
                handle.respond(Command::new(
                    CommandStatus::EsmeRok,
                    command.sequence_number(),
                    DeliverSmResp::default(),
                ));
                match command.pdu() {
                    Some(Pdu::DeliverSm(deliver)) => return deliver.clone(),
                    other => panic!("not a deliver_sm: {other:?}"),
                }
            }
        }
    }

    async fn close(self) {
        self.stop.cancel();
        self.tracker.close();
        tokio::time::timeout(Duration::from_secs(5), self.tracker.wait())
            .await
            .unwrap();
    }
}

fn receipt_text(deliver: &DeliverSm) -> String {
    String::from_utf8(deliver.short_message().as_ref().to_vec()).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hex_ids_appear_in_responses_and_receipts() {
    bounded(async {
        let smsc = smsc(SmscConfig {
            id_format: IdFormat::Hex,
            first_id: 0xABCD_EF00,
            final_states: vec![(MessageState::Delivered, 1)],
            ..SmscConfig::default()
        })
        .await;
        let mut link = Link::start(client_config(&smsc, "acme", "secret"));
        let id = link
            .submit("4915112345678", "Hello hex world, how are you")
            .await;
        assert_eq!(id, "ABCDEF00");
        let receipt = link.deliver().await;
        assert!(is_receipt(u8::from(receipt.esm_class)));
        assert_eq!(receipted_message_id(receipt.tlvs()), Some("ABCDEF00"));
        let text = receipt_text(&receipt);
        assert!(
            text.starts_with("id:ABCDEF00 sub:001 dlvrd:001 submit date:"),
            "{text}"
        );
        assert!(
            text.contains(" stat:DELIVRD err:000 text:Hello hex world, how"),
            "{text}"
        );
        // The receipt travels back from the handset to the sender.
        assert_eq!(receipt.source_addr.as_str(), "4915112345678");
        assert_eq!(receipt.destination_addr.as_str(), "TernTest");
        link.close().await;

        // The load generator matches hex ids too.
        let report = load::run(LoadConfig {
            registered_delivery: true,
            ..load_config(&smsc, 500)
        })
        .await
        .unwrap();
        let receipts = report.receipts.unwrap();
        assert_eq!((receipts.expected, receipts.matched), (500, 500));
        smsc.shutdown().await;
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_receipt_waits_for_its_account_to_bind_again() {
    bounded(async {
        let smsc = smsc(SmscConfig {
            accounts: Accounts::List(vec![("acme".into(), "secret".into())]),
            receipt_delay: ReceiptDelay::fixed(Duration::from_millis(400)),
            ..SmscConfig::default()
        })
        .await;
        let link = Link::start(client_config(&smsc, "acme", "secret"));
        let mut ids = Vec::new();
        for n in 0..5 {
            ids.push(link.submit("4915112345678", &format!("message {n}")).await);
        }
        link.close().await;
        let stats = smsc
            .wait_for(Duration::from_secs(5), |s| s.binds == 0)
            .await;
        assert_eq!(stats.binds, 0);
        // Past the due time, with nobody to deliver to: they wait.
        tokio::time::sleep(Duration::from_millis(600)).await;
        let stats = smsc.stats();
        assert_eq!(
            (stats.receipts_pending, stats.receipts_sent),
            (5, 0),
            "{stats:?}"
        );

        let mut link = Link::start(client_config(&smsc, "acme", "secret"));
        let mut reported = Vec::new();
        for _ in 0..5 {
            let receipt = link.deliver().await;
            reported.push(receipted_message_id(receipt.tlvs()).unwrap().to_owned());
        }
        reported.sort();
        ids.sort();
        assert_eq!(reported, ids);
        let stats = smsc
            .wait_for(Duration::from_secs(5), |s| s.receipts_acked == 5)
            .await;
        assert_eq!((stats.receipts_acked, stats.receipts_pending), (5, 0));
        link.close().await;
        smsc.shutdown().await;
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn waiting_receipts_are_bounded_in_count_and_time() {
    bounded(async {
        let smsc = smsc(SmscConfig {
            receipt_delay: ReceiptDelay::fixed(Duration::from_millis(300)),
            max_pending_receipts: 3,
            pending_receipt_ttl: Duration::from_millis(200),
            ..SmscConfig::default()
        })
        .await;
        let link = Link::start(client_config(&smsc, "acme", "x"));
        for n in 0..10 {
            link.submit("4915112345678", &format!("message {n}")).await;
        }
        link.close().await;
        let stats = smsc
            .wait_for(Duration::from_secs(5), |s| s.receipts_dropped == 7)
            .await;
        assert_eq!(
            (stats.receipts_pending, stats.receipts_dropped),
            (3, 7),
            "{stats:?}"
        );
        let stats = smsc
            .wait_for(Duration::from_secs(5), |s| s.receipts_dropped == 10)
            .await;
        assert_eq!(
            (stats.receipts_pending, stats.receipts_dropped),
            (0, 10),
            "{stats:?}"
        );
        assert_eq!(stats.receipts_sent, 0);
        smsc.shutdown().await;
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mo_messages_reach_a_receiving_bind() {
    bounded(async {
        let smsc = smsc(SmscConfig {
            mo: Some(MoConfig {
                rate: 200.0,
                destination: "12345".into(),
                source_prefix: "4915".into(),
                system_id: None,
            }),
            ..SmscConfig::default()
        })
        .await;
        let mut link = Link::start(client_config(&smsc, "acme", "x"));
        for _ in 0..20 {
            let mo = link.deliver().await;
            assert!(!is_receipt(u8::from(mo.esm_class)));
            assert_eq!(mo.destination_addr.as_str(), "12345");
            assert!(mo.source_addr.as_str().starts_with("4915"));
            assert!(receipt_text(&mo).starts_with("MO "));
        }
        let stats = smsc
            .wait_for(Duration::from_secs(5), |s| s.mo_acked >= 20)
            .await;
        assert!(stats.mo_acked >= 20);
        link.close().await;
        smsc.shutdown().await;
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tps_cap_throttles_what_exceeds_it() {
    bounded(async {
        let smsc = smsc(SmscConfig {
            tps_cap: Some(100),
            ..SmscConfig::default()
        })
        .await;
        let report = load::run(LoadConfig {
            binds: 1,
            ..load_config(&smsc, 1000)
        })
        .await
        .unwrap();
        assert!(report.all_accounted());
        let throttled = report
            .by_status
            .get("ESME_RTHROTTLED")
            .copied()
            .unwrap_or(0);
        // A second's burst, plus the refill while the run lasts.
        let allowed = 100.0 + 100.0 * report.elapsed_secs + 2.0;
        assert!(report.accepted as f64 <= allowed, "{report:?}");
        assert!(report.accepted >= 100, "{report:?}");
        assert_eq!(report.accepted + throttled, report.submits);
        smsc.shutdown().await;
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_open_loop_keeps_its_rate() {
    bounded(async {
        let smsc = smsc(SmscConfig::default()).await;
        let report = load::run(LoadConfig {
            rate: Some(2000.0),
            ..load_config(&smsc, 1000)
        })
        .await
        .unwrap();
        assert_eq!(report.mode, "open");
        assert_eq!(report.send_lag.as_ref().map(|l| l.count), Some(1000));
        assert_eq!(report.accepted, 1000);
        // 1000 messages at 2000/s: half a second, not as fast as the windows allow.
        assert!((0.45..1.5).contains(&report.elapsed_secs), "{report:?}");
        smsc.shutdown().await;
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_password_is_refused_and_the_run_reports_it() {
    bounded(async {
        let smsc = smsc(SmscConfig {
            accounts: Accounts::List(vec![("acme".into(), "secret".into())]),
            ..SmscConfig::default()
        })
        .await;
        let result = load::run(LoadConfig {
            system_id: "acme".into(),
            password: "wrong".into(),
            bind_timeout: Duration::from_millis(500),
            ..load_config(&smsc, 10)
        })
        .await;
        assert!(
            matches!(result, Err(LoadError::BindTimeout { up: 0, .. })),
            "{result:?}"
        );
        assert!(smsc.stats().binds_rejected >= 1);
        smsc.shutdown().await;
    })
    .await
}

#[tokio::test]
async fn invalid_settings_name_their_field() {
    let error = Smsc::start(SmscConfig {
        throttle_rate: 0.8,
        transient_error_rate: 0.4,
        ..SmscConfig::default()
    })
    .await
    .err()
    .unwrap();
    assert!(error.to_string().contains("throttle_rate"), "{error}");
    let error = load::run(LoadConfig {
        count: None,
        duration: None,
        ..LoadConfig::default()
    })
    .await
    .unwrap_err();
    assert!(
        matches!(error, LoadError::Config { field: "count", .. }),
        "{error}"
    );
}
