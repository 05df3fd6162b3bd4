//! One shairport-sync 4.3.7 (AirPlay 2) + nqptp in a receiver namespace of its own.

use super::network;
use super::nqptp::{self, NqptpClock};
use super::process_tree::ProcessTree;
use crate::netns::Netns;
use crate::process::wait_until;
use crate::shairport::{
    Flavour, MetadataItem, MetadataReader, ShairportConfig, config_text, log_trouble,
};
use std::fs::File;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// shairport-sync's AirPlay 2 RTSP port.
pub const AIRPLAY_PORT: u16 = 7000;
/// Device ids `0A:1B:2C:3D:4E:<index>`: set so startup does not wait for a MAC address.
const DEVICE_ID_BASE: u64 = 0x0A1B_2C3D_4E00;
const START_TIMEOUT: Duration = Duration::from_secs(10);

/// The usual configuration for an AirPlay 2 receiver called `name` (stdout backend,
/// basic interpolation, volume ignored: the capture is bit-exact).
pub fn config(name: &str) -> ShairportConfig {
    ShairportConfig {
        name: name.into(),
        port: AIRPLAY_PORT,
        ..ShairportConfig::default()
    }
}

/// A running receiver. Fields drop in order: the process tree first, then the metadata
/// reader, then the namespace (which kills anything left in it).
pub struct Ap2Receiver {
    process: ProcessTree,
    metadata: Option<MetadataReader>,
    pub ns: Netns,
    /// Its RTSP address as the sender namespace sees it.
    pub address: SocketAddr,
    /// The PCM it played (signed 16-bit little-endian stereo).
    pub capture: PathBuf,
    pub log: PathBuf,
    pub nqptp_log: PathBuf,
    pub dir: PathBuf,
}

/// Started in the receiver namespace by `unshare` (new mount and pid namespaces, so killing
/// `unshare` kills both daemons): a private tmpfs on /dev/shm, nqptp in the background, and
/// shairport-sync once nqptp has made its shared memory.
const LAUNCH: &str = r#"mount -t tmpfs airstream-ap2-shm /dev/shm || exit 1
"$AP2_BIN/nqptp" -v >"$AP2_NQPTP_LOG" 2>&1 &
i=0
while [ ! -e /dev/shm/nqptp ] && [ $i -lt 200 ]; do sleep 0.05; i=$((i+1)); done
PATH="$AP2_STUB:$PATH" exec "$AP2_BIN/shairport-sync" -c "$AP2_CONF"
"#;

/// shairport-sync's `external-avahi` backend runs this to advertise; it must stay up and
/// publish nothing, because mDNS must not cross the veth.
const AVAHI_STUB: &str = "#!/bin/sh\nexec sleep 2147483647\n";

