//! Puts received audio back in order: packets are tracked by sequence number (for gap
//! detection and retransmit requests) and written by RTP timestamp into one timeline (so the
//! output has the exact timeline the sender meant, gaps as silence).
//!
//! Everything a peer can grow is bounded by the protocol's window: a receiver buffers at
//! most [`WINDOW_PACKETS`] packets, a sender keeps that many for resending, and a sender
//! paces audio in real time, so a packet whose timestamp lies further ahead of the wall clock
//! than that window, or that many frames before the start, is no stream's packet.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Instant;

/// Packets a receiver buffers and a sender keeps for resending (raop.md §5.3: 1000–1024;
/// shairport-sync derives its latency ceiling from 1024).
pub const WINDOW_PACKETS: i64 = 1024;

/// Extends 16/32-bit wrapping counters to 64 bits, relative to the first value seen.
#[derive(Debug, Clone, Copy)]
struct Unwrapper {
    last: Option<(u64, i64)>,
    bits: u32,
}

impl Unwrapper {
    fn new(bits: u32) -> Self {
        Self { last: None, bits }
    }

    /// The extended counter nearest the last one seen, without remembering it.
    fn peek(&self, value: u64) -> i64 {
        let modulus = 1i64 << self.bits;
        let Some((last_raw, last_ext)) = self.last else {
            return 0;
        };
        let mut diff = (value as i64 - last_raw as i64).rem_euclid(modulus);
        if diff >= modulus / 2 {
            diff -= modulus;
        }
        last_ext + diff
    }

    /// Maps `value` to the extended counter nearest the last one seen.
    fn extend(&mut self, value: u64) -> i64 {
        let ext = self.peek(value);
        match self.last {
            None => self.last = Some((value, ext)),
            Some((_, last_ext)) if ext > last_ext => self.last = Some((value, ext)),
            Some(_) => {}
        }
        ext
    }
}

/// Gaps to ask the sender for: `(first_seq, count)` in wire numbering.
pub(crate) type GapRequest = (u16, u16);

/// A packet the assembler refused: its timestamp is outside the window a sender can use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("RTP timestamp {timestamp} is outside the stream's window")]
pub struct OutOfWindow {
    pub timestamp: u32,
}

/// Rebuilds one session's audio from packets in any order.
pub struct Assembler {
    channels: usize,
    sample_rate: u32,
    /// Frames a receiver buffers: [`WINDOW_PACKETS`] packets.
    window_frames: i64,
    seq: Unwrapper,
    ts: Unwrapper,
    /// When the timeline started (anchor or first packet): the clock senders pace by.
    started: Option<Instant>,
    /// Interleaved samples; index 0 is extended timestamp `origin` (≤ 0).
    timeline: Vec<i16>,
    origin: i64,
    /// Starts and frame counts of the packets still inside the window, for FLUSH.
    recent: BTreeMap<i64, usize>,
    /// Extended sequence numbers received, inside the window (for duplicates).
    received: BTreeSet<i64>,
    highest_seq: Option<i64>,
    /// Extended seqs we asked for and have not got yet (at most a window's worth).
    missing: BTreeSet<i64>,
    /// Missing packets that fell out of the window: the sender no longer has them.
    given_up: u64,
    first_seq_raw: Option<u16>,
    pub duplicates: u64,
    pub packets_received: u64,
    /// Packets refused as outside the window.
    pub out_of_window: u64,
}

impl Assembler {
    /// An assembler for `channels` interleaved channels at `sample_rate`, packets of
    /// `frames_per_packet` frames.
    pub fn new(channels: usize, sample_rate: u32, frames_per_packet: u32) -> Self {
        Self {
            channels: channels.max(1),
            sample_rate,
            window_frames: WINDOW_PACKETS * i64::from(frames_per_packet.max(1)),
            seq: Unwrapper::new(16),
            ts: Unwrapper::new(32),
            started: None,
            timeline: Vec::new(),
            origin: 0,
            recent: BTreeMap::new(),
            received: BTreeSet::new(),
            highest_seq: None,
            missing: BTreeSet::new(),
            given_up: 0,
            first_seq_raw: None,
            duplicates: 0,
            packets_received: 0,
            out_of_window: 0,
        }
    }

