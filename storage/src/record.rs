//! What the store keeps: the record of each message part (its CDR), pending entries and
//! deliveries held for customers.

use serde::{Deserialize, Serialize};
use tern_model::{DeliveryReport, Message, MessageId};

/// Where a message part stands in the gateway.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum RecordState {
    /// Durable, acknowledged to the customer, not yet at an operator.
    Accepted,
    /// Refused before acceptance (quota, route, validation); kept as a CDR.
    Rejected,
    /// The operator accepted it; waiting for the receipt.
    Submitted,
    /// Final states, from the receipt or from the gateway.
    Delivered,
    Undeliverable,
    Expired,
    /// A permanent error from the operator or no route left.
    Failed,
    /// The operator reported a final state the gateway cannot classify.
    Unknown,
    /// Withdrawn by an administrator before it reached an operator. (Last, so records
    /// written before it existed keep their encoding.)
    Cancelled,
}

impl RecordState {
    pub fn is_final(self) -> bool {
        !matches!(self, RecordState::Accepted | RecordState::Submitted)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            RecordState::Accepted => "accepted",
            RecordState::Rejected => "rejected",
            RecordState::Submitted => "submitted",
            RecordState::Delivered => "delivered",
            RecordState::Undeliverable => "undeliverable",
            RecordState::Expired => "expired",
            RecordState::Failed => "failed",
            RecordState::Unknown => "unknown",
            RecordState::Cancelled => "cancelled",
        }
    }
}

/// One step of a record's life: the CDR is the list of these.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Transition {
    pub state: RecordState,
    pub at_ms: u64,
    /// Link, operator id, error status: what explains the step.
    pub detail: String,
}

/// The record of one part of a message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MessageRecord {
    pub id: MessageId,
    /// 0-based part number and the number of parts of the message.
    pub part: u8,
    pub parts: u8,
    pub account: String,
    pub message: Message,
    pub state: RecordState,
    pub history: Vec<Transition>,
    /// Submission attempts so far.
    pub attempts: u16,
    pub link: Option<String>,
    pub operator_id: Option<String>,
    /// The last error status from an operator or from the gateway.
    pub error: Option<u32>,
    pub receipt: Option<DeliveryReport>,
    pub accepted_ms: u64,
    /// After this the gateway stops trying (validity period).
    pub expires_ms: u64,
}

/// A part's acceptance by the operator, kept beside its record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Submission {
    pub id: MessageId,
    pub part: u8,
    pub link: String,
    pub operator_id: String,
    pub attempts: u16,
    pub at_ms: u64,
}

impl MessageRecord {
    /// The record as it stands once `submission` is applied: only a record still ACCEPTED
    /// takes it (a later state already includes it).
    pub fn with_submission(mut self, submission: Submission) -> Self {
        if self.state != RecordState::Accepted {
            return self;
        }
        self.state = RecordState::Submitted;
        self.attempts = self.attempts.max(submission.attempts);
        self.history.push(Transition {
            state: RecordState::Submitted,
            at_ms: submission.at_ms,
            detail: format!("{} {}", submission.link, submission.operator_id),
        });
        self.link = Some(submission.link);
        self.operator_id = Some(submission.operator_id);
        self
    }
}

/// A part waiting for (re)submission.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct PendingEntry {
    pub shard: u16,
    pub id: MessageId,
    pub part: u8,
    /// Not before this time (retry backoff); 0 for at once.
    pub due_ms: u64,
    /// Submissions started so far. Written before each attempt leaves, so after a crash
    /// a part with attempts may already be at the operator.
    pub attempts: u16,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum HeldKind {
    Receipt,
    Mo,
}

/// A receipt or MO owed to a customer, kept until a bind of the account takes it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HeldDelivery {
    pub account: String,
    /// Unique per account, ordered in time (a message id, or one made for the MO).
    pub key: u64,
    pub kind: HeldKind,
    /// The message to deliver, in domain form; the customer's protocol renders it.
    pub message: Message,
    /// For receipts: the report, under the gateway's message id.
    pub report: Option<DeliveryReport>,
    pub held_ms: u64,
    /// Dropped (and counted) when not delivered by then.
    pub expires_ms: u64,
}
