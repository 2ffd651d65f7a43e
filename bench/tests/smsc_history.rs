//! The simulator's history file and its operator faults, against the link client over real
//! sockets on 127.0.0.1 (and once as a process stopped by SIGTERM): the history shows the
//! binds, submits, receipts and closes the client caused, and each fault shows on the wire.
//! Every test is bounded in time.

// Test helpers: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used)]

use std::future::Future;
use std::io::BufRead as _;
use std::path::{Path, PathBuf};
use std::process::{Command as Process, Stdio};
use std::time::Duration;

use serde_json::Value;
use tern_bench::smsc::{Accounts, Smsc, SmscConfig, SmscHandle, SmscStats};
use tern_encoding::udh::{concat_udh16, concat_udh8};
use tern_model::MessageState;
use tern_smpp::net::{Client, ClientConfig, ClientEvent, RequestError, SessionHandle};
use tern_smpp::receipt::receipted_message_id;
use tern_smpp::rusmpp::pdus::{DeliverSm, DeliverSmResp, SubmitSm};
use tern_smpp::rusmpp::tlvs::MessageSubmissionRequestTlvValue;
use tern_smpp::rusmpp::types::OctetString;
use tern_smpp::rusmpp::values::{EsmClass, Npi, RegisteredDelivery, Ton};
use tern_smpp::session::c_octet;
use tern_smpp::{Command, CommandStatus, Pdu};
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

const LIMIT: Duration = Duration::from_secs(60);

async fn bounded<T>(test: impl Future<Output = T>) -> T {
    tokio::time::timeout(LIMIT, test)
        .await
        .expect("the test finishes in time")
}

/// Every receipt DELIVRD, at once, and the history in `dir`.
fn config(dir: &Path) -> SmscConfig {
    SmscConfig {
        final_states: vec![(MessageState::Delivered, 1)],
        history: Some(dir.join("history.jsonl")),
        ..SmscConfig::default()
    }
}

async fn smsc(config: SmscConfig) -> SmscHandle {
    Smsc::start(config).await.unwrap()
}

/// The history's lines, after shutdown.
fn history(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect()
}

fn of_kind<'a>(lines: &'a [Value], ev: &str) -> Vec<&'a Value> {
    lines.iter().filter(|l| l["ev"] == ev).collect()
}

const SOURCE: &str = "TernTest";

fn submit_pdu(destination: &str, esm_class: u8, user_data: Vec<u8>) -> SubmitSm {
    SubmitSm::builder()
        .source_addr_ton(Ton::Alphanumeric)
        .source_addr(c_octet(SOURCE))
        .dest_addr_ton(Ton::International)
        .dest_addr_npi(Npi::Isdn)
        .destination_addr(c_octet(destination))
        .esm_class(EsmClass::from(esm_class))
        .registered_delivery(RegisteredDelivery::from(1))
        .short_message(OctetString::from_vec(user_data).unwrap())
        .build()
}

fn plain(destination: &str, text: &str) -> Pdu {
    Pdu::from(submit_pdu(destination, 0, text.as_bytes().to_vec()))
}

/// Part `seq` of `total` with an 8-bit reference in its UDH.
fn part8(destination: &str, reference: u8, total: u8, seq: u8) -> Pdu {
    let mut user_data = concat_udh8(reference, total, seq).to_vec();
    user_data.extend_from_slice(format!("part {seq}").as_bytes());
    Pdu::from(submit_pdu(destination, 0x40, user_data))
}

/// Part `seq` of `total` with a 16-bit reference in its UDH.
fn part16(destination: &str, reference: u16, total: u8, seq: u8) -> Pdu {
    let mut user_data = concat_udh16(reference, total, seq).to_vec();
    user_data.extend_from_slice(format!("part {seq}").as_bytes());
    Pdu::from(submit_pdu(destination, 0x40, user_data))
}

/// Part `seq` of `total` with the sar_* TLVs.
fn part_sar(destination: &str, reference: u16, total: u8, seq: u8) -> Pdu {
    let mut submit = submit_pdu(destination, 0, format!("part {seq}").into_bytes());
    submit.push_tlv(MessageSubmissionRequestTlvValue::SarMsgRefNum(reference));
    submit.push_tlv(MessageSubmissionRequestTlvValue::SarTotalSegments(total));
    submit.push_tlv(MessageSubmissionRequestTlvValue::SarSegmentSeqnum(seq));
    Pdu::from(submit)
}

