//! The HTTP API's API keys and callback endpoints: added, revoked and set by
//! administrators, dropped with their account.
//!
//! The state machine holds a key's digest, never the key (the node makes the key, proposes
//! its digest and shows the key once), and checks the digest's form so that every node can
//! read what it stores. A callback's signing secret is kept as given: signing needs it.

use crate::{ApiKey, Callback, Refusal, Response, State};

/// API keys one account may hold.
pub const MAX_API_KEYS: usize = 20;
/// Characters of a key's label.
pub const MAX_API_KEY_LABEL: usize = 64;
/// Characters of a callback URL.
pub const MAX_CALLBACK_URL: usize = 2048;
/// Characters of a callback's signing secret.
pub const CALLBACK_SECRET_CHARS: std::ops::RangeInclusive<usize> = 16..=256;

/// Hex digits of a key id.
const KEY_ID_LEN: usize = 12;

fn is_lower_hex(text: &str) -> bool {
    text.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

fn check_key(key: &ApiKey) -> Result<(), Refusal> {
    if key.id.len() != KEY_ID_LEN || !is_lower_hex(&key.id) {
        return Err(Refusal::Invalid(format!(
            "API key id {:?} is not {KEY_ID_LEN} lowercase hex digits",
            key.id
        )));
    }
    let label = key.label.chars().count();
    if label == 0 || label > MAX_API_KEY_LABEL {
        return Err(Refusal::Invalid(format!(
            "API key label has {label} characters, not 1 to {MAX_API_KEY_LABEL}"
        )));
    }
    let digest_ok = key
        .hash
        .strip_prefix("sha256:")
        .is_some_and(|digits| digits.len() == 64 && is_lower_hex(digits));
    if !digest_ok {
        return Err(Refusal::Invalid(format!(
            "API key {} hash is not sha256: and 64 lowercase hex digits",
            key.id
        )));
    }
    Ok(())
}

fn check_callback(account: &str, callback: &Callback) -> Result<(), Refusal> {
    let length = callback.url.chars().count();
    if length > MAX_CALLBACK_URL {
        return Err(Refusal::Invalid(format!(
            "callback url of {account} has {length} characters, more than {MAX_CALLBACK_URL}"
        )));
    }
    let url = url::Url::parse(&callback.url).map_err(|error| {
        Refusal::Invalid(format!("callback url of {account} does not parse: {error}"))
    })?;
    if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
        return Err(Refusal::Invalid(format!(
            "callback url of {account} is not an http:// or https:// URL with a host"
        )));
    }
    let secret = callback.secret.chars().count();
    if !CALLBACK_SECRET_CHARS.contains(&secret) {
        return Err(Refusal::Invalid(format!(
            "callback secret of {account} has {secret} characters, not {} to {}",
            CALLBACK_SECRET_CHARS.start(),
            CALLBACK_SECRET_CHARS.end()
        )));
    }
    Ok(())
}

impl State {
    pub(crate) fn put_api_key(&mut self, key: &ApiKey) -> Result<Response, Refusal> {
        if !self.accounts.contains_key(&key.account) {
            return Err(Refusal::NotFound(format!("account {}", key.account)));
        }
        check_key(key)?;
        if self.http.keys.contains_key(&key.id) {
            return Err(Refusal::Exists(format!("API key {}", key.id)));
        }
        let held = self.http.keys_of(&key.account).count();
        if held >= MAX_API_KEYS {
            return Err(Refusal::OverLimit(format!(
                "account {} holds {held} API keys, the most it may; revoke one first",
                key.account
            )));
        }
        self.http.keys.insert(key.id.clone(), key.clone());
        Ok(self.http_changed())
    }

    pub(crate) fn revoke_api_key(&mut self, id: &str) -> Result<Response, Refusal> {
        match self.http.keys.remove(id) {
            Some(_) => Ok(self.http_changed()),
            None => Err(Refusal::NotFound(format!("API key {id}"))),
        }
    }

    /// Sets or (with `None`) removes an account's callback; removing one it does not have
    /// changes nothing and is not refused.
    pub(crate) fn set_callback(
        &mut self,
        account: &str,
        callback: Option<&Callback>,
    ) -> Result<Response, Refusal> {
        if !self.accounts.contains_key(account) {
            return Err(Refusal::NotFound(format!("account {account}")));
        }
        match callback {
            Some(callback) => {
                check_callback(account, callback)?;
                self.http
                    .callbacks
                    .insert(account.to_owned(), callback.clone());
            }
            None => {
                self.http.callbacks.remove(account);
            }
        }
        Ok(self.http_changed())
    }

    /// Drops what the HTTP API holds of a deleted account.
    pub(crate) fn forget_http(&mut self, account: &str) {
        self.http.keys.retain(|_, key| key.account != account);
        self.http.callbacks.remove(account);
    }

    fn http_changed(&mut self) -> Response {
        self.config_version = self.config_version.saturating_add(1);
        Response::Ok
    }
}
