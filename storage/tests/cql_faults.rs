//! The CQL store when the database stops answering, against a real database (`TERN_CQL`)
//! reached through a TCP proxy in the test that can go silent (bytes swallowed: requests
//! time out) or cut every connection and refuse new ones. A write the database did not
//! confirm must be reported `Unavailable`, never `Ok`; once the database is back, writes
//! go through again.
#![allow(clippy::unwrap_used)]

mod cql_support;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Arc;
use std::time::Duration;

use cql_support::{accepted, eventually, id_at, now_ms, put, reporting, Keyspace};
use tern_storage::{CqlStore, MessageStore, StoreError, WriteOp};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

const FORWARD: u8 = 0;
const SILENT: u8 = 1;
const REFUSE: u8 = 2;

/// A TCP proxy to the database.
struct Proxy {
    addr: SocketAddr,
    mode: Arc<AtomicU8>,
    cut: tokio::sync::watch::Sender<u64>,
}

impl Proxy {
    async fn start(upstream: String) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let mode = Arc::new(AtomicU8::new(FORWARD));
        let (cut, _) = tokio::sync::watch::channel(0u64);
        let (accept_mode, accept_cut) = (Arc::clone(&mode), cut.clone());
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                if accept_mode.load(Ordering::SeqCst) == REFUSE {
                    continue;
                }
                let Ok(server) = TcpStream::connect(&upstream).await else {
                    continue;
                };
                let mode = Arc::clone(&accept_mode);
                let mut cut = accept_cut.subscribe();
                tokio::spawn(async move {
                    let (cr, cw) = client.into_split();
                    let (sr, sw) = server.into_split();
                    tokio::select! {
                        _ = pump(cr, sw, Arc::clone(&mode)) => {}
                        _ = pump(sr, cw, mode) => {}
                        _ = cut.changed() => {}
                    }
                });
            }
        });
        Self { addr, mode, cut }
    }

    fn point(&self) -> String {
        self.addr.to_string()
    }

    /// Bytes are swallowed both ways: connections stay open, nothing is answered.
    fn silence(&self) {
        self.mode.store(SILENT, Ordering::SeqCst);
    }

    /// Every connection is closed and new ones are dropped at once.
    fn cut(&self) {
        self.mode.store(REFUSE, Ordering::SeqCst);
        self.cut.send_modify(|n| *n += 1);
    }

    fn restore(&self) {
        self.mode.store(FORWARD, Ordering::SeqCst);
        // Connections silenced mid-frame cannot recover: start them afresh.
        self.cut.send_modify(|n| *n += 1);
    }
}

async fn pump(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    mode: Arc<AtomicU8>,
) {
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = match from.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        if mode.load(Ordering::SeqCst) == FORWARD && to.write_all(&buf[..n]).await.is_err() {
            return;
        }
    }
}

/// A store through a new proxy, with a short request timeout.
async fn through_proxy(ks: &Keyspace) -> (Proxy, CqlStore) {
    let proxy = Proxy::start(ks.point.clone()).await;
    let mut config = cql_support::config(&proxy.point(), &ks.name);
    config.request_timeout_ms = 1_000;
    let store = CqlStore::connect(config).await.unwrap();
    (proxy, store)
}

/// Queues `n` writes of one record each; returns their results, waiting at most 30 s.
async fn write_many(store: &CqlStore, n: u16) -> Vec<Result<(), StoreError>> {
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    for seq in 0..n {
        let record = accepted(id_at(now_ms(), seq), 0, "acme");
        store
            .write(
                vec![
                    put(&record),
                    WriteOp::AddPending(cql_support::pending(1, record.id)),
                ],
                reporting(tx.clone()),
            )
            .unwrap();
    }
    drop(tx);
    let mut results = Vec::new();
    while let Some(result) = tokio::time::timeout(Duration::from_secs(30), rx.recv())
        .await
        .expect("every write completes within 30 s")
    {
        results.push(result);
    }
    results
}

fn all_unavailable(results: &[Result<(), StoreError>]) -> bool {
    results
        .iter()
        .all(|r| matches!(r, Err(StoreError::Unavailable(_))))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_to_a_silent_database_are_reported_unavailable() {
    let Some(ks) = Keyspace::new("silent_database").await else {
        return;
    };
    let (proxy, store) = through_proxy(&ks).await;
    assert!(write_many(&store, 5).await.iter().all(Result::is_ok));
    proxy.silence();
    let results = write_many(&store, 20).await;
    assert_eq!(results.len(), 20);
    assert!(all_unavailable(&results), "{results:?}");
    assert!(matches!(
        store.message(id_at(now_ms(), 1), 0).await,
        Err(StoreError::Unavailable(_))
    ));
    assert!(store.stats().failed_writes >= 20);
    proxy.restore();
    let back = eventually(Duration::from_secs(30), || async {
        write_many(&store, 1).await.iter().all(Result::is_ok)
    })
    .await;
    assert!(
        back,
        "writes did not go through once the database answered again"
    );
    store.close().await.unwrap();
    ks.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_when_the_connections_are_cut_are_reported_unavailable() {
    let Some(ks) = Keyspace::new("cut_database").await else {
        return;
    };
    let (proxy, store) = through_proxy(&ks).await;
    assert!(write_many(&store, 5).await.iter().all(Result::is_ok));
    proxy.cut();
    let results = write_many(&store, 20).await;
    assert_eq!(results.len(), 20);
    assert!(all_unavailable(&results), "{results:?}");
    // An empty write queued behind them is still a barrier that completes.
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    store.write(Vec::new(), reporting(tx)).unwrap();
    assert!(rx.recv().await.unwrap().is_ok());
    proxy.restore();
    let back = eventually(Duration::from_secs(30), || async {
        write_many(&store, 1).await.iter().all(Result::is_ok)
    })
    .await;
    assert!(
        back,
        "writes did not go through once the database was reachable again"
    );
    store.close().await.unwrap();
    ks.drop().await;
}
