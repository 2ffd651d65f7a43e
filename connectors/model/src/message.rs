//! The protocol-neutral short message and the gateway's message id.

use bytes::Bytes;
use serde::{Deserialize, Serialize};

use crate::Address;

/// The longest message id any connector puts on the wire (SMPP 3.4 §5.2.23: 65 octets with
/// the terminating NUL).
pub const MAX_MESSAGE_ID_LEN: usize = 64;

/// The gateway's own message id: 64 bits, unique across nodes and restarts, ordered in time.
///
/// Layout (high to low): 42 bits of milliseconds since 2024-01-01T00:00:00Z, 10 bits of node
/// id, 12 bits of sequence. The generator lives with the pipeline; this type only carries
/// and renders it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct MessageId(pub u64);

impl MessageId {
    /// Milliseconds between the Unix epoch and the id epoch, 2024-01-01T00:00:00Z.
    pub const EPOCH_UNIX_MS: u64 = 1_704_067_200_000;

    pub fn from_parts(millis_since_epoch: u64, node: u16, sequence: u16) -> Self {
        Self(
            (millis_since_epoch & ((1 << 42) - 1)) << 22
                | (u64::from(node) & 0x3ff) << 12
                | u64::from(sequence) & 0xfff,
        )
    }

    pub fn unix_millis(self) -> u64 {
        (self.0 >> 22) + Self::EPOCH_UNIX_MS
    }

    pub fn node(self) -> u16 {
        ((self.0 >> 12) & 0x3ff) as u16
    }

    pub fn sequence(self) -> u16 {
        (self.0 & 0xfff) as u16
    }

    /// Decimal form, as most SMSCs and ESMEs expect it.
    pub fn to_decimal(self) -> String {
        self.0.to_string()
    }

    /// Lower-case hexadecimal form, zero-padded to 16 digits.
    pub fn to_hex(self) -> String {
        format!("{:016x}", self.0)
    }
}

impl std::fmt::Display for MessageId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// The alphabet a message body travels in. `Gbk` is used by the Chinese protocols.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Coding {
    /// GSM 03.38 default alphabet (SMPP data_coding 0 by convention).
    Gsm7,
    /// IA5 / ASCII.
    Ascii,
    /// ISO-8859-1.
    Latin1,
    /// UCS-2 / UTF-16BE.
    Ucs2,
    /// 8-bit data, not interpreted.
    Binary,
    /// GBK / GB18030.
    Gbk,
}

/// A message body: text decoded from its wire alphabet, or opaque octets.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Body {
    Text(String),
    Binary(Bytes),
}

impl Body {
    pub fn as_text(&self) -> Option<&str> {
        match self {
            Body::Text(text) => Some(text),
            Body::Binary(_) => None,
        }
    }
}

/// The place of one part in a concatenated message, from a UDH or SAR TLVs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ConcatRef {
    pub reference: u16,
    pub total: u8,
    pub seq: u8,
}

/// Which delivery receipts the sender asked for (SMPP registered_delivery bits 0-1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
pub enum ReceiptRequest {
    #[default]
    None,
    /// On final success or failure.
    Final,
    /// On failure only.
    FailureOnly,
    /// On success only (SMPP 5.0).
    SuccessOnly,
}

impl ReceiptRequest {
    pub fn wants(self, delivered: bool) -> bool {
        match self {
            ReceiptRequest::None => false,
            ReceiptRequest::Final => true,
            ReceiptRequest::FailureOnly => !delivered,
            ReceiptRequest::SuccessOnly => delivered,
        }
    }
}

/// Message priority, 0 (lowest) to 3 (highest), as SMPP priority_flag.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize,
)]
pub struct Priority(pub u8);

/// An optional parameter the gateway does not interpret, carried through unchanged.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Tlv {
    pub tag: u16,
    pub value: Bytes,
}

impl Tlv {
    /// The TLV that carries `link_id` ([`Message::LINK_ID_TAG`]); none for an empty one or
    /// one that is not up to 20 printable ASCII characters.
    pub fn link_id(link_id: &str) -> Option<Tlv> {
        valid_link_id(link_id).then(|| Tlv {
            tag: Message::LINK_ID_TAG,
            value: Bytes::copy_from_slice(link_id.as_bytes()),
        })
    }
}

/// A short message on its way through the gateway, independent of the protocol that
/// brought it or will carry it on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Message {
    /// Assigned when the gateway accepts the message.
    pub id: Option<MessageId>,
    pub source: Address,
    pub destination: Address,
    /// The alphabet of `body` on the wire it came from, and the data_coding octet as sent.
    pub coding: Coding,
    pub data_coding: u8,
    /// A user data header that arrived with this part (concatenation, ports, ...).
    pub udh: Option<Bytes>,
    pub body: Body,
    /// This message is one part of a longer one.
    pub concat: Option<ConcatRef>,
    pub receipt: ReceiptRequest,
    pub priority: Priority,
    pub service_type: String,
    /// Absolute expiry, Unix seconds.
    pub validity_unix: Option<i64>,
    /// Absolute scheduled delivery time, Unix seconds.
    pub schedule_unix: Option<i64>,
    /// GSM message class 0: shown on the screen, not stored.
    pub flash: bool,
    pub protocol_id: u8,
    /// Optional parameters carried through unchanged.
    pub tlvs: Vec<Tlv>,
}

