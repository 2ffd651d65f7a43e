//! `tern-bench`: the simulated SMSC (`smsc`), the load generator against any SMPP server or
//! CMPP, SGIP, SMGP, CNGP or HTTP gateway (`load`), and the two together in one process
//! with no gateway between them (`raw`), the harness's own ceiling that gateway results are
//! divided by; `cql-raw` is the same ceiling for a CQL database a node keeps its messages
//! in.

use std::io::Write as _;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context as _;
use clap::{Args, Parser, Subcommand, ValueEnum};
use mimalloc::MiMalloc;
use scylla::statement::Consistency;
use serde::Serialize;
use tern_bench::compare::{self, CompareConfig, Overrides, Scenario, SystemKind};
use tern_bench::cql::{self, CqlRawConfig, CqlRawError, CqlRawReport};
use tern_bench::load::{
    self, CmppTarget, CngpTarget, HttpApi, HttpTarget, LoadConfig, LoadError, LoadReport,
    MessageMix, SgipTarget, SmgpTarget,
};
use tern_bench::smsc::{
    Accounts, IdFormat, MoConfig, ReceiptDelay, Smsc, SmscConfig, SmscError, SmscStats,
};
use tern_bench::{parse, status};
use tern_model::MessageState;
use tern_smpp::CommandStatus;

#[global_allocator]
static GLOBAL: MiMalloc = MiMalloc;

#[derive(Parser)]
#[command(
    name = "tern-bench",
    version,
    about = "Simulated SMSC and SMPP/CMPP/SGIP/SMGP/CNGP/HTTP load generator"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the simulated SMSC until SIGINT or SIGTERM.
    Smsc {
        /// Address to listen on.
        #[arg(long, default_value = "127.0.0.1:2775")]
        listen: SocketAddr,
        #[command(flatten)]
        smsc: SmscArgs,
        #[command(flatten)]
        seed: SeedArg,
        /// Answer GET /stats, GET /sessions and POST /mark over HTTP on this address.
        #[arg(long, value_name = "ADDR")]
        stats_listen: Option<SocketAddr>,
        /// No progress line on stderr.
        #[arg(long)]
        quiet: bool,
    },
    /// Run a load against an SMPP server (Tern, another gateway, or a simulator), or a CMPP,
    /// SGIP, SMGP, CNGP or HTTP gateway with --protocol.
    Load {
        #[command(flatten)]
        target: TargetArgs,
        #[command(flatten)]
        load: LoadArgs,
        #[command(flatten)]
        seed: SeedArg,
        #[command(flatten)]
        output: OutputArgs,
    },
    /// Run a scenario against several systems in turn (the raw harness, Tern, Kannel,
    /// Jasmin), each in front of a fresh simulator, and write DIR/results.json,
    /// DIR/results.md and SVG plots.
    Compare(CompareArgs),
    /// Start a simulator in this process and run the load straight against it: the
    /// baseline without a gateway in between.
    Raw {
        #[command(flatten)]
        smsc: SmscArgs,
        #[command(flatten)]
        load: LoadArgs,
        #[command(flatten)]
        seed: SeedArg,
        #[command(flatten)]
        output: OutputArgs,
    },
    /// Insert rows into a CQL database (ScyllaDB, Cassandra) as fast as N requests in flight
    /// allow: prepared single-row INSERTs of (id bigint, part tinyint, record blob), the
    /// database's own rate that a node on the CQL store is divided by.
    CqlRaw(CqlRawArgs),
}

#[derive(Args)]
struct CqlRawArgs {
    /// A node of the cluster, host:port; repeat for several.
    #[arg(long = "contact", default_value = "127.0.0.1:9042")]
    contact_points: Vec<String>,
    /// The keyspace of the table.
    #[arg(long)]
    keyspace: String,
    /// The table, created when missing.
    #[arg(long, default_value = "raw_rows")]
    table: String,
    /// Create the keyspace when it is missing (SimpleStrategy, one replica).
    #[arg(long)]
    create_keyspace: bool,
    /// Drop the keyspace at the end, whatever the outcome (with --count 0: only that).
    #[arg(long)]
    drop_keyspace: bool,
    /// Binds of the SMPP load this is compared with; INSERTs in flight: binds x window.
    #[arg(long, default_value_t = 4)]
    binds: usize,
    /// Window per bind of that load.
    #[arg(long, default_value_t = 64)]
    window: usize,
    /// Rows to insert.
    #[arg(long, default_value_t = 100_000)]
    count: u64,
    /// Longest the run may insert, whatever --count.
    #[arg(long, default_value = "60s", value_parser = parse::duration)]
    duration: Duration,
    /// Bytes of each row's record.
    #[arg(long, default_value_t = 250)]
    record_bytes: usize,
    /// Consistency of each INSERT (the CQL store's default is quorum).
    #[arg(long, value_enum, default_value_t = ConsistencyArg::Quorum)]
    consistency: ConsistencyArg,
    /// The longest one INSERT may take before it counts as failed.
    #[arg(long, default_value = "5s", value_parser = parse::duration)]
    request_timeout: Duration,
    /// Report CPU µs per row and peak RSS of this process (the database, when it runs on
    /// this machine); repeat for several.
    #[arg(long)]
    pid: Vec<u32>,
    #[command(flatten)]
    seed: SeedArg,
    #[command(flatten)]
    output: OutputArgs,
}

