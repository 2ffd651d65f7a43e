use std::time::{Duration, Instant};

use rusmpp::pdus::{BindTransceiver, BindTransceiverResp, BindTransmitter, SubmitSm, SubmitSmResp};
use rusmpp::values::InterfaceVersion;
use rusmpp::{Command, CommandId, CommandStatus, Pdu};

use super::*;

fn server(now: Instant) -> Session {
    Session::new(
        Config {
            role: Role::Server,
            window_in: 2,
            window_out: 2,
            ..Config::default()
        },
        now,
    )
}

fn client(now: Instant) -> Session {
    Session::new(
        Config {
            role: Role::Client,
            window_in: 2,
            window_out: 2,
            ..Config::default()
        },
        now,
    )
}

fn bind_trx(seq: u32, version: u8) -> Command {
    let pdu = BindTransceiver {
        system_id: c_octet("demo"),
        password: c_octet("demo"),
        interface_version: InterfaceVersion::from(version),
        ..Default::default()
    };
    Command::new(CommandStatus::EsmeRok, seq, pdu)
}

fn submit(seq: u32) -> Command {
    Command::new(CommandStatus::EsmeRok, seq, SubmitSm::default())
}

fn transmits(session: &mut Session) -> Vec<Command> {
    std::iter::from_fn(|| session.poll_transmit()).collect()
}

fn events(session: &mut Session) -> Vec<Event> {
    std::iter::from_fn(|| session.poll_event()).collect()
}

fn bound_server(now: Instant) -> Session {
    let mut s = server(now);
    s.handle_command(now, bind_trx(1, 0x34));
    s.accept_bind(now, 1, "tern");
    transmits(&mut s);
    events(&mut s);
    s
}

#[test]
fn bind_then_submit_reaches_the_application() {
    let now = Instant::now();
    let mut s = server(now);
    s.handle_command(now, bind_trx(1, 0x34));
    assert!(matches!(
        events(&mut s).as_slice(),
        [Event::BindRequest {
            sequence_number: 1,
            kind: BindKind::Transceiver,
            ..
        }]
    ));
    s.accept_bind(now, 1, "tern");
    let out = transmits(&mut s);
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].id(), CommandId::BindTransceiverResp);
    assert_eq!(out[0].status(), CommandStatus::EsmeRok);
    assert!(matches!(events(&mut s).as_slice(), [Event::Bound { .. }]));
    s.handle_command(now, submit(2));
    assert!(matches!(events(&mut s).as_slice(), [Event::Request(c)] if c.sequence_number() == 2));
    assert!(s.respond(
        now,
        Command::new(CommandStatus::EsmeRok, 2, SubmitSmResp::default())
    ));
    assert_eq!(transmits(&mut s)[0].id(), CommandId::SubmitSmResp);
    // A second answer to the same request is dropped.
    assert!(!s.respond(
        now,
        Command::new(CommandStatus::EsmeRok, 2, SubmitSmResp::default())
    ));
}

#[test]
fn submit_before_bind_gets_invbndsts() {
    let now = Instant::now();
    let mut s = server(now);
    s.handle_command(now, submit(7));
    let out = transmits(&mut s);
    assert_eq!(out[0].id(), CommandId::SubmitSmResp);
    assert_eq!(out[0].status(), CommandStatus::EsmeRinvbndsts);
    assert_eq!(out[0].sequence_number(), 7);
    assert!(events(&mut s).is_empty());
}

#[test]
fn second_bind_gets_alybnd() {
    let now = Instant::now();
    let mut s = bound_server(now);
    s.handle_command(now, bind_trx(5, 0x34));
    assert_eq!(transmits(&mut s)[0].status(), CommandStatus::EsmeRalybnd);
}

#[test]
fn every_accepted_interface_version_binds_and_others_fail() {
    for version in [0x33, 0x34, 0x50] {
        let now = Instant::now();
        let mut s = server(now);
        s.handle_command(now, bind_trx(1, version));
        assert!(matches!(
            events(&mut s).as_slice(),
            [Event::BindRequest { .. }]
        ));
    }
    let now = Instant::now();
    let mut s = server(now);
    s.handle_command(now, bind_trx(1, 0x12));
    assert_eq!(transmits(&mut s)[0].status(), CommandStatus::EsmeRbindfail);
}

