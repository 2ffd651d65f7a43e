//! Customer accounts as the pipeline sees them: credentials, bind limits, allowlists,
//! sender-id rules, TPS caps and whether the account is enabled.
//!
//! The set changes while the node runs: the replicated state is the source, and
//! [`Accounts::replace`] installs a new set without touching the bind counts or rate
//! limiters of accounts that stay. A session holds its [`Account`] and reads the current
//! policy on every submit, so a changed cap or a disabled account takes effect at once.
//!
//! Failed binds are counted by a [`BindGuard`] per source and per account; a source or
//! account locked out is refused before its password is looked at.
//!
//! HTTP API clients present an API key instead ([`Accounts::authenticate_key`]): found by
//! the id the key carries, checked against the key's SHA-256 digest (see [`api_key`]), and
//! given a slot that does not count against the account's binds ([`Accounts::api_slot`]).
//!
//! [`api_key`]: crate::api_key

use std::collections::HashMap;
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use tern_model::{Address, Ton};

use crate::allowlist::{self, IpNet};
use crate::api_key;
use crate::bind_guard::{BindGuard, BindGuardConfig, Scope};

/// How an account's password is checked.
#[derive(Clone, PartialEq, Eq)]
pub enum Credential {
    /// Compared as is (a password from the configuration file of a node without state).
    Plain(String),
    /// An argon2 PHC string.
    Hash(String),
}

impl std::fmt::Debug for Credential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Credential::Plain(_) => "Plain(..)",
            Credential::Hash(_) => "Hash(..)",
        })
    }
}

/// A customer account's settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountPolicy {
    pub id: String,
    pub credential: Credential,
    pub enabled: bool,
    pub max_binds: usize,
    pub allowed_ips: Vec<IpNet>,
    pub transliterate: bool,
    /// Senders the account may use: exact values, or prefixes ending in `*`. Empty: any.
    pub sender_ids: Vec<String>,
    /// Submits per second on this node, over all the account's binds.
    pub tps: Option<u32>,
    /// Shared secrets by protocol ("cmpp", "smgp", "cngp"): a protocol whose login is an
    /// MD5 authenticator over one cannot be used without it.
    pub secrets: std::collections::BTreeMap<String, String>,
    /// The keys the account's HTTP API clients authenticate with.
    pub api_keys: Vec<ApiKeyPolicy>,
    /// Where the HTTP API posts the account's delivery reports and MO, and the secret the
    /// posts are signed with; `None`: nothing is posted.
    pub callback: Option<CallbackPolicy>,
}

/// An API key of an account: its id (the part of the key that names it), a label, and the
/// SHA-256 digest of the whole key (see [`crate::api_key`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiKeyPolicy {
    pub id: String,
    pub label: String,
    pub digest: [u8; 32],
}

/// An account's HTTP callback endpoint and the secret its posts are signed with.
#[derive(Clone, PartialEq, Eq)]
pub struct CallbackPolicy {
    pub url: String,
    pub secret: String,
}

impl std::fmt::Debug for CallbackPolicy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CallbackPolicy")
            .field("url", &self.url)
            .field("secret", &"..")
            .finish()
    }
}

impl AccountPolicy {
    /// The account's shared secret for `protocol`.
    pub fn secret(&self, protocol: &str) -> Option<&str> {
        self.secrets.get(protocol).map(String::as_str)
    }

    pub fn sender_allowed(&self, source: &Address) -> bool {
        if self.sender_ids.is_empty() {
            return true;
        }
        let value = if source.ton == Ton::ALPHANUMERIC {
            source.value.as_str()
        } else {
            source.digits()
        };
        self.sender_ids
            .iter()
            .any(|rule| match rule.strip_suffix('*') {
                Some(prefix) => value.starts_with(prefix),
                None => value == rule,
            })
    }
}