#[derive(Clone, Copy, ValueEnum)]
enum ConsistencyArg {
    One,
    Quorum,
    All,
}

impl CqlRawArgs {
    fn config(&self) -> CqlRawConfig {
        CqlRawConfig {
            contact_points: self.contact_points.clone(),
            keyspace: self.keyspace.clone(),
            table: self.table.clone(),
            create_keyspace: self.create_keyspace,
            drop_keyspace: self.drop_keyspace,
            concurrency: self.binds.saturating_mul(self.window),
            count: self.count,
            duration: self.duration,
            record_bytes: self.record_bytes,
            consistency: match self.consistency {
                ConsistencyArg::One => Consistency::One,
                ConsistencyArg::Quorum => Consistency::Quorum,
                ConsistencyArg::All => Consistency::All,
            },
            request_timeout: self.request_timeout,
            seed: self.seed.seed,
            pids: self.pid.clone(),
            progress: !self.output.quiet,
        }
    }
}

#[derive(Args)]
struct CompareArgs {
    /// Scenarios, in order: S1 MT only, S2 MT with receipts, S3 backlog and restart (Tern
    /// only), S5 1,000 idle plus 50 active binds.
    #[arg(long, value_enum, value_delimiter = ',', required = true)]
    scenario: Vec<Scenario>,
    /// Systems, in order.
    #[arg(long, value_enum, value_delimiter = ',', default_value = "raw,tern")]
    systems: Vec<SystemKind>,
    /// Where results.json, results.md and the plots go.
    #[arg(long)]
    out: PathBuf,
    /// Messages per run (defaults: S1 200000, S2 100000, S3 1000000, S5 100000).
    #[arg(long)]
    count: Option<u64>,
    /// Longest a load may send (defaults: 30s; S3 10m).
    #[arg(long, value_parser = parse::duration)]
    duration: Option<Duration>,
    /// Active binds (defaults: 4; S5 50).
    #[arg(long)]
    binds: Option<usize>,
    /// Window per bind (defaults: 64; S5 8).
    #[arg(long)]
    window: Option<usize>,
    /// S5's idle binds (default 1000).
    #[arg(long)]
    idle_binds: Option<usize>,
    /// S2's delay from submit to receipt at the simulator (default 500ms).
    #[arg(long, value_parser = parse::duration)]
    receipt_delay: Option<Duration>,
    /// Message kinds by weight (default gsm7=100).
    #[arg(long, value_parser = mix)]
    mix: Option<MessageMix>,
    /// S1's common open-loop rate, msg/s (default: half the lowest closed-loop rate).
    #[arg(long)]
    sustain_rate: Option<f64>,
    /// How long S1's open-loop phase sends.
    #[arg(long, default_value = "10s", value_parser = parse::duration)]
    sustain_duration: Duration,
    /// Skip S1's open-loop phase.
    #[arg(long, conflicts_with = "sustain_only")]
    no_sustain: bool,
    /// Run S1's open-loop phase only (at --sustain-rate).
    #[arg(long, requires = "sustain_rate")]
    sustain_only: bool,
    /// The tern binary (default: beside tern-bench).
    #[arg(long)]
    tern: Option<PathBuf>,
    /// The directory of the peers' start scripts (default: bench/peers of this tree).
    #[arg(long)]
    peers: Option<PathBuf>,
    /// Pin the system under test to CPU 0 and tern-bench to CPU 1 (taskset).
    #[arg(long)]
    pin: bool,
    /// How long a system may take to come up.
    #[arg(long, default_value = "60s", value_parser = parse::duration)]
    start_timeout: Duration,
    #[command(flatten)]
    seed: SeedArg,
    /// No progress on stderr.
    #[arg(long)]
    quiet: bool,
}

impl CompareArgs {
    fn config(self) -> CompareConfig {
        CompareConfig {
            scenarios: self.scenario,
            systems: self.systems,
            out: self.out,
            overrides: Overrides {
                binds: self.binds,
                window: self.window,
                count: self.count,
                duration: self.duration,
                idle_binds: self.idle_binds,
                receipt_delay: self.receipt_delay,
                mix: self.mix,
            },
            sustain_rate: self.sustain_rate,
            sustain_duration: self.sustain_duration,
            no_sustain: self.no_sustain,
            sustain_only: self.sustain_only,
            tern: self.tern.unwrap_or_else(compare::default_tern),
            peers: self.peers.unwrap_or_else(compare::default_peers),
            pin: self.pin,
            start_timeout: self.start_timeout,
            seed: self.seed.seed,
            progress: !self.quiet,
            command: std::env::args().collect::<Vec<_>>().join(" "),
        }
    }
}

#[derive(Args)]
struct SeedArg {
    /// Seed of every random choice (error injection, receipt states and delays, message mix).
    #[arg(long, default_value_t = 1)]
    seed: u64,
}

