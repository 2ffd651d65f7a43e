//! The CQL store's schema migrations against a real database (`TERN_CQL`): run again they
//! change nothing, several nodes starting at once on a fresh keyspace agree, a node waits
//! out a dead node's lock, a keyspace of an earlier version is brought up to date, and a
//! keyspace migrated by a newer build is refused.
#![allow(clippy::unwrap_used)]

mod cql_support;

use std::time::{Duration, Instant};

use cql_support::Keyspace;
use tern_storage::cql::SCHEMA_VERSION;
use tern_storage::{Claim, CqlStore, MessageStore, StoreError};

const TABLES: [&str; 14] = [
    "cdr_by_account",
    "cdr_by_link",
    "charges",
    "client_refs",
    "held",
    "held_accounts",
    "idempotency",
    "messages",
    "meta",
    "pending",
    "pending_buckets",
    "receipts",
    "schema_lock",
    "schema_migrations",
];

async fn tables(ks: &Keyspace) -> Vec<String> {
    let mut names: Vec<String> = ks
        .column(&format!(
            "SELECT table_name FROM system_schema.tables WHERE keyspace_name = '{}'",
            ks.name
        ))
        .await;
    names.sort();
    names
}

/// Every version up to this build's: what a keyspace it migrated records.
fn all_versions() -> Vec<i32> {
    (1..=SCHEMA_VERSION).collect()
}

async fn versions(ks: &Keyspace) -> Vec<i32> {
    let mut versions: Vec<i32> = ks
        .column("SELECT version FROM {ks}.schema_migrations")
        .await;
    versions.sort();
    versions
}