impl Message {
    /// The tag of the TLV that carries a CMPP 3.0 LinkID (the operator's link to the MO that
    /// started an on-demand service) from where it came in to where it goes out. It is in
    /// SMPP's vendor-specific range; SMPP links neither take it from a peer nor send it.
    pub const LINK_ID_TAG: u16 = 0x3FF0;
    /// The longest LinkID: the width of the CMPP 3.0 field.
    pub const MAX_LINK_ID_LEN: usize = 20;

    /// Tags of what the gateway itself notes on a message, in SMPP's vendor-specific range
    /// like [`Message::LINK_ID_TAG`]: no peer can set them and none is sent them (the
    /// protocols that pass TLVs on drop them).
    ///
    /// The protocol the customer submitted the message over ("http"), when its receipts
    /// must go back that way rather than to any bind of the account.
    pub const ORIGIN_TAG: u16 = 0x3FF1;
    /// Where this message's receipts go, instead of the account's own endpoint (the
    /// `dlr-url` of a Kannel or Jasmin style HTTP request).
    pub const CALLBACK_URL_TAG: u16 = 0x3FF2;
    /// The customer's own reference for the message, as its HTTP request gave it.
    pub const CLIENT_REF_TAG: u16 = 0x3FF3;
    /// Every tag the gateway notes for itself.
    pub const INTERNAL_TAGS: [u16; 4] = [
        Self::LINK_ID_TAG,
        Self::ORIGIN_TAG,
        Self::CALLBACK_URL_TAG,
        Self::CLIENT_REF_TAG,
    ];

    /// The value of the TLV `tag` as text, if the message carries it and it is UTF-8.
    pub fn tlv_text(&self, tag: u16) -> Option<&str> {
        self.tlvs
            .iter()
            .find(|tlv| tlv.tag == tag)
            .and_then(|tlv| std::str::from_utf8(&tlv.value).ok())
    }

    /// Notes `value` under `tag` (one of [`Message::INTERNAL_TAGS`]), in place of any.
    pub fn set_tlv_text(&mut self, tag: u16, value: &str) {
        self.tlvs.retain(|tlv| tlv.tag != tag);
        self.tlvs.push(Tlv {
            tag,
            value: Bytes::copy_from_slice(value.as_bytes()),
        });
    }

    /// The CMPP LinkID this message carries, if any.
    pub fn link_id(&self) -> Option<&str> {
        self.tlvs
            .iter()
            .find(|tlv| tlv.tag == Self::LINK_ID_TAG)
            .and_then(|tlv| std::str::from_utf8(&tlv.value).ok())
            .filter(|id| valid_link_id(id))
    }

    /// Carries `link_id` with the message, in place of any it had. An empty one, or one
    /// that is not up to 20 printable ASCII characters, is not carried.
    pub fn set_link_id(&mut self, link_id: &str) {
        self.tlvs.retain(|tlv| tlv.tag != Self::LINK_ID_TAG);
        self.tlvs.extend(Tlv::link_id(link_id));
    }

    /// A text message with everything else at its default.
    pub fn text(source: Address, destination: Address, text: impl Into<String>) -> Self {
        Self {
            id: None,
            source,
            destination,
            coding: Coding::Gsm7,
            data_coding: 0,
            udh: None,
            body: Body::Text(text.into()),
            concat: None,
            receipt: ReceiptRequest::None,
            priority: Priority::default(),
            service_type: String::new(),
            validity_unix: None,
            schedule_unix: None,
            flash: false,
            protocol_id: 0,
            tlvs: Vec::new(),
        }
    }
}

fn valid_link_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= Message::MAX_LINK_ID_LEN
        && id.bytes().all(|b| b.is_ascii_graphic())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_link_id_is_carried_once_and_only_when_valid() {
        let mut message = Message::text(Address::default(), Address::default(), "hi");
        assert_eq!(message.link_id(), None);
        message.set_link_id("LNK01");
        message.set_link_id("LNK02");
        assert_eq!(message.link_id(), Some("LNK02"));
        assert_eq!(message.tlvs.len(), 1, "the second replaces the first");
        for bad in ["", "has space", "x".repeat(21).as_str(), "链接"] {
            message.set_link_id(bad);
            assert_eq!(message.link_id(), None, "{bad:?}");
        }
        assert!(message.tlvs.is_empty());
    }

    #[test]
    fn message_id_parts_survive_packing() {
        let id = MessageId::from_parts(123_456_789, 1023, 4095);
        assert_eq!(id.unix_millis(), 123_456_789 + MessageId::EPOCH_UNIX_MS);
        assert_eq!(id.node(), 1023);
        assert_eq!(id.sequence(), 4095);
        assert_eq!(id.to_hex().len(), 16);
    }

    #[test]
    fn later_ids_sort_after_earlier_ones() {
        let a = MessageId::from_parts(1000, 7, 4095);
        let b = MessageId::from_parts(1001, 0, 0);
        assert!(a < b);
    }
}
