#![allow(clippy::unwrap_used)]
//! Three `tern node` processes on one CQL database, the simulated operator with a link of
//! one bind and a link of four, and a customer bound to every node sending at a steady
//! pace. A follower is killed with -9, then (after it came back) the raft leader: the
//! survivors take the dead node's shards and binds over, every message acknowledged
//! reaches the operator, every receipt reaches the customer (rebinding elsewhere when its
//! node died), the operator never sees more binds than each link allows, and duplicates at
//! the operator stay within the resends the nodes report as of unknown outcome. The time
//! until the dead node's work is owned again and its binds are back is printed.

mod common;

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::ctl::CtlRun;
use common::process::NodeProcess;
use common::*;
use serde_json::Value;
use tern_bench::smsc::{Accounts, SmscConfig};
use tern_smpp::session::BindKind;

const TOKEN: &str = "takeover-admin-token";
const SECRET: &str = "takeover-raft-secret";
const PASSWORD: &str = "pw";
/// The operator's credentials of the two links.
const ONE: (&str, &str) = ("one", "pw1");
const FOUR: (&str, &str) = ("four", "pw4");
/// Pause between two submits of one customer bind.
const PACE: Duration = Duration::from_millis(25);
const SLOW: Duration = Duration::from_secs(60);

/// One node: its addresses, its directory and, while it runs, its process.
struct Member {
    id: u16,
    smpp: SocketAddr,
    admin: SocketAddr,
    raft: SocketAddr,
    metrics: SocketAddr,
    dir: PathBuf,
    process: Option<NodeProcess>,
}

impl Member {
    fn new(root: &Path, id: u16) -> Self {
        let local = |port| SocketAddr::from(([127, 0, 0, 1], port));
        let dir = root.join(format!("node{id}"));
        std::fs::create_dir_all(&dir).unwrap();
        Self {
            id,
            smpp: local(free_port()),
            admin: local(free_port()),
            raft: local(free_port()),
            metrics: local(free_port()),
            dir,
            process: None,
        }
    }

    fn write_config(&self, peers: &[&Member], sim: SocketAddr, db: (&str, &str), links: &[Link]) {
        let any = "listen = \"127.0.0.1:0\"";
        let peers: Vec<String> = peers
            .iter()
            .map(|p| format!("{{ id = {}, addr = \"{}\" }}", p.id, p.raft))
            .collect();
        let mut toml = cluster_base_toml(&self.dir.join("store"), db.0, db.1)
            .replace(
                "[node]\n",
                &format!("[log]\nlevel = \"info\"\n\n[node]\nid = {}\n", self.id),
            )
            .replacen(any, &format!("listen = \"{}\"", self.smpp), 1)
            .replacen(
                any,
                &format!(
                    "listen = \"{}\"\nbootstrap = {}\nsecret = \"{SECRET}\"\npeers = [{}]",
                    self.raft,
                    self.id == 1,
                    peers.join(", ")
                ),
                1,
            )
            + &format!(
                "\n[admin]\nlisten = \"{}\"\ntoken = \"{TOKEN}\"\n\n[metrics]\nlisten = \"{}\"\n",
                self.admin, self.metrics
            );
        // Metered, so that every node spends through quota leases.
        toml += &account_toml(
            "acme",
            PASSWORD,
            "max_binds = 20\nmax_messages = 10000000\nperiod = \"day\"",
        );
        for link in links {
            let (name, binds, (user, password), prefix) = *link;
            toml += &format!(
                "\n[[upstream]]\nname = \"{name}\"\nurl = \"smpp://{user}:{password}@{sim}\"\nwindow = 32\nbinds = {binds}\n\
                 \n[[route]]\nname = \"to-{name}\"\nprefixes = [\"{prefix}\"]\ngroups = [{{ links = [\"{name}\"] }}]\n"
            );
        }
        std::fs::write(self.dir.join("tern.toml"), toml).unwrap();
    }

