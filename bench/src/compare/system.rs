//! The systems a comparison runs against, each started in front of the simulated SMSC and
//! stopped again, also when the run fails: the raw harness (no gateway), `tern node` (over
//! SMPP, or over HTTP at its Kannel-compatible `/cgi-bin/sendsms`), and the peers that
//! `bench/peers/*` start (Kannel over HTTP, Jasmin over SMPP or over its HTTP `/send`).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use anyhow::{anyhow, bail, Context as _};
use serde::{Deserialize, Serialize};
use tokio::process::{Child, Command};
use tokio::time::Instant;

use crate::load::{HttpApi, HttpTarget};

/// A system under test.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum SystemKind {
    /// The load generator straight to the simulator: the harness's own ceiling.
    Raw,
    /// `tern node`, fsync on.
    Tern,
    /// `tern node` as `tern`, loaded over HTTP at its Kannel-compatible
    /// `/cgi-bin/sendsms` with the same requests as Kannel.
    TernHttp,
    /// Kannel 1.4.5 as Debian ships it, over HTTP sendsms.
    Kannel,
    /// Kannel with bench/peers' tuned profile.
    KannelTuned,
    /// Jasmin 0.11.1 as shipped, with RabbitMQ and Redis.
    Jasmin,
    /// Jasmin with bench/peers' tuned profile.
    JasminTuned,
    /// Jasmin as shipped, loaded over its HTTP API's `/send`.
    JasminHttp,
    /// Jasmin with the tuned profile, loaded over its HTTP API's `/send`.
    JasminTunedHttp,
}

impl SystemKind {
    pub fn name(self) -> &'static str {
        match self {
            SystemKind::Raw => "raw",
            SystemKind::Tern => "tern",
            SystemKind::TernHttp => "tern-http",
            SystemKind::Kannel => "kannel",
            SystemKind::KannelTuned => "kannel-tuned",
            SystemKind::Jasmin => "jasmin",
            SystemKind::JasminTuned => "jasmin-tuned",
            SystemKind::JasminHttp => "jasmin-http",
            SystemKind::JasminTunedHttp => "jasmin-tuned-http",
        }
    }

    /// The bench/peers script and whether it runs with `--tuned`.
    fn peer(self) -> Option<(&'static str, bool)> {
        match self {
            SystemKind::Kannel => Some(("kannel", false)),
            SystemKind::KannelTuned => Some(("kannel", true)),
            SystemKind::Jasmin | SystemKind::JasminHttp => Some(("jasmin", false)),
            SystemKind::JasminTuned | SystemKind::JasminTunedHttp => Some(("jasmin", true)),
            SystemKind::Raw | SystemKind::Tern | SystemKind::TernHttp => None,
        }
    }

    /// A peer that speaks SMPP and HTTP, loaded over its HTTP API.
    fn peer_over_http(self) -> bool {
        matches!(self, SystemKind::JasminHttp | SystemKind::JasminTunedHttp)
    }
}

/// How the load reaches a system.
#[derive(Debug, Clone)]
pub enum Target {
    Smpp {
        addr: SocketAddr,
        system_id: String,
        password: String,
    },
    Http(HttpTarget),
}

/// Where the pieces are and how they run.
#[derive(Debug, Clone)]
pub struct Environment {
    /// The `tern` binary.
    pub tern: PathBuf,
    /// bench/peers.
    pub peers: PathBuf,
    /// Scratch space: stores, peer configs and logs.
    pub work: PathBuf,
    /// Pin the system under test to CPU 0 (this process is on CPU 1).
    pub pin: bool,
    /// How long a system may take to come up.
    pub start_timeout: Duration,
}

/// The settings of a Tern node for one scenario.
#[derive(Debug, Clone)]
pub struct TernSettings {
    /// Customer binds the account may hold.
    pub max_binds: usize,
    /// The SMPP window towards customers.
    pub window: usize,
    /// Messages held in memory per dispatcher shard; more wait in the store.
    pub max_queued_in_memory: Option<usize>,
    /// An `[http]` listener beside the SMPP one.
    pub http: bool,
}

/// A started system.
pub struct Running {
    pub target: Target,
    /// Its processes: what CPU time and RSS are read from.
    pub pids: Vec<u32>,
    /// What the peer script said about itself (its JSON line), for the record.
    pub info: serde_json::Value,
    child: Option<Child>,
    /// A peer: its script and directory, stopped on drop unless stopped before.
    peer: Option<(PathBuf, PathBuf)>,
}

