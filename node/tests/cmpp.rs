#![allow(clippy::unwrap_used)]
//! CMPP in the pipeline, across protocols: a CMPP customer's SUBMIT reaches an SMPP
//! operator and its status report comes back as a CMPP DELIVER under the Msg_Id it was
//! given; an SMPP customer's submit reaches a CMPP operator gateway and the gateway's
//! report comes back as an SMPP receipt. Both CMPP versions, real sockets.

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::*;
use tern_cmpp::codec::{Report, SubmitResp};
use tern_cmpp::mapping::{self, LinkOptions};
use tern_cmpp::net::{
    Client, ClientConfig, ClientEvent, ConnectRequest, Handler, ServerConfig, SessionEvent,
    SessionHandle,
};
use tern_cmpp::{result, Body, Pdu, Version};
use tern_model::{Address, Message, MessageState, ReceiptRequest};
use tern_smpp::mapping::Concat;
use tern_smpp::session::BindKind;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

const SP: &str = "901234";
const SECRET: &str = "s3cret";

fn node_toml(dir: &std::path::Path, upstream: &str) -> String {
    base_toml(&dir.join("store"))
        + "\n[cmpp]\nlisten = \"127.0.0.1:0\"\nactive_test_secs = 5\n"
        + &account_toml(SP, "pw", &format!("cmpp_secret = \"{SECRET}\""))
        + &account_toml("smppcust", "pw", "")
        + upstream
}

async fn cmpp_customer(
    addr: std::net::SocketAddr,
    version: Version,
    secret: &str,
) -> (Client, mpsc::Receiver<ClientEvent>, CancellationToken) {
    let stop = CancellationToken::new();
    let tracker = TaskTracker::new();
    let mut config = ClientConfig::new("customer", addr.ip().to_string(), addr.port());
    config.source_addr = SP.into();
    config.secret = secret.into();
    config.version = version;
    let (client, events) = Client::start(config, stop.clone(), &tracker);
    (client, events, stop)
}

fn text_submit(version: Version, to: &str, text: &str) -> Vec<tern_cmpp::codec::Submit> {
    customer_split(version, to, text, false)
}

/// `text` as a CMPP customer splits it: UCS-2, or GBK with `gbk`, in parts of 140 octets.
fn customer_split(
    version: Version,
    to: &str,
    text: &str,
    gbk: bool,
) -> Vec<tern_cmpp::codec::Submit> {
    let mut message = Message::text(
        Address::international("1065"),
        Address::international(to),
        text,
    );
    message.receipt = ReceiptRequest::Final;
    let options = LinkOptions {
        version,
        msg_src: SP.into(),
        prefer_gbk: gbk,
        ..LinkOptions::default()
    };
    mapping::message_to_submits(&message, &options, 7).unwrap()
}

async fn customer_round_trip(version: Version) {
    init_tracing();
    let dir = tempfile::tempdir().unwrap();
    let sim = start_sim(sim_config()).await;
    let node = start_node(&node_toml(dir.path(), &upstream_toml("op", sim.addr(), ""))).await;
    let addr = node.endpoints.cmpp.unwrap();
    let (client, mut events, stop) = cmpp_customer(addr, version, SECRET).await;

    // A short UCS-2 message and a long one, both with a status report.
    let mut ids = Vec::new();
    let long = "长".repeat(150);
    for text in ["你好，世界", long.as_str()] {
        ids.extend(submit_all(&client, text_submit(version, "8613800138000", text)).await);
    }
    assert_eq!(ids.len(), 4, "one short part and three long ones");
    let distinct: std::collections::HashSet<u64> = ids.iter().copied().collect();
    assert_eq!(distinct.len(), ids.len(), "Msg_Ids are unique");
    let seen = sim.wait_for(WAIT, |s| s.submits >= 4).await;
    assert!(seen.submits >= 4, "{seen:?}");

    // One report per submitted part, each under its Msg_Id.
    let reported = collect_reports(&mut events, version, ids.len()).await;
    assert_eq!(reported, distinct);
    stop.cancel();
    node.shutdown().await;
    sim.shutdown().await;
}

/// Sends every SUBMIT and waits for each response (a window of one), returning the
/// Msg_Ids.
async fn submit_all(client: &Client, submits: Vec<tern_cmpp::codec::Submit>) -> Vec<u64> {
    let mut ids = Vec::new();
    for submit in submits {
        let response = client.request(Body::Submit(submit)).await.unwrap();
        let Body::SubmitResp(SubmitResp { msg_id, result }) = response.body else {
            panic!("not a SUBMIT_RESP: {response:?}");
        };
        assert_eq!(result, result::OK);
        assert_ne!(msg_id, 0);
        ids.push(msg_id);
    }
    ids
}

