//! `data_coding` ↔ [`Coding`] (SMPP 3.4 §5.2.19, with the GSM 03.38 §4 groups SMPP defers
//! to for 0x10-0xFF), and the text ↔ octets conversion for each coding.
//!
//! | data_coding | coding | notes |
//! |---|---|---|
//! | 0x00 | link default | GSM 7-bit by convention, Latin-1 or ASCII on some SMSCs |
//! | 0x01 | ASCII (IA5) | |
//! | 0x02, 0x04 | binary | |
//! | 0x03 | Latin-1 | |
//! | 0x08 | UCS-2 | |
//! | 0x10-0x1F | bits 3-2: GSM 7-bit / binary / UCS-2 | with message class in bits 1-0; class 0 is flash |
//! | 0xC0-0xDF | GSM 7-bit | message waiting indication groups |
//! | 0xE0-0xEF | UCS-2 | message waiting indication group |
//! | 0xF0-0xF3 | GSM 7-bit | message class 0-3; class 0 is flash |
//! | 0xF4-0xF7 | binary | message class 0-3; class 0 is flash |
//! | anything else | binary | octets kept raw, data_coding passed on unchanged |

use tern_encoding::{gsm7, latin1, ucs2, Alphabet};
use tern_model::{Body, Coding};

use super::MappingError;

/// What `data_coding` 0 ("SMSC default alphabet") means on a link.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum DefaultAlphabet {
    #[default]
    Gsm7,
    Latin1,
    Ascii,
}

impl DefaultAlphabet {
    fn coding(self) -> Coding {
        match self {
            DefaultAlphabet::Gsm7 => Coding::Gsm7,
            DefaultAlphabet::Latin1 => Coding::Latin1,
            DefaultAlphabet::Ascii => Coding::Ascii,
        }
    }
}

/// What a `data_coding` octet says about the user data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct DataCodingInfo {
    pub coding: Coding,
    /// GSM message class 0: display immediately, do not store.
    pub flash: bool,
}

/// Reads `data_coding` (table in the module doc).
pub fn coding_of(data_coding: u8, default: DefaultAlphabet) -> DataCodingInfo {
    let plain = |coding| DataCodingInfo {
        coding,
        flash: false,
    };
    match data_coding {
        0x00 => plain(default.coding()),
        0x01 => plain(Coding::Ascii),
        0x03 => plain(Coding::Latin1),
        0x08 => plain(Coding::Ucs2),
        // GSM 03.38 §4 group 00x1: uncompressed, class in bits 1-0, alphabet in bits 3-2.
        0x10..=0x1F => {
            let coding = match data_coding & 0x0C {
                0x00 => Coding::Gsm7,
                0x08 => Coding::Ucs2,
                _ => Coding::Binary,
            };
            DataCodingInfo {
                coding,
                flash: data_coding & 0x03 == 0,
            }
        }
        0xC0..=0xDF => plain(Coding::Gsm7),
        0xE0..=0xEF => plain(Coding::Ucs2),
        // GSM 03.38 §4 group 1111: bit 2 selects 8-bit data, bits 1-0 the class.
        0xF0..=0xF7 => DataCodingInfo {
            coding: if data_coding & 0x04 == 0 {
                Coding::Gsm7
            } else {
                Coding::Binary
            },
            flash: data_coding & 0x03 == 0,
        },
        _ => plain(Coding::Binary),
    }
}

/// The `data_coding` to send a message with. The message's own octet is reused when it
/// means the same on this link (keeping its class bits); otherwise the plain code for the
/// coding, or for binary bodies the original octet when it was one we keep raw.
pub fn data_coding_for(coding: Coding, flash: bool, original: u8, default: DefaultAlphabet) -> u8 {
    let wanted = DataCodingInfo { coding, flash };
    if coding_of(original, default) == wanted {
        return original;
    }
    match (coding, flash) {
        (Coding::Gsm7, true) => 0xF0,
        (Coding::Gsm7, false) if default == DefaultAlphabet::Gsm7 => 0x00,
        // A link whose 0 is not GSM cannot take GSM text without a class; callers convert
        // it to Latin-1 or UCS-2 first (see `wire_coding`), so this is a last resort.
        (Coding::Gsm7, false) => 0xF1,
        (Coding::Ascii, _) => 0x01,
        (Coding::Latin1, _) => 0x03,
        (Coding::Ucs2 | Coding::Gbk, true) => 0x18,
        (Coding::Ucs2 | Coding::Gbk, false) => 0x08,
        (Coding::Binary, true) => 0xF4,
        (Coding::Binary, false) => 0x04,
    }
}

/// The coding a text actually goes out in on a link: GSM 7-bit text goes as Latin-1 on a
/// link whose default is not GSM (flash stays GSM via 0xF0), and text the requested
/// alphabet cannot carry falls back to UCS-2, which carries everything.
pub(crate) fn wire_coding(
    coding: Coding,
    flash: bool,
    text: &str,
    default: DefaultAlphabet,
) -> Coding {
    let fits = |alphabet: Alphabet| alphabet.can_encode(text);
    match coding {
        Coding::Gsm7 if fits(Alphabet::Gsm7) && (flash || default == DefaultAlphabet::Gsm7) => {
            Coding::Gsm7
        }
        Coding::Gsm7 | Coding::Latin1 if fits(Alphabet::Latin1) => Coding::Latin1,
        Coding::Ascii if text.is_ascii() => Coding::Ascii,
        Coding::Ascii if fits(Alphabet::Latin1) => Coding::Latin1,
        Coding::Binary => Coding::Binary,
        _ => Coding::Ucs2,
    }
}

