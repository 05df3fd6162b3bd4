//! Throw-away network namespaces for tests that send multicast (mDNS). Each holds nothing but
//! `lo` (up, multicast on, with a 224.0.0.0/4 route), so no packet can reach a real network.
//!
//! Work gets inside in two ways: a child process (`Netns::command`, i.e. `ip netns exec`), or
//! a thread of the test process (`Netns::run`) that has joined the namespace
//! with `setns(2)`. The network namespace is per thread on Linux, and threads started from a
//! joined thread (mdns-sd's daemon, a tokio runtime's workers) inherit it, so their sockets
//! live in the namespace too. Everything needs root, as CI has.

use std::ffi::OsStr;
use std::fs::File;
use std::io;
use std::os::fd::AsFd;
use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::thread;

static NEXT_ID: AtomicU32 = AtomicU32::new(0);

/// A network namespace that is deleted when dropped.
#[derive(Debug)]
pub struct Netns {
    name: String,
}

/// Runs `ip ARGS` (iproute2); its stderr becomes the error.
pub(crate) fn ip(args: &[&str]) -> io::Result<()> {
    let output = Command::new("ip")
        .args(args)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| io::Error::new(e.kind(), format!("cannot run `ip` (iproute2): {e}")))?;
    if output.status.success() {
        Ok(())
    } else {
        Err(io::Error::other(format!(
            "`ip {}` failed ({}): {} (network namespaces need root)",
            args.join(" "),
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        )))
    }
}

impl Netns {
    /// Creates `airstream-<pid>-<n>` with `lo` up, multicast on and multicast routed to `lo`.
    pub fn create() -> io::Result<Self> {
        let name = format!(
            "airstream-{}-{}",
            std::process::id(),
            NEXT_ID.fetch_add(1, Ordering::Relaxed)
        );
        ip(&["netns", "add", &name])?;
        let netns = Self { name };
        let n = netns.name.as_str();
        // Multicast must be on before `up` for the kernel to set up lo's multicast state.
        ip(&["-n", n, "link", "set", "lo", "multicast", "on"])?;
        ip(&["-n", n, "link", "set", "lo", "up"])?;
        ip(&["-n", n, "route", "add", "224.0.0.0/4", "dev", "lo"])?;
        Ok(netns)
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// Adds an address to `lo` (e.g. `10.77.0.1/24`), so fake devices in that subnet can be
    /// advertised under addresses of their own.
    pub fn add_address(&self, cidr: &str) -> io::Result<()> {
        let family = if cidr.contains(':') { "-6" } else { "-4" };
        ip(&[family, "-n", &self.name, "addr", "add", cidr, "dev", "lo"])
    }

    /// A command that runs `program` inside the namespace.
    pub fn command(&self, program: impl AsRef<OsStr>) -> Command {
        let mut command = Command::new("ip");
        command.args(["netns", "exec", &self.name]).arg(program);
        command
    }

    /// Runs `f` on a named background thread inside the namespace (for servers that live as
    /// long as a test, such as an impairment relay); the handle reports whether it got in.
    pub fn spawn(
        &self,
        tag: &str,
        f: impl FnOnce() + Send + 'static,
    ) -> io::Result<thread::JoinHandle<io::Result<()>>> {
        let name = self.name.clone();
        thread::Builder::new()
            .name(format!("{tag}-{name}"))
            .spawn(move || {
                enter(&name)?;
                f();
                Ok(())
            })
    }

    /// Whether something in the namespace accepts TCP connections on 127.0.0.1:`port`.
    pub fn tcp_port_open(&self, port: u16) -> bool {
        self.command("bash")
            .args(["-c", &format!("exec 3<>/dev/tcp/127.0.0.1/{port}")])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    }

    /// Kills every process still running inside (tests must leave nothing behind).
    fn kill_all(&self) {
        if let Ok(out) = Command::new("ip")
            .args(["netns", "pids", &self.name])
            .output()
        {
            for pid in String::from_utf8_lossy(&out.stdout).split_whitespace() {
                let _ = Command::new("kill").args(["-9", pid]).status();
            }
        }
    }

    /// Runs `f` on a fresh thread inside the namespace and returns its result; a panic in `f`
    /// is passed on.
    pub fn run<T: Send>(&self, f: impl FnOnce() -> T + Send) -> io::Result<T> {
        thread::scope(|scope| {
            let handle = scope.spawn(|| enter(&self.name).map(|()| f()));
            match handle.join() {
                Ok(result) => result,
                Err(panic) => std::panic::resume_unwind(panic),
            }
        })
    }
}

/// Moves the calling thread into namespace `name` and checks that it arrived.
fn enter(name: &str) -> io::Result<()> {
    let path = PathBuf::from("/run/netns").join(name);
    let file = File::open(&path)?;
    rustix::thread::move_into_link_name_space(
        file.as_fd(),
        Some(rustix::thread::LinkNameSpaceType::Network),
    )?;
    let wanted = std::fs::metadata(&path)?.ino();
    let now_in = std::fs::metadata("/proc/thread-self/ns/net")?.ino();
    if wanted == now_in {
        Ok(())
    } else {
        Err(io::Error::other(format!(
            "thread did not enter network namespace {name}"
        )))
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        self.kill_all();
        if let Err(e) = ip(&["netns", "del", &self.name]) {
            eprintln!("airstream-testkit: {e}");
        }
    }
}
