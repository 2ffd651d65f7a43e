//! I5 and I6: a customer hears of each message once and never backwards, and every receipt
//! the operator sent is matched.

use super::*;

impl View<'_> {
    pub(super) fn receipts_once(&self) -> Verdict {
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

    pub(super) fn receipts_matched(&self) -> Verdict {
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
}
