//! I3, I4 and I12: charges lie between what was acknowledged and what may have taken effect,
//! the quota holds, and every accepted part has its CDR.

use super::*;

impl View<'_> {
    pub(super) fn no_double_charge(&self) -> Verdict {
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

    pub(super) fn quota_kept(&self) -> Verdict {
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

    pub(super) fn cdrs_complete(&self) -> Verdict {
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
