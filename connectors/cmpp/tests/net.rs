#![allow(clippy::unwrap_used)]
//! The CMPP server and client against each other over real sockets on 127.0.0.1, in both
//! versions, plus a raw peer for what our own client never sends: old timestamps, a full
//! window, malformed PDUs, silence. Every wait is bounded and every test stops its tasks.

mod util;

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tern_cmpp::codec::{DeliverResp, SubmitResp};
use tern_cmpp::net::{Client, ClientEvent, CloseReason, ServerConfig};
use tern_cmpp::{result, Body, Pdu, Version};
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use util::*;

const VERSIONS: [Version; 2] = [Version::V20, Version::V30];

async fn next_event(events: &mut mpsc::Receiver<ClientEvent>) -> ClientEvent {
    tokio::time::timeout(WAIT, events.recv())
        .await
        .expect("a link event within 5 s")
        .expect("the link's event channel is open")
}

/// Waits for `Up`, skipping nothing else.
async fn expect_up(events: &mut mpsc::Receiver<ClientEvent>) {
    match next_event(events).await {
        ClientEvent::Up => {}
        other => panic!("expected Up, got {other:?}"),
    }
}

fn stop(token: CancellationToken) {
    token.cancel();
}

#[tokio::test]
async fn client_connects_and_submits_in_both_versions() {
    for version in VERSIONS {
        let server = Server::start(ServerConfig::default(), Gateway::default()).await;
        let tracker = TaskTracker::new();
        let shutdown = CancellationToken::new();
        let config = client_config(server.addr, version);
        let (client, mut events) = Client::start(config, shutdown.clone(), &tracker);
        expect_up(&mut events).await;
        assert!(client.is_up());
        assert_eq!(client.name(), "test");
        assert_eq!(client.window_available(), 16);
        let response = client.request(submit("13800138000", "hi")).await.unwrap();
        assert_eq!(
            response.body,
            Body::SubmitResp(SubmitResp {
                msg_id: 1,
                result: 0
            })
        );
        let connect = server.gateway.connects.lock().unwrap()[0].clone();
        assert_eq!(connect.source_addr, SP);
        assert_eq!(connect.version, version);
        assert_eq!(server.session().version(), version);
        stop(shutdown);
        tracker.close();
        tokio::time::timeout(WAIT, tracker.wait()).await.unwrap();
        server.stop().await;
    }
}

#[tokio::test]
async fn server_delivers_a_report_and_gets_deliver_resp() {
    for version in VERSIONS {
        let server = Server::start(ServerConfig::default(), Gateway::default()).await;
        let tracker = TaskTracker::new();
        let shutdown = CancellationToken::new();
        let (_client, mut events) = Client::start(
            client_config(server.addr, version),
            shutdown.clone(),
            &tracker,
        );
        expect_up(&mut events).await;
        let session = server.session();
        let delivery = tokio::spawn(async move { session.request(report(77, version)).await });
        let ClientEvent::Request { pdu, handle } = next_event(&mut events).await else {
            panic!("expected the DELIVER");
        };
        let Body::Deliver(deliver) = &pdu.body else {
            panic!("expected DELIVER, got {pdu:?}");
        };
        let report = deliver.report(version).unwrap().unwrap();
        assert_eq!((report.msg_id, report.stat.as_str()), (77, "DELIVRD"));
        assert!(handle.respond(Pdu {
            sequence_id: pdu.sequence_id,
            body: Body::DeliverResp(DeliverResp {
                msg_id: deliver.msg_id,
                result: 0
            }),
        }));
        let response = delivery.await.unwrap().unwrap();
        assert!(matches!(
            response.body,
            Body::DeliverResp(DeliverResp { result: 0, .. })
        ));
        stop(shutdown);
        server.stop().await;
    }
}

