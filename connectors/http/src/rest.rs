//! The `/v1` handlers.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::rejection::QueryRejection;
use axum::extract::{ConnectInfo, Path, Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use tern_actors::lookup;
use tern_model::{MessageId, MessageState};
use tern_storage::{MessageRecord, RecordState};
use tracing::Instrument as _;

use crate::api::{self, BatchRequest, SendRequest, MAX_BATCH};
use crate::error::{ApiError, ErrorBody};
use crate::idempotency::{self, Answer, Begin};
use crate::{send, HttpFrontend};

type Front = State<Arc<HttpFrontend>>;
type Peer = ConnectInfo<SocketAddr>;

fn json_answer<T: serde::Serialize>(status: StatusCode, body: &T) -> Answer {
    Answer {
        status: status.as_u16(),
        body: serde_json::to_string(body).unwrap_or_default(),
        content_type: "application/json".into(),
    }
}

fn error_answer(error: &ApiError) -> Answer {
    json_answer(error.status, &error.body())
}

fn respond(answer: Answer, replayed: bool) -> Response {
    let status = StatusCode::from_u16(answer.status).unwrap_or(StatusCode::OK);
    let mut response = (status, answer.body).into_response();
    let headers = response.headers_mut();
    let content_type = HeaderValue::from_str(&answer.content_type)
        .unwrap_or(HeaderValue::from_static("application/json"));
    headers.insert(header::CONTENT_TYPE, content_type);
    if status == StatusCode::TOO_MANY_REQUESTS {
        headers.insert(
            header::RETRY_AFTER,
            HeaderValue::from(crate::error::RETRY_AFTER_SECS),
        );
    }
    if replayed {
        headers.insert("idempotent-replayed", HeaderValue::from_static("true"));
    }
    response
}

/// Runs a send under its `Idempotency-Key`, if it has one.
pub(crate) async fn idempotent<F, Fut>(
    front: &HttpFrontend,
    headers: &HeaderMap,
    account: &str,
    what: (&str, &str, &[u8]),
    run: F,
) -> Response
where
    F: FnOnce() -> Fut,
    Fut: std::future::Future<Output = Answer>,
{
    let key = match headers.get("idempotency-key").map(|v| v.to_str()) {
        None => return respond(run().await, false),
        Some(Ok(key)) => key.to_owned(),
        Some(Err(_)) => {
            let error = ApiError::invalid("Idempotency-Key", "the Idempotency-Key is not ASCII");
            return error.into_response();
        }
    };
    if let Err(error) = idempotency::check_key(&key) {
        return error.into_response();
    }
    let store = front.ctx().store.as_ref();
    let fingerprint = idempotency::fingerprint(what.0, what.1, what.2);
    match idempotency::begin(store, account, &key, &fingerprint).await {
        Err(error) => error.into_response(),
        Ok(Begin::Replay(answer)) => respond(answer, true),
        Ok(Begin::Run) => {
            let answer = run().await;
            idempotency::finish(store, account, &key, &fingerprint, answer.clone()).await;
            respond(answer, false)
        }
    }
}

/// Takes a slot of the requests in flight, or answers 429.
fn admit(front: &HttpFrontend) -> Result<tokio::sync::OwnedSemaphorePermit, ApiError> {
    front
        .in_flight
        .clone()
        .try_acquire_owned()
        .map_err(|_| ApiError::throttled("too many requests in flight: retry later"))
}

/// The fields of a send or a batch, as an error names them.
const FIELDS: [&str; 13] = [
    "to",
    "from",
    "text",
    "binary",
    "encoding",
    "reference",
    "send_at",
    "validity_secs",
    "receipt",
    "flash",
    "messages",
    "message",
    "body",
];

fn parse<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    serde_json::from_slice(body).map_err(|error| {
        let text = error.to_string();
        // serde names a missing or unknown field between backquotes.
        let named = text
            .split('`')
            .nth(1)
            .and_then(|name| FIELDS.iter().find(|f| **f == name).copied());
        let error = ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            format!("the body is not the JSON this endpoint takes: {text}"),
        );
        match named {
            Some(field) => error.at(field),
            None => error,
        }
    })
}