/// The Msg_Ids of the next `count` status reports (all DELIVRD), each answered.
async fn collect_reports(
    events: &mut mpsc::Receiver<ClientEvent>,
    version: Version,
    count: usize,
) -> std::collections::HashSet<u64> {
    let mut reported = std::collections::HashSet::new();
    let deadline = tokio::time::Instant::now() + WAIT;
    while reported.len() < count {
        let deliver = next_deliver(events, deadline).await;
        assert_eq!(deliver.registered_delivery, 1, "{deliver:?}");
        let report = Report::decode(version, &deliver.msg_content).unwrap();
        assert_eq!(report.stat, "DELIVRD");
        reported.insert(report.msg_id);
    }
    reported
}

/// The next DELIVER the customer gets before `deadline`, answered with OK.
async fn next_deliver(
    events: &mut mpsc::Receiver<ClientEvent>,
    deadline: tokio::time::Instant,
) -> tern_cmpp::codec::Deliver {
    loop {
        let event = tokio::time::timeout_at(deadline, events.recv())
            .await
            .expect("a DELIVER within the wait")
            .unwrap();
        let ClientEvent::Request { pdu, handle } = event else {
            continue;
        };
        let Body::Deliver(deliver) = pdu.body else {
            continue;
        };
        handle.respond(Pdu {
            sequence_id: pdu.sequence_id,
            body: Body::DeliverResp(tern_cmpp::codec::DeliverResp {
                msg_id: deliver.msg_id,
                result: result::OK,
            }),
        });
        return deliver;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cmpp3_customer_reaches_an_smpp_operator_and_gets_its_reports() {
    customer_round_trip(Version::V30).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cmpp2_customer_reaches_an_smpp_operator_and_gets_its_reports() {
    customer_round_trip(Version::V20).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_secret_is_refused() {
    init_tracing();
    let dir = tempfile::tempdir().unwrap();
    let sim = start_sim(sim_config()).await;
    let node = start_node(&node_toml(dir.path(), &upstream_toml("op", sim.addr(), ""))).await;
    let addr = node.endpoints.cmpp.unwrap();
    let (client, _events, stop) = cmpp_customer(addr, Version::V30, "wrong").await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(!client.is_up(), "a wrong secret must not connect");
    stop.cancel();
    node.shutdown().await;
    sim.shutdown().await;
}

/// A CMPP operator gateway: accepts the node's link, answers every SUBMIT and sends a
/// DELIVRD report for it.
struct Gateway {
    texts: Mutex<Vec<String>>,
    /// The LinkID of every SUBMIT, in order.
    link_ids: Mutex<Vec<String>>,
    /// The node's connections, for sending MO.
    sessions: Mutex<Vec<SessionHandle>>,
    next_id: std::sync::atomic::AtomicU64,
}

impl Handler for Gateway {
    type Grant = ();

    async fn connect(&self, request: ConnectRequest) -> Result<((), String), u32> {
        if request.source_addr == "902176" {
            Ok(((), "gwsecret".into()))
        } else {
            Err(result::BAD_SOURCE_ADDR)
        }
    }

    fn session(
        self: &Arc<Self>,
        _grant: (),
        version: Version,
        handle: SessionHandle,
        mut events: mpsc::Receiver<SessionEvent>,
    ) {
        let gateway = self.clone();
        gateway.sessions.lock().unwrap().push(handle.clone());
        tokio::spawn(async move {
            while let Some(event) = events.recv().await {
                let SessionEvent::Request(pdu) = event else {
                    continue;
                };
                let Body::Submit(submit) = pdu.body else {
                    continue;
                };
                gateway
                    .link_ids
                    .lock()
                    .unwrap()
                    .push(submit.link_id.clone());
                let msg_id = gateway
                    .next_id
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                for message in mapping::submit_to_messages(&submit, version, 0).unwrap() {
                    if let Some(text) = message.body.as_text() {
                        gateway.texts.lock().unwrap().push(text.to_owned());
                    }
                }
                handle.respond(Pdu {
                    sequence_id: pdu.sequence_id,
                    body: Body::SubmitResp(SubmitResp {
                        msg_id,
                        result: result::OK,
                    }),
                });
                if submit.registered_delivery == 1 {
                    let report = Report {
                        msg_id,
                        stat: "DELIVRD".into(),
                        submit_time: "2611231200".into(),
                        done_time: "2611231201".into(),
                        dest_terminal_id: submit.dest_terminal_ids[0].clone(),
                        smsc_sequence: 1,
                    };
                    let deliver =
                        mapping::report_deliver(&report, version, msg_id, &submit.src_id, "")
                            .unwrap();
                    let handle = handle.clone();
                    tokio::spawn(async move {
                        let _ = handle.request(Body::Deliver(deliver)).await;
                    });
                }
            }
        });
    }
}

/// A CMPP gateway on a free port: its address, its state and what stops it.
async fn start_gateway() -> (std::net::SocketAddr, Arc<Gateway>, CancellationToken) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let gateway = Arc::new(Gateway {
        texts: Mutex::new(Vec::new()),
        link_ids: Mutex::new(Vec::new()),
        sessions: Mutex::new(Vec::new()),
        next_id: std::sync::atomic::AtomicU64::new(1),
    });
    let stop = CancellationToken::new();
    tokio::spawn(tern_cmpp::net::serve(
        listener,
        Arc::new(ServerConfig::default()),
        gateway.clone(),
        stop.clone(),
        TaskTracker::new(),
    ));
    (addr, gateway, stop)
}

fn gateway_upstream(addr: std::net::SocketAddr, version: &str) -> String {
    format!(
        "\n[[upstream]]\nname = \"cmcc\"\nurl = \"cmpp://902176:gwsecret@{addr}\"\nversion = \"{version}\"\nservice_id = \"TERN\"\nsrc_id = \"1065\"\n"
    )
}

async fn operator_round_trip(version: &str) {
    init_tracing();
    let dir = tempfile::tempdir().unwrap();
    let (gateway_addr, gateway, stop) = start_gateway().await;
    let node = start_node(&node_toml(
        dir.path(),
        &gateway_upstream(gateway_addr, version),
    ))
    .await;
    let customer = Esme::connect(smpp_addr(&node), BindKind::Transceiver, "smppcust", "pw").await;
    let id = customer
        .submit_ok(short_submit("8613800138000", "hello over CMPP"))
        .await;
    assert!(
        customer.inbox.wait_for_receipts([&id], WAIT).await,
        "no receipt"
    );
    let receipts = customer.inbox.receipts_by_id();
    let receipt = receipts
        .get(&id)
        .and_then(|r| r.first())
        .expect("a receipt");
    assert_eq!(receipt.state(), Some(MessageState::Delivered));
    assert!(gateway
        .texts
        .lock()
        .unwrap()
        .iter()
        .any(|t| t == "hello over CMPP"));
    customer.unbind().await;
    node.shutdown().await;
    stop.cancel();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn long_text_for_a_cmpp_gateway_leaves_room_for_its_signature() {
    init_tracing();
    let dir = tempfile::tempdir().unwrap();
    let (gateway_addr, gateway, stop) = start_gateway().await;
    let upstream = gateway_upstream(gateway_addr, "3.0") + "signature_chars = 10\n";
    let node = start_node(&node_toml(dir.path(), &upstream)).await;
    let customer = Esme::connect(smpp_addr(&node), BindKind::Transceiver, "smppcust", "pw").await;
    let text: String = (0..300)
        .map(|i| char::from(b'a' + (i % 26) as u8))
        .collect();
    let id = customer
        .submit_ok(payload_submit("8613800138000", &text))
        .await;
    assert!(
        eventually(WAIT, || gateway.texts.lock().unwrap().len() >= 3).await,
        "parts at the gateway: {:?}",
        gateway.texts.lock().unwrap()
    );
    let parts = gateway.texts.lock().unwrap().clone();
    // 159 octets of ASCII less the 6 of the UDH less the 10 of the signature: 143 a part.
    assert!(parts.iter().all(|p| p.chars().count() <= 143), "{parts:?}");
    assert_eq!(parts.concat(), text);
    assert!(
        customer.inbox.wait_for_receipts([&id], WAIT).await,
        "no receipt"
    );

    // Parts the customer split itself (153 GSM characters each) cross as they are.
    gateway.texts.lock().unwrap().clear();
    let text: String = (0..250)
        .map(|i| char::from(b'A' + (i % 26) as u8))
        .collect();
    let pdus = submits(&text_message("8613800138000", &text), Concat::Udh8);
    assert_eq!(pdus.len(), 2);
    let mut ids = Vec::new();
    for pdu in pdus {
        ids.push(customer.submit_ok(pdu).await);
    }
    assert!(
        eventually(WAIT, || gateway.texts.lock().unwrap().len() >= 2).await,
        "parts at the gateway: {:?}",
        gateway.texts.lock().unwrap()
    );
    assert_eq!(gateway.texts.lock().unwrap().concat(), text);
    assert!(
        customer.inbox.wait_for_receipts(&ids, WAIT).await,
        "no receipts"
    );
    customer.unbind().await;
    node.shutdown().await;
    stop.cancel();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parts_a_customer_splits_are_joined_and_split_again_for_the_operator() {
    init_tracing();
    let dir = tempfile::tempdir().unwrap();
    let sim = start_sim(sim_config()).await;
    let node = start_node(&node_toml(dir.path(), &upstream_toml("op", sim.addr(), ""))).await;
    let (client, mut events, stop) =
        cmpp_customer(node.endpoints.cmpp.unwrap(), Version::V20, SECRET).await;

    // Mostly ASCII with one Chinese character, split by the customer as GBK: 134 octets a
    // part hold 133 characters, which no SMPP part holds in UCS-2 (67). Joined, the 250
    // characters go as 4 UCS-2 parts; each of the customer's 2 Msg_Ids gets its report.
    let text = format!("{}中", "x".repeat(249));
    let submits = customer_split(Version::V20, "8613800138000", &text, true);
    assert_eq!(submits.len(), 2);
    assert!(submits.iter().all(|s| s.msg_fmt == mapping::msg_fmt::GB));
    let ids = submit_all(&client, submits).await;
    let seen = sim.wait_for(WAIT, |s| s.submits >= 4).await;
    assert_eq!(seen.submits, 4, "{seen:?}");
    let reported = collect_reports(&mut events, Version::V20, 2).await;
    assert_eq!(reported, ids.iter().copied().collect());
    stop.cancel();
    node.shutdown().await;
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn joined_parts_leave_room_for_the_signature_and_lone_parts_go_in_time() {
    init_tracing();
    let dir = tempfile::tempdir().unwrap();
    let (gateway_addr, gateway, stop_gateway) = start_gateway().await;
    let upstream = gateway_upstream(gateway_addr, "3.0") + "signature_chars = 10\n";
    let node = start_node(&node_toml(dir.path(), &upstream)).await;
    let (client, mut events, stop) =
        cmpp_customer(node.endpoints.cmpp.unwrap(), Version::V30, SECRET).await;

    // 134 characters in the customer's 2 UCS-2 parts of 67: the gateway's parts hold 57
    // beside its signature, so 3 arrive, and the customer's 2 Msg_Ids are reported.
    let text: String = "长城".repeat(67);
    let submits = text_submit(Version::V30, "8613800138000", &text);
    assert_eq!(submits.len(), 2);
    let ids = submit_all(&client, submits).await;
    assert!(
        eventually(WAIT, || gateway.texts.lock().unwrap().len() >= 3).await,
        "parts at the gateway: {:?}",
        gateway.texts.lock().unwrap()
    );
    let parts = gateway.texts.lock().unwrap().clone();
    assert!(parts.iter().all(|p| p.chars().count() <= 57), "{parts:?}");
    assert_eq!(parts.concat(), text);
    let reported = collect_reports(&mut events, Version::V30, 2).await;
    assert_eq!(reported, ids.iter().copied().collect());

    // The first of two parts alone: it waits for the second, then goes as it is.
    gateway.texts.lock().unwrap().clear();
    let mut submits = text_submit(Version::V30, "8613800138000", &"山".repeat(100));
    submits.truncate(1);
    let ids = submit_all(&client, submits).await;
    assert!(
        eventually(WAIT, || !gateway.texts.lock().unwrap().is_empty()).await,
        "the lone part never reached the gateway"
    );
    let reported = collect_reports(&mut events, Version::V30, 1).await;
    assert_eq!(reported, ids.iter().copied().collect());
    stop.cancel();
    node.shutdown().await;
    stop_gateway.cancel();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_customer_cancels_a_scheduled_message_and_queries_its_day() {
    init_tracing();
    let dir = tempfile::tempdir().unwrap();
    let sim = start_sim(sim_config()).await;
    let node = start_node(&node_toml(dir.path(), &upstream_toml("op", sim.addr(), ""))).await;
    let (client, _events, stop) =
        cmpp_customer(node.endpoints.cmpp.unwrap(), Version::V30, SECRET).await;
    let cancel = |msg_id: u64| {
        let client = &client;
        async move {
            let response = client
                .request(Body::Cancel(tern_cmpp::codec::Cancel { msg_id }))
                .await
                .unwrap();
            let Body::CancelResp(resp) = response.body else {
                panic!("not a CANCEL_RESP: {response:?}");
            };
            resp.success_id
        }
    };

    // Scheduled a minute ahead (At_Time relative): still queued, so it can be withdrawn.
    let mut later = text_submit(Version::V30, "8613800138000", "see you later");
    later[0].at_time = "000000000100000R".into();
    let ids = submit_all(&client, later).await;
    assert_eq!(cancel(ids[0]).await, 0, "a queued message is withdrawn");
    assert_eq!(cancel(ids[0]).await, 1, "and only once");

    // Sent at once: it reaches the operator, after which it cannot be withdrawn.
    let now = submit_all(&client, text_submit(Version::V30, "8613800138000", "now")).await;
    let seen = sim.wait_for(WAIT, |s| s.submits >= 1).await;
    assert_eq!(
        seen.submits, 1,
        "only the unscheduled message went: {seen:?}"
    );
    assert_eq!(cancel(now[0]).await, 1);
    assert_eq!(cancel(0x0123_4567_89ab_cdef).await, 1, "an unknown Msg_Id");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(sim.stats().submits, 1);

    // QUERY of today (China time): two messages to one user, one delivered once its
    // receipt is in, one failed (withdrawn).
    let today = tern_cmpp::time::Civil::from_unix(tern_cmpp::time::unix_now());
    let query = |time: String, query_type: u8, query_code: &str| {
        let client = &client;
        let query = tern_cmpp::codec::Query {
            time,
            query_type,
            query_code: query_code.into(),
            reserve: String::new(),
        };
        async move {
            let response = client.request(Body::Query(query)).await.unwrap();
            let Body::QueryResp(resp) = response.body else {
                panic!("not a QUERY_RESP: {response:?}");
            };
            (
                resp.mt_tl_msg,
                resp.mt_tl_usr,
                resp.mt_scs,
                resp.mt_wt,
                resp.mt_fl,
            )
        }
    };
    let date = format!("{:04}{:02}{:02}", today.year, today.month, today.day);
    let deadline = tokio::time::Instant::now() + WAIT;
    let mut counts = query(date.clone(), 0, "").await;
    while counts != (2, 1, 1, 0, 1) && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
        counts = query(date.clone(), 0, "").await;
    }
    assert_eq!(
        counts,
        (2, 1, 1, 0, 1),
        "(total, users, delivered, waiting, failed)"
    );
    assert_eq!(
        query(date, 1, "NOSUCH").await,
        (0, 0, 0, 0, 0),
        "another Service_Id"
    );
    assert_eq!(
        query("2026-1-1".into(), 0, "").await,
        (0, 0, 0, 0, 0),
        "not a date"
    );
    stop.cancel();
    node.shutdown().await;
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn number_segments_pick_the_link_whatever_its_protocol() {
    init_tracing();
    let dir = tempfile::tempdir().unwrap();
    let sim = start_sim(sim_config()).await;
    let (gateway_addr, gateway, stop) = start_gateway().await;
    let upstreams = upstream_toml("op", sim.addr(), "")
        + &gateway_upstream(gateway_addr, "3.0")
        + "\n[[route]]\nname = \"china-mobile\"\nprefixes = [\"86139\", \"86138\"]\ngroups = [{ links = [\"cmcc\"] }]\n"
        + "\n[[route]]\nname = \"germany\"\nprefixes = [\"49\"]\ngroups = [{ links = [\"op\"] }]\n";
    let node = start_node(&node_toml(dir.path(), &upstreams)).await;
    let (client, _events, customer_stop) =
        cmpp_customer(node.endpoints.cmpp.unwrap(), Version::V30, SECRET).await;
    for (to, text) in [
        ("8613800138000", "to china mobile"),
        ("4915112345678", "to germany"),
    ] {
        for submit in text_submit(Version::V30, to, text) {
            let response = client.request(Body::Submit(submit)).await.unwrap();
            assert!(
                matches!(
                    response.body,
                    Body::SubmitResp(SubmitResp { result: 0, .. })
                ),
                "{response:?}"
            );
        }
    }
    // A segment no route names is refused with the destination error.
    let submit = text_submit(Version::V30, "8618600000000", "nowhere").remove(0);
    let response = client.request(Body::Submit(submit)).await.unwrap();
    assert!(
        matches!(
            response.body,
            Body::SubmitResp(SubmitResp { result: 13, .. })
        ),
        "{response:?}"
    );
    let seen = sim.wait_for(WAIT, |s| s.submits >= 1).await;
    assert_eq!(
        seen.submits, 1,
        "only the German number goes to the SMPP operator"
    );
    assert!(
        eventually(WAIT, || gateway.texts.lock().unwrap().len() == 1).await,
        "the China Mobile number goes to the CMPP gateway"
    );
    assert_eq!(gateway.texts.lock().unwrap()[0], "to china mobile");
    customer_stop.cancel();
    node.shutdown().await;
    sim.shutdown().await;
    stop.cancel();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_smpp_customer_reaches_a_cmpp3_gateway_and_gets_its_receipt() {
    operator_round_trip("3.0").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_smpp_customer_reaches_a_cmpp2_gateway_and_gets_its_receipt() {
    operator_round_trip("2.0").await;
}

/// An on-demand service over CMPP 3.0: the operator's MO carries a LinkID, the SP gets it
/// in its DELIVER and names it in its reply, and the operator gets the reply with it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_link_id_goes_from_the_operators_mo_to_the_sps_reply() {
    const LINK_ID: &str = "LNK20261123000000001";
    init_tracing();
    let dir = tempfile::tempdir().unwrap();
    let (gateway_addr, gateway, stop) = start_gateway().await;
    let toml = node_toml(dir.path(), &gateway_upstream(gateway_addr, "3.0"))
        + &format!("\n[[mo_rule]]\naccount = \"{SP}\"\nnumbers = [\"1065800001\"]\n");
    let node = start_node(&toml).await;
    let (client, mut events, customer_stop) =
        cmpp_customer(node.endpoints.cmpp.unwrap(), Version::V30, SECRET).await;
    assert!(
        eventually(WAIT, || !gateway.sessions.lock().unwrap().is_empty()).await,
        "the node's link connects"
    );
    // Let the customer's session open before the MO arrives.
    let first = submit_all(&client, text_submit(Version::V30, "8613800138000", "hi")).await;
    assert_eq!(first.len(), 1);

    let operator = gateway.sessions.lock().unwrap()[0].clone();
    let mo = tern_cmpp::codec::Deliver {
        msg_id: 77,
        dest_id: "1065800001".into(),
        service_id: "TERN".into(),
        tp_pid: 0,
        tp_udhi: 0,
        msg_fmt: 8,
        src_terminal_id: "8613800138000".into(),
        src_terminal_type: 0,
        registered_delivery: 0,
        msg_content: bytes::Bytes::from_static(&[0x4f, 0x60, 0x59, 0x7d]),
        link_id: LINK_ID.into(),
    };
    let answer = operator.request(Body::Deliver(mo)).await.unwrap();
    assert!(
        matches!(answer.body, Body::DeliverResp(ref r) if r.result == result::OK),
        "{answer:?}"
    );

    // The SP's DELIVER carries the LinkID (after the first submit's report, if that came
    // first).
    let deadline = tokio::time::Instant::now() + WAIT;
    let delivered = loop {
        let deliver = next_deliver(&mut events, deadline).await;
        if deliver.registered_delivery == 0 {
            break deliver;
        }
    };
    assert_eq!(delivered.link_id, LINK_ID);
    assert_eq!(delivered.src_terminal_id, "8613800138000");

    // Its reply names the LinkID, and the operator gets it; the first submit had none.
    // (The two may reach the operator in either order.)
    let mut reply = text_submit(Version::V30, "8613800138000", "your code is 1234");
    reply[0].link_id = LINK_ID.into();
    submit_all(&client, reply).await;
    assert!(
        eventually(WAIT, || gateway.link_ids.lock().unwrap().len() >= 2).await,
        "both submits at the gateway"
    );
    let mut link_ids = gateway.link_ids.lock().unwrap().clone();
    link_ids.sort();
    assert_eq!(link_ids, vec![String::new(), LINK_ID.to_owned()]);
    customer_stop.cancel();
    node.shutdown().await;
    stop.cancel();
}
