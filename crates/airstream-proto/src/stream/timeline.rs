//! One timeline for every member: sequence numbers, RTP times, the SSRC, and the mapping
//! from RTP time to the sender's clock.
//!
//! Packet `k` after [`Timeline::start`] is due at `start + k·352/44100 s`, computed from
//! integers so it never drifts, and carries RTP time `first + k·352`. Sync packets describe
//! that ideal timeline, not the moment a packet actually left, so a late packet costs buffer
//! margin but never moves the receiver's clock.

use crate::format::{FRAMES_PER_PACKET, SAMPLE_RATE};
use crate::ntp::NtpClock;
use crate::rtp::{AudioHeader, SyncPacket};
use std::time::{Duration, Instant};

/// Frames receivers add on top of what sync packets say (shairport-sync and Apple devices
/// for sync flags 7). Our latency setting is the total, so we announce `total - this`.
pub const RECEIVER_FIXED_LATENCY: u32 = 11_025;
const SYNC_INTERVAL: Duration = Duration::from_secs(1);

#[derive(Debug, Clone, Copy)]
struct Anchor {
    start: Instant,
    /// Packets sent since `start`.
    packets: u64,
}

#[derive(Debug)]
pub(crate) struct Timeline {
    ssrc: u32,
    next_seq: u16,
    next_rtptime: u32,
    clock: NtpClock,
    latency_frames: u32,
    anchor: Option<Anchor>,
    marker_pending: bool,
    first_sync_pending: bool,
    last_sync: Option<Instant>,
    /// Packets numbered since the stream began (all starts).
    pub(crate) packets: u64,
}

/// Time of `frames` at 44.1 kHz, exact to the nanosecond.
pub(crate) fn frames_to_duration(frames: u64) -> Duration {
    let nanos = u128::from(frames) * 1_000_000_000 / u128::from(SAMPLE_RATE);
    Duration::from_nanos(u64::try_from(nanos).unwrap_or(u64::MAX))
}

impl Timeline {
    pub(crate) fn new(ssrc: u32, first_seq: u16, first_rtptime: u32, clock: NtpClock) -> Self {
        Self {
            ssrc,
            next_seq: first_seq,
            next_rtptime: first_rtptime,
            clock,
            latency_frames: RECEIVER_FIXED_LATENCY,
            anchor: None,
            marker_pending: true,
            first_sync_pending: true,
            last_sync: None,
            packets: 0,
        }
    }

    pub(crate) fn clock(&self) -> &NtpClock {
        &self.clock
    }

    pub(crate) fn set_latency(&mut self, frames: u32) {
        self.latency_frames = frames;
    }

    pub(crate) fn latency_frames(&self) -> u32 {
        self.latency_frames
    }

    /// Anchors the timeline: the next packet is due at `now`, with the marker bit and a
    /// first sync, as for a new stream.
    pub(crate) fn start(&mut self, now: Instant) {
        self.anchor = Some(Anchor {
            start: now,
            packets: 0,
        });
        self.marker_pending = true;
        self.first_sync_pending = true;
        self.last_sync = None;
    }

    /// Stops the clock (pause): no packet is due until the next [`start`](Self::start).
    pub(crate) fn stop(&mut self) {
        self.anchor = None;
    }

    /// When the next packet is due, if the timeline runs.
    pub(crate) fn next_deadline(&self) -> Option<Instant> {
        let a = self.anchor?;
        Some(a.start + frames_to_duration(a.packets * u64::from(FRAMES_PER_PACKET)))
    }

    /// When a packet due at `deadline` becomes audible.
    pub(crate) fn audible_at(&self, deadline: Instant) -> Instant {
        deadline + frames_to_duration(u64::from(self.latency_frames))
    }

    /// Sequence number and RTP time the next packet will carry.
    pub(crate) fn next_position(&self) -> (u16, u32) {
        (self.next_seq, self.next_rtptime)
    }

    /// The header of the next packet (the marker only on the first after a start).
    pub(crate) fn header(&self) -> AudioHeader {
        AudioHeader {
            marker: self.marker_pending,
            seq: self.next_seq,
            timestamp: self.next_rtptime,
            ssrc: self.ssrc,
        }
    }

