#![allow(clippy::unwrap_used, dead_code)]
//! Helpers for the socket tests: a small gateway `Handler`, a raw SMGP peer that writes
//! exactly the bytes a test wants, PDU builders, and bounded waits.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use tern_smgp::codec::{Deliver, Login, LoginResp, Submit, SubmitResp};
use tern_smgp::net::{
    serve, ClientConfig, CloseReason, Handler, LoginRequest, ServerConfig, SessionEvent,
    SessionHandle, Smgp,
};
use tern_smgp::{auth, status, Body, Decoder, MsgId, Pdu, Report};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

pub const SP: &str = "SP000001";
pub const SECRET: &str = "s3cret";
pub const WAIT: Duration = Duration::from_secs(5);

/// The MsgID the gateway gives its `n`th accepted Submit.
pub fn msg_id(n: u8) -> MsgId {
    MsgId([0, 0, 0, 0, 0, 0, 0, 0, 0, n])
}

/// A gateway that knows one SP, `SP` with `SECRET`. It answers Submits with MsgIDs 1, 2,
/// ... unless `hold` is set, in which case it keeps them unanswered.
#[derive(Default)]
pub struct Gateway {
    pub logins: Mutex<Vec<LoginRequest>>,
    pub sessions: Mutex<Vec<SessionHandle>>,
    pub closed: Mutex<Vec<CloseReason>>,
    pub held: Mutex<Vec<Pdu>>,
    pub hold: bool,
    pub next_id: Mutex<u8>,
}

impl Handler<Smgp> for Gateway {
    type Grant = ();

    async fn login(&self, request: LoginRequest) -> Result<((), String), u32> {
        let known = request.client_id == SP;
        self.logins.lock().unwrap().push(request);
        if known {
            Ok(((), SECRET.into()))
        } else {
            Err(status::AUTH_FAILED)
        }
    }

    fn session(
        self: &Arc<Self>,
        _: (),
        _login: LoginRequest,
        handle: SessionHandle,
        mut events: mpsc::Receiver<SessionEvent>,
    ) {
        self.sessions.lock().unwrap().push(handle.clone());
        let gateway = self.clone();
        tokio::spawn(async move {
            while let Some(event) = events.recv().await {
                match event {
                    SessionEvent::Request(pdu) if gateway.hold => {
                        gateway.held.lock().unwrap().push(pdu)
                    }
                    SessionEvent::Request(pdu) => {
                        let n = {
                            let mut next = gateway.next_id.lock().unwrap();
                            *next += 1;
                            *next
                        };
                        handle.respond(Pdu {
                            sequence_id: pdu.sequence_id,
                            body: Body::SubmitResp(SubmitResp {
                                msg_id: msg_id(n),
                                status: 0,
                            }),
                        });
                    }
                    SessionEvent::LateResponse(_) => {}
                    SessionEvent::Closed { reason } => {
                        gateway.closed.lock().unwrap().push(reason);
                        break;
                    }
                }
            }
        });
    }
}

pub struct Server {
    pub addr: SocketAddr,
    pub gateway: Arc<Gateway>,
    pub shutdown: CancellationToken,
    pub tracker: TaskTracker,
}

impl Server {
    pub async fn start(config: ServerConfig, gateway: Gateway) -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let gateway = Arc::new(gateway);
        let shutdown = CancellationToken::new();
        let tracker = TaskTracker::new();
        tokio::spawn(serve(
            listener,
            Arc::new(config),
            gateway.clone(),
            shutdown.clone(),
            tracker.clone(),
        ));
        Server {
            addr,
            gateway,
            shutdown,
            tracker,
        }
    }

    /// Shuts down and waits (bounded) for every session to end.
    pub async fn stop(&self) {
        self.shutdown.cancel();
        self.tracker.close();
        tokio::time::timeout(WAIT, self.tracker.wait())
            .await
            .expect("sessions end within 5 s of shutdown");
    }

    pub fn session(&self) -> SessionHandle {
        self.gateway
            .sessions
            .lock()
            .unwrap()
            .last()
            .cloned()
            .unwrap()
    }
}

pub fn client_config(addr: SocketAddr) -> ClientConfig {
    let mut config = ClientConfig::new("test", "127.0.0.1", addr.port());
    config.client_id = SP.into();
    config.secret = SECRET.into();
    config.reconnect_min = Duration::from_millis(50);
    config.reconnect_max = Duration::from_millis(200);
    config
}

