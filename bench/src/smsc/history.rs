//! The history of what the operator saw and did, for a harness that checks a gateway from
//! outside: with `--history FILE` (`SmscConfig::history`) the simulator writes one JSON
//! object a line, in the order the events were decided, so that a checker can tell what the
//! operator accepted, answered, refused, dropped and reported without trusting the gateway.
//!
//! ```text
//! {"ev":"bind","t_ms":..,"conn":1,"system_id":"tern","kind":"trx|tx|rx","ok":true}
//! {"ev":"submit","t_ms":..,"conn":1,"seq":7,"src":"..","dst":"..","ref":42,"part":2,"parts":3,
//!  "registered":1,"status":"ESME_ROK","id":"17","answered":true,"fault":null}
//! {"ev":"receipt","t_ms":..,"conn":2,"id":"17","stat":"DELIVRD","dst":"..","acked":true,"fault":null}
//! {"ev":"close","t_ms":..,"conn":1,"by":"smsc|peer"}
//! ```
//!
//! - `t_ms` is Unix time in milliseconds when the line's outcome was decided.
//! - `conn` numbers the connections from 1 in the order their bind request reached the
//!   simulator (a connection binds once: a refused bind closes it). A refused bind is a
//!   `bind` line with `"ok":false` followed by a `close` by the SMSC.
//! - `submit`: one line per submit_sm read (those the SMPP session refuses by itself
//!   beyond `submit_window` never reach the simulator and have none). `seq` is the PDU's sequence number; `ref`,
//!   `part` (1-based) and `parts` come from the UDH (8- or 16-bit reference) or the sar_*
//!   TLVs, null when the message is not concatenated; `registered` is the
//!   registered_delivery octet; `status` the answer's command_status by its spec name (as
//!   in `submits_by_status`), `"none"` for a submit never answered on purpose; `id` the
//!   message id given (accepted submits only). `answered` is false when the response could
//!   not be handed to the connection any more (it had closed) or was withheld
//!   (`drop_after_read`). A response held back (`slow_answer`, `receipt_before_resp`) is
//!   written, and its line with it, when it is handed over.
//! - `receipt`: one line per deliver_sm attempt of a receipt that reached the connection:
//!   `acked` is true when the ESME answered it ESME_ROK, false on an error status, a timeout
//!   or a close. `dst` is the handset the message went to (the submit's `dst`).
//! - `close`: `by` is `smsc` when the simulator ended the session (an injected disconnect or
//!   drop, shutdown, silence, a refused bind, a protocol error) and `peer` otherwise.
//! - `fault` names the injected fault behind the line, or null. Submits: `drop_after_read`
//!   (also every later submit on that connection), `slow_answer`, `receipt_before_resp`,
//!   `refuse_part`, `storm`, `tps_cap`, `permanent_error`, `transient_error`, `throttle`,
//!   `disconnect` (answered, then the bind is unbound), the first that applies in this order.
//!   Receipts: `duplicate_receipts` (the second copy), `receipt_other_bind` (sent on a bind
//!   other than the submitting one on purpose), `receipt_before_resp`.
//!
//! One task writes the file through a bounded channel: a producer waits when the channel is
//! full rather than leave a hole, and nothing of this runs without `--history`. The file is
//! buffered and flushed at least every 100 ms and when the simulator shuts down.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;
use tern_smpp::CommandStatus;
use tokio::io::{AsyncWriteExt, BufWriter};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// Events that may wait for the writer before producers are held up.
const CHANNEL: usize = 16 * 1024;
/// Events the writer takes at once.
const BATCH: usize = 512;
/// The longest a written line stays in the buffer.
const FLUSH_EVERY: Duration = Duration::from_millis(100);
const BUFFER: usize = 64 * 1024;

/// Why a line was what it was: an injected fault, named as in the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Fault {
    DropAfterRead,
    SlowAnswer,
    ReceiptBeforeResp,
    RefusePart,
    Storm,
    TpsCap,
    PermanentError,
    TransientError,
    Throttle,
    Disconnect,
    DuplicateReceipts,
    ReceiptOtherBind,
}

