#![allow(clippy::unwrap_used)]
//! The SMGP server and client against each other over real sockets on 127.0.0.1, plus a
//! raw peer for what our own client never sends: old timestamps, a full window, malformed
//! PDUs, silence. Every wait is bounded and every test stops its tasks.

mod util;

use std::time::Duration;

use tern_smgp::codec::{DeliverResp, SubmitResp, HEADER_LEN};
use tern_smgp::net::{Client, ClientEvent, CloseReason, ServerConfig};
use tern_smgp::{status, Body, MsgId, Pdu};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use util::*;

async fn next_event(events: &mut mpsc::Receiver<ClientEvent>) -> ClientEvent {
    tokio::time::timeout(WAIT, events.recv())
        .await
        .expect("a link event within 5 s")
        .expect("the link's event channel is open")
}

async fn expect_up(events: &mut mpsc::Receiver<ClientEvent>) {
    match next_event(events).await {
        ClientEvent::Up => {}
        other => panic!("expected Up, got {other:?}"),
    }
}

async fn stop_client(shutdown: CancellationToken, tracker: TaskTracker) {
    shutdown.cancel();
    tracker.close();
    tokio::time::timeout(WAIT, tracker.wait()).await.unwrap();
}

#[tokio::test]
async fn client_logs_in_and_submits() {
    let server = Server::start(ServerConfig::default(), Gateway::default()).await;
    let (tracker, shutdown) = (TaskTracker::new(), CancellationToken::new());
    let (client, mut events) =
        Client::start(client_config(server.addr), shutdown.clone(), &tracker);
    expect_up(&mut events).await;
    assert!(client.is_up());
    assert_eq!(client.window_available(), 16);
    let response = client.request(submit("13800138000", "hi")).await.unwrap();
    assert_eq!(
        response.body,
        Body::SubmitResp(SubmitResp {
            msg_id: msg_id(1),
            status: 0
        })
    );
    let login = server.gateway.logins.lock().unwrap()[0].clone();
    assert_eq!(login.client_id, SP);
    assert_eq!(login.login_mode, 2);
    assert_eq!(server.session().version(), tern_smgp::VERSION);
    stop_client(shutdown, tracker).await;
    server.stop().await;
}

#[tokio::test]
async fn wrong_secret_is_refused_with_status_21_and_the_client_retries() {
    let server = Server::start(ServerConfig::default(), Gateway::default()).await;
    let (tracker, shutdown) = (TaskTracker::new(), CancellationToken::new());
    let mut config = client_config(server.addr);
    config.secret = "wrong".into();
    let (client, mut events) = Client::start(config, shutdown.clone(), &tracker);
    for _ in 0..2 {
        match next_event(&mut events).await {
            ClientEvent::Down {
                reason: CloseReason::LoginRefused(code),
            } => assert_eq!(code, status::AUTH_FAILED),
            other => panic!("expected a refused Login, got {other:?}"),
        }
    }
    assert!(!client.is_up());
    assert!(server.gateway.sessions.lock().unwrap().is_empty());
    stop_client(shutdown, tracker).await;
    server.stop().await;
}

#[tokio::test]
async fn an_hour_old_timestamp_is_refused_as_a_replay() {
    let server = Server::start(ServerConfig::default(), Gateway::default()).await;
    let (_raw, resp) = Raw::logged_in(server.addr, timestamp_ago(3600)).await;
    assert_eq!(resp.status, status::AUTH_FAILED);
    assert_eq!(resp.authenticator_server, [0; 16]);
    server.stop().await;
}

#[tokio::test]
async fn a_version_above_ours_gets_status_22() {
    let server = Server::start(ServerConfig::default(), Gateway::default()).await;
    let mut raw = Raw::open(server.addr).await;
    raw.send(&Raw::login_pdu(SECRET, now_timestamp(), 0x40))
        .await;
    let Body::LoginResp(resp) = raw.recv().await.unwrap().body else {
        panic!("expected Login_Resp");
    };
    assert_eq!(resp.status, status::VERSION_TOO_HIGH);
    assert!(raw.recv().await.is_none());
    server.stop().await;
}

