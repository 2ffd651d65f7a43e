#![allow(clippy::unwrap_used)]
//! What the admin API refuses and what it never shows: the real tonic server on
//! 127.0.0.1:0 in front of a ledger `State` behind a mutex, driven by the real `tern ctl`
//! binary and by the generated client.

use tern_node::admin;

#[path = "admin_api/support.rs"]
mod support;

use admin::proto;
use support::{with_token, Server};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn link_and_webhook_passwords_are_never_shown() {
    let server = Server::start().await;
    let dir = tempfile::tempdir().unwrap();
    let link = dir.path().join("link.toml");
    std::fs::write(
        &link,
        "# carrier A\nname = \"carrier-a\"\nurl = \"smpp://tern:hunter2@127.0.0.1:2775\"\n",
    )
    .unwrap();
    let link = link.to_str().unwrap();
    let put = server.ctl(&["link", "put", "--file", link]).await.ok();
    assert!(!put.stdout.contains("hunter2"), "{put:?}");
    assert!(
        put.stdout
            .contains("url = \"smpp://tern:***@127.0.0.1:2775\""),
        "{put:?}"
    );
    let listed = server.ctl(&["--json", "link", "list"]).await.ok();
    assert!(!listed.stdout.contains("hunter2"), "{listed:?}");
    assert!(listed.stdout.contains("smpp://tern:***@127.0.0.1:2775"));
    let disabled = server.ctl(&["link", "disable", "carrier-a"]).await.ok();
    assert!(!disabled.stdout.contains("hunter2"), "{disabled:?}");

    let mut client = server.client().await;
    let links = client
        .list_links(with_token(proto::Empty {}))
        .await
        .unwrap()
        .into_inner();
    assert!(links.links.iter().all(|l| !l.toml.contains("hunter2")));

    server
        .ctl(&[
            "notify",
            "webhook",
            "add",
            "ops",
            "https://hook:t0ken@example.net/events",
        ])
        .await
        .ok();
    let hooks = server.ctl(&["notify", "webhook", "list"]).await.ok();
    assert!(!hooks.stdout.contains("t0ken"), "{hooks:?}");
    assert!(hooks.stdout.contains("https://hook:***@example.net/events"));
    let audit = server.ctl(&["--json", "audit", "list"]).await.ok();
    assert!(!audit.stdout.contains("t0ken"), "{audit:?}");
    assert!(!audit.stdout.contains("hunter2"), "{audit:?}");

    // The state keeps what the link and the webhook need.
    {
        let state = server.control.state.lock().unwrap();
        assert!(state.links["carrier-a"].toml.contains("hunter2"));
        assert!(state.webhooks["ops"].url.contains("t0ken"));
    }
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_link_in_use_is_not_deleted_and_routes_show_their_links() {
    let server = Server::start().await;
    let dir = tempfile::tempdir().unwrap();
    let file = |name: &str, text: &str| {
        let path = dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        path.to_str().unwrap().to_owned()
    };
    let link = file(
        "link.toml",
        "name = \"carrier-a\"\nurl = \"smpp://u:p@127.0.0.1:2775\"\n",
    );
    server.ctl(&["link", "put", "--file", &link]).await.ok();
    let route = file(
        "de.toml",
        "name = \"de\"\nprefixes = [\"49\", \"43\"]\ngroups = [{ links = [\"carrier-a:2\"] }, { links = [\"carrier-b\"] }]\n",
    );
    server.ctl(&["route", "put", "--file", &route]).await.ok();

    server
        .ctl(&["link", "delete", "carrier-a"])
        .await
        .fails_with("link carrier-a is used by route de");
    assert!(server
        .control
        .state
        .lock()
        .unwrap()
        .links
        .contains_key("carrier-a"));

    // carrier-b was never stored: the route cannot use it, and says so.
    let list = server.ctl(&["route", "list"]).await.ok();
    let row: Vec<&str> = list.stdout.lines().nth(1).unwrap().split("  ").collect();
    let row: Vec<&str> = row
        .into_iter()
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .collect();
    assert_eq!(
        row,
        ["de", "yes", "49, 43", "carrier-a:2, carrier-b (missing)"],
        "{list:?}"
    );
    let json = server.ctl(&["--json", "route", "list"]).await.ok().json();
    assert_eq!(
        json["specs"][0]["missing_links"],
        serde_json::json!(["carrier-b"])
    );

    // Once no route uses it, the link goes.
    server.ctl(&["route", "delete", "de"]).await.ok();
    server.ctl(&["link", "delete", "carrier-a"]).await.ok();
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changes_that_cannot_be_meant_are_refused_with_what_is_wrong() {
    let server = Server::start().await;
    server
        .ctl(&["cluster", "add-learner", "3", "notanaddr"])
        .await
        .fails_with("addr: \"notanaddr\" is not HOST:PORT");
    server
        .ctl(&["cluster", "add-learner", "3", "10.0.0.3:0"])
        .await
        .fails_with("is not HOST:PORT");
    server
        .ctl(&["cluster", "remove", "5"])
        .await
        .fails_with("node 5 is not a member of the cluster (members: 1)");
    assert!(server.control.membership.lock().unwrap().is_empty());

    server
        .ctl(&[
            "account",
            "create",
            "acme",
            "--password",
            "pw",
            "--max-binds",
            "0",
        ])
        .await
        .fails_with("max_binds: 0");
    server
        .ctl(&["account", "create", "acme", "--password", "pw"])
        .await
        .ok();
    server
        .ctl(&["account", "update", "acme", "--max-binds", "0"])
        .await
        .fails_with("max_binds: 0 would refuse every bind");
    assert_eq!(
        server.control.state.lock().unwrap().accounts["acme"]
            .spec
            .max_binds,
        4
    );

    server
        .ctl(&["price", "set", "5", "--account", "nobody"])
        .await
        .fails_with("prices[0].account: no account \"nobody\"");
    server
        .ctl(&["price", "set", "5", "--route", "nowhere"])
        .await
        .fails_with("prices[0].route: no route \"nowhere\"");
    server
        .ctl(&["price", "set", "5", "--account", "acme", "--prefix", "49"])
        .await
        .ok();
    assert_eq!(server.control.state.lock().unwrap().prices.len(), 1);

    let at = "2099-01-01T00:00:00Z";
    server
        .ctl(&[
            "campaign",
            "book",
            "c0",
            "--account",
            "acme",
            "--at",
            at,
            "--parts",
            "0",
        ])
        .await
        .fails_with("parts: 0");
    server
        .ctl(&[
            "campaign",
            "book",
            "c1",
            "--account",
            "acme",
            "--at",
            at,
            "--parts",
            "10",
        ])
        .await
        .ok();
    server
        .ctl(&["campaign", "resize", "c1", "--parts", "0"])
        .await
        .fails_with("parts: 0");
    let mut client = server.client().await;
    let refused = client
        .book_campaign(with_token(proto::BookCampaignRequest {
            id: "c2".into(),
            account: "acme".into(),
            send_at_ms: 4_070_908_800_000,
            window_ms: 3_600_000,
            parts: 0,
            amount: 0,
            tolerance_pct: 0,
        }))
        .await
        .unwrap_err();
    assert_eq!(refused.code(), tonic::Code::InvalidArgument);
    assert_eq!(server.control.state.lock().unwrap().campaigns.len(), 1);
    server.stop().await;
}
