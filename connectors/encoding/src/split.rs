//! Splitting a message into SMS parts the way operators count and bill them.
//!
//! A message that fits one SMS (160 septets, 140 octets, 70 UTF-16 units) is
//! one part without a header. Longer ones are cut greedily at the per-part
//! capacity of the [`Concat`] method, never inside a GSM escape pair
//! (TS 23.038 §6.2.1.1) or a UTF-16 surrogate pair, so each part decodes alone.

use thiserror::Error;

use crate::gsm7::{self, FillBits, ESC};
use crate::udh::{concat_udh16, concat_udh8};
use crate::{ucs2, Alphabet, EncodeError};

/// Most parts a message may have: the UDH and SAR part counters are one octet.
pub const DEFAULT_MAX_PARTS: u8 = 255;

/// How the parts of a long message are tied together.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Concat {
    /// UDH with IEI 0x00, 8-bit reference (TS 23.040 §9.2.3.24.1): 6 octets,
    /// leaving 153 septets, 134 octets or 67 UTF-16 units a part.
    Udh8,
    /// UDH with IEI 0x08, 16-bit reference (TS 23.040 §9.2.3.24.8): 7 octets,
    /// leaving 152 septets, 133 octets or 66 UTF-16 units a part.
    Udh16,
    /// SMPP sar_* TLVs carry reference, total and sequence beside the body, so
    /// each part keeps the full 160/140/70.
    Sar,
    /// The whole message in one SMPP message_payload TLV, never split.
    Payload { max_octets: u16 },
}

impl Concat {
    /// Octets of UDH each part carries, its length octet included.
    pub const fn udh_len(self) -> usize {
        match self {
            Concat::Udh8 => 6,
            Concat::Udh16 => 7,
            Concat::Sar | Concat::Payload { .. } => 0,
        }
    }
}

/// How to split one message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SplitOptions {
    pub concat: Concat,
    /// Concatenation reference; [`Concat::Udh8`] sends its low octet.
    pub reference: u16,
    /// A message needing more parts is refused.
    pub max_parts: u8,
}

impl SplitOptions {
    pub const fn new(concat: Concat, reference: u16) -> Self {
        SplitOptions {
            concat,
            reference,
            max_parts: DEFAULT_MAX_PARTS,
        }
    }
}

/// Why a message cannot be split as asked.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum SplitError {
    #[error(transparent)]
    Encode(#[from] EncodeError),
    #[error("message needs {needed} parts, the limit is {max}")]
    TooManyParts { needed: usize, max: u8 },
    #[error("message of {octets} octets exceeds the message_payload limit of {max}")]
    PayloadTooLong { octets: usize, max: u16 },
}

/// One SMS of a message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Part {
    /// Concatenation UDH with its length octet, for the UDH methods of
    /// multi-part messages; the submit must then set UDHI (esm_class 0x40).
    pub udh: Option<Vec<u8>>,
    /// This part's text in `alphabet`, GSM 7-bit unpacked as SMPP sends it.
    pub payload: Vec<u8>,
    /// 1-based.
    pub seq: u8,
    pub total: u8,
    /// The reference as the receiver sees it (the low octet for [`Concat::Udh8`]).
    pub reference: u16,
    pub alphabet: Alphabet,
}

impl Part {
    /// Fill bits between the UDH and packed GSM text (TS 23.040 §9.2.3.24).
    pub fn fill_bits(&self) -> FillBits {
        FillBits::after_udh(self.udh_len())
    }

