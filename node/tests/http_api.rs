#![allow(clippy::unwrap_used)]
//! The HTTP API of a running node, as its customers use it over real sockets: an API key
//! made in the replicated state, sends answered with their ids once durable, the error
//! shape, 429 with Retry-After, idempotent retries, batches, status and cancel, the
//! balance; receipts as signed callbacks (checked here with HMAC on its own, not with the
//! gateway's code), held while the receiver is down and delivered once it is back; and the
//! Kannel and Jasmin endpoints with their answers and their dlr-url calls.

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use common::http_receiver::{self, Log, Received};
use common::*;
use hmac::{Hmac, Mac};
use serde_json::{json, Value};
use sha2::Sha256;
use tern_ledger::{ApiKey, Callback, Command, Request, Response};
use tern_node::Node;

const SECRET: &str = "callback-secret-0123456789";

fn node_toml(dir: &std::path::Path, sim: SocketAddr, extra_account: &str) -> String {
    base_toml(dir)
        + "\n[http]\nlisten = \"127.0.0.1:0\"\n"
        + &account_toml("shop", "shop-pw", extra_account)
        + &account_toml("other", "other-pw", "")
        + &upstream_toml("op", sim, "")
        + "\n[[route]]\nname = \"all\"\ngroups = [{ links = [\"op\"] }]\n"
}

async fn propose(node: &Node, command: Command) {
    let request = Request {
        at_ms: 0,
        audit: None,
        command,
    };
    let response = node.cluster.propose(request).await.unwrap();
    assert!(!matches!(response, Response::Refused(_)), "{response:?}");
}

