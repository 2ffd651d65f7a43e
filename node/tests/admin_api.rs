#![allow(clippy::unwrap_used)]
//! The admin API end to end: the real tonic server on 127.0.0.1:0 in front of a ledger
//! `State` behind a mutex and a node with fixed sessions, queues, links and messages,
//! driven by the real `tern ctl` binary and by the generated client.

use tern_node::admin;

#[path = "admin_api/support.rs"]
mod support;

use std::time::Duration;

use admin::proto;
use support::{with_token, Server, TOKEN};
use tonic::Code;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_without_the_right_token_are_refused() {
    let server = Server::start().await;
    let mut client = server.client().await;
    let bare = client
        .list_accounts(proto::ListAccountsRequest::default())
        .await
        .unwrap_err();
    assert_eq!(bare.code(), Code::Unauthenticated);
    let mut wrong = tonic::Request::new(proto::Empty {});
    wrong
        .metadata_mut()
        .insert("authorization", "Bearer nope".parse().unwrap());
    let refused = client.cluster_status(wrong).await.unwrap_err();
    assert_eq!(refused.code(), Code::Unauthenticated);
    // Nothing was changed by a refused change either.
    let create = proto::CreateAccountRequest {
        id: "sneaky".into(),
        password: "pw".into(),
        ..Default::default()
    };
    assert_eq!(
        client.create_account(create).await.unwrap_err().code(),
        Code::Unauthenticated
    );
    assert!(server.control.state.lock().unwrap().accounts.is_empty());

    let cli = server
        .ctl_with(&["--token", "nope"], &["account", "list"])
        .await;
    cli.fails_with("unauthenticated");
    let cli = server.ctl_with(&[], &["account", "list"]).await;
    assert_eq!(cli.code, Some(2), "{cli:?}");
    assert!(cli.stderr.starts_with("error: no token"), "{cli:?}");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn account_create_show_and_topup_through_the_cli() {
    let server = Server::start().await;
    let created = server
        .ctl(&[
            "--json",
            "account",
            "create",
            "acme",
            "--password",
            "pw123",
            "--credit",
            "1000",
            "--credit-limit",
            "0",
            "--max-messages",
            "500",
            "--period",
            "month",
            "--tag",
            "cc=42",
            "--allow",
            "10.0.0.0/8",
            "--tps",
            "50",
        ])
        .await
        .ok();
    assert_eq!(created.json()["id"], "acme");
    assert!(!created.stdout.contains("argon2"), "{created:?}");

    let shown = server
        .ctl(&["account", "show", "acme", "--json"])
        .await
        .ok();
    let account = shown.json();
    assert_eq!(account["enabled"], true);
    assert_eq!(account["ledger"]["balance"], 1000);
    assert_eq!(account["ledger"]["available"], 1000);
    assert_eq!(account["ledger"]["period_max"], 500);
    assert_eq!(account["ledger"]["parts_available"], 500);
    assert_eq!(account["limits"]["period"], "month");
    assert_eq!(account["limits"]["tps"], 50);
    assert_eq!(account["tags"]["cc"], "42");
    assert_eq!(account["allowed_ips"][0], "10.0.0.0/8");

    // The state holds an argon2id hash of the password, never the password.
    {
        let state = server.control.state.lock().unwrap();
        let phc = &state.accounts["acme"].spec.password_hash;
        assert!(phc.starts_with("$argon2id$"), "{phc}");
        assert!(admin::password::verify_password("pw123", phc));
    }

    server.ctl(&["account", "topup", "acme", "250"]).await.ok();
    let shown = server
        .ctl(&["--json", "account", "show", "acme"])
        .await
        .ok();
    assert_eq!(shown.json()["ledger"]["balance"], 1250);

    let text = server.ctl(&["account", "show", "acme"]).await.ok();
    assert!(
        text.stdout
            .lines()
            .any(|l| l.split_whitespace().collect::<Vec<_>>() == ["balance", "1250"]),
        "{text:?}"
    );

    let listed = server
        .ctl(&["account", "list", "--tag", "cc=42"])
        .await
        .ok();
    assert_eq!(listed.stdout.lines().count(), 2, "{listed:?}");
    assert!(listed.stdout.lines().nth(1).unwrap().starts_with("acme "));
    let none = server
        .ctl(&["--json", "account", "list", "--tag", "cc=7"])
        .await;
    assert_eq!(none.ok().json()["accounts"], serde_json::json!([]));

    // Changes are in the audit trail, named by the token's digest, not the token.
    let audit = server.ctl(&["--json", "audit", "list"]).await.ok().json();
    let entries = audit["entries"].as_array().unwrap();
    let whats: Vec<&str> = entries
        .iter()
        .map(|e| e["what"].as_str().unwrap())
        .collect();
    assert!(whats[0].starts_with("CreateAccount acme"), "{whats:?}");
    assert!(whats[1].starts_with("TopUp acme amount=250"), "{whats:?}");
    let who = entries[0]["who"].as_str().unwrap();
    assert!(who.starts_with("token:") && !who.contains(TOKEN), "{who}");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refusals_map_to_grpc_codes_and_one_line_errors() {
    let server = Server::start().await;
    server
        .ctl(&[
            "account",
            "create",
            "acme",
            "--password",
            "pw",
            "--credit-limit",
            "0",
        ])
        .await
        .ok();
    let mut client = server.client().await;

    let again = proto::CreateAccountRequest {
        id: "acme".into(),
        password: "pw".into(),
        ..Default::default()
    };
    let exists = client.create_account(with_token(again)).await.unwrap_err();
    assert_eq!(exists.code(), Code::AlreadyExists, "{exists:?}");
    server
        .ctl(&["account", "create", "acme", "--password", "pw"])
        .await
        .fails_with("account acme exists already");

    let missing = proto::AccountRef {
        id: "nobody".into(),
    };
    let not_found = client.get_account(with_token(missing)).await.unwrap_err();
    assert_eq!(not_found.code(), Code::NotFound);
    server
        .ctl(&["account", "show", "nobody"])
        .await
        .fails_with("account nobody not found");

    // Refused by the state machine: no parent to draw from.
    let orphan = proto::TopUpRequest {
        id: "acme".into(),
        amount: 5,
        from_parent: true,
    };
    let invalid = client.top_up(with_token(orphan)).await.unwrap_err();
    assert_eq!(invalid.code(), Code::InvalidArgument, "{invalid:?}");
    // Refused by the admin layer: a password SMPP cannot carry.
    server
        .ctl(&["account", "password", "acme", "much-too-long"])
        .await
        .fails_with("password");

    // Over limit: a prepaid parent with 10 cannot give 50.
    server
        .ctl(&[
            "account",
            "create",
            "kid",
            "--password",
            "pw",
            "--parent",
            "acme",
        ])
        .await
        .ok();
    server.ctl(&["account", "topup", "acme", "10"]).await.ok();
    let greedy = proto::TopUpRequest {
        id: "kid".into(),
        amount: 50,
        from_parent: true,
    };
    let over = client.top_up(with_token(greedy)).await.unwrap_err();
    assert_eq!(over.code(), Code::FailedPrecondition, "{over:?}");
    server
        .ctl(&["account", "topup", "kid", "50", "--from-parent"])
        .await
        .fails_with("over limit");

    // Cluster errors are UNAVAILABLE with the message.
    let promote = client
        .promote(with_token(proto::NodeIds { ids: vec![9] }))
        .await
        .unwrap_err();
    assert_eq!(promote.code(), Code::Unavailable);
    server
        .ctl(&["cluster", "promote", "9"])
        .await
        .fails_with("[9] are not learners");

    // A command line that does not parse is a usage error.
    let usage = server.ctl(&["account", "create"]).await;
    assert_eq!(usage.code, Some(2), "{usage:?}");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reflection_lists_the_admin_service() {
    use tonic_reflection::pb::v1::server_reflection_client::ServerReflectionClient;
    use tonic_reflection::pb::v1::server_reflection_request::MessageRequest;
    use tonic_reflection::pb::v1::server_reflection_response::MessageResponse;
    use tonic_reflection::pb::v1::ServerReflectionRequest;

    let server = Server::start().await;
    let channel = tonic::transport::Endpoint::from_shared(server.url())
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut client = ServerReflectionClient::new(channel);
    let ask = || ServerReflectionRequest {
        host: String::new(),
        message_request: Some(MessageRequest::ListServices(String::new())),
    };
    let refused = client
        .server_reflection_info(tokio_stream_once(ask()))
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::Unauthenticated);

    let mut replies = client
        .server_reflection_info(with_token(tokio_stream_once(ask())))
        .await
        .unwrap()
        .into_inner();
    let reply = replies.message().await.unwrap().unwrap();
    let Some(MessageResponse::ListServicesResponse(list)) = reply.message_response else {
        panic!("not a service list: {reply:?}");
    };
    let names: Vec<&str> = list.service.iter().map(|s| s.name.as_str()).collect();
    assert!(names.contains(&"tern.admin.v1.Admin"), "{names:?}");
    server.stop().await;
}

/// A request stream of one message.
fn tokio_stream_once<T: Send + 'static>(item: T) -> impl futures::Stream<Item = T> + Send {
    futures::stream::iter([item])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_serves_a_cli_that_trusts_the_ca() {
    let dir = tempfile::tempdir().unwrap();
    let certified = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_owned()]).unwrap();
    let cert = dir.path().join("cert.pem");
    let key = dir.path().join("key.pem");
    std::fs::write(&cert, certified.cert.pem()).unwrap();
    std::fs::write(&key, certified.key_pair.serialize_pem()).unwrap();
    let server = Server::start_with(Some((cert.clone(), key))).await;
    assert!(server.url().starts_with("https://"));
    let ca = cert.to_str().unwrap();
    let flags = ["--token", TOKEN, "--ca", ca];
    let status = server
        .ctl_with(&flags, &["--json", "cluster", "status"])
        .await;
    assert_eq!(status.ok().json()["node_id"], 1);
    // Without the CA the command line says what is missing.
    let no_ca = server.ctl(&["cluster", "status"]).await;
    assert_eq!(no_ca.code, Some(2), "{no_ca:?}");
    assert!(no_ca.stderr.contains("--ca"), "{no_ca:?}");
    // A CA that did not sign the server's certificate is refused.
    let other = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_owned()]).unwrap();
    let other_ca = dir.path().join("other.pem");
    std::fs::write(&other_ca, other.cert.pem()).unwrap();
    let flags = ["--token", TOKEN, "--ca", other_ca.to_str().unwrap()];
    let refused = server.ctl_with(&flags, &["cluster", "status"]).await;
    refused.fails_with("invalid peer certificate");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn completions_are_printed_for_each_shell() {
    for (shell, marker) in [
        ("bash", "complete"),
        ("zsh", "#compdef tern"),
        ("fish", "complete -c tern"),
    ] {
        let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_tern"))
            .args(["ctl", "completions", shell])
            .output();
        let output = tokio::time::timeout(Duration::from_secs(30), output)
            .await
            .unwrap()
            .unwrap();
        assert!(output.status.success(), "{shell}: {output:?}");
        let script = String::from_utf8(output.stdout).unwrap();
        assert!(script.contains(marker), "{shell}");
        assert!(
            script.contains("topup"),
            "{shell} completes ctl subcommands"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn routes_links_and_the_node_through_the_cli() {
    let server = Server::start().await;
    let dir = tempfile::tempdir().unwrap();
    let file = |name: &str, text: &str| {
        let path = dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        path.to_str().unwrap().to_owned()
    };
    let route = file(
        "route.toml",
        "[[route]]\nname = \"de\"\nprefixes = [\"49\"]\ngroups = [{ links = [\"op-x\"] }]\n",
    );
    let put = server
        .ctl(&["--json", "route", "put", "--file", &route])
        .await;
    assert_eq!(put.ok().json()["enabled"], true);
    let disabled = server.ctl(&["--json", "route", "disable", "de"]).await;
    assert_eq!(disabled.ok().json()["enabled"], false);
    let list = server.ctl(&["route", "list"]).await.ok();
    assert_eq!(
        list.stdout,
        "NAME  ENABLED  PREFIXES  LINKS\nde    no       49        op-x (missing)\n"
    );
    let nameless = file("bad.toml", "prefixes = [\"49\"]\n");
    let refused = server.ctl(&["route", "put", "--file", &nameless]).await;
    refused.fails_with("route: name: missing");
    server
        .ctl(&["route", "delete", "nope"])
        .await
        .fails_with("route nope not found");

    let link = file(
        "link.toml",
        "name = \"carrier-a\"\nurl = \"smpp://u:p@127.0.0.1:2775\"\n",
    );
    server.ctl(&["link", "put", "--file", &link]).await.ok();
    let links = server.ctl(&["--json", "link", "list"]).await.ok().json();
    assert_eq!(links["links"][0]["name"], "carrier-a");
    assert_eq!(links["links"][0]["stored"], true);
    assert_eq!(links["links"][0]["live"]["window_in_use"], 5);
    assert_eq!(links["links"][1]["name"], "from-file");
    assert_eq!(links["links"][1]["stored"], false);
    server.ctl(&["link", "delete", "carrier-a"]).await.ok();

    let sessions = server.ctl(&["session", "list"]).await.ok();
    assert!(sessions.stdout.contains("192.0.2.1:40000"), "{sessions:?}");
    server.ctl(&["session", "kick", "7"]).await.ok();
    server
        .ctl(&["session", "kick", "8"])
        .await
        .fails_with("session 8 not found");

    let shown = server.ctl(&["--json", "message", "show", "42"]).await;
    assert_eq!(shown.ok().json()["state"], "DELIVERED");
    let from = ["message", "list", "--account", "acme", "--from"];
    let listed = server
        .ctl(&[&from[..], &["2026-01-01T00:00:00Z", "--json"]].concat())
        .await;
    assert_eq!(listed.ok().json()["messages"].as_array().unwrap().len(), 2);
    let later = server
        .ctl(&[&from[..], &["2026-01-02T00:00:00Z", "--json"]].concat())
        .await;
    assert_eq!(later.ok().json()["messages"], serde_json::json!([]));
    server.ctl(&["message", "cancel", "43"]).await.ok();
    let final_state = server.ctl(&["message", "cancel", "42"]).await;
    final_state.fails_with("message 42 is already DELIVERED");
    server
        .ctl(&["message", "cancel", "44"])
        .await
        .fails_with("message 44 not found");

    let queues = server.ctl(&["queue", "list"]).await.ok();
    assert!(queues.stdout.contains("shard  0          3"), "{queues:?}");
    let status = server
        .ctl(&["--json", "cluster", "status"])
        .await
        .ok()
        .json();
    assert_eq!(status["leader"], 1);
    assert_eq!(status["members"][0]["voter"], true);
    server
        .ctl(&["cluster", "add-learner", "2", "127.0.0.1:7002"])
        .await
        .ok();
    server.ctl(&["cluster", "remove", "2"]).await.ok();
    assert_eq!(
        *server.control.membership.lock().unwrap(),
        ["learner 2 127.0.0.1:7002", "remove [2]"]
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prices_campaigns_and_notifications_through_the_cli() {
    let server = Server::start().await;
    let create = ["account", "create", "acme", "--password", "pw"];
    let limits = [
        "--credit",
        "1000",
        "--credit-limit",
        "0",
        "--max-messages",
        "100",
    ];
    server.ctl(&[&create[..], &limits[..]].concat()).await.ok();

    server
        .ctl(&["price", "set", "5", "--prefix", "49"])
        .await
        .ok();
    server
        .ctl(&["price", "set", "7", "--account", "acme"])
        .await
        .ok();
    let prices = server
        .ctl(&["--json", "price", "set", "6", "--prefix", "49"])
        .await;
    let prices = prices.ok().json()["prices"].clone();
    assert_eq!(prices.as_array().unwrap().len(), 2, "{prices}");
    assert_eq!(prices[0]["per_part"], 6);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("prices.toml");
    std::fs::write(&file, "[[price]]\nprefix = \"33\"\nper_part = 4\n").unwrap();
    let file = file.to_str().unwrap();
    server.ctl(&["price", "set", "--file", file]).await.ok();
    let list = server.ctl(&["price", "list"]).await.ok();
    assert_eq!(
        list.stdout,
        "ACCOUNT  ROUTE  PREFIX  PER PART\n*        *      33      4\n"
    );

    let book = [
        "--json",
        "campaign",
        "book",
        "c1",
        "--account",
        "acme",
        "--at",
    ];
    let size = ["--parts", "50", "--amount", "100", "--tolerance", "10"];
    let booked = server
        .ctl(&[&book[..], &["2030-01-01T00:00:00Z"], &size[..]].concat())
        .await;
    assert_eq!(booked.ok().json()["reserved_parts"], 55);
    let acme = server.ctl(&["--json", "account", "show", "acme"]).await;
    assert_eq!(acme.ok().json()["ledger"]["parts_available"], 45);
    let too_big = server
        .ctl(&[
            "campaign",
            "book",
            "c2",
            "--account",
            "acme",
            "--at",
            "2030-01-02T00:00:00Z",
            "--parts",
            "60",
        ])
        .await;
    too_big.fails_with("over limit");
    server
        .ctl(&[
            "campaign", "resize", "c1", "--parts", "40", "--amount", "80",
        ])
        .await
        .ok();
    let campaigns = server.ctl(&["campaign", "list"]).await.ok();
    assert!(
        campaigns.stdout.contains("2030-01-01T00:00:00Z"),
        "{campaigns:?}"
    );
    server.ctl(&["campaign", "cancel", "c1"]).await.ok();
    let acme = server.ctl(&["--json", "account", "show", "acme"]).await;
    assert_eq!(acme.ok().json()["ledger"]["parts_available"], 100);

    let set = server
        .ctl(&["--json", "notify", "thresholds", "acme", "90", "50"])
        .await;
    assert_eq!(
        set.ok().json()["limits"]["thresholds"],
        serde_json::json!([50, 90])
    );
    let hook = [
        "notify",
        "webhook",
        "add",
        "h1",
        "https://hooks.invalid/tern",
    ];
    server
        .ctl(&[&hook[..], &["--account", "acme"]].concat())
        .await
        .ok();
    let hooks = server.ctl(&["--json", "notify", "webhook", "list"]).await;
    assert_eq!(hooks.ok().json()["webhooks"][0]["accounts"][0], "acme");
    server
        .ctl(&["notify", "webhook", "remove", "h1"])
        .await
        .ok();
    server
        .ctl(&["notify", "webhook", "add", "h2", "ftp://x"])
        .await
        .fails_with("url");
    let events = server
        .ctl(&["--json", "notify", "events"])
        .await
        .ok()
        .json();
    assert!(events["events"].is_array(), "{events}");

    let update = [
        "--json",
        "account",
        "update",
        "acme",
        "--tag",
        "tier=gold",
        "--unlimited-messages",
    ];
    let updated = server.ctl(&update).await.ok().json();
    assert_eq!(updated["tags"]["tier"], "gold");
    assert_eq!(updated["ledger"]["period_max"], serde_json::Value::Null);
    let disabled = server.ctl(&["--json", "account", "disable", "acme"]).await;
    assert_eq!(disabled.ok().json()["enabled"], false);
    let limited = server
        .ctl(&[
            "--json", "account", "limits", "acme", "--tps", "10", "--period", "month",
        ])
        .await
        .ok()
        .json();
    assert_eq!(limited["limits"]["tps"], 10);
    assert_eq!(limited["limits"]["period"], "month");
    // The edits kept the password.
    let phc = server.control.state.lock().unwrap().accounts["acme"]
        .spec
        .password_hash
        .clone();
    assert!(admin::password::verify_password("pw", &phc));

    let child = [
        "account",
        "create",
        "kid",
        "--password",
        "pw",
        "--parent",
        "acme",
    ];
    server
        .ctl(&[&child[..], &["--tag", "tier=gold"]].concat())
        .await
        .ok();
    let usage = server.ctl(&["--json", "account", "usage", "acme"]).await;
    let rows = usage.ok().json()["rows"].clone();
    assert_eq!(rows[0]["account"], "acme");
    assert_eq!(rows[1]["account"], "kid");
    let tagged = server
        .ctl(&["account", "usage", "--tag", "tier=gold"])
        .await
        .ok();
    assert_eq!(tagged.stdout.lines().count(), 4, "{tagged:?}");
    server.stop().await;
}

/// Applies `command` to the server's state at `at_ms`, as raft would.
fn apply(server: &Server, at_ms: u64, command: tern_ledger::Command) {
    let request = tern_ledger::Request {
        at_ms,
        audit: None,
        command,
    };
    let response = server.control.state.lock().unwrap().apply(&request);
    assert_eq!(response, tern_ledger::Response::Ok);
}

fn heartbeat(server: &Server, at_ms: u64, node: u64) {
    let command = tern_ledger::Command::Heartbeat {
        node,
        shards: 20,
        receivers: None,
    };
    apply(server, at_ms, command);
}

/// Node `node` lets go of every claim moved away from it.
fn release_all(control: &support::LedgerControl, at_ms: u64, node: u64) {
    let mut state = control.state.lock().unwrap();
    let command = {
        let cluster = &state.cluster;
        let (shards, binds) = cluster.handing_off(node);
        tern_ledger::Command::Release {
            node,
            shards: shards
                .into_iter()
                .map(|s| (s, cluster.shard_owners[&s].epoch))
                .collect(),
            binds: binds
                .into_iter()
                .map(|b| {
                    let epoch = cluster.bind_owners[&b].epoch;
                    (b, epoch)
                })
                .collect(),
        }
    };
    let request = tern_ledger::Request {
        at_ms,
        audit: None,
        command,
    };
    assert_eq!(state.apply(&request), tern_ledger::Response::Ok);
}

fn wall_ms() -> u64 {
    let since = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH);
    u64::try_from(since.unwrap().as_millis()).unwrap()
}

/// Node 1 (the raft member) and node 2 (known only to the ownership map) share 20 shards
/// and the two binds of a link; draining node 1 waits for its releases, then says it is
/// safe to stop.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_drain_waits_for_the_hand_offs_and_a_dead_node_is_forgotten() {
    let server = Server::start().await;
    let t0 = wall_ms();
    let spec = tern_ledger::Spec {
        name: "carrier-a".into(),
        toml: "name = \"carrier-a\"\nurl = \"smpp://u:p@127.0.0.1:2775\"\nbinds = 2\n".into(),
        enabled: true,
    };
    apply(&server, t0, tern_ledger::Command::PutLink { spec });
    heartbeat(&server, t0, 1);
    heartbeat(&server, t0, 2);

    // Half the shards and one bind wait for node 1 to hand them to node 2.
    let status = server
        .ctl(&["--json", "cluster", "status"])
        .await
        .ok()
        .json();
    let members = status["members"].as_array().unwrap();
    assert_eq!(members.len(), 2, "{status}");
    assert_eq!(members[1]["id"], 2);
    assert_eq!(members[1]["raft"], false);
    assert_eq!(members[1]["liveness"]["alive"], true);
    assert_eq!(members[0]["shards"], 10);
    assert_eq!(members[1]["shards"], 10);
    assert_eq!(members[0]["binds"], 1);
    assert_eq!(members[1]["binds"], 1);
    let waiting = status["shards"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["from"] == 1)
        .count();
    assert_eq!(waiting, 10, "{status}");
    let text = server.ctl(&["cluster", "status"]).await.ok().stdout;
    assert!(text.contains("(not in raft)"), "{text}");
    assert!(text.contains("NODE  COUNT  SHARDS"), "{text}");
    assert!(text.contains("hand-offs waiting:"), "{text}");
    assert!(text.contains("2 ← from 1"), "{text}");
    let link = server.ctl(&["--json", "link", "show", "carrier-a"]).await;
    let binds = link.ok().json()["binds"].clone();
    assert_eq!(binds.as_array().unwrap().len(), 2, "{binds}");
    release_all(&server.control, t0, 1);

    // Draining node 1 moves everything to node 2, as hand-offs node 1 must release.
    let proposed = server
        .ctl(&["cluster", "drain", "1", "--wait", "0"])
        .await
        .ok()
        .stdout;
    assert!(
        proposed.starts_with("node 1 is not drained: it still holds 10 shards and 1 bind\n"),
        "{proposed}"
    );
    assert!(proposed.contains("node 1 to release it"), "{proposed}");
    assert!(!proposed.contains("no other live node"), "{proposed}");
    let control = server.control.clone();
    let late_release = async move {
        tokio::time::sleep(Duration::from_millis(700)).await;
        release_all(&control, wall_ms(), 1);
    };
    let drain = server.ctl(&["cluster", "drain", "1", "--wait", "20"]);
    let (drained, ()) = tokio::join!(drain, late_release);
    let drained = drained.ok();
    assert_eq!(drained.stdout, "node 1 is drained: safe to stop\n");
    assert!(server.control.state.lock().unwrap().cluster.is_drained(1));

    // Node 1 takes work again; node 2 stops heartbeating and is dead 6 s later, then
    // forgotten: its work is node 1's at once.
    server.ctl(&["cluster", "drain", "1", "--undo"]).await.ok();
    server
        .ctl(&["cluster", "forget", "2"])
        .await
        .fails_with("node 2 is alive");
    let later = wall_ms() + tern_ledger::ownership::DEAD_AFTER_MS + 1;
    heartbeat(&server, later, 1);
    apply(&server, later, tern_ledger::Command::Tick);
    server.ctl(&["cluster", "forget", "2"]).await.ok();
    let status = server
        .ctl(&["--json", "cluster", "status"])
        .await
        .ok()
        .json();
    assert_eq!(status["members"].as_array().unwrap().len(), 1, "{status}");
    assert_eq!(status["members"][0]["shards"], 20, "{status}");
    assert_eq!(status["members"][0]["binds"], 2, "{status}");
    let audit = server.ctl(&["audit", "list"]).await.ok().stdout;
    assert!(audit.contains("Drain 1 undo"), "{audit}");
    assert!(audit.contains("ForgetNode 2"), "{audit}");
    server.stop().await;
}
