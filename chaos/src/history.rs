//! What every party saw during a run, in the form the checker reads: the customers'
//! submits with their outcomes, the receipts they were handed, the operator's own record
//! (the simulator's `--history` file), the faults injected and when, and the node's figures
//! at the end (ledger, CDRs, queues, metrics).
//!
//! Outcomes follow Jepsen: `ok` (the node answered ESME_ROK with an id), `fail` (it
//! answered an error, or the submit never left the customer), `unknown` (the connection
//! closed or the answer did not come in time: the node may or may not have acted on it).
//! Every list is written as JSON lines in the run's directory, so a run can be checked
//! again, or compared with a replay of the same seed.

use std::collections::BTreeMap;
use std::io::{BufRead as _, Write as _};
use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::Context as _;
use serde::{Deserialize, Serialize};

/// Milliseconds since the Unix epoch: every party runs on this machine, so their stamps
/// compare.
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// How a customer's submit ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Outcome {
    /// Answered ESME_ROK with this message id.
    Ok { id: String },
    /// Answered with an error status, or never sent (`status` 0 and `name` "not_sent").
    Fail { status: u32, name: String },
    /// Written, and then the connection closed or no answer came in time.
    Unknown { why: String },
}

/// One submit of a customer: the operation of the history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SubmitOp {
    /// Numbered per run, from 1.
    pub op: u64,
    pub customer: String,
    /// The node the submit went to (1 for one node).
    pub node: u16,
    /// Unique per operation in the run: the operator's record of the message's parts is
    /// found by it.
    pub dst: String,
    /// The text's length; the parts the operator should see follow from it.
    pub chars: usize,
    pub parts: u32,
    pub registered: bool,
    pub start_ms: u64,
    pub end_ms: u64,
    pub outcome: Outcome,
}

/// A receipt a customer was handed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReceiptSeen {
    pub customer: String,
    pub node: u16,
    pub t_ms: u64,
    /// The message id the receipt names (the node's id given in submit_sm_resp).
    pub id: String,
    /// DELIVRD, UNDELIV, ENROUTE, ...
    pub stat: String,
    /// Whether the customer answered it (a receipt left unanswered may come again).
    pub answered: bool,
    /// Answered, but the bind went down within [`ANSWER_AMBIGUITY_MS`] after: the node
    /// may not have read the answer, and may send the receipt again.
    #[serde(default)]
    pub answer_lost: bool,
}

/// How long after a customer's answer a bind that goes down leaves the answer in doubt.
pub const ANSWER_AMBIGUITY_MS: u64 = 2_000;

/// A fault as it was injected.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FaultEvent {
    pub t_ms: u64,
    /// The fault's F-number of the catalogue (`F1`) and what was done.
    pub fault: String,
    pub what: String,
}

/// A recovery the scenario timed (I7): from the fault to the first success after it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Recovery {
    pub what: String,
    pub seconds: Option<f64>,
    /// The most it may take.
    pub limit_seconds: f64,
}

/// A line of the simulator's `--history` file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "ev", rename_all = "snake_case")]
pub enum OperatorEvent {
    Bind {
        t_ms: u64,
        conn: u64,
        system_id: String,
        kind: String,
        ok: bool,
    },
    Submit {
        t_ms: u64,
        conn: u64,
        #[serde(default)]
        seq: u32,
        #[serde(default)]
        src: String,
        dst: String,
        #[serde(rename = "ref", default)]
        reference: Option<u32>,
        #[serde(default)]
        part: Option<u32>,
        #[serde(default)]
        parts: Option<u32>,
        #[serde(default)]
        registered: u8,
        status: String,
        #[serde(default)]
        id: Option<String>,
        answered: bool,
        #[serde(default)]
        fault: Option<String>,
    },
    Receipt {
        t_ms: u64,
        conn: u64,
        id: String,
        stat: String,
        #[serde(default)]
        dst: String,
        acked: bool,
    },
    Close {
        t_ms: u64,
        conn: u64,
        by: String,
    },
    /// A line of a kind this harness does not know: kept out of the checks.
    #[serde(other)]
    Other,
}

/// The node's figures at the end of a run.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Figures {
    /// Parts the ledger counts as used by the customers' account.
    pub ledger_parts: Option<u64>,
    /// The ledger's balance of the account, when it has money.
    pub ledger_balance: Option<i64>,
    /// The account's quota of parts, when it has one.
    pub quota_parts: Option<u64>,
    /// Per message id looked up in the CDRs: the part numbers of its records.
    pub cdr_parts: BTreeMap<String, Vec<u32>>,
    /// Depth of every queue once the run has settled.
    pub queued: u64,
    /// Receipts from the operator the node could not match, from its metrics.
    pub unmatched_receipts: Option<u64>,
    /// The node's resident memory, sampled through the run (MiB).
    pub rss_mib: Vec<f64>,
}

/// The ids of the submits that were answered OK.
pub fn accepted_ids(ops: &[SubmitOp]) -> Vec<String> {
    ops.iter()
        .filter_map(|op| match &op.outcome {
            Outcome::Ok { id } => Some(id.clone()),
            _ => None,
        })
        .collect()
}

/// Everything a run recorded.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct History {
    pub scenario: String,
    pub seed: u64,
    pub ops: Vec<SubmitOp>,
    pub receipts: Vec<ReceiptSeen>,
    pub operator: Vec<OperatorEvent>,
    pub faults: Vec<FaultEvent>,
    pub recoveries: Vec<Recovery>,
    pub figures: Figures,
    /// Submits per second per bind the link may send (I10), when the scenario sets it.
    pub link_tps: Option<u32>,
    /// How long after an answer a closed connection still makes the answer of unknown
    /// fate to the node (it may not have read it).
    pub ambiguity_ms: u64,
}

