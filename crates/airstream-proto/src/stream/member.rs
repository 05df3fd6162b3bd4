//! One receiver of a stream: its RTSP session, its addresses, and the deadlines that tell a
//! receiver that vanished from one that is just quiet.

use super::output::MemberFailure;
use super::transport::{MemberSession, MemberTransport};
use crate::format::{FRAMES_PER_PACKET, SAMPLE_RATE};
use crate::rtsp::Request;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// Silence from a receiver after which it is probed with an `OPTIONS`.
pub const PROBE_AFTER: Duration = Duration::from_secs(1);
/// How long a receiver may take to answer a request once streaming: with [`PROBE_AFTER`], a
/// receiver that vanished is noticed in about three seconds.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(2);

/// Counters for one member.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MemberStats {
    /// Audio packets sent to it.
    pub packets_sent: u64,
    /// Sync packets sent to it.
    pub sync_sent: u64,
    /// Its timing requests answered.
    pub timing_replies: u64,
    /// Retransmit requests it sent (from its own control port).
    pub retransmit_requests: u64,
    /// Packets resent from the history.
    pub retransmitted: u64,
    /// Requested packets no longer (or never) held.
    pub retransmit_missed: u64,
    /// Requested packets not resent because the request asked for more than a receiver can
    /// use, or came faster than the stream itself.
    pub retransmit_refused: u64,
    /// Datagrams from an address that is not this receiver's; never answered.
    pub foreign_datagrams: u64,
}

/// Where a member's receiver is and what its RTSP session agreed.
#[derive(Debug)]
pub struct MemberConfig {
    /// The RTSP address (also names the receiver in reports).
    pub rtsp: SocketAddr,
    /// Where audio goes (the SETUP reply's `server_port`).
    pub audio: SocketAddr,
    /// The receiver's control port: syncs and retransmissions go there, and only requests
    /// from there are answered.
    pub control: SocketAddr,
    /// The receiver's timing port; `None` when SETUP did not say (then requests from any
    /// port of its address are answered).
    pub timing: Option<SocketAddr>,
    /// `Audio-Latency` from RECORD, in frames.
    pub audio_latency: Option<u32>,
    /// The session, after RECORD.
    pub session: MemberSession,
    /// Which packets it takes.
    pub transport: MemberTransport,
}

/// A request written and not yet answered.
#[derive(Debug)]
struct InFlight {
    method: String,
    cseq: Option<String>,
    deadline: Instant,
}

#[derive(Debug)]
pub(crate) enum Standing {
    Active,
    /// TEARDOWN answered (or the connection closed while tearing down).
    Closed,
    Dropped(MemberFailure),
}

/// Retransmissions one receiver may ask for: at most what it can still use (the packets
/// within the latency), refilled at the stream's own packet rate, so a request never
/// returns more than one latency of audio and a second of requests no more than a second.
#[derive(Debug)]
struct RetransmitBudget {
    capacity: f64,
    tokens: f64,
    refilled: Instant,
}

impl RetransmitBudget {
    fn new(latency_frames: u32, now: Instant) -> Self {
        let capacity = f64::from((latency_frames / FRAMES_PER_PACKET).max(1));
        Self {
            capacity,
            tokens: capacity,
            refilled: now,
        }
    }

    /// How many of `asked` packets may be resent now; takes them from the budget.
    fn take(&mut self, asked: u16, now: Instant) -> u16 {
        let rate = f64::from(SAMPLE_RATE) / f64::from(FRAMES_PER_PACKET);
        let elapsed = now.saturating_duration_since(self.refilled).as_secs_f64();
        self.tokens = (self.tokens + elapsed * rate).min(self.capacity);
        self.refilled = now;
        let granted = f64::from(asked).min(self.tokens.floor());
        self.tokens -= granted;
        granted as u16
    }
}

#[derive(Debug)]
pub(crate) struct Member {
    pub(crate) config: MemberConfig,
    pub(crate) standing: Standing,
    pub(crate) stats: MemberStats,
    in_flight: Option<InFlight>,
    last_heard: Instant,
    last_probe: Option<Instant>,
    next_keep_alive: Instant,
    keep_alive: Duration,
    budget: RetransmitBudget,
    /// Set while a member that joined a running stream waits for its clock: it gets no
    /// audio until its first sync went out (see `membership`).
    pub(crate) join: Option<super::membership::Join>,
}

impl Member {
    pub(crate) fn new(
        config: MemberConfig,
        keep_alive: Duration,
        latency_frames: u32,
        now: Instant,
    ) -> Self {
        Self {
            config,
            standing: Standing::Active,
            stats: MemberStats::default(),
            in_flight: None,
            last_heard: now,
            last_probe: None,
            next_keep_alive: now + keep_alive,
            keep_alive,
            budget: RetransmitBudget::new(latency_frames, now),
            join: None,
        }
    }

    pub(crate) fn is_active(&self) -> bool {
        matches!(self.standing, Standing::Active)
    }

    pub(crate) fn awaiting_answer(&self) -> bool {
        self.in_flight.is_some()
    }

