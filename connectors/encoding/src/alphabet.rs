//! Which alphabet a message is sent in, what one SMS of it holds, and the
//! choice of the cheapest alphabet that carries a text.

use std::borrow::Cow;
use std::fmt;

use thiserror::Error;

use crate::split::Concat;
use crate::{gsm7, latin1, transliterate, ucs2};

/// User data of one SMS, TS 23.040 §9.2.3.24: 140 octets, UDH included.
pub const USER_DATA_OCTETS: usize = 140;

/// The alphabets an SMS body can be encoded in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Alphabet {
    /// GSM 7-bit default alphabet, unpacked one septet per octet.
    Gsm7,
    /// ISO-8859-1, one octet per char.
    Latin1,
    /// UTF-16BE, billed per 16-bit code unit.
    Ucs2,
    /// Opaque 8-bit data; text given for it is sent as its UTF-8 octets.
    Binary,
}

impl fmt::Display for Alphabet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Alphabet::Gsm7 => "GSM 7-bit",
            Alphabet::Latin1 => "Latin-1",
            Alphabet::Ucs2 => "UCS-2",
            Alphabet::Binary => "binary",
        })
    }
}

/// A char of the text has no encoding in the requested alphabet.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("{ch:?} at byte {offset} has no {alphabet} encoding")]
pub struct EncodeError {
    pub alphabet: Alphabet,
    pub ch: char,
    /// Byte offset of `ch` in the UTF-8 text.
    pub offset: usize,
}

/// Encoded octets are not text in the alphabet.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum DecodeError {
    #[error(transparent)]
    Ucs2(#[from] ucs2::Ucs2Error),
    #[error("binary user data is opaque, not text")]
    Binary,
}

impl Alphabet {
    /// Units (septets, octets or UTF-16 code units) in one SMS without a UDH:
    /// 160, 140 or 70.
    pub const fn single_part_capacity(self) -> usize {
        self.units_in_octets(USER_DATA_OCTETS)
    }

    /// Units each part holds when a message is sent with `concat`. For
    /// [`Concat::Payload`] that is the whole message, unpacked GSM included.
    pub const fn part_capacity(self, concat: Concat) -> usize {
        match concat {
            Concat::Udh8 | Concat::Udh16 | Concat::Sar => {
                self.units_in_octets(USER_DATA_OCTETS - concat.udh_len())
            }
            Concat::Payload { max_octets } => {
                // message_payload carries GSM unpacked, one septet per octet.
                let octets = max_octets as usize;
                match self {
                    Alphabet::Ucs2 => octets / 2,
                    _ => octets,
                }
            }
        }
    }

    /// Units that fit in `octets` of TP-UD: septets pack 8 into 7 octets
    /// (TS 23.038 §6.1.2.1.1), so 134 octets after a 6-octet UDH hold 153.
    pub const fn units_in_octets(self, octets: usize) -> usize {
        match self {
            Alphabet::Gsm7 => octets * 8 / 7,
            Alphabet::Ucs2 => octets / 2,
            Alphabet::Latin1 | Alphabet::Binary => octets,
        }
    }

    /// Octets one unit takes in the unpacked encoding this crate produces.
    pub const fn unit_octets(self) -> usize {
        match self {
            Alphabet::Ucs2 => 2,
            _ => 1,
        }
    }

    /// Units `text` takes in this alphabet; `None` if a char has no encoding.
    pub fn units(self, text: &str) -> Option<usize> {
        match self {
            Alphabet::Gsm7 => gsm7::septet_len(text),
            Alphabet::Latin1 => text
                .chars()
                .try_fold(0, |n, c| latin1::is_char_representable(c).then_some(n + 1)),
            Alphabet::Ucs2 => Some(ucs2::code_units(text)),
            Alphabet::Binary => Some(text.len()),
        }
    }

