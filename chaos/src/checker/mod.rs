//! The invariants I1–I12 of the reliability catalogue, checked over a run's [`History`]
//! once everything has settled. Each gives a verdict with its evidence: the operations,
//! message ids and destination numbers involved, so a violation can be followed into the
//! histories and the node's logs.
//!
//! Unknown outcomes are treated as Jepsen does: an operation whose answer was lost may or
//! may not have taken effect, so it is never counted as lost, and what it may have caused
//! (a part sent, a part charged) is allowed but bounded. At the operator the same holds
//! for a submit whose answer the node may not have read: one left unanswered, answered
//! past the node's window timeout (`slow_answer`), or answered just before its connection
//! closed (within the history's `ambiguity_ms`). A customer's answer to a receipt is in
//! doubt the same way when its bind went down just after (`answer_lost`): the node may
//! deliver that receipt again, as at-least-once delivery does.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt;

use serde::Serialize;

use crate::history::{History, OperatorEvent, Outcome, SubmitOp};

/// One invariant of the catalogue (`../shared/research/reliability.md`, section b).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub enum Invariant {
    I1,
    I2a,
    I2b,
    I3,
    I4,
    I5,
    I6,
    I7,
    I8,
    I9,
    I10,
    I11,
    I12,
}

impl Invariant {
    pub const ALL: [Invariant; 13] = [
        Self::I1,
        Self::I2a,
        Self::I2b,
        Self::I3,
        Self::I4,
        Self::I5,
        Self::I6,
        Self::I7,
        Self::I8,
        Self::I9,
        Self::I10,
        Self::I11,
        Self::I12,
    ];

    pub fn title(self) -> &'static str {
        match self {
            Self::I1 => "no acknowledged message lost",
            Self::I2a => "no upstream resend when the outcome is known",
            Self::I2b => "upstream duplicates bounded by ambiguous submits",
            Self::I3 => "no double charge",
            Self::I4 => "quota never overspent",
            Self::I5 => "receipts at least once, duplicates bounded, never regress",
            Self::I6 => "every operator receipt matched to its message",
            Self::I7 => "recovery within its limit",
            Self::I8 => "queues drain after the faults",
            Self::I9 => "resources bounded",
            Self::I10 => "operator TPS and part order kept",
            Self::I11 => "message ids unique",
            Self::I12 => "exactly one CDR per part",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|i| i.to_string().eq_ignore_ascii_case(text))
    }
}

impl fmt::Display for Invariant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = match self {
            Self::I2a => "I2a",
            Self::I2b => "I2b",
            other => return write!(f, "{other:?}"),
        };
        f.write_str(name)
    }
}

/// What the checker found for one invariant.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "verdict", rename_all = "snake_case")]
pub enum Verdict {
    Held {
        detail: String,
    },
    Violated {
        detail: String,
        evidence: Vec<String>,
    },
    NotApplicable,
}

impl Verdict {
    pub fn word(&self) -> &'static str {
        match self {
            Self::Held { .. } => "held",
            Self::Violated { .. } => "VIOLATED",
            Self::NotApplicable => "n/a",
        }
    }

    pub fn is_violated(&self) -> bool {
        matches!(self, Self::Violated { .. })
    }
}

/// Evidence lists are cut to this many entries (the count is in the detail).
const EVIDENCE: usize = 20;

/// Checks `applies` over `history`; the others are not applicable.
pub fn check(history: &History, applies: &[Invariant]) -> Vec<(Invariant, Verdict)> {
    let view = View::new(history);
    Invariant::ALL
        .into_iter()
        .map(|invariant| {
            let verdict = if applies.contains(&invariant) {
                view.verdict(invariant)
            } else {
                Verdict::NotApplicable
            };
            (invariant, verdict)
        })
        .collect()
}

fn verdict(ok: bool, detail: String, mut evidence: Vec<String>) -> Verdict {
    if ok {
        Verdict::Held { detail }
    } else {
        evidence.truncate(EVIDENCE);
        Verdict::Violated { detail, evidence }
    }
}

/// Status names as the simulator writes them, compared without case and underscores.
fn normal(status: &str) -> String {
    status
        .chars()
        .filter(|c| *c != '_')
        .flat_map(char::to_uppercase)
        .collect()
}

fn is_ok(status: &str) -> bool {
    normal(status) == "ESMEROK"
}

/// A refusal the node should retry: it says nothing was done.
fn is_transient(status: &str) -> bool {
    matches!(
        normal(status).as_str(),
        "ESMERTHROTTLED" | "ESMERMSGQFUL" | "ESMERSYSERR"
    )
}

/// One submit the operator read.
#[derive(Debug, Clone)]
struct Seen {
    /// When the operator read it, or, for a slow answer, when it answered (the read was
    /// earlier).
    t_ms: u64,
    conn: u64,
    /// The submit's sequence number on its connection: the order of reads there.
    seq: u32,
    slow: bool,
    part: u32,
    status: String,
    id: Option<String>,
    /// The node surely read the answer (see the module doc).
    known: bool,
}

