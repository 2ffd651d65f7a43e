//! MsgID: ten octets of BCD, twenty decimal digits: gateway code (6), month, day, hour and
//! minute (8, MMDDHHMM) and sequence (6).
//!
//! The gateway assigns the id of a SUBMIT in its SUBMIT_RESP and repeats it in the status
//! report; the time is UTC+8 like every CNGP time (see [`crate::time`]). A peer's id is
//! kept as the ten octets it sent, whatever they hold: [`MsgId::fields`] reads them only
//! when they are BCD.
//!
//! Forms: the octets ([`MsgId::octets`]); text, twenty hexadecimal digits, which for a BCD
//! id are its twenty decimal digits ([`MsgId::to_text`]); a lossless `u128`; and, for a
//! BCD id whose time fits (every one this crate generates), a packed `u64` that a store
//! can index and that sorts by time within a year ([`MsgId::to_u64`]).
//!
//! Uniqueness: within one generator, at most 1,000,000 ids per minute, never reused — when
//! a minute's sequence space is used up, [`MsgIdGenerator::next`] says so and the caller
//! waits or throttles. Across nodes, each node needs its own gateway code; across a
//! restart, seed the generator with [`MsgIdGenerator::resume`]. The fields have no year,
//! so an id comes back after a year at the earliest, long after any report.

use std::fmt;
use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::time::Civil;

/// The largest gateway code: six decimal digits.
pub const MAX_GATEWAY_CODE: u32 = 999_999;

/// Ids one generator can hand out per minute: six decimal digits of sequence.
pub const IDS_PER_MINUTE: u32 = 1_000_000;

/// Octets of a MsgID.
pub const MSG_ID_LEN: usize = 10;

/// A MsgID as the wire carries it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, PartialOrd, Ord)]
pub struct MsgId(pub [u8; MSG_ID_LEN]);

/// The fields of a BCD MsgID. Each is at most its number of decimal digits; the time
/// fields are not checked for a real date ([`MsgIdFields::is_plausible`]).
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

impl MsgIdFields {
    /// Whether the time fields name a real month, day and time of day.
    pub fn is_plausible(&self) -> bool {
        (1..=12).contains(&self.month)
            && (1..=31).contains(&self.day)
            && self.hour < 24
            && self.minute < 60
    }
}

impl MsgId {
    /// All zeros: what a refusing SUBMIT_RESP carries.
    pub const ZERO: MsgId = MsgId([0; MSG_ID_LEN]);

    pub fn octets(&self) -> &[u8; MSG_ID_LEN] {
        &self.0
    }

    /// The BCD id of `fields`, or `None` when a field has more digits than its place.
    pub fn from_fields(fields: &MsgIdFields) -> Option<MsgId> {
        if fields.gateway > MAX_GATEWAY_CODE || fields.sequence >= IDS_PER_MINUTE {
            return None;
        }
        let time = [fields.month, fields.day, fields.hour, fields.minute];
        if time.iter().any(|&v| v > 99) {
            return None;
        }
        let mut octets = [0u8; MSG_ID_LEN];
        // Six digits in three octets, most significant first.
        let put6 = |out: &mut [u8], mut value: u32| {
            for octet in out.iter_mut().rev() {
                let pair = value % 100;
                value /= 100;
                *octet = bcd(pair);
            }
        };
        put6(&mut octets[..3], fields.gateway);
        for (octet, value) in octets[3..7].iter_mut().zip(time) {
            *octet = bcd(u32::from(value));
        }
        put6(&mut octets[7..], fields.sequence);
        Some(MsgId(octets))
    }

    /// The fields, or `None` when an octet is not two BCD digits.
    pub fn fields(&self) -> Option<MsgIdFields> {
        let mut digits = [0u32; 2 * MSG_ID_LEN];
        for (pair, octet) in digits.chunks_exact_mut(2).zip(self.0) {
            let (high, low) = (octet >> 4, octet & 0x0f);
            if high > 9 || low > 9 {
                return None;
            }
            pair.copy_from_slice(&[u32::from(high), u32::from(low)]);
        }
        let number = |range: std::ops::Range<usize>| {
            digits
                .get(range)
                .unwrap_or_default()
                .iter()
                .fold(0u32, |n, d| n * 10 + d)
        };
        // Two digits are at most 99.
        let small = |at: usize| u8::try_from(number(at..at + 2)).unwrap_or(u8::MAX);
        Some(MsgIdFields {
            gateway: number(0..6),
            month: small(6),
            day: small(8),
            hour: small(10),
            minute: small(12),
            sequence: number(14..20),
        })
    }