    /// UDH then payload, unpacked: an SMPP short_message.
    pub fn user_data(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.udh_len() + self.payload.len());
        out.extend_from_slice(self.udh.as_deref().unwrap_or_default());
        out.extend_from_slice(&self.payload);
        out
    }

    /// UDH then payload in air-interface form (TP-UD): GSM text packed after
    /// its fill bits, other alphabets as they are. At most 140 octets for the
    /// UDH and SAR methods.
    pub fn packed_user_data(&self) -> Vec<u8> {
        if self.alphabet != Alphabet::Gsm7 {
            return self.user_data();
        }
        let fill = self.fill_bits();
        let mut out =
            Vec::with_capacity(self.udh_len() + gsm7::packed_len(self.payload.len(), fill));
        out.extend_from_slice(self.udh.as_deref().unwrap_or_default());
        gsm7::pack_into(&self.payload, fill, &mut out);
        out
    }

    /// TP-UDL: septets for GSM text, UDH and fill bits counted as septets
    /// (TS 23.040 §9.2.3.16); octets otherwise.
    pub fn user_data_length(&self) -> usize {
        let udh = self.udh_len();
        if self.alphabet == Alphabet::Gsm7 {
            (udh * 8 + usize::from(self.fill_bits().get())) / 7 + self.payload.len()
        } else {
            udh + self.payload.len()
        }
    }

    fn udh_len(&self) -> usize {
        self.udh.as_ref().map_or(0, Vec::len)
    }
}

/// Splits `text` encoded in `alphabet` into parts. [`Alphabet::Binary`] sends
/// the UTF-8 octets of `text`, cut at any octet.
pub fn split(
    text: &str,
    alphabet: Alphabet,
    options: &SplitOptions,
) -> Result<Vec<Part>, SplitError> {
    let encoded = alphabet.encode(text)?;
    split_encoded(&encoded, alphabet, options)
}

/// Splits opaque 8-bit data into parts.
pub fn split_binary(data: &[u8], options: &SplitOptions) -> Result<Vec<Part>, SplitError> {
    split_encoded(data, Alphabet::Binary, options)
}

/// Parts [`split`] would make, without encoding or allocating. Errors as
/// `split` does, except that it has no part limit to exceed.
pub fn count_parts(text: &str, alphabet: Alphabet, concat: Concat) -> Result<usize, SplitError> {
    if alphabet == Alphabet::Binary {
        return count_parts_binary(text.len(), concat);
    }
    let cap = alphabet.part_capacity(concat);
    let (mut parts, mut used, mut total) = (1usize, 0usize, 0usize);
    for (offset, c) in text.char_indices() {
        let units = match alphabet {
            Alphabet::Gsm7 => gsm7::char_septets(c),
            Alphabet::Latin1 => crate::latin1::is_char_representable(c).then_some(1),
            Alphabet::Ucs2 | Alphabet::Binary => Some(c.len_utf16()),
        }
        .ok_or(EncodeError {
            alphabet,
            ch: c,
            offset,
        })?;
        total += units;
        if used + units > cap {
            parts += 1;
            used = 0;
        }
        used += units;
    }
    if let Concat::Payload { max_octets } = concat {
        let octets = total * alphabet.unit_octets();
        return if octets > usize::from(max_octets) {
            Err(SplitError::PayloadTooLong {
                octets,
                max: max_octets,
            })
        } else {
            Ok(1)
        };
    }
    Ok(if total <= alphabet.single_part_capacity() {
        1
    } else {
        parts
    })
}

/// Parts [`split_binary`] would make of `len` octets.
pub fn count_parts_binary(len: usize, concat: Concat) -> Result<usize, SplitError> {
    let alphabet = Alphabet::Binary;
    match concat {
        Concat::Payload { max_octets } if len > usize::from(max_octets) => {
            Err(SplitError::PayloadTooLong {
                octets: len,
                max: max_octets,
            })
        }
        Concat::Payload { .. } => Ok(1),
        _ if len <= alphabet.single_part_capacity() => Ok(1),
        _ => Ok(len.div_ceil(alphabet.part_capacity(concat))),
    }
}

