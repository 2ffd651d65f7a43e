#![allow(clippy::unwrap_used)]
//! SGIP's PDUs on the shared session, without sockets: windows, direction, timers, the
//! inactivity close and UNBIND, driven by explicit instants.

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::session::{garbled, open, Config, Event, SendError, Session, State};
use super::CloseReason;
use crate::codec::{result, Body, CommandId, LoginType, Pdu, Response};
use crate::msgid::{SequenceGenerator, SequenceNumber};

const IDLE: Duration = Duration::from_secs(120);

fn session(binder: bool, now: Instant) -> Session {
    let config = Config {
        window: 2,
        inactivity_timeout: IDLE,
        response_timeout: Duration::from_secs(10),
        login_type: LoginType::SpToSmg,
        binder,
    };
    open(config, now, Arc::new(SequenceGenerator::new(3_010_012_345)))
}

fn submit() -> Body {
    Body::Submit(crate::mapping::tests::submit(0, b"hello"))
}

fn answer(result: u8) -> Body {
    Body::SubmitResp(Response {
        result,
        reserve: String::new(),
    })
}

fn transmitted(session: &mut Session) -> Vec<Pdu> {
    std::iter::from_fn(|| session.poll_transmit()).collect()
}

fn events(session: &mut Session) -> Vec<Event> {
    std::iter::from_fn(|| session.poll_event()).collect()
}

fn peer_submit(counter: u32) -> Pdu {
    Pdu {
        sequence: SequenceNumber::new(3_010_099_999, 1_206_120_000, counter),
        body: submit(),
    }
}

#[test]
fn a_submit_is_answered_under_its_own_sequence_number() {
    let now = Instant::now();
    let mut s = session(true, now);
    s.send_request(now, submit()).unwrap();
    let sent = transmitted(&mut s);
    let sequence = sent[0].sequence;
    assert_eq!(sequence.node_id, 3_010_012_345);
    s.handle_pdu(
        now,
        Pdu {
            sequence,
            body: answer(0),
        },
    );
    match events(&mut s).as_slice() {
        [Event::Response { request, pdu }] => {
            assert_eq!(request.sequence, sequence);
            assert_eq!(pdu.sequence, sequence);
        }
        other => panic!("expected the response, got {other:?}"),
    }
}

#[test]
fn the_binding_side_sends_only_what_its_login_type_carries() {
    let now = Instant::now();
    let mut binder = session(true, now);
    let report = Body::Unbind;
    assert!(matches!(
        binder.send_request(now, report),
        Err(SendError::NotCarried { .. })
    ));
    let mut acceptor = session(false, now);
    assert!(matches!(
        acceptor.send_request(now, submit()),
        Err(SendError::NotCarried {
            command: CommandId::Submit,
            login_type: 1
        })
    ));
    // A SUBMIT sent to the binding side goes the wrong way: result 4.
    binder.handle_pdu(now, peer_submit(1));
    let refused = transmitted(&mut binder);
    assert_eq!(refused[0].body, answer(result::BAD_LOGIN_TYPE));
}

#[test]
fn our_window_is_bounded() {
    let now = Instant::now();
    let mut s = session(true, now);
    s.send_request(now, submit()).unwrap();
    s.send_request(now, submit()).unwrap();
    assert_eq!(s.send_request(now, submit()), Err(SendError::WindowFull(2)));
}

#[test]
fn requests_beyond_the_window_get_node_busy_and_repeats_get_result_9() {
    let now = Instant::now();
    let mut s = session(false, now);
    s.handle_pdu(now, peer_submit(1));
    s.handle_pdu(now, peer_submit(1));
    let repeated = transmitted(&mut s);
    assert_eq!(repeated.len(), 1);
    assert_eq!(repeated[0].body, answer(result::BAD_SEQUENCE_NUMBER));
    s.handle_pdu(now, peer_submit(2));
    s.handle_pdu(now, peer_submit(3));
    let busy = transmitted(&mut s);
    assert_eq!(busy.len(), 1);
    assert_eq!(busy[0].sequence, peer_submit(3).sequence);
    assert_eq!(busy[0].body, answer(result::NODE_BUSY));
    assert_eq!(s.inbound_in_use(), 2);
    assert_eq!(events(&mut s).len(), 2);
}

