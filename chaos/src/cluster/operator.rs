//! The operator the cluster sends to: `tern-bench smsc` as a process, or an SMSC given by
//! URL. The simulator has no API of its own; what it counts is read from its log, where it
//! writes a progress line every second and its final counters as JSON when it stops.

use std::path::Path;

use serde::{Deserialize, Serialize};

/// The account the nodes bind to the simulator with (SMPP passwords are at most 8
/// characters).
pub const SIMULATOR_ACCOUNT: (&str, &str) = ("tern", "tern");

/// What the simulator has seen: from its last progress line while it runs (up to a second
/// old), or from its final counters once it has stopped.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct OperatorStats {
    /// Binds open now (at the end: 0).
    pub binds: u64,
    /// submit_sm answered, whatever the status.
    pub submits: u64,
    /// Accepted submits that were the same (source, destination, text) as an earlier one.
    pub duplicates: u64,
    /// Receipt deliver_sm answered by a node.
    pub receipts_sent: u64,
    /// Receipts waiting to be sent.
    pub receipts_pending: u64,
    /// Accepted submits whose (source, destination, text) was new; in the final counters
    /// only.
    #[serde(default)]
    pub unique_submits: Option<u64>,
}

/// `host:port` of an `smpp://USER:PASSWORD@HOST:PORT` (or `smpps://`) URL.
pub fn url_host_port(url: &str) -> anyhow::Result<String> {
    let rest = url
        .strip_prefix("smpp://")
        .or_else(|| url.strip_prefix("smpps://"))
        .ok_or_else(|| anyhow::anyhow!("--upstream {url:?}: not smpp://USER:PASSWORD@HOST:PORT"))?;
    let authority = rest.split('/').next().unwrap_or_default();
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, hp)| hp);
    match host_port.rsplit_once(':') {
        Some((host, port)) if !host.is_empty() && port.parse::<u16>().is_ok() => {
            Ok(host_port.to_owned())
        }
        _ => anyhow::bail!("--upstream {url:?}: no HOST:PORT after the credentials"),
    }
}

/// The line the simulator prints once it listens.
pub fn listening(log: &str) -> bool {
    log.lines()
        .any(|l| l.starts_with("tern-bench smsc listening on "))
}

/// The counters of the simulator's last progress line in `log`:
/// `[  3.0s]   5 submits/s  binds 3  submits 5  receipts sent 0 pending 0  duplicates 0`.
pub fn last_progress(log: &str) -> Option<OperatorStats> {
    log.lines().rev().find_map(progress)
}

fn progress(line: &str) -> Option<OperatorStats> {
    if !line.starts_with('[') || !line.contains("submits/s") {
        return None;
    }
    let words: Vec<&str> = line.split_whitespace().collect();
    let after = |key: &[&str]| -> Option<u64> {
        words
            .windows(key.len() + 1)
            .find(|w| w[..key.len()] == *key)
            .and_then(|w| w[key.len()].parse().ok())
    };
    Some(OperatorStats {
        binds: after(&["binds"])?,
        submits: after(&["submits"])?,
        receipts_sent: after(&["receipts", "sent"])?,
        receipts_pending: after(&["pending"])?,
        duplicates: after(&["duplicates"])?,
        unique_submits: None,
    })
}

/// The counters the simulator printed when it stopped: the pretty JSON object at the end
/// of `log`.
pub fn final_stats(log: &str) -> Option<(OperatorStats, serde_json::Value)> {
    let start = log.rfind("\n{\n")? + 1;
    let value: serde_json::Value = serde_json::from_str(log[start..].trim_end()).ok()?;
    let stats = serde_json::from_value(value.clone()).ok()?;
    Some((stats, value))
}

/// The log of the simulator, or nothing when it cannot be read.
pub fn read_log(path: &Path) -> String {
    std::fs::read(path)
        .map(|bytes| String::from_utf8_lossy(&bytes).into_owned())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_last_progress_line_gives_the_counters() {
        let log = "tern-bench smsc listening on 127.0.0.1:20000\n\
            [   1.0s]        0 submits/s  binds 3  submits 0  receipts sent 0 pending 0  duplicates 0\n\
            [   2.0s]        5 submits/s  binds 3  submits 5  receipts sent 4 pending 1  duplicates 0\n";
        assert!(listening(log));
        let stats = last_progress(log).unwrap();
        assert_eq!(
            stats,
            OperatorStats {
                binds: 3,
                submits: 5,
                duplicates: 0,
                receipts_sent: 4,
                receipts_pending: 1,
                unique_submits: None,
            }
        );
    }

    #[test]
    fn the_final_counters_are_the_json_at_the_end() {
        let log = "[   2.0s]        5 submits/s  binds 3  submits 5  receipts sent 4 pending 1  duplicates 0\n\
            {\n  \"binds\": 0,\n  \"binds_total\": 3,\n  \"submits\": 5,\n  \"submits_by_status\": {\n    \"ESME_ROK\": 5\n  },\n  \
            \"unique_submits\": 5,\n  \"duplicates\": 0,\n  \"receipts_sent\": 5,\n  \"receipts_pending\": 0\n}\n";
        let (stats, value) = final_stats(log).unwrap();
        assert_eq!(stats.unique_submits, Some(5));
        assert_eq!(stats.receipts_sent, 5);
        assert_eq!(value["submits_by_status"]["ESME_ROK"], 5);
    }

    #[test]
    fn an_upstream_url_names_its_host_and_port() {
        assert_eq!(
            url_host_port("smpp://u:p@10.0.0.1:2775").unwrap(),
            "10.0.0.1:2775"
        );
        assert_eq!(
            url_host_port("smpps://u:p%40x@smsc.example:3550").unwrap(),
            "smsc.example:3550"
        );
        assert!(url_host_port("http://u:p@h:1").is_err());
        assert!(url_host_port("smpp://u:p@h").is_err());
    }
}