/// A new API key of `account`, known to the node once the call returns.
async fn api_key(node: &Node, account: &str) -> String {
    let (id, key) = tern_actors::api_key::generate();
    let api_key = ApiKey {
        id,
        account: account.into(),
        label: "test".into(),
        hash: tern_actors::api_key::hash_text(&key),
        created_ms: 0,
    };
    propose(node, Command::PutApiKey { key: api_key }).await;
    // The pipeline takes changes of the state a moment later.
    let client = reqwest::Client::new();
    let url = format!("http://{}/v1/balance", http_addr(node));
    for _ in 0..250 {
        let answer = client.get(&url).bearer_auth(&key).send().await.unwrap();
        if answer.status() != 401 {
            return key;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("the key was never taken");
}

async fn set_callback(node: &Node, account: &str, url: &str) {
    let callback = Callback {
        url: url.into(),
        secret: SECRET.into(),
    };
    propose(
        node,
        Command::SetCallback {
            account: account.into(),
            callback: Some(callback),
        },
    )
    .await;
}

fn http_addr(node: &Node) -> SocketAddr {
    node.endpoints.listening["http"]
}

struct Api {
    client: reqwest::Client,
    base: String,
    key: String,
}

impl Api {
    async fn post(
        &self,
        path: &str,
        body: &Value,
        idempotency: Option<&str>,
    ) -> (u16, Value, reqwest::header::HeaderMap) {
        let mut request = self
            .client
            .post(format!("{}{path}", self.base))
            .bearer_auth(&self.key)
            .json(body);
        if let Some(key) = idempotency {
            request = request.header("Idempotency-Key", key);
        }
        let answer = request.send().await.unwrap();
        let status = answer.status().as_u16();
        let headers = answer.headers().clone();
        (status, answer.json().await.unwrap_or(Value::Null), headers)
    }

    async fn get(&self, path: &str) -> (u16, Value) {
        let answer = self
            .client
            .get(format!("{}{path}", self.base))
            .header("X-API-Key", &self.key)
            .send()
            .await
            .unwrap();
        (
            answer.status().as_u16(),
            answer.json().await.unwrap_or(Value::Null),
        )
    }

    async fn delete(&self, path: &str) -> (u16, Value) {
        let answer = self
            .client
            .delete(format!("{}{path}", self.base))
            .bearer_auth(&self.key)
            .send()
            .await
            .unwrap();
        (
            answer.status().as_u16(),
            answer.json().await.unwrap_or(Value::Null),
        )
    }

    /// Polls a message's status until its state is `state`.
    async fn wait_state(&self, id: &str, state: &str) -> Value {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            let (status, body) = self.get(&format!("/v1/messages/{id}")).await;
            assert_eq!(status, 200, "{body}");
            if body["state"] == state {
                return body;
            }
            assert!(tokio::time::Instant::now() < deadline, "{id} stayed {body}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

fn send(to: &str, text: &str) -> Value {
    json!({ "to": to, "from": "Shop", "text": text })
}

/// Verifies a callback's signature as a receiver would, from the header alone.
fn signed(received: &Received) -> bool {
    let Some(header) = received.headers.get("tern-signature") else {
        return false;
    };
    let mut t = None;
    let mut v1 = None;
    for part in header.split(',') {
        match part.split_once('=') {
            Some(("t", value)) => t = Some(value.to_owned()),
            Some(("v1", value)) => v1 = Some(value.to_owned()),
            _ => {}
        }
    }
    let (Some(t), Some(v1)) = (t, v1) else {
        return false;
    };
    let mut mac = Hmac::<Sha256>::new_from_slice(SECRET.as_bytes()).unwrap();
    mac.update(format!("{t}.").as_bytes());
    mac.update(&received.body);
    let expected: String = mac
        .finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let fresh = t
        .parse::<i64>()
        .is_ok_and(|t| (t - (tern_model::now_ms() / 1000) as i64).abs() < 300);
    expected == v1 && fresh
}

async fn wait_for(log: &Log, count: usize) -> Vec<Received> {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let seen = log.lock().unwrap().clone();
        if seen.len() >= count {
            return seen;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{} of {count}: {seen:?}",
            seen.len()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn send_status_batch_cancel_balance_and_signed_receipts() {
    init_tracing();
    let dir = tempfile::tempdir().unwrap();
    let sim = start_sim(sim_config()).await;
    let node = start_node(&node_toml(dir.path(), sim.addr(), "")).await;
    let receiver = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let hook = receiver.local_addr().unwrap();
    let log = http_receiver::serve(receiver);
    set_callback(&node, "shop", &format!("http://{hook}/receipts")).await;
    let api = Api {
        client: reqwest::Client::new(),
        base: format!("http://{}", http_addr(&node)),
        key: api_key(&node, "shop").await,
    };

    // One message: 201 with its id, once durable; it is delivered and its receipt is
    // posted, signed.
    let (status, accepted, _) = api
        .post("/v1/messages", &json!({ "to": "+491701234567", "from": "Shop", "text": "hello", "reference": "order-1" }), None)
        .await;
    assert_eq!(status, 201, "{accepted}");
    let id = accepted["id"].as_str().unwrap().to_owned();
    assert_eq!(accepted["reference"], "order-1");
    let delivered = api.wait_state(&id, "delivered").await;
    assert_eq!(delivered["to"], "491701234567");
    assert_eq!(delivered["parts"], 1);
    assert_eq!(delivered["reference"], "order-1");
    assert!(
        delivered["history"].as_array().unwrap().len() >= 3,
        "{delivered}"
    );
    let posted = wait_for(&log, 1).await;
    assert_eq!(posted[0].method, "POST");
    assert_eq!(posted[0].target, "/receipts");
    assert!(signed(&posted[0]), "{:?}", posted[0]);
    let receipt = posted[0].json();
    assert_eq!(receipt["type"], "receipt");
    assert_eq!(receipt["id"], id.as_str());
    assert_eq!(receipt["state"], "delivered");
    let (_, found) = api.get("/v1/messages?reference=order-1").await;
    assert_eq!(found["ids"], json!([id]));

    // A batch to three recipients: three ids, each message on its own; a wrong one is
    // refused alone, with its field.
    let batch = json!({ "to": ["491700000001", "491700000002", "49x"], "message": { "from": "Shop", "text": "batch" } });
    let (status, answer, _) = api.post("/v1/messages/batch", &batch, None).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["accepted"], 2);
    assert_eq!(answer["refused"], 1);
    assert_eq!(answer["results"][2]["error"]["code"], "invalid_destination");
    assert_eq!(answer["results"][2]["error"]["field"], "to");
    let too_many: Vec<String> = (0..1001).map(|i| format!("4917{i:07}")).collect();
    let (status, answer, _) = api
        .post(
            "/v1/messages/batch",
            &json!({ "to": too_many, "message": { "from": "Shop", "text": "x" } }),
            None,
        )
        .await;
    assert_eq!(
        (status, answer["error"]["field"].as_str()),
        (400, Some("messages"))
    );

    // Scheduled for later: cancelled before it leaves, and not cancellable twice.
    let later = (tern_model::now_ms() / 1000 + 3600) as i64;
    let (status, scheduled, _) = api
        .post(
            "/v1/messages",
            &json!({ "to": "491709999999", "from": "Shop", "text": "later", "send_at": later }),
            None,
        )
        .await;
    assert_eq!(status, 201);
    let scheduled = scheduled["id"].as_str().unwrap().to_owned();
    assert_eq!(
        api.get(&format!("/v1/messages/{scheduled}")).await.1["state"],
        "queued"
    );
    let (status, cancelled) = api.delete(&format!("/v1/messages/{scheduled}")).await;
    assert_eq!(
        (status, cancelled["state"].as_str()),
        (200, Some("cancelled"))
    );
    assert_eq!(
        api.delete(&format!("/v1/messages/{scheduled}")).await.0,
        409
    );
    api.wait_state(&scheduled, "cancelled").await;

    // Another account's message is not found; nor an unknown id.
    let other = Api {
        client: reqwest::Client::new(),
        base: api.base.clone(),
        key: api_key(&node, "other").await,
    };
    assert_eq!(other.get(&format!("/v1/messages/{id}")).await.0, 404);
    assert_eq!(other.delete(&format!("/v1/messages/{id}")).await.0, 404);
    assert_eq!(api.get("/v1/messages/12345").await.0, 404);

    // The balance and use.
    let (status, balance) = api.get("/v1/balance").await;
    assert_eq!(status, 200, "{balance}");
    assert_eq!(balance["account"], "shop");
    assert!(balance["parts_total"].as_u64().is_some(), "{balance}");

    // One error shape, with the field at fault; 401 without a key.
    let (status, error, _) = api
        .post(
            "/v1/messages",
            &json!({ "to": "+49170", "from": "Shop" }),
            None,
        )
        .await;
    assert_eq!(status, 400);
    assert_eq!(error["error"]["code"], "invalid_request");
    assert_eq!(error["error"]["field"], "text");
    for missing in ["to", "from"] {
        let mut body = send("491701234567", "x");
        body.as_object_mut().unwrap().remove(missing);
        let (status, error, _) = api.post("/v1/messages", &body, None).await;
        assert_eq!(
            (status, error["error"]["field"].as_str()),
            (400, Some(missing)),
            "{error}"
        );
    }
    let (status, error, _) = api
        .post(
            "/v1/messages",
            &json!({ "to": "1", "from": "Shop", "text": "x", "colour": 1 }),
            None,
        )
        .await;
    assert_eq!(
        (status, error["error"]["code"].as_str()),
        (400, Some("invalid_request"))
    );
    let anonymous = reqwest::Client::new()
        .post(format!("{}/v1/messages", api.base))
        .json(&send("491701234567", "x"))
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), 401);
    let body: Value = anonymous.json().await.unwrap();
    assert_eq!(body["error"]["code"], "unauthorized");
    let wrong = Api {
        key: "tern_000000000000_0000000000000000000000000000000000000000".into(),
        client: reqwest::Client::new(),
        base: api.base.clone(),
    };
    assert_eq!(wrong.get("/v1/balance").await.0, 401);

    node.shutdown().await;
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retried_send_with_its_idempotency_key_sends_once() {
    init_tracing();
    let dir = tempfile::tempdir().unwrap();
    let sim = start_sim(sim_config()).await;
    let node = start_node(&node_toml(dir.path(), sim.addr(), "")).await;
    let api = Api {
        client: reqwest::Client::new(),
        base: format!("http://{}", http_addr(&node)),
        key: api_key(&node, "shop").await,
    };
    let body = send("491701234567", "once");
    let (first_status, first, _) = api.post("/v1/messages", &body, Some("order-42")).await;
    assert_eq!(first_status, 201, "{first}");
    let (again_status, again, headers) = api.post("/v1/messages", &body, Some("order-42")).await;
    assert_eq!((again_status, &again), (201, &first));
    assert_eq!(headers["idempotent-replayed"], "true");
    // The same key with another request is refused; a batch keeps its answer too.
    let (status, error, _) = api
        .post(
            "/v1/messages",
            &send("491701234567", "twice"),
            Some("order-42"),
        )
        .await;
    assert_eq!(
        (status, error["error"]["code"].as_str()),
        (422, Some("idempotency_key_reused"))
    );
    let batch = json!({ "messages": [send("491700000001", "a"), send("491700000002", "b")] });
    let (_, first_batch, _) = api
        .post("/v1/messages/batch", &batch, Some("batch-1"))
        .await;
    let (_, second_batch, _) = api
        .post("/v1/messages/batch", &batch, Some("batch-1"))
        .await;
    assert_eq!(first_batch, second_batch);
    // An invalid key is named.
    let (status, error, _) = api.post("/v1/messages", &body, Some("")).await;
    assert_eq!(
        (status, error["error"]["field"].as_str()),
        (400, Some("Idempotency-Key"))
    );

    // Three messages reached the operator: one per key, not one per request.
    let id = first["id"].as_str().unwrap();
    api.wait_state(id, "delivered").await;
    let reached = eventually(WAIT, || sim.stats().unique_submits >= 3).await;
    assert!(reached);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(sim.stats().unique_submits, 3);
    node.shutdown().await;
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_its_tps_cap_an_account_is_told_429_with_retry_after() {
    init_tracing();
    let dir = tempfile::tempdir().unwrap();
    let sim = start_sim(sim_config()).await;
    let node = start_node(&node_toml(dir.path(), sim.addr(), "tps = 2")).await;
    let api = Api {
        client: reqwest::Client::new(),
        base: format!("http://{}", http_addr(&node)),
        key: api_key(&node, "shop").await,
    };
    let mut throttled = None;
    for i in 0..20 {
        let (status, body, headers) = api
            .post(
                "/v1/messages",
                &send("491701234567", &format!("n{i}")),
                None,
            )
            .await;
        if status == 429 {
            throttled = Some((body, headers));
            break;
        }
        assert_eq!(status, 201, "{body}");
    }
    let (body, headers) = throttled.expect("a burst over the cap is throttled");
    assert_eq!(body["error"]["code"], "throttled");
    assert_eq!(headers["retry-after"], "1");
    node.shutdown().await;
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn receipts_wait_for_a_receiver_that_is_down_and_arrive_once_it_is_back() {
    init_tracing();
    let dir = tempfile::tempdir().unwrap();
    let sim = start_sim(sim_config()).await;
    let node = start_node(&node_toml(dir.path(), sim.addr(), "")).await;
    let port = free_port();
    set_callback(&node, "shop", &format!("http://127.0.0.1:{port}/hook")).await;
    let api = Api {
        client: reqwest::Client::new(),
        base: format!("http://{}", http_addr(&node)),
        key: api_key(&node, "shop").await,
    };
    let mut ids = Vec::new();
    for i in 0..5 {
        let (status, accepted, _) = api
            .post(
                "/v1/messages",
                &send("491701234567", &format!("m{i}")),
                None,
            )
            .await;
        assert_eq!(status, 201);
        ids.push(accepted["id"].as_str().unwrap().to_owned());
    }
    for id in &ids {
        api.wait_state(id, "delivered").await;
    }
    // The receiver is down for a few seconds: the receipts are held, tried, kept.
    tokio::time::sleep(Duration::from_secs(4)).await;
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await
        .unwrap();
    let log = http_receiver::serve(listener);
    let posted = wait_for(&log, 5).await;
    let mut got: Vec<String> = posted
        .iter()
        .map(|r| r.json()["id"].as_str().unwrap().to_owned())
        .collect();
    got.sort();
    got.dedup();
    let mut sent = ids.clone();
    sent.sort();
    assert_eq!(got, sent);
    assert!(posted.iter().all(signed));
    node.shutdown().await;
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kannel_and_jasmin_clients_are_answered_as_those_gateways_answer() {
    init_tracing();
    let dir = tempfile::tempdir().unwrap();
    let sim = start_sim(sim_config()).await;
    let node = start_node(&node_toml(dir.path(), sim.addr(), "")).await;
    let receiver = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let hook = receiver.local_addr().unwrap();
    let log = http_receiver::serve(receiver);
    let base = format!("http://{}", http_addr(&node));
    let client = reqwest::Client::new();
    let get = |path: String| {
        let client = client.clone();
        async move {
            let answer = client.get(path).send().await.unwrap();
            (answer.status().as_u16(), answer.text().await.unwrap())
        }
    };

    // Kannel: the account's id and password; a dlr-url with escapes.
    let dlr = format!("http://{hook}/kannel?type=%d&to=%p&from=%P&answer=%A");
    let query = [
        ("username", "shop"),
        ("password", "shop-pw"),
        ("to", "491701234567"),
        ("from", "Shop"),
        ("text", "hello kannel"),
        ("dlr-mask", "3"),
        ("dlr-url", dlr.as_str()),
    ];
    let url = reqwest::Url::parse_with_params(&format!("{base}/cgi-bin/sendsms"), &query).unwrap();
    assert_eq!(
        get(url.to_string()).await,
        (202, "0: Accepted for delivery".into())
    );
    let called = wait_for(&log, 1).await;
    assert_eq!(called[0].method, "GET");
    assert!(
        called[0]
            .target
            .starts_with("/kannel?type=1&to=491701234567&from=Shop&answer=id%3A"),
        "{}",
        called[0].target
    );
    assert!(
        called[0].target.contains("stat%3ADELIVRD"),
        "{}",
        called[0].target
    );
    let denied =
        format!("{base}/cgi-bin/sendsms?username=shop&password=wrong&to=1&text=x&from=Shop");
    assert_eq!(
        get(denied).await,
        (403, "Authorization failed for sendsms".into())
    );
    let no_to = format!("{base}/cgi-bin/sendsms?username=shop&password=shop-pw&text=x&from=Shop");
    assert_eq!(
        get(no_to).await,
        (400, "Missing receiver number, rejected".into())
    );
    let two = format!("{base}/cgi-bin/sendsms?username=shop&password=shop-pw&to=491700000001+491700000002&text=x&from=Shop");
    assert_eq!(get(two).await.0, 202);

    // Jasmin: Success "<id>", its errors, a POSTed level-2 DLR, and the balance.
    let form = [
        ("username", "shop"),
        ("password", "shop-pw"),
        ("to", "+491701234567"),
        ("from", "Shop"),
        ("content", "hello jasmin"),
        ("dlr", "yes"),
        ("dlr-level", "2"),
        ("dlr-url", &format!("http://{hook}/jasmin")),
    ];
    let answer = client
        .post(format!("{base}/send"))
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 200);
    let text = answer.text().await.unwrap();
    assert!(
        text.starts_with("Success \"") && text.ends_with('"'),
        "{text}"
    );
    let id = text
        .trim_start_matches("Success \"")
        .trim_end_matches('"')
        .to_owned();
    let called = wait_for(&log, 2).await;
    let jasmin = called.iter().find(|r| r.target == "/jasmin").unwrap();
    assert_eq!(jasmin.method, "POST");
    let fields: std::collections::HashMap<String, String> =
        url::form_urlencoded::parse(&jasmin.body)
            .into_owned()
            .collect();
    assert_eq!(fields["id"], id);
    assert_eq!(fields["level"], "2");
    assert_eq!(fields["message_status"], "DELIVRD");
    let unknown = format!("{base}/send?username=shop&password=shop-pw&to=1&content=x&colour=red");
    assert_eq!(
        get(unknown).await,
        (400, "Error \"Argument [colour] is unknown.\"".into())
    );
    let no_auth = format!("{base}/send?username=shop&password=nope&to=1&content=x");
    assert_eq!(
        get(no_auth).await,
        (
            403,
            "Error \"Authentication failure for username:shop\"".into()
        )
    );
    let (status, balance) = get(format!("{base}/balance?username=shop&password=shop-pw")).await;
    assert_eq!(status, 200, "{balance}");
    let balance: Value = serde_json::from_str(&balance).unwrap();
    assert!(balance.get("balance").is_some() && balance.get("sms_count").is_some());
    node.shutdown().await;
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mo_goes_to_the_callback_and_each_receipt_back_the_way_its_message_came() {
    init_tracing();
    let dir = tempfile::tempdir().unwrap();
    let sim = start_sim(tern_bench::smsc::SmscConfig {
        mo: Some(tern_bench::smsc::MoConfig {
            rate: 10.0,
            destination: "4915550001".into(),
            source_prefix: "49170".into(),
            system_id: Some(SIM_USER.into()),
        }),
        ..sim_config()
    })
    .await;
    let toml = node_toml(dir.path(), sim.addr(), "")
        + "\n[[mo_rule]]\naccount = \"shop\"\nnumbers = [\"4915550001\"]\n";
    let node = start_node(&toml).await;
    let receiver = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let hook = receiver.local_addr().unwrap();
    let log = http_receiver::serve(receiver);
    set_callback(&node, "shop", &format!("http://{hook}/in")).await;
    let api = Api {
        client: reqwest::Client::new(),
        base: format!("http://{}", http_addr(&node)),
        key: api_key(&node, "shop").await,
    };

    // No bind: the account's MO go to its callback, signed.
    let mos = |log: &Log| {
        log.lock()
            .unwrap()
            .iter()
            .filter(|r| r.json()["type"] == "mo")
            .count()
    };
    assert!(
        eventually(WAIT, || mos(&log) >= 3).await,
        "{:?}",
        log.lock().unwrap()
    );
    let first_mo = log
        .lock()
        .unwrap()
        .iter()
        .find(|r| r.json()["type"] == "mo")
        .cloned()
        .unwrap();
    assert!(signed(&first_mo));
    let mo = first_mo.json();
    assert_eq!(mo["to"], "4915550001");
    assert!(mo["text"].as_str().unwrap().starts_with("MO "), "{mo}");

    // With an SMPP bind of the same account up: a message sent over SMPP has its receipt
    // on the bind, one sent over HTTP at the callback.
    let esme = Esme::connect(
        smpp_addr(&node),
        tern_smpp::session::BindKind::Transceiver,
        "shop",
        "shop-pw",
    )
    .await;
    let over_smpp = esme.submit_ok(short_submit("491701111111", "smpp")).await;
    let (_, over_http, _) = api
        .post("/v1/messages", &send("491702222222", "http"), None)
        .await;
    let over_http = over_http["id"].as_str().unwrap().to_owned();
    assert!(esme.inbox.wait_for_receipts([&over_smpp], WAIT).await);
    let http_receipt = |log: &Log| {
        log.lock()
            .unwrap()
            .iter()
            .any(|r| r.json()["type"] == "receipt" && r.json()["id"] == over_http.as_str())
    };
    assert!(eventually(WAIT, || http_receipt(&log)).await);
    tokio::time::sleep(Duration::from_millis(500)).await;
    let at_callback: Vec<Value> = log.lock().unwrap().iter().map(Received::json).collect();
    assert!(
        !at_callback
            .iter()
            .any(|c| c["type"] == "receipt" && c["id"] == over_smpp.as_str()),
        "the SMPP message's receipt went to the callback"
    );
    assert!(
        !esme.inbox.receipts_by_id().contains_key(&over_http),
        "the HTTP message's receipt went to the SMPP bind"
    );
    esme.unbind().await;
    node.shutdown().await;
    sim.shutdown().await;
}
