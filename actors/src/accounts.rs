//! Customer accounts as the pipeline sees them: credentials, bind limits, allowlists,
//! sender-id rules, TPS caps and whether the account is enabled.
//!
//! The set changes while the node runs: the replicated state is the source, and
//! [`Accounts::replace`] installs a new set without touching the bind counts or rate
//! limiters of accounts that stay. A session holds its [`Account`] and reads the current
//! policy on every submit, so a changed cap or a disabled account takes effect at once.

use std::collections::HashMap;
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use tern_model::{Address, Ton};
use tern_smpp::CommandStatus;

use crate::allowlist::{self, IpNet};

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
    /// The CMPP shared secret; an account without one cannot connect over CMPP.
    pub cmpp_secret: Option<String>,
}

impl AccountPolicy {
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
}

impl Account {
    fn new(policy: AccountPolicy) -> Self {
        let account = Self {
            id: policy.id.clone(),
            policy: RwLock::new(Arc::new(policy.clone())),
            limiter: RwLock::new(None),
            binds: AtomicUsize::new(0),
            verified: Mutex::new(None),
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

    /// Checks a password against the credential.
    async fn password_matches(&self, password: &str) -> bool {
        match &self.policy().credential {
            Credential::Plain(expected) => {
                constant_time_eq(expected.as_bytes(), password.as_bytes())
            }
            Credential::Hash(phc) => {
                let digest = sha256(password);
                if let Ok(cache) = self.verified.lock() {
                    if let Some((cached_phc, cached)) = cache.as_ref() {
                        if cached_phc == phc && constant_time_eq(cached, &digest) {
                            return true;
                        }
                    }
                }
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
}

impl Drop for BindSlot {
    fn drop(&mut self) {
        self.account.binds.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Every account, by id.
#[derive(Debug, Clone, Default)]
pub struct Accounts {
    by_id: Arc<RwLock<HashMap<String, Arc<Account>>>>,
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
        for policy in policies {
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
    }

    /// Admits a connection that authenticates by other means (a CMPP authenticator): the
    /// account exists and is enabled, the address is allowed and a bind slot is free.
    pub fn admit(&self, id: &str, peer: IpAddr) -> Result<BindSlot, CommandStatus> {
        let account = self.get(id).ok_or(CommandStatus::EsmeRinvsysid)?;
        take_slot(account, peer)
    }

    /// Checks a bind: the account exists and is enabled, the password matches, the
    /// address is allowed and a bind slot is free. The status of each refusal is the one
    /// SMPP gives for it.
    pub async fn authenticate(
        &self,
        system_id: &str,
        password: &str,
        peer: IpAddr,
    ) -> Result<BindSlot, CommandStatus> {
        let account = self.get(system_id).ok_or(CommandStatus::EsmeRinvsysid)?;
        if !account.password_matches(password).await {
            return Err(CommandStatus::EsmeRinvpaswd);
        }
        take_slot(account, peer)
    }
}

/// A bind slot of an authenticated `account`: it is enabled, `peer` is allowed and a slot
/// is free.
fn take_slot(account: Arc<Account>, peer: IpAddr) -> Result<BindSlot, CommandStatus> {
    let policy = account.policy();
    if !policy.enabled || !allowlist::allows(&policy.allowed_ips, peer) {
        return Err(CommandStatus::EsmeRbindfail);
    }
    let previous = account.binds.fetch_add(1, Ordering::AcqRel);
    let slot = BindSlot { account, peer };
    if previous >= policy.max_binds {
        // Dropping the slot gives the count back.
        return Err(CommandStatus::EsmeRbindfail);
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
            cmpp_secret: None,
        }
    }

    #[tokio::test]
    async fn authentication_refuses_with_the_smpp_status() {
        let accounts = Accounts::new([policy("a")]);
        let local: IpAddr = "127.0.0.1".parse().unwrap();
        assert_eq!(
            accounts.authenticate("b", "pw", local).await.err(),
            Some(CommandStatus::EsmeRinvsysid)
        );
        assert_eq!(
            accounts.authenticate("a", "no", local).await.err(),
            Some(CommandStatus::EsmeRinvpaswd)
        );
        assert_eq!(
            accounts
                .authenticate("a", "pw", "192.0.2.1".parse().unwrap())
                .await
                .err(),
            Some(CommandStatus::EsmeRbindfail)
        );
        let slot = accounts.authenticate("a", "pw", local).await.unwrap();
        assert_eq!(
            accounts.authenticate("a", "pw", local).await.err(),
            Some(CommandStatus::EsmeRbindfail)
        );
        drop(slot);
        assert!(accounts.authenticate("a", "pw", local).await.is_ok());
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
            Some(CommandStatus::EsmeRinvpaswd)
        );
        let slot = accounts.authenticate("a", "s3cret", local).await.unwrap();
        // A new set with the account disabled: the bind count stays, new binds fail.
        p.enabled = false;
        p.max_binds = 5;
        accounts.replace([p.clone()]);
        assert_eq!(accounts.get("a").unwrap().binds(), 1);
        assert_eq!(
            accounts.authenticate("a", "s3cret", local).await.err(),
            Some(CommandStatus::EsmeRbindfail)
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
}
