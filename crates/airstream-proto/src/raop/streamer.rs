//! The sender's audio path, sans-IO: numbers RTP packets, keeps the last ones for
//! retransmission, answers timing requests and produces sync packets, all on one timeline.
//!
//! Timeline: packet `k` after [`AudioStreamer::start`] is due at `start + k·352/44100 s`
//! (computed from integers, so there is no drift) and carries RTP time `start_rtp + k·352`.
//! Sync packets describe that ideal timeline, not the moment a packet actually left, so a
//! late packet costs buffer margin but never moves the receiver's clock.

use crate::ntp::NtpClock;
use crate::rtp::{
    AudioHeader, AudioPacket, ControlDatagram, FRAMES_PER_PACKET, SyncPacket, TimingPacket,
    audio_packet, retransmit_reply,
};
use bytes::Bytes;
use std::time::{Duration, Instant};

/// Frames receivers add on top of what sync packets say (shairport-sync and Apple devices
/// for sync flags 7). Our latency setting is the total, so we announce `total - this`.
pub const RECEIVER_FIXED_LATENCY: u32 = 11_025;
/// Packets kept for retransmission (≈ 8.2 s at 44.1 kHz).
pub const RETRANSMIT_RING: usize = 1024;
const SYNC_INTERVAL: Duration = Duration::from_secs(1);

#[derive(Debug, Clone, Copy)]
pub struct StreamerConfig {
    pub ssrc: u32,
    pub first_seq: u16,
    pub first_rtptime: u32,
    pub sample_rate: u32,
    /// Total latency in frames: the time from a packet's deadline to it being audible.
    pub latency_frames: u32,
}

/// Counters for reports and tests.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StreamerStats {
    pub packets_sent: u64,
    pub sync_sent: u64,
    pub timing_replies: u64,
    pub retransmit_requests: u64,
    /// Packets resent from the ring.
    pub retransmitted: u64,
    /// Requested packets no longer (or never) held.
    pub retransmit_missed: u64,
}

#[derive(Debug, Clone, Copy)]
struct Timeline {
    start: Instant,
    /// Packets sent since `start`.
    packets: u64,
}

pub struct AudioStreamer {
    config: StreamerConfig,
    clock: NtpClock,
    next_seq: u16,
    next_rtptime: u32,
    timeline: Option<Timeline>,
    ring: Vec<Option<(u16, Bytes)>>,
    marker_pending: bool,
    first_sync_pending: bool,
    last_sync: Option<Instant>,
    stats: StreamerStats,
}

impl AudioStreamer {
    pub fn new(config: StreamerConfig, clock: NtpClock) -> Self {
        Self {
            config,
            clock,
            next_seq: config.first_seq,
            next_rtptime: config.first_rtptime,
            timeline: None,
            ring: vec![None; RETRANSMIT_RING],
            marker_pending: true,
            first_sync_pending: true,
            last_sync: None,
            stats: StreamerStats::default(),
        }
    }

    pub fn stats(&self) -> StreamerStats {
        self.stats
    }

    pub fn clock(&self) -> &NtpClock {
        &self.clock
    }

    /// Anchors the timeline: the next packet is due at `now`.
    pub fn start(&mut self, now: Instant) {
        self.timeline = Some(Timeline {
            start: now,
            packets: 0,
        });
        self.marker_pending = true;
        self.first_sync_pending = true;
        self.last_sync = None;
    }

    pub fn is_started(&self) -> bool {
        self.timeline.is_some()
    }

    fn frames_to_duration(&self, frames: u64) -> Duration {
        let nanos = u128::from(frames) * 1_000_000_000 / u128::from(self.config.sample_rate);
        Duration::from_nanos(u64::try_from(nanos).unwrap_or(u64::MAX))
    }

    /// When the next packet is due, if the timeline runs.
    pub fn next_deadline(&self) -> Option<Instant> {
        let t = self.timeline?;
        Some(t.start + self.frames_to_duration(t.packets * u64::from(FRAMES_PER_PACKET)))
    }

    /// When the frame just before the next packet becomes audible at the receiver.
    pub fn audible_end(&self) -> Option<Instant> {
        Some(self.next_deadline()? + self.frames_to_duration(u64::from(self.config.latency_frames)))
    }

    /// Sequence number and RTP time the next packet will carry.
    pub fn next_position(&self) -> (u16, u32) {
        (self.next_seq, self.next_rtptime)
    }

