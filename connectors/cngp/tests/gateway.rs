#![allow(clippy::unwrap_used)]
//! The CNGP front end and carrier in a running pipeline, over real sockets on 127.0.0.1:
//! an SP logs in with its account's CNGP secret and submits; the part goes to an operator
//! (our own CNGP server) over a CngpCarrier link, and the operator's report comes back to
//! the SP as a Deliver with IsReport 1 under the MsgID the SP was given. Statuses travel
//! in the header.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use tern_actors::accounts::{AccountPolicy, Credential};
use tern_actors::link::LinkConfig;
use tern_actors::quota::{Ledger, LocalLedger};
use tern_actors::routing::{LinkGroup, Route, WeightedLink};
use tern_actors::{Pipeline, PipelineConfig, Settings};
use tern_cngp::codec::{Deliver, DeliverResp, SubmitResp};
use tern_cngp::gateway::{CngpCarrier, CngpFrontend};
use tern_cngp::mapping::LinkOptions;
use tern_cngp::net::{
    serve, Client, ClientConfig, ClientEvent, Cngp, Handler, LoginRequest, ServerConfig,
    SessionEvent, SessionHandle,
};
use tern_cngp::{status, Body, MsgId, Pdu, Report, Tlvs};
use tern_ledger::{AccountSpec, Command, Limits, Request};
use tern_storage::{EmbeddedConfig, EmbeddedStore};
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

const SP: &str = "SP00000042";
const SP_SECRET: &str = "sp-secret";
const OPERATOR_SECRET: &str = "op-secret";
const WAIT: Duration = Duration::from_secs(5);
/// The MsgID the operator gives the part it takes.
const OPERATOR_ID: MsgId = MsgId([0x10, 0x20, 0x30, 0x40, 0x50, 0x60, 0x70, 0x80, 0x90, 0x01]);

/// An operator's gateway that takes any Login with `OPERATOR_SECRET` and accepts Submits.
#[derive(Default)]
struct Operator {
    sessions: Mutex<Vec<SessionHandle>>,
    submits: Mutex<usize>,
}

impl Handler<Cngp> for Operator {
    type Grant = ();

    async fn login(&self, _: LoginRequest) -> Result<((), String), u32> {
        Ok(((), OPERATOR_SECRET.into()))
    }

    fn session(
        self: &Arc<Self>,
        _: (),
        _: LoginRequest,
        handle: SessionHandle,
        mut events: mpsc::Receiver<SessionEvent>,
    ) {
        self.sessions.lock().unwrap().push(handle.clone());
        let operator = self.clone();
        tokio::spawn(async move {
            while let Some(event) = events.recv().await {
                if let SessionEvent::Request(pdu) = event {
                    *operator.submits.lock().unwrap() += 1;
                    let body = Body::SubmitResp(SubmitResp {
                        msg_id: OPERATOR_ID,
                        tlvs: Tlvs::new(),
                    });
                    handle.respond(Pdu::request(pdu.sequence_id, body));
                }
            }
        });
    }
}

fn client(name: &str, port: u16, client_id: &str, secret: &str) -> ClientConfig {
    let mut config = ClientConfig::new(name, "127.0.0.1", port);
    config.client_id = client_id.into();
    config.secret = secret.into();
    config
}