/// The JSON line a peer script prints on start.
#[derive(Debug, Deserialize)]
struct PeerInfo {
    protocol: String,
    #[serde(default)]
    addr: Option<String>,
    #[serde(default)]
    system_id: Option<String>,
    #[serde(default)]
    url: Option<String>,
    #[serde(default)]
    username: Option<String>,
    password: String,
    /// A peer that also has an HTTP API: its send URL and that API's user.
    #[serde(default)]
    http_url: Option<String>,
    #[serde(default)]
    http_username: Option<String>,
    #[serde(default)]
    http_password: Option<String>,
    pids: Vec<u32>,
}

/// A free port on 127.0.0.1 (free when asked; the system binds it a moment later), never
/// one handed out before in this run, from below the kernel's ephemeral range (20000..32768,
/// starting at a place drawn from the process id): a port the kernel hands out for a probe
/// can be taken by an outgoing connection before the server binds it.
pub fn free_port() -> anyhow::Result<u16> {
    const FIRST: u32 = 20_000;
    const SPAN: u32 = 12_768;
    static NEXT: std::sync::Mutex<Option<u32>> = std::sync::Mutex::new(None);
    let mut next = NEXT
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let mut at = next.unwrap_or_else(|| std::process::id().wrapping_mul(7_919) % SPAN);
    for _ in 0..SPAN {
        let port = (FIRST + at % SPAN) as u16;
        at = (at + 1) % SPAN;
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            *next = Some(at);
            return Ok(port);
        }
    }
    anyhow::bail!("no free port in 20000..32768")
}