    /// Anchors the timeline at the RTP time the sender announced in RECORD, so audio that
    /// arrives after lost first packets still lands at the right place.
    pub fn anchor(&mut self, seq: u16, rtptime: u32, now: Instant) {
        if self.first_seq_raw.is_none() {
            self.seq.extend(u64::from(seq));
            self.ts.extend(u64::from(rtptime));
            self.first_seq_raw = Some(seq);
            self.highest_seq = Some(-1);
            self.started = Some(now);
        }
    }

    /// The furthest frame a sender pacing in real time can have sent by `now`.
    fn horizon(&self, now: Instant) -> i64 {
        let elapsed = self
            .started
            .map_or(0, |start| now.saturating_duration_since(start).as_millis());
        let paced = elapsed.saturating_mul(u128::from(self.sample_rate)) / 1000;
        i64::try_from(paced)
            .unwrap_or(i64::MAX / 2)
            .saturating_add(self.window_frames)
    }

    /// Stores a decoded packet; returns newly detected gaps to request, or refuses a packet
    /// whose timestamp no sender could use (it leaves no trace).
    pub fn insert(
        &mut self,
        seq: u16,
        timestamp: u32,
        samples: &[i16],
        now: Instant,
    ) -> Result<Vec<GapRequest>, OutOfWindow> {
        let frames = samples.len() / self.channels;
        let ext_ts = self.ts.peek(u64::from(timestamp));
        let end = ext_ts + frames as i64;
        let horizon = if self.started.is_some() {
            self.horizon(now)
        } else {
            self.window_frames
        };
        if ext_ts < -self.window_frames || end > horizon {
            self.out_of_window += 1;
            return Err(OutOfWindow { timestamp });
        }
        if self.started.is_none() {
            self.started = Some(now);
        }
        if self.first_seq_raw.is_none() {
            self.first_seq_raw = Some(seq);
        }
        let ext_seq = self.seq.extend(u64::from(seq));
        self.ts.extend(u64::from(timestamp));
        let oldest_kept = self.highest_seq.unwrap_or(ext_seq) - WINDOW_PACKETS;
        if ext_seq < oldest_kept || !self.received.insert(ext_seq) {
            self.duplicates += 1;
            return Ok(Vec::new());
        }
        self.packets_received += 1;
        self.missing.remove(&ext_seq);
        self.write(ext_ts, &samples[..frames * self.channels]);
        let mut gaps = Vec::new();
        let highest = self.highest_seq.unwrap_or(ext_seq - 1);
        if ext_seq > highest + 1 {
            // Only the last window's worth can still be resent.
            let first = (highest + 1).max(ext_seq - WINDOW_PACKETS);
            self.given_up += (first - (highest + 1)) as u64;
            self.missing.extend(first..ext_seq);
            gaps.push((self.raw_seq(first), (ext_seq - first) as u16));
        }
        if ext_seq > highest {
            self.highest_seq = Some(ext_seq);
            self.forget_before(ext_seq - WINDOW_PACKETS);
        }
        Ok(gaps)
    }

    /// Copies samples into the timeline at `ext_ts`, growing it (bounded by the window check).
    fn write(&mut self, ext_ts: i64, samples: &[i16]) {
        if ext_ts < self.origin {
            let shift = (self.origin - ext_ts) as usize * self.channels;
            self.timeline.splice(0..0, std::iter::repeat_n(0, shift));
            self.origin = ext_ts;
        }
        let offset = (ext_ts - self.origin) as usize * self.channels;
        let end = offset + samples.len();
        if self.timeline.len() < end {
            self.timeline.resize(end, 0);
        }
        self.timeline[offset..end].copy_from_slice(samples);
        self.recent.insert(ext_ts, samples.len() / self.channels);
        let recent_floor = ext_ts - self.window_frames;
        while let Some((&first, _)) = self.recent.first_key_value() {
            if first >= recent_floor {
                break;
            }
            self.recent.remove(&first);
        }
    }

