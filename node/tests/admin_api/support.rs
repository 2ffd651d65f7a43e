//! The fixtures of the admin API tests: a `Control` that applies requests to a ledger
//! `State` behind a mutex, a `NodeOps` with fixed data, the server started on
//! 127.0.0.1:0, and `tern ctl` run against it.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tern_ledger::{Request, Response, State};
use tern_node::admin::proto;
use tern_node::admin::{
    AdminConfig, BoxFut, CancelOutcome, ClusterView, Control, LinkView, MemberView, MessageView,
    NodeOps, QueueView, SessionView,
};

pub const TOKEN: &str = "test-token-1";

/// Applies requests to a state behind a mutex, as the raft state machine would.
#[derive(Default)]
pub struct LedgerControl {
    pub state: Mutex<State>,
    pub membership: Mutex<Vec<String>>,
    /// Learners added through the API, shown by `status` beside node 1.
    pub learners: Mutex<Vec<(u64, String)>>,
}

impl Control for LedgerControl {
    fn propose(&self, request: Request) -> BoxFut<'_, Result<Response, String>> {
        let response = self.state.lock().unwrap().apply(&request);
        Box::pin(async move { Ok(response) })
    }

    fn read<'a>(&'a self, f: &'a mut (dyn FnMut(&State) + Send)) -> BoxFut<'a, Result<(), String>> {
        Box::pin(async move {
            f(&self.state.lock().unwrap());
            Ok(())
        })
    }

    fn read_local(&self, f: &mut dyn FnMut(&State)) {
        f(&self.state.lock().unwrap());
    }

    fn status(&self) -> ClusterView {
        ClusterView {
            node_id: 1,
            leader: Some(1),
            term: 3,
            role: "leader".into(),
            last_log_index: Some(10),
            applied_index: Some(9),
            members: std::iter::once(MemberView {
                id: 1,
                addr: "127.0.0.1:7001".into(),
                voter: true,
            })
            .chain(
                self.learners
                    .lock()
                    .unwrap()
                    .iter()
                    .map(|(id, addr)| MemberView {
                        id: *id,
                        addr: addr.clone(),
                        voter: false,
                    }),
            )
            .collect(),
        }
    }

    fn add_learner(&self, id: u64, addr: String) -> BoxFut<'_, Result<(), String>> {
        self.membership
            .lock()
            .unwrap()
            .push(format!("learner {id} {addr}"));
        self.learners.lock().unwrap().push((id, addr));
        Box::pin(async { Ok(()) })
    }

    fn promote(&self, ids: Vec<u64>) -> BoxFut<'_, Result<(), String>> {
        Box::pin(async move { Err(format!("{ids:?} are not learners")) })
    }

    fn remove(&self, ids: Vec<u64>) -> BoxFut<'_, Result<(), String>> {
        self.membership
            .lock()
            .unwrap()
            .push(format!("remove {ids:?}"));
        self.learners
            .lock()
            .unwrap()
            .retain(|(id, _)| !ids.contains(id));
        Box::pin(async { Ok(()) })
    }
}

/// A node with one session, two queues, two links and two messages.
pub struct FixedOps;

fn message_view(id: u64, state: &str) -> MessageView {
    MessageView {
        id,
        account: "acme".into(),
        source: "ACME".into(),
        destination: "4915112345678".into(),
        state: state.into(),
        parts: 1,
        submitted_at_ms: 1_767_225_600_000,
        operator_id: Some("op-1".into()),
        link: Some("carrier-a".into()),
        error: None,
    }
}

/// The `name` of a TOML table, bare or under one `[[header]]`.
fn table_name(toml: &str, header: &str) -> Result<String, String> {
    let table: toml::Table = toml.parse().map_err(|e: toml::de::Error| e.to_string())?;
    let table = match table.get(header).and_then(|v| v.as_array()) {
        Some(items) => items
            .first()
            .and_then(|v| v.as_table())
            .cloned()
            .ok_or("empty")?,
        None => table,
    };
    match table.get("name").and_then(|v| v.as_str()) {
        Some(name) => Ok(name.to_owned()),
        None => Err("name: missing".into()),
    }
}