#[tokio::test]
async fn migrations_create_every_table_once_and_run_again_harmlessly() {
    let Some(ks) = Keyspace::new("migrations_idempotent").await else {
        return;
    };
    let store = ks.store().await;
    store.close().await.unwrap();
    assert_eq!(tables(&ks).await, TABLES);
    assert_eq!(versions(&ks).await, all_versions());
    let compaction: Vec<std::collections::HashMap<String, String>> = ks
        .column(&format!(
            "SELECT compaction FROM system_schema.tables WHERE keyspace_name = '{}' \
             AND table_name = 'pending'",
            ks.name
        ))
        .await;
    assert!(compaction[0]["class"].ends_with("LeveledCompactionStrategy"));
    let grace: Vec<i32> = ks
        .column(&format!(
            "SELECT gc_grace_seconds FROM system_schema.tables WHERE keyspace_name = '{}' \
             AND table_name = 'pending'",
            ks.name
        ))
        .await;
    assert_eq!(grace, [10_800]);

    // A half-applied migration: one table gone and the version not recorded.
    ks.cql("DROP TABLE {ks}.meta").await;
    ks.cql("TRUNCATE {ks}.schema_migrations").await;
    let store = ks.store().await;
    store.close().await.unwrap();
    assert_eq!(tables(&ks).await, TABLES);
    assert_eq!(versions(&ks).await, all_versions());
    // Everything there: a third connect only reads the versions.
    let store = ks.store().await;
    store.close().await.unwrap();
    assert_eq!(versions(&ks).await, all_versions());
    ks.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nodes_connecting_together_to_a_fresh_keyspace_all_start() {
    let Some(ks) = Keyspace::new("migrations_concurrent").await else {
        return;
    };
    let connects = (0..5).map(|_| CqlStore::connect(ks.config()));
    let stores = futures::future::join_all(connects).await;
    for store in stores {
        store.unwrap().close().await.unwrap();
    }
    assert_eq!(tables(&ks).await, TABLES);
    assert_eq!(versions(&ks).await, all_versions());
    let locks: Vec<String> = ks.column("SELECT owner FROM {ks}.schema_lock").await;
    assert!(locks.is_empty(), "the lock was left behind: {locks:?}");
    ks.drop().await;
}

#[tokio::test]
async fn a_node_waits_for_a_dead_nodes_lock_to_expire_then_migrates() {
    let Some(ks) = Keyspace::new("migrations_stale_lock").await else {
        return;
    };
    ks.cql(&format!(
        "CREATE KEYSPACE {} WITH replication = {{'class': 'SimpleStrategy', \
         'replication_factor': 1}}",
        ks.name
    ))
    .await;
    ks.cql("CREATE TABLE {ks}.schema_lock (name text PRIMARY KEY, owner text)")
        .await;
    ks.cql("INSERT INTO {ks}.schema_lock (name, owner) VALUES ('migrations', 'dead') USING TTL 3")
        .await;
    let started = Instant::now();
    let store = ks.store().await;
    let waited = started.elapsed();
    store.close().await.unwrap();
    assert!(waited >= Duration::from_secs(1), "did not wait: {waited:?}");
    assert_eq!(tables(&ks).await, TABLES);
    assert_eq!(versions(&ks).await, all_versions());
    ks.drop().await;
}

/// A keyspace a build of schema version 1 made (no `idempotency` table, version 2 not
/// recorded) gets the table when a node of this build starts, and keeps what it held.
#[tokio::test]
async fn a_keyspace_of_version_1_gets_the_idempotency_table_on_start() {
    let Some(ks) = Keyspace::new("migrations_from_1").await else {
        return;
    };
    let store = ks.store().await;
    tern_storage::write_durable(
        &store,
        vec![tern_storage::WriteOp::PutMeta {
            key: "kept".into(),
            value: b"v".to_vec(),
        }],
    )
    .await
    .unwrap();
    store.close().await.unwrap();
    ks.cql("DROP TABLE {ks}.idempotency").await;
    ks.cql("DELETE FROM {ks}.schema_migrations WHERE version = 2")
        .await;
    assert_eq!(versions(&ks).await, [1]);

    let store = ks.store().await;
    assert_eq!(tables(&ks).await, TABLES);
    assert_eq!(versions(&ks).await, all_versions());
    assert_eq!(store.meta("kept").await.unwrap(), Some(b"v".to_vec()));
    let until = cql_support::now_ms() + 60_000;
    let claim = store
        .claim_idempotent("acme", "k", b"v".to_vec(), until)
        .await
        .unwrap();
    assert_eq!(claim, Claim::Claimed);
    store.close().await.unwrap();
    ks.drop().await;
}

#[tokio::test]
async fn a_keyspace_migrated_by_a_newer_build_is_refused() {
    let Some(ks) = Keyspace::new("migrations_newer").await else {
        return;
    };
    ks.store().await.close().await.unwrap();
    ks.cql(&format!(
        "INSERT INTO {{ks}}.schema_migrations (version, description) VALUES ({}, 'future')",
        SCHEMA_VERSION + 1
    ))
    .await;
    match CqlStore::connect(ks.config()).await {
        Err(StoreError::Invalid(message)) => {
            assert!(
                message.contains(&format!("schema version {}", SCHEMA_VERSION + 1)),
                "{message}"
            );
        }
        Err(e) => panic!("refused with {e:?}"),
        Ok(_) => panic!("a newer schema was accepted"),
    }
    ks.drop().await;
}

#[tokio::test]
async fn a_missing_keyspace_is_not_created_unless_asked() {
    let Some(ks) = Keyspace::new("missing_keyspace").await else {
        return;
    };
    let mut config = ks.config();
    config.create_keyspace = false;
    match CqlStore::connect(config).await {
        Err(StoreError::Invalid(message)) => {
            assert!(message.contains("store.cql.create_keyspace"), "{message}");
        }
        Err(e) => panic!("refused with {e:?}"),
        Ok(_) => panic!("connected to a keyspace that does not exist"),
    }
    let exists: Vec<String> = ks
        .column(&format!(
            "SELECT keyspace_name FROM system_schema.keyspaces WHERE keyspace_name = '{}'",
            ks.name
        ))
        .await;
    assert!(exists.is_empty());
}

#[tokio::test]
async fn nothing_listening_is_a_clear_connect_error() {
    if cql_support::contact_point("nothing_listening").is_none() {
        return;
    }
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    let mut config = cql_support::config(&format!("127.0.0.1:{port}"), "nowhere");
    config.request_timeout_ms = 1_000;
    match CqlStore::connect(config).await {
        Err(StoreError::Unavailable(message)) => {
            assert!(message.contains(&port.to_string()), "{message}");
        }
        Err(e) => panic!("refused with {e:?}"),
        Ok(_) => panic!("connected to nothing"),
    }
}
