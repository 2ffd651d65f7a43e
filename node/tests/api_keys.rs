#![allow(clippy::unwrap_used)]
//! API keys and callbacks of the HTTP API, made through `tern ctl` and the admin API of a
//! running node: a key is shown once, listed without its digest, accepted by the accounts
//! the replicated state makes once committed, and refused once revoked; a callback reaches
//! the account's policy and goes again when cleared.

mod common;

use std::net::{IpAddr, SocketAddr};

use common::*;
use tern_actors::accounts::{AccountPolicy, Accounts, BindRefusal};
use tern_node::admin::proto;
use tern_node::Node;
use tonic::Code;

const TOKEN: &str = "api-keys-token";

async fn ctl(admin: SocketAddr, args: &[&str]) -> common::ctl::CtlRun {
    common::ctl::ctl(admin, TOKEN, args).await
}

/// The accounts as the pipeline gets them from the node's replicated state.
fn policies(node: &Node) -> Vec<AccountPolicy> {
    node.cluster.read(tern_node::replica::policies)
}

fn policy(node: &Node, id: &str) -> AccountPolicy {
    policies(node).into_iter().find(|p| p.id == id).unwrap()
}

/// Asserts that a `tern ctl` run failed with one error line that says `what`.
#[track_caller]
fn fails_with(run: common::ctl::CtlRun, what: &str) {
    assert_eq!(run.code, Some(1), "{run:?}");
    assert_eq!(run.stderr.lines().count(), 1, "{run:?}");
    assert!(run.stderr.starts_with("error: "), "{run:?}");
    assert!(run.stderr.contains(what), "{run:?}");
}

