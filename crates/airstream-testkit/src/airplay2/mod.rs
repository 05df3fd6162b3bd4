//! The real AirPlay 2 receiver for tests: shairport-sync 4.3.7 built with AirPlay 2, and
//! nqptp 1.2.4, its PTP follower (shared/peers/README.md says why each point below is so).
//!
//! Every rig has a sender network namespace and one namespace per receiver, joined by veth
//! pairs to a bridge in the sender's: receiver `i` is `10.77.9.(10+i)`, the sender is
//! `10.77.9.1`. Those addresses exist only inside these namespaces (each rig has its own, so
//! parallel rigs reuse them without meeting), and nothing routes out. Two namespaces are
//! needed because nqptp binds UDP 319/320 and takes PTP only from the same port numbers, which
//! the sender's PTP master binds too. Each receiver also has a private tmpfs on /dev/shm, as
//! nqptp's shared memory `/nqptp` is otherwise machine-wide.
//!
//! A receiver may also be Debian's shairport-sync 3.3.8 ([`Peer::Classic`]: AirPlay 1 only,
//! NTP timing, no nqptp), for groups that mix the two kinds on one stream.
//!
//! Sender code runs in the sender namespace as a thread ([`Ap2Rig::run_in_sender`]) or a
//! child process ([`Ap2Rig::sender_command`]). Dropping the rig (also while a test panics)
//! kills every process and deletes the namespaces, the veths with them.

mod network;
mod nqptp;
mod peer;
mod process_tree;
mod ptp_loop;
mod receiver;
mod rtsp_client;

pub use network::{SENDER_ADDRESS, SENDER_BRIDGE, receiver_address};
pub use nqptp::{NqptpClock, monotonic_raw};
pub use peer::{PEER_BIN_ENV, bin_dir};
pub use ptp_loop::{PtpLoop, PtpLoopReport};
pub use receiver::{AIRPLAY_PORT, Ap2Receiver, config};
pub use rtsp_client::{BPLIST, RtspClient, get_info};

use crate::netns::Netns;
use crate::shairport::ShairportConfig;
use std::io;
use std::net::SocketAddr;
use std::process::Command;

/// A sender namespace and the receivers it reaches. Fields drop in order: receivers (their
/// processes and namespaces), then the sender's namespace, then the scratch directory.
pub struct Ap2Rig {
    pub receivers: Vec<Ap2Receiver>,
    pub sender: Netns,
    pub dir: tempfile::TempDir,
}

/// Which shairport-sync a rig's receiver is.
#[derive(Debug, Clone)]
pub enum Peer {
    /// shairport-sync 4.3.7 with AirPlay 2, and its nqptp.
    AirPlay2(ShairportConfig),
    /// Debian's shairport-sync 3.3.8: classic AirPlay (RAOP) only, NTP timing, no nqptp.
    Classic(ShairportConfig),
}

impl Ap2Rig {
    /// Starts one AirPlay 2 receiver per configuration (see [`config`] for the usual one) and
    /// returns once each accepts RTSP connections and its nqptp has made its shared memory.
    /// Fails with a message saying to run scripts/test when the peer is not built.
    pub fn start(configs: &[ShairportConfig]) -> io::Result<Self> {
        let peers: Vec<Peer> = configs.iter().cloned().map(Peer::AirPlay2).collect();
        Self::start_peers(&peers)
    }

    /// Like [`Self::start`], with each receiver either kind of shairport-sync.
    pub fn start_peers(peers: &[Peer]) -> io::Result<Self> {
        let bin = bin_dir()?;
        let dir = tempfile::Builder::new().prefix("airstream-ap2").tempdir()?;
        let sender = network::sender_namespace()?;
        let mut receivers = Vec::with_capacity(peers.len());
        for (index, peer) in peers.iter().enumerate() {
            let index = u8::try_from(index)
                .ok()
                .filter(|&i| i < network::MAX_RECEIVERS)
                .ok_or_else(|| io::Error::other("too many receivers for one rig"))?;
            let receiver_dir = dir.path().join(format!("receiver-{index}"));
            std::fs::create_dir(&receiver_dir)?;
            receivers.push(match peer {
                Peer::AirPlay2(config) => {
                    Ap2Receiver::start(&bin, &sender, index, &receiver_dir, config)?
                }
                Peer::Classic(config) => {
                    Ap2Receiver::start_classic(&sender, index, &receiver_dir, config)?
                }
            });
        }
        Ok(Self {
            receivers,
            sender,
            dir,
        })
    }

    /// Receiver `index`'s RTSP address as seen from the sender namespace.
    pub fn address(&self, index: usize) -> SocketAddr {
        self.receivers[index].address
    }

    /// Runs `f` on a thread inside the sender namespace (its sockets, and those of threads
    /// it starts, live there); a panic in `f` is passed on.
    pub fn run_in_sender<T: Send>(&self, f: impl FnOnce() -> T + Send) -> io::Result<T> {
        self.sender.run(f)
    }

    /// Runs the future `make` returns on a current-thread tokio runtime, on a thread inside
    /// the sender namespace (as [`Self::run_in_sender`]); the future is made there, so it
    /// need not be `Send`.
    pub fn block_on_in_sender<F: std::future::Future>(
        &self,
        make: impl FnOnce() -> F + Send,
    ) -> io::Result<F::Output>
    where
        F::Output: Send,
    {
        self.run_in_sender(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("a current-thread tokio runtime");
            runtime.block_on(make())
        })
    }

    /// A command that runs `program` (e.g. the `airstream` binary) in the sender namespace,
    /// with `AIRSTREAM_RUNTIME_DIR` in the rig's scratch directory: every rig's receivers
    /// have the same addresses, and the CLI names its control socket after the receiver, so
    /// streams of rigs that run at once would otherwise meet in the same socket path.
    pub fn sender_command(&self, program: impl AsRef<std::ffi::OsStr>) -> Command {
        let mut command = self.sender.command(program);
        command.env("AIRSTREAM_RUNTIME_DIR", self.dir.path().join("runtime"));
        command
    }

    /// Like [`Self::sender_command`], but as user and group `nobody` (65534) with no
    /// supplementary groups and no capabilities: the PTP ports 319/320 cannot be bound.
    pub fn sender_command_unprivileged(&self, program: impl AsRef<std::ffi::OsStr>) -> Command {
        let mut command = self.sender.command("setpriv");
        command
            .args([
                "--reuid=65534",
                "--regid=65534",
                "--clear-groups",
                "--inh-caps=-all",
                "--",
            ])
            .arg(program);
        command
    }
}
