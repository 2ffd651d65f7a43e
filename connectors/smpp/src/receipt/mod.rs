//! Delivery receipts: the text of SMPP 3.4 Appendix B, the receipt TLVs
//! (`receipted_message_id`, `message_state`, `network_error_code`), and message ids normalised
//! per link so that a receipt finds the message the operator acknowledged.

mod id;
mod text;
mod tlv;

pub use id::{normalise, render, IdFormat};
pub use text::{build_text, parse_text, ReceiptTextError, RECEIPT_TEXT_CHARS};
pub use tlv::{
    add_receipt_tlvs, message_state, network_error_code, receipted_message_id, InvalidReceiptId,
    NetworkError,
};

/// esm_class bits 5-2 (SMPP 3.4 §5.2.12) that mark a deliver_sm / data_sm as a receipt rather
/// than a mobile-originated message.
const MESSAGE_TYPE_MASK: u8 = 0b0011_1100;

/// Whether `esm_class` marks the message as a receipt: an SMSC delivery receipt (0x04), an SME
/// delivery acknowledgement (0x08) or an intermediate delivery notification (0x20).
pub fn is_receipt(esm_class: u8) -> bool {
    matches!(esm_class & MESSAGE_TYPE_MASK, 0x04 | 0x08 | 0x20)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn receipts_are_told_by_their_message_type_bits() {
        assert!(is_receipt(0x04));
        assert!(is_receipt(0x44), "UDHI does not matter");
        assert!(is_receipt(0x08));
        assert!(is_receipt(0x20));
        assert!(!is_receipt(0x00));
        assert!(!is_receipt(0x40));
        assert!(!is_receipt(0x03), "messaging mode bits do not matter");
        assert!(
            !is_receipt(0x10),
            "a user acknowledgement carries no receipt"
        );
    }
}
