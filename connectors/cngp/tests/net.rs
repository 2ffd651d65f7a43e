#![allow(clippy::unwrap_used)]
//! The CNGP server and client against each other over real sockets on 127.0.0.1, and a
//! raw peer for what our client never sends. CNGP carries a response's status in the
//! header, so the raw peer checks `Pdu::status` where SMGP's tests check a body field.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use tern_cngp::codec::{Deliver, DeliverResp, Login, Submit, SubmitResp, HEADER_LEN};
use tern_cngp::net::{
    serve, Client, ClientConfig, ClientEvent, CloseReason, Cngp, Handler, LoginRequest,
    ServerConfig, SessionEvent, SessionHandle,
};
use tern_cngp::{auth, status, Body, Decoder, FrameError, MsgId, Pdu, Report, Tlvs};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

const SP: &str = "SP00000001";
const SECRET: &str = "s3cret";
const WAIT: Duration = Duration::from_secs(5);

/// Knows `SP` with `SECRET`; answers every Submit with MsgID `[0, .., n]`, or holds them.
#[derive(Default)]
struct Operator {
    sessions: Mutex<Vec<SessionHandle>>,
    closed: Mutex<Vec<CloseReason>>,
    held: Mutex<Vec<Pdu>>,
    hold: bool,
}

fn nth_id(n: u8) -> MsgId {
    let mut octets = [0; 10];
    octets[9] = n;
    MsgId(octets)
}

impl Handler<Cngp> for Operator {
    type Grant = ();

    async fn login(&self, request: LoginRequest) -> Result<((), String), u32> {
        match request.client_id.as_str() {
            SP => Ok(((), SECRET.into())),
            _ => Err(status::AUTH_FAILED),
        }
    }

    fn session(
        self: &Arc<Self>,
        _: (),
        _: LoginRequest,
        handle: SessionHandle,
        mut events: mpsc::Receiver<SessionEvent>,
    ) {
        self.sessions.lock().unwrap().push(handle.clone());
        let operator = self.clone();
        tokio::spawn(async move {
            let mut accepted = 0;
            while let Some(event) = events.recv().await {
                let pdu = match event {
                    SessionEvent::Request(pdu) if operator.hold => {
                        operator.held.lock().unwrap().push(pdu);
                        continue;
                    }
                    SessionEvent::Request(pdu) => pdu,
                    SessionEvent::LateResponse(_) => continue,
                    SessionEvent::Closed { reason } => {
                        operator.closed.lock().unwrap().push(reason);
                        break;
                    }
                };
                accepted += 1;
                let body = Body::SubmitResp(SubmitResp {
                    msg_id: nth_id(accepted),
                    tlvs: Tlvs::new(),
                });
                handle.respond(Pdu::request(pdu.sequence_id, body));
            }
        });
    }
}

struct Listening {
    addr: SocketAddr,
    operator: Arc<Operator>,
    shutdown: CancellationToken,
    tracker: TaskTracker,
}

async fn listen(config: ServerConfig, operator: Operator) -> Listening {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let operator = Arc::new(operator);
    let (shutdown, tracker) = (CancellationToken::new(), TaskTracker::new());
    let config = Arc::new(config);
    let serving = serve(
        listener,
        config,
        operator.clone(),
        shutdown.clone(),
        tracker.clone(),
    );
    tokio::spawn(serving);
    Listening {
        addr,
        operator,
        shutdown,
        tracker,
    }
}

impl Listening {
    async fn stop(&self) {
        self.shutdown.cancel();
        self.tracker.close();
        tokio::time::timeout(WAIT, self.tracker.wait())
            .await
            .unwrap();
    }

