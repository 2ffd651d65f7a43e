//! An acknowledged batch survives SIGKILL. This test binary runs itself a second time as
//! the child (selected by `TERN_STORE_CRASH_CHILD`), which writes batches as fast as it can
//! and prints `ack <id>` once a batch's completion reported success; the parent kills it
//! mid-stream, reopens the store and looks for every acknowledged id.

#![allow(clippy::unwrap_used)]

mod common;

use std::collections::HashSet;
use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use common::{open, pending, put, record, temp_dir, Wait};
use tern_model::MessageId;
use tern_storage::{MessageStore, StoreError, WriteOp};

const CHILD_ENV: &str = "TERN_STORE_CRASH_CHILD";
/// Acknowledgements to collect before the kill.
const ACKS_BEFORE_KILL: usize = 3_000;
/// The child stops by itself after this many batches or this long.
const CHILD_MAX_BATCHES: u64 = 1_000_000;
const CHILD_MAX_TIME: Duration = Duration::from_secs(60);
const CHILD_WRITERS: u64 = 8;

#[test]
fn acknowledged_batches_survive_sigkill() {
    // Run again as the child, this same test with the store directory in the environment.
    if let Some(dir) = std::env::var_os(CHILD_ENV) {
        crash_child(dir.as_ref());
        return;
    }
    let dir = temp_dir();
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "acknowledged_batches_survive_sigkill",
            "--nocapture",
        ])
        .args(["--test-threads", "1"])
        .env(CHILD_ENV, dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();

    let stdout = child.stdout.take().unwrap();
    let (lines_tx, lines) = mpsc::channel();
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if let Some(id) = line.strip_prefix("ack ") {
                if lines_tx.send(id.parse::<u64>().unwrap()).is_err() {
                    break;
                }
            }
        }
    });

    let deadline = Instant::now() + Duration::from_secs(60);
    let mut acked = Vec::new();
    while acked.len() < ACKS_BEFORE_KILL {
        let left = deadline.saturating_duration_since(Instant::now());
        match lines.recv_timeout(left) {
            Ok(id) => acked.push(id),
            Err(_) => {
                let _ = child.kill();
                panic!("only {} acknowledgements before the deadline", acked.len());
            }
        }
    }
    // Child::kill is SIGKILL on Unix: no destructor, no final sync.
    child.kill().unwrap();
    let status = child.wait().unwrap();
    assert!(!status.success(), "the child finished before it was killed");
    // What the child printed before it died was acknowledged too.
    reader.join().unwrap();
    acked.extend(lines.try_iter());

    let store = open(dir.path());
    let mut pending_ids = HashSet::new();
    for shard in 0..16 {
        pending_ids.extend(
            store
                .pending(shard, None, usize::MAX)
                .wait()
                .unwrap()
                .iter()
                .map(|e| e.id.0),
        );
    }
    let mut missing = Vec::new();
    for &id in &acked {
        let has_record = store.message(MessageId(id), 0).wait().unwrap().is_some();
        if !(has_record && pending_ids.contains(&id)) {
            missing.push(id);
        }
    }
    assert!(
        missing.is_empty(),
        "{} of {} acknowledged batches lost, first {:?}",
        missing.len(),
        acked.len(),
        &missing[..missing.len().min(10)]
    );
}

fn shard(id: u64) -> u16 {
    (id % 16) as u16
}

/// The child role of `acknowledged_batches_survive_sigkill`: write until killed.
fn crash_child(dir: &std::path::Path) {
    let store = Arc::new(open(dir));
    let (acks, acked) = mpsc::channel::<u64>();
    let started = Instant::now();
    let writers: Vec<_> = (0..CHILD_WRITERS)
        .map(|w| {
            let store = Arc::clone(&store);
            let acks = acks.clone();
            std::thread::spawn(move || {
                let mut id = w;
                while id < CHILD_MAX_BATCHES && started.elapsed() < CHILD_MAX_TIME {
                    let ops = vec![
                        put(record(id, 0, "acme", id)),
                        WriteOp::AddPending(pending(shard(id), id, 0)),
                    ];
                    let acks = acks.clone();
                    let done = Box::new(move |result: Result<(), StoreError>| {
                        if result.is_ok() {
                            let _ = acks.send(id);
                        }
                    });
                    match store.write(ops, done) {
                        Ok(()) => id += CHILD_WRITERS,
                        Err(StoreError::Overloaded) => {
                            std::thread::sleep(Duration::from_millis(1));
                        }
                        Err(e) => panic!("write failed: {e}"),
                    }
                }
            })
        })
        .collect();
    drop(acks);
    let mut out = std::io::stdout().lock();
    for id in acked.iter() {
        writeln!(out, "ack {id}").unwrap();
        out.flush().unwrap();
    }
    for writer in writers {
        writer.join().unwrap();
    }
}