#[derive(Args)]
struct SmscArgs {
    /// Accept binds of this account only; repeat for several. Without it any bind is accepted.
    #[arg(long = "account", value_name = "SYSTEM_ID:PASSWORD", value_parser = parse::account)]
    accounts: Vec<(String, String)>,
    /// How message ids are written in submit_sm_resp and receipts.
    #[arg(long, value_enum, default_value = "decimal")]
    id_format: IdFormatArg,
    /// Id of the first submit; later ones count up from it.
    #[arg(long, default_value_t = 1)]
    first_id: u64,
    /// Delay from submit to receipt: a duration (0, 500ms) or a uniform range (100ms..2s).
    #[arg(long, default_value = "0", value_parser = parse::duration_range)]
    receipt_delay: (Duration, Duration),
    /// Final states of receipts by weight.
    #[arg(long, default_value = "DELIVRD=97,UNDELIV=2,EXPIRED=1", value_parser = final_states)]
    final_states: FinalStates,
    /// Share of submits refused with --permanent-error-status.
    #[arg(long, default_value_t = 0.0, value_parser = parse::fraction)]
    permanent_error_rate: f64,
    #[arg(long, default_value = "ESME_RINVDSTADR", value_parser = status::parse)]
    permanent_error_status: CommandStatus,
    /// Share of submits refused with ESME_RSYSERR.
    #[arg(long, default_value_t = 0.0, value_parser = parse::fraction)]
    transient_error_rate: f64,
    /// Share of submits refused with ESME_RTHROTTLED.
    #[arg(long, default_value_t = 0.0, value_parser = parse::fraction)]
    throttle_rate: f64,
    /// Submits per second per bind; above it ESME_RTHROTTLED.
    #[arg(long)]
    tps_cap: Option<u32>,
    /// Unbind the bind that made every N-th submit.
    #[arg(long, value_name = "N")]
    disconnect_every: Option<u64>,
    /// Unbind the bind after a submit with this probability.
    #[arg(long, default_value_t = 0.0, value_parser = parse::fraction)]
    disconnect_probability: f64,
    /// Receipts an account may have waiting; more are dropped and counted.
    #[arg(long, default_value_t = 1_000_000)]
    max_pending_receipts: usize,
    /// How long a due receipt waits for a receiving bind before it is dropped.
    #[arg(long, default_value = "5m", value_parser = parse::duration)]
    pending_receipt_ttl: Duration,
    /// deliver_sm in flight per bind.
    #[arg(long, default_value_t = 64)]
    receipt_window: usize,
    /// Unanswered submit_sm a bind may have; more get ESME_RTHROTTLED.
    #[arg(long, default_value_t = 1024)]
    submit_window: usize,
    /// Accepted messages remembered to count duplicates (0: off).
    #[arg(long, default_value_t = 1_000_000)]
    duplicate_window: usize,
    /// Mobile-originated messages per second, sent as deliver_sm.
    #[arg(long)]
    mo_rate: Option<f64>,
    /// The number MOs are sent to.
    #[arg(long, default_value = "12345")]
    mo_destination: String,
    /// MO senders: this prefix and 8 digits.
    #[arg(long, default_value = "4915")]
    mo_source: String,
    /// The account MOs go to (default: every account with a receiving bind, in turn).
    #[arg(long)]
    mo_account: Option<String>,
    /// Transmitter and transceiver binds an account may have open at once; one more is
    /// refused with ESME_RBINDFAIL (default: no limit).
    #[arg(long, value_name = "N")]
    max_binds: Option<u32>,
    /// Write what the operator saw and did to FILE, one JSON object a line (bind, submit,
    /// receipt, close); flushed every 100 ms and at exit.
    #[arg(long, value_name = "FILE")]
    history: Option<PathBuf>,
    /// Throttling storms: for --storm-length at the start of every DUR from the start, every
    /// submit is refused with --storm-status.
    #[arg(long, value_name = "DUR", value_parser = parse::duration, requires = "storm_length")]
    storm_every: Option<Duration>,
    /// How long each storm lasts.
    #[arg(long, value_name = "DUR", value_parser = parse::duration, requires = "storm_every")]
    storm_length: Option<Duration>,
    /// What a storm answers (ESME_RTHROTTLED, ESME_RMSGQFUL, ...).
    #[arg(long, default_value = "ESME_RTHROTTLED", value_parser = status::parse)]
    storm_status: CommandStatus,
    /// Refuse part K of every concatenated message (by destination and reference) the first
    /// time it comes, with --refuse-part-status; accept it when sent again.
    #[arg(long, value_name = "K")]
    refuse_part: Option<u8>,
    #[arg(long, default_value = "ESME_RTHROTTLED", value_parser = status::parse)]
    refuse_part_status: CommandStatus,
    /// Share of accepted submits whose receipt is sent, and answered, before their
    /// submit_sm_resp.
    #[arg(long, value_name = "P", default_value_t = 0.0, value_parser = parse::fraction)]
    receipt_before_resp: f64,
    /// Share of receipts sent on another receiving bind of the account than the one that
    /// submitted (the others go back on the submitting bind).
    #[arg(long, value_name = "P", default_value_t = 0.0, value_parser = parse::fraction)]
    receipt_other_bind: f64,
    /// Share of receipts sent twice.
    #[arg(long, value_name = "P", default_value_t = 0.0, value_parser = parse::fraction)]
    duplicate_receipts: f64,
    /// Share of submits after which the connection is closed without answering them.
    #[arg(long, value_name = "P", default_value_t = 0.0, value_parser = parse::fraction)]
    drop_after_read: f64,
    /// Share of submits answered only after --slow-answer-delay.
    #[arg(long, value_name = "P", default_value_t = 0.0, value_parser = parse::fraction)]
    slow_answer: f64,
    #[arg(long, value_name = "DUR", default_value = "5s", value_parser = parse::duration)]
    slow_answer_delay: Duration,
    /// Send a deliver_sm that got no answer in time again (a second later), as most SMSCs
    /// do, instead of dropping it; the ESME may then see it twice.
    #[arg(long)]
    retry_timed_out_delivers: bool,
}

