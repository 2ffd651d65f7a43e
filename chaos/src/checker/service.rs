//! I7, I8, I9 and I10: service comes back within its limit, queues drain, memory stays
//! bounded, and the operator's TPS and the order of parts are kept.

use super::*;

impl View<'_> {
    pub(super) fn recovered(&self) -> Verdict {
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

    pub(super) fn drained(&self) -> Verdict {
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

    pub(super) fn bounded(&self) -> Verdict {
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

    pub(super) fn throttle_kept(&self) -> Verdict {
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
}
