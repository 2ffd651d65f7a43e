//! Receipts and MO for HTTP customers: the account's callback (a signed JSON POST), or a
//! message's own `dlr-url` (Kannel's escapes, or Jasmin's parameters). [`HttpLink`] is the
//! pipeline's [`CustomerLink`] of an account's HTTP session: the outbox hands it what is
//! held for the account, durably, and keeps it until a delivery here succeeds (a 2xx), so a
//! receiver that is down gets everything once it is back, in the outbox's order.
//!
//! Each endpoint backs off on its own while it fails (1 s doubling to 30 s): the outbox
//! asks again every second, and a delivery to an endpoint in its wait fails at once
//! without a request.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use futures::future::BoxFuture;
use futures::FutureExt as _;
use hmac::{Hmac, Mac};
use ractor::ActorRef;
use sha2::Sha256;
use tern_actors::accounts::{Accounts, CallbackPolicy};
use tern_actors::protocol::{CustomerLink, StillOurs};
use tern_actors::session::SessionMsg;
use tern_model::{Body, Message, MessageState, Rejection};
use tern_storage::{HeldDelivery, HeldKind};
use tracing::{debug, warn};

use crate::api;
use crate::error::ApiError;
use crate::escapes;

/// How long one callback request may take.
const POST_TIMEOUT: Duration = Duration::from_secs(10);
const FIRST_WAIT: Duration = Duration::from_secs(1);
const LONGEST_WAIT: Duration = Duration::from_secs(30);
/// Endpoints whose failures are remembered per account; the oldest go past this.
const MAX_ENDPOINTS: usize = 1024;

/// The header of a callback's signature.
pub const SIGNATURE_HEADER: &str = "Tern-Signature";

/// `t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">` under `secret`.
pub fn signature(secret: &str, unix: i64, body: &[u8]) -> String {
    let mut mac = match Hmac::<Sha256>::new_from_slice(secret.as_bytes()) {
        Ok(mac) => mac,
        // HMAC takes keys of any length.
        Err(_) => return String::new(),
    };
    mac.update(unix.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    format!("t={unix},v1={}", hex(&mac.finalize().into_bytes()))
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
}

/// Where one item goes.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Target {
    Account(CallbackPolicy),
    /// A message's own endpoint ([`escapes::PerMessage`]).
    Message(escapes::PerMessage),
}

impl Target {
    /// The endpoint's key for its backoff.
    fn key(&self) -> String {
        match self {
            Target::Account(callback) => callback.url.clone(),
            Target::Message(per) => per.endpoint(),
        }
    }
}

/// An endpoint's failures: it is not tried until `until`; then one delivery probes it
/// while the others wait for its outcome.
#[derive(Debug, Clone, Copy)]
struct Failing {
    wait: Duration,
    until: Instant,
    /// Since when a delivery probes the endpoint.
    probing: Option<Instant>,
}

/// The HTTP session's side of one account: delivers what the outbox hands it.
#[derive(Clone)]
pub struct HttpLink {
    inner: Arc<Inner>,
    /// The session this link belongs to, to end it.
    pub(crate) session: Arc<OnceLock<ActorRef<SessionMsg>>>,
}

struct Inner {
    account: String,
    accounts: Accounts,
    client: reqwest::Client,
    failing: Mutex<HashMap<String, Failing>>,
}

impl HttpLink {
    pub(crate) fn new(account: &str, accounts: Accounts, client: reqwest::Client) -> Self {
        let inner = Inner {
            account: account.to_owned(),
            accounts,
            client,
            failing: Mutex::new(HashMap::new()),
        };
        Self {
            inner: Arc::new(inner),
            session: Arc::new(OnceLock::new()),
        }
    }

    fn callback(&self) -> Option<CallbackPolicy> {
        self.inner.callback()
    }
}

impl Inner {
    fn callback(&self) -> Option<CallbackPolicy> {
        self.accounts.get(&self.account)?.policy().callback.clone()
    }

