//! The receiver's process tree: `unshare` (our child) with, below it, the init of a new pid
//! namespace (shairport-sync) and everything else (nqptp, the mDNS stub). Stopping it kills
//! that init first, so `unshare` reaps it; the kernel takes the rest of the pid namespace
//! down with its init and reaps them before the init's own exit completes. When the drop
//! returns, nothing of the receiver is left, not even a zombie.

use std::io;
use std::process::{Child, Command};
use std::time::{Duration, Instant};

const GRACE: Duration = Duration::from_secs(2);

pub(crate) struct ProcessTree {
    unshare: Child,
}

impl ProcessTree {
    pub(crate) fn spawn(mut command: Command) -> io::Result<Self> {
        let unshare = command.spawn().map_err(|e| {
            io::Error::new(
                e.kind(),
                format!("cannot start the AirPlay 2 receiver: {e}"),
            )
        })?;
        Ok(Self { unshare })
    }

    /// Fails if `unshare` (and so shairport-sync) already exited.
    pub(crate) fn check_running(&mut self) -> io::Result<()> {
        match self.unshare.try_wait()? {
            None => Ok(()),
            Some(status) => Err(io::Error::other(format!(
                "shairport-sync exited early with {status}"
            ))),
        }
    }

    /// Stops (`true`) or continues (`false`) the pid namespace's init, shairport-sync: a
    /// receiver that hangs without closing anything. Errors if there is no init to signal.
    pub(crate) fn freeze(&self, frozen: bool) -> io::Result<()> {
        let inits = self.inits();
        if inits.is_empty() {
            return Err(io::Error::other("shairport-sync is not running"));
        }
        let signal = if frozen { "-STOP" } else { "-CONT" };
        for pid in inits {
            let status = Command::new("kill")
                .args([signal, &pid.to_string()])
                .status()?;
            if !status.success() {
                return Err(io::Error::other(format!("kill {signal} {pid}: {status}")));
            }
        }
        Ok(())
    }

    /// Processes whose parent is `unshare`: the pid namespace's init.
    fn inits(&self) -> Vec<u32> {
        let parent = self.unshare.id().to_string();
        let Ok(entries) = std::fs::read_dir("/proc") else {
            return Vec::new();
        };
        entries
            .filter_map(Result::ok)
            .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
            .filter(|pid| {
                std::fs::read_to_string(format!("/proc/{pid}/status")).is_ok_and(|status| {
                    status
                        .lines()
                        .find_map(|l| l.strip_prefix("PPid:"))
                        .is_some_and(|ppid| ppid.trim() == parent)
                })
            })
            .collect()
    }
}

impl Drop for ProcessTree {
    fn drop(&mut self) {
        for pid in self.inits() {
            let _ = Command::new("kill")
                .args(["-KILL", &pid.to_string()])
                .status();
        }
        let deadline = Instant::now() + GRACE;
        while Instant::now() < deadline {
            if !matches!(self.unshare.try_wait(), Ok(None)) {
                return;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        let _ = self.unshare.kill();
        let _ = self.unshare.wait();
    }
}
