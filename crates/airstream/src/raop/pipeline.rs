//! Decoding and encoding off the real-time path: a thread pulls PCM from the source, cuts it
//! into 352-frame packets and encodes each into the payload the receivers take (ALAC or
//! L16, AES-encrypted where the stream is), handing them to the driver over a bounded
//! channel. A slow or stalled source costs silence, never a late packet.
//!
//! Packets travel in batches: handing them over one by one woke the driver for every packet
//! (125 times a second), which cost more CPU than decoding itself.

use airstream_audio::alac::AlacEncoder;
use airstream_audio::{AudioError, Metadata, PcmSource};
use airstream_proto::alac::write_escape_frame;
use airstream_proto::format::Codec;
use airstream_proto::format::{CHANNELS, FRAMES_PER_PACKET, SAMPLES_PER_PACKET};
use airstream_proto::raop::crypto::AudioKey;
use bytes::Bytes;
use std::time::{Duration, Instant};
use tokio::sync::mpsc;

/// Packets per hand-over (~510 ms of audio, one burst at 2 s latency).
const BATCH: usize = 64;
/// A partial batch is handed over after this long, so slow (live) sources are not held back.
const BATCH_WAIT: Duration = Duration::from_millis(20);

#[derive(Debug)]
pub(crate) enum Item {
    /// One packet's payload, ready to send; `frames` of it are real audio (the last packet
    /// of a source is padded with silence).
    Audio {
        payload: Bytes,
        frames: u32,
    },
    /// Tags changed from `frame` frames into the next audio packet on (where the source
    /// handed them out: a queue's next item starts there).
    Metadata {
        update: Metadata,
        frame: u32,
    },
    End,
    Failed(AudioError),
    /// A move asked for through [`Pipeline::request_move`] was done (what follows comes
    /// from the new position, this many frames into the item playing: 0 after a skip) or
    /// failed (what follows continues where the audio was).
    Moved(Result<u64, AudioError>),
}

/// A jump in the source, asked for by the driver.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Move {
    /// To this frame of the source.
    Seek(u64),
    /// To the item after the one playing at this frame of the source (a queue's).
    Skip(u64),
}

/// Turns a packet of interleaved stereo samples into the payload announced in the SDP.
pub(crate) struct PayloadEncoder {
    codec: Codec,
    key: Option<AudioKey>,
    /// Built only for compressed ALAC.
    alac: Option<AlacEncoder>,
}

impl PayloadEncoder {
    pub(crate) fn new(codec: Codec, key: Option<AudioKey>) -> Self {
        let alac = (codec == Codec::Alac).then(AlacEncoder::new);
        Self { codec, key, alac }
    }

    pub(crate) fn encode(&mut self, samples: &[i16]) -> Bytes {
        let mut out = Vec::with_capacity(samples.len() * 2 + 8);
        match self.codec {
            Codec::Pcm => {
                for s in samples {
                    out.extend_from_slice(&s.to_be_bytes());
                }
            }
            Codec::AlacRaw => write_escape_frame(samples, FRAMES_PER_PACKET as usize, &mut out),
            Codec::Alac => match &mut self.alac {
                Some(encoder) => encoder.encode_packet(samples, &mut out),
                None => write_escape_frame(samples, FRAMES_PER_PACKET as usize, &mut out),
            },
        }
        if let Some(key) = &self.key {
            key.encrypt(&mut out);
        }
        Bytes::from(out)
    }

    /// One packet of silence.
    pub(crate) fn silence(&mut self) -> Bytes {
        self.encode(&[0; SAMPLES_PER_PACKET])
    }
}

/// The driver's end of the decode thread.
pub(crate) struct Pipeline {
    rx: mpsc::Receiver<Vec<Item>>,
    /// Seeks and skips; the thread answers each with `Item::Moved`.
    moves: std::sync::mpsc::Sender<Move>,
}

impl Pipeline {
    /// Starts the decode thread; `capacity_packets` bounds how far it reads ahead.
    pub(crate) fn spawn(
        source: Box<dyn PcmSource>,
        encoder: PayloadEncoder,
        capacity_packets: usize,
    ) -> std::io::Result<Self> {
        let (tx, rx) = mpsc::channel(capacity_packets.div_ceil(BATCH).max(1));
        let (moves, move_rx) = std::sync::mpsc::channel();
        std::thread::Builder::new()
            .name("airstream-decode".into())
            .spawn(move || decode_loop(source, encoder, &tx, &move_rx))?;
        Ok(Self { rx, moves })
    }

    /// Asks the thread to move the source; `false` if it is gone (the source failed). The
    /// answer comes as `Item::Moved` among the batches.
    pub(crate) fn request_move(&self, to: Move) -> bool {
        self.moves.send(to).is_ok()
    }