    fn start(&mut self) {
        let log = self.dir.join("node.log");
        self.process = Some(NodeProcess::start(&self.dir.join("tern.toml"), log));
    }

    fn kill(&mut self) {
        if let Some(mut process) = self.process.take() {
            process.kill();
        }
    }

    async fn ctl(&self, line: &str) -> CtlRun {
        let mut args = vec!["--json"];
        args.extend(line.split_whitespace());
        common::ctl::ctl(self.admin, TOKEN, &args).await
    }

    /// `cluster status`, or `None` while the node does not answer.
    async fn status(&self) -> Option<Value> {
        let run = self.ctl("cluster status").await;
        run.ok().then(|| run.json())
    }

    /// The sum of a counter over its series on this node whose labels contain `having`.
    async fn counter(&self, name: &str, having: &str) -> f64 {
        let Ok(Ok(text)) = tokio::time::timeout(
            Duration::from_secs(5),
            tokio::spawn(scrape_metrics(self.metrics)),
        )
        .await
        else {
            return 0.0;
        };
        text.lines()
            .filter(|l| l.starts_with(name) && !l.starts_with('#') && l.contains(having))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum()
    }
}

/// A link of the test: name, binds, the operator's credentials, the prefix routed to it.
type Link = (
    &'static str,
    u16,
    (&'static str, &'static str),
    &'static str,
);

/// The two links of the kill test: one bind and four.
const ONE_AND_FOUR: [Link; 2] = [("one", 1, ONE, "491"), ("four", 4, FOUR, "492")];

