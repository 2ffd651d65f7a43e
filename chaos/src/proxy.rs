//! A TCP proxy that puts network faults between two parties (customer and node, node and
//! node, node and database, node and operator), changeable while connections are open.
//!
//! The faults model what networks do to Tern in the field:
//! - `latency` and `jitter`: a long or congested path. Order is kept, as TCP keeps it.
//! - `drop_after`: a NAT or firewall that forgets the connection's state mid-stream; the
//!   next segment is answered with an RST.
//! - [`Proxy::reset_all`]: the same for every open connection at once (a middlebox restart,
//!   a failover of the load balancer).
//! - `refuse`: nobody listens behind the address (a process down behind a load balancer
//!   that still completes the handshake).
//! - `blackhole`: a partition. Nothing passes either way and nothing is answered; the
//!   sockets stay open, writes succeed until the buffers are full, reads wait. When it
//!   lifts, the held bytes are delivered, as TCP's retransmissions would deliver them.
//! - `stall`: one-way loss, a half-open link. The sender's writes succeed (the proxy reads
//!   and acknowledges them) but nothing arrives. The bytes are discarded: when the stall
//!   is cleared, delivery resumes with the bytes sent after that, and what was sent during
//!   the stall is lost, as a peer that acknowledged it and died would lose it. A FIN is
//!   held until the stall ends.
//! - `bandwidth`: a thin link; `Some(0)` is a slow consumer's zero window, the proxy stops
//!   reading, the sender's kernel buffers fill and its writes block.
//!
//! Each direction of a connection is one task that reads into a bounded queue of
//! timestamped chunks and writes them out when they are due, so a slow or stopped receiver
//! pushes back on the sender instead of growing memory. The fault is read through a watch
//! channel at every step, so a change applies to open connections at once, also to bytes
//! already queued. Random choices (jitter) come from the seed given at start, one stream
//! per connection and direction, so a run can be repeated.

use std::collections::VecDeque;
use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use rand::rngs::StdRng;
use rand::{Rng as _, SeedableRng as _};
use serde::Serialize;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::{JoinHandle, JoinSet};
use tokio::time::{sleep_until, Instant};
use tracing::{debug, Instrument as _};

/// The most one read takes from a sender.
const CHUNK: usize = 64 * 1024;
/// Bytes queued per direction before the proxy stops reading from the sender.
const MAX_QUEUED: usize = 1024 * 1024;
/// Under a bandwidth limit, one read takes at most this fraction of a second's bytes, so
/// the rate is even at a 50 ms grain rather than bursts of whole chunks.
const READS_PER_SECOND: u64 = 20;
/// Pause after a failed accept (out of file descriptors), so the loop does not spin.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(50);

/// The faults applied to every connection through a proxy. The default passes everything
/// through untouched.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Fault {
    /// Bytes from the client to the upstream.
    pub to_upstream: Direction,
    /// Bytes from the upstream to the client.
    pub to_client: Direction,
    /// New connections are accepted and closed at once with an RST; open ones go on.
    pub refuse: bool,
    /// Nothing passes either way and the bytes are held. New connections are accepted and
    /// connected upstream only when the blackhole lifts; open ones stall both ways.
    pub blackhole: bool,
}

/// The faults of one direction of a connection.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Direction {
    /// Each chunk is delivered this much after it was read (order kept).
    pub latency: Duration,
    /// Plus a uniform random part of this, from the seeded generator (order kept: a chunk
    /// never overtakes the one before it).
    pub jitter: Duration,
    /// After this many more bytes in this direction, counted from the latest
    /// [`Proxy::set`], the connection is reset: the byte past the limit is not delivered
    /// and both parties get an RST.
    pub drop_after: Option<u64>,
    /// Bytes in this direction are read and discarded (see the module doc).
    pub stall: bool,
    /// Bytes per second read from the sender; `Some(0)` stops reading (a zero window).
    pub bandwidth: Option<u64>,
}

