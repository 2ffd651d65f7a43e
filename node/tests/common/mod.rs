//! What the node's integration tests share: the simulated operator, node configurations,
//! a small SMPP customer ([`esme`]: binds as transmitter, receiver or transceiver and
//! records every deliver_sm it gets), an operator that keeps every submit_sm it is sent
//! ([`operator`]), builders for the PDUs customers send, and `tern node` child
//! processes ([`process`]).
//!
//! The customer is written on the frame codec rather than on `tern_smpp::net::Client`:
//! the client binds only as a transceiver or a TX+RX pair, and keeps a refused bind to
//! itself (it retries), while these tests need single transmitter and receiver binds and
//! the status of a refused bind.

// Each test file uses a part of this module.
#![allow(dead_code)]

pub mod ctl;
mod esme;
pub mod http_receiver;
pub mod operator;
pub mod process;
pub mod webhook;

pub use esme::*;

use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tern_bench::smsc::{Accounts, Smsc, SmscConfig, SmscHandle};
use tern_model::{Address, Message, MessageState, ReceiptRequest};
use tern_node::config::Config;
use tern_node::Node;
use tern_smpp::mapping::{self, Concat, LinkOptions};
use tern_smpp::rusmpp::pdus::SubmitSm;

/// How long any single wait of a test may take before the test fails.
pub const WAIT: Duration = Duration::from_secs(15);

/// The node's credentials at the simulator.
pub const SIM_USER: &str = "tern";
pub const SIM_PASSWORD: &str = "tern";

/// The sender every test message comes from.
pub const SENDER: &str = "4930123456";

/// Logs of the node and the simulator go to the test's output (shown on failure, or with
/// `--nocapture`); `RUST_LOG` picks the level, warnings by default.
pub fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn,fjall=warn,lsm_tree=warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_test_writer()
        .with_target(false)
        .try_init();
}

/// A simulator on 127.0.0.1 (port 0 unless `config.listen` says otherwise) whose receipts
/// all say DELIVRD, taking only the node's credentials.
pub fn sim_config() -> SmscConfig {
    SmscConfig {
        accounts: Accounts::List(vec![(SIM_USER.into(), SIM_PASSWORD.into())]),
        final_states: vec![(MessageState::Delivered, 1)],
        ..SmscConfig::default()
    }
}

pub async fn start_sim(config: SmscConfig) -> SmscHandle {
    Smsc::start(config).await.unwrap()
}

/// A TOML string.
fn quoted(text: &str) -> String {
    toml::Value::String(text.to_owned()).to_string()
}

/// The start of a node's configuration: SMPP on a free port, no metrics, the store in
/// `store`, quick retries. Accounts, upstreams, routes and MO rules are appended.
///
/// With `TERN_TEST_STORE=scylla` the node keeps its messages in the CQL database at
/// `TERN_CQL` instead (a keyspace of its own, created on start), so that the same tests
/// prove both backends; `store` still holds the raft log.
pub fn base_toml(store: &Path) -> String {
    base_toml_with(store, &cql_store_toml().unwrap_or_default())
}

fn base_toml_with(store: &Path, cql: &str) -> String {
    format!(
        r#"
[node]
shutdown_grace_secs = 5

[smpp]
listen = "127.0.0.1:0"

[cluster]
listen = "127.0.0.1:0"

[store]
dir = {}
fsync = true
{}
[pipeline]
shards = 2
retry_min_ms = 50
retry_max_secs = 1
"#,
        quoted(&store.display().to_string()),
        cql
    )
}

/// The `[store]` lines of a CQL-backed test node, when `TERN_TEST_STORE=scylla`.
fn cql_store_toml() -> Option<String> {
    if std::env::var("TERN_TEST_STORE").ok()?.as_str() != "scylla" {
        return None;
    }
    let contact = std::env::var("TERN_CQL")
        .expect("TERN_TEST_STORE=scylla needs TERN_CQL=HOST:PORT (scripts/cassandra start)");
    Some(cql_lines(&contact, &test_keyspace()))
}

fn cql_lines(contact: &str, keyspace: &str) -> String {
    format!(
        "backend = \"scylla\"\n[store.cql]\ncontact_points = [{}]\nkeyspace = {}\n\
         create_keyspace = true\nreplication = {{ strategy = \"SimpleStrategy\", factor = 1 }}\n",
        quoted(contact),
        quoted(keyspace)
    )
}

