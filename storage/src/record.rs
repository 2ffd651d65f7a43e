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
    /// A part of a long message the customer sent in parts, sent instead as one with the
    /// other parts (the history names the message that carries it). No report of its own.
    Merged,
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
            RecordState::Merged => "merged",
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
    /// The id the customer's protocol knows the message by, when that is not the
    /// gateway's own id (a CMPP Msg_Id); receipts carry it back.
    pub wire_id: Option<u64>,
    // Fields are only ever added at the end, so that records written before they existed
    // are still read (see [`upgrade_legacy_record`]).
    /// The route that chose the message's links, and the price of this part under it
    /// (the account's currency, in its smallest unit): the CDR's billing fields.
    pub route: Option<String>,
    pub price: i64,
    /// The customer's own reference for the message (SMPP `user_message_reference`, the
    /// HTTP API's reference), by which it can look the message up.
    pub client_ref: Option<String>,
    /// When the customer's receipt of the whole message was made, set on the part whose
    /// final write held it (or whose second look at a long message's parts made it): a
    /// later look at the parts finds the receipt made and makes no second copy.
    pub receipt_made_ms: Option<u64>,
}

/// The fields every layout of a record has, in their order: the layout before `wire_id`.
#[derive(Deserialize)]
struct RecordBeforeWireId {
    id: MessageId,
    part: u8,
    parts: u8,
    account: String,
    message: Message,
    state: RecordState,
    history: Vec<Transition>,
    attempts: u16,
    link: Option<String>,
    operator_id: Option<String>,
    error: Option<u32>,
    receipt: Option<DeliveryReport>,
    accepted_ms: u64,
    expires_ms: u64,
}

/// The layout with `wire_id`, before `route`, `price` and `client_ref`. postcard writes a
/// struct as its fields one after the other, so this is the older layout plus one field.
#[derive(Deserialize)]
struct RecordBeforeBilling {
    old: RecordBeforeWireId,
    wire_id: Option<u64>,
}

/// The layout with the billing fields, before `receipt_made_ms`.
#[derive(Deserialize)]
struct RecordBeforeReceiptMade {
    old: RecordBeforeWireId,
    wire_id: Option<u64>,
    route: Option<String>,
    price: i64,
    client_ref: Option<String>,
}

/// What later layouts added, as an older record has it.
#[derive(Default)]
struct Added {
    wire_id: Option<u64>,
    route: Option<String>,
    price: i64,
    client_ref: Option<String>,
}

impl RecordBeforeWireId {
    fn upgrade(self, added: Added) -> MessageRecord {
        MessageRecord {
            id: self.id,
            part: self.part,
            parts: self.parts,
            account: self.account,
            message: self.message,
            state: self.state,
            history: self.history,
            attempts: self.attempts,
            link: self.link,
            operator_id: self.operator_id,
            error: self.error,
            receipt: self.receipt,
            accepted_ms: self.accepted_ms,
            expires_ms: self.expires_ms,
            wire_id: added.wire_id,
            route: added.route,
            price: added.price,
            client_ref: added.client_ref,
            receipt_made_ms: None,
        }
    }
}

/// `bytes` decoded as `T`, only when they are exactly one `T` with nothing left over: an
/// older layout is a prefix of a newer one, so a lenient decode of a newer record as an
/// older layout would succeed and lose its last fields.
fn exactly<'a, T: Deserialize<'a>>(bytes: &'a [u8]) -> Option<T> {
    match postcard::take_from_bytes(bytes) {
        Ok((value, [])) => Some(value),
        _ => None,
    }
}

