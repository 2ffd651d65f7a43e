#![allow(clippy::unwrap_used)]
//! The checker catches planted bugs. A `tern` built with `--features failpoints` carries
//! two deliberate bugs that its `FAILPOINTS` variable turns on: a submit answered OK and
//! never written (`accept_ack_before_durable`), and a part sent to the operator again after
//! its answer came back (`link_resend_known`). The baseline scenario run on that build must
//! report I1 and I2a violated, with the messages involved as evidence; the same scenario
//! without them holds.
//!
//! The test build's binary comes from `TERN_FAILPOINTS_BIN` (`scripts/test` builds it with
//! `cargo build -p tern-node --bin tern --features failpoints` and keeps it as
//! `target/debug/tern-failpoints`, then runs `cargo test -p tern-chaos --test planted`).
//! Without it the test says so and passes. The same build steps its clock for the
//! clock-step scenario (F12), and fails its disk for the disk-fails (F14) and power-loss
//! (F13) scenarios; each must hold every invariant.

use std::path::PathBuf;
use std::time::Duration;

use tern_chaos::checker::{check, Invariant, Verdict};
use tern_chaos::cluster::Binaries;
use tern_chaos::scenario::{catalogue, run, RunOptions};

fn failpoint_build() -> Option<Binaries> {
    let Some(tern) = std::env::var_os("TERN_FAILPOINTS_BIN").filter(|v| !v.is_empty()) else {
        eprintln!("skipped: TERN_FAILPOINTS_BIN is not set (a failpoints build is needed)");
        return None;
    };
    let found = Binaries::find().unwrap();
    Some(Binaries {
        tern: PathBuf::from(tern),
        tern_bench: found.tern_bench,
    })
}

/// The baseline scenario with `failpoints`, checked.
async fn baseline(binaries: Binaries, failpoints: &str, name: &str) -> Vec<(Invariant, Verdict)> {
    scenario(
        "baseline",
        Duration::from_secs(6),
        binaries,
        failpoints,
        name,
    )
    .await
}

/// Scenario `which` on the test build with `failpoints`, checked.
async fn scenario(
    which: &str,
    duration: Duration,
    binaries: Binaries,
    failpoints: &str,
    name: &str,
) -> Vec<(Invariant, Verdict)> {
    let scenario = catalogue().into_iter().find(|s| s.name == which).unwrap();
    let dir =
        std::env::temp_dir().join(format!("tern-chaos-planted-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let options = RunOptions {
        seed: 42,
        duration,
        rate: 30.0,
        dir: dir.clone(),
        binaries,
        progress: true,
        node_env: vec![("FAILPOINTS".into(), failpoints.into())],
    };
    let history = tokio::time::timeout(Duration::from_secs(180), run(&scenario, &options))
        .await
        .expect("the scenario ends in time")
        .unwrap();
    let verdicts = check(&history, scenario.invariants);
    for (invariant, verdict) in &verdicts {
        eprintln!("{name}: {invariant} {verdict:?}");
    }
    std::fs::remove_dir_all(&dir).unwrap();
    verdicts
}

/// Scenario `which` on the test build, with no failpoint on, holds every invariant.
async fn holds_every_invariant(which: &str, duration: Duration, binaries: Binaries, name: &str) {
    let verdicts = scenario(which, duration, binaries, "", name).await;
    let violated: Vec<_> = verdicts.iter().filter(|(_, v)| v.is_violated()).collect();
    assert!(violated.is_empty(), "{violated:?}");
}

fn verdict(verdicts: &[(Invariant, Verdict)], invariant: Invariant) -> &Verdict {
    &verdicts.iter().find(|(i, _)| *i == invariant).unwrap().1
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_answer_before_the_write_is_caught_as_loss() {
    let Some(binaries) = failpoint_build() else {
        return;
    };
    let verdicts = baseline(binaries, "accept_ack_before_durable=10%return", "ack").await;
    match verdict(&verdicts, Invariant::I1) {
        Verdict::Violated { evidence, .. } => {
            assert!(
                evidence.iter().any(|e| e.contains("no final receipt")),
                "{evidence:?}"
            );
        }
        other => panic!("I1 not caught: {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resend_after_a_known_answer_is_caught() {
    let Some(binaries) = failpoint_build() else {
        return;
    };
    let verdicts = baseline(binaries, "link_resend_known=10%return", "resend").await;
    match verdict(&verdicts, Invariant::I2a) {
        Verdict::Violated { evidence, .. } => {
            assert!(
                evidence.iter().any(|e| e.contains("sent again")),
                "{evidence:?}"
            );
        }
        other => panic!("I2a not caught: {other:?}"),
    }
    assert!(
        verdict(&verdicts, Invariant::I2b).is_violated(),
        "duplicates with nothing ambiguous"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_build_without_failpoints_holds() {
    let Some(binaries) = failpoint_build() else {
        return;
    };
    holds_every_invariant("baseline", Duration::from_secs(6), binaries, "clean").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_clock_stepped_an_hour_each_way_and_drifting_breaks_no_invariant() {
    let Some(binaries) = failpoint_build() else {
        return;
    };
    holds_every_invariant("clock-step", Duration::from_secs(16), binaries, "clock").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_disk_that_fails_stops_the_node_and_loses_nothing_acknowledged() {
    let Some(binaries) = failpoint_build() else {
        return;
    };
    holds_every_invariant("disk-fails", Duration::from_secs(12), binaries, "disk").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_power_loss_loses_nothing_acknowledged() {
    let Some(binaries) = failpoint_build() else {
        return;
    };
    holds_every_invariant("power-loss", Duration::from_secs(12), binaries, "power").await;
}