/// Polls `condition` every 10 ms until it holds; fails the test after 5 s.
pub async fn eventually(what: &str, mut condition: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + WAIT;
    while !condition() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

pub fn submit(dest: &str, text: &str) -> Body {
    Body::Submit(Submit {
        msg_type: 6,
        need_report: 1,
        priority: 0,
        service_id: "TEST".into(),
        fee_type: "01".into(),
        fee_code: "000000".into(),
        fixed_fee: "000000".into(),
        msg_format: 15,
        valid_time: String::new(),
        at_time: String::new(),
        src_term_id: "10690001".into(),
        charge_term_id: String::new(),
        dest_term_ids: vec![dest.into()],
        msg_content: Bytes::copy_from_slice(text.as_bytes()),
        reserve: [0; 8],
        tlvs: Vec::new(),
    })
}

/// A status report Deliver for the Submit that got `id`.
pub fn report(id: MsgId) -> Body {
    let content = Report {
        msg_id: id,
        sub: "001".into(),
        dlvrd: "001".into(),
        submit_date: "2401011200".into(),
        done_date: "2401011201".into(),
        stat: "DELIVRD".into(),
        err: "000".into(),
        text: Bytes::new(),
    }
    .encode()
    .unwrap();
    Body::Deliver(Deliver {
        msg_id: MsgId([9; 10]),
        is_report: 1,
        msg_format: 0,
        recv_time: "20240101120100".into(),
        src_term_id: "13800138000".into(),
        dest_term_id: "10690001".into(),
        msg_content: content,
        reserve: [0; 8],
        tlvs: Vec::new(),
    })
}

/// An SMGP peer driven byte by byte by the test.
pub struct Raw {
    pub stream: TcpStream,
    rbuf: BytesMut,
    decoder: Decoder,
}

impl Raw {
    pub async fn open(addr: SocketAddr) -> Raw {
        Raw {
            stream: TcpStream::connect(addr).await.unwrap(),
            rbuf: BytesMut::new(),
            decoder: Decoder::new(64 * 1024),
        }
    }

    /// A Login for `SP` signed with `secret` at `timestamp`, version octet `version`.
    pub fn login_pdu(secret: &str, timestamp: u32, version: u8) -> Pdu {
        Pdu {
            sequence_id: 1,
            body: Body::Login(Login {
                client_id: SP.into(),
                authenticator_client: auth::authenticator_client(SP, secret.as_bytes(), timestamp),
                login_mode: 2,
                timestamp,
                client_version: version,
            }),
        }
    }

    /// Opens a connection and logs in; returns the Login_Resp.
    pub async fn logged_in(addr: SocketAddr, timestamp: u32) -> (Raw, LoginResp) {
        let mut raw = Raw::open(addr).await;
        raw.send(&Raw::login_pdu(SECRET, timestamp, tern_smgp::VERSION))
            .await;
        let resp = raw.recv().await.expect("a Login_Resp");
        let Body::LoginResp(resp) = resp.body else {
            panic!("expected Login_Resp, got {resp:?}");
        };
        (raw, resp)
    }

    pub async fn send(&mut self, pdu: &Pdu) {
        let mut buf = BytesMut::new();
        pdu.encode(&mut buf).unwrap();
        self.stream.write_all(&buf).await.unwrap();
    }

    pub async fn send_bytes(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).await.unwrap();
    }

    /// The next PDU; `None` once the server closed the connection. Fails after 5 s.
    pub async fn recv(&mut self) -> Option<Pdu> {
        tokio::time::timeout(WAIT, async {
            loop {
                if let Some(pdu) = self.decoder.decode(&mut self.rbuf).unwrap() {
                    return Some(pdu);
                }
                match self.stream.read_buf(&mut self.rbuf).await {
                    Ok(0) | Err(_) => return None,
                    Ok(_) => {}
                }
            }
        })
        .await
        .expect("a PDU or the close within 5 s")
    }
}

pub fn now_timestamp() -> u32 {
    auth::timestamp_now()
}

pub fn timestamp_ago(seconds: i64) -> u32 {
    auth::timestamp_from_unix(tern_cn::time::unix_now() - seconds)
}