    /// Where `item` goes: a receipt to its message's own endpoint if it has one, else
    /// (and an MO) to the account's callback.
    fn target(&self, item: &HeldDelivery) -> Option<Target> {
        if item.kind == HeldKind::Receipt {
            let own = item.message.tlv_text(Message::CALLBACK_URL_TAG);
            if let Some(per) = own.and_then(escapes::PerMessage::parse) {
                return Some(Target::Message(per));
            }
        }
        self.callback().map(Target::Account)
    }

    /// Whether a delivery to `endpoint` must wait: it failed lately and its wait is not
    /// over, or another delivery is probing it. A delivery told not to wait after a wait
    /// is the probe.
    fn waiting(&self, endpoint: &str) -> bool {
        let mut failing = self.failing.lock().unwrap_or_else(|e| e.into_inner());
        let Some(f) = failing.get_mut(endpoint) else {
            return false;
        };
        let now = Instant::now();
        if f.until > now {
            return true;
        }
        // A probe that never came back (longer than any request) no longer counts.
        if f.probing
            .is_some_and(|since| now.duration_since(since) < POST_TIMEOUT * 2)
        {
            return true;
        }
        f.probing = Some(now);
        false
    }

    fn succeeded(&self, endpoint: &str) {
        let mut failing = self.failing.lock().unwrap_or_else(|e| e.into_inner());
        failing.remove(endpoint);
    }

    /// A delivery failed: the endpoint waits [`FIRST_WAIT`], or twice its last wait when
    /// the probe after a wait failed. Failures of deliveries that were under way together
    /// count once.
    fn failed(&self, endpoint: &str) {
        let mut failing = self.failing.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        let wait = match failing.get(endpoint) {
            Some(f) if f.until > now => return,
            Some(f) if f.probing.is_some() => (f.wait * 2).min(LONGEST_WAIT),
            Some(f) => f.wait,
            None => FIRST_WAIT,
        };
        if failing.len() >= MAX_ENDPOINTS && !failing.contains_key(endpoint) {
            if let Some(oldest) = failing
                .iter()
                .min_by_key(|(_, f)| f.until)
                .map(|(k, _)| k.clone())
            {
                failing.remove(&oldest);
            }
        }
        let failing_now = Failing {
            wait,
            until: now + wait,
            probing: None,
        };
        failing.insert(endpoint.to_owned(), failing_now);
    }

    async fn send(&self, item: &HeldDelivery, target: &Target) -> Result<(), String> {
        let request = match target {
            Target::Account(callback) => {
                let body = serde_json::to_vec(&callback_body(item))
                    .map_err(|error| format!("callback body: {error}"))?;
                let now = (tern_model::now_ms() / 1000) as i64;
                self.client
                    .post(&callback.url)
                    .header(reqwest::header::CONTENT_TYPE, "application/json")
                    .header(SIGNATURE_HEADER, signature(&callback.secret, now, &body))
                    .body(body)
            }
            Target::Message(per) => {
                let report = item.report.as_ref().ok_or("a receipt without its report")?;
                per.request(&self.client, item, report)?
            }
        };
        let answer = request
            .timeout(POST_TIMEOUT)
            .send()
            .await
            .map_err(|error| error.to_string())?;
        let status = answer.status();
        if status.is_success() {
            Ok(())
        } else {
            Err(format!("answered {status}"))
        }
    }

