//! Customer accounts as the pipeline sees them: credentials, bind limits, allowlists,
//! sender-id rules and quotas.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use tern_model::{Address, Ton};
use tern_smpp::CommandStatus;

use crate::allowlist::{self, IpNet};

/// A customer account.
#[derive(Debug, Clone)]
pub struct AccountPolicy {
    pub id: String,
    pub password: String,
    pub max_binds: usize,
    pub allowed_ips: Vec<IpNet>,
    pub transliterate: bool,
    /// Senders the account may use: exact values, or prefixes ending in `*`. Empty: any.
    pub sender_ids: Vec<String>,
    /// Message parts per day; `None` is unlimited.
    pub max_parts_per_day: Option<u64>,
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

/// An account with its live bind count.
#[derive(Debug)]
pub struct Account {
    pub policy: AccountPolicy,
    binds: AtomicUsize,
}

/// Holds a bind slot of an account; gives it back when dropped.
#[derive(Debug)]
pub struct BindSlot {
    pub account: Arc<Account>,
}

impl Drop for BindSlot {
    fn drop(&mut self) {
        self.account.binds.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Every account, by id.
#[derive(Debug, Clone, Default)]
pub struct Accounts {
    by_id: Arc<HashMap<String, Arc<Account>>>,
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

impl Accounts {
    pub fn new(policies: impl IntoIterator<Item = AccountPolicy>) -> Self {
        Self {
            by_id: Arc::new(
                policies
                    .into_iter()
                    .map(|p| {
                        (
                            p.id.clone(),
                            Arc::new(Account {
                                policy: p,
                                binds: AtomicUsize::new(0),
                            }),
                        )
                    })
                    .collect(),
            ),
        }
    }

    pub fn get(&self, id: &str) -> Option<&Arc<Account>> {
        self.by_id.get(id)
    }

    /// Checks a bind: the account exists, the password matches, the address is allowed
    /// and a bind slot is free. The status of each refusal is the one SMPP gives for it.
    pub fn authenticate(
        &self,
        system_id: &str,
        password: &str,
        peer: IpAddr,
    ) -> Result<BindSlot, CommandStatus> {
        let account = self
            .by_id
            .get(system_id)
            .ok_or(CommandStatus::EsmeRinvsysid)?;
        if !constant_time_eq(account.policy.password.as_bytes(), password.as_bytes()) {
            return Err(CommandStatus::EsmeRinvpaswd);
        }
        if !allowlist::allows(&account.policy.allowed_ips, peer) {
            return Err(CommandStatus::EsmeRbindfail);
        }
        let previous = account.binds.fetch_add(1, Ordering::AcqRel);
        let slot = BindSlot {
            account: account.clone(),
        };
        if previous >= account.policy.max_binds {
            // Dropping the slot gives the count back.
            return Err(CommandStatus::EsmeRbindfail);
        }
        Ok(slot)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(id: &str) -> AccountPolicy {
        AccountPolicy {
            id: id.into(),
            password: "pw".into(),
            max_binds: 1,
            allowed_ips: vec![IpNet::parse("127.0.0.0/8").unwrap()],
            transliterate: false,
            sender_ids: vec!["Tern".into(), "4930*".into()],
            max_parts_per_day: None,
        }
    }

    #[test]
    fn authentication_refuses_with_the_smpp_status() {
        let accounts = Accounts::new([policy("a")]);
        let local: IpAddr = "127.0.0.1".parse().unwrap();
        assert_eq!(
            accounts.authenticate("b", "pw", local).err(),
            Some(CommandStatus::EsmeRinvsysid)
        );
        assert_eq!(
            accounts.authenticate("a", "no", local).err(),
            Some(CommandStatus::EsmeRinvpaswd)
        );
        assert_eq!(
            accounts
                .authenticate("a", "pw", "192.0.2.1".parse().unwrap())
                .err(),
            Some(CommandStatus::EsmeRbindfail)
        );
        let slot = accounts.authenticate("a", "pw", local).unwrap();
        assert_eq!(
            accounts.authenticate("a", "pw", local).err(),
            Some(CommandStatus::EsmeRbindfail)
        );
        drop(slot);
        assert!(accounts.authenticate("a", "pw", local).is_ok());
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