/// Calls `attempt` every 100 ms until it gives a value; panics after `timeout`.
async fn poll<T, F, Fut>(what: &str, timeout: Duration, mut attempt: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(value) = attempt().await {
            return value;
        }
        assert!(Instant::now() < deadline, "{what}: not within {timeout:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The owners of every shard and bind slot in a `cluster status` answer.
fn owners(status: &Value) -> Vec<u64> {
    let mut nodes = Vec::new();
    for key in ["shards", "binds"] {
        if let Some(list) = status[key].as_array() {
            nodes.extend(list.iter().filter_map(|o| o["node"].as_u64()));
        }
    }
    nodes
}

/// Whether `status` shows every shard and every slot owned by a live node other than
/// `dead`, with nothing waiting for a hand-off.
fn taken_over(status: &Value, dead: u64, slots: usize) -> bool {
    let alive: Vec<u64> = status["members"]
        .as_array()
        .map(|m| {
            m.iter()
                .filter(|m| m["liveness"]["alive"] == true)
                .filter_map(|m| m["id"].as_u64())
                .collect()
        })
        .unwrap_or_default();
    let owned = owners(status);
    status["binds"].as_array().map_or(0, Vec::len) == slots
        && !owned.is_empty()
        && owned.iter().all(|n| *n != dead && alive.contains(n))
        && !alive.contains(&dead)
}

/// Starts three nodes, node 1 bootstrapping with the others as peers, and waits until all
/// three are alive, each owns work, and the operator has `binds` binds.
async fn start_cluster(
    root: &Path,
    sim: &tern_bench::smsc::SmscHandle,
    db: (&str, &str),
    links: &[Link],
    binds: u64,
) -> Vec<Member> {
    let mut nodes: Vec<Member> = (1..=3).map(|id| Member::new(root, id)).collect();
    {
        let peers: Vec<&Member> = nodes[1..].iter().collect();
        nodes[0].write_config(&peers, sim.addr(), db, links);
    }
    for node in &nodes[1..] {
        node.write_config(&[], sim.addr(), db, links);
    }
    for node in &mut nodes {
        node.start();
    }
    let formed = Instant::now();
    let last = Mutex::new(Value::Null);
    let ready = tokio::time::timeout(
        SLOW,
        poll("three live nodes own the work", SLOW * 2, || async {
            let status = nodes[0].status().await?;
            *last.lock().unwrap() = status.clone();
            let alive = status["members"]
                .as_array()?
                .iter()
                .filter(|m| m["liveness"]["alive"] == true)
                .count();
            let spread: std::collections::BTreeSet<u64> = owners(&status).into_iter().collect();
            (alive == 3 && spread.len() == 3 && sim.stats().binds == binds).then_some(())
        }),
    )
    .await;
    assert!(
        ready.is_ok(),
        "three live nodes owning the work and {binds} binds: not within {SLOW:?}; last status {}; operator {:?}",
        last.lock().unwrap(),
        sim.stats()
    );
    eprintln!("cluster formed and spread in {:.1?}", formed.elapsed());
    nodes
}

/// The local TCP ports of the sockets process `pid` has open.
fn tcp_ports_of(pid: u32) -> std::collections::HashSet<u16> {
    let inodes: std::collections::HashSet<String> = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .filter_map(|fd| std::fs::read_link(fd.ok()?.path()).ok())
        .filter_map(|target| {
            let target = target.to_string_lossy().into_owned();
            Some(
                target
                    .strip_prefix("socket:[")?
                    .strip_suffix(']')?
                    .to_owned(),
            )
        })
        .collect();
    let mut ports = std::collections::HashSet::new();
    for table in ["/proc/net/tcp", "/proc/net/tcp6"] {
        let text = std::fs::read_to_string(table).unwrap_or_default();
        for line in text.lines().skip(1) {
            let fields: Vec<&str> = line.split_whitespace().collect();
            if fields.len() > 9 && inodes.contains(fields[9]) {
                if let Some(port) = fields[1].rsplit(':').next() {
                    if let Ok(port) = u16::from_str_radix(port, 16) {
                        ports.insert(port);
                    }
                }
            }
        }
    }
    ports
}

/// What the customers sent and what became of it.
#[derive(Default)]
struct Ledger {
    /// Accepted message ids, with the text sent.
    accepted: Mutex<HashMap<String, String>>,
    /// Submits answered with an error (throttled while a node had no lease, and the like).
    refused: AtomicU64,
    /// Submits whose answer never came (the node died): their outcome is unknown.
    lost: AtomicU64,
}

/// One customer, starting on node `home` and moving on to the next live node when its node
/// dies, sending one message per `PACE` until `stop`.
async fn customer(
    home: usize,
    addrs: Vec<SocketAddr>,
    inbox: Arc<Inbox>,
    ledger: Arc<Ledger>,
    stop: Arc<AtomicBool>,
) {
    let mut at = home;
    let mut n = 0u64;
    'binds: while !stop.load(Ordering::Relaxed) {
        let esme = match Esme::bind_into(
            addrs[at],
            BindKind::Transceiver,
            "acme",
            PASSWORD,
            inbox.clone(),
        )
        .await
        {
            Ok(esme) => esme,
            Err(_) => {
                at = (at + 1) % addrs.len();
                tokio::time::sleep(Duration::from_millis(200)).await;
                continue;
            }
        };
        while !stop.load(Ordering::Relaxed) {
            n += 1;
            let to = if n.is_multiple_of(2) { "4915" } else { "4925" };
            let text = format!("c{home} m{n}");
            let pdu = short_submit(&format!("{to}{home}{n:07}"), &text);
            match esme.submit(pdu).await {
                Ok(Outcome::Accepted(id)) => {
                    ledger.accepted.lock().unwrap().insert(id, text);
                }
                Ok(Outcome::Refused(_)) => {
                    ledger.refused.fetch_add(1, Ordering::Relaxed);
                }
                Err(Lost) => {
                    ledger.lost.fetch_add(1, Ordering::Relaxed);
                    at = (at + 1) % addrs.len();
                    continue 'binds;
                }
            }
            tokio::time::sleep(PACE).await;
        }
        esme.unbind().await;
    }
}

/// The leader `status` names.
fn leader(status: &Value) -> Option<u64> {
    status["leader"].as_u64()
}

/// Kills node `victim` and measures how long until the survivors own its work and the
/// operator has every bind back. Returns (owned, binds) times.
async fn kill_and_measure(
    nodes: &mut [Member],
    victim: usize,
    sim: &tern_bench::smsc::SmscHandle,
) -> (Duration, Duration) {
    let dead = u64::from(nodes[victim].id);
    let killed = Instant::now();
    nodes[victim].kill();
    let survivors: Vec<&Member> = nodes.iter().filter(|m| m.process.is_some()).collect();
    let survivor = survivors[0];
    poll(&format!("node {dead}'s work taken over"), SLOW, || async {
        let status = survivor.status().await?;
        taken_over(&status, dead, 5).then_some(())
    })
    .await;
    let owned = killed.elapsed();
    poll("the operator has all 5 binds again", SLOW, || async {
        (sim.stats().binds == 5).then_some(())
    })
    .await;
    (owned, killed.elapsed())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn killing_a_follower_then_the_leader_loses_nothing() {
    init_tracing();
    let Some(cql) = cql_or_skip("killing_a_follower_then_the_leader_loses_nothing") else {
        return;
    };
    let keyspace = test_keyspace();
    let sim = start_sim(SmscConfig {
        accounts: Accounts::List(vec![
            (ONE.0.into(), ONE.1.into()),
            (FOUR.0.into(), FOUR.1.into()),
        ]),
        ..sim_config()
    })
    .await;
    let root = tempfile::tempdir().unwrap();
    let mut nodes = start_cluster(root.path(), &sim, (&cql, &keyspace), &ONE_AND_FOUR, 5).await;

    // A customer on every node.
    let inbox = Arc::new(Inbox::default());
    let ledger = Arc::new(Ledger::default());
    let stop = Arc::new(AtomicBool::new(false));
    let addrs: Vec<SocketAddr> = nodes.iter().map(|n| n.smpp).collect();
    let customers: Vec<_> = (0..3)
        .map(|home| {
            tokio::spawn(customer(
                home,
                addrs.clone(),
                inbox.clone(),
                ledger.clone(),
                stop.clone(),
            ))
        })
        .collect();
    tokio::time::sleep(Duration::from_secs(4)).await;

    // Counters of the nodes, kept across kills.
    let mut resent: BTreeMap<u16, f64> = BTreeMap::new();
    let note_resends = |resent: &mut BTreeMap<u16, f64>, node: u16, value: f64| {
        let slot = resent.entry(node).or_default();
        *slot = slot.max(value);
    };

    // 1. A follower.
    let status = nodes[0].status().await.unwrap();
    let lead = leader(&status).unwrap();
    let follower = nodes.iter().position(|n| u64::from(n.id) != lead).unwrap();
    for node in &nodes {
        note_resends(&mut resent, node.id, resends(node).await);
    }
    let before = ledger.accepted.lock().unwrap().len();
    let (owned, binds) = kill_and_measure(&mut nodes, follower, &sim).await;
    eprintln!(
        "follower {} killed with {before} messages accepted: its work owned again after {owned:.1?}, all binds back after {binds:.1?}",
        nodes[follower].id
    );
    tokio::time::sleep(Duration::from_secs(3)).await;
    nodes[follower].start();
    poll("the killed follower is back", SLOW, || async {
        let status = nodes[follower].status().await?;
        let me = status["members"]
            .as_array()?
            .iter()
            .find(|m| m["id"].as_u64() == Some(u64::from(nodes[follower].id)))?
            .clone();
        (me["liveness"]["alive"] == true).then_some(())
    })
    .await;
    tokio::time::sleep(Duration::from_secs(3)).await;

    // 2. The leader.
    let survivor = nodes.iter().find(|n| u64::from(n.id) != lead).unwrap();
    let lead = leader(&survivor.status().await.unwrap()).unwrap();
    let leader_at = nodes.iter().position(|n| u64::from(n.id) == lead).unwrap();
    for node in &nodes {
        note_resends(&mut resent, node.id, resends(node).await);
    }
    let before = ledger.accepted.lock().unwrap().len();
    let (owned, binds) = kill_and_measure(&mut nodes, leader_at, &sim).await;
    eprintln!(
        "leader {lead} killed with {before} messages accepted: its work owned again after {owned:.1?}, all binds back after {binds:.1?}"
    );
    tokio::time::sleep(Duration::from_secs(3)).await;
    stop.store(true, Ordering::Relaxed);
    for customer in customers {
        customer.await.unwrap();
    }

    // Every accepted message reached the operator and came back as a receipt.
    let accepted: Vec<String> = ledger.accepted.lock().unwrap().keys().cloned().collect();
    assert!(accepted.len() > 300, "too few messages: {}", accepted.len());
    // Customers whose node died rebind elsewhere; receipts follow them.
    let rebind = Esme::bind_into(
        nodes.iter().find(|n| n.process.is_some()).unwrap().smpp,
        BindKind::Receiver,
        "acme",
        PASSWORD,
        inbox.clone(),
    )
    .await
    .unwrap();
    let all = inbox.wait_for_receipts(&accepted, SLOW).await;
    let by_id = inbox.receipts_by_id();
    let missing: Vec<&String> = accepted
        .iter()
        .filter(|id| !by_id.contains_key(*id))
        .collect();
    if !missing.is_empty() {
        let live = nodes.iter().find(|n| n.process.is_some()).unwrap();
        for id in missing.iter().take(5) {
            let run = live.ctl(&format!("report message {id}")).await;
            eprintln!("history of {id}: {}", run.stdout);
        }
    }
    assert!(
        all,
        "{} of {} accepted messages have no receipt, e.g. {:?}; operator: {:?}",
        missing.len(),
        accepted.len(),
        missing.iter().take(5).collect::<Vec<_>>(),
        sim.stats()
    );
    for node in nodes.iter().filter(|n| n.process.is_some()) {
        note_resends(&mut resent, node.id, resends(node).await);
    }
    let stats = sim.stats();
    let resent: f64 = resent.values().sum();
    eprintln!(
        "accepted {}, refused {}, lost answers {}; operator: {} submits, {} duplicates; resends reported {resent}",
        accepted.len(),
        ledger.refused.load(Ordering::Relaxed),
        ledger.lost.load(Ordering::Relaxed),
        stats.submits,
        stats.duplicates
    );
    assert!(
        stats.duplicates as f64 <= resent,
        "{} duplicates at the operator, {resent} resends reported",
        stats.duplicates
    );
    // The dead leader's quota lease is settled from what the store shows it accepted,
    // not counted as used in full: once it is reclaimed (a lease's TTL after its last
    // settle) and settled, no lease is open and the ledger counts what was accepted (plus
    // submits whose answers were lost with their node, which it may have accepted).
    let live = nodes.iter().find(|n| n.process.is_some()).unwrap();
    let lost = ledger.lost.load(Ordering::Relaxed);
    let most = accepted.len() as u64 + lost;
    let ledger_now = poll(
        "no quota lease open, the dead one settled",
        SLOW,
        || async {
            let run = live.ctl("account show acme").await;
            let ledger = run.ok().then(|| run.json()["ledger"].clone())?;
            let settled = ledger["period_used"]
                .as_u64()
                .is_some_and(|used| used <= most);
            (ledger["reserved_parts"] == 0 && settled).then_some(ledger)
        },
    )
    .await;
    let used = ledger_now["period_used"].as_u64().unwrap();
    eprintln!(
        "ledger counts {used} parts used for {} accepted ({lost} answers lost)",
        accepted.len()
    );
    assert!(
        used >= accepted.len() as u64 && used <= accepted.len() as u64 + lost,
        "ledger {ledger_now} for {} accepted and {lost} lost",
        accepted.len()
    );
    // Never more binds than a link allows, before, during or after the takeovers.
    assert_eq!(
        stats.binds_peak_by_account.get("one"),
        Some(&1),
        "{stats:?}"
    );
    assert_eq!(
        stats.binds_peak_by_account.get("four"),
        Some(&4),
        "{stats:?}"
    );
    rebind.unbind().await;
    for node in &mut nodes {
        node.kill();
    }
    sim.shutdown().await;
}

/// Resends of parts whose outcome at the operator was unknown, as a node reports them.
async fn resends(node: &Member) -> f64 {
    if node.process.is_none() {
        return 0.0;
    }
    node.counter("tern_dispatch_resent_unknown_outcome_total", "")
        .await
        + node
            .counter("tern_cluster_jobs_forwarded_total", "result=\"unknown\"")
            .await
}

/// The one link of the pause test: two binds, which the operator enforces.
const TWO: [Link; 1] = [("op", 2, ("op", "pwop"), "49")];

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_paused_node_sends_nothing_on_binds_it_lost() {
    init_tracing();
    let Some(cql) = cql_or_skip("a_paused_node_sends_nothing_on_binds_it_lost") else {
        return;
    };
    let keyspace = test_keyspace();
    let sim = start_sim(SmscConfig {
        accounts: Accounts::List(vec![("op".into(), "pwop".into())]),
        // Like an operator that allows two binds: a third waits until one is gone.
        max_binds: Some(2),
        ..sim_config()
    })
    .await;
    let root = tempfile::tempdir().unwrap();
    let mut nodes = start_cluster(root.path(), &sim, (&cql, &keyspace), &TWO, 2).await;

    // The node to pause: a follower holding a bind.
    let status = nodes[0].status().await.unwrap();
    let lead = leader(&status).unwrap();
    let holders: Vec<u64> = status["binds"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|b| b["node"].as_u64())
        .collect();
    let paused = nodes
        .iter()
        .position(|n| u64::from(n.id) != lead && holders.contains(&u64::from(n.id)))
        .unwrap();
    let paused_id = u64::from(nodes[paused].id);
    let others: Vec<usize> = (0..3).filter(|i| *i != paused).collect();

    // Customers on the two other nodes.
    let inbox = Arc::new(Inbox::default());
    let ledger = Arc::new(Ledger::default());
    let stop = Arc::new(AtomicBool::new(false));
    let addrs: Vec<SocketAddr> = others.iter().map(|i| nodes[*i].smpp).collect();
    let customers: Vec<_> = (0..2)
        .map(|home| {
            tokio::spawn(customer(
                home,
                addrs.clone(),
                inbox.clone(),
                ledger.clone(),
                stop.clone(),
            ))
        })
        .collect();
    tokio::time::sleep(Duration::from_secs(3)).await;

    let process = nodes[paused].process.as_ref().unwrap();
    let ports = tcp_ports_of(process.pid());
    let mine: Vec<u64> = sim
        .sessions()
        .iter()
        .filter(|s| s.closed_ms.is_none() && ports.contains(&s.peer.port()))
        .map(|s| s.id)
        .collect();
    assert!(
        !mine.is_empty(),
        "node {paused_id} holds a bind at the operator"
    );
    process.signal("STOP");
    let stopped = Instant::now();
    let survivor = &nodes[others[0]];
    poll("the paused node's work taken over", SLOW, || async {
        let status = survivor.status().await?;
        taken_over(&status, paused_id, 2).then_some(())
    })
    .await;
    eprintln!(
        "node {paused_id} paused: its work owned again after {:.1?}",
        stopped.elapsed()
    );
    // Past the takeover; the operator still holds the paused node's binds.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let mark = sim.set_mark();
    nodes[paused].process.as_ref().unwrap().signal("CONT");
    let woke = Instant::now();
    poll("the survivors hold both binds", SLOW, || async {
        let sessions = sim.sessions();
        let open_theirs = sessions
            .iter()
            .filter(|s| s.closed_ms.is_none() && !ports.contains(&s.peer.port()))
            .count();
        (open_theirs == 2).then_some(())
    })
    .await;
    eprintln!(
        "binds back at the survivors {:.1?} after the paused node woke",
        woke.elapsed()
    );
    tokio::time::sleep(Duration::from_secs(3)).await;
    stop.store(true, Ordering::Relaxed);
    for customer in customers {
        customer.await.unwrap();
    }

    // Not one submit on the old binds after the node woke.
    for session in sim.sessions().iter().filter(|s| mine.contains(&s.id)) {
        assert_eq!(
            session.submits_after_mark, 0,
            "node {paused_id} sent on bind {} after it woke (mark {mark}): {session:?}",
            session.id
        );
        assert!(session.closed_ms.is_some(), "{session:?}");
    }
    let stats = sim.stats();
    assert!(
        stats
            .binds_peak_by_account
            .get("op")
            .is_some_and(|p| *p <= 2),
        "{stats:?}"
    );
    // And everything accepted got through.
    let accepted: Vec<String> = ledger.accepted.lock().unwrap().keys().cloned().collect();
    assert!(accepted.len() > 100, "too few messages: {}", accepted.len());
    // The customers unbound; a receiver takes what was still held for them.
    let receiver = Esme::bind_into(
        nodes[others[1]].smpp,
        BindKind::Receiver,
        "acme",
        PASSWORD,
        inbox.clone(),
    )
    .await
    .unwrap();
    let all = inbox.wait_for_receipts(&accepted, SLOW).await;
    receiver.unbind().await;
    if !all {
        let by_id = inbox.receipts_by_id();
        let missing: Vec<&String> = accepted
            .iter()
            .filter(|id| !by_id.contains_key(*id))
            .collect();
        eprintln!("{} of {} have no receipt", missing.len(), accepted.len());
        for id in missing.iter().take(3) {
            let run = nodes[others[0]].ctl(&format!("report message {id}")).await;
            eprintln!("history of {id}: {}", run.stdout);
        }
        for node in &nodes {
            let text = scrape_metrics(node.metrics).await;
            for line in text.lines().filter(|l| {
                (l.starts_with("tern_outbox")
                    || l.starts_with("tern_receipts")
                    || l.starts_with("tern_cluster_deliveries"))
                    && !l.starts_with('#')
            }) {
                eprintln!("node {}: {line}", node.id);
            }
        }
    }
    assert!(all, "receipts missing; operator: {:?}", sim.stats());
    assert!(
        stats.duplicates as f64 <= total_resends(&nodes).await,
        "duplicates beyond the resends reported: {stats:?}"
    );
    for node in &mut nodes {
        node.kill();
    }
    sim.shutdown().await;
}

/// The resends every running node reports.
async fn total_resends(nodes: &[Member]) -> f64 {
    let mut total = 0.0;
    for node in nodes {
        total += resends(node).await;
    }
    total
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_rolling_restart_with_drain_loses_nothing() {
    init_tracing();
    let Some(cql) = cql_or_skip("a_rolling_restart_with_drain_loses_nothing") else {
        return;
    };
    let keyspace = test_keyspace();
    let sim = start_sim(SmscConfig {
        accounts: Accounts::List(vec![
            (ONE.0.into(), ONE.1.into()),
            (FOUR.0.into(), FOUR.1.into()),
        ]),
        ..sim_config()
    })
    .await;
    let root = tempfile::tempdir().unwrap();
    let mut nodes = start_cluster(root.path(), &sim, (&cql, &keyspace), &ONE_AND_FOUR, 5).await;
    let inbox = Arc::new(Inbox::default());
    let ledger = Arc::new(Ledger::default());
    let stop = Arc::new(AtomicBool::new(false));
    let addrs: Vec<SocketAddr> = nodes.iter().map(|n| n.smpp).collect();
    let customers: Vec<_> = (0..3)
        .map(|home| {
            tokio::spawn(customer(
                home,
                addrs.clone(),
                inbox.clone(),
                ledger.clone(),
                stop.clone(),
            ))
        })
        .collect();
    tokio::time::sleep(Duration::from_secs(3)).await;

    // Followers first, the leader last.
    let lead = leader(&nodes[0].status().await.unwrap()).unwrap();
    let mut order: Vec<usize> = (0..3).filter(|i| u64::from(nodes[*i].id) != lead).collect();
    order.extend((0..3).filter(|i| u64::from(nodes[*i].id) == lead));
    for i in order {
        let id = nodes[i].id;
        let other = (i + 1) % 3;
        let started = Instant::now();
        let drained = nodes[other]
            .ctl(&format!("cluster drain {id} --wait 60"))
            .await;
        assert!(
            drained.ok(),
            "drain {id}: {} {}",
            drained.stdout,
            drained.stderr
        );
        let drain_time = started.elapsed();
        let process = nodes[i].process.as_mut().unwrap();
        process.signal("TERM");
        assert!(
            process.wait_exit(Duration::from_secs(30)),
            "node {id} did not stop"
        );
        nodes[i].process = None;
        let stopped = started.elapsed();
        nodes[i].start();
        // The new process answers and holds its lease.
        poll(&format!("node {id} back"), SLOW, || async {
            let status = nodes[i].status().await?;
            (status["lease_valid"] == true).then_some(())
        })
        .await;
        let undone = nodes[other]
            .ctl(&format!("cluster drain {id} --undo --wait 0"))
            .await;
        assert!(undone.ok(), "undo {id}: {}", undone.stderr);
        poll(&format!("node {id} owns work again"), SLOW, || async {
            let status = nodes[other].status().await?;
            owners(&status).contains(&u64::from(id)).then_some(())
        })
        .await;
        eprintln!(
            "node {id}: drained in {drain_time:.1?}, stopped at {stopped:.1?}, working again at {:.1?}",
            started.elapsed()
        );
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    stop.store(true, Ordering::Relaxed);
    for customer in customers {
        customer.await.unwrap();
    }
    let accepted: Vec<String> = ledger.accepted.lock().unwrap().keys().cloned().collect();
    let receiver = Esme::bind_into(
        nodes[0].smpp,
        BindKind::Receiver,
        "acme",
        PASSWORD,
        inbox.clone(),
    )
    .await
    .unwrap();
    let all = inbox.wait_for_receipts(&accepted, SLOW).await;
    receiver.unbind().await;
    let stats = sim.stats();
    eprintln!(
        "accepted {}, refused {}, lost answers {}; operator: {} submits, {} duplicates",
        accepted.len(),
        ledger.refused.load(Ordering::Relaxed),
        ledger.lost.load(Ordering::Relaxed),
        stats.submits,
        stats.duplicates
    );
    assert!(all, "receipts missing; operator: {stats:?}");
    // Customers saw disconnects at most: no submit was answered with an error.
    assert_eq!(ledger.refused.load(Ordering::Relaxed), 0);
    assert!(
        stats.duplicates as f64 <= total_resends(&nodes).await,
        "{stats:?}"
    );
    assert_eq!(
        stats.binds_peak_by_account.get("one"),
        Some(&1),
        "{stats:?}"
    );
    assert_eq!(
        stats.binds_peak_by_account.get("four"),
        Some(&4),
        "{stats:?}"
    );
    for node in &mut nodes {
        node.kill();
    }
    sim.shutdown().await;
}