#[derive(Clone, Copy, ValueEnum)]
enum IdFormatArg {
    Decimal,
    Hex,
}

#[derive(Clone)]
struct FinalStates(Vec<(MessageState, u32)>);

fn final_states(text: &str) -> Result<FinalStates, String> {
    parse::weights(text)?
        .into_iter()
        .map(|(name, weight)| {
            MessageState::from_stat_word(&name)
                .map(|state| (state, weight))
                .ok_or_else(|| format!("{name:?} is not a receipt stat (DELIVRD, UNDELIV, ...)"))
        })
        .collect::<Result<_, _>>()
        .map(FinalStates)
}

#[derive(Args)]
struct TargetArgs {
    /// The server to load, HOST:PORT.
    #[arg(long, value_parser = target, required_unless_present = "url")]
    target: Option<(String, u16)>,
    /// HTTP: the send-SMS URL (Kannel's http://HOST:PORT/cgi-bin/sendsms, Jasmin's
    /// http://HOST:PORT/send), called with GET and the parameters of --http-api;
    /// --system-id and --password are the username and password.
    #[arg(long, required_if_eq("protocol", "http"))]
    url: Option<String>,
    /// HTTP: whose parameters --url takes. kannel: from, to, text, coding, charset (and
    /// dlr-mask, dlr-url with --receipts), any 2xx accepted; jasmin: from, to, content (and
    /// dlr=yes, dlr-level=2, dlr-method=GET, dlr-url), 200 `Success "<id>"` accepted.
    #[arg(long, value_enum, default_value = "kannel")]
    http_api: HttpApi,
    #[arg(long, value_enum, default_value = "smpp")]
    protocol: ProtocolArg,
    /// The account: SMPP's system_id, SGIP's Login_Name, SMGP's and CNGP's ClientID, HTTP's
    /// username.
    #[arg(long, default_value = "bench")]
    system_id: String,
    #[arg(long, default_value = "bench")]
    password: String,
    /// CMPP: the version CONNECT asks for.
    #[arg(long, default_value = "3.0", value_parser = cmpp_version)]
    cmpp_version: tern_cmpp::Version,
    /// CMPP: the SP's Source_Addr (6 digits).
    #[arg(long, required_if_eq("protocol", "cmpp"))]
    source_addr: Option<String>,
    /// CMPP: the shared secret. SGIP: the Login_Password, in place of --password. SMGP and
    /// CNGP: the shared secret, in place of --password.
    #[arg(long, required_if_eq("protocol", "cmpp"))]
    secret: Option<String>,
    /// SGIP: the SP's CorpId (up to 5 digits), also in its node id.
    #[arg(long, default_value = "0")]
    corp_id: String,
    /// SGIP: where the gateway binds back with login type 2 to send REPORTs and MO, HOST:PORT
    /// (the account's deliver_to at the gateway); needed with --receipts.
    #[arg(long, value_name = "HOST:PORT")]
    sgip_listen: Option<SocketAddr>,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum ProtocolArg {
    Smpp,
    /// CMPP 2.0/3.0 as an SP: closed loop only; GSM 7-bit texts go as ASCII of at most
    /// 140 characters, long ones in parts of 134, and a --source that is not a number as
    /// Src_Id 1065.
    Cmpp,
    /// SGIP 1.2 as an SP: binds with login type 1 (--system-id, --password or --secret);
    /// closed loop only; GSM 7-bit texts go as ASCII, a --source that is not a number as
    /// SPNumber 10655. Receipts come as REPORTs on the gateway's type-2 bind to
    /// --sgip-listen.
    Sgip,
    /// SMGP 3.0 as an SP: logs in with --system-id as ClientID and --secret (or --password)
    /// in transmit mode; closed loop only; GSM 7-bit texts go as ASCII of at most 159
    /// characters, long ones in parts of 153, and a --source that is not a number as
    /// SrcTermID 10659. Status reports come as DELIVERs on the same connection.
    Smgp,
    /// CNGP 2.0 as an SP: as SMGP, with --system-id also as SPID, and a --source that is not
    /// a number as SrcTermID 10657.
    Cngp,
    /// HTTP GET on --url over keep-alive connections: --binds clients with --window
    /// requests (and connections) in flight each; receipts come back to a dlr-url.
    Http,
}

fn cmpp_version(text: &str) -> Result<tern_cmpp::Version, String> {
    match text {
        "3.0" | "3" => Ok(tern_cmpp::Version::V30),
        "2.0" | "2" => Ok(tern_cmpp::Version::V20),
        other => Err(format!("{other:?} is not 3.0 or 2.0")),
    }
}

impl TargetArgs {
    fn cmpp(&self) -> Option<CmppTarget> {
        (self.protocol == ProtocolArg::Cmpp).then(|| CmppTarget {
            version: self.cmpp_version,
            source_addr: self.source_addr.clone().unwrap_or_default(),
            secret: self.secret.clone().unwrap_or_default(),
        })
    }

