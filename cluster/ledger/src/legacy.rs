//! Layouts the log and snapshots were written in before account secrets were kept per
//! protocol. Entries are postcard, which is not self-describing: a logged command is read
//! in the layout it was written in, so the commands that carry account settings keep
//! their old variants (`Command::SeedV1` and the like, read, never proposed) and snapshots
//! of earlier formats decode through these types.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::{Account, AccountSpec, Ledger, Limits, CMPP};

/// An account's settings with the CMPP shared secret as their one secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountSpecV1 {
    pub id: String,
    pub password_hash: String,
    pub enabled: bool,
    pub max_binds: u32,
    pub allowed_ips: Vec<String>,
    pub sender_ids: Vec<String>,
    pub transliterate: bool,
    pub parent: Option<String>,
    pub tags: BTreeMap<String, String>,
    pub limits: Limits,
    pub cmpp_secret: Option<String>,
}

impl From<AccountSpecV1> for AccountSpec {
    fn from(v1: AccountSpecV1) -> Self {
        AccountSpec {
            id: v1.id,
            password_hash: v1.password_hash,
            enabled: v1.enabled,
            max_binds: v1.max_binds,
            allowed_ips: v1.allowed_ips,
            sender_ids: v1.sender_ids,
            transliterate: v1.transliterate,
            parent: v1.parent,
            tags: v1.tags,
            limits: v1.limits,
            secrets: v1
                .cmpp_secret
                .map(|secret| (CMPP.to_owned(), secret))
                .into_iter()
                .collect(),
        }
    }
}

/// An account as snapshots before format 4 hold it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountV1 {
    pub spec: AccountSpecV1,
    pub ledger: Ledger,
}

impl From<AccountV1> for Account {
    fn from(v1: AccountV1) -> Self {
        Account {
            spec: v1.spec.into(),
            ledger: v1.ledger,
        }
    }
}

/// The accounts of an earlier snapshot, in the current layout.
pub fn accounts(v1: BTreeMap<String, AccountV1>) -> BTreeMap<String, Account> {
    v1.into_iter().map(|(id, a)| (id, a.into())).collect()
}