/// An account with its live bind count and rate limiter.
#[derive(Debug)]
pub struct Account {
    pub id: String,
    policy: RwLock<Arc<AccountPolicy>>,
    limiter: RwLock<Option<Arc<DefaultDirectRateLimiter>>>,
    binds: AtomicUsize,
    /// Digest of the last password that matched the hash: argon2 runs once per password,
    /// not once per bind.
    verified: Mutex<Option<(String, [u8; 32])>>,
    /// Held while argon2 runs for this account: logins that come together (a client
    /// opening many connections at once) wait for the first check and take its cached
    /// result, instead of each running argon2 on the blocking pool.
    verifying: tokio::sync::Mutex<()>,
    /// argon2 runs for this account, for the tests.
    #[cfg(test)]
    argon2_runs: AtomicUsize,
}

impl Account {
    fn new(policy: AccountPolicy) -> Self {
        let account = Self {
            id: policy.id.clone(),
            policy: RwLock::new(Arc::new(policy.clone())),
            limiter: RwLock::new(None),
            binds: AtomicUsize::new(0),
            verified: Mutex::new(None),
            verifying: tokio::sync::Mutex::new(()),
            #[cfg(test)]
            argon2_runs: AtomicUsize::new(0),
        };
        account.set_limiter(policy.tps);
        account
    }

    /// The current settings.
    pub fn policy(&self) -> Arc<AccountPolicy> {
        self.policy
            .read()
            .map(|p| p.clone())
            .unwrap_or_else(|e| e.into_inner().clone())
    }

    fn update(&self, policy: AccountPolicy) {
        let old = self.policy();
        if *old == policy {
            return;
        }
        if old.tps != policy.tps {
            self.set_limiter(policy.tps);
        }
        if let Ok(mut slot) = self.policy.write() {
            *slot = Arc::new(policy);
        }
    }

    fn set_limiter(&self, tps: Option<u32>) {
        let limiter = tps
            .and_then(NonZeroU32::new)
            .map(|n| Arc::new(RateLimiter::direct(Quota::per_second(n))));
        if let Ok(mut slot) = self.limiter.write() {
            *slot = limiter;
        }
    }

    /// Takes one submit from the account's TPS budget; false when over the cap.
    pub fn admit(&self) -> bool {
        let limiter = self.limiter.read().ok().and_then(|l| l.clone());
        limiter.is_none_or(|l| l.check().is_ok())
    }

    pub fn binds(&self) -> usize {
        self.binds.load(Ordering::Acquire)
    }

    /// Whether `digest` is the digest of the last password that matched `phc`.
    fn cached(&self, phc: &str, digest: &[u8; 32]) -> bool {
        let Ok(cache) = self.verified.lock() else {
            return false;
        };
        cache.as_ref().is_some_and(|(cached_phc, cached)| {
            cached_phc == phc && constant_time_eq(cached, digest)
        })
    }

    /// Checks a password against the credential.
    async fn password_matches(&self, password: &str) -> bool {
        match &self.policy().credential {
            Credential::Plain(expected) => {
                constant_time_eq(expected.as_bytes(), password.as_bytes())
            }
            Credential::Hash(phc) => {
                let digest = sha256(password);
                if self.cached(phc, &digest) {
                    return true;
                }
                let _one_at_a_time = self.verifying.lock().await;
                if self.cached(phc, &digest) {
                    return true;
                }
                #[cfg(test)]
                self.argon2_runs.fetch_add(1, Ordering::Relaxed);
                let (phc, password) = (phc.clone(), password.to_owned());
                let checked = phc.clone();
                let ok = tokio::task::spawn_blocking(move || verify_password(&password, &checked))
                    .await
                    .unwrap_or(false);
                if ok {
                    if let Ok(mut cache) = self.verified.lock() {
                        *cache = Some((phc, digest));
                    }
                }
                ok
            }
        }
    }
}

