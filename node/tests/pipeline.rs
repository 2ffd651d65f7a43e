#![allow(clippy::unwrap_used)]
//! A message's life through a node in this process, with the simulated operator behind
//! it: submits of every shape reach the operator, receipts come back to the customer (also
//! across a restart while the customer is away, and when the operator's receipt follows
//! its submit_sm_resp at once), MO goes to the account that owns the number, the
//! operator is sent a message's times as they stand when it leaves, and the CDRs name the
//! route, the price and the customer's own reference.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::operator::RecordingOperator;
use common::*;
use tern_bench::smsc::{MoConfig, ReceiptDelay};
use tern_model::{Coding, MessageState};
use tern_smpp::mapping::Concat;
use tern_smpp::session::BindKind;

/// Every id has exactly one receipt, DELIVRD, a deliver_sm with esm_class 0x04 whose
/// receipted_message_id is that id; and there are no other receipts.
fn assert_one_delivered_receipt_each(inbox: &Inbox, ids: &[String]) {
    let by_id = inbox.receipts_by_id();
    for id in ids {
        let receipts = by_id.get(id).map(Vec::as_slice).unwrap_or_default();
        assert_eq!(receipts.len(), 1, "receipts for {id}: {receipts:?}");
        let receipt = &receipts[0];
        assert_eq!(receipt.esm_class, 0x04);
        assert_eq!(receipt.receipted_id.as_deref(), Some(id.as_str()));
        assert_eq!(
            receipt.state(),
            Some(MessageState::Delivered),
            "{receipt:?}"
        );
        assert_eq!(
            receipt.report.as_ref().map(|r| r.message_id.as_str()),
            Some(id.as_str())
        );
    }
    assert_eq!(
        inbox.receipts().len(),
        ids.len(),
        "receipts for no message of ours"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_of_every_shape_reach_the_operator_and_get_one_receipt_each() {
    init_tracing();
    let dir = tempfile::tempdir().unwrap();
    let sim = start_sim(sim_config()).await;
    let toml = base_toml(dir.path())
        + &account_toml("alice", "secret", "")
        + &upstream_toml("op", sim.addr(), "");
    let node = start_node(&toml).await;
    let esme = Esme::connect(smpp_addr(&node), BindKind::Transceiver, "alice", "secret").await;
    let submits_reach = |n: u64| {
        let sim = &sim;
        async move {
            let stats = sim.wait_for(WAIT, |s| s.submits >= n).await;
            assert_eq!(stats.submits, n, "submits at the operator");
            // Nothing more trickles in.
            tokio::time::sleep(Duration::from_millis(200)).await;
            assert_eq!(sim.stats().submits, n, "submits at the operator");
        }
    };

    let short = esme
        .submit_ok(short_submit("4915112345001", "Hello from Tern"))
        .await;
    submits_reach(1).await;

    // 400 GSM characters in message_payload: Tern splits them into three UDH parts.
    let long_text = "The quick brown fox jumps over the lazy dog. ".repeat(9);
    let long_text = &long_text[..400];
    let payload = esme
        .submit_ok(payload_submit("4915112345002", long_text))
        .await;
    submits_reach(4).await;

    // The customer split this one itself: each part is a message of its own.
    let customer_parts = submits(
        &text_message("4915112345003", &"Split by the customer. ".repeat(9)),
        Concat::Udh8,
    );
    assert_eq!(customer_parts.len(), 2);
    let mut part_ids = Vec::new();
    for part in customer_parts {
        assert_ne!(u8::from(part.esm_class) & 0x40, 0, "sent with a UDH");
        part_ids.push(esme.submit_ok(part).await);
    }
    submits_reach(6).await;

    let mut ucs2_message = text_message("4915112345004", "Grüße aus Köln 😀 Привет");
    ucs2_message.coding = Coding::Ucs2;
    ucs2_message.data_coding = 8;
    let ucs2_pdus = submits(&ucs2_message, Concat::Udh8);
    assert_eq!(ucs2_pdus.len(), 1);
    assert_eq!(u8::from(ucs2_pdus[0].data_coding), 8);
    let ucs2 = esme.submit_ok(ucs2_pdus.into_iter().next().unwrap()).await;
    submits_reach(7).await;

    let stats = sim.stats();
    assert_eq!(stats.unique_submits, 7);
    assert_eq!(stats.duplicates, 0);

    let mut ids = vec![short, payload.clone(), ucs2];
    ids.extend(part_ids.iter().cloned());
    assert_distinct_decimal(&ids);
    assert!(
        esme.inbox.wait_for_receipts(&ids, WAIT).await,
        "receipts: {:?}",
        esme.inbox.receipts_by_id().keys().collect::<Vec<_>>()
    );
    // The operator sent seven receipts; the customer gets one per message: give any extra
    // one the time to show up.
    let acked = sim.wait_for(WAIT, |s| s.receipts_acked >= 7).await;
    assert_eq!(acked.receipts_acked, 7);
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_one_delivered_receipt_each(&esme.inbox, &ids);
    let aggregated = esme.inbox.receipts_by_id()[&payload][0]
        .report
        .clone()
        .unwrap();
    assert_eq!(
        (aggregated.submitted, aggregated.delivered),
        (3, 3),
        "the message_payload message's receipt covers its three parts"
    );
    // SMPP 3.4 Appendix B: `text:` is the first 20 characters of the message, not of the
    // part that finished last.
    assert_eq!(aggregated.text, long_text[..20]);
    // Parts the customer split are messages of their own: each receipt quotes its part.
    let split_text = "Split by the customer. ".repeat(9);
    let part_texts = [&split_text[..20], &split_text[153..173]];
    for (id, text) in part_ids.iter().zip(part_texts) {
        let receipt = esme.inbox.receipts_by_id()[id][0].report.clone().unwrap();
        assert_eq!(receipt.text, text, "receipt of part {id}");
    }

    esme.unbind().await;
    node.shutdown().await;
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn receipts_wait_in_the_store_for_a_receiver_across_a_restart() {
    init_tracing();
    let dir = tempfile::tempdir().unwrap();
    let sim = start_sim(sim_config()).await;
    let toml = base_toml(dir.path())
        + &account_toml("alice", "secret", "")
        + &upstream_toml("op", sim.addr(), "");
    let node = start_node(&toml).await;
    let transmitter =
        Esme::connect(smpp_addr(&node), BindKind::Transmitter, "alice", "secret").await;
    let mut ids = Vec::new();
    for i in 0..5 {
        ids.push(
            transmitter
                .submit_ok(short_submit("4915112345010", &format!("held {i}")))
                .await,
        );
    }
    // The operator's receipts are taken (and acknowledged) by the node ...
    let stats = sim.wait_for(WAIT, |s| s.receipts_acked >= 5).await;
    assert_eq!(stats.receipts_acked, 5);
    // ... and go to no one: the account has no receiving bind.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(transmitter.inbox.all().is_empty());
    transmitter.unbind().await;
    node.shutdown().await;

    let node = start_node(&toml).await;
    let receiver = Esme::connect(smpp_addr(&node), BindKind::Receiver, "alice", "secret").await;
    assert!(
        receiver.inbox.wait_for_receipts(&ids, WAIT).await,
        "held receipts after the restart: {:?}",
        receiver.inbox.receipts_by_id().keys().collect::<Vec<_>>()
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_one_delivered_receipt_each(&receiver.inbox, &ids);
    // The operator was not asked again.
    assert_eq!(sim.stats().submits, 5);
    receiver.unbind().await;
    node.shutdown().await;
    sim.shutdown().await;
}

/// The simulator sends each receipt as soon as its submit_sm_resp is written (it cannot
/// send one before the response), so the node often reads the receipt before it has
/// recorded the operator's id; such a receipt must wait for the record and still reach
/// the customer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn receipts_right_behind_the_submit_response_are_matched() {
    init_tracing();
    let dir = tempfile::tempdir().unwrap();
    let sim = start_sim(tern_bench::smsc::SmscConfig {
        receipt_delay: ReceiptDelay::ZERO,
        ..sim_config()
    })
    .await;
    let toml = base_toml(dir.path())
        + &account_toml("alice", "secret", "")
        + &upstream_toml("op", sim.addr(), "");
    let node = start_node(&toml).await;
    let esme =
        Arc::new(Esme::connect(smpp_addr(&node), BindKind::Transceiver, "alice", "secret").await);
    const N: usize = 300;
    let ids = submit_windowed(&esme, distinct_submits(N, "fast"), 32).await;
    assert_eq!(ids.len(), N);
    assert_distinct_decimal(&ids);
    assert!(
        esme.inbox.wait_for_receipts(&ids, WAIT).await,
        "{} of {N} receipts",
        esme.inbox.receipts_by_id().len()
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_one_delivered_receipt_each(&esme.inbox, &ids);
    let stats = sim.stats();
    assert_eq!((stats.unique_submits, stats.duplicates), (N as u64, 0));
    Arc::try_unwrap(esme).ok().unwrap().unbind().await;
    node.shutdown().await;
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mo_goes_to_the_owner_of_the_number_and_unowned_mo_is_refused() {
    init_tracing();
    let dir = tempfile::tempdir().unwrap();
    let mo = |destination: &str| MoConfig {
        rate: 20.0,
        destination: destination.into(),
        source_prefix: "49170".into(),
        system_id: Some(SIM_USER.into()),
    };
    let owned = start_sim(tern_bench::smsc::SmscConfig {
        mo: Some(mo("4915550001")),
        ..sim_config()
    })
    .await;
    let unowned = start_sim(tern_bench::smsc::SmscConfig {
        mo: Some(mo("4915559999")),
        ..sim_config()
    })
    .await;
    let toml = base_toml(dir.path())
        + &account_toml("alice", "secret", "")
        + &account_toml("bob", "secret", "")
        + &upstream_toml("a", owned.addr(), "")
        + &upstream_toml("b", unowned.addr(), "")
        + "\n[[mo_rule]]\naccount = \"alice\"\nnumbers = [\"4915550001\"]\n";
    let node = start_node(&toml).await;
    let alice = Esme::connect(smpp_addr(&node), BindKind::Receiver, "alice", "secret").await;
    let bob = Esme::connect(smpp_addr(&node), BindKind::Receiver, "bob", "secret").await;

    assert!(
        eventually(WAIT, || alice.inbox.mos().len() >= 5).await,
        "MO for alice: {:?}",
        alice.inbox.all()
    );
    let refused = unowned.wait_for(WAIT, |s| s.mo_sent >= 5).await;
    assert!(refused.mo_sent >= 5, "{refused:?}");
    assert_eq!(refused.mo_acked, 0, "the node refuses MO nobody owns");

    let received = alice.inbox.all();
    assert!(received.iter().all(|d| !d.is_receipt()), "{received:?}");
    assert!(received.iter().all(|d| d.destination == "4915550001"));
    assert!(received
        .iter()
        .all(|d| d.source.starts_with("49170") && d.short_message.starts_with(b"MO ")));
    assert!(bob.inbox.all().is_empty(), "bob owns nothing");
    assert!(owned.stats().mo_acked >= 5);

    alice.unbind().await;
    bob.unbind().await;
    node.shutdown().await;
    owned.shutdown().await;
    unowned.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graceful_shutdown_unbinds_the_operator_links() {
    init_tracing();
    let dir = tempfile::tempdir().unwrap();
    let sim = start_sim(sim_config()).await;
    let toml = base_toml(dir.path())
        + &account_toml("alice", "secret", "")
        + &upstream_toml("op", sim.addr(), "");
    let node = start_node(&toml).await;
    let bound = sim.wait_for(WAIT, |s| s.binds == 1).await;
    assert_eq!(bound.binds, 1, "the link binds");
    node.shutdown().await;
    let after = sim.wait_for(Duration::from_secs(3), |s| s.binds == 0).await;
    assert_eq!(
        after.binds, 0,
        "the link is still bound after the node shut down: {after:?}"
    );
    // And it does not come back.
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(
        sim.stats().binds_total,
        1,
        "the link reconnected after shutdown"
    );
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_operator_is_sent_the_schedule_and_validity_as_they_stand() {
    init_tracing();
    let dir = tempfile::tempdir().unwrap();
    let operator = RecordingOperator::start().await;
    let toml = base_toml(dir.path())
        + &account_toml("alice", "secret", "")
        + &upstream_toml("op", operator.addr(), "");
    let node = start_node(&toml).await;
    let esme = Esme::connect(smpp_addr(&node), BindKind::Transmitter, "alice", "secret").await;
    let now = || {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs() as i64
    };
    let time = |text: &str| {
        tern_smpp::rusmpp::types::EmptyOrFullCOctetString::from_string(text.into()).unwrap()
    };

    // Scheduled for 2020, valid for an hour.
    let mut past = short_submit("4915112345001", "scheduled in the past");
    past.schedule_delivery_time = time("200101000000000+");
    past.validity_period = time("000000010000000R");
    let sent_at = now();
    esme.submit_ok(past).await;
    // Held two seconds, valid until the end of '99: 2099 by the year window, not 1999.
    let mut later = short_submit("4915112345002", "scheduled for later");
    let due = now() + 2;
    later.schedule_delivery_time = time(&tern_smpp::time::unix_to_smpp_absolute(due));
    later.validity_period = time("991231235959000+");
    esme.submit_ok(later).await;

    assert!(
        eventually(WAIT, || operator.submits().len() == 2).await,
        "submits at the operator: {:?}",
        operator.submits()
    );
    let submits = operator.submits();
    let [first, second] = [&submits[0], &submits[1]];
    assert_eq!(first.destination_addr.as_str(), "4915112345001");
    assert_eq!(
        first.schedule_delivery_time.as_str(),
        "",
        "a past schedule is sent empty"
    );
    let validity = first.validity_period.as_str();
    assert!(
        validity.ends_with('R'),
        "the rest of the validity, relative: {validity}"
    );
    let until = tern_smpp::time::smpp_time_to_unix(validity, sent_at)
        .unwrap()
        .unwrap();
    assert!(
        (sent_at + 3590..=sent_at + 3600).contains(&until),
        "an hour from the submit: {validity}"
    );
    assert_eq!(second.destination_addr.as_str(), "4915112345002");
    assert!(now() >= due, "held until it was due");
    assert_eq!(
        second.schedule_delivery_time.as_str(),
        "",
        "due when it left"
    );
    assert_eq!(second.validity_period.as_str(), "991231235959000+");

    esme.unbind().await;
    node.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cdrs_carry_the_route_the_price_and_the_customers_reference() {
    use tern_smpp::rusmpp::tlvs::MessageSubmissionRequestTlvValue;
    use tern_smpp::rusmpp::values::UserMessageReference;
    use tern_storage::RecordState;

    init_tracing();
    let dir = tempfile::tempdir().unwrap();
    let sim = start_sim(sim_config()).await;
    let toml = base_toml(dir.path())
        + &account_toml("alice", "secret", "")
        + &upstream_toml("op", sim.addr(), "")
        + "\n[[route]]\nname = \"de\"\nprefixes = [\"49\"]\ngroups = [{ links = [\"op\"] }]\n"
        + "\n[[price]]\nroute = \"de\"\nper_part = 3\n";
    let node = start_node(&toml).await;
    let esme = Esme::connect(smpp_addr(&node), BindKind::Transceiver, "alice", "secret").await;
    let mut referenced = short_submit("4915112345678", "with a reference");
    referenced.push_tlv(MessageSubmissionRequestTlvValue::UserMessageReference(
        UserMessageReference::new(4711),
    ));
    let with_ref = esme.submit_ok(referenced).await;
    let two_parts = esme
        .submit_ok(payload_submit("4915112345678", &"z".repeat(200)))
        .await;
    // Refused after its route was chosen (too many parts), and refused for want of one.
    let too_long = "x".repeat(255 * 153 + 1);
    esme.submit_refused(payload_submit("4915112345678", &too_long))
        .await;
    esme.submit_refused(short_submit("33612345678", "to France"))
        .await;
    assert!(
        esme.inbox
            .wait_for_receipts([&with_ref, &two_parts], WAIT)
            .await
    );
    esme.unbind().await;
    node.shutdown().await;
    sim.shutdown().await;

    let store = reopen_store(&toml).await;
    let records = store
        .messages_by_account("alice", None, 0, u64::MAX, 100)
        .await
        .unwrap();
    let of = |id: &str| -> Vec<_> {
        records
            .iter()
            .filter(|r| r.id.to_decimal() == id)
            .map(|r| {
                (
                    r.state,
                    r.route.as_deref(),
                    r.price,
                    r.client_ref.as_deref(),
                )
            })
            .collect()
    };
    let delivered = RecordState::Delivered;
    assert_eq!(of(&with_ref), [(delivered, Some("de"), 3, Some("4711"))]);
    assert_eq!(
        of(&two_parts),
        [
            (delivered, Some("de"), 3, None),
            (delivered, Some("de"), 3, None)
        ]
    );
    let mut rejected: Vec<_> = records
        .iter()
        .filter(|r| r.state == RecordState::Rejected)
        .map(|r| {
            (
                r.message.destination.value.as_str(),
                r.route.as_deref(),
                r.price,
            )
        })
        .collect();
    rejected.sort();
    assert_eq!(
        rejected,
        [("33612345678", None, 0), ("4915112345678", Some("de"), 0)]
    );
    let found = store
        .messages_by_client_ref("alice", "4711", 10)
        .await
        .unwrap();
    let found: Vec<String> = found.iter().map(|id| id.to_decimal()).collect();
    assert_eq!(found, [with_ref]);
    // Every delivered part went over the one link.
    let over_op = store
        .messages_by_link("op", None, 0, u64::MAX, 100)
        .await
        .unwrap();
    assert_eq!(over_op.len(), 3, "{over_op:?}");
    assert!(over_op.iter().all(|r| r.link.as_deref() == Some("op")));
}