/// The CQL database of the tests that need one (a cluster of several nodes keeps its
/// queues there): `TERN_CQL`. Without it the test is skipped, except under CI, where it
/// fails.
pub fn cql_or_skip(test: &str) -> Option<String> {
    match std::env::var("TERN_CQL") {
        Ok(contact) if !contact.is_empty() => Some(contact),
        _ => {
            assert!(
                std::env::var_os("CI").is_none(),
                "{test} needs TERN_CQL=HOST:PORT (scripts/cassandra start)"
            );
            eprintln!("{test}: skipped, TERN_CQL is not set (scripts/cassandra start)");
            None
        }
    }
}

/// The start of the configuration of one node of a cluster: like [`base_toml`], with its
/// messages in the CQL database at `contact`, in `keyspace`, which the cluster shares.
pub fn cluster_base_toml(store: &Path, contact: &str, keyspace: &str) -> String {
    base_toml_with(store, &cql_lines(contact, keyspace))
}

/// A keyspace name no other test of any run uses. The first call in a test process also
/// drops, in the background, the keyspaces of test processes that have ended: Cassandra
/// keeps every table's state on its heap, and a run makes dozens of them.
pub fn test_keyspace() -> String {
    static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    static SWEEP: std::sync::Once = std::sync::Once::new();
    SWEEP.call_once(|| {
        if let Ok(contact) = std::env::var("TERN_CQL") {
            std::thread::spawn(move || sweep_keyspaces(&contact));
        }
    });
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    format!(
        "tern_t{}_{}_{nanos}",
        std::process::id(),
        NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    )
}

/// Drops each `tern_t{pid}_…` keyspace whose process is gone. Best effort: what it leaves,
/// the next test process takes.
fn sweep_keyspaces(contact: &str) {
    let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    else {
        return;
    };
    runtime.block_on(async {
        let Ok(session) = scylla::client::session_builder::SessionBuilder::new()
            .known_node(contact)
            .build()
            .await
        else {
            return;
        };
        let Ok(rows) = session
            .query_unpaged("SELECT keyspace_name FROM system_schema.keyspaces", ())
            .await
            .map(|r| r.into_rows_result().ok())
        else {
            return;
        };
        let Some(rows) = rows else {
            return;
        };
        let Ok(names) = rows.rows::<(String,)>() else {
            return;
        };
        let ended = |name: &str| {
            name.strip_prefix("tern_t")
                .and_then(|rest| rest.split('_').next())
                .and_then(|pid| pid.parse::<u32>().ok())
                .is_some_and(|pid| !Path::new(&format!("/proc/{pid}")).exists())
        };
        let stale: Vec<String> = names
            .filter_map(Result::ok)
            .map(|(name,)| name)
            .filter(|name| ended(name))
            .collect();
        for name in stale {
            let _ = session
                .query_unpaged(format!("DROP KEYSPACE IF EXISTS {name}"), ())
                .await;
        }
    });
}

/// An `[[account]]` table; `extra` holds further `key = value` lines.
pub fn account_toml(system_id: &str, password: &str, extra: &str) -> String {
    format!(
        "\n[[account]]\nsystem_id = {}\npassword = {}\n{extra}\n",
        quoted(system_id),
        quoted(password)
    )
}

/// An `[[upstream]]` table for a simulator at `addr`.
pub fn upstream_toml(name: &str, addr: SocketAddr, extra: &str) -> String {
    format!(
        "\n[[upstream]]\nname = {}\nurl = \"smpp://{SIM_USER}:{SIM_PASSWORD}@{addr}\"\n{extra}\n",
        quoted(name)
    )
}

/// The store of a stopped node of configuration `toml`, whichever backend it names.
pub async fn reopen_store(toml: &str) -> Arc<dyn tern_storage::MessageStore> {
    let config = Config::parse(toml).unwrap();
    tern_node::open_store(&config.store).await.unwrap()
}

pub async fn start_node(toml: &str) -> Node {
    let config = Config::parse(toml).unwrap();
    Node::start(&config).await.unwrap()
}

pub fn smpp_addr(node: &Node) -> SocketAddr {
    node.endpoints.smpp.unwrap()
}

