//! The optional parameters after the fixed fields of SUBMIT, DELIVER and their responses:
//! `Tag (2) | Length (2) | Value (Length)`, big-endian, until the body ends.
//!
//! Every TLV is kept in the order it came, known tag or not, so a PDU re-encodes to the
//! octets it was read from; [`tag`] names the tags this crate reads, and [`Tlvs`] reads
//! them by tag. A TLV whose length runs past the body, or a body that ends inside a TLV
//! header, makes the PDU malformed.

use bytes::{BufMut, Bytes, BytesMut};

use super::fields::{field, parse_text, Reader};
use super::{EncodeError, FrameError};

/// Tags of the optional parameters.
pub mod tag {
    /// TP-PID of GSM 03.40, one octet (the SMGP 3.0 numbering, which CNGP gateways share).
    pub const TP_PID: u16 = 0x0001;
    /// 1: the content starts with a user data header; one octet.
    pub const TP_UDHI: u16 = 0x0002;
    /// The operator's link to the MO that started an on-demand service, up to 20 octets.
    pub const LINK_ID: u16 = 0x0003;
    /// Parts of a long message and this part's number, one octet each.
    pub const PK_TOTAL: u16 = 0x0009;
    pub const PK_NUMBER: u16 = 0x000A;
    /// Protocol_ID: the GSM protocol type (TP-PID), one octet, in SUBMIT and DELIVER.
    pub const PROTOCOL_ID: u16 = 0x0100;
    /// CongestionState: how loaded the gateway is, one octet, in SUBMIT_RESP.
    pub const CONGESTION_STATE: u16 = 0x0428;
}

/// Largest value a TLV's two-octet length can announce.
pub const MAX_TLV_VALUE: usize = u16::MAX as usize;

/// One optional parameter as it was on the wire.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Tlv {
    pub tag: u16,
    pub value: Bytes,
}

impl Tlv {
    pub fn new(tag: u16, value: impl Into<Bytes>) -> Tlv {
        Tlv {
            tag,
            value: value.into(),
        }
    }

    /// A TLV of one octet.
    pub fn u8(tag: u16, value: u8) -> Tlv {
        Tlv::new(tag, Bytes::copy_from_slice(&[value]))
    }
}

/// The optional parameters of one PDU, in wire order.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct Tlvs(Vec<Tlv>);

impl Tlvs {
    pub fn new() -> Tlvs {
        Tlvs(Vec::new())
    }

    pub fn as_slice(&self) -> &[Tlv] {
        &self.0
    }

    pub fn iter(&self) -> std::slice::Iter<'_, Tlv> {
        self.0.iter()
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Appends `tlv` after the others, even when its tag is there already.
    pub fn push(&mut self, tlv: Tlv) {
        self.0.push(tlv);
    }

    /// The value of the first TLV with `tag`.
    pub fn get(&self, tag: u16) -> Option<&[u8]> {
        self.0.iter().find(|t| t.tag == tag).map(|t| &t.value[..])
    }

    /// The first `tag` as a one-octet integer; `None` when absent or not one octet long.
    pub fn u8(&self, tag: u16) -> Option<u8> {
        match self.get(tag)? {
            [value] => Some(*value),
            _ => None,
        }
    }

    /// The first `tag` as ASCII text without NUL padding; `None` when absent, not ASCII,
    /// or empty.
    pub fn text(&self, tag: u16) -> Option<String> {
        parse_text(self.get(tag)?).filter(|text| !text.is_empty())
    }

    /// Puts `value` under `tag`: in place of the first TLV with that tag, or at the end.
    pub fn set(&mut self, tag: u16, value: impl Into<Bytes>) {
        let value = value.into();
        match self.0.iter_mut().find(|t| t.tag == tag) {
            Some(existing) => existing.value = value,
            None => self.0.push(Tlv { tag, value }),
        }
    }

    /// Drops every TLV with `tag`.
    pub fn remove(&mut self, tag: u16) {
        self.0.retain(|t| t.tag != tag);
    }

    /// Octets these TLVs take on the wire.
    pub fn encoded_len(&self) -> usize {
        self.0.iter().map(|t| 4 + t.value.len()).sum()
    }

    /// Reads TLVs until the body ends.
    pub(crate) fn decode(r: &mut Reader<'_>) -> Result<Tlvs, FrameError> {
        let mut tlvs = Vec::new();
        while r.remaining() > 0 {
            if r.remaining() < 4 {
                return Err(r.short("body ends inside a TLV header"));
            }
            let [t0, t1, l0, l1] = r.array(field!("TLV header"))?;
            let len = usize::from(u16::from_be_bytes([l0, l1]));
            if r.remaining() < len {
                return Err(r.short("TLV length runs past the end of the body"));
            }
            let value = r.take(len, field!("TLV value"))?;
            tlvs.push(Tlv {
                tag: u16::from_be_bytes([t0, t1]),
                value: Bytes::copy_from_slice(value),
            });
        }
        Ok(Tlvs(tlvs))
    }

    /// Checks that every value fits its two-octet length.
    pub(crate) fn check(&self) -> Result<(), EncodeError> {
        match self.0.iter().find(|t| t.value.len() > MAX_TLV_VALUE) {
            Some(t) => Err(EncodeError::TooLong {
                field: "TLV value",
                len: t.value.len(),
                max: MAX_TLV_VALUE,
            }),
            None => Ok(()),
        }
    }

    /// Writes the TLVs; [`Tlvs::check`] must have passed.
    pub(crate) fn put(&self, out: &mut BytesMut) {
        for t in &self.0 {
            out.put_u16(t.tag);
            out.put_u16(u16::try_from(t.value.len()).unwrap_or(u16::MAX));
            out.put_slice(&t.value);
        }
    }
}

impl From<Vec<Tlv>> for Tlvs {
    fn from(tlvs: Vec<Tlv>) -> Tlvs {
        Tlvs(tlvs)
    }
}

impl FromIterator<Tlv> for Tlvs {
    fn from_iter<I: IntoIterator<Item = Tlv>>(iter: I) -> Tlvs {
        Tlvs(iter.into_iter().collect())
    }
}

impl<'a> IntoIterator for &'a Tlvs {
    type Item = &'a Tlv;
    type IntoIter = std::slice::Iter<'a, Tlv>;

    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
    }
}
