#![allow(clippy::unwrap_used)]
//! The fault proxy on real sockets: an echo server (or a listener the test holds) behind
//! it, a client in front, and each fault seen from the parties' side.

use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tern_chaos::proxy::{Direction, Fault, Proxy};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::{timeout, Instant};

/// No test runs longer than this.
const LIMIT: Duration = Duration::from_secs(30);
/// How long "nothing arrives" is watched for.
const QUIET: Duration = Duration::from_millis(500);
const SEED: u64 = 7;

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// An echo server on a kernel-picked port; it runs until the test's runtime ends.
async fn echo_server() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                let (mut read, mut write) = stream.split();
                let _ = tokio::io::copy(&mut read, &mut write).await;
            });
        }
    });
    addr
}

/// A proxy in front of an echo server.
async fn echo_proxy() -> Proxy {
    Proxy::start("test", echo_server().await, SEED)
        .await
        .unwrap()
}

/// Writes `message` and reads the same number of bytes back.
async fn round_trip(client: &mut TcpStream, message: &[u8]) -> Vec<u8> {
    client.write_all(message).await.unwrap();
    let mut back = vec![0; message.len()];
    client.read_exact(&mut back).await.unwrap();
    back
}

/// Reads until the stream fails or ends; what arrived and how it ended.
async fn read_to_end(client: &mut TcpStream) -> (usize, io::Result<()>) {
    let mut total = 0;
    let mut buf = [0; 4096];
    loop {
        match client.read(&mut buf).await {
            Ok(0) => return (total, Ok(())),
            Ok(n) => total += n,
            Err(error) => return (total, Err(error)),
        }
    }
}

fn assert_reset(ended: io::Result<()>) {
    match ended {
        Err(error) => assert_eq!(error.kind(), io::ErrorKind::ConnectionReset, "{error}"),
        Ok(()) => panic!("the connection ended with a FIN, not an RST"),
    }
}

/// Nothing can be read within [`QUIET`].
async fn assert_silent(stream: &mut TcpStream) {
    let mut buf = [0; 64];
    let read = timeout(QUIET, stream.read(&mut buf)).await;
    assert!(read.is_err(), "expected silence, read {read:?}");
}

fn upstream_fault(direction: Direction) -> Fault {
    Fault {
        to_upstream: direction,
        ..Fault::default()
    }
}

fn client_fault(direction: Direction) -> Fault {
    Fault {
        to_client: direction,
        ..Fault::default()
    }
}

