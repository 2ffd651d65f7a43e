//! The HTTP load against a send-SMS endpoint that behaves like Kannel's smsbox: answers 202
//! to a good request and 403 to a bad password, and calls the request's dlr-url back with
//! the report type in place of `%d`; and against one that behaves like Jasmin's `/send`:
//! 200 `Success "<id>"` (or a 200 without it), and a GET of the dlr-url with Jasmin's own
//! `id` and status added to its query, repeated until the answer is `ACK/Jasmin`. Every
//! request is answered and every receipt matched to its request.

// Test helpers: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used)]

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use http_body_util::Full;
use hyper::body::Bytes;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tern_bench::load::{self, HttpApi, HttpTarget, LoadConfig, MessageMix};
use tokio::net::TcpListener;

fn decode(value: &str) -> String {
    let bytes = value.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap();
                out.push(u8::from_str_radix(hex, 16).unwrap());
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).unwrap()
}

fn params(query: &str) -> HashMap<String, String> {
    query
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .map(|(k, v)| (k.to_owned(), decode(v)))
        .collect()
}

/// Counts what the fake smsbox saw.
#[derive(Default)]
struct Seen {
    accepted: AtomicU64,
    ucs2: AtomicU64,
    callbacks: AtomicU64,
}

/// A sendsms endpoint on 127.0.0.1; returns its URL.
async fn smsbox(seen: Arc<Seen>) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let client = reqwest::Client::new();
    tokio::spawn(async move {
        loop {
            let (stream, _) = listener.accept().await.unwrap();
            let (seen, client) = (seen.clone(), client.clone());
            tokio::spawn(async move {
                let service = service_fn(move |request: Request<hyper::body::Incoming>| {
                    let (seen, client) = (seen.clone(), client.clone());
                    async move {
                        let p = params(request.uri().query().unwrap_or_default());
                        let good = request.uri().path() == "/cgi-bin/sendsms"
                            && p.get("username").map(String::as_str) == Some("bench")
                            && p.get("password").map(String::as_str) == Some("s3cret")
                            && p.get("to").is_some_and(|to| to.starts_with("4917"))
                            && p.get("text").is_some_and(|t| t.starts_with("Tern bench"));
                        if !good {
                            let response = Response::builder()
                                .status(StatusCode::FORBIDDEN)
                                .body(Full::new(Bytes::from_static(b"Authorization failed")))
                                .unwrap();
                            return Ok::<_, Infallible>(response);
                        }
                        seen.accepted.fetch_add(1, Ordering::Relaxed);
                        if p.get("coding").map(String::as_str) == Some("2") {
                            seen.ucs2.fetch_add(1, Ordering::Relaxed);
                        }
                        if let Some(url) = p.get("dlr-url") {
                            assert_eq!(p.get("dlr-mask").map(String::as_str), Some("3"));
                            let url = url.replace("%d", "1");
                            tokio::spawn(async move {
                                tokio::time::sleep(Duration::from_millis(5)).await;
                                if client.get(url).send().await.is_ok() {
                                    seen.callbacks.fetch_add(1, Ordering::Relaxed);
                                }
                            });
                        }
                        let response = Response::builder()
                            .status(StatusCode::ACCEPTED)
                            .body(Full::new(Bytes::from_static(b"0: Accepted for delivery")))
                            .unwrap();
                        Ok(response)
                    }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    format!("http://127.0.0.1:{port}/cgi-bin/sendsms")
}

fn config(url: String, password: &str, count: u64) -> LoadConfig {
    LoadConfig {
        binds: 2,
        window: 8,
        count: Some(count),
        registered_delivery: true,
        receipt_timeout: Duration::from_secs(10),
        mix: MessageMix {
            gsm7: 3,
            long: 0,
            ucs2: 1,
        },
        http: Some(HttpTarget {
            url,
            username: "bench".into(),
            password: password.into(),
            api: HttpApi::Kannel,
        }),
        ..LoadConfig::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_request_is_answered_and_every_callback_matched() {
    tokio::time::timeout(Duration::from_secs(60), async {
        let seen = Arc::new(Seen::default());
        let url = smsbox(seen.clone()).await;
        let report = load::run(config(url, "s3cret", 400)).await.unwrap();
        assert_eq!(report.protocol, "http");
        assert_eq!(report.submits, 400);
        assert_eq!(report.accepted, 400, "{report:?}");
        assert_eq!(report.by_status.get("HTTP_202"), Some(&400));
        assert_eq!(seen.accepted.load(Ordering::Relaxed), 400);
        assert!(seen.ucs2.load(Ordering::Relaxed) > 0, "the mix has UCS-2");
        let receipts = report.receipts.as_ref().unwrap();
        assert_eq!(receipts.expected, 400);
        assert_eq!(receipts.matched, 400, "{receipts:?}");
        assert_eq!(receipts.unmatched, 0);
        let latency = report.receipt_latency.as_ref().unwrap();
        assert_eq!(latency.count, 400);
        assert!(
            latency.p50_us >= 5_000,
            "callbacks come 5 ms after the request"
        );
        assert!(report.all_accounted());
    })
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_requests_are_counted_not_accepted() {
    tokio::time::timeout(Duration::from_secs(60), async {
        let seen = Arc::new(Seen::default());
        let url = smsbox(seen.clone()).await;
        let report = load::run(config(url, "wrong", 50)).await.unwrap();
        assert_eq!(report.accepted, 0);
        assert_eq!(report.answered, 50);
        assert_eq!(report.by_status.get("HTTP_403"), Some(&50));
        assert_eq!(report.receipts.as_ref().unwrap().expected, 0);
        assert_eq!(seen.callbacks.load(Ordering::Relaxed), 0);
    })
    .await
    .unwrap();
}

/// Counts what the fake Jasmin saw.
#[derive(Default)]
struct JasminSeen {
    accepted: AtomicU64,
    ucs2: AtomicU64,
    /// Callbacks answered with anything but `ACK/Jasmin`.
    not_acked: AtomicU64,
}

/// A Jasmin-like `/send` on 127.0.0.1; every `fail_every`-th good request is answered 200
/// with an error body instead. Returns its URL.
async fn jasmin(seen: Arc<JasminSeen>, fail_every: u64) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let client = reqwest::Client::new();
    let counter = Arc::new(AtomicU64::new(0));
    tokio::spawn(async move {
        loop {
            let (stream, _) = listener.accept().await.unwrap();
            let (seen, client, counter) = (seen.clone(), client.clone(), counter.clone());
            tokio::spawn(async move {
                let service = service_fn(move |request: Request<hyper::body::Incoming>| {
                    let (seen, client, counter) = (seen.clone(), client.clone(), counter.clone());
                    async move {
                        let p = params(request.uri().query().unwrap_or_default());
                        let unknown = p.keys().find(|k| {
                            ![
                                "username",
                                "password",
                                "to",
                                "from",
                                "coding",
                                "content",
                                "hex-content",
                                "dlr",
                                "dlr-url",
                                "dlr-level",
                                "dlr-method",
                            ]
                            .contains(&k.as_str())
                        });
                        let text = |status: StatusCode, body: String| {
                            Ok::<_, Infallible>(
                                Response::builder()
                                    .status(status)
                                    .body(Full::new(Bytes::from(body)))
                                    .unwrap(),
                            )
                        };
                        if let Some(name) = unknown {
                            return text(
                                StatusCode::BAD_REQUEST,
                                format!("Error \"Argument [{name}] is unknown.\""),
                            );
                        }
                        let good = request.uri().path() == "/send"
                            && p.get("username").map(String::as_str) == Some("bench")
                            && p.get("password").map(String::as_str) == Some("s3cret")
                            && p.get("to").is_some_and(|to| to.starts_with("4917"))
                            && (p
                                .get("content")
                                .is_some_and(|t| t.starts_with("Tern bench"))
                                || (p.get("coding").map(String::as_str) == Some("8")
                                    && p.get("hex-content")
                                        .is_some_and(|h| h.starts_with("0054"))));
                        if !good {
                            return text(
                                StatusCode::FORBIDDEN,
                                "Error \"Authentication failure for username:bench\"".into(),
                            );
                        }
                        let n = counter.fetch_add(1, Ordering::Relaxed) + 1;
                        if fail_every > 0 && n % fail_every == 0 {
                            return text(StatusCode::OK, "Error \"No route found\"".into());
                        }
                        seen.accepted.fetch_add(1, Ordering::Relaxed);
                        if p.contains_key("hex-content") {
                            seen.ucs2.fetch_add(1, Ordering::Relaxed);
                        }
                        let id = format!("5d0c1b1e-0000-4000-8000-{n:012}");
                        if let Some(url) = p.get("dlr-url") {
                            assert_eq!(p.get("dlr").map(String::as_str), Some("yes"));
                            assert_eq!(p.get("dlr-level").map(String::as_str), Some("2"));
                            assert_eq!(p.get("dlr-method").map(String::as_str), Some("GET"));
                            // Jasmin's GET callback: its own id and the status in the query.
                            let url = format!("{url}?id={id}&message_status=DELIVRD&level=2");
                            tokio::spawn(async move {
                                tokio::time::sleep(Duration::from_millis(5)).await;
                                // Jasmin calls again until it reads its acknowledgement.
                                if let Ok(answer) = client.get(url).send().await {
                                    if answer.text().await.ok().as_deref() != Some("ACK/Jasmin") {
                                        seen.not_acked.fetch_add(1, Ordering::Relaxed);
                                    }
                                }
                            });
                        }
                        text(StatusCode::OK, format!("Success \"{id}\""))
                    }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    format!("http://127.0.0.1:{port}/send")
}

fn jasmin_config(url: String, count: u64) -> LoadConfig {
    let mut config = config(url, "s3cret", count);
    if let Some(http) = config.http.as_mut() {
        http.api = HttpApi::Jasmin;
    }
    config
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jasmin_requests_are_accepted_on_success_and_callbacks_matched_by_their_path() {
    tokio::time::timeout(Duration::from_secs(60), async {
        let seen = Arc::new(JasminSeen::default());
        let url = jasmin(seen.clone(), 0).await;
        let report = load::run(jasmin_config(url, 400)).await.unwrap();
        assert_eq!(report.submits, 400);
        assert_eq!(report.accepted, 400, "{report:?}");
        assert_eq!(report.by_status.get("HTTP_200"), Some(&400));
        assert_eq!(seen.accepted.load(Ordering::Relaxed), 400);
        assert!(seen.ucs2.load(Ordering::Relaxed) > 0, "the mix has UCS-2");
        let receipts = report.receipts.as_ref().unwrap();
        assert_eq!(receipts.expected, 400);
        assert_eq!(receipts.matched, 400, "{receipts:?}");
        assert_eq!(receipts.unmatched, 0);
        assert_eq!(receipts.unreadable, 0);
        assert_eq!(seen.not_acked.load(Ordering::Relaxed), 0);
        assert!(report.all_accounted());
    })
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_jasmin_200_without_success_is_not_accepted() {
    tokio::time::timeout(Duration::from_secs(60), async {
        let seen = Arc::new(JasminSeen::default());
        let url = jasmin(seen.clone(), 4).await;
        let report = load::run(jasmin_config(url, 200)).await.unwrap();
        assert_eq!(report.answered, 200);
        assert_eq!(report.accepted, 150, "{report:?}");
        assert_eq!(report.by_status.get("HTTP_200"), Some(&150));
        assert_eq!(report.by_status.get("HTTP_200_NOT_ACCEPTED"), Some(&50));
        let receipts = report.receipts.as_ref().unwrap();
        assert_eq!(receipts.expected, 150);
        assert_eq!(receipts.matched, 150, "{receipts:?}");
    })
    .await
    .unwrap();
}
