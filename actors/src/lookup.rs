//! What a customer may ask about a message it sent: where it stands (SMPP query_sm), and
//! its withdrawal before it reaches an operator (SMPP cancel_sm).
//!
//! Both go the way the admin API goes: the store's records of the message, and the
//! dispatcher's [`withdraw`](crate::dispatcher::withdraw). Unlike an administrator, a
//! customer sees only its own messages: another account's message answers as an unknown
//! one would, so ids cannot be probed.

use tern_model::{MessageId, MessageState};
use tern_storage::MessageRecord;
use tracing::debug;

use crate::context::Context;
use crate::outcome::{final_state, report_state};

/// Where a message stands, as its sender learns it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Standing {
    /// ENROUTE while any part is open; once all are final, the state its receipt reports.
    pub state: MessageState,
    /// When its last part took its final state (Unix seconds); `None` while it is open.
    pub final_unix: Option<i64>,
    /// The operator's error code from the latest receipt of its parts; 0 without one.
    pub error: u16,
}

/// The parts of message `id` when `account` sent it; `None` for an unknown id, another
/// account's message, or a store that cannot be read.
pub async fn own_parts(ctx: &Context, account: &str, id: MessageId) -> Option<Vec<MessageRecord>> {
    let parts = match ctx.store.message_parts(id).await {
        Ok(parts) => parts,
        Err(error) => {
            debug!(message_id = %id, %error, "message lookup failed");
            return None;
        }
    };
    (!parts.is_empty() && parts.iter().all(|p| p.account == account)).then_some(parts)
}

/// Where the message of `parts` stands: the state its customer's receipt reports or will
/// report.
pub fn standing(ctx: &Context, parts: &[MessageRecord]) -> Standing {
    let latest_receipt = parts
        .iter()
        .filter_map(|p| p.receipt.as_ref())
        .max_by_key(|r| r.done_unix);
    let error = latest_receipt.map_or(0, |r| r.error);
    if parts.iter().any(|p| !p.state.is_final()) {
        return Standing {
            state: MessageState::Enroute,
            final_unix: None,
            error,
        };
    }
    let final_ms = parts
        .iter()
        .filter_map(|p| p.history.last().map(|t| t.at_ms))
        .max();
    Standing {
        state: report_state(final_state(ctx.settings.aggregate, parts)),
        final_unix: final_ms.map(|ms| (ms / 1000) as i64),
        error,
    }
}

/// Where message `id` of `account` stands; `None` when the account has no such message.
pub async fn query(ctx: &Context, account: &str, id: MessageId) -> Option<Standing> {
    let parts = own_parts(ctx, account, id).await?;
    Some(standing(ctx, &parts))
}

/// Withdraws message `id` of `account` while it is queued or scheduled for later; whether
/// it was withdrawn (not when unknown, another account's, already at an operator or final).
pub async fn cancel(ctx: &Context, account: &str, id: MessageId) -> bool {
    if own_parts(ctx, account, id).await.is_none() {
        return false;
    }
    match crate::dispatcher::withdraw(ctx, id, "cancelled by the customer").await {
        Ok(withdrawn) => withdrawn,
        Err(error) => {
            debug!(message_id = %id, %error, "cancel failed");
            false
        }
    }
}
