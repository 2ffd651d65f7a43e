//! The sequence number: three 32-bit words that name every SGIP command, and the message id
//! of a SUBMIT.
//!
//! SGIP 1.2 §3.4: the first word is the node that issued the command (see
//! [`sp_node_id`] for the numbering), the second the time it was issued as the decimal
//! MMDDHHMMSS (Beijing time, see [`crate::time`]), the third a counter that starts at 0 and
//! wraps. A response carries its request's sequence number; a SUBMIT's number is the id
//! the SMG's REPORT names in SubmitSequenceNumber, so ids must not repeat while a report can
//! come back. On the wire the three words go in order, each big-endian.
//!
//! Uniqueness: within one [`SequenceGenerator`] the counter never repeats before 2³²
//! commands, so a number repeats only after the counter wrapped and landed on the same
//! second. Across nodes, each node needs its own node id. Across a restart, a generator
//! starts its counter at 0 again: numbers collide only if the new process hands out the
//! same counter value in a second that the old one already used, which
//! [`SequenceGenerator::starting_at`] with a persisted or random start rules out.
//!
//! The text form, as logs and receipts show it, is the three words in decimal, each
//! zero-padded to ten digits: thirty digits that read back without ambiguity.

use std::fmt;
use std::str::FromStr;
use std::sync::atomic::{AtomicU32, Ordering};

use crate::time::{timestamp_from_unix, timestamp_to_unix_near, unix_now};

/// Octets of a sequence number on the wire.
pub const SEQUENCE_LEN: usize = 12;

/// Digits of the text form.
pub const TEXT_LEN: usize = 30;

/// One sequence number: node id, MMDDHHMMSS, counter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct SequenceNumber {
    pub node_id: u32,
    /// MMDDHHMMSS as a decimal number (peers' values are not checked for a real date).
    pub timestamp: u32,
    pub sequence: u32,
}

impl SequenceNumber {
    pub const fn new(node_id: u32, timestamp: u32, sequence: u32) -> Self {
        Self {
            node_id,
            timestamp,
            sequence,
        }
    }

    /// The twelve octets of the header or of a SubmitSequenceNumber field.
    pub fn to_bytes(&self) -> [u8; SEQUENCE_LEN] {
        let mut out = [0u8; SEQUENCE_LEN];
        for (chunk, word) in
            out.chunks_exact_mut(4)
                .zip([self.node_id, self.timestamp, self.sequence])
        {
            chunk.copy_from_slice(&word.to_be_bytes());
        }
        out
    }

    pub fn from_bytes(bytes: [u8; SEQUENCE_LEN]) -> Self {
        let word = |at: usize| {
            let mut four = [0u8; 4];
            if let Some(src) = bytes.get(at..at + 4) {
                four.copy_from_slice(src);
            }
            u32::from_be_bytes(four)
        };
        Self::new(word(0), word(4), word(8))
    }

    /// The three words as one integer, node id highest: 96 significant bits.
    pub fn to_u128(&self) -> u128 {
        u128::from(self.node_id) << 64
            | u128::from(self.timestamp) << 32
            | u128::from(self.sequence)
    }

    /// Reads [`SequenceNumber::to_u128`]'s form; `None` above 96 bits.
    pub fn from_u128(value: u128) -> Option<Self> {
        if value >> 96 != 0 {
            return None;
        }
        let word = |shift: u32| u32::try_from((value >> shift) & u128::from(u32::MAX)).ok();
        Some(Self::new(word(64)?, word(32)?, word(0)?))
    }

    /// Whether the timestamp names a real month, day and time of day.
    pub fn is_plausible(&self) -> bool {
        let t = self.timestamp;
        let (month, day) = (t / 100_000_000, t / 1_000_000 % 100);
        let (hour, minute, second) = (t / 10_000 % 100, t / 100 % 100, t % 100);
        (1..=12).contains(&month)
            && (1..=31).contains(&day)
            && hour < 24
            && minute < 60
            && second < 60
    }

