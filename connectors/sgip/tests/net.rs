#![allow(clippy::unwrap_used)]
//! The SGIP server and client against each other over real sockets on 127.0.0.1, plus a
//! raw peer for what our own client never sends: a full window, a malformed body, silence.
//! Every wait is bounded and every test stops its tasks.

mod util;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use tern_sgip::codec::{Deliver, Report, Response};
use tern_sgip::net::{
    serve, Client, ClientConfig, ClientEvent, CloseReason, ServerConfig, SessionHandle,
};
use tern_sgip::{auth, result, Body, Decoder, LoginType, Pdu, SequenceNumber};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use util::*;

struct Server {
    addr: SocketAddr,
    peer: Arc<Peer>,
    shutdown: CancellationToken,
    tracker: TaskTracker,
}

impl Server {
    async fn start(config: ServerConfig, peer: Peer) -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let peer = Arc::new(peer);
        let (shutdown, tracker) = (CancellationToken::new(), TaskTracker::new());
        let serving = serve(
            listener,
            Arc::new(config),
            peer.clone(),
            shutdown.clone(),
            tracker.clone(),
        );
        tokio::spawn(serving);
        Server {
            addr,
            peer,
            shutdown,
            tracker,
        }
    }

    fn session(&self) -> SessionHandle {
        self.peer.sessions.lock().unwrap()[0].clone()
    }

    async fn stop(self) {
        self.shutdown.cancel();
        self.tracker.close();
        tokio::time::timeout(WAIT, self.tracker.wait())
            .await
            .unwrap();
    }
}

fn client_config(addr: SocketAddr, login_type: LoginType) -> ClientConfig {
    let mut config = ClientConfig::new("test", addr.ip().to_string(), addr.port());
    config.login_name = NAME.into();
    config.password = PASSWORD.into();
    config.login_type = login_type;
    config.node_id = 3_010_012_345;
    config.reconnect_min = Duration::from_millis(50);
    config.reconnect_max = Duration::from_millis(200);
    config
}

fn ok_result(pdu: &Pdu) -> u8 {
    match &pdu.body {
        Body::BindResp(r) | Body::SubmitResp(r) | Body::DeliverResp(r) | Body::ReportResp(r) => {
            r.result
        }
        other => panic!("expected a response with a result, got {other:?}"),
    }
}

/// A raw peer that writes exactly the PDUs (or bytes) a test wants.
struct Raw {
    stream: TcpStream,
    rbuf: BytesMut,
    decoder: Decoder,
}

impl Raw {
    async fn bind(addr: SocketAddr, login_type: LoginType) -> Raw {
        let stream = TcpStream::connect(addr).await.unwrap();
        let mut raw = Raw {
            stream,
            rbuf: BytesMut::new(),
            decoder: Decoder::new(tern_sgip::codec::DEFAULT_MAX_LEN),
        };
        let bind = auth::bind(login_type, NAME, PASSWORD).unwrap();
        raw.send(&Pdu {
            sequence: SequenceNumber::new(1, 1_206_120_000, 0),
            body: Body::Bind(bind),
        })
        .await;
        assert_eq!(ok_result(&raw.read().await), result::OK);
        raw
    }

    async fn send(&mut self, pdu: &Pdu) {
        let mut out = BytesMut::new();
        pdu.encode(&mut out).unwrap();
        self.stream.write_all(&out).await.unwrap();
    }

    async fn read(&mut self) -> Pdu {
        tokio::time::timeout(WAIT, async {
            loop {
                if let Some(pdu) = self.decoder.decode(&mut self.rbuf).unwrap() {
                    return pdu;
                }
                let n = self.stream.read_buf(&mut self.rbuf).await.unwrap();
                assert!(n > 0, "the server closed the connection");
            }
        })
        .await
        .expect("a PDU within 5 s")
    }