impl History {
    /// Records a fault injected now.
    pub fn fault(&mut self, fault: &str, what: String) {
        self.faults.push(FaultEvent {
            t_ms: now_ms(),
            fault: fault.into(),
            what,
        });
    }

    /// Records how long a recovery took (`None`: not within its wait), against its limit.
    pub fn recovered(&mut self, what: impl Into<String>, seconds: Option<f64>, limit_seconds: f64) {
        self.recoveries.push(Recovery {
            what: what.into(),
            seconds,
            limit_seconds,
        });
    }

    /// Writes the history as `DIR/*.jsonl` files and `DIR/figures.json`.
    pub fn save(&self, dir: &Path) -> anyhow::Result<()> {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        write_lines(&dir.join("ops.jsonl"), &self.ops)?;
        write_lines(&dir.join("receipts.jsonl"), &self.receipts)?;
        write_lines(&dir.join("operator.jsonl"), &self.operator)?;
        write_lines(&dir.join("faults.jsonl"), &self.faults)?;
        let meta = serde_json::json!({
            "scenario": self.scenario,
            "seed": self.seed,
            "recoveries": self.recoveries,
            "figures": self.figures,
            "link_tps": self.link_tps,
            "ambiguity_ms": self.ambiguity_ms,
        });
        std::fs::write(dir.join("run.json"), serde_json::to_vec_pretty(&meta)?)
            .with_context(|| format!("writing {}", dir.join("run.json").display()))
    }

    /// Reads a history [`History::save`] wrote.
    pub fn load(dir: &Path) -> anyhow::Result<Self> {
        let meta: serde_json::Value = serde_json::from_slice(
            &std::fs::read(dir.join("run.json"))
                .with_context(|| format!("reading {}", dir.join("run.json").display()))?,
        )?;
        Ok(Self {
            scenario: meta["scenario"].as_str().unwrap_or_default().to_owned(),
            seed: meta["seed"].as_u64().unwrap_or_default(),
            ops: read_lines(&dir.join("ops.jsonl"))?,
            receipts: read_lines(&dir.join("receipts.jsonl"))?,
            operator: read_lines(&dir.join("operator.jsonl"))?,
            faults: read_lines(&dir.join("faults.jsonl"))?,
            recoveries: serde_json::from_value(meta["recoveries"].clone()).unwrap_or_default(),
            figures: serde_json::from_value(meta["figures"].clone()).unwrap_or_default(),
            link_tps: meta["link_tps"]
                .as_u64()
                .and_then(|v| u32::try_from(v).ok()),
            ambiguity_ms: meta["ambiguity_ms"].as_u64().unwrap_or_default(),
        })
    }
}

fn write_lines<T: Serialize>(path: &Path, items: &[T]) -> anyhow::Result<()> {
    let file =
        std::fs::File::create(path).with_context(|| format!("creating {}", path.display()))?;
    let mut out = std::io::BufWriter::new(file);
    for item in items {
        serde_json::to_writer(&mut out, item)?;
        out.write_all(b"\n")?;
    }
    out.flush()
        .with_context(|| format!("writing {}", path.display()))
}

/// JSON lines of `path`; a line that does not parse is an error naming its number, except
/// a last line cut short by a process killed while writing it.
pub fn read_lines<T: for<'de> Deserialize<'de>>(path: &Path) -> anyhow::Result<Vec<T>> {
    let file = std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let lines: Vec<String> = std::io::BufReader::new(file)
        .lines()
        .collect::<Result<_, _>>()
        .with_context(|| format!("reading {}", path.display()))?;
    let mut items = Vec::with_capacity(lines.len());
    for (n, line) in lines.iter().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        match serde_json::from_str(line) {
            Ok(item) => items.push(item),
            Err(_) if n + 1 == lines.len() => break,
            Err(e) => anyhow::bail!("{}:{}: {e}", path.display(), n + 1),
        }
    }
    Ok(items)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operator_lines_parse_and_unknown_kinds_are_kept_out() {
        let submit = r#"{"ev":"submit","t_ms":5,"conn":1,"seq":2,"src":"1","dst":"49","ref":7,"part":1,"parts":2,"registered":1,"status":"ESME_ROK","id":"a1","answered":true,"fault":null}"#;
        let event: OperatorEvent = serde_json::from_str(submit).unwrap();
        assert!(matches!(
            event,
            OperatorEvent::Submit {
                reference: Some(7),
                part: Some(1),
                answered: true,
                ..
            }
        ));
        let other: OperatorEvent = serde_json::from_str(r#"{"ev":"mo","t_ms":1}"#).unwrap();
        assert_eq!(other, OperatorEvent::Other);
    }

    #[test]
    fn a_history_reads_back_as_it_was_saved_even_with_a_cut_last_line() {
        let dir = std::env::temp_dir().join(format!("tern-chaos-history-{}", std::process::id()));
        let history = History {
            scenario: "baseline".into(),
            seed: 7,
            ops: vec![SubmitOp {
                op: 1,
                customer: "c1".into(),
                node: 1,
                dst: "4901".into(),
                chars: 10,
                parts: 1,
                registered: true,
                start_ms: 1,
                end_ms: 2,
                outcome: Outcome::Ok { id: "9".into() },
            }],
            ambiguity_ms: 2000,
            ..History::default()
        };
        history.save(&dir).unwrap();
        let mut ops = std::fs::read_to_string(dir.join("ops.jsonl")).unwrap();
        ops.push_str("{\"op\":2,\"cust");
        std::fs::write(dir.join("ops.jsonl"), ops).unwrap();
        assert_eq!(History::load(&dir).unwrap(), history);
        std::fs::remove_dir_all(dir).unwrap();
    }
}