    /// The second the command was issued, in the year that puts it nearest to `now_unix`
    /// (the timestamp has none); `None` when it names no time.
    pub fn unix_second(&self, now_unix: i64) -> Option<i64> {
        timestamp_to_unix_near(self.timestamp, now_unix)
    }

    /// The thirty-digit text form.
    pub fn to_text(&self) -> String {
        self.to_string()
    }

    /// Reads the thirty-digit text form: exactly [`TEXT_LEN`] ASCII digits, each ten a u32.
    pub fn parse_text(text: &str) -> Option<Self> {
        let bytes = text.as_bytes();
        if bytes.len() != TEXT_LEN || !bytes.iter().all(u8::is_ascii_digit) {
            return None;
        }
        let word = |at: usize| text.get(at..at + 10)?.parse::<u32>().ok();
        Some(Self::new(word(0)?, word(10)?, word(20)?))
    }
}

impl From<(u32, u32, u32)> for SequenceNumber {
    fn from((node_id, timestamp, sequence): (u32, u32, u32)) -> Self {
        Self::new(node_id, timestamp, sequence)
    }
}

impl From<SequenceNumber> for (u32, u32, u32) {
    fn from(s: SequenceNumber) -> Self {
        (s.node_id, s.timestamp, s.sequence)
    }
}

impl fmt::Display for SequenceNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:010}{:010}{:010}",
            self.node_id, self.timestamp, self.sequence
        )
    }
}

/// Not the thirty-digit text form of a sequence number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("not a thirty-digit SGIP sequence number")]
pub struct ParseSequenceError;

impl FromStr for SequenceNumber {
    type Err = ParseSequenceError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        SequenceNumber::parse_text(text).ok_or(ParseSequenceError)
    }
}

/// An SP's node id, SGIP 1.2 §3.3: `3AAAAQQQQQ`, the long-distance area code left-aligned
/// in four digits and padded with zeros on the right, then the five-digit corporation code
/// (padded with zeros on the left). `None` when either is not digits or too long.
pub fn sp_node_id(area_code: &str, corp_id: &str) -> Option<u32> {
    let digits = |s: &str, max: usize| {
        (!s.is_empty() && s.len() <= max && s.bytes().all(|b| b.is_ascii_digit())).then_some(())
    };
    digits(area_code, 4)?;
    digits(corp_id, 5)?;
    format!("3{area_code:0<4}{corp_id:0>5}").parse().ok()
}

/// Hands out sequence numbers for one node, from any thread: one atomic counter that
/// wraps, and the clock the caller passes in.
#[derive(Debug)]
pub struct SequenceGenerator {
    node_id: u32,
    next: AtomicU32,
}

impl SequenceGenerator {
    /// A generator whose counter starts at 0.
    pub fn new(node_id: u32) -> Self {
        Self::starting_at(node_id, 0)
    }

    /// A generator whose counter starts at `first`: after a restart, a persisted or random
    /// start keeps the new numbers apart from the old ones.
    pub fn starting_at(node_id: u32, first: u32) -> Self {
        Self {
            node_id,
            next: AtomicU32::new(first),
        }
    }

    pub fn node_id(&self) -> u32 {
        self.node_id
    }

    /// The next number, stamped with `unix_secs` in Beijing time.
    pub fn next(&self, unix_secs: i64) -> SequenceNumber {
        // fetch_add wraps on overflow, as the specification's counter does.
        let sequence = self.next.fetch_add(1, Ordering::Relaxed);
        SequenceNumber::new(self.node_id, timestamp_from_unix(unix_secs), sequence)
    }

    /// The next number, stamped with the current time.
    pub fn next_now(&self) -> SequenceNumber {
        self.next(unix_now())
    }
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
    fn wire_layout_is_three_big_endian_words() {
        let s = SequenceNumber::new(3_100_012_345, 1_120_203_225, 7);
        let bytes = s.to_bytes();
        assert_eq!(
            bytes,
            [0xb8, 0xc6, 0x6f, 0x39, 0x42, 0xc4, 0xf1, 0xd9, 0, 0, 0, 7]
        );
        assert_eq!(SequenceNumber::from_bytes(bytes), s);
    }