fn with_token<T>(message: T) -> tonic::Request<T> {
    let mut request = tonic::Request::new(message);
    request
        .metadata_mut()
        .insert("authorization", format!("Bearer {TOKEN}").parse().unwrap());
    request
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_keys_and_callbacks_are_made_listed_used_and_revoked() {
    init_tracing();
    let dir = tempfile::tempdir().unwrap();
    let toml = base_toml(&dir.path().join("store"))
        + &format!("\n[admin]\nlisten = \"127.0.0.1:0\"\ntoken = \"{TOKEN}\"\n")
        + &account_toml("acme", "secret", "")
        + &account_toml("other", "secret", "");
    let node = start_node(&toml).await;
    let admin = node.endpoints.admin.unwrap();
    let local: IpAddr = "127.0.0.1".parse().unwrap();

    // Two keys with labels, each printed once with its id.
    let created = ctl(admin, &["apikey", "create", "acme", "--label", "ci"])
        .await
        .stdout_ok();
    assert!(created.contains("shown this once"), "{created}");
    let field = |text: &str, name: &str| -> String {
        text.lines()
            .find_map(|line| {
                let mut words = line.split_whitespace();
                (words.next() == Some(name)).then(|| words.next().unwrap().to_owned())
            })
            .unwrap_or_else(|| panic!("no {name} in {text}"))
    };
    let (ci_id, ci_key) = (field(&created, "id"), field(&created, "key"));
    assert_eq!(field(&created, "label"), "ci");
    assert_eq!(
        tern_actors::api_key::id_of(&ci_key),
        Some(ci_id.as_str()),
        "{created}"
    );
    let billing = ctl(
        admin,
        &["--json", "apikey", "create", "acme", "--label", "billing"],
    )
    .await
    .json();
    let billing_id = billing["id"].as_str().unwrap().to_owned();
    let billing_key = billing["key"].as_str().unwrap().to_owned();
    assert_eq!(billing["account"], "acme");

    // Listed with their labels, never with the key or its digest.
    let listed = ctl(admin, &["apikey", "list", "--account", "acme"])
        .await
        .stdout_ok();
    let rows: Vec<Vec<&str>> = listed
        .lines()
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(rows[0], ["ID", "ACCOUNT", "CREATED", "LABEL"], "{listed}");
    assert_eq!(rows.len(), 3, "{listed}");
    for (id, label) in [(&ci_id, "ci"), (&billing_id, "billing")] {
        assert!(
            rows.iter()
                .any(|r| r[0] == id && r[1] == "acme" && r[3] == label),
            "{listed}"
        );
    }
    let json = ctl(admin, &["--json", "apikey", "list"]).await.json();
    assert_eq!(json["keys"].as_array().unwrap().len(), 2, "{json}");
    for text in [listed.as_str(), &json.to_string()] {
        assert!(
            !text.contains("sha256") && !text.contains(&ci_key) && !text.contains(&billing_key),
            "{text}"
        );
    }
    let shown = ctl(admin, &["--json", "account", "show", "acme"])
        .await
        .json();
    assert_eq!(shown["api_keys"], 2);
    // The state holds the digests; the audit trail names the keys by id only.
    let audit = ctl(admin, &["audit", "list"]).await.stdout_ok();
    assert!(audit.contains(&format!("CreateApiKey {ci_id}")), "{audit}");
    assert!(
        !audit.contains(&ci_key) && !audit.contains("sha256"),
        "{audit}"
    );

    // Committed, the keys authenticate their account.
    let accounts = Accounts::new(policies(&node));
    assert_eq!(
        accounts.authenticate_key(&ci_key, local).unwrap().id,
        "acme"
    );
    assert_eq!(
        accounts.authenticate_key(&billing_key, local).unwrap().id,
        "acme"
    );
    assert_eq!(policy(&node, "acme").api_keys.len(), 2);
    assert!(policy(&node, "other").api_keys.is_empty());

    // Revoked, the key is refused; the other one stays.
    ctl(admin, &["apikey", "revoke", &ci_id]).await.stdout_ok();
    accounts.replace(policies(&node));
    assert_eq!(
        accounts.authenticate_key(&ci_key, local).err(),
        Some(BindRefusal::UnknownAccount)
    );
    assert_eq!(
        accounts.authenticate_key(&billing_key, local).unwrap().id,
        "acme"
    );
    let listed = ctl(admin, &["--json", "apikey", "list", "--account", "acme"])
        .await
        .json();
    assert_eq!(listed["keys"].as_array().unwrap().len(), 1, "{listed}");
    fails_with(
        ctl(admin, &["apikey", "revoke", &ci_id]).await,
        &format!("API key {ci_id} not found"),
    );

    // Refusals of the admin API and the state machine, as the existing RPCs map them.
    let mut client = proto::admin_client::AdminClient::connect(format!("http://{admin}"))
        .await
        .unwrap();
    let request = proto::CreateApiKeyRequest {
        account: "nobody".into(),
        label: "x".into(),
    };
    let status = client
        .create_api_key(with_token(request))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::NotFound, "{status:?}");
    let request = proto::CreateApiKeyRequest {
        account: "acme".into(),
        label: "x".repeat(65),
    };
    let status = client
        .create_api_key(with_token(request))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
    let request = proto::ListApiKeysRequest {
        account: "nobody".into(),
    };
    let status = client.list_api_keys(with_token(request)).await.unwrap_err();
    assert_eq!(status.code(), Code::NotFound, "{status:?}");

    // A callback with a secret the server makes, printed once; the policy has both.
    let set = ctl(
        admin,
        &[
            "account",
            "callback",
            "acme",
            "--url",
            "https://hooks.example.com/tern",
        ],
    )
    .await
    .stdout_ok();
    let secret = field(&set, "secret");
    assert_eq!(secret.len(), 64, "{set}");
    assert!(set.contains("shown this once"), "{set}");
    let callback = policy(&node, "acme").callback.unwrap();
    assert_eq!(callback.url, "https://hooks.example.com/tern");
    assert_eq!(callback.secret, secret);
    let shown = ctl(admin, &["account", "show", "acme"]).await.stdout_ok();
    assert!(
        shown
            .lines()
            .any(|l| l.split_whitespace().collect::<Vec<_>>()
                == ["callback", "https://hooks.example.com/tern"]),
        "{shown}"
    );
    assert!(!shown.contains(&secret), "{shown}");

    // A secret of the caller's is not printed back, nor a password in the URL, which the
    // policy keeps to post with; a bad URL is refused.
    let given = "a-secret-of-our-own";
    let set = ctl(
        admin,
        &[
            "account",
            "callback",
            "acme",
            "--url",
            "http://hook:hookpw@10.0.0.1:8080/mo",
            "--secret",
            given,
        ],
    )
    .await
    .stdout_ok();
    assert!(!set.contains(given) && !set.contains("hookpw"), "{set}");
    assert!(set.contains("http://hook:***@10.0.0.1:8080/mo"), "{set}");
    let callback = policy(&node, "acme").callback.unwrap();
    assert_eq!(callback.secret, given);
    assert_eq!(callback.url, "http://hook:hookpw@10.0.0.1:8080/mo");
    for args in [&["account", "show", "acme"][..], &["audit", "list"]] {
        let text = ctl(admin, args).await.stdout_ok();
        assert!(!text.contains("hookpw") && !text.contains(given), "{text}");
    }
    let ftp = ["account", "callback", "acme", "--url", "ftp://example.com/"];
    fails_with(ctl(admin, &ftp).await, "http:// or https://");
    let short = [
        "account",
        "callback",
        "acme",
        "--url",
        "https://example.com/",
        "--secret",
        "short",
    ];
    fails_with(ctl(admin, &short).await, "16 to 256");

    // Cleared, the policy has none.
    let cleared = ctl(admin, &["account", "callback", "acme", "--clear"])
        .await
        .stdout_ok();
    assert!(cleared.contains("cleared"), "{cleared}");
    assert!(policy(&node, "acme").callback.is_none());
    let shown = ctl(admin, &["--json", "account", "show", "acme"])
        .await
        .json();
    assert!(
        shown.get("callback_url").is_none_or(|v| v.is_null()),
        "{shown}"
    );

    node.shutdown().await;
}