    /// The next batch; `None` once the thread is gone (after its `End` or `Failed`, or
    /// because it died).
    pub(crate) async fn next_batch(&mut self) -> Option<Vec<Item>> {
        self.rx.recv().await
    }
}

/// Collects items and hands them over in batches.
struct Batcher<'a> {
    tx: &'a mpsc::Sender<Vec<Item>>,
    batch: Vec<Item>,
    started: Option<Instant>,
}

impl Batcher<'_> {
    /// Adds an item; `false` once the stream was stopped (the driver is gone).
    fn push(&mut self, item: Item) -> bool {
        let urgent = !matches!(item, Item::Audio { .. });
        self.started.get_or_insert_with(super::clock::now);
        self.batch.push(item);
        if urgent || self.batch.len() >= BATCH {
            return self.flush();
        }
        true
    }

    /// Hands over a partial batch that waited long enough.
    fn flush_if_stale(&mut self) -> bool {
        match self.started {
            Some(t) if super::clock::now().saturating_duration_since(t) >= BATCH_WAIT => {
                self.flush()
            }
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

/// Moves the source; on success what is batched but not handed over (from before the
/// move) is dropped. `None` once the stream was stopped, else whether it moved.
fn apply(source: &mut dyn PcmSource, to: Move, out: &mut Batcher<'_>) -> Option<bool> {
    let result = match to {
        Move::Seek(frame) => source.seek(frame),
        Move::Skip(frame) => source.skip(frame).map(|()| 0),
    };
    let moved = result.is_ok();
    if moved {
        out.batch.clear();
        out.started = None;
    }
    out.push(Item::Moved(result)).then_some(moved)
}

/// After the end: waits for a move (the stream may still go back) until the driver is gone.
/// `true` once one succeeded and decoding goes on.
fn wait_for_move(
    source: &mut dyn PcmSource,
    moves: &std::sync::mpsc::Receiver<Move>,
    out: &mut Batcher<'_>,
) -> bool {
    while let Ok(to) = moves.recv() {
        match apply(source, to, out) {
            None => return false,
            Some(true) => return true,
            Some(false) => {}
        }
    }
    false
}

fn decode_loop(
    mut source: Box<dyn PcmSource>,
    mut encoder: PayloadEncoder,
    tx: &mpsc::Sender<Vec<Item>>,
    moves: &std::sync::mpsc::Receiver<Move>,
) {
    let mut out = Batcher {
        tx,
        batch: Vec::with_capacity(BATCH),
        started: None,
    };
    let mut packet = vec![0i16; SAMPLES_PER_PACKET];
    loop {
        if let Ok(to) = moves.try_recv()
            && apply(source.as_mut(), to, &mut out).is_none()
        {
            return;
        }
        if let Some(update) = source.take_metadata_update()
            && !out.push(Item::Metadata { update, frame: 0 })
        {
            return;
        }
        if !out.flush_if_stale() {
            return;
        }
        // Fill a whole packet: sources may return fewer frames than asked.
        packet.fill(0);
        let mut filled = 0;
        while filled < SAMPLES_PER_PACKET {
            match source.read(&mut packet[filled..]) {
                Ok(0) => break,
                Ok(frames) => {
                    // A change handed out by this read starts with its first frame (a
                    // queue's read never spans two items).
                    if let Some(update) = source.take_metadata_update() {
                        let frame = (filled / CHANNELS as usize) as u32;
                        if !out.push(Item::Metadata { update, frame }) {
                            return;
                        }
                    }
                    filled += frames * CHANNELS as usize;
                }
                Err(e) => {
                    out.push(Item::Failed(e));
                    return;
                }
            }
        }
        if filled > 0 {
            let item = Item::Audio {
                payload: encoder.encode(&packet),
                frames: (filled / CHANNELS as usize) as u32,
            };
            if !out.push(item) {
                return; // the stream was stopped
            }
        }
        // At the end the thread stays for a move (a seek back), until the stream is gone.
        if filled < SAMPLES_PER_PACKET
            && (!out.push(Item::End) || !wait_for_move(source.as_mut(), moves, &mut out))
        {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use airstream_audio::{PcmFormat, VecSource};

    #[tokio::test]
    async fn cuts_packets_encodes_them_and_pads_the_last_one() {
        let samples: Vec<i16> = (0..(352 * 40 + 100) * 2).map(|i| i as i16).collect();
        let source = VecSource::new(PcmFormat::RAOP, samples.clone());
        let encoder = PayloadEncoder::new(Codec::Pcm, None);
        let mut p = Pipeline::spawn(Box::new(source), encoder, 64).unwrap();
        let mut got = Vec::new();
        let mut frames_total = 0;
        let mut ended = false;
        while let Some(batch) = p.next_batch().await {
            for item in batch {
                match item {
                    Item::Audio { payload, frames } => {
                        assert_eq!(payload.len(), SAMPLES_PER_PACKET * 2);
                        frames_total += frames;
                        got.extend(payload.chunks(2).map(|b| i16::from_be_bytes([b[0], b[1]])));
                    }
                    Item::End => ended = true,
                    other => panic!("{other:?}"),
                }
            }
            if ended {
                break; // the thread now waits for a seek
            }
        }
        assert!(ended);
        assert_eq!(frames_total, 352 * 40 + 100);
        assert_eq!(&got[..samples.len()], &samples[..]);
        assert!(got[samples.len()..].iter().all(|s| *s == 0));
    }

    #[tokio::test]
    async fn a_queue_items_tags_name_its_first_frame_inside_the_packet() {
        use airstream_audio::{Queue, QueueItem};
        // The second item starts at frame 1000: the third packet (frames 704..1056), 296
        // frames in.
        let item = |frames: usize, title: &str| {
            let source =
                VecSource::new(PcmFormat::RAOP, vec![1; frames * 2]).with_metadata(Metadata {
                    title: Some(title.into()),
                    ..Metadata::default()
                });
            QueueItem::opened(title, Box::new(source))
        };
        let items = vec![item(1000, "one"), item(500, "two")];
        let queue = Queue::new(PcmFormat::RAOP, items.into_iter(), Duration::from_secs(1)).unwrap();
        let encoder = PayloadEncoder::new(Codec::Pcm, None);
        let mut p = Pipeline::spawn(Box::new(queue), encoder, 64).unwrap();
        let mut packets = 0;
        let mut changes = Vec::new();
        let mut ended = false;
        while !ended && let Some(batch) = p.next_batch().await {
            for item in batch {
                match item {
                    Item::Audio { .. } => packets += 1,
                    Item::Metadata { update, frame } => {
                        changes.push((packets, frame, update.title));
                    }
                    Item::End => ended = true,
                    other => panic!("{other:?}"),
                }
            }
        }
        assert_eq!(packets, 1500_usize.div_ceil(352));
        assert_eq!(changes, [(2, 296, Some("two".to_string()))]);
    }

    /// The PCM of the packets up to the end, and what `Moved` answers came on the way.
    async fn collect(p: &mut Pipeline) -> (Vec<i16>, Vec<bool>) {
        let mut pcm = Vec::new();
        let mut seeked = Vec::new();
        while let Some(batch) = p.next_batch().await {
            for item in batch {
                match item {
                    Item::Audio { payload, frames } => pcm.extend(
                        payload
                            .chunks(2)
                            .take(frames as usize * 2)
                            .map(|b| i16::from_be_bytes([b[0], b[1]])),
                    ),
                    Item::Moved(result) => seeked.push(result.is_ok()),
                    Item::End => return (pcm, seeked),
                    other => panic!("{other:?}"),
                }
            }
        }
        panic!("the thread ended without End")
    }

    #[tokio::test]
    async fn a_seek_after_the_end_plays_again_from_the_frame_and_a_failed_one_changes_nothing() {
        let samples: Vec<i16> = (0..5000 * 2).map(|i| i as i16).collect();
        let source = VecSource::new(PcmFormat::RAOP, samples.clone());
        let encoder = PayloadEncoder::new(Codec::Pcm, None);
        let mut p = Pipeline::spawn(Box::new(source), encoder, 64).unwrap();
        let (first, _) = collect(&mut p).await;
        assert!(first == samples);
        // Beyond the end: refused, nothing more comes until a good one.
        assert!(p.request_move(Move::Seek(9_999)));
        assert!(p.request_move(Move::Seek(1234)));
        let (again, seeked) = collect(&mut p).await;
        assert_eq!(seeked, [false, true]);
        assert!(again == samples[1234 * 2..]);
    }

    #[test]
    fn pcm_is_big_endian_interleaved() {
        let mut enc = PayloadEncoder::new(Codec::Pcm, None);
        assert_eq!(&enc.encode(&[0x0102, -2])[..], [0x01, 0x02, 0xFF, 0xFE]);
    }

    #[test]
    fn alac_compresses_silence_and_alac_raw_is_an_escape_frame() {
        let mut alac = PayloadEncoder::new(Codec::Alac, None);
        let silence = alac.silence();
        assert!(
            !silence.is_empty() && silence.len() < 100,
            "{}",
            silence.len()
        );
        let mut raw = PayloadEncoder::new(Codec::AlacRaw, None);
        assert_eq!(raw.silence().len(), 1412);
    }
}
