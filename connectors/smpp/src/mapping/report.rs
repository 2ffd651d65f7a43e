//! [`DeliveryReport`] ↔ receipt deliver_sm / data_sm. On the way in the receipt TLVs take
//! precedence over the text, which fills in what they leave out (and stands alone when the
//! SMSC sends no TLVs, as SMPP 3.3-era SMSCs do); on the way out both are sent, the TLVs only
//! to peers that take them. A customer's query_sm is answered from the same domain state
//! ([`query_sm_resp`]).

use rusmpp::pdus::parts::DeliverSmParts;
use rusmpp::pdus::{DataSm, DeliverSm, QuerySmResp};
use rusmpp::tlvs::{Tlv, TlvValue};
use rusmpp::types::{COctetString, EmptyOrFullCOctetString, OctetString};
use rusmpp::values::{
    DataCoding, EsmClass, PriorityFlag, RegisteredDelivery, ReplaceIfPresentFlag, ServiceType,
};
use tern_encoding::{latin1, ucs2};
use tern_model::{Address, DeliveryReport, MessageState};

use super::outbound::{wire_address, MAX_SHORT_MESSAGE};
use super::MappingError;
use crate::receipt::{
    build_text, is_receipt, message_state, network_error_code, parse_text, receipted_message_id,
    NetworkError,
};

/// esm_class of an SMSC delivery receipt (SMPP 3.4 §5.2.12, bits 5-2 = 0001).
pub const RECEIPT_ESM_CLASS: u8 = 0x04;

/// How receipts are written for one peer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ReceiptOptions {
    /// Dates as `YYMMDDhhmmss` instead of the appendix's `YYMMDDhhmm`.
    pub seconds: bool,
    /// Add `receipted_message_id`, `message_state` and `network_error_code`; off for SMPP 3.3
    /// peers, which must not be sent TLVs.
    pub send_tlvs: bool,
    /// Network type of `network_error_code` (SMPP 3.4 §5.3.2.31), sent when the report
    /// carries a non-zero error.
    pub network_type: u8,
}

impl Default for ReceiptOptions {
    fn default() -> Self {
        Self {
            seconds: false,
            send_tlvs: true,
            network_type: NetworkError::GSM,
        }
    }
}

/// The query_sm_resp for a message in `state` (SMPP 3.4 §4.8.2): `message_id` as the
/// customer sent it, `final_date` the UTC time (absolute, §7.1.1) the message took its final
/// state and empty while it is open, and `error_code` the network's error from its receipt
/// (codes above 255 read 255: the field is one octet).
pub fn query_sm_resp(
    message_id: &COctetString<1, 65>,
    state: MessageState,
    final_unix: Option<i64>,
    error: u16,
) -> QuerySmResp {
    let final_date = final_unix
        .filter(|_| state.is_final())
        .and_then(|unix| {
            EmptyOrFullCOctetString::from_string(crate::time::unix_to_smpp_absolute(unix)).ok()
        })
        .unwrap_or_else(EmptyOrFullCOctetString::empty);
    QuerySmResp::builder()
        .message_id(message_id.clone())
        .final_date(final_date)
        .message_state(rusmpp::values::MessageState::from(state.smpp_code()))
        .error_code(u8::try_from(error).unwrap_or(u8::MAX))
        .build()
}

