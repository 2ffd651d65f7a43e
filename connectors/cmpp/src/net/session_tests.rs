#![allow(clippy::unwrap_used)]
//! CMPP's PDUs on the shared session, without sockets: windows, keepalive, inactivity,
//! timeouts and TERMINATE, driven by explicit instants.

use std::time::{Duration, Instant};

use bytes::Bytes;

use tern_cn::session::Counter;

use super::session::{garbled, Config, Event, SendError, Session, State};
use super::CloseReason;
use crate::codec::{Body, CommandId, Pdu, Submit, SubmitResp};
use crate::result;

fn config() -> Config {
    Config {
        window: 2,
        active_test_interval: Some(Duration::from_secs(30)),
        inactivity_timeout: Duration::from_secs(90),
        response_timeout: Duration::from_secs(10),
    }
}

fn submit() -> Body {
    Body::Submit(Submit {
        msg_id: 0,
        pk_total: 1,
        pk_number: 1,
        registered_delivery: 1,
        msg_level: 0,
        service_id: "TEST".into(),
        fee_user_type: 0,
        fee_terminal_id: String::new(),
        fee_terminal_type: 0,
        tp_pid: 0,
        tp_udhi: 0,
        msg_fmt: 0,
        msg_src: "900001".into(),
        fee_type: "01".into(),
        fee_code: "000000".into(),
        valid_time: String::new(),
        at_time: String::new(),
        src_id: "10690001".into(),
        dest_terminal_ids: vec!["13800138000".into()],
        dest_terminal_type: 0,
        msg_content: Bytes::from_static(b"hello"),
        link_id: String::new(),
    })
}

fn submit_resp(seq: u32, result: u32) -> Pdu {
    Pdu {
        sequence_id: seq,
        body: Body::SubmitResp(SubmitResp { msg_id: 42, result }),
    }
}

fn transmitted(session: &mut Session) -> Vec<Pdu> {
    std::iter::from_fn(|| session.poll_transmit()).collect()
}

fn events(session: &mut Session) -> Vec<Event> {
    std::iter::from_fn(|| session.poll_event()).collect()
}

#[test]
fn request_gets_its_response_and_frees_the_window() {
    let t0 = Instant::now();
    let mut s = Session::new(config(), t0, Counter::after(1));
    let seq = s.send_request(t0, submit()).unwrap();
    assert_eq!(seq, 2, "the client's requests follow its CONNECT");
    assert_eq!(transmitted(&mut s).len(), 1);
    assert_eq!(s.outbound_in_use(), 1);
    s.handle_pdu(t0, submit_resp(seq, 0));
    assert!(matches!(
        events(&mut s).as_slice(),
        [Event::Response { request, .. }] if request.sequence == seq
    ));
    assert_eq!(s.outbound_in_use(), 0);
}

#[test]
fn outbound_window_is_enforced() {
    let t0 = Instant::now();
    let mut s = Session::new(config(), t0, Counter::after(0));
    s.send_request(t0, submit()).unwrap();
    s.send_request(t0, submit()).unwrap();
    assert_eq!(s.send_request(t0, submit()), Err(SendError::WindowFull(2)));
    assert_eq!(
        s.send_request(t0, Body::ActiveTest),
        Err(SendError::NotARequest(CommandId::ActiveTest))
    );
}

#[test]
fn peer_requests_beyond_the_window_get_flow_control() {
    let t0 = Instant::now();
    let mut s = Session::new(config(), t0, Counter::after(0));
    for seq in 1..=3 {
        s.handle_pdu(
            t0,
            Pdu {
                sequence_id: seq,
                body: submit(),
            },
        );
    }
    assert_eq!(events(&mut s).len(), 2);
    let sent = transmitted(&mut s);
    assert!(matches!(
        sent.as_slice(),
        [Pdu {
            sequence_id: 3,
            body: Body::SubmitResp(SubmitResp {
                result: result::FLOW_CONTROL,
                ..
            })
        }]
    ));
    // Answering one frees a slot.
    assert!(s.respond(t0, submit_resp(1, 0)));
    s.handle_pdu(
        t0,
        Pdu {
            sequence_id: 4,
            body: submit(),
        },
    );
    assert_eq!(events(&mut s).len(), 1);
    assert_eq!(s.inbound_in_use(), 2);
}

#[test]
fn repeated_sequence_in_flight_is_refused_and_wrong_responses_are_dropped() {
    let t0 = Instant::now();
    let mut s = Session::new(config(), t0, Counter::after(0));
    let req = Pdu {
        sequence_id: 7,
        body: submit(),
    };
    s.handle_pdu(t0, req.clone());
    s.handle_pdu(t0, req);
    assert!(matches!(
        transmitted(&mut s).as_slice(),
        [Pdu {
            body: Body::SubmitResp(SubmitResp {
                result: result::DUPLICATE_SEQUENCE,
                ..
            }),
            ..
        }]
    ));
    // A DELIVER_RESP does not answer a SUBMIT, and nothing answers sequence 8.
    let wrong = Pdu {
        sequence_id: 7,
        body: Body::DeliverResp(crate::codec::DeliverResp {
            msg_id: 0,
            result: 0,
        }),
    };
    assert!(!s.respond(t0, wrong));
    assert!(!s.respond(t0, submit_resp(8, 0)));
    assert!(s.respond(t0, submit_resp(7, 0)));
    assert!(!s.respond(t0, submit_resp(7, 0)), "answered once only");
}

