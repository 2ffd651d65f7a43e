//! Campaign bookings: parts and money set aside ahead of a large send.
//!
//! A booking is a reservation like a lease's, so it counts against the account's limits
//! from the moment it is booked, and a later booking or lease can only take what is
//! left. The booking reserves the asked figures plus the tolerance; that whole
//! reservation is the ceiling, and a resize only moves the asked figures under it.
//! While the campaign's window is open, the account's leases draw from the booking
//! first; when the window ends, whatever is left goes back to the account. What a lease
//! drew from a booking and did not use goes back to the account too when the lease
//! ends, not to the booking: a booking only ever shrinks.

use crate::{Campaign, Minor, Refusal, Response, State};

/// A `BookCampaign` command's fields.
pub(crate) struct Booking<'a> {
    pub id: &'a str,
    pub account: &'a str,
    pub send_at_ms: u64,
    pub window_ms: u64,
    pub parts: u64,
    pub amount: Minor,
    pub tolerance_pct: u8,
}

/// What a lease took from a campaign booking.
pub(crate) struct Drawn {
    pub campaign: Option<String>,
    pub parts: u64,
    pub amount: Minor,
}

/// `ceil(parts * (100 + tolerance) / 100)`; `None` when it does not fit.
fn parts_with_tolerance(parts: u64, tolerance_pct: u8) -> Option<u64> {
    let scaled = u128::from(parts) * (100 + u128::from(tolerance_pct));
    u64::try_from(scaled.div_ceil(100)).ok()
}

/// The same for money, which a booking never asks below zero.
fn amount_with_tolerance(amount: Minor, tolerance_pct: u8) -> Option<Minor> {
    let amount = u128::try_from(amount).ok()?;
    let scaled = amount * (100 + u128::from(tolerance_pct));
    Minor::try_from(scaled.div_ceil(100)).ok()
}

impl Campaign {
    /// When the window closes (ms since the epoch).
    pub fn window_end_ms(&self) -> u64 {
        self.send_at_ms.saturating_add(self.window_ms)
    }

    /// True while leases of the account draw from this booking.
    pub fn is_active(&self, at_ms: u64) -> bool {
        self.send_at_ms <= at_ms && at_ms < self.window_end_ms()
    }
}

impl State {
    /// Reserves the booking plus tolerance; refused when the account does not have that
    /// much available after every lease and booking it already holds.
    pub(crate) fn book_campaign(
        &mut self,
        at_ms: u64,
        booking: &Booking,
    ) -> Result<Response, Refusal> {
        if booking.id.is_empty() {
            return Err(Refusal::Invalid("campaign id is empty".into()));
        }
        if booking.amount < 0 {
            return Err(Refusal::Invalid("campaign amount is negative".into()));
        }
        if booking.send_at_ms.saturating_add(booking.window_ms) <= at_ms {
            return Err(Refusal::Invalid(format!(
                "the window of campaign {} is over",
                booking.id
            )));
        }
        if self.campaigns.contains_key(booking.id) {
            return Err(Refusal::Exists(format!("campaign {}", booking.id)));
        }
        let Some(account) = self.accounts.get(booking.account) else {
            return Err(Refusal::NotFound(format!("account {}", booking.account)));
        };
        let too_large = || Refusal::Invalid(format!("campaign {} is too large", booking.id));
        let parts =
            parts_with_tolerance(booking.parts, booking.tolerance_pct).ok_or_else(too_large)?;
        let amount =
            amount_with_tolerance(booking.amount, booking.tolerance_pct).ok_or_else(too_large)?;
        if let Some(available) = account.parts_available(at_ms).filter(|a| *a < parts) {
            return Err(Refusal::OverLimit(format!(
                "{parts} parts asked, {available} available"
            )));
        }
        if let Some(available) = account.money_available().filter(|a| *a < amount) {
            return Err(Refusal::OverLimit(format!(
                "{amount} asked, {available} available"
            )));
        }
        if let Some(account) = self.accounts.get_mut(booking.account) {
            account.roll(at_ms);
            account.reserve(parts, amount);
        }
        self.campaigns.insert(
            booking.id.to_owned(),
            Campaign {
                id: booking.id.to_owned(),
                account: booking.account.to_owned(),
                send_at_ms: booking.send_at_ms,
                window_ms: booking.window_ms,
                parts: booking.parts,
                amount: booking.amount,
                tolerance_pct: booking.tolerance_pct,
                reserved_parts: parts,
                reserved_amount: amount,
                ceiling_parts: parts,
                ceiling_amount: amount,
            },
        );
        self.check_thresholds(booking.account, at_ms);
        Ok(Response::Ok)
    }

