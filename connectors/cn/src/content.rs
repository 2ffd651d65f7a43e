//! Message content ↔ message bodies: the formats of CMPP's Msg_Fmt, SGIP's MessageCoding
//! and SMGP's and CNGP's MsgFormat (one set of values), and splitting long text into parts
//! that each decode alone.
//!
//! | format | coding | decoding |
//! |---|---|---|
//! | 0 | ASCII | octets above 0x7F read as Latin-1, never fails |
//! | 8 | UCS-2 | UTF-16BE with surrogate pairs; an odd length or a broken pair fails |
//! | 15 | GBK | decoded as GB18030 (its superset); malformed sequences fail |
//! | 3, 4, other | binary | kept as octets |
//!
//! A part of a concatenated message whose UCS-2 or GB18030 does not decode alone (a
//! splitter cut a character) is kept as octets for reassembly instead of failing. Limits:
//! one short message on the air interface, 140 octets, or 160 GSM characters of ASCII
//! (CMPP and SMGP take below 160, SGIP 160: the caller says). Parts of a long message
//! leave room for the 6-octet UDH: 134 octets, or 153 ASCII characters, what the operator
//! packs into a GSM 7-bit part, so such parts cross from SMPP unchanged.

use encoding_rs::{GB18030, GBK};
use tern_encoding::{latin1, ucs2, UdhError};
use tern_model::{Body, Coding};

/// Format values (Msg_Fmt, MessageCoding, MsgFormat).
pub mod format {
    pub const ASCII: u8 = 0;
    /// Write to the SIM card.
    pub const CARD: u8 = 3;
    pub const BINARY: u8 = 4;
    pub const UCS2: u8 = 8;
    /// GB-coded Chinese: GBK, read as GB18030.
    pub const GB: u8 = 15;
}

/// Largest content of one message in any format but ASCII; also the size of every part
/// this module writes in those formats.
pub const MAX_CONTENT: usize = 140;
/// The 8-bit-reference concatenation UDH.
pub const UDH_LEN: usize = 6;
/// ASCII characters in each part of a long message.
pub const ASCII_PART_CHARS: usize = 153;

/// Why content could not be read or written.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ContentError {
    #[error("content in format {format} does not decode: {reason}")]
    Undecodable { format: u8, reason: &'static str },
    #[error("content of {octets} octets, at most {max} fit")]
    TooLong { octets: usize, max: usize },
    #[error("message needs {needed} parts, at most {max} are allowed")]
    TooManyParts { needed: usize, max: u8 },
    #[error("the user data header is malformed: {0}")]
    Udh(UdhError),
}

pub fn coding_of(format: u8) -> Coding {
    match format {
        format::ASCII => Coding::Ascii,
        format::UCS2 => Coding::Ucs2,
        format::GB => Coding::Gbk,
        _ => Coding::Binary,
    }
}

/// Whether a format is text (ASCII, UCS-2 or GB), whose parts can be joined and split.
pub fn is_text(format: u8) -> bool {
    matches!(format, format::ASCII | format::UCS2 | format::GB)
}

/// The longest content a format takes in one message, `max_ascii` in ASCII.
pub fn max_content(format: u8, max_ascii: usize) -> usize {
    if format == format::ASCII {
        max_ascii
    } else {
        MAX_CONTENT
    }
}

/// User data (UDH removed) in `format` as a body; `is_part` keeps text that does not
/// decode alone as octets.
pub fn decode(format: u8, octets: &[u8], is_part: bool) -> Result<Body, ContentError> {
    let kept = || Ok(Body::Binary(bytes::Bytes::copy_from_slice(octets)));
    match coding_of(format) {
        Coding::Ascii => Ok(Body::Text(latin1::decode(octets))),
        Coding::Ucs2 => match ucs2::decode(octets) {
            Ok(text) => Ok(Body::Text(text)),
            Err(ucs2::Ucs2Error::UnpairedSurrogate { .. }) if is_part => kept(),
            Err(_) => Err(ContentError::Undecodable {
                format,
                reason: "odd length or unpaired surrogate",
            }),
        },
        Coding::Gbk => match GB18030.decode_without_bom_handling_and_without_replacement(octets) {
            Some(text) => Ok(Body::Text(text.into_owned())),
            None if is_part => kept(),
            None => Err(ContentError::Undecodable {
                format,
                reason: "not GB18030",
            }),
        },
        _ => kept(),
    }
}

/// A body encoded for the wire: its format, the octets, and where characters end (every
/// octet for binary), so parts are cut between characters.
pub struct Encoded {
    pub format: u8,
    pub octets: Vec<u8>,
    ends: Vec<usize>,
    /// Octets one signature character takes in this format.
    unit: usize,
}

/// The format text goes out in: ASCII when it is 7-bit, GBK when asked for and GBK holds
/// every character, UCS-2 otherwise. Binary bodies stay binary: format 8 or 15 when the
/// octets are raw UCS-2 or GB text (a part kept for reassembly), 4 otherwise.
pub fn encode(body: &Body, coding: Coding, prefer_gbk: bool) -> Encoded {
    let text = match body {
        Body::Binary(data) => {
            let format = match coding {
                Coding::Ucs2 => format::UCS2,
                Coding::Gbk => format::GB,
                _ => format::BINARY,
            };
            return Encoded {
                format,
                octets: data.to_vec(),
                ends: (1..=data.len()).collect(),
                unit: 0,
            };
        }
        Body::Text(text) => text,
    };
    if text.is_ascii() {
        return Encoded {
            format: format::ASCII,
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
        format: format::UCS2,
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
        format: format::GB,
        octets,
        ends,
        unit: 2,
    })
}

impl Encoded {
    /// The content of each part: one part without a header when the whole fits the
    /// format's limit (`max_ascii` octets of ASCII, 140 otherwise) less the signature's
    /// room, otherwise parts of 153 ASCII characters or 134 octets, less the room, cut
    /// between characters. Octets only; the caller adds the UDH.
    pub fn split(
        &self,
        signature_chars: usize,
        max_parts: u8,
        max_ascii: usize,
    ) -> Result<Vec<&[u8]>, ContentError> {
        let reserve = signature_chars.saturating_mul(self.unit);
        let single = max_content(self.format, max_ascii).saturating_sub(reserve);
        if self.octets.len() <= single {
            return Ok(vec![&self.octets[..]]);
        }
        let part = if self.format == format::ASCII {
            ASCII_PART_CHARS
        } else {
            MAX_CONTENT - UDH_LEN
        };
        let capacity = part.saturating_sub(reserve);
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
                return Err(ContentError::TooLong {
                    octets: end - start,
                    max: capacity,
                });
            }
            cut = end;
        }
        parts.push(self.octets.get(start..).unwrap_or_default());
        if parts.len() > usize::from(max_parts) {
            return Err(ContentError::TooManyParts {
                needed: parts.len(),
                max: max_parts,
            });
        }
        Ok(parts)
    }
}

#[cfg(test)]
mod tests;