    /// Whether the receiver can place packets in time: NTP-timed receivers once they asked
    /// our timing port, PTP-timed ones always (they follow the PTP master, outside the engine).
    pub(crate) fn has_clock(&self) -> bool {
        self.config.transport.is_ptp_timed() || self.stats.timing_replies > 0
    }

    pub(crate) fn set_latency(&mut self, latency_frames: u32, now: Instant) {
        self.budget = RetransmitBudget::new(latency_frames, now);
    }

    pub(crate) fn heard(&mut self, now: Instant) {
        self.last_heard = self.last_heard.max(now);
        self.last_probe = None;
    }

    /// Whether `from` is this receiver's `expected` port (or any port of its address when
    /// the port is unknown).
    pub(crate) fn is_own(&mut self, from: SocketAddr, expected: Option<SocketAddr>) -> bool {
        let own = match expected {
            Some(expected) => same_address(from, expected),
            None => from.ip().to_canonical() == self.config.rtsp.ip().to_canonical(),
        };
        if !own {
            self.stats.foreign_datagrams += 1;
        }
        own
    }

    pub(crate) fn grant_retransmits(&mut self, asked: u16, now: Instant) -> u16 {
        let granted = self.budget.take(asked, now);
        self.stats.retransmit_refused += u64::from(asked - granted);
        granted
    }

    /// The next request to write, if none is waiting for its answer.
    pub(crate) fn poll_request(&mut self, now: Instant) -> Option<Request> {
        if self.in_flight.is_some() || matches!(self.standing, Standing::Dropped(_)) {
            return None;
        }
        let request = self.config.session.poll_request()?;
        self.in_flight = Some(InFlight {
            method: request.method.clone(),
            cseq: request.headers.get("CSeq").map(str::to_string),
            deadline: now + REQUEST_TIMEOUT,
        });
        Some(request)
    }

    /// Checks that `response` answers the request in flight: a response with nothing asked,
    /// or with another CSeq, is a protocol error, never taken as the next reply.
    pub(crate) fn take_answer(
        &mut self,
        response: &crate::rtsp::Response,
    ) -> Result<(), MemberFailure> {
        let Some(in_flight) = self.in_flight.take() else {
            return Err(MemberFailure::Unexpected(format!(
                "a response ({} {}) with no request outstanding",
                response.status, response.reason
            )));
        };
        if let (Some(sent), Some(got)) = (&in_flight.cseq, response.headers.get("CSeq"))
            && sent.trim() != got.trim()
        {
            return Err(MemberFailure::Unexpected(format!(
                "the answer to {} carries CSeq {got}, not {sent}",
                in_flight.method
            )));
        }
        Ok(())
    }

    /// Liveness and keep-alive work due at `now`; an unanswered request past its deadline
    /// is a failure.
    pub(crate) fn on_timeout(&mut self, now: Instant, probing: bool) -> Result<(), MemberFailure> {
        if !self.is_active() {
            return Ok(());
        }
        if let Some(in_flight) = &self.in_flight
            && now >= in_flight.deadline
        {
            return Err(MemberFailure::Timeout {
                request: in_flight.method.clone(),
                waited: REQUEST_TIMEOUT,
            });
        }
        if now >= self.next_keep_alive {
            self.config.session.keep_alive();
            self.next_keep_alive = now + self.keep_alive;
        }
        if probing && now >= self.next_probe() {
            self.config.session.keep_alive();
            self.last_probe = Some(now);
        }
        Ok(())
    }

    fn next_probe(&self) -> Instant {
        let quiet = self.last_heard + PROBE_AFTER;
        self.last_probe
            .map_or(quiet, |p| quiet.max(p + PROBE_AFTER))
    }

    /// The earliest instant at which [`on_timeout`](Self::on_timeout) has work.
    pub(crate) fn next_timeout(&self, probing: bool) -> Option<Instant> {
        if !self.is_active() {
            return None;
        }
        let request = self.in_flight.as_ref().map(|f| f.deadline);
        let own = if probing {
            self.next_keep_alive.min(self.next_probe())
        } else {
            self.next_keep_alive
        };
        Some(request.map_or(own, |r| r.min(own)))
    }
}

/// Same IP (IPv4-mapped IPv6 counts as IPv4) and port.
fn same_address(a: SocketAddr, b: SocketAddr) -> bool {
    a.port() == b.port() && a.ip().to_canonical() == b.ip().to_canonical()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_budget_grants_one_latency_at_once_then_the_stream_rate() {
        let t0 = Instant::now();
        // 2 s: 250 packets at once.
        let mut b = RetransmitBudget::new(88_200, t0);
        assert_eq!(b.take(1024, t0), 250);
        assert_eq!(b.take(10, t0), 0);
        // A second later, one second of packets (125.28) is back.
        assert_eq!(b.take(1024, t0 + Duration::from_secs(1)), 125);
        assert_eq!(
            b.take(3, t0 + Duration::from_secs(100)),
            3,
            "refilled, capped"
        );
        assert_eq!(b.take(1024, t0 + Duration::from_secs(100)), 247);
    }
}
