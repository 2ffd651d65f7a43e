#![allow(clippy::unwrap_used)]
//! Three `tern node` processes on loopback, formed into a raft cluster and administered
//! only through `tern ctl`, customers only through SMPP. One account's message limit is
//! spent from every node at once: it is never overdrawn, it is used up to the last part,
//! and the ledger counts exactly what was accepted. Then the leader is killed with -9 while
//! the other two nodes spend: a new leader takes over, writes work again, nothing is
//! debited twice or lost, and the killed node, restarted on its directory, catches up.

mod common;

use std::future::Future;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::ctl::CtlRun;
use common::process::NodeProcess;
use common::*;
use serde_json::Value;
use tern_smpp::session::BindKind;
use tern_smpp::CommandStatus;

const TOKEN: &str = "cluster-admin-token";
const SECRET: &str = "cluster-raft-secret";
const PASSWORD: &str = "pw";
/// Submits in flight on each bind.
const WORKERS: usize = 8;
/// What `spender` may send in a day (step 3).
const SHARED_LIMIT: u64 = 600;
/// What `paced` may send in a day (step 3b), one message every 0.3 s on each node.
const PACED_LIMIT: u64 = 40;
/// What `survivor` may send in a day (step 4): at the paced rate below it takes about 5 s
/// to use, so the kill comes early in it and new leases are needed after the failover.
const FAILOVER_LIMIT: u64 = 8_000;
/// Pause of each submitter after each submit in step 4: at most ~800 submits a second a
/// bind.
const FAILOVER_PACE: Duration = Duration::from_millis(10);

/// `tern ctl --json ARGS` against the admin API at `admin`.
async fn ctl(admin: SocketAddr, args: &[&str]) -> CtlRun {
    let mut all = vec!["--json"];
    all.extend_from_slice(args);
    common::ctl::ctl(admin, TOKEN, &all).await
}

/// Calls `attempt` every 100 ms until it gives a value; panics after `timeout`.
async fn poll<T, F, Fut>(what: &str, timeout: Duration, mut attempt: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
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

/// One node: its addresses, its directory and, while it runs, its process.
struct Member {
    id: u16,
    smpp: SocketAddr,
    admin: SocketAddr,
    raft: SocketAddr,
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
            dir,
            process: None,
        }
    }

    fn config_path(&self) -> PathBuf {
        self.dir.join("tern.toml")
    }

    /// Writes the node's file: its own ports and store, the shared secret, and with `sim`
    /// the operator link and a route to it (only the bootstrapping node's file seeds them).
    fn write_config(
        &self,
        bootstrap: bool,
        sim: Option<SocketAddr>,
        (cql, keyspace): (&str, &str),
    ) {
        let any = "listen = \"127.0.0.1:0\"";
        let mut toml = cluster_base_toml(&self.dir.join("store"), cql, keyspace)
            .replace(
                "[node]\n",
                &format!("[log]\nlevel = \"info\"\n\n[node]\nid = {}\n", self.id),
            )
            .replacen(any, &format!("listen = \"{}\"", self.smpp), 1)
            .replacen(
                any,
                &format!(
                    "listen = \"{}\"\nbootstrap = {bootstrap}\nsecret = \"{SECRET}\"",
                    self.raft
                ),
                1,
            )
            + &format!(
                "\n[admin]\nlisten = \"{}\"\ntoken = \"{TOKEN}\"\n",
                self.admin
            );
        if let Some(sim) = sim {
            toml += &upstream_toml("op", sim, "window = 64");
            toml += "\n[[route]]\nname = \"mobile\"\nprefixes = [\"49\"]\ngroups = [{ links = [\"op\"] }]\n";
        }
        std::fs::write(self.config_path(), toml).unwrap();
    }

    fn start(&mut self) {
        let log = self.dir.join("node.log");
        self.process = Some(NodeProcess::start(&self.config_path(), log));
    }

    /// kill -9.
    fn kill(&mut self) {
        if let Some(mut process) = self.process.take() {
            process.kill();
        }
    }

    /// `tern ctl --json` with the words of `line` against this node.
    async fn ctl(&self, line: &str) -> CtlRun {
        ctl(self.admin, &line.split_whitespace().collect::<Vec<_>>()).await
    }

    /// `cluster status` once the admin API answers.
    async fn status(&self) -> Value {
        poll(
            &format!("node {} answers cluster status", self.id),
            WAIT,
            || async {
                let run = self.ctl("cluster status").await;
                run.ok().then(|| run.json())
            },
        )
        .await
    }

    /// Binds `account` as a transceiver, retrying while the account has not reached this
    /// node's pipeline yet.
    async fn bind(&self, account: &str) -> Arc<Esme> {
        let esme = poll(
            &format!("{account} binds on node {}", self.id),
            WAIT,
            || async {
                Esme::bind(self.smpp, BindKind::Transceiver, account, PASSWORD)
                    .await
                    .ok()
            },
        )
        .await;
        Arc::new(esme)
    }
}

