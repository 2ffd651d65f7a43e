//! The HTTP API's credentials: API keys and callback endpoints of accounts.
//!
//! A key is made here ([`api_key::generate`]), its digest proposed, and the key answered
//! once: it is in no log, audit record or state. A callback's signing secret is made here
//! too when the caller gives none; the state keeps it (signing needs it), the account views
//! show only the URL, and a password in the URL reads `***` as everywhere else.

use tern_actors::api_key;
use tern_ledger::{ApiKey, Callback, Command};
use tonic::{Code, Status};

use super::now_ms;
use super::proto;
use super::service::{not_found, AdminService};
use crate::config::redact_url;

/// The label of a key created without one.
const DEFAULT_LABEL: &str = "default";

/// Tries at a fresh id when a new key's id is taken (48 random bits: next to never).
const ID_TRIES: usize = 3;

fn check_account(account: &str) -> Result<(), Status> {
    if account.is_empty() {
        return Err(Status::invalid_argument("account: empty"));
    }
    Ok(())
}

fn view(key: &ApiKey) -> proto::ApiKey {
    proto::ApiKey {
        id: key.id.clone(),
        account: key.account.clone(),
        label: key.label.clone(),
        created_ms: key.created_ms,
    }
}

pub(super) async fn create(
    svc: &AdminService,
    req: proto::CreateApiKeyRequest,
) -> Result<proto::CreatedApiKey, Status> {
    check_account(&req.account)?;
    let label = match req.label.as_str() {
        "" => DEFAULT_LABEL.to_owned(),
        label => label.to_owned(),
    };
    for _ in 0..ID_TRIES {
        let (id, key) = api_key::generate();
        let command = Command::PutApiKey {
            key: ApiKey {
                id: id.clone(),
                account: req.account.clone(),
                label: label.clone(),
                hash: api_key::hash_text(&key),
                created_ms: now_ms(),
            },
        };
        let what = format!("CreateApiKey {id} account={} label={label:?}", req.account);
        match svc.change(what, command).await {
            // The one thing PutApiKey refuses as existing: the id.
            Err(status) if status.code() == Code::AlreadyExists => continue,
            Err(status) => return Err(status),
            Ok(_) => {
                return Ok(proto::CreatedApiKey {
                    id,
                    key,
                    label,
                    account: req.account,
                })
            }
        }
    }
    Err(Status::unavailable(
        "no free API key id after several tries; try again",
    ))
}

pub(super) async fn list(
    svc: &AdminService,
    req: proto::ListApiKeysRequest,
) -> Result<proto::ApiKeyList, Status> {
    let account = req.account;
    svc.read(|state| {
        if account.is_empty() {
            let keys = state.http.keys.values().map(view).collect();
            return Some(proto::ApiKeyList { keys });
        }
        state
            .accounts
            .contains_key(&account)
            .then(|| proto::ApiKeyList {
                keys: state.http.keys_of(&account).map(view).collect(),
            })
    })
    .await?
    .ok_or_else(|| not_found("account", &account))
}

pub(super) async fn revoke(
    svc: &AdminService,
    req: proto::ApiKeyRef,
) -> Result<proto::Done, Status> {
    if req.id.is_empty() {
        return Err(Status::invalid_argument("id: empty"));
    }
    let what = format!("RevokeApiKey {}", req.id);
    svc.change(what, Command::RevokeApiKey { id: req.id })
        .await?;
    Ok(proto::Done {})
}

pub(super) async fn set_callback(
    svc: &AdminService,
    req: proto::SetCallbackRequest,
) -> Result<proto::CallbackReply, Status> {
    check_account(&req.account)?;
    if req.clear {
        if !req.url.is_empty() || req.secret.is_some() {
            return Err(Status::invalid_argument(
                "clear: takes neither a url nor a secret",
            ));
        }
        let what = format!("ClearCallback {}", req.account);
        let command = Command::SetCallback {
            account: req.account.clone(),
            callback: None,
        };
        svc.change(what, command).await?;
        return Ok(proto::CallbackReply {
            account: req.account,
            ..Default::default()
        });
    }
    if req.url.is_empty() {
        return Err(Status::invalid_argument(
            "url: empty; give an http:// or https:// URL, or clear",
        ));
    }
    let (secret, made) = match req.secret {
        Some(secret) => (secret, false),
        None => (api_key::generate_secret(), true),
    };
    let what = format!("SetCallback {} url={}", req.account, redact_url(&req.url));
    let command = Command::SetCallback {
        account: req.account.clone(),
        callback: Some(Callback {
            url: req.url.clone(),
            secret: secret.clone(),
        }),
    };
    svc.change(what, command).await?;
    Ok(proto::CallbackReply {
        account: req.account,
        url: redact_url(&req.url),
        secret: if made { secret } else { String::new() },
    })
}