    /// Builds the next audio datagram around an already-encoded (and encrypted) payload,
    /// keeps it for retransmission, and advances the timeline.
    pub fn packet(&mut self, payload: &[u8]) -> Bytes {
        let header = self.next_header();
        let datagram = Bytes::from(audio_packet(&header, payload));
        self.keep(header.seq, datagram.clone());
        datagram
    }

    /// Takes `datagram`, built by another streamer on the same timeline (a group shares
    /// sequence numbers, RTP times and SSRC), as this one's next packet: the bytes are
    /// shared, not copied. A datagram for another position is refused (`false`).
    pub fn adopt(&mut self, datagram: &Bytes) -> bool {
        let Ok(AudioPacket { header, .. }) = AudioPacket::parse(datagram) else {
            return false;
        };
        if header != self.next_header() {
            return false;
        }
        self.keep(header.seq, datagram.clone());
        true
    }

    /// The header of the next packet (the marker only on the first after a start).
    fn next_header(&self) -> AudioHeader {
        AudioHeader {
            marker: self.marker_pending,
            seq: self.next_seq,
            timestamp: self.next_rtptime,
            ssrc: self.config.ssrc,
        }
    }

    /// Holds the packet just sent for retransmits and moves the timeline on by one.
    fn keep(&mut self, seq: u16, datagram: Bytes) {
        self.marker_pending = false;
        self.ring[usize::from(seq) % RETRANSMIT_RING] = Some((seq, datagram));
        self.next_seq = self.next_seq.wrapping_add(1);
        self.next_rtptime = self.next_rtptime.wrapping_add(FRAMES_PER_PACKET);
        if let Some(t) = self.timeline.as_mut() {
            t.packets += 1;
        }
        self.stats.packets_sent += 1;
    }

    /// A sync packet for the packet about to be sent, when one is due: the first one right
    /// away (flagged), then about once a second. Call before each [`packet`](Self::packet).
    pub fn poll_sync(&mut self, now: Instant) -> Option<[u8; 20]> {
        let deadline = self.next_deadline()?;
        let due = self.first_sync_pending
            || self
                .last_sync
                .is_none_or(|last| now.saturating_duration_since(last) >= SYNC_INTERVAL);
        if !due {
            return None;
        }
        self.last_sync = Some(now);
        let announced = self
            .config
            .latency_frames
            .saturating_sub(RECEIVER_FIXED_LATENCY);
        let sync = SyncPacket {
            first: std::mem::take(&mut self.first_sync_pending),
            rtp_audible_now: self.next_rtptime.wrapping_sub(announced),
            ntp: self.clock.ntp_at(deadline),
            rtp_now: self.next_rtptime,
        };
        self.stats.sync_sent += 1;
        Some(sync.encode())
    }

    /// Answers a datagram from the receiver's control port: retransmit requests get the
    /// original packets back (iTunes form); packets no longer held are counted and skipped.
    pub fn handle_control(&mut self, datagram: &[u8]) -> Vec<Bytes> {
        let Ok(ControlDatagram::RetransmitRequest(request)) = ControlDatagram::parse(datagram)
        else {
            return Vec::new();
        };
        self.stats.retransmit_requests += 1;
        let mut replies = Vec::new();
        for seq in request.seqs() {
            match &self.ring[usize::from(seq) % RETRANSMIT_RING] {
                Some((stored, packet)) if *stored == seq => {
                    replies.push(Bytes::from(retransmit_reply(packet)));
                    self.stats.retransmitted += 1;
                }
                _ => self.stats.retransmit_missed += 1,
            }
        }
        replies
    }

    /// Answers a timing request that arrived at `received`; the reply is stamped `now`.
    pub fn handle_timing(
        &mut self,
        datagram: &[u8],
        received: Instant,
        now: Instant,
    ) -> Option<[u8; 32]> {
        let request = TimingPacket::parse(datagram).ok().filter(|p| !p.reply)?;
        self.stats.timing_replies += 1;
        Some(
            TimingPacket::reply_to(
                &request,
                self.clock.ntp_at(received),
                self.clock.ntp_at(now),
            )
            .encode(),
        )
    }

    /// Stops the timeline (pause/flush): the next [`start`](Self::start) resumes after the
    /// last packet with the marker bit and a first-sync flag, as for a new stream.
    pub fn stop_timeline(&mut self) {
        self.timeline = None;
    }

