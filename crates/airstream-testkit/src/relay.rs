//! A seeded user-space impairment relay between a RAOP sender and a receiver, for the delay,
//! jitter, reordering and loss this kernel cannot make (it has no netem).
//!
//! The sender connects to the relay as if it were the receiver. RAOP negotiates its UDP
//! ports inside RTSP, so the relay proxies the RTSP connection and rewrites both sides of
//! SETUP to relay sockets; every UDP flow then passes through it: audio (sender → receiver),
//! control (sync packets one way, retransmit requests and the resent packets the other) and
//! timing (requests from the receiver, replies from the sender). The flows chosen in
//! [`Flows`] are impaired in both directions, each direction from its own generator seeded
//! from [`RelayConfig::seed`], so a packet's fate depends only on the seed and its place in
//! its flow. Everything stops when the [`Relay`] is dropped.

mod impairment;
mod pipe;
mod proxy;

pub use impairment::{Impairer, Impairment, Released, Schedule, Verdict};

use crate::netns::Netns;
use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use tokio::net::TcpListener;
use tokio::task::{JoinHandle, JoinSet};

/// The UDP flows of a RAOP session.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Flow {
    Audio = 0,
    Control = 1,
    Timing = 2,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Direction {
    ToReceiver = 0,
    ToSender = 1,
}

/// Which flows are impaired; the others pass straight through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Flows {
    pub audio: bool,
    pub control: bool,
    pub timing: bool,
}

impl Flows {
    pub fn contains(self, flow: Flow) -> bool {
        match flow {
            Flow::Audio => self.audio,
            Flow::Control => self.control,
            Flow::Timing => self.timing,
        }
    }
}

/// Audio and control: what a bad path does to the stream and to its repairs. Timing is left
/// alone by default: delay there skews the receiver's clock estimate instead (and
/// shairport-sync discards replies slower than 0.2 s).
impl Default for Flows {
    fn default() -> Self {
        Self {
            audio: true,
            control: true,
            timing: false,
        }
    }
}

#[derive(Debug, Clone)]
pub struct RelayConfig {
    /// The receiver's RTSP address.
    pub receiver: SocketAddr,
    /// Where the relay listens for the sender; port 0 picks one.
    pub listen: SocketAddr,
    pub seed: u64,
    pub impairment: Impairment,
    pub flows: Flows,
}

impl RelayConfig {
    /// A relay on 127.0.0.1 impairing audio and control.
    pub fn new(receiver: SocketAddr, seed: u64, impairment: Impairment) -> Self {
        Self {
            receiver,
            listen: SocketAddr::new(Ipv4Addr::LOCALHOST.into(), 0),
            seed,
            impairment,
            flows: Flows::default(),
        }
    }
}

/// Packet counts of one flow in one direction.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FlowStats {
    pub received: u64,
    /// Dropped on purpose (loss).
    pub dropped: u64,
    pub forwarded: u64,
    /// Forwarded after a packet that reached the relay later than it.
    pub reordered: u64,
}

/// What the relay did, over all sessions.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RelayStats {
    /// SETUPs the receiver accepted.
    pub sessions: u64,
    flows: [[FlowStats; 2]; 3],
}

impl RelayStats {
    pub fn get(&self, flow: Flow, direction: Direction) -> FlowStats {
        self.flows[flow as usize][direction as usize]
    }
}

#[derive(Default)]
pub(crate) struct Counter(AtomicU64);

impl Counter {
    pub(crate) fn add(&self) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }

    fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

#[derive(Default)]
pub(crate) struct Counters {
    pub(crate) received: Counter,
    pub(crate) dropped: Counter,
    pub(crate) forwarded: Counter,
    pub(crate) reordered: Counter,
}

#[derive(Default)]
pub(crate) struct SharedStats {
    sessions: Counter,
    flows: [[Counters; 2]; 3],
}

impl SharedStats {
    pub(crate) fn count(&self, flow: Flow, direction: Direction) -> &Counters {
        &self.flows[flow as usize][direction as usize]
    }