#[test]
fn receiver_bind_cannot_submit() {
    let now = Instant::now();
    let mut s = server(now);
    let pdu = rusmpp::pdus::BindReceiver {
        system_id: c_octet("demo"),
        interface_version: InterfaceVersion::Smpp3_4,
        ..Default::default()
    };
    s.handle_command(now, Command::new(CommandStatus::EsmeRok, 1, pdu));
    s.accept_bind(now, 1, "tern");
    transmits(&mut s);
    s.handle_command(now, submit(2));
    let out = transmits(&mut s);
    assert_eq!(out[0].status(), CommandStatus::EsmeRinvbndsts);
    assert_eq!(s.counters().rejected_state, 1);
}

#[test]
fn a_full_inbound_window_throttles() {
    let now = Instant::now();
    let mut s = bound_server(now);
    s.handle_command(now, submit(2));
    s.handle_command(now, submit(3));
    s.handle_command(now, submit(4));
    let out = transmits(&mut s);
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].sequence_number(), 4);
    assert_eq!(out[0].status(), CommandStatus::EsmeRthrottled);
    assert_eq!(s.window_in_in_use(), 2);
}

#[test]
fn enquire_link_is_answered_in_any_state() {
    let now = Instant::now();
    let mut s = server(now);
    s.handle_command(
        now,
        Command::new(CommandStatus::EsmeRok, 9, Pdu::EnquireLink),
    );
    let out = transmits(&mut s);
    assert_eq!(out[0].id(), CommandId::EnquireLinkResp);
    assert_eq!(out[0].sequence_number(), 9);
}

#[test]
fn a_response_nobody_asked_for_is_counted_and_dropped() {
    let now = Instant::now();
    let mut s = bound_server(now);
    s.handle_command(
        now,
        Command::new(
            CommandStatus::EsmeRok,
            77,
            rusmpp::pdus::DeliverSmResp::default(),
        ),
    );
    assert!(transmits(&mut s).is_empty());
    assert!(events(&mut s).is_empty());
    assert_eq!(s.counters().unexpected_responses, 1);
}

fn bound_client(now: Instant) -> Session {
    let mut c = client(now);
    c.bind(
        now,
        BindKind::Transceiver,
        Pdu::from(BindTransceiver::default()),
    )
    .unwrap();
    let bind = transmits(&mut c).remove(0);
    let resp = BindTransceiverResp::new(c_octet("smsc"), Some(InterfaceVersion::Smpp3_4));
    c.handle_command(
        now,
        Command::new(CommandStatus::EsmeRok, bind.sequence_number(), resp),
    );
    assert!(matches!(
        events(&mut c).as_slice(),
        [Event::Bound {
            kind: BindKind::Transceiver,
            interface_version: 0x34
        }]
    ));
    c
}

#[test]
fn client_window_limits_outstanding_submits() {
    let now = Instant::now();
    let mut c = bound_client(now);
    let a = c.send_request(now, Pdu::from(SubmitSm::default())).unwrap();
    c.send_request(now, Pdu::from(SubmitSm::default())).unwrap();
    assert_eq!(
        c.send_request(now, Pdu::from(SubmitSm::default())),
        Err(SendError::WindowFull(2))
    );
    // enquire_link is not a message and does not need the window.
    assert!(c.send_request(now, Pdu::EnquireLink).is_ok());
    c.handle_command(
        now,
        Command::new(CommandStatus::EsmeRok, a, SubmitSmResp::default()),
    );
    assert!(
        matches!(events(&mut c).as_slice(), [Event::Response { request, .. }] if request.sequence_number == a)
    );
    assert!(c.can_send_message());
}

#[test]
fn a_response_after_its_timeout_is_reported_late_not_lost() {
    let now = Instant::now();
    let mut c = bound_client(now);
    let seq = c.send_request(now, Pdu::from(SubmitSm::default())).unwrap();
    let later = now + Duration::from_secs(11);
    c.handle_timeout(later);
    let evs = events(&mut c);
    assert!(matches!(evs.as_slice(), [Event::ResponseTimeout(o)] if o.sequence_number == seq));
    assert_eq!(c.window_out_in_use(), 0);
    c.handle_command(
        later,
        Command::new(CommandStatus::EsmeRok, seq, SubmitSmResp::default()),
    );
    assert!(matches!(
        events(&mut c).as_slice(),
        [Event::LateResponse {
            command_id: CommandId::SubmitSm,
            ..
        }]
    ));
    assert_eq!(c.counters().late_responses, 1);
}