    fn sgip(&self) -> Option<SgipTarget> {
        (self.protocol == ProtocolArg::Sgip).then(|| SgipTarget {
            login_name: self.system_id.clone(),
            password: self.secret.clone().unwrap_or_else(|| self.password.clone()),
            corp_id: self.corp_id.clone(),
            listen: self.sgip_listen,
        })
    }

    fn smgp(&self) -> Option<SmgpTarget> {
        (self.protocol == ProtocolArg::Smgp).then(|| SmgpTarget {
            client_id: self.system_id.clone(),
            secret: self.secret.clone().unwrap_or_else(|| self.password.clone()),
        })
    }

    fn cngp(&self) -> Option<CngpTarget> {
        (self.protocol == ProtocolArg::Cngp).then(|| CngpTarget {
            client_id: self.system_id.clone(),
            secret: self.secret.clone().unwrap_or_else(|| self.password.clone()),
        })
    }

    fn http(&self) -> Option<HttpTarget> {
        let url = self.url.clone()?;
        (self.protocol == ProtocolArg::Http).then(|| HttpTarget {
            url,
            username: self.system_id.clone(),
            password: self.password.clone(),
            api: self.http_api,
        })
    }

    /// Host and port of --target, or of --url.
    fn host_port(&self) -> (String, u16) {
        if let Some(target) = &self.target {
            return target.clone();
        }
        let url = self.url.as_deref().unwrap_or_default();
        let authority = url
            .strip_prefix("http://")
            .unwrap_or(url)
            .split('/')
            .next()
            .unwrap_or_default();
        target(authority).unwrap_or_else(|_| (authority.to_owned(), 80))
    }
}

fn target(text: &str) -> Result<(String, u16), String> {
    let (host, port) = text
        .rsplit_once(':')
        .ok_or_else(|| format!("{text:?} is not HOST:PORT"))?;
    let port = port
        .parse()
        .map_err(|_| format!("{port:?} is not a port number"))?;
    Ok((host.trim_matches(['[', ']']).to_owned(), port))
}

#[derive(Args)]
struct LoadArgs {
    /// Connections, each a transceiver bind.
    #[arg(long, default_value_t = 4)]
    binds: usize,
    /// submit_sm in flight per bind.
    #[arg(long, default_value_t = 64)]
    window: usize,
    /// Open loop at this many messages per second over all binds; without it, closed loop.
    #[arg(long)]
    rate: Option<f64>,
    /// Messages to send (default 100000 when no --duration is given).
    #[arg(long)]
    count: Option<u64>,
    /// How long to send (with --count too, whichever ends first).
    #[arg(long, value_parser = parse::duration)]
    duration: Option<Duration>,
    /// Message kinds by weight: gsm7 (one part), long (2-3 parts, UDH), ucs2.
    #[arg(long, default_value = "gsm7=100", value_parser = mix)]
    mix: MessageMix,
    /// Characters of a one-part GSM 7-bit message.
    #[arg(long, default_value_t = 160)]
    gsm7_len: usize,
    /// Ask for receipts (registered_delivery 1) and match them.
    #[arg(long)]
    receipts: bool,
    /// How long to wait for outstanding receipts after the last response.
    #[arg(long, default_value = "10s", value_parser = parse::duration)]
    receipt_timeout: Duration,
    #[arg(long, default_value = "10s", value_parser = parse::duration)]
    response_timeout: Duration,
    /// How long the binds may take to come up.
    #[arg(long, default_value = "10s", value_parser = parse::duration)]
    bind_timeout: Duration,
    #[arg(long, default_value = "TernBench")]
    source: String,
    /// Destinations: this prefix and 7 digits.
    #[arg(long, default_value = "4917")]
    destination_prefix: String,
    /// Report CPU µs per message and peak RSS of this process (the system under test;
    /// `raw` measures itself by default); repeat it for a system of several processes,
    /// whose figures are added up.
    #[arg(long)]
    pid: Vec<u32>,
}

fn mix(text: &str) -> Result<MessageMix, String> {
    let mut mix = MessageMix {
        gsm7: 0,
        long: 0,
        ucs2: 0,
    };
    for (name, weight) in parse::weights(text)? {
        match name.to_ascii_lowercase().as_str() {
            "gsm7" => mix.gsm7 = weight,
            "long" => mix.long = weight,
            "ucs2" => mix.ucs2 = weight,
            other => return Err(format!("{other:?} is not gsm7, long or ucs2")),
        }
    }
    Ok(mix)
}

#[derive(Args)]
struct OutputArgs {
    /// Also write the result as JSON to this file.
    #[arg(long)]
    json: Option<PathBuf>,
    /// No progress line on stderr.
    #[arg(long)]
    quiet: bool,
}

impl SmscArgs {
    fn config(&self, listen: SocketAddr, seed: u64) -> SmscConfig {
        SmscConfig {
            listen,
            accounts: if self.accounts.is_empty() {
                Accounts::Any
            } else {
                Accounts::List(self.accounts.clone())
            },
            id_format: match self.id_format {
                IdFormatArg::Decimal => IdFormat::Decimal,
                IdFormatArg::Hex => IdFormat::Hex,
            },
            first_id: self.first_id,
            receipt_delay: ReceiptDelay {
                min: self.receipt_delay.0,
                max: self.receipt_delay.1,
            },
            final_states: self.final_states.0.clone(),
            permanent_error_rate: self.permanent_error_rate,
            permanent_error_status: self.permanent_error_status,
            transient_error_rate: self.transient_error_rate,
            throttle_rate: self.throttle_rate,
            tps_cap: self.tps_cap,
            disconnect_every: self.disconnect_every,
            disconnect_probability: self.disconnect_probability,
            max_pending_receipts: self.max_pending_receipts,
            pending_receipt_ttl: self.pending_receipt_ttl,
            retry_timed_out_delivers: self.retry_timed_out_delivers,
            receipt_window: self.receipt_window,
            submit_window: self.submit_window,
            duplicate_window: self.duplicate_window,
            mo: self.mo_rate.map(|rate| MoConfig {
                rate,
                destination: self.mo_destination.clone(),
                source_prefix: self.mo_source.clone(),
                system_id: self.mo_account.clone(),
            }),
            max_binds: self.max_binds,
            storm_every: self.storm_every,
            storm_length: self.storm_length,
            storm_status: self.storm_status,
            refuse_part: self.refuse_part,
            refuse_part_status: self.refuse_part_status,
            receipt_before_resp: self.receipt_before_resp,
            receipt_other_bind: self.receipt_other_bind,
            duplicate_receipts: self.duplicate_receipts,
            drop_after_read: self.drop_after_read,
            slow_answer: self.slow_answer,
            slow_answer_delay: self.slow_answer_delay,
            history: self.history.clone(),
            seed,
            ..SmscConfig::default()
        }
    }
}

impl LoadArgs {
    fn config(&self, host: String, port: u16, account: (String, String), seed: u64) -> LoadConfig {
        LoadConfig {
            host,
            port,
            system_id: account.0,
            password: account.1,
            binds: self.binds,
            window: self.window,
            rate: self.rate,
            count: match (self.count, self.duration) {
                (None, None) => Some(100_000),
                (count, _) => count,
            },
            duration: self.duration,
            mix: self.mix,
            gsm7_len: self.gsm7_len,
            registered_delivery: self.receipts,
            receipt_timeout: self.receipt_timeout,
            response_timeout: self.response_timeout,
            bind_timeout: self.bind_timeout,
            source: self.source.clone(),
            destination_prefix: self.destination_prefix.clone(),
            seed,
            pids: self.pid.clone(),
            progress: false,
            cmpp: None,
            sgip: None,
            smgp: None,
            cngp: None,
            http: None,
        }
    }
}

/// A config field name as the flag that sets it.
fn flag(field: &str) -> String {
    match field {
        "accounts" => "--account".into(),
        "contact_points" => "--contact".into(),
        "concurrency" => "--binds x --window".into(),
        other => format!("--{}", other.replace('_', "-")),
    }
}

fn smsc_error(error: SmscError) -> anyhow::Error {
    match error {
        SmscError::Config(e) => anyhow::anyhow!("{}: {}", flag(e.field), e.problem),
        other => other.into(),
    }
}

fn cql_error(error: CqlRawError) -> anyhow::Error {
    match error {
        CqlRawError::Config { field, problem } => anyhow::anyhow!("{}: {problem}", flag(field)),
        other => other.into(),
    }
}

fn load_error(error: LoadError) -> anyhow::Error {
    match error {
        LoadError::Config { field, problem } => anyhow::anyhow!("{}: {problem}", flag(field)),
        other => other.into(),
    }
}

#[derive(Serialize)]
struct Output<'a> {
    command: &'static str,
    load_config: &'a LoadConfig,
    #[serde(skip_serializing_if = "Option::is_none")]
    smsc_config: Option<&'a SmscConfig>,
    result: &'a LoadReport,
    #[serde(skip_serializing_if = "Option::is_none")]
    smsc: Option<&'a SmscStats>,
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    match run(Cli::parse()).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("tern-bench: {error:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("error")),
        )
        .with_writer(std::io::stderr)
        .init();
    match cli.command {
        Command::Smsc {
            listen,
            smsc,
            seed,
            stats_listen,
            quiet,
        } => run_smsc(smsc.config(listen, seed.seed), stats_listen, quiet).await,
        Command::Load {
            target,
            load,
            seed,
            output,
        } => {
            let (host, port) = target.host_port();
            let account = (target.system_id.clone(), target.password.clone());
            let mut config = load.config(host, port, account, seed.seed);
            config.cmpp = target.cmpp();
            config.sgip = target.sgip();
            config.smgp = target.smgp();
            config.cngp = target.cngp();
            config.http = target.http();
            config.progress = !output.quiet;
            let report = load::run(config.clone()).await.map_err(load_error)?;
            print_report(&report, None);
            write_json(
                &output,
                &Output {
                    command: "load",
                    load_config: &config,
                    smsc_config: None,
                    result: &report,
                    smsc: None,
                },
            )
        }
        Command::Compare(args) => {
            let config = args.config();
            let out = config.out.clone();
            // On SIGINT or SIGTERM the run is dropped: a node dies with its handle and a
            // peer's script is asked to stop it.
            let mut terminate =
                tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
                    .context("installing the SIGTERM handler")?;
            let results = tokio::select! {
                results = compare::run(config) => results?,
                _ = tokio::signal::ctrl_c() => anyhow::bail!("interrupted; what was started is stopped"),
                _ = terminate.recv() => anyhow::bail!("terminated; what was started is stopped"),
            };
            print!("{}", results.markdown());
            println!(
                "written: {}/results.json, results.md and *.svg",
                out.display()
            );
            Ok(())
        }
        Command::CqlRaw(args) => run_cql_raw(args).await,
        Command::Raw {
            smsc,
            load,
            seed,
            output,
        } => {
            let smsc_config = smsc.config(SocketAddr::from(([127, 0, 0, 1], 0)), seed.seed);
            let simulator = Smsc::start(smsc_config.clone()).await.map_err(smsc_error)?;
            let addr = simulator.addr();
            let account = smsc
                .accounts
                .first()
                .cloned()
                .unwrap_or_else(|| ("bench".into(), "bench".into()));
            let mut config = load.config(addr.ip().to_string(), addr.port(), account, seed.seed);
            if config.pids.is_empty() {
                config.pids.push(std::process::id());
            }
            config.progress = !output.quiet;
            let report = load::run(config.clone()).await.map_err(load_error);
            let stats = simulator.stats();
            simulator.shutdown().await;
            let report = report?;
            print_report(&report, Some(&stats));
            write_json(
                &output,
                &Output {
                    command: "raw",
                    load_config: &config,
                    smsc_config: Some(&smsc_config),
                    result: &report,
                    smsc: Some(&stats),
                },
            )
        }
    }
}

