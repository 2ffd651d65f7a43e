//! Relay calls between nodes in one process: a round trip that shows the handler the
//! caller's id and kind, a handler's error coming back, calls to unknown, handler-less,
//! slow and stopped nodes ending in bounded time, a node with another secret refusing
//! relays like every other RPC, and slow or abandoned relays leaving raft's shared
//! connection usable.

#![allow(clippy::unwrap_used)]

mod common;

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use common::*;
use futures::future::BoxFuture;
use tern_cluster::{Cluster, ClusterConfig, RelayError, RelayHandler};
use tokio::time::Instant;

const TIMEOUT: Duration = Duration::from_secs(3);

fn with_secret(config: &mut ClusterConfig) {
    config.secret = Some("relay-secret".into());
    config.tick_ms = 0;
}

type Answer = BoxFuture<'static, Result<Bytes, String>>;

/// Answers postcard of `(from, kind, body)`; kind `slow` answers after a minute; kind
/// `broken` answers an error.
fn echo() -> Arc<dyn RelayHandler> {
    Arc::new(|from: u64, kind: String, body: Bytes| -> Answer {
        Box::pin(async move {
            match kind.as_str() {
                "slow" => tokio::time::sleep(Duration::from_secs(60)).await,
                "broken" => return Err(format!("cannot handle {} bytes", body.len())),
                _ => {}
            }
            let answer = postcard::to_stdvec(&(from, kind, body.to_vec())).unwrap();
            Ok(Bytes::from(answer))
        })
    })
}

fn refuse_all() -> Arc<dyn RelayHandler> {
    Arc::new(|_: u64, kind: String, _: Bytes| -> Answer {
        Box::pin(async move { Err(format!("{kind} refused here")) })
    })
}

fn decode(answer: &Bytes) -> (u64, String, Vec<u8>) {
    postcard::from_bytes(answer).unwrap()
}

