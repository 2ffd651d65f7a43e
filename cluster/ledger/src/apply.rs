//! `State::apply`: one command of the log in, one response out.
//!
//! This is where the rules common to every command live: a refused command changes
//! nothing, an applied one with an audit record is recorded, and the ticking clock
//! (rolls, reclaims, campaign windows, forgetting tombstones) runs in one fixed order.

use crate::campaign::Booking;
use crate::lease::{Ask, Report};
use crate::{AccountSpec, Command, Request, Response, State};

impl State {
    /// Applies one request. Never panics; a command that cannot apply is refused and
    /// leaves the state unchanged.
    pub fn apply(&mut self, request: &Request) -> Response {
        if self.seeded
            && matches!(
                request.command,
                Command::Seed { .. } | Command::SeedV1 { .. }
            )
        {
            // A second seed is not an error (every node proposes it on first start),
            // but it is not a change either, so it leaves no audit record.
            return Response::Ok;
        }
        match self.dispatch(request.at_ms, &request.command) {
            Ok(response) => {
                if let Some(audit) = &request.audit {
                    self.push_audit(audit);
                }
                response
            }
            Err(refusal) => Response::Refused(refusal),
        }
    }

    fn dispatch(&mut self, at_ms: u64, command: &Command) -> Result<Response, crate::Refusal> {
        match command {
            Command::Seed {
                accounts,
                routes,
                links,
                prices,
            } => {
                let response = self.seed(at_ms, accounts, routes, links, prices)?;
                self.spread(at_ms);
                Ok(response)
            }
            Command::SeedV1 {
                accounts,
                routes,
                links,
                prices,
            } => {
                let accounts: Vec<AccountSpec> = accounts.iter().cloned().map(Into::into).collect();
                let response = self.seed(at_ms, &accounts, routes, links, prices)?;
                self.spread(at_ms);
                Ok(response)
            }
            Command::CreateAccount { spec, credit } => self.create_account(at_ms, spec, *credit),
            Command::CreateAccountV1 { spec, credit } => {
                self.create_account(at_ms, &spec.clone().into(), *credit)
            }
            Command::UpdateAccount { spec } => self.update_account(at_ms, spec),
            Command::UpdateAccountV1 { spec } => self.update_account(at_ms, &spec.clone().into()),
            Command::DeleteAccount { id } => self.delete_account(id),
            Command::TopUp {
                account,
                amount,
                from_parent,
            } => self.top_up(at_ms, account, *amount, *from_parent),
            Command::AcquireLease {
                lease,
                account,
                node,
                parts,
                amount,
                ttl_ms,
            } => {
                let ask = Ask {
                    lease: *lease,
                    account,
                    node: *node,
                    parts: *parts,
                    amount: *amount,
                    ttl_ms: *ttl_ms,
                };
                self.acquire_lease(at_ms, &ask)
            }
            Command::SettleLease {
                lease,
                used_parts,
                used_amount,
                ttl_ms,
                close,
            } => {
                let report = Report {
                    lease: *lease,
                    used_parts: *used_parts,
                    used_amount: *used_amount,
                    ttl_ms: *ttl_ms,
                    close: *close,
                };
                self.settle_lease(at_ms, &report)
            }
            Command::Tick => {
                self.tick(at_ms);
                Ok(Response::Ok)
            }
            Command::BookCampaign {
                id,
                account,
                send_at_ms,
                window_ms,
                parts,
                amount,
                tolerance_pct,
            } => {
                let booking = Booking {
                    id,
                    account,
                    send_at_ms: *send_at_ms,
                    window_ms: *window_ms,
                    parts: *parts,
                    amount: *amount,
                    tolerance_pct: *tolerance_pct,
                };
                self.book_campaign(at_ms, &booking)
            }
            Command::ResizeCampaign { id, parts, amount } => {
                self.resize_campaign(id, *parts, *amount)
            }
            Command::CancelCampaign { id } => self.cancel_campaign(at_ms, id),
            Command::SetPrices { prices } => self.set_prices(prices),
            Command::PutRoute { spec } => self.put_route(spec),
            Command::DeleteRoute { name } => self.delete_route(name),
            Command::PutLink { spec } => {
                let response = self.put_link(spec)?;
                self.spread(at_ms);
                Ok(response)
            }
            Command::DeleteLink { name } => {
                let response = self.delete_link(name)?;
                self.spread(at_ms);
                Ok(response)
            }
            Command::PutWebhook { webhook } => self.put_webhook(webhook),
            Command::DeleteWebhook { id } => self.delete_webhook(id),
            Command::AckEvents { seq } => {
                self.ack_events(*seq);
                Ok(Response::Ok)
            }
            Command::Recall { account, node } => self.recall(at_ms, account, *node),
            Command::RecordDeliveries { records } => {
                self.record_deliveries(records);
                Ok(Response::Ok)
            }
            Command::PutMoRule { spec } => self.put_mo_rule(spec),
            Command::DeleteMoRule { name } => self.delete_mo_rule(name),
            Command::Heartbeat {
                node,
                shards,
                receivers,
            } => self.heartbeat(at_ms, *node, *shards, receivers.as_deref()),
            Command::Drain { node, draining } => self.drain(at_ms, *node, *draining),
            Command::Release {
                node,
                shards,
                binds,
            } => Ok(self.release(at_ms, *node, shards, binds)),
            Command::ForgetNode { node } => self.forget_node(at_ms, *node),
            Command::PutApiKey { key } => self.put_api_key(key),
            Command::RevokeApiKey { id } => self.revoke_api_key(id),
            Command::SetCallback { account, callback } => {
                self.set_callback(account, callback.as_ref())
            }
        }
    }

    /// Periods roll first, so that what a reclaim counts lands in the period of the
    /// tick; tombstones made by this tick's reclaims are kept for their full time.
    fn tick(&mut self, at_ms: u64) {
        for account in self.accounts.values_mut() {
            account.roll(at_ms);
        }
        self.reclaim_expired(at_ms);
        self.end_campaigns(at_ms);
        self.forget_tombstones(at_ms);
        self.forget_recalls(at_ms);
        self.check_liveness(at_ms);
    }

    /// Acknowledgements never go back, nor past the last event numbered.
    fn ack_events(&mut self, seq: u64) {
        let last = self.next_event_seq.saturating_sub(1);
        self.events_acked = self.events_acked.max(seq.min(last));
    }
}
