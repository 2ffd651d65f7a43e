//! Round trips and splitting invariants over generated input.

use proptest::prelude::*;
use tern_encoding::gsm7::{self, FillBits, ESC};
use tern_encoding::reassembly::{Fragment, Reassembler, ReassemblyLimits, Status};
use tern_encoding::{
    count_parts, latin1, parse_concat_udh, split, split_user_data, transliterate, ucs2, Alphabet,
    Concat, Part, SplitError, SplitOptions,
};

/// Every char GSM 7-bit encodes, extension chars included.
fn gsm_chars() -> Vec<char> {
    let all: String = (0u8..128)
        .filter(|&s| s != ESC)
        .map(|s| gsm7::decode(&[s]))
        .collect::<String>()
        + "\u{0C}^{}\\[~]|€";
    all.chars().collect()
}

fn gsm_text() -> impl Strategy<Value = String> {
    prop::collection::vec(prop::sample::select(gsm_chars()), 0..400).prop_map(String::from_iter)
}

fn latin1_text() -> impl Strategy<Value = String> {
    prop::collection::vec((0u8..=255).prop_map(char::from), 0..400).prop_map(String::from_iter)
}

fn any_text() -> impl Strategy<Value = String> {
    let char = prop_oneof![
        any::<char>(),
        // Astral chars are rare in any::<char>() but are what break naive splitting.
        (0x1F300u32..0x1FAFF).prop_filter_map("valid", char::from_u32),
        Just('x'),
    ];
    prop::collection::vec(char, 0..300).prop_map(String::from_iter)
}

fn text_for(alphabet: Alphabet) -> BoxedStrategy<String> {
    match alphabet {
        Alphabet::Gsm7 => gsm_text().boxed(),
        Alphabet::Latin1 => latin1_text().boxed(),
        Alphabet::Ucs2 | Alphabet::Binary => any_text().boxed(),
    }
}

fn alphabet() -> impl Strategy<Value = Alphabet> {
    prop::sample::select(vec![
        Alphabet::Gsm7,
        Alphabet::Latin1,
        Alphabet::Ucs2,
        Alphabet::Binary,
    ])
}

fn concat() -> impl Strategy<Value = Concat> {
    prop_oneof![
        Just(Concat::Udh8),
        Just(Concat::Udh16),
        Just(Concat::Sar),
        (0u16..1200).prop_map(|max_octets| Concat::Payload { max_octets }),
    ]
}

fn case() -> impl Strategy<Value = (Alphabet, String, Concat, u16, Vec<u32>)> {
    alphabet().prop_flat_map(|a| {
        (
            Just(a),
            text_for(a),
            concat(),
            any::<u16>(),
            prop::collection::vec(any::<u32>(), 256),
        )
    })
}

/// Units a part's payload takes in its alphabet.
fn units(part: &Part) -> usize {
    part.payload.len() / part.alphabet.unit_octets()
}

