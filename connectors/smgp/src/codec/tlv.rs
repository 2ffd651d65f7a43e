//! The TLVs (`Tag (2) | Length (2) | Value`) that SMGP 3.0 adds after the fixed fields of
//! SUBMIT and DELIVER, with the tags the specification lists. Integers are one octet;
//! LinkID (20), MsgSrc (8) and MServiceID (21) are fixed-width text padded with NUL; the
//! pseudo terminal ids are text as long as their value. A known tag whose value does not
//! fit its kind is malformed; an unknown tag is kept as [`Tlv::Other`], so it re-encodes as
//! it came.

use bytes::{BufMut, Bytes, BytesMut};

use super::fields::{check_text, field, parse_text, put_text, Field, Reader};
use super::{EncodeError, FrameError};

/// Why a known TLV's value was refused.
enum Problem {
    Length,
    Text,
}

/// How a known TLV's value is read and written; `width` 0 is text as long as its value.
trait Value: Sized {
    fn read(raw: &[u8], width: usize) -> Result<Self, Problem>;
    fn len(&self, width: usize) -> usize;
    fn write(
        &self,
        out: &mut BytesMut,
        width: usize,
        name: &'static str,
    ) -> Result<(), EncodeError>;
    fn as_byte(&self) -> Option<u8>;
    fn as_text(&self) -> Option<&str>;
}

impl Value for u8 {
    fn read(raw: &[u8], _: usize) -> Result<Self, Problem> {
        match raw {
            [byte] => Ok(*byte),
            _ => Err(Problem::Length),
        }
    }

    fn len(&self, _: usize) -> usize {
        1
    }

    fn write(&self, out: &mut BytesMut, _: usize, _: &'static str) -> Result<(), EncodeError> {
        out.put_u8(*self);
        Ok(())
    }

    fn as_byte(&self) -> Option<u8> {
        Some(*self)
    }

    fn as_text(&self) -> Option<&str> {
        None
    }
}

impl Value for String {
    fn read(raw: &[u8], width: usize) -> Result<Self, Problem> {
        let text = parse_text(raw).ok_or(Problem::Text)?;
        if width > 0 && text.len() > width {
            return Err(Problem::Length);
        }
        Ok(text)
    }

    fn len(&self, width: usize) -> usize {
        if width == 0 {
            self.len()
        } else {
            width
        }
    }

    fn write(
        &self,
        out: &mut BytesMut,
        width: usize,
        name: &'static str,
    ) -> Result<(), EncodeError> {
        // Encoding reports only the name.
        let field = Field {
            name,
            short: name,
            text: name,
        };
        if width == 0 {
            check_text(self, usize::from(u16::MAX), field)?;
            out.put_slice(self.as_bytes());
            Ok(())
        } else {
            put_text(out, self, width, field)?;
            Ok(())
        }
    }

    fn as_byte(&self) -> Option<u8> {
        None
    }

    fn as_text(&self) -> Option<&str> {
        Some(self)
    }
}

