//! The scenarios of a comparison and one run of a scenario against one system: a fresh
//! simulator, the system started in front of it, idle binds when the scenario has them,
//! the load, and everything stopped again.

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::{bail, Context as _};
use serde::Serialize;
use tern_smpp::net::{BindMode, Client, ClientConfig, ClientEvent, LinkState};
use tern_smpp::rusmpp::pdus::DeliverSmResp;
use tern_smpp::session::{self as smpp_session, error_response, Role};
use tern_smpp::{Command, CommandStatus, Pdu};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::report::Row;
use super::system::{Environment, Running, SystemKind, Target, TernSettings};
use crate::load::{self, LoadConfig, MessageMix};
use crate::process::{CpuMark, ProcessUsage};
use crate::smsc::{Accounts, ReceiptDelay, Smsc, SmscConfig, SmscHandle};

/// A scenario of `tern-bench compare`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, clap::ValueEnum)]
#[serde(rename_all = "UPPERCASE")]
pub enum Scenario {
    /// MT only: the highest rate (closed loop), then the same open-loop rate for every
    /// system to compare latencies at a load all of them sustain.
    #[value(name = "S1", alias = "s1")]
    S1,
    /// MT with receipts: submit→resp and submit→receipt, every receipt matched.
    #[value(name = "S2", alias = "s2")]
    S2,
    /// Backlog (Tern only): a capped operator, a million messages queued, then a restart:
    /// the time to the first accepted submit.
    #[value(name = "S3", alias = "s3")]
    S3,
    /// 1,000 idle binds that never submit and 50 binds loading.
    #[value(name = "S5", alias = "s5")]
    S5,
}

impl Scenario {
    pub fn name(self) -> &'static str {
        match self {
            Scenario::S1 => "S1",
            Scenario::S2 => "S2",
            Scenario::S3 => "S3",
            Scenario::S5 => "S5",
        }
    }

    pub fn title(self) -> &'static str {
        match self {
            Scenario::S1 => "MT only",
            Scenario::S2 => "MT with receipts",
            Scenario::S3 => "backlog and restart",
            Scenario::S5 => "idle binds plus active binds",
        }
    }
}

/// What a scenario's load is: its defaults, or the flags that override them.
#[derive(Debug, Clone, Serialize)]
pub struct Plan {
    pub binds: usize,
    pub window: usize,
    pub count: u64,
    #[serde(serialize_with = "crate::parse::secs")]
    pub duration: Duration,
    pub receipts: bool,
    /// From a submit to its receipt at the simulator.
    #[serde(serialize_with = "crate::parse::secs")]
    pub receipt_delay: Duration,
    pub idle_binds: usize,
    pub mix: MessageMix,
}

/// Flags that override a scenario's defaults.
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    pub binds: Option<usize>,
    pub window: Option<usize>,
    pub count: Option<u64>,
    pub duration: Option<Duration>,
    /// S5's idle binds.
    pub idle_binds: Option<usize>,
    /// S2's receipt delay.
    pub receipt_delay: Option<Duration>,
    pub mix: Option<MessageMix>,
}

impl Plan {
    pub fn of(scenario: Scenario, o: &Overrides) -> Self {
        let (binds, window, count, secs, receipts, idle) = match scenario {
            Scenario::S1 => (4, 64, 200_000, 30, false, 0),
            Scenario::S2 => (4, 64, 100_000, 30, true, 0),
            Scenario::S3 => (4, 64, 1_000_000, 600, false, 0),
            Scenario::S5 => (50, 8, 100_000, 30, false, 1_000),
        };
        Self {
            binds: o.binds.unwrap_or(binds),
            window: o.window.unwrap_or(window),
            count: o.count.unwrap_or(count),
            duration: o.duration.unwrap_or(Duration::from_secs(secs)),
            receipts,
            // Not 0: Jasmin drops a receipt that comes before it has stored the submit's
            // mapping (bench/peers/README.md), which a delay of 0 makes the rule.
            receipt_delay: if receipts {
                o.receipt_delay.unwrap_or(Duration::from_millis(500))
            } else {
                Duration::ZERO
            },
            // Only S5 has idle binds: elsewhere they would take receipts meant for the load.
            idle_binds: if idle > 0 {
                o.idle_binds.unwrap_or(idle)
            } else {
                0
            },
            mix: o.mix.unwrap_or(MessageMix {
                gsm7: 1,
                long: 0,
                ucs2: 0,
            }),
        }
    }

