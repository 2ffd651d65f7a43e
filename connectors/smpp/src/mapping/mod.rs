//! Between rusmpp PDUs and the domain model: submit_sm / deliver_sm (MO) / data_sm ↔
//! [`tern_model::Message`], and receipt deliver_sm / data_sm ↔
//! [`tern_model::DeliveryReport`], and a message's state → query_sm_resp. Character sets
//! and splitting come from `tern-encoding`; what an SMSC means by data_coding 0 is
//! configured per link ([`LinkOptions`]).
//!
//! Every failure is a [`MappingError`] whose [`MappingError::status`] is the
//! `command_status` to answer the PDU with.

mod coding;
mod error;
mod inbound;
mod join;
mod outbound;
mod report;

#[cfg(test)]
mod tests;

pub use coding::{coding_of, data_coding_for, DataCodingInfo, DefaultAlphabet};
pub use error::MappingError;
pub use inbound::{data_sm_to_message, deliver_sm_to_message, submit_sm_to_message};
pub use join::join_parts;
pub use outbound::{message_to_deliver_sm, message_to_submit_sm};
pub use report::{
    data_sm_to_report, deliver_sm_to_report, query_sm_resp, report_to_deliver_sm, ReceiptOptions,
    RECEIPT_ESM_CLASS,
};
pub use tern_encoding::Concat;

/// esm_class bit 6: the user data starts with a user data header (SMPP 3.4 §5.2.12).
pub const UDHI: u8 = 0x40;

/// TLVs the mapping turns into message fields, so they are not passed through as well:
/// sar_msg_ref_num, sar_total_segments, sar_segment_seqnum, message_payload; and the tags
/// the gateway notes for itself ([`tern_model::Message::INTERNAL_TAGS`]: a CMPP LinkID, an
/// HTTP customer's callback and reference), which an SMPP peer can neither set nor be sent.
pub(crate) const CONSUMED_TAGS: [u16; 8] = [
    0x020C,
    0x020E,
    0x020F,
    0x0424,
    tern_model::Message::INTERNAL_TAGS[0],
    tern_model::Message::INTERNAL_TAGS[1],
    tern_model::Message::INTERNAL_TAGS[2],
    tern_model::Message::INTERNAL_TAGS[3],
];

/// How one link (a customer bind or an operator link) writes messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LinkOptions {
    /// What data_coding 0 means.
    pub default_alphabet: DefaultAlphabet,
    /// How long messages are split for this link.
    pub concat: Concat,
    /// A message needing more parts is refused.
    pub max_parts: u8,
    /// The peer takes TLVs (false for an SMPP 3.3 bind: SAR and message_payload then fall
    /// back to 8-bit UDH, and no TLV is passed through).
    pub send_tlvs: bool,
}

impl Default for LinkOptions {
    fn default() -> Self {
        Self {
            default_alphabet: DefaultAlphabet::Gsm7,
            concat: Concat::Udh8,
            max_parts: tern_encoding::split::DEFAULT_MAX_PARTS,
            send_tlvs: true,
        }
    }
}