#[test]
fn active_test_is_answered_and_sent_when_idle() {
    let t0 = Instant::now();
    let mut s = Session::new(config(), t0, Counter::after(0));
    s.handle_pdu(
        t0,
        Pdu {
            sequence_id: 5,
            body: Body::ActiveTest,
        },
    );
    assert!(matches!(
        transmitted(&mut s).as_slice(),
        [Pdu {
            sequence_id: 5,
            body: Body::ActiveTestResp(0)
        }]
    ));
    let due = s.poll_timeout().unwrap();
    assert_eq!(due, t0 + Duration::from_secs(30));
    s.handle_timeout(due);
    let sent = transmitted(&mut s);
    let [Pdu {
        sequence_id,
        body: Body::ActiveTest,
    }] = sent.as_slice()
    else {
        panic!("expected ACTIVE_TEST, got {sent:?}");
    };
    s.handle_pdu(
        due,
        Pdu {
            sequence_id: *sequence_id,
            body: Body::ActiveTestResp(0),
        },
    );
    assert!(
        events(&mut s).is_empty(),
        "keepalives are not the application's"
    );
    assert_eq!(s.state(), State::Open);
}

#[test]
fn silence_closes_after_the_inactivity_timeout() {
    let t0 = Instant::now();
    let mut s = Session::new(config(), t0, Counter::after(0));
    let mut now = t0;
    let mut keepalives = 0;
    while !s.is_closed() {
        now = s.poll_timeout().unwrap();
        s.handle_timeout(now);
        keepalives += transmitted(&mut s).len();
    }
    assert_eq!(now, t0 + Duration::from_secs(90));
    assert!(keepalives >= 2, "ACTIVE_TEST retried before giving up");
    assert!(matches!(
        events(&mut s).as_slice(),
        [Event::Closed(CloseReason::Inactivity)]
    ));
}

#[test]
fn terminate_from_the_peer_is_answered_and_closes() {
    let t0 = Instant::now();
    let mut s = Session::new(config(), t0, Counter::after(0));
    s.send_request(t0, submit()).unwrap();
    transmitted(&mut s);
    s.handle_pdu(
        t0,
        Pdu {
            sequence_id: 9,
            body: Body::Terminate,
        },
    );
    assert!(matches!(
        transmitted(&mut s).as_slice(),
        [Pdu {
            sequence_id: 9,
            body: Body::TerminateResp
        }]
    ));
    assert!(matches!(
        events(&mut s).as_slice(),
        [Event::Closed(CloseReason::Terminated)]
    ));
}

#[test]
fn our_terminate_waits_for_outstanding_requests() {
    let t0 = Instant::now();
    let mut s = Session::new(config(), t0, Counter::after(0));
    let seq = s.send_request(t0, submit()).unwrap();
    transmitted(&mut s);
    s.exit(t0, CloseReason::Shutdown);
    assert_eq!(s.state(), State::Draining);
    assert!(transmitted(&mut s).is_empty());
    assert_eq!(s.send_request(t0, submit()), Err(SendError::Terminating));
    s.handle_pdu(t0, submit_resp(seq, 0));
    let sent = transmitted(&mut s);
    let [Pdu {
        sequence_id: terminate,
        body: Body::Terminate,
    }] = sent.as_slice()
    else {
        panic!("expected TERMINATE, got {sent:?}");
    };
    s.handle_pdu(
        t0,
        Pdu {
            sequence_id: *terminate,
            body: Body::TerminateResp,
        },
    );
    let events = events(&mut s);
    assert!(matches!(
        events.last(),
        Some(Event::Closed(CloseReason::Shutdown))
    ));
}

#[test]
fn unanswered_terminate_closes_after_the_response_timeout() {
    let t0 = Instant::now();
    let mut s = Session::new(config(), t0, Counter::after(0));
    s.exit(t0, CloseReason::ByUs);
    assert_eq!(s.state(), State::Exiting);
    let due = s.poll_timeout().unwrap();
    assert_eq!(due, t0 + Duration::from_secs(10));
    s.handle_timeout(due);
    assert!(matches!(
        events(&mut s).as_slice(),
        [Event::Closed(CloseReason::ByUs)]
    ));
}

#[test]
fn timed_out_request_reports_its_late_response() {
    let t0 = Instant::now();
    let mut s = Session::new(config(), t0, Counter::after(0));
    let seq = s.send_request(t0, submit()).unwrap();
    let t1 = t0 + Duration::from_secs(10);
    s.handle_timeout(t1);
    assert!(matches!(
        events(&mut s).as_slice(),
        [Event::ResponseTimeout(o)] if o.sequence == seq
    ));
    assert_eq!(s.outbound_in_use(), 0);
    s.handle_pdu(t1, submit_resp(seq, 0));
    assert!(matches!(
        events(&mut s).as_slice(),
        [Event::LateResponse(_)]
    ));
    s.handle_pdu(t1, submit_resp(seq, 0));
    assert!(events(&mut s).is_empty());
    assert_eq!(s.take_counters().unexpected_responses, 1);
}

#[test]
fn malformed_request_gets_its_error_response() {
    let t0 = Instant::now();
    let mut s = Session::new(config(), t0, Counter::after(0));
    s.handle_malformed(
        t0,
        garbled(CommandId::Submit, 3, result::BAD_MSG_LENGTH, &"Msg_Length"),
    );
    assert!(matches!(
        transmitted(&mut s).as_slice(),
        [Pdu {
            sequence_id: 3,
            body: Body::SubmitResp(SubmitResp {
                result: result::BAD_MSG_LENGTH,
                ..
            })
        }]
    ));
    s.handle_malformed(
        t0,
        garbled(CommandId::SubmitResp, 4, result::BAD_STRUCTURE, &"cut"),
    );
    assert!(transmitted(&mut s).is_empty());
    assert_eq!(s.state(), State::Open);
    s.handle_malformed(
        t0,
        garbled(CommandId::Connect, 5, result::BAD_STRUCTURE, &"cut"),
    );
    assert!(s.is_closed());
}