    pub fn tern(&self) -> TernSettings {
        TernSettings {
            max_binds: self.binds + self.idle_binds + 8,
            window: self.window.max(64),
            max_queued_in_memory: None,
            http: false,
        }
    }
}

/// One load of one system: closed loop, or open loop at `rate`.
#[derive(Debug, Clone, Copy)]
pub struct Phase {
    pub rate: Option<f64>,
    pub duration: Duration,
    pub count: u64,
}

/// The simulator every system talks to: any account, every receipt DELIVRD.
pub fn simulator_config(seed: u64, tps_cap: Option<u32>, receipt_delay: Duration) -> SmscConfig {
    SmscConfig {
        listen: SocketAddr::from(([127, 0, 0, 1], 0)),
        accounts: Accounts::Any,
        receipt_delay: ReceiptDelay::fixed(receipt_delay),
        final_states: vec![(tern_model::MessageState::Delivered, 1)],
        tps_cap,
        seed,
        ..SmscConfig::default()
    }
}

/// The load against `target` as planned.
pub fn load_config(
    target: &Target,
    plan: &Plan,
    phase: Phase,
    pids: Vec<u32>,
    progress: bool,
    seed: u64,
) -> LoadConfig {
    let mut config = LoadConfig {
        binds: plan.binds,
        window: plan.window,
        rate: phase.rate,
        count: Some(phase.count),
        duration: Some(phase.duration),
        mix: plan.mix,
        registered_delivery: plan.receipts,
        receipt_timeout: Duration::from_secs(30),
        response_timeout: Duration::from_secs(30),
        bind_timeout: Duration::from_secs(30),
        pids,
        progress,
        seed,
        ..LoadConfig::default()
    };
    match target {
        Target::Smpp {
            addr,
            system_id,
            password,
        } => {
            config.host = addr.ip().to_string();
            config.port = addr.port();
            config.system_id = system_id.clone();
            config.password = password.clone();
        }
        Target::Http(http) => {
            config.http = Some(http.clone());
        }
    }
    config
}

/// Connections held open without traffic: SMPP transceiver binds, or HTTP keep-alive
/// connections that never send a request.
pub struct IdleBinds {
    shutdown: CancellationToken,
    tracker: TaskTracker,
    _streams: Vec<tokio::net::TcpStream>,
}

