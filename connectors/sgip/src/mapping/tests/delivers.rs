//! MO DELIVERs both ways, and REPORTs to and from the domain.

use bytes::Bytes;
use tern_model::{Address, Body, DeliveryReport, MessageState};

use super::super::*;
use super::{link, NOON};
use crate::codec::{report, result, Deliver, Report};
use crate::msgid::SequenceNumber;

fn mo(content: &[u8]) -> Deliver {
    Deliver {
        user_number: "8613800138000".into(),
        sp_number: "10655001".into(),
        tp_pid: 0,
        tp_udhi: 0,
        message_coding: 8,
        message_content: Bytes::copy_from_slice(content),
        reserve: String::new(),
    }
}

#[test]
fn mo_delivers_map_both_ways() {
    let m = deliver_to_message(&mo(&[0x4f, 0x60])).expect("maps");
    assert_eq!(m.source, Address::international("8613800138000"));
    assert_eq!(m.destination.value, "10655001");
    assert_eq!(m.body, Body::Text("你".into()));
    let back = message_to_delivers(&m, &link(), 1).expect("maps");
    assert_eq!(back, vec![mo(&[0x4f, 0x60])]);

    let no_sp = Deliver {
        sp_number: String::new(),
        ..mo(&[0x4f, 0x60])
    };
    let err = deliver_to_message(&no_sp).expect_err("no SP number");
    assert_eq!(err.result(), result::BAD_PARAMETER_FORMAT);
}

fn sgip_report(state: u8, error_code: u8) -> Report {
    Report {
        // Sent at 2024-03-01 12:00:00 Beijing time.
        submit_sequence: SequenceNumber::new(3_100_012_345, 301_120_000, 42),
        report_type: report::ON_SUBMIT,
        user_number: "8613800138000".into(),
        state,
        error_code,
        reserve: String::new(),
    }
}

#[test]
fn report_states_and_times() {
    let d = report_to_domain(&sgip_report(0, 0), NOON + 30);
    assert_eq!(
        d,
        DeliveryReport {
            message_id: "310001234503011200000000000042".into(),
            state: MessageState::Delivered,
            submitted: 1,
            delivered: 1,
            submit_unix: Some(NOON),
            done_unix: Some(NOON + 30),
            error: 0,
            text: String::new(),
        }
    );
    let cases = [
        (1, 0, MessageState::Enroute, 0),
        (2, 25, MessageState::Undeliverable, 25),
        (7, 3, MessageState::Unknown, 3),
    ];
    for (state, code, expected, error) in cases {
        let d = report_to_domain(&sgip_report(state, code), NOON);
        assert_eq!((d.state, d.error, d.delivered), (expected, error, 0));
    }
}

#[test]
fn domain_reports_become_three_states() {
    let user = Address::international("+8613800138000");
    let seq = sgip_report(0, 0).submit_sequence;
    let domain = |state, error| DeliveryReport {
        message_id: String::new(),
        state,
        submitted: 1,
        delivered: 0,
        submit_unix: None,
        done_unix: None,
        error,
        text: String::new(),
    };
    let cases = [
        (MessageState::Delivered, 0, 0, 0),
        (MessageState::Enroute, 0, 1, 0),
        (MessageState::Accepted, 7, 1, 0),
        (MessageState::Undeliverable, 29, 2, 29),
        (MessageState::Undeliverable, 0, 2, result::SYSTEM_FAILURE),
        (MessageState::Rejected, 300, 2, result::SYSTEM_FAILURE),
        (MessageState::Expired, 0, 2, result::USER_UNREACHABLE),
        (MessageState::Unknown, 0, 2, result::SYSTEM_FAILURE),
    ];
    for (state, error, sgip_state, code) in cases {
        let r = domain_to_report(&domain(state, error), seq, &user).expect("maps");
        assert_eq!((r.state, r.error_code), (sgip_state, code), "{state:?}");
        assert_eq!(r.user_number, "8613800138000");
        assert_eq!((r.submit_sequence, r.report_type), (seq, 0));
    }
    let err = domain_to_report(
        &domain(MessageState::Delivered, 0),
        seq,
        &Address::alphanumeric("x"),
    )
    .expect_err("no number");
    assert_eq!(err.result(), result::ILLEGAL_PHONE_NUMBER);
}
