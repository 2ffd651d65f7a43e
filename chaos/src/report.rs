//! The end of a run: a verdict table (scenario × invariant), the figures an SRE asks for
//! first (acknowledged, lost, duplicates against ambiguous resends, recovery times), and
//! each violation's evidence, as `report.md` for people and `report.json` for tools.

use std::fmt::Write as _;
use std::path::Path;

use anyhow::Context as _;
use serde::Serialize;

use crate::checker::{Invariant, Verdict};
use crate::history::{History, Outcome};

/// One scenario's result.
#[derive(Debug, Clone, Serialize)]
pub struct ScenarioResult {
    pub scenario: String,
    pub seed: u64,
    pub seconds: f64,
    /// The run could not be carried out (the harness or the environment failed).
    pub error: Option<String>,
    pub verdicts: Vec<(Invariant, Verdict)>,
    pub figures: Summary,
}

impl ScenarioResult {
    pub fn violated(&self) -> bool {
        self.error.is_some() || self.verdicts.iter().any(|(_, v)| v.is_violated())
    }
}

/// The run's figures in brief.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Summary {
    pub submits: usize,
    pub acknowledged: usize,
    pub refused: usize,
    pub unknown: usize,
    pub operator_submits: usize,
    pub receipts: usize,
    pub faults: usize,
    pub recoveries: Vec<(String, Option<f64>)>,
}

impl Summary {
    pub fn of(history: &History) -> Self {
        let count =
            |f: fn(&Outcome) -> bool| history.ops.iter().filter(|op| f(&op.outcome)).count();
        Self {
            submits: history.ops.len(),
            acknowledged: count(|o| matches!(o, Outcome::Ok { .. })),
            refused: count(|o| matches!(o, Outcome::Fail { .. })),
            unknown: count(|o| matches!(o, Outcome::Unknown { .. })),
            operator_submits: history
                .operator
                .iter()
                .filter(|e| matches!(e, crate::history::OperatorEvent::Submit { .. }))
                .count(),
            receipts: history.receipts.len(),
            faults: history.faults.len(),
            recoveries: history
                .recoveries
                .iter()
                .map(|r| (r.what.clone(), r.seconds))
                .collect(),
        }
    }
}

/// Writes `DIR/report.md` and `DIR/report.json`.
pub fn write(dir: &Path, title: &str, results: &[ScenarioResult]) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    std::fs::write(dir.join("report.md"), markdown(title, results))
        .with_context(|| format!("writing {}", dir.join("report.md").display()))?;
    let json = serde_json::json!({ "title": title, "results": results });
    std::fs::write(dir.join("report.json"), serde_json::to_vec_pretty(&json)?)
        .with_context(|| format!("writing {}", dir.join("report.json").display()))
}

/// The report as Markdown.
pub fn markdown(title: &str, results: &[ScenarioResult]) -> String {
    let mut out = format!("# {title}\n\n");
    out.push_str(&table(results));
    out.push_str(
        "\n| scenario | seed | s | submits | ok | refused | unknown | at operator | receipts |\n",
    );
    out.push_str("|---|---|---|---|---|---|---|---|---|\n");
    for r in results {
        let f = &r.figures;
        let _ = writeln!(
            out,
            "| {} | {} | {:.0} | {} | {} | {} | {} | {} | {} |",
            r.scenario,
            r.seed,
            r.seconds,
            f.submits,
            f.acknowledged,
            f.refused,
            f.unknown,
            f.operator_submits,
            f.receipts
        );
    }
    for r in results {
        let _ = writeln!(out, "\n## {} (seed {})\n", r.scenario, r.seed);
        if let Some(error) = &r.error {
            let _ = writeln!(out, "The run failed: {error}\n");
        }
        for (invariant, verdict) in &r.verdicts {
            match verdict {
                Verdict::NotApplicable => {}
                Verdict::Held { detail } => {
                    let _ = writeln!(out, "- {invariant} held: {detail}");
                }
                Verdict::Violated { detail, evidence } => {
                    let _ = writeln!(out, "- **{invariant} VIOLATED**: {detail}");
                    for e in evidence {
                        let _ = writeln!(out, "  - {e}");
                    }
                }
            }
        }
    }
    out
}

/// The verdict table alone: one row per scenario, one column per invariant.
pub fn table(results: &[ScenarioResult]) -> String {
    let mut out = String::from("| scenario |");
    for i in Invariant::ALL {
        let _ = write!(out, " {i} |");
    }
    out.push_str("\n|---|");
    out.push_str(&"---|".repeat(Invariant::ALL.len()));
    out.push('\n');
    for r in results {
        let _ = write!(out, "| {} |", r.scenario);
        for i in Invariant::ALL {
            let word = match &r.error {
                Some(_) => "error",
                None => r
                    .verdicts
                    .iter()
                    .find(|(v, _)| *v == i)
                    .map_or("n/a", |(_, v)| v.word()),
            };
            let _ = write!(out, " {word} |");
        }
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_has_a_column_per_invariant_and_shows_violations() {
        let result = ScenarioResult {
            scenario: "baseline".into(),
            seed: 1,
            seconds: 3.0,
            error: None,
            verdicts: vec![
                (
                    Invariant::I1,
                    Verdict::Held {
                        detail: "fine".into(),
                    },
                ),
                (
                    Invariant::I2a,
                    Verdict::Violated {
                        detail: "1 sent again".into(),
                        evidence: vec!["dst 49 part 1".into()],
                    },
                ),
            ],
            figures: Summary::default(),
        };
        assert!(result.violated());
        let md = markdown("t", &[result]);
        assert!(md.contains("| baseline | held | VIOLATED | n/a |"), "{md}");
        assert!(
            md.contains("**I2a VIOLATED**: 1 sent again\n  - dst 49 part 1"),
            "{md}"
        );
    }
}
