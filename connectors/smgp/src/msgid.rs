//! MsgID: ten octets of BCD, twenty decimal digits: the gateway (SMGW) code in 3 octets,
//! the time MMDDHHMM in 4 and a sequence in 3.
//!
//! The layout follows the SMGP 3.0 specification. The time is UTC+8 like every SMGP time
//! (see [`crate::time`]). The gateway assigns the MsgID of a SUBMIT in its Submit_Resp and
//! repeats it in the status report, so ids must not repeat while a report can still come
//! back. A peer's id is kept as its ten octets whatever they hold ([`MsgId`]); its fields
//! are read only when every nibble is a decimal digit ([`MsgId::fields`]).
//!
//! Uniqueness: within one generator, at most 1,000,000 ids per minute, never reused — the
//! sequence starts again at 0 each minute, and when a minute's sequence space is used up
//! [`MsgIdGenerator::next`] says so and the caller waits for the next minute or throttles.
//! Across nodes, each node must have its own gateway code (six digits): two generators with
//! the same code can collide. Across a restart, a generator starts empty: seed it with
//! [`MsgIdGenerator::resume`] and the last second it may have used. The fields have no
//! year, so an id comes back after a year at the earliest, long after any report.
//!
//! Storage: [`MsgId::to_u128`] is lossless for any ten octets; [`MsgId::to_u64`] packs the
//! fields of a decimal id into 60 bits.

use std::fmt;
use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::time::Civil;

/// The largest gateway code: six decimal digits.
pub const MAX_GATEWAY_CODE: u32 = 999_999;

/// Ids one generator can hand out per minute.
pub const IDS_PER_MINUTE: u32 = 1_000_000;

/// A MsgID as its ten octets on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, PartialOrd, Ord)]
pub struct MsgId(pub [u8; 10]);

/// The fields of a decimal MsgID.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct MsgIdFields {
    /// Six digits.
    pub gateway: u32,
    pub month: u8,
    pub day: u8,
    pub hour: u8,
    pub minute: u8,
    /// Six digits.
    pub sequence: u32,
}

impl MsgId {
    /// The id a Submit_Resp carries when it refuses the SUBMIT.
    pub const ZERO: MsgId = MsgId([0; 10]);

    /// The id of `fields`, or `None` when one does not fit its digits (gateway and
    /// sequence above 999,999, a time field above 99).
    pub fn from_fields(fields: &MsgIdFields) -> Option<MsgId> {
        let small = |v: u8| (v <= 99).then_some(u32::from(v));
        let parts = [
            (fields.gateway, 6),
            (small(fields.month)?, 2),
            (small(fields.day)?, 2),
            (small(fields.hour)?, 2),
            (small(fields.minute)?, 2),
            (fields.sequence, 6),
        ];
        let mut digits = [0u8; 20];
        let mut at = 0;
        for (value, width) in parts {
            if value >= 10u32.pow(width) {
                return None;
            }
            let mut rest = value;
            for i in (0..width as usize).rev() {
                // rest % 10 is a digit.
                *digits.get_mut(at + i)? = (rest % 10) as u8;
                rest /= 10;
            }
            at += width as usize;
        }
        let mut octets = [0u8; 10];
        for (octet, pair) in octets.iter_mut().zip(digits.chunks_exact(2)) {
            *octet = pair.first()? << 4 | pair.get(1)?;
        }
        Some(MsgId(octets))
    }

    /// The fields, or `None` when a nibble is not a decimal digit.
    pub fn fields(&self) -> Option<MsgIdFields> {
        let mut digits = [0u32; 20];
        for (i, octet) in self.0.iter().enumerate() {
            let (hi, lo) = (octet >> 4, octet & 0x0f);
            if hi > 9 || lo > 9 {
                return None;
            }
            *digits.get_mut(2 * i)? = u32::from(hi);
            *digits.get_mut(2 * i + 1)? = u32::from(lo);
        }
        let number = |from: usize, to: usize| {
            digits
                .get(from..to)
                .map_or(0, |d| d.iter().fold(0u32, |n, d| n * 10 + d))
        };
        // Two digits are at most 99.
        let small = |from: usize| u8::try_from(number(from, from + 2)).unwrap_or(u8::MAX);
        Some(MsgIdFields {
            gateway: number(0, 6),
            month: small(6),
            day: small(8),
            hour: small(10),
            minute: small(12),
            sequence: number(14, 20),
        })
    }