#[test]
fn a_malformed_request_is_answered_and_the_session_carries_on() {
    let now = Instant::now();
    let mut s = session(false, now);
    let sequence = peer_submit(7).sequence;
    s.handle_malformed(
        now,
        garbled(CommandId::Submit, sequence, result::BAD_LENGTH, &"cut"),
    );
    let answered = transmitted(&mut s);
    assert_eq!(answered[0].sequence, sequence);
    assert_eq!(answered[0].body, answer(result::BAD_LENGTH));
    assert_eq!(s.state(), State::Open);
    s.handle_pdu(now, peer_submit(8));
    assert!(matches!(events(&mut s).as_slice(), [Event::Request(_)]));
}

#[test]
fn a_second_bind_is_a_repeated_login() {
    let now = Instant::now();
    let mut s = session(false, now);
    let bind = crate::auth::bind(LoginType::SpToSmg, "sp", "pw").unwrap();
    s.handle_pdu(
        now,
        Pdu {
            sequence: SequenceNumber::new(1, 2, 3),
            body: Body::Bind(bind),
        },
    );
    let answered = transmitted(&mut s);
    assert_eq!(
        answered[0].body,
        Body::BindResp(Response {
            result: result::REPEATED_LOGIN,
            reserve: String::new()
        })
    );
    assert_eq!(s.state(), State::Open);
}

#[test]
fn an_idle_session_unbinds_and_closes_on_unbind_resp() {
    let now = Instant::now();
    let mut s = session(true, now);
    assert_eq!(s.poll_timeout(), Some(now + IDLE));
    s.handle_timeout(now + IDLE - Duration::from_secs(1));
    assert_eq!(s.state(), State::Open);
    let later = now + IDLE;
    s.handle_timeout(later);
    assert_eq!(s.state(), State::Exiting);
    let unbind = transmitted(&mut s);
    assert_eq!(unbind[0].body, Body::Unbind);
    s.handle_pdu(
        later,
        Pdu {
            sequence: unbind[0].sequence,
            body: Body::UnbindResp,
        },
    );
    assert!(matches!(
        events(&mut s).as_slice(),
        [Event::Closed(CloseReason::Inactivity)]
    ));
}

#[test]
fn outstanding_work_holds_off_the_inactivity_close() {
    let now = Instant::now();
    let mut s = session(false, now);
    s.handle_pdu(now, peer_submit(1));
    // The application has not answered yet: no inactivity timer runs.
    s.handle_timeout(now + IDLE * 2);
    assert_eq!(s.state(), State::Open);
}

#[test]
fn a_timed_out_request_frees_its_slot_and_a_late_answer_is_reported() {
    let now = Instant::now();
    let mut s = session(true, now);
    s.send_request(now, submit()).unwrap();
    let sequence = transmitted(&mut s)[0].sequence;
    let deadline = now + Duration::from_secs(10);
    assert_eq!(s.poll_timeout(), Some(deadline));
    s.handle_timeout(deadline);
    assert!(matches!(
        events(&mut s).as_slice(),
        [Event::ResponseTimeout(_)]
    ));
    s.handle_pdu(
        deadline,
        Pdu {
            sequence,
            body: answer(0),
        },
    );
    assert!(matches!(
        events(&mut s).as_slice(),
        [Event::LateResponse(_)]
    ));
}

#[test]
fn the_peers_unbind_is_answered_and_closes() {
    let now = Instant::now();
    let mut s = session(false, now);
    s.handle_pdu(
        now,
        Pdu {
            sequence: SequenceNumber::new(1, 2, 3),
            body: Body::Unbind,
        },
    );
    assert_eq!(transmitted(&mut s)[0].body, Body::UnbindResp);
    assert!(matches!(
        events(&mut s).as_slice(),
        [Event::Closed(CloseReason::Unbound)]
    ));
}

#[test]
fn unbind_waits_for_outstanding_requests() {
    let now = Instant::now();
    let mut s = session(true, now);
    s.send_request(now, submit()).unwrap();
    let sequence = transmitted(&mut s)[0].sequence;
    s.exit(now, CloseReason::ByUs);
    assert!(transmitted(&mut s).is_empty());
    assert_eq!(s.send_request(now, submit()), Err(SendError::Unbinding));
    s.handle_pdu(
        now,
        Pdu {
            sequence,
            body: answer(0),
        },
    );
    assert_eq!(transmitted(&mut s)[0].body, Body::Unbind);
}