/// Waits until something listens on `port`, or `child` exits, or the timeout passes.
pub async fn wait_port(
    port: u16,
    child: Option<&mut Child>,
    timeout: Duration,
) -> anyhow::Result<()> {
    let deadline = Instant::now() + timeout;
    let mut child = child;
    loop {
        if tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_ok()
        {
            return Ok(());
        }
        if let Some(child) = child.as_deref_mut() {
            if let Some(status) = child.try_wait()? {
                bail!("the process exited ({status}) before listening on {port}");
            }
        }
        if Instant::now() >= deadline {
            bail!("nothing listened on 127.0.0.1:{port} within {timeout:?}");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Pins a process and all its threads to `cpus` (a taskset list such as `0` or `1`).
pub async fn pin(pid: u32, cpus: &str) -> anyhow::Result<()> {
    let status = Command::new("taskset")
        .args(["-a", "-p", "-c", cpus, &pid.to_string()])
        .stdout(Stdio::null())
        .status()
        .await
        .context("running taskset")?;
    if !status.success() {
        bail!("taskset -a -p -c {cpus} {pid} failed: {status}");
    }
    Ok(())
}

/// The configuration of a Tern node in front of the simulator at `smsc`, with an HTTP
/// listener on `http_port` when given.
pub fn tern_config(
    smpp_port: u16,
    raft_port: u16,
    http_port: Option<u16>,
    store: &Path,
    smsc: SocketAddr,
    settings: &TernSettings,
) -> String {
    let queued = settings
        .max_queued_in_memory
        .map(|n| format!("[pipeline]\nmax_queued_in_memory = {n}\n"))
        .unwrap_or_default();
    let http = http_port
        .map(|port| format!("[http]\nlisten = \"127.0.0.1:{port}\"\n"))
        .unwrap_or_default();
    format!(
        r#"[log]
level = "warn"
[smpp]
listen = "127.0.0.1:{smpp_port}"
window = {window}
{http}[cluster]
listen = "127.0.0.1:{raft_port}"
[store]
dir = "{store}"
fsync = true
{queued}[[account]]
system_id = "bench"
password = "bench"
max_binds = {max_binds}
[[upstream]]
name = "sim"
url = "smpp://tern:tern@{smsc}"
window = 256
"#,
        window = settings.window,
        store = store.display(),
        max_binds = settings.max_binds,
    )
}

/// A Tern node's files: its configuration and store under `dir`.
pub struct TernFiles {
    pub dir: PathBuf,
    pub config: PathBuf,
    pub smpp_port: u16,
    /// The HTTP API's port, when the settings ask for one.
    pub http_port: Option<u16>,
}

impl TernFiles {
    pub fn write(dir: &Path, smsc: SocketAddr, settings: &TernSettings) -> anyhow::Result<Self> {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        let smpp_port = free_port()?;
        let http_port = if settings.http {
            Some(free_port()?)
        } else {
            None
        };
        let config = dir.join("tern.toml");
        let text = tern_config(
            smpp_port,
            free_port()?,
            http_port,
            &dir.join("store"),
            smsc,
            settings,
        );
        std::fs::write(&config, text).with_context(|| format!("writing {}", config.display()))?;
        Ok(Self {
            dir: dir.to_owned(),
            config,
            smpp_port,
            http_port,
        })
    }

    /// The node's Kannel-compatible send URL, when it has an HTTP listener.
    pub fn sendsms_url(&self) -> Option<String> {
        self.http_port
            .map(|port| format!("http://127.0.0.1:{port}/cgi-bin/sendsms"))
    }
}

/// Starts `tern node` on `files` and waits for its SMPP port (and HTTP port, when it has
/// one). The child dies with its handle.
pub async fn spawn_tern(env: &Environment, files: &TernFiles) -> anyhow::Result<Child> {
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(files.dir.join("tern.log"))
        .context("opening tern.log")?;
    let mut command = if env.pin {
        let mut c = Command::new("taskset");
        c.args(["-c", "0"]).arg(&env.tern);
        c
    } else {
        Command::new(&env.tern)
    };
    let mut child = command
        .arg("node")
        .arg("--config")
        .arg(&files.config)
        .stdin(Stdio::null())
        .stdout(log.try_clone().context("tern.log")?)
        .stderr(log)
        .kill_on_drop(true)
        .spawn()
        .with_context(|| format!("starting {}", env.tern.display()))?;
    let mut up = wait_port(files.smpp_port, Some(&mut child), env.start_timeout).await;
    if let (Ok(()), Some(http)) = (&up, files.http_port) {
        up = wait_port(http, Some(&mut child), env.start_timeout).await;
    }
    if let Err(error) = up {
        let _ = child.kill().await;
        let tail = std::fs::read_to_string(files.dir.join("tern.log")).unwrap_or_default();
        let tail: String = tail.lines().rev().take(10).collect::<Vec<_>>().join("\n");
        return Err(error.context(format!("tern node did not come up; its log ends:\n{tail}")));
    }
    Ok(child)
}

/// SIGTERM, so that a node shuts down in order; SIGKILL if it is still there 15 s later.
pub async fn terminate(child: &mut Child) {
    if let Some(pid) = child.id() {
        let _ = Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status()
            .await;
        if tokio::time::timeout(Duration::from_secs(15), child.wait())
            .await
            .is_ok()
        {
            return;
        }
    }
    let _ = child.kill().await;
}

impl Running {
    /// Starts `kind` in front of the simulator at `smsc`.
    pub async fn start(
        kind: SystemKind,
        env: &Environment,
        smsc: SocketAddr,
        tern: &TernSettings,
        label: &str,
    ) -> anyhow::Result<Self> {
        match kind {
            SystemKind::Raw => Ok(Self {
                target: Target::Smpp {
                    addr: smsc,
                    system_id: "bench".into(),
                    password: "bench".into(),
                },
                pids: vec![std::process::id()],
                info: serde_json::json!({"note": "load generator and simulator in one process"}),
                child: None,
                peer: None,
            }),
            SystemKind::Tern | SystemKind::TernHttp => {
                let settings = TernSettings {
                    http: kind == SystemKind::TernHttp,
                    ..tern.clone()
                };
                let files = TernFiles::write(&env.work.join(label), smsc, &settings)?;
                let child = spawn_tern(env, &files).await?;
                let pid = child
                    .id()
                    .ok_or_else(|| anyhow!("tern node exited at once"))?;
                // The account's id and password are the HTTP username and password.
                let target = match files.sendsms_url() {
                    Some(url) => Target::Http(HttpTarget {
                        url,
                        username: "bench".into(),
                        password: "bench".into(),
                        api: HttpApi::Kannel,
                    }),
                    None => Target::Smpp {
                        addr: SocketAddr::from(([127, 0, 0, 1], files.smpp_port)),
                        system_id: "bench".into(),
                        password: "bench".into(),
                    },
                };
                Ok(Self {
                    target,
                    pids: vec![pid],
                    info: serde_json::json!({"config": files.config}),
                    child: Some(child),
                    peer: None,
                })
            }
            _ => Self::start_peer(kind, env, smsc, label).await,
        }
    }

    async fn start_peer(
        kind: SystemKind,
        env: &Environment,
        smsc: SocketAddr,
        label: &str,
    ) -> anyhow::Result<Self> {
        let Some((script, tuned)) = kind.peer() else {
            bail!("{} is not a peer", kind.name());
        };
        let script = env.peers.join(script);
        if !script.exists() {
            bail!("{} is missing", script.display());
        }
        let dir = env.work.join(label);
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        let mut command = Command::new(&script);
        command
            .arg("start")
            .arg("--dir")
            .arg(&dir)
            .args([
                "--smsc",
                &smsc.to_string(),
                "--system-id",
                "peer",
                "--password",
                "peer",
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        if tuned {
            command.arg("--tuned");
        }
        // From here on the guard stops whatever the script managed to start.
        let mut running = Self {
            target: Target::Smpp {
                addr: smsc,
                system_id: String::new(),
                password: String::new(),
            },
            pids: Vec::new(),
            info: serde_json::Value::Null,
            child: None,
            peer: Some((script.clone(), dir.clone())),
        };
        let output = tokio::time::timeout(env.start_timeout * 3, command.output())
            .await
            .map_err(|_| {
                anyhow!(
                    "{} start took over {:?}",
                    script.display(),
                    env.start_timeout * 3
                )
            })?
            .with_context(|| format!("running {}", script.display()))?;
        if !output.status.success() {
            bail!(
                "{} start failed ({}): {}",
                script.display(),
                output.status,
                String::from_utf8_lossy(&output.stderr).trim()
            );
        }
        let stdout = String::from_utf8_lossy(&output.stdout);
        let line = stdout
            .lines()
            .rev()
            .find(|l| l.trim_start().starts_with('{'))
            .ok_or_else(|| anyhow!("{} start printed no JSON line", script.display()))?;
        let info: PeerInfo = serde_json::from_str(line)
            .with_context(|| format!("{} start printed {line:?}", script.display()))?;
        running.info = serde_json::from_str(line).unwrap_or(serde_json::Value::Null);
        running.pids = info.pids.clone();
        running.target = match info.protocol.as_str() {
            _ if kind.peer_over_http() => Target::Http(HttpTarget {
                url: info
                    .http_url
                    .ok_or_else(|| anyhow!("{} start printed no http_url", script.display()))?,
                username: info.http_username.or(info.system_id).unwrap_or_default(),
                password: info.http_password.unwrap_or(info.password),
                api: HttpApi::Jasmin,
            }),
            "smpp" => Target::Smpp {
                addr: info
                    .addr
                    .as_deref()
                    .unwrap_or_default()
                    .parse()
                    .with_context(|| format!("peer addr {:?}", info.addr))?,
                system_id: info.system_id.unwrap_or_default(),
                password: info.password,
            },
            "http" => Target::Http(HttpTarget {
                url: info.url.unwrap_or_default(),
                username: info.username.unwrap_or_default(),
                password: info.password,
                api: HttpApi::Kannel,
            }),
            other => bail!("peer protocol {other:?} is neither smpp nor http"),
        };
        if env.pin {
            for &pid in &running.pids {
                pin(pid, "0").await?;
            }
        }
        Ok(running)
    }

    /// Stops the system and waits for it.
    pub async fn stop(mut self) -> anyhow::Result<()> {
        if let Some(mut child) = self.child.take() {
            terminate(&mut child).await;
        }
        if let Some((script, dir)) = self.peer.take() {
            let status = tokio::time::timeout(
                Duration::from_secs(60),
                Command::new(&script)
                    .arg("stop")
                    .arg("--dir")
                    .arg(&dir)
                    .stdin(Stdio::null())
                    .stdout(Stdio::null())
                    .kill_on_drop(true)
                    .status(),
            )
            .await
            .map_err(|_| anyhow!("{} stop took over a minute", script.display()))??;
            if !status.success() {
                bail!(
                    "{} stop --dir {} failed: {status}",
                    script.display(),
                    dir.display()
                );
            }
        }
        Ok(())
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        // Not stopped in order (an error on the way): kill_on_drop ends a node; a peer's
        // script is asked to stop what it started.
        if let Some((script, dir)) = self.peer.take() {
            let _ = std::process::Command::new(script)
                .arg("stop")
                .arg("--dir")
                .arg(dir)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .status();
        }
    }
}