fn count(endpoint: &'static str, status: StatusCode) {
    metrics::counter!("tern_http_requests_total", "endpoint" => endpoint, "status" => status.as_str().to_owned())
        .increment(1);
}

/// Send one message.
#[utoipa::path(
    post,
    path = "/v1/messages",
    tag = "messages",
    request_body = SendRequest,
    params(("Idempotency-Key" = Option<String>, Header, description = "1 to 255 visible ASCII characters. A retry with the same key and the same body gets the first answer again (with the header `idempotent-replayed: true`) instead of sending again, for 24 hours, on any node; the same key with another body is refused (422); while the first request still runs, 409.")),
    responses(
        (status = 201, description = "Durable and queued", body = api::Accepted),
        (status = 400, description = "A field is missing or wrong", body = ErrorBody),
        (status = 401, description = "No or a wrong API key", body = ErrorBody),
        (status = 403, description = "Not allowed: disabled, address, quota, credit", body = ErrorBody),
        (status = 409, description = "A request with this Idempotency-Key is still running", body = ErrorBody),
        (status = 413, description = "The body is too large"),
        (status = 422, description = "The Idempotency-Key was used with another request", body = ErrorBody),
        (status = 429, description = "Throttled: retry after Retry-After seconds", body = ErrorBody),
        (status = 500, description = "The gateway failed; nothing was sent", body = ErrorBody),
    ),
    security(("api_key" = []), ("bearer" = []))
)]
pub(crate) async fn send(
    State(front): Front,
    ConnectInfo(peer): Peer,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let started = std::time::Instant::now();
    let response = send_inner(&front, peer, &headers, &body).await;
    count("send", response.status());
    metrics::histogram!("tern_http_request_seconds", "endpoint" => "send")
        .record(started.elapsed().as_secs_f64());
    response
}

async fn send_inner(
    front: &Arc<HttpFrontend>,
    peer: SocketAddr,
    headers: &HeaderMap,
    body: &[u8],
) -> Response {
    let _permit = match admit(front) {
        Ok(permit) => permit,
        Err(error) => return error.into_response(),
    };
    let account = match front.by_key(headers, peer.ip()) {
        Ok(account) => account,
        Err(error) => return error.into_response(),
    };
    let span = tracing::info_span!(
        "http_send",
        account = account.id,
        message_id = tracing::field::Empty
    );
    let what = ("POST", "/v1/messages", body);
    let account_id = account.id.clone();
    idempotent(front, headers, &account_id, what, || {
        let recorded = span.clone();
        async move {
            let request: SendRequest = match parse(body) {
                Ok(request) => request,
                Err(error) => return error_answer(&error),
            };
            let now = (tern_model::now_ms() / 1000) as i64;
            let message = match send::message(&request, now) {
                Ok(message) => message,
                Err(error) => return error_answer(&error),
            };
            let session = match front.sessions.of(&account, peer.ip()).await {
                Ok(session) => session,
                Err(error) => return error_answer(&error),
            };
            match send::submit(&session, message).await {
                Ok(id) => {
                    recorded.record("message_id", id.0);
                    tracing::debug!(parent: &recorded, "accepted");
                    let accepted = api::Accepted {
                        id: id.to_string(),
                        to: request.to,
                        reference: request.reference,
                    };
                    json_answer(StatusCode::CREATED, &accepted)
                }
                Err(rejection) => error_answer(&ApiError::rejection(rejection)),
            }
        }
        .instrument(span.clone())
    })
    .await
}