/// Counters of one proxy since its start.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct ProxyStats {
    /// Connections accepted, refused ones included.
    pub accepted: u64,
    /// Connections open now (held by a blackhole included).
    pub open: u64,
    /// Connections closed at once because of `refuse`.
    pub refused: u64,
    /// Connections the proxy closed with an RST: `drop_after`, [`Proxy::reset_all`], an
    /// upstream that could not be reached, a party that reset its side.
    pub resets: u64,
    /// Bytes delivered to the upstream.
    pub bytes_to_upstream: u64,
    /// Bytes delivered to the client.
    pub bytes_to_client: u64,
    /// Bytes read and thrown away by `stall`.
    pub bytes_discarded: u64,
}

/// A fault proxy listening on 127.0.0.1. Dropping it stops its tasks, which closes every
/// socket it holds.
pub struct Proxy {
    addr: SocketAddr,
    shared: Arc<Shared>,
    accept: JoinHandle<()>,
}

impl Proxy {
    /// Listens on a port of 127.0.0.1 the kernel picks and forwards to `upstream`. `name`
    /// labels the proxy's log lines; `seed` drives its random choices.
    pub async fn start(name: &str, upstream: SocketAddr, seed: u64) -> io::Result<Proxy> {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared {
            name: name.to_owned(),
            upstream,
            seed,
            fault: watch::Sender::new(Fault::default()),
            resets: watch::Sender::new(0),
            counters: Counters::default(),
        });
        let span = tracing::info_span!("proxy", proxy = name, %addr, %upstream);
        let accept = tokio::spawn(accept_loop(listener, Arc::clone(&shared)).instrument(span));
        Ok(Proxy {
            addr,
            shared,
            accept,
        })
    }

    /// Where clients connect.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Replaces the fault, for new and open connections at once.
    pub fn set(&self, fault: Fault) {
        debug!(proxy = %self.shared.name, ?fault, "fault set");
        self.shared.fault.send_replace(fault);
    }

    /// Back to a clean pass-through. Bytes a blackhole held are delivered; bytes a stall
    /// discarded are gone.
    pub fn clear(&self) {
        self.set(Fault::default());
    }

    /// Closes every open connection with an RST to both parties (linger 0).
    pub fn reset_all(&self) {
        debug!(proxy = %self.shared.name, "resetting every open connection");
        self.shared
            .resets
            .send_modify(|generation| *generation += 1);
    }

    /// The counters so far.
    pub fn stats(&self) -> ProxyStats {
        let c = &self.shared.counters;
        ProxyStats {
            accepted: c.accepted.load(Ordering::Relaxed),
            open: c.open.load(Ordering::Relaxed),
            refused: c.refused.load(Ordering::Relaxed),
            resets: c.resets.load(Ordering::Relaxed),
            bytes_to_upstream: c.bytes_to_upstream.load(Ordering::Relaxed),
            bytes_to_client: c.bytes_to_client.load(Ordering::Relaxed),
            bytes_discarded: c.bytes_discarded.load(Ordering::Relaxed),
        }
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        // The accept task owns the connection tasks, and each of those its two directions:
        // aborting it drops them all, and with them the sockets.
        self.accept.abort();
    }
}

/// What the tasks of one proxy share.
struct Shared {
    name: String,
    upstream: SocketAddr,
    seed: u64,
    fault: watch::Sender<Fault>,
    /// Bumped by [`Proxy::reset_all`]; every connection open at that moment resets.
    resets: watch::Sender<u64>,
    counters: Counters,
}

#[derive(Default)]
struct Counters {
    accepted: AtomicU64,
    open: AtomicU64,
    refused: AtomicU64,
    resets: AtomicU64,
    bytes_to_upstream: AtomicU64,
    bytes_to_client: AtomicU64,
    bytes_discarded: AtomicU64,
}

impl Counters {
    fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }
}

/// Counts a connection as open for as long as it lives, however its task ends.
struct Open(Arc<Shared>);

impl Open {
    fn new(shared: &Arc<Shared>) -> Self {
        Counters::add(&shared.counters.open, 1);
        Open(Arc::clone(shared))
    }
}

impl Drop for Open {
    fn drop(&mut self) {
        self.0.counters.open.fetch_sub(1, Ordering::Relaxed);
    }
}

