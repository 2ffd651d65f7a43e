//! An account's ledger arithmetic: period rolls, what is available, moving figures
//! between reserved and used, top-ups, and the threshold events that follow a change.
//!
//! Inputs can be absurd (a proposer's bug, a replayed entry), but applying them must not
//! panic and every node must reach the same figures, so all of it is saturating or
//! widened integer arithmetic, and the only clock is the `at_ms` passed in.

use std::collections::BTreeSet;

use crate::calendar::period_start;
use crate::{
    Account, Audit, Available, Event, EventKind, Minor, RecallNotice, Refusal, Response, Standing,
    State, AUDIT_KEEP, EVENTS_KEEP, RECALL_KEEP_MS,
};

impl Account {
    /// True when `at_ms` lies in a later period than the ledger's current one.
    pub fn rolls_at(&self, at_ms: u64) -> bool {
        period_start(at_ms, self.spec.limits.period) > self.ledger.period_start_ms
    }

    /// Parts used in the period that contains `at_ms`: zero once a later period started.
    pub fn used_at(&self, at_ms: u64) -> u64 {
        if self.rolls_at(at_ms) {
            0
        } else {
            self.ledger.period_used
        }
    }

    /// Parts that can still be reserved at `at_ms`; `None` without a message limit.
    pub fn parts_available(&self, at_ms: u64) -> Option<u64> {
        let max = self.spec.limits.max_messages?;
        let committed = self
            .used_at(at_ms)
            .saturating_add(self.ledger.reserved_parts);
        Some(max.saturating_sub(committed))
    }

    /// Money that can still be reserved (never below zero); `None` when not metered.
    pub fn money_available(&self) -> Option<Minor> {
        self.money_headroom().map(|headroom| headroom.max(0))
    }

    /// `balance + credit_limit - reserved_amount`, which the ledger keeps at zero or more.
    pub(crate) fn money_headroom(&self) -> Option<Minor> {
        let limit = self.spec.limits.credit_limit?;
        Some(
            self.ledger
                .balance
                .saturating_add(limit)
                .saturating_sub(self.ledger.reserved_amount),
        )
    }

    /// Parts and money of this account that campaign bookings hold.
    fn booked(&self, state: &State) -> (u64, Minor) {
        state
            .campaigns
            .values()
            .filter(|campaign| campaign.account == self.spec.id)
            .fold((0, 0), |(parts, amount), campaign| {
                (
                    parts.saturating_add(campaign.reserved_parts),
                    amount.saturating_add(campaign.reserved_amount),
                )
            })
    }

    /// Both figures of what is available at `at_ms`.
    pub fn available(&self, at_ms: u64) -> Available {
        Available {
            parts: self.parts_available(at_ms),
            amount: self.money_available(),
        }
    }

    /// Starts the period containing `at_ms` if it is later than the current one. Reserved
    /// figures stay: leases and bookings carry over into the new period.
    pub(crate) fn roll(&mut self, at_ms: u64) {
        let start = period_start(at_ms, self.spec.limits.period);
        if start > self.ledger.period_start_ms {
            self.ledger.period_start_ms = start;
            self.ledger.period_used = 0;
            self.ledger.crossed_messages.clear();
        }
    }

    pub(crate) fn reserve(&mut self, parts: u64, amount: Minor) {
        let ledger = &mut self.ledger;
        ledger.reserved_parts = ledger.reserved_parts.saturating_add(parts);
        ledger.reserved_amount = ledger.reserved_amount.saturating_add(amount);
    }

    pub(crate) fn release(&mut self, parts: u64, amount: Minor) {
        let ledger = &mut self.ledger;
        ledger.reserved_parts = ledger.reserved_parts.saturating_sub(parts);
        ledger.reserved_amount = ledger.reserved_amount.saturating_sub(amount).max(0);
    }

    /// Counts reserved parts and money as used: the sum of used and reserved is unchanged.
    pub(crate) fn consume(&mut self, parts: u64, amount: Minor) {
        self.release(parts, amount);
        let ledger = &mut self.ledger;
        ledger.period_used = ledger.period_used.saturating_add(parts);
        ledger.parts_total = ledger.parts_total.saturating_add(parts);
        ledger.balance = ledger.balance.saturating_sub(amount);
        ledger.spent_total = ledger.spent_total.saturating_add(amount);
    }

    /// Gives back parts and money that were counted as used. Parts only come off
    /// `period_used` when they were counted in the current period (`period_start_ms`).
    pub(crate) fn refund(&mut self, parts: u64, amount: Minor, period_start_ms: u64) {
        let ledger = &mut self.ledger;
        if period_start_ms == ledger.period_start_ms {
            ledger.period_used = ledger.period_used.saturating_sub(parts);
        }
        ledger.parts_total = ledger.parts_total.saturating_sub(parts);
        ledger.balance = ledger.balance.saturating_add(amount);
        ledger.spent_total = ledger.spent_total.saturating_sub(amount);
    }

    /// Adds money without starting a new credit base: what an automatic top-up does.
    pub(crate) fn receive(&mut self, amount: Minor) {
        self.ledger.balance = self.ledger.balance.saturating_add(amount);
    }

    /// Adds money as a top-up (from outside or asked from the parent), which starts a
    /// new credit base so credit thresholds can be crossed again.
    pub(crate) fn credit(&mut self, amount: Minor) {
        self.receive(amount);
        self.reset_credit_base();
    }

    /// Money leaves for a child account.
    pub(crate) fn debit_to_child(&mut self, amount: Minor) {
        self.ledger.balance = self.ledger.balance.saturating_sub(amount);
    }