/// Declares the tags, the [`Tlv`] enum and its per-tag reading and writing from one table.
macro_rules! tlvs {
    ($( $(#[$doc:meta])* $variant:ident($ty:ty) = $tag:ident $value:literal, $name:literal, $width:literal; )*) => {
        /// The tags of SMGP 3.0's TLVs.
        pub mod tag {
            $( $(#[$doc])* pub const $tag: u16 = $value; )*
        }

        /// One TLV of a SUBMIT or DELIVER.
        #[derive(Debug, Clone, PartialEq, Eq, Hash)]
        pub enum Tlv {
            $( $(#[$doc])* $variant($ty), )*
            /// A tag this crate does not interpret, kept as sent. Written as given even when
            /// the tag is a known one, in which case it reads back typed.
            Other { tag: u16, value: Bytes },
        }

        impl Tlv {
            pub fn tag(&self) -> u16 {
                match self {
                    $( Tlv::$variant(_) => tag::$tag, )*
                    Tlv::Other { tag, .. } => *tag,
                }
            }

            /// The octets of the Value field.
            pub fn value_len(&self) -> usize {
                match self {
                    $( Tlv::$variant(v) => Value::len(v, $width), )*
                    Tlv::Other { value, .. } => value.len(),
                }
            }

            /// The value of a one-octet TLV.
            pub fn as_byte(&self) -> Option<u8> {
                match self {
                    $( Tlv::$variant(v) => Value::as_byte(v), )*
                    Tlv::Other { .. } => None,
                }
            }

            /// The value of a text TLV.
            pub fn as_text(&self) -> Option<&str> {
                match self {
                    $( Tlv::$variant(v) => Value::as_text(v), )*
                    Tlv::Other { .. } => None,
                }
            }

            fn write_value(&self, out: &mut BytesMut) -> Result<(), EncodeError> {
                match self {
                    $( Tlv::$variant(v) => Value::write(v, out, $width, $name), )*
                    Tlv::Other { value, .. } => {
                        out.put_slice(value);
                        Ok(())
                    }
                }
            }

            /// The TLV of `tag` with the value `raw`, or why a known tag's value is refused.
            fn read(tag: u16, raw: &[u8]) -> Result<Tlv, &'static str> {
                match tag {
                    $( tag::$tag => <$ty as Value>::read(raw, $width)
                        .map(Tlv::$variant)
                        .map_err(|problem| match problem {
                            Problem::Length => concat!($name, " has a bad length"),
                            Problem::Text => concat!($name, " is not ASCII text"),
                        }), )*
                    _ => Ok(Tlv::Other { tag, value: Bytes::copy_from_slice(raw) }),
                }
            }
        }
    };
}

tlvs! {
    /// GSM protocol identifier.
    TpPid(u8) = TP_PID 0x0001, "TP_pid", 1;
    /// 1: the content starts with a user data header.
    TpUdhi(u8) = TP_UDHI 0x0002, "TP_udhi", 1;
    /// The operator's link between an MO and the SP's answer, 20 octets.
    LinkId(String) = LINK_ID 0x0003, "LinkID", 20;
    /// Who is billed: 0 destination, 1 source, 2 SP, 3 ChargeTermID.
    ChargeUserType(u8) = CHARGE_USER_TYPE 0x0004, "ChargeUserType", 1;
    /// 0 real number, 1 pseudo number.
    ChargeTermType(u8) = CHARGE_TERM_TYPE 0x0005, "ChargeTermType", 1;
    ChargeTermPseudo(String) = CHARGE_TERM_PSEUDO 0x0006, "ChargeTermPseudo", 0;
    /// 0 real numbers, 1 pseudo numbers.
    DestTermType(u8) = DEST_TERM_TYPE 0x0007, "DestTermType", 1;
    DestTermPseudo(String) = DEST_TERM_PSEUDO 0x0008, "DestTermPseudo", 0;
    /// Parts of a long message.
    PkTotal(u8) = PK_TOTAL 0x0009, "PkTotal", 1;
    /// This part's number, from 1.
    PkNumber(u8) = PK_NUMBER 0x000A, "PkNumber", 1;
    /// 0 normal, 1..=14 subscription and on-demand kinds.
    SubmitMsgType(u8) = SUBMIT_MSG_TYPE 0x000B, "SubmitMsgType", 1;
    /// The SP's result for a subscription request.
    SpDealResult(u8) = SP_DEAL_RESULT 0x000C, "SPDealReslt", 1;
    /// 0 real number, 1 pseudo number.
    SrcTermType(u8) = SRC_TERM_TYPE 0x000D, "SrcTermType", 1;
    SrcTermPseudo(String) = SRC_TERM_PSEUDO 0x000E, "SrcTermPseudo", 0;
    /// Gateways the message has passed.
    NodesCount(u8) = NODES_COUNT 0x000F, "NodesCount", 1;
    /// The SP's enterprise code, 8 octets.
    MsgSrc(String) = MSG_SRC 0x0010, "MsgSrc", 8;
    /// 0 SrcTermID as sent, 1 replaced by the gateway.
    SrcType(u8) = SRC_TYPE 0x0011, "SrcType", 1;
    /// The operator's service code, 21 octets.
    MServiceId(String) = M_SERVICE_ID 0x0012, "MServiceID", 21;
}

impl Tlv {
    /// Octets on the wire: Tag, Length and Value.
    pub fn encoded_len(&self) -> usize {
        4 + self.value_len()
    }

    /// Appends Tag, Length and Value. A value longer than 65,535 octets is refused.
    pub(crate) fn encode(&self, out: &mut BytesMut) -> Result<(), EncodeError> {
        let len = self.value_len();
        let length = u16::try_from(len).map_err(|_| EncodeError::TooLong {
            field: "TLV Value",
            len,
            max: usize::from(u16::MAX),
        })?;
        out.put_u16(self.tag());
        out.put_u16(length);
        self.write_value(out)
    }
}

/// The TLVs from here to the end of the body.
pub(crate) fn read_all(r: &mut Reader<'_>) -> Result<Vec<Tlv>, FrameError> {
    let mut tlvs = Vec::new();
    while r.remaining() > 0 {
        if r.remaining() < 4 {
            return Err(r.short("body ends inside a TLV header"));
        }
        let tag = r.u16(field!("Tag"))?;
        let len = usize::from(r.u16(field!("Length"))?);
        if r.remaining() < len {
            return Err(r.short("TLV Length runs past the end of the body"));
        }
        let raw = r.take(len, field!("Value"))?;
        tlvs.push(Tlv::read(tag, raw).map_err(|reason| r.bad_value(reason))?);
    }
    Ok(tlvs)
}

/// The first one-octet TLV of `tag`.
pub(crate) fn byte(tlvs: &[Tlv], tag: u16) -> Option<u8> {
    tlvs.iter()
        .filter(|tlv| tlv.tag() == tag)
        .find_map(Tlv::as_byte)
}

/// The first LinkID that is not empty.
pub(crate) fn link_id(tlvs: &[Tlv]) -> Option<&str> {
    tlvs.iter().find_map(|tlv| match tlv {
        Tlv::LinkId(id) if !id.is_empty() => Some(id.as_str()),
        _ => None,
    })
}
