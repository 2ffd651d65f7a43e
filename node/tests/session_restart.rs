//! A bind that comes after the session supervisor restarted reaches the new one: the SMPP
//! front end holds the supervisor's slot, not a ref copied once.
#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::time::Duration;

use tern_actors::{Pipeline, PipelineConfig, Settings};
use tern_smpp::gateway::SmppFrontend;
use tern_storage::{EmbeddedConfig, EmbeddedStore};

fn pipeline_config(accounts: Vec<tern_actors::accounts::AccountPolicy>) -> PipelineConfig {
    PipelineConfig {
        settings: Settings {
            shards: 1,
            ..Settings::default()
        },
        accounts,
        routes: Vec::new(),
        links: Vec::new(),
        mo_rules: Vec::new(),
        ledger: Arc::new(tern_actors::quota::LocalLedger::default()),
        membership: None,
    }
}

fn account(id: &str, password: &str) -> tern_actors::accounts::AccountPolicy {
    tern_actors::accounts::AccountPolicy {
        id: id.into(),
        credential: tern_actors::accounts::Credential::Plain(password.into()),
        enabled: true,
        max_binds: 4,
        allowed_ips: Vec::new(),
        transliterate: false,
        sender_ids: Vec::new(),
        tps: None,
        secrets: Default::default(),
        api_keys: Vec::new(),
        callback: None,
    }
}

/// The bound sessions the session supervisor knows, asked with a bound wait.
async fn bound_sessions(pipeline: &Pipeline) -> usize {
    let Some(sessions) = pipeline.handle().sessions() else {
        return 0;
    };
    ractor::call_t!(
        sessions,
        tern_actors::session::SessionSupervisorMsg::List,
        2_000
    )
    .map_or(0, |list| list.len())
}

#[tokio::test]
async fn a_bind_after_the_session_supervisor_restarts_gets_a_session() {
    use tern_smpp::net::{ClientConfig, ClientEvent, ServerConfig};

    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(EmbeddedStore::open(dir.path(), EmbeddedConfig::default()).unwrap());
    let pipeline = Pipeline::start(store, pipeline_config(vec![account("acme", "secret")]))
        .await
        .unwrap();
    // The front end is taken once, as the node does, before the supervisor restarts.
    let frontend = Arc::new(SmppFrontend {
        sessions: pipeline.sessions().unwrap(),
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let shutdown = tokio_util::sync::CancellationToken::new();
    let tracker = tokio_util::task::TaskTracker::new();
    tokio::spawn(tern_smpp::net::serve(
        listener,
        None,
        Arc::new(ServerConfig::default()),
        frontend,
        shutdown.clone(),
        tracker.clone(),
    ));

    let before = pipeline.handle().sessions().unwrap();
    before.kill();
    let mut restarted = false;
    for _ in 0..200 {
        if pipeline
            .handle()
            .sessions()
            .is_some_and(|s| s.get_id() != before.get_id())
        {
            restarted = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert!(restarted, "the session supervisor was not restarted");

    let mut config = ClientConfig::new("esme", "127.0.0.1", port);
    config.system_id = "acme".into();
    config.password = "secret".into();
    let (_client, mut events) = tern_smpp::net::Client::start(config, shutdown.clone(), &tracker);
    let up = tokio::time::timeout(Duration::from_secs(5), async {
        while let Some(event) = events.recv().await {
            if matches!(event, ClientEvent::Up { .. }) {
                return true;
            }
        }
        false
    })
    .await;
    assert_eq!(up, Ok(true), "the bind did not succeed");
    let mut sessions = 0;
    for _ in 0..200 {
        sessions = bound_sessions(&pipeline).await;
        if sessions == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert_eq!(sessions, 1, "the bind reached no session supervisor");
    shutdown.cancel();
    pipeline.stop().await;
}
