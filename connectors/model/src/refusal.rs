//! Why the gateway refuses a message, in its own terms: each protocol answers a refusal with
//! its own status (SMPP's command_status, CMPP's Result, ...), chosen by its connector.

use serde::{Deserialize, Serialize};

/// The kinds of refusal the accept path gives, whatever protocol brought the message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Rejection {
    /// Come back later: a TPS cap, a full queue, a store that did not confirm, a quota that
    /// could not be read, a node outside its cluster lease.
    Throttled,
    /// The destination is not a number, or no route leads to it.
    InvalidDestination,
    /// The sender is not a number, or not one the account may send from.
    InvalidSource,
    /// The account may not send this: disabled, over its limit, out of credit.
    NotAllowed,
    /// The message does not fit the parts an operator takes, or cannot be encoded for it.
    CannotSplit,
    /// The request does not decode to a message.
    Malformed,
    /// The gateway failed: a store that failed for good.
    SystemError,
}

impl Rejection {
    /// The kind's name, as metrics and logs give it.
    pub fn as_str(self) -> &'static str {
        match self {
            Rejection::Throttled => "throttled",
            Rejection::InvalidDestination => "invalid_destination",
            Rejection::InvalidSource => "invalid_source",
            Rejection::NotAllowed => "not_allowed",
            Rejection::CannotSplit => "cannot_split",
            Rejection::Malformed => "malformed",
            Rejection::SystemError => "system_error",
        }
    }
}
