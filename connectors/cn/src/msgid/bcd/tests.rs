//! MsgID layout, forms and generator.

use super::*;
use proptest::prelude::*;
use std::collections::HashSet;

// 2024-03-01 12:00:00 +08:00.
const NOON: i64 = 1_709_265_600;

fn fields() -> MsgIdFields {
    MsgIdFields {
        gateway: 123_456,
        month: 12,
        day: 31,
        hour: 23,
        minute: 59,
        sequence: 654_321,
    }
}

#[test]
fn layout_is_bcd_gateway_time_sequence() {
    let id = MsgId::from_fields(&fields()).expect("fits");
    assert_eq!(
        id.0,
        [0x12, 0x34, 0x56, 0x12, 0x31, 0x23, 0x59, 0x65, 0x43, 0x21]
    );
    assert_eq!(id.to_text(), "12345612312359654321");
    assert_eq!(id.fields(), Some(fields()));
    assert_eq!("12345612312359654321".parse::<MsgId>(), Ok(id));
    assert_eq!(id.to_u128(), 0x1234_5612_3123_5965_4321);
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
fn a_peers_id_that_is_not_bcd_is_kept_and_printed_in_hex() {
    let id = MsgId([0xff, 0, 0xab, 1, 2, 3, 4, 5, 6, 0x7f]);
    assert_eq!(id.fields(), None);
    assert!(!id.is_plausible());
    assert_eq!(id.to_u64(), None);
    assert_eq!(id.unix_minute(NOON), None);
    assert_eq!(id.to_text(), "ff00ab0102030405067f");
    assert_eq!(MsgId::parse_text("FF00AB0102030405067F"), Some(id));
    assert_eq!(MsgId::from_u128(id.to_u128()), Some(id));
}

#[test]
fn text_parsing_is_strict() {
    for bad in [
        "",
        "1234",
        "1234561231235965432",
        "123456123123596543210",
        "1234561231235965432g",
        "+2345612312359654321",
    ] {
        assert_eq!(MsgId::parse_text(bad), None, "{bad:?}");
    }
    assert_eq!(MsgId::from_u128(1 << 80), None);
}

#[test]
fn packed_u64_sorts_by_time_and_unpacks() {
    let id = MsgId::parse_text("99999912312359999999").expect("text");
    let packed = id.to_u64().expect("fits");
    assert_eq!(
        packed,
        12 << 56 | 31 << 51 | 23 << 46 | 59 << 40 | 999_999 << 20 | 999_999
    );
    assert_eq!(MsgId::from_u64(packed), Some(id));
    let earlier = MsgId::parse_text("99999912312358999999").expect("text");
    assert!(earlier.to_u64() < Some(packed));
    // Month 16 is BCD but beyond four bits.
    let odd = MsgId::parse_text("00000116010000000000").expect("text");
    assert_eq!(odd.to_u64(), None);
    assert_eq!(MsgId::from_u64(u64::MAX), None);
    assert_eq!(
        MsgId::from_u64(1_000_000 << 20),
        None,
        "gateway of seven digits"
    );
    assert_eq!(MsgId::from_u64(0), Some(MsgId::ZERO));
}

#[test]
fn ids_carry_china_time_and_the_gateway_code() {
    let generator = MsgIdGenerator::new(77).expect("fits");
    let id = generator.next(NOON + 30).expect("room");
    assert_eq!(id.to_text(), "00007703011200000000");
    assert_eq!(
        generator.next(NOON + 59).map(|id| id.to_text()),
        Some("00007703011200000001".into())
    );
    assert_eq!(
        generator.next(NOON + 60).and_then(|id| id.fields()),
        Some(MsgIdFields {
            gateway: 77,
            month: 3,
            day: 1,
            hour: 12,
            minute: 1,
            sequence: 0
        })
    );
    assert_eq!(generator.gateway_code(), 77);
}

#[test]
fn an_id_tells_the_minute_it_was_given() {
    let generator = MsgIdGenerator::new(77).expect("fits");
    let id = generator.next(NOON + 30).expect("room");
    assert_eq!(id.unix_minute(NOON + 30), Some(NOON));
    assert_eq!(id.unix_minute(NOON + 30 * 86_400), Some(NOON));
    let new_year_eve = 1_704_038_340; // 2023-12-31 23:59:00 +08:00
    let late = MsgIdGenerator::new(77)
        .and_then(|g| g.next(new_year_eve))
        .expect("room");
    assert_eq!(late.unix_minute(new_year_eve + 3600), Some(new_year_eve));
}

#[test]
fn a_minute_holds_a_million_ids_then_none() {
    let generator = MsgIdGenerator::new(1).expect("fits");
    let mut seen = HashSet::new();
    for _ in 0..IDS_PER_MINUTE {
        assert!(seen.insert(generator.next(NOON).expect("room")));
    }
    assert_eq!(generator.next(NOON + 59), None);
    let next = generator.next(NOON + 60).expect("a new minute");
    assert_eq!(next.fields().map(|f| (f.minute, f.sequence)), Some((1, 0)));
}

#[test]
fn resume_skips_the_minute_already_used() {
    let generator = MsgIdGenerator::resume(1, NOON + 10).expect("fits");
    assert_eq!(generator.next(NOON + 59), None);
    let id = generator.next(NOON + 60).and_then(|id| id.fields());
    assert_eq!(id.map(|f| (f.minute, f.sequence)), Some((1, 0)));
}

#[test]
fn gateway_codes_are_six_digits() {
    assert!(MsgIdGenerator::new(MAX_GATEWAY_CODE).is_some());
    assert!(MsgIdGenerator::new(MAX_GATEWAY_CODE + 1).is_none());
    assert!(MsgIdGenerator::resume(MAX_GATEWAY_CODE + 1, NOON).is_none());
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
        let fields = id.fields().expect("BCD");
        prop_assert!(fields.is_plausible());
        prop_assert_eq!(fields.gateway, gateway);
        prop_assert_eq!(id.to_u64().and_then(MsgId::from_u64), Some(id));
        prop_assert_eq!(id.unix_minute(unix), Some(unix - unix % 60));
    }
}
