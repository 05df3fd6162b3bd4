//! avahi-daemon inside a test's network namespace, with its own private system bus, so programs
//! that can only advertise through avahi (shairport-sync) work in tests without touching the
//! host's mDNS (shared/receiver.md, "Running it without systemd").
//!
//! avahi-daemon insists on the fixed pid file /run/avahi-daemon/pid; it runs in a private mount
//! namespace with a tmpfs on /run, so several instances (one per test) do not collide and
//! nothing is left behind on the host.
//!
//! Processes that publish through this avahi need `DBUS_SYSTEM_BUS_ADDRESS` =
//! [`Avahi::bus_address`]; [`Avahi::command`] sets it up.

use crate::netns::Netns;
use std::ffi::OsStr;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const START_TIMEOUT: Duration = Duration::from_secs(10);

/// A private dbus-daemon plus avahi-daemon (`allow-interfaces=lo`) in one namespace; both
/// are killed when this is dropped.
pub struct Avahi {
    netns_name: String,
    dir: tempfile::TempDir,
    dbus: Child,
    daemon: Child,
}

pub(crate) fn dbus_config(socket: &Path) -> String {
    // `receive_sender="*"` matters: without it avahi never gets its replies (receiver.md).
    format!(
        r#"<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-BUS Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>system</type>
  <listen>unix:path={}</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow user="*"/>
    <allow own="*"/>
    <allow send_destination="*" eavesdrop="true"/>
    <allow receive_sender="*"/>
  </policy>
</busconfig>
"#,
        socket.display()
    )
}

/// Only `lo`, IPv4 transport, no wide-area, no extra records: mDNS never leaves the namespace.
const AVAHI_CONFIG: &str = "[server]
host-name=airstream-test
use-ipv4=yes
use-ipv6=no
allow-interfaces=lo
enable-dbus=yes
ratelimit-interval-usec=1000000
ratelimit-burst=1000
[wide-area]
enable-wide-area=no
[publish]
publish-hinfo=no
publish-workstation=no
publish-domain=no
[reflector]
enable-reflector=no
";

fn spawn_logged(mut command: Command, log: &Path, what: &str) -> io::Result<Child> {
    let out = fs::File::create(log)?;
    command
        .stdin(Stdio::null())
        .stdout(out.try_clone()?)
        .stderr(out)
        .spawn()
        .map_err(|e| io::Error::new(e.kind(), format!("cannot start {what}: {e}")))
}

/// Polls until `ready()` or the child exits or time runs out; the log tells what went wrong.
fn wait_until(
    child: &mut Child,
    log: &Path,
    what: &str,
    mut ready: impl FnMut() -> bool,
) -> io::Result<()> {
    let deadline = Instant::now() + START_TIMEOUT;
    loop {
        if ready() {
            return Ok(());
        }
        let failure = if let Some(status) = child.try_wait()? {
            format!("{what} exited ({status})")
        } else if Instant::now() >= deadline {
            format!("{what} not ready within {} s", START_TIMEOUT.as_secs())
        } else {
            std::thread::sleep(Duration::from_millis(20));
            continue;
        };
        let output = fs::read_to_string(log).unwrap_or_default();
        return Err(io::Error::other(format!(
            "{failure}; its output:\n{output}"
        )));
    }
}

impl Avahi {
    /// Starts dbus-daemon and avahi-daemon in `netns` and waits until avahi has finished
    /// starting up (it then answers queries and accepts registrations).
    pub fn start_in(netns: &Netns) -> io::Result<Self> {
        let dir = tempfile::Builder::new()
            .prefix("airstream-avahi")
            .tempdir()?;
        let socket = dir.path().join("system_bus_socket");
        let dbus_conf = dir.path().join("dbus.conf");
        let avahi_conf = dir.path().join("avahi-daemon.conf");
        fs::write(&dbus_conf, dbus_config(&socket))?;
        fs::write(&avahi_conf, AVAHI_CONFIG)?;

        let mut dbus_command = netns.command("dbus-daemon");
        dbus_command
            .arg("--nofork")
            .arg("--nopidfile")
            .arg(format!("--config-file={}", dbus_conf.display()));
        let dbus_log = dir.path().join("dbus.log");
        let mut dbus = spawn_logged(dbus_command, &dbus_log, "dbus-daemon")?;
        if let Err(e) = wait_until(&mut dbus, &dbus_log, "dbus-daemon", || socket.exists()) {
            let _ = dbus.kill();
            let _ = dbus.wait();
            return Err(e);
        }

        let script = format!(
            "mount -t tmpfs airstream-avahi /run && exec avahi-daemon -f '{}' --no-drop-root --no-chroot --no-rlimits",
            avahi_conf.display()
        );
        let mut avahi_command = netns.command("unshare");
        avahi_command
            .args(["--mount", "--propagation", "private", "sh", "-c", &script])
            .env("DBUS_SYSTEM_BUS_ADDRESS", bus_address(&socket));
        let avahi_log = dir.path().join("avahi.log");
        let daemon = match spawn_logged(avahi_command, &avahi_log, "avahi-daemon") {
            Ok(child) => child,
            Err(e) => {
                let _ = dbus.kill();
                let _ = dbus.wait();
                return Err(e);
            }
        };
        let mut started = Self {
            netns_name: netns.name().to_string(),
            dir,
            dbus,
            daemon,
        };
        let log = started.dir.path().join("avahi.log");
        let ready_log = log.clone();
        wait_until(&mut started.daemon, &log, "avahi-daemon", || {
            fs::read_to_string(&ready_log).is_ok_and(|s| s.contains("Server startup complete"))
        })?;
        Ok(started)
    }

    /// `DBUS_SYSTEM_BUS_ADDRESS` for processes that publish through this avahi.
    pub fn bus_address(&self) -> String {
        bus_address(&self.dir.path().join("system_bus_socket"))
    }

    /// A command inside the namespace, wired to this avahi.
    pub fn command(&self, program: impl AsRef<OsStr>) -> Command {
        let mut command = Command::new("ip");
        command
            .args(["netns", "exec", &self.netns_name])
            .arg(program)
            .env("DBUS_SYSTEM_BUS_ADDRESS", self.bus_address());
        command
    }

    /// What avahi-daemon logged so far (registrations, conflicts, errors).
    pub fn log(&self) -> String {
        fs::read_to_string(self.log_path()).unwrap_or_default()
    }

    fn log_path(&self) -> PathBuf {
        self.dir.path().join("avahi.log")
    }
}

fn bus_address(socket: &Path) -> String {
    format!("unix:path={}", socket.display())
}

impl Drop for Avahi {
    fn drop(&mut self) {
        for child in [&mut self.daemon, &mut self.dbus] {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}
