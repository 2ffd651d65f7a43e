//! MsgContent ↔ message bodies: the formats of MsgFormat, and splitting long text into
//! parts that each decode alone.
//!
//! | MsgFormat | coding | decoding |
//! |---|---|---|
//! | 0 | ASCII | octets above 0x7F read as Latin-1, never fails |
//! | 8 | UCS-2 | UTF-16BE with surrogate pairs; an odd length or a broken pair fails |
//! | 15 | GBK | decoded as GB18030 (its superset); malformed sequences fail |
//! | 3, 4, other | binary | kept as octets |
//!
//! A part of a concatenated message whose UCS-2 or GB18030 does not decode alone (a
//! splitter cut a character) is kept as octets for reassembly instead of failing. Limits:
//! MsgLength is below 160 for ASCII and at most 140 otherwise, the size of one short
//! message on the air interface; outgoing parts use the same limits, so ASCII text splits
//! into the 153-character parts an SMPP customer sends in GSM 7-bit, and such parts cross
//! from SMPP unchanged.

use encoding_rs::{GB18030, GBK};
use tern_encoding::{latin1, ucs2};
use tern_model::{Body, Coding};

use super::MapError;

/// MsgFormat values.
pub mod msg_format {
    pub const ASCII: u8 = 0;
    /// Write to the SIM card.
    pub const CARD: u8 = 3;
    pub const BINARY: u8 = 4;
    pub const UCS2: u8 = 8;
    /// GB-coded Chinese: GBK, read as GB18030.
    pub const GB: u8 = 15;
}

/// Largest content of one message in any format but ASCII; also the size of every part
/// this module writes.
pub const MAX_CONTENT: usize = 140;
/// Largest ASCII content accepted ("below 160 octets").
pub const MAX_ASCII_CONTENT: usize = 159;
/// The 8-bit-reference concatenation UDH.
const UDH_LEN: usize = 6;

pub(crate) fn coding_of(format: u8) -> Coding {
    match format {
        msg_format::ASCII => Coding::Ascii,
        msg_format::UCS2 => Coding::Ucs2,
        msg_format::GB => Coding::Gbk,
        _ => Coding::Binary,
    }
}

/// The longest content a format takes.
pub(crate) fn max_content(format: u8) -> usize {
    if format == msg_format::ASCII {
        MAX_ASCII_CONTENT
    } else {
        MAX_CONTENT
    }
}

/// User data (UDH removed) in `format` as a body.
pub(crate) fn decode(format: u8, octets: &[u8], is_part: bool) -> Result<Body, MapError> {
    let kept = || Ok(Body::Binary(bytes::Bytes::copy_from_slice(octets)));
    match coding_of(format) {
        Coding::Ascii => Ok(Body::Text(latin1::decode(octets))),
        Coding::Ucs2 => match ucs2::decode(octets) {
            Ok(text) => Ok(Body::Text(text)),
            Err(ucs2::Ucs2Error::UnpairedSurrogate { .. }) if is_part => kept(),
            Err(_) => Err(MapError::Content {
                msg_format: format,
                reason: "odd length or unpaired surrogate",
            }),
        },
        Coding::Gbk => match GB18030.decode_without_bom_handling_and_without_replacement(octets) {
            Some(text) => Ok(Body::Text(text.into_owned())),
            None if is_part => kept(),
            None => Err(MapError::Content {
                msg_format: format,
                reason: "not GB18030",
            }),
        },
        _ => kept(),
    }
}

/// A body encoded for the wire: its MsgFormat, the octets, and where characters end (every
/// octet for binary), so parts are cut between characters.
pub(crate) struct Encoded {
    pub msg_format: u8,
    pub octets: Vec<u8>,
    ends: Vec<usize>,
    /// Octets one signature character takes in this format.
    unit: usize,
}

/// The format text goes out in: ASCII when it is 7-bit, GBK when asked for and GBK holds
/// every character, UCS-2 otherwise. Binary bodies stay binary: MsgFormat 8 or 15 when the
/// octets are raw UCS-2 or GB text (a part kept for reassembly), 4 otherwise.
pub(crate) fn encode(body: &Body, coding: Coding, prefer_gbk: bool) -> Encoded {
    let text = match body {
        Body::Binary(data) => {
            let msg_format = match coding {
                Coding::Ucs2 => msg_format::UCS2,
                Coding::Gbk => msg_format::GB,
                _ => msg_format::BINARY,
            };
            return Encoded {
                msg_format,
                octets: data.to_vec(),
                ends: (1..=data.len()).collect(),
                unit: 0,
            };
        }
        Body::Text(text) => text,
    };
    if text.is_ascii() {
        return Encoded {
            msg_format: msg_format::ASCII,
            octets: text.as_bytes().to_vec(),
            ends: (1..=text.len()).collect(),
            unit: 1,
        };
    }
    if prefer_gbk {
        if let Some(encoded) = encode_gbk(text) {
            return encoded;
        }
    }
    let mut octets = Vec::with_capacity(text.len() * 2);
    let mut ends = Vec::with_capacity(text.len());
    let mut units = [0u16; 2];
    for c in text.chars() {
        for unit in c.encode_utf16(&mut units) {
            octets.extend_from_slice(&unit.to_be_bytes());
        }
        ends.push(octets.len());
    }
    Encoded {
        msg_format: msg_format::UCS2,
        octets,
        ends,
        unit: 2,
    }
}

/// GBK octets, or `None` when a character needs GB18030's four-octet form.
fn encode_gbk(text: &str) -> Option<Encoded> {
    let mut octets = Vec::with_capacity(text.len());
    let mut ends = Vec::with_capacity(text.len());
    let mut utf8 = [0u8; 4];
    for c in text.chars() {
        let (bytes, _, unmappable) = GBK.encode(c.encode_utf8(&mut utf8));
        if unmappable {
            return None;
        }
        octets.extend_from_slice(&bytes);
        ends.push(octets.len());
    }
    Some(Encoded {
        msg_format: msg_format::GB,
        octets,
        ends,
        unit: 2,
    })
}

impl Encoded {
    /// The content of each part: one part without a header when the whole fits the
    /// format's limit (159 octets of ASCII, 140 otherwise) less the signature's room,
    /// otherwise parts of that limit less the UDH and the room, cut between characters.
    /// ASCII parts of 153 characters are what the operator packs into GSM 7-bit parts.
    /// Octets only; the caller adds the UDH.
    pub fn split(&self, signature_chars: usize, max_parts: u8) -> Result<Vec<&[u8]>, MapError> {
        let reserve = signature_chars.saturating_mul(self.unit);
        let limit = max_content(self.msg_format);
        let single = limit.saturating_sub(reserve);
        if self.octets.len() <= single {
            return Ok(vec![&self.octets[..]]);
        }
        let capacity = limit.saturating_sub(UDH_LEN + reserve);
        let mut parts = Vec::new();
        let mut start = 0;
        let mut cut = 0;
        for &end in &self.ends {
            if end - start > capacity && cut > start {
                parts.push(self.octets.get(start..cut).unwrap_or_default());
                start = cut;
            }
            if end - start > capacity {
                // Not even one character fits beside the signature.
                return Err(MapError::TooLong {
                    octets: end - start,
                    max: capacity,
                });
            }
            cut = end;
        }
        parts.push(self.octets.get(start..).unwrap_or_default());
        if parts.len() > usize::from(max_parts) {
            return Err(MapError::TooManyParts {
                needed: parts.len(),
                max: max_parts,
            });
        }
        Ok(parts)
    }
}