async fn accept_loop(listener: TcpListener, shared: Arc<Shared>) {
    let mut connections = JoinSet::new();
    let mut number = 0u64;
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let (client, peer) = match accepted {
                    Ok(accepted) => accepted,
                    Err(error) => {
                        debug!(%error, "accept failed");
                        tokio::time::sleep(ACCEPT_BACKOFF).await;
                        continue;
                    }
                };
                number += 1;
                Counters::add(&shared.counters.accepted, 1);
                let span = tracing::info_span!("conn", proxy = %shared.name, conn = number, %peer);
                if shared.fault.borrow().refuse {
                    let _entered = span.enter();
                    debug!("refused");
                    Counters::add(&shared.counters.refused, 1);
                    reset_stream(client);
                    continue;
                }
                // Subscribed here, not in the task, so a reset_all right after the accept
                // still reaches this connection.
                let resets = shared.resets.subscribe();
                let open = Open::new(&shared);
                connections.spawn(connection(open, client, number, resets).instrument(span));
            }
            Some(_) = connections.join_next() => {}
        }
    }
}

/// Closes a socket with an RST instead of a FIN.
fn reset_stream(stream: TcpStream) {
    if let Err(error) = stream.set_zero_linger() {
        debug!(%error, "SO_LINGER 0 failed; the socket closes with a FIN");
    }
    drop(stream);
}

/// Which way bytes flow.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Side {
    ToUpstream,
    ToClient,
}

impl Side {
    fn of(self, fault: &Fault) -> &Direction {
        match self {
            Side::ToUpstream => &fault.to_upstream,
            Side::ToClient => &fault.to_client,
        }
    }

    fn delivered(self, counters: &Counters) -> &AtomicU64 {
        match self {
            Side::ToUpstream => &counters.bytes_to_upstream,
            Side::ToClient => &counters.bytes_to_client,
        }
    }
}

/// How a direction ended.
#[derive(Debug, PartialEq, Eq)]
enum Ending {
    /// The sender's FIN was passed on.
    Closed,
    /// The connection is to be reset.
    Reset,
}

/// One proxied connection: waits out a blackhole, connects upstream, runs both directions
/// and closes both sockets with an RST if either direction or [`Proxy::reset_all`] asks.
async fn connection(
    open: Open,
    client: TcpStream,
    number: u64,
    mut reset_all: watch::Receiver<u64>,
) {
    let shared = Arc::clone(&open.0);
    let mut fault = shared.fault.subscribe();
    let upstream = tokio::select! {
        Ok(()) = reset_all.changed() => {
            debug!("reset while held");
            Counters::add(&shared.counters.resets, 1);
            reset_stream(client);
            return;
        }
        upstream = async {
            // An error means the proxy is gone, and this task with it.
            let _ = fault.wait_for(|f| !f.blackhole).await;
            TcpStream::connect(shared.upstream).await
        } => upstream,
    };
    let upstream = match upstream {
        Ok(upstream) => upstream,
        Err(error) => {
            debug!(%error, "upstream unreachable; resetting the client");
            Counters::add(&shared.counters.resets, 1);
            reset_stream(client);
            return;
        }
    };
    debug!("connected upstream");
    // Small writes (SMPP PDUs) go out as the proxy writes them, as they would without it.
    for stream in [&client, &upstream] {
        if let Err(error) = stream.set_nodelay(true) {
            debug!(%error, "TCP_NODELAY failed");
        }
    }
    let (client_read, client_write) = client.into_split();
    let (upstream_read, upstream_write) = upstream.into_split();
    let reset = Arc::new(watch::Sender::new(false));
    let mut directions = JoinSet::new();
    for (side, from, to) in [
        (Side::ToUpstream, client_read, upstream_write),
        (Side::ToClient, upstream_read, client_write),
    ] {
        let pump = Pump {
            side,
            fault: shared.fault.subscribe(),
            reset: Arc::clone(&reset),
            rng: StdRng::seed_from_u64(stream_seed(shared.seed, number, side)),
            shared: Arc::clone(&shared),
        };
        directions.spawn(pump.run(from, to).in_current_span());
    }
    let mut halves = Vec::with_capacity(2);
    let mut reset_asked = false;
    loop {
        tokio::select! {
            done = directions.join_next() => match done {
                Some(Ok((from, to, ending))) => {
                    reset_asked |= ending == Ending::Reset;
                    halves.push((from, to));
                }
                // A direction that panicked lost its sockets; the other one is reset.
                Some(Err(_)) => {
                    reset_asked = true;
                    reset.send_replace(true);
                }
                None => break,
            },
            Ok(()) = reset_all.changed() => {
                reset.send_replace(true);
            }
        }
    }
    if reset_asked || *reset.borrow() {
        debug!("reset");
        Counters::add(&shared.counters.resets, 1);
        for (from, to) in halves {
            if let Err(error) = from.as_ref().set_zero_linger() {
                debug!(%error, "SO_LINGER 0 failed; the socket closes with a FIN");
            }
            // Dropping a write half would send a FIN ahead of the RST.
            to.forget();
        }
    } else {
        debug!("closed");
    }
    drop(open);
}