/// Send many messages, each accepted or refused on its own.
#[utoipa::path(
    post,
    path = "/v1/messages/batch",
    tag = "messages",
    request_body = BatchRequest,
    params(("Idempotency-Key" = Option<String>, Header, description = "1 to 255 visible ASCII characters. A retry with the same key and the same body gets the first answer again (with the header `idempotent-replayed: true`) instead of sending again, for 24 hours, on any node; the same key with another body is refused (422); while the first request still runs, 409.")),
    responses(
        (status = 200, description = "What became of each message", body = api::BatchAnswer),
        (status = 400, description = "The batch is empty, too large or malformed", body = ErrorBody),
        (status = 401, description = "No or a wrong API key", body = ErrorBody),
        (status = 403, description = "The account or address is not allowed", body = ErrorBody),
        (status = 409, description = "A request with this Idempotency-Key is still running", body = ErrorBody),
        (status = 413, description = "The body is too large"),
        (status = 422, description = "The Idempotency-Key was used with another request", body = ErrorBody),
        (status = 429, description = "Throttled", body = ErrorBody),
    ),
    security(("api_key" = []), ("bearer" = []))
)]
pub(crate) async fn batch(
    State(front): Front,
    ConnectInfo(peer): Peer,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let response = batch_inner(&front, peer, &headers, &body).await;
    count("batch", response.status());
    response
}

async fn batch_inner(
    front: &Arc<HttpFrontend>,
    peer: SocketAddr,
    headers: &HeaderMap,
    body: &[u8],
) -> Response {
    let _permit = match admit(front) {
        Ok(permit) => permit,
        Err(error) => return error.into_response(),
    };
    let account = match front.by_key(headers, peer.ip()) {
        Ok(account) => account,
        Err(error) => return error.into_response(),
    };
    let what = ("POST", "/v1/messages/batch", body);
    let account_id = account.id.clone();
    idempotent(front, headers, &account_id, what, || async move {
        let request: BatchRequest = match parse(body) {
            Ok(request) => request,
            Err(error) => return error_answer(&error),
        };
        let requests = match batch_requests(request) {
            Ok(requests) => requests,
            Err(error) => return error_answer(&error),
        };
        let session = match front.sessions.of(&account, peer.ip()).await {
            Ok(session) => session,
            Err(error) => return error_answer(&error),
        };
        let now = (tern_model::now_ms() / 1000) as i64;
        let messages = requests.iter().map(|r| send::message(r, now)).collect();
        let outcomes = send::submit_all(&session, messages).await;
        let results: Vec<api::BatchResult> = requests
            .iter()
            .zip(outcomes)
            .enumerate()
            .map(|(index, (request, outcome))| match outcome {
                Ok(id) => api::BatchResult {
                    index,
                    to: request.to.clone(),
                    id: Some(id.to_string()),
                    error: None,
                },
                Err(error) => api::BatchResult {
                    index,
                    to: request.to.clone(),
                    id: None,
                    error: Some(api::BatchError {
                        code: error.code.to_owned(),
                        message: error.message,
                        field: error.field.map(str::to_owned),
                    }),
                },
            })
            .collect();
        let accepted = results.iter().filter(|r| r.id.is_some()).count();
        let answer = api::BatchAnswer {
            accepted,
            refused: results.len() - accepted,
            results,
        };
        json_answer(StatusCode::OK, &answer)
    })
    .await
}

/// The sends of a batch, in order.
fn batch_requests(request: BatchRequest) -> Result<Vec<SendRequest>, ApiError> {
    let BatchRequest {
        messages,
        to,
        message,
    } = request;
    let sends: Vec<SendRequest> = match (messages.is_empty(), to.is_empty(), message) {
        (false, true, None) => messages,
        (true, false, Some(template)) => to.iter().map(|to| template.to(to)).collect(),
        (true, false, None) => return Err(ApiError::invalid("message", "`to` needs `message`")),
        (true, true, _) => {
            return Err(ApiError::invalid(
                "messages",
                "give `messages`, or `to` with `message`",
            ))
        }
        _ => {
            return Err(ApiError::invalid(
                "messages",
                "give `messages`, or `to` with `message`, not both",
            ))
        }
    };
    if sends.len() > MAX_BATCH {
        return Err(ApiError::invalid(
            "messages",
            format!("a batch holds at most {MAX_BATCH} messages"),
        ));
    }
    Ok(sends)
}

fn message_id(text: &str) -> Result<MessageId, ApiError> {
    text.parse::<u64>()
        .map(MessageId)
        .map_err(|_| ApiError::not_found("message"))
}