#[test]
fn an_idle_bound_session_sends_enquire_link_and_closes_if_unanswered() {
    let now = Instant::now();
    let mut c = bound_client(now);
    transmits(&mut c);
    let due = c.poll_timeout().unwrap();
    assert_eq!(due, now + Duration::from_secs(30));
    c.handle_timeout(due);
    let out = transmits(&mut c);
    assert_eq!(out[0].id(), CommandId::EnquireLink);
    let deadline = c.poll_timeout().unwrap();
    assert_eq!(deadline, due + Duration::from_secs(10));
    c.handle_timeout(deadline);
    assert!(c.is_closed());
    assert!(matches!(
        events(&mut c).as_slice(),
        [Event::Closed {
            reason: CloseReason::PeerSilent,
            ..
        }]
    ));
}

#[test]
fn an_unbound_connection_is_closed_after_the_bind_timeout() {
    let now = Instant::now();
    let mut s = server(now);
    s.handle_timeout(now + Duration::from_secs(10));
    assert!(matches!(
        events(&mut s).as_slice(),
        [Event::Closed {
            reason: CloseReason::BindTimeout,
            ..
        }]
    ));
}

#[test]
fn peer_unbind_is_answered_and_reports_unanswered_requests() {
    let now = Instant::now();
    let mut c = bound_client(now);
    let seq = c.send_request(now, Pdu::from(SubmitSm::default())).unwrap();
    transmits(&mut c);
    c.handle_command(now, Command::new(CommandStatus::EsmeRok, 40, Pdu::Unbind));
    assert_eq!(transmits(&mut c)[0].id(), CommandId::UnbindResp);
    match events(&mut c).as_slice() {
        [Event::Closed {
            reason: CloseReason::Unbound,
            unanswered,
        }] => {
            assert_eq!(unanswered.len(), 1);
            assert_eq!(unanswered[0].sequence_number, seq);
        }
        other => panic!("unexpected events {other:?}"),
    }
}

#[test]
fn graceful_unbind_waits_for_outstanding_responses() {
    let now = Instant::now();
    let mut c = bound_client(now);
    let seq = c.send_request(now, Pdu::from(SubmitSm::default())).unwrap();
    transmits(&mut c);
    c.unbind(now);
    assert_eq!(c.state(), State::Draining);
    assert!(transmits(&mut c).is_empty());
    assert!(c.send_request(now, Pdu::from(SubmitSm::default())).is_err());
    c.handle_command(
        now,
        Command::new(CommandStatus::EsmeRok, seq, SubmitSmResp::default()),
    );
    let out = transmits(&mut c);
    assert_eq!(out[0].id(), CommandId::Unbind);
    c.handle_command(
        now,
        Command::new(
            CommandStatus::EsmeRok,
            out[0].sequence_number(),
            Pdu::UnbindResp,
        ),
    );
    assert!(c.is_closed());
}

#[test]
fn a_rejected_bind_closes_the_client() {
    let now = Instant::now();
    let mut c = client(now);
    let seq = c
        .bind(
            now,
            BindKind::Transmitter,
            Pdu::from(BindTransmitter::default()),
        )
        .unwrap();
    c.handle_command(
        now,
        Command::new(
            CommandStatus::EsmeRinvpaswd,
            seq,
            rusmpp::pdus::BindTransmitterResp::default(),
        ),
    );
    assert!(matches!(
        events(&mut c).as_slice(),
        [Event::Closed {
            reason: CloseReason::BindRejected(CommandStatus::EsmeRinvpaswd),
            ..
        }]
    ));
}

#[test]
fn rejected_bind_answers_with_the_status_and_closes() {
    let now = Instant::now();
    let mut s = server(now);
    s.handle_command(now, bind_trx(1, 0x34));
    events(&mut s);
    s.reject_bind(now, 1, CommandStatus::EsmeRinvpaswd);
    let out = transmits(&mut s);
    assert_eq!(out[0].id(), CommandId::BindTransceiverResp);
    assert_eq!(out[0].status(), CommandStatus::EsmeRinvpaswd);
    assert!(s.is_closed());
}

#[test]
fn sequence_numbers_wrap_within_the_legal_range() {
    let now = Instant::now();
    let mut c = bound_client(now);
    c.next_sequence = 0x7FFF_FFFF;
    assert_eq!(c.send_request(now, Pdu::EnquireLink).unwrap(), 0x7FFF_FFFF);
    assert_eq!(c.send_request(now, Pdu::EnquireLink).unwrap(), 1);
}
