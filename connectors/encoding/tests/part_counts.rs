//! Part counts as operators bill them, for each alphabet and concat method.

use tern_encoding::gsm7::ESC;
use tern_encoding::{count_parts, split, split_binary, Alphabet, Concat, SplitOptions};

fn parts(text: &str, alphabet: Alphabet, concat: Concat) -> usize {
    let counted = count_parts(text, alphabet, concat).expect("countable");
    let made = split(text, alphabet, &SplitOptions::new(concat, 1))
        .expect("splittable")
        .len();
    assert_eq!(counted, made, "count_parts disagrees with split");
    made
}

fn x(n: usize) -> String {
    "x".repeat(n)
}

#[test]
fn gsm7_with_8_bit_reference_udh_bills_160_then_153() {
    let table = [
        (0, 1),
        (1, 1),
        (160, 1),
        (161, 2),
        (306, 2),
        (307, 3),
        (459, 3),
        (460, 4),
    ];
    for (len, expected) in table {
        assert_eq!(
            parts(&x(len), Alphabet::Gsm7, Concat::Udh8),
            expected,
            "{len} chars"
        );
    }
}

#[test]
fn gsm7_with_16_bit_reference_udh_bills_152_a_part() {
    let table = [(160, 1), (161, 2), (304, 2), (305, 3)];
    for (len, expected) in table {
        assert_eq!(
            parts(&x(len), Alphabet::Gsm7, Concat::Udh16),
            expected,
            "{len} chars"
        );
    }
}

#[test]
fn gsm7_with_sar_keeps_160_a_part() {
    let table = [(160, 1), (161, 2), (320, 2), (321, 3)];
    for (len, expected) in table {
        assert_eq!(
            parts(&x(len), Alphabet::Gsm7, Concat::Sar),
            expected,
            "{len} chars"
        );
    }
}

#[test]
fn extension_chars_count_two_septets() {
    assert_eq!(parts(&"€".repeat(80), Alphabet::Gsm7, Concat::Udh8), 1);
    assert_eq!(parts(&"€".repeat(81), Alphabet::Gsm7, Concat::Udh8), 2);
    assert_eq!(
        parts(&format!("{}{{", x(158)), Alphabet::Gsm7, Concat::Udh8),
        1
    );
    assert_eq!(
        parts(&format!("{}{{", x(159)), Alphabet::Gsm7, Concat::Udh8),
        2
    );
}

#[test]
fn a_euro_on_the_part_boundary_moves_to_the_next_part() {
    let text = format!("{}€{}", x(152), x(10));
    let made = split(&text, Alphabet::Gsm7, &SplitOptions::new(Concat::Udh8, 1)).unwrap();
    assert_eq!(made[0].payload.len(), 152);
    assert_eq!(made[1].payload[..2], [ESC, 0x65]);
    // 306 septets, yet 3 parts: the moved escape leaves 154 for the second.
    assert_eq!(
        parts(
            &format!("{}€{}", x(152), x(152)),
            Alphabet::Gsm7,
            Concat::Udh8
        ),
        3
    );
    assert_eq!(
        parts(
            &format!("{}€{}", x(151), x(153)),
            Alphabet::Gsm7,
            Concat::Udh8
        ),
        2
    );
}

#[test]
fn ucs2_bills_70_then_67_code_units() {
    let table = [(70, 1), (71, 2), (134, 2), (135, 3)];
    for (len, expected) in table {
        assert_eq!(
            parts(&"ж".repeat(len), Alphabet::Ucs2, Concat::Udh8),
            expected,
            "{len} chars"
        );
    }
    let udh16 = [(70, 1), (71, 2), (132, 2), (133, 3)];
    for (len, expected) in udh16 {
        assert_eq!(
            parts(&"ж".repeat(len), Alphabet::Ucs2, Concat::Udh16),
            expected,
            "{len} chars"
        );
    }
    assert_eq!(parts(&"ж".repeat(140), Alphabet::Ucs2, Concat::Sar), 2);
    assert_eq!(parts(&"ж".repeat(141), Alphabet::Ucs2, Concat::Sar), 3);
}

#[test]
fn an_emoji_counts_two_code_units() {
    assert_eq!(parts(&"😀".repeat(35), Alphabet::Ucs2, Concat::Udh8), 1);
    assert_eq!(parts(&"😀".repeat(36), Alphabet::Ucs2, Concat::Udh8), 2);
    // 66 units then a pair that would straddle the 67-unit cut.
    let text = format!("{}😀{}", "ж".repeat(66), "ж".repeat(66));
    assert_eq!(parts(&text, Alphabet::Ucs2, Concat::Udh8), 3);
}

#[test]
fn latin1_and_binary_bill_140_then_134() {
    let table = [(140, 1), (141, 2), (268, 2), (269, 3)];
    for (len, expected) in table {
        assert_eq!(
            parts(&"é".repeat(len), Alphabet::Latin1, Concat::Udh8),
            expected,
            "{len} chars"
        );
        let data = vec![0xA5; len];
        assert_eq!(
            split_binary(&data, &SplitOptions::new(Concat::Udh8, 1))
                .unwrap()
                .len(),
            expected
        );
    }
    assert_eq!(parts(&"é".repeat(266), Alphabet::Latin1, Concat::Udh16), 2);
    assert_eq!(parts(&"é".repeat(267), Alphabet::Latin1, Concat::Udh16), 3);
}

#[test]
fn message_payload_is_always_one_part() {
    let concat = Concat::Payload { max_octets: 2000 };
    assert_eq!(parts(&x(1000), Alphabet::Gsm7, concat), 1);
    assert_eq!(parts(&"ж".repeat(1000), Alphabet::Ucs2, concat), 1);
}