    async fn last_session(&self) -> SessionHandle {
        for _ in 0..500 {
            if let Some(handle) = self.operator.sessions.lock().unwrap().last() {
                return handle.clone();
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("no session within 5 s");
    }
}

struct Link {
    client: Client,
    events: mpsc::Receiver<ClientEvent>,
    shutdown: CancellationToken,
    tracker: TaskTracker,
}

impl Link {
    fn start(addr: SocketAddr, secret: &str) -> Link {
        let mut config = ClientConfig::new("cngp-test", "127.0.0.1", addr.port());
        config.client_id = SP.into();
        config.secret = secret.into();
        config.reconnect_min = Duration::from_millis(50);
        config.reconnect_max = Duration::from_millis(200);
        let (shutdown, tracker) = (CancellationToken::new(), TaskTracker::new());
        let (client, events) = Client::start(config, shutdown.clone(), &tracker);
        Link {
            client,
            events,
            shutdown,
            tracker,
        }
    }

    async fn event(&mut self) -> ClientEvent {
        let next = tokio::time::timeout(WAIT, self.events.recv()).await;
        next.unwrap().unwrap()
    }

    async fn stop(self) {
        self.shutdown.cancel();
        self.tracker.close();
        tokio::time::timeout(WAIT, self.tracker.wait())
            .await
            .unwrap();
    }
}

fn submit(text: &str) -> Body {
    Body::Submit(Submit {
        sp_id: SP.into(),
        sub_type: 2,
        need_report: 1,
        priority: 1,
        service_id: "TEST".into(),
        fee_type: "01".into(),
        fee_user_type: 0,
        fee_code: "000000".into(),
        msg_format: 15,
        valid_time: String::new(),
        at_time: String::new(),
        src_term_id: "10690001".into(),
        charge_term_id: String::new(),
        dest_term_ids: vec!["13300000000".into()],
        msg_content: Bytes::copy_from_slice(text.as_bytes()),
        tlvs: Tlvs::new(),
    })
}

/// A peer that writes the PDUs and octets a test names.
struct Peer {
    stream: TcpStream,
    rbuf: BytesMut,
    decoder: Decoder,
}

impl Peer {
    async fn login(addr: SocketAddr, timestamp: u32, version: u8) -> (Peer, Pdu) {
        let mut peer = Peer {
            stream: TcpStream::connect(addr).await.unwrap(),
            rbuf: BytesMut::new(),
            decoder: Decoder::new(64 * 1024),
        };
        let login = Login {
            version,
            ..auth::login(SP, SECRET.as_bytes(), 2, timestamp)
        };
        peer.send(&Pdu::request(1, Body::Login(login))).await;
        let resp = peer.recv().await.unwrap();
        (peer, resp)
    }

    async fn send(&mut self, pdu: &Pdu) {
        let mut buf = BytesMut::new();
        pdu.encode(&mut buf).unwrap();
        self.stream.write_all(&buf).await.unwrap();
    }

    /// The next PDU; an answer of an unknown command comes as `Body::Bare`.
    async fn recv(&mut self) -> Option<Pdu> {
        let read = async {
            loop {
                let status = self
                    .rbuf
                    .get(8..12)
                    .map(|w| u32::from_be_bytes(w.try_into().unwrap()));
                match self.decoder.decode(&mut self.rbuf) {
                    Ok(Some(pdu)) => return Some(pdu),
                    Ok(None) => {}
                    Err(FrameError::UnknownCommand {
                        command_id,
                        sequence_id,
                    }) => {
                        return Some(Pdu {
                            sequence_id,
                            status: status.unwrap(),
                            body: Body::Bare { command_id },
                        })
                    }
                    Err(error) => panic!("{error}"),
                }
                if self.stream.read_buf(&mut self.rbuf).await.unwrap_or(0) == 0 {
                    return None;
                }
            }
        };
        tokio::time::timeout(WAIT, read).await.unwrap()
    }
}

#[tokio::test]
async fn our_client_logs_in_submits_and_takes_a_report() {
    let server = listen(ServerConfig::default(), Operator::default()).await;
    let mut link = Link::start(server.addr, SECRET);
    assert!(matches!(link.event().await, ClientEvent::Up));
    let resp = link.client.request(submit("hello")).await.unwrap();
    assert_eq!(resp.status, status::OK);
    let Body::SubmitResp(accepted) = resp.body else {
        panic!("expected Submit_Resp, got {resp:?}");
    };
    assert_eq!(accepted.msg_id, nth_id(1));

    let report = Report {
        msg_id: accepted.msg_id,
        sub: "001".into(),
        dlvrd: "001".into(),
        submit_date: "2401011200".into(),
        done_date: "2401011201".into(),
        stat: "DELIVRD".into(),
        err: "000".into(),
        txt: Bytes::new(),
    };
    let deliver = Body::Deliver(Deliver {
        msg_id: MsgId([7; 10]),
        is_report: 1,
        msg_format: 0,
        recv_time: "20240101120100".into(),
        src_term_id: "13300000000".into(),
        dest_term_id: "10690001".into(),
        msg_content: report.encode().unwrap(),
        tlvs: Tlvs::new(),
    });
    let session = server.last_session().await;
    assert_eq!(session.version(), tern_cngp::codec::VERSION);
    let sent = tokio::spawn(async move { session.request(deliver).await });
    let ClientEvent::Request { pdu, handle } = link.event().await else {
        panic!("expected the Deliver");
    };
    let Body::Deliver(d) = &pdu.body else {
        panic!("expected a Deliver, got {pdu:?}");
    };
    assert_eq!(d.report().unwrap().unwrap().msg_id, nth_id(1));
    let answer = Body::DeliverResp(DeliverResp {
        msg_id: d.msg_id,
        tlvs: Tlvs::new(),
    });
    assert!(handle.respond(Pdu::request(pdu.sequence_id, answer)));
    let answered = sent.await.unwrap().unwrap();
    assert_eq!(answered.status, status::OK);
    link.stop().await;
    server.stop().await;
}

#[tokio::test]
async fn a_wrong_secret_gets_status_21_in_the_header() {
    let server = listen(ServerConfig::default(), Operator::default()).await;
    let mut link = Link::start(server.addr, "not-it");
    match link.event().await {
        ClientEvent::Down { reason } => assert_eq!(reason, CloseReason::LoginRefused(21)),
        other => panic!("expected a refused Login, got {other:?}"),
    }
    link.stop().await;
    let stale = auth::timestamp_from_unix(tern_cn::time::unix_now() - 7200);
    let (_peer, resp) = Peer::login(server.addr, stale, 0x20).await;
    assert_eq!(resp.status, status::AUTH_FAILED);
    let (_peer, resp) = Peer::login(server.addr, auth::timestamp_now(), 0x30).await;
    assert_eq!(resp.status, status::VERSION_TOO_HIGH);
    server.stop().await;
}

#[tokio::test]
async fn beyond_the_window_a_submit_is_answered_busy() {
    let config = ServerConfig {
        window: 1,
        ..ServerConfig::default()
    };
    let operator = Operator {
        hold: true,
        ..Operator::default()
    };
    let server = listen(config, operator).await;
    let (mut peer, resp) = Peer::login(server.addr, auth::timestamp_now(), 0x20).await;
    assert_eq!(resp.status, status::OK);
    peer.send(&Pdu::request(2, submit("one"))).await;
    peer.send(&Pdu::request(3, submit("two"))).await;
    let busy = peer.recv().await.unwrap();
    assert_eq!((busy.sequence_id, busy.status), (3, status::SYSTEM_BUSY));
    assert!(matches!(busy.body, Body::SubmitResp(_)));
    drop(peer);
    server.stop().await;
}

#[tokio::test]
async fn garbled_and_unknown_requests_are_answered_and_the_session_goes_on() {
    let config = ServerConfig {
        active_test_interval: Duration::from_millis(100),
        ..ServerConfig::default()
    };
    let server = listen(config, Operator::default()).await;
    let (mut peer, _) = Peer::login(server.addr, auth::timestamp_now(), 0x20).await;
    let mut frame = BytesMut::new();
    Pdu::request(2, submit("cut")).encode(&mut frame).unwrap();
    frame.truncate(HEADER_LEN + 12);
    let length = u32::try_from(frame.len()).unwrap();
    frame[..4].copy_from_slice(&length.to_be_bytes());
    let mut unknown = Vec::new();
    for word in [16u32, 0x0000_0042, 0, 3] {
        unknown.extend_from_slice(&word.to_be_bytes());
    }
    peer.stream.write_all(&frame).await.unwrap();
    peer.stream.write_all(&unknown).await.unwrap();
    let mut answers = Vec::new();
    while answers.len() < 2 {
        let pdu = peer.recv().await.unwrap();
        if pdu.body == Body::ActiveTest {
            peer.send(&Pdu::request(pdu.sequence_id, Body::ActiveTestResp))
                .await;
            continue;
        }
        answers.push((pdu.sequence_id, pdu.status, pdu.body.command_id()));
    }
    assert_eq!(
        answers,
        [
            (2, status::BAD_STRUCTURE, 0x8000_0002),
            (3, status::BAD_COMMAND, 0x8000_0042)
        ]
    );
    peer.send(&Pdu::request(4, submit("whole"))).await;
    let accepted = loop {
        let pdu = peer.recv().await.unwrap();
        if pdu.body != Body::ActiveTest {
            break pdu;
        }
        peer.send(&Pdu::request(pdu.sequence_id, Body::ActiveTestResp))
            .await;
    };
    assert_eq!((accepted.sequence_id, accepted.status), (4, status::OK));
    drop(peer);
    server.stop().await;
}

#[tokio::test]
async fn exit_closes_both_sides_and_the_link_logs_in_again() {
    let server = listen(ServerConfig::default(), Operator::default()).await;
    let mut link = Link::start(server.addr, SECRET);
    assert!(matches!(link.event().await, ClientEvent::Up));
    server.last_session().await.exit().await;
    match link.event().await {
        ClientEvent::Down { reason } => assert_eq!(reason, CloseReason::Exited),
        other => panic!("expected Down, got {other:?}"),
    }
    assert!(matches!(link.event().await, ClientEvent::Up));
    assert_eq!(
        server.operator.closed.lock().unwrap().as_slice(),
        [CloseReason::ByUs]
    );
    let resp = link.client.request(submit("again")).await.unwrap();
    assert_eq!(resp.status, status::OK);
    link.stop().await;
    server.stop().await;
}

#[tokio::test]
async fn an_unanswered_peer_gets_active_tests_then_is_closed() {
    let config = ServerConfig {
        active_test_interval: Duration::from_millis(50),
        inactivity_timeout: Duration::from_millis(250),
        ..ServerConfig::default()
    };
    let server = listen(config, Operator::default()).await;
    let (mut peer, _) = Peer::login(server.addr, auth::timestamp_now(), 0x20).await;
    let mut tests = 0;
    while let Some(pdu) = peer.recv().await {
        assert_eq!(pdu.body, Body::ActiveTest);
        tests += 1;
    }
    assert!(tests >= 1);
    server.stop().await;
    assert_eq!(
        server.operator.closed.lock().unwrap().as_slice(),
        [CloseReason::Inactivity]
    );
}
