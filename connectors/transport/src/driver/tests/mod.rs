#![allow(clippy::unwrap_used)]
//! The driver over an in-memory stream (`tokio::io::duplex`) with the tiny protocol of
//! `proto`, in paused time: windows, timers, keepalive, inactivity, framing limits,
//! back-pressure, graceful close and the client's backoff.

mod proto;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncWriteExt, DuplexStream};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::client::{reconnect, Backoff, Dialer};
use super::handshake::{read_pdu, ReadError};
use super::{channels, Conn, Failure, Handle, Limits, NoSide, Note, Sizes, Telemetry};
use proto::{Codec, Config, Notice, Pdu, Reason, SendError, Session, BYE, PING, REQUEST, RESPONSE};

/// The names of the notes a connection made.
#[derive(Clone, Default)]
struct Notes(Arc<Mutex<Vec<&'static str>>>);

impl Notes {
    fn count(&self, name: &str) -> usize {
        self.0
            .lock()
            .unwrap()
            .iter()
            .filter(|n| **n == name)
            .count()
    }
}

impl Telemetry<Session> for Notes {
    fn note(&self, note: Note<'_, Session>) {
        let name = match note {
            Note::Opened => "opened",
            Note::Sent(_) => "sent",
            Note::Received(_) => "received",
            Note::Malformed(_) => "malformed",
            Note::Unframeable(_) => "unframeable",
            Note::Unencodable(_) => "unencodable",
            Note::GateClosed => "gate_closed",
            Note::PartialFrameTimeout => "partial_frame",
            Note::Answered(_) => "answered",
            Note::TimedOut(_) => "timed_out",
            Note::Dropped => "dropped",
        };
        self.0.lock().unwrap().push(name);
    }
}

/// One session under test, and the peer's end of its stream.
struct Harness {
    handle: Handle<Session>,
    events: mpsc::Receiver<Notice>,
    peer: DuplexStream,
    rbuf: BytesMut,
    task: JoinHandle<Reason>,
    notes: Notes,
}

fn start(config: Config, limits: Limits, max: usize, stream_capacity: usize) -> Harness {
    let (ours, peer) = tokio::io::duplex(stream_capacity);
    let sizes = Sizes {
        window: config.window,
        controls: config.window * 2 + 8,
        events: config.window + 16,
    };
    let (handle, link, events) = channels::<Session>(sizes);
    let notes = Notes::default();
    let session = Session::new(config, Instant::now().into_std());
    let conn = Conn::new(session, Codec { max }, link, notes.clone()).with_limits(limits);
    let task =
        tokio::spawn(async move { conn.run(ours, &mut NoSide, CancellationToken::new()).await });
    Harness {
        handle,
        events,
        peer,
        rbuf: BytesMut::new(),
        task,
        notes,
    }
}

fn started(config: Config) -> Harness {
    start(config, Limits::default(), 1024, 64 * 1024)
}

impl Harness {
    async fn read(&mut self) -> Pdu {
        read_pdu(&mut self.peer, &mut self.rbuf, &mut Codec { max: 1024 })
            .await
            .unwrap()
    }

    async fn write(&mut self, pdu: Pdu) {
        self.peer.write_all(&pdu.to_bytes()).await.unwrap();
    }

    fn request(&self, body: &'static [u8]) -> JoinHandle<Result<Pdu, Failure<SendError>>> {
        let handle = self.handle.clone();
        tokio::spawn(async move {
            let permit = handle.permit().await;
            handle.send(Bytes::from_static(body), permit).await
        })
    }
}

#[tokio::test(start_paused = true)]
async fn a_full_window_refuses_further_requests() {
    let mut h = started(Config::default());
    let first = h.request(b"one");
    let second = h.request(b"two");
    assert_eq!(h.read().await.command, REQUEST);
    assert_eq!(h.read().await.command, REQUEST);
    assert_eq!(h.handle.window_available(), 0);
    // Past the handle's permits the session itself holds the window.
    let third = h.handle.send(Bytes::from_static(b"three"), None).await;
    assert_eq!(third, Err(Failure::Refused(SendError::WindowFull)));
    h.write(Pdu::new(REQUEST | RESPONSE, 1, b"ok")).await;
    assert_eq!(
        first.await.unwrap().unwrap().body,
        Bytes::from_static(b"ok")
    );
    assert_eq!(h.handle.window_available(), 1);
    assert!(!second.is_finished());
}

#[tokio::test(start_paused = true)]
async fn a_response_after_the_timeout_comes_back_late() {
    let mut h = started(Config::default());
    let sent = Instant::now();
    let request = h.request(b"slow");
    let on_wire = h.read().await;
    let outcome = request.await.unwrap();
    assert_eq!(
        outcome,
        Err(Failure::Timeout {
            sequence: on_wire.sequence
        })
    );
    assert_eq!(sent.elapsed(), Duration::from_secs(5));
    assert_eq!(h.handle.window_available(), 2, "the timeout frees the slot");
    let late = Pdu::new(REQUEST | RESPONSE, on_wire.sequence, b"late");
    h.write(late.clone()).await;
    assert_eq!(h.events.recv().await, Some(Notice::Late(late)));
    assert_eq!(h.notes.count("timed_out"), 1);
}

#[tokio::test(start_paused = true)]
async fn an_idle_session_sends_keepalives() {
    let mut h = started(Config::default());
    let started = Instant::now();
    let ping = h.read().await;
    assert_eq!(ping.command, PING);
    assert_eq!(started.elapsed(), Duration::from_secs(30));
    h.write(Pdu::new(PING | RESPONSE, ping.sequence, b"")).await;
    let again = h.read().await;
    assert_eq!(again.command, PING);
    assert_eq!(started.elapsed(), Duration::from_secs(60));
    assert!(!h.task.is_finished());
}

#[tokio::test(start_paused = true)]
async fn a_silent_peer_is_closed_for_inactivity() {
    let mut h = started(Config::default());
    let started = Instant::now();
    let reason = (&mut h.task).await.unwrap();
    assert_eq!(reason, Reason::Inactivity);
    assert_eq!(started.elapsed(), Duration::from_secs(90));
    assert_eq!(
        h.events.recv().await,
        Some(Notice::Closed(Reason::Inactivity))
    );
    assert!(h.handle.is_closed());
    assert_eq!(h.handle.window_available(), 0);
}

#[tokio::test(start_paused = true)]
async fn an_oversize_frame_ends_the_session_before_it_is_buffered() {
    let mut h = start(Config::default(), Limits::default(), 64, 64 * 1024);
    h.peer
        .write_all(&[0xff, 0xff, 0xff, 0xff, 0, 0, 0, 1])
        .await
        .unwrap();
    let reason = (&mut h.task).await.unwrap();
    assert_eq!(
        reason,
        Reason::Protocol("length 4294967295 outside 12..=64".into())
    );
    assert_eq!(h.notes.count("unframeable"), 1);
}

#[tokio::test(start_paused = true)]
async fn a_malformed_frame_is_answered_and_the_session_goes_on() {
    let mut h = started(Config::default());
    h.write(Pdu::new(9, 7, b"??")).await;
    // The answer is of a command the peer's codec does not know either.
    let answer = read_pdu(&mut h.peer, &mut h.rbuf, &mut Codec { max: 1024 }).await;
    let Err(ReadError::Malformed(answer)) = answer else {
        panic!("{answer:?}");
    };
    assert_eq!((answer.command, answer.sequence), (9 | RESPONSE, 7));
    h.write(Pdu::new(REQUEST, 8, b"hi")).await;
    assert_eq!(
        h.events.recv().await,
        Some(Notice::Request(Pdu::new(REQUEST, 8, b"hi")))
    );
    assert!(h.handle.respond(Pdu::new(REQUEST | RESPONSE, 8, b"ok")));
    assert_eq!(h.read().await.sequence, 8);
    assert_eq!(h.notes.count("malformed"), 1);
}

#[tokio::test(start_paused = true)]
async fn a_full_write_buffer_stops_reading() {
    let limits = Limits {
        write_high_water: 48,
        ..Limits::default()
    };
    let h = start(Config::default(), limits, 1024, 16);
    let (mut rd, mut wr) = tokio::io::split(h.peer);
    let mut pings = BytesMut::new();
    for sequence in 0..200 {
        pings.extend_from_slice(&Pdu::new(PING, sequence, b"").to_bytes());
    }
    // The peer does not read its answers: they pile up to the high-water mark, and then
    // the driver stops reading, so the peer's writes stall too.
    let writer = tokio::spawn(async move { wr.write_all(&pings).await });
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(
        !writer.is_finished(),
        "reads went on past the write high-water mark"
    );
    let received = h.notes.count("received");
    assert!(
        received < 20,
        "{received} PDUs read while the peer did not read"
    );
    // Once the peer reads, everything moves again.
    let reader = tokio::spawn(async move {
        let mut rbuf = BytesMut::new();
        let mut answers = 0;
        while answers < 200 {
            match read_pdu(&mut rd, &mut rbuf, &mut Codec { max: 1024 }).await {
                Ok(pdu) if pdu.command == PING | RESPONSE => answers += 1,
                Ok(_) => {}
                Err(ReadError::Closed) => break,
                Err(error) => panic!("{error}"),
            }
        }
        answers
    });
    writer.await.unwrap().unwrap();
    assert_eq!(reader.await.unwrap(), 200);
}

#[tokio::test(start_paused = true)]
async fn a_graceful_close_waits_for_outstanding_requests() {
    let mut h = started(Config::default());
    let request = h.request(b"last");
    let on_wire = h.read().await;
    h.handle.close().await;
    let refused = h.handle.send(Bytes::from_static(b"more"), None).await;
    assert_eq!(refused, Err(Failure::Refused(SendError::Closing)));
    h.write(Pdu::new(REQUEST | RESPONSE, on_wire.sequence, b"ok"))
        .await;
    assert!(request.await.unwrap().is_ok());
    let bye = h.read().await;
    assert_eq!(bye.command, BYE);
    h.write(Pdu::new(BYE | RESPONSE, bye.sequence, b"")).await;
    assert_eq!((&mut h.task).await.unwrap(), Reason::ByUs);
    assert_eq!(h.events.recv().await, Some(Notice::Closed(Reason::ByUs)));
    assert!(h.handle.is_closed());
}

/// Fails `failures` connects, then connects once, then fails again; records when.
struct Flaky {
    failures: usize,
    attempts: Vec<Instant>,
    shutdown: CancellationToken,
}

impl Dialer for Flaky {
    type Connected = ();
    type Error = &'static str;

    async fn connect(&mut self) -> Result<(), &'static str> {
        self.attempts.push(Instant::now());
        if self.attempts.len() == 6 {
            self.shutdown.cancel();
        }
        if self.attempts.len() == self.failures + 1 {
            Ok(())
        } else {
            Err("refused")
        }
    }

    async fn run(&mut self, (): (), _shutdown: &CancellationToken) -> bool {
        true
    }

    async fn failed(&mut self, _error: &'static str, _shutdown: &CancellationToken) {}
}

#[tokio::test(start_paused = true)]
async fn the_client_reconnects_with_growing_backoff_reset_by_a_session() {
    let shutdown = CancellationToken::new();
    let mut dialer = Flaky {
        failures: 3,
        attempts: Vec::new(),
        shutdown: shutdown.clone(),
    };
    let backoff = Backoff {
        min: Duration::from_secs(1),
        max: Duration::from_secs(3),
    };
    reconnect(&mut dialer, backoff, &shutdown).await;
    let gaps: Vec<f64> = dialer
        .attempts
        .windows(2)
        .map(|w| (w[1] - w[0]).as_secs_f64())
        .collect();
    // Doubling up to the maximum, ±20 %; back to the minimum after the session that came
    // up (the fourth attempt).
    let expected = [1.0, 2.0, 3.0, 1.0, 2.0];
    assert_eq!(gaps.len(), expected.len(), "{gaps:?}");
    for (gap, base) in gaps.iter().zip(expected) {
        assert!(
            (base * 0.8..=base * 1.2).contains(gap),
            "gaps {gaps:?} against {expected:?}"
        );
    }
}
