//! `Idempotency-Key`: a send retried with the same key gets the first answer again (the
//! same ids) instead of sending twice, for [`WINDOW`] after the first, on any node that
//! shares the store. The first request claims the key in the store (an insert that only
//! one request can win, across nodes); its answer replaces the claim once known. A retry
//! while the first is still running is answered 409 `idempotency_key_in_use`; the same key
//! with another request body is answered 422 `idempotency_key_reused`. A claim whose
//! request died with its node (older than [`STALE`]) is taken over.
//!
//! An answer that sent nothing (throttled, the store or the gateway failing) frees the key:
//! the retry is a first try.

use std::time::Duration;

use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use tern_storage::{Claim, MessageStore, WriteOp};

use crate::error::ApiError;

/// How long an answer is kept for retries.
pub const WINDOW: Duration = Duration::from_secs(24 * 3600);
/// A claim older than this belongs to a request that will not answer.
pub const STALE: Duration = Duration::from_secs(60);
/// Longest key.
pub const MAX_KEY: usize = 255;

/// What the store keeps under a key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Record {
    /// SHA-256 of the request (method, path and body), in hexadecimal.
    pub fingerprint: String,
    pub at_ms: u64,
    /// The answer, once known.
    pub answer: Option<Answer>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Answer {
    pub status: u16,
    pub body: String,
    #[serde(default)]
    pub content_type: String,
}

/// What to do with a request that carries a key.
pub enum Begin {
    /// Run it, then [`finish`].
    Run,
    /// Answer this, as the first answer was.
    Replay(Answer),
}

/// A key's fingerprint of a request.
pub fn fingerprint(method: &str, path: &str, body: &[u8]) -> String {
    let mut digest = Sha256::new();
    digest.update(method.as_bytes());
    digest.update(b" ");
    digest.update(path.as_bytes());
    digest.update(b"\n");
    digest.update(body);
    crate::callback::hex(&digest.finalize())
}

/// Checks a key's form: 1 to 255 visible ASCII characters.
pub fn check_key(key: &str) -> Result<(), ApiError> {
    if key.is_empty() || key.len() > MAX_KEY || !key.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(ApiError::invalid(
            "Idempotency-Key",
            format!("the Idempotency-Key must be 1 to {MAX_KEY} visible ASCII characters"),
        ));
    }
    Ok(())
}

fn encode(record: &Record) -> Vec<u8> {
    serde_json::to_vec(record).unwrap_or_default()
}

fn unavailable() -> ApiError {
    ApiError::throttled("the idempotency record could not be read or written: retry later")
}

/// Claims `key` for a request of `fingerprint`, or says how the first one was answered.
pub async fn begin(
    store: &dyn MessageStore,
    account: &str,
    key: &str,
    fingerprint: &str,
) -> Result<Begin, ApiError> {
    let now = tern_model::now_ms();
    let expires = now + WINDOW.as_millis() as u64;
    let claim = Record {
        fingerprint: fingerprint.to_owned(),
        at_ms: now,
        answer: None,
    };
    let existing = match store
        .claim_idempotent(account, key, encode(&claim), expires)
        .await
    {
        Ok(Claim::Claimed) => return Ok(Begin::Run),
        Ok(Claim::Exists(value)) => value,
        Err(error) => {
            tracing::warn!(%error, "idempotency claim failed");
            return Err(unavailable());
        }
    };
    let Ok(record) = serde_json::from_slice::<Record>(&existing) else {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "idempotency_key_in_use",
            "the key's record cannot be read; use a new key",
        ));
    };
    if record.fingerprint != fingerprint {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "idempotency_key_reused",
            "this Idempotency-Key was used with another request",
        )
        .at("Idempotency-Key"));
    }
    if let Some(answer) = record.answer {
        metrics::counter!("tern_http_idempotent_replays_total").increment(1);
        return Ok(Begin::Replay(answer));
    }
    if now.saturating_sub(record.at_ms) < STALE.as_millis() as u64 {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "idempotency_key_in_use",
            "a request with this Idempotency-Key is still running: retry later",
        ));
    }
    // Its request died with its node: this one takes the key over.
    let op = WriteOp::PutIdempotent {
        account: account.to_owned(),
        key: key.to_owned(),
        value: encode(&claim),
        expires_ms: expires,
    };
    tern_storage::write_durable(store, vec![op])
        .await
        .map_err(|_| unavailable())?;
    Ok(Begin::Run)
}

/// Keeps the answer for retries, or frees the key when the answer sent nothing.
pub async fn finish(
    store: &dyn MessageStore,
    account: &str,
    key: &str,
    fingerprint: &str,
    answer: Answer,
) {
    let final_answer = !(answer.status == 429 || answer.status >= 500);
    let op = if final_answer {
        let record = Record {
            fingerprint: fingerprint.to_owned(),
            at_ms: tern_model::now_ms(),
            answer: Some(answer),
        };
        WriteOp::PutIdempotent {
            account: account.to_owned(),
            key: key.to_owned(),
            value: encode(&record),
            expires_ms: tern_model::now_ms() + WINDOW.as_millis() as u64,
        }
    } else {
        WriteOp::RemoveIdempotent {
            account: account.to_owned(),
            key: key.to_owned(),
        }
    };
    if let Err(error) = tern_storage::write_durable(store, vec![op]).await {
        tracing::warn!(%error, "idempotency answer not stored");
    }
}
