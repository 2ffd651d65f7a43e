//! openraft's storage suite on our log store and state machine, each test on a fresh
//! directory.

#![allow(clippy::unwrap_used)]

use openraft::testing::{StoreBuilder, Suite};
use tern_cluster::log_store::LogStore;
use tern_cluster::state_machine::StateMachine;
use tern_cluster::types::{StorageError, TypeConfig};

struct Builder;

impl StoreBuilder<TypeConfig, LogStore, StateMachine, tempfile::TempDir> for Builder {
    async fn build(&self) -> Result<(tempfile::TempDir, LogStore, StateMachine), StorageError> {
        let dir = tempfile::tempdir().unwrap();
        let (log, state_machine) = tern_cluster::open_storage(dir.path()).await.unwrap();
        Ok((dir, log, state_machine))
    }
}

#[test]
fn openraft_storage_suite_passes() {
    Suite::test_all(Builder).unwrap();
}
