//! Leases: the parts and money a node holds so that it can accept messages without a
//! round trip through the log for each one.
//!
//! A node asks for a lease, spends from it locally and settles it with cumulative
//! figures, so a settle that is retried or arrives late changes nothing the first one
//! did not. A node that stops settling loses its lease at the next `Tick` after expiry:
//! the whole grant is counted as used, because the node may have sent all of it. If the
//! node comes back and reports less, the difference is given back, once.

use crate::{
    EventKind, Lease, LeaseId, LeaseTombstone, Minor, Refusal, Response, State, LEASE_TOMBSTONE_MS,
};

/// An `AcquireLease` command's fields.
pub(crate) struct Ask<'a> {
    pub lease: LeaseId,
    pub account: &'a str,
    pub node: u64,
    pub parts: u64,
    pub amount: Minor,
    pub ttl_ms: u64,
}

/// A `SettleLease` command's fields.
pub(crate) struct Report {
    pub lease: LeaseId,
    pub used_parts: u64,
    pub used_amount: Minor,
    pub ttl_ms: u64,
    pub close: bool,
}

const NOTHING: Response = Response::Lease {
    parts: 0,
    amount: 0,
};

impl State {
    /// Grants what is available up to the asked figures, parts and money independently:
    /// from the account's active campaign booking first, then from what is free, after
    /// an automatic top-up from the parent if money runs short.
    ///
    /// A lease id seen before is not granted twice: an open lease answers with its grant
    /// (a retried proposal), an ended one with nothing, since its reservation is gone.
    pub(crate) fn acquire_lease(&mut self, at_ms: u64, ask: &Ask) -> Result<Response, Refusal> {
        if ask.amount < 0 {
            return Err(Refusal::Invalid("lease amount is negative".into()));
        }
        if let Some(open) = self.leases.get(&ask.lease) {
            if open.account != ask.account {
                return Err(Refusal::Invalid(format!(
                    "lease {} belongs to account {}",
                    ask.lease, open.account
                )));
            }
            return Ok(Response::Lease {
                parts: open.granted_parts,
                amount: open.granted_amount,
            });
        }
        if self.tombstones.contains_key(&ask.lease) {
            return Ok(NOTHING);
        }
        let Some(account) = self.accounts.get(ask.account) else {
            return Err(Refusal::NotFound(format!("account {}", ask.account)));
        };
        let enabled = account.spec.enabled;
        self.roll(ask.account, at_ms);
        if !enabled {
            return Ok(NOTHING);
        }
        let drawn = self.draw_from_campaign(ask.account, at_ms, ask.parts, ask.amount);
        let want_parts = ask.parts.saturating_sub(drawn.parts);
        let want_amount = ask.amount.saturating_sub(drawn.amount).max(0);
        let short = self
            .accounts
            .get(ask.account)
            .and_then(|account| account.money_available())
            .map_or(0, |available| want_amount.saturating_sub(available));
        if short > 0 {
            self.auto_topup(ask.account, short, at_ms, 0);
        }
        let Some(account) = self.accounts.get_mut(ask.account) else {
            return Ok(NOTHING);
        };
        let parts = account
            .parts_available(at_ms)
            .map_or(want_parts, |available| available.min(want_parts));
        let amount = account
            .money_available()
            .map_or(want_amount, |available| available.min(want_amount));
        account.reserve(parts, amount);
        let granted_parts = parts.saturating_add(drawn.parts);
        let granted_amount = amount.saturating_add(drawn.amount);
        if granted_parts == 0 && granted_amount == 0 {
            return Ok(NOTHING);
        }
        self.leases.insert(
            ask.lease,
            Lease {
                id: ask.lease,
                account: ask.account.to_owned(),
                node: ask.node,
                granted_parts,
                granted_amount,
                used_parts: 0,
                used_amount: 0,
                expires_ms: at_ms.saturating_add(ask.ttl_ms),
                campaign: drawn.campaign,
            },
        );
        Ok(Response::Lease {
            parts: granted_parts,
            amount: granted_amount,
        })
    }

    /// Counts the growth of cumulative use, extends the lease, and with `close` returns
    /// the rest and ends it. Use above the grant is clamped to the grant: the node was
    /// never allowed more, and the ledger's invariant depends on it.
    pub(crate) fn settle_lease(
        &mut self,
        at_ms: u64,
        report: &Report,
    ) -> Result<Response, Refusal> {
        if report.used_amount < 0 {
            return Err(Refusal::Invalid("used amount is negative".into()));
        }
        if let Some(lease) = self.leases.get(&report.lease).cloned() {
            return Ok(self.settle_open(at_ms, lease, report));
        }
        if self.tombstones.contains_key(&report.lease) {
            return Ok(self.settle_late(at_ms, report));
        }
        Err(Refusal::NotFound(format!("lease {}", report.lease)))
    }

