//! One shairport-sync 4.3.7 (AirPlay 2) + nqptp in a receiver namespace of its own, or
//! Debian's shairport-sync 3.3.8 (AirPlay 1 only) in one, for groups that mix the two.

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
const UNSHARE: [&str; 8] = [
    "--mount",
    "--propagation",
    "private",
    "--pid",
    "--fork",
    "--kill-child",
    "sh",
    "-c",
];
const LAUNCH: &str = r#"mount -t tmpfs airstream-ap2-shm /dev/shm || exit 1
"$AP2_BIN/nqptp" -v >"$AP2_NQPTP_LOG" 2>&1 &
i=0
while [ ! -e /dev/shm/nqptp ] && [ $i -lt 200 ]; do sleep 0.05; i=$((i+1)); done
PATH="$AP2_STUB:$PATH" exec "$AP2_BIN/shairport-sync" -c "$AP2_CONF"
"#;

/// The same for Debian's 3.3.8, which has only the `avahi` mDNS backend and exits when it
/// cannot reach a D-Bus: it gets a private bus with no avahi-daemon on it, so its avahi client
/// waits for a daemon that never comes and nothing is advertised (mDNS must not cross the
/// veth). dbus-daemon's own chatter goes to a file of its own, not into the receiver's log.
const LAUNCH_CLASSIC: &str = r#"dbus-daemon --nofork --nopidfile --config-file="$AP1_BUS_CONF" >"$AP1_BUS_LOG" 2>&1 &
i=0
while [ ! -S "$AP1_BUS" ] && [ $i -lt 200 ]; do sleep 0.05; i=$((i+1)); done
export DBUS_SYSTEM_BUS_ADDRESS="unix:path=$AP1_BUS" DBUS_SESSION_BUS_ADDRESS="unix:path=$AP1_BUS"
exec shairport-sync -c "$AP2_CONF" -u
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
        let flavour = Flavour::AirPlay2 {
            device_id: DEVICE_ID_BASE + u64::from(index),
        };
        let mut command = ns.command("unshare");
        command
            .args(UNSHARE)
            .arg(LAUNCH)
            .env("AP2_BIN", bin)
            .env("AP2_STUB", &stub)
            .env("AP2_NQPTP_LOG", dir.join("nqptp.log"));
        Self::launch(ns, command, index, dir, config, flavour)
    }

    /// Debian's shairport-sync 3.3.8 (classic AirPlay only, no nqptp) in receiver namespace
    /// `index`, for groups that mix AirPlay 1 and AirPlay 2 receivers.
    pub(crate) fn start_classic(
        sender: &Netns,
        index: u8,
        dir: &Path,
        config: &ShairportConfig,
    ) -> io::Result<Self> {
        let ns = network::receiver_namespace(sender, index)?;
        let bus = dir.join("bus.socket");
        let bus_conf = dir.join("bus.conf");
        std::fs::write(&bus_conf, crate::avahi::dbus_config(&bus))?;
        let mut command = ns.command("unshare");
        command
            .args(UNSHARE)
            .arg(LAUNCH_CLASSIC)
            .env("AP1_BUS", &bus)
            .env("AP1_BUS_CONF", &bus_conf)
            .env("AP1_BUS_LOG", dir.join("dbus.log"));
        Self::launch(ns, command, index, dir, config, Flavour::Classic)
    }

    /// Writes the configuration, starts `command` (an `unshare` running a launch script)
    /// with the capture on its stdout and the log on its stderr, and waits until the
    /// receiver listens (and, for AirPlay 2, nqptp has made its shared memory).
    fn launch(
        ns: Netns,
        mut command: std::process::Command,
        index: u8,
        dir: &Path,
        config: &ShairportConfig,
        flavour: Flavour,
    ) -> io::Result<Self> {
        let pipe = dir.join("metadata.pipe");
        let conf = dir.join("shairport-sync.conf");
        std::fs::write(&conf, config_text(config, &pipe, flavour))?;
        let metadata = MetadataReader::start_if(config.metadata, &pipe)?;
        let capture = dir.join("capture.raw");
        let log = dir.join("shairport-sync.log");
        command
            .env("AP2_CONF", &conf)
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
            nqptp_log: dir.join("nqptp.log"),
            dir: dir.to_path_buf(),
        };
        let airplay2 = matches!(flavour, Flavour::AirPlay2 { .. });
        let ready = wait_until(START_TIMEOUT, || {
            receiver.ns.tcp_port_open(config.port) && (!airplay2 || receiver.nqptp_shm().is_some())
        });
        if !ready {
            let mut receiver = receiver;
            let state = match receiver.process.check_running() {
                Ok(()) => format!("not ready within {} s", START_TIMEOUT.as_secs()),
                Err(e) => e.to_string(),
            };
            return Err(io::Error::other(format!(
                "receiver {index} ({flavour:?}) {state}; its log:\n{}\nnqptp:\n{}",
                receiver.log_text(),
                receiver.nqptp_log_text()
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
