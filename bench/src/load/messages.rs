//! The messages a load run sends. Every message is unique in (source, destination,
//! content), part by part, so that an SMSC behind a gateway can tell a resubmission from
//! new traffic: the message number is in the text of every part.

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use serde::Serialize;
use tern_encoding::{split, ucs2, Alphabet, Concat, SplitOptions};
use tern_smpp::rusmpp::pdus::SubmitSm;
use tern_smpp::rusmpp::types::OctetString;
use tern_smpp::rusmpp::values::{DataCoding, EsmClass, Npi, RegisteredDelivery, Ton};
use tern_smpp::session::c_octet;
use tern_smpp::Pdu;

/// esm_class with UDHI set (SMPP 3.4 §5.2.12).
const UDHI: u8 = 0x40;
/// GSM 7-bit septets a part of a long message carries beside an 8-bit concatenation UDH.
const PART_SEPTETS: usize = 153;
const FILLER: &str = "The quick brown fox jumps over the lazy dog 0123456789. ";

/// What share of messages is of each kind, by weight.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct MessageMix {
    /// One-part GSM 7-bit texts of `gsm7_len` characters.
    pub gsm7: u32,
    /// GSM 7-bit texts of 2 or 3 parts, with 8-bit concatenation UDH.
    pub long: u32,
    /// One-part UCS-2 texts.
    pub ucs2: u32,
}

impl Default for MessageMix {
    fn default() -> Self {
        Self {
            gsm7: 1,
            long: 0,
            ucs2: 0,
        }
    }
}

impl MessageMix {
    pub fn total(&self) -> u64 {
        u64::from(self.gsm7) + u64::from(self.long) + u64::from(self.ucs2)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Gsm7,
    Long { parts: usize },
    Ucs2,
}

/// How the messages of a run are addressed and what they ask for.
#[derive(Debug, Clone)]
pub(crate) struct Shape {
    pub mix: MessageMix,
    pub gsm7_len: usize,
    pub source: String,
    pub destination_prefix: String,
    pub registered_delivery: bool,
    pub seed: u64,
}

impl Shape {
    /// Message `n`'s kind: a function of the seed and `n` alone, so a run is reproducible
    /// whatever bind sends which message.
    pub(crate) fn kind(&self, n: u64) -> Kind {
        let mut rng = SmallRng::seed_from_u64(self.seed ^ n.wrapping_mul(0xA24B_AED4_963E_E407));
        let mut pick = rng.gen_range(0..self.mix.total().max(1));
        if pick < u64::from(self.mix.gsm7) {
            return Kind::Gsm7;
        }
        pick -= u64::from(self.mix.gsm7);
        if pick < u64::from(self.mix.long) {
            return Kind::Long {
                parts: 2 + (n % 2) as usize,
            };
        }
        Kind::Ucs2
    }

    /// Message `n`'s kind and text: a one-part GSM 7-bit text of `gsm7_len` characters at
    /// most `one_part`, and long texts whose parts but the last carry `part_chars`
    /// characters (SMPP: 160 and 153; a protocol with smaller parts passes its own).
    pub(crate) fn text(&self, n: u64, one_part: usize, part_chars: usize) -> (Kind, String) {
        let kind = self.kind(n);
        let text = match kind {
            Kind::Gsm7 => padded(&format!("Tern bench {n:012} "), self.gsm7_len.min(one_part)),
            Kind::Long { parts } => {
                // Each part's text starts with the message number: parts stay unique.
                let mut text = String::new();
                for part in 1..=parts {
                    let len = if part == parts { 100 } else { part_chars };
                    text.push_str(&padded(&format!("Tern bench {n:012} part {part} "), len));
                }
                text
            }
            Kind::Ucs2 => format!("Tern bench {n:012} Привет, мир! ✓ 你好"),
        };
        (kind, text)
    }

    /// Message `n`'s destination: the prefix and 7 digits of `n`.
    pub(crate) fn destination(&self, n: u64) -> String {
        format!("{}{:07}", self.destination_prefix, n % 10_000_000)
    }