/// Feeds parts, in the order `shuffle` gives, through the UDH parser (when
/// they carry a UDH) and the reassembler, returning the completed message.
fn reassemble(parts: &[Part], shuffle: &[u32]) -> Vec<u8> {
    let mut order: Vec<usize> = (0..parts.len()).collect();
    order.sort_by_key(|&i| shuffle[i]);
    let mut r: Reassembler<(), u64> = Reassembler::new(ReassemblyLimits::default());
    let mut done = None;
    for i in order {
        let part = &parts[i];
        let fragment = match &part.udh {
            Some(udh) => {
                let info = parse_concat_udh(udh)
                    .expect("valid UDH")
                    .expect("concat IE");
                Fragment::new(info, &part.payload)
            }
            None => Fragment {
                reference: part.reference,
                total: part.total,
                seq: part.seq,
                data: &part.payload,
            },
        };
        match r.push((), fragment, 0).expect("part accepted").status {
            Status::Complete(message) => done = Some(message),
            Status::Pending { .. } => assert!(done.is_none()),
            Status::Duplicate => panic!("split made a duplicate part"),
        }
    }
    assert!(r.is_empty());
    done.expect("message completed")
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn gsm7_round_trips(text in gsm_text()) {
        let septets = gsm7::encode(&text).unwrap();
        prop_assert_eq!(Some(septets.len()), gsm7::septet_len(&text));
        prop_assert_eq!(gsm7::decode(&septets), text);
    }

    #[test]
    fn ucs2_round_trips(text in any_text()) {
        let octets = ucs2::encode(&text);
        prop_assert_eq!(octets.len(), 2 * ucs2::code_units(&text));
        prop_assert_eq!(ucs2::decode(&octets).unwrap(), text);
    }

    #[test]
    fn latin1_round_trips(text in latin1_text()) {
        prop_assert_eq!(latin1::decode(&latin1::encode(&text).unwrap()), text);
    }

    #[test]
    fn pack_unpack_round_trips(septets in prop::collection::vec(0u8..0x80, 0..400), fill in 0u8..7) {
        let fill = FillBits::new(fill).unwrap();
        let packed = gsm7::pack(&septets, fill);
        prop_assert_eq!(packed.len(), gsm7::packed_len(septets.len(), fill));
        prop_assert_eq!(gsm7::unpack(&packed, fill, septets.len()).unwrap(), septets);
    }

    #[test]
    fn decoders_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..300), count in any::<usize>(), fill in 0u8..7) {
        let _ = gsm7::decode(&bytes);
        let _ = ucs2::decode(&bytes);
        let _ = latin1::decode(&bytes);
        let _ = parse_concat_udh(&bytes);
        let _ = split_user_data(&bytes);
        let fill = FillBits::new(fill).unwrap();
        let _ = gsm7::unpack(&bytes, fill, count % 400);
        prop_assert!(gsm7::unpack(&bytes, fill, count).is_err() || count <= bytes.len() * 8 / 7);
    }

    #[test]
    fn transliteration_always_yields_gsm(text in any_text()) {
        let out = transliterate(&text, Alphabet::Gsm7);
        prop_assert!(gsm7::is_representable(&out));
        prop_assert_eq!(matches!(out, std::borrow::Cow::Borrowed(_)), gsm7::is_representable(&text));
        let latin = transliterate(&text, Alphabet::Latin1);
        prop_assert!(latin1::is_representable(&latin));
    }

    #[test]
    fn split_then_reassemble_returns_the_text((alphabet, text, concat, reference, shuffle) in case()) {
        let options = SplitOptions::new(concat, reference);
        let counted = count_parts(&text, alphabet, concat);
        let parts = match split(&text, alphabet, &options) {
            Err(e @ SplitError::PayloadTooLong { .. }) => {
                prop_assert_eq!(counted, Err(e));
                return Ok(());
            }
            result => result.unwrap(),
        };
        prop_assert_eq!(counted, Ok(parts.len()));
        let message = reassemble(&parts, &shuffle);
        let decoded = match alphabet {
            Alphabet::Binary => String::from_utf8(message).unwrap(),
            _ => alphabet.decode(&message).unwrap(),
        };
        prop_assert_eq!(decoded, text);
    }

    #[test]
    fn parts_respect_capacity_and_pair_boundaries((alphabet, text, concat, reference, _s) in case()) {
        let Ok(parts) = split(&text, alphabet, &SplitOptions::new(concat, reference)) else {
            return Ok(());
        };
        let total = parts.len();
        for (i, part) in parts.iter().enumerate() {
            prop_assert_eq!((usize::from(part.seq), usize::from(part.total)), (i + 1, total));
            let cap = match concat {
                Concat::Payload { .. } => alphabet.part_capacity(concat),
                _ if total == 1 => alphabet.single_part_capacity(),
                _ => alphabet.part_capacity(concat),
            };
            prop_assert!(units(part) <= cap, "part {} has {} units, cap {}", part.seq, units(part), cap);
            prop_assert_eq!(part.udh.is_some(), total > 1 && matches!(concat, Concat::Udh8 | Concat::Udh16));
            if !matches!(concat, Concat::Payload { .. }) {
                prop_assert!(part.packed_user_data().len() <= 140);
            }
            match alphabet {
                Alphabet::Gsm7 => {
                    prop_assert_ne!(part.payload.last(), Some(&ESC));
                    let packed = part.packed_user_data();
                    let body = match &part.udh {
                        Some(_) => split_user_data(&packed).unwrap().1,
                        None => &packed[..],
                    };
                    let septets = gsm7::unpack(body, part.fill_bits(), part.payload.len()).unwrap();
                    prop_assert_eq!(&septets, &part.payload);
                }
                Alphabet::Ucs2 => {
                    let first = part.payload.get(..2).map(|u| u16::from_be_bytes([u[0], u[1]]));
                    prop_assert!(!first.is_some_and(ucs2::is_low_surrogate));
                    prop_assert!(ucs2::decode(&part.payload).is_ok());
                }
                Alphabet::Latin1 | Alphabet::Binary => {}
            }
        }
    }
}
