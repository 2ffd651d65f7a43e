//! Msg_Id: 64 bits of month, day, hour, minute, second, gateway code and sequence.
//!
//! The layout the specification gives (most significant first): month 4 bits, day 5,
//! hour 5, minute 6, second 6, gateway (ISMG) code 22, sequence 16. The time is UTC+8 like
//! every CMPP time (see [`crate::time`]). The gateway assigns the id of a SUBMIT in its
//! SUBMIT_RESP and repeats it in the status report, so ids must not repeat while a report
//! can still come back.
//!
//! Uniqueness: within one generator, at most 65,536 ids per second, never reused — when a
//! second's sequence space is used up, [`MsgIdGenerator::next`] says so and the caller waits
//! for the next second or throttles. Across nodes, each node must have its own gateway code:
//! the node maps its node id to a code (22 bits), and two generators with the same code can
//! collide. Across a restart, a generator starts empty: seed it with
//! [`MsgIdGenerator::resume`] and the last second it may have used, or make sure a restart
//! takes longer than a second. The fields have no year, so an id comes back after a year at
//! the earliest, long after any report.

use std::fmt;
use std::str::FromStr;

use tern_cn::msgid::{Generator, Layout};

use crate::time::Civil;

/// The largest gateway code: 22 bits.
pub const MAX_GATEWAY_CODE: u32 = (1 << 22) - 1;

/// Ids one generator can hand out per second.
pub const IDS_PER_SECOND: u32 = 1 << 16;

/// A Msg_Id's fields. Built by [`MsgIdGenerator`] or read from any u64 with
/// [`MsgId::from_u64`] (peers' ids are not checked for plausible dates).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct MsgId {
    pub month: u8,
    pub day: u8,
    pub hour: u8,
    pub minute: u8,
    pub second: u8,
    /// 22 bits.
    pub gateway: u32,
    pub sequence: u16,
}

impl MsgId {
    /// Packs the fields; each is cut to its width (4, 5, 5, 6, 6, 22 and 16 bits).
    pub fn to_u64(&self) -> u64 {
        let field = |value: u64, bits: u32| value & ((1 << bits) - 1);
        field(u64::from(self.month), 4) << 60
            | field(u64::from(self.day), 5) << 55
            | field(u64::from(self.hour), 5) << 50
            | field(u64::from(self.minute), 6) << 44
            | field(u64::from(self.second), 6) << 38
            | field(u64::from(self.gateway), 22) << 16
            | u64::from(self.sequence)
    }

    /// Unpacks any u64; `from_u64(x).to_u64() == x` for every x.
    pub fn from_u64(value: u64) -> MsgId {
        // Each mask keeps the value within its target type.
        let bits = |shift: u32, width: u32| (value >> shift) & ((1 << width) - 1);
        let small = |shift, width| u8::try_from(bits(shift, width)).unwrap_or(0);
        MsgId {
            month: small(60, 4),
            day: small(55, 5),
            hour: small(50, 5),
            minute: small(44, 6),
            second: small(38, 6),
            gateway: u32::try_from(bits(16, 22)).unwrap_or(0),
            sequence: u16::try_from(bits(0, 16)).unwrap_or(0),
        }
    }

    /// Whether the time fields name a real month, day and time of day.
    pub fn is_plausible(&self) -> bool {
        (1..=12).contains(&self.month)
            && (1..=31).contains(&self.day)
            && self.hour < 24
            && self.minute < 60
            && self.second < 60
    }

    /// The second the id was given, read as the latest such time no later than a day after
    /// `now_unix` (the fields have no year); `None` for fields that name no time.
    pub fn unix_second(&self, now_unix: i64) -> Option<i64> {
        Civil {
            year: 0,
            month: u32::from(self.month),
            day: u32::from(self.day),
            hour: u32::from(self.hour),
            minute: u32::from(self.minute),
            second: u32::from(self.second),
        }
        .latest_unix_by(now_unix)
    }

    /// The id as receipts and logs show it: the u64 in decimal (up to 20 digits).
    pub fn to_decimal_string(&self) -> String {
        self.to_u64().to_string()
    }

    /// Reads [`MsgId::to_decimal_string`]'s form: 1 to 20 ASCII digits that fit a u64.
    pub fn parse_decimal(text: &str) -> Option<MsgId> {
        if text.is_empty() || text.len() > 20 || !text.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        text.parse::<u64>().ok().map(MsgId::from_u64)
    }
}

impl fmt::Display for MsgId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.to_u64())
    }
}

