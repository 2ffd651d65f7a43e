//! An account's purse on this node: the open leases its counter took from the ledger,
//! which the account's sessions charge directly under a short lock, one lease per message.
//! A charge is pending until the message is durable, then used; only used figures are
//! ever settled with the ledger (see [`crate::quota`]).

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use tern_ledger::{LeaseId, Minor};
use tern_model::MessageId;
use tern_storage::WriteOp;
use tokio::time::Instant;
use tracing::warn;

/// What one message spent of one lease. Pending until [`Charge::commit`] (its records
/// are durable) or [`Charge::cancel`] (they are not).
#[derive(Debug, Clone)]
pub struct Charge {
    pub(crate) purse: Option<Arc<Purse>>,
    pub lease: LeaseId,
    pub parts: u64,
    pub amount: Minor,
}

impl Charge {
    /// A charge of nothing (a message already paid for).
    pub fn none() -> Self {
        Self {
            purse: None,
            lease: 0,
            parts: 0,
            amount: 0,
        }
    }

    /// The store operation that records this charge against `id`, if there is anything
    /// to record.
    pub fn op(&self, id: MessageId) -> Option<WriteOp> {
        (self.purse.is_some()).then_some(WriteOp::Charge {
            lease: self.lease,
            id,
            parts: self.parts,
            amount: self.amount,
        })
    }

    /// The message is durable and acknowledged: the charge is use.
    pub fn commit(&self) {
        if let Some(purse) = &self.purse {
            purse.settle_charge(self, true);
        }
    }

    /// The message was not accepted: the charge goes back to its lease.
    pub fn cancel(&self) {
        if let Some(purse) = &self.purse {
            purse.settle_charge(self, false);
        }
    }
}

/// One open lease.
#[derive(Debug, Clone, Default)]
pub(crate) struct Slot {
    pub(crate) id: LeaseId,
    pub(crate) granted_parts: u64,
    pub(crate) granted_amount: Minor,
    /// Charged to messages not yet durable.
    pub(crate) pending_parts: u64,
    pub(crate) pending_amount: Minor,
    /// Charged to messages that are durable.
    pub(crate) used_parts: u64,
    pub(crate) used_amount: Minor,
    /// What the ledger was last told.
    pub(crate) settled_parts: u64,
    pub(crate) settled_amount: Minor,
    /// No more charges: the lease is being closed.
    pub(crate) closing: bool,
}

impl Slot {
    pub(crate) fn room(&self) -> (u64, Minor) {
        (
            self.granted_parts
                .saturating_sub(self.used_parts)
                .saturating_sub(self.pending_parts),
            self.granted_amount
                .saturating_sub(self.used_amount)
                .saturating_sub(self.pending_amount)
                .max(0),
        )
    }

    pub(crate) fn fits(&self, parts: u64, amount: Minor) -> bool {
        let (room_parts, room_amount) = self.room();
        !self.closing && room_parts >= parts && room_amount >= amount
    }

    pub(crate) fn exhausted(&self) -> bool {
        self.room() == (0, 0)
    }
}

#[derive(Debug, Default)]
pub(crate) struct PurseState {
    /// Oldest first.
    pub(crate) slots: Vec<Slot>,
    pub(crate) last_spend: Option<Instant>,
    pub(crate) spent_parts_since_tick: u64,
}

/// The open leases of one account on this node, shared by its counter and its sessions.
#[derive(Debug, Default)]
pub struct Purse {
    state: Mutex<PurseState>,
}

impl Purse {
    pub(crate) fn lock(&self) -> MutexGuard<'_, PurseState> {
        // Every change under this lock is a few additions: a panic cannot leave it torn.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Charges `parts` and `amount` to the oldest lease that can carry both.
    pub(crate) fn spend(self: &Arc<Self>, parts: u64, amount: Minor) -> Option<Charge> {
        let mut state = self.lock();
        let slot = state.slots.iter_mut().find(|s| s.fits(parts, amount))?;
        slot.pending_parts += parts;
        slot.pending_amount += amount;
        let lease = slot.id;
        state.last_spend = Some(Instant::now());
        state.spent_parts_since_tick += parts;
        Some(Charge {
            purse: Some(Arc::clone(self)),
            lease,
            parts,
            amount,
        })
    }

    pub(crate) fn settle_charge(&self, charge: &Charge, used: bool) {
        let mut state = self.lock();
        let Some(slot) = state.slots.iter_mut().find(|s| s.id == charge.lease) else {
            // A lease is closed only once nothing is pending on it.
            warn!(lease = charge.lease, "charge for a lease that is gone");
            return;
        };
        slot.pending_parts = slot.pending_parts.saturating_sub(charge.parts);
        slot.pending_amount = slot.pending_amount.saturating_sub(charge.amount).max(0);
        if used {
            slot.used_parts += charge.parts;
            slot.used_amount += charge.amount;
        }
    }

    pub(crate) fn push(&self, slot: Slot) {
        self.lock().slots.push(slot);
    }
}
