#![allow(clippy::unwrap_used)]
//! The SMGP front end and carrier in a running pipeline, over real sockets on 127.0.0.1:
//! an SP logs in with its account's SMGP secret and submits; the part goes to an operator's
//! SMGW (our own server with a test handler) over an SmgpCarrier link, the SMGW's status
//! report comes back on that link, and the SP gets it as a Deliver with IsReport 1 under
//! the MsgID its Submit_Resp gave.

mod util;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;

use tern_actors::accounts::{AccountPolicy, Credential};
use tern_actors::link::LinkConfig;
use tern_actors::quota::{Ledger, LocalLedger};
use tern_actors::routing::{LinkGroup, Route, WeightedLink};
use tern_actors::{Pipeline, PipelineConfig, Settings};
use tern_ledger::{AccountSpec, Command, Limits, Request, Response};
use tern_smgp::codec::{DeliverResp, SubmitResp};
use tern_smgp::gateway::{SmgpCarrier, SmgpFrontend};
use tern_smgp::mapping::LinkOptions;
use tern_smgp::net::{serve, Client, ClientEvent, CloseReason, ServerConfig};
use tern_smgp::{status, Body, Pdu, Report};
use tern_storage::{EmbeddedConfig, EmbeddedStore};
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use util::*;

const ACCOUNT: &str = "SP000009";
const ACCOUNT_SECRET: &str = "acc0unt";

fn policy(secret: Option<&str>) -> AccountPolicy {
    let secrets: BTreeMap<String, String> = secret
        .map(|s| (tern_ledger::SMGP.to_owned(), s.to_owned()))
        .into_iter()
        .collect();
    AccountPolicy {
        id: ACCOUNT.into(),
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

/// The account in the quota ledger, without limits.
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
    shutdown: CancellationToken,
    tracker: TaskTracker,
    _dir: tempfile::TempDir,
}

impl Node {
    /// A node with the SMGP front end; messages route to the SMGW at `smgw`.
    async fn start(account: AccountPolicy, smgw: SocketAddr) -> Node {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(EmbeddedStore::open(dir.path(), EmbeddedConfig::default()).unwrap());
        let ledger = Arc::new(LocalLedger::default());
        let carrier = SmgpCarrier {
            client: client_config(smgw),
            options: LinkOptions {
                service_id: "TEST".into(),
                src_term_id: "10690001".into(),
                ..LinkOptions::default()
            },
        };
        let link = LinkConfig {
            name: "smgw".into(),
            carrier: Arc::new(carrier),
            credit: 16,
            revision: 1,
            binds: 1,
        };
        let group = LinkGroup {
            links: vec![WeightedLink {
                link: link.name.clone(),
                weight: 1,
            }],
            failover_after: 3,
        };
        let config = PipelineConfig {
            settings: Settings {
                shards: 1,
                ..Settings::default()
            },
            accounts: vec![account],
            routes: vec![Route {
                name: "all".into(),
                prefixes: Vec::new(),
                ranges: Vec::new(),
                accounts: Vec::new(),
                groups: vec![group],
            }],
            links: vec![link],
            mo_rules: Vec::new(),
            ledger: ledger.clone(),
            membership: None,
        };
        let pipeline = Pipeline::start(store, config).await.unwrap();
        open_account(&ledger).await;
        let (shutdown, tracker) = (CancellationToken::new(), TaskTracker::new());
        let frontend = SmgpFrontend::new(pipeline.sessions().unwrap(), LinkOptions::default(), 100)
            .await
            .unwrap();
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
            shutdown,
            tracker,
            _dir: dir,
        }
    }

    fn sp(&self, secret: &str) -> (Client, mpsc::Receiver<ClientEvent>) {
        let mut config = client_config(self.gateway);
        config.client_id = ACCOUNT.into();
        config.secret = secret.into();
        Client::start(config, self.shutdown.clone(), &self.tracker)
    }

    async fn stop(self) {
        self.shutdown.cancel();
        self.tracker.close();
        let _ = tokio::time::timeout(WAIT, self.tracker.wait()).await;
        self.pipeline.stop().await;
    }
}

async fn next_event(events: &mut mpsc::Receiver<ClientEvent>) -> ClientEvent {
    tokio::time::timeout(WAIT, events.recv())
        .await
        .expect("an event within 5 s")
        .expect("the link's events are open")
}

#[tokio::test]
async fn a_submit_goes_to_the_smgw_and_its_report_comes_back_to_the_sp() {
    let smgw = Server::start(ServerConfig::default(), Gateway::default()).await;
    let node = Node::start(policy(Some(ACCOUNT_SECRET)), smgw.addr).await;
    let (sp, mut events) = node.sp(ACCOUNT_SECRET);
    assert!(matches!(next_event(&mut events).await, ClientEvent::Up));
    let answer = sp.request(submit("8613300000000", "hello")).await.unwrap();
    let Body::SubmitResp(SubmitResp { msg_id, status }) = answer.body else {
        panic!("expected Submit_Resp, got {answer:?}");
    };
    assert_eq!(status, status::OK);
    // The SMGW took the part from our link and gave it MsgID 1; it reports delivery.
    eventually("the part at the SMGW", || {
        *smgw.gateway.next_id.lock().unwrap() == 1
    })
    .await;
    let resp = smgw
        .session()
        .request(report(util::msg_id(1)))
        .await
        .unwrap();
    assert!(matches!(
        resp.body,
        Body::DeliverResp(DeliverResp { status: 0, .. })
    ));
    let ClientEvent::Request { pdu, handle } = next_event(&mut events).await else {
        panic!("expected the receipt");
    };
    let Body::Deliver(deliver) = &pdu.body else {
        panic!("expected a Deliver, got {pdu:?}");
    };
    assert!(deliver.is_report());
    let receipt = Report::decode(&deliver.msg_content).unwrap();
    assert_eq!(receipt.msg_id, msg_id, "the MsgID the SP was given");
    assert_eq!(receipt.stat, "DELIVRD");
    handle.respond(Pdu {
        sequence_id: pdu.sequence_id,
        body: Body::DeliverResp(DeliverResp {
            msg_id: deliver.msg_id,
            status: 0,
        }),
    });
    node.stop().await;
    smgw.stop().await;
}

#[tokio::test]
async fn a_wrong_secret_or_an_account_without_an_smgp_secret_is_refused() {
    let smgw = Server::start(ServerConfig::default(), Gateway::default()).await;
    let node = Node::start(policy(Some(ACCOUNT_SECRET)), smgw.addr).await;
    let (_sp, mut events) = node.sp("wrong");
    let ClientEvent::Down { reason } = next_event(&mut events).await else {
        panic!("expected the refusal");
    };
    assert_eq!(reason, CloseReason::LoginRefused(status::AUTH_FAILED));
    node.stop().await;

    let node = Node::start(policy(None), smgw.addr).await;
    let (_sp, mut events) = node.sp(ACCOUNT_SECRET);
    let ClientEvent::Down { reason } = next_event(&mut events).await else {
        panic!("expected the refusal");
    };
    assert_eq!(reason, CloseReason::LoginRefused(status::AUTH_FAILED));
    node.stop().await;
    smgw.stop().await;
}