    async fn deliver_now(self: Arc<Self>, item: Arc<HeldDelivery>, still_ours: StillOurs) -> bool {
        let Some(target) = self.target(&item) else {
            // Nowhere to go: a receipt the customer can still read by the message's status.
            metrics::counter!("tern_http_callbacks_total", "result" => "no_endpoint").increment(1);
            debug!(
                account = self.account,
                key = item.key,
                "no callback endpoint; dropped"
            );
            return true;
        };
        let endpoint = target.key();
        if self.waiting(&endpoint) || !still_ours() {
            return false;
        }
        let started = Instant::now();
        let sent = self.send(&item, &target).await;
        metrics::histogram!("tern_http_callback_seconds").record(started.elapsed().as_secs_f64());
        match sent {
            Ok(()) => {
                self.succeeded(&endpoint);
                metrics::counter!("tern_http_callbacks_total", "result" => "delivered")
                    .increment(1);
                true
            }
            Err(error) => {
                self.failed(&endpoint);
                metrics::counter!("tern_http_callbacks_total", "result" => "failed").increment(1);
                warn!(
                    account = self.account,
                    key = item.key,
                    error,
                    "callback failed; kept for a retry"
                );
                false
            }
        }
    }
}

impl CustomerLink for HttpLink {
    fn protocol(&self) -> &'static str {
        crate::PROTOCOL
    }

    fn kind(&self) -> &'static str {
        "http"
    }

    fn can_receive(&self) -> bool {
        true
    }

    fn status(&self, rejection: Rejection) -> u32 {
        u32::from(ApiError::rejection(rejection).status.as_u16())
    }

    /// Receipts of messages sent over HTTP; MO and other receipts only while the account
    /// has a callback.
    fn takes(&self, item: &HeldDelivery) -> bool {
        let ours = item.kind == HeldKind::Receipt
            && item.message.tlv_text(Message::ORIGIN_TAG) == Some(crate::PROTOCOL);
        ours || self.callback().is_some()
    }

    fn own_only(&self) -> bool {
        true
    }

    fn deliver(&self, item: Arc<HeldDelivery>, still_ours: StillOurs) -> BoxFuture<'static, bool> {
        self.inner.clone().deliver_now(item, still_ours).boxed()
    }

    fn unbind(&self) -> BoxFuture<'static, ()> {
        let session = self.session.get().cloned();
        async move {
            if let Some(session) = session {
                let _ = session.cast(SessionMsg::Closed("unbound".into()));
            }
        }
        .boxed()
    }
}

/// The JSON of a receipt or MO for the account's callback.
pub fn callback_body(item: &HeldDelivery) -> api::Callback {
    let message = &item.message;
    let (text, binary) = match &message.body {
        Body::Text(text) => (Some(text.clone()), None),
        Body::Binary(octets) => (None, Some(hex(octets))),
    };
    match (&item.kind, &item.report) {
        (HeldKind::Receipt, Some(report)) => api::Callback {
            kind: "receipt".into(),
            event_id: format!("r{}", item.key),
            id: item.key.to_string(),
            from: message.source.value.clone(),
            to: message.destination.value.clone(),
            state: Some(state_word(report.state).into()),
            error_code: (report.error != 0).then_some(u32::from(report.error)),
            parts: Some(u32::from(report.submitted)),
            delivered_parts: Some(u32::from(report.delivered)),
            submitted_at: report.submit_unix,
            done_at: report.done_unix,
            text: None,
            binary: None,
            at_ms: item.held_ms,
        },
        _ => api::Callback {
            kind: "mo".into(),
            event_id: format!("m{}", item.key),
            id: item.key.to_string(),
            from: message.source.value.clone(),
            to: message.destination.value.clone(),
            state: None,
            error_code: None,
            parts: None,
            delivered_parts: None,
            submitted_at: None,
            done_at: None,
            text,
            binary,
            at_ms: item.held_ms,
        },
    }
}

/// A receipt state as the JSON API names it.
pub fn state_word(state: MessageState) -> &'static str {
    match state {
        MessageState::Enroute => "enroute",
        MessageState::Delivered => "delivered",
        MessageState::Expired => "expired",
        MessageState::Deleted => "deleted",
        MessageState::Undeliverable => "undeliverable",
        MessageState::Accepted => "accepted",
        MessageState::Unknown => "unknown",
        MessageState::Rejected => "rejected",
        MessageState::Skipped => "skipped",
    }
}
