#![allow(clippy::unwrap_used)]
//! The SMPP server and client against each other over real sockets on 127.0.0.1: plain TCP,
//! TLS, the PROXY protocol, a transmitter/receiver pair, reconnection, and shutdown.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tern_smpp::net::{
    serve, BindMode, BindRequest, Client, ClientConfig, ClientEvent, Handler, ServerConfig,
    SessionEvent, SessionHandle,
};
use tern_smpp::rusmpp::pdus::{DeliverSm, DeliverSmResp, SubmitSm, SubmitSmResp};
use tern_smpp::rusmpp::values::EsmClass;
use tern_smpp::session::{c_octet, BindKind};
use tern_smpp::{Command, CommandStatus, Pdu};
use tern_transport::tls;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// A tiny SMSC: accepts `demo`/`demo`, answers each submit with an id and, on a receiving
/// bind of the same server, sends a deliver_sm for it.
#[derive(Default)]
struct Smsc {
    binds: Mutex<Vec<BindRequest>>,
    receivers: Mutex<Vec<SessionHandle>>,
    next_id: Mutex<u64>,
}

impl Handler for Smsc {
    type Grant = ();

    async fn bind(&self, request: BindRequest) -> Result<((), String), CommandStatus> {
        let ok = request.system_id == "demo" && request.password == "demo";
        self.binds.lock().unwrap().push(request);
        if ok {
            Ok(((), "smsc".into()))
        } else {
            Err(CommandStatus::EsmeRinvpaswd)
        }
    }

    fn session(
        self: &Arc<Self>,
        _: (),
        kind: BindKind,
        handle: SessionHandle,
        mut events: mpsc::Receiver<SessionEvent>,
    ) {
        if kind.can_receive() {
            self.receivers.lock().unwrap().push(handle.clone());
        }
        let smsc = self.clone();
        tokio::spawn(async move {
            while let Some(SessionEvent::Request(command)) = events.recv().await {
                let id = {
                    let mut next = smsc.next_id.lock().unwrap();
                    *next += 1;
                    *next
                };
                let resp = SubmitSmResp::builder()
                    .message_id(c_octet(&id.to_string()))
                    .build();
                handle.respond(Command::new(
                    CommandStatus::EsmeRok,
                    command.sequence_number(),
                    resp,
                ));
                let receiver = smsc.receivers.lock().unwrap().last().cloned();
                if let Some(receiver) = receiver {
                    let deliver = DeliverSm::builder()
                        .esm_class(EsmClass::from(0x04))
                        .short_message(
                            tern_smpp::rusmpp::types::OctetString::from_slice(
                                format!("id:{id} stat:DELIVRD").as_bytes(),
                            )
                            .unwrap(),
                        )
                        .build();
                    tokio::spawn(async move {
                        let _ = receiver.request(Pdu::from(deliver)).await;
                    });
                }
            }
        });
    }
}

struct Server {
    addr: SocketAddr,
    smsc: Arc<Smsc>,
    shutdown: CancellationToken,
    tracker: TaskTracker,
}

async fn start_server(
    config: ServerConfig,
    acceptor: Option<tls::Acceptor>,
    listener: Option<TcpListener>,
) -> Server {
    let listener = match listener {
        Some(l) => l,
        None => TcpListener::bind("127.0.0.1:0").await.unwrap(),
    };
    let addr = listener.local_addr().unwrap();
    let smsc = Arc::new(Smsc::default());
    let shutdown = CancellationToken::new();
    let tracker = TaskTracker::new();
    tokio::spawn(serve(
        listener,
        acceptor,
        Arc::new(config),
        smsc.clone(),
        shutdown.clone(),
        tracker.clone(),
    ));
    Server {
        addr,
        smsc,
        shutdown,
        tracker,
    }
}

fn client_config(addr: SocketAddr) -> ClientConfig {
    let mut config = ClientConfig::new("test", "127.0.0.1", addr.port());
    config.system_id = "demo".into();
    config.password = "demo".into();
    config.reconnect_min = Duration::from_millis(50);
    config.reconnect_max = Duration::from_millis(200);
    config
}

fn submit() -> Pdu {
    Pdu::from(
        SubmitSm::builder()
            .destination_addr(c_octet("4915112345678"))
            .build(),
    )
}

async fn next_receipt(events: &mut mpsc::Receiver<ClientEvent>) -> Command {
    loop {
        let event = tokio::time::timeout(Duration::from_secs(5), events.recv())
            .await
            .expect("a receipt within 5 s")
            .expect("link events");
        if let ClientEvent::Request { command, handle } = event {
            handle.respond(Command::new(
                CommandStatus::EsmeRok,
                command.sequence_number(),
                DeliverSmResp::default(),
            ));
            return command;
        }
    }
}

