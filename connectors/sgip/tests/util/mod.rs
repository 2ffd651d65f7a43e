#![allow(clippy::unwrap_used, dead_code)]
//! What the socket tests share: a recording peer, PDU builders and bounded waits on a
//! link's events.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use tern_sgip::codec::{report_flag, Submit};
use tern_sgip::net::{BindRequest, ClientEvent, CloseReason, Handler, SessionEvent, SessionHandle};
use tern_sgip::{result, Body, Pdu};
use tokio::sync::mpsc;

pub const WAIT: Duration = Duration::from_secs(10);

/// A SUBMIT of "hello" to `user`, asking for every report, valid until `expire_time`
/// (empty: the SMSC's default).
pub fn submit_until(user: &str, expire_time: String) -> Body {
    Body::Submit(Submit {
        sp_number: "10655".into(),
        charge_number: tern_sgip::mapping::SP_PAYS.into(),
        user_numbers: vec![user.into()],
        corp_id: "12345".into(),
        service_type: "TEST".into(),
        fee_type: 1,
        fee_value: "0".into(),
        given_value: "0".into(),
        agent_flag: 0,
        morelate_to_mt_flag: 2,
        priority: 0,
        expire_time,
        schedule_time: String::new(),
        report_flag: report_flag::ALWAYS,
        tp_pid: 0,
        tp_udhi: 0,
        message_coding: 0,
        message_type: 0,
        message_content: Bytes::from_static(b"hello"),
        reserve: String::new(),
    })
}

pub fn submit(user: &str) -> Body {
    submit_until(user, String::new())
}

pub async fn next_event(events: &mut mpsc::Receiver<ClientEvent>) -> ClientEvent {
    tokio::time::timeout(WAIT, events.recv())
        .await
        .expect("a link event in time")
        .expect("the link's event channel is open")
}

pub async fn expect_up(events: &mut mpsc::Receiver<ClientEvent>) {
    match next_event(events).await {
        ClientEvent::Up => {}
        other => panic!("expected Up, got {other:?}"),
    }
}

/// Waits for the link's BIND to be refused, and gives the result.
pub async fn expect_refused(events: &mut mpsc::Receiver<ClientEvent>) -> u8 {
    match next_event(events).await {
        ClientEvent::Down {
            reason: CloseReason::BindRefused(code),
        } => code,
        other => panic!("expected a refused BIND, got {other:?}"),
    }
}

pub const NAME: &str = "sp001";
pub const PASSWORD: &str = "s3cret";

/// A peer that knows one login, `NAME` with `PASSWORD`. It answers every request with
/// result 0 unless `hold` is set, in which case it keeps them unanswered.
#[derive(Default)]
pub struct Peer {
    pub binds: Mutex<Vec<BindRequest>>,
    pub sessions: Mutex<Vec<SessionHandle>>,
    pub requests: Mutex<Vec<Pdu>>,
    pub closed: Mutex<Vec<CloseReason>>,
    pub hold: bool,
}

impl Handler for Peer {
    type Grant = ();

    async fn bind(&self, request: BindRequest) -> Result<((), String), u8> {
        let known = request.login_name == NAME;
        self.binds.lock().unwrap().push(request);
        if known {
            Ok(((), PASSWORD.into()))
        } else {
            Err(result::ILLEGAL_LOGIN)
        }
    }

    fn session(
        self: &Arc<Self>,
        _: (),
        _request: BindRequest,
        handle: SessionHandle,
        mut events: mpsc::Receiver<SessionEvent>,
    ) {
        self.sessions.lock().unwrap().push(handle.clone());
        let peer = self.clone();
        tokio::spawn(async move {
            while let Some(event) = events.recv().await {
                match event {
                    SessionEvent::Request(pdu) => {
                        peer.requests.lock().unwrap().push(pdu.clone());
                        if !peer.hold {
                            handle.respond(Pdu::response_for(&pdu, result::OK).unwrap());
                        }
                    }
                    SessionEvent::LateResponse(_) => {}
                    SessionEvent::Closed { reason } => {
                        peer.closed.lock().unwrap().push(reason);
                        break;
                    }
                }
            }
        });
    }
}
