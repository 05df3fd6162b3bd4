//! What the engine remembers of packets it sent: the retransmit ring, shared by every
//! member (they all got the same bytes), and the packets not yet audible, which a pause
//! takes back so that the resume sends them again and nothing is lost.

use bytes::Bytes;
use std::collections::VecDeque;
use std::time::Instant;

/// Packets kept for retransmission (≈ 8.2 s at 44.1 kHz).
pub const RETRANSMIT_HISTORY: usize = 1024;

/// The last [`RETRANSMIT_HISTORY`] datagrams, by sequence number.
#[derive(Debug)]
pub(crate) struct History {
    ring: Vec<Option<(u16, Bytes)>>,
}

impl History {
    pub(crate) fn new() -> Self {
        Self {
            ring: vec![None; RETRANSMIT_HISTORY],
        }
    }

    pub(crate) fn keep(&mut self, seq: u16, datagram: Bytes) {
        self.ring[usize::from(seq) % RETRANSMIT_HISTORY] = Some((seq, datagram));
    }

    /// The datagram sent with `seq`, while still held.
    pub(crate) fn get(&self, seq: u16) -> Option<&Bytes> {
        match &self.ring[usize::from(seq) % RETRANSMIT_HISTORY] {
            Some((stored, datagram)) if *stored == seq => Some(datagram),
            _ => None,
        }
    }
}

/// A packet sent and not yet audible.
#[derive(Debug)]
struct Sent {
    audible_at: Instant,
    /// The payload as sent (after the RTP header).
    payload: Bytes,
    /// Real audio frames in it (0 for silence).
    frames: u32,
}

/// The payload of the next packet, and the real frames it carries.
#[derive(Debug)]
pub(crate) struct Payload {
    pub(crate) bytes: Bytes,
    pub(crate) frames: u32,
}

/// What comes before any fresh audio.
#[derive(Debug)]
pub(crate) enum Pending {
    /// A packet of the lead-in.
    Silence,
    /// A packet taken back at a pause.
    Replay(Payload),
}

/// The silent lead-in, packets taken back at a pause, and what is in flight.
#[derive(Debug)]
pub(crate) struct Playback {
    lead_in_packets: u32,
    lead_in_left: u32,
    unplayed: VecDeque<Sent>,
    replay: VecDeque<Sent>,
}

impl Playback {
    pub(crate) fn new(lead_in_packets: u32) -> Self {
        Self {
            lead_in_packets,
            lead_in_left: lead_in_packets,
            unplayed: VecDeque::new(),
            replay: VecDeque::new(),
        }
    }

    /// The next packet from the lead-in or the replay queue, before any fresh audio.
    pub(crate) fn take_pending(&mut self) -> Option<Pending> {
        if self.lead_in_left > 0 {
            self.lead_in_left -= 1;
            return Some(Pending::Silence);
        }
        let sent = self.replay.pop_front()?;
        Some(Pending::Replay(Payload {
            bytes: sent.payload,
            frames: sent.frames,
        }))
    }

    /// Lead-in packets still to send.
    pub(crate) fn lead_in_left(&self) -> u32 {
        self.lead_in_left
    }

    /// Nothing of the lead-in or taken-back audio is left to send.
    pub(crate) fn caught_up(&self) -> bool {
        self.lead_in_left == 0 && self.replay.is_empty()
    }

    /// Records a packet that left; it becomes audible at `audible_at`.
    pub(crate) fn sent(&mut self, payload: Bytes, frames: u32, audible_at: Instant, now: Instant) {
        self.forget_played(now);
        self.unplayed.push_back(Sent {
            audible_at,
            payload,
            frames,
        });
    }

    fn forget_played(&mut self, now: Instant) {
        while self.unplayed.front().is_some_and(|s| s.audible_at <= now) {
            self.unplayed.pop_front();
        }
    }

    /// Real frames sent that the receivers have not played by `now`.
    pub(crate) fn unheard_frames(&self, now: Instant) -> u64 {
        self.unplayed
            .iter()
            .filter(|s| s.audible_at > now)
            .map(|s| u64::from(s.frames))
            .sum()
    }

    /// Pause: whatever the receivers have not played yet will be flushed there, so take it
    /// back to send again on resume, after a new lead-in (receivers mute the first packets
    /// after a flush). Returns the real frames taken back.
    pub(crate) fn take_back(&mut self, now: Instant) -> u64 {
        self.forget_played(now);
        let mut frames = 0;
        while let Some(sent) = self.unplayed.pop_back() {
            frames += u64::from(sent.frames);
            self.replay.push_front(sent);
        }
        self.lead_in_left = self.lead_in_packets;
        frames
    }

    /// Seek: what the receivers have not played yet will be flushed there and is not sent
    /// again; neither is what a pause took back. Returns the real frames sent but never to
    /// be heard.
    pub(crate) fn drop_unplayed(&mut self, now: Instant) -> u64 {
        self.forget_played(now);
        let frames = self.unplayed.iter().map(|s| u64::from(s.frames)).sum();
        self.unplayed.clear();
        self.replay.clear();
        self.lead_in_left = 0;
        frames
    }

    /// A new lead-in before the next audio (receivers mute the first packets after a flush).
    pub(crate) fn restart_lead_in(&mut self) {
        self.lead_in_left = self.lead_in_packets;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn history_holds_the_last_1024_and_tells_wrapped_numbers_apart() {
        let mut h = History::new();
        for seq in 0..2000u16 {
            h.keep(seq, Bytes::from(seq.to_be_bytes().to_vec()));
        }
        assert_eq!(
            h.get(1999).map(|b| &b[..]),
            Some(&1999u16.to_be_bytes()[..])
        );
        assert_eq!(h.get(2000 - 1024).map(Bytes::len), Some(2));
        assert!(h.get(2000 - 1025).is_none(), "overwritten");
        assert!(h.get(1999 + 1024).is_none(), "same slot, other number");
    }

    #[test]
    fn pause_takes_back_unplayed_packets_after_a_new_lead_in() {
        let t0 = Instant::now();
        let ms = Duration::from_millis;
        let mut p = Playback::new(1);
        assert!(
            matches!(p.take_pending(), Some(Pending::Silence)),
            "lead-in"
        );
        assert!(p.take_pending().is_none() && p.caught_up());
        for (i, tag) in [1u8, 2, 3].into_iter().enumerate() {
            p.sent(
                Bytes::from(vec![tag]),
                352,
                t0 + ms(100 * (i as u64 + 1)),
                t0,
            );
        }
        // At +150 ms the first is played; two are taken back.
        assert_eq!(p.take_back(t0 + ms(150)), 704);
        assert!(!p.caught_up());
        assert!(
            matches!(p.take_pending(), Some(Pending::Silence)),
            "lead-in again"
        );
        for tag in [2u8, 3] {
            let Some(Pending::Replay(payload)) = p.take_pending() else {
                panic!("a replayed packet")
            };
            assert_eq!((&payload.bytes[..], payload.frames), (&[tag][..], 352));
        }
        assert!(p.caught_up());
    }
}
