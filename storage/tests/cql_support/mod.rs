//! What the CQL store's tests share: the database from `TERN_CQL`, a keyspace of their
//! own per test (dropped at the end), records, and a completion that reports on a channel.
#![allow(dead_code, clippy::unwrap_used)]

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use scylla::client::session::Session;
use scylla::client::session_builder::SessionBuilder;
use tern_model::{Address, Message, MessageId};
use tern_storage::{
    Completion, CqlConfig, CqlStore, HeldDelivery, HeldKind, MessageRecord, MessageStore,
    PendingEntry, RecordState, StoreError, Transition, WriteOp,
};

/// The database's `host:port` from `TERN_CQL`. Unset: under CI that is a failure (the
/// tests must run there); elsewhere the test is skipped, saying so.
pub fn contact_point(test: &str) -> Option<String> {
    match std::env::var("TERN_CQL") {
        Ok(point) if !point.is_empty() => Some(point),
        _ if std::env::var_os("CI").is_some() => panic!(
            "{test}: TERN_CQL is not set; start the test database with `scripts/cassandra \
             start` and export what it prints (scripts/test does both)"
        ),
        _ => {
            eprintln!("{test}: skipped, TERN_CQL is not set (scripts/cassandra start)");
            None
        }
    }
}

/// A keyspace name no other test (or run) uses.
pub fn unique_keyspace(test: &str) -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    let short: String = test
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '_')
        .take(24)
        .collect::<String>()
        .to_lowercase();
    format!(
        "t_{short}_{:x}{:x}{}",
        std::process::id(),
        nanos,
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// Settings for a test keyspace on `point`, created by the store (one replica).
pub fn config(point: &str, keyspace: &str) -> CqlConfig {
    let mut config = CqlConfig::from_url(&format!("cql://{point}/{keyspace}")).unwrap();
    config.request_timeout_ms = 10_000;
    config
}

/// A test's keyspace: the database, the name, and a plain session to look inside it.
pub struct Keyspace {
    pub point: String,
    pub name: String,
    pub session: Session,
}

impl Keyspace {
    pub async fn new(test: &str) -> Option<Self> {
        let point = contact_point(test)?;
        let session = SessionBuilder::new()
            .known_node(&point)
            .build()
            .await
            .unwrap();
        Some(Self {
            point,
            name: unique_keyspace(test),
            session,
        })
    }

    pub fn config(&self) -> CqlConfig {
        config(&self.point, &self.name)
    }

    pub async fn store(&self) -> CqlStore {
        CqlStore::connect(self.config()).await.unwrap()
    }

    /// Runs CQL with `{ks}` standing for the keyspace.
    pub async fn cql(&self, cql: &str) {
        self.session
            .query_unpaged(cql.replace("{ks}", &self.name), ())
            .await
            .unwrap();
    }

    /// The single-column rows of a query (`{ks}` for the keyspace), as text.
    pub async fn column<T>(&self, cql: &str) -> Vec<T>
    where
        T: for<'f> scylla::deserialize::value::DeserializeValue<'f, 'f>,
    {
        let result = self
            .session
            .query_unpaged(cql.replace("{ks}", &self.name), ())
            .await
            .unwrap()
            .into_rows_result()
            .unwrap();
        result
            .rows::<(T,)>()
            .unwrap()
            .map(|row| row.unwrap().0)
            .collect()
    }

    pub async fn drop(self) {
        self.session
            .query_unpaged(format!("DROP KEYSPACE IF EXISTS {}", self.name), ())
            .await
            .unwrap();
    }
}

/// A completion that sends its result on `tx`.
pub fn reporting(tx: tokio::sync::mpsc::UnboundedSender<Result<(), StoreError>>) -> Completion {
    Box::new(move |result| {
        let _ = tx.send(result);
    })
}

/// Writes and waits for the completion.
pub async fn write(store: &impl MessageStore, ops: Vec<WriteOp>) -> Result<(), StoreError> {
    tern_storage::write_durable(store, ops).await
}

pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

/// An id made as the gateway makes them, at `unix_ms`.
pub fn id_at(unix_ms: u64, sequence: u16) -> MessageId {
    MessageId::from_parts(unix_ms - MessageId::EPOCH_UNIX_MS, 5, sequence)
}

pub fn accepted(id: MessageId, part: u8, account: &str) -> MessageRecord {
    let at = id.unix_millis();
    let mut message = Message::text(
        Address::international("4915112345678"),
        Address::international("447700900123"),
        format!("Your code is {}.", id.0 % 1_000_000),
    );
    message.id = Some(id);
    MessageRecord {
        id,
        part,
        parts: part + 1,
        account: account.into(),
        message,
        state: RecordState::Accepted,
        history: vec![Transition {
            state: RecordState::Accepted,
            at_ms: at,
            detail: "smpp bind acme-1".into(),
        }],
        attempts: 0,
        link: None,
        operator_id: None,
        error: None,
        receipt: None,
        accepted_ms: at,
        expires_ms: at + 86_400_000,
        wire_id: None,
        route: Some("de-mobile".into()),
        price: 7,
        client_ref: None,
        receipt_made_ms: None,
    }
}

pub fn with_state(
    mut record: MessageRecord,
    state: RecordState,
    link: Option<&str>,
) -> MessageRecord {
    record.state = state;
    record.link = link.map(str::to_owned);
    record.history.push(Transition {
        state,
        at_ms: record.accepted_ms + 100,
        detail: format!("{state:?}"),
    });
    record
}

pub fn put(record: &MessageRecord) -> WriteOp {
    WriteOp::PutMessage(Arc::new(record.clone()))
}

pub fn pending(shard: u16, id: MessageId) -> PendingEntry {
    PendingEntry {
        shard,
        id,
        part: 0,
        due_ms: 0,
        attempts: 0,
    }
}

pub fn held(account: &str, key: u64, expires_ms: u64) -> HeldDelivery {
    HeldDelivery {
        account: account.into(),
        key,
        kind: HeldKind::Mo,
        message: Message::text(
            Address::international("447700900123"),
            Address::international("4915112345678"),
            "hello",
        ),
        report: None,
        held_ms: now_ms(),
        expires_ms,
    }
}

/// Polls `check` every 100 ms until it holds or `within` passes.
pub async fn eventually<F, Fut>(within: Duration, mut check: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + within;
    loop {
        if check().await {
            return true;
        }
        if tokio::time::Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