async fn run_cql_raw(args: CqlRawArgs) -> anyhow::Result<()> {
    #[derive(Serialize)]
    struct CqlOutput<'a> {
        command: &'static str,
        config: &'a CqlRawConfig,
        result: &'a CqlRawReport,
    }
    let config = args.config();
    let report = cql::run(config.clone()).await.map_err(cql_error)?;
    println!(
        "{} INSERTs in flight into {}.{}: {} rows, {} errors in {:.3} s",
        report.concurrency,
        config.keyspace,
        config.table,
        report.rows,
        report.errors,
        report.elapsed_secs
    );
    println!("  throughput   {:.0} rows/s", report.rows_per_sec);
    let l = &report.insert_latency;
    println!(
        "  insert       p50 {}  p90 {}  p99 {}  p99.9 {}  max {}  ({} samples)",
        ms(l.p50_us),
        ms(l.p90_us),
        ms(l.p99_us),
        ms(l.p999_us),
        ms(l.max_us),
        l.count
    );
    if let Some(error) = &report.first_error {
        println!("  first error  {error}");
    }
    if let Some(p) = &report.process {
        println!(
            "  process {:?}  {:.2} µs CPU/row, {:.2} cores, peak RSS {} MiB",
            p.pids,
            p.cpu_micros_per_message,
            p.cores,
            p.peak_rss_kib / 1024
        );
    }
    let Some(path) = &args.output.json else {
        return Ok(());
    };
    let json = serde_json::to_string_pretty(&CqlOutput {
        command: "cql-raw",
        config: &config,
        result: &report,
    })?;
    std::fs::write(path, json + "\n").with_context(|| format!("--json {}", path.display()))
}

