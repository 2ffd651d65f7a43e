//! The load over HTTP: a gateway's send-SMS URL (Kannel's `/cgi-bin/sendsms`) called with
//! GET over HTTP/1.1 keep-alive. Each "bind" is a client with its own connection pool and
//! a window of requests in flight (one connection per request in flight, kept open), in a
//! closed loop or on the open-loop timeline of an SMPP bind. A 2xx answer is an accepted
//! message; its latency runs from the request (or its due time) to the answer.
//!
//! Receipts: every request carries a `dlr-url` back to an endpoint of this process with the
//! message number in it and `dlr-mask=3` (delivered or failed), so the gateway's callback
//! is matched to its request without a gateway's message id.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::stream::FuturesUnordered;
use futures::StreamExt;
use http_body_util::Full;
use hyper::body::Bytes;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use serde::Serialize;
use tokio::net::TcpListener;
use tokio::task::JoinSet;
use tokio::time::Instant;

use super::bind::{micros, BindOutcome, TIMER_SLACK};
use super::messages::Kind;
use super::schedule::Schedule;
use super::{LoadConfig, LoadError, Run};

/// Where an HTTP load sends its messages.
#[derive(Debug, Clone, Serialize)]
pub struct HttpTarget {
    /// The send-SMS URL, `http://127.0.0.1:13013/cgi-bin/sendsms`.
    pub url: String,
    pub username: String,
    #[serde(skip)]
    pub password: String,
}

/// Kannel's delivery report types asked for: 1 delivered, 2 not delivered.
const DLR_MASK: &str = "3";

/// A GSM 7-bit text's characters fit in one SMS up to this, as over SMPP.
const ONE_PART: usize = 160;
const PART_CHARS: usize = 153;

/// One client per bind: its own pool, so its requests in flight are its connections.
pub(crate) fn clients(config: &LoadConfig) -> Result<Vec<reqwest::Client>, LoadError> {
    (0..config.binds)
        .map(|_| {
            reqwest::Client::builder()
                .pool_max_idle_per_host(config.window)
                .pool_idle_timeout(Duration::from_secs(90))
                .tcp_nodelay(true)
                .connect_timeout(config.bind_timeout)
                .timeout(config.response_timeout)
                .build()
                .map_err(|e| super::invalid("http", e.to_string()))
        })
        .collect()
}

/// The endpoint the gateway's receipt callbacks reach, on 127.0.0.1.
pub(crate) struct DlrListener {
    listener: TcpListener,
    /// `http://127.0.0.1:PORT/dlr`
    base: String,
}

impl DlrListener {
    pub(crate) async fn bind() -> Result<Self, LoadError> {
        let listener = TcpListener::bind(("127.0.0.1", 0))
            .await
            .map_err(|e| super::invalid("receipts", format!("receipt endpoint: {e}")))?;
        let port = listener
            .local_addr()
            .map_err(|e| super::invalid("receipts", format!("receipt endpoint: {e}")))?
            .port();
        Ok(Self {
            listener,
            base: format!("http://127.0.0.1:{port}/dlr"),
        })
    }

    pub(crate) fn base(&self) -> &str {
        &self.base
    }
}