impl Ap2Receiver {
    pub(crate) fn start(
        bin: &Path,
        sender: &Netns,
        index: u8,
        dir: &Path,
        config: &ShairportConfig,
    ) -> io::Result<Self> {
        let ns = network::receiver_namespace(sender, index)?;
        let stub = dir.join("stub");
        std::fs::create_dir(&stub)?;
        let publish = stub.join("avahi-publish-service");
        std::fs::write(&publish, AVAHI_STUB)?;
        std::fs::set_permissions(&publish, std::fs::Permissions::from_mode(0o755))?;
        let pipe = dir.join("metadata.pipe");
        let conf = dir.join("shairport-sync.conf");
        let flavour = Flavour::AirPlay2 {
            device_id: DEVICE_ID_BASE + u64::from(index),
        };
        std::fs::write(&conf, config_text(config, &pipe, flavour))?;
        let metadata = MetadataReader::start_if(config.metadata, &pipe)?;
        let capture = dir.join("capture.raw");
        let log = dir.join("shairport-sync.log");
        let nqptp_log = dir.join("nqptp.log");
        let mut command = ns.command("unshare");
        command
            .args([
                "--mount",
                "--propagation",
                "private",
                "--pid",
                "--fork",
                "--kill-child",
                "sh",
                "-c",
                LAUNCH,
            ])
            .env("AP2_BIN", bin)
            .env("AP2_STUB", &stub)
            .env("AP2_CONF", &conf)
            .env("AP2_NQPTP_LOG", &nqptp_log)
            .stdin(std::process::Stdio::null())
            .stdout(File::create(&capture)?)
            .stderr(File::create(&log)?);
        let process = ProcessTree::spawn(command)?;
        let address = SocketAddr::new(IpAddr::V4(network::receiver_address(index)), config.port);
        let receiver = Self {
            process,
            metadata,
            ns,
            address,
            capture,
            log,
            nqptp_log,
            dir: dir.to_path_buf(),
        };
        let ready = wait_until(START_TIMEOUT, || {
            receiver.ns.tcp_port_open(config.port) && receiver.nqptp_shm().is_some()
        });
        if !ready {
            let mut receiver = receiver;
            let state = match receiver.process.check_running() {
                Ok(()) => format!("not ready within {} s", START_TIMEOUT.as_secs()),
                Err(e) => e.to_string(),
            };
            return Err(io::Error::other(format!(
                "AirPlay 2 receiver {state}; its log:\n{}\nnqptp:\n{}",
                receiver.log_text(),
                std::fs::read_to_string(&receiver.nqptp_log).unwrap_or_default()
            )));
        }
        Ok(receiver)
    }

    /// nqptp's shared memory as a path from our mount namespace: through `/proc/<pid>/root`
    /// of a process in the receiver's private mount namespace.
    fn nqptp_shm(&self) -> Option<PathBuf> {
        let out = std::process::Command::new("ip")
            .args(["netns", "pids", self.ns.name()])
            .output()
            .ok()?;
        String::from_utf8_lossy(&out.stdout)
            .split_whitespace()
            .map(|pid| PathBuf::from(format!("/proc/{pid}/root/dev/shm/nqptp")))
            .find(|path| path.exists())
    }

    /// What nqptp currently publishes: `None` while it follows no master (or the read was
    /// torn by a concurrent update).
    pub fn nqptp_clock(&self) -> io::Result<Option<NqptpClock>> {
        let path = self
            .nqptp_shm()
            .ok_or_else(|| io::Error::other("nqptp's shared memory is gone"))?;
        nqptp::read_clock(&std::fs::read(path)?)
    }

    /// Tells nqptp to follow the master at `master` and that play begins, as shairport-sync
    /// does on a SETUP with PTP timing and on RECORD (for PTP tests without a session).
    pub fn nqptp_follow(&self, master: IpAddr) -> io::Result<()> {
        self.ns.run(|| {
            nqptp::control(&format!("T {master}"))?;
            nqptp::control("B")
        })?
    }

    /// The PCM played so far (signed 16-bit little-endian stereo).
    pub fn captured(&self) -> io::Result<Vec<i16>> {
        Ok(crate::compare::read_s16le(&std::fs::read(&self.capture)?))
    }

    /// shairport-sync's log so far (log_verbosity 2).
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// nqptp's log so far (`-v`).
    pub fn nqptp_log_text(&self) -> String {
        std::fs::read_to_string(&self.nqptp_log).unwrap_or_default()
    }

    /// Log lines that report trouble (as for the 3.3.8 receiver).
    pub fn log_errors(&self) -> Vec<String> {
        log_trouble(&self.log_text())
    }

    /// Metadata items received so far (with `metadata` on in the configuration).
    pub fn metadata(&self) -> Vec<MetadataItem> {
        self.metadata
            .as_ref()
            .map(MetadataReader::items)
            .unwrap_or_default()
    }

    /// Whether shairport-sync is still running.
    pub fn is_running(&mut self) -> bool {
        self.process.check_running().is_ok()
    }

    /// Freezes shairport-sync (SIGSTOP): it keeps its sockets open and answers nothing, as a
    /// receiver that hangs. Dropping the receiver still kills it.
    pub fn freeze(&self) -> io::Result<()> {
        self.process.freeze(true)
    }
}