    /// Whether the id is decimal and its time names a real month, day and time of day.
    pub fn is_plausible(&self) -> bool {
        self.fields().is_some_and(|f| {
            (1..=12).contains(&f.month) && (1..=31).contains(&f.day) && f.hour < 24 && f.minute < 60
        })
    }

    /// The minute the id was given, read as the latest such time no later than a day after
    /// `now_unix` (the fields have no year); `None` for an id that names no time.
    pub fn unix_minute(&self, now_unix: i64) -> Option<i64> {
        let f = self.fields()?;
        let year = Civil::from_unix(now_unix).year;
        [year + 1, year, year - 1]
            .into_iter()
            .filter_map(|year| {
                Civil {
                    year,
                    month: u32::from(f.month),
                    day: u32::from(f.day),
                    hour: u32::from(f.hour),
                    minute: u32::from(f.minute),
                    second: 0,
                }
                .to_unix()
            })
            .find(|&at| at <= now_unix.saturating_add(86_400))
    }

    /// The id as receipts and logs show it: its twenty nibbles, which are the twenty
    /// decimal digits of a decimal id (a peer's other nibbles as lower-case hex).
    pub fn to_text(&self) -> String {
        self.0.iter().map(|octet| format!("{octet:02x}")).collect()
    }

    /// Reads [`MsgId::to_text`]'s form: exactly twenty hexadecimal digits.
    pub fn parse_text(text: &str) -> Option<MsgId> {
        let bytes = text.as_bytes();
        if bytes.len() != 20 {
            return None;
        }
        let nibble = |b: u8| {
            char::from(b)
                .to_digit(16)
                .and_then(|d| u8::try_from(d).ok())
        };
        let mut octets = [0u8; 10];
        for (octet, pair) in octets.iter_mut().zip(bytes.chunks_exact(2)) {
            *octet = nibble(*pair.first()?)? << 4 | nibble(*pair.get(1)?)?;
        }
        Some(MsgId(octets))
    }

    /// The ten octets as one big-endian integer: lossless for any id.
    pub fn to_u128(&self) -> u128 {
        self.0
            .iter()
            .fold(0u128, |n, &octet| n << 8 | u128::from(octet))
    }

    /// The id of [`MsgId::to_u128`]'s value; `None` above 80 bits.
    pub fn from_u128(value: u128) -> Option<MsgId> {
        if value >> 80 != 0 {
            return None;
        }
        let bytes = value.to_be_bytes();
        let mut octets = [0u8; 10];
        octets.copy_from_slice(bytes.get(6..)?);
        Some(MsgId(octets))
    }

    /// A decimal id's fields packed in 60 bits (high to low: month 4, day 5, hour 5,
    /// minute 6, gateway 20, sequence 20); `None` when the id is not decimal or a time
    /// field is beyond its bits (month 16, day 32, ...).
    pub fn to_u64(&self) -> Option<u64> {
        let f = self.fields()?;
        let fits = f.month < 16 && f.day < 32 && f.hour < 32 && f.minute < 64;
        fits.then(|| {
            u64::from(f.month) << 56
                | u64::from(f.day) << 51
                | u64::from(f.hour) << 46
                | u64::from(f.minute) << 40
                | u64::from(f.gateway) << 20
                | u64::from(f.sequence)
        })
    }

    /// The id of [`MsgId::to_u64`]'s value; `None` when it is not such a value.
    pub fn from_u64(value: u64) -> Option<MsgId> {
        if value >> 60 != 0 {
            return None;
        }
        let bits = |shift: u32, width: u32| (value >> shift) & ((1 << width) - 1);
        let small = |shift, width| u8::try_from(bits(shift, width)).ok();
        MsgId::from_fields(&MsgIdFields {
            month: small(56, 4)?,
            day: small(51, 5)?,
            hour: small(46, 5)?,
            minute: small(40, 6)?,
            gateway: u32::try_from(bits(20, 20)).ok()?,
            sequence: u32::try_from(bits(0, 20)).ok()?,
        })
    }
}

