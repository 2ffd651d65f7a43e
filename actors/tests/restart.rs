//! A crashed actor is restarted by its supervisor and rebuilds its work from the store.
#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::time::Duration;

use tern_actors::{Pipeline, PipelineConfig, Settings};
use tern_model::{Address, Message, MessageId};
use tern_storage::{
    EmbeddedConfig, EmbeddedStore, MessageRecord, MessageStore, PendingEntry, RecordState, WriteOp,
};

fn record(id: u64) -> MessageRecord {
    let now = tern_actors::context::now_ms();
    MessageRecord {
        id: MessageId(id),
        part: 0,
        parts: 1,
        account: "acme".into(),
        message: Message::text(
            Address::international("4930123"),
            Address::international("4915112345678"),
            "hello",
        ),
        state: RecordState::Accepted,
        history: Vec::new(),
        attempts: 0,
        link: None,
        operator_id: None,
        error: None,
        receipt: None,
        accepted_ms: now,
        expires_ms: now + 60_000,
        wire_id: None,
        route: None,
        price: 0,
        client_ref: None,
        receipt_made_ms: None,
    }
}

async fn put_pending(store: &EmbeddedStore, id: u64) {
    let ops = vec![
        WriteOp::PutMessage(Arc::new(record(id))),
        WriteOp::AddPending(PendingEntry {
            shard: 0,
            id: MessageId(id),
            part: 0,
            due_ms: 0,
            attempts: 0,
        }),
    ];
    tern_storage::write_durable(store, ops).await.unwrap();
}

async fn wait_state(store: &EmbeddedStore, id: u64, state: RecordState) {
    for _ in 0..200 {
        if store
            .message(MessageId(id), 0)
            .await
            .unwrap()
            .is_some_and(|r| r.state == state)
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("message {id} never reached {state:?}");
}

#[tokio::test]
async fn a_killed_dispatcher_restarts_and_picks_up_pending_work() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(EmbeddedStore::open(dir.path(), EmbeddedConfig::default()).unwrap());
    // Pending before the node starts: the dispatcher finds it when it starts. With no route
    // it can only fail it, which shows it was seen.
    put_pending(&store, 1).await;
    let config = PipelineConfig {
        settings: Settings {
            shards: 1,
            ..Settings::default()
        },
        accounts: Vec::new(),
        routes: Vec::new(),
        links: Vec::new(),
        mo_rules: Vec::new(),
        ledger: Arc::new(tern_actors::quota::LocalLedger::default()),
        membership: None,
    };
    let pipeline = Pipeline::start(store.clone(), config).await.unwrap();
    wait_state(&store, 1, RecordState::Failed).await;

    let dispatcher = pipeline.ctx.refs.dispatcher(0).unwrap().get().unwrap();
    dispatcher.kill();
    // The supervisor puts a new dispatcher into the slot.
    let mut restarted = None;
    for _ in 0..200 {
        if let Some(current) = pipeline.ctx.refs.dispatcher(0).unwrap().get() {
            if current.get_id() != dispatcher.get_id() {
                restarted = Some(current);
                break;
            }
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert!(restarted.is_some(), "the dispatcher was not restarted");
    // Work that became durable after the restart is paged in too.
    put_pending(&store, 2).await;
    wait_state(&store, 2, RecordState::Failed).await;
    assert!(store.pending(0, None, 10).await.unwrap().is_empty());
    pipeline.stop().await;
}

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

#[tokio::test]
async fn the_pipeline_reports_its_end_when_the_node_supervisor_stops() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(EmbeddedStore::open(dir.path(), EmbeddedConfig::default()).unwrap());
    let pipeline = Pipeline::start(store, pipeline_config(Vec::new()))
        .await
        .unwrap();
    // Running: nothing to report.
    assert!(
        tokio::time::timeout(Duration::from_millis(200), pipeline.ended())
            .await
            .is_err()
    );
    pipeline.supervisor.kill();
    let reason = tokio::time::timeout(Duration::from_secs(5), pipeline.ended())
        .await
        .expect("the end of the pipeline was not reported");
    assert_eq!(reason, "the node supervisor stopped");
}