fn client_config(smsc: &SmscHandle, system_id: &str, password: &str) -> ClientConfig {
    let mut config = ClientConfig::new("test", "127.0.0.1", smsc.addr().port());
    config.system_id = system_id.into();
    config.password = password.into();
    config.reconnect_min = Duration::from_millis(50);
    config.reconnect_max = Duration::from_millis(200);
    config
}

/// A transceiver link, as Tern's operator links are.
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

    async fn request(&self, pdu: Pdu) -> Result<Command, RequestError> {
        self.client.request(pdu).await
    }

    /// The status and message id of a submit.
    async fn submit(&self, pdu: Pdu) -> (CommandStatus, String) {
        let response = self.request(pdu).await.unwrap();
        let id = match response.pdu() {
            Some(Pdu::SubmitSmResp(resp)) => resp.message_id().as_str().to_owned(),
            _ => String::new(),
        };
        (response.status(), id)
    }

    async fn accepted(&self, pdu: Pdu) -> String {
        let (status, id) = self.submit(pdu).await;
        assert_eq!(status, CommandStatus::EsmeRok);
        id
    }

    /// The next deliver_sm within `wait`, not answered yet.
    async fn next_deliver(
        &mut self,
        wait: Duration,
    ) -> Option<(DeliverSm, Command, SessionHandle)> {
        let deadline = Instant::now() + wait;
        loop {
            let event = tokio::time::timeout_at(deadline, self.events.recv())
                .await
                .ok()??;
            if let ClientEvent::Request { command, handle } = event {
                if let Some(Pdu::DeliverSm(deliver)) = command.pdu() {
                    return Some((deliver.clone(), command, handle));
                }
            }
        }
    }

    /// The receipted id of the next deliver_sm, answered.
    async fn receipt(&mut self) -> String {
        let (deliver, command, handle) = self
            .next_deliver(Duration::from_secs(5))
            .await
            .expect("a receipt within 5 s");
        answer(&command, &handle);
        receipted_message_id(deliver.tlvs()).unwrap().to_owned()
    }

    async fn close(self) {
        self.stop.cancel();
        self.tracker.close();
        tokio::time::timeout(Duration::from_secs(5), self.tracker.wait())
            .await
            .unwrap();
    }
}

fn answer(command: &Command, handle: &SessionHandle) {
    handle.respond(Command::new(
        CommandStatus::EsmeRok,
        command.sequence_number(),
        DeliverSmResp::default(),
    ));
}