/// A port on 127.0.0.1 that was free a moment ago, and never handed out before in this
/// process. Ports come from below the kernel's ephemeral range (20000..32768, starting at a
/// place drawn from the process id): a port the kernel hands out for a probe can be taken
/// by an outgoing connection before the server binds it.
pub fn free_port() -> u16 {
    const FIRST: u32 = 20_000;
    const SPAN: u32 = 12_768;
    static NEXT: std::sync::Mutex<Option<u32>> = std::sync::Mutex::new(None);
    let mut next = NEXT.lock().unwrap();
    let mut at = next.unwrap_or_else(|| std::process::id().wrapping_mul(7_919) % SPAN);
    for _ in 0..SPAN {
        let port = (FIRST + at % SPAN) as u16;
        at = (at + 1) % SPAN;
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            *next = Some(at);
            return port;
        }
    }
    panic!("no free port in 20000..32768");
}

/// Polls `done` every 20 ms until it holds or `timeout` passes; returns whether it held.
pub async fn eventually(timeout: Duration, mut done: impl FnMut() -> bool) -> bool {
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if done() {
            return true;
        }
        if tokio::time::Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

// ---------------------------------------------------------------------------------------
// Messages customers send.

/// A text message from [`SENDER`] to `to` that asks for a receipt on any final outcome.
pub fn text_message(to: &str, text: &str) -> Message {
    let mut message = Message::text(
        Address::international(SENDER),
        Address::international(to),
        text,
    );
    message.receipt = ReceiptRequest::Final;
    message
}

/// The submit_sm PDUs a customer writes for `message`, split with `concat`.
pub fn submits(message: &Message, concat: Concat) -> Vec<SubmitSm> {
    let options = LinkOptions {
        concat,
        ..LinkOptions::default()
    };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    mapping::message_to_submit_sm(message, &options, 0x42, now).unwrap()
}

/// The one submit_sm of a short GSM text asking for a receipt.
pub fn short_submit(to: &str, text: &str) -> SubmitSm {
    let mut pdus = submits(&text_message(to, text), Concat::Udh8);
    assert_eq!(pdus.len(), 1, "{text:?} fits one submit_sm");
    pdus.remove(0)
}

/// `text` as one submit_sm with the whole text in message_payload.
pub fn payload_submit(to: &str, text: &str) -> SubmitSm {
    let mut pdus = submits(
        &text_message(to, text),
        Concat::Payload { max_octets: 64_000 },
    );
    assert_eq!(pdus.len(), 1);
    pdus.remove(0)
}

/// Checks that `ids` are distinct decimal numbers.
pub fn assert_distinct_decimal(ids: &[String]) {
    let mut seen = std::collections::HashSet::new();
    for id in ids {
        assert!(
            !id.is_empty() && id.bytes().all(|b| b.is_ascii_digit()),
            "message id {id:?} is not decimal"
        );
        assert!(seen.insert(id), "message id {id} given twice");
    }
}

/// Submits `pdus` with up to `window` outstanding at once; the ids in the order given.
/// Panics unless every submit is accepted.
pub async fn submit_windowed(esme: &Arc<Esme>, pdus: Vec<SubmitSm>, window: usize) -> Vec<String> {
    let pdus = Arc::new(Mutex::new(pdus.into_iter().enumerate().collect::<Vec<_>>()));
    let mut workers = tokio::task::JoinSet::new();
    for _ in 0..window {
        let (esme, pdus) = (esme.clone(), pdus.clone());
        workers.spawn(async move {
            let mut ids = Vec::new();
            loop {
                let Some((i, pdu)) = pdus.lock().unwrap().pop() else {
                    return ids;
                };
                ids.push((i, esme.submit_ok(pdu).await));
            }
        });
    }
    let mut ids = Vec::new();
    while let Some(worker) = workers.join_next().await {
        ids.extend(worker.unwrap());
    }
    ids.sort();
    ids.into_iter().map(|(_, id)| id).collect()
}

/// `n` short messages to distinct numbers with distinct texts, each asking for a receipt.
pub fn distinct_submits(n: usize, tag: &str) -> Vec<SubmitSm> {
    (0..n)
        .map(|i| short_submit(&format!("49151{i:08}"), &format!("{tag} {i}")))
        .collect()
}

/// The node's /metrics page at `addr`, status line and headers included.
#[allow(clippy::unwrap_used)]
pub async fn scrape_metrics(addr: SocketAddr) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    stream
        .write_all(b"GET /metrics HTTP/1.1\r\nHost: tern\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut response = String::new();
    tokio::time::timeout(WAIT, stream.read_to_string(&mut response))
        .await
        .unwrap()
        .unwrap();
    response
}
