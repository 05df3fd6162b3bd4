//! Decoding off the real-time path: a thread pulls PCM from the source and cuts it into
//! 352-frame packets for a bounded channel. The pacer only ever `try_recv`s, so a slow or
//! stalled source costs silence, never a late packet.
//!
//! Packets travel in batches: handing them over one by one woke the decode thread for every
//! packet (125 times a second), which cost more CPU than decoding itself.

use airstream_audio::{AudioError, Metadata, PcmSource};
use airstream_proto::rtp::FRAMES_PER_PACKET;
use std::collections::VecDeque;
use std::time::{Duration, Instant};
use tokio::sync::mpsc;

const CHANNELS: usize = 2;
pub(crate) const SAMPLES_PER_PACKET: usize = FRAMES_PER_PACKET as usize * CHANNELS;
/// Packets per hand-over (~510 ms of audio, one burst of the pacer at 2 s latency).
const BATCH: usize = 64;
/// A partial batch is handed over after this long, so slow (live) sources are not held back.
const BATCH_WAIT: Duration = Duration::from_millis(20);

#[derive(Debug)]
pub(crate) enum Item {
    /// One packet of interleaved stereo samples, zero-padded; `frames` are real audio.
    Audio {
        samples: Vec<i16>,
        frames: usize,
    },
    /// Tags changed from this point of the stream on.
    Metadata(Metadata),
    End,
    Failed(AudioError),
}

pub(crate) struct Pipeline {
    rx: mpsc::Receiver<Vec<Item>>,
    ready: VecDeque<Item>,
    ended: bool,
}

impl Pipeline {
    /// Starts the decode thread; `capacity_packets` bounds how far it reads ahead.
    pub(crate) fn spawn(
        source: Box<dyn PcmSource>,
        capacity_packets: usize,
    ) -> std::io::Result<Self> {
        let (tx, rx) = mpsc::channel(capacity_packets.div_ceil(BATCH).max(1));
        std::thread::Builder::new()
            .name("airstream-decode".into())
            .spawn(move || decode_loop(source, &tx))?;
        Ok(Self {
            rx,
            ready: VecDeque::with_capacity(BATCH),
            ended: false,
        })
    }

    /// The next item if one is ready; `None` means underrun (or the end was already seen).
    pub(crate) fn try_next(&mut self) -> Option<Item> {
        if self.ended {
            return None;
        }
        if self.ready.is_empty() && !self.refill() {
            self.ended = true;
            return Some(Item::Failed(AudioError::Invalid {
                input: "decoder".into(),
                detail: "the decode thread stopped unexpectedly".into(),
            }));
        }
        let item = self.ready.pop_front()?;
        self.ended = matches!(item, Item::End | Item::Failed(_));
        Some(item)
    }

    /// Whether [`try_next`](Self::try_next) would give an item now (errors included).
    pub(crate) fn has_ready(&mut self) -> bool {
        if !self.ready.is_empty() {
            return true;
        }
        // A vanished decode thread counts: try_next reports it.
        !self.ended && (!self.refill() || !self.ready.is_empty())
    }

    /// Takes the next batch into `ready` if the decode thread has handed one over; `false`
    /// once that thread is gone and nothing is left.
    fn refill(&mut self) -> bool {
        match self.rx.try_recv() {
            Ok(batch) => {
                self.ready.extend(batch);
                true
            }
            Err(mpsc::error::TryRecvError::Empty) => true,
            Err(mpsc::error::TryRecvError::Disconnected) => false,
        }
    }

    /// Waits until about `packets` are buffered or the source ended (pre-roll before the
    /// first packet, so start-up I/O never shows as an underrun).
    pub(crate) async fn wait_buffered(&self, packets: usize) {
        let target = packets.div_ceil(BATCH).min(self.rx.max_capacity());
        while self.rx.len() < target && !self.rx.is_closed() {
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    }
}

/// Collects items and hands them over in batches.
struct Batcher<'a> {
    tx: &'a mpsc::Sender<Vec<Item>>,
    batch: Vec<Item>,
    started: Option<Instant>,
}

impl Batcher<'_> {
    /// Adds an item; `false` once the stream was stopped (the receiver is gone).
    fn push(&mut self, item: Item) -> bool {
        let urgent = !matches!(item, Item::Audio { .. });
        self.started.get_or_insert_with(Instant::now);
        self.batch.push(item);
        if urgent || self.batch.len() >= BATCH {
            return self.flush();
        }
        true
    }

    /// Hands over a partial batch that waited long enough.
    fn flush_if_stale(&mut self) -> bool {
        match self.started {
            Some(t) if t.elapsed() >= BATCH_WAIT => self.flush(),
            _ => true,
        }
    }

    fn flush(&mut self) -> bool {
        self.started = None;
        if self.batch.is_empty() {
            return true;
        }
        let batch = std::mem::replace(&mut self.batch, Vec::with_capacity(BATCH));
        self.tx.blocking_send(batch).is_ok()
    }
}

fn decode_loop(mut source: Box<dyn PcmSource>, tx: &mpsc::Sender<Vec<Item>>) {
    let mut out = Batcher {
        tx,
        batch: Vec::with_capacity(BATCH),
        started: None,
    };
    loop {
        if let Some(update) = source.take_metadata_update()
            && !out.push(Item::Metadata(update))
        {
            return;
        }
        if !out.flush_if_stale() {
            return;
        }
        // Fill a whole packet: sources may return fewer frames than asked.
        let mut packet = vec![0i16; SAMPLES_PER_PACKET];
        let mut filled = 0;
        while filled < SAMPLES_PER_PACKET {
            match source.read(&mut packet[filled..]) {
                Ok(0) => break,
                Ok(frames) => filled += frames * CHANNELS,
                Err(e) => {
                    out.push(Item::Failed(e));
                    return;
                }
            }
        }
        if filled > 0 {
            let item = Item::Audio {
                samples: packet,
                frames: filled / CHANNELS,
            };
            if !out.push(item) {
                return; // the stream was stopped
            }
        }
        if filled < SAMPLES_PER_PACKET {
            out.push(Item::End);
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use airstream_audio::{PcmFormat, VecSource};

    #[tokio::test]
    async fn cuts_packets_and_pads_the_last_one() {
        let samples: Vec<i16> = (0..(352 * 40 + 100) * 2).map(|i| i as i16).collect();
        let source = VecSource::new(PcmFormat::RAOP, samples.clone());
        let mut p = Pipeline::spawn(Box::new(source), 64).unwrap();
        p.wait_buffered(32).await;
        let mut got = Vec::new();
        let mut frames_total = 0;
        loop {
            match p.try_next() {
                Some(Item::Audio { samples, frames }) => {
                    assert_eq!(samples.len(), SAMPLES_PER_PACKET);
                    frames_total += frames;
                    got.extend_from_slice(&samples);
                }
                Some(Item::End) => break,
                Some(other) => panic!("{other:?}"),
                None => tokio::time::sleep(Duration::from_millis(1)).await,
            }
        }
        assert_eq!(frames_total, 352 * 40 + 100);
        assert_eq!(&got[..samples.len()], &samples[..]);
        assert!(got[samples.len()..].iter().all(|s| *s == 0));
        assert!(p.try_next().is_none(), "nothing after the end");
    }
}
