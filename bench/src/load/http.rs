//! The load over HTTP: a gateway's send-SMS URL called with GET over HTTP/1.1 keep-alive,
//! with Kannel's `/cgi-bin/sendsms` parameters or Jasmin's `/send` ones ([`HttpApi`]). Each
//! "bind" is a client with its own connection pool and a window of requests in flight (one
//! connection per request in flight, kept open), in a closed loop or on the open-loop
//! timeline of an SMPP bind. An accepted answer (Kannel: any 2xx; Jasmin: 200 with
//! `Success "<id>"`) is an accepted message; its latency runs from the request (or its due
//! time) to the answer.
//!
//! Before the clock starts, one request authenticates without sending a message, as an
//! SMPP bind authenticates before its first submit: a gateway that verifies a password hash
//! on a client's first request and caches it (Tern) pays for that here, not inside the load.
//!
//! Receipts: every request carries a `dlr-url` back to an endpoint of this process with the
//! message number in it, so the gateway's callback is matched to its request without a
//! gateway's message id: Kannel's as `/dlr?id=N&type=%d` with `dlr-mask=3` (delivered or
//! failed), Jasmin's as `/dlr/N` with `dlr-level=2` (Jasmin adds its own `id`, the message
//! id it gave, and the status to the query of a GET callback).

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
    /// The send-SMS URL, `http://127.0.0.1:13013/cgi-bin/sendsms` or
    /// `http://127.0.0.1:1401/send`.
    pub url: String,
    pub username: String,
    #[serde(skip)]
    pub password: String,
    /// Whose parameters and answers the URL takes.
    pub api: HttpApi,
}

/// The send-SMS API a URL speaks: the parameters of a request, what answer is an accepted
/// message, and how a receipt callback is asked for.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum HttpApi {
    /// Kannel's `/cgi-bin/sendsms`: `text`, `coding`, `charset`, `dlr-mask=3` and a
    /// `dlr-url` with `%d`; any 2xx (Kannel: 202 `0: Accepted for delivery`) is accepted.
    #[default]
    Kannel,
    /// Jasmin's `/send`: `content` (UCS-2 as `coding=8` and `hex-content`), `dlr=yes`,
    /// `dlr-level=2`, `dlr-method=GET` and a `dlr-url`; 200 with a body starting `Success`
    /// is accepted.
    Jasmin,
}

impl HttpApi {
    /// Whether an answer with `status` and a body starting with `body` is an accepted
    /// message.
    pub(crate) fn accepted(self, status: u16, body: &[u8]) -> bool {
        match self {
            HttpApi::Kannel => (200..300).contains(&status),
            HttpApi::Jasmin => status == 200 && body.starts_with(b"Success"),
        }
    }
}

/// A 2xx answer whose body did not say the message was accepted is counted under its
/// status plus this, so that it is neither accepted nor mistaken for a refusal's status.
pub(crate) const NOT_ACCEPTED_2XX: u32 = 1000;

