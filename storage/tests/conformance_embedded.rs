//! The `MessageStore` conformance suite (common/conformance.rs) on the embedded backend:
//! a fresh store in its own directory per test, closed and opened again on that directory
//! for the durability test.

#[macro_use]
#[path = "common/conformance.rs"]
mod conformance;

use std::sync::Arc;

use tern_storage::{EmbeddedConfig, EmbeddedStore, MessageStore};

struct Embedded {
    dir: tempfile::TempDir,
    store: Option<Arc<EmbeddedStore>>,
}

impl Embedded {
    fn open(&mut self) {
        let store = EmbeddedStore::open(self.dir.path(), EmbeddedConfig::default())
            .expect("the embedded store opens");
        self.store = Some(Arc::new(store));
    }

    fn close(&mut self) {
        if let Some(store) = self.store.take() {
            let store = Arc::try_unwrap(store)
                .unwrap_or_else(|_| panic!("the store is still in use when closed"));
            store.close().expect("the embedded store closes");
        }
    }
}

impl conformance::Backend for Embedded {
    async fn fresh(_name: &'static str) -> Option<Self> {
        // On the disk the build uses (not a tmpfs), so that fsync is real.
        let dir = tempfile::Builder::new()
            .prefix("tern-conformance-")
            .tempdir_in(env!("CARGO_TARGET_TMPDIR"))
            .expect("a temporary directory under the target directory");
        let mut backend = Embedded { dir, store: None };
        backend.open();
        Some(backend)
    }

    fn store(&self) -> Arc<dyn MessageStore> {
        self.store.clone().expect("the store is open")
    }

    async fn reopen(&mut self) {
        self.close();
        self.open();
    }

    async fn finish(mut self) {
        self.close();
    }
}

conformance_tests!(Embedded);
