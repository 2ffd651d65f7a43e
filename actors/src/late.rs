//! Operator answers that came after their request had timed out.
//!
//! A submit whose answer does not come in time has an unknown outcome: the part goes back
//! to its dispatcher and is sent again after a pause. An answer that still comes is worth
//! having, since an acceptance names the id the operator's receipt will carry. Each bind
//! remembers, for a while and within a bound, which part each timed-out submit carried. A
//! late acceptance then records the part as submitted under that id and indexes its receipt,
//! as a timely one would.
//!
//! Before the resend, the dispatcher reads the part again and leaves it out when the store
//! shows it submitted, so a late answer that beats the resend saves the duplicate. When the
//! resend went first, both ids are indexed: the first final receipt reaches the customer
//! and the correlator drops the second. A late refusal changes nothing; the resend stands.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use tern_model::MessageId;

/// How long a timed-out submit's part is remembered.
const KEEP: Duration = Duration::from_secs(600);
/// At most this many per bind; past it, the oldest are forgotten first.
const MAX: usize = 4_096;

/// The part a timed-out submit carried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Awaited {
    pub id: MessageId,
    pub part: u8,
    pub attempts: u16,
}

/// The parts of one bind's timed-out submits, by sequence number.
#[derive(Debug, Default)]
pub(crate) struct LateAnswers {
    awaited: Mutex<HashMap<u32, (Awaited, Instant)>>,
}

impl LateAnswers {
    /// Remembers that the submit with `sequence` carried `part` and timed out.
    pub fn expect(&self, sequence: u32, part: Awaited) {
        let now = Instant::now();
        let mut awaited = self.awaited.lock().unwrap_or_else(|e| e.into_inner());
        if awaited.len() >= MAX {
            awaited.retain(|_, (_, since)| now.duration_since(*since) < KEEP);
        }
        if awaited.len() >= MAX {
            if let Some(oldest) = awaited
                .iter()
                .min_by_key(|(_, (_, since))| *since)
                .map(|(sequence, _)| *sequence)
            {
                awaited.remove(&oldest);
            }
        }
        awaited.insert(sequence, (part, now));
    }

    /// The part whose answer, with `sequence`, has just come late; `None` when it is not
    /// remembered (too old, or never timed out here).
    pub fn take(&self, sequence: u32) -> Option<Awaited> {
        let mut awaited = self.awaited.lock().unwrap_or_else(|e| e.into_inner());
        awaited
            .remove(&sequence)
            .filter(|(_, since)| since.elapsed() < KEEP)
            .map(|(part, _)| part)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn part(n: u64) -> Awaited {
        Awaited {
            id: MessageId(n),
            part: 1,
            attempts: 1,
        }
    }

    #[test]
    fn a_late_answer_finds_its_part_once() {
        let late = LateAnswers::default();
        late.expect(7, part(70));
        assert_eq!(late.take(8), None);
        assert_eq!(late.take(7), Some(part(70)));
        assert_eq!(late.take(7), None, "taken");
    }

    #[test]
    fn the_oldest_go_first_when_full() {
        let late = LateAnswers::default();
        for sequence in 0..MAX as u32 + 10 {
            late.expect(sequence, part(sequence as u64));
        }
        assert_eq!(late.awaited.lock().unwrap().len(), MAX);
        assert_eq!(late.take(MAX as u32 + 9), Some(part(MAX as u64 + 9)));
    }

    #[test]
    fn a_sequence_used_again_names_the_newer_part() {
        let late = LateAnswers::default();
        late.expect(3, part(1));
        late.expect(3, part(2));
        assert_eq!(late.take(3), Some(part(2)));
    }
}