/// The name of a counted HTTP answer: `HTTP_202`, or `HTTP_200_NOT_ACCEPTED` for a 2xx whose
/// body did not accept the message.
pub(crate) fn status_name(code: u32) -> String {
    if code >= NOT_ACCEPTED_2XX {
        format!("HTTP_{}_NOT_ACCEPTED", code - NOT_ACCEPTED_2XX)
    } else {
        format!("HTTP_{code}")
    }
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

/// Hex digits of a text in UTF-16BE, as Jasmin's `hex-content` with `coding=8` takes it.
fn utf16_hex(text: &str) -> String {
    text.encode_utf16()
        .map(|unit| format!("{unit:04x}"))
        .collect()
}

/// The query string of message `n`.
fn query(run: &Run, target: &HttpTarget, n: u64, dlr_base: Option<&str>) -> String {
    let shape = &run.shape;
    let (kind, text) = shape.text(n, shape.gsm7_len.min(ONE_PART), PART_CHARS);
    let to = shape.destination(n);
    match target.api {
        HttpApi::Kannel => kannel_query(target, &shape.source, &to, kind, &text, n, dlr_base),
        HttpApi::Jasmin => jasmin_query(target, &shape.source, &to, kind, &text, n, dlr_base),
    }
}

fn kannel_query(
    target: &HttpTarget,
    from: &str,
    to: &str,
    kind: Kind,
    text: &str,
    n: u64,
    dlr_base: Option<&str>,
) -> String {
    let coding = if kind == Kind::Ucs2 { "2" } else { "0" };
    let mut q = format!(
        "username={}&password={}&from={}&to={}&coding={coding}&charset=UTF-8&text={}",
        encode(&target.username),
        encode(&target.password),
        encode(from),
        encode(to),
        encode(text),
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

fn jasmin_query(
    target: &HttpTarget,
    from: &str,
    to: &str,
    kind: Kind,
    text: &str,
    n: u64,
    dlr_base: Option<&str>,
) -> String {
    let content = if kind == Kind::Ucs2 {
        format!("coding=8&hex-content={}", utf16_hex(text))
    } else {
        format!("content={}", encode(text))
    };
    let mut q = format!(
        "username={}&password={}&from={}&to={}&{content}",
        encode(&target.username),
        encode(&target.password),
        encode(from),
        encode(to),
    );
    if let Some(base) = dlr_base {
        // The number in the path: Jasmin adds its own `id` (its message id) and the status
        // to the query of a GET callback.
        let callback = format!("{base}/{n}");
        q.push_str(&format!(
            "&dlr=yes&dlr-level=2&dlr-method=GET&dlr-url={}",
            encode(&callback)
        ));
    }
    q
}

/// A request that authenticates and sends nothing: Kannel's sendsms with the credentials
/// and no receiver (refused once the credentials are checked), Jasmin's `/balance`.
fn authenticate_url(target: &HttpTarget) -> String {
    let credentials = format!(
        "username={}&password={}",
        encode(&target.username),
        encode(&target.password)
    );
    match target.api {
        HttpApi::Kannel => format!("{}?{credentials}", target.url),
        HttpApi::Jasmin => {
            let base = target.url.strip_suffix("/send").unwrap_or(&target.url);
            format!("{base}/balance?{credentials}")
        }
    }
}

/// One request that authenticates, before the load. Its answer is not looked at: a refused
/// password shows in the load's own answers.
pub(crate) async fn authenticate(target: &HttpTarget, client: &reqwest::Client) {
    if let Ok(response) = client.get(authenticate_url(target)).send().await {
        let _ = response.bytes().await;
    }
}

struct Done {
    n: u64,
    start: Instant,
    /// The status, and whether the answer accepted the message.
    result: Result<(u16, bool), Failure>,
}

enum Failure {
    Timeout,
    Connect,
    Other,
}

async fn send(client: reqwest::Client, api: HttpApi, url: String, n: u64, start: Instant) -> Done {
    let result = match client.get(url).send().await {
        Ok(response) => {
            let status = response.status().as_u16();
            // Read the whole body: the answer's text, and the connection back to the pool.
            let body = response.bytes().await.unwrap_or_default();
            Ok((status, api.accepted(status, &body)))
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
            inflight.push(send(client.clone(), target.api, url, n, start));
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
        Ok((status, accepted)) => {
            out.last_response = Some(now);
            out.submit_latency
                .saturating_record(micros(now.saturating_duration_since(done.start)));
            let code = match (accepted, (200..300).contains(&status)) {
                (false, true) => u32::from(status) + NOT_ACCEPTED_2XX,
                _ => u32::from(status),
            };
            *out.by_status.entry(code).or_default() += 1;
            run.live.answered.fetch_add(1, Ordering::Relaxed);
            if !accepted {
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

/// The message number of a callback: in its path (`/dlr/42`, Jasmin's callbacks, whose
/// query carries Jasmin's own `id`), or else in its query (`id=42`, Kannel's).
fn message_number<'a>(path: &'a str, query: Option<&'a str>) -> Option<&'a str> {
    let digits = |n: &&str| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit());
    if let Some(n) = path.strip_prefix("/dlr/") {
        return Some(n).filter(digits);
    }
    query?
        .split('&')
        .find_map(|pair| pair.strip_prefix("id="))
        .filter(digits)
}

/// What the receipt endpoint answers: any 2xx does for Kannel; Jasmin calls a receipt again
/// unless the body is this.
const RECEIPT_ANSWER: &[u8] = b"ACK/Jasmin";

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
                        let uri = request.uri();
                        let id = message_number(uri.path(), uri.query()).map(str::to_owned);
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
                        async { Ok::<_, Infallible>(Response::new(Full::new(Bytes::from_static(RECEIPT_ANSWER)))) }
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
#[allow(clippy::unwrap_used)]
mod tests {
    use super::super::MessageMix;
    use super::*;

    #[test]
    fn values_are_percent_encoded() {
        assert_eq!(encode("a b&c=d/ü"), "a%20b%26c%3Dd%2F%C3%BC");
        assert_eq!(encode("Tern-1_2.3~"), "Tern-1_2.3~");
    }

    #[test]
    fn callbacks_carry_the_message_number() {
        assert_eq!(message_number("/dlr", Some("id=42&type=1")), Some("42"));
        assert_eq!(message_number("/dlr", Some("type=1&id=7")), Some("7"));
        assert_eq!(message_number("/dlr", Some("type=1&id=")), None);
        assert_eq!(message_number("/dlr", Some("id=x1")), None);
        assert_eq!(message_number("/dlr", None), None);
    }

    #[test]
    fn jasmin_callbacks_are_matched_by_the_number_in_their_path() {
        // Jasmin's GET callback: its own message id and the status in the query.
        let query = "id=6cf4ab9e-5b1c-4c5e-9d0a-2f5a1e0c7b11&message_status=DELIVRD&level=2";
        assert_eq!(message_number("/dlr/42", Some(query)), Some("42"));
        assert_eq!(message_number("/dlr/42", None), Some("42"));
        assert_eq!(message_number("/dlr/4x2", Some("id=42")), None);
        assert_eq!(message_number("/dlr/", Some("id=42")), None);
    }

    fn run_of(mix: MessageMix, receipts: bool) -> Run {
        let config = LoadConfig {
            mix,
            registered_delivery: receipts,
            ..LoadConfig::default()
        };
        Run::new(config, hdrhistogram::Histogram::new(3).unwrap())
    }

    fn target(api: HttpApi) -> HttpTarget {
        HttpTarget {
            url: "http://127.0.0.1:1/x".into(),
            username: "bench".into(),
            password: "pw&1".into(),
            api,
        }
    }

    fn pairs(query: &str) -> Vec<(&str, &str)> {
        query
            .split('&')
            .filter_map(|pair| pair.split_once('='))
            .collect()
    }

    const GSM7: MessageMix = MessageMix {
        gsm7: 1,
        long: 0,
        ucs2: 0,
    };
    const UCS2: MessageMix = MessageMix {
        gsm7: 0,
        long: 0,
        ucs2: 1,
    };

    #[test]
    fn kannel_requests_carry_text_and_a_dlr_url_with_the_number_in_its_query() {
        let run = run_of(GSM7, true);
        let q = query(
            &run,
            &target(HttpApi::Kannel),
            42,
            Some("http://127.0.0.1:9/dlr"),
        );
        let p = pairs(&q);
        assert!(p.contains(&("username", "bench")));
        assert!(p.contains(&("password", "pw%261")));
        assert!(p.contains(&("to", "49170000042")));
        assert!(p.contains(&("coding", "0")));
        assert!(p.contains(&("dlr-mask", "3")));
        assert!(p.contains(&(
            "dlr-url",
            "http%3A%2F%2F127.0.0.1%3A9%2Fdlr%3Fid%3D42%26type%3D%25d"
        )));
        assert!(p
            .iter()
            .any(|(k, v)| *k == "text" && v.starts_with("Tern%20bench%20000000000042")));
        assert!(!p.iter().any(|(k, _)| *k == "content" || *k == "dlr"));
    }

    #[test]
    fn jasmin_requests_carry_content_and_a_level_2_get_dlr_url_with_the_number_in_its_path() {
        let run = run_of(GSM7, true);
        let q = query(
            &run,
            &target(HttpApi::Jasmin),
            42,
            Some("http://127.0.0.1:9/dlr"),
        );
        let p = pairs(&q);
        assert!(p.contains(&("username", "bench")));
        assert!(p.contains(&("password", "pw%261")));
        assert!(p.contains(&("from", "TernBench")));
        assert!(p.contains(&("to", "49170000042")));
        assert!(p.contains(&("dlr", "yes")));
        assert!(p.contains(&("dlr-level", "2")));
        assert!(p.contains(&("dlr-method", "GET")));
        assert!(p.contains(&("dlr-url", "http%3A%2F%2F127.0.0.1%3A9%2Fdlr%2F42")));
        let content = p.iter().find(|(k, _)| *k == "content").map(|(_, v)| *v);
        assert!(
            content.is_some_and(|c| c.starts_with("Tern%20bench%20000000000042")),
            "{q}"
        );
        // Jasmin refuses arguments it does not know: none of Kannel's.
        for kannel in ["text", "charset", "dlr-mask", "coding"] {
            assert!(!p.iter().any(|(k, _)| *k == kannel), "{kannel} in {q}");
        }
        // Without receipts, no dlr arguments at all.
        let run = run_of(GSM7, false);
        let q = query(&run, &target(HttpApi::Jasmin), 42, None);
        assert!(!q.contains("dlr"), "{q}");
    }

    #[test]
    fn jasmin_ucs2_goes_as_hex_content_with_coding_8() {
        let run = run_of(UCS2, false);
        let q = query(&run, &target(HttpApi::Jasmin), 7, None);
        let p = pairs(&q);
        assert!(p.contains(&("coding", "8")), "{q}");
        assert!(!p.iter().any(|(k, _)| *k == "content"), "{q}");
        let hex = p
            .iter()
            .find(|(k, _)| *k == "hex-content")
            .map(|(_, v)| *v)
            .unwrap_or_default();
        // "Tern" in UTF-16BE, and a character beyond Latin-1.
        assert!(hex.starts_with("005400650072006e"), "{hex}");
        assert!(hex.contains("041f"), "П in {hex}");
        assert_eq!(utf16_hex("你"), "4f60");
    }

    #[test]
    fn the_authenticating_request_sends_no_message() {
        let kannel = authenticate_url(&target(HttpApi::Kannel));
        assert_eq!(
            kannel,
            "http://127.0.0.1:1/x?username=bench&password=pw%261"
        );
        let mut jasmin = target(HttpApi::Jasmin);
        jasmin.url = "http://127.0.0.1:1401/send".into();
        assert_eq!(
            authenticate_url(&jasmin),
            "http://127.0.0.1:1401/balance?username=bench&password=pw%261"
        );
    }

    #[test]
    fn answers_are_accepted_as_each_gateway_accepts() {
        assert!(HttpApi::Kannel.accepted(202, b"0: Accepted for delivery"));
        assert!(HttpApi::Kannel.accepted(200, b""));
        assert!(!HttpApi::Kannel.accepted(403, b"Authorization failed for sendsms"));
        assert!(!HttpApi::Kannel.accepted(503, b"Temporal failure, try again later."));
        assert!(HttpApi::Jasmin.accepted(200, b"Success \"5d0c1b1e-33aa-4c77\""));
        assert!(!HttpApi::Jasmin.accepted(200, b"Error \"No route found\""));
        assert!(!HttpApi::Jasmin.accepted(202, b"Success \"x\""));
        assert!(
            !HttpApi::Jasmin.accepted(403, b"Error \"Authentication failure for username:bench\"")
        );
        assert_eq!(status_name(202), "HTTP_202");
        assert_eq!(status_name(200 + NOT_ACCEPTED_2XX), "HTTP_200_NOT_ACCEPTED");
    }
}