impl Fault {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Fault::DropAfterRead => "drop_after_read",
            Fault::SlowAnswer => "slow_answer",
            Fault::ReceiptBeforeResp => "receipt_before_resp",
            Fault::RefusePart => "refuse_part",
            Fault::Storm => "storm",
            Fault::TpsCap => "tps_cap",
            Fault::PermanentError => "permanent_error",
            Fault::TransientError => "transient_error",
            Fault::Throttle => "throttle",
            Fault::Disconnect => "disconnect",
            Fault::DuplicateReceipts => "duplicate_receipts",
            Fault::ReceiptOtherBind => "receipt_other_bind",
        }
    }
}

fn fault_name<S: serde::Serializer>(fault: &Option<Fault>, s: S) -> Result<S::Ok, S::Error> {
    match fault {
        Some(fault) => s.serialize_str(fault.as_str()),
        None => s.serialize_none(),
    }
}

fn status_or_none<S: serde::Serializer>(
    status: &Option<CommandStatus>,
    s: S,
) -> Result<S::Ok, S::Error> {
    match status {
        Some(status) => s.serialize_str(&crate::status::name(*status)),
        None => s.serialize_str("none"),
    }
}

/// Who ended a session.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum By {
    Smsc,
    Peer,
}

/// One submit_sm as the history shows it.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct SubmitLine {
    pub t_ms: u64,
    pub conn: u64,
    pub seq: u32,
    pub src: String,
    pub dst: String,
    #[serde(rename = "ref")]
    pub reference: Option<u16>,
    pub part: Option<u8>,
    pub parts: Option<u8>,
    pub registered: u8,
    /// `None`: never answered on purpose.
    #[serde(serialize_with = "status_or_none")]
    pub status: Option<CommandStatus>,
    pub id: Option<String>,
    pub answered: bool,
    #[serde(serialize_with = "fault_name")]
    pub fault: Option<Fault>,
}

/// A line of the history.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "ev", rename_all = "snake_case")]
pub(crate) enum Event {
    Bind {
        t_ms: u64,
        conn: u64,
        system_id: String,
        kind: &'static str,
        ok: bool,
    },
    Submit(SubmitLine),
    Receipt {
        t_ms: u64,
        conn: u64,
        id: String,
        stat: &'static str,
        dst: String,
        acked: bool,
        #[serde(serialize_with = "fault_name")]
        fault: Option<Fault>,
    },
    Close {
        t_ms: u64,
        conn: u64,
        by: By,
    },
}

/// The producers' side: cheap to clone.
#[derive(Debug, Clone)]
pub(crate) struct Recorder {
    tx: mpsc::Sender<Event>,
}

impl Recorder {
    /// Queues `event`; waits while the writer is behind. After the writer has stopped
    /// (shutdown, or the file could not be written) the event is let go.
    pub(crate) async fn record(&self, event: Event) {
        let _ = self.tx.send(event).await;
    }
}

/// The writing task, stopped by [`Writer::close`].
pub(crate) struct Writer {
    finish: CancellationToken,
    task: JoinHandle<()>,
}

impl Writer {
    /// Creates (or empties) `path` and starts the writer; `written` counts the lines.
    pub(crate) async fn open(
        path: &Path,
        written: Arc<AtomicU64>,
    ) -> io::Result<(Recorder, Writer)> {
        let file = tokio::fs::File::create(path).await?;
        let (tx, rx) = mpsc::channel(CHANNEL);
        let finish = CancellationToken::new();
        let path = path.to_owned();
        let task = tokio::spawn(write(rx, file, finish.clone(), written, path));
        Ok((Recorder { tx }, Writer { finish, task }))
    }

    /// Writes what is queued, flushes and stops. Events recorded later are let go.
    pub(crate) async fn close(self) {
        self.finish.cancel();
        let _ = self.task.await;
    }
}