/// A message's state and history.
#[utoipa::path(
    get,
    path = "/v1/messages/{id}",
    tag = "messages",
    params(("id" = String, Path, description = "The id the send answered")),
    responses(
        (status = 200, description = "The message", body = api::MessageStatus),
        (status = 401, description = "No or a wrong API key", body = ErrorBody),
        (status = 403, description = "The account or address is not allowed", body = ErrorBody),
        (status = 404, description = "No such message of this account", body = ErrorBody),
    ),
    security(("api_key" = []), ("bearer" = []))
)]
pub(crate) async fn status(
    State(front): Front,
    ConnectInfo(peer): Peer,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    let result = async {
        let account = front.by_key(&headers, peer.ip())?;
        let id = message_id(&id)?;
        let parts = lookup::own_parts(front.ctx(), &account.id, id)
            .await
            .ok_or_else(|| ApiError::not_found("message"))?;
        Ok::<_, ApiError>(Json(message_status(front.ctx(), id, &parts)))
    }
    .await;
    let response = result.into_response();
    count("status", response.status());
    response
}

/// The state the API gives a record's state.
fn record_state(state: RecordState) -> api::State {
    match state {
        RecordState::Accepted => api::State::Queued,
        RecordState::Submitted | RecordState::Merged => api::State::Submitted,
        RecordState::Delivered => api::State::Delivered,
        RecordState::Undeliverable => api::State::Undeliverable,
        RecordState::Expired => api::State::Expired,
        RecordState::Failed => api::State::Failed,
        RecordState::Unknown => api::State::Unknown,
        RecordState::Cancelled => api::State::Cancelled,
        RecordState::Rejected => api::State::Rejected,
    }
}

fn message_status(
    ctx: &tern_actors::Context,
    id: MessageId,
    parts: &[MessageRecord],
) -> api::MessageStatus {
    let standing = lookup::standing(ctx, parts);
    let state = match standing.state {
        MessageState::Enroute | MessageState::Accepted
            if parts.iter().any(|p| !p.state.is_final()) =>
        {
            if parts.iter().any(|p| p.state == RecordState::Submitted) {
                api::State::Submitted
            } else {
                api::State::Queued
            }
        }
        MessageState::Delivered | MessageState::Accepted => api::State::Delivered,
        MessageState::Expired => api::State::Expired,
        MessageState::Deleted => api::State::Cancelled,
        MessageState::Undeliverable => api::State::Undeliverable,
        MessageState::Rejected => api::State::Rejected,
        MessageState::Skipped => api::State::Failed,
        MessageState::Unknown | MessageState::Enroute => api::State::Unknown,
    };
    let first = parts.iter().min_by_key(|p| p.part);
    let mut history: Vec<api::Step> = parts
        .iter()
        .flat_map(|p| {
            p.history.iter().map(|t| api::Step {
                part: u32::from(p.part),
                state: record_state(t.state),
                at_ms: t.at_ms,
                detail: t.detail.clone(),
            })
        })
        .collect();
    history.sort_by_key(|s| (s.at_ms, s.part));
    api::MessageStatus {
        id: id.to_string(),
        to: first
            .map(|p| p.message.destination.value.clone())
            .unwrap_or_default(),
        from: first
            .map(|p| p.message.source.value.clone())
            .unwrap_or_default(),
        state,
        parts: first.map_or(0, |p| u32::from(p.parts)),
        accepted_at_ms: first.map_or(0, |p| p.accepted_ms),
        error_code: (standing.error != 0).then_some(u32::from(standing.error)),
        reference: first.and_then(|p| p.client_ref.clone()),
        price: parts.iter().map(|p| p.price).sum(),
        history,
    }
}