    /// Moves missing packets older than `oldest` out of the set: no sender still has them.
    fn forget_before(&mut self, oldest: i64) {
        let kept = self.missing.split_off(&oldest);
        self.given_up += self.missing.len() as u64;
        self.missing = kept;
        self.received = self.received.split_off(&oldest);
    }

    fn raw_seq(&self, ext: i64) -> u16 {
        let first = i64::from(self.first_seq_raw.unwrap_or(0));
        (first + ext).rem_euclid(1 << 16) as u16
    }

    /// Everything still missing, as contiguous ranges (for repeated requests).
    pub fn missing_ranges(&self) -> Vec<GapRequest> {
        let mut ranges: Vec<GapRequest> = Vec::new();
        let mut run: Option<(i64, i64)> = None;
        for &s in &self.missing {
            run = match run {
                Some((start, end)) if s == end + 1 => Some((start, s)),
                Some((start, end)) => {
                    ranges.push((self.raw_seq(start), (end - start + 1) as u16));
                    Some((s, s))
                }
                None => Some((s, s)),
            };
        }
        if let Some((start, end)) = run {
            ranges.push((self.raw_seq(start), (end - start + 1) as u16));
        }
        ranges
    }

    /// Packets never received: still awaited, or given up as out of the window.
    pub fn missing_count(&self) -> usize {
        self.missing.len() + self.given_up as usize
    }

    /// Drops every packet that starts after `rtptime` (a FLUSH: what was not played yet).
    pub fn drop_after(&mut self, rtptime: u32) {
        let ext = self.ts.peek(u64::from(rtptime));
        let dropped = self.recent.split_off(&(ext + 1));
        if let Some(&first_dropped) = dropped.keys().next() {
            // The timeline now ends where the last kept packet ends (packets older than the
            // window all end before anything that can still be flushed).
            let end = self
                .recent
                .iter()
                .map(|(&start, &frames)| start + frames as i64)
                .max()
                .unwrap_or(first_dropped);
            let keep =
                ((end - self.origin).max(0) as usize * self.channels).min(self.timeline.len());
            self.timeline.truncate(keep);
        }
        self.missing.clear();
    }

    /// The whole stream as interleaved samples from the anchor on, gaps as silence.
    pub fn assemble(&self) -> Vec<i16> {
        self.timeline.clone()
    }

