//! MoDispatcher: a mobile-originated message from an operator goes to the account that owns
//! the receiving number, a prefix of it, or the first word of the text (a keyword). It is
//! held durably before the operator is answered, then handed to the outbox like a receipt:
//! store and forward.

use std::sync::Arc;

use ractor::{Actor, ActorProcessingErr, ActorRef};
use tern_model::Message;
use tern_storage::{HeldDelivery, HeldKind, WriteOp};
use tracing::{debug, warn};

use crate::context::{now_ms, Context};

/// Which account receives an MO.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MoRule {
    pub account: String,
    /// Receiving numbers owned outright.
    pub numbers: Vec<String>,
    /// Receiving number prefixes (a long number and its suffixes).
    pub prefixes: Vec<String>,
    /// First words of the text, matched without regard to case.
    pub keywords: Vec<String>,
}

/// The account for an MO to `to` with `text`: an exact number beats a keyword, which beats
/// the longest prefix.
pub fn owner<'r>(rules: &'r [MoRule], to: &str, text: &str) -> Option<&'r str> {
    let to = to.strip_prefix('+').unwrap_or(to);
    if let Some(rule) = rules.iter().find(|r| r.numbers.iter().any(|n| n == to)) {
        return Some(&rule.account);
    }
    let first = text.split_whitespace().next().unwrap_or("");
    if !first.is_empty() {
        if let Some(rule) = rules
            .iter()
            .find(|r| r.keywords.iter().any(|k| k.eq_ignore_ascii_case(first)))
        {
            return Some(&rule.account);
        }
    }
    rules
        .iter()
        .flat_map(|r| r.prefixes.iter().map(move |p| (p, r)))
        .filter(|(p, _)| to.starts_with(p.as_str()))
        .max_by_key(|(p, _)| p.len())
        .map(|(_, r)| r.account.as_str())
}

pub enum MoMsg {
    /// An MO read by an operator's link; `answer` hears the outcome.
    Message {
        message: Message,
        answer: Box<dyn FnOnce(MoOutcome) + Send>,
    },
}

impl std::fmt::Debug for MoMsg {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            MoMsg::Message { message, .. } => write!(f, "MoMsg::Message({})", message.destination),
        }
    }
}

pub struct MoDispatcher;

pub struct MoState {
    ctx: Arc<Context>,
}

/// What became of an MO, for the operator's answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MoOutcome {
    /// Durable and on its way to the owner.
    Held,
    /// No account owns the number: permanent.
    NoOwner,
    /// Not stored: the operator should send it again.
    Busy,
}

impl MoState {
    /// Holds `message` for the account that owns its number; `answer` hears the outcome
    /// once it is final (durable, refused, or not stored).
    fn hold(&self, message: Message, answer: Box<dyn FnOnce(MoOutcome) + Send>) {
        let text = message.body.as_text().unwrap_or("");
        let rules = self.ctx.mo_rules();
        let Some(account) = owner(&rules, message.destination.digits(), text) else {
            metrics::counter!("tern_mo_refused_total", "reason" => "no_owner").increment(1);
            warn!(to = %message.destination, "MO for a number nobody owns");
            answer(MoOutcome::NoOwner);
            return;
        };
        let now = now_ms();
        // Unique per node and ordered in time: a fresh id from the message id generator.
        let Ok(key) = self.ctx.ids.try_next().map(|id| id.0) else {
            metrics::counter!("tern_mo_refused_total", "reason" => "ids_not_durable").increment(1);
            answer(MoOutcome::Busy);
            return;
        };
        let held = HeldDelivery {
            account: account.to_owned(),
            key,
            kind: HeldKind::Mo,
            message,
            report: None,
            held_ms: now,
            expires_ms: now + self.ctx.settings.held_ttl.as_millis() as u64,
        };
        debug!(account, key, "MO held");
        metrics::counter!("tern_mo_received_total").increment(1);
        let ctx = self.ctx.clone();
        let to_outbox = held.clone();
        let written = self.ctx.store.write(
            vec![WriteOp::Hold(Box::new(held))],
            Box::new(move |result| match result {
                Ok(()) => {
                    answer(MoOutcome::Held);
                    crate::outcome::hand_to_outbox(&ctx, Some(to_outbox));
                }
                Err(_) => answer(MoOutcome::Busy),
            }),
        );
        if written.is_err() {
            metrics::counter!("tern_mo_refused_total", "reason" => "store_busy").increment(1);
        }
    }
}

impl Actor for MoDispatcher {
    type Msg = MoMsg;
    type State = MoState;
    type Arguments = Arc<Context>;

    async fn pre_start(
        &self,
        _myself: ActorRef<MoMsg>,
        ctx: Arc<Context>,
    ) -> Result<MoState, ActorProcessingErr> {
        Ok(MoState { ctx })
    }

    async fn handle(
        &self,
        _myself: ActorRef<MoMsg>,
        message: MoMsg,
        state: &mut MoState,
    ) -> Result<(), ActorProcessingErr> {
        match message {
            MoMsg::Message { message, answer } => state.hold(message, answer),
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(account: &str, numbers: &[&str], prefixes: &[&str], keywords: &[&str]) -> MoRule {
        let own = |v: &[&str]| v.iter().map(|s| s.to_string()).collect();
        MoRule {
            account: account.into(),
            numbers: own(numbers),
            prefixes: own(prefixes),
            keywords: own(keywords),
        }
    }

    #[test]
    fn numbers_beat_keywords_beat_prefixes() {
        let rules = vec![
            rule("bank", &["12345"], &[], &[]),
            rule("shop", &[], &["1234"], &[]),
            rule("shop-long", &[], &["123456"], &[]),
            rule("vote", &[], &[], &["VOTE"]),
        ];
        assert_eq!(owner(&rules, "12345", "vote yes"), Some("bank"));
        assert_eq!(owner(&rules, "+1234999", "Vote yes"), Some("vote"));
        assert_eq!(owner(&rules, "1234999", "hello"), Some("shop"));
        assert_eq!(owner(&rules, "1234567", "hello"), Some("shop-long"));
        assert_eq!(owner(&rules, "999", "hello"), None);
    }
}
