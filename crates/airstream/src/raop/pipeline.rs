//! Decoding off the real-time path: a thread pulls PCM from the source and cuts it into
//! 352-frame packets for a bounded channel. The pacer only ever `try_recv`s, so a slow or
//! stalled source costs silence, never a late packet.

use airstream_audio::{AudioError, Metadata, PcmSource};
use airstream_proto::rtp::FRAMES_PER_PACKET;
use tokio::sync::mpsc;

const CHANNELS: usize = 2;
pub(crate) const SAMPLES_PER_PACKET: usize = FRAMES_PER_PACKET as usize * CHANNELS;

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
    rx: mpsc::Receiver<Item>,
    ended: bool,
}

impl Pipeline {
    /// Starts the decode thread; `capacity_packets` bounds how far it reads ahead.
    pub(crate) fn spawn(
        source: Box<dyn PcmSource>,
        capacity_packets: usize,
    ) -> std::io::Result<Self> {
        let (tx, rx) = mpsc::channel(capacity_packets.max(1));
        std::thread::Builder::new()
            .name("airstream-decode".into())
            .spawn(move || decode_loop(source, &tx))?;
        Ok(Self { rx, ended: false })
    }

    /// The next item if one is ready; `None` means underrun (or the end was already seen).
    pub(crate) fn try_next(&mut self) -> Option<Item> {
        if self.ended {
            return None;
        }
        match self.rx.try_recv() {
            Ok(item) => {
                self.ended = matches!(item, Item::End | Item::Failed(_));
                Some(item)
            }
            Err(mpsc::error::TryRecvError::Empty) => None,
            Err(mpsc::error::TryRecvError::Disconnected) => {
                self.ended = true;
                Some(Item::Failed(AudioError::Invalid {
                    input: "decoder".into(),
                    detail: "the decode thread stopped unexpectedly".into(),
                }))
            }
        }
    }

    /// Waits until `packets` are buffered or the source ended (pre-roll before the first
    /// packet, so start-up I/O never shows as an underrun).
    pub(crate) async fn wait_buffered(&self, packets: usize) {
        let target = packets.min(self.rx.max_capacity());
        while self.rx.len() < target && !self.rx.is_closed() {
            tokio::time::sleep(std::time::Duration::from_millis(2)).await;
        }
    }
}

fn decode_loop(mut source: Box<dyn PcmSource>, tx: &mpsc::Sender<Item>) {
    let mut packet = vec![0i16; SAMPLES_PER_PACKET];
    loop {
        if let Some(update) = source.take_metadata_update()
            && tx.blocking_send(Item::Metadata(update)).is_err()
        {
            return;
        }
        // Fill a whole packet: sources may return fewer frames than asked.
        let mut filled = 0;
        while filled < SAMPLES_PER_PACKET {
            match source.read(&mut packet[filled..]) {
                Ok(0) => break,
                Ok(frames) => filled += frames * CHANNELS,
                Err(e) => {
                    let _ = tx.blocking_send(Item::Failed(e));
                    return;
                }
            }
        }
        if filled > 0 {
            packet[filled..].fill(0);
            let item = Item::Audio {
                samples: packet.clone(),
                frames: filled / CHANNELS,
            };
            if tx.blocking_send(item).is_err() {
                return; // the stream was stopped
            }
        }
        if filled < SAMPLES_PER_PACKET {
            let _ = tx.blocking_send(Item::End);
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
        let samples: Vec<i16> = (0..(352 * 2 + 100) * 2).map(|i| i as i16).collect();
        let source = VecSource::new(PcmFormat::RAOP, samples.clone());
        let mut p = Pipeline::spawn(Box::new(source), 8).unwrap();
        p.wait_buffered(4).await;
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
                None => tokio::time::sleep(std::time::Duration::from_millis(1)).await,
            }
        }
        assert_eq!(frames_total, 352 * 2 + 100);
        assert_eq!(&got[..samples.len()], &samples[..]);
        assert!(got[samples.len()..].iter().all(|s| *s == 0));
        assert!(p.try_next().is_none(), "nothing after the end");
    }
}
