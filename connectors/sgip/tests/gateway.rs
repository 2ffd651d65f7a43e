#![allow(clippy::unwrap_used)]
//! The SGIP front end and carrier in a running pipeline, over real sockets on 127.0.0.1:
//! an SP binds with its account's SGIP secret and submits; the part goes to an SMG on a
//! type-1 link, the SMG's REPORT comes in on the report listener, and the SP gets it as a
//! REPORT on the type-2 connection the gateway opens to it.

mod util;

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tern_actors::accounts::{AccountPolicy, Credential};
use tern_actors::link::LinkConfig;
use tern_actors::quota::{Ledger, LocalLedger};
use tern_actors::routing::{LinkGroup, Route, WeightedLink};
use tern_actors::{Pipeline, PipelineConfig, Settings};
use tern_ledger::{AccountSpec, Command, Limits, Request, Response};
use tern_sgip::codec::Report;
use tern_sgip::gateway::{SgipCarrier, SgipFrontend};
use tern_sgip::mapping::LinkOptions;
use tern_sgip::net::{serve, Client, ClientConfig, ClientEvent, ServerConfig};
use tern_sgip::{result, Body, LoginType};
use tern_storage::{EmbeddedConfig, EmbeddedStore};
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use util::*;

/// The account and its SGIP secret: the login the recording peer knows.
const ACCOUNT: &str = NAME;
const SECRET: &str = PASSWORD;

fn policy(id: &str, secret: Option<&str>) -> AccountPolicy {
    let secrets: BTreeMap<String, String> = secret
        .map(|s| ("sgip".to_owned(), s.to_owned()))
        .into_iter()
        .collect();
    AccountPolicy {
        id: id.into(),
        credential: Credential::Plain("unused".into()),
        enabled: true,
        max_binds: 4,
        allowed_ips: Vec::new(),
        transliterate: false,
        sender_ids: Vec::new(),
        tps: None,
        secrets,
        api_keys: Vec::new(),
        callback: None,
    }
}

/// The account in the quota ledger, without limits: its messages are charged to it.
async fn open_account(ledger: &LocalLedger) {
    let spec = AccountSpec {
        id: ACCOUNT.into(),
        password_hash: String::new(),
        enabled: true,
        max_binds: 4,
        allowed_ips: Vec::new(),
        sender_ids: Vec::new(),
        transliterate: false,
        parent: None,
        tags: Default::default(),
        limits: Limits::default(),
        secrets: Default::default(),
    };
    let request = Request {
        at_ms: tern_actors::context::now_ms(),
        audit: None,
        command: Command::CreateAccount { spec, credit: 0 },
    };
    let response = Ledger::propose(ledger, request).await.unwrap();
    assert!(!matches!(response, Response::Refused(_)), "{response:?}");
}

struct Node {
    pipeline: Pipeline,
    gateway: SocketAddr,
    receiver: Arc<Peer>,
    /// The SP's listener for the gateway's type-2 binds.
    sp_addr: SocketAddr,
    shutdown: CancellationToken,
    tracker: TaskTracker,
    _dir: tempfile::TempDir,
}

impl Node {
    /// A node with the SGIP front end; messages route to `carrier` as link "smg", or
    /// without one to no link at all (they wait, and expire).
    async fn start(accounts: Vec<AccountPolicy>, carrier: Option<SgipCarrier>) -> Node {
        let node = Node::start_without_sp_listener(accounts, carrier).await;
        node.listen_sp().await;
        node
    }