async fn pipeline(operator_port: u16, dir: &std::path::Path) -> Pipeline {
    let store = Arc::new(EmbeddedStore::open(dir, EmbeddedConfig::default()).unwrap());
    let ledger = Arc::new(LocalLedger::default());
    let options = LinkOptions {
        sp_id: "901234".into(),
        service_id: "TEST".into(),
        src_term_id: "10658".into(),
        ..LinkOptions::default()
    };
    let carrier = CngpCarrier {
        client: client("operator", operator_port, "OP00000001", OPERATOR_SECRET),
        options,
    };
    let link = LinkConfig {
        name: "operator".into(),
        carrier: Arc::new(carrier),
        credit: 16,
        revision: 1,
        binds: 1,
    };
    let links = vec![WeightedLink {
        link: link.name.clone(),
        weight: 1,
    }];
    let account = AccountPolicy {
        id: SP.into(),
        credential: Credential::Plain("unused".into()),
        enabled: true,
        max_binds: 4,
        allowed_ips: Vec::new(),
        transliterate: false,
        sender_ids: Vec::new(),
        tps: None,
        secrets: BTreeMap::from([(tern_ledger::CNGP.to_owned(), SP_SECRET.to_owned())]),
        api_keys: Vec::new(),
        callback: None,
    };
    let route = Route {
        name: "all".into(),
        prefixes: Vec::new(),
        ranges: Vec::new(),
        accounts: Vec::new(),
        groups: vec![LinkGroup {
            links,
            failover_after: 3,
        }],
    };
    let settings = Settings {
        shards: 1,
        ..Settings::default()
    };
    let config = PipelineConfig {
        settings,
        accounts: vec![account],
        routes: vec![route],
        links: vec![link],
        mo_rules: Vec::new(),
        ledger: ledger.clone(),
        membership: None,
    };
    let pipeline = Pipeline::start(store, config).await.unwrap();
    let spec = AccountSpec {
        id: SP.into(),
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
    let command = Command::CreateAccount { spec, credit: 0 };
    let at_ms = tern_actors::context::now_ms();
    let request = Request {
        at_ms,
        audit: None,
        command,
    };
    Ledger::propose(ledger.as_ref(), request).await.unwrap();
    pipeline
}

async fn event(events: &mut mpsc::Receiver<ClientEvent>) -> ClientEvent {
    let next = tokio::time::timeout(WAIT, events.recv()).await;
    next.unwrap().unwrap()
}

fn submit() -> Body {
    Body::Submit(tern_cngp::codec::Submit {
        sp_id: "901234".into(),
        sub_type: 2,
        need_report: 1,
        priority: 1,
        service_id: "TEST".into(),
        fee_type: "01".into(),
        fee_user_type: 0,
        fee_code: "000000".into(),
        msg_format: 0,
        valid_time: String::new(),
        at_time: String::new(),
        src_term_id: "10658".into(),
        charge_term_id: String::new(),
        dest_term_ids: vec!["13300000000".into()],
        msg_content: Bytes::from_static(b"hello"),
        tlvs: Tlvs::new(),
    })
}

#[tokio::test]
async fn a_submit_reaches_the_operator_and_its_report_returns_to_the_sp() {
    let (shutdown, tracker) = (CancellationToken::new(), TaskTracker::new());
    let operator = Arc::new(Operator::default());
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let operator_port = listener.local_addr().unwrap().port();
    let config = Arc::new(ServerConfig::default());
    let serving = serve(
        listener,
        config.clone(),
        operator.clone(),
        shutdown.clone(),
        tracker.clone(),
    );
    tokio::spawn(serving);
    let dir = tempfile::tempdir().unwrap();
    let pipeline = pipeline(operator_port, dir.path()).await;
    let frontend = CngpFrontend::new(pipeline.sessions().unwrap(), LinkOptions::default(), 7)
        .await
        .unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(serve(
        listener,
        config,
        Arc::new(frontend),
        shutdown.clone(),
        tracker.clone(),
    ));

    // A wrong secret first: status 21 in the header.
    let (_refused, mut refused) =
        Client::start(client("bad", port, SP, "nope"), shutdown.clone(), &tracker);
    assert!(matches!(
        event(&mut refused).await,
        ClientEvent::Down {
            reason: tern_cngp::net::CloseReason::LoginRefused(21)
        }
    ));

    let (sp, mut events) = Client::start(
        client("sp", port, SP, SP_SECRET),
        shutdown.clone(),
        &tracker,
    );
    assert!(matches!(event(&mut events).await, ClientEvent::Up));
    let answer = sp.request(submit()).await.unwrap();
    assert_eq!(answer.status, status::OK);
    let Body::SubmitResp(accepted) = answer.body else {
        panic!("expected Submit_Resp, got {answer:?}");
    };
    for _ in 0..500 {
        if *operator.submits.lock().unwrap() == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let report = Report {
        msg_id: OPERATOR_ID,
        sub: "001".into(),
        dlvrd: "001".into(),
        submit_date: "2401011200".into(),
        done_date: "2401011201".into(),
        stat: "DELIVRD".into(),
        err: "000".into(),
        txt: Bytes::new(),
    };
    let deliver = Body::Deliver(Deliver {
        msg_id: MsgId([3; 10]),
        is_report: 1,
        msg_format: 0,
        recv_time: "20240101120100".into(),
        src_term_id: "13300000000".into(),
        dest_term_id: "10658".into(),
        msg_content: report.encode().unwrap(),
        tlvs: Tlvs::new(),
    });
    let link = operator.sessions.lock().unwrap()[0].clone();
    let taken = link.request(deliver).await.unwrap();
    assert_eq!(taken.status, status::OK);
    let ClientEvent::Request { pdu, handle } = event(&mut events).await else {
        panic!("expected the receipt");
    };
    let Body::Deliver(receipt) = &pdu.body else {
        panic!("expected a Deliver, got {pdu:?}");
    };
    let receipt_report = receipt.report().unwrap().unwrap();
    assert_eq!(receipt_report.msg_id, accepted.msg_id);
    assert_eq!(receipt_report.stat, "DELIVRD");
    let ok = Body::DeliverResp(DeliverResp {
        msg_id: receipt.msg_id,
        tlvs: Tlvs::new(),
    });
    handle.respond(Pdu::request(pdu.sequence_id, ok));

    shutdown.cancel();
    tracker.close();
    let _ = tokio::time::timeout(WAIT, tracker.wait()).await;
    pipeline.stop().await;
}