fn split_encoded(
    encoded: &[u8],
    alphabet: Alphabet,
    options: &SplitOptions,
) -> Result<Vec<Part>, SplitError> {
    let reference = match options.concat {
        Concat::Udh8 => options.reference & 0xFF,
        _ => options.reference,
    };
    let single = |payload: &[u8]| Part {
        udh: None,
        payload: payload.to_vec(),
        seq: 1,
        total: 1,
        reference,
        alphabet,
    };
    if let Concat::Payload { max_octets } = options.concat {
        if encoded.len() > usize::from(max_octets) {
            return Err(SplitError::PayloadTooLong {
                octets: encoded.len(),
                max: max_octets,
            });
        }
        return Ok(vec![single(encoded)]);
    }
    let unit = alphabet.unit_octets();
    if encoded.len() <= alphabet.single_part_capacity() * unit {
        return Ok(vec![single(encoded)]);
    }
    let cuts = || Cuts {
        rest: encoded,
        cap: alphabet.part_capacity(options.concat) * unit,
        alphabet,
    };
    let needed = cuts().count();
    let total = match u8::try_from(needed) {
        Ok(total) if total <= options.max_parts => total,
        _ => {
            return Err(SplitError::TooManyParts {
                needed,
                max: options.max_parts,
            })
        }
    };
    Ok((1..=total)
        .zip(cuts())
        .map(|(seq, payload)| Part {
            udh: match options.concat {
                Concat::Udh8 => Some(concat_udh8(reference as u8, total, seq).to_vec()),
                Concat::Udh16 => Some(concat_udh16(reference, total, seq).to_vec()),
                Concat::Sar | Concat::Payload { .. } => None,
            },
            payload: payload.to_vec(),
            seq,
            total,
            reference,
            alphabet,
        })
        .collect())
}

/// Greedy cuts of encoded text at `cap` octets, moved back one unit when the
/// cut would separate an escape from its char or a surrogate pair.
struct Cuts<'a> {
    rest: &'a [u8],
    cap: usize,
    alphabet: Alphabet,
}

impl<'a> Iterator for Cuts<'a> {
    type Item = &'a [u8];

    fn next(&mut self) -> Option<&'a [u8]> {
        if self.rest.is_empty() {
            return None;
        }
        let mut end = self.cap.min(self.rest.len());
        if end < self.rest.len() {
            let splits_pair = match self.alphabet {
                // The encoder emits ESC only as the first half of a pair.
                Alphabet::Gsm7 => self.rest.get(end - 1) == Some(&ESC),
                Alphabet::Ucs2 => match self.rest.get(end.saturating_sub(2)..end) {
                    Some(&[hi, lo]) => ucs2::is_high_surrogate(u16::from_be_bytes([hi, lo])),
                    _ => false,
                },
                Alphabet::Latin1 | Alphabet::Binary => false,
            };
            let back = self.alphabet.unit_octets();
            if splits_pair && end > back {
                end -= back;
            }
        }
        let (part, rest) = self.rest.split_at(end);
        self.rest = rest;
        Some(part)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gsm(text: &str, concat: Concat) -> Vec<Part> {
        split(text, Alphabet::Gsm7, &SplitOptions::new(concat, 0x1234)).unwrap()
    }

    #[test]
    fn short_text_is_one_part_without_header() {
        let parts = gsm("hello", Concat::Udh8);
        assert_eq!(parts.len(), 1);
        assert_eq!(
            (parts[0].udh.clone(), parts[0].seq, parts[0].total),
            (None, 1, 1)
        );
        assert_eq!(parts[0].payload, gsm7::encode("hello").unwrap());
    }

    #[test]
    fn empty_text_is_one_empty_part() {
        let parts = gsm("", Concat::Udh8);
        assert_eq!((parts.len(), parts[0].payload.len()), (1, 0));
        assert_eq!(count_parts("", Alphabet::Gsm7, Concat::Udh8), Ok(1));
    }

    #[test]
    fn udh8_parts_carry_the_low_reference_octet() {
        let parts = gsm(&"x".repeat(161), Concat::Udh8);
        assert_eq!(parts.len(), 2);
        assert_eq!(
            parts[0].udh.as_deref(),
            Some(&[0x05, 0x00, 0x03, 0x34, 0x02, 0x01][..])
        );
        assert_eq!(
            parts[1].udh.as_deref(),
            Some(&[0x05, 0x00, 0x03, 0x34, 0x02, 0x02][..])
        );
        assert_eq!(parts[0].reference, 0x34);
        assert_eq!((parts[0].payload.len(), parts[1].payload.len()), (153, 8));
    }