#[tokio::test]
async fn server_delivers_a_report_and_gets_deliver_resp() {
    let server = Server::start(ServerConfig::default(), Gateway::default()).await;
    let (tracker, shutdown) = (TaskTracker::new(), CancellationToken::new());
    let (_client, mut events) =
        Client::start(client_config(server.addr), shutdown.clone(), &tracker);
    expect_up(&mut events).await;
    eventually("the server session", || {
        !server.gateway.sessions.lock().unwrap().is_empty()
    })
    .await;
    let session = server.session();
    let deliver = tokio::spawn(async move { session.request(report(msg_id(1))).await });
    let ClientEvent::Request { pdu, handle } = next_event(&mut events).await else {
        panic!("expected the Deliver");
    };
    let Body::Deliver(d) = &pdu.body else {
        panic!("expected a Deliver, got {pdu:?}");
    };
    assert!(d.is_report());
    let parsed = tern_smgp::Report::decode(&d.msg_content).unwrap();
    assert_eq!(parsed.msg_id, msg_id(1));
    assert!(handle.respond(Pdu {
        sequence_id: pdu.sequence_id,
        body: Body::DeliverResp(DeliverResp {
            msg_id: d.msg_id,
            status: 0
        }),
    }));
    let resp = deliver.await.unwrap().unwrap();
    assert_eq!(
        resp.body,
        Body::DeliverResp(DeliverResp {
            msg_id: MsgId([9; 10]),
            status: 0
        })
    );
    stop_client(shutdown, tracker).await;
    server.stop().await;
}

#[tokio::test]
async fn requests_beyond_the_window_are_answered_with_system_busy() {
    let config = ServerConfig {
        window: 2,
        ..ServerConfig::default()
    };
    let gateway = Gateway {
        hold: true,
        ..Gateway::default()
    };
    let server = Server::start(config, gateway).await;
    let (mut raw, resp) = Raw::logged_in(server.addr, now_timestamp()).await;
    assert_eq!(resp.status, 0);
    for seq in 2..=4 {
        raw.send(&Pdu {
            sequence_id: seq,
            body: submit("13800138000", "hi"),
        })
        .await;
    }
    assert_eq!(
        raw.recv().await.unwrap(),
        Pdu {
            sequence_id: 4,
            body: Body::SubmitResp(SubmitResp {
                msg_id: MsgId::ZERO,
                status: status::SYSTEM_BUSY
            })
        }
    );
    eventually("two held submits", || {
        server.gateway.held.lock().unwrap().len() == 2
    })
    .await;
    // Shutdown exits the session and waits for Exit_Resp.
    server.shutdown.cancel();
    let exit = raw.recv().await.unwrap();
    assert_eq!(exit.body, Body::Exit);
    raw.send(&Pdu {
        sequence_id: exit.sequence_id,
        body: Body::ExitResp,
    })
    .await;
    assert!(raw.recv().await.is_none());
    server.stop().await;
    assert_eq!(
        server.gateway.closed.lock().unwrap().as_slice(),
        [CloseReason::Shutdown]
    );
}

#[tokio::test]
async fn active_test_is_answered_and_keeps_an_idle_link_up() {
    let config = ServerConfig {
        active_test_interval: Duration::from_millis(100),
        inactivity_timeout: Duration::from_millis(400),
        ..ServerConfig::default()
    };
    let server = Server::start(config, Gateway::default()).await;
    let (tracker, shutdown) = (TaskTracker::new(), CancellationToken::new());
    let mut client_config = client_config(server.addr);
    client_config.active_test_interval = Duration::from_millis(100);
    client_config.inactivity_timeout = Duration::from_millis(400);
    let (client, mut events) = Client::start(client_config, shutdown.clone(), &tracker);
    expect_up(&mut events).await;
    tokio::time::sleep(Duration::from_millis(1200)).await;
    assert!(client.is_up());
    assert!(events.try_recv().is_err(), "no Down while idle");
    // A raw peer's Active_Test gets its response.
    let (mut raw, _) = Raw::logged_in(server.addr, now_timestamp()).await;
    raw.send(&Pdu {
        sequence_id: 7,
        body: Body::ActiveTest,
    })
    .await;
    assert_eq!(
        raw.recv().await.unwrap(),
        Pdu {
            sequence_id: 7,
            body: Body::ActiveTestResp
        }
    );
    stop_client(shutdown, tracker).await;
    server.stop().await;
}