    /// Whether every char of `text` has an encoding in this alphabet.
    pub fn can_encode(self, text: &str) -> bool {
        match self {
            Alphabet::Gsm7 => gsm7::is_representable(text),
            Alphabet::Latin1 => latin1::is_representable(text),
            Alphabet::Ucs2 | Alphabet::Binary => true,
        }
    }

    /// Appends the unpacked encoding of `text` to `out`.
    pub fn encode_into(self, text: &str, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        match self {
            Alphabet::Gsm7 => gsm7::encode_into(text, out),
            Alphabet::Latin1 => latin1::encode_into(text, out),
            Alphabet::Ucs2 => {
                ucs2::encode_into(text, out);
                Ok(())
            }
            Alphabet::Binary => {
                out.extend_from_slice(text.as_bytes());
                Ok(())
            }
        }
    }

    /// The unpacked encoding of `text`.
    pub fn encode(self, text: &str) -> Result<Vec<u8>, EncodeError> {
        let mut out = Vec::with_capacity(text.len() * self.unit_octets());
        self.encode_into(text, &mut out)?;
        Ok(out)
    }

    /// The text of unpacked `octets`. GSM and Latin-1 always decode (see
    /// [`gsm7::decode_into`]); binary data is refused rather than guessed at.
    pub fn decode(self, octets: &[u8]) -> Result<String, DecodeError> {
        match self {
            Alphabet::Gsm7 => Ok(gsm7::decode(octets)),
            Alphabet::Latin1 => Ok(latin1::decode(octets)),
            Alphabet::Ucs2 => Ok(ucs2::decode(octets)?),
            Alphabet::Binary => Err(DecodeError::Binary),
        }
    }
}

/// What [`choose`] may fall back to when a text is not plain GSM 7-bit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ChoosePolicy {
    /// The route accepts Latin-1 (140 chars a part instead of UCS-2's 70).
    pub allow_latin1: bool,
    /// The route accepts UCS-2; without it, text is transliterated lossily.
    pub allow_ucs2: bool,
    /// Prefer GSM 7-bit with transliteration (`é`→`e`, `“`→`"`) over UCS-2 when
    /// every char has a replacement.
    pub transliterate: bool,
}

impl Default for ChoosePolicy {
    fn default() -> Self {
        ChoosePolicy {
            allow_latin1: false,
            allow_ucs2: true,
            transliterate: false,
        }
    }
}

/// The alphabet picked for a text, and the text to encode in it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Choice<'a> {
    pub alphabet: Alphabet,
    /// Borrowed unless transliteration changed it.
    pub text: Cow<'a, str>,
    /// Some char was replaced by [`transliterate::FALLBACK`]: the recipient
    /// will not see what was sent.
    pub lossy: bool,
}