    /// Moves on by one packet.
    pub(crate) fn advance(&mut self) {
        self.marker_pending = false;
        self.next_seq = self.next_seq.wrapping_add(1);
        self.next_rtptime = self.next_rtptime.wrapping_add(FRAMES_PER_PACKET);
        self.packets += 1;
        if let Some(a) = self.anchor.as_mut() {
            a.packets += 1;
        }
    }

    /// A first (flagged) sync for the packet about to be sent, for one receiver that joins
    /// the running timeline; the schedule of the others' syncs is left alone. `None` while
    /// the timeline is stopped.
    pub(crate) fn join_sync(&self) -> Option<(SyncPacket, Instant)> {
        let deadline = self.next_deadline()?;
        let announced = self.latency_frames.saturating_sub(RECEIVER_FIXED_LATENCY);
        let sync = SyncPacket {
            first: true,
            rtp_audible_now: self.next_rtptime.wrapping_sub(announced),
            ntp: self.clock.ntp_at(deadline),
            rtp_now: self.next_rtptime,
        };
        Some((sync, deadline))
    }

    /// A sync packet for the packet about to be sent, when one is due: the first one right
    /// away (flagged), then about once a second.
    pub(crate) fn poll_sync(&mut self, now: Instant) -> Option<SyncPacket> {
        let deadline = self.next_deadline()?;
        let due = self.first_sync_pending
            || self
                .last_sync
                .is_none_or(|last| now.saturating_duration_since(last) >= SYNC_INTERVAL);
        if !due {
            return None;
        }
        self.last_sync = Some(now);
        let announced = self.latency_frames.saturating_sub(RECEIVER_FIXED_LATENCY);
        Some(SyncPacket {
            first: std::mem::take(&mut self.first_sync_pending),
            rtp_audible_now: self.next_rtptime.wrapping_sub(announced),
            ntp: self.clock.ntp_at(deadline),
            rtp_now: self.next_rtptime,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ntp::NtpTime;

    fn timeline(first_seq: u16, first_rtptime: u32) -> (Timeline, Instant) {
        let t0 = Instant::now();
        let mut t = Timeline::new(
            0x1122_3344,
            first_seq,
            first_rtptime,
            NtpClock::new(t0, NtpTime::from_parts(1000, 0)),
        );
        t.set_latency(88_200);
        (t, t0)
    }

    #[test]
    fn deadlines_follow_the_sample_clock_without_drift() {
        let (mut t, t0) = timeline(0, 0);
        assert_eq!(t.next_deadline(), None);
        t.start(t0);
        for _ in 0..44_100 * 60 / 352 {
            t.advance();
        }
        // 7517 packets · 352 frames = 2 645 984 frames = 59.999637 s.
        assert_eq!(
            t.next_deadline().unwrap() - t0,
            Duration::from_nanos(2_645_984 * 1_000_000_000 / 44_100)
        );
        let d = t.next_deadline().unwrap();
        assert_eq!(t.audible_at(d) - d, Duration::from_secs(2));
    }

    #[test]
    fn first_sync_is_flagged_and_describes_the_next_packet() {
        let (mut t, t0) = timeline(10, 5000);
        t.start(t0 + Duration::from_millis(500));
        let sync = t.poll_sync(t0).unwrap();
        assert!(sync.first);
        assert_eq!(sync.rtp_now, 5000);
        assert_eq!(sync.latency_frames(), 88_200 - RECEIVER_FIXED_LATENCY);
        assert_eq!(sync.ntp, NtpTime::from_parts(1000, 0x8000_0000));
        assert!(t.poll_sync(t0).is_none(), "not again within a second");
        t.advance();
        let later = t.poll_sync(t0 + Duration::from_secs(1)).unwrap();
        assert!(!later.first);
        assert_eq!(later.rtp_now, 5352);
    }

    #[test]
    fn numbers_wrap_and_a_restart_sets_marker_and_first_sync_again() {
        let (mut t, t0) = timeline(0xFFFF, u32::MAX - 100);
        t.start(t0);
        assert!(t.header().marker);
        t.advance();
        let h = t.header();
        assert!(!h.marker);
        assert_eq!(
            (h.seq, h.timestamp),
            (0, (u32::MAX - 100).wrapping_add(352))
        );
        t.stop();
        assert!(t.next_deadline().is_none() && t.poll_sync(t0).is_none());
        t.start(t0 + Duration::from_secs(5));
        assert!(t.header().marker);
        assert!(t.poll_sync(t0 + Duration::from_secs(5)).unwrap().first);
    }
}
