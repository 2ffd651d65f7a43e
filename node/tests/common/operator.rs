//! An operator SMSC that keeps every submit_sm it is sent, for tests that look at the
//! fields a node puts on the wire (the simulator of `tern-bench` only counts them). It
//! binds anyone, answers each submit_sm with an id and sends no receipts.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use tern_smpp::net::{serve, BindRequest, Handler, ServerConfig, SessionEvent, SessionHandle};
use tern_smpp::rusmpp::pdus::{SubmitSm, SubmitSmResp};
use tern_smpp::session::{self as smpp_session, c_octet, BindKind, Role};
use tern_smpp::{Command, CommandStatus, Pdu};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

#[derive(Default)]
struct Recorder {
    submits: Mutex<Vec<SubmitSm>>,
    next_id: AtomicU64,
}

impl Handler for Recorder {
    type Grant = ();

    async fn bind(&self, _request: BindRequest) -> Result<((), String), CommandStatus> {
        Ok(((), "recorder".into()))
    }

    fn session(
        self: &Arc<Self>,
        _grant: (),
        _kind: BindKind,
        handle: SessionHandle,
        mut events: mpsc::Receiver<SessionEvent>,
    ) {
        let recorder = self.clone();
        tokio::spawn(async move {
            while let Some(event) = events.recv().await {
                let SessionEvent::Request(command) = event else {
                    continue;
                };
                if let Some(Pdu::SubmitSm(submit)) = command.pdu() {
                    recorder.submits.lock().unwrap().push(submit.clone());
                    let id = recorder.next_id.fetch_add(1, Ordering::Relaxed) + 1;
                    let resp = SubmitSmResp::builder()
                        .message_id(c_octet(&id.to_string()))
                        .build();
                    handle.respond(Command::new(
                        CommandStatus::EsmeRok,
                        command.sequence_number(),
                        resp,
                    ));
                }
            }
        });
    }
}

/// A running recording operator; stops when dropped.
pub struct RecordingOperator {
    addr: SocketAddr,
    recorder: Arc<Recorder>,
    stop: CancellationToken,
}

impl RecordingOperator {
    pub async fn start() -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let config = ServerConfig {
            session: smpp_session::Config {
                role: Role::Server,
                ..smpp_session::Config::default()
            },
            ..ServerConfig::default()
        };
        let recorder = Arc::new(Recorder::default());
        let stop = CancellationToken::new();
        tokio::spawn(serve(
            listener,
            None,
            Arc::new(config),
            recorder.clone(),
            stop.clone(),
            TaskTracker::new(),
        ));
        Self {
            addr,
            recorder,
            stop,
        }
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Every submit_sm so far, in the order they came.
    pub fn submits(&self) -> Vec<SubmitSm> {
        self.recorder.submits.lock().unwrap().clone()
    }
}

impl Drop for RecordingOperator {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}