#[tokio::test]
async fn a_silent_peer_is_closed_for_inactivity() {
    let config = ServerConfig {
        active_test_interval: Duration::from_millis(100),
        inactivity_timeout: Duration::from_millis(300),
        ..ServerConfig::default()
    };
    let server = Server::start(config, Gateway::default()).await;
    let (mut raw, _) = Raw::logged_in(server.addr, now_timestamp()).await;
    // Active_Tests arrive unanswered; then the server closes.
    while let Some(pdu) = raw.recv().await {
        assert_eq!(pdu.body, Body::ActiveTest);
    }
    eventually("the inactivity close", || {
        server.gateway.closed.lock().unwrap().as_slice() == [CloseReason::Inactivity]
    })
    .await;
    server.stop().await;
}

#[tokio::test]
async fn malformed_submit_gets_status_10_and_the_session_carries_on() {
    let server = Server::start(ServerConfig::default(), Gateway::default()).await;
    let (mut raw, resp) = Raw::logged_in(server.addr, now_timestamp()).await;
    assert_eq!(resp.status, 0);
    let mut frame = bytes::BytesMut::new();
    Pdu {
        sequence_id: 2,
        body: submit("13800138000", "hello"),
    }
    .encode(&mut frame)
    .unwrap();
    // Cut the body short inside its fixed fields, with PacketLength saying so.
    frame.truncate(HEADER_LEN + 20);
    let len = u32::try_from(frame.len()).unwrap().to_be_bytes();
    frame[..4].copy_from_slice(&len);
    raw.send_bytes(&frame).await;
    assert_eq!(
        raw.recv().await.unwrap(),
        Pdu {
            sequence_id: 2,
            body: Body::SubmitResp(SubmitResp {
                msg_id: MsgId::ZERO,
                status: status::BAD_STRUCTURE
            })
        }
    );
    // An unknown RequestID has no response in SMGP: it is skipped.
    let mut unknown = Vec::new();
    unknown.extend_from_slice(&12u32.to_be_bytes());
    unknown.extend_from_slice(&0x0000_0099u32.to_be_bytes());
    unknown.extend_from_slice(&3u32.to_be_bytes());
    raw.send_bytes(&unknown).await;
    raw.send(&Pdu {
        sequence_id: 4,
        body: submit("13800138000", "hello"),
    })
    .await;
    assert_eq!(
        raw.recv().await.unwrap(),
        Pdu {
            sequence_id: 4,
            body: Body::SubmitResp(SubmitResp {
                msg_id: msg_id(1),
                status: 0
            })
        }
    );
    // A PacketLength out of bounds loses the framing: the session closes.
    raw.send_bytes(&u32::MAX.to_be_bytes()).await;
    raw.send_bytes(&[0; 8]).await;
    assert!(raw.recv().await.is_none());
    eventually("the protocol close", || {
        matches!(
            server.gateway.closed.lock().unwrap().as_slice(),
            [CloseReason::Protocol(_)]
        )
    })
    .await;
    server.stop().await;
}

#[tokio::test]
async fn exit_from_the_server_side_is_answered_and_the_link_comes_back() {
    let server = Server::start(ServerConfig::default(), Gateway::default()).await;
    let (tracker, shutdown) = (TaskTracker::new(), CancellationToken::new());
    let (client, mut events) =
        Client::start(client_config(server.addr), shutdown.clone(), &tracker);
    expect_up(&mut events).await;
    eventually("the server session", || {
        !server.gateway.sessions.lock().unwrap().is_empty()
    })
    .await;
    server.session().exit().await;
    match next_event(&mut events).await {
        ClientEvent::Down { reason } => assert_eq!(reason, CloseReason::Exited),
        other => panic!("expected Down, got {other:?}"),
    }
    eventually("the server's close", || {
        server.gateway.closed.lock().unwrap().as_slice() == [CloseReason::ByUs]
    })
    .await;
    expect_up(&mut events).await;
    let response = client
        .request(submit("13800138000", "again"))
        .await
        .unwrap();
    assert!(matches!(
        response.body,
        Body::SubmitResp(SubmitResp { status: 0, .. })
    ));
    stop_client(shutdown, tracker).await;
    server.stop().await;
}

#[tokio::test]
async fn the_first_pdu_must_be_login() {
    let server = Server::start(ServerConfig::default(), Gateway::default()).await;
    let mut raw = Raw::open(server.addr).await;
    raw.send(&Pdu {
        sequence_id: 1,
        body: submit("13800138000", "hi"),
    })
    .await;
    assert!(raw.recv().await.is_none());
    assert!(server.gateway.logins.lock().unwrap().is_empty());
    server.stop().await;
}