/// Relays and checks that the call came back within its timeout (and a little slack).
async fn relay(
    from: &Cluster,
    target: u64,
    kind: &str,
    body: &[u8],
    timeout: Duration,
) -> Result<Bytes, RelayError> {
    let started = Instant::now();
    let answer = tokio::time::timeout(
        timeout + Duration::from_secs(1),
        from.relay(target, kind, body.to_vec(), timeout),
    )
    .await
    .expect("relay answered within its timeout");
    assert!(started.elapsed() <= timeout + Duration::from_millis(500));
    answer
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn relay_calls_reach_the_target_handler_or_fail_in_bounded_time() {
    let dir = tempfile::tempdir().unwrap();
    let nodes = start_cluster(dir.path(), 3, with_secret).await;
    nodes[0].set_relay_handler(echo());
    nodes[1].set_relay_handler(refuse_all());

    // Node 3 has no handler yet: an error answer, not a hang.
    let early = relay(&nodes[0], 3, "accepted", b"x", TIMEOUT).await;
    assert_eq!(
        early,
        Err(RelayError::Failed("no relay handler yet".into()))
    );
    nodes[2].set_relay_handler(echo());

    let body: Vec<u8> = (0..=255).collect();
    let answer = relay(&nodes[0], 3, "submit", &body, TIMEOUT).await.unwrap();
    assert_eq!(decode(&answer), (1, "submit".into(), body.clone()));
    let answer = relay(&nodes[1], 1, "deliver", b"", TIMEOUT).await.unwrap();
    assert_eq!(decode(&answer), (2, "deliver".into(), vec![]));
    // This node's own id runs its own handler.
    let answer = relay(&nodes[2], 3, "accepted", b"own", TIMEOUT)
        .await
        .unwrap();
    assert_eq!(decode(&answer), (3, "accepted".into(), b"own".to_vec()));

    // A handler's error comes back with its message.
    let refused = relay(&nodes[0], 2, "submit", b"x", TIMEOUT).await;
    assert_eq!(
        refused,
        Err(RelayError::Failed("submit refused here".into()))
    );
    let broken = relay(&nodes[0], 3, "broken", b"abc", TIMEOUT).await;
    assert_eq!(
        broken,
        Err(RelayError::Failed("cannot handle 3 bytes".into()))
    );
    // A kind that cannot be a metric label is refused before it is sent.
    let bad = relay(&nodes[0], 3, "Not a kind", b"", TIMEOUT).await;
    assert!(matches!(bad, Err(RelayError::Failed(_))), "{bad:?}");

    let unknown = relay(&nodes[0], 99, "submit", b"x", TIMEOUT).await;
    assert_eq!(unknown, Err(RelayError::UnknownNode(99)));

    let short = Duration::from_millis(300);
    let slow = relay(&nodes[0], 3, "slow", b"", short).await;
    assert_eq!(slow, Err(RelayError::Timeout));
    let slow_here = relay(&nodes[0], 1, "slow", b"", short).await;
    assert_eq!(slow_here, Err(RelayError::Timeout));

    // A stopped member: nothing is listening at its address any more.
    nodes[2].shutdown().await;
    let stopped = relay(&nodes[0], 3, "submit", b"x", TIMEOUT).await;
    assert!(
        matches!(stopped, Err(RelayError::Unreachable | RelayError::Timeout)),
        "{stopped:?}"
    );
    eprintln!("a relay to the stopped node 3 ended in {stopped:?}");
    // The other members still answer.
    let answer = relay(&nodes[1], 1, "accepted", b"y", TIMEOUT)
        .await
        .unwrap();
    assert_eq!(decode(&answer), (2, "accepted".into(), b"y".to_vec()));

    nodes[0].shutdown().await;
    nodes[1].shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_with_another_secret_refuses_relays() {
    let dir = tempfile::tempdir().unwrap();
    let mut first = config(1, dir.path(), true);
    first.secret = Some("right".into());
    let leader = Cluster::start(first).await.unwrap();
    leader.wait_for_leader(WAIT).await.unwrap();
    let mut second = config(2, dir.path(), false);
    second.secret = Some("wrong".into());
    let outsider = Cluster::start(second).await.unwrap();
    outsider.set_relay_handler(echo());
    leader
        .add_learner(2, outsider.raft_addr().to_string())
        .await
        .unwrap();

    let refused = relay(&leader, 2, "submit", b"x", TIMEOUT).await;
    match refused {
        Err(RelayError::Failed(message)) => assert!(message.contains("secret"), "{message}"),
        other => panic!("a relay with the wrong secret answered {other:?}"),
    }
    leader.shutdown().await;
    outsider.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn slow_relays_beyond_the_cap_are_not_sent_and_replication_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    // Two voters: every commit needs the follower, over the connection the relays fill.
    let nodes = start_cluster(dir.path(), 2, with_secret).await;
    nodes[1].set_relay_handler(echo());
    // More slow calls than the server serves at once on one connection.
    let mut slow = Vec::new();
    for _ in 0..300 {
        let leader = nodes[0].clone();
        slow.push(tokio::spawn(async move {
            leader.relay(2, "slow", vec![], TIMEOUT).await
        }));
    }
    tokio::time::sleep(Duration::from_millis(300)).await;

    let started = Instant::now();
    let created = nodes[0]
        .propose(create_account("acme", 1, tern_ledger::Limits::default()))
        .await
        .unwrap();
    assert_eq!(created, tern_ledger::Response::Ok);
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "a commit took {:?} beside the relays",
        started.elapsed()
    );
    // No slow call ends before its 3 s: a call that cannot go out before its own
    // deadline is not sent.
    let late = relay(&nodes[0], 2, "accepted", b"", Duration::from_millis(500)).await;
    assert_eq!(late, Err(RelayError::Unreachable));

    for call in slow {
        let answer = call.await.unwrap();
        assert!(
            matches!(answer, Err(RelayError::Timeout | RelayError::Unreachable)),
            "a slow relay answered {answer:?}"
        );
    }
    // Calls go out again once the slow ones are gone.
    let answer = relay(&nodes[0], 2, "accepted", b"z", TIMEOUT)
        .await
        .unwrap();
    assert_eq!(decode(&answer), (1, "accepted".into(), b"z".to_vec()));
    nodes[0].shutdown().await;
    nodes[1].shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_burst_of_relays_given_up_at_once_leaves_the_connection_up() {
    let dir = tempfile::tempdir().unwrap();
    let nodes = start_cluster(dir.path(), 2, with_secret).await;
    nodes[1].set_relay_handler(echo());
    let warm = relay(&nodes[0], 2, "accepted", b"", TIMEOUT).await;
    assert!(warm.is_ok(), "{warm:?}");
    // Each is cancelled about when it is sent, most before the server takes it: h2 by
    // default drops a connection after 20 of those.
    let mut burst = Vec::new();
    for _ in 0..120 {
        let leader = nodes[0].clone();
        burst.push(tokio::spawn(async move {
            leader
                .relay(2, "slow", vec![0; 64 * 1024], Duration::from_millis(1))
                .await
        }));
    }
    for call in burst {
        let answer = call.await.unwrap();
        assert!(
            matches!(answer, Err(RelayError::Timeout | RelayError::Unreachable)),
            "{answer:?}"
        );
    }
    let answer = relay(&nodes[0], 2, "accepted", b"z", TIMEOUT)
        .await
        .unwrap();
    assert_eq!(decode(&answer), (1, "accepted".into(), b"z".to_vec()));
    nodes[0].shutdown().await;
    nodes[1].shutdown().await;
}
