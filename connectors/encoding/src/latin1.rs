//! ISO-8859-1 (SMPP data_coding 0x03): each char U+0000..=U+00FF is one octet.

use crate::{Alphabet, EncodeError};

/// Whether `c` has a Latin-1 octet.
#[inline]
pub const fn is_char_representable(c: char) -> bool {
    (c as u32) <= 0xFF
}

/// Whether every char of `text` has a Latin-1 octet.
pub fn is_representable(text: &str) -> bool {
    text.chars().all(is_char_representable)
}

/// Appends the Latin-1 octets of `text` to `out`; on error `out` holds the
/// octets of the chars before the offending one.
pub fn encode_into(text: &str, out: &mut Vec<u8>) -> Result<(), EncodeError> {
    out.reserve(text.len());
    for (offset, c) in text.char_indices() {
        match u8::try_from(u32::from(c)) {
            Ok(octet) => out.push(octet),
            Err(_) => {
                return Err(EncodeError {
                    alphabet: Alphabet::Latin1,
                    ch: c,
                    offset,
                })
            }
        }
    }
    Ok(())
}

/// The Latin-1 octets of `text`.
pub fn encode(text: &str) -> Result<Vec<u8>, EncodeError> {
    let mut out = Vec::with_capacity(text.len());
    encode_into(text, &mut out)?;
    Ok(out)
}

/// Appends the text of Latin-1 `octets` to `out`. Every octet is a char, so
/// this cannot fail.
pub fn decode_into(octets: &[u8], out: &mut String) {
    out.extend(octets.iter().map(|&b| char::from(b)));
}

/// The text of Latin-1 `octets`.
pub fn decode(octets: &[u8]) -> String {
    let mut out = String::with_capacity(octets.len());
    decode_into(octets, &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accented_latin_chars_are_single_octets() {
        assert_eq!(encode("açÿ").unwrap(), [0x61, 0xE7, 0xFF]);
        assert_eq!(decode(&[0x61, 0xE7, 0xFF]), "açÿ");
    }

    #[test]
    fn chars_above_u_ff_are_refused() {
        assert_eq!(
            encode("a€").unwrap_err(),
            EncodeError {
                alphabet: Alphabet::Latin1,
                ch: '€',
                offset: 1
            }
        );
    }
}