/// The leader a node's `cluster status` names and how many voters it lists.
fn leader_and_voters(status: &Value) -> (Option<u64>, usize) {
    let voters = status["members"]
        .as_array()
        .map_or(0, |m| m.iter().filter(|m| m["voter"] == true).count());
    (status["leader"].as_u64(), voters)
}

/// Submits of one customer bind and what became of them.
#[derive(Default)]
struct Tally {
    accepted: AtomicU64,
    /// ESME_RSUBMITFAIL: the node found no part left for the account in its session, its
    /// counter or the ledger (also, today, when the counter's ledger call ended with an
    /// unknown outcome in a failover; see `until_exhausted`).
    over_quota: AtomicU64,
    /// ESME_RTHROTTLED: the ledger could not be reached in time.
    throttled: AtomicU64,
    other: Mutex<Vec<CommandStatus>>,
    ids: Mutex<Vec<String>>,
}

/// Binds of one account on several nodes spending at once, with a cap on the attempts so
/// that a node that never refuses cannot keep the test running.
struct Spending {
    binds: Vec<(u16, Arc<Esme>, Arc<Tally>)>,
    tag: &'static str,
    pace: Duration,
    attempts: AtomicU64,
    max_attempts: u64,
}

impl Spending {
    fn new(
        binds: Vec<(u16, Arc<Esme>)>,
        tag: &'static str,
        pace: Duration,
        limit: u64,
    ) -> Arc<Self> {
        Arc::new(Self {
            binds: binds
                .into_iter()
                .map(|(node, esme)| (node, esme, Arc::default()))
                .collect(),
            tag,
            pace,
            attempts: AtomicU64::new(0),
            max_attempts: limit * 3 + 1_000,
        })
    }

    fn accepted(&self) -> u64 {
        self.per_bind().iter().sum()
    }

    /// One round: `WORKERS` submitters on every bind until the bind has a submit refused
    /// over quota (or the attempts run out).
    async fn round(self: &Arc<Self>) {
        let mut workers = tokio::task::JoinSet::new();
        for (node, esme, tally) in &self.binds {
            let refused = Arc::new(AtomicBool::new(false));
            for _ in 0..WORKERS {
                let (this, esme, tally) = (self.clone(), esme.clone(), tally.clone());
                let (refused, node) = (refused.clone(), *node);
                workers.spawn(async move {
                    while !refused.load(Ordering::Relaxed) {
                        let n = this.attempts.fetch_add(1, Ordering::Relaxed);
                        if n >= this.max_attempts {
                            break;
                        }
                        let pdu = short_submit(
                            &format!("4917{node}{n:07}"),
                            &format!("{} {node} {n}", this.tag),
                        );
                        match esme.submit(pdu).await {
                            Ok(Outcome::Accepted(id)) => {
                                tally.accepted.fetch_add(1, Ordering::Relaxed);
                                tally.ids.lock().unwrap().push(id);
                                tokio::time::sleep(this.pace).await;
                            }
                            Ok(Outcome::Refused(CommandStatus::EsmeRsubmitfail)) => {
                                tally.over_quota.fetch_add(1, Ordering::Relaxed);
                                refused.store(true, Ordering::Relaxed);
                            }
                            Ok(Outcome::Refused(CommandStatus::EsmeRthrottled)) => {
                                tally.throttled.fetch_add(1, Ordering::Relaxed);
                                tokio::time::sleep(Duration::from_millis(20)).await;
                            }
                            Ok(Outcome::Refused(status)) => {
                                tally.other.lock().unwrap().push(status);
                                break;
                            }
                            Err(Lost) => panic!("node {node} dropped the bind"),
                        }
                    }
                });
            }
        }
        while let Some(worker) = workers.join_next().await {
            worker.unwrap();
        }
    }

