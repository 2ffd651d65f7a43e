//! The `MessageStore` conformance suite (common/conformance.rs) on the CQL backend, against
//! the database at `TERN_CQL` (`scripts/cassandra start` runs one and prints the line). Each
//! test has a keyspace of its own, dropped before (what a failed run left) and after it;
//! the durability test connects a second time and reads.
//!
//! Without `TERN_CQL` the tests print that they were skipped, unless `CI` is set: there a
//! missing database is a failure, not a silent pass.

#[macro_use]
#[path = "common/conformance.rs"]
mod conformance;

use std::sync::Arc;
use std::time::Duration;

use tern_storage::cql::{CqlConfig, CqlStore};
use tern_storage::MessageStore;

struct Cql {
    contact_point: String,
    keyspace: String,
    store: Option<Arc<CqlStore>>,
}

/// The database to test against, or `None` (skip) outside CI when none is given.
fn contact_point() -> Option<String> {
    match std::env::var("TERN_CQL") {
        Ok(v) if !v.trim().is_empty() => Some(v.trim().to_owned()),
        _ if std::env::var_os("CI").is_some() => panic!(
            "TERN_CQL is not set: start Cassandra with `scripts/cassandra start` and export \
             the TERN_CQL=HOST:PORT line it prints (scripts/test does both)"
        ),
        _ => {
            println!("skipped: TERN_CQL is not set (scripts/cassandra start prints it)");
            None
        }
    }
}

/// A keyspace name per test, stable from run to run so that one a failed run left is
/// dropped by the next: the test's name, cut to fit CQL's 48 characters, and a hash of it.
fn keyspace_for(test: &str) -> String {
    let hash = test.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    });
    let head: String = test.chars().take(32).collect();
    format!("conf_{head}_{:08x}", hash as u32)
}

impl Cql {
    fn config(&self) -> CqlConfig {
        CqlConfig::from_url(&format!("cql://{}/{}", self.contact_point, self.keyspace))
            .expect("a valid CQL store URL")
    }

    async fn connect(&mut self) {
        let store =
            tokio::time::timeout(Duration::from_secs(120), CqlStore::connect(self.config()))
                .await
                .expect("the CQL store connects within 120 s")
                .expect("the CQL store connects");
        self.store = Some(Arc::new(store));
    }

    async fn disconnect(&mut self) {
        if let Some(store) = self.store.take() {
            let store = Arc::try_unwrap(store)
                .unwrap_or_else(|_| panic!("the store is still in use when closed"));
            store.close().await.expect("the CQL store closes");
        }
    }

    async fn drop_keyspace(&self) {
        let session = scylla::client::session_builder::SessionBuilder::new()
            .known_node(&self.contact_point)
            .build()
            .await
            .expect("a session to drop the test keyspace");
        session
            .query_unpaged(format!("DROP KEYSPACE IF EXISTS {}", self.keyspace), &[])
            .await
            .expect("the test keyspace is dropped");
    }
}

impl conformance::Backend for Cql {
    async fn fresh(name: &'static str) -> Option<Self> {
        let contact_point = contact_point()?;
        let mut backend = Cql {
            contact_point,
            keyspace: keyspace_for(name),
            store: None,
        };
        backend.drop_keyspace().await;
        backend.connect().await;
        Some(backend)
    }

    fn store(&self) -> Arc<dyn MessageStore> {
        self.store.clone().expect("the store is connected")
    }

    async fn reopen(&mut self) {
        self.disconnect().await;
        self.connect().await;
    }

    async fn finish(mut self) {
        self.disconnect().await;
        self.drop_keyspace().await;
    }
}

conformance_tests!(Cql);
