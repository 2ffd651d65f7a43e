//! The HTTP load against a send-SMS endpoint that behaves like Kannel's smsbox: answers 202
//! to a good request and 403 to a bad password, and calls the request's dlr-url back with
//! the report type in place of `%d`. Every request is answered and every receipt matched
//! to its request.

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
use tern_bench::load::{self, HttpTarget, LoadConfig, MessageMix};
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