impl fmt::Display for MsgId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_text())
    }
}

/// Not twenty hexadecimal digits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("not a 20-digit MsgID")]
pub struct ParseMsgIdError;

impl FromStr for MsgId {
    type Err = ParseMsgIdError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        MsgId::parse_text(text).ok_or(ParseMsgIdError)
    }
}

/// Hands out MsgIDs for one gateway code, from any thread.
///
/// One atomic word holds the last minute used (upper bits) and how many ids it has given
/// (lower 20 bits, 0 to 1,000,000); a compare-and-swap takes the next one, so the generator
/// is lock-free and an id is never handed out twice. A minute earlier than the last one
/// used (a clock step back, or a caller that read the clock before another) is served from
/// the last minute instead, so ids stay unique and the id's time runs at most that far
/// ahead.
#[derive(Debug)]
pub struct MsgIdGenerator {
    gateway: u32,
    state: AtomicU64,
}

const COUNT_BITS: u32 = 20;
const COUNT_MASK: u64 = (1 << COUNT_BITS) - 1;

impl MsgIdGenerator {
    /// A generator for `gateway_code`, or `None` when the code has more than six digits.
    pub fn new(gateway_code: u32) -> Option<MsgIdGenerator> {
        (gateway_code <= MAX_GATEWAY_CODE).then(|| MsgIdGenerator {
            gateway: gateway_code,
            state: AtomicU64::new(0),
        })
    }

    /// A generator that treats the minute of `last_used_unix_secs` and every one before as
    /// used up: after a restart, ids start in the next minute.
    pub fn resume(gateway_code: u32, last_used_unix_secs: i64) -> Option<MsgIdGenerator> {
        let generator = MsgIdGenerator::new(gateway_code)?;
        let minute = clamp_minute(last_used_unix_secs);
        generator.state.store(
            minute << COUNT_BITS | u64::from(IDS_PER_MINUTE),
            Ordering::Release,
        );
        Some(generator)
    }

    pub fn gateway_code(&self) -> u32 {
        self.gateway
    }

    /// The next id for `unix_secs`, or `None` when this minute's 1,000,000 ids are all
    /// given out (wait for the next minute, or throttle).
    pub fn next(&self, unix_secs: i64) -> Option<MsgId> {
        let wanted = clamp_minute(unix_secs);
        let mut current = self.state.load(Ordering::Acquire);
        loop {
            let last = current >> COUNT_BITS;
            let used = current & COUNT_MASK;
            let (minute, sequence) = if wanted > last {
                (wanted, 0)
            } else if used < u64::from(IDS_PER_MINUTE) {
                (last, used)
            } else {
                return None;
            };
            let next = minute << COUNT_BITS | (sequence + 1);
            match self.state.compare_exchange_weak(
                current,
                next,
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => return self.id_at(minute, sequence),
                Err(actual) => current = actual,
            }
        }
    }

    fn id_at(&self, minute: u64, sequence: u64) -> Option<MsgId> {
        let seconds = i64::try_from(minute.saturating_mul(60)).unwrap_or(i64::MAX);
        let c = Civil::from_unix(seconds);
        // Civil fields are within their calendar ranges, sequence below 1,000,000.
        let small = |v: u32| u8::try_from(v).ok();
        MsgId::from_fields(&MsgIdFields {
            gateway: self.gateway,
            month: small(c.month)?,
            day: small(c.day)?,
            hour: small(c.hour)?,
            minute: small(c.minute)?,
            sequence: u32::try_from(sequence).ok()?,
        })
    }
}

/// Minutes since the epoch as stored in the state word: not before the epoch, and within
/// 44 bits.
fn clamp_minute(unix_secs: i64) -> u64 {
    u64::try_from(unix_secs.div_euclid(60))
        .unwrap_or(0)
        .min((1 << (64 - COUNT_BITS)) - 1)
}

#[cfg(test)]
mod tests;
