//! GSM 7-bit default alphabet (3GPP TS 23.038 §6.2.1) with its extension table.
//!
//! Text is converted to *unpacked* septets, one per octet, as SMPP carries them for
//! data_coding 0; [`pack`] and [`unpack`] convert to and from the air-interface form.
//! An extension char is two septets: [`ESC`] then its code in the extension table.

mod pack;
mod table;

use crate::{Alphabet, EncodeError};

pub use pack::{pack, pack_into, packed_len, unpack, unpack_into, FillBits, UnpackError};
pub use table::ESC;

/// What an unpacked octet with the high bit set decodes to: it is not a septet.
pub const INVALID_SEPTET: char = '?';

/// Number of septets `c` takes: 1 in the default alphabet, 2 in the extension
/// table, `None` when GSM 7-bit cannot represent it.
#[inline]
pub fn char_septets(c: char) -> Option<usize> {
    match table::code_of(c) {
        table::NONE => None,
        code if code >> 8 == u16::from(ESC) => Some(2),
        _ => Some(1),
    }
}

/// Whether every char of `text` has a GSM 7-bit encoding.
pub fn is_representable(text: &str) -> bool {
    septet_len(text).is_some()
}

/// Septets `text` encodes to, extension chars counting 2; `None` if any char
/// has no GSM 7-bit encoding.
pub fn septet_len(text: &str) -> Option<usize> {
    text.chars()
        .try_fold(0usize, |n, c| Some(n + char_septets(c)?))
}

/// Appends the unpacked septets of `text` to `out`. On error `out` holds the
/// septets of the chars before the offending one.
pub fn encode_into(text: &str, out: &mut Vec<u8>) -> Result<(), EncodeError> {
    out.reserve(text.len());
    for (offset, c) in text.char_indices() {
        match table::code_of(c) {
            table::NONE => {
                return Err(EncodeError {
                    alphabet: Alphabet::Gsm7,
                    ch: c,
                    offset,
                })
            }
            code if code >> 8 == u16::from(ESC) => out.extend_from_slice(&[ESC, code as u8]),
            code => out.push(code as u8),
        }
    }
    Ok(())
}

/// The unpacked septets of `text`.
pub fn encode(text: &str) -> Result<Vec<u8>, EncodeError> {
    let mut out = Vec::with_capacity(text.len());
    encode_into(text, &mut out)?;
    Ok(out)
}

/// Appends the text of unpacked `septets` to `out`. Never fails: an octet above
/// 0x7F becomes [`INVALID_SEPTET`]; ESC followed by a code the extension table
/// lacks reads as the default-alphabet char (TS 23.038 §6.2.1.1 note); ESC ESC
/// and an ESC with nothing after it read as a space, the display the spec asks
/// for a shift into a table that is not defined.
pub fn decode_into(septets: &[u8], out: &mut String) {
    out.reserve(septets.len());
    let mut iter = septets.iter();
    while let Some(&s) = iter.next() {
        let c = if s == ESC {
            match iter.next() {
                Some(&e) => lookup(&table::EXT_DECODE, e),
                None => ' ',
            }
        } else {
            lookup(&table::BASE, s)
        };
        out.push(c);
    }
}

/// The text of unpacked `septets`; see [`decode_into`] for malformed input.
pub fn decode(septets: &[u8]) -> String {
    let mut out = String::with_capacity(septets.len());
    decode_into(septets, &mut out);
    out
}

#[inline]
fn lookup(table: &[char; 128], septet: u8) -> char {
    table
        .get(usize::from(septet))
        .copied()
        .unwrap_or(INVALID_SEPTET)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ascii_and_greek_encode_to_their_septets() {
        assert_eq!(encode("@A a").unwrap(), vec![0x00, 0x41, 0x20, 0x61]);
        assert_eq!(encode("ΔΩ").unwrap(), vec![0x10, 0x15]);
    }

    #[test]
    fn extension_chars_take_an_escape_and_count_two_septets() {
        assert_eq!(encode("€[").unwrap(), vec![ESC, 0x65, ESC, 0x3C]);
        assert_eq!(septet_len("a€"), Some(3));
        assert_eq!(char_septets('|'), Some(2));
        assert_eq!(char_septets('\u{0C}'), Some(2));
    }

    #[test]
    fn unrepresentable_char_is_named_with_its_byte_offset() {
        let err = encode("ok ç").unwrap_err();
        assert_eq!(
            err,
            EncodeError {
                alphabet: Alphabet::Gsm7,
                ch: 'ç',
                offset: 3
            }
        );
        assert_eq!(septet_len("ok ç"), None);
        assert_eq!(septet_len("`"), None);
    }

    #[test]
    fn decode_reverses_encode_for_the_whole_alphabet() {
        let all: String = table::BASE
            .iter()
            .enumerate()
            .filter(|&(s, _)| s != usize::from(ESC))
            .map(|(_, &c)| c)
            .chain(table::EXTENSION.iter().map(|&(_, c)| c))
            .collect();
        assert_eq!(decode(&encode(&all).unwrap()), all);
    }

    #[test]
    fn malformed_septets_decode_without_panicking() {
        assert_eq!(decode(&[0x80, 0xFF]), "??");
        assert_eq!(decode(&[ESC, 0x41]), "A");
        assert_eq!(decode(&[ESC, ESC]), " ");
        assert_eq!(decode(&[0x41, ESC]), "A ");
        assert_eq!(decode(&[ESC, 0x0D]), "\r");
        assert_eq!(decode(&[ESC, 0x90]), "?");
    }
}
