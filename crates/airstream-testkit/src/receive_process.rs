//! A running `airstream receive` for the CLI's tests: its address, its output lines, its
//! peak memory; killed and reaped when dropped. Not advertised: mDNS only runs inside test
//! namespaces.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, ChildStderr, ChildStdout, Command, Stdio};

/// `airstream receive --no-advertise --port 0 --output OUTPUT`, started and listening.
pub struct ReceiveProcess {
    child: Child,
    /// Where it listens (from its first line, "listening on ADDRESS").
    pub addr: SocketAddr,
    stdout: BufReader<ChildStdout>,
    stderr: BufReader<ChildStderr>,
}

impl ReceiveProcess {
    /// Starts `airstream` (the binary at `program`) and waits for its "listening on" line.
    ///
    /// # Panics
    /// If it cannot start or its first line is anything else (a test failure).
    pub fn start(program: impl AsRef<std::ffi::OsStr>, output: &Path) -> Self {
        let mut child = Command::new(program)
            .args(["receive", "--no-advertise", "--port", "0", "--output"])
            .arg(output)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("airstream receive starts");
        let mut stderr = BufReader::new(child.stderr.take().expect("piped stderr"));
        let stdout = BufReader::new(child.stdout.take().expect("piped stdout"));
        let mut line = String::new();
        stderr.read_line(&mut line).expect("its first line");
        let addr = line
            .trim()
            .strip_prefix("listening on ")
            .and_then(|a| a.parse().ok())
            .unwrap_or_else(|| panic!("not listening: {line:?}"));
        Self {
            child,
            addr,
            stdout,
            stderr,
        }
    }

    /// Peak RSS of the receiver process so far, in bytes.
    pub fn peak_rss(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .expect("its /proc status");
        let kib: u64 = status
            .lines()
            .find_map(|l| l.strip_prefix("VmHWM:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .expect("VmHWM in /proc status");
        kib * 1024
    }

    /// Its next line on stdout (a session's summary).
    pub fn next_stdout_line(&mut self) -> String {
        let line = read_line(&mut self.stdout);
        self.assert_running(&line);
        line
    }

    /// Its next line on stderr (a warning or an error it survived).
    pub fn next_stderr_line(&mut self) -> String {
        let line = read_line(&mut self.stderr);
        self.assert_running(&line);
        line
    }

    fn assert_running(&mut self, line: &str) {
        assert!(
            !line.is_empty(),
            "the receiver ended: {:?}",
            self.child.try_wait()
        );
    }
}

fn read_line(reader: &mut impl BufRead) -> String {
    let mut line = String::new();
    reader
        .read_line(&mut line)
        .expect("a line from the receiver");
    line
}

impl Drop for ReceiveProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