    /// Changes the asked figures within the ceiling booked; the reservation stays.
    pub(crate) fn resize_campaign(
        &mut self,
        id: &str,
        parts: u64,
        amount: Minor,
    ) -> Result<Response, Refusal> {
        let Some(campaign) = self.campaigns.get_mut(id) else {
            return Err(Refusal::NotFound(format!("campaign {id}")));
        };
        if amount < 0 {
            return Err(Refusal::Invalid("campaign amount is negative".into()));
        }
        if parts > campaign.ceiling_parts || amount > campaign.ceiling_amount {
            return Err(Refusal::Invalid(format!(
                "campaign {id} was booked for at most {} parts and {}",
                campaign.ceiling_parts, campaign.ceiling_amount
            )));
        }
        campaign.parts = parts;
        campaign.amount = amount;
        Ok(Response::Ok)
    }

    pub(crate) fn cancel_campaign(&mut self, at_ms: u64, id: &str) -> Result<Response, Refusal> {
        match self.campaigns.remove(id) {
            Some(campaign) => {
                self.release_campaign(at_ms, &campaign);
                Ok(Response::Ok)
            }
            None => Err(Refusal::NotFound(format!("campaign {id}"))),
        }
    }

    /// Ends the campaigns whose window is over, giving their rest back to the account.
    pub(crate) fn end_campaigns(&mut self, at_ms: u64) {
        let over: Vec<String> = self
            .campaigns
            .values()
            .filter(|campaign| campaign.window_end_ms() <= at_ms)
            .map(|campaign| campaign.id.clone())
            .collect();
        for id in over {
            if let Some(campaign) = self.campaigns.remove(&id) {
                self.release_campaign(at_ms, &campaign);
            }
        }
    }

    fn release_campaign(&mut self, at_ms: u64, campaign: &Campaign) {
        if let Some(account) = self.accounts.get_mut(&campaign.account) {
            account.roll(at_ms);
            account.release(campaign.reserved_parts, campaign.reserved_amount);
        }
    }

    /// Moves up to the asked figures from the first (by id) active booking of `account`
    /// that has anything left into a lease. The account's reserved totals do not change:
    /// the figures stay reserved, by the lease instead of the booking.
    pub(crate) fn draw_from_campaign(
        &mut self,
        account: &str,
        at_ms: u64,
        parts: u64,
        amount: Minor,
    ) -> Drawn {
        let booking = self.campaigns.values_mut().find(|campaign| {
            campaign.account == account
                && campaign.is_active(at_ms)
                && (campaign.reserved_parts > 0 || campaign.reserved_amount > 0)
        });
        let Some(campaign) = booking else {
            return Drawn {
                campaign: None,
                parts: 0,
                amount: 0,
            };
        };
        let parts = parts.min(campaign.reserved_parts);
        let amount = amount.clamp(0, campaign.reserved_amount.max(0));
        campaign.reserved_parts -= parts;
        campaign.reserved_amount -= amount;
        let took = parts > 0 || amount > 0;
        Drawn {
            campaign: took.then(|| campaign.id.clone()),
            parts,
            amount,
        }
    }
}
