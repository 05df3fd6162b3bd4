//! Puts received audio back in order: packets are kept by sequence number (for gap
//! detection and retransmit requests) and placed by RTP timestamp (so the output has the
//! exact timeline the sender meant, gaps as silence).

use std::collections::{BTreeMap, BTreeSet};

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

    /// Maps `value` to the extended counter nearest the last one seen.
    fn extend(&mut self, value: u64) -> i64 {
        let modulus = 1i64 << self.bits;
        let Some((last_raw, last_ext)) = self.last else {
            self.last = Some((value, 0));
            return 0;
        };
        let mut diff = (value as i64 - last_raw as i64).rem_euclid(modulus);
        if diff >= modulus / 2 {
            diff -= modulus;
        }
        let ext = last_ext + diff;
        if diff > 0 {
            self.last = Some((value, ext));
        }
        ext
    }
}

/// Gaps to ask the sender for: `(first_seq, count)` in wire numbering.
pub(crate) type GapRequest = (u16, u16);

pub struct Assembler {
    channels: usize,
    seq: Unwrapper,
    ts: Unwrapper,
    /// Extended timestamp (frames from the first packet) → samples.
    packets: BTreeMap<i64, Vec<i16>>,
    /// Extended sequence numbers received.
    received: BTreeSet<i64>,
    highest_seq: Option<i64>,
    /// Extended seqs we asked for and have not got yet.
    missing: BTreeSet<i64>,
    first_seq_raw: Option<u16>,
    pub duplicates: u64,
    pub packets_received: u64,
}

impl Assembler {
    pub fn new(channels: usize) -> Self {
        Self {
            channels,
            seq: Unwrapper::new(16),
            ts: Unwrapper::new(32),
            packets: BTreeMap::new(),
            received: BTreeSet::new(),
            highest_seq: None,
            missing: BTreeSet::new(),
            first_seq_raw: None,
            duplicates: 0,
            packets_received: 0,
        }
    }

    /// Anchors the timeline at the RTP time the sender announced in RECORD, so audio that
    /// arrives after lost first packets still lands at the right place.
    pub fn anchor(&mut self, seq: u16, rtptime: u32) {
        if self.first_seq_raw.is_none() {
            self.seq.extend(u64::from(seq));
            self.ts.extend(u64::from(rtptime));
            self.first_seq_raw = Some(seq);
            self.highest_seq = Some(-1);
        }
    }

    /// Stores a decoded packet; returns newly detected gaps to request.
    pub fn insert(&mut self, seq: u16, timestamp: u32, samples: Vec<i16>) -> Vec<GapRequest> {
        if self.first_seq_raw.is_none() {
            self.first_seq_raw = Some(seq);
        }
        let ext_seq = self.seq.extend(u64::from(seq));
        let ext_ts = self.ts.extend(u64::from(timestamp));
        if !self.received.insert(ext_seq) {
            self.duplicates += 1;
            return Vec::new();
        }
        self.packets_received += 1;
        self.missing.remove(&ext_seq);
        self.packets.insert(ext_ts, samples);
        let mut gaps = Vec::new();
        let highest = self.highest_seq.unwrap_or(ext_seq - 1);
        if ext_seq > highest + 1 {
            let first = highest + 1;
            let count = ext_seq - first;
            for s in first..ext_seq {
                self.missing.insert(s);
            }
            gaps.push((self.raw_seq(first), count.min(i64::from(u16::MAX)) as u16));
        }
        if ext_seq > highest {
            self.highest_seq = Some(ext_seq);
        }
        gaps
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

    pub fn missing_count(&self) -> usize {
        self.missing.len()
    }

    /// Drops every packet that starts after `rtptime` (a FLUSH: what was not played yet).
    pub fn drop_after(&mut self, rtptime: u32) {
        let ext = self.ts.extend(u64::from(rtptime));
        self.packets.retain(|ts, _| *ts <= ext);
        self.missing.clear();
    }

    /// The whole stream as interleaved samples from the anchor on, gaps as silence.
    pub fn assemble(&self) -> Vec<i16> {
        let Some((&last_ts, last)) = self.packets.iter().next_back() else {
            return Vec::new();
        };
        let start = self.packets.keys().next().copied().unwrap_or(0).min(0);
        let frames = (last_ts - start) as usize + last.len() / self.channels;
        let mut out = vec![0i16; frames * self.channels];
        for (&ts, samples) in &self.packets {
            let offset = (ts - start) as usize * self.channels;
            let end = (offset + samples.len()).min(out.len());
            out[offset..end].copy_from_slice(&samples[..end - offset]);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn packet(v: i16) -> Vec<i16> {
        vec![v; 4] // 2 stereo frames
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
        let mut a = Assembler::new(2);
        a.anchor(65_535, u32::MAX - 1);
        assert!(a.insert(65_535, u32::MAX - 1, packet(1)).is_empty());
        // Packets 0 and 1 lost; 2 arrives.
        let gaps = a.insert(2, 4, packet(4));
        assert_eq!(gaps, vec![(0, 2)]);
        assert_eq!(a.missing_ranges(), vec![(0, 2)]);
        assert!(a.insert(1, 2, packet(3)).is_empty());
        assert_eq!(a.missing_ranges(), vec![(0, 1)]);
        assert_eq!(
            a.assemble(),
            vec![1, 1, 1, 1, 0, 0, 0, 0, 3, 3, 3, 3, 4, 4, 4, 4]
        );
        assert!(a.insert(1, 2, packet(3)).is_empty());
        assert_eq!(a.duplicates, 1);
    }

    #[test]
    fn lost_first_packet_still_leaves_its_silence() {
        let mut a = Assembler::new(2);
        a.anchor(10, 1000);
        let gaps = a.insert(11, 1002, packet(7));
        assert_eq!(gaps, vec![(10, 1)]);
        assert_eq!(a.assemble(), vec![0, 0, 0, 0, 7, 7, 7, 7]);
    }

    #[test]
    fn flush_drops_later_audio() {
        let mut a = Assembler::new(2);
        a.anchor(0, 0);
        a.insert(0, 0, packet(1));
        a.insert(1, 2, packet(2));
        a.drop_after(1);
        assert_eq!(a.assemble(), vec![1, 1, 1, 1]);
    }
}
