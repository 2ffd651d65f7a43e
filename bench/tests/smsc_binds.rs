//! The simulator's bind limit, bind peaks, session log and stats endpoint, over real sockets
//! on 127.0.0.1 with a bare ESME on the frame codec (the link client would retry a refused
//! bind by itself). Every test is bounded in time.

// Test helpers: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used)]

use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use bytes::BytesMut;
use tern_bench::smsc::{SessionLog, Smsc, SmscConfig, SmscHandle, SmscStats};
use tern_smpp::codec::{self, Decoder, Inbound};
use tern_smpp::rusmpp::pdus::{BindReceiver, BindTransceiver, BindTransmitter, SubmitSm};
use tern_smpp::rusmpp::types::OctetString;
use tern_smpp::rusmpp::values::{InterfaceVersion, Npi, Ton};
use tern_smpp::session::{c_octet, BindKind};
use tern_smpp::{Command, CommandId, CommandStatus, Pdu};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const LIMIT: Duration = Duration::from_secs(30);

async fn bounded<T>(test: impl Future<Output = T>) -> T {
    tokio::time::timeout(LIMIT, test)
        .await
        .expect("the test finishes in time")
}

async fn smsc(max_binds: Option<u32>) -> SmscHandle {
    Smsc::start(SmscConfig {
        max_binds,
        ..SmscConfig::default()
    })
    .await
    .unwrap()
}

