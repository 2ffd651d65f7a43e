//! Helpers shared by the store's integration tests.
#![allow(dead_code)]

use std::path::Path;
use std::sync::{mpsc, OnceLock};
use std::time::Duration;

use tern_model::{Address, DeliveryReport, Message, MessageId, MessageState};
use tern_storage::{
    EmbeddedConfig, EmbeddedStore, HeldDelivery, HeldKind, MessageRecord, MessageStore,
    PendingEntry, RecordState, StoreError, StoreFuture, Transition, WriteOp,
};

/// Waits for a read from a test that is not async itself. The store runs reads on tokio's
/// blocking pool, so they need a runtime: one shared by every test of the binary.
pub trait Wait<T> {
    fn wait(self) -> Result<T, StoreError>;
}

impl<T> Wait<T> for StoreFuture<'_, T> {
    fn wait(self) -> Result<T, StoreError> {
        static RUNTIME: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
        RUNTIME
            .get_or_init(|| {
                tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(1)
                    .build()
                    .expect("a runtime for the tests' reads")
            })
            .block_on(self)
    }
}

/// A temporary directory on the disk the build uses (not a tmpfs), so fsync is real.
pub fn temp_dir() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("tern-store-")
        .tempdir_in(env!("CARGO_TARGET_TMPDIR"))
        .expect("a temporary directory under the target directory")
}

pub fn open(dir: &Path) -> EmbeddedStore {
    EmbeddedStore::open(dir, EmbeddedConfig::default()).expect("the store opens")
}

/// Writes a batch and waits for its completion.
pub fn write(store: &impl MessageStore, ops: Vec<WriteOp>) -> Result<(), StoreError> {
    let (tx, rx) = mpsc::channel();
    store.write(
        ops,
        Box::new(move |result| {
            let _ = tx.send(result);
        }),
    )?;
    rx.recv_timeout(Duration::from_secs(30))
        .expect("completion within 30 s")
}

pub fn record(id: u64, part: u8, account: &str, accepted_ms: u64) -> MessageRecord {
    let mut message = Message::text(
        Address::international("4915112345678"),
        Address::international("447700900123"),
        "Your verification code is 493021. It expires in 10 minutes. Do not share it.",
    );
    message.id = Some(MessageId(id));
    message.service_type = "CMT".into();
    MessageRecord {
        id: MessageId(id),
        part,
        parts: part + 1,
        account: account.into(),
        message,
        state: RecordState::Accepted,
        history: vec![Transition {
            state: RecordState::Accepted,
            at_ms: accepted_ms,
            detail: "smpp bind acme-1".into(),
        }],
        attempts: 0,
        link: None,
        operator_id: None,
        error: None,
        receipt: None,
        accepted_ms,
        expires_ms: accepted_ms + 86_400_000,
        wire_id: None,
        route: Some("de-mobile".into()),
        price: 7,
        client_ref: None,
        receipt_made_ms: None,
    }
}

pub fn put(record: MessageRecord) -> WriteOp {
    WriteOp::PutMessage(std::sync::Arc::new(record))
}

pub fn pending(shard: u16, id: u64, part: u8) -> PendingEntry {
    PendingEntry {
        attempts: 0,
        shard,
        id: MessageId(id),
        part,
        due_ms: 0,
    }
}

pub fn held(account: &str, key: u64) -> HeldDelivery {
    let message = Message::text(
        Address::international("447700900123"),
        Address::international("4915112345678"),
        "receipt",
    );
    HeldDelivery {
        account: account.into(),
        key,
        kind: HeldKind::Receipt,
        message,
        report: Some(DeliveryReport {
            message_id: key.to_string(),
            state: MessageState::Delivered,
            submitted: 1,
            delivered: 1,
            submit_unix: Some(1_700_000_000),
            done_unix: Some(1_700_000_060),
            error: 0,
            text: "Your verifica".into(),
        }),
        held_ms: 1_700_000_000_000,
        expires_ms: 1_700_086_400_000,
    }
}