/// Holds a bind slot of an account; gives it back when dropped.
#[derive(Debug)]
pub struct BindSlot {
    pub account: Arc<Account>,
    pub peer: IpAddr,
    /// Whether the slot is one of the account's `max_binds` (a bind) or not (an HTTP API
    /// session, see [`Accounts::api_slot`]).
    counted: bool,
}

impl BindSlot {
    /// Whether the slot counts against the account's `max_binds`.
    pub fn counted(&self) -> bool {
        self.counted
    }
}

impl Drop for BindSlot {
    fn drop(&mut self) {
        if self.counted {
            self.account.binds.fetch_sub(1, Ordering::AcqRel);
        }
    }
}

/// Every account, by id.
#[derive(Debug, Clone, Default)]
pub struct Accounts {
    by_id: Arc<RwLock<HashMap<String, Arc<Account>>>>,
    /// The account of each API key, by key id; rebuilt with the accounts.
    by_key: Arc<RwLock<HashMap<String, String>>>,
    guard: Arc<BindGuard>,
}

/// Why a bind (SMPP) or a CONNECT (CMPP) was refused; each protocol maps it to its status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum BindRefusal {
    #[error("no such account")]
    UnknownAccount,
    #[error("wrong password")]
    BadPassword,
    /// Too many failed binds of this source or account lately.
    #[error("{} locked out after failed binds", .0.label())]
    LockedOut(Scope),
    /// The account is disabled, the address is not allowed or every bind slot is taken.
    #[error("account disabled, address not allowed or bind limit reached")]
    NotAllowed,
}

impl BindRefusal {
    /// The `result` label of the bind metrics.
    pub fn label(self) -> &'static str {
        match self {
            BindRefusal::UnknownAccount => "unknown_account",
            BindRefusal::BadPassword => "bad_password",
            BindRefusal::LockedOut(_) => "locked",
            BindRefusal::NotAllowed => "refused",
        }
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn sha256(password: &str) -> [u8; 32] {
    let digest = ring::digest::digest(&ring::digest::SHA256, password.as_bytes());
    let mut out = [0u8; 32];
    out.copy_from_slice(digest.as_ref());
    out
}

/// Hashes a password with argon2id and a random salt into a PHC string
/// (`$argon2id$v=19$m=...`).
pub fn hash_password(password: &str) -> Result<String, String> {
    use argon2::password_hash::rand_core::OsRng;
    use argon2::password_hash::{PasswordHasher, SaltString};
    let salt = SaltString::generate(&mut OsRng);
    argon2::Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|hash| hash.to_string())
        .map_err(|error| error.to_string())
}

/// True when `password` matches the PHC string `phc`; false also for a malformed string.
pub fn verify_password(password: &str, phc: &str) -> bool {
    use argon2::password_hash::{PasswordHash, PasswordVerifier};
    PasswordHash::new(phc).is_ok_and(|hash| {
        argon2::Argon2::default()
            .verify_password(password.as_bytes(), &hash)
            .is_ok()
    })
}

impl Accounts {
    pub fn new(policies: impl IntoIterator<Item = AccountPolicy>) -> Self {
        let accounts = Self::default();
        accounts.replace(policies);
        accounts
    }

    /// The same accounts with failed binds limited as `config` says.
    pub fn with_bind_guard(self, config: BindGuardConfig) -> Self {
        Self {
            guard: Arc::new(BindGuard::new(config)),
            ..self
        }
    }

    /// The failed-bind counts and lockouts.
    pub fn bind_guard(&self) -> &BindGuard {
        &self.guard
    }

    pub fn get(&self, id: &str) -> Option<Arc<Account>> {
        self.by_id.read().ok()?.get(id).cloned()
    }

    /// Every account id.
    pub fn ids(&self) -> Vec<String> {
        self.by_id
            .read()
            .map(|m| m.keys().cloned().collect())
            .unwrap_or_default()
    }