async fn wait_for(smsc: &SmscHandle, done: impl FnMut(&SmscStats) -> bool) -> SmscStats {
    smsc.wait_for(Duration::from_secs(5), done).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_history_shows_binds_submits_receipts_and_closes_as_the_client_made_them() {
    bounded(async {
        let dir = tempfile::tempdir().unwrap();
        let smsc = smsc(SmscConfig {
            accounts: Accounts::List(vec![("acme".into(), "secret".into())]),
            ..config(dir.path())
        })
        .await;
        let mut link = Link::start(client_config(&smsc, "acme", "secret"));
        let single = link.accepted(plain("4915100000001", "hello")).await;
        assert_eq!(link.receipt().await, single);
        let mut parts = Vec::new();
        for seq in 1..=2 {
            parts.push(link.accepted(part8("4915100000002", 42, 2, seq)).await);
        }
        parts.push(link.accepted(part16("4915100000003", 4242, 3, 3)).await);
        for _ in 0..3 {
            let id = link.receipt().await;
            assert!(parts.contains(&id), "{id} is one of {parts:?}");
        }
        // The last deliver_sm_resp is on its way; an unbind could overtake it.
        wait_for(&smsc, |s| s.receipts_acked == 4).await;
        link.close().await;

        let wrong = Link::start(client_config(&smsc, "acme", "wrong"));
        wait_for(&smsc, |s| s.binds_rejected >= 1).await;
        wrong.close().await;
        let stats = smsc.shutdown().await;

        let lines = history(&dir.path().join("history.jsonl"));
        assert_eq!(stats.history_events, lines.len() as u64);
        assert_eq!(lines[0]["ev"], "bind");
        assert_eq!(lines[0]["conn"], 1);
        assert_eq!(lines[0]["system_id"], "acme");
        assert_eq!(lines[0]["kind"], "trx");
        assert_eq!(lines[0]["ok"], true);
        assert!(lines[0]["t_ms"].as_u64().unwrap() > 1_600_000_000_000);

        let submits = of_kind(&lines, "submit");
        assert_eq!(submits.len(), 4);
        let ids: Vec<&str> = submits.iter().map(|s| s["id"].as_str().unwrap()).collect();
        let mut expected = vec![single.as_str()];
        expected.extend(parts.iter().map(String::as_str));
        assert_eq!(ids, expected, "one line per submit, in order");
        let mut seqs: Vec<u64> = submits.iter().map(|s| s["seq"].as_u64().unwrap()).collect();
        seqs.sort_unstable();
        seqs.dedup();
        assert_eq!(seqs.len(), 4, "the PDUs' sequence numbers");
        for submit in &submits {
            assert_eq!(submit["conn"], 1);
            assert_eq!(submit["src"], SOURCE);
            assert_eq!(submit["registered"], 1);
            assert_eq!(submit["status"], "ESME_ROK");
            assert_eq!(submit["answered"], true);
            assert_eq!(submit["fault"], Value::Null);
        }
        let place = |s: &Value| {
            (
                s["dst"].clone(),
                s["ref"].clone(),
                s["part"].clone(),
                s["parts"].clone(),
            )
        };
        assert_eq!(
            place(submits[0]),
            (
                "4915100000001".into(),
                Value::Null,
                Value::Null,
                Value::Null
            )
        );
        assert_eq!(
            place(submits[1]),
            ("4915100000002".into(), 42.into(), 1.into(), 2.into())
        );
        assert_eq!(
            place(submits[2]),
            ("4915100000002".into(), 42.into(), 2.into(), 2.into())
        );
        assert_eq!(
            place(submits[3]),
            ("4915100000003".into(), 4242.into(), 3.into(), 3.into())
        );

        let receipts = of_kind(&lines, "receipt");
        assert_eq!(
            receipts.len(),
            4,
            "one per attempt, every one answered once"
        );
        let at = |line: &Value| lines.iter().position(|l| std::ptr::eq(l, line)).unwrap();
        for &receipt in &receipts {
            let id = receipt["id"].as_str().unwrap();
            let submit: &Value = submits.iter().find(|s| s["id"] == id).unwrap();
            assert_eq!(receipt["dst"], submit["dst"]);
            assert_eq!(receipt["stat"], "DELIVRD");
            assert_eq!(receipt["acked"], true);
            assert_eq!(receipt["conn"], 1);
            assert!(
                at(submit) < at(receipt),
                "a submit's line comes before its receipt's"
            );
        }

        let closes = of_kind(&lines, "close");
        assert_eq!(closes[0]["conn"], 1);
        assert_eq!(closes[0]["by"], "peer", "the client unbound");
        let first_close = lines.iter().position(|l| l["ev"] == "close").unwrap();
        assert!(lines[..first_close].iter().all(|l| l["conn"] == 1));

        // The refused bind: its own connection, closed by the SMSC at once.
        let refused = lines
            .iter()
            .position(|l| l["ev"] == "bind" && l["ok"] == false)
            .unwrap();
        let conn = lines[refused]["conn"].as_u64().unwrap();
        assert!(conn >= 2);
        assert_eq!(lines[refused]["system_id"], "acme");
        assert_eq!(lines[refused + 1]["ev"], "close");
        assert_eq!(lines[refused + 1]["conn"], conn);
        assert_eq!(lines[refused + 1]["by"], "smsc");
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_receipt_before_resp_arrives_and_is_answered_before_the_submit_sm_resp() {
    bounded(async {
        let dir = tempfile::tempdir().unwrap();
        let smsc = smsc(SmscConfig {
            receipt_before_resp: 1.0,
            ..config(dir.path())
        })
        .await;
        let mut link = Link::start(client_config(&smsc, "acme", "pw"));
        let client = link.client.clone();
        let submit =
            tokio::spawn(async move { client.request(plain("4915100000001", "early")).await });
        let (deliver, command, handle) = link
            .next_deliver(Duration::from_secs(5))
            .await
            .expect("the receipt comes first");
        let receipted = receipted_message_id(deliver.tlvs()).unwrap().to_owned();
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert!(
            !submit.is_finished(),
            "no submit_sm_resp while the receipt is unanswered"
        );
        answer(&command, &handle);
        let response = submit.await.unwrap().unwrap();
        assert_eq!(response.status(), CommandStatus::EsmeRok);
        let Some(Pdu::SubmitSmResp(resp)) = response.pdu() else {
            panic!("not a submit_sm_resp: {response:?}");
        };
        assert_eq!(resp.message_id().as_str(), receipted);
        link.close().await;
        let stats = smsc.shutdown().await;
        assert_eq!(stats.receipts_before_resp, 1);

        let lines = history(&dir.path().join("history.jsonl"));
        let receipt = lines.iter().position(|l| l["ev"] == "receipt").unwrap();
        let submit = lines.iter().position(|l| l["ev"] == "submit").unwrap();
        assert!(receipt < submit, "the receipt's line comes first");
        assert_eq!(lines[receipt]["fault"], "receipt_before_resp");
        assert_eq!(lines[receipt]["acked"], true);
        assert_eq!(lines[submit]["fault"], "receipt_before_resp");
        assert_eq!(lines[submit]["id"], receipted.as_str());
        assert_eq!(lines[submit]["answered"], true);
        assert!(lines[submit]["t_ms"].as_u64() >= lines[receipt]["t_ms"].as_u64());
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drop_after_read_closes_the_connection_without_a_response() {
    bounded(async {
        let dir = tempfile::tempdir().unwrap();
        let smsc = smsc(SmscConfig {
            drop_after_read: 1.0,
            ..config(dir.path())
        })
        .await;
        let link = Link::start(client_config(&smsc, "acme", "pw"));
        let result = link.request(plain("4915100000001", "lost")).await;
        assert!(
            matches!(result, Err(RequestError::Closed)),
            "the session closed under the submit: {result:?}"
        );
        let stats = wait_for(&smsc, |s| s.submits_dropped >= 1).await;
        assert_eq!(stats.submits_dropped, 1);
        assert_eq!(stats.submits, 0, "nothing was answered");
        assert_eq!(stats.receipts_scheduled, 0);
        link.close().await;
        smsc.shutdown().await;

        let lines = history(&dir.path().join("history.jsonl"));
        let submits = of_kind(&lines, "submit");
        assert_eq!(submits.len(), 1);
        assert_eq!(submits[0]["answered"], false);
        assert_eq!(submits[0]["status"], "none");
        assert_eq!(submits[0]["id"], Value::Null);
        assert_eq!(submits[0]["fault"], "drop_after_read");
        let close = of_kind(&lines, "close")
            .into_iter()
            .find(|c| c["conn"] == submits[0]["conn"])
            .unwrap();
        assert_eq!(close["by"], "smsc");
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refuse_part_refuses_a_part_the_first_time_and_accepts_it_when_sent_again() {
    bounded(async {
        let dir = tempfile::tempdir().unwrap();
        let smsc = smsc(SmscConfig {
            refuse_part: Some(2),
            ..config(dir.path())
        })
        .await;
        let link = Link::start(client_config(&smsc, "acme", "pw"));
        let linked = &link;
        let status = |pdu: Pdu| async move { linked.submit(pdu).await.0 };
        let (ok, refused) = (CommandStatus::EsmeRok, CommandStatus::EsmeRthrottled);
        let to = "4915100000001";
        assert_eq!(status(part8(to, 7, 3, 1)).await, ok);
        assert_eq!(status(part8(to, 7, 3, 2)).await, refused, "part 2 of 3");
        assert_eq!(status(part8(to, 7, 3, 3)).await, ok);
        assert_eq!(status(part8(to, 7, 3, 2)).await, ok, "sent again");
        assert_eq!(status(part8(to, 7, 3, 2)).await, ok);
        // Another destination with the same reference is another message.
        assert_eq!(status(part8("4915100000002", 7, 3, 2)).await, refused);
        // sar_* TLVs count as a UDH does.
        assert_eq!(status(part_sar(to, 300, 2, 2)).await, refused);
        assert_eq!(status(part_sar(to, 300, 2, 2)).await, ok);
        // Not concatenated: never refused.
        assert_eq!(status(plain(to, "single")).await, ok);
        link.close().await;
        let stats = smsc.shutdown().await;
        assert_eq!(stats.parts_refused, 3);

        let lines = history(&dir.path().join("history.jsonl"));
        let refusals: Vec<_> = of_kind(&lines, "submit")
            .into_iter()
            .filter(|s| s["fault"] == "refuse_part")
            .collect();
        assert_eq!(refusals.len(), 3);
        for line in &refusals {
            assert_eq!(line["status"], "ESME_RTHROTTLED");
            assert_eq!(line["part"], 2);
            assert_eq!(line["id"], Value::Null);
        }
        assert_eq!(refusals[2]["ref"], 300);
        assert_eq!(refusals[2]["parts"], 2);
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_storm_refuses_every_submit_inside_its_window_and_none_outside() {
    bounded(async {
        let dir = tempfile::tempdir().unwrap();
        let (every, length) = (Duration::from_millis(1000), Duration::from_millis(400));
        let before = Instant::now();
        let smsc = smsc(SmscConfig {
            storm_every: Some(every),
            storm_length: Some(length),
            storm_status: CommandStatus::EsmeRmsgqful,
            ..config(dir.path())
        })
        .await;
        let after = Instant::now();
        let link = Link::start(client_config(&smsc, "acme", "pw"));
        let mut outcomes = Vec::new();
        while before.elapsed() < Duration::from_millis(2600) {
            let sent = Instant::now();
            let (status, _) = link.submit(plain("4915100000001", "storm?")).await;
            outcomes.push((sent, Instant::now(), status));
            tokio::time::sleep(Duration::from_millis(30)).await;
        }
        link.close().await;
        let stats = smsc.shutdown().await;

        // The simulator started between `before` and `after` and decided between sending
        // and answering: only submits whose whole interval lies on one side are judged.
        let (mut inside, mut outside) = (0, 0);
        let every_ms = every.as_millis();
        for (sent, answered, status) in &outcomes {
            let earliest = sent.saturating_duration_since(after).as_millis();
            let latest = answered.saturating_duration_since(before).as_millis();
            if earliest / every_ms != latest / every_ms {
                continue;
            }
            let (from, to) = (earliest % every_ms, latest % every_ms);
            if to < length.as_millis() {
                inside += 1;
                assert_eq!(
                    *status,
                    CommandStatus::EsmeRmsgqful,
                    "inside the storm at {from}..{to} ms"
                );
            } else if from >= length.as_millis() {
                outside += 1;
                assert_eq!(
                    *status,
                    CommandStatus::EsmeRok,
                    "outside the storm at {from}..{to} ms"
                );
            }
        }
        assert!(
            inside >= 3 && outside >= 3,
            "{inside} inside, {outside} outside"
        );
        let refused = outcomes
            .iter()
            .filter(|(_, _, s)| *s == CommandStatus::EsmeRmsgqful)
            .count() as u64;
        assert_eq!(stats.storm_refusals, refused);
        assert_eq!(stats.submits_by_status.get("ESME_RMSGQFUL"), Some(&refused));

        let lines = history(&dir.path().join("history.jsonl"));
        let storms = of_kind(&lines, "submit")
            .into_iter()
            .filter(|s| s["fault"] == "storm" && s["status"] == "ESME_RMSGQFUL")
            .count() as u64;
        assert_eq!(storms, refused);
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_answer_comes_late_while_the_other_submits_are_answered() {
    bounded(async {
        let dir = tempfile::tempdir().unwrap();
        let delay = Duration::from_millis(1500);
        let smsc = smsc(SmscConfig {
            slow_answer: 0.5,
            slow_answer_delay: delay,
            ..config(dir.path())
        })
        .await;
        let link = Link::start(client_config(&smsc, "acme", "pw"));
        link.accepted(plain("4915100000000", "warm up")).await;
        let started = Instant::now();
        let mut submits = Vec::new();
        for n in 1..=12 {
            let client = link.client.clone();
            submits.push(tokio::spawn(async move {
                let response = client
                    .request(plain(&format!("49151000000{n:02}"), "slow?"))
                    .await
                    .unwrap();
                (response.status(), started.elapsed())
            }));
        }
        let mut fast = Vec::new();
        let mut slow = Vec::new();
        for submit in submits {
            let (status, took) = submit.await.unwrap();
            assert_eq!(status, CommandStatus::EsmeRok);
            if took >= delay {
                slow.push(took);
            } else {
                fast.push(took);
            }
        }
        assert!(
            !slow.is_empty() && !fast.is_empty(),
            "fast {fast:?}, slow {slow:?}"
        );
        assert!(
            fast.iter().all(|t| *t < Duration::from_millis(1000)),
            "the other submits are not held up: {fast:?}"
        );
        link.close().await;
        let stats = smsc.shutdown().await;
        // The warm-up submit may have been a slow one too.
        let slow_count = slow.len() as u64;
        assert!(stats.slow_answers == slow_count || stats.slow_answers == slow_count + 1);

        let lines = history(&dir.path().join("history.jsonl"));
        let slow_lines: Vec<_> = of_kind(&lines, "submit")
            .into_iter()
            .filter(|s| s["fault"] == "slow_answer")
            .collect();
        assert_eq!(slow_lines.len() as u64, stats.slow_answers);
        assert!(slow_lines.iter().all(|s| s["answered"] == true));
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn receipt_other_bind_sends_each_receipt_on_the_bind_that_did_not_submit() {
    bounded(async {
        let dir = tempfile::tempdir().unwrap();
        let smsc = smsc(SmscConfig {
            receipt_other_bind: 1.0,
            ..config(dir.path())
        })
        .await;
        let mut a = Link::start(client_config(&smsc, "acme", "pw"));
        let mut b = Link::start(client_config(&smsc, "acme", "pw"));
        let bound = wait_for(&smsc, |s| s.binds == 2).await;
        assert_eq!(bound.binds, 2);
        let mut from_a = Vec::new();
        for n in 0..3 {
            from_a.push(
                a.accepted(plain(&format!("491510000000{n}"), "via a"))
                    .await,
            );
        }
        let mut on_b = Vec::new();
        for _ in 0..3 {
            on_b.push(b.receipt().await);
        }
        on_b.sort();
        from_a.sort();
        assert_eq!(on_b, from_a, "a's receipts all come on b");
        let from_b = b.accepted(plain("4915100000009", "via b")).await;
        assert_eq!(a.receipt().await, from_b);
        assert!(
            a.next_deliver(Duration::from_millis(300)).await.is_none(),
            "nothing else on a"
        );
        a.close().await;
        b.close().await;
        let stats = smsc.shutdown().await;
        assert_eq!(stats.receipts_other_bind, 4);

        let lines = history(&dir.path().join("history.jsonl"));
        for receipt in of_kind(&lines, "receipt") {
            let submit = of_kind(&lines, "submit")
                .into_iter()
                .find(|s| s["id"] == receipt["id"])
                .unwrap();
            assert_ne!(receipt["conn"], submit["conn"]);
            assert_eq!(receipt["fault"], "receipt_other_bind");
        }
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn duplicate_receipts_sends_the_same_receipt_twice() {
    bounded(async {
        let dir = tempfile::tempdir().unwrap();
        let smsc = smsc(SmscConfig {
            duplicate_receipts: 1.0,
            ..config(dir.path())
        })
        .await;
        let mut link = Link::start(client_config(&smsc, "acme", "pw"));
        let id = link.accepted(plain("4915100000001", "twice")).await;
        assert_eq!(link.receipt().await, id);
        assert_eq!(link.receipt().await, id);
        assert!(link
            .next_deliver(Duration::from_millis(300))
            .await
            .is_none());
        wait_for(&smsc, |s| s.receipts_acked == 2).await;
        link.close().await;
        let stats = smsc.shutdown().await;
        assert_eq!(stats.receipts_duplicated, 1);
        assert_eq!(stats.receipts_acked, 2);

        let lines = history(&dir.path().join("history.jsonl"));
        let receipts = of_kind(&lines, "receipt");
        assert_eq!(receipts.len(), 2);
        assert!(receipts.iter().all(|r| r["id"] == id.as_str()));
        let copies = receipts
            .iter()
            .filter(|r| r["fault"] == "duplicate_receipts")
            .count();
        assert_eq!(copies, 1);
    })
    .await
}

#[tokio::test]
async fn fault_settings_that_cannot_work_name_their_field() {
    let dir = tempfile::tempdir().unwrap();
    for (config, field) in [
        (
            SmscConfig {
                storm_every: Some(Duration::from_secs(1)),
                ..SmscConfig::default()
            },
            "storm_length",
        ),
        (
            SmscConfig {
                storm_every: Some(Duration::from_secs(1)),
                storm_length: Some(Duration::from_secs(2)),
                ..SmscConfig::default()
            },
            "storm_length",
        ),
        (
            SmscConfig {
                storm_status: CommandStatus::EsmeRok,
                ..SmscConfig::default()
            },
            "storm_status",
        ),
        (
            SmscConfig {
                refuse_part: Some(0),
                ..SmscConfig::default()
            },
            "refuse_part",
        ),
        (
            SmscConfig {
                slow_answer: 1.5,
                ..SmscConfig::default()
            },
            "slow_answer",
        ),
        (
            SmscConfig {
                history: Some(dir.path().join("missing").join("history.jsonl")),
                ..SmscConfig::default()
            },
            "history",
        ),
    ] {
        let error = Smsc::start(config).await.err().unwrap();
        assert!(error.to_string().contains(field), "{field}: {error}");
    }
}

/// Stops the child even when the test fails.
struct Child(std::process::Child);

impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_process_writes_its_last_lines_when_it_gets_sigterm() {
    bounded(async {
        let dir = tempfile::tempdir().unwrap();
        let path: PathBuf = dir.path().join("history.jsonl");
        let mut child = Child(
            Process::new(env!("CARGO_BIN_EXE_tern-bench"))
                .args(["smsc", "--listen", "127.0.0.1:0", "--quiet", "--history"])
                .arg(&path)
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap(),
        );
        let stdout = child.0.stdout.take().unwrap();
        let first = tokio::task::spawn_blocking(move || {
            let mut line = String::new();
            std::io::BufReader::new(stdout)
                .read_line(&mut line)
                .unwrap();
            line
        })
        .await
        .unwrap();
        let addr: std::net::SocketAddr = first.trim().rsplit(' ').next().unwrap().parse().unwrap();
        let mut config = ClientConfig::new("test", "127.0.0.1", addr.port());
        config.system_id = "acme".into();
        config.password = "pw".into();
        let mut link = Link::start(config);
        let id = link.accepted(plain("4915100000001", "bye")).await;
        link.receipt().await;

        // SIGTERM with the link still bound: the SMSC unbinds it, and writes that too.
        let pid = child.0.id().to_string();
        let killed = Process::new("kill").args(["-TERM", &pid]).status().unwrap();
        assert!(killed.success());
        let deadline = Instant::now() + Duration::from_secs(15);
        let status = loop {
            if let Some(status) = child.0.try_wait().unwrap() {
                break status;
            }
            assert!(
                Instant::now() < deadline,
                "the simulator exits after SIGTERM"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        let mut stderr = String::new();
        std::io::Read::read_to_string(&mut child.0.stderr.take().unwrap(), &mut stderr).unwrap();
        assert!(status.success(), "{stderr}");
        link.close().await;

        let lines = history(&path);
        let stats: SmscStats = serde_json::from_str(&stderr).unwrap();
        assert_eq!(stats.history_events, lines.len() as u64);
        let kinds: Vec<&str> = lines.iter().map(|l| l["ev"].as_str().unwrap()).collect();
        assert_eq!(kinds, ["bind", "submit", "receipt", "close"]);
        assert_eq!(lines[1]["id"], id.as_str());
        assert_eq!(lines[3]["by"], "smsc", "the SMSC unbound at shutdown");
    })
    .await
}
