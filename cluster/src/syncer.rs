//! Group commit for the raft log. openraft 0.9 gives a leader's `append` one client write
//! at a time, so syncing inside `append` costs one fsync per proposal however many are
//! waiting. Instead `append` writes its batch to the journal and hands the flush callback
//! here: one thread takes every callback queued while the previous sync ran, syncs the
//! journal once, and completes them all. An entry is reported flushed only after a sync
//! that began after its batch was written, which is what raft's safety needs.

use std::sync::Arc;
use std::time::Instant;

use openraft::storage::LogFlushed;
use tokio::sync::mpsc;

use crate::disk::Disk;
use crate::telemetry;
use crate::types::TypeConfig;

/// Callbacks waiting for a sync; a full queue makes `append` wait.
const QUEUE: usize = 4096;

/// The handle `append` gives its callback to; cheap to clone.
#[derive(Clone)]
pub(crate) struct Syncer {
    tx: Option<mpsc::Sender<LogFlushed<TypeConfig>>>,
    disk: Arc<Disk>,
}

impl Syncer {
    /// Starts the sync thread. Should the thread not start, every flush syncs inline.
    pub(crate) fn start(disk: Arc<Disk>) -> Self {
        let (tx, mut rx) = mpsc::channel::<LogFlushed<TypeConfig>>(QUEUE);
        let worker = Arc::clone(&disk);
        let spawned = std::thread::Builder::new()
            .name("raft-log-sync".into())
            .spawn(move || {
                while let Some(first) = rx.blocking_recv() {
                    let mut waiting = vec![first];
                    while let Ok(next) = rx.try_recv() {
                        waiting.push(next);
                    }
                    let started = Instant::now();
                    let synced = worker.sync();
                    metrics::histogram!(telemetry::SYNC_SECONDS)
                        .record(started.elapsed().as_secs_f64());
                    metrics::histogram!(telemetry::APPENDS_PER_SYNC).record(waiting.len() as f64);
                    for callback in waiting {
                        let result = match &synced {
                            Ok(()) => Ok(()),
                            Err(e) => Err(std::io::Error::other(e.to_string())),
                        };
                        callback.log_io_completed(result);
                    }
                    if let Err(e) = synced {
                        tracing::error!(error = %e, path = %worker.path().display(), "raft log sync failed");
                    }
                }
            });
        let tx = match spawned {
            Ok(_) => Some(tx),
            Err(e) => {
                tracing::warn!(error = %e, "no raft log sync thread; syncing every append inline");
                None
            }
        };
        Self { tx, disk }
    }

    /// Completes `callback` once everything written so far is on disk.
    pub(crate) async fn flushed(&self, callback: LogFlushed<TypeConfig>) {
        let callback = match &self.tx {
            Some(tx) => match tx.send(callback).await {
                Ok(()) => return,
                Err(mpsc::error::SendError(callback)) => callback,
            },
            None => callback,
        };
        let disk = Arc::clone(&self.disk);
        let synced = crate::disk::blocking(move || disk.sync()).await;
        callback.log_io_completed(synced.map_err(|e| std::io::Error::other(e.to_string())));
    }
}