    /// Installs a new set of accounts. Accounts that stay keep their bind count, rate
    /// limiter and sessions; removed ones can no longer bind.
    pub fn replace(&self, policies: impl IntoIterator<Item = AccountPolicy>) {
        let Ok(mut by_id) = self.by_id.write() else {
            return;
        };
        let mut next = HashMap::with_capacity(by_id.len());
        let mut keys = HashMap::new();
        for policy in policies {
            for key in &policy.api_keys {
                keys.insert(key.id.clone(), policy.id.clone());
            }
            let account = match by_id.remove(&policy.id) {
                Some(account) => {
                    account.update(policy);
                    account
                }
                None => Arc::new(Account::new(policy)),
            };
            next.insert(account.id.clone(), account);
        }
        *by_id = next;
        // Under the accounts' lock, so that two replaces cannot leave the index of the
        // older set beside the accounts of the newer.
        if let Ok(mut by_key) = self.by_key.write() {
            *by_key = keys;
        }
    }

    /// Checks an HTTP API key: the source is not locked out, the key is well formed and
    /// names a key of an account, its digest matches the stored one (compared in constant
    /// time), the account is enabled and the address allowed. Takes no bind slot: see
    /// [`Accounts::api_slot`].
    ///
    /// A malformed key, or one whose id no account has, is [`BindRefusal::UnknownAccount`];
    /// a known id with the wrong secret is [`BindRefusal::BadPassword`]. Both count as a
    /// failure of the source only: ids are not secret, so a stranger could otherwise lock
    /// an account out. The HTTP layer should answer both alike.
    pub fn authenticate_key(&self, key: &str, peer: IpAddr) -> Result<Arc<Account>, BindRefusal> {
        if let Some(scope) = self.guard.locked(peer, None) {
            return Err(BindRefusal::LockedOut(scope));
        }
        let found = api_key::id_of(key).and_then(|id| {
            let account = self.by_key.read().ok()?.get(id).cloned()?;
            Some((id, self.get(&account)?))
        });
        let Some((id, account)) = found else {
            self.guard.failed(peer, None, "http");
            return Err(BindRefusal::UnknownAccount);
        };
        let policy = account.policy();
        let Some(stored) = policy.api_keys.iter().find(|k| k.id == id) else {
            // Revoked since the index was built.
            self.guard.failed(peer, None, "http");
            return Err(BindRefusal::UnknownAccount);
        };
        if !constant_time_eq(&stored.digest, &api_key::digest(key)) {
            self.guard.failed(peer, None, "http");
            return Err(BindRefusal::BadPassword);
        }
        if !policy.enabled || !allowlist::allows(&policy.allowed_ips, peer) {
            return Err(BindRefusal::NotAllowed);
        }
        Ok(account)
    }

    /// A slot for an HTTP API session of `account` from `peer`: it does not count against
    /// the account's `max_binds`, and dropping it gives nothing back.
    pub fn api_slot(account: Arc<Account>, peer: IpAddr) -> BindSlot {
        BindSlot {
            account,
            peer,
            counted: false,
        }
    }

    /// Admits a connection that authenticates by other means (a CMPP authenticator): the
    /// source and the account are not locked out, the account exists and is enabled, the
    /// address is allowed and a bind slot is free. The caller reports a failed
    /// authentication with [`Accounts::authentication_failed`].
    pub fn admit(&self, id: &str, peer: IpAddr) -> Result<BindSlot, BindRefusal> {
        if let Some(scope) = self.guard.locked(peer, Some(id)) {
            return Err(BindRefusal::LockedOut(scope));
        }
        let Some(account) = self.get(id) else {
            self.guard.failed(peer, None, "cmpp");
            return Err(BindRefusal::UnknownAccount);
        };
        take_slot(account, peer)
    }