    async fn submit(&mut self, counter: u32) {
        self.send(&Pdu {
            sequence: SequenceNumber::new(1, 1_206_120_000, counter),
            body: submit("8613000000000"),
        })
        .await;
    }
}

#[tokio::test]
async fn an_sp_binds_and_its_submit_is_answered_under_its_sequence_number() {
    let server = Server::start(ServerConfig::default(), Peer::default()).await;
    let (shutdown, tracker) = (CancellationToken::new(), TaskTracker::new());
    let config = client_config(server.addr, LoginType::SpToSmg);
    let (client, mut events) = Client::start(config, shutdown.clone(), &tracker);
    expect_up(&mut events).await;
    assert!(client.is_up());
    assert_eq!(client.window_available(), 16);
    let response = client.request(submit("8613000000000")).await.unwrap();
    assert_eq!(ok_result(&response), result::OK);
    let received = server.peer.requests.lock().unwrap()[0].clone();
    assert_eq!(received.sequence, response.sequence);
    assert_eq!(response.sequence.node_id, 3_010_012_345);
    let bind = server.peer.binds.lock().unwrap()[0].clone();
    assert_eq!(bind.login_type, LoginType::SpToSmg);
    assert_eq!(bind.sequence.node_id, 3_010_012_345);
    assert_eq!(server.session().login_type(), LoginType::SpToSmg);
    shutdown.cancel();
    server.stop().await;
}

#[tokio::test]
async fn a_wrong_password_is_refused_with_result_1() {
    let server = Server::start(ServerConfig::default(), Peer::default()).await;
    let (shutdown, tracker) = (CancellationToken::new(), TaskTracker::new());
    let mut config = client_config(server.addr, LoginType::SpToSmg);
    config.password = "wrong".into();
    let (client, mut events) = Client::start(config, shutdown.clone(), &tracker);
    assert_eq!(expect_refused(&mut events).await, result::ILLEGAL_LOGIN);
    assert!(!client.is_up());
    shutdown.cancel();
    server.stop().await;
}

#[tokio::test]
async fn a_login_type_the_listener_does_not_take_is_refused_with_result_4() {
    let config = ServerConfig {
        login_types: vec![LoginType::SpToSmg],
        ..ServerConfig::default()
    };
    let server = Server::start(config, Peer::default()).await;
    let (shutdown, tracker) = (CancellationToken::new(), TaskTracker::new());
    let config = client_config(server.addr, LoginType::SmgToSp);
    let (_client, mut events) = Client::start(config, shutdown.clone(), &tracker);
    assert_eq!(expect_refused(&mut events).await, result::BAD_LOGIN_TYPE);
    assert!(server.peer.binds.lock().unwrap().is_empty());
    shutdown.cancel();
    server.stop().await;
}

#[tokio::test]
async fn an_smg_sends_reports_and_delivers_on_a_type_2_link() {
    let server = Server::start(ServerConfig::default(), Peer::default()).await;
    let (shutdown, tracker) = (CancellationToken::new(), TaskTracker::new());
    let config = client_config(server.addr, LoginType::SmgToSp);
    let (client, mut events) = Client::start(config, shutdown.clone(), &tracker);
    expect_up(&mut events).await;
    let submitted = SequenceNumber::new(3_010_012_345, 1_206_120_000, 42);
    let report = Body::Report(Report {
        submit_sequence: submitted,
        report_type: 0,
        user_number: "8613000000000".into(),
        state: 0,
        error_code: 0,
        reserve: String::new(),
    });
    let answered = client.request(report).await.unwrap();
    assert!(matches!(
        answered.body,
        Body::ReportResp(Response { result: 0, .. })
    ));
    let deliver = Body::Deliver(Deliver {
        user_number: "8613000000000".into(),
        sp_number: "10655".into(),
        tp_pid: 0,
        tp_udhi: 0,
        message_coding: 0,
        message_content: Bytes::from_static(b"mo"),
        reserve: String::new(),
    });
    let answered = client.request(deliver).await.unwrap();
    assert!(matches!(
        answered.body,
        Body::DeliverResp(Response { result: 0, .. })
    ));
    let requests = server.peer.requests.lock().unwrap().clone();
    let Body::Report(got) = &requests[0].body else {
        panic!("expected the REPORT first, got {requests:?}");
    };
    assert_eq!(got.submit_sequence, submitted);
    // A SUBMIT does not travel on a type-2 link: the client refuses to send it.
    let refused = client.request(submit("8613000000000")).await;
    assert!(matches!(
        refused,
        Err(tern_sgip::net::RequestError::NotSent(_))
    ));
    shutdown.cancel();
    server.stop().await;
}

