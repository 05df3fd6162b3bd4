//! A small UDP loop in the sender namespace that drives the sans-IO PTP master: it binds
//! 319 and 320, sends what the master yields to each follower from the matching port, and
//! feeds whatever followers send back (nqptp announces itself) to the master.

use crate::netns::Netns;
use airstream_proto::ap2::{PtpMaster, PtpPort};
use std::io;
use std::net::{IpAddr, Ipv4Addr, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::thread::JoinHandle;
use std::time::Duration;

/// How long the loop blocks on input at most, so it notices `stop` and its deadlines.
const POLL: Duration = Duration::from_millis(5);

/// What the loop did, for assertions.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PtpLoopReport {
    pub datagrams_sent: u64,
    pub messages_received: u64,
    pub malformed_received: u64,
}

/// The running loop; dropping it stops it.
pub struct PtpLoop {
    stop: Arc<AtomicBool>,
    report: Arc<Mutex<PtpLoopReport>>,
    thread: Option<JoinHandle<io::Result<()>>>,
}

struct Sockets {
    event: UdpSocket,
    general: UdpSocket,
}

impl Sockets {
    fn bind() -> io::Result<Self> {
        let bind = |port: PtpPort| {
            UdpSocket::bind((Ipv4Addr::UNSPECIFIED, port.number())).map_err(|e| {
                io::Error::new(
                    e.kind(),
                    format!("cannot bind PTP port {}: {e}", port.number()),
                )
            })
        };
        let sockets = Self {
            event: bind(PtpPort::Event)?,
            general: bind(PtpPort::General)?,
        };
        sockets.general.set_nonblocking(true)?;
        Ok(sockets)
    }

    fn socket(&self, port: PtpPort) -> &UdpSocket {
        match port {
            PtpPort::Event => &self.event,
            PtpPort::General => &self.general,
        }
    }
}

impl PtpLoop {
    /// Starts `master` in `sender`'s namespace, sending to `followers`; `clock` is the
    /// monotonic time the master's time is an offset from. Returns once both ports are bound.
    pub fn start(
        sender: &Netns,
        mut master: PtpMaster,
        followers: Vec<IpAddr>,
        clock: fn() -> Duration,
    ) -> io::Result<Self> {
        let stop = Arc::new(AtomicBool::new(false));
        let report = Arc::new(Mutex::new(PtpLoopReport::default()));
        let (ready_tx, ready_rx) = mpsc::channel();
        let (loop_stop, loop_report) = (Arc::clone(&stop), Arc::clone(&report));
        let thread = sender.spawn("ptp-master", move || {
            let sockets = match Sockets::bind() {
                Ok(s) => s,
                Err(e) => {
                    let _ = ready_tx.send(Err(e));
                    return;
                }
            };
            let _ = ready_tx.send(Ok(()));
            let mut buf = [0u8; 1500];
            while !loop_stop.load(Ordering::Relaxed) {
                let now = clock();
                if master.poll_timeout().is_none_or(|due| now >= due) {
                    master.handle_timeout(now);
                }
                let mut sent = 0;
                while let Some(t) = master.poll_transmit() {
                    for follower in &followers {
                        if sockets
                            .socket(t.port)
                            .send_to(&t.bytes, (*follower, t.port.number()))
                            .is_ok()
                        {
                            sent += 1;
                        }
                    }
                }
                let wait = master
                    .poll_timeout()
                    .and_then(|due| due.checked_sub(clock()))
                    .unwrap_or_default()
                    .clamp(Duration::from_millis(1), POLL);
                let _ = sockets.event.set_read_timeout(Some(wait));
                let mut received = Vec::new();
                if let Ok((n, from)) = sockets.event.recv_from(&mut buf) {
                    received.push((buf[..n].to_vec(), from.ip()));
                }
                while let Ok((n, from)) = sockets.general.recv_from(&mut buf) {
                    received.push((buf[..n].to_vec(), from.ip()));
                }
                if let Ok(mut r) = loop_report.lock() {
                    r.datagrams_sent += sent;
                    // Only followers are listened to; anything else is not ours to read.
                    for (bytes, _) in received.iter().filter(|(_, f)| followers.contains(f)) {
                        match master.handle_input(bytes) {
                            Ok(_) => r.messages_received += 1,
                            Err(_) => r.malformed_received += 1,
                        }
                    }
                }
            }
        })?;
        let started = ready_rx
            .recv()
            .map_err(|_| io::Error::other("PTP loop thread ended before binding"));
        let ptp = Self {
            stop,
            report,
            thread: Some(thread),
        };
        started??;
        Ok(ptp)
    }

    /// Counts so far.
    pub fn report(&self) -> PtpLoopReport {
        self.report.lock().map(|r| *r).unwrap_or_default()
    }
}

impl Drop for PtpLoop {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
