//! What goes into the next packet: the silent lead-in, packets taken back at a pause, fresh
//! audio from the decoder, or silence when it has nothing ready. Also remembers the packets
//! the receiver has not played yet, so a pause can take them back and a resume can send
//! them again: pausing loses nothing.

use super::payload::PayloadEncoder;
use super::pipeline::{Item, Pipeline, SAMPLES_PER_PACKET};
use airstream_audio::{AudioError, Metadata};
use airstream_proto::rtp::RTP_HEADER_LEN;
use bytes::Bytes;
use std::collections::VecDeque;
use std::time::Instant;

/// A packet sent and not yet audible.
struct Sent {
    audible_at: Instant,
    /// The whole datagram as sent (the payload is after the RTP header).
    datagram: Bytes,
    frames: u32,
}

/// The outcome of asking for the next packet.
#[derive(Debug)]
pub(super) enum Next {
    /// [`Pacer::payload`] holds the next payload, carrying `frames` frames of real audio.
    Payload {
        frames: u32,
    },
    /// The source's tags changed here; ask again for the packet.
    Metadata(Metadata),
    /// The source ended; ask again (silence follows).
    End,
    Failed(AudioError),
}

pub(super) struct Pacer {
    encoder: PayloadEncoder,
    payload: Vec<u8>,
    silence: Vec<i16>,
    lead_in_packets: u32,
    lead_in: u32,
    unplayed: VecDeque<Sent>,
    replay: VecDeque<Sent>,
    /// Real audio frames the receiver has (or will have) played.
    pub(super) frames_sent: u64,
    pub(super) underruns: u64,
}

impl Pacer {
    pub(super) fn new(encoder: PayloadEncoder, lead_in_packets: u32) -> Self {
        Self {
            encoder,
            payload: Vec::with_capacity(1500),
            silence: vec![0; SAMPLES_PER_PACKET],
            lead_in_packets,
            lead_in: lead_in_packets,
            unplayed: VecDeque::new(),
            replay: VecDeque::new(),
            frames_sent: 0,
            underruns: 0,
        }
    }

    /// The payload prepared by the last [`Next::Payload`].
    pub(super) fn payload(&self) -> &[u8] {
        &self.payload
    }

    /// Prepares the next payload. `source` is `None` once the input ended (silence).
    pub(super) fn next(&mut self, source: Option<&mut Pipeline>) -> Next {
        if self.lead_in > 0 {
            self.lead_in -= 1;
            return self.silent();
        }
        if let Some(sent) = self.replay.pop_front() {
            self.payload.clear();
            self.payload
                .extend_from_slice(sent.datagram.get(RTP_HEADER_LEN..).unwrap_or_default());
            return Next::Payload {
                frames: sent.frames,
            };
        }
        let Some(pipeline) = source else {
            return self.silent();
        };
        match pipeline.try_next() {
            Some(Item::Audio { samples, frames }) => {
                self.encoder.encode(&samples, &mut self.payload);
                Next::Payload {
                    frames: frames as u32,
                }
            }
            Some(Item::Metadata(update)) => Next::Metadata(update),
            Some(Item::End) => Next::End,
            Some(Item::Failed(e)) => Next::Failed(e),
            None => {
                self.underruns += 1;
                self.silent()
            }
        }
    }

    /// Whether [`next`](Self::next) has something other than an underrun to give.
    pub(super) fn has_next(&mut self, source: Option<&mut Pipeline>) -> bool {
        self.lead_in > 0 || !self.replay.is_empty() || source.is_none_or(Pipeline::has_ready)
    }

    fn silent(&mut self) -> Next {
        self.encoder.encode(&self.silence, &mut self.payload);
        Next::Payload { frames: 0 }
    }

    /// Records a packet that left; it becomes audible at `audible_at`.
    pub(super) fn sent(&mut self, datagram: Bytes, frames: u32, audible_at: Instant, now: Instant) {
        self.frames_sent += u64::from(frames);
        self.forget_played(now);
        self.unplayed.push_back(Sent {
            audible_at,
            datagram,
            frames,
        });
    }

    fn forget_played(&mut self, now: Instant) {
        while self.unplayed.front().is_some_and(|s| s.audible_at <= now) {
            self.unplayed.pop_front();
        }
    }

    /// Pause: whatever the receiver has not played yet will be flushed there, so take it
    /// back to send again on resume. Returns the real frames taken back.
    pub(super) fn take_back(&mut self, now: Instant) -> u64 {
        self.forget_played(now);
        let mut frames = 0;
        while let Some(sent) = self.unplayed.pop_back() {
            frames += u64::from(sent.frames);
            self.replay.push_front(sent);
        }
        self.frames_sent -= frames;
        frames
    }

    /// Resume (or any restart of the timeline): receivers mute the first packets after a
    /// flush, so the lead-in comes again.
    pub(super) fn restart(&mut self) {
        self.lead_in = self.lead_in_packets;
    }

    /// Nothing of the lead-in or taken-back audio is left to send.
    pub(super) fn caught_up(&self) -> bool {
        self.lead_in == 0 && self.replay.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use airstream_proto::sdp::Codec;
    use std::time::Duration;

    fn datagram(tag: u8) -> Bytes {
        let mut d = vec![0x80, 0x60, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
        d.extend_from_slice(&[tag; 8]);
        Bytes::from(d)
    }

    #[test]
    fn lead_in_then_silence_without_a_source() {
        let mut p = Pacer::new(PayloadEncoder::new(Codec::Pcm, None), 2);
        for _ in 0..3 {
            assert!(matches!(p.next(None), Next::Payload { frames: 0 }));
            assert_eq!(p.payload().len(), 1408);
            assert!(p.payload().iter().all(|b| *b == 0));
        }
        assert!(p.caught_up());
    }

    #[test]
    fn pause_takes_back_unplayed_packets_and_resume_sends_them_first() {
        let t0 = Instant::now();
        let ms = Duration::from_millis;
        let mut p = Pacer::new(PayloadEncoder::new(Codec::Pcm, None), 1);
        // Three packets of 352 frames, audible at +100, +200, +300 ms.
        for (i, tag) in [1u8, 2, 3].into_iter().enumerate() {
            p.sent(datagram(tag), 352, t0 + ms(100 * (i as u64 + 1)), t0);
        }
        assert_eq!(p.frames_sent, 1056);
        // At +150 ms the first is played; two are taken back.
        assert_eq!(p.take_back(t0 + ms(150)), 704);
        assert_eq!(p.frames_sent, 352);
        p.restart();
        assert!(!p.caught_up());
        assert!(
            matches!(p.next(None), Next::Payload { frames: 0 }),
            "lead-in first"
        );
        for tag in [2u8, 3] {
            assert!(matches!(p.next(None), Next::Payload { frames: 352 }));
            assert_eq!(
                p.payload(),
                &[tag; 8],
                "the original payload, header stripped"
            );
        }
        assert!(p.caught_up());
    }
}
