//! `tern-bench compare` end to end: S1 against the raw harness and a real `tern node` with a
//! few thousand messages, then results.json, results.md and the SVG plots checked for sane
//! figures; and S2 against the node over HTTP (`tern-http`, Kannel's sendsms with a
//! dlr-url), every receipt back. The node is the `tern` binary of the same target directory
//! (`cargo test --workspace` builds it; alone: `cargo build --bin tern` first).

// Test helpers: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used)]

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const LIMIT: Duration = Duration::from_secs(50);

/// target/<profile>/tern, beside this test's tern-bench.
fn tern() -> PathBuf {
    let bench = PathBuf::from(env!("CARGO_BIN_EXE_tern-bench"));
    let tern = bench.with_file_name("tern");
    assert!(
        tern.exists(),
        "{} is missing: build it with `cargo build --bin tern`",
        tern.display()
    );
    tern
}

/// Runs `tern-bench compare ARGS --tern TERN --out OUT --quiet` to its end, within LIMIT.
fn compare(args: &[&str], out: &std::path::Path) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_tern-bench"))
        .arg("compare")
        .args(args)
        .args(["--start-timeout", "20s", "--quiet"])
        .arg("--tern")
        .arg(tern())
        .arg("--out")
        .arg(out)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if started.elapsed() > LIMIT {
            let _ = child.kill();
            let _ = child.wait();
            panic!("compare did not finish within {LIMIT:?}");
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let mut stderr = String::new();
    if let Some(mut pipe) = child.stderr.take() {
        use std::io::Read as _;
        let _ = pipe.read_to_string(&mut stderr);
    }
    assert!(status.success(), "compare failed: {stderr}");
}

#[test]
fn compare_s1_writes_results_table_and_plots() {
    let out = tempfile::tempdir().unwrap();
    compare(
        &[
            "--scenario",
            "S1",
            "--systems",
            "raw,tern",
            "--count",
            "3000",
            "--duration",
            "10s",
            "--binds",
            "2",
            "--window",
            "16",
            "--sustain-duration",
            "1s",
        ],
        out.path(),
    );

    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.path().join("results.json")).unwrap())
            .unwrap();
    assert_eq!(json["failures"].as_array().unwrap().len(), 0, "{json:#}");
    let rows = json["rows"].as_array().unwrap();
    // raw and tern, closed loop and then at the common rate.
    assert_eq!(rows.len(), 4, "{json:#}");
    let rate = json["sustain_rate"].as_f64().unwrap();
    assert!(rate >= 1.0, "{rate}");
    for row in rows {
        let system = row["system"].as_str().unwrap();
        let phase = row["phase"].as_str().unwrap();
        let accepted = row["accepted"].as_u64().unwrap();
        let msg_per_sec = row["msg_per_sec"].as_f64().unwrap();
        let p50 = row["latency_ms"]["p50"].as_f64().unwrap();
        let p99 = row["latency_ms"]["p99"].as_f64().unwrap();
        let p999 = row["latency_ms"]["p999"].as_f64().unwrap();
        let cpu = row["cpu_us_per_msg"].as_f64().unwrap();
        let rss = row["peak_rss_mib"].as_f64().unwrap();
        assert_eq!(row["errors"].as_u64(), Some(0), "{system} {phase}: {row:#}");
        if phase == "max" {
            assert_eq!(accepted, 3000, "{system}");
        } else {
            assert!(accepted >= 1, "{system} at {rate}/s: {row:#}");
        }
        assert_eq!(
            row["forwarded"].as_u64(),
            Some(accepted),
            "{system} {phase}"
        );
        assert!(
            msg_per_sec > 0.0 && msg_per_sec.is_finite(),
            "{system} {phase}"
        );
        assert!(
            0.0 < p50 && p50 <= p99 && p99 <= p999 && p999 < 30_000.0,
            "{system} {phase}: {p50} {p99} {p999}"
        );
        assert!(
            cpu > 0.0 && cpu < 100_000.0,
            "{system} {phase}: {cpu} µs/msg"
        );
        assert!(rss > 1.0 && rss < 16_384.0, "{system} {phase}: {rss} MiB");
    }
    let tern_pid = rows
        .iter()
        .find(|r| r["system"] == "tern")
        .map(|r| r["load"]["process"]["pids"][0].as_u64().unwrap())
        .unwrap();
    assert_ne!(u64::from(std::process::id()), tern_pid);
    assert!(
        !std::path::Path::new(&format!("/proc/{tern_pid}")).exists(),
        "the node was stopped"
    );

    let md = std::fs::read_to_string(out.path().join("results.md")).unwrap();
    assert!(md.contains("| raw | smpp |"), "{md}");
    assert!(md.contains("| tern | smpp |"), "{md}");
    assert!(
        md.contains(&format!("open loop at {rate:.0} msg/s")),
        "{md}"
    );
    for plot in [
        "S1-throughput.svg",
        "S1-latency.svg",
        "S1-rate-throughput.svg",
        "S1-rate-latency.svg",
    ] {
        let svg = std::fs::read_to_string(out.path().join(plot)).unwrap();
        assert!(svg.starts_with("<svg"), "{plot}");
        assert!(svg.contains("tern") && svg.contains("raw"), "{plot}");
        assert!(svg.contains("<rect"), "{plot}");
    }
    assert!(
        !out.path().join("work").exists(),
        "the scratch directory is removed"
    );
}

#[test]
fn compare_tern_http_s2_accepts_over_sendsms_and_calls_back_every_receipt() {
    let out = tempfile::tempdir().unwrap();
    compare(
        &[
            "--scenario",
            "S2",
            "--systems",
            "tern-http",
            // A debug node over HTTP takes a few hundred a second on a busy machine: the
            // count, not the duration, ends the load.
            "--count",
            "1000",
            "--duration",
            "30s",
            "--binds",
            "2",
            "--window",
            "16",
            "--receipt-delay",
            "50ms",
        ],
        out.path(),
    );
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.path().join("results.json")).unwrap())
            .unwrap();
    assert_eq!(json["failures"].as_array().unwrap().len(), 0, "{json:#}");
    let rows = json["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 1, "{json:#}");
    let row = &rows[0];
    assert_eq!(row["system"], "tern-http");
    assert_eq!(row["protocol"], "http");
    assert_eq!(row["accepted"].as_u64(), Some(1000), "{row:#}");
    assert_eq!(row["errors"].as_u64(), Some(0), "{row:#}");
    assert_eq!(row["load"]["by_status"]["HTTP_202"].as_u64(), Some(1000));
    assert_eq!(row["forwarded"].as_u64(), Some(1000), "{row:#}");
    assert_eq!(row["receipts_matched"].as_u64(), Some(1000), "{row:#}");
    assert_eq!(row["receipts_missing"].as_u64(), Some(0));
    assert_eq!(row["load"]["receipts"]["unmatched"].as_u64(), Some(0));
    let receipt_p50 = row["receipt_latency_ms"]["p50"].as_f64().unwrap();
    assert!(
        receipt_p50 >= 50.0,
        "the simulator waits 50 ms: {receipt_p50}"
    );
    let cpu = row["cpu_us_per_msg"].as_f64().unwrap();
    assert!(cpu > 0.0 && cpu < 100_000.0, "{cpu} µs/msg");
    let pid = row["load"]["process"]["pids"][0].as_u64().unwrap();
    assert!(
        !std::path::Path::new(&format!("/proc/{pid}")).exists(),
        "the node was stopped"
    );
    let md = std::fs::read_to_string(out.path().join("results.md")).unwrap();
    assert!(md.contains("| tern-http | http |"), "{md}");
}
