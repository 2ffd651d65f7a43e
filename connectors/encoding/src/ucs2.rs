//! UCS-2 as SMS uses it (data_coding 0x08): UTF-16 big-endian in practice.
//!
//! TS 23.038 §6.2.3 names UCS-2, but handsets send and render astral chars
//! (emoji) as surrogate pairs, so a char above U+FFFF is 2 code units, 4 octets.

use thiserror::Error;

/// Why octets are not valid UTF-16BE.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum Ucs2Error {
    #[error("UCS-2 data has an odd length of {len} octets")]
    OddLength { len: usize },
    #[error("unpaired surrogate 0x{unit:04X} at octet {offset}")]
    UnpairedSurrogate { unit: u16, offset: usize },
}

/// Whether `unit` is the first half of a surrogate pair.
#[inline]
pub const fn is_high_surrogate(unit: u16) -> bool {
    matches!(unit, 0xD800..=0xDBFF)
}

/// Whether `unit` is the second half of a surrogate pair.
#[inline]
pub const fn is_low_surrogate(unit: u16) -> bool {
    matches!(unit, 0xDC00..=0xDFFF)
}

/// UTF-16 code units in `text`: what operators bill against the 70-unit limit.
pub fn code_units(text: &str) -> usize {
    text.chars().map(char::len_utf16).sum()
}

/// Appends the UTF-16BE octets of `text` to `out`.
pub fn encode_into(text: &str, out: &mut Vec<u8>) {
    out.reserve(text.len() * 2);
    for unit in text.encode_utf16() {
        out.extend_from_slice(&unit.to_be_bytes());
    }
}

/// The UTF-16BE octets of `text`.
pub fn encode(text: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(text.len() * 2);
    encode_into(text, &mut out);
    out
}

/// Appends the text of UTF-16BE `octets` to `out`; on error `out` keeps the
/// chars decoded before the fault.
pub fn decode_into(octets: &[u8], out: &mut String) -> Result<(), Ucs2Error> {
    if !octets.len().is_multiple_of(2) {
        return Err(Ucs2Error::OddLength { len: octets.len() });
    }
    out.reserve(octets.len() / 2);
    let units = octets
        .chunks_exact(2)
        .map(|pair| u16::from_be_bytes([pair[0], pair[1]]));
    let mut consumed = 0usize;
    for decoded in char::decode_utf16(units) {
        match decoded {
            Ok(c) => {
                consumed += c.len_utf16();
                out.push(c);
            }
            Err(e) => {
                return Err(Ucs2Error::UnpairedSurrogate {
                    unit: e.unpaired_surrogate(),
                    offset: consumed * 2,
                })
            }
        }
    }
    Ok(())
}

/// The text of UTF-16BE `octets`.
pub fn decode(octets: &[u8]) -> Result<String, Ucs2Error> {
    let mut out = String::with_capacity(octets.len() / 2);
    decode_into(octets, &mut out)?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bmp_chars_are_two_octets_big_endian() {
        assert_eq!(encode("Aé"), [0x00, 0x41, 0x00, 0xE9]);
        assert_eq!(code_units("Aé"), 2);
    }

    #[test]
    fn an_emoji_is_a_surrogate_pair() {
        assert_eq!(encode("😀"), [0xD8, 0x3D, 0xDE, 0x00]);
        assert_eq!(code_units("😀"), 2);
        assert_eq!(decode(&[0xD8, 0x3D, 0xDE, 0x00]).unwrap(), "😀");
    }

    #[test]
    fn odd_length_is_refused() {
        assert_eq!(
            decode(&[0x00, 0x41, 0x00]),
            Err(Ucs2Error::OddLength { len: 3 })
        );
    }

    #[test]
    fn unpaired_surrogates_are_refused_with_their_offset() {
        assert_eq!(
            decode(&[0x00, 0x41, 0xD8, 0x3D]),
            Err(Ucs2Error::UnpairedSurrogate {
                unit: 0xD83D,
                offset: 2
            })
        );
        assert_eq!(
            decode(&[0xDE, 0x00, 0x00, 0x41]),
            Err(Ucs2Error::UnpairedSurrogate {
                unit: 0xDE00,
                offset: 0
            })
        );
        assert!(decode(&[0xD8, 0x3D, 0x00, 0x41]).is_err());
    }
}