    /// A node whose SP is not listening yet ([`Node::listen_sp`]).
    async fn start_without_sp_listener(
        accounts: Vec<AccountPolicy>,
        carrier: Option<SgipCarrier>,
    ) -> Node {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(EmbeddedStore::open(dir.path(), EmbeddedConfig::default()).unwrap());
        let ledger = Arc::new(LocalLedger::default());
        let links: Vec<LinkConfig> = carrier
            .into_iter()
            .map(|carrier| LinkConfig {
                name: "smg".into(),
                carrier: Arc::new(carrier),
                credit: 16,
                revision: 1,
                binds: 1,
            })
            .collect();
        let groups: Vec<LinkGroup> = links
            .iter()
            .map(|link| LinkGroup {
                links: vec![WeightedLink {
                    link: link.name.clone(),
                    weight: 1,
                }],
                failover_after: 3,
            })
            .collect();
        let config = PipelineConfig {
            settings: Settings {
                shards: 1,
                ..Settings::default()
            },
            accounts,
            routes: vec![Route {
                name: "all".into(),
                prefixes: Vec::new(),
                ranges: Vec::new(),
                accounts: Vec::new(),
                groups: groups.clone(),
            }],
            links,
            mo_rules: Vec::new(),
            ledger: ledger.clone(),
            membership: None,
        };
        let pipeline = Pipeline::start(store, config).await.unwrap();
        open_account(&ledger).await;
        let (shutdown, tracker) = (CancellationToken::new(), TaskTracker::new());
        // A free port for the SP, not listened on until listen_sp.
        let sp_addr = TcpListener::bind("127.0.0.1:0")
            .await
            .unwrap()
            .local_addr()
            .unwrap();
        let receiver = Arc::new(Peer::default());
        let deliver_to = HashMap::from([(ACCOUNT.to_owned(), sp_addr)]);
        let frontend = SgipFrontend::new(
            pipeline.sessions().unwrap(),
            LinkOptions::default(),
            3_020_000_001,
            deliver_to,
        );
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let gateway = listener.local_addr().unwrap();
        tokio::spawn(serve(
            listener,
            Arc::new(ServerConfig::default()),
            Arc::new(frontend),
            shutdown.clone(),
            tracker.clone(),
        ));
        Node {
            pipeline,
            gateway,
            receiver,
            sp_addr,
            shutdown,
            tracker,
            _dir: dir,
        }
    }

    /// The SP starts listening for the gateway's type-2 binds.
    async fn listen_sp(&self) {
        let sp_listener = TcpListener::bind(self.sp_addr).await.unwrap();
        let sp_config = ServerConfig {
            login_types: vec![LoginType::SmgToSp],
            ..ServerConfig::default()
        };
        tokio::spawn(serve(
            sp_listener,
            Arc::new(sp_config),
            self.receiver.clone(),
            self.shutdown.clone(),
            self.tracker.clone(),
        ));
    }

    fn sp(&self, password: &str) -> (Client, mpsc::Receiver<ClientEvent>) {
        let mut config = ClientConfig::new("sp", "127.0.0.1", self.gateway.port());
        config.login_name = ACCOUNT.into();
        config.password = password.into();
        config.node_id = 3_010_012_345;
        Client::start(config, self.shutdown.clone(), &self.tracker)
    }

    /// The first REPORT the SP's type-2 receiver got.
    async fn report(&self) -> Report {
        self.report_within(WAIT)
            .await
            .expect("a REPORT on the type-2 link")
    }

    /// The first REPORT the SP's type-2 receiver got, if one comes within `wait`.
    async fn report_within(&self, wait: Duration) -> Option<Report> {
        let first = || {
            let requests = self.receiver.requests.lock().unwrap();
            requests.iter().find_map(|pdu| match &pdu.body {
                Body::Report(report) => Some(report.clone()),
                _ => None,
            })
        };
        tokio::time::timeout(wait, async {
            loop {
                if let Some(report) = first() {
                    return report;
                }
                tokio::time::sleep(Duration::from_millis(25)).await;
            }
        })
        .await
        .ok()
    }

    async fn stop(self) {
        self.shutdown.cancel();
        self.tracker.close();
        let _ = tokio::time::timeout(WAIT, self.tracker.wait()).await;
        self.pipeline.stop().await;
    }
}

