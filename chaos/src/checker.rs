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
//! closed (within the history's `ambiguity_ms`).

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
    t_ms: u64,
    conn: u64,
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
            receipts
                .entry(receipt.id.as_str())
                .or_default()
                .push((receipt.stat.as_str(), receipt.answered));
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

    fn no_loss(&self) -> Verdict {
        let mut lost = Vec::new();
        let mut acknowledged = 0;
        for (op, id) in self.ok_ops() {
            acknowledged += 1;
            let parts: BTreeSet<u32> = self
                .operator
                .get(op.dst.as_str())
                .map(|seen| seen.iter().map(|s| s.part).collect())
                .unwrap_or_default();
            let all_sent = (1..=op.parts.max(1)).all(|p| parts.contains(&p));
            if !all_sent && !self.final_receipt(id) {
                lost.push(format!(
                    "op {} id {id} dst {}: parts {:?} of {} reached the operator, no final receipt",
                    op.op, op.dst, parts, op.parts
                ));
            }
        }
        let mut phantom = Vec::new();
        for op in &self.history.ops {
            if let Outcome::Fail { name, .. } = &op.outcome {
                if self.operator.contains_key(op.dst.as_str()) {
                    phantom.push(format!(
                        "op {} dst {} was refused ({name}) and still sent",
                        op.op, op.dst
                    ));
                }
            }
        }
        let unknown = self
            .history
            .ops
            .iter()
            .filter(|op| matches!(op.outcome, Outcome::Unknown { .. }))
            .count();
        let detail = format!(
            "{acknowledged} acknowledged, {} lost, {} refused but sent, {unknown} of unknown outcome",
            lost.len(),
            phantom.len()
        );
        let ok = lost.is_empty() && phantom.is_empty();
        lost.extend(phantom);
        verdict(ok, detail, lost)
    }

    fn no_known_resend(&self) -> Verdict {
        let mut resent = Vec::new();
        let mut known = 0;
        for (dst, seen) in &self.operator {
            let mut by_part: BTreeMap<u32, Vec<&Seen>> = BTreeMap::new();
            for s in seen {
                by_part.entry(s.part).or_default().push(s);
            }
            for (part, seen) in by_part {
                let Some(first) = seen.iter().find(|s| s.known && !is_transient(&s.status)) else {
                    continue;
                };
                known += 1;
                for again in seen.iter().filter(|s| s.t_ms > first.t_ms) {
                    resent.push(format!(
                        "dst {dst} part {part}: answered {} (id {}) on conn {} at {}, sent again on conn {} at {}",
                        first.status,
                        first.id.as_deref().unwrap_or("-"),
                        first.conn,
                        first.t_ms,
                        again.conn,
                        again.t_ms
                    ));
                }
            }
        }
        let detail = format!(
            "{known} parts with a known outcome, {} sent again",
            resent.len()
        );
        verdict(resent.is_empty(), detail, resent)
    }

    fn duplicates_bounded(&self) -> Verdict {
        let mut duplicates = 0usize;
        let mut ambiguous = 0usize;
        let mut total = 0usize;
        let mut evidence = Vec::new();
        for (dst, seen) in &self.operator {
            let mut accepted: BTreeMap<u32, usize> = BTreeMap::new();
            for s in seen {
                total += 1;
                if !s.known {
                    ambiguous += 1;
                }
                if is_ok(&s.status) {
                    *accepted.entry(s.part).or_default() += 1;
                }
            }
            for (part, n) in accepted {
                if n > 1 {
                    duplicates += n - 1;
                    evidence.push(format!("dst {dst} part {part}: accepted {n} times"));
                }
            }
        }
        let rate = if total == 0 {
            0.0
        } else {
            duplicates as f64 / total as f64
        };
        let detail = format!(
            "{duplicates} duplicates against {ambiguous} ambiguous submits ({total} submits, duplicate rate {rate:.5})"
        );
        verdict(duplicates <= ambiguous, detail, evidence)
    }

    fn no_double_charge(&self) -> Verdict {
        let figures = &self.history.figures;
        let Some(used) = figures.ledger_parts else {
            return Verdict::Violated {
                detail: "the ledger's figures could not be read".into(),
                evidence: Vec::new(),
            };
        };
        let ok: u64 = self.ok_ops().map(|(op, _)| u64::from(op.parts)).sum();
        let unknown: u64 = self
            .history
            .ops
            .iter()
            .filter(|op| matches!(op.outcome, Outcome::Unknown { .. }))
            .map(|op| u64::from(op.parts))
            .sum();
        let detail = format!(
            "ledger {used} parts; acknowledged {ok}, of unknown outcome {unknown} (allowed {ok}..={})",
            ok + unknown
        );
        let mut evidence = Vec::new();
        if used < ok {
            evidence.push(format!("{} acknowledged parts not charged", ok - used));
        }
        if used > ok + unknown {
            evidence.push(format!(
                "{} parts charged beyond every part that may have been accepted",
                used - ok - unknown
            ));
        }
        verdict(evidence.is_empty(), detail, evidence)
    }

    fn quota_kept(&self) -> Verdict {
        let figures = &self.history.figures;
        let (Some(quota), Some(used)) = (figures.quota_parts, figures.ledger_parts) else {
            return Verdict::Violated {
                detail: "the quota or the ledger's use could not be read".into(),
                evidence: Vec::new(),
            };
        };
        let ok: u64 = self.ok_ops().map(|(op, _)| u64::from(op.parts)).sum();
        let mut evidence = Vec::new();
        if used > quota {
            evidence.push(format!("the ledger counts {used} parts used of {quota}"));
        }
        if ok > quota {
            evidence.push(format!("{ok} parts acknowledged of a quota of {quota}"));
        }
        if let Some(balance) = figures.ledger_balance.filter(|b| *b < 0) {
            evidence.push(format!("balance {balance}"));
        }
        let detail = format!("quota {quota} parts: {used} used, {ok} acknowledged");
        verdict(evidence.is_empty(), detail, evidence)
    }

    fn receipts_once(&self) -> Verdict {
        let mut missing = Vec::new();
        let mut excess = Vec::new();
        let mut regressed = Vec::new();
        let mut duplicates = 0;
        let mut ambiguous = 0;
        for (op, id) in self.ok_ops().filter(|(op, _)| op.registered) {
            let seen = self.receipts.get(id).map(Vec::as_slice).unwrap_or_default();
            let finals = seen.iter().filter(|(stat, _)| is_final(stat)).count();
            if finals == 0 {
                missing.push(format!(
                    "op {} id {id} dst {}: no final receipt",
                    op.op, op.dst
                ));
                continue;
            }
            let unanswered = seen.iter().filter(|(_, answered)| !answered).count();
            duplicates += finals - 1;
            ambiguous += unanswered;
            if finals - 1 > unanswered {
                excess.push(format!(
                    "id {id}: {finals} final receipts, {unanswered} left unanswered"
                ));
            }
            if let Some(at) = seen.iter().position(|(stat, _)| is_final(stat)) {
                if let Some((stat, _)) = seen[at..].iter().find(|(stat, _)| !is_final(stat)) {
                    regressed.push(format!("id {id}: {stat} after {}", seen[at].0));
                }
            }
        }
        let detail = format!(
            "{} without a final receipt, {duplicates} duplicates against {ambiguous} unanswered deliveries, {} regressed",
            missing.len(),
            regressed.len()
        );
        let ok = missing.is_empty() && excess.is_empty() && regressed.is_empty();
        missing.extend(excess);
        missing.extend(regressed);
        verdict(ok, detail, missing)
    }

    fn receipts_matched(&self) -> Verdict {
        let by_dst: HashMap<&str, (&SubmitOp, &str)> = self
            .ok_ops()
            .map(|(op, id)| (op.dst.as_str(), (op, id)))
            .collect();
        let mut unmatched = Vec::new();
        let mut matched = 0;
        for operator_id in &self.operator_receipts {
            let Some(dst) = self.operator_ids.get(operator_id) else {
                continue;
            };
            let Some((op, id)) = by_dst.get(dst) else {
                continue;
            };
            if !op.registered {
                continue;
            }
            if self.receipts.contains_key(id) {
                matched += 1;
            } else {
                unmatched.push(format!(
                    "operator receipt for {operator_id} (dst {dst}) never reached the customer of id {id}"
                ));
            }
        }
        let at_node = self.history.figures.unmatched_receipts.unwrap_or(0);
        if at_node > 0 {
            unmatched.push(format!(
                "the node counts {at_node} receipts it could not match"
            ));
        }
        let detail = format!(
            "{matched} operator receipts reached their customer, {} did not, {at_node} unmatched at the node",
            unmatched.len() - usize::from(at_node > 0)
        );
        verdict(unmatched.is_empty(), detail, unmatched)
    }

    fn recovered(&self) -> Verdict {
        let mut evidence = Vec::new();
        let mut parts = Vec::new();
        for r in &self.history.recoveries {
            match r.seconds {
                Some(s) => {
                    parts.push(format!(
                        "{} {s:.1} s (limit {:.0})",
                        r.what, r.limit_seconds
                    ));
                    if s > r.limit_seconds {
                        evidence.push(format!(
                            "{} took {s:.1} s, limit {:.0} s",
                            r.what, r.limit_seconds
                        ));
                    }
                }
                None => {
                    parts.push(format!("{} never", r.what));
                    evidence.push(format!("{}: did not recover", r.what));
                }
            }
        }
        if self.history.recoveries.is_empty() {
            evidence.push("no recovery was timed".into());
        }
        verdict(evidence.is_empty(), parts.join("; "), evidence)
    }

    fn drained(&self) -> Verdict {
        let mut evidence = Vec::new();
        let queued = self.history.figures.queued;
        if queued > 0 {
            evidence.push(format!("{queued} parts still queued at the end"));
        }
        for (op, id) in self.ok_ops() {
            let done: BTreeSet<u32> = self
                .operator
                .get(op.dst.as_str())
                .map(|seen| {
                    seen.iter()
                        .filter(|s| !is_transient(&s.status))
                        .map(|s| s.part)
                        .collect()
                })
                .unwrap_or_default();
            if !(1..=op.parts.max(1)).all(|p| done.contains(&p)) && !self.final_receipt(id) {
                evidence.push(format!("op {} id {id} dst {}: not settled", op.op, op.dst));
            }
        }
        let detail = format!(
            "{queued} queued at the end, {} messages not settled",
            evidence.len() - usize::from(queued > 0)
        );
        verdict(evidence.is_empty(), detail, evidence)
    }

    fn bounded(&self) -> Verdict {
        let rss = &self.history.figures.rss_mib;
        let Some(peak) = rss.iter().copied().reduce(f64::max) else {
            return Verdict::Violated {
                detail: "the node's memory was not sampled".into(),
                evidence: Vec::new(),
            };
        };
        // The first quarter is warm-up; the rest may not grow past it by half or 64 MiB.
        let warm = rss[rss.len() / 4];
        let limit = (warm * 1.5).max(warm + 64.0);
        let detail = format!(
            "RSS {:.0} MiB at the start, {warm:.0} after warm-up, peak {peak:.0}, last {:.0} ({} samples)",
            rss[0],
            rss[rss.len() - 1],
            rss.len()
        );
        let evidence = if peak > limit {
            vec![format!("peak {peak:.0} MiB above {limit:.0} MiB")]
        } else {
            Vec::new()
        };
        verdict(evidence.is_empty(), detail, evidence)
    }

    fn throttle_kept(&self) -> Verdict {
        let mut evidence = Vec::new();
        let mut per_conn: BTreeMap<u64, Vec<u64>> = BTreeMap::new();
        for seen in self.operator.values().flatten() {
            per_conn.entry(seen.conn).or_default().push(seen.t_ms);
        }
        let mut busiest = 0;
        if let Some(tps) = self.history.link_tps {
            for (conn, times) in &mut per_conn {
                times.sort_unstable();
                let mut start = 0;
                for end in 0..times.len() {
                    while times[end] - times[start] >= 1000 {
                        start += 1;
                    }
                    let n = end - start + 1;
                    busiest = busiest.max(n);
                    if n > tps as usize + 1 {
                        evidence.push(format!(
                            "conn {conn}: {n} submits within 1 s ending at {}",
                            times[end]
                        ));
                        break;
                    }
                }
            }
        }
        for (dst, seen) in &self.operator {
            let mut first: BTreeMap<u32, u64> = BTreeMap::new();
            for s in seen {
                first.entry(s.part).or_insert(s.t_ms);
            }
            let order: Vec<u64> = first.values().copied().collect();
            if order.windows(2).any(|w| w[1] < w[0]) {
                evidence.push(format!(
                    "dst {dst}: parts first sent out of order {first:?}"
                ));
            }
        }
        let detail = match self.history.link_tps {
            Some(tps) => {
                format!("tps {tps} per bind: busiest second {busiest}; part order checked")
            }
            None => "no TPS set; part order checked".into(),
        };
        verdict(evidence.is_empty(), detail, evidence)
    }

    fn ids_unique(&self) -> Verdict {
        let mut seen: HashMap<&str, u64> = HashMap::new();
        let mut evidence = Vec::new();
        for (op, id) in self.ok_ops() {
            if let Some(first) = seen.insert(id, op.op) {
                evidence.push(format!("id {id} given to op {first} and op {}", op.op));
            }
        }
        let detail = format!("{} ids, {} given twice", seen.len(), evidence.len());
        verdict(evidence.is_empty(), detail, evidence)
    }

    fn cdrs_complete(&self) -> Verdict {
        let cdrs = &self.history.figures.cdr_parts;
        let mut evidence = Vec::new();
        let mut looked = 0;
        for (op, id) in self.ok_ops() {
            let Some(parts) = cdrs.get(id) else { continue };
            looked += 1;
            let mut sorted = parts.clone();
            sorted.sort_unstable();
            let want: Vec<u32> = (1..=op.parts.max(1)).collect();
            if sorted != want {
                evidence.push(format!("id {id}: CDR parts {sorted:?}, want {want:?}"));
            }
        }
        if looked == 0 {
            evidence.push("no CDR was looked up".into());
        }
        let detail = format!("{looked} messages looked up, {} wrong", evidence.len());
        verdict(evidence.is_empty(), detail, evidence)
    }
}