    /// Forgets every held packet (end of stream).
    pub fn clear_ring(&mut self) {
        self.ring.iter_mut().for_each(|slot| *slot = None);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ntp::NtpTime;
    use crate::rtp::{AudioPacket, RetransmitRequest};

    fn streamer(first_seq: u16, first_rtptime: u32) -> (AudioStreamer, Instant) {
        let t0 = Instant::now();
        let s = AudioStreamer::new(
            StreamerConfig {
                ssrc: 0x1122_3344,
                first_seq,
                first_rtptime,
                sample_rate: 44_100,
                latency_frames: 88_200,
            },
            NtpClock::new(t0, NtpTime::from_parts(1000, 0)),
        );
        (s, t0)
    }

    #[test]
    fn deadlines_follow_the_sample_clock_without_drift() {
        let (mut s, t0) = streamer(0, 0);
        assert_eq!(s.next_deadline(), None);
        s.start(t0);
        for _ in 0..44_100 * 60 / 352 {
            s.packet(&[]);
        }
        // 7517 packets · 352 frames = 2 645 984 frames = 59.999637 s.
        let elapsed = s.next_deadline().unwrap() - t0;
        assert_eq!(
            elapsed,
            Duration::from_nanos(2_645_984 * 1_000_000_000 / 44_100)
        );
        assert_eq!(
            s.audible_end().unwrap() - s.next_deadline().unwrap(),
            Duration::from_secs(2)
        );
    }

    #[test]
    fn sync_packets_keep_a_slope_of_exactly_the_sample_rate() {
        let (mut s, t0) = streamer(0, 1_000_000);
        s.start(t0);
        let mut syncs = Vec::new();
        // 60 s of packets; the caller asks for a sync before each one, at its deadline.
        for _ in 0..7517 {
            let now = s.next_deadline().unwrap();
            if let Some(sync) = s.poll_sync(now) {
                syncs.push(SyncPacket::parse(&sync).unwrap());
            }
            s.packet(&[]);
        }
        assert!(
            (59..=61).contains(&syncs.len()),
            "about one a second: {}",
            syncs.len()
        );
        let first = syncs[0];
        for sync in &syncs[1..] {
            let seconds = sync.ntp.wrapping_diff(first.ntp) as f64 / 4_294_967_296.0;
            let frames = f64::from(sync.rtp_now.wrapping_sub(first.rtp_now));
            // NTP fractions are 2^-32 s; one frame is ~97 000 of them.
            assert!(
                (frames - seconds * 44_100.0).abs() < 0.01,
                "{frames} vs {seconds}"
            );
            assert_eq!(sync.latency_frames(), 88_200 - RECEIVER_FIXED_LATENCY);
        }
    }

    #[test]
    fn packets_number_and_wrap() {
        let (mut s, t0) = streamer(0xFFFF, u32::MAX - 100);
        s.start(t0);
        let a = s.packet(&[1]);
        let b = s.packet(&[2]);
        let pa = AudioPacket::parse(&a).unwrap();
        let pb = AudioPacket::parse(&b).unwrap();
        assert!(pa.header.marker && !pb.header.marker);
        assert_eq!((pa.header.seq, pb.header.seq), (0xFFFF, 0));
        assert_eq!(pa.header.timestamp, u32::MAX - 100);
        assert_eq!(pb.header.timestamp, (u32::MAX - 100).wrapping_add(352));
        assert_eq!(pa.header.ssrc, 0x1122_3344);
    }

    #[test]
    fn first_sync_is_flagged_and_describes_the_next_packet() {
        let (mut s, t0) = streamer(10, 5000);
        s.start(t0 + Duration::from_millis(500));
        let sync = SyncPacket::parse(&s.poll_sync(t0).unwrap()).unwrap();
        assert!(sync.first);
        assert_eq!(sync.rtp_now, 5000);
        assert_eq!(sync.latency_frames(), 88_200 - RECEIVER_FIXED_LATENCY);
        assert_eq!(sync.ntp, NtpTime::from_parts(1000, 0x8000_0000));
        assert!(s.poll_sync(t0).is_none(), "not again within a second");
        s.packet(&[]);
        let later = s.poll_sync(t0 + Duration::from_secs(1)).unwrap();
        let later = SyncPacket::parse(&later).unwrap();
        assert!(!later.first);
        assert_eq!(later.rtp_now, 5352);
    }

    #[test]
    fn a_group_member_adopts_the_leaders_bytes_and_resends_them() {
        let (mut leader, t0) = streamer(100, 5000);
        let (mut member, _) = streamer(100, 5000);
        leader.start(t0);
        member.start(t0);
        let first = leader.packet(&[1, 2, 3]);
        assert!(member.adopt(&first), "same position, marker included");
        assert!(!member.adopt(&first), "a packet is taken once");
        let (mut stranger, _) = streamer(101, 5352);
        assert!(
            !stranger.adopt(&leader.packet(&[4])),
            "marker still pending"
        );
        assert!(!member.adopt(&Bytes::from_static(b"not rtp")));
        let req = RetransmitRequest {
            first_seq: 100,
            count: 1,
        }
        .encode(1);
        let resent = member.handle_control(&req);
        assert_eq!(resent.len(), 1);
        assert_eq!(&resent[0][4..], &first[..]);
        assert_eq!(member.stats().packets_sent, 1);
        assert_eq!(member.next_position(), (101, 5352));
    }

    #[test]
    fn retransmits_from_ring_and_counts_misses() {
        let (mut s, t0) = streamer(65_530, 0);
        s.start(t0);
        let sent: Vec<Bytes> = (0..10u8).map(|i| s.packet(&[i])).collect();
        // Wraps past 65535: 65534, 65535, 0, 1.
        let req = RetransmitRequest {
            first_seq: 65_534,
            count: 4,
        }
        .encode(1);
        let replies = s.handle_control(&req);
        assert_eq!(replies.len(), 4);
        for (reply, original) in replies.iter().zip(&sent[4..8]) {
            assert_eq!(&reply[4..], &original[..], "resent bytes are the originals");
            assert_eq!(&reply[..2], &[0x80, 0xD6]);
        }
        let stale = RetransmitRequest {
            first_seq: 100,
            count: 2,
        }
        .encode(2);
        assert!(s.handle_control(&stale).is_empty());
        let stats = s.stats();
        assert_eq!((stats.retransmitted, stats.retransmit_missed), (4, 2));
        assert_eq!(stats.retransmit_requests, 2);
    }

    #[test]
    fn ring_holds_the_last_1024_packets() {
        let (mut s, t0) = streamer(0, 0);
        s.start(t0);
        for _ in 0..2000 {
            s.packet(&[0]);
        }
        let held = RetransmitRequest {
            first_seq: 2000 - 1024,
            count: 1024,
        }
        .encode(1);
        assert_eq!(s.handle_control(&held).len(), 1024);
        let gone = RetransmitRequest {
            first_seq: 2000 - 1025,
            count: 1,
        }
        .encode(1);
        assert!(s.handle_control(&gone).is_empty());
        s.clear_ring();
        assert!(s.handle_control(&held).is_empty());
    }

    #[test]
    fn timing_reply_uses_the_same_clock() {
        let (mut s, t0) = streamer(0, 0);
        let request = TimingPacket {
            reply: false,
            reference: NtpTime(0),
            received: NtpTime(0),
            sent: NtpTime(0xABCD),
        }
        .encode();
        let reply = s
            .handle_timing(
                &request,
                t0 + Duration::from_secs(1),
                t0 + Duration::from_secs(2),
            )
            .unwrap();
        let reply = TimingPacket::parse(&reply).unwrap();
        assert!(reply.reply);
        assert_eq!(reply.reference, NtpTime(0xABCD));
        assert_eq!(reply.received, NtpTime::from_parts(1001, 0));
        assert_eq!(reply.sent, NtpTime::from_parts(1002, 0));
        assert!(
            s.handle_timing(&reply.encode(), t0, t0).is_none(),
            "replies are not answered"
        );
        assert_eq!(s.stats().timing_replies, 1);
    }

    #[test]
    fn restart_after_stop_sets_marker_and_first_sync_again() {
        let (mut s, t0) = streamer(0, 0);
        s.start(t0);
        s.poll_sync(t0);
        s.packet(&[]);
        s.packet(&[]);
        s.stop_timeline();
        assert!(s.next_deadline().is_none());
        s.start(t0 + Duration::from_secs(5));
        let sync = SyncPacket::parse(&s.poll_sync(t0 + Duration::from_secs(5)).unwrap()).unwrap();
        assert!(sync.first);
        assert_eq!(sync.rtp_now, 704);
        let p = s.packet(&[]);
        assert!(AudioPacket::parse(&p).unwrap().header.marker);
    }
}
