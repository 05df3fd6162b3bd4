//! Network namespaces holding nothing but `lo`: where everything that does multicast
//! (mDNS) or needs kernel packet loss runs in tests, never on the host's interfaces.
//! Processes get in with `ip netns exec` ([`NetNs::command`]), threads of the test process
//! with `setns(2)` ([`NetNs::spawn`]).

use std::fs::File;
use std::io;
use std::os::fd::AsFd;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::thread;

static COUNTER: AtomicU32 = AtomicU32::new(0);

/// A namespace that is deleted, with every process in it, when dropped.
pub struct NetNs {
    name: String,
}

fn ip(args: &[&str]) -> io::Result<()> {
    let output = Command::new("ip")
        .args(args)
        .stdin(Stdio::null())
        .output()?;
    if output.status.success() {
        Ok(())
    } else {
        Err(io::Error::other(format!(
            "ip {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&output.stderr).trim()
        )))
    }
}

impl NetNs {
    /// Creates `as-<tag>-<pid>-<n>` with `lo` up (multicast on) and a multicast route.
    pub fn create(tag: &str) -> io::Result<Self> {
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let name = format!("as-{tag}-{}-{n}", std::process::id());
        ip(&["netns", "add", &name])?;
        let ns = NetNs { name };
        ip(&["-n", &ns.name, "link", "set", "lo", "up"])?;
        ip(&["-n", &ns.name, "link", "set", "lo", "multicast", "on"])?;
        ip(&["-n", &ns.name, "route", "add", "224.0.0.0/4", "dev", "lo"])?;
        Ok(ns)
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// A command that runs `program` inside the namespace.
    pub fn command(&self, program: impl AsRef<std::ffi::OsStr>) -> Command {
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", &self.name]).arg(program);
        cmd
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

    /// Starts a thread of this process inside the namespace (`setns(2)` on that thread
    /// only), for test-side servers such as the impairment relay. Threads it starts, and
    /// sockets it opens, live in the namespace too. Fails if the thread cannot get in.
    pub fn spawn(
        &self,
        tag: &str,
        f: impl FnOnce() + Send + 'static,
    ) -> io::Result<thread::JoinHandle<io::Result<()>>> {
        let path = PathBuf::from("/run/netns").join(&self.name);
        thread::Builder::new()
            .name(format!("{tag}-{}", self.name))
            .spawn(move || {
                enter(&path)?;
                f();
                Ok(())
            })
    }

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
}

/// Moves the calling thread into the namespace mounted at `path` and checks it arrived.
fn enter(path: &Path) -> io::Result<()> {
    let file = File::open(path)?;
    rustix::thread::move_into_link_name_space(
        file.as_fd(),
        Some(rustix::thread::LinkNameSpaceType::Network),
    )?;
    let wanted = std::fs::metadata(path)?.ino();
    let now_in = std::fs::metadata("/proc/thread-self/ns/net")?.ino();
    if wanted == now_in {
        Ok(())
    } else {
        Err(io::Error::other(format!(
            "thread did not enter the network namespace {}",
            path.display()
        )))
    }
}

impl Drop for NetNs {
    fn drop(&mut self) {
        self.kill_all();
        let _ = ip(&["netns", "del", &self.name]);
    }
}
