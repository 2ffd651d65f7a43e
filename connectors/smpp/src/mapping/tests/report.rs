//! Receipts ↔ delivery reports.

use super::*;

fn report() -> DeliveryReport {
    DeliveryReport {
        message_id: "7F3A".into(),
        state: MessageState::Delivered,
        submitted: 1,
        delivered: 1,
        submit_unix: Some(NOW),
        done_unix: Some(NOW + 60),
        error: 0,
        text: "hello".into(),
    }
}

#[test]
fn a_report_becomes_a_receipt_deliver_sm_and_back() {
    let deliver = report_to_deliver_sm(
        &report(),
        &Address::international("4915112345678"),
        &Address::alphanumeric("TernBank"),
        &ReceiptOptions::default(),
    )
    .unwrap();
    assert_eq!(u8::from(deliver.esm_class), RECEIPT_ESM_CLASS);
    assert_eq!(deliver.source_addr.as_str(), "4915112345678");
    assert_eq!(deliver.tlvs().len(), 2);
    assert_eq!(deliver_sm_to_report(&deliver), Ok(report()));

    let without_tlvs = ReceiptOptions {
        send_tlvs: false,
        ..ReceiptOptions::default()
    };
    let failed = DeliveryReport {
        state: MessageState::Undeliverable,
        error: 34,
        ..report()
    };
    let deliver = report_to_deliver_sm(
        &failed,
        &Address::international("4915112345678"),
        &Address::alphanumeric("TernBank"),
        &without_tlvs,
    )
    .unwrap();
    assert!(deliver.tlvs().is_empty());
    assert_eq!(deliver_sm_to_report(&deliver), Ok(failed));
}

fn receipt_deliver(text: &[u8]) -> DeliverSm {
    let mut deliver = DeliverSm::default();
    deliver.esm_class = EsmClass::from(0x04);
    deliver.set_short_message(OctetString::from_vec(text.to_vec()).unwrap());
    deliver
}

#[test]
fn receipt_tlvs_take_precedence_over_the_text() {
    let mut deliver = receipt_deliver(
        b"id:111 sub:001 dlvrd:001 submit date:2401311230 done date:2401311231 stat:DELIVRD err:000 text:x",
    );
    let error = NetworkError {
        network_type: 3,
        code: 11,
    };
    add_receipt_tlvs(
        &mut deliver,
        "222",
        MessageState::Undeliverable,
        Some(error),
    )
    .unwrap();
    let report = deliver_sm_to_report(&deliver).unwrap();
    assert_eq!(report.message_id, "222");
    assert_eq!(report.state, MessageState::Undeliverable);
    assert_eq!(report.error, 11);
    assert_eq!(report.done_unix, Some(NOW + 60), "dates come from the text");
}

#[test]
fn receipts_with_only_tlvs_or_only_text_are_read() {
    let mut deliver = receipt_deliver(b"");
    add_receipt_tlvs(&mut deliver, "333", MessageState::Expired, None).unwrap();
    let report = deliver_sm_to_report(&deliver).unwrap();
    assert_eq!(
        (report.message_id.as_str(), report.state),
        ("333", MessageState::Expired)
    );

    let deliver = receipt_deliver(b"id:444 stat:REJECTD err:005");
    let report = deliver_sm_to_report(&deliver).unwrap();
    assert_eq!((report.message_id.as_str(), report.error), ("444", 5));

    // Text without a stat, completed by the message_state TLV.
    let mut deliver = receipt_deliver(b"id:555 sub:001 dlvrd:000");
    add_receipt_tlvs(&mut deliver, "555", MessageState::Rejected, None).unwrap();
    assert_eq!(
        deliver_sm_to_report(&deliver).map(|r| r.state),
        Ok(MessageState::Rejected)
    );

    let error = deliver_sm_to_report(&receipt_deliver(b"garbage")).unwrap_err();
    assert_eq!(error.status(), CommandStatus::EsmeRxPAppn);
}

#[test]
fn query_sm_resp_dates_only_a_final_state() {
    let id = crate::session::c_octet("4711");
    let delivered = query_sm_resp(&id, MessageState::Delivered, Some(NOW), 34);
    assert_eq!(delivered.message_id.as_str(), "4711");
    assert_eq!(u8::from(delivered.message_state), 2);
    assert_eq!(delivered.error_code, 34);
    assert_eq!(
        crate::time::smpp_time_to_unix(delivered.final_date.as_str(), NOW),
        Ok(Some(NOW))
    );

    let enroute = query_sm_resp(&id, MessageState::Enroute, Some(NOW), 0);
    assert_eq!(u8::from(enroute.message_state), 1);
    assert!(
        enroute.final_date.is_empty(),
        "an open message has no final date"
    );

    let deleted = query_sm_resp(&id, MessageState::Deleted, Some(NOW), 999);
    assert_eq!(u8::from(deleted.message_state), 4);
    assert_eq!(deleted.error_code, 255);
}
