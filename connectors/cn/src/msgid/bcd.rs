//! MsgID as SMGP 3.0 and CNGP 2.0 both lay it out: ten octets of BCD, twenty decimal
//! digits: the gateway (SMGW or CNGW) code (6), the month, day, hour and minute (8,
//! MMDDHHMM, UTC+8 like every time here, see [`crate::time`]) and a sequence (6).
//!
//! A peer's id is kept as the ten octets it sent, whatever they hold: [`MsgId::fields`]
//! reads them only when they are BCD. Forms: the octets; text, twenty hexadecimal digits,
//! which for a BCD id are its twenty decimal digits ([`MsgId::to_text`]); a lossless
//! `u128`; and, for a BCD id whose time fits (every one this module generates), a packed
//! `u64` that a store can index and that sorts by time within a year ([`MsgId::to_u64`]).
//!
//! Uniqueness: within one generator, at most 1,000,000 ids per minute, never reused (see
//! [`super::Generator`]); each node needs its own gateway code (six digits).

use std::fmt;
use std::str::FromStr;

use super::{Generator, Layout};
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
    /// All zeros: what a refusing Submit_Resp carries.
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

    /// Whether the id is BCD and its time names a real month, day and time of day.
    pub fn is_plausible(&self) -> bool {
        self.fields().is_some_and(|f| f.is_plausible())
    }

    /// The minute the id was given, read as the latest such time no later than a day after
    /// `now_unix` (the fields have no year); `None` for an id that is not BCD or names no
    /// time.
    pub fn unix_minute(&self, now_unix: i64) -> Option<i64> {
        let fields = self.fields()?;
        Civil {
            year: 0,
            month: u32::from(fields.month),
            day: u32::from(fields.day),
            hour: u32::from(fields.hour),
            minute: u32::from(fields.minute),
            second: 0,
        }
        .latest_unix_by(now_unix)
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
pub type MsgIdGenerator = Generator<MsgId>;

impl Layout for MsgId {
    const MAX_GATEWAY_CODE: u32 = MAX_GATEWAY_CODE;
    const PERIOD_SECS: u32 = 60;
    const PER_PERIOD: u32 = IDS_PER_MINUTE;

    fn id(gateway: u32, at: Civil, sequence: u32) -> Option<MsgId> {
        // Civil fields are within their calendar ranges.
        let small = |v: u32| u8::try_from(v).unwrap_or(u8::MAX);
        MsgId::from_fields(&MsgIdFields {
            gateway,
            month: small(at.month),
            day: small(at.day),
            hour: small(at.hour),
            minute: small(at.minute),
            sequence,
        })
    }
}

/// Two decimal digits (`pair` below 100) as one BCD octet.
fn bcd(pair: u32) -> u8 {
    u8::try_from(((pair / 10) << 4) | (pair % 10)).unwrap_or(u8::MAX)
}

#[cfg(test)]
mod tests;