async fn write(
    mut rx: mpsc::Receiver<Event>,
    file: tokio::fs::File,
    finish: CancellationToken,
    written: Arc<AtomicU64>,
    path: PathBuf,
) {
    let mut out = BufWriter::with_capacity(BUFFER, file);
    if let Err(error) = run(&mut rx, &mut out, &finish, &written).await {
        // The simulator goes on without its history; producers are let go from now on.
        eprintln!(
            "tern-bench smsc: writing the history {}: {error}",
            path.display()
        );
    }
}

async fn run(
    rx: &mut mpsc::Receiver<Event>,
    out: &mut BufWriter<tokio::fs::File>,
    finish: &CancellationToken,
    written: &AtomicU64,
) -> io::Result<()> {
    let mut batch = Vec::with_capacity(BATCH);
    let mut line = Vec::with_capacity(256);
    let mut tick = tokio::time::interval(FLUSH_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last_flush = Instant::now();
    let mut dirty = false;
    loop {
        tokio::select! {
            received = rx.recv_many(&mut batch, BATCH) => {
                if received == 0 {
                    break;
                }
                for event in batch.drain(..) {
                    write_line(out, &mut line, &event).await?;
                }
                written.fetch_add(received as u64, Ordering::Relaxed);
                dirty = true;
                // A steady stream must not keep the timer's branch from ever running.
                if last_flush.elapsed() >= FLUSH_EVERY {
                    out.flush().await?;
                    last_flush = Instant::now();
                    dirty = false;
                }
            }
            _ = tick.tick(), if dirty => {
                out.flush().await?;
                last_flush = Instant::now();
                dirty = false;
            }
            _ = finish.cancelled() => {
                while let Ok(event) = rx.try_recv() {
                    write_line(out, &mut line, &event).await?;
                    written.fetch_add(1, Ordering::Relaxed);
                }
                break;
            }
        }
    }
    out.flush().await?;
    out.get_mut().sync_data().await
}

async fn write_line(
    out: &mut BufWriter<tokio::fs::File>,
    line: &mut Vec<u8>,
    event: &Event,
) -> io::Result<()> {
    line.clear();
    serde_json::to_writer(&mut *line, event)?;
    line.push(b'\n');
    out.write_all(line).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_have_the_documented_shape() {
        let submit = Event::Submit(SubmitLine {
            t_ms: 5,
            conn: 2,
            seq: 9,
            src: "Tern".into(),
            dst: "4917".into(),
            reference: Some(42),
            part: Some(2),
            parts: Some(3),
            registered: 1,
            status: Some(CommandStatus::EsmeRthrottled),
            id: None,
            answered: true,
            fault: Some(Fault::RefusePart),
        });
        assert_eq!(
            serde_json::to_string(&submit).ok().as_deref(),
            Some(
                r#"{"ev":"submit","t_ms":5,"conn":2,"seq":9,"src":"Tern","dst":"4917","ref":42,"part":2,"parts":3,"registered":1,"status":"ESME_RTHROTTLED","id":null,"answered":true,"fault":"refuse_part"}"#
            )
        );
        let dropped = Event::Submit(SubmitLine {
            status: None,
            answered: false,
            reference: None,
            part: None,
            parts: None,
            fault: Some(Fault::DropAfterRead),
            ..match submit {
                Event::Submit(line) => line,
                _ => unreachable!(),
            }
        });
        let text = serde_json::to_string(&dropped).unwrap_or_default();
        assert!(
            text.contains(r#""ref":null,"part":null,"parts":null"#),
            "{text}"
        );
        assert!(text.contains(r#""status":"none""#), "{text}");
        let close = Event::Close {
            t_ms: 1,
            conn: 3,
            by: By::Peer,
        };
        assert_eq!(
            serde_json::to_string(&close).ok().as_deref(),
            Some(r#"{"ev":"close","t_ms":1,"conn":3,"by":"peer"}"#)
        );
    }
}