#[tokio::test]
async fn requests_beyond_the_window_are_answered_with_node_busy() {
    let config = ServerConfig {
        window: 2,
        ..ServerConfig::default()
    };
    let peer = Peer {
        hold: true,
        ..Peer::default()
    };
    let server = Server::start(config, peer).await;
    let mut raw = Raw::bind(server.addr, LoginType::SpToSmg).await;
    for counter in 1..=3 {
        raw.submit(counter).await;
    }
    let busy = raw.read().await;
    assert_eq!(busy.sequence.sequence, 3);
    assert_eq!(ok_result(&busy), result::NODE_BUSY);
    // The held ones are still answered once the application does.
    let held = server.peer.requests.lock().unwrap().clone();
    assert_eq!(held.len(), 2);
    assert!(server
        .session()
        .respond(Pdu::response_for(&held[0], result::OK).unwrap()));
    let answered = raw.read().await;
    assert_eq!(answered.sequence, held[0].sequence);
    assert_eq!(ok_result(&answered), result::OK);
    drop(raw);
    server.stop().await;
}

#[tokio::test]
async fn a_malformed_submit_gets_its_error_result_and_the_session_carries_on() {
    let server = Server::start(ServerConfig::default(), Peer::default()).await;
    let mut raw = Raw::bind(server.addr, LoginType::SpToSmg).await;
    // A SUBMIT header with a body three octets long.
    let mut frame = BytesMut::new();
    frame.extend_from_slice(&23u32.to_be_bytes());
    frame.extend_from_slice(&0x0000_0003u32.to_be_bytes());
    frame.extend_from_slice(&SequenceNumber::new(1, 1_206_120_000, 9).to_bytes());
    frame.extend_from_slice(b"abc");
    raw.stream.write_all(&frame).await.unwrap();
    let answer = raw.read().await;
    assert_eq!(answer.sequence.sequence, 9);
    assert!(matches!(answer.body, Body::SubmitResp(_)));
    assert_eq!(ok_result(&answer), result::BAD_LENGTH);
    raw.submit(10).await;
    let next = raw.read().await;
    assert_eq!((next.sequence.sequence, ok_result(&next)), (10, result::OK));
    drop(raw);
    server.stop().await;
}

#[tokio::test]
async fn unbind_from_the_server_takes_the_link_down() {
    let server = Server::start(ServerConfig::default(), Peer::default()).await;
    let (shutdown, tracker) = (CancellationToken::new(), TaskTracker::new());
    let config = client_config(server.addr, LoginType::SpToSmg);
    let (_client, mut events) = Client::start(config, shutdown.clone(), &tracker);
    expect_up(&mut events).await;
    tokio::time::timeout(WAIT, server.session().unbind())
        .await
        .unwrap();
    match next_event(&mut events).await {
        ClientEvent::Down { reason } => assert_eq!(reason, CloseReason::Unbound),
        other => panic!("expected Down, got {other:?}"),
    }
    assert_eq!(server.peer.closed.lock().unwrap()[0], CloseReason::ByUs);
    shutdown.cancel();
    server.stop().await;
}