    #[test]
    fn udh16_parts_carry_the_full_reference() {
        let parts = gsm(&"x".repeat(161), Concat::Udh16);
        assert_eq!(
            parts[1].udh.as_deref(),
            Some(&[0x06, 0x08, 0x04, 0x12, 0x34, 0x02, 0x02][..])
        );
        assert_eq!(parts[0].payload.len(), 152);
    }

    #[test]
    fn sar_parts_have_no_udh_and_full_capacity() {
        let parts = gsm(&"x".repeat(321), Concat::Sar);
        assert_eq!(parts.len(), 3);
        assert!(parts
            .iter()
            .all(|p| p.udh.is_none() && p.reference == 0x1234));
        assert_eq!(parts[0].payload.len(), 160);
    }

    #[test]
    fn an_escape_pair_is_never_cut() {
        let text = format!("{}€{}", "x".repeat(152), "y".repeat(10));
        let parts = gsm(&text, Concat::Udh8);
        assert_eq!(parts[0].payload.len(), 152);
        assert_eq!(parts[1].payload[..2], [ESC, 0x65]);
    }

    #[test]
    fn a_surrogate_pair_is_never_cut() {
        let text = format!("{}😀{}", "x".repeat(66), "y".repeat(10));
        let parts = split(&text, Alphabet::Ucs2, &SplitOptions::new(Concat::Udh8, 1)).unwrap();
        assert_eq!(parts.len(), 2);
        assert_eq!(parts[0].payload.len(), 132);
        assert_eq!(
            ucs2::decode(&parts[1].payload).unwrap(),
            format!("😀{}", "y".repeat(10))
        );
    }

    #[test]
    fn packed_parts_fill_at_most_140_octets() {
        let parts = gsm(&"x".repeat(400), Concat::Udh8);
        let packed = parts[0].packed_user_data();
        assert_eq!(packed.len(), 140);
        assert_eq!(parts[0].user_data_length(), 160);
        assert_eq!(parts[0].fill_bits().get(), 1);
        let (udh, rest) = crate::udh::split_user_data(&packed).unwrap();
        let septets = gsm7::unpack(rest, FillBits::after_udh(udh.len()), 153).unwrap();
        assert_eq!(septets, parts[0].payload);
    }

    #[test]
    fn too_many_parts_is_refused() {
        let options = SplitOptions {
            max_parts: 2,
            ..SplitOptions::new(Concat::Udh8, 0)
        };
        assert_eq!(
            split(&"x".repeat(307), Alphabet::Gsm7, &options),
            Err(SplitError::TooManyParts { needed: 3, max: 2 })
        );
        let huge = vec![0u8; 134 * 256];
        assert_eq!(
            split_binary(&huge, &SplitOptions::new(Concat::Udh8, 0)),
            Err(SplitError::TooManyParts {
                needed: 256,
                max: 255
            })
        );
    }

    #[test]
    fn payload_is_one_part_up_to_its_limit() {
        let options = SplitOptions::new(Concat::Payload { max_octets: 400 }, 7);
        let parts = split(&"x".repeat(400), Alphabet::Gsm7, &options).unwrap();
        assert_eq!((parts.len(), parts[0].udh.is_none()), (1, true));
        assert_eq!(
            split(&"x".repeat(201), Alphabet::Ucs2, &options),
            Err(SplitError::PayloadTooLong {
                octets: 402,
                max: 400
            })
        );
        assert_eq!(
            count_parts(&"x".repeat(201), Alphabet::Ucs2, options.concat),
            Err(SplitError::PayloadTooLong {
                octets: 402,
                max: 400
            })
        );
    }

    #[test]
    fn unencodable_text_is_refused_by_split_and_count() {
        let err = SplitError::Encode(EncodeError {
            alphabet: Alphabet::Gsm7,
            ch: '😀',
            offset: 1,
        });
        assert_eq!(
            split("a😀", Alphabet::Gsm7, &SplitOptions::new(Concat::Sar, 0)),
            Err(err.clone())
        );
        assert_eq!(count_parts("a😀", Alphabet::Gsm7, Concat::Sar), Err(err));
    }
}