impl IdleBinds {
    pub async fn open(target: &Target, n: usize, timeout: Duration) -> anyhow::Result<Self> {
        let shutdown = CancellationToken::new();
        let tracker = TaskTracker::new();
        let mut streams = Vec::new();
        match target {
            Target::Smpp {
                addr,
                system_id,
                password,
            } => {
                let mut clients = Vec::with_capacity(n);
                for i in 0..n {
                    let mut config =
                        ClientConfig::new(format!("idle-{i}"), addr.ip().to_string(), addr.port());
                    config.system_id = system_id.clone();
                    config.password = password.clone();
                    config.bind = BindMode::Transceiver;
                    config.session = smpp_session::Config {
                        role: Role::Client,
                        ..smpp_session::Config::default()
                    };
                    config.connect_timeout = timeout;
                    config.reconnect_min = Duration::from_millis(200);
                    config.reconnect_max = Duration::from_secs(2);
                    let (client, events) = Client::start(config, shutdown.clone(), &tracker);
                    tracker.spawn(answer(events, shutdown.clone()));
                    clients.push(client);
                }
                let deadline = Instant::now() + timeout;
                loop {
                    let up = clients
                        .iter()
                        .filter(|c| c.state() == LinkState::Up)
                        .count();
                    if up == n {
                        break;
                    }
                    if Instant::now() >= deadline {
                        shutdown.cancel();
                        bail!("only {up} of {n} idle binds came up within {timeout:?}");
                    }
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
            Target::Http(http) => {
                let authority = http
                    .url
                    .strip_prefix("http://")
                    .and_then(|rest| rest.split('/').next())
                    .unwrap_or_default()
                    .to_owned();
                for _ in 0..n {
                    let stream = tokio::time::timeout(
                        timeout,
                        tokio::net::TcpStream::connect(authority.as_str()),
                    )
                    .await
                    .context("idle connection timed out")?
                    .with_context(|| format!("idle connection to {authority}"))?;
                    streams.push(stream);
                }
            }
        }
        Ok(Self {
            shutdown,
            tracker,
            _streams: streams,
        })
    }

    pub async fn close(self) {
        self.shutdown.cancel();
        self.tracker.close();
        let _ = tokio::time::timeout(Duration::from_secs(10), self.tracker.wait()).await;
    }
}

/// An idle bind's events: every request is answered (a gateway may hand it a receipt).
async fn answer(mut events: tokio::sync::mpsc::Receiver<ClientEvent>, shutdown: CancellationToken) {
    loop {
        let event = tokio::select! {
            event = events.recv() => event,
            _ = shutdown.cancelled() => None,
        };
        let Some(event) = event else { return };
        if let ClientEvent::Request { command, handle } = event {
            let seq = command.sequence_number();
            let response = match command.pdu() {
                Some(Pdu::DeliverSm(_)) => Command::new(
                    CommandStatus::EsmeRok,
                    seq,
                    Pdu::from(DeliverSmResp::default()),
                ),
                _ => error_response(command.id(), seq, CommandStatus::EsmeRinvcmdid),
            };
            handle.respond(response);
        }
    }
}

/// How long a system may take, after the load, to forward what it accepted.
const DRAIN_LIMIT: Duration = Duration::from_secs(60);

/// What a system did from the start of the load until it had forwarded what it accepted
/// (or the drain limit passed).
#[derive(Debug, Clone)]
pub struct Drain {
    /// Submits the operator accepted.
    pub forwarded: u64,
    /// From the start of the load to the last of them.
    pub secs: f64,
    /// CPU and memory of the system over the same time.
    pub usage: Option<ProcessUsage>,
}

/// Submits the simulator answered with ESME_ROK.
fn forwarded(simulator: &SmscHandle) -> u64 {
    simulator
        .stats()
        .submits_by_status
        .get("ESME_ROK")
        .copied()
        .unwrap_or(0)
}

/// Runs `plan` in `phase` against a fresh `kind` in front of a fresh simulator.
#[allow(clippy::too_many_arguments)]
pub async fn run_one(
    scenario: Scenario,
    kind: SystemKind,
    plan: &Plan,
    phase: Phase,
    env: &Environment,
    progress: bool,
    seed: u64,
    label: &str,
) -> anyhow::Result<Row> {
    let simulator = Smsc::start(simulator_config(seed, None, plan.receipt_delay))
        .await
        .context("starting the simulated SMSC")?;
    let result = async {
        let running = Running::start(kind, env, simulator.addr(), &plan.tern(), label).await?;
        let outcome = async {
            let idle = if plan.idle_binds > 0 {
                Some(IdleBinds::open(&running.target, plan.idle_binds, env.start_timeout).await?)
            } else {
                None
            };
            let config = load_config(
                &running.target,
                plan,
                phase,
                running.pids.clone(),
                progress,
                seed,
            );
            let mark = CpuMark::of(&running.pids).ok();
            let started = Instant::now();
            // The operator's count and when it last moved, sampled while the load runs.
            let sample = |last: &mut (u64, Duration)| {
                let now = forwarded(&simulator);
                if now != last.0 {
                    *last = (now, started.elapsed());
                }
            };
            let mut last = (0, Duration::ZERO);
            let report = {
                let sampler = async {
                    loop {
                        tokio::time::sleep(Duration::from_millis(10)).await;
                        sample(&mut last);
                    }
                };
                tokio::select! {
                    report = load::run(config) => report,
                    never = sampler => never,
                }
            };
            sample(&mut last);
            if let Ok(report) = &report {
                // Until the operator has every accepted part, or the limit.
                let deadline = Instant::now() + DRAIN_LIMIT;
                while last.0 < report.accepted && Instant::now() < deadline {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    let now = forwarded(&simulator);
                    if now != last.0 {
                        last = (now, started.elapsed());
                    }
                }
            }
            let drain = Drain {
                forwarded: last.0,
                secs: last.1.as_secs_f64(),
                usage: mark.and_then(|m| {
                    m.usage(
                        report.as_ref().map_or(0, |r| r.accepted),
                        started.elapsed().as_secs_f64(),
                    )
                    .ok()
                }),
            };
            if let Some(idle) = idle {
                idle.close().await;
            }
            anyhow::Ok((report?, drain))
        }
        .await;
        let info = running.info.clone();
        let stopped = running.stop().await;
        let (report, drain) = outcome?;
        stopped?;
        anyhow::Ok((report, drain, info))
    }
    .await;
    let stats = simulator.stats();
    simulator.shutdown().await;
    let (report, drain, info) = result?;
    Ok(Row::new(
        scenario, kind, phase, plan, report, drain, stats, info,
    ))
}