#[tokio::test]
async fn an_idle_peer_is_unbound_after_the_inactivity_timeout() {
    let config = ServerConfig {
        inactivity_timeout: Duration::from_millis(200),
        ..ServerConfig::default()
    };
    let server = Server::start(config, Peer::default()).await;
    let mut raw = Raw::bind(server.addr, LoginType::SpToSmg).await;
    let unbind = raw.read().await;
    assert_eq!(unbind.body, Body::Unbind);
    raw.send(&Pdu {
        sequence: unbind.sequence,
        body: Body::UnbindResp,
    })
    .await;
    let mut rest = Vec::new();
    let closed = tokio::time::timeout(WAIT, raw.stream.read_to_end(&mut rest)).await;
    assert!(closed.is_ok(), "the server closes after UNBIND_RESP");
    server.stop().await;
}

#[tokio::test]
async fn an_idle_client_unbinds_and_binds_again_for_the_next_request() {
    let server = Server::start(ServerConfig::default(), Peer::default()).await;
    let (shutdown, tracker) = (CancellationToken::new(), TaskTracker::new());
    let mut config = client_config(server.addr, LoginType::SpToSmg);
    config.inactivity_timeout = Duration::from_millis(200);
    let (client, mut events) = Client::start(config, shutdown.clone(), &tracker);
    expect_up(&mut events).await;
    match next_event(&mut events).await {
        ClientEvent::Down { reason } => assert_eq!(reason, CloseReason::Inactivity),
        other => panic!("expected an idle Down, got {other:?}"),
    }
    assert!(!client.is_up());
    // It stays unbound until there is work.
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(server.peer.binds.lock().unwrap().len(), 1);
    let response = client.request(submit("8613000000000")).await.unwrap();
    assert_eq!(ok_result(&response), result::OK);
    assert_eq!(server.peer.binds.lock().unwrap().len(), 2);
    shutdown.cancel();
    server.stop().await;
}

#[tokio::test]
async fn a_length_that_loses_the_framing_closes_the_connection() {
    let server = Server::start(ServerConfig::default(), Peer::default()).await;
    let mut raw = Raw::bind(server.addr, LoginType::SpToSmg).await;
    // Message Length 0xFFFFFFFF: refused before anything is reserved for it.
    let mut frame = BytesMut::new();
    frame.extend_from_slice(&u32::MAX.to_be_bytes());
    frame.extend_from_slice(&0x0000_0003u32.to_be_bytes());
    frame.extend_from_slice(&SequenceNumber::new(1, 1_206_120_000, 1).to_bytes());
    raw.stream.write_all(&frame).await.unwrap();
    let mut rest = Vec::new();
    let closed = tokio::time::timeout(WAIT, raw.stream.read_to_end(&mut rest)).await;
    assert!(closed.is_ok(), "the server closes a stream it cannot frame");
    let reason = tokio::time::timeout(WAIT, async {
        loop {
            if let Some(reason) = server.peer.closed.lock().unwrap().first().cloned() {
                return reason;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .unwrap();
    assert!(matches!(reason, CloseReason::Protocol(_)), "{reason:?}");
    server.stop().await;
}

#[tokio::test]
async fn a_client_kept_open_binds_again_as_soon_as_it_idles_out() {
    let server = Server::start(ServerConfig::default(), Peer::default()).await;
    let (shutdown, tracker) = (CancellationToken::new(), TaskTracker::new());
    let mut config = client_config(server.addr, LoginType::SpToSmg);
    config.inactivity_timeout = Duration::from_millis(200);
    config.keep_open = true;
    let (_client, mut events) = Client::start(config, shutdown.clone(), &tracker);
    expect_up(&mut events).await;
    match next_event(&mut events).await {
        ClientEvent::Down { reason } => assert_eq!(reason, CloseReason::Inactivity),
        other => panic!("expected an idle Down, got {other:?}"),
    }
    expect_up(&mut events).await;
    assert_eq!(server.peer.binds.lock().unwrap().len(), 2);
    shutdown.cancel();
    server.stop().await;
}
