//! MsgID layout, conversions and the generator's uniqueness.

use super::*;
use proptest::prelude::*;
use std::collections::HashSet;
use std::sync::Arc;

// 2024-03-01 12:00:00 +08:00.
const NOON: i64 = 1_709_265_600;

fn fields() -> MsgIdFields {
    MsgIdFields {
        gateway: 123_456,
        month: 12,
        day: 31,
        hour: 23,
        minute: 59,
        sequence: 7_890,
    }
}

#[test]
fn layout_is_twenty_bcd_digits() {
    let id = MsgId::from_fields(&fields()).expect("fits");
    assert_eq!(
        id.0,
        [0x12, 0x34, 0x56, 0x12, 0x31, 0x23, 0x59, 0x00, 0x78, 0x90]
    );
    assert_eq!(id.to_text(), "12345612312359007890");
    assert_eq!(id.fields(), Some(fields()));
    assert_eq!("12345612312359007890".parse::<MsgId>(), Ok(id));
    assert!(id.is_plausible());
}

#[test]
fn fields_beyond_their_digits_do_not_make_an_id() {
    for bad in [
        MsgIdFields {
            gateway: 1_000_000,
            ..fields()
        },
        MsgIdFields {
            sequence: 1_000_000,
            ..fields()
        },
        MsgIdFields {
            month: 100,
            ..fields()
        },
    ] {
        assert_eq!(MsgId::from_fields(&bad), None, "{bad:?}");
    }
}

#[test]
fn a_peers_id_with_hex_nibbles_is_kept_as_it_came() {
    let id = MsgId([0xab, 0xcd, 0xef, 0, 0, 0, 0, 0, 0, 0x01]);
    assert_eq!(id.fields(), None);
    assert!(!id.is_plausible());
    assert_eq!(id.to_text(), "abcdef00000000000001");
    assert_eq!(MsgId::parse_text("ABCDEF00000000000001"), Some(id));
    assert_eq!(MsgId::from_u128(id.to_u128()), Some(id));
    assert_eq!(id.to_u64(), None);
}

#[test]
fn text_parsing_is_strict() {
    for bad in [
        "",
        "1234",
        "1234567890123456789",
        "123456789012345678901",
        "1234567890123456789g",
        "+2345678901234567890",
    ] {
        assert_eq!(MsgId::parse_text(bad), None, "{bad:?}");
    }
}

#[test]
fn u64_form_packs_the_fields() {
    let id = MsgId::from_fields(&fields()).expect("fits");
    let packed = id.to_u64().expect("decimal");
    assert_eq!(
        packed,
        12u64 << 56 | 31 << 51 | 23 << 46 | 59 << 40 | 123_456 << 20 | 7_890
    );
    assert_eq!(MsgId::from_u64(packed), Some(id));
    // A month of 16 or more has no room in four bits.
    let odd = MsgId::from_fields(&MsgIdFields {
        month: 16,
        ..fields()
    })
    .expect("fits its digits");
    assert_eq!(odd.to_u64(), None);
    assert_eq!(MsgId::from_u64(1 << 60), None);
    assert_eq!(
        MsgId::from_u64(1_000_000 << 20),
        None,
        "gateway beyond six digits"
    );
}

#[test]
fn ids_carry_china_time_and_the_gateway_code() {
    let generator = MsgIdGenerator::new(77).expect("fits");
    let id = generator.next(NOON + 30).expect("room");
    let f = id.fields().expect("decimal");
    assert_eq!((f.month, f.day, f.hour, f.minute), (3, 1, 12, 0));
    assert_eq!((f.gateway, f.sequence), (77, 0));
    assert_eq!(id.to_text(), "00007703011200000000");
    let second = generator.next(NOON + 59).and_then(|id| id.fields());
    assert_eq!(second.map(|f| f.sequence), Some(1));
    let next_minute = generator.next(NOON + 60).and_then(|id| id.fields());
    assert_eq!(next_minute.map(|f| (f.minute, f.sequence)), Some((1, 0)));
    assert_eq!(id.unix_minute(NOON + 3600), Some(NOON));
}

#[test]
fn a_minute_holds_a_million_ids_then_none() {
    let generator = MsgIdGenerator::new(1).expect("fits");
    let mut seen = HashSet::new();
    for _ in 0..IDS_PER_MINUTE {
        assert!(seen.insert(generator.next(NOON).expect("room")));
    }
    assert_eq!(generator.next(NOON + 59), None);
    // An earlier minute is served from the last one, which is full too.
    assert_eq!(generator.next(NOON - 120), None);
    let next = generator.next(NOON + 60).expect("a new minute");
    assert!(seen.insert(next));
}

#[test]
fn clock_stepping_back_never_repeats_an_id() {
    let generator = MsgIdGenerator::new(1).expect("fits");
    let first = generator.next(NOON).expect("room");
    let back = generator.next(NOON - 3600).expect("room");
    assert_ne!(first, back);
    let (f, b) = (first.fields().expect("f"), back.fields().expect("b"));
    assert_eq!((b.hour, b.minute, b.sequence), (f.hour, f.minute, 1));
}

#[test]
fn resume_skips_the_minutes_already_used() {
    let generator = MsgIdGenerator::resume(1, NOON + 10).expect("fits");
    assert_eq!(generator.next(NOON + 59), None);
    let id = generator.next(NOON + 60).and_then(|id| id.fields());
    assert_eq!(id.map(|f| (f.minute, f.sequence)), Some((1, 0)));
}

#[test]
fn gateway_codes_are_six_digits() {
    assert!(MsgIdGenerator::new(MAX_GATEWAY_CODE).is_some());
    assert!(MsgIdGenerator::new(MAX_GATEWAY_CODE + 1).is_none());
}

#[test]
fn threads_get_distinct_ids() {
    let generator = Arc::new(MsgIdGenerator::new(5).expect("fits"));
    let handles: Vec<_> = (0..4)
        .map(|_| {
            let generator = Arc::clone(&generator);
            std::thread::spawn(move || {
                (0..20_000)
                    .filter_map(|_| generator.next(NOON))
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    let mut all = HashSet::new();
    for handle in handles {
        for id in handle.join().expect("thread") {
            assert!(all.insert(id), "duplicate {id}");
        }
    }
    assert_eq!(all.len(), 80_000);
}

proptest! {
    #[test]
    fn any_octets_round_trip_through_text_and_u128(octets in any::<[u8; 10]>()) {
        let id = MsgId(octets);
        prop_assert_eq!(MsgId::parse_text(&id.to_text()), Some(id));
        prop_assert_eq!(MsgId::from_u128(id.to_u128()), Some(id));
        if let Some(packed) = id.to_u64() {
            prop_assert_eq!(MsgId::from_u64(packed), Some(id));
        }
    }

    #[test]
    fn generated_ids_are_plausible_and_pack(
        unix in 0i64..4_000_000_000,
        gateway in 0..=MAX_GATEWAY_CODE,
    ) {
        let generator = MsgIdGenerator::new(gateway).expect("fits");
        let id = generator.next(unix).expect("room");
        prop_assert!(id.is_plausible());
        prop_assert_eq!(id.fields().map(|f| f.gateway), Some(gateway));
        prop_assert_eq!(id.to_u64().and_then(MsgId::from_u64), Some(id));
        prop_assert_eq!(id.unix_minute(unix), Some(unix - unix % 60));
    }
}
