//! The JSON API's requests and answers, as the OpenAPI document describes them.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Most messages one batch may carry.
pub const MAX_BATCH: usize = 1000;
/// Longest text of one message, in characters (ten UCS-2 parts, 67 characters each, or
/// about twenty-two GSM parts).
pub const MAX_TEXT_CHARS: usize = 3000;
/// Longest binary body of one message, in octets (ten parts of 134 octets).
pub const MAX_BINARY_OCTETS: usize = 1340;
/// Longest customer reference.
pub const MAX_REFERENCE: usize = 64;

/// How the text is sent.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Encoding {
    /// GSM 7-bit when the text fits it, else UCS-2.
    #[default]
    Auto,
    /// GSM 03.38 7-bit; characters outside it are refused (or transliterated when the
    /// account transliterates).
    Gsm7,
    /// ISO-8859-1.
    Latin1,
    /// UCS-2: any text, 70 characters a part.
    Ucs2,
}

/// One message to send.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SendRequest {
    /// The recipient: an international number with or without `+`, e.g. `+491701234567`.
    #[schema(example = "+491701234567")]
    pub to: String,
    /// The sender: a number, or up to 11 letters and digits. The account's sender rules
    /// apply.
    #[schema(example = "Tern")]
    pub from: String,
    /// The text. Exactly one of `text` and `binary` is given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(example = "Your code is 4711")]
    pub text: Option<String>,
    /// A binary body, as hexadecimal octets.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub binary: Option<String>,
    /// How `text` is sent.
    #[serde(default)]
    pub encoding: Encoding,
    /// Your own reference for the message, up to 64 characters; messages can be looked up
    /// by it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reference: Option<String>,
    /// When to send, Unix seconds (at most 366 days ahead); now when absent or past.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub send_at: Option<i64>,
    /// How long the gateway and the operator keep trying, seconds; the account's default
    /// when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(minimum = 1)]
    pub validity_secs: Option<u64>,
    /// Whether a receipt is wanted (delivered to the account's callback). Default true.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub receipt: Option<bool>,
    /// A flash message (class 0): shown, not stored.
    #[serde(default)]
    pub flash: bool,
}

/// A message taken: durable, and queued for its operator.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Accepted {
    /// The gateway's id of the message, for its status and its receipt.
    #[schema(example = "5012483731783680")]
    pub id: String,
    pub to: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reference: Option<String>,
}

/// Many messages: several recipients of one message (`to` with `message`), or several
/// messages (`messages`), not both; up to 1000 in all. Each is accepted or refused on its
/// own.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BatchRequest {
    /// Messages, each complete.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub messages: Vec<SendRequest>,
    /// Recipients of one message given by `message`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub to: Vec<String>,
    /// The message for every recipient in `to`; its own `to` is ignored.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<BatchTemplate>,
}

/// The message sent to every recipient of a batch.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BatchTemplate {
    pub from: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub binary: Option<String>,
    #[serde(default)]
    pub encoding: Encoding,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reference: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub send_at: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(minimum = 1)]
    pub validity_secs: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub receipt: Option<bool>,
    #[serde(default)]
    pub flash: bool,
}

impl BatchTemplate {
    pub fn to(&self, to: &str) -> SendRequest {
        SendRequest {
            to: to.to_owned(),
            from: self.from.clone(),
            text: self.text.clone(),
            binary: self.binary.clone(),
            encoding: self.encoding,
            reference: self.reference.clone(),
            send_at: self.send_at,
            validity_secs: self.validity_secs,
            receipt: self.receipt,
            flash: self.flash,
        }
    }
}

/// What became of each message of a batch, in the order given.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct BatchAnswer {
    pub accepted: usize,
    pub refused: usize,
    pub results: Vec<BatchResult>,
}

/// One message of a batch: its id, or why it was refused.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct BatchResult {
    pub index: usize,
    pub to: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<BatchError>,
}

/// Why one message of a batch was refused (the `error` of an error answer).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct BatchError {
    pub code: String,
    pub message: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
}

/// Where a message stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum State {
    /// Accepted, waiting for its operator (or its time).
    Queued,
    /// At the operator, no receipt yet.
    Submitted,
    Delivered,
    Undeliverable,
    Expired,
    Failed,
    Cancelled,
    Rejected,
    Unknown,
}

/// A message, its parts and their history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct MessageStatus {
    pub id: String,
    pub to: String,
    pub from: String,
    /// The whole message: `queued` or `submitted` while any part is open, else the state
    /// its receipt reports.
    pub state: State,
    /// Parts the message is sent (and billed) in.
    pub parts: u32,
    /// When it was accepted, Unix milliseconds.
    pub accepted_at_ms: u64,
    /// The operator's error code of the latest receipt, when one came with an error.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_code: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reference: Option<String>,
    /// The price of all its parts, in the account's currency's smallest unit.
    pub price: i64,
    pub history: Vec<Step>,
}

/// One step of one part.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Step {
    pub part: u32,
    pub state: State,
    pub at_ms: u64,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub detail: String,
}

/// Messages found by reference.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct MessageList {
    pub ids: Vec<String>,
}

/// A cancelled message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Cancelled {
    pub id: String,
    pub state: State,
}

/// The account's money and use.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Balance {
    pub account: String,
    /// Money, in the smallest unit of the account's currency; may be below zero for a
    /// postpaid account.
    pub balance: i64,
    /// How far below zero the balance may go; absent when the account is not metered in
    /// money.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credit_limit: Option<i64>,
    /// Money held by sending nodes and bookings, not yet spent.
    pub reserved: i64,
    /// Message parts sent in the current period, and the period's limit if any.
    pub period_used: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub period_limit: Option<u64>,
    /// When the current period began, Unix milliseconds.
    pub period_start_ms: u64,
    /// Everything ever spent, and every part ever sent.
    pub spent_total: i64,
    pub parts_total: u64,
}

/// A receipt or an MO, as the account's callback receives it (POST, JSON), signed: the
/// header `Tern-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>" under the
/// account's callback secret>`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Callback {
    /// `receipt` or `mo`.
    #[serde(rename = "type")]
    pub kind: String,
    /// Unique per account and event; the same on every retry.
    pub event_id: String,
    /// The message a receipt is about, or the MO's own id.
    pub id: String,
    pub from: String,
    pub to: String,
    /// A receipt's state: `delivered`, `undeliverable`, `expired`, `rejected`, `unknown`,
    /// `deleted`, `accepted`, `enroute`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_code: Option<u32>,
    /// Parts sent and delivered, for a receipt.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parts: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delivered_parts: Option<u32>,
    /// When the message was sent and reached its end, Unix seconds, for a receipt.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub submitted_at: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub done_at: Option<i64>,
    /// An MO's text, or its body in hexadecimal when binary.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub binary: Option<String>,
    /// When the gateway received it (an MO) or made it (a receipt), Unix milliseconds.
    pub at_ms: u64,
}
