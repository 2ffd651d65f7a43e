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
use std::sync::atomic::{AtomicU64, Ordering};

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
        let year = Civil::from_unix(now_unix).year;
        [year + 1, year, year - 1]
            .into_iter()
            .filter_map(|year| {
                Civil {
                    year,
                    month: u32::from(self.month),
                    day: u32::from(self.day),
                    hour: u32::from(self.hour),
                    minute: u32::from(self.minute),
                    second: u32::from(self.second),
                }
                .to_unix()
            })
            .find(|&at| at <= now_unix.saturating_add(86_400))
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

/// Hands out Msg_Ids for one gateway code, from any thread.
///
/// One atomic word holds the last second used (upper bits) and how many ids it has given
/// (lower 17 bits, 0 to 65,536); a compare-and-swap takes the next one, so the generator is
/// lock-free and an id is never handed out twice. A second earlier than the last one used
/// (a clock step back, or a caller that read the clock before another) is served from the
/// last second instead, so ids stay unique and the id's time runs at most that far ahead.
#[derive(Debug)]
pub struct MsgIdGenerator {
    gateway: u32,
    state: AtomicU64,
}

const COUNT_BITS: u32 = 17;
const COUNT_MASK: u64 = (1 << COUNT_BITS) - 1;

impl MsgIdGenerator {
    /// A generator for `gateway_code`, or `None` when the code does not fit 22 bits.
    pub fn new(gateway_code: u32) -> Option<MsgIdGenerator> {
        (gateway_code <= MAX_GATEWAY_CODE).then(|| MsgIdGenerator {
            gateway: gateway_code,
            state: AtomicU64::new(0),
        })
    }

    /// A generator that treats every second up to and including `last_used_unix_secs` as
    /// used up: after a restart, ids start in the next second.
    pub fn resume(gateway_code: u32, last_used_unix_secs: i64) -> Option<MsgIdGenerator> {
        let generator = MsgIdGenerator::new(gateway_code)?;
        let second = clamp_second(last_used_unix_secs);
        generator.state.store(
            second << COUNT_BITS | u64::from(IDS_PER_SECOND),
            Ordering::Release,
        );
        Some(generator)
    }

    pub fn gateway_code(&self) -> u32 {
        self.gateway
    }

    /// The next id for `unix_secs`, or `None` when this second's 65,536 ids are all given
    /// out (wait for the next second, or throttle).
    pub fn next(&self, unix_secs: i64) -> Option<MsgId> {
        let wanted = clamp_second(unix_secs);
        let mut current = self.state.load(Ordering::Acquire);
        loop {
            let last = current >> COUNT_BITS;
            let used = current & COUNT_MASK;
            let (second, sequence) = if wanted > last {
                (wanted, 0)
            } else if used < u64::from(IDS_PER_SECOND) {
                (last, used)
            } else {
                return None;
            };
            let next = second << COUNT_BITS | (sequence + 1);
            match self.state.compare_exchange_weak(
                current,
                next,
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => return Some(self.id_at(second, sequence)),
                Err(actual) => current = actual,
            }
        }
    }

    fn id_at(&self, second: u64, sequence: u64) -> MsgId {
        let c = Civil::from_unix(i64::try_from(second).unwrap_or(i64::MAX));
        // Civil fields are within their calendar ranges, sequence below 65,536.
        let small = |v: u32| u8::try_from(v).unwrap_or(0);
        MsgId {
            month: small(c.month),
            day: small(c.day),
            hour: small(c.hour),
            minute: small(c.minute),
            second: small(c.second),
            gateway: self.gateway,
            sequence: u16::try_from(sequence).unwrap_or(u16::MAX),
        }
    }
}

/// Seconds as stored in the state word: not before the epoch, and within 47 bits.
fn clamp_second(unix_secs: i64) -> u64 {
    u64::try_from(unix_secs)
        .unwrap_or(0)
        .min((1 << (64 - COUNT_BITS)) - 1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::HashSet;
    use std::sync::Arc;

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
        assert_eq!(id.unix_second(NOON), Some(NOON));
        // Read a month later, and across a new year: still that second.
        assert_eq!(id.unix_second(NOON + 30 * 86_400), Some(NOON));
        let new_year_eve = 1_704_038_399; // 2023-12-31 23:59:59 +08:00
        let late = MsgIdGenerator::new(77)
            .and_then(|g| g.next(new_year_eve))
            .expect("room");
        assert_eq!(late.unix_second(new_year_eve + 3600), Some(new_year_eve));
        // A time a few hours ahead (a peer's clock) is that time, not last year's.
        assert_eq!(id.unix_second(NOON - 3600), Some(NOON));
        let nonsense = MsgId { month: 13, ..id };
        assert_eq!(nonsense.unix_second(NOON), None);
    }

    #[test]
    fn a_second_holds_65536_ids_then_none() {
        let generator = MsgIdGenerator::new(1).expect("fits");
        let mut seen = HashSet::new();
        for _ in 0..IDS_PER_SECOND {
            assert!(seen.insert(generator.next(NOON).expect("room").to_u64()));
        }
        assert_eq!(generator.next(NOON), None);
        // An earlier second is served from the last one, which is full too.
        assert_eq!(generator.next(NOON - 5), None);
        let next = generator.next(NOON + 1).expect("a new second");
        assert!(seen.insert(next.to_u64()));
    }

    #[test]
    fn clock_stepping_back_never_repeats_an_id() {
        let generator = MsgIdGenerator::new(1).expect("fits");
        let first = generator.next(NOON).expect("room");
        let back = generator.next(NOON - 3600).expect("room");
        assert_ne!(first, back);
        assert_eq!((back.second, back.sequence), (first.second, 1));
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
    fn threads_get_distinct_ids() {
        let generator = Arc::new(MsgIdGenerator::new(5).expect("fits"));
        let handles: Vec<_> = (0..4)
            .map(|_| {
                let generator = Arc::clone(&generator);
                std::thread::spawn(move || {
                    (0..20_000)
                        .filter_map(|_| generator.next(NOON))
                        .map(|id| id.to_u64())
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        let mut all = HashSet::new();
        let mut count = 0;
        for handle in handles {
            for id in handle.join().expect("thread") {
                count += 1;
                assert!(all.insert(id), "duplicate {id}");
            }
        }
        assert_eq!(count, IDS_PER_SECOND as usize);
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
