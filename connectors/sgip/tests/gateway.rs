#![allow(clippy::unwrap_used)]
//! The SGIP front end in a running pipeline, over real sockets on 127.0.0.1: an SP binds
//! with its account's SGIP secret and submits, and the receipt comes back as a REPORT on
//! the type-2 connection the gateway opens to the SP.

mod util;

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tern_actors::accounts::{AccountPolicy, Credential};
use tern_actors::quota::{Ledger, LocalLedger};
use tern_actors::routing::Route;
use tern_actors::{Pipeline, PipelineConfig, Settings};
use tern_ledger::{AccountSpec, Command, Limits, Request, Response};
use tern_sgip::gateway::SgipFrontend;
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
    shutdown: CancellationToken,
    tracker: TaskTracker,
    _dir: tempfile::TempDir,
}

impl Node {
    async fn start(accounts: Vec<AccountPolicy>) -> Node {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(EmbeddedStore::open(dir.path(), EmbeddedConfig::default()).unwrap());
        let ledger = Arc::new(LocalLedger::default());
        let config = PipelineConfig {
            settings: Settings {
                shards: 1,
                ..Settings::default()
            },
            accounts,
            // A route to no link: a message is accepted and waits for one.
            routes: vec![Route {
                name: "nowhere".into(),
                prefixes: Vec::new(),
                ranges: Vec::new(),
                accounts: Vec::new(),
                groups: Vec::new(),
            }],
            links: Vec::new(),
            mo_rules: Vec::new(),
            ledger: ledger.clone(),
            membership: None,
        };
        let pipeline = Pipeline::start(store, config).await.unwrap();
        open_account(&ledger).await;
        let (shutdown, tracker) = (CancellationToken::new(), TaskTracker::new());
        let sp_listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let sp_addr = sp_listener.local_addr().unwrap();
        let receiver = Arc::new(Peer::default());
        let sp_config = ServerConfig {
            login_types: vec![LoginType::SmgToSp],
            ..ServerConfig::default()
        };
        tokio::spawn(serve(
            sp_listener,
            Arc::new(sp_config),
            receiver.clone(),
            shutdown.clone(),
            tracker.clone(),
        ));
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
            shutdown,
            tracker,
            _dir: dir,
        }
    }

    fn sp(&self, password: &str) -> (Client, mpsc::Receiver<ClientEvent>) {
        let mut config = ClientConfig::new("sp", "127.0.0.1", self.gateway.port());
        config.login_name = ACCOUNT.into();
        config.password = password.into();
        config.node_id = 3_010_012_345;
        Client::start(config, self.shutdown.clone(), &self.tracker)
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
    let node = Node::start(vec![policy(ACCOUNT, Some(SECRET))]).await;
    let (sp, mut events) = node.sp(SECRET);
    assert!(matches!(next_event(&mut events).await, ClientEvent::Up));
    let answer = sp.request(expired_submit()).await.unwrap();
    let Body::SubmitResp(resp) = &answer.body else {
        panic!("expected SUBMIT_RESP, got {answer:?}");
    };
    assert_eq!(resp.result, result::OK);
    // The message expires, and the SP asked for every report.
    let report = tokio::time::timeout(WAIT, async {
        loop {
            let found = node
                .receiver
                .requests
                .lock()
                .unwrap()
                .iter()
                .find_map(|pdu| match &pdu.body {
                    Body::Report(report) => Some(report.clone()),
                    _ => None,
                });
            if let Some(report) = found {
                return report;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    })
    .await
    .expect("a REPORT on the type-2 link");
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

#[tokio::test]
async fn a_wrong_secret_or_an_account_without_one_is_an_illegal_login() {
    let node = Node::start(vec![policy(ACCOUNT, Some(SECRET))]).await;
    let (_sp, mut events) = node.sp("wrong");
    assert_eq!(expect_refused(&mut events).await, result::ILLEGAL_LOGIN);
    node.stop().await;

    let node = Node::start(vec![policy(ACCOUNT, None)]).await;
    let (_sp, mut events) = node.sp(SECRET);
    assert_eq!(expect_refused(&mut events).await, result::ILLEGAL_LOGIN);
    node.stop().await;
}