/// Not a decimal Msg_Id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("not a decimal Msg_Id")]
pub struct ParseMsgIdError;

impl FromStr for MsgId {
    type Err = ParseMsgIdError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        MsgId::parse_decimal(text).ok_or(ParseMsgIdError)
    }
}

/// Hands out Msg_Ids for one gateway code, from any thread, at most 65,536 a second.
pub type MsgIdGenerator = Generator<MsgId>;

impl Layout for MsgId {
    const MAX_GATEWAY_CODE: u32 = MAX_GATEWAY_CODE;
    const PERIOD_SECS: u32 = 1;
    const PER_PERIOD: u32 = IDS_PER_SECOND;

    fn id(gateway: u32, at: Civil, sequence: u32) -> Option<MsgId> {
        // Civil fields are within their calendar ranges.
        let small = |v: u32| u8::try_from(v).ok();
        Some(MsgId {
            month: small(at.month)?,
            day: small(at.day)?,
            hour: small(at.hour)?,
            minute: small(at.minute)?,
            second: small(at.second)?,
            gateway,
            sequence: u16::try_from(sequence).ok()?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    // 2024-03-01 12:00:00 +08:00.
    const NOON: i64 = 1_709_265_600;

    #[test]
    fn layout_matches_the_specification() {
        let id = MsgId {
            month: 12,
            day: 31,
            hour: 23,
            minute: 59,
            second: 58,
            gateway: 0x2a_aaaa,
            sequence: 0xbeef,
        };
        let expected =
            12u64 << 60 | 31 << 55 | 23 << 50 | 59 << 44 | 58 << 38 | 0x2a_aaaa << 16 | 0xbeef;
        assert_eq!(id.to_u64(), expected);
        assert_eq!(MsgId::from_u64(expected), id);
        assert_eq!(id.to_decimal_string().parse::<MsgId>(), Ok(id));
    }

    #[test]
    fn ids_carry_china_time_and_the_gateway_code() {
        let generator = MsgIdGenerator::new(77).expect("fits");
        let id = generator.next(NOON).expect("room");
        assert_eq!(
            (id.month, id.day, id.hour, id.minute, id.second),
            (3, 1, 12, 0, 0)
        );
        assert_eq!((id.gateway, id.sequence), (77, 0));
        assert_eq!(generator.next(NOON).map(|id| id.sequence), Some(1));
        assert_eq!(generator.next(NOON + 1).map(|id| id.sequence), Some(0));
    }

    #[test]
    fn an_id_tells_the_second_it_was_given() {
        let generator = MsgIdGenerator::new(77).expect("fits");
        let id = generator.next(NOON).expect("room");
        assert_eq!(id.unix_second(NOON + 30 * 86_400), Some(NOON));
        let nonsense = MsgId { month: 13, ..id };
        assert_eq!(nonsense.unix_second(NOON), None);
    }

    #[test]
    fn resume_skips_the_seconds_already_used() {
        let generator = MsgIdGenerator::resume(1, NOON).expect("fits");
        assert_eq!(generator.next(NOON), None);
        assert_eq!(generator.next(NOON + 1).map(|id| id.second), Some(1));
    }

    #[test]
    fn gateway_codes_are_22_bits() {
        assert!(MsgIdGenerator::new(MAX_GATEWAY_CODE).is_some());
        assert!(MsgIdGenerator::new(MAX_GATEWAY_CODE + 1).is_none());
    }

    #[test]
    fn decimal_parsing_is_strict() {
        for bad in ["", "-1", "+1", "1 ", "18446744073709551616", "0x10", "٣"] {
            assert_eq!(MsgId::parse_decimal(bad), None, "{bad:?}");
        }
        assert_eq!(
            MsgId::parse_decimal("18446744073709551615").map(|id| id.to_u64()),
            Some(u64::MAX)
        );
    }

    proptest! {
        #[test]
        fn any_u64_round_trips(value in any::<u64>()) {
            let id = MsgId::from_u64(value);
            prop_assert_eq!(id.to_u64(), value);
            prop_assert_eq!(MsgId::parse_decimal(&id.to_decimal_string()), Some(id));
        }

        #[test]
        fn generated_ids_are_plausible(unix in 0i64..4_000_000_000, gateway in 0..=MAX_GATEWAY_CODE) {
            let generator = MsgIdGenerator::new(gateway).expect("fits");
            let id = generator.next(unix).expect("room");
            prop_assert!(id.is_plausible());
            prop_assert_eq!(id.gateway, gateway);
        }
    }
}