/// The bytes of a record written in an earlier layout (before `receipt_made_ms`, before
/// the billing fields, or before `wire_id` too), re-encoded in today's layout; `None` when
/// `bytes` are not such a record either. Each layout is the one before it plus trailing
/// fields, so a record of one layout never decodes exactly as another.
pub fn upgrade_legacy_record(bytes: &[u8]) -> Option<Vec<u8>> {
    let record = if let Some(v3) = exactly::<RecordBeforeReceiptMade>(bytes) {
        v3.old.upgrade(Added {
            wire_id: v3.wire_id,
            route: v3.route,
            price: v3.price,
            client_ref: v3.client_ref,
        })
    } else if let Some(v2) = exactly::<RecordBeforeBilling>(bytes) {
        v2.old.upgrade(Added {
            wire_id: v2.wire_id,
            ..Added::default()
        })
    } else {
        exactly::<RecordBeforeWireId>(bytes)?.upgrade(Added::default())
    };
    postcard::to_stdvec(&record).ok()
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

#[cfg(test)]
mod legacy_tests {
    use super::*;

    /// The layout before `wire_id`, as it was written.
    #[derive(Serialize)]
    struct WrittenBeforeWireId<'a> {
        id: MessageId,
        part: u8,
        parts: u8,
        account: &'a str,
        message: Message,
        state: RecordState,
        history: Vec<Transition>,
        attempts: u16,
        link: Option<String>,
        operator_id: Option<String>,
        error: Option<u32>,
        receipt: Option<DeliveryReport>,
        accepted_ms: u64,
        expires_ms: u64,
    }

    /// The layout with `wire_id` and without the billing fields, as it was written.
    #[derive(Serialize)]
    struct WrittenBeforeBilling<'a> {
        old: WrittenBeforeWireId<'a>,
        wire_id: Option<u64>,
    }

    /// The layout with the billing fields and without `receipt_made_ms`, as it was written.
    #[derive(Serialize)]
    struct WrittenBeforeReceiptMade<'a> {
        old: WrittenBeforeWireId<'a>,
        wire_id: Option<u64>,
        route: Option<String>,
        price: i64,
        client_ref: Option<String>,
    }

    fn message() -> Message {
        Message::text(
            tern_model::Address::international("4930123"),
            tern_model::Address::international("4915112345678"),
            "old",
        )
    }

    fn written(message: Message) -> WrittenBeforeWireId<'static> {
        WrittenBeforeWireId {
            id: MessageId(42),
            part: 0,
            parts: 1,
            account: "acme",
            message,
            state: RecordState::Submitted,
            history: Vec::new(),
            attempts: 1,
            link: Some("op".into()),
            operator_id: Some("x1".into()),
            error: None,
            receipt: None,
            accepted_ms: 7,
            expires_ms: 9,
        }
    }

    fn read(bytes: &[u8]) -> MessageRecord {
        assert!(postcard::from_bytes::<MessageRecord>(bytes).is_err());
        let upgraded = upgrade_legacy_record(bytes).unwrap();
        postcard::from_bytes(&upgraded).unwrap()
    }

    #[test]
    fn records_written_before_wire_ids_are_still_read() {
        let bytes = postcard::to_stdvec(&written(message())).unwrap();
        let record = read(&bytes);
        assert_eq!(record.id, MessageId(42));
        assert_eq!(record.operator_id.as_deref(), Some("x1"));
        assert_eq!(record.message, message());
        assert_eq!(record.expires_ms, 9);
        assert_eq!(record.wire_id, None);
        assert_eq!(
            (record.route, record.price, record.client_ref),
            (None, 0, None)
        );
        assert!(upgrade_legacy_record(b"\xff\xff").is_none());
    }

    #[test]
    fn records_written_before_billing_fields_keep_their_wire_id() {
        let old = WrittenBeforeBilling {
            old: written(message()),
            wire_id: Some(0x1234_5678_9abc),
        };
        let bytes = postcard::to_stdvec(&old).unwrap();
        let record = read(&bytes);
        assert_eq!(record.id, MessageId(42));
        assert_eq!(record.link.as_deref(), Some("op"));
        assert_eq!(record.message, message());
        assert_eq!(record.wire_id, Some(0x1234_5678_9abc));
        assert_eq!(
            (record.route, record.price, record.client_ref),
            (None, 0, None)
        );
    }

    #[test]
    fn records_written_before_the_receipt_mark_keep_their_billing_fields() {
        let old = WrittenBeforeReceiptMade {
            old: written(message()),
            wire_id: Some(9),
            route: Some("de-mobile".into()),
            price: 12,
            client_ref: Some("ref-1".into()),
        };
        let record = read(&postcard::to_stdvec(&old).unwrap());
        assert_eq!(record.id, MessageId(42));
        assert_eq!(record.wire_id, Some(9));
        assert_eq!(
            (
                record.route.as_deref(),
                record.price,
                record.client_ref.as_deref()
            ),
            (Some("de-mobile"), 12, Some("ref-1"))
        );
        assert_eq!(record.receipt_made_ms, None);
    }

    #[test]
    fn todays_records_are_not_taken_for_an_older_layout() {
        let mut record = read(&postcard::to_stdvec(&written(message())).unwrap());
        record.wire_id = Some(5);
        record.route = Some("de-mobile".into());
        record.price = 7;
        record.receipt_made_ms = Some(11);
        let bytes = postcard::to_stdvec(&record).unwrap();
        assert!(upgrade_legacy_record(&bytes).is_none());
        let mut cut = bytes.clone();
        cut.pop();
        assert!(upgrade_legacy_record(&cut).is_none());
    }
}