#[tokio::test]
async fn a_withdrawn_request_is_not_written() {
    let version = Version::V30;
    let server = Server::start(ServerConfig::default(), Gateway::default()).await;
    let tracker = TaskTracker::new();
    let shutdown = CancellationToken::new();
    let (_client, mut events) = Client::start(
        client_config(server.addr, version),
        shutdown.clone(),
        &tracker,
    );
    expect_up(&mut events).await;
    let session = server.session();
    let withdrawn = session.request_if(report(76, version), || false).await;
    assert!(
        matches!(&withdrawn, Err(tern_cmpp::net::RequestError::NotSent(why)) if why == tern_cmpp::net::WITHDRAWN),
        "{withdrawn:?}"
    );
    let delivery =
        tokio::spawn(async move { session.request_if(report(77, version), || true).await });
    // The first DELIVER the client sees is the one whose condition held.
    let ClientEvent::Request { pdu, handle } = next_event(&mut events).await else {
        panic!("expected the DELIVER");
    };
    let Body::Deliver(deliver) = &pdu.body else {
        panic!("expected DELIVER, got {pdu:?}");
    };
    assert_eq!(deliver.report(version).unwrap().unwrap().msg_id, 77);
    assert!(handle.respond(Pdu {
        sequence_id: pdu.sequence_id,
        body: Body::DeliverResp(DeliverResp {
            msg_id: deliver.msg_id,
            result: 0
        }),
    }));
    assert!(delivery.await.unwrap().is_ok());
    stop(shutdown);
    server.stop().await;
}

/// Collects log lines, to see what a refused link tells the operator.
#[derive(Clone, Default)]
struct Logs(Arc<Mutex<Vec<u8>>>);