    /// The submit_sm PDUs of message `n`: one, or one per part.
    pub(crate) fn submits(&self, n: u64) -> Vec<Pdu> {
        let (kind, text) = self.text(n, self.gsm7_len, PART_SEPTETS);
        let (data_coding, esm_class, bodies) = match kind {
            Kind::Gsm7 => (0, 0, vec![gsm7_octets(&text)]),
            Kind::Long { .. } => {
                let options = SplitOptions::new(Concat::Udh8, n as u16);
                let bodies = split(&text, Alphabet::Gsm7, &options)
                    .map(|parts| parts.iter().map(|p| p.user_data()).collect())
                    .unwrap_or_default();
                (0, UDHI, bodies)
            }
            Kind::Ucs2 => (8, 0, vec![ucs2::encode(&text)]),
        };
        let (source_ton, source_npi) = if self.source.bytes().all(|b| b.is_ascii_digit()) {
            (Ton::International, Npi::Isdn)
        } else {
            (Ton::Alphanumeric, Npi::Unknown)
        };
        let destination = self.destination(n);
        bodies
            .into_iter()
            .map(|body| {
                let submit = SubmitSm::builder()
                    .source_addr_ton(source_ton)
                    .source_addr_npi(source_npi)
                    .source_addr(c_octet(&self.source))
                    .dest_addr_ton(Ton::International)
                    .dest_addr_npi(Npi::Isdn)
                    .destination_addr(c_octet(&destination))
                    .esm_class(EsmClass::from(esm_class))
                    .registered_delivery(RegisteredDelivery::from(u8::from(
                        self.registered_delivery,
                    )))
                    .data_coding(DataCoding::from(data_coding))
                    // At most 160 octets by construction.
                    .short_message(OctetString::from_vec(body).unwrap_or_default())
                    .build();
                Pdu::from(submit)
            })
            .collect()
    }
}

/// `head` followed by filler, `len` characters in all.
fn padded(head: &str, len: usize) -> String {
    head.chars()
        .chain(FILLER.chars().cycle())
        .take(len)
        .collect()
}

fn gsm7_octets(text: &str) -> Vec<u8> {
    // The texts here use the basic GSM 7-bit alphabet only.
    tern_encoding::gsm7::encode(text).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shape(mix: MessageMix) -> Shape {
        Shape {
            mix,
            gsm7_len: 160,
            source: "TernBench".into(),
            destination_prefix: "4917".into(),
            registered_delivery: true,
            seed: 7,
        }
    }

    fn parts(pdus: &[Pdu]) -> Vec<&SubmitSm> {
        pdus.iter()
            .map(|p| match p {
                Pdu::SubmitSm(s) => s,
                other => panic!("not a submit: {other:?}"),
            })
            .collect()
    }

    #[test]
    fn short_gsm7_is_one_full_part() {
        let pdus = shape(MessageMix::default()).submits(42);
        let submits = parts(&pdus);
        assert_eq!(submits.len(), 1);
        assert_eq!(submits[0].short_message().len(), 160);
        assert_eq!(u8::from(submits[0].registered_delivery), 1);
        assert_eq!(submits[0].destination_addr.as_str(), "49170000042");
    }

    #[test]
    fn long_messages_have_two_or_three_parts_each_unique() {
        let shape = shape(MessageMix {
            gsm7: 0,
            long: 1,
            ucs2: 0,
        });
        for (n, expected) in [(10u64, 2usize), (11, 3)] {
            let pdus = shape.submits(n);
            let submits = parts(&pdus);
            assert_eq!(submits.len(), expected);
            for submit in submits {
                assert_eq!(u8::from(submit.esm_class), UDHI);
                let body = &submit.short_message().as_ref()[6..];
                let text = tern_encoding::gsm7::decode(body);
                assert!(text.contains(&format!("{n:012}")), "{text}");
            }
        }
    }

    #[test]
    fn ucs2_fits_one_part() {
        let pdus = shape(MessageMix {
            gsm7: 0,
            long: 0,
            ucs2: 1,
        })
        .submits(5);
        let submits = parts(&pdus);
        assert_eq!(u8::from(submits[0].data_coding), 8);
        assert!(submits[0].short_message().len() <= 140);
    }
}