    fn snapshot(&self) -> RelayStats {
        let mut stats = RelayStats {
            sessions: self.sessions.get(),
            ..RelayStats::default()
        };
        for (flow, counters) in stats.flows.iter_mut().zip(&self.flows) {
            for (out, c) in flow.iter_mut().zip(counters) {
                *out = FlowStats {
                    received: c.received.get(),
                    dropped: c.dropped.get(),
                    forwarded: c.forwarded.get(),
                    reordered: c.reordered.get(),
                };
            }
        }
        stats
    }
}

/// What every connection of one relay shares.
pub(crate) struct Shared {
    config: RelayConfig,
    stats: Arc<SharedStats>,
}

impl Shared {
    /// Numbers accepted SETUPs, so each session draws from generators of its own.
    fn next_session(&self) -> u64 {
        let n = self.stats.sessions.get();
        self.stats.sessions.add();
        n
    }
}

/// SplitMix64 finaliser: derives independent seeds from one.
pub(crate) fn mix(seed: u64, stream: u64) -> u64 {
    let mut z = seed ^ stream.wrapping_add(1).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// A running relay. Dropping it stops the listener, every proxied connection and every
/// UDP flow (each task owns the tasks it started, and aborting one drops them all).
pub struct Relay {
    addr: SocketAddr,
    stats: Arc<SharedStats>,
    task: JoinHandle<()>,
}

impl Relay {
    /// Listens on `config.listen`; must be called inside a tokio runtime.
    pub async fn start(config: RelayConfig) -> io::Result<Self> {
        let listener = TcpListener::bind(config.listen).await?;
        let addr = listener.local_addr()?;
        let stats = Arc::new(SharedStats::default());
        let shared = Arc::new(Shared {
            config,
            stats: Arc::clone(&stats),
        });
        let task = tokio::spawn(accept_loop(listener, shared));
        Ok(Self { addr, stats, task })
    }

    /// Where senders connect instead of the receiver.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn stats(&self) -> RelayStats {
        self.stats.snapshot()
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn accept_loop(listener: TcpListener, shared: Arc<Shared>) {
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((client, peer)) => {
                    let shared = Arc::clone(&shared);
                    connections.spawn(async move {
                        if let Err(e) = proxy::serve(client, shared).await {
                            tracing::debug!("relay: connection from {peer} ended: {e}");
                        }
                    });
                }
                Err(e) => {
                    tracing::warn!("relay: accept failed: {e}");
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                }
            },
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
}

/// A relay running on a thread of its own inside a network namespace, so it can sit
/// between processes that live there (`airstream` and shairport-sync). Dropping it stops
/// the relay and joins the thread.
pub struct NamespacedRelay {
    addr: SocketAddr,
    stats: Arc<SharedStats>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<io::Result<()>>>,
}

impl NamespacedRelay {
    /// Starts the relay in `ns`; `config.receiver` and `config.listen` are addresses there.
    pub fn start(ns: &Netns, config: RelayConfig) -> io::Result<Self> {
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let thread = ns.spawn("relay", move || {
            let runtime = match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                Ok(runtime) => runtime,
                Err(e) => {
                    let _ = ready_tx.send(Err(e));
                    return;
                }
            };
            runtime.block_on(async move {
                match Relay::start(config).await {
                    Ok(relay) => {
                        let _ = ready_tx.send(Ok((relay.local_addr(), Arc::clone(&relay.stats))));
                        // Runs until the handle is dropped (which drops `stop`).
                        let _ = stopped.await;
                    }
                    Err(e) => {
                        let _ = ready_tx.send(Err(e));
                    }
                }
            });
        })?;
        let started = ready_rx.recv_timeout(std::time::Duration::from_secs(10));
        let (addr, stats) = match started {
            Ok(Ok(ready)) => ready,
            Ok(Err(e)) => return Err(e),
            // The thread ended without a word: it could not enter the namespace.
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => {
                return Err(match thread.join() {
                    Ok(Err(e)) => e,
                    _ => io::Error::other("the relay thread died before starting"),
                });
            }
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
                return Err(io::Error::other("the relay did not start within 10 s"));
            }
        };
        Ok(Self {
            addr,
            stats,
            stop: Some(stop),
            thread: Some(thread),
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn stats(&self) -> RelayStats {
        self.stats.snapshot()
    }
}

impl Drop for NamespacedRelay {
    fn drop(&mut self) {
        self.stop.take();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

#[cfg(test)]
mod tests;
