//! The SGIP load against a small SMG in this process, built from `tern_sgip::net`: it takes
//! the SP's type-1 binds, answers every SUBMIT, and for a SUBMIT that asks for a report
//! binds back to the load's listener with login type 2 and sends a REPORT naming it, and
//! one MO. Every SUBMIT is answered, every report matched and every REPORT answered.

// Test helpers: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used)]

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures::stream::FuturesUnordered;
use futures::StreamExt;
use tern_bench::load::{self, LoadConfig, LoadReport, MessageMix, SgipTarget};
use tern_sgip::codec::{report, report_flag, Deliver, Report, Response};
use tern_sgip::msgid::SequenceNumber;
use tern_sgip::net::{
    serve, BindRequest, Client, ClientConfig, Handler, ServerConfig, SessionEvent, SessionHandle,
};
use tern_sgip::{result, Body, LoginType, Pdu};
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

const LOGIN: &str = "901234";
const PASSWORD: &str = "demo";
const WINDOW: usize = 16;

/// What the SMG saw and was told.
#[derive(Default)]
struct Seen {
    submits: AtomicU64,
    reports_sent: AtomicU64,
    /// REPORT_RESP and DELIVER_RESP with result 0.
    answered_ok: AtomicU64,
}

/// The SMG's type-1 side: the SP's SUBMITs, each answered, each that asks for a report
/// queued for the type-2 link.
struct Smg {
    seen: Arc<Seen>,
    reports: mpsc::Sender<(SequenceNumber, String)>,
}

impl Handler for Smg {
    type Grant = ();

    async fn bind(&self, request: BindRequest) -> Result<((), String), u8> {
        if request.login_name != LOGIN {
            return Err(result::ILLEGAL_LOGIN);
        }
        Ok(((), PASSWORD.into()))
    }

    fn session(
        self: &Arc<Self>,
        _: (),
        _: BindRequest,
        handle: SessionHandle,
        mut events: mpsc::Receiver<SessionEvent>,
    ) {
        let smg = self.clone();
        tokio::spawn(async move {
            while let Some(event) = events.recv().await {
                let SessionEvent::Request(pdu) = event else {
                    continue;
                };
                let Body::Submit(submit) = pdu.body else {
                    continue;
                };
                smg.seen.submits.fetch_add(1, Ordering::Relaxed);
                handle.respond(Pdu {
                    sequence: pdu.sequence,
                    body: Body::SubmitResp(Response {
                        result: result::OK,
                        reserve: String::new(),
                    }),
                });
                if submit.report_flag == report_flag::ALWAYS {
                    let user = submit.user_numbers[0].clone();
                    smg.reports.send((pdu.sequence, user)).await.unwrap();
                }
            }
        });
    }
}