    fn settle_open(&mut self, at_ms: u64, mut lease: Lease, report: &Report) -> Response {
        let used_parts = report.used_parts.min(lease.granted_parts);
        let used_amount = report.used_amount.min(lease.granted_amount);
        let more_parts = used_parts.saturating_sub(lease.used_parts);
        let more_amount = used_amount.saturating_sub(lease.used_amount).max(0);
        lease.used_parts = lease.used_parts.saturating_add(more_parts);
        lease.used_amount = lease.used_amount.saturating_add(more_amount);
        lease.expires_ms = lease.expires_ms.max(at_ms.saturating_add(report.ttl_ms));
        let (rest_parts, rest_amount) = rest(&lease);
        let Some(account) = self.accounts.get_mut(&lease.account) else {
            // Unreachable: an account with open leases cannot be deleted.
            return Response::Settled {
                counted_parts: lease.used_parts.saturating_sub(more_parts),
                counted_amount: lease.used_amount.saturating_sub(more_amount),
            };
        };
        account.roll(at_ms);
        account.consume(more_parts, more_amount);
        let period_start_ms = account.ledger.period_start_ms;
        let counted = Response::Settled {
            counted_parts: lease.used_parts,
            counted_amount: lease.used_amount,
        };
        let name = lease.account.clone();
        if report.close {
            account.release(rest_parts, rest_amount);
            self.leases.remove(&lease.id);
            self.tombstones.insert(
                lease.id,
                LeaseTombstone {
                    account: lease.account,
                    counted_parts: lease.used_parts,
                    counted_amount: lease.used_amount,
                    reclaimed: false,
                    forget_at_ms: at_ms.saturating_add(LEASE_TOMBSTONE_MS),
                    reported_parts: lease.used_parts,
                    reported_amount: lease.used_amount,
                    period_start_ms,
                },
            );
        } else {
            self.leases.insert(lease.id, lease);
        }
        self.check_thresholds(&name, at_ms);
        counted
    }

    /// A settle for a lease that ended. One that is not closing is told so
    /// ([`Response::Ended`]): the node stops spending from it and closes it with its final
    /// use once nothing is pending. After a reclaim (counted in full past its time), that
    /// closing settle gives back what was counted beyond the use, once; otherwise a late
    /// settle only answers what was counted. Copies and stale reports change nothing.
    fn settle_late(&mut self, at_ms: u64, report: &Report) -> Response {
        let Some(tomb) = self.tombstones.get_mut(&report.lease) else {
            return NOTHING;
        };
        if !report.close {
            return Response::Ended {
                counted_parts: tomb.counted_parts,
                counted_amount: tomb.counted_amount,
            };
        }
        let period_start_ms = tomb.period_start_ms;
        if tomb.reclaimed {
            let parts = report
                .used_parts
                .max(tomb.reported_parts)
                .min(tomb.counted_parts);
            let amount = report
                .used_amount
                .max(tomb.reported_amount)
                .min(tomb.counted_amount);
            let refund_parts = tomb.counted_parts.saturating_sub(parts);
            let refund_amount = tomb.counted_amount.saturating_sub(amount).max(0);
            tomb.counted_parts = parts;
            tomb.counted_amount = amount;
            tomb.reported_parts = parts;
            tomb.reported_amount = amount;
            tomb.reclaimed = false;
            if let Some(account) = self.accounts.get_mut(&tomb.account) {
                account.roll(at_ms);
                account.refund(refund_parts, refund_amount, period_start_ms);
            }
        }
        Response::Settled {
            counted_parts: tomb.counted_parts,
            counted_amount: tomb.counted_amount,
        }
    }

    /// Ends every lease past its expiry, counting its whole grant as used.
    pub(crate) fn reclaim_expired(&mut self, at_ms: u64) {
        let expired: Vec<LeaseId> = self
            .leases
            .iter()
            .filter(|(_, lease)| lease.expires_ms <= at_ms)
            .map(|(id, _)| *id)
            .collect();
        for id in expired {
            let Some(lease) = self.leases.remove(&id) else {
                continue;
            };
            let (rest_parts, rest_amount) = rest(&lease);
            let mut period_start_ms = 0;
            if let Some(account) = self.accounts.get_mut(&lease.account) {
                account.roll(at_ms);
                account.consume(rest_parts, rest_amount);
                period_start_ms = account.ledger.period_start_ms;
            }
            let kind = EventKind::LeaseReclaimed {
                lease: id,
                node: lease.node,
            };
            self.emit(at_ms, &lease.account, kind);
            self.check_thresholds(&lease.account, at_ms);
            self.tombstones.insert(
                id,
                LeaseTombstone {
                    account: lease.account,
                    counted_parts: lease.granted_parts,
                    counted_amount: lease.granted_amount,
                    reclaimed: true,
                    forget_at_ms: at_ms.saturating_add(LEASE_TOMBSTONE_MS),
                    reported_parts: lease.used_parts,
                    reported_amount: lease.used_amount,
                    period_start_ms,
                },
            );
        }
    }

    /// Leases for which `mine` holds that may still owe a settle: open ones, and reclaimed
    /// ones whose use was counted in full. With the account each belongs to, by id.
    pub fn unsettled_leases(&self, mine: impl Fn(LeaseId) -> bool) -> Vec<(LeaseId, String)> {
        let open = self
            .leases
            .values()
            .filter(|lease| mine(lease.id))
            .map(|lease| (lease.id, lease.account.clone()));
        let reclaimed = self
            .tombstones
            .iter()
            .filter(|(id, tomb)| tomb.reclaimed && mine(**id))
            .map(|(id, tomb)| (*id, tomb.account.clone()));
        open.chain(reclaimed).collect()
    }

    /// Leases for which `mine` holds that were reclaimed in full and still wait for the
    /// settle that gives back what they did not use.
    pub fn reclaimed_leases(&self, mine: impl Fn(LeaseId) -> bool) -> Vec<(LeaseId, String)> {
        self.tombstones
            .iter()
            .filter(|(id, tomb)| tomb.reclaimed && mine(**id))
            .map(|(id, tomb)| (*id, tomb.account.clone()))
            .collect()
    }

    /// Forgets the ended leases whose late settles are no longer expected.
    pub(crate) fn forget_tombstones(&mut self, at_ms: u64) {
        self.tombstones.retain(|_, tomb| tomb.forget_at_ms > at_ms);
    }
}

/// What a lease holds and has not used.
fn rest(lease: &Lease) -> (u64, Minor) {
    (
        lease.granted_parts.saturating_sub(lease.used_parts),
        lease
            .granted_amount
            .saturating_sub(lease.used_amount)
            .max(0),
    )
}