    /// Counts a failed authentication of an admitted connection against its source and
    /// its account.
    pub fn authentication_failed(&self, id: &str, peer: IpAddr, protocol: &'static str) {
        match self.get(id) {
            Some(account) => self.count_failure(&account, peer, protocol),
            None => self.guard.failed(peer, None, protocol),
        }
    }

    /// A wrong password counts against the source, and against the account only when the
    /// account allows the source: an address it never admits cannot lock it out.
    fn count_failure(&self, account: &Account, peer: IpAddr, protocol: &'static str) {
        let allowed = allowlist::allows(&account.policy().allowed_ips, peer);
        let id = allowed.then_some(account.id.as_str());
        self.guard.failed(peer, id, protocol);
    }

    /// Checks a bind: the source and the account are not locked out, the account exists
    /// and is enabled, the password matches, the address is allowed and a bind slot is
    /// free. An unknown account counts as a failure of the source, a wrong password of
    /// the source and (from an address it allows) the account.
    pub async fn authenticate(
        &self,
        system_id: &str,
        password: &str,
        peer: IpAddr,
    ) -> Result<BindSlot, BindRefusal> {
        if let Some(scope) = self.guard.locked(peer, Some(system_id)) {
            return Err(BindRefusal::LockedOut(scope));
        }
        let Some(account) = self.get(system_id) else {
            self.guard.failed(peer, None, "smpp");
            return Err(BindRefusal::UnknownAccount);
        };
        if !account.password_matches(password).await {
            self.count_failure(&account, peer, "smpp");
            return Err(BindRefusal::BadPassword);
        }
        take_slot(account, peer)
    }
    /// Checks a password without taking a bind slot (the HTTP API's Kannel and Jasmin
    /// style endpoints): the source and the account are not locked out, the account exists
    /// and is enabled, the password matches and the address is allowed. Failures count as
    /// [`Accounts::authenticate`] counts them.
    pub async fn check_password(
        &self,
        id: &str,
        password: &str,
        peer: IpAddr,
        protocol: &'static str,
    ) -> Result<Arc<Account>, BindRefusal> {
        if let Some(scope) = self.guard.locked(peer, Some(id)) {
            return Err(BindRefusal::LockedOut(scope));
        }
        let Some(account) = self.get(id) else {
            self.guard.failed(peer, None, protocol);
            return Err(BindRefusal::UnknownAccount);
        };
        if !account.password_matches(password).await {
            self.count_failure(&account, peer, protocol);
            return Err(BindRefusal::BadPassword);
        }
        let policy = account.policy();
        if !policy.enabled || !allowlist::allows(&policy.allowed_ips, peer) {
            return Err(BindRefusal::NotAllowed);
        }
        Ok(account)
    }
}

