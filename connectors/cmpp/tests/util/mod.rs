#![allow(clippy::unwrap_used, dead_code)]
//! Helpers for the socket tests: a small gateway `Handler`, a raw CMPP peer that writes
//! exactly the bytes a test wants, PDU builders, and bounded waits.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use tern_cmpp::codec::{Connect, ConnectResp, Deliver, Submit, SubmitResp};
use tern_cmpp::net::{
    serve, ClientConfig, CloseReason, ConnectRequest, Handler, ServerConfig, SessionEvent,
    SessionHandle,
};
use tern_cmpp::{auth, Body, Decoder, Pdu, Report, Version};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

pub const SP: &str = "900001";
pub const SECRET: &str = "s3cret";
pub const WAIT: Duration = Duration::from_secs(5);

/// A gateway that knows one SP, `SP` with `SECRET`. It answers SUBMITs with Msg_Ids 1, 2,
/// ... unless `hold` is set, in which case it keeps them unanswered.
#[derive(Default)]
pub struct Gateway {
    pub connects: Mutex<Vec<ConnectRequest>>,
    pub sessions: Mutex<Vec<SessionHandle>>,
    pub closed: Mutex<Vec<CloseReason>>,
    pub held: Mutex<Vec<Pdu>>,
    pub hold: bool,
    pub next_id: Mutex<u64>,
}

impl Handler for Gateway {
    type Grant = ();

    async fn connect(&self, request: ConnectRequest) -> Result<((), String), u32> {
        let known = request.source_addr == SP;
        self.connects.lock().unwrap().push(request);
        if known {
            Ok(((), SECRET.into()))
        } else {
            Err(tern_cmpp::result::BAD_SOURCE_ADDR)
        }
    }

    fn session(
        self: &Arc<Self>,
        _: (),
        _version: Version,
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
                        let msg_id = {
                            let mut next = gateway.next_id.lock().unwrap();
                            *next += 1;
                            *next
                        };
                        handle.respond(Pdu {
                            sequence_id: pdu.sequence_id,
                            body: Body::SubmitResp(SubmitResp { msg_id, result: 0 }),
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
        Server::on(listener, config, gateway)
    }

    pub fn on(listener: TcpListener, config: ServerConfig, gateway: Gateway) -> Server {
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

pub fn client_config(addr: SocketAddr, version: Version) -> ClientConfig {
    let mut config = ClientConfig::new("test", "127.0.0.1", addr.port());
    config.source_addr = SP.into();
    config.secret = SECRET.into();
    config.version = version;
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
        msg_src: SP.into(),
        fee_type: "01".into(),
        fee_code: "000000".into(),
        valid_time: String::new(),
        at_time: String::new(),
        src_id: "10690001".into(),
        dest_terminal_ids: vec![dest.into()],
        dest_terminal_type: 0,
        msg_content: Bytes::copy_from_slice(text.as_bytes()),
        link_id: String::new(),
    })
}

/// A status report DELIVER for the SUBMIT that got `msg_id`.
pub fn report(msg_id: u64, version: Version) -> Body {
    let content = Report {
        msg_id,
        stat: "DELIVRD".into(),
        submit_time: "2401011200".into(),
        done_time: "2401011201".into(),
        dest_terminal_id: "13800138000".into(),
        smsc_sequence: 7,
    }
    .encode(version)
    .unwrap();
    Body::Deliver(Deliver {
        msg_id: 0x0102_0304_0506_0708,
        dest_id: "10690001".into(),
        service_id: "TEST".into(),
        tp_pid: 0,
        tp_udhi: 0,
        msg_fmt: 0,
        src_terminal_id: "13800138000".into(),
        src_terminal_type: 0,
        registered_delivery: 1,
        msg_content: content,
        link_id: String::new(),
    })
}

/// A CMPP peer driven byte by byte by the test.
pub struct Raw {
    pub stream: TcpStream,
    rbuf: BytesMut,
    decoder: Decoder,
    pub version: Version,
}

impl Raw {
    pub async fn open(addr: SocketAddr, version: Version) -> Raw {
        Raw {
            stream: TcpStream::connect(addr).await.unwrap(),
            rbuf: BytesMut::new(),
            decoder: Decoder::new(version, 64 * 1024),
            version,
        }
    }

    /// A CONNECT for `SP` signed with `secret` at `timestamp`, version octet `version`.
    pub fn connect_pdu(secret: &str, timestamp: u32, version: u8) -> Pdu {
        Pdu {
            sequence_id: 1,
            body: Body::Connect(Connect {
                source_addr: SP.into(),
                authenticator_source: auth::authenticator_source(SP, secret.as_bytes(), timestamp),
                version,
                timestamp,
            }),
        }
    }

    /// Opens a connection and CONNECTs; returns the CONNECT_RESP.
    pub async fn connected(
        addr: SocketAddr,
        version: Version,
        timestamp: u32,
    ) -> (Raw, ConnectResp) {
        let mut raw = Raw::open(addr, version).await;
        raw.send(&Raw::connect_pdu(SECRET, timestamp, version.byte()))
            .await;
        let resp = raw.recv().await.expect("a CONNECT_RESP");
        let Body::ConnectResp(resp) = resp.body else {
            panic!("expected CONNECT_RESP, got {resp:?}");
        };
        (raw, resp)
    }

    pub async fn send(&mut self, pdu: &Pdu) {
        let mut buf = BytesMut::new();
        pdu.encode(self.version, &mut buf).unwrap();
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

    /// Reads until the server closes, answering ACTIVE_TEST if `answer` is set; returns
    /// what else arrived.
    pub async fn drain(&mut self) -> Vec<Pdu> {
        let mut seen = Vec::new();
        while let Some(pdu) = self.recv().await {
            seen.push(pdu);
        }
        seen
    }
}

pub fn now_timestamp() -> u32 {
    auth::timestamp_now()
}

pub fn timestamp_ago(seconds: i64) -> u32 {
    auth::timestamp_from_unix(tern_cmpp::time::unix_now() - seconds)
}
