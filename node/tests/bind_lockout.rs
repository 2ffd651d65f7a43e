#![allow(clippy::unwrap_used)]
//! Failed binds lock a source address and an account out: after `max_failures` wrong
//! passwords (SMPP) or authenticators (CMPP) the right one is refused too, with the
//! protocol's bind failure, until the lockout ends; another account from another source
//! binds meanwhile. Real binds from 127.0.0.1, .2 and .3 against a node in process.

mod common;

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use bytes::BytesMut;
use common::*;
use tern_cmpp::codec::Connect;
use tern_cmpp::{auth, Body, Decoder, Pdu, Version};
use tern_smpp::session::BindKind;
use tern_smpp::CommandStatus;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpSocket;

/// The lockout the test configures: five failures in a minute lock for three seconds.
const LOCKOUT: Duration = Duration::from_secs(3);

fn node_toml(dir: &std::path::Path, metrics: SocketAddr) -> String {
    base_toml(&dir.join("store"))
        + &format!(
            "\n[metrics]\nlisten = \"{metrics}\"\n\n[bind_lockout]\nmax_failures = 5\nwindow_secs = 60\nlockout_secs = {}\n",
            LOCKOUT.as_secs()
        )
        + "\n[cmpp]\nlisten = \"127.0.0.1:0\"\n"
        + &account_toml("alice", "secret", "")
        + &account_toml("bob", "secret", "")
        + &account_toml("901234", "pw", "cmpp_secret = \"s3cret\"")
        + &account_toml("905678", "pw", "cmpp_secret = \"s3cret\"")
}

/// The value of the series whose line starts with `name{` and holds every one of `labels`.
fn series(body: &str, name: &str, labels: &[&str]) -> f64 {
    body.lines()
        .filter(|line| line.starts_with(&format!("{name}{{")))
        .filter(|line| labels.iter().all(|label| line.contains(label)))
        .filter_map(|line| line.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

async fn smpp_bind(
    local: IpAddr,
    addr: SocketAddr,
    system_id: &str,
    password: &str,
) -> Result<(), CommandStatus> {
    let esme = Esme::bind_from(local, addr, BindKind::Transceiver, system_id, password).await?;
    esme.unbind().await;
    Ok(())
}

/// One CMPP 3.0 CONNECT of `source_addr` with `secret` from `local`: the CONNECT_RESP
/// status.
async fn cmpp_connect(local: IpAddr, addr: SocketAddr, source_addr: &str, secret: &str) -> u32 {
    let socket = TcpSocket::new_v4().unwrap();
    socket.bind(SocketAddr::new(local, 0)).unwrap();
    let mut stream = tokio::time::timeout(WAIT, socket.connect(addr))
        .await
        .unwrap()
        .unwrap();
    let timestamp = auth::timestamp_now();
    let connect = Connect {
        source_addr: source_addr.into(),
        authenticator_source: auth::authenticator_source(source_addr, secret.as_bytes(), timestamp),
        version: Version::V30.byte(),
        timestamp,
    };
    let mut out = BytesMut::new();
    Pdu {
        sequence_id: 1,
        body: Body::Connect(connect),
    }
    .encode(Version::V30, &mut out)
    .unwrap();
    stream.write_all(&out).await.unwrap();
    let mut decoder = Decoder::new(Version::V30, 4096);
    let mut buffer = BytesMut::with_capacity(256);
    let pdu = tokio::time::timeout(WAIT, async {
        loop {
            if let Some(pdu) = decoder.decode(&mut buffer).unwrap() {
                return pdu;
            }
            assert_ne!(stream.read_buf(&mut buffer).await.unwrap(), 0, "closed");
        }
    })
    .await
    .unwrap();
    let Body::ConnectResp(resp) = pdu.body else {
        panic!("not a CONNECT_RESP: {pdu:?}");
    };
    resp.status
}

// One test, one node: a node installs the process's metrics exporter, which can be done
// once per process.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_binds_lock_the_source_and_the_account_out_until_the_lockout_ends() {
    init_tracing();
    let dir = tempfile::tempdir().unwrap();
    let metrics = SocketAddr::from(([127, 0, 0, 1], free_port()));
    let node = start_node(&node_toml(dir.path(), metrics)).await;
    let smpp = smpp_addr(&node);
    let cmpp = node.endpoints.cmpp.unwrap();
    let [first, second, third] = [1, 2, 3].map(|n| IpAddr::from([127, 0, 0, n]));

    // SMPP: five wrong passwords of alice from the first source.
    for attempt in 1..=5 {
        assert_eq!(
            smpp_bind(first, smpp, "alice", "guess").await,
            Err(CommandStatus::EsmeRinvpaswd),
            "wrong password {attempt}"
        );
    }
    // Locked out: the right password is refused as any failed bind, without being checked.
    assert_eq!(
        smpp_bind(first, smpp, "alice", "secret").await,
        Err(CommandStatus::EsmeRbindfail)
    );
    // The source is locked for every account and protocol, the account from every source...
    assert_eq!(
        smpp_bind(first, smpp, "bob", "secret").await,
        Err(CommandStatus::EsmeRbindfail)
    );
    assert_eq!(cmpp_connect(first, cmpp, "905678", "s3cret").await, 5);
    assert_eq!(
        smpp_bind(second, smpp, "alice", "secret").await,
        Err(CommandStatus::EsmeRbindfail)
    );
    // ... but another account from another source binds, and its success ends nothing.
    assert_eq!(smpp_bind(second, smpp, "bob", "secret").await, Ok(()));
    assert_eq!(
        smpp_bind(first, smpp, "alice", "secret").await,
        Err(CommandStatus::EsmeRbindfail)
    );

    // CMPP: five wrong authenticators of 901234 from the second source.
    for attempt in 1..=5 {
        assert_eq!(
            cmpp_connect(second, cmpp, "901234", "guess").await,
            3,
            "wrong secret {attempt}"
        );
    }
    // Locked out: "other error" (5), the authenticator unchecked.
    assert_eq!(cmpp_connect(second, cmpp, "901234", "s3cret").await, 5);
    assert_eq!(cmpp_connect(third, cmpp, "901234", "s3cret").await, 5);
    assert_eq!(cmpp_connect(third, cmpp, "905678", "s3cret").await, 0);

    let body = scrape_metrics(metrics).await;
    for protocol in ["protocol=\"smpp\"", "protocol=\"cmpp\""] {
        assert_eq!(
            series(&body, "tern_bind_failures_total", &[protocol]),
            5.0,
            "{protocol}: {body}"
        );
        for scope in ["scope=\"source\"", "scope=\"account\""] {
            assert_eq!(
                series(&body, "tern_bind_lockouts_total", &[protocol, scope]),
                1.0,
                "{protocol} {scope}"
            );
        }
    }
    assert_eq!(
        series(&body, "tern_bind_attempts_total", &["result=\"locked\""]),
        4.0
    );
    assert_eq!(
        series(
            &body,
            "tern_cmpp_connect_attempts_total",
            &["result=\"locked\""]
        ),
        3.0
    );

    // Once the lockouts are over, the right credentials bind again.
    tokio::time::sleep(LOCKOUT + Duration::from_millis(200)).await;
    assert_eq!(smpp_bind(first, smpp, "alice", "secret").await, Ok(()));
    assert_eq!(cmpp_connect(second, cmpp, "901234", "s3cret").await, 0);
    node.shutdown().await;
}