fn is_final(stat: &str) -> bool {
    !matches!(stat, "ENROUTE" | "ACCEPTD" | "UNKNOWN" | "SCHEDULED" | "")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::ReceiptSeen;

    fn op(n: u64, outcome: Outcome) -> SubmitOp {
        SubmitOp {
            op: n,
            customer: "c".into(),
            node: 1,
            dst: format!("49{n}"),
            chars: 10,
            parts: 1,
            registered: true,
            start_ms: n,
            end_ms: n,
            outcome,
        }
    }

    fn submit(t_ms: u64, conn: u64, dst: &str, status: &str, answered: bool) -> OperatorEvent {
        OperatorEvent::Submit {
            t_ms,
            conn,
            seq: 1,
            src: String::new(),
            dst: dst.into(),
            reference: None,
            part: None,
            parts: None,
            registered: 1,
            status: status.into(),
            id: Some(format!("op-{dst}-{t_ms}")),
            answered,
            fault: None,
        }
    }

    fn ok(id: &str) -> Outcome {
        Outcome::Ok { id: id.into() }
    }

    fn verdict_of(history: &History, invariant: Invariant) -> Verdict {
        check(history, &[invariant])
            .into_iter()
            .find(|(i, _)| *i == invariant)
            .unwrap()
            .1
    }

    #[test]
    fn an_acknowledged_message_the_operator_never_saw_is_lost() {
        let mut history = History {
            ops: vec![
                op(1, ok("a")),
                op(2, ok("b")),
                op(
                    3,
                    Outcome::Unknown {
                        why: "closed".into(),
                    },
                ),
            ],
            operator: vec![submit(10, 1, "491", "ESME_ROK", true)],
            ambiguity_ms: 1000,
            ..History::default()
        };
        let lost = verdict_of(&history, Invariant::I1);
        assert!(lost.is_violated(), "{lost:?}");
        // A final receipt for it (a failure the node reported) settles it.
        history.receipts.push(ReceiptSeen {
            customer: "c".into(),
            node: 1,
            t_ms: 20,
            id: "b".into(),
            stat: "UNDELIV".into(),
            answered: true,
        });
        assert!(!verdict_of(&history, Invariant::I1).is_violated());
    }

    #[test]
    fn a_refused_submit_that_reached_the_operator_violates_i1() {
        let history = History {
            ops: vec![op(
                1,
                Outcome::Fail {
                    status: 0x58,
                    name: "ESME_RTHROTTLED".into(),
                },
            )],
            operator: vec![submit(10, 1, "491", "ESME_ROK", true)],
            ..History::default()
        };
        assert!(verdict_of(&history, Invariant::I1).is_violated());
    }

    #[test]
    fn a_resend_after_a_known_answer_violates_i2a_but_not_after_an_ambiguous_one() {
        let mut history = History {
            ops: vec![op(1, ok("a"))],
            operator: vec![
                submit(10, 1, "491", "ESME_ROK", true),
                submit(5000, 2, "491", "ESME_ROK", true),
            ],
            ambiguity_ms: 1000,
            ..History::default()
        };
        assert!(verdict_of(&history, Invariant::I2a).is_violated());
        assert!(
            verdict_of(&history, Invariant::I2b).is_violated(),
            "a duplicate, nothing ambiguous"
        );
        // The first answer's connection closed 200 ms later: the node may not have read it.
        history.operator.push(OperatorEvent::Close {
            t_ms: 210,
            conn: 1,
            by: "peer".into(),
        });
        assert!(!verdict_of(&history, Invariant::I2a).is_violated());
        assert!(!verdict_of(&history, Invariant::I2b).is_violated());
        // A throttled answer is known, and retrying it is right.
        history.operator = vec![
            submit(10, 1, "491", "ESME_RTHROTTLED", true),
            submit(500, 1, "491", "ESME_ROK", true),
        ];
        assert!(!verdict_of(&history, Invariant::I2a).is_violated());
    }

    #[test]
    fn charges_must_lie_between_the_acknowledged_and_the_possible() {
        let mut history = History {
            ops: vec![
                op(1, ok("a")),
                op(
                    2,
                    Outcome::Unknown {
                        why: "timeout".into(),
                    },
                ),
            ],
            ..History::default()
        };
        for (used, violated) in [(0, true), (1, false), (2, false), (3, true)] {
            history.figures.ledger_parts = Some(used);
            assert_eq!(
                verdict_of(&history, Invariant::I3).is_violated(),
                violated,
                "{used}"
            );
        }
    }

    #[test]
    fn receipts_twice_need_an_unanswered_delivery_and_never_regress() {
        let receipt = |t_ms, stat: &str, answered| ReceiptSeen {
            customer: "c".into(),
            node: 1,
            t_ms,
            id: "a".into(),
            stat: stat.into(),
            answered,
        };
        let mut history = History {
            ops: vec![op(1, ok("a"))],
            receipts: vec![receipt(1, "DELIVRD", true), receipt(2, "DELIVRD", true)],
            ..History::default()
        };
        assert!(verdict_of(&history, Invariant::I5).is_violated());
        history.receipts[0].answered = false;
        assert!(!verdict_of(&history, Invariant::I5).is_violated());
        history.receipts.push(receipt(3, "ENROUTE", true));
        assert!(verdict_of(&history, Invariant::I5).is_violated());
    }

    #[test]
    fn more_submits_in_a_second_than_the_tps_allows_violates_i10() {
        let mut history = History {
            link_tps: Some(2),
            operator: (0..4)
                .map(|n| submit(n * 100, 1, &format!("49{n}"), "ESME_ROK", true))
                .collect(),
            ..History::default()
        };
        assert!(verdict_of(&history, Invariant::I10).is_violated());
        history.link_tps = Some(3);
        assert!(!verdict_of(&history, Invariant::I10).is_violated());
    }

    #[test]
    fn an_id_given_twice_and_a_cdr_missing_are_found() {
        let mut history = History {
            ops: vec![op(1, ok("a")), op(2, ok("a"))],
            ..History::default()
        };
        assert!(verdict_of(&history, Invariant::I11).is_violated());
        history.ops[1].outcome = ok("b");
        assert!(!verdict_of(&history, Invariant::I11).is_violated());
        history.figures.cdr_parts.insert("a".into(), vec![1]);
        history.figures.cdr_parts.insert("b".into(), vec![1, 1]);
        assert!(verdict_of(&history, Invariant::I12).is_violated());
        history.figures.cdr_parts.insert("b".into(), vec![1]);
        assert!(!verdict_of(&history, Invariant::I12).is_violated());
    }

    #[test]
    fn inapplicable_invariants_say_so() {
        let verdicts = check(&History::default(), &[Invariant::I11]);
        assert_eq!(verdicts.len(), Invariant::ALL.len());
        assert!(verdicts
            .iter()
            .all(|(i, v)| (*i == Invariant::I11) != (*v == Verdict::NotApplicable)));
        assert_eq!(Invariant::parse("i2a"), Some(Invariant::I2a));
        assert_eq!(Invariant::I2b.to_string(), "I2b");
    }
}