    /// Like [`assemble`](Self::assemble), without the copy.
    pub fn into_samples(self) -> Vec<i16> {
        self.timeline
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn packet(v: i16) -> Vec<i16> {
        vec![v; 4] // 2 stereo frames
    }

    fn assembler() -> Assembler {
        Assembler::new(2, 44_100, 352)
    }

    #[test]
    fn unwraps_counters() {
        let mut u = Unwrapper::new(16);
        assert_eq!(u.extend(65_534), 0);
        assert_eq!(u.extend(65_535), 1);
        assert_eq!(u.extend(0), 2);
        assert_eq!(u.extend(65_535), 1, "late packets map back");
        assert_eq!(u.extend(3), 5);
    }

    #[test]
    fn places_by_timestamp_and_reports_gaps() {
        let now = Instant::now();
        let mut a = assembler();
        a.anchor(65_535, u32::MAX - 1, now);
        assert!(
            a.insert(65_535, u32::MAX - 1, &packet(1), now)
                .unwrap()
                .is_empty()
        );
        // Packets 0 and 1 lost; 2 arrives.
        let gaps = a.insert(2, 4, &packet(4), now).unwrap();
        assert_eq!(gaps, vec![(0, 2)]);
        assert_eq!(a.missing_ranges(), vec![(0, 2)]);
        assert!(a.insert(1, 2, &packet(3), now).unwrap().is_empty());
        assert_eq!(a.missing_ranges(), vec![(0, 1)]);
        assert_eq!(
            a.assemble(),
            vec![1, 1, 1, 1, 0, 0, 0, 0, 3, 3, 3, 3, 4, 4, 4, 4]
        );
        assert!(a.insert(1, 2, &packet(3), now).unwrap().is_empty());
        assert_eq!(a.duplicates, 1);
    }

    #[test]
    fn lost_first_packet_still_leaves_its_silence() {
        let now = Instant::now();
        let mut a = assembler();
        a.anchor(10, 1000, now);
        let gaps = a.insert(11, 1002, &packet(7), now).unwrap();
        assert_eq!(gaps, vec![(10, 1)]);
        assert_eq!(a.assemble(), vec![0, 0, 0, 0, 7, 7, 7, 7]);
    }

    #[test]
    fn a_packet_before_the_first_one_extends_the_start() {
        let now = Instant::now();
        let mut a = assembler();
        a.insert(5, 100, &packet(2), now).unwrap();
        a.insert(4, 98, &packet(1), now).unwrap();
        assert_eq!(a.assemble(), vec![1, 1, 1, 1, 2, 2, 2, 2]);
    }

    #[test]
    fn flush_drops_later_audio() {
        let now = Instant::now();
        let mut a = assembler();
        a.anchor(0, 0, now);
        a.insert(0, 0, &packet(1), now).unwrap();
        a.insert(1, 2, &packet(2), now).unwrap();
        a.drop_after(1);
        assert_eq!(a.assemble(), vec![1, 1, 1, 1]);
    }

    #[test]
    fn timestamps_beyond_the_window_are_refused_without_allocating() {
        let now = Instant::now();
        let mut a = assembler();
        a.anchor(0, 0, now);
        a.insert(0, 0, &packet(1), now).unwrap();
        // A jump far past what a sender pacing in real time can have sent.
        assert!(a.insert(1, i32::MAX as u32, &packet(2), now).is_err());
        assert!(a.insert(1, 1 << 30, &packet(2), now).is_err());
        // Far before the start.
        assert!(a.insert(1, u32::MAX - 400_000, &packet(2), now).is_err());
        assert_eq!(a.out_of_window, 3);
        assert_eq!(a.assemble(), packet(1));
        // The refused packets did not move the counters: the next real one is in place.
        assert!(a.insert(1, 2, &packet(3), now).unwrap().is_empty());
        assert_eq!(a.assemble(), vec![1, 1, 1, 1, 3, 3, 3, 3]);
    }

    #[test]
    fn the_window_moves_with_the_clock() {
        let start = Instant::now();
        let mut a = assembler();
        a.anchor(0, 0, start);
        let far = 1024 * 352 + 44_100;
        assert!(a.insert(0, far, &packet(1), start).is_err());
        let later = start + std::time::Duration::from_secs(2);
        assert!(a.insert(0, far, &packet(1), later).is_ok());
    }

    #[test]
    fn missing_set_is_capped_by_the_window() {
        let now = Instant::now();
        let mut a = assembler();
        a.anchor(0, 0, now);
        a.insert(0, 0, &packet(1), now).unwrap();
        let gaps = a.insert(30_000, 2, &packet(2), now).unwrap();
        assert_eq!(gaps, vec![((30_000 - 1024) as u16, 1024)]);
        assert_eq!(a.missing_ranges().len(), 1);
        assert_eq!(a.missing_count(), 29_999);
        let gaps = a.insert(60_000, 4, &packet(3), now).unwrap();
        assert_eq!(gaps, vec![((60_000 - 1024) as u16, 1024)]);
        assert_eq!(a.missing_ranges(), vec![((60_000 - 1024) as u16, 1024)]);
        assert_eq!(a.missing_count(), 59_998);
    }
}