    /// `credit_base = balance + credit_limit`, reservations not deducted: money held by
    /// a lease at the time of the top-up is still to be spent from the new base.
    pub(crate) fn reset_credit_base(&mut self) {
        let limit = self.spec.limits.credit_limit.unwrap_or(0);
        self.ledger.credit_base = self.ledger.balance.saturating_add(limit);
        self.ledger.crossed_credit.clear();
    }

    /// The thresholds crossed by the current figures and not crossed before, marked as
    /// crossed now. Only use counts: parts used in the period and money spent since the
    /// credit base. What leases and bookings reserve is not use (a lease may come back
    /// almost whole), so a reservation never crosses a threshold and an event reports the
    /// use that crossed it.
    pub(crate) fn cross_thresholds(&mut self) -> Vec<EventKind> {
        let percents: BTreeSet<u8> = self.spec.limits.thresholds.iter().copied().collect();
        let mut crossed = Vec::new();
        if let Some(max) = self.spec.limits.max_messages.filter(|max| *max > 0) {
            let used = self.ledger.period_used;
            for &percent in &percents {
                let reached = u128::from(used) * 100 >= u128::from(percent) * u128::from(max);
                if reached && self.ledger.crossed_messages.insert(percent) {
                    crossed.push(EventKind::MessagesThreshold { percent, used, max });
                }
            }
        }
        let base = self.ledger.credit_base;
        if let Some(credit_limit) = self.spec.limits.credit_limit {
            let headroom = self.ledger.balance.saturating_add(credit_limit);
            if base > 0 {
                let spent = i128::from(base) - i128::from(headroom);
                for &percent in &percents {
                    let reached = spent * 100 >= i128::from(percent) * i128::from(base);
                    if reached && self.ledger.crossed_credit.insert(percent) {
                        crossed.push(EventKind::CreditThreshold {
                            percent,
                            balance: self.ledger.balance,
                            credit_limit,
                        });
                    }
                }
            }
        }
        crossed
    }
}

impl State {
    /// Appends an event numbered in log order, dropping the oldest past `EVENTS_KEEP`.
    pub(crate) fn emit(&mut self, at_ms: u64, account: &str, kind: EventKind) {
        let seq = self.next_event_seq.max(1);
        self.next_event_seq = seq.saturating_add(1);
        self.events.push_back(Event {
            seq,
            at_ms,
            account: account.to_owned(),
            kind,
        });
        while self.events.len() > EVENTS_KEEP {
            self.events.pop_front();
        }
    }

    /// Emits an event for every threshold of `account` its figures crossed.
    pub(crate) fn check_thresholds(&mut self, account: &str, at_ms: u64) {
        let crossed = match self.accounts.get_mut(account) {
            Some(found) => found.cross_thresholds(),
            None => return,
        };
        for kind in crossed {
            self.emit(at_ms, account, kind);
        }
    }

    /// Starts the current period of `account` if a later one began.
    pub(crate) fn roll(&mut self, account: &str, at_ms: u64) {
        if let Some(found) = self.accounts.get_mut(account) {
            found.roll(at_ms);
        }
    }

    pub(crate) fn push_audit(&mut self, audit: &Audit) {
        self.audit.push_back(audit.clone());
        while self.audit.len() > AUDIT_KEEP {
            self.audit.pop_front();
        }
    }

    /// What `account` can still take at `at_ms`, as if its period had rolled; `None` for
    /// an unknown account.
    pub fn available(&self, account: &str, at_ms: u64) -> Option<Available> {
        self.accounts
            .get(account)
            .map(|found| found.available(at_ms))
    }

    /// Where `account` stands at `at_ms` for a quota counter: what is free, what only
    /// leases hold (and could come back), and the latest recall. `None` for an unknown
    /// account.
    pub fn standing(&self, account: &str, at_ms: u64) -> Option<Standing> {
        let found = self.accounts.get(account)?;
        let (booked_parts, booked_amount) = found.booked(self);
        let parts_unbooked = found.spec.limits.max_messages.map(|max| {
            max.saturating_sub(found.used_at(at_ms))
                .saturating_sub(booked_parts)
        });
        let amount_unbooked = found.spec.limits.credit_limit.map(|limit| {
            found
                .ledger
                .balance
                .saturating_add(limit)
                .saturating_sub(booked_amount)
                .max(0)
        });
        Some(Standing {
            parts_unbooked,
            parts_free: found.parts_available(at_ms),
            amount_unbooked,
            amount_free: found.money_available(),
            recall: self.recalls.get(account).copied(),
        })
    }

    /// Records a node's recall of the unused reservations of `account`.
    pub(crate) fn recall(
        &mut self,
        at_ms: u64,
        account: &str,
        node: u64,
    ) -> Result<Response, Refusal> {
        if !self.accounts.contains_key(account) {
            return Err(Refusal::NotFound(format!("account {account}")));
        }
        self.recalls
            .insert(account.to_owned(), RecallNotice { at_ms, node });
        Ok(Response::Ok)
    }

    /// Forgets recalls older than [`RECALL_KEEP_MS`] and those of deleted accounts.
    pub(crate) fn forget_recalls(&mut self, at_ms: u64) {
        let accounts = &self.accounts;
        self.recalls.retain(|account, recall| {
            accounts.contains_key(account) && recall.at_ms.saturating_add(RECALL_KEEP_MS) > at_ms
        });
    }

    /// The events after `seq`, oldest first: the notifier passes `events_acked`.
    pub fn events_after(&self, seq: u64) -> impl Iterator<Item = &Event> + '_ {
        self.events.iter().filter(move |event| event.seq > seq)
    }
}