/// A bind slot of an authenticated `account`: it is enabled, `peer` is allowed and a slot
/// is free.
fn take_slot(account: Arc<Account>, peer: IpAddr) -> Result<BindSlot, BindRefusal> {
    let policy = account.policy();
    if !policy.enabled || !allowlist::allows(&policy.allowed_ips, peer) {
        return Err(BindRefusal::NotAllowed);
    }
    let previous = account.binds.fetch_add(1, Ordering::AcqRel);
    let slot = BindSlot {
        account,
        peer,
        counted: true,
    };
    if previous >= policy.max_binds {
        // Dropping the slot gives the count back.
        return Err(BindRefusal::NotAllowed);
    }
    Ok(slot)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(id: &str) -> AccountPolicy {
        AccountPolicy {
            id: id.into(),
            credential: Credential::Plain("pw".into()),
            enabled: true,
            max_binds: 1,
            allowed_ips: vec![IpNet::parse("127.0.0.0/8").unwrap()],
            transliterate: false,
            sender_ids: vec!["Tern".into(), "4930*".into()],
            tps: None,
            secrets: Default::default(),
            api_keys: Vec::new(),
            callback: None,
        }
    }

    /// `policy(id)` with the API key `key` labelled `label`.
    fn with_key(mut policy: AccountPolicy, key: &str, label: &str) -> AccountPolicy {
        policy.api_keys.push(ApiKeyPolicy {
            id: api_key::id_of(key).unwrap().to_owned(),
            label: label.into(),
            digest: api_key::digest(key),
        });
        policy
    }

    /// `key` with its last character changed: the same id, the wrong secret.
    fn wrong_secret(key: &str) -> String {
        let last = if key.ends_with('a') { "b" } else { "a" };
        format!("{}{last}", &key[..key.len() - 1])
    }

    #[test]
    fn api_keys_authenticate_their_account_and_nothing_else() {
        let (_, first) = api_key::generate();
        let (_, second) = api_key::generate();
        let (_, other) = api_key::generate();
        let a = with_key(with_key(policy("a"), &first, "ci"), &second, "billing");
        let b = with_key(policy("b"), &other, "prod");
        // More failures than the default lockout allows: this test is not about it.
        let accounts = Accounts::new([a.clone(), b]).with_bind_guard(BindGuardConfig {
            max_failures: 100,
            ..BindGuardConfig::default()
        });
        let local: IpAddr = "127.0.0.1".parse().unwrap();
        assert_eq!(accounts.authenticate_key(&first, local).unwrap().id, "a");
        assert_eq!(accounts.authenticate_key(&second, local).unwrap().id, "a");
        assert_eq!(accounts.authenticate_key(&other, local).unwrap().id, "b");
        assert_eq!(
            accounts
                .authenticate_key(&wrong_secret(&first), local)
                .err(),
            Some(BindRefusal::BadPassword)
        );
        let (_, unknown) = api_key::generate();
        for refused in [unknown.as_str(), "", "tern_", "Bearer x", "tern_zz_é"] {
            assert_eq!(
                accounts.authenticate_key(refused, local).err(),
                Some(BindRefusal::UnknownAccount),
                "{refused:?}"
            );
        }
        // Outside the allowlist, or disabled: the key is right, the account refuses.
        assert_eq!(
            accounts
                .authenticate_key(&first, "192.0.2.1".parse().unwrap())
                .err(),
            Some(BindRefusal::NotAllowed)
        );
        let mut disabled = a.clone();
        disabled.enabled = false;
        accounts.replace([disabled]);
        assert_eq!(
            accounts.authenticate_key(&first, local).err(),
            Some(BindRefusal::NotAllowed)
        );
        // A revoked key, and the keys of a removed account, are unknown at once.
        let mut revoked = a;
        revoked.api_keys.retain(|k| k.label != "ci");
        accounts.replace([revoked]);
        assert_eq!(
            accounts.authenticate_key(&first, local).err(),
            Some(BindRefusal::UnknownAccount)
        );
        assert_eq!(accounts.authenticate_key(&second, local).unwrap().id, "a");
        assert_eq!(
            accounts.authenticate_key(&other, local).err(),
            Some(BindRefusal::UnknownAccount)
        );
    }

    #[tokio::test(start_paused = true)]
    async fn wrong_keys_lock_out_their_source_not_the_account() {
        let (_, key) = api_key::generate();
        let accounts =
            Accounts::new([with_key(policy("a"), &key, "ci")]).with_bind_guard(BindGuardConfig {
                max_failures: 3,
                window: std::time::Duration::from_secs(60),
                lockout: std::time::Duration::from_secs(30),
                max_tracked: 100,
            });
        let attacker: IpAddr = "127.0.0.9".parse().unwrap();
        let customer: IpAddr = "127.0.0.1".parse().unwrap();
        let (_, unknown) = api_key::generate();
        assert_eq!(
            accounts.authenticate_key(&unknown, attacker).err(),
            Some(BindRefusal::UnknownAccount)
        );
        for _ in 0..2 {
            assert_eq!(
                accounts
                    .authenticate_key(&wrong_secret(&key), attacker)
                    .err(),
                Some(BindRefusal::BadPassword)
            );
        }
        assert_eq!(
            accounts.authenticate_key(&key, attacker).err(),
            Some(BindRefusal::LockedOut(Scope::Source))
        );
        assert_eq!(accounts.authenticate_key(&key, customer).unwrap().id, "a");
        // The account's binds are not locked out either.
        drop(accounts.authenticate("a", "pw", customer).await.unwrap());
        tokio::time::advance(std::time::Duration::from_secs(30)).await;
        assert_eq!(accounts.authenticate_key(&key, attacker).unwrap().id, "a");
    }

    #[tokio::test]
    async fn api_slots_do_not_count_against_max_binds() {
        let (_, key) = api_key::generate();
        let accounts = Accounts::new([with_key(policy("a"), &key, "ci")]);
        let local: IpAddr = "127.0.0.1".parse().unwrap();
        let account = accounts.authenticate_key(&key, local).unwrap();
        let api: Vec<BindSlot> = (0..3)
            .map(|_| Accounts::api_slot(account.clone(), local))
            .collect();
        assert!(api.iter().all(|slot| !slot.counted()));
        assert_eq!(account.binds(), 0);
        // The one bind max_binds allows is still free, and taken.
        let bind = accounts.authenticate("a", "pw", local).await.unwrap();
        assert!(bind.counted());
        assert_eq!(account.binds(), 1);
        assert_eq!(
            accounts.authenticate("a", "pw", local).await.err(),
            Some(BindRefusal::NotAllowed)
        );
        // Dropping API slots gives back nothing they did not take.
        drop(api);
        assert_eq!(account.binds(), 1);
        drop(bind);
        assert_eq!(account.binds(), 0);
    }

    #[tokio::test]
    async fn authentication_names_each_refusal() {
        let accounts = Accounts::new([policy("a")]);
        let local: IpAddr = "127.0.0.1".parse().unwrap();
        assert_eq!(
            accounts.authenticate("b", "pw", local).await.err(),
            Some(BindRefusal::UnknownAccount)
        );
        assert_eq!(
            accounts.authenticate("a", "no", local).await.err(),
            Some(BindRefusal::BadPassword)
        );
        assert_eq!(
            accounts
                .authenticate("a", "pw", "192.0.2.1".parse().unwrap())
                .await
                .err(),
            Some(BindRefusal::NotAllowed)
        );
        let slot = accounts.authenticate("a", "pw", local).await.unwrap();
        assert_eq!(
            accounts.authenticate("a", "pw", local).await.err(),
            Some(BindRefusal::NotAllowed)
        );
        drop(slot);
        assert!(accounts.authenticate("a", "pw", local).await.is_ok());
    }

    #[tokio::test(start_paused = true)]
    async fn a_locked_out_source_or_account_is_refused_even_with_the_right_password() {
        let accounts = Accounts::new([policy("a"), policy("b")]).with_bind_guard(BindGuardConfig {
            max_failures: 3,
            window: std::time::Duration::from_secs(60),
            lockout: std::time::Duration::from_secs(30),
            max_tracked: 100,
        });
        let attacker: IpAddr = "127.0.0.9".parse().unwrap();
        let customer: IpAddr = "127.0.0.1".parse().unwrap();
        for _ in 0..2 {
            assert_eq!(
                accounts.authenticate("a", "no", attacker).await.err(),
                Some(BindRefusal::BadPassword)
            );
        }
        // A successful bind in between clears nothing.
        drop(accounts.authenticate("a", "pw", customer).await.unwrap());
        assert_eq!(
            accounts.authenticate("a", "no", attacker).await.err(),
            Some(BindRefusal::BadPassword)
        );
        assert_eq!(
            accounts.authenticate("b", "pw", attacker).await.err(),
            Some(BindRefusal::LockedOut(Scope::Source))
        );
        assert_eq!(
            accounts.authenticate("a", "pw", customer).await.err(),
            Some(BindRefusal::LockedOut(Scope::Account))
        );
        assert_eq!(
            accounts.admit("a", customer).err(),
            Some(BindRefusal::LockedOut(Scope::Account))
        );
        drop(accounts.authenticate("b", "pw", customer).await.unwrap());
        // Wrong passwords from an address the account does not allow lock that address
        // out, not the account.
        let outsider: IpAddr = "192.0.2.1".parse().unwrap();
        for _ in 0..3 {
            let _ = accounts.authenticate("b", "no", outsider).await;
        }
        assert_eq!(
            accounts.authenticate("b", "pw", outsider).await.err(),
            Some(BindRefusal::LockedOut(Scope::Source))
        );
        drop(accounts.authenticate("b", "pw", customer).await.unwrap());
        tokio::time::advance(std::time::Duration::from_secs(30)).await;
        drop(accounts.authenticate("a", "pw", customer).await.unwrap());
        drop(accounts.authenticate("b", "pw", attacker).await.unwrap());
    }

    #[tokio::test]
    async fn hashed_passwords_verify_and_replacing_keeps_bind_counts() {
        let hash = hash_password("s3cret").unwrap();
        let mut p = policy("a");
        p.credential = Credential::Hash(hash);
        let accounts = Accounts::new([p.clone()]);
        let local: IpAddr = "127.0.0.1".parse().unwrap();
        assert_eq!(
            accounts.authenticate("a", "wrong", local).await.err(),
            Some(BindRefusal::BadPassword)
        );
        let slot = accounts.authenticate("a", "s3cret", local).await.unwrap();
        // A new set with the account disabled: the bind count stays, new binds fail.
        p.enabled = false;
        p.max_binds = 5;
        accounts.replace([p.clone()]);
        assert_eq!(accounts.get("a").unwrap().binds(), 1);
        assert_eq!(
            accounts.authenticate("a", "s3cret", local).await.err(),
            Some(BindRefusal::NotAllowed)
        );
        p.enabled = true;
        accounts.replace([p]);
        assert!(accounts.authenticate("a", "s3cret", local).await.is_ok());
        drop(slot);
        accounts.replace([]);
        assert!(accounts.get("a").is_none());
    }

    #[test]
    fn tps_caps_admit_up_to_the_rate() {
        let mut p = policy("a");
        p.tps = Some(5);
        let accounts = Accounts::new([p.clone()]);
        let account = accounts.get("a").unwrap();
        let admitted = (0..20).filter(|_| account.admit()).count();
        assert!((5..=6).contains(&admitted), "{admitted}");
        p.tps = None;
        accounts.replace([p]);
        assert!((0..100).all(|_| account.admit()));
    }

    #[test]
    fn sender_rules_take_exact_ids_and_prefixes() {
        let p = policy("a");
        assert!(p.sender_allowed(&Address::alphanumeric("Tern")));
        assert!(!p.sender_allowed(&Address::alphanumeric("Bank")));
        assert!(p.sender_allowed(&Address::international("+493012345")));
        assert!(!p.sender_allowed(&Address::international("4940123")));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn logins_that_come_together_run_argon2_once() {
        let mut hashed = policy("a");
        hashed.credential = Credential::Hash(hash_password("pw").unwrap());
        hashed.max_binds = 64;
        let accounts = Accounts::new([hashed]);
        let local: IpAddr = "127.0.0.1".parse().unwrap();
        let logins = (0..32).map(|_| {
            let accounts = accounts.clone();
            tokio::spawn(async move {
                accounts
                    .check_password("a", "pw", local, "http")
                    .await
                    .is_ok()
            })
        });
        for login in futures::future::join_all(logins).await {
            assert!(login.unwrap());
        }
        let account = accounts.get("a").unwrap();
        assert_eq!(account.argon2_runs.load(Ordering::Relaxed), 1);
    }
}