    #[test]
    fn text_form_is_thirty_digits() {
        // The specification's HTTP example: node 205502, 27 March 12:50:25, number 327.
        let s = SequenceNumber::new(205_502, 327_125_025, 327);
        assert_eq!(s.to_text(), "000020550203271250250000000327");
        assert_eq!(s.to_text().parse(), Ok(s));
        for bad in [
            "",
            "00002055020327125025000000032",
            "0000205502032712502500000003270",
            "00002055020327125025000000032x",
            "000020550204294967296000000327",
        ] {
            assert_eq!(
                bad.parse::<SequenceNumber>(),
                Err(ParseSequenceError),
                "{bad}"
            );
        }
    }

    #[test]
    fn u128_and_triple_forms() {
        let s = SequenceNumber::new(1, 2, 3);
        assert_eq!(s.to_u128(), 1 << 64 | 2 << 32 | 3);
        assert_eq!(SequenceNumber::from_u128(s.to_u128()), Some(s));
        assert_eq!(SequenceNumber::from_u128(1 << 96), None);
        let triple: (u32, u32, u32) = s.into();
        assert_eq!(SequenceNumber::from(triple), s);
    }

    #[test]
    fn sp_node_ids_follow_the_numbering_rule() {
        assert_eq!(sp_node_id("10", "12345"), Some(3_100_012_345));
        assert_eq!(sp_node_id("0755", "1"), Some(3_075_500_001));
        assert_eq!(sp_node_id("07555", "1"), None);
        assert_eq!(sp_node_id("10", "123456"), None);
        assert_eq!(sp_node_id("1a", "1"), None);
        assert_eq!(sp_node_id("", "1"), None);
    }

    #[test]
    fn numbers_carry_beijing_time_and_count_up() {
        let generator = SequenceGenerator::new(3_100_012_345);
        let first = generator.next(NOON);
        assert_eq!(first, SequenceNumber::new(3_100_012_345, 301_120_000, 0));
        assert!(first.is_plausible());
        assert_eq!(first.unix_second(NOON + 3600), Some(NOON));
        assert_eq!(generator.next(NOON + 1).sequence, 1);
        assert!(!SequenceNumber::new(0, 1_332_000_000, 0).is_plausible());
    }

    #[test]
    fn the_counter_wraps() {
        let generator = SequenceGenerator::starting_at(1, u32::MAX);
        assert_eq!(generator.next(NOON).sequence, u32::MAX);
        assert_eq!(generator.next(NOON).sequence, 0);
    }

    #[test]
    fn threads_get_distinct_numbers() {
        let generator = Arc::new(SequenceGenerator::new(5));
        let handles: Vec<_> = (0..4)
            .map(|_| {
                let generator = Arc::clone(&generator);
                std::thread::spawn(move || {
                    (0..10_000)
                        .map(|_| generator.next(NOON))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        let mut all = HashSet::new();
        for handle in handles {
            for s in handle.join().expect("thread") {
                assert!(all.insert(s), "duplicate {s}");
            }
        }
        assert_eq!(all.len(), 40_000);
    }

    proptest! {
        #[test]
        fn every_form_round_trips(node in any::<u32>(), ts in any::<u32>(), seq in any::<u32>()) {
            let s = SequenceNumber::new(node, ts, seq);
            prop_assert_eq!(SequenceNumber::from_bytes(s.to_bytes()), s);
            prop_assert_eq!(SequenceNumber::from_u128(s.to_u128()), Some(s));
            prop_assert_eq!(SequenceNumber::parse_text(&s.to_text()), Some(s));
        }

        #[test]
        fn generated_numbers_are_plausible(unix in 0i64..4_000_000_000, node in any::<u32>()) {
            let s = SequenceGenerator::new(node).next(unix);
            prop_assert!(s.is_plausible());
            prop_assert_eq!(s.unix_second(unix), Some(unix));
        }
    }
}