/// Polls `check` every 10 ms for up to 5 s; returns whether it came true.
async fn eventually(mut check: impl FnMut() -> bool) -> bool {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while tokio::time::Instant::now() < deadline {
        if check() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    check()
}

/// One bound SMPP session, strictly request after response.
struct Esme {
    stream: TcpStream,
    buffer: BytesMut,
    decoder: Decoder,
    sequence: u32,
}

impl Esme {
    async fn bind(
        smsc: &SmscHandle,
        kind: BindKind,
        system_id: &str,
    ) -> Result<Esme, CommandStatus> {
        let stream = TcpStream::connect(smsc.addr()).await.unwrap();
        let mut esme = Esme {
            stream,
            buffer: BytesMut::new(),
            decoder: Decoder::new(codec::DEFAULT_MAX_LEN),
            sequence: 0,
        };
        let (id, password, system_type, range) =
            (c_octet(system_id), c_octet("pw"), c_octet(""), c_octet(""));
        let (version, ton, npi) = (InterfaceVersion::Smpp3_4, Ton::Unknown, Npi::Unknown);
        let pdu = match kind {
            BindKind::Transmitter => Pdu::from(BindTransmitter::new(
                id,
                password,
                system_type,
                version,
                ton,
                npi,
                range,
            )),
            BindKind::Receiver => Pdu::from(BindReceiver::new(
                id,
                password,
                system_type,
                version,
                ton,
                npi,
                range,
            )),
            BindKind::Transceiver => Pdu::from(BindTransceiver::new(
                id,
                password,
                system_type,
                version,
                ton,
                npi,
                range,
            )),
        };
        let response = esme.request(pdu).await;
        match response.status() {
            CommandStatus::EsmeRok => Ok(esme),
            status => Err(status),
        }
    }

    fn local_addr(&self) -> SocketAddr {
        self.stream.local_addr().unwrap()
    }

    async fn write(&mut self, command: Command) {
        let mut out = BytesMut::new();
        codec::encode(&command, &mut out);
        self.stream.write_all(&out).await.unwrap();
    }

    /// Sends `pdu` and waits for its response, answering enquire_link meanwhile.
    async fn request(&mut self, pdu: Pdu) -> Command {
        self.sequence += 1;
        let sequence = self.sequence;
        self.write(Command::new(CommandStatus::EsmeRok, sequence, pdu))
            .await;
        loop {
            let command = match self.decoder.decode(&mut self.buffer).unwrap() {
                Some(Inbound::Command(command)) => command,
                Some(other) => panic!("a PDU the codec refused: {other:?}"),
                None => {
                    let read = self.stream.read_buf(&mut self.buffer).await.unwrap();
                    assert!(read > 0, "the SMSC closed the connection");
                    continue;
                }
            };
            if command.id() == CommandId::EnquireLink {
                let answer = Command::new(
                    CommandStatus::EsmeRok,
                    command.sequence_number(),
                    Pdu::EnquireLinkResp,
                );
                self.write(answer).await;
            } else if command.sequence_number() == sequence {
                return command;
            }
        }
    }

    async fn submit(&mut self) {
        let submit = SubmitSm::builder()
            .source_addr(c_octet("TernTest"))
            .dest_addr_ton(Ton::International)
            .dest_addr_npi(Npi::Isdn)
            .destination_addr(c_octet("491701234567"))
            .short_message(OctetString::from_vec(b"hello".to_vec()).unwrap())
            .build();
        let response = self.request(Pdu::from(submit)).await;
        assert_eq!(response.id(), CommandId::SubmitSmResp);
        assert_eq!(response.status(), CommandStatus::EsmeRok);
    }

    async fn unbind(mut self) {
        let response = self.request(Pdu::Unbind).await;
        assert_eq!(response.id(), CommandId::UnbindResp);
    }
}

/// The log entry of the bind made from `esme`'s address.
fn session_of(smsc: &SmscHandle, peer: SocketAddr) -> SessionLog {
    smsc.sessions()
        .into_iter()
        .find(|s| s.peer == peer)
        .expect("the bind is in the log")
}

async fn wait_closed(smsc: &SmscHandle, peer: SocketAddr) {
    let closed = eventually(|| {
        smsc.sessions()
            .iter()
            .any(|s| s.peer == peer && s.closed_ms.is_some())
    })
    .await;
    assert!(closed, "the session of {peer} is logged as closed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn max_binds_refuses_the_extra_bind_and_accepts_again_after_one_closes() {
    bounded(async {
        let smsc = smsc(Some(2)).await;
        let tx = Esme::bind(&smsc, BindKind::Transmitter, "a").await.unwrap();
        let trx = Esme::bind(&smsc, BindKind::Transceiver, "a").await.unwrap();
        let refused = Esme::bind(&smsc, BindKind::Transceiver, "a").await;
        assert_eq!(refused.err(), Some(CommandStatus::EsmeRbindfail));
        let refused = Esme::bind(&smsc, BindKind::Transmitter, "a").await;
        assert_eq!(refused.err(), Some(CommandStatus::EsmeRbindfail));
        let rx = Esme::bind(&smsc, BindKind::Receiver, "a")
            .await
            .expect("a receiver does not count");
        let other = Esme::bind(&smsc, BindKind::Transceiver, "b")
            .await
            .expect("the limit is per account");
        let stats = smsc.stats();
        assert_eq!(stats.binds_refused_over_limit, 2);
        assert_eq!(stats.binds_rejected, 2);

        // The socket closes: its slot is free once the session is gone.
        let tx_peer = tx.local_addr();
        drop(tx);
        wait_closed(&smsc, tx_peer).await;
        let again = Esme::bind(&smsc, BindKind::Transceiver, "a")
            .await
            .expect("accepted after a bind closed");
        assert_eq!(
            Esme::bind(&smsc, BindKind::Transmitter, "a").await.err(),
            Some(CommandStatus::EsmeRbindfail)
        );

        // An unbind frees its slot too.
        let trx_peer = trx.local_addr();
        trx.unbind().await;
        wait_closed(&smsc, trx_peer).await;
        let last = Esme::bind(&smsc, BindKind::Transmitter, "a")
            .await
            .expect("accepted after an unbind");

        let stats = smsc.stats();
        assert_eq!(stats.binds_refused_over_limit, 3);
        assert_eq!(stats.binds_peak_by_account.get("a"), Some(&2));
        // Closed sockets, not sessions that wait for an unbind_resp at shutdown.
        drop((again, rx, other, last));
        smsc.shutdown().await;
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn binds_peak_counts_binds_open_at_once_across_open_and_close() {
    bounded(async {
        let smsc = smsc(None).await;
        let mut open = Vec::new();
        for _ in 0..3 {
            open.push(Esme::bind(&smsc, BindKind::Transmitter, "a").await.unwrap());
        }
        let receiver = Esme::bind(&smsc, BindKind::Receiver, "a").await.unwrap();
        let peak = |s: &SmscStats| (s.binds_peak, s.binds_peak_by_account.get("a").copied());
        assert_eq!(peak(&smsc.stats()), (3, Some(3)), "receivers do not count");

        // Two close, two open: never more than three at once.
        for esme in open.drain(..2) {
            let peer = esme.local_addr();
            drop(esme);
            wait_closed(&smsc, peer).await;
        }
        for _ in 0..2 {
            open.push(Esme::bind(&smsc, BindKind::Transceiver, "a").await.unwrap());
        }
        assert_eq!(peak(&smsc.stats()), (3, Some(3)));

        // A fourth at once raises the peak; another account adds to the total only.
        open.push(Esme::bind(&smsc, BindKind::Transceiver, "a").await.unwrap());
        open.push(Esme::bind(&smsc, BindKind::Transmitter, "b").await.unwrap());
        let stats = smsc.stats();
        assert_eq!(peak(&stats), (5, Some(4)));
        assert_eq!(stats.binds_peak_by_account.get("b"), Some(&1));
        assert_eq!(stats.binds_refused_over_limit, 0);
        drop((open, receiver));
        smsc.shutdown().await;
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_session_log_records_submits_per_session_and_closing() {
    bounded(async {
        let before = now_ms();
        let smsc = smsc(None).await;
        let mut first = Esme::bind(&smsc, BindKind::Transceiver, "a").await.unwrap();
        let mut second = Esme::bind(&smsc, BindKind::Transmitter, "b").await.unwrap();
        let (first_peer, second_peer) = (first.local_addr(), second.local_addr());
        for _ in 0..3 {
            first.submit().await;
        }
        second.submit().await;
        let mark = smsc.set_mark();
        second.submit().await;
        second.submit().await;
        first.unbind().await;
        wait_closed(&smsc, first_peer).await;

        let one = session_of(&smsc, first_peer);
        let two = session_of(&smsc, second_peer);
        assert!(one.id < two.id, "ids increase with each bind");
        assert_eq!(
            (one.system_id.as_str(), one.kind.as_str()),
            ("a", "transceiver")
        );
        assert_eq!(
            (two.system_id.as_str(), two.kind.as_str()),
            ("b", "transmitter")
        );
        assert_eq!((one.submits, one.submits_after_mark), (3, 0));
        assert_eq!((two.submits, two.submits_after_mark), (3, 2));
        assert!(one.bound_ms >= before);
        let last = one.last_submit_ms.unwrap();
        assert!(
            one.bound_ms <= last && last <= mark,
            "session 1 submitted nothing after the mark"
        );
        assert!(one.closed_ms.unwrap() >= last);
        assert!(two.last_submit_ms.unwrap() >= mark);
        assert_eq!(two.closed_ms, None);

        drop(second);
        wait_closed(&smsc, second_peer).await;
        smsc.shutdown().await;
    })
    .await
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_stats_endpoint_answers_with_stats_sessions_and_marks() {
    bounded(async {
        let smsc = smsc(Some(1)).await;
        let http = smsc
            .listen_stats(SocketAddr::from(([127, 0, 0, 1], 0)))
            .await
            .unwrap();
        let mut esme = Esme::bind(&smsc, BindKind::Transceiver, "a").await.unwrap();
        esme.submit().await;
        assert!(Esme::bind(&smsc, BindKind::Transceiver, "a").await.is_err());

        let client = reqwest::Client::new();
        let base = format!("http://{http}");
        let stats: SmscStats = client
            .get(format!("{base}/stats"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(stats, smsc.stats());
        assert_eq!(stats.submits, 1);
        assert_eq!(stats.binds_peak, 1);
        assert_eq!(stats.binds_refused_over_limit, 1);

        let mark: serde_json::Value = client
            .post(format!("{base}/mark"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert!(mark["mark_ms"].as_u64().unwrap() > 0);
        esme.submit().await;
        let sessions: Vec<SessionLog> = client
            .get(format!("{base}/sessions"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(sessions.len(), 1);
        assert_eq!(sessions[0].peer, esme.local_addr());
        assert_eq!(
            (sessions[0].submits, sessions[0].submits_after_mark),
            (2, 1)
        );

        let missing = client.get(format!("{base}/nothing")).send().await.unwrap();
        assert_eq!(missing.status(), reqwest::StatusCode::NOT_FOUND);
        let wrong = client.post(format!("{base}/stats")).send().await.unwrap();
        assert_eq!(wrong.status(), reqwest::StatusCode::METHOD_NOT_ALLOWED);
        drop(esme);
        smsc.shutdown().await;
    })
    .await
}