/// The receipt deliver_sm for `report`. `source` is the handset the message went to and
/// `destination` the sender that asked for the receipt: a receipt travels back the way the
/// message came.
pub fn report_to_deliver_sm(
    report: &DeliveryReport,
    source: &Address,
    destination: &Address,
    options: &ReceiptOptions,
) -> Result<DeliverSm, MappingError> {
    let source = wire_address(source, true)?;
    let destination = wire_address(destination, false)?;
    // The text is ASCII apart from the echoed characters; those that are not ASCII become
    // '?' so the receipt reads the same under any default alphabet.
    let text: String = build_text(report, options.seconds)
        .chars()
        .map(|c| if c.is_ascii() && c != '\0' { c } else { '?' })
        .collect();
    if text.len() > MAX_SHORT_MESSAGE {
        return Err(MappingError::TooLong { octets: text.len() });
    }
    let short_message =
        OctetString::from_vec(text.into_bytes()).map_err(|_| MappingError::TooLong {
            octets: MAX_SHORT_MESSAGE + 1,
        })?;
    let mut deliver = DeliverSm::from_parts(DeliverSmParts {
        service_type: ServiceType::default(),
        source_addr_ton: source.0,
        source_addr_npi: source.1,
        source_addr: source.2,
        dest_addr_ton: destination.0,
        dest_addr_npi: destination.1,
        destination_addr: destination.2,
        esm_class: EsmClass::from(RECEIPT_ESM_CLASS),
        protocol_id: 0,
        priority_flag: PriorityFlag::from(0),
        schedule_delivery_time: EmptyOrFullCOctetString::empty(),
        validity_period: EmptyOrFullCOctetString::empty(),
        registered_delivery: RegisteredDelivery::from(0),
        replace_if_present_flag: ReplaceIfPresentFlag::from(0),
        data_coding: DataCoding::from(0),
        sm_default_msg_id: 0,
        sm_length: u8::try_from(short_message.len()).unwrap_or(u8::MAX),
        short_message,
        tlvs: Vec::new(),
    });
    if options.send_tlvs {
        let network_error = (report.error != 0).then_some(NetworkError {
            network_type: options.network_type,
            code: report.error,
        });
        crate::receipt::add_receipt_tlvs(
            &mut deliver,
            &report.message_id,
            report.state,
            network_error,
        )?;
    }
    Ok(deliver)
}

/// The report a receipt deliver_sm carries.
pub fn deliver_sm_to_report(pdu: &DeliverSm) -> Result<DeliveryReport, MappingError> {
    to_report(
        pdu.esm_class.into(),
        pdu.data_coding.into(),
        pdu.short_message().as_ref(),
        pdu.tlvs(),
    )
}

/// The report a receipt data_sm carries (text, if any, in message_payload).
pub fn data_sm_to_report(pdu: &DataSm) -> Result<DeliveryReport, MappingError> {
    to_report(
        pdu.esm_class.into(),
        pdu.data_coding.into(),
        &[],
        pdu.tlvs(),
    )
}

fn to_report(
    esm_class: u8,
    data_coding: u8,
    short_message: &[u8],
    tlvs: &[Tlv],
) -> Result<DeliveryReport, MappingError> {
    if !is_receipt(esm_class) {
        return Err(MappingError::EsmClass {
            esm_class,
            reason: "is not a receipt",
        });
    }
    let data = if short_message.is_empty() {
        tlvs.iter()
            .find_map(|tlv| match tlv.value() {
                Some(TlvValue::MessagePayload(payload)) => Some(payload.value.as_ref()),
                _ => None,
            })
            .unwrap_or_default()
    } else {
        short_message
    };
    // Receipt texts are ASCII; the odd SMSC sends them in UCS-2.
    let text = match data_coding {
        0x08 => ucs2::decode(data).unwrap_or_default(),
        _ => latin1::decode(data),
    };
    let tlv_id = receipted_message_id(tlvs);
    let tlv_state = message_state(tlvs);
    let tlv_error = network_error_code(tlvs);
    // The TLVs go first so that their values are the ones the parser keeps (the first
    // occurrence of a key wins), and the text fills in counts, dates and the echo.
    let mut augmented = String::with_capacity(text.len() + 96);
    if let Some(state) = tlv_state {
        augmented.push_str("stat:");
        augmented.push_str(state.stat_word());
        augmented.push(' ');
    }
    if let Some(id) = tlv_id {
        augmented.push_str("id:");
        augmented.push_str(id);
        augmented.push(' ');
    }
    augmented.push_str(&text);
    let mut report = parse_text(&augmented).map_err(MappingError::Receipt)?;
    if let Some(id) = tlv_id {
        report.message_id = id.to_owned();
    }
    if let Some(state) = tlv_state {
        report.state = state;
    }
    if let Some(error) = tlv_error {
        report.error = error.code;
    }
    Ok(report)
}