/// The SMG's type-2 side: binds to the SP's listener and sends each report (a window of
/// them in flight), then one MO.
async fn report_back(
    sp: SocketAddr,
    mut reports: mpsc::Receiver<(SequenceNumber, String)>,
    seen: Arc<Seen>,
    shutdown: CancellationToken,
    tracker: TaskTracker,
) {
    let mut config = ClientConfig::new("smg-reports", sp.ip().to_string(), sp.port());
    config.login_type = LoginType::SmgToSp;
    config.login_name = LOGIN.into();
    config.password = PASSWORD.into();
    config.window = WINDOW;
    config.reconnect_min = Duration::from_millis(20);
    let (client, _events) = Client::start(config, shutdown, &tracker);
    let mut inflight = FuturesUnordered::new();
    let mut mo_sent = false;
    loop {
        tokio::select! {
            Some((sequence, user)) = reports.recv(), if inflight.len() < WINDOW => {
                seen.reports_sent.fetch_add(1, Ordering::Relaxed);
                let report = Report {
                    submit_sequence: sequence,
                    report_type: report::ON_SUBMIT,
                    user_number: user.clone(),
                    state: report::DELIVERED,
                    error_code: 0,
                    reserve: String::new(),
                };
                inflight.push(send(client.clone(), Body::Report(report)));
                if !mo_sent {
                    mo_sent = true;
                    let mo = Deliver {
                        user_number: user,
                        sp_number: "10655".into(),
                        tp_pid: 0,
                        tp_udhi: 0,
                        message_coding: 0,
                        message_content: Bytes::from_static(b"STOP"),
                        reserve: String::new(),
                    };
                    inflight.push(send(client.clone(), Body::Deliver(mo)));
                }
            }
            Some(answer) = inflight.next(), if !inflight.is_empty() => {
                if let Ok(Pdu { body: Body::ReportResp(resp) | Body::DeliverResp(resp), .. }) = answer {
                    if resp.result == result::OK {
                        seen.answered_ok.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
            else => break,
        }
    }
}

async fn send(client: Client, body: Body) -> Result<Pdu, tern_sgip::net::RequestError> {
    client.request(body).await
}

/// A free port on 127.0.0.1 for the load's report listener.
async fn free_addr() -> SocketAddr {
    TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap()
        .local_addr()
        .unwrap()
}

/// Starts the SMG; returns its address. With `sp`, reports go back to it.
async fn smg(
    seen: Arc<Seen>,
    sp: Option<SocketAddr>,
    shutdown: &CancellationToken,
    tracker: &TaskTracker,
) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (reports, queued) = mpsc::channel(1024);
    if let Some(sp) = sp {
        let back = report_back(sp, queued, seen.clone(), shutdown.clone(), tracker.clone());
        tokio::spawn(back);
    }
    let config = ServerConfig {
        window: WINDOW,
        login_types: vec![LoginType::SpToSmg],
        ..ServerConfig::default()
    };
    let handler = Arc::new(Smg { seen, reports });
    let server = serve(
        listener,
        Arc::new(config),
        handler,
        shutdown.clone(),
        tracker.clone(),
    );
    tokio::spawn(server);
    addr
}

fn load_config(smg: SocketAddr, listen: Option<SocketAddr>, count: u64) -> LoadConfig {
    LoadConfig {
        host: smg.ip().to_string(),
        port: smg.port(),
        binds: 1,
        window: WINDOW,
        count: Some(count),
        bind_timeout: Duration::from_secs(5),
        receipt_timeout: Duration::from_secs(10),
        sgip: Some(SgipTarget {
            login_name: LOGIN.into(),
            password: PASSWORD.into(),
            corp_id: "12345".into(),
            listen,
        }),
        ..LoadConfig::default()
    }
}

async fn bounded(run: impl std::future::Future<Output = LoadReport>) -> LoadReport {
    tokio::time::timeout(Duration::from_secs(60), run)
        .await
        .expect("the run finishes in time")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_submit_is_answered_and_every_report_matched_to_its_sequence_number() {
    let (shutdown, tracker) = (CancellationToken::new(), TaskTracker::new());
    let seen = Arc::new(Seen::default());
    let listen = free_addr().await;
    let addr = smg(seen.clone(), Some(listen), &shutdown, &tracker).await;
    let config = LoadConfig {
        registered_delivery: true,
        mix: MessageMix {
            gsm7: 2,
            long: 1,
            ucs2: 1,
        },
        ..load_config(addr, Some(listen), 300)
    };
    let report = bounded(async { load::run(config).await.unwrap() }).await;

    assert_eq!(report.protocol, "sgip");
    assert_eq!(report.messages, 300);
    assert!(
        report.submits > 300,
        "long messages go in parts: {}",
        report.submits
    );
    assert!(report.all_accounted());
    assert_eq!(report.accepted, report.submits);
    assert_eq!(report.by_status.get("OK"), Some(&report.submits));
    assert_eq!(seen.submits.load(Ordering::Relaxed), report.submits);
    let receipts = report.receipts.clone().unwrap();
    assert_eq!(receipts.expected, report.submits);
    assert_eq!(receipts.matched, report.submits, "{receipts:?}");
    assert_eq!((receipts.missing, receipts.unmatched), (0, 0));
    assert_eq!(report.mo_received, 1);
    assert_eq!(
        seen.answered_ok.load(Ordering::Relaxed),
        seen.reports_sent.load(Ordering::Relaxed) + 1,
        "every REPORT and the DELIVER answered with result 0"
    );
    assert!(report.receipt_latency.unwrap().count > 0);
    shutdown.cancel();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_receipts_several_connections_share_the_count() {
    let (shutdown, tracker) = (CancellationToken::new(), TaskTracker::new());
    let seen = Arc::new(Seen::default());
    let addr = smg(seen.clone(), None, &shutdown, &tracker).await;
    let config = LoadConfig {
        binds: 3,
        ..load_config(addr, None, 500)
    };
    let report = bounded(async { load::run(config).await.unwrap() }).await;

    assert_eq!((report.messages, report.submits), (500, 500));
    assert_eq!(report.accepted, 500);
    assert!(report.receipts.is_none());
    assert_eq!(seen.submits.load(Ordering::Relaxed), 500);
    assert_eq!(seen.reports_sent.load(Ordering::Relaxed), 0);
    shutdown.cancel();
}
