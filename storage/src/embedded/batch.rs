//! A caller's batch turned into key/value changes, on the caller's thread, so that the
//! writer thread only copies bytes into the engine and waits for the disk.

use std::sync::{Arc, Mutex};

use serde::Serialize;

use super::keys;
use crate::{idempotency, Claim, Completion, MessageRecord, RecordState, StoreError, WriteOp};

/// The keyspaces of the store, one per access path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Space {
    Messages,
    Pending,
    Receipts,
    Held,
    ByAccount,
    ByLink,
    ByClientRef,
    Meta,
    Submissions,
    Charges,
    Idempotency,
    IdempotencyExpiry,
}

impl Space {
    /// The keyspace's name on disk; never change one, it is the data's address.
    pub(super) fn name(self) -> &'static str {
        match self {
            Space::Messages => "messages",
            Space::Pending => "pending",
            Space::Receipts => "receipts",
            Space::Held => "held",
            Space::ByAccount => "messages_by_account",
            Space::ByLink => "messages_by_link",
            Space::ByClientRef => "messages_by_client_ref",
            Space::Meta => "meta",
            Space::Submissions => "submissions",
            Space::Charges => "charges",
            Space::Idempotency => "idempotency",
            Space::IdempotencyExpiry => "idempotency_by_expiry",
        }
    }
}

pub(super) enum Change {
    Put(Space, Vec<u8>, Vec<u8>),
    Remove(Space, Vec<u8>),
    /// Every key that starts with the prefix.
    RemovePrefix(Space, Vec<u8>),
    /// An idempotency record put unless a live one is there (see [`ClaimChange`]).
    Claim(ClaimChange),
}

/// What the writer needs to decide a claim, and where it leaves its decision: the
/// writer reads the record and writes the new one between two other changes, so that no
/// other write of the key comes in between.
pub(super) struct ClaimChange {
    /// The record's key, its value (`expires_ms ‖ bytes`) and its expiry index entry.
    pub(super) key: Vec<u8>,
    pub(super) value: Vec<u8>,
    pub(super) expiry: Vec<u8>,
    /// Set by the writer; read by the claim's completion once the commit is durable.
    pub(super) outcome: ClaimOutcome,
}

/// A claim's decision: claimed, the live record found, or a record that does not decode.
pub(super) type ClaimOutcome = Arc<Mutex<Option<Result<Claim, StoreError>>>>;

/// One queued batch.
pub(super) struct Job {
    pub(super) changes: Vec<Change>,
    /// Operations as the caller counted them (a `PutMessage` is one, with up to five
    /// changes).
    pub(super) ops: usize,
    /// Accounts that got something held, and accounts that had something released: the
    /// writer keeps its set of accounts with held items from these.
    pub(super) held: Vec<String>,
    pub(super) released: Vec<String>,
    /// Idempotency records put or claimed: the writer sweeps expired ones every so many
    /// (see `writer`).
    pub(super) idempotent: usize,
    /// Nothing urgent waits on it: the writer does not sync for it alone at once (see
    /// [`crate::MessageStore::write_deferred`]).
    pub(super) deferred: bool,
    pub(super) done: Completion,
}

impl Job {
    pub(super) fn encode(ops: Vec<WriteOp>, done: Completion) -> Result<Job, StoreError> {
        let mut job = Job {
            changes: Vec::with_capacity(ops.len() + ops.len() / 2),
            ops: ops.len(),
            held: Vec::new(),
            released: Vec::new(),
            idempotent: 0,
            deferred: false,
            done,
        };
        for op in ops {
            job.push(op)?;
        }
        Ok(job)
    }

    /// A job of one claim (see [`crate::MessageStore::claim_idempotent`]): its decision is
    /// left in `outcome`.
    pub(super) fn claim(
        account: &str,
        key: &str,
        value: &[u8],
        expires_ms: u64,
        outcome: ClaimOutcome,
        done: Completion,
    ) -> Result<Job, StoreError> {
        idempotency::check(account, key, Some(value))?;
        let record = keys::idempotent(account, key);
        let change = ClaimChange {
            expiry: keys::idempotent_expiry(expires_ms, &record),
            value: keys::idempotent_value(expires_ms, value),
            key: record,
            outcome,
        };
        Ok(Job {
            changes: vec![Change::Claim(change)],
            ops: 1,
            held: Vec::new(),
            released: Vec::new(),
            idempotent: 1,
            deferred: false,
            done,
        })
    }