/// Withdraw a message that is queued or scheduled.
#[utoipa::path(
    delete,
    path = "/v1/messages/{id}",
    tag = "messages",
    params(("id" = String, Path, description = "The id the send answered")),
    responses(
        (status = 200, description = "Withdrawn", body = api::Cancelled),
        (status = 401, description = "No or a wrong API key", body = ErrorBody),
        (status = 403, description = "The account or address is not allowed", body = ErrorBody),
        (status = 404, description = "No such message of this account", body = ErrorBody),
        (status = 409, description = "Already at an operator, or final", body = ErrorBody),
    ),
    security(("api_key" = []), ("bearer" = []))
)]
pub(crate) async fn cancel(
    State(front): Front,
    ConnectInfo(peer): Peer,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    let result = async {
        let account = front.by_key(&headers, peer.ip())?;
        let id = message_id(&id)?;
        if lookup::own_parts(front.ctx(), &account.id, id).await.is_none() {
            return Err(ApiError::not_found("message"));
        }
        if !lookup::cancel(front.ctx(), &account.id, id).await {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                "not_cancellable",
                "the message is at an operator or has ended; only a queued or scheduled one can be withdrawn",
            ));
        }
        Ok(Json(api::Cancelled {
            id: id.to_string(),
            state: api::State::Cancelled,
        }))
    }
    .await;
    let response = result.into_response();
    count("cancel", response.status());
    response
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct ByReference {
    /// The reference given when sending.
    reference: String,
}

/// The messages sent with a reference, newest first (at most 100).
#[utoipa::path(
    get,
    path = "/v1/messages",
    tag = "messages",
    params(ByReference),
    responses(
        (status = 200, description = "Their ids", body = api::MessageList),
        (status = 400, description = "No reference", body = ErrorBody),
        (status = 401, description = "No or a wrong API key", body = ErrorBody),
        (status = 403, description = "The account or address is not allowed", body = ErrorBody),
        (status = 429, description = "The store is busy", body = ErrorBody),
    ),
    security(("api_key" = []), ("bearer" = []))
)]
pub(crate) async fn by_reference(
    State(front): Front,
    ConnectInfo(peer): Peer,
    headers: HeaderMap,
    query: Result<Query<ByReference>, QueryRejection>,
) -> Response {
    let result = async {
        let account = front.by_key(&headers, peer.ip())?;
        let Ok(Query(query)) = query else {
            return Err(ApiError::invalid("reference", "give ?reference="));
        };
        let ids = front
            .ctx()
            .store
            .messages_by_client_ref(&account.id, &query.reference, 100)
            .await
            .map_err(|_| ApiError::throttled("the store did not answer: retry later"))?;
        Ok(Json(api::MessageList {
            ids: ids.iter().map(ToString::to_string).collect(),
        }))
    }
    .await;
    let response = result.into_response();
    count("by_reference", response.status());
    response
}

/// The account's balance and use.
#[utoipa::path(
    get,
    path = "/v1/balance",
    tag = "account",
    responses(
        (status = 200, description = "Balance and use", body = api::Balance),
        (status = 401, description = "No or a wrong API key", body = ErrorBody),
        (status = 403, description = "The account or address is not allowed", body = ErrorBody),
        (status = 404, description = "The account has no ledger on this node yet", body = ErrorBody),
    ),
    security(("api_key" = []), ("bearer" = []))
)]
pub(crate) async fn balance(
    State(front): Front,
    ConnectInfo(peer): Peer,
    headers: HeaderMap,
) -> Response {
    let result = front
        .by_key(&headers, peer.ip())
        .and_then(|account| balance_of(&front, &account.id).map(Json));
    let response = result.into_response();
    count("balance", response.status());
    response
}

pub(crate) fn balance_of(front: &HttpFrontend, account: &str) -> Result<api::Balance, ApiError> {
    let now = tern_model::now_ms();
    let found = front
        .ctx()
        .ledger
        .account(account)
        .ok_or_else(|| ApiError::not_found("account ledger"))?;
    let ledger = &found.ledger;
    Ok(api::Balance {
        account: account.to_owned(),
        balance: ledger.balance,
        credit_limit: found.spec.limits.credit_limit,
        reserved: ledger.reserved_amount,
        period_used: found.used_at(now),
        period_limit: found.spec.limits.max_messages,
        period_start_ms: ledger.period_start_ms,
        spent_total: ledger.spent_total,
        parts_total: ledger.parts_total,
    })
}

pub(crate) async fn not_found() -> ApiError {
    ApiError::not_found("endpoint")
}