/// `%`-encoding of a query value (RFC 3986 unreserved characters kept).
fn encode(value: &str) -> String {
    let mut out = String::with_capacity(value.len() * 3);
    for b in value.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The query string of message `n`.
fn query(run: &Run, target: &HttpTarget, n: u64, dlr_base: Option<&str>) -> String {
    let shape = &run.shape;
    let (kind, text) = shape.text(n, shape.gsm7_len.min(ONE_PART), PART_CHARS);
    let coding = if kind == Kind::Ucs2 { "2" } else { "0" };
    let mut q = format!(
        "username={}&password={}&from={}&to={}&coding={coding}&charset=UTF-8&text={}",
        encode(&target.username),
        encode(&target.password),
        encode(&shape.source),
        encode(&shape.destination(n)),
        encode(&text),
    );
    if let Some(base) = dlr_base {
        // Kannel replaces %d with the report type when it calls back.
        let callback = format!("{base}?id={n}&type=%d");
        q.push_str(&format!(
            "&dlr-mask={DLR_MASK}&dlr-url={}",
            encode(&callback)
        ));
    }
    q
}

struct Done {
    n: u64,
    start: Instant,
    result: Result<u16, Failure>,
}

enum Failure {
    Timeout,
    Connect,
    Other,
}

async fn send(client: reqwest::Client, url: String, n: u64, start: Instant) -> Done {
    let result = match client.get(url).send().await {
        Ok(response) => {
            let status = response.status().as_u16();
            // Drain the body so the connection goes back to the pool.
            let _ = response.bytes().await;
            Ok(status)
        }
        Err(e) if e.is_timeout() => Err(Failure::Timeout),
        Err(e) if e.is_connect() => Err(Failure::Connect),
        Err(_) => Err(Failure::Other),
    };
    Done { n, start, result }
}

/// One bind's task: up to a window of requests in flight until the count or the duration
/// is used up.
pub(crate) async fn run(
    run: Arc<Run>,
    target: HttpTarget,
    index: usize,
    client: reqwest::Client,
    dlr_base: Option<String>,
    t0: Instant,
) -> BindOutcome {
    let config = &run.config;
    let mut out = BindOutcome::new(&run.histogram);
    out.ups = 1;
    let window = config.window;
    let mut schedule = Schedule::new(config, index, t0);
    let mut last_full = t0 - Duration::from_secs(1);
    let mut inflight = FuturesUnordered::new();
    let mut queued: VecDeque<(u64, Option<Instant>)> = VecDeque::new();
    let mut sending = true;
    let mut reported = false;
    loop {
        while sending && inflight.len() < window {
            if queued.is_empty() {
                if run.stop.is_cancelled() {
                    sending = false;
                    break;
                }
                if !schedule.is_due(Instant::now()) {
                    break;
                }
                let Some(n) = run.ticket() else {
                    sending = false;
                    break;
                };
                let due = schedule.take();
                queued.push_back((n, due));
            }
            let Some((n, due)) = queued.pop_front() else {
                break;
            };
            let now = Instant::now();
            if let Some(due) = due {
                out.send_lag
                    .saturating_record(micros(now.saturating_duration_since(due)));
            }
            let start = match due {
                None => now,
                Some(due) if last_full >= due => due,
                Some(due) if now.saturating_duration_since(due) > TIMER_SLACK => {
                    out.late_sends += 1;
                    due
                }
                Some(_) => now,
            };
            let url = format!(
                "{}?{}",
                target.url,
                query(&run, &target, n, dlr_base.as_deref())
            );
            run.live.sent.fetch_add(1, Ordering::Relaxed);
            inflight.push(send(client.clone(), url, n, start));
        }
        if !sending && queued.is_empty() && inflight.is_empty() && !reported {
            reported = true;
            run.bind_done();
        }
        let await_schedule =
            sending && schedule.is_open_loop() && queued.is_empty() && inflight.len() < window;
        tokio::select! {
            Some(done) = inflight.next(), if !inflight.is_empty() => {
                let now = Instant::now();
                if inflight.len() + 1 >= window {
                    last_full = now;
                }
                record(&run, &mut out, done, now, dlr_base.is_some());
            }
            _ = tokio::time::sleep_until(schedule.next_due()), if await_schedule => {}
            _ = run.stop.cancelled(), if sending => sending = false,
            _ = run.finish.cancelled() => break,
        }
    }
    out
}

fn record(run: &Run, out: &mut BindOutcome, done: Done, now: Instant, receipt: bool) {
    match done.result {
        Ok(status) => {
            out.last_response = Some(now);
            out.submit_latency
                .saturating_record(micros(now.saturating_duration_since(done.start)));
            *out.by_status.entry(u32::from(status)).or_default() += 1;
            run.live.answered.fetch_add(1, Ordering::Relaxed);
            if !(200..300).contains(&status) {
                return;
            }
            run.live.ok.fetch_add(1, Ordering::Relaxed);
            if receipt {
                if let Some(latency) = run.correlator.submitted(&done.n.to_string(), done.start) {
                    out.receipt_latency.saturating_record(micros(latency));
                    out.last_receipt = out.last_receipt.max(Some(done.start + latency));
                }
            }
        }
        Err(Failure::Timeout) => out.timeouts += 1,
        Err(Failure::Connect) => out.not_sent += 1,
        Err(Failure::Other) => out.closed += 1,
    }
}

/// The message number in a callback's query (`id=42`).
fn message_number(query: &str) -> Option<&str> {
    query
        .split('&')
        .find_map(|pair| pair.strip_prefix("id="))
        .filter(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
}

/// The receipt endpoint's task: answers every callback with 200 and matches it, until the
/// run finishes; its outcome carries the receipt latencies.
pub(crate) async fn serve_receipts(run: Arc<Run>, dlr: DlrListener) -> BindOutcome {
    let out = Arc::new(Mutex::new(BindOutcome::new(&run.histogram)));
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            accepted = dlr.listener.accept() => {
                let Ok((stream, _)) = accepted else { continue };
                let _ = stream.set_nodelay(true);
                let (run, out) = (run.clone(), out.clone());
                connections.spawn(async move {
                    let service = service_fn(move |request: Request<hyper::body::Incoming>| {
                        let now = Instant::now();
                        let id = request.uri().query().and_then(message_number).map(str::to_owned);
                        if let Ok(mut out) = out.lock() {
                            match id {
                                Some(id) => {
                                    run.live.receipts.fetch_add(1, Ordering::Relaxed);
                                    if let Some(latency) = run.correlator.received(&id, now) {
                                        out.receipt_latency.saturating_record(micros(latency));
                                        out.last_receipt = Some(now);
                                    }
                                }
                                None => out.receipts_unreadable += 1,
                            }
                        }
                        async { Ok::<_, Infallible>(Response::new(Full::new(Bytes::from_static(b"ok")))) }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .keep_alive(true)
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
            _ = run.finish.cancelled() => break,
        }
    }
    connections.abort_all();
    let taken = match out.lock() {
        Ok(mut out) => std::mem::replace(&mut *out, BindOutcome::new(&run.histogram)),
        Err(_) => BindOutcome::new(&run.histogram),
    };
    taken
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_percent_encoded() {
        assert_eq!(encode("a b&c=d/ü"), "a%20b%26c%3Dd%2F%C3%BC");
        assert_eq!(encode("Tern-1_2.3~"), "Tern-1_2.3~");
    }

    #[test]
    fn callbacks_carry_the_message_number() {
        assert_eq!(message_number("id=42&type=1"), Some("42"));
        assert_eq!(message_number("type=1&id=7"), Some("7"));
        assert_eq!(message_number("type=1&id="), None);
        assert_eq!(message_number("id=x1"), None);
    }
}
