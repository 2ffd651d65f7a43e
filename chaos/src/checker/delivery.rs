//! I1, I2a, I2b and I11: every acknowledged message reaches the operator, nothing known is sent
//! twice, what is of unknown fate is bounded, and ids are never given twice.

use super::*;

impl View<'_> {
    pub(super) fn no_loss(&self) -> Verdict {
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

    pub(super) fn no_known_resend(&self) -> Verdict {
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
                for again in seen.iter().filter(|s| s.read_after(first)) {
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

    pub(super) fn duplicates_bounded(&self) -> Verdict {
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

    pub(super) fn ids_unique(&self) -> Verdict {
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
}