    /// Every bind sends `per_bind` submits with `workers` submitters, whatever is refused;
    /// a throttled submit is sent again. A bind whose node goes away just stops.
    async fn send_each(self: &Arc<Self>, per_bind: u64, workers: usize) {
        let mut tasks = tokio::task::JoinSet::new();
        for (node, esme, tally) in &self.binds {
            let sent = Arc::new(AtomicU64::new(0));
            for _ in 0..workers {
                let (this, esme, tally) = (self.clone(), esme.clone(), tally.clone());
                let (sent, node) = (sent.clone(), *node);
                tasks.spawn(async move {
                    loop {
                        let n = sent.fetch_add(1, Ordering::Relaxed);
                        if n >= per_bind {
                            return;
                        }
                        loop {
                            let pdu = short_submit(
                                &format!("4917{node}{n:07}"),
                                &format!("{} {node} {n}", this.tag),
                            );
                            match esme.submit(pdu).await {
                                Ok(Outcome::Accepted(id)) => {
                                    tally.accepted.fetch_add(1, Ordering::Relaxed);
                                    tally.ids.lock().unwrap().push(id);
                                }
                                Ok(Outcome::Refused(CommandStatus::EsmeRsubmitfail)) => {
                                    tally.over_quota.fetch_add(1, Ordering::Relaxed);
                                }
                                Ok(Outcome::Refused(CommandStatus::EsmeRthrottled)) => {
                                    tally.throttled.fetch_add(1, Ordering::Relaxed);
                                    tokio::time::sleep(Duration::from_millis(20)).await;
                                    continue;
                                }
                                Ok(Outcome::Refused(status)) => {
                                    tally.other.lock().unwrap().push(status);
                                }
                                Err(Lost) => return,
                            }
                            break;
                        }
                        tokio::time::sleep(this.pace).await;
                    }
                });
            }
        }
        while let Some(task) = tasks.join_next().await {
            task.unwrap();
        }
    }

    fn over_quota(&self) -> u64 {
        self.binds
            .iter()
            .map(|(_, _, t)| t.over_quota.load(Ordering::Relaxed))
            .sum()
    }

    /// Rounds until `limit` parts are accepted, a round accepts nothing, or the deadline.
    /// Between rounds the binds stay idle until the ledger holds no reservation any more:
    /// a node's lease closes after 3 s without grants and gives its unused parts back, so
    /// a node refused while another node still held parts can have them in the next
    /// round. A round that accepts nothing ends with every session, counter and the
    /// ledger empty.
    ///
    /// A node's quota counter whose ledger call ends with an unknown outcome (the leader
    /// died with the call in flight) hands the session nothing, and the session refuses
    /// the submit as over quota while the account still has parts. That stops the bind's
    /// round early, and what the session had meanwhile been granted for its submits in
    /// flight is spent in the next round; the ledger counts it as used either way.
    async fn until_exhausted(self: &Arc<Self>, admin: SocketAddr, account: &str, limit: u64) {
        let deadline = Instant::now() + Duration::from_secs(45);
        for round in 1.. {
            let before: Vec<u64> = self.per_bind();
            self.round().await;
            let gained: Vec<u64> = self
                .per_bind()
                .iter()
                .zip(&before)
                .map(|(now, was)| now - was)
                .collect();
            eprintln!("{account}: round {round} accepted {gained:?} on the binds");
            if self.accepted() >= limit
                || gained.iter().all(|g| *g == 0)
                || Instant::now() >= deadline
                || self.attempts.load(Ordering::Relaxed) >= self.max_attempts
            {
                return;
            }
            settled_ledger(admin, account).await;
        }
    }

    fn per_bind(&self) -> Vec<u64> {
        self.binds
            .iter()
            .map(|(_, _, t)| t.accepted.load(Ordering::Relaxed))
            .collect()
    }