impl NodeOps for FixedOps {
    fn sessions(&self) -> BoxFut<'_, Result<Vec<SessionView>, String>> {
        Box::pin(async {
            Ok(vec![SessionView {
                id: 7,
                account: "acme".into(),
                protocol: "smpp".into(),
                bind: "transceiver".into(),
                peer: "192.0.2.1:40000".into(),
                since_ms: 1_767_225_600_000,
                in_flight: 2,
            }])
        })
    }

    fn kick(&self, id: u64) -> BoxFut<'_, Result<bool, String>> {
        Box::pin(async move { Ok(id == 7) })
    }

    fn queues(&self) -> BoxFut<'_, Result<Vec<QueueView>, String>> {
        Box::pin(async {
            Ok(vec![
                QueueView {
                    kind: "link".into(),
                    name: "carrier-a".into(),
                    depth: 12,
                },
                QueueView {
                    kind: "shard".into(),
                    name: "0".into(),
                    depth: 3,
                },
            ])
        })
    }

    fn links(&self) -> BoxFut<'_, Result<Vec<LinkView>, String>> {
        Box::pin(async {
            Ok(vec![
                LinkView {
                    name: "carrier-a".into(),
                    up: true,
                    window_in_use: 5,
                    queued: 12,
                },
                LinkView {
                    name: "from-file".into(),
                    up: false,
                    window_in_use: 0,
                    queued: 0,
                },
            ])
        })
    }

    fn message(&self, id: u64) -> BoxFut<'_, Result<Option<MessageView>, String>> {
        Box::pin(async move { Ok((id == 42).then(|| message_view(42, "DELIVERED"))) })
    }

    fn messages(
        &self,
        account: String,
        from_ms: u64,
        to_ms: u64,
        limit: usize,
    ) -> BoxFut<'_, Result<Vec<MessageView>, String>> {
        Box::pin(async move {
            Ok([message_view(42, "DELIVERED"), message_view(43, "ENROUTE")]
                .into_iter()
                .filter(|m| m.account == account)
                .filter(|m| (from_ms..=to_ms).contains(&m.submitted_at_ms))
                .take(limit)
                .collect())
        })
    }

    fn cancel(&self, id: u64) -> BoxFut<'_, Result<CancelOutcome, String>> {
        Box::pin(async move {
            Ok(match id {
                42 => CancelOutcome::AlreadyFinal("DELIVERED".into()),
                43 => CancelOutcome::Cancelled,
                _ => CancelOutcome::NotFound,
            })
        })
    }

    fn check_route(&self, toml: &str) -> Result<String, String> {
        table_name(toml, "route")
    }

    fn check_link(&self, toml: &str) -> Result<String, String> {
        table_name(toml, "upstream")
    }
}

pub struct Server {
    pub addr: SocketAddr,
    pub control: Arc<LedgerControl>,
    tls: bool,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    running: Option<tern_node::admin::Running>,
}

impl Server {
    pub async fn start() -> Self {
        Self::start_with(None).await
    }

    /// With `tls`, the PEM files of the certificate chain and the key.
    pub async fn start_with(tls: Option<(PathBuf, PathBuf)>) -> Self {
        let control = Arc::new(LedgerControl::default());
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let config = AdminConfig {
            listen: "127.0.0.1:0".parse().unwrap(),
            token: TOKEN.into(),
            tls: tls.clone(),
        };
        let running = tern_node::admin::spawn(config, control.clone(), Arc::new(FixedOps), async {
            let _ = stopped.await;
        })
        .await
        .unwrap();
        Self {
            addr: running.addr,
            tls: tls.is_some(),
            control,
            stop: Some(stop),
            running: Some(running),
        }
    }

    pub fn url(&self) -> String {
        let scheme = if self.tls { "https" } else { "http" };
        format!("{scheme}://{}", self.addr)
    }

    pub async fn client(&self) -> proto::admin_client::AdminClient<tonic::transport::Channel> {
        proto::admin_client::AdminClient::connect(self.url())
            .await
            .unwrap()
    }

    /// Runs `tern ctl --server ... --token TOKEN <args>`.
    pub async fn ctl(&self, args: &[&str]) -> Ctl {
        self.ctl_with(&["--token", TOKEN], args).await
    }

    pub async fn ctl_with(&self, flags: &[&str], args: &[&str]) -> Ctl {
        let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_tern"))
            .arg("ctl")
            .args(["--server", &self.url()])
            .args(flags)
            .args(args)
            .env_remove("TERN_TOKEN")
            .env_remove("TERN_SERVER")
            .kill_on_drop(true)
            .output();
        let output = tokio::time::timeout(Duration::from_secs(60), output)
            .await
            .expect("tern ctl finished within a minute")
            .unwrap();
        Ctl {
            code: output.status.code(),
            stdout: String::from_utf8(output.stdout).unwrap(),
            stderr: String::from_utf8(output.stderr).unwrap(),
        }
    }

    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(running) = self.running.take() {
            tokio::time::timeout(Duration::from_secs(10), running.join())
                .await
                .expect("the server stopped within 10 s")
                .unwrap();
        }
    }
}

#[derive(Debug)]
pub struct Ctl {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl Ctl {
    pub fn ok(self) -> Self {
        assert_eq!(self.code, Some(0), "{self:?}");
        self
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| panic!("{e}: {self:?}"))
    }

    /// Asserts exit code 1 and a single `error: ...` line containing `what`.
    pub fn fails_with(&self, what: &str) {
        assert_eq!(self.code, Some(1), "{self:?}");
        assert_eq!(self.stderr.lines().count(), 1, "{self:?}");
        assert!(self.stderr.starts_with("error: "), "{self:?}");
        assert!(self.stderr.contains(what), "{self:?}");
    }
}

pub fn with_token<T>(message: T) -> tonic::Request<T> {
    let mut request = tonic::Request::new(message);
    request
        .metadata_mut()
        .insert("authorization", format!("Bearer {TOKEN}").parse().unwrap());
    request
}
