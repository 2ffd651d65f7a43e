//! GSM 03.38 (3GPP TS 23.038 §6.2.1) default alphabet and its extension table,
//! as lookup tables built at compile time so the hot path never searches.

/// The escape to the extension table (TS 23.038 §6.2.1.1).
pub const ESC: u8 = 0x1B;

/// Marks a char with no GSM 7-bit encoding in [`ENCODE`].
pub(crate) const NONE: u16 = 0xFFFF;

/// Default alphabet, indexed by septet. Slot 0x1B is the escape and never decoded
/// through this table; it holds NBSP only so that no real char maps back to it.
pub(crate) const BASE: [char; 128] = [
    '@', '£', '$', '¥', 'è', 'é', 'ù', 'ì', 'ò', 'Ç', '\n', 'Ø', 'ø', '\r', 'Å', 'å', //
    'Δ', '_', 'Φ', 'Γ', 'Λ', 'Ω', 'Π', 'Ψ', 'Σ', 'Θ', 'Ξ', '\u{A0}', 'Æ', 'æ', 'ß', 'É', //
    ' ', '!', '"', '#', '¤', '%', '&', '\'', '(', ')', '*', '+', ',', '-', '.', '/', //
    '0', '1', '2', '3', '4', '5', '6', '7', '8', '9', ':', ';', '<', '=', '>', '?', //
    '¡', 'A', 'B', 'C', 'D', 'E', 'F', 'G', 'H', 'I', 'J', 'K', 'L', 'M', 'N', 'O', //
    'P', 'Q', 'R', 'S', 'T', 'U', 'V', 'W', 'X', 'Y', 'Z', 'Ä', 'Ö', 'Ñ', 'Ü', '§', //
    '¿', 'a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'i', 'j', 'k', 'l', 'm', 'n', 'o', //
    'p', 'q', 'r', 's', 't', 'u', 'v', 'w', 'x', 'y', 'z', 'ä', 'ö', 'ñ', 'ü', 'à', //
];

/// Extension table entries (TS 23.038 §6.2.1.1): septet after ESC, and its char.
/// 0x0A is the page break, mapped to FORM FEED as in Unicode's GSM0338 mapping.
pub(crate) const EXTENSION: [(u8, char); 10] = [
    (0x0A, '\u{0C}'),
    (0x14, '^'),
    (0x28, '{'),
    (0x29, '}'),
    (0x2F, '\\'),
    (0x3C, '['),
    (0x3D, '~'),
    (0x3E, ']'),
    (0x40, '|'),
    (0x65, '€'),
];

/// What ESC + septet decodes to. TS 23.038 §6.2.1.1 note: a code with no extension
/// symbol is shown as the default-alphabet char of the same value (so ESC+'A'
/// reads 'A', and CR2 at 0x0D reads as CR). ESC ESC is the reserved second single
/// shift (SS2), which a receiver "shall display as a space" until it is defined.
pub(crate) const EXT_DECODE: [char; 128] = {
    let mut t = BASE;
    t[ESC as usize] = ' ';
    let mut i = 0;
    while i < EXTENSION.len() {
        let (code, ch) = EXTENSION[i];
        t[code as usize] = ch;
        i += 1;
    }
    t
};

/// Size of [`ENCODE`]: every GSM char except '€' lies below U+0400 (Greek Ω is U+03A9).
pub(crate) const ENCODE_LEN: usize = 0x400;

/// Char → code: `0x00ss` for a default-alphabet septet, `0x1Bss` for an extension
/// pair, [`NONE`] when the char has no encoding. '€' is handled beside the table.
pub(crate) const ENCODE: [u16; ENCODE_LEN] = {
    let mut t = [NONE; ENCODE_LEN];
    let mut i = 0;
    while i < BASE.len() {
        if i != ESC as usize {
            t[BASE[i] as usize] = i as u16;
        }
        i += 1;
    }
    let mut j = 0;
    while j < EXTENSION.len() {
        let (code, ch) = EXTENSION[j];
        if (ch as usize) < ENCODE_LEN {
            t[ch as usize] = ((ESC as u16) << 8) | code as u16;
        }
        j += 1;
    }
    t
};

/// The extension-table code of '€' (TS 23.038 §6.2.1.1), outside [`ENCODE`].
pub(crate) const EURO: u16 = ((ESC as u16) << 8) | 0x65;

/// The GSM code of `c`, or [`NONE`].
#[inline]
pub(crate) fn code_of(c: char) -> u16 {
    match ENCODE.get(c as usize) {
        Some(&code) => code,
        None if c == '€' => EURO,
        None => NONE,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_base_char_is_distinct_and_reversible() {
        for (septet, &c) in BASE.iter().enumerate() {
            if septet == ESC as usize {
                assert_eq!(code_of(c), NONE, "NBSP placeholder must not encode");
                continue;
            }
            assert_eq!(code_of(c), septet as u16, "{c:?}");
        }
    }

    #[test]
    fn extension_chars_encode_as_escape_pairs() {
        for (code, c) in EXTENSION {
            assert_eq!(code_of(c), 0x1B00 | u16::from(code), "{c:?}");
            assert_eq!(EXT_DECODE[code as usize], c);
        }
    }

    #[test]
    fn undefined_extension_codes_fall_back_to_the_default_alphabet() {
        assert_eq!(EXT_DECODE[0x41], 'A');
        assert_eq!(EXT_DECODE[0x0D], '\r');
        assert_eq!(EXT_DECODE[ESC as usize], ' ');
    }

    #[test]
    fn chars_outside_the_alphabet_have_no_code() {
        for c in ['`', '\t', 'ç', 'á', 'α', 'Ж', '😀', '\u{A0}'] {
            assert_eq!(code_of(c), NONE, "{c:?}");
        }
    }
}