    fn report(&self, account: &str) {
        for (node, _, tally) in &self.binds {
            eprintln!(
                "{account} on node {node}: accepted {}, over quota {}, throttled {}, other {:?}",
                tally.accepted.load(Ordering::Relaxed),
                tally.over_quota.load(Ordering::Relaxed),
                tally.throttled.load(Ordering::Relaxed),
                tally.other.lock().unwrap(),
            );
        }
    }

    /// Every message id accepted; asserts that no submit was refused for another reason.
    fn ids(&self) -> Vec<String> {
        let mut ids = Vec::new();
        for (node, _, tally) in &self.binds {
            let other = tally.other.lock().unwrap();
            assert!(other.is_empty(), "node {node} refused with {other:?}");
            ids.extend(tally.ids.lock().unwrap().iter().cloned());
        }
        ids
    }
}

/// The account's ledger once no lease holds unused parts, so that `period_used` can no
/// longer grow: a counter settles its leases every second and closes them after 3 s
/// without grants, giving the rest back.
async fn settled_ledger(admin: SocketAddr, account: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let ledger = ctl(admin, &["account", "show", account]).await.json()["ledger"].clone();
        if ledger["reserved_parts"] == 0 {
            return ledger;
        }
        // A lease no node holds stays reserved until it expires 30 s after its last
        // settle; the ledger then counts it as used in full.
        assert!(
            Instant::now() < deadline,
            "{account}: parts still reserved 20 s after spending stopped, so a lease is \
             open that no counter settles or closes: {ledger}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_processes_share_a_limit_and_survive_losing_the_leader() {
    init_tracing();
    let Some(cql) = cql_or_skip("three_processes_share_a_limit_and_survive_losing_the_leader")
    else {
        return;
    };
    let keyspace = test_keyspace();
    let db = (cql.as_str(), keyspace.as_str());
    let started = Instant::now();
    let sim = start_sim(sim_config()).await;
    let root = tempfile::tempdir().unwrap();
    let mut nodes: Vec<Member> = (1..=3).map(|id| Member::new(root.path(), id)).collect();

    // 1. Node 1 bootstraps with the operator link and the route; 2 and 3 join through
    // tern ctl as learners and are promoted.
    nodes[0].write_config(true, Some(sim.addr()), db);
    nodes[0].start();
    poll("node 1 leads", WAIT, || async {
        (leader_and_voters(&nodes[0].status().await).0 == Some(1)).then_some(())
    })
    .await;
    for node in &mut nodes[1..] {
        node.write_config(false, None, db);
        node.start();
    }
    for node in &nodes[1..] {
        node.status().await;
        let add = format!("cluster add-learner {} {}", node.id, node.raft);
        nodes[0].ctl(&add).await.json();
    }
    nodes[0].ctl("cluster promote 2 3").await.json();
    let leader = poll("three voters agree on a leader", WAIT, || async {
        let mut views = Vec::new();
        for node in &nodes {
            views.push(leader_and_voters(&node.status().await));
        }
        let (leader, _) = views[0];
        views
            .iter()
            .all(|v| *v == (leader, 3))
            .then_some(leader)
            .flatten()
    })
    .await;
    eprintln!(
        "cluster formed in {:.2?}; leader {leader}",
        started.elapsed()
    );

    // 2. An account created on a follower (the write is forwarded to the leader) reaches
    // every node.
    let create = format!(
        "account create spender --password {PASSWORD} --max-messages {SHARED_LIMIT} --period day"
    );
    let created = nodes[1].ctl(&create).await.json();
    assert_eq!(created["id"], "spender");
    for node in &nodes {
        poll(&format!("node {} sees spender", node.id), WAIT, || async {
            let run = node.ctl("account show spender").await;
            run.ok()
                .then(|| run.json())
                .filter(|a| a["ledger"]["period_max"] == SHARED_LIMIT)
        })
        .await;
    }

    // 3. One bind per node spends the one limit concurrently, in one burst that asks for
    // half as much again as the limit.
    let mut binds = Vec::new();
    for node in &nodes {
        binds.push((node.id, node.bind("spender").await));
    }
    let spending = Spending::new(binds, "shared", Duration::ZERO, SHARED_LIMIT);
    let spend_started = Instant::now();
    let per_bind = SHARED_LIMIT / 2;
    spending.send_each(per_bind, WORKERS).await;
    spending.report("spender");
    let accepted = spending.accepted();
    let ids = spending.ids();
    assert_eq!(ids.len() as u64, accepted);
    assert_distinct_decimal(&ids);
    // Never overdrawn, and used to the last part in that one burst: over quota means the
    // limit is used. No node refuses while another node's lease holds unused parts (it
    // recalls them first), so every refusal is one the limit really called for.
    assert_eq!(
        accepted,
        SHARED_LIMIT,
        "accepted on the three nodes (limit {SHARED_LIMIT}) after {:.2?}",
        spend_started.elapsed()
    );
    assert_eq!(spending.over_quota(), 3 * per_bind - SHARED_LIMIT);
    // Every node counts the same use, equal to what was accepted: no debit lost or doubled.
    for node in &nodes {
        let ledger = settled_ledger(node.admin, "spender").await;
        assert_eq!(
            ledger["period_used"], accepted,
            "node {}: {ledger}",
            node.id
        );
        assert_eq!(ledger["parts_available"], 0, "node {}: {ledger}", node.id);
    }
    // Each node sends what it accepted over its own link, started from the replicated
    // state (nodes 2 and 3 have no upstream in their files).
    let stats = sim.wait_for(WAIT, |s| s.unique_submits >= accepted).await;
    assert_eq!(stats.unique_submits, accepted, "{stats:?}");
    for (_, esme, _) in &spending.binds {
        assert!(!esme.is_closed());
    }
    drop(spending);

    // 3b. The same at one message every 0.3 s per node: the limit is used to the last part
    // and every refusal is past it.
    let create = format!(
        "account create paced --password {PASSWORD} --max-messages {PACED_LIMIT} --period day"
    );
    nodes[2].ctl(&create).await.json();
    let mut binds = Vec::new();
    for node in &nodes {
        binds.push((node.id, node.bind("paced").await));
    }
    let paced = Spending::new(binds, "paced", Duration::from_millis(300), PACED_LIMIT);
    paced.send_each(PACED_LIMIT / 2, 1).await;
    paced.report("paced");
    assert_eq!(paced.accepted(), PACED_LIMIT);
    assert_eq!(paced.over_quota(), 3 * (PACED_LIMIT / 2) - PACED_LIMIT);
    let ledger = settled_ledger(nodes[0].admin, "paced").await;
    assert_eq!(ledger["period_used"], PACED_LIMIT, "{ledger}");
    drop(paced);

    // 4. The two followers spend a second account; the leader is killed with -9 while they
    // do, and while a customer of a third account spends on the leader itself.
    let leader_index = nodes
        .iter()
        .position(|n| u64::from(n.id) == leader)
        .unwrap();
    let survivors: Vec<usize> = (0..3).filter(|i| *i != leader_index).collect();
    let (a, b) = (&nodes[survivors[0]], &nodes[survivors[1]]);
    let create =
        format!("account create survivor --password {PASSWORD} --max-messages {FAILOVER_LIMIT}");
    a.ctl(&create).await.json();
    let binds = vec![
        (a.id, a.bind("survivor").await),
        (b.id, b.bind("survivor").await),
    ];
    let spending = Spending::new(binds, "failover", FAILOVER_PACE, FAILOVER_LIMIT);
    let create = format!("account create victim --password {PASSWORD} --max-messages 100000");
    a.ctl(&create).await.json();
    let on_leader = vec![(
        nodes[leader_index].id,
        nodes[leader_index].bind("victim").await,
    )];
    let victim = Spending::new(on_leader, "victim", Duration::from_millis(20), 100_000);
    let victim_driver = {
        let victim = victim.clone();
        tokio::spawn(async move { victim.send_each(100_000, 1).await })
    };
    let driver = {
        let (spending, admin) = (spending.clone(), a.admin);
        tokio::spawn(async move {
            spending
                .until_exhausted(admin, "survivor", FAILOVER_LIMIT)
                .await
        })
    };
    poll("a quarter of the limit spent", WAIT, || async {
        (spending.accepted() >= FAILOVER_LIMIT / 4).then_some(())
    })
    .await;
    assert!(
        victim.accepted() > 0,
        "the victim spent on the leader before the kill"
    );
    nodes[leader_index].kill();
    let killed = Instant::now();
    let at_kill = spending.accepted();
    victim_driver.await.unwrap();
    let (a, b) = (&nodes[survivors[0]], &nodes[survivors[1]]);
    let new_leader = async {
        let leader = poll("a new leader", WAIT, || async {
            let run = a.ctl("cluster status").await;
            let view = run.ok().then(|| leader_and_voters(&run.json()).0).flatten();
            view.filter(|l| *l != leader)
        })
        .await;
        (leader, killed.elapsed())
    };
    let write = async {
        poll("a write after the kill", WAIT, || async {
            let create = format!("account create after-failover --password {PASSWORD}");
            let run = b.ctl(&create).await;
            // A create retried after an answer was lost finds the account there.
            (run.ok() || run.stderr.contains("exists already")).then_some(())
        })
        .await;
        (killed.elapsed(), spending.accepted())
    };
    let ((new_leader, to_leader), (to_write, at_write)) = tokio::join!(new_leader, write);
    eprintln!(
        "killed leader {leader} with {at_kill} accepted: node {} sees leader {new_leader} \
         after {to_leader:.2?}; a write succeeded after {to_write:.2?} ({at_write} accepted)",
        a.id
    );
    driver.await.unwrap();
    spending.report("survivor");
    let accepted = spending.accepted();
    eprintln!("survivor: spent in {:.2?} after the kill", killed.elapsed());
    assert!(accepted > at_write, "spending went on after the failover");
    let ids = spending.ids();
    assert_eq!(ids.len() as u64, accepted);
    assert_distinct_decimal(&ids);
    let ledger = settled_ledger(a.admin, "survivor").await;
    eprintln!("survivor ledger after the failover: {ledger}");
    assert!(accepted <= FAILOVER_LIMIT);
    assert_eq!(
        ledger["period_used"], accepted,
        "the ledger counts what the survivors accepted: {ledger}"
    );
    assert_eq!(
        accepted, FAILOVER_LIMIT,
        "the limit is used to the last part"
    );

    // The killed node restarts on its directory and raft address and catches up.
    let restarted = Instant::now();
    nodes[leader_index].write_config(false, None, db);
    nodes[leader_index].start();
    let (a, back) = (&nodes[survivors[0]], &nodes[leader_index]);
    // Every account, with its ledger, as the survivors see it.
    // (Read from both each time: the restarted node's settle of its earlier leases changes
    // the victim's ledger while it catches up.)
    poll(
        &format!("node {} catches up", back.id),
        Duration::from_secs(30),
        || async {
            let expected = a.ctl("account list").await.json();
            let run = back.ctl("account list").await;
            (run.ok() && run.json() == expected).then_some(())
        },
    )
    .await;
    let status = back.status().await;
    assert_eq!(
        leader_and_voters(&status),
        (Some(new_leader), 3),
        "{status}"
    );
    // The restarted node settles the leases it held when it was killed with what its store
    // shows they were charged: the ledger counts what the node accepted, not the leases'
    // whole grants. The customer saw all of it acknowledged but the one submit in flight
    // at the kill, which is durable and goes out too.
    let told = victim.accepted();
    let cdrs = {
        let run = back
            .ctl("message list --account victim --from 0 --limit 100000")
            .await;
        run.json()["messages"].as_array().unwrap().len() as u64
    };
    assert!(told <= cdrs && cdrs <= told + 1, "told {told}, CDRs {cdrs}");
    // Whether the ledger reclaimed the lease in full first (30 s without a settle) or the
    // node settled it while it was open, the figures end the same.
    let settled = Instant::now();
    let ledger = poll(
        "the victim's leases settled",
        Duration::from_secs(45),
        || async {
            let ledger = settled_ledger(a.admin, "victim").await;
            (ledger["period_used"] == cdrs).then_some(ledger)
        },
    )
    .await;
    eprintln!(
        "victim: customer told {told}, CDRs {cdrs}, ledger {ledger} ({:.2?} after the catch-up)",
        settled.elapsed()
    );
    eprintln!(
        "node {} caught up {:.2?} after its restart; whole test {:.2?}",
        back.id,
        restarted.elapsed(),
        started.elapsed()
    );
    sim.shutdown().await;
}
