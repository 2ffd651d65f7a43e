//! The receipt TLVs of deliver_sm / data_sm (SMPP 3.4 §5.3.2.12, §5.3.2.35, §5.3.2.31):
//! `receipted_message_id` (0x001E), `message_state` (0x0427), `network_error_code` (0x0423).

use rusmpp::pdus::DeliverSm;
use rusmpp::tlvs::{Tlv, TlvValue};
use rusmpp::types::COctetString;
use rusmpp::values::{ErrorCodeNetworkType, NetworkErrorCode};
use tern_model::{MessageState, MAX_MESSAGE_ID_LEN};

/// A `network_error_code`: the network type (SMPP 3.4 §5.3.2.31: 1 ANSI-136, 2 IS-95,
/// 3 GSM; SMPP 5.0 adds 4-8) and the network's own error code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct NetworkError {
    pub network_type: u8,
    pub code: u16,
}

impl NetworkError {
    pub const GSM: u8 = 3;
}

/// A message id that `receipted_message_id` cannot carry: it must be 1-64 ASCII characters
/// without NUL (SMPP 3.4 §5.3.2.12, C-Octet String of at most 65 octets).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("message id {0:?} cannot be sent as receipted_message_id (1-64 ASCII characters)")]
pub struct InvalidReceiptId(pub String);

/// The id of the reported message, from `receipted_message_id`.
pub fn receipted_message_id(tlvs: &[Tlv]) -> Option<&str> {
    tlvs.iter().find_map(|tlv| match tlv.value() {
        Some(TlvValue::ReceiptedMessageId(id)) => Some(id.as_str()),
        _ => None,
    })
}

/// The reported state, from `message_state`. SMPP 5.0's SCHEDULED (0) is ENROUTE for the
/// gateway, as SMPP 3.4 SMSCs report it (SMPP 5.0 §4.7.15); values outside 0-9 are `None`.
pub fn message_state(tlvs: &[Tlv]) -> Option<MessageState> {
    tlvs.iter().find_map(|tlv| match tlv.value() {
        Some(TlvValue::MessageState(state)) => match u8::from(*state) {
            0 => Some(MessageState::Enroute),
            code => MessageState::from_smpp_code(code),
        },
        _ => None,
    })
}

/// The network's error, from `network_error_code`.
pub fn network_error_code(tlvs: &[Tlv]) -> Option<NetworkError> {
    tlvs.iter().find_map(|tlv| match tlv.value() {
        Some(TlvValue::NetworkErrorCode(error)) => Some(NetworkError {
            network_type: u8::from(error.network_type),
            code: error.error_code,
        }),
        _ => None,
    })
}

/// The receipt TLVs for a report of `message_id` in `state`.
pub(crate) fn receipt_tlv_values(
    message_id: &str,
    state: MessageState,
    network_error: Option<NetworkError>,
) -> Result<Vec<TlvValue>, InvalidReceiptId> {
    let invalid = || InvalidReceiptId(message_id.to_owned());
    if message_id.is_empty() || message_id.len() > MAX_MESSAGE_ID_LEN {
        return Err(invalid());
    }
    let id = COctetString::from_string(message_id.to_owned()).map_err(|_| invalid())?;
    let mut values = vec![
        TlvValue::ReceiptedMessageId(id),
        TlvValue::MessageState(state.smpp_code().into()),
    ];
    if let Some(error) = network_error {
        values.push(TlvValue::NetworkErrorCode(NetworkErrorCode::new(
            ErrorCodeNetworkType::from(error.network_type),
            error.code,
        )));
    }
    Ok(values)
}

/// Adds `receipted_message_id`, `message_state` and, when given, `network_error_code` to a
/// receipt deliver_sm.
pub fn add_receipt_tlvs(
    deliver: &mut DeliverSm,
    message_id: &str,
    state: MessageState,
    network_error: Option<NetworkError>,
) -> Result<(), InvalidReceiptId> {
    let mut parts = std::mem::take(deliver).into_parts();
    let values = receipt_tlv_values(message_id, state, network_error);
    if let Ok(values) = &values {
        parts.tlvs.extend(values.iter().cloned().map(Tlv::new));
    }
    *deliver = DeliverSm::from_parts(parts);
    values.map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn receipt_tlvs_are_added_and_read_back() {
        let mut deliver = DeliverSm::default();
        let error = NetworkError {
            network_type: NetworkError::GSM,
            code: 0x0022,
        };
        add_receipt_tlvs(
            &mut deliver,
            "6699",
            MessageState::Undeliverable,
            Some(error),
        )
        .unwrap();
        assert_eq!(receipted_message_id(deliver.tlvs()), Some("6699"));
        assert_eq!(
            message_state(deliver.tlvs()),
            Some(MessageState::Undeliverable)
        );
        assert_eq!(network_error_code(deliver.tlvs()), Some(error));
    }

    #[test]
    fn ids_the_tlv_cannot_carry_are_refused_and_leave_the_pdu_alone() {
        let mut deliver = DeliverSm::default();
        for id in ["", "é", "a\0b", &"9".repeat(65)] {
            assert_eq!(
                add_receipt_tlvs(&mut deliver, id, MessageState::Delivered, None),
                Err(InvalidReceiptId(id.to_owned()))
            );
        }
        assert!(deliver.tlvs().is_empty());
    }

    #[test]
    fn scheduled_reads_as_enroute() {
        let tlvs = [Tlv::new(TlvValue::MessageState(0u8.into()))];
        assert_eq!(message_state(&tlvs), Some(MessageState::Enroute));
        let tlvs = [Tlv::new(TlvValue::MessageState(42u8.into()))];
        assert_eq!(message_state(&tlvs), None);
    }
}