async fn run_smsc(
    config: SmscConfig,
    stats_listen: Option<SocketAddr>,
    quiet: bool,
) -> anyhow::Result<()> {
    let smsc = Smsc::start(config).await.map_err(smsc_error)?;
    println!("tern-bench smsc listening on {}", smsc.addr());
    if let Some(addr) = stats_listen {
        let addr = smsc.listen_stats(addr).await.context("--stats-listen")?;
        println!("tern-bench smsc stats on http://{addr}/stats");
    }
    std::io::stdout().flush()?;
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .context("installing the SIGTERM handler")?;
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.tick().await;
    let started = tokio::time::Instant::now();
    let mut last = 0u64;
    loop {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => break,
            _ = terminate.recv() => break,
            _ = tick.tick() => {
                if !quiet {
                    let stats = smsc.stats();
                    eprintln!(
                        "[{:6.1}s] {:>8} submits/s  binds {}  submits {}  receipts sent {} pending {}  duplicates {}",
                        started.elapsed().as_secs_f64(),
                        stats.submits.saturating_sub(last),
                        stats.binds,
                        stats.submits,
                        stats.receipts_sent,
                        stats.receipts_pending,
                        stats.duplicates,
                    );
                    last = stats.submits;
                }
            }
        }
    }
    // The counters once every session has ended and the history is written out.
    let stats = smsc.shutdown().await;
    eprintln!("{}", serde_json::to_string_pretty(&stats)?);
    Ok(())
}

