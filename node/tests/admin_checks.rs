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