/// The tern-encoding alphabet that writes a coding's octets; ASCII is Latin-1 restricted to
/// its first half, which `wire_coding` has checked.
pub(crate) fn alphabet_of(coding: Coding) -> Alphabet {
    match coding {
        Coding::Gsm7 => Alphabet::Gsm7,
        Coding::Ascii | Coding::Latin1 => Alphabet::Latin1,
        Coding::Ucs2 | Coding::Gbk => Alphabet::Ucs2,
        Coding::Binary => Alphabet::Binary,
    }
}

/// User data (UDH removed) as a body. GSM 7-bit is unpacked on SMPP, one septet per octet.
/// GSM, Latin-1 and ASCII never fail (an octet outside the alphabet becomes a replacement
/// character; ASCII above 0x7F is read as Latin-1); UCS-2 fails on an odd length or a
/// broken surrogate pair, unless the data is one part of several, where a splitter may have
/// cut a pair: then the octets are kept raw for reassembly.
pub(crate) fn decode_body(
    coding: Coding,
    octets: &[u8],
    is_part: bool,
) -> Result<Body, MappingError> {
    Ok(Body::Text(match coding {
        Coding::Gsm7 => gsm7::decode(octets),
        Coding::Ascii | Coding::Latin1 => latin1::decode(octets),
        Coding::Ucs2 | Coding::Gbk => match ucs2::decode(octets) {
            Ok(text) => text,
            Err(ucs2::Ucs2Error::UnpairedSurrogate { .. }) if is_part => {
                return Ok(Body::Binary(octets.to_vec().into()))
            }
            Err(error) => return Err(MappingError::Decode(error.into())),
        },
        Coding::Binary => return Ok(Body::Binary(octets.to_vec().into())),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_coding_table() {
        let gsm = DefaultAlphabet::Gsm7;
        let info = |dc| coding_of(dc, gsm);
        assert_eq!(info(0x00).coding, Coding::Gsm7);
        assert_eq!(
            coding_of(0x00, DefaultAlphabet::Latin1).coding,
            Coding::Latin1
        );
        assert_eq!(
            coding_of(0x00, DefaultAlphabet::Ascii).coding,
            Coding::Ascii
        );
        assert_eq!(info(0x01).coding, Coding::Ascii);
        assert_eq!(info(0x02).coding, Coding::Binary);
        assert_eq!(info(0x03).coding, Coding::Latin1);
        assert_eq!(info(0x04).coding, Coding::Binary);
        assert_eq!(info(0x08).coding, Coding::Ucs2);
        assert_eq!(info(0x05).coding, Coding::Binary, "JIS is kept raw");
        assert_eq!(
            info(0xF0),
            DataCodingInfo {
                coding: Coding::Gsm7,
                flash: true
            }
        );
        assert!(!info(0xF1).flash);
        assert_eq!(info(0xF5).coding, Coding::Binary);
        assert_eq!(info(0x18).coding, Coding::Ucs2);
        assert!(info(0x18).flash);
        assert!(!info(0x19).flash);
        assert_eq!(info(0x14).coding, Coding::Binary);
        assert_eq!(info(0xE0).coding, Coding::Ucs2);
    }

    #[test]
    fn outgoing_data_coding_keeps_what_still_means_the_same() {
        let gsm = DefaultAlphabet::Gsm7;
        assert_eq!(data_coding_for(Coding::Gsm7, false, 0x00, gsm), 0x00);
        assert_eq!(data_coding_for(Coding::Gsm7, false, 0x11, gsm), 0x11);
        assert_eq!(data_coding_for(Coding::Gsm7, true, 0x00, gsm), 0xF0);
        assert_eq!(data_coding_for(Coding::Ucs2, false, 0x00, gsm), 0x08);
        assert_eq!(data_coding_for(Coding::Ucs2, true, 0x08, gsm), 0x18);
        assert_eq!(data_coding_for(Coding::Binary, false, 0x05, gsm), 0x05);
        assert_eq!(data_coding_for(Coding::Binary, false, 0x00, gsm), 0x04);
        assert_eq!(
            data_coding_for(Coding::Latin1, false, 0x00, DefaultAlphabet::Latin1),
            0x00
        );
    }

    #[test]
    fn gsm_text_goes_as_latin1_where_zero_is_not_gsm() {
        let latin = DefaultAlphabet::Latin1;
        assert_eq!(
            wire_coding(Coding::Gsm7, false, "héllo", latin),
            Coding::Latin1
        );
        assert_eq!(
            wire_coding(Coding::Gsm7, true, "héllo", latin),
            Coding::Gsm7
        );
        assert_eq!(wire_coding(Coding::Gsm7, false, "ΔΦ", latin), Coding::Ucs2);
        assert_eq!(
            wire_coding(Coding::Gsm7, false, "hello", DefaultAlphabet::Gsm7),
            Coding::Gsm7
        );
        assert_eq!(
            wire_coding(Coding::Gsm7, false, "привет", DefaultAlphabet::Gsm7),
            Coding::Ucs2
        );
    }

    #[test]
    fn ucs2_bodies_decode_or_fail_by_length() {
        assert_eq!(
            decode_body(Coding::Ucs2, &[0x00, 0x41], false),
            Ok(Body::Text("A".into()))
        );
        assert!(decode_body(Coding::Ucs2, &[0x00, 0x41, 0x00], false).is_err());
        assert!(decode_body(Coding::Ucs2, &[0xD8, 0x3D], false).is_err());
        assert_eq!(
            decode_body(Coding::Ucs2, &[0xD8, 0x3D], true),
            Ok(Body::Binary(vec![0xD8, 0x3D].into()))
        );
    }
}