/// A SUBMIT whose validity ended a minute ago: the pipeline accepts it, and it expires
/// before any link could take it, which makes a receipt.
fn expired_submit() -> Body {
    let expired = tern_sgip::time::unix_to_smpp_absolute(tern_sgip::time::unix_now() - 60);
    submit_until("8613000000000", expired)
}

#[tokio::test]
async fn an_sp_submits_and_its_receipt_comes_back_as_a_report_on_a_type_2_link() {
    let node = Node::start(vec![policy(ACCOUNT, Some(SECRET))], None).await;
    let (sp, mut events) = node.sp(SECRET);
    assert!(matches!(next_event(&mut events).await, ClientEvent::Up));
    let answer = sp.request(expired_submit()).await.unwrap();
    let Body::SubmitResp(resp) = &answer.body else {
        panic!("expected SUBMIT_RESP, got {answer:?}");
    };
    assert_eq!(resp.result, result::OK);
    // The message expires, and the SP asked for every report.
    let report = node.report().await;
    assert_eq!(report.submit_sequence, answer.sequence);
    assert_eq!(report.user_number, "8613000000000");
    assert_eq!(report.state, tern_sgip::codec::report::FAILED);
    let bind = node.receiver.binds.lock().unwrap()[0].clone();
    assert_eq!(
        (bind.login_name.as_str(), bind.login_type),
        (ACCOUNT, LoginType::SmgToSp)
    );
    assert_eq!(bind.sequence.node_id, 3_020_000_001);
    node.stop().await;
}

/// While the SP's listener is away, the type-2 link backs off (0.5 s doubling to 30 s); an
/// SP that binds again is back, and what was held goes at once rather than after the
/// backoff: 10 s down leaves the link at least 12.4 s from its next try, the report comes
/// within 2 s of the new bind.
#[tokio::test]
async fn an_sp_that_binds_again_gets_what_was_held_without_waiting_out_the_backoff() {
    let node = Node::start_without_sp_listener(vec![policy(ACCOUNT, Some(SECRET))], None).await;
    let first_bind = node.shutdown.child_token();
    let (sp, mut events) = {
        let mut config = ClientConfig::new("sp", "127.0.0.1", node.gateway.port());
        config.login_name = ACCOUNT.into();
        config.password = SECRET.into();
        config.node_id = 3_010_012_345;
        Client::start(config, first_bind.clone(), &node.tracker)
    };
    assert!(matches!(next_event(&mut events).await, ClientEvent::Up));
    let answer = sp.request(expired_submit()).await.unwrap();
    assert!(matches!(&answer.body, Body::SubmitResp(resp) if resp.result == result::OK));
    tokio::time::sleep(Duration::from_secs(10)).await;
    assert!(node.receiver.binds.lock().unwrap().is_empty());
    first_bind.cancel();
    node.listen_sp().await;
    let (_again, mut events) = node.sp(SECRET);
    assert!(matches!(next_event(&mut events).await, ClientEvent::Up));
    let report = node.report_within(Duration::from_secs(2)).await;
    let report = report.expect("the held report within 2 s of the SP's new bind");
    assert_eq!(report.submit_sequence, answer.sequence);
    node.stop().await;
}

#[tokio::test]
async fn a_wrong_secret_an_account_without_one_or_a_receiving_bind_is_refused() {
    let node = Node::start(vec![policy(ACCOUNT, Some(SECRET))], None).await;
    let (_sp, mut events) = node.sp("wrong");
    assert_eq!(expect_refused(&mut events).await, result::ILLEGAL_LOGIN);

    // An SP binds to send, never to receive.
    let mut config = ClientConfig::new("sp", "127.0.0.1", node.gateway.port());
    config.login_name = ACCOUNT.into();
    config.password = SECRET.into();
    config.login_type = LoginType::SmgToSp;
    let (_receiving, mut events) = Client::start(config, node.shutdown.clone(), &node.tracker);
    assert_eq!(expect_refused(&mut events).await, result::BAD_LOGIN_TYPE);
    node.stop().await;

    let node = Node::start(vec![policy(ACCOUNT, None)], None).await;
    let (_sp, mut events) = node.sp(SECRET);
    assert_eq!(expect_refused(&mut events).await, result::ILLEGAL_LOGIN);
    node.stop().await;
}

