//! A private D-Bus system bus plus avahi-daemon inside a network namespace, as shairport-sync
//! needs (its only mDNS backend is avahi). avahi's pid file path is fixed, so it runs in its
//! own mount namespace with a private `/run/avahi-daemon`; many can run side by side.

use crate::netns::NetNs;
use crate::process::{Guarded, file_contains, wait_until};
use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};
use std::time::Duration;

pub struct Avahi {
    // Dropped in this order: avahi before the bus it talks to.
    daemon: Guarded,
    _dbus: Guarded,
    socket: PathBuf,
    pub log: PathBuf,
}

fn dbus_config(socket: &Path) -> String {
    format!(
        r#"<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>system</type>
  <listen>unix:path={}</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow user="*"/>
    <allow own="*"/>
    <allow send_type="method_call"/>
    <allow send_destination="*" eavesdrop="true"/>
    <allow receive_sender="*"/>
  </policy>
</busconfig>
"#,
        socket.display()
    )
}

const AVAHI_CONFIG: &str = "[server]
allow-interfaces=lo
use-ipv4=yes
use-ipv6=no
enable-dbus=yes
[wide-area]
enable-wide-area=no
[publish]
publish-hinfo=no
publish-workstation=no
publish-domain=no
[reflector]
enable-reflector=no
";

impl Avahi {
    /// Starts the bus and avahi in `ns`, keeping their files in `dir`.
    pub fn start(ns: &NetNs, dir: &Path) -> io::Result<Self> {
        let socket = dir.join("dbus.sock");
        let dbus_conf = dir.join("dbus.conf");
        std::fs::write(&dbus_conf, dbus_config(&socket))?;
        let avahi_conf = dir.join("avahi-daemon.conf");
        std::fs::write(&avahi_conf, AVAHI_CONFIG)?;

        let mut dbus_cmd = ns.command("dbus-daemon");
        dbus_cmd
            .arg("--nofork")
            .arg("--nopidfile")
            .arg(format!("--config-file={}", dbus_conf.display()))
            .stdout(File::create(dir.join("dbus.log"))?)
            .stderr(File::create(dir.join("dbus.err"))?);
        let mut dbus = Guarded::spawn("dbus-daemon", dbus_cmd)?;
        if !wait_until(Duration::from_secs(5), || socket.exists()) {
            dbus.check_running()?;
            return Err(io::Error::other("dbus-daemon did not create its socket"));
        }

        let log = dir.join("avahi.log");
        let script = format!(
            "mkdir -p /run/avahi-daemon && mount -t tmpfs tmpfs /run/avahi-daemon && \
             exec avahi-daemon -f {} --no-drop-root --no-chroot --no-rlimits",
            avahi_conf.display()
        );
        let mut avahi_cmd = ns.command("unshare");
        avahi_cmd
            .args(["--mount", "--propagation", "private", "sh", "-c", &script])
            .env(
                "DBUS_SYSTEM_BUS_ADDRESS",
                format!("unix:path={}", socket.display()),
            )
            .stdout(File::create(&log)?)
            .stderr(File::create(dir.join("avahi.err"))?);
        let mut avahi = Guarded::spawn("avahi-daemon", avahi_cmd)?;
        let err_log = dir.join("avahi.err");
        let started = wait_until(Duration::from_secs(10), || {
            file_contains(&log, "Server startup complete")
                || file_contains(&err_log, "Server startup complete")
        });
        if !started {
            avahi.check_running()?;
            return Err(io::Error::other(format!(
                "avahi-daemon did not start: {}",
                std::fs::read_to_string(&err_log).unwrap_or_default()
            )));
        }
        Ok(Self {
            daemon: avahi,
            _dbus: dbus,
            socket,
            log,
        })
    }

    /// Value for `DBUS_SYSTEM_BUS_ADDRESS` of programs that talk to this avahi.
    pub fn bus_address(&self) -> String {
        format!("unix:path={}", self.socket.display())
    }

    pub fn pid(&self) -> u32 {
        self.daemon.id()
    }
}
