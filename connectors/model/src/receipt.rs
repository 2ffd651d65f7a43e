//! Delivery reports: the final (or intermediate) state of a message as an operator reports it.

use serde::{Deserialize, Serialize};

/// The state of a message at the operator (SMPP 3.4 §5.2.28 message_state, with the
/// receipt `stat:` words of SMPP 3.4 Appendix B).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum MessageState {
    Enroute,
    Delivered,
    Expired,
    Deleted,
    Undeliverable,
    Accepted,
    Unknown,
    Rejected,
    Skipped,
}

impl MessageState {
    pub const ALL: [MessageState; 9] = [
        MessageState::Enroute,
        MessageState::Delivered,
        MessageState::Expired,
        MessageState::Deleted,
        MessageState::Undeliverable,
        MessageState::Accepted,
        MessageState::Unknown,
        MessageState::Rejected,
        MessageState::Skipped,
    ];

    /// The SMPP message_state TLV value.
    pub fn smpp_code(self) -> u8 {
        match self {
            MessageState::Enroute => 1,
            MessageState::Delivered => 2,
            MessageState::Expired => 3,
            MessageState::Deleted => 4,
            MessageState::Undeliverable => 5,
            MessageState::Accepted => 6,
            MessageState::Unknown => 7,
            MessageState::Rejected => 8,
            MessageState::Skipped => 9,
        }
    }

    pub fn from_smpp_code(code: u8) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.smpp_code() == code)
    }

    /// The seven-letter word of the receipt text.
    pub fn stat_word(self) -> &'static str {
        match self {
            MessageState::Enroute => "ENROUTE",
            MessageState::Delivered => "DELIVRD",
            MessageState::Expired => "EXPIRED",
            MessageState::Deleted => "DELETED",
            MessageState::Undeliverable => "UNDELIV",
            MessageState::Accepted => "ACCEPTD",
            MessageState::Unknown => "UNKNOWN",
            MessageState::Rejected => "REJECTD",
            MessageState::Skipped => "SKIPPED",
        }
    }

    /// Reads a `stat:` word, including the spellings operators use besides the spec's.
    pub fn from_stat_word(word: &str) -> Option<Self> {
        let upper = word.trim().to_ascii_uppercase();
        Some(match upper.as_str() {
            "ENROUTE" | "BUFFRED" | "BUFFERD" | "BUFFERED" | "ACKED" => MessageState::Enroute,
            "DELIVRD" | "DELIVERED" | "DELIVER" => MessageState::Delivered,
            "EXPIRED" => MessageState::Expired,
            "DELETED" => MessageState::Deleted,
            "UNDELIV" | "UNDELIVERABLE" | "FAILED" => MessageState::Undeliverable,
            "ACCEPTD" | "ACCEPTED" => MessageState::Accepted,
            "UNKNOWN" => MessageState::Unknown,
            "REJECTD" | "REJECTED" => MessageState::Rejected,
            "SKIPPED" => MessageState::Skipped,
            _ => return None,
        })
    }

    /// A final state ends the message's life; no further receipt is expected.
    pub fn is_final(self) -> bool {
        !matches!(
            self,
            MessageState::Enroute | MessageState::Accepted | MessageState::Unknown
        )
    }

    pub fn is_delivered(self) -> bool {
        self == MessageState::Delivered
    }
}

/// A delivery report, protocol-neutral. Times are Unix seconds as the reporting side gave
/// them (receipt texts carry minutes, sometimes seconds, in the operator's time zone).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeliveryReport {
    /// The id of the reported message, as the side that issued it wrote it.
    pub message_id: String,
    pub state: MessageState,
    pub submitted: u16,
    pub delivered: u16,
    pub submit_unix: Option<i64>,
    pub done_unix: Option<i64>,
    /// The operator's error code (`err:`), three characters on the SMPP wire.
    pub error: u16,
    /// The first characters of the original text, when the operator echoes them.
    pub text: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_and_words_round_trip() {
        for state in MessageState::ALL {
            assert_eq!(MessageState::from_smpp_code(state.smpp_code()), Some(state));
            assert_eq!(MessageState::from_stat_word(state.stat_word()), Some(state));
        }
        assert_eq!(MessageState::from_smpp_code(0), None);
        assert_eq!(MessageState::from_stat_word("NOPE"), None);
    }

    #[test]
    fn only_final_states_end_a_message() {
        assert!(MessageState::Delivered.is_final());
        assert!(MessageState::Rejected.is_final());
        assert!(!MessageState::Enroute.is_final());
        assert!(!MessageState::Accepted.is_final());
    }
}
