//! How a member's receiver takes the stream: AirPlay 1 (RAOP: plain RTP packets, sync
//! packets, NTP-style timing answered by us) or AirPlay 2 realtime (the payload sealed with
//! the stream key), timed either with PTP (anchor packets against the PTP master's clock,
//! timing left to PTP) or, as HomePods and Apple TVs also take it, with NTP (sync packets
//! and timing replies as AirPlay 1). Every kind shares one timeline: the same sequence
//! numbers, RTP times and deadlines.

use crate::ap2::{Ap2Session, ClockIdentity};
use crate::raop::{RaopSession, SessionError, SessionEvent};
use crate::rtsp::{Request, Response};
use bytes::Bytes;
use std::time::{Duration, Instant};

/// Which packets a member gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MemberTransport {
    /// AirPlay 1: RTP packets as encoded, sync packets, timing requests answered.
    Raop,
    /// AirPlay 2 realtime (type 96) timed with PTP: sealed packets and anchors; needs
    /// [`StreamConfig::airplay2`](super::StreamConfig::airplay2).
    AirPlay2,
    /// AirPlay 2 realtime (type 96) timed with NTP (session SETUP `timingProtocol: NTP`):
    /// sealed packets, but sync packets in NTP time and timing requests answered, as
    /// AirPlay 1; needs [`StreamConfig::airplay2`](super::StreamConfig::airplay2) for the key.
    AirPlay2Ntp,
}

impl MemberTransport {
    /// Whether its audio is sealed with the stream key (AirPlay 2 of either timing).
    pub fn is_sealed(self) -> bool {
        matches!(self, Self::AirPlay2 | Self::AirPlay2Ntp)
    }

    /// Whether it follows our PTP master (and so never asks our timing port).
    pub fn is_ptp_timed(self) -> bool {
        self == Self::AirPlay2
    }
}

/// The PTP master's clock as the engine sees it: master time = `offset` + (instant −
/// `origin`). The shell's PTP master must run on the same mapping, so that an anchor's
/// master time is what the receiver's PTP follower knows as that instant.
#[derive(Debug, Clone, Copy)]
pub struct MasterClock {
    /// The instant the master's own time line starts at.
    pub origin: Instant,
    /// Master time at `origin`.
    pub offset: Duration,
    /// The master's clock identity (anchors name it).
    pub identity: ClockIdentity,
}

impl MasterClock {
    /// The time since `origin`, as [`crate::ap2::PtpMaster`] takes it.
    pub fn since_origin(&self, at: Instant) -> Duration {
        at.saturating_duration_since(self.origin)
    }

    /// Master time of `at`, in nanoseconds.
    pub fn nanos_at(&self, at: Instant) -> u64 {
        u64::try_from((self.since_origin(at) + self.offset).as_nanos()).unwrap_or(u64::MAX)
    }
}

/// What AirPlay 2 members of a stream share: one stream key (so every AirPlay 2 member gets
/// the same sealed datagram) and the master clock.
#[derive(Clone)]
pub struct Ap2StreamConfig {
    /// The ChaCha20-Poly1305 stream key sent in the stream SETUP; never in `Debug`.
    pub shk: [u8; 32],
    /// The PTP master's clock the anchors refer to.
    pub clock: MasterClock,
}

impl std::fmt::Debug for Ap2StreamConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ap2StreamConfig")
            .field("shk", &"..")
            .field("clock", &self.clock)
            .finish()
    }
}

/// A member's RTSP session, of either kind, after RECORD.
#[derive(Debug)]
pub enum MemberSession {
    /// AirPlay 1 (ANNOUNCE/SETUP/RECORD).
    Raop(RaopSession),
    /// AirPlay 2 (SETUP with bplists, RECORD).
    AirPlay2(Ap2Session),
}

impl From<RaopSession> for MemberSession {
    fn from(session: RaopSession) -> Self {
        Self::Raop(session)
    }
}

impl From<Ap2Session> for MemberSession {
    fn from(session: Ap2Session) -> Self {
        Self::AirPlay2(session)
    }
}

impl MemberSession {
    /// The next request to write, if none is in flight.
    pub fn poll_request(&mut self) -> Option<Request> {
        match self {
            Self::Raop(s) => s.poll_request(),
            Self::AirPlay2(s) => s.poll_request(),
        }
    }

    /// Feeds the response to the request in flight.
    pub fn handle_response(&mut self, response: &Response) -> Result<(), SessionError> {
        match self {
            Self::Raop(s) => s.handle_response(response),
            Self::AirPlay2(s) => s.handle_response(response),
        }
    }

    /// The next session event.
    pub fn poll_event(&mut self) -> Option<SessionEvent> {
        match self {
            Self::Raop(s) => s.poll_event(),
            Self::AirPlay2(s) => s.poll_event(),
        }
    }

    /// Queues a volume change, in AirPlay dB.
    pub fn set_volume(&mut self, db: f32) {
        match self {
            Self::Raop(s) => s.set_volume(db),
            Self::AirPlay2(s) => s.set_volume(db),
        }
    }

    /// Queues a `SET_PARAMETER` (metadata, artwork, progress).
    pub fn set_parameter(&mut self, content_type: &'static str, body: Bytes, rtptime: Option<u32>) {
        match self {
            Self::Raop(s) => s.set_parameter(content_type, body, rtptime),
            Self::AirPlay2(s) => s.set_parameter(content_type, body, rtptime),
        }
    }

    /// Queues a keep-alive, at most one at a time.
    pub fn keep_alive(&mut self) {
        match self {
            Self::Raop(s) => s.keep_alive(),
            Self::AirPlay2(s) => s.keep_alive(),
        }
    }

    /// Queues a FLUSH of everything from `next_seq`/`next_rtptime` on.
    pub fn flush(&mut self, next_seq: u16, next_rtptime: u32) {
        match self {
            Self::Raop(s) => s.flush(next_seq, next_rtptime),
            Self::AirPlay2(s) => s.flush(next_seq, next_rtptime),
        }
    }

    /// Ends the session after what is queued.
    pub fn teardown(&mut self) {
        match self {
            Self::Raop(s) => s.teardown(),
            Self::AirPlay2(s) => s.teardown(),
        }
    }
}