/// Answers every deliver_sm the link receives, as a well-behaved ESME does.
fn answer_receipts(mut events: mpsc::Receiver<ClientEvent>) {
    tokio::spawn(async move {
        while let Some(event) = events.recv().await {
            if let ClientEvent::Request { command, handle } = event {
                handle.respond(Command::new(
                    CommandStatus::EsmeRok,
                    command.sequence_number(),
                    DeliverSmResp::default(),
                ));
            }
        }
    });
}

#[tokio::test]
async fn client_submits_over_tcp_and_gets_the_receipt() {
    let server = start_server(ServerConfig::default(), None, None).await;
    let tracker = TaskTracker::new();
    let stop = CancellationToken::new();
    let (client, mut events) = Client::start(client_config(server.addr), stop.clone(), &tracker);
    let response = client.request(submit()).await.unwrap();
    assert_eq!(response.status(), CommandStatus::EsmeRok);
    let Some(Pdu::SubmitSmResp(resp)) = response.pdu() else {
        panic!("not a submit_sm_resp: {response:?}")
    };
    assert_eq!(resp.message_id().as_str(), "1");
    let receipt = next_receipt(&mut events).await;
    let Some(Pdu::DeliverSm(deliver)) = receipt.pdu() else {
        panic!("not a deliver_sm")
    };
    assert_eq!(deliver.short_message().as_ref(), b"id:1 stat:DELIVRD");
    stop.cancel();
    tracker.close();
    tokio::time::timeout(Duration::from_secs(5), tracker.wait())
        .await
        .unwrap();
    server.shutdown.cancel();
}

#[tokio::test]
async fn wrong_password_is_refused_and_the_link_stays_down() {
    let server = start_server(ServerConfig::default(), None, None).await;
    let tracker = TaskTracker::new();
    let stop = CancellationToken::new();
    let mut config = client_config(server.addr);
    config.password = "nope".into();
    config.ready_timeout = Duration::from_millis(300);
    let (client, _events) = Client::start(config, stop.clone(), &tracker);
    assert!(client.request(submit()).await.is_err());
    assert!(server
        .smsc
        .binds
        .lock()
        .unwrap()
        .iter()
        .any(|b| b.password == "nope"));
    stop.cancel();
}

#[tokio::test]
async fn transmitter_receiver_pair_carries_submits_and_receipts_on_separate_binds() {
    let server = start_server(ServerConfig::default(), None, None).await;
    let tracker = TaskTracker::new();
    let stop = CancellationToken::new();
    let mut config = client_config(server.addr);
    config.bind = BindMode::TransmitterReceiver;
    let (client, mut events) = Client::start(config, stop.clone(), &tracker);
    // Wait for both binds before submitting, so the receipt has a receiver.
    let mut up = 0;
    while up < 2 {
        match tokio::time::timeout(Duration::from_secs(5), events.recv())
            .await
            .unwrap()
        {
            Some(ClientEvent::Up { .. }) => up += 1,
            other => panic!("unexpected {other:?}"),
        }
    }
    let kinds: Vec<BindKind> = server
        .smsc
        .binds
        .lock()
        .unwrap()
        .iter()
        .map(|b| b.kind)
        .collect();
    assert!(kinds.contains(&BindKind::Transmitter) && kinds.contains(&BindKind::Receiver));
    assert_eq!(
        client.request(submit()).await.unwrap().status(),
        CommandStatus::EsmeRok
    );
    next_receipt(&mut events).await;
    stop.cancel();
}