/// Picks the alphabet for `text`, in order of fidelity then cost: GSM 7-bit as
/// is, Latin-1 as is, GSM 7-bit transliterated without loss, UCS-2, and last
/// GSM 7-bit with unknown chars replaced by '?'.
pub fn choose<'a>(text: &'a str, policy: &ChoosePolicy) -> Choice<'a> {
    let exact = |alphabet| Choice {
        alphabet,
        text: Cow::Borrowed(text),
        lossy: false,
    };
    if gsm7::is_representable(text) {
        return exact(Alphabet::Gsm7);
    }
    if policy.allow_latin1 && latin1::is_representable(text) {
        return exact(Alphabet::Latin1);
    }
    if policy.transliterate || !policy.allow_ucs2 {
        let (replaced, lossy) = transliterate::transliterate_with_loss(text, Alphabet::Gsm7);
        if !lossy || !policy.allow_ucs2 {
            return Choice {
                alphabet: Alphabet::Gsm7,
                text: replaced,
                lossy,
            };
        }
    }
    exact(Alphabet::Ucs2)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn single_part_capacities_are_160_140_70() {
        assert_eq!(Alphabet::Gsm7.single_part_capacity(), 160);
        assert_eq!(Alphabet::Latin1.single_part_capacity(), 140);
        assert_eq!(Alphabet::Binary.single_part_capacity(), 140);
        assert_eq!(Alphabet::Ucs2.single_part_capacity(), 70);
    }

    #[test]
    fn part_capacities_follow_the_concat_method() {
        use Alphabet::*;
        let cap = |a: Alphabet, c| a.part_capacity(c);
        assert_eq!(
            [
                cap(Gsm7, Concat::Udh8),
                cap(Latin1, Concat::Udh8),
                cap(Ucs2, Concat::Udh8)
            ],
            [153, 134, 67]
        );
        assert_eq!(
            [
                cap(Gsm7, Concat::Udh16),
                cap(Binary, Concat::Udh16),
                cap(Ucs2, Concat::Udh16)
            ],
            [152, 133, 66]
        );
        assert_eq!(
            [
                cap(Gsm7, Concat::Sar),
                cap(Latin1, Concat::Sar),
                cap(Ucs2, Concat::Sar)
            ],
            [160, 140, 70]
        );
        let payload = Concat::Payload { max_octets: 1000 };
        assert_eq!([cap(Gsm7, payload), cap(Ucs2, payload)], [1000, 500]);
    }

    #[test]
    fn units_count_extension_chars_and_surrogates_twice() {
        assert_eq!(Alphabet::Gsm7.units("a€"), Some(3));
        assert_eq!(Alphabet::Ucs2.units("a😀"), Some(3));
        assert_eq!(Alphabet::Latin1.units("aé"), Some(2));
        assert_eq!(Alphabet::Latin1.units("a€"), None);
        assert_eq!(Alphabet::Binary.units("é"), Some(2));
    }

    #[test]
    fn gsm_text_stays_gsm() {
        let c = choose("Hello €", &ChoosePolicy::default());
        assert_eq!(c.alphabet, Alphabet::Gsm7);
        assert!(matches!(c.text, Cow::Borrowed(_)));
    }

    #[test]
    fn non_gsm_text_goes_ucs2_unless_transliterable() {
        let ucs2 = choose("café ç", &ChoosePolicy::default());
        assert_eq!(ucs2.alphabet, Alphabet::Ucs2);

        let policy = ChoosePolicy {
            transliterate: true,
            ..ChoosePolicy::default()
        };
        let gsm = choose("“naïve café”", &policy);
        assert_eq!(
            (gsm.alphabet, gsm.text.as_ref(), gsm.lossy),
            (Alphabet::Gsm7, "\"naive café\"", false)
        );

        let cjk = choose("你好", &policy);
        assert_eq!(cjk.alphabet, Alphabet::Ucs2);
    }

    #[test]
    fn latin1_is_preferred_to_ucs2_when_allowed() {
        let policy = ChoosePolicy {
            allow_latin1: true,
            ..ChoosePolicy::default()
        };
        assert_eq!(choose("façade", &policy).alphabet, Alphabet::Latin1);
        assert_eq!(choose("łódź", &policy).alphabet, Alphabet::Ucs2);
    }

    #[test]
    fn without_ucs2_text_is_forced_into_gsm_lossily() {
        let policy = ChoosePolicy {
            allow_ucs2: false,
            ..ChoosePolicy::default()
        };
        let c = choose("hi 你", &policy);
        assert_eq!(
            (c.alphabet, c.text.as_ref(), c.lossy),
            (Alphabet::Gsm7, "hi ?", true)
        );
    }

    #[test]
    fn decode_reverses_encode() {
        for a in [Alphabet::Gsm7, Alphabet::Latin1, Alphabet::Ucs2] {
            assert_eq!(a.decode(&a.encode("Añ{").unwrap()).unwrap(), "Añ{");
        }
        assert_eq!(Alphabet::Binary.decode(b"x"), Err(DecodeError::Binary));
    }
}