#[tokio::test]
async fn clean_proxy_passes_bytes_through_both_ways() {
    timeout(LIMIT, async {
        let proxy = echo_proxy().await;
        let mut client = TcpStream::connect(proxy.addr()).await.unwrap();
        assert_eq!(round_trip(&mut client, b"hello").await, b"hello");
        let big: Vec<u8> = (0..3_000_000u32).map(|i| i as u8).collect();
        let (mut read, mut write) = client.split();
        let (written, back) = tokio::join!(write.write_all(&big), async {
            let mut back = vec![0; big.len()];
            read.read_exact(&mut back).await.unwrap();
            back
        });
        written.unwrap();
        assert!(back == big, "the echo differs from what was sent");
        let stats = proxy.stats();
        assert_eq!(stats.accepted, 1);
        assert_eq!(stats.open, 1);
        assert_eq!(stats.bytes_to_upstream, 5 + 3_000_000);
        assert_eq!(stats.bytes_to_client, 5 + 3_000_000);
        assert_eq!(stats.resets, 0);
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn latency_delays_each_direction() {
    timeout(LIMIT, async {
        let proxy = echo_proxy().await;
        let mut client = TcpStream::connect(proxy.addr()).await.unwrap();
        round_trip(&mut client, b"warm").await;
        let slow = Direction {
            latency: ms(150),
            ..Direction::default()
        };
        proxy.set(Fault {
            to_upstream: slow.clone(),
            to_client: slow,
            ..Fault::default()
        });
        let started = Instant::now();
        assert_eq!(round_trip(&mut client, b"ping").await, b"ping");
        assert!(started.elapsed() >= ms(300), "{:?}", started.elapsed());
        proxy.clear();
        let started = Instant::now();
        round_trip(&mut client, b"ping").await;
        assert!(started.elapsed() < ms(150), "{:?}", started.elapsed());
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn jitter_keeps_the_order() {
    timeout(LIMIT, async {
        let proxy = echo_proxy().await;
        proxy.set(upstream_fault(Direction {
            latency: ms(10),
            jitter: ms(40),
            ..Direction::default()
        }));
        let mut client = TcpStream::connect(proxy.addr()).await.unwrap();
        client.set_nodelay(true).unwrap();
        let mut sent = Vec::new();
        for i in 0..100u8 {
            client.write_all(&[i]).await.unwrap();
            sent.push(i);
            tokio::time::sleep(ms(2)).await;
        }
        let mut back = vec![0; sent.len()];
        client.read_exact(&mut back).await.unwrap();
        assert_eq!(back, sent);
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn drop_after_resets_the_connection_after_that_many_bytes() {
    timeout(LIMIT, async {
        let proxy = echo_proxy().await;
        let mut client = TcpStream::connect(proxy.addr()).await.unwrap();
        round_trip(&mut client, b"before").await;
        proxy.set(client_fault(Direction {
            drop_after: Some(10),
            ..Direction::default()
        }));
        client.write_all(&[1; 100]).await.unwrap();
        let (received, ended) = read_to_end(&mut client).await;
        assert!(received <= 10, "{received} bytes arrived past the limit");
        assert_reset(ended);
        assert_eq!(proxy.stats().resets, 1);
        // The limit applies to each connection anew.
        let mut next = TcpStream::connect(proxy.addr()).await.unwrap();
        assert_eq!(round_trip(&mut next, b"0123456789").await, b"0123456789");
        next.write_all(b"x").await.unwrap();
        assert_reset(read_to_end(&mut next).await.1);
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn reset_all_resets_every_open_connection() {
    timeout(LIMIT, async {
        let proxy = echo_proxy().await;
        let mut first = TcpStream::connect(proxy.addr()).await.unwrap();
        let mut second = TcpStream::connect(proxy.addr()).await.unwrap();
        round_trip(&mut first, b"one").await;
        round_trip(&mut second, b"two").await;
        proxy.reset_all();
        assert_reset(read_to_end(&mut first).await.1);
        assert_reset(read_to_end(&mut second).await.1);
        // New connections after it pass.
        let mut third = TcpStream::connect(proxy.addr()).await.unwrap();
        assert_eq!(round_trip(&mut third, b"three").await, b"three");
        let stats = proxy.stats();
        assert_eq!(stats.resets, 2);
        assert_eq!(stats.open, 1);
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn refuse_resets_new_connections_and_spares_open_ones() {
    timeout(LIMIT, async {
        let proxy = echo_proxy().await;
        let mut open = TcpStream::connect(proxy.addr()).await.unwrap();
        round_trip(&mut open, b"open").await;
        proxy.set(Fault {
            refuse: true,
            ..Fault::default()
        });
        let mut refused = TcpStream::connect(proxy.addr()).await.unwrap();
        assert_reset(read_to_end(&mut refused).await.1);
        assert_eq!(round_trip(&mut open, b"still").await, b"still");
        assert_eq!(proxy.stats().refused, 1);
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn blackhole_holds_bytes_until_it_lifts() {
    timeout(LIMIT, async {
        let proxy = echo_proxy().await;
        let mut open = TcpStream::connect(proxy.addr()).await.unwrap();
        round_trip(&mut open, b"open").await;
        proxy.set(Fault {
            blackhole: true,
            ..Fault::default()
        });
        // An open connection: its write succeeds, no answer comes, it stays open.
        open.write_all(b"held").await.unwrap();
        assert_silent(&mut open).await;
        // A new one is accepted and goes nowhere.
        let mut new = TcpStream::connect(proxy.addr()).await.unwrap();
        new.write_all(b"new").await.unwrap();
        assert_silent(&mut new).await;
        assert_eq!(proxy.stats().open, 2);
        proxy.clear();
        let mut back = [0; 4];
        open.read_exact(&mut back).await.unwrap();
        assert_eq!(&back, b"held");
        let mut back = [0; 3];
        new.read_exact(&mut back).await.unwrap();
        assert_eq!(&back, b"new");
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn stall_loses_one_direction_and_spares_the_other() {
    timeout(LIMIT, async {
        // The test holds the upstream end itself, to write from there.
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let proxy = Proxy::start("test", listener.local_addr().unwrap(), SEED)
            .await
            .unwrap();
        let mut client = TcpStream::connect(proxy.addr()).await.unwrap();
        let (mut server, _) = listener.accept().await.unwrap();
        proxy.set(upstream_fault(Direction {
            stall: true,
            ..Direction::default()
        }));
        client.write_all(b"lost").await.unwrap();
        assert_silent(&mut server).await;
        server.write_all(b"arrives").await.unwrap();
        let mut back = [0; 7];
        client.read_exact(&mut back).await.unwrap();
        assert_eq!(&back, b"arrives");
        // Cleared: what was sent during the stall stays lost, what follows arrives.
        proxy.clear();
        client.write_all(b"after").await.unwrap();
        let mut back = [0; 5];
        server.read_exact(&mut back).await.unwrap();
        assert_eq!(&back, b"after");
        assert_eq!(proxy.stats().bytes_discarded, 4);
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn zero_bandwidth_blocks_the_senders_writes_until_cleared() {
    const TOTAL: usize = 32 * 1024 * 1024;
    timeout(LIMIT, async {
        let proxy = echo_proxy().await;
        proxy.set(upstream_fault(Direction {
            bandwidth: Some(0),
            ..Direction::default()
        }));
        let client = TcpStream::connect(proxy.addr()).await.unwrap();
        let (mut read, mut write) = client.into_split();
        let echoed = Arc::new(AtomicU64::new(0));
        let reader = {
            let echoed = Arc::clone(&echoed);
            tokio::spawn(async move {
                let mut buf = vec![0; 64 * 1024];
                loop {
                    let n = read.read(&mut buf).await.unwrap();
                    if n == 0 {
                        break;
                    }
                    echoed.fetch_add(n as u64, Ordering::Relaxed);
                }
            })
        };
        let mut writer = tokio::spawn(async move {
            write.write_all(&vec![7; TOTAL]).await.unwrap();
            write.shutdown().await.unwrap();
        });
        assert!(
            timeout(Duration::from_secs(1), &mut writer).await.is_err(),
            "a write of {TOTAL} bytes went through a zero window"
        );
        assert_eq!(echoed.load(Ordering::Relaxed), 0);
        proxy.clear();
        writer.await.unwrap();
        reader.await.unwrap();
        assert_eq!(echoed.load(Ordering::Relaxed), TOTAL as u64);
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn bandwidth_limits_the_rate() {
    const TOTAL: usize = 200_000;
    timeout(LIMIT, async {
        let proxy = echo_proxy().await;
        proxy.set(upstream_fault(Direction {
            bandwidth: Some(100_000),
            ..Direction::default()
        }));
        let mut client = TcpStream::connect(proxy.addr()).await.unwrap();
        let started = Instant::now();
        let message = vec![3; TOTAL];
        let (mut read, mut write) = client.split();
        let (written, back) = tokio::join!(write.write_all(&message), async {
            let mut back = vec![0; TOTAL];
            read.read_exact(&mut back).await.unwrap();
            back
        });
        written.unwrap();
        assert_eq!(back, message);
        // 2 s at 100 kB/s, less the first read that is not paced.
        let elapsed = started.elapsed();
        assert!(elapsed >= ms(1800), "{TOTAL} bytes in {elapsed:?}");
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn dropping_the_proxy_closes_its_connections() {
    timeout(LIMIT, async {
        let proxy = echo_proxy().await;
        let mut client = TcpStream::connect(proxy.addr()).await.unwrap();
        round_trip(&mut client, b"hi").await;
        let addr = proxy.addr();
        drop(proxy);
        // A FIN or an RST; what matters is that the read ends.
        let _ = read_to_end(&mut client).await;
        assert!(TcpStream::connect(addr).await.is_err());
    })
    .await
    .unwrap();
}