    /// The minute the id was given, read as the latest such time no later than a day after
    /// `now_unix` (the fields have no year); `None` for an id that is not BCD or names no
    /// time.
    pub fn unix_minute(&self, now_unix: i64) -> Option<i64> {
        let fields = self.fields()?;
        let year = Civil::from_unix(now_unix).year;
        [year + 1, year, year - 1]
            .into_iter()
            .filter_map(|year| {
                Civil {
                    year,
                    month: u32::from(fields.month),
                    day: u32::from(fields.day),
                    hour: u32::from(fields.hour),
                    minute: u32::from(fields.minute),
                    second: 0,
                }
                .to_unix()
            })
            .find(|&at| at <= now_unix.saturating_add(86_400))
    }

    /// Twenty lower-case hexadecimal digits: a BCD id's decimal digits.
    pub fn to_text(&self) -> String {
        self.0.iter().map(|b| format!("{b:02x}")).collect()
    }

    /// Reads [`MsgId::to_text`]'s form: exactly twenty hexadecimal digits, either case.
    pub fn parse_text(text: &str) -> Option<MsgId> {
        let bytes = text.as_bytes();
        if bytes.len() != 2 * MSG_ID_LEN {
            return None;
        }
        let nibble = |c: u8| char::from(c).to_digit(16);
        let mut octets = [0u8; MSG_ID_LEN];
        for (octet, pair) in octets.iter_mut().zip(bytes.chunks_exact(2)) {
            let (high, low) = (nibble(*pair.first()?)?, nibble(*pair.get(1)?)?);
            *octet = u8::try_from(high << 4 | low).ok()?;
        }
        Some(MsgId(octets))
    }

    /// The octets as a big-endian number; lossless for any id.
    pub fn to_u128(&self) -> u128 {
        let mut wide = [0u8; 16];
        wide[16 - MSG_ID_LEN..].copy_from_slice(&self.0);
        u128::from_be_bytes(wide)
    }

    /// The inverse of [`MsgId::to_u128`]; `None` above 80 bits.
    pub fn from_u128(value: u128) -> Option<MsgId> {
        let wide = value.to_be_bytes();
        let (high, low) = wide.split_at(16 - MSG_ID_LEN);
        if high.iter().any(|&b| b != 0) {
            return None;
        }
        low.try_into().ok().map(MsgId)
    }

    /// A BCD id's fields packed into 60 bits (high to low: month 4, day 5, hour 5, minute 6,
    /// gateway 20, sequence 20), so that it can be stored where other protocols keep a u64
    /// and ids of one year sort by time; `None` when the id is not BCD or a time field is
    /// beyond its bits (month 16, day 32, ...).
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
#[error("not a MsgID of twenty hexadecimal digits")]
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
/// the last minute instead.
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

    /// A generator that treats every minute up to and including the one of
    /// `last_used_unix_secs` as used up: after a restart, ids start in the next minute.
    pub fn resume(gateway_code: u32, last_used_unix_secs: i64) -> Option<MsgIdGenerator> {
        let generator = MsgIdGenerator::new(gateway_code)?;
        let minute = minute_of(last_used_unix_secs);
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
        let wanted = minute_of(unix_secs);
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
        let unix = i64::try_from(minute.saturating_mul(60)).unwrap_or(i64::MAX);
        let c = Civil::from_unix(unix);
        // Civil fields are within their calendar ranges, the sequence below 1,000,000.
        let small = |v: u32| u8::try_from(v).unwrap_or(u8::MAX);
        MsgId::from_fields(&MsgIdFields {
            gateway: self.gateway,
            month: small(c.month),
            day: small(c.day),
            hour: small(c.hour),
            minute: small(c.minute),
            sequence: u32::try_from(sequence).unwrap_or(u32::MAX),
        })
    }
}

/// Two decimal digits (`pair` below 100) as one BCD octet.
fn bcd(pair: u32) -> u8 {
    u8::try_from(((pair / 10) << 4) | (pair % 10)).unwrap_or(u8::MAX)
}

/// Minutes since the epoch as stored in the state word: not before the epoch, and within
/// 44 bits.
fn minute_of(unix_secs: i64) -> u64 {
    (u64::try_from(unix_secs).unwrap_or(0) / 60).min((1 << (64 - COUNT_BITS)) - 1)
}

#[cfg(test)]
mod tests;