#[tokio::test]
async fn a_submit_goes_to_the_smg_and_its_report_comes_back_to_the_sp() {
    // The operator's SMG: takes our type-1 BIND and answers SUBMITs.
    let smg = Arc::new(Peer::default());
    let smg_listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let smg_addr = smg_listener.local_addr().unwrap();
    let (stop_smg, smg_tasks) = (CancellationToken::new(), TaskTracker::new());
    let smg_config = ServerConfig {
        login_types: vec![LoginType::SpToSmg],
        ..ServerConfig::default()
    };
    tokio::spawn(serve(
        smg_listener,
        Arc::new(smg_config),
        smg.clone(),
        stop_smg.clone(),
        smg_tasks.clone(),
    ));
    let report_listen = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let mut client = ClientConfig::new("smg", "127.0.0.1", smg_addr.port());
    client.login_name = NAME.into();
    client.password = PASSWORD.into();
    client.node_id = 3_010_000_001;
    let carrier = SgipCarrier {
        client,
        options: LinkOptions::default(),
        report_listen,
    };
    let node = Node::start(vec![policy(ACCOUNT, Some(SECRET))], Some(carrier)).await;
    let (sp, mut events) = node.sp(SECRET);
    expect_up(&mut events).await;
    let accepted = sp.request(submit("8613000000000")).await.unwrap();
    assert!(matches!(&accepted.body, Body::SubmitResp(r) if r.result == result::OK));

    // The part reaches the SMG as a SUBMIT under our node id.
    let sent = tokio::time::timeout(WAIT, async {
        loop {
            if let Some(pdu) = smg.requests.lock().unwrap().first().cloned() {
                return pdu;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    })
    .await
    .expect("a SUBMIT at the SMG");
    assert_eq!(sent.sequence.node_id, 3_010_000_001);

    // The SMG binds to the report listener with type 2 and reports delivery.
    let mut back = ClientConfig::new("smg-reports", "127.0.0.1", report_listen.port());
    back.login_name = NAME.into();
    back.password = PASSWORD.into();
    back.login_type = LoginType::SmgToSp;
    let (reports, mut report_events) = Client::start(back, stop_smg.clone(), &smg_tasks);
    expect_up(&mut report_events).await;
    let delivered = Body::Report(Report {
        submit_sequence: sent.sequence,
        report_type: tern_sgip::codec::report::ON_SUBMIT,
        user_number: "8613000000000".into(),
        state: tern_sgip::codec::report::DELIVERED,
        error_code: 0,
        reserve: String::new(),
    });
    let answered = reports.request(delivered).await.unwrap();
    assert!(matches!(&answered.body, Body::ReportResp(r) if r.result == result::OK));

    // The SP hears of it under the number of its own SUBMIT.
    let report = node.report().await;
    assert_eq!(report.submit_sequence, accepted.sequence);
    assert_eq!(report.state, tern_sgip::codec::report::DELIVERED);

    // An MO to a number nobody owns is refused: there is no route to it.
    let mo = Body::Deliver(tern_sgip::codec::Deliver {
        user_number: "8613000000000".into(),
        sp_number: "10655".into(),
        tp_pid: 0,
        tp_udhi: 0,
        message_coding: 0,
        message_content: bytes::Bytes::from_static(b"stop"),
        reserve: String::new(),
    });
    let answered = reports.request(mo).await.unwrap();
    assert!(
        matches!(&answered.body, Body::DeliverResp(r) if r.result == result::ROUTE_NOT_FOUND),
        "{answered:?}"
    );
    stop_smg.cancel();
    smg_tasks.close();
    node.stop().await;
}