#[tokio::test]
async fn client_reconnects_after_the_server_restarts() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = start_server(ServerConfig::default(), None, Some(listener)).await;
    let tracker = TaskTracker::new();
    let stop = CancellationToken::new();
    let (client, events) = Client::start(client_config(addr), stop.clone(), &tracker);
    answer_receipts(events);
    assert_eq!(
        client.request(submit()).await.unwrap().status(),
        CommandStatus::EsmeRok
    );
    // The server drains: its receipt is answered, then it unbinds.
    server.shutdown.cancel();
    server.tracker.close();
    tokio::time::timeout(Duration::from_secs(5), server.tracker.wait())
        .await
        .unwrap();
    // Same port, new server.
    let listener = TcpListener::bind(addr).await.unwrap();
    let _server = start_server(ServerConfig::default(), None, Some(listener)).await;
    let mut ok = false;
    for _ in 0..50 {
        if let Ok(r) = client.request(submit()).await {
            ok = r.status() == CommandStatus::EsmeRok;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(ok, "the link came back after the restart");
    stop.cancel();
}

#[tokio::test]
async fn tls_listener_and_tls_client_talk() {
    let dir = std::env::temp_dir().join(format!("tern-tls-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
    let cert_path = dir.join("cert.pem");
    let key_path = dir.join("key.pem");
    std::fs::write(&cert_path, cert.cert.pem()).unwrap();
    std::fs::write(&key_path, cert.key_pair.serialize_pem()).unwrap();
    let acceptor = tls::Acceptor::from_pem_files(&cert_path, &key_path).unwrap();
    let server = start_server(ServerConfig::default(), Some(acceptor), None).await;
    let tracker = TaskTracker::new();
    let stop = CancellationToken::new();
    let mut config = client_config(server.addr);
    config.host = "localhost".into();
    config.tls = Some(tls::Connector::trusting_pem_file(&cert_path).unwrap());
    let (client, _events) = Client::start(config, stop.clone(), &tracker);
    assert_eq!(
        client.request(submit()).await.unwrap().status(),
        CommandStatus::EsmeRok
    );
    assert!(server.smsc.binds.lock().unwrap()[0].tls);
    stop.cancel();
    let _ = std::fs::remove_dir_all(dir);
}

fn bind_bytes(seq: u32) -> Vec<u8> {
    let mut body = Vec::new();
    body.extend_from_slice(b"demo\0demo\0\0");
    body.extend_from_slice(&[0x34, 0, 0, 0]);
    let mut pdu = Vec::new();
    pdu.extend_from_slice(&(16 + body.len() as u32).to_be_bytes());
    pdu.extend_from_slice(&9u32.to_be_bytes());
    pdu.extend_from_slice(&0u32.to_be_bytes());
    pdu.extend_from_slice(&seq.to_be_bytes());
    pdu.extend_from_slice(&body);
    pdu
}

async fn read_header(stream: &mut TcpStream) -> [u32; 4] {
    let mut header = [0u8; 16];
    tokio::time::timeout(Duration::from_secs(5), stream.read_exact(&mut header))
        .await
        .unwrap()
        .unwrap();
    let word = |i: usize| u32::from_be_bytes(header[i * 4..i * 4 + 4].try_into().unwrap());
    let length = word(0) as usize;
    let mut rest = vec![0u8; length - 16];
    stream.read_exact(&mut rest).await.unwrap();
    [word(0), word(1), word(2), word(3)]
}

#[tokio::test]
async fn proxy_protocol_header_gives_the_client_address() {
    let config = ServerConfig {
        proxy_protocol: true,
        ..ServerConfig::default()
    };
    let server = start_server(config, None, None).await;
    let mut stream = TcpStream::connect(server.addr).await.unwrap();
    let mut bytes = b"PROXY TCP4 203.0.113.9 127.0.0.1 51000 2775\r\n".to_vec();
    bytes.extend_from_slice(&bind_bytes(1));
    stream.write_all(&bytes).await.unwrap();
    let [_, id, status, seq] = read_header(&mut stream).await;
    assert_eq!((id, status, seq), (0x8000_0009, 0, 1));
    let peer = server.smsc.binds.lock().unwrap()[0].peer;
    assert_eq!(peer, "203.0.113.9:51000".parse().unwrap());
}

#[tokio::test]
async fn a_connection_without_the_required_proxy_header_is_closed() {
    let config = ServerConfig {
        proxy_protocol: true,
        ..ServerConfig::default()
    };
    let server = start_server(config, None, None).await;
    let mut stream = TcpStream::connect(server.addr).await.unwrap();
    stream.write_all(&bind_bytes(1)).await.unwrap();
    let mut buf = [0u8; 16];
    let read = tokio::time::timeout(Duration::from_secs(5), stream.read(&mut buf))
        .await
        .unwrap();
    assert!(matches!(read, Ok(0) | Err(_)), "closed without an answer");
    assert!(server.smsc.binds.lock().unwrap().is_empty());
}

#[tokio::test]
async fn shutdown_unbinds_bound_sessions() {
    let server = start_server(ServerConfig::default(), None, None).await;
    let mut stream = TcpStream::connect(server.addr).await.unwrap();
    stream.write_all(&bind_bytes(1)).await.unwrap();
    read_header(&mut stream).await;
    server.shutdown.cancel();
    let [_, id, _, seq] = read_header(&mut stream).await;
    assert_eq!(id, 0x0000_0006, "unbind");
    // Answer the unbind; the server then closes.
    let mut resp = Vec::new();
    resp.extend_from_slice(&16u32.to_be_bytes());
    resp.extend_from_slice(&0x8000_0006u32.to_be_bytes());
    resp.extend_from_slice(&0u32.to_be_bytes());
    resp.extend_from_slice(&seq.to_be_bytes());
    stream.write_all(&resp).await.unwrap();
    server.tracker.close();
    tokio::time::timeout(Duration::from_secs(5), server.tracker.wait())
        .await
        .unwrap();
}
