//! Money coming in: top-ups from outside, from the parent on request, and automatic
//! top-ups from the parent when a lease finds the account short.
//!
//! Money between parent and child only moves, it is never created: the sum of all
//! balances plus everything spent equals everything topped up from outside plus the
//! opening credits. A parent gives only what it has available (its own credit limit
//! counts). For an automatic top-up it first tops itself up from its own parent the same
//! way, and gives what it can; a top-up an administrator asks from the parent does not
//! chain, and is refused when the parent does not have it.

use crate::{EventKind, Minor, Refusal, Response, State, MAX_PARENT_DEPTH};

/// Whether money moved to a child starts a new credit base for it. A top-up someone
/// asked for does; an automatic one does not: it covers a shortfall as it happens, so
/// measuring against it would report every automatic top-up as 100% spent. The money
/// it moves counts against the parent's credit instead.
#[derive(Clone, Copy)]
enum Base {
    Restart,
    Keep,
}

impl State {
    /// Adds `amount` to `account`, from outside or, with `from_parent`, from the parent's
    /// balance (refused when a metered parent does not have it available).
    pub(crate) fn top_up(
        &mut self,
        at_ms: u64,
        account: &str,
        amount: Minor,
        from_parent: bool,
    ) -> Result<Response, Refusal> {
        if amount <= 0 {
            return Err(Refusal::Invalid(format!(
                "top-up amount {amount} is not positive"
            )));
        }
        let Some(found) = self.accounts.get(account) else {
            return Err(Refusal::NotFound(format!("account {account}")));
        };
        if !from_parent {
            self.roll(account, at_ms);
            if let Some(found) = self.accounts.get_mut(account) {
                found.credit(amount);
            }
            self.check_thresholds(account, at_ms);
            return Ok(Response::Ok);
        }
        let Some(parent) = found.spec.parent.clone() else {
            return Err(Refusal::Invalid(format!("{account} has no parent")));
        };
        let available = self
            .accounts
            .get(&parent)
            .ok_or_else(|| Refusal::NotFound(format!("account {parent}")))?
            .money_available();
        if available.is_some_and(|available| available < amount) {
            return Err(Refusal::OverLimit(format!(
                "{parent} has less than {amount} available"
            )));
        }
        self.transfer(&parent, account, amount, at_ms, Base::Restart);
        Ok(Response::Ok)
    }

    /// `account` needs `need` more money: it pulls `max(auto_topup.amount, need)` from its
    /// parent, or as much of it as the parent has available once the parent did the same
    /// with its own parent. Nothing moves without an `auto_topup` setting.
    pub(crate) fn auto_topup(&mut self, account: &str, need: Minor, at_ms: u64, depth: usize) {
        if need <= 0 || depth >= MAX_PARENT_DEPTH {
            return;
        }
        let Some(found) = self.accounts.get(account) else {
            return;
        };
        let (Some(parent), Some(auto)) = (&found.spec.parent, &found.spec.limits.auto_topup) else {
            return;
        };
        let parent = parent.clone();
        let pull = auto.amount.max(need);
        let parent_available = |state: &State| {
            state
                .accounts
                .get(&parent)
                .map(|found| found.money_available())
        };
        match parent_available(self) {
            None => return,
            Some(Some(available)) if available < pull => {
                self.auto_topup(&parent, pull.saturating_sub(available), at_ms, depth + 1);
            }
            Some(_) => {}
        }
        let give = match parent_available(self) {
            Some(Some(available)) => available.min(pull),
            Some(None) => pull,
            None => 0,
        };
        if give > 0 {
            self.transfer(&parent, account, give, at_ms, Base::Keep);
        }
    }

    /// Moves money from `parent` to `child`, announced by a `ParentTopUp` event.
    fn transfer(&mut self, parent: &str, child: &str, amount: Minor, at_ms: u64, base: Base) {
        self.roll(parent, at_ms);
        self.roll(child, at_ms);
        if let Some(giver) = self.accounts.get_mut(parent) {
            giver.debit_to_child(amount);
        }
        if let Some(taker) = self.accounts.get_mut(child) {
            match base {
                Base::Restart => taker.credit(amount),
                Base::Keep => taker.receive(amount),
            }
        }
        let kind = EventKind::ParentTopUp {
            parent: parent.to_owned(),
            amount,
        };
        self.emit(at_ms, child, kind);
        self.check_thresholds(parent, at_ms);
        self.check_thresholds(child, at_ms);
    }
}