    fn push(&mut self, op: WriteOp) -> Result<(), StoreError> {
        let change = match op {
            WriteOp::PutMessage(record) => {
                no_nul("account", &record.account)?;
                self.index(&record)?;
                let key = keys::message(record.id, record.part).to_vec();
                if !matches!(record.state, RecordState::Accepted) {
                    // The record now holds everything the submission entry said.
                    self.changes
                        .push(Change::Remove(Space::Submissions, key.clone()));
                }
                Change::Put(Space::Messages, key, encode("message record", &*record)?)
            }
            WriteOp::MarkSubmitted(submission) => {
                no_nul("link", &submission.link)?;
                let key = keys::message(submission.id, submission.part).to_vec();
                Change::Put(Space::Submissions, key, encode("submission", &submission)?)
            }
            WriteOp::AddPending(entry) => {
                let key = keys::pending(entry.shard, entry.id, entry.part).to_vec();
                Change::Put(Space::Pending, key, encode("pending entry", &entry)?)
            }
            WriteOp::RemovePending { shard, id, part } => {
                Change::Remove(Space::Pending, keys::pending(shard, id, part).to_vec())
            }
            WriteOp::IndexReceipt {
                link,
                operator_id,
                id,
                part,
            } => {
                no_nul("link", &link)?;
                let value = keys::message(id, part).to_vec();
                Change::Put(Space::Receipts, keys::receipt(&link, &operator_id), value)
            }
            WriteOp::RemoveReceiptIndex { link, operator_id } => {
                no_nul("link", &link)?;
                Change::Remove(Space::Receipts, keys::receipt(&link, &operator_id))
            }
            WriteOp::Hold(delivery) => {
                no_nul("account", &delivery.account)?;
                let key = keys::held(&delivery.account, delivery.key);
                let value = encode("held delivery", &*delivery)?;
                self.held.push(delivery.account);
                Change::Put(Space::Held, key, value)
            }
            WriteOp::Release { account, key } => {
                no_nul("account", &account)?;
                let key = keys::held(&account, key);
                self.released.push(account);
                Change::Remove(Space::Held, key)
            }
            WriteOp::PutMeta { key, value } => Change::Put(Space::Meta, key.into_bytes(), value),
            WriteOp::Charge {
                lease,
                id,
                parts,
                amount,
            } => Change::Put(
                Space::Charges,
                keys::charge(lease, id).to_vec(),
                keys::charge_value(parts, amount).to_vec(),
            ),
            WriteOp::ForgetCharges { lease } => {
                Change::RemovePrefix(Space::Charges, lease.to_be_bytes().to_vec())
            }
            WriteOp::PutIdempotent {
                account,
                key,
                value,
                expires_ms,
            } => {
                idempotency::check(&account, &key, Some(&value))?;
                let record = keys::idempotent(&account, &key);
                // The expiry index entry first: a record is never without one.
                self.changes.push(Change::Put(
                    Space::IdempotencyExpiry,
                    keys::idempotent_expiry(expires_ms, &record),
                    Vec::new(),
                ));
                self.idempotent += 1;
                Change::Put(
                    Space::Idempotency,
                    record,
                    keys::idempotent_value(expires_ms, &value),
                )
            }
            WriteOp::RemoveIdempotent { account, key } => {
                idempotency::check(&account, &key, None)?;
                // Its expiry index entry goes when the sweep reaches it.
                Change::Remove(Space::Idempotency, keys::idempotent(&account, &key))
            }
        };
        self.changes.push(change);
        Ok(())
    }

    /// The index entries of a record. Written before the record itself (the order of
    /// changes in a batch), but read only through the record, so an entry whose record is
    /// not there yet, or no longer matches it, is skipped.
    fn index(&mut self, record: &MessageRecord) -> Result<(), StoreError> {
        // Every write indexes the record again, whatever its state: a record may be
        // written first in any state (a refusal, an import), and an entry written twice is
        // still one entry.
        let key = keys::cdr(&record.account, record.accepted_ms, record.id, record.part);
        self.changes
            .push(Change::Put(Space::ByAccount, key, Vec::new()));
        if let Some(client_ref) = &record.client_ref {
            let key = keys::client_ref(&record.account, client_ref, record.id);
            self.changes
                .push(Change::Put(Space::ByClientRef, key, Vec::new()));
        }
        // The link changes from attempt to attempt; entries of earlier links are skipped
        // when read.
        if let Some(link) = &record.link {
            no_nul("link", link)?;
            let key = keys::cdr(link, record.accepted_ms, record.id, record.part);
            self.changes
                .push(Change::Put(Space::ByLink, key, Vec::new()));
        }
        Ok(())
    }
}

fn no_nul(what: &str, name: &str) -> Result<(), StoreError> {
    if name.as_bytes().contains(&keys::SEP) {
        return Err(StoreError::Invalid(format!(
            "{what} {name:?} contains a NUL byte"
        )));
    }
    Ok(())
}

fn encode<T: Serialize + ?Sized>(what: &str, value: &T) -> Result<Vec<u8>, StoreError> {
    postcard::to_stdvec(value)
        .map_err(|e| StoreError::Invalid(format!("cannot encode a {what}: {e}")))
}