impl Write for Logs {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn wrong_secret_is_refused_with_status_3_and_the_client_retries() {
    let logs = Logs::default();
    let writer = logs.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .finish();
    // The test runtime is single-threaded, so every task logs through this subscriber.
    let _guard = tracing::subscriber::set_default(subscriber);
    let server = Server::start(ServerConfig::default(), Gateway::default()).await;
    let tracker = TaskTracker::new();
    let shutdown = CancellationToken::new();
    let mut config = client_config(server.addr, Version::V30);
    config.secret = "wrong".into();
    config.ready_timeout = Duration::from_millis(200);
    let (client, mut events) = Client::start(config, shutdown.clone(), &tracker);
    for _ in 0..2 {
        match next_event(&mut events).await {
            ClientEvent::Down {
                reason: CloseReason::ConnectRefused(3),
            } => {}
            other => panic!("expected a refusal with status 3, got {other:?}"),
        }
    }
    assert!(
        server.gateway.connects.lock().unwrap().len() >= 2,
        "retried"
    );
    assert!(server.gateway.sessions.lock().unwrap().is_empty());
    assert!(!client.is_up());
    assert!(matches!(
        client.request(submit("13800138000", "hi")).await,
        Err(tern_cmpp::net::RequestError::NotSent(_))
    ));
    let logged = String::from_utf8_lossy(&logs.0.lock().unwrap()).into_owned();
    assert!(
        logged.contains("authentication failed"),
        "the refusal is logged as an authentication failure: {logged}"
    );
    stop(shutdown);
    server.stop().await;
}

#[tokio::test]
async fn connect_with_an_hour_old_timestamp_is_refused_as_a_replay() {
    let server = Server::start(ServerConfig::default(), Gateway::default()).await;
    // The same CONNECT signed now is accepted: only the timestamp differs.
    let (fresh, resp) = Raw::connected(server.addr, Version::V30, now_timestamp()).await;
    assert_eq!(resp.status, 0);
    let (mut old, resp) = Raw::connected(server.addr, Version::V30, timestamp_ago(3600)).await;
    assert_eq!(resp.status, result::AUTH_FAILED);
    assert_eq!(resp.authenticator_ismg, [0; 16]);
    assert!(old.recv().await.is_none(), "closed after the refusal");
    assert_eq!(server.gateway.sessions.lock().unwrap().len(), 1);
    drop(fresh);
    server.stop().await;
}

#[tokio::test]
async fn version_above_ours_gets_status_4_and_the_first_pdu_must_be_connect() {
    let config = ServerConfig {
        max_version: Version::V20,
        ..ServerConfig::default()
    };
    let server = Server::start(config, Gateway::default()).await;
    // A 3.0 client reads the refusal in the 3.0 layout it asked for.
    let (mut raw, resp) = Raw::connected(server.addr, Version::V30, now_timestamp()).await;
    assert_eq!(resp.status, result::VERSION_TOO_HIGH);
    assert_eq!(resp.version, 0x20);
    assert!(raw.recv().await.is_none());
    let mut raw = Raw::open(server.addr, Version::V20).await;
    raw.send(&Pdu {
        sequence_id: 1,
        body: Body::ActiveTest,
    })
    .await;
    assert!(raw.recv().await.is_none(), "closed without an answer");
    assert!(server.gateway.connects.lock().unwrap().is_empty());
    server.stop().await;
}

#[tokio::test]
async fn requests_beyond_the_window_are_answered_with_flow_control() {
    let config = ServerConfig {
        window: 2,
        ..ServerConfig::default()
    };
    let gateway = Gateway {
        hold: true,
        ..Gateway::default()
    };
    let server = Server::start(config, gateway).await;
    let (mut raw, resp) = Raw::connected(server.addr, Version::V30, now_timestamp()).await;
    assert_eq!(resp.status, 0);
    for seq in 2..=4 {
        raw.send(&Pdu {
            sequence_id: seq,
            body: submit("13800138000", "hi"),
        })
        .await;
    }
    let refused = raw.recv().await.unwrap();
    assert_eq!(
        refused,
        Pdu {
            sequence_id: 4,
            body: Body::SubmitResp(SubmitResp {
                msg_id: 0,
                result: result::FLOW_CONTROL
            })
        }
    );
    eventually("two held submits", || {
        server.gateway.held.lock().unwrap().len() == 2
    })
    .await;
    // Shutdown terminates the session and waits for TERMINATE_RESP.
    server.shutdown.cancel();
    let terminate = raw.recv().await.unwrap();
    assert_eq!(terminate.body, Body::Terminate);
    raw.send(&Pdu {
        sequence_id: terminate.sequence_id,
        body: Body::TerminateResp,
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
async fn active_test_keeps_an_idle_link_up() {
    let config = ServerConfig {
        active_test_interval: Duration::from_millis(100),
        inactivity_timeout: Duration::from_millis(500),
        ..ServerConfig::default()
    };
    let server = Server::start(config, Gateway::default()).await;
    let tracker = TaskTracker::new();
    let shutdown = CancellationToken::new();
    let mut client_config = client_config(server.addr, Version::V20);
    client_config.active_test_interval = Duration::from_millis(100);
    client_config.inactivity_timeout = Duration::from_millis(500);
    let (client, mut events) = Client::start(client_config, shutdown.clone(), &tracker);
    expect_up(&mut events).await;
    // Four inactivity timeouts without a message.
    tokio::time::sleep(Duration::from_millis(2000)).await;
    assert!(events.try_recv().is_err(), "no Down while idle");
    assert!(server.gateway.closed.lock().unwrap().is_empty());
    assert!(client.request(submit("13800138000", "hi")).await.is_ok());
    stop(shutdown);
    server.stop().await;
}

#[tokio::test]
async fn a_silent_peer_is_closed_for_inactivity() {
    let config = ServerConfig {
        active_test_interval: Duration::from_millis(100),
        inactivity_timeout: Duration::from_millis(400),
        ..ServerConfig::default()
    };
    let server = Server::start(config, Gateway::default()).await;
    let (mut raw, resp) = Raw::connected(server.addr, Version::V30, now_timestamp()).await;
    assert_eq!(resp.status, 0);
    // Read, never answer: the server probes, then gives up.
    let seen = raw.drain().await;
    assert!(
        seen.iter().any(|p| p.body == Body::ActiveTest),
        "ACTIVE_TEST sent before closing: {seen:?}"
    );
    eventually("the close", || {
        server.gateway.closed.lock().unwrap().as_slice() == [CloseReason::Inactivity]
    })
    .await;
    server.stop().await;
}

#[tokio::test]
async fn client_reconnects_after_the_server_restarts() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = Server::on(listener, ServerConfig::default(), Gateway::default());
    let tracker = TaskTracker::new();
    let shutdown = CancellationToken::new();
    let (client, mut events) = Client::start(
        client_config(addr, Version::V30),
        shutdown.clone(),
        &tracker,
    );
    expect_up(&mut events).await;
    server.stop().await;
    match next_event(&mut events).await {
        ClientEvent::Down {
            reason: CloseReason::Terminated,
        } => {}
        other => panic!("expected Down after the server's TERMINATE, got {other:?}"),
    }
    let listener = TcpListener::bind(addr).await.unwrap();
    let restarted = Server::on(listener, ServerConfig::default(), Gateway::default());
    expect_up(&mut events).await;
    let response = client
        .request(submit("13800138000", "again"))
        .await
        .unwrap();
    assert!(matches!(
        response.body,
        Body::SubmitResp(SubmitResp { result: 0, .. })
    ));
    stop(shutdown);
    restarted.stop().await;
}

#[tokio::test]
async fn terminate_from_the_server_side_is_answered_and_the_link_comes_back() {
    let server = Server::start(ServerConfig::default(), Gateway::default()).await;
    let tracker = TaskTracker::new();
    let shutdown = CancellationToken::new();
    let (_client, mut events) = Client::start(
        client_config(server.addr, Version::V30),
        shutdown.clone(),
        &tracker,
    );
    expect_up(&mut events).await;
    let session = server.session();
    tokio::time::timeout(WAIT, session.terminate())
        .await
        .unwrap();
    assert!(session.is_closed());
    assert_eq!(session.window_available(), 0);
    assert!(matches!(
        session.request(submit("13800138000", "late")).await,
        Err(tern_cmpp::net::RequestError::NotSent(_))
    ));
    eventually("the server's close", || {
        server.gateway.closed.lock().unwrap().as_slice() == [CloseReason::ByUs]
    })
    .await;
    match next_event(&mut events).await {
        ClientEvent::Down {
            reason: CloseReason::Terminated,
        } => {}
        other => panic!("expected Down(Terminated), got {other:?}"),
    }
    expect_up(&mut events).await;
    stop(shutdown);
    server.stop().await;
}

#[tokio::test]
async fn terminate_from_the_client_side_closes_the_server_session() {
    let server = Server::start(ServerConfig::default(), Gateway::default()).await;
    // Our client terminates when it shuts down.
    let tracker = TaskTracker::new();
    let shutdown = CancellationToken::new();
    let (_client, mut events) = Client::start(
        client_config(server.addr, Version::V20),
        shutdown.clone(),
        &tracker,
    );
    expect_up(&mut events).await;
    shutdown.cancel();
    tracker.close();
    tokio::time::timeout(WAIT, tracker.wait()).await.unwrap();
    match next_event(&mut events).await {
        ClientEvent::Down {
            reason: CloseReason::Shutdown,
        } => {}
        other => panic!("expected Down(Shutdown), got {other:?}"),
    }
    eventually("the server's close", || {
        server.gateway.closed.lock().unwrap().as_slice() == [CloseReason::Terminated]
    })
    .await;
    // A raw peer's TERMINATE gets TERMINATE_RESP.
    let (mut raw, _) = Raw::connected(server.addr, Version::V30, now_timestamp()).await;
    raw.send(&Pdu {
        sequence_id: 9,
        body: Body::Terminate,
    })
    .await;
    assert_eq!(
        raw.recv().await,
        Some(Pdu {
            sequence_id: 9,
            body: Body::TerminateResp
        })
    );
    assert!(raw.recv().await.is_none());
    server.stop().await;
}

#[tokio::test]
async fn malformed_submit_gets_an_error_result_and_the_session_carries_on() {
    let server = Server::start(ServerConfig::default(), Gateway::default()).await;
    let (mut raw, resp) = Raw::connected(server.addr, Version::V30, now_timestamp()).await;
    assert_eq!(resp.status, 0);
    let text = "hello";
    let mut frame = bytes::BytesMut::new();
    Pdu {
        sequence_id: 2,
        body: submit("13800138000", text),
    }
    .encode(Version::V30, &mut frame)
    .unwrap();
    // Msg_Length sits before the content and the 20-octet LinkID: claim 200 octets.
    let at = frame.len() - Version::V30.link_id_len() - text.len() - 1;
    assert_eq!(usize::from(frame[at]), text.len());
    frame[at] = 200;
    raw.send_bytes(&frame).await;
    let refused = raw.recv().await.unwrap();
    assert_eq!(refused.sequence_id, 2);
    let Body::SubmitResp(SubmitResp { result, .. }) = refused.body else {
        panic!("expected SUBMIT_RESP, got {refused:?}");
    };
    assert_eq!(result, result::BAD_MSG_LENGTH);
    raw.send(&Pdu {
        sequence_id: 3,
        body: submit("13800138000", text),
    })
    .await;
    assert_eq!(
        raw.recv().await.unwrap(),
        Pdu {
            sequence_id: 3,
            body: Body::SubmitResp(SubmitResp {
                msg_id: 1,
                result: 0
            })
        }
    );
    // An unknown command cannot be answered in CMPP: the session closes.
    let mut unknown = Vec::new();
    unknown.extend_from_slice(&12u32.to_be_bytes());
    unknown.extend_from_slice(&0x0000_0099u32.to_be_bytes());
    unknown.extend_from_slice(&4u32.to_be_bytes());
    raw.send_bytes(&unknown).await;
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
async fn a_response_after_the_timeout_comes_back_as_a_late_response() {
    let gateway = Gateway {
        hold: true,
        ..Gateway::default()
    };
    let server = Server::start(ServerConfig::default(), gateway).await;
    let tracker = TaskTracker::new();
    let shutdown = CancellationToken::new();
    let mut config = client_config(server.addr, Version::V30);
    config.response_timeout = Duration::from_millis(200);
    let (client, mut events) = Client::start(config, shutdown.clone(), &tracker);
    expect_up(&mut events).await;
    assert!(matches!(
        client.request(submit("13800138000", "slow")).await,
        Err(tern_cmpp::net::RequestError::Timeout { .. })
    ));
    assert_eq!(client.window_available(), 16, "the slot is free again");
    let held = server.gateway.held.lock().unwrap().pop().unwrap();
    assert!(server.session().respond(Pdu {
        sequence_id: held.sequence_id,
        body: Body::SubmitResp(SubmitResp {
            msg_id: 99,
            result: 0
        }),
    }));
    match next_event(&mut events).await {
        ClientEvent::LateResponse(pdu) => assert_eq!(
            pdu.body,
            Body::SubmitResp(SubmitResp {
                msg_id: 99,
                result: 0
            })
        ),
        other => panic!("expected the late response, got {other:?}"),
    }
    stop(shutdown);
    server.stop().await;
}

#[tokio::test]
async fn the_tps_cap_spaces_requests_on_the_wire() {
    let server = Server::start(ServerConfig::default(), Gateway::default()).await;
    let tracker = TaskTracker::new();
    let shutdown = CancellationToken::new();
    let mut config = client_config(server.addr, Version::V30);
    config.tps = std::num::NonZeroU32::new(5);
    let (client, mut events) = Client::start(config, shutdown.clone(), &tracker);
    expect_up(&mut events).await;
    let started = tokio::time::Instant::now();
    let mut requests = tokio::task::JoinSet::new();
    for _ in 0..10 {
        let client = client.clone();
        requests.spawn(async move { client.request(submit("13800138000", "hi")).await });
    }
    while let Some(done) = requests.join_next().await {
        assert!(done.unwrap().is_ok());
    }
    // One at once, then one every 200 ms: never more than 5 in any one second.
    let elapsed = started.elapsed();
    assert!(
        elapsed >= Duration::from_millis(1_800) && elapsed < WAIT,
        "10 requests at 5/s took {elapsed:?}"
    );
    stop(shutdown);
    server.stop().await;
}