/// The history indexed for the checks.
struct View<'a> {
    history: &'a History,
    /// Per destination, the operator's submits in the order it read them.
    operator: HashMap<&'a str, Vec<Seen>>,
    /// Operator message id -> destination.
    operator_ids: HashMap<&'a str, &'a str>,
    /// Receipts the operator sent and the node acknowledged: operator id.
    operator_receipts: BTreeSet<&'a str>,
    /// Per message id (the node's), the receipts the customers saw, in order.
    receipts: HashMap<&'a str, Vec<(&'a str, bool)>>,
}

impl<'a> View<'a> {
    fn new(history: &'a History) -> Self {
        let mut closes: HashMap<u64, u64> = HashMap::new();
        for event in &history.operator {
            if let OperatorEvent::Close { t_ms, conn, .. } = event {
                closes.entry(*conn).or_insert(*t_ms);
            }
        }
        let mut operator: HashMap<&str, Vec<Seen>> = HashMap::new();
        let mut operator_ids = HashMap::new();
        let mut operator_receipts = BTreeSet::new();
        for event in &history.operator {
            match event {
                OperatorEvent::Submit {
                    t_ms,
                    conn,
                    seq,
                    dst,
                    part,
                    status,
                    id,
                    answered,
                    fault,
                    ..
                } => {
                    let closed_soon = closes
                        .get(conn)
                        .is_some_and(|closed| closed.saturating_sub(*t_ms) <= history.ambiguity_ms);
                    let slow = fault.as_deref() == Some("slow_answer");
                    if let Some(id) = id {
                        operator_ids.insert(id.as_str(), dst.as_str());
                    }
                    operator.entry(dst.as_str()).or_default().push(Seen {
                        t_ms: *t_ms,
                        conn: *conn,
                        seq: *seq,
                        slow,
                        part: part.unwrap_or(1),
                        status: status.clone(),
                        id: id.clone(),
                        known: *answered && !slow && !closed_soon,
                    });
                }
                OperatorEvent::Receipt {
                    id, acked: true, ..
                } => {
                    operator_receipts.insert(id.as_str());
                }
                _ => {}
            }
        }
        for seen in operator.values_mut() {
            seen.sort_by_key(|s| s.t_ms);
        }
        let mut receipts: HashMap<&str, Vec<(&str, bool)>> = HashMap::new();
        let mut ordered: Vec<_> = history.receipts.iter().collect();
        ordered.sort_by_key(|r| r.t_ms);
        for receipt in ordered {
            receipts.entry(receipt.id.as_str()).or_default().push((
                receipt.stat.as_str(),
                receipt.answered && !receipt.answer_lost,
            ));
        }
        Self {
            history,
            operator,
            operator_ids,
            operator_receipts,
            receipts,
        }
    }

    fn ok_ops(&self) -> impl Iterator<Item = (&'a SubmitOp, &'a str)> {
        self.history.ops.iter().filter_map(|op| match &op.outcome {
            Outcome::Ok { id } => Some((op, id.as_str())),
            _ => None,
        })
    }

    fn final_receipt(&self, id: &str) -> bool {
        self.receipts
            .get(id)
            .is_some_and(|r| r.iter().any(|(stat, _)| is_final(stat)))
    }

    fn verdict(&self, invariant: Invariant) -> Verdict {
        match invariant {
            Invariant::I1 => self.no_loss(),
            Invariant::I2a => self.no_known_resend(),
            Invariant::I2b => self.duplicates_bounded(),
            Invariant::I3 => self.no_double_charge(),
            Invariant::I4 => self.quota_kept(),
            Invariant::I5 => self.receipts_once(),
            Invariant::I6 => self.receipts_matched(),
            Invariant::I7 => self.recovered(),
            Invariant::I8 => self.drained(),
            Invariant::I9 => self.bounded(),
            Invariant::I10 => self.throttle_kept(),
            Invariant::I11 => self.ids_unique(),
            Invariant::I12 => self.cdrs_complete(),
        }
    }
}

impl Seen {
    /// Whether the operator read `self` after `earlier`: by sequence number on one
    /// connection, by time across connections, where a slow answer's time says nothing of
    /// when it was read.
    fn read_after(&self, earlier: &Seen) -> bool {
        if self.conn == earlier.conn && self.seq != 0 && earlier.seq != 0 {
            self.seq > earlier.seq
        } else {
            !self.slow && self.t_ms > earlier.t_ms
        }
    }
}

fn is_final(stat: &str) -> bool {
    !matches!(stat, "ENROUTE" | "ACCEPTD" | "UNKNOWN" | "SCHEDULED" | "")
}

mod delivery;
mod money;
mod receipts;
mod service;
#[cfg(test)]
mod tests;