fn write_json(output: &OutputArgs, value: &Output<'_>) -> anyhow::Result<()> {
    let Some(path) = &output.json else {
        return Ok(());
    };
    let json = serde_json::to_string_pretty(value)?;
    std::fs::write(path, json + "\n").with_context(|| format!("--json {}", path.display()))
}

fn ms(micros: u64) -> String {
    format!("{:.3} ms", micros as f64 / 1000.0)
}

fn print_report(report: &LoadReport, smsc: Option<&SmscStats>) {
    let mode = match report.target_rate {
        Some(rate) => format!("open loop at {rate} msg/s"),
        None => "closed loop".into(),
    };
    let submit = match report.protocol {
        "cmpp" | "sgip" | "smgp" | "cngp" => "SUBMIT",
        "http" => "requests",
        _ => "submit_sm",
    };
    println!(
        "{} binds x window {}, {mode}: {} messages, {} {submit} in {:.3} s",
        report.binds, report.window, report.messages, report.submits, report.elapsed_secs
    );
    println!(
        "  throughput   {:.0} msg/s accepted ({:.0} answered/s)",
        report.msg_per_sec, report.answered_per_sec
    );
    let latency = |name: &str, l: &load::Latency| {
        println!(
            "  {name:<12} p50 {}  p90 {}  p99 {}  p99.9 {}  max {}  ({} samples)",
            ms(l.p50_us),
            ms(l.p90_us),
            ms(l.p99_us),
            ms(l.p999_us),
            ms(l.max_us),
            l.count
        );
    };
    latency("submit→resp", &report.submit_latency);
    if let Some(l) = &report.send_lag {
        latency("send lag", l);
    }
    if let Some(l) = &report.receipt_latency {
        latency("submit→dlr", l);
    }
    let statuses: Vec<String> = report
        .by_status
        .iter()
        .map(|(name, count)| format!("{name} {count}"))
        .collect();
    println!("  statuses     {}", statuses.join(", "));
    let f = &report.failures;
    println!(
        "  failures     timeout {}, closed {}, not sent {}; reconnects {}, late sends {}",
        f.timeout, f.closed, f.not_sent, report.reconnects, report.late_sends
    );
    if let Some(r) = &report.receipts {
        println!(
            "  receipts     expected {}, matched {}, missing {}, unmatched {}, unreadable {}; \
             last after {:.3} s ({:.0}/s)",
            r.expected,
            r.matched,
            r.missing,
            r.unmatched,
            r.unreadable,
            report.receipt_elapsed_secs.unwrap_or_default(),
            report.receipts_per_sec.unwrap_or_default(),
        );
    }
    if report.mo_received > 0 {
        println!("  mo received  {}", report.mo_received);
    }
    if let Some(p) = &report.process {
        println!(
            "  process {:?}  {:.2} µs CPU/msg, {:.2} cores, peak RSS {} MiB",
            p.pids,
            p.cpu_micros_per_message,
            p.cores,
            p.peak_rss_kib / 1024
        );
    }
    if let Some(s) = smsc {
        println!(
            "  smsc         submits {}, unique {}, duplicates {}, receipts sent {} acked {} dropped {}, disconnects {}",
            s.submits,
            s.unique_submits,
            s.duplicates,
            s.receipts_sent,
            s.receipts_acked,
            s.receipts_dropped,
            s.disconnects_injected
        );
    }
    if !report.all_accounted() {
        println!("  WARNING: submits not accounted for: answers and failures do not add up");
    }
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::*;

    #[test]
    fn flags_are_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn bad_values_name_their_flag() {
        let error = Cli::try_parse_from(["tern-bench", "raw", "--receipt-delay", "2s..1s"])
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(error.contains("--receipt-delay"), "{error}");
        let error = Cli::try_parse_from(["tern-bench", "load", "--target", "nohost"])
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(error.contains("--target"), "{error}");
        let error = Cli::try_parse_from(["tern-bench", "smsc", "--storm-every", "4s"])
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(error.contains("--storm-length"), "{error}");
        let error = Cli::try_parse_from(["tern-bench", "smsc", "--drop-after-read", "1.5"])
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(error.contains("--drop-after-read"), "{error}");
        assert!(Cli::try_parse_from([
            "tern-bench",
            "smsc",
            "--storm-every",
            "4s",
            "--storm-length",
            "1s",
            "--storm-status",
            "ESME_RMSGQFUL",
            "--refuse-part",
            "2",
            "--history",
            "h.jsonl",
        ])
        .is_ok());
        assert_eq!(flag("refuse_part_status"), "--refuse-part-status");
    }

    #[test]
    fn mixes_and_states_parse() {
        assert_eq!(
            mix("gsm7=80,long=10,ucs2=10"),
            Ok(MessageMix {
                gsm7: 80,
                long: 10,
                ucs2: 10
            })
        );
        assert!(mix("mms=1").is_err());
        assert!(final_states("DELIVRD=1,NOPE=1").is_err());
        assert_eq!(flag("max_pending_receipts"), "--max-pending-receipts");
    }
}