/// A seed of its own for each connection and direction, so that what one connection draws
/// does not depend on how many others there were at the same time.
fn stream_seed(seed: u64, connection: u64, side: Side) -> u64 {
    let side = match side {
        Side::ToUpstream => 0,
        Side::ToClient => 1,
    };
    splitmix64(splitmix64(seed ^ connection.rotate_left(1)) ^ side)
}

fn splitmix64(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Bytes read and not yet delivered.
struct Chunk {
    bytes: Vec<u8>,
    /// How much of `bytes` is delivered.
    written: usize,
    read_at: Instant,
    /// Where in `0..jitter` this chunk's delay falls, drawn when it was read.
    jitter: f64,
}

/// One direction of a connection.
struct Pump {
    side: Side,
    fault: watch::Receiver<Fault>,
    /// Set by either direction or the connection to reset both.
    reset: Arc<watch::Sender<bool>>,
    rng: StdRng,
    shared: Arc<Shared>,
}

impl Pump {
    /// Moves bytes until the sender's FIN is passed on or the connection is to be reset,
    /// and hands the socket halves back for closing.
    async fn run(
        mut self,
        mut from: OwnedReadHalf,
        mut to: OwnedWriteHalf,
    ) -> (OwnedReadHalf, OwnedWriteHalf, Ending) {
        let ending = self.pump(&mut from, &mut to).await;
        if ending == Ending::Reset {
            self.reset.send_replace(true);
        }
        (from, to, ending)
    }

    async fn pump(&mut self, from: &mut OwnedReadHalf, to: &mut OwnedWriteHalf) -> Ending {
        let side = self.side;
        let counters = &self.shared.counters;
        let mut reset = self.reset.subscribe();
        let mut buf = vec![0u8; CHUNK];
        let mut queue: VecDeque<Chunk> = VecDeque::new();
        let mut queued = 0usize;
        let mut eof = false;
        let mut budget = side.of(&self.fault.borrow_and_update()).drop_after;
        // When the last chunk delivered was due: a later one is never due before it.
        let mut last_due = Instant::now();
        // Under a bandwidth limit, the earliest time of the next read.
        let mut next_read = Instant::now();
        loop {
            let (direction, blackhole) = {
                let fault = self.fault.borrow_and_update();
                (side.of(&fault).clone(), fault.blackhole)
            };
            if direction.stall && !queue.is_empty() {
                Counters::add(&counters.bytes_discarded, as_u64(queued));
                queue.clear();
                queued = 0;
            }
            if eof && queue.is_empty() && !direction.stall && !blackhole {
                return match to.shutdown().await {
                    Ok(()) => Ending::Closed,
                    Err(error) => {
                        debug!(?side, %error, "passing on the FIN failed");
                        Ending::Reset
                    }
                };
            }
            let readable =
                !eof && !blackhole && queued < MAX_QUEUED && direction.bandwidth != Some(0);
            let paced = direction.bandwidth.is_some() && next_read > Instant::now();
            let read_cap = match direction.bandwidth {
                Some(rate) => usize::try_from(rate / READS_PER_SECOND)
                    .unwrap_or(CHUNK)
                    .clamp(1, CHUNK),
                None => CHUNK,
            };
            let head = match queue.front() {
                Some(chunk) if !blackhole => {
                    let delay = direction.latency + direction.jitter.mul_f64(chunk.jitter);
                    let due = later(chunk.read_at, delay).max(last_due);
                    let rest = &chunk.bytes[chunk.written..];
                    let allowed = budget.map_or(rest.len(), |b| {
                        usize::try_from(b).unwrap_or(usize::MAX).min(rest.len())
                    });
                    Some((due, &rest[..allowed]))
                }
                _ => None,
            };
            let due = head.map(|(due, _)| due);
            tokio::select! {
                biased;
                _ = reset.wait_for(|reset| *reset) => return Ending::Reset,
                changed = self.fault.changed() => {
                    if changed.is_err() {
                        return Ending::Closed;
                    }
                    // drop_after counts from the latest set.
                    budget = side.of(&self.fault.borrow()).drop_after;
                }
                read = from.read(&mut buf[..read_cap]), if readable && !paced => {
                    let now = Instant::now();
                    match read {
                        Ok(0) => eof = true,
                        Ok(n) => {
                            if let Some(rate) = direction.bandwidth.filter(|rate| *rate > 0) {
                                let spacing = Duration::from_secs_f64(n as f64 / rate as f64);
                                next_read = later(next_read.max(now), spacing);
                            }
                            if direction.stall {
                                Counters::add(&counters.bytes_discarded, as_u64(n));
                            } else {
                                queue.push_back(Chunk {
                                    bytes: buf[..n].to_vec(),
                                    written: 0,
                                    read_at: now,
                                    jitter: self.rng.gen(),
                                });
                                queued += n;
                            }
                        }
                        Err(error) => {
                            debug!(?side, %error, "sender's side failed");
                            return Ending::Reset;
                        }
                    }
                }
                () = sleep_until(next_read), if readable && paced => {}
                written = deliver(to, head), if head.is_some() => match written {
                    Ok(n) => {
                        Counters::add(side.delivered(counters), as_u64(n));
                        budget = budget.map(|b| b.saturating_sub(as_u64(n)));
                        queued -= n;
                        if let Some(chunk) = queue.front_mut() {
                            chunk.written += n;
                            if chunk.written == chunk.bytes.len() {
                                queue.pop_front();
                                last_due = due.unwrap_or(last_due);
                            }
                        }
                    }
                    Err(Undelivered::Limit) => {
                        debug!(?side, "drop_after reached");
                        return Ending::Reset;
                    }
                    Err(Undelivered::Failed(error)) => {
                        debug!(?side, %error, "receiver's side failed");
                        return Ending::Reset;
                    }
                },
            }
        }
    }
}

/// Why a chunk was not delivered.
enum Undelivered {
    /// `drop_after` allows no more bytes.
    Limit,
    Failed(io::Error),
}

/// Waits until the chunk is due and writes what the socket takes of it.
async fn deliver(
    to: &mut OwnedWriteHalf,
    head: Option<(Instant, &[u8])>,
) -> Result<usize, Undelivered> {
    let Some((due, bytes)) = head else {
        return Ok(0);
    };
    sleep_until(due).await;
    if bytes.is_empty() {
        return Err(Undelivered::Limit);
    }
    match to.write(bytes).await {
        Ok(0) => Err(Undelivered::Failed(io::ErrorKind::WriteZero.into())),
        Ok(n) => Ok(n),
        Err(error) => Err(Undelivered::Failed(error)),
    }
}

/// `at + delay`, or a time that never comes when that is past what a clock can hold.
fn later(at: Instant, delay: Duration) -> Instant {
    const FOREVER: Duration = Duration::from_secs(100 * 365 * 24 * 3600);
    at.checked_add(delay)
        .or_else(|| at.checked_add(FOREVER))
        .unwrap_or(at)
}

fn as_u64(n: usize) -> u64 {
    u64::try_from(n).unwrap_or(u64::MAX)
}
