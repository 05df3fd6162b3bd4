//! A gapless queue: several inputs played back to back as one [`PcmSource`], each converted
//! to the queue's format, with the tags switching where each one starts.
//!
//! A thread opens and decodes the items in order into a bounded buffer (the prefetch, a few
//! seconds of audio), so the next item is opened and its first audio decoded while the end
//! of the current one still waits in the buffer: a slow open (a URL, a large file's index)
//! is hidden unless it takes longer than the buffer lasts. Items come from any iterator,
//! which may block (a channel fed by a session) or never end (`--repeat`).
//!
//! Where each item starts, counted in frames of the queue's output, is kept in a
//! [`QueueTimeline`] shared with whoever needs to say which track plays. The new tags are
//! handed out through [`PcmSource::take_metadata_update`] as soon as the first frame of the
//! item has been read; a reader that asks for it only between packets (the RAOP pipeline
//! does, every 352 frames) applies it at the first packet boundary at or after the start.

use crate::{AudioError, Metadata, PcmFormat, PcmSource, Source};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender, sync_channel};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Frames per chunk handed from the decoding thread to the reader.
const CHUNK_FRAMES: usize = 4096;

/// How an item is opened: in the queue's thread, when its turn comes near.
type Opener = Box<dyn FnOnce(PcmFormat) -> Result<Box<dyn PcmSource>, AudioError> + Send>;

/// One entry of a [`Queue`].
pub struct QueueItem {
    name: String,
    open: Opener,
    tags: Metadata,
}

impl QueueItem {
    /// An input to open (and convert) when its turn comes near.
    pub fn source(source: Source) -> Self {
        let name = source.name().to_string();
        Self::from_fn(name, move |format| source.open(format))
    }

    /// An input opened already (e.g. to fail early on a bad first file); it must be in the
    /// queue's format.
    pub fn opened(name: impl Into<String>, pcm: Box<dyn PcmSource>) -> Self {
        Self::from_fn(name, move |_| Ok(pcm))
    }

    /// Any way of opening an item (generated audio, tests).
    pub fn from_fn(
        name: impl Into<String>,
        open: impl FnOnce(PcmFormat) -> Result<Box<dyn PcmSource>, AudioError> + Send + 'static,
    ) -> Self {
        Self {
            name: name.into(),
            open: Box::new(open),
            tags: Metadata::default(),
        }
    }

    /// Tags that replace the item's own, field by field (those left `None` keep its own).
    #[must_use]
    pub fn with_tags(mut self, tags: Metadata) -> Self {
        self.tags = tags;
        self
    }

    /// The name it was given (a path, `-`, a URL).
    pub fn name(&self) -> &str {
        &self.name
    }
}

/// Where one item of the queue starts.
#[derive(Debug, Clone, PartialEq)]
pub struct TrackStart {
    /// Its place in the order the items came in (0 first; failed items count too).
    pub index: usize,
    /// The name it was given.
    pub name: String,
    /// The first frame of the queue's output that belongs to it.
    pub start_frame: u64,
    /// Its tags: its own with the item's over them, the title falling back to the file
    /// name, the duration to its length when known.
    pub metadata: Metadata,
}

#[derive(Default)]
struct TimelineState {
    tracks: Vec<TrackStart>,
    failures: Vec<String>,
}

/// The queue's record of where each item started and which failed; clones share it.
#[derive(Clone, Default)]
pub struct QueueTimeline(Arc<Mutex<TimelineState>>);

impl QueueTimeline {
    /// The item playing at `frame` of the output (the last one started at or before it).
    pub fn track_at(&self, frame: u64) -> Option<TrackStart> {
        let state = self.0.lock().ok()?;
        state
            .tracks
            .iter()
            .rev()
            .find(|t| t.start_frame <= frame)
            .cloned()
    }

    /// Every item started so far, in order.
    pub fn tracks(&self) -> Vec<TrackStart> {
        self.0.lock().map(|s| s.tracks.clone()).unwrap_or_default()
    }

    /// Items that could not be played (skipped), each as one line naming it and why, since
    /// the last call.
    pub fn take_failures(&mut self) -> Vec<String> {
        self.0
            .lock()
            .map(|mut s| std::mem::take(&mut s.failures))
            .unwrap_or_default()
    }

    fn push_track(&self, track: TrackStart) {
        if let Ok(mut state) = self.0.lock() {
            state.tracks.push(track);
        }
    }

    fn push_failure(&self, failure: String) {
        if let Ok(mut state) = self.0.lock() {
            state.failures.push(failure);
        }
    }
}

/// What the decoding thread hands over, in output order.
enum Chunk {
    /// A new item starts with the next audio.
    Start {
        index: usize,
        name: String,
        metadata: Metadata,
    },
    Audio(Vec<i16>),
    /// New tags from inside an item (ICY title, chained Ogg stream).
    Update(Metadata),
    /// An item that could not be opened, or failed partway (what it gave before stays).
    Failed(AudioError),
    /// The answer to a seek request (see [`Queue::seek`](PcmSource::seek)).
    Seeked(Result<(), AudioError>),
}

/// A seek for the decoding thread: `frame` frames into item `index`.
#[derive(Clone, Copy)]
struct SeekRequest {
    index: usize,
    frame: u64,
}

/// Where the reader leaves a seek request; whoever takes it out answers it (the decoding
/// thread with `Chunk::Seeked`, or the reader itself if the thread is waiting for items).
type SeekSlot = Arc<Mutex<Option<SeekRequest>>>;

fn take_request(slot: &SeekSlot) -> Option<SeekRequest> {
    slot.lock().ok().and_then(|mut s| s.take())
}

/// The last item the decoding thread read to its end, kept open so that a seek back into it
/// can still be done (by the reader) while its end plays.
type FinishedSlot = Arc<Mutex<Option<(usize, Box<dyn PcmSource>)>>>;

/// Why the decoding thread cannot seek an item: it has read it to its end.
const READ_TO_ITS_END: &str = "the item was read to its end already";

/// Several inputs as one gapless [`PcmSource`] (see the module documentation).
pub struct Queue {
    format: PcmFormat,
    chunks: Receiver<Chunk>,
    current: Vec<i16>,
    position: usize,
    first_tags: Metadata,
    pending_update: Option<Metadata>,
    frames_out: u64,
    timeline: QueueTimeline,
    /// Set by the decoding thread while it waits for the next item (the queue ran dry).
    waiting_for_items: Arc<AtomicBool>,
    idle_silence: bool,
    /// The item whose audio is being read (its `Start` was taken).
    reading: usize,
    seeks: SeekSlot,
    /// Chunks taken off the channel during a seek that failed: read before the channel.
    stash: std::collections::VecDeque<Chunk>,
    finished: FinishedSlot,
    /// An item read to its end that a seek went back into: read before anything else.
    replaying: Option<Box<dyn PcmSource>>,
    /// While `replaying`: what the thread had sent of that item is dropped, up to the next
    /// item's start.
    dropping_old: bool,
}

/// Frames of silence one read gives while the queue is dry (see [`Queue::idle_silence`]).
const IDLE_FRAMES: usize = 352;

/// How often a dry queue's reader looks whether the decoding thread waits for items.
const IDLE_CHECK: Duration = Duration::from_millis(5);

impl Queue {
    /// Starts opening `items` in order, converting each to `format`, with about `prefetch`
    /// of audio decoded ahead. Waits for the first item that opens (its tags are the
    /// stream's first); fails if the first item fails, or if there is none.
    pub fn new(
        format: PcmFormat,
        items: impl Iterator<Item = QueueItem> + Send + 'static,
        prefetch: Duration,
    ) -> Result<Self, AudioError> {
        let frames_ahead = prefetch.as_secs_f64() * f64::from(format.sample_rate);
        let capacity = ((frames_ahead / CHUNK_FRAMES as f64).ceil() as usize).max(1);
        let (tx, chunks) = sync_channel(capacity);
        let waiting_for_items = Arc::new(AtomicBool::new(false));
        let waiting = Arc::clone(&waiting_for_items);
        let seeks = SeekSlot::default();
        let requests = Arc::clone(&seeks);
        let finished = FinishedSlot::default();
        let done = Arc::clone(&finished);
        std::thread::Builder::new()
            .name("airstream-queue".into())
            .spawn(move || decode_items(format, items, &tx, &waiting, &requests, &done))
            .map_err(|e| AudioError::io("the queue's decoding thread", e))?;
        let mut queue = Self {
            format,
            chunks,
            current: Vec::new(),
            position: 0,
            first_tags: Metadata::default(),
            pending_update: None,
            frames_out: 0,
            timeline: QueueTimeline::default(),
            waiting_for_items,
            idle_silence: false,
            reading: 0,
            seeks,
            stash: std::collections::VecDeque::new(),
            finished,
            replaying: None,
            dropping_old: false,
        };
        match queue.chunks.recv() {
            Ok(Chunk::Start {
                index,
                name,
                metadata,
            }) => {
                queue.reading = index;
                queue.first_tags = metadata.clone();
                queue.timeline.push_track(TrackStart {
                    index,
                    name,
                    start_frame: 0,
                    metadata,
                });
                Ok(queue)
            }
            Ok(Chunk::Failed(error)) => Err(error),
            _ => Err(AudioError::Empty {
                input: "the queue".into(),
            }),
        }
    }

    /// While the queue is dry (every item played, the iterator waiting for another), reads
    /// give silence instead of blocking: a live session keeps its stream running, and
    /// whatever a reader batches up is handed on. Off by default (reads then wait).
    #[must_use]
    pub fn idle_silence(mut self, on: bool) -> Self {
        self.idle_silence = on;
        self
    }

    /// Where each item started; stays valid after the queue is handed to a stream.
    pub fn timeline(&self) -> QueueTimeline {
        self.timeline.clone()
    }
}

impl PcmSource for Queue {
    fn format(&self) -> PcmFormat {
        self.format
    }

    fn read(&mut self, buf: &mut [i16]) -> Result<usize, AudioError> {
        let channels = usize::from(self.format.channels.max(1));
        loop {
            if self.position < self.current.len() {
                let samples =
                    (buf.len() / channels * channels).min(self.current.len() - self.position);
                buf[..samples]
                    .copy_from_slice(&self.current[self.position..self.position + samples]);
                self.position += samples;
                let frames = samples / channels;
                self.frames_out += frames as u64;
                return Ok(frames);
            }
            if let Some(pcm) = &mut self.replaying {
                match pcm.read(buf) {
                    Ok(0) => self.end_replay(),
                    Ok(frames) => {
                        self.frames_out += frames as u64;
                        return Ok(frames);
                    }
                    Err(e) => {
                        // As the thread does: what it gave stays, the queue goes on.
                        self.replaying = None;
                        self.take(Chunk::Failed(e));
                    }
                }
                continue;
            }
            if let Some(chunk) = self.stash.pop_front() {
                self.take(chunk);
                continue;
            }
            if self.idle_silence {
                // Waits a little at a time: the thread may be about to wait for items.
                match self.chunks.recv_timeout(IDLE_CHECK) {
                    Ok(chunk) => self.take(chunk),
                    Err(RecvTimeoutError::Disconnected) => return Ok(0),
                    Err(RecvTimeoutError::Timeout) => {
                        if self.waiting_for_items.load(Ordering::SeqCst) {
                            let frames = IDLE_FRAMES.min(buf.len() / channels);
                            buf[..frames * channels].fill(0);
                            self.frames_out += frames as u64;
                            return Ok(frames);
                        }
                    }
                }
                continue;
            }
            // Blocks while the next item is opened (or, without idle silence, while the
            // queue is dry).
            match self.chunks.recv() {
                Ok(chunk) => self.take(chunk),
                Err(_) => return Ok(0),
            }
        }
    }

    fn metadata(&self) -> Metadata {
        self.first_tags.clone()
    }

    fn take_metadata_update(&mut self) -> Option<Metadata> {
        self.pending_update.take()
    }

    fn duration(&self) -> Option<Duration> {
        self.first_tags.duration
    }

    /// Seeks within the item playing (`frame` counts over the whole queue, as the
    /// [`QueueTimeline`] does); returns the frames into the item. The decoding thread seeks
    /// it while it decodes it; once it has read it to its end (its last seconds, the
    /// prefetch) the reader seeks and reads it itself, and what the thread had decoded of it
    /// is dropped. A position in another item, or in an item read from a pipe, fails with
    /// [`AudioError::NotSeekable`] and changes nothing; so does one in an item after which
    /// the thread has already finished another (shorter than the prefetch).
    fn seek(&mut self, frame: u64) -> Result<u64, AudioError> {
        let refused = |reason: &str| AudioError::NotSeekable {
            input: "the queue".into(),
            reason: reason.into(),
        };
        let track = self
            .timeline
            .track_at(frame)
            .filter(|t| t.index == self.reading)
            .ok_or_else(|| refused("it seeks only within the item playing"))?;
        let within = frame - track.start_frame;
        if let Some(pcm) = &mut self.replaying {
            // A second seek into the item read to its end: the reader holds it.
            pcm.seek(within)?;
            self.current.clear();
            self.position = 0;
            self.frames_out = frame;
            return Ok(within);
        }
        if let Ok(mut slot) = self.seeks.lock() {
            *slot = Some(SeekRequest {
                index: track.index,
                frame: within,
            });
        }
        let mut taken = std::collections::VecDeque::new();
        let answer = loop {
            match self.chunks.recv_timeout(IDLE_CHECK) {
                Ok(Chunk::Seeked(answer)) => break answer,
                Ok(chunk) => taken.push_back(chunk),
                Err(RecvTimeoutError::Disconnected) => {
                    take_request(&self.seeks);
                    break Err(refused("the queue has ended"));
                }
                Err(RecvTimeoutError::Timeout) => {
                    // The thread waits for the next item: it will not look; take it back.
                    if self.waiting_for_items.load(Ordering::SeqCst)
                        && take_request(&self.seeks).is_some()
                    {
                        break Err(refused(READ_TO_ITS_END));
                    }
                }
            }
        };
        match answer {
            Ok(()) => {
                // Everything before the answer came from before the seek.
                self.stash.clear();
                self.current.clear();
                self.position = 0;
                self.frames_out = frame;
                Ok(within)
            }
            Err(AudioError::NotSeekable { reason, .. }) if reason == READ_TO_ITS_END => {
                self.stash.extend(taken);
                self.seek_finished(track.index, within, frame)
            }
            Err(e) => {
                self.stash.extend(taken);
                Err(e)
            }
        }
    }
}

impl Queue {
    /// A seek into the item the decoding thread read to its end (it keeps the last one):
    /// the reader reads it from the new position itself, and drops what the thread had sent
    /// of it, up to the next item.
    fn seek_finished(&mut self, index: usize, within: u64, frame: u64) -> Result<u64, AudioError> {
        let refused = || AudioError::NotSeekable {
            input: "the queue".into(),
            reason: READ_TO_ITS_END.into(),
        };
        let Ok(mut slot) = self.finished.lock() else {
            return Err(refused());
        };
        let Some((_, pcm)) = slot.as_mut().filter(|(i, _)| *i == index) else {
            return Err(refused());
        };
        pcm.seek(within)?;
        self.replaying = slot.take().map(|(_, pcm)| pcm);
        self.dropping_old = true;
        self.current.clear();
        self.position = 0;
        self.frames_out = frame;
        Ok(within)
    }

    /// The item a seek went back into was read to its end (again): it is kept for another
    /// seek back, unless the thread has finished a later item since.
    fn end_replay(&mut self) {
        let Some(pcm) = self.replaying.take() else {
            return;
        };
        if let Ok(mut slot) = self.finished.lock()
            && slot.as_ref().is_none_or(|(i, _)| *i < self.reading)
        {
            *slot = Some((self.reading, pcm));
        }
    }

    /// Takes in one chunk from the decoding thread.
    fn take(&mut self, chunk: Chunk) {
        if self.dropping_old {
            match chunk {
                Chunk::Audio(_) | Chunk::Update(_) | Chunk::Seeked(_) => return,
                Chunk::Start { .. } | Chunk::Failed(_) => self.dropping_old = false,
            }
        }
        match chunk {
            Chunk::Audio(samples) => {
                self.current = samples;
                self.position = 0;
            }
            Chunk::Start {
                index,
                name,
                metadata,
            } => {
                self.reading = index;
                self.timeline.push_track(TrackStart {
                    index,
                    name,
                    start_frame: self.frames_out,
                    metadata: metadata.clone(),
                });
                self.pending_update = Some(metadata);
            }
            Chunk::Update(metadata) => self.pending_update = Some(metadata),
            Chunk::Failed(error) => {
                let why = format!("skipped: {error}");
                tracing::warn!("{why}");
                self.timeline.push_failure(why);
            }
            // Answers are taken by `seek`; one that came too late means nothing.
            Chunk::Seeked(_) => {}
        }
    }
}

/// The decoding thread: opens each item in turn and hands its audio over until the reader
/// is gone or the items end.
fn decode_items(
    format: PcmFormat,
    mut items: impl Iterator<Item = QueueItem>,
    tx: &SyncSender<Chunk>,
    waiting: &AtomicBool,
    seeks: &SeekSlot,
    finished: &FinishedSlot,
) {
    let channels = usize::from(format.channels.max(1));
    for index in 0.. {
        // No item is held now: a seek cannot be done.
        if take_request(seeks).is_some() && !answer_moved_on(tx) {
            return;
        }
        waiting.store(true, Ordering::SeqCst);
        let next = items.next();
        waiting.store(false, Ordering::SeqCst);
        let Some(QueueItem { name, open, tags }) = next else {
            return;
        };
        let mut pcm = match open(format) {
            Ok(pcm) if pcm.format() == format => pcm,
            Ok(pcm) => {
                let got = pcm.format();
                let why = AudioError::invalid(
                    &name,
                    format!(
                        "its audio is {} Hz/{} channels, not the queue's {} Hz/{}",
                        got.sample_rate, got.channels, format.sample_rate, format.channels
                    ),
                );
                if tx.send(Chunk::Failed(why)).is_err() {
                    return;
                }
                continue;
            }
            Err(e) => {
                if tx.send(Chunk::Failed(e)).is_err() {
                    return;
                }
                continue;
            }
        };
        let mut metadata = over(pcm.metadata(), &tags);
        metadata.title = metadata.title.or_else(|| Some(display_name(&name)));
        metadata.duration = metadata.duration.or_else(|| pcm.duration());
        let start = Chunk::Start {
            index,
            name: name.clone(),
            metadata,
        };
        if tx.send(start).is_err() {
            return;
        }
        loop {
            if let Some(request) = take_request(seeks) {
                let answer = if request.index == index {
                    pcm.seek(request.frame).map(drop)
                } else {
                    Err(moved_on())
                };
                if tx.send(Chunk::Seeked(answer)).is_err() {
                    return;
                }
            }
            let mut buf = vec![0i16; CHUNK_FRAMES * channels];
            let frames = match pcm.read(&mut buf) {
                Ok(frames) => frames,
                Err(e) => {
                    if tx.send(Chunk::Failed(e)).is_err() {
                        return;
                    }
                    break;
                }
            };
            if let Some(update) = pcm.take_metadata_update()
                && tx.send(Chunk::Update(over(update, &tags))).is_err()
            {
                return;
            }
            if frames == 0 {
                // Kept for a seek back into it while its end plays.
                if let Ok(mut slot) = finished.lock() {
                    *slot = Some((index, pcm));
                }
                break;
            }
            buf.truncate(frames * channels);
            if tx.send(Chunk::Audio(buf)).is_err() {
                return;
            }
        }
    }
}

/// Why a seek for an item the decoding thread no longer holds fails.
fn moved_on() -> AudioError {
    AudioError::NotSeekable {
        input: "the queue".into(),
        reason: READ_TO_ITS_END.into(),
    }
}

/// Answers a seek request the thread cannot do; `false` once the reader is gone.
fn answer_moved_on(tx: &SyncSender<Chunk>) -> bool {
    tx.send(Chunk::Seeked(Err(moved_on()))).is_ok()
}

/// `own` with every field `over` sets replaced.
fn over(own: Metadata, over: &Metadata) -> Metadata {
    Metadata {
        title: over.title.clone().or(own.title),
        artist: over.artist.clone().or(own.artist),
        album: over.album.clone().or(own.album),
        artwork: over.artwork.clone().or(own.artwork),
        duration: over.duration.or(own.duration),
    }
}

/// A title for an untagged item: the file name of a path, `stdin` for `-`, a URL as is.
fn display_name(name: &str) -> String {
    if name == "-" || name == "stdin" {
        return "stdin".into();
    }
    if name.contains("://") {
        return name.into();
    }
    std::path::Path::new(name)
        .file_name()
        .map_or_else(|| name.to_string(), |n| n.to_string_lossy().into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::VecSource;
    use std::sync::atomic::{AtomicU64, Ordering};

    fn tone(frames: usize, seed: i16) -> Vec<i16> {
        (0..frames * 2)
            .map(|i| seed.wrapping_add((i % 1000) as i16))
            .collect()
    }

    fn item(name: &str, samples: Vec<i16>, title: Option<&str>) -> QueueItem {
        let tags = Metadata {
            title: title.map(String::from),
            ..Metadata::default()
        };
        QueueItem::opened(
            name,
            Box::new(VecSource::new(PcmFormat::RAOP, samples).with_metadata(tags)),
        )
    }

    /// Reads everything, in reads of `step` frames, noting where tag updates were taken.
    fn drain(queue: &mut Queue, step: usize) -> (Vec<i16>, Vec<(u64, Metadata)>) {
        let mut out = Vec::new();
        let mut updates = Vec::new();
        let mut buf = vec![0i16; step * 2];
        loop {
            if let Some(update) = queue.take_metadata_update() {
                updates.push(((out.len() / 2) as u64, update));
            }
            let frames = queue.read(&mut buf).unwrap_or_else(|e| panic!("{e}"));
            if frames == 0 {
                return (out, updates);
            }
            out.extend_from_slice(&buf[..frames * 2]);
        }
    }

    #[test]
    fn items_play_back_to_back_with_their_tags_at_the_boundaries() {
        let (a, b, c) = (tone(5000, 0), tone(3, 7000), tone(10_000, -9000));
        let items = vec![
            item("a.flac", a.clone(), Some("A")),
            item("/music/b.mp3", b.clone(), None),
            item("c.ogg", c.clone(), Some("C")),
        ];
        let mut queue = Queue::new(PcmFormat::RAOP, items.into_iter(), Duration::from_secs(1))
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(queue.metadata().title.as_deref(), Some("A"));
        let timeline = queue.timeline();
        // Reads that end exactly on each boundary: the update is taken before the next read.
        let (out, updates) = drain(&mut queue, 1);
        assert_eq!(
            out,
            [a, b, c].concat(),
            "no sample missing, doubled or inserted"
        );
        let at: Vec<(u64, Option<String>)> = updates
            .into_iter()
            .map(|(frame, m)| (frame, m.title))
            .collect();
        // The update is known once the item's first frame was read.
        assert_eq!(
            at,
            vec![(5001, Some("b.mp3".into())), (5004, Some("C".into()))]
        );
        let starts: Vec<(usize, u64)> = timeline
            .tracks()
            .iter()
            .map(|t| (t.index, t.start_frame))
            .collect();
        assert_eq!(starts, vec![(0, 0), (1, 5000), (2, 5003)]);
        assert_eq!(
            timeline.track_at(5002).map(|t| t.name),
            Some("/music/b.mp3".into())
        );
    }

    /// Reads `frames` frames (fewer at the end).
    fn read_frames(queue: &mut Queue, frames: usize) -> Vec<i16> {
        let mut out = Vec::new();
        let mut buf = vec![0i16; 1000];
        while out.len() < frames * 2 {
            let want = (frames * 2 - out.len()).min(buf.len());
            match queue
                .read(&mut buf[..want])
                .unwrap_or_else(|e| panic!("{e}"))
            {
                0 => break,
                n => out.extend_from_slice(&buf[..n * 2]),
            }
        }
        out
    }

    #[test]
    fn a_seek_in_the_item_playing_lands_on_its_frame_and_the_next_item_follows() {
        // Items longer than the prefetch: the thread still holds the one playing.
        let (a, b) = (tone(200_000, 0), tone(200_000, 5000));
        let items = vec![item("a", a.clone(), None), item("b", b.clone(), None)];
        let mut queue = Queue::new(
            PcmFormat::RAOP,
            items.into_iter(),
            Duration::from_millis(100),
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let timeline = queue.timeline();
        assert!(read_frames(&mut queue, 10_000) == a[..20_000]);
        assert_eq!(queue.seek(150_000).unwrap(), 150_000);
        assert!(read_frames(&mut queue, 10_000) == a[300_000..320_000]);
        // Back, then into b: the timeline counts positions in the queue.
        assert_eq!(queue.seek(20_000).unwrap(), 20_000);
        assert!(read_frames(&mut queue, 180_000 + 5000) == [&a[40_000..], &b[..10_000]].concat());
        assert_eq!(timeline.track_at(200_000).map(|t| t.index), Some(1));
        assert_eq!(queue.seek(200_000 + 123).unwrap(), 123);
        let (rest, _) = drain(&mut queue, 777);
        assert!(rest == b[246..]);
    }

    #[test]
    fn a_seek_back_into_an_item_read_to_its_end_is_done_and_the_next_item_follows_once() {
        // a is shorter than the prefetch: the thread reads it to its end and opens b, which
        // is far longer than what the seeks take off the channel (the thread keeps only the
        // last item it finished).
        let (a, b) = (tone(5000, 0), tone(400_000, 5000));
        let (opened, b_opened) = std::sync::mpsc::channel();
        let b_source = b.clone();
        let items = vec![
            item("a", a.clone(), None),
            QueueItem::from_fn("b", move |_| {
                let _ = opened.send(());
                Ok(Box::new(VecSource::new(PcmFormat::RAOP, b_source)) as Box<dyn PcmSource>)
            }),
        ];
        let mut queue = Queue::new(PcmFormat::RAOP, items.into_iter(), Duration::from_secs(1))
            .unwrap_or_else(|e| panic!("{e}"));
        let timeline = queue.timeline();
        let head = read_frames(&mut queue, 4000);
        b_opened.recv().unwrap();
        // b is not playing yet: refused, and nothing changes.
        let err = queue.seek(6000).unwrap_err();
        assert!(matches!(err, AudioError::NotSeekable { .. }), "{err}");
        assert!(head == a[..8000]);
        // Back into a, twice: from frame 1000, then 3000.
        assert_eq!(queue.seek(1000).unwrap(), 1000);
        assert!(read_frames(&mut queue, 500) == a[2000..3000]);
        assert_eq!(queue.seek(3000).unwrap(), 3000);
        let (rest, _) = drain(&mut queue, 333);
        assert!(rest == [&a[6000..], &b[..]].concat(), "b once, whole");
        // b starts where a ended, counted in positions of the queue.
        assert_eq!(timeline.track_at(5000).map(|t| t.index), Some(1));
    }

    #[test]
    fn a_failed_item_is_skipped_and_told_and_a_failed_first_item_is_an_error() {
        let failing = || {
            QueueItem::from_fn("missing.flac", |_| {
                Err(AudioError::invalid("missing.flac", "no such file"))
            })
        };
        let items = vec![
            item("a", tone(100, 1), None),
            failing(),
            item("c", tone(100, 2), None),
        ];
        let mut queue = Queue::new(PcmFormat::RAOP, items.into_iter(), Duration::from_secs(1))
            .unwrap_or_else(|e| panic!("{e}"));
        let mut timeline = queue.timeline();
        let (out, _) = drain(&mut queue, 64);
        assert_eq!(out, [tone(100, 1), tone(100, 2)].concat());
        assert_eq!(
            timeline.take_failures(),
            vec!["skipped: missing.flac: no such file".to_string()]
        );
        assert_eq!(timeline.tracks()[1].index, 2, "indices count failed items");

        let first_fails = vec![failing(), item("c", tone(100, 2), None)];
        let error = Queue::new(
            PcmFormat::RAOP,
            first_fails.into_iter(),
            Duration::from_secs(1),
        )
        .err()
        .map(|e| e.to_string());
        assert!(
            error.as_deref().is_some_and(|e| e.contains("missing.flac")),
            "{error:?}"
        );
    }

    #[test]
    fn the_next_item_is_opened_while_the_current_one_still_has_audio_to_play() {
        let first = tone(CHUNK_FRAMES * 8, 3);
        let consumed = Arc::new(AtomicU64::new(0));
        let (opened_tx, opened_rx) = std::sync::mpsc::channel();
        let seen = Arc::clone(&consumed);
        let second = QueueItem::from_fn("slow", move |_| {
            // What the reader had taken of the first item when the second was opened.
            let _ = opened_tx.send(seen.load(Ordering::SeqCst));
            Ok(Box::new(VecSource::new(PcmFormat::RAOP, tone(10, 4))) as Box<dyn PcmSource>)
        });
        let items = vec![item("first", first.clone(), None), second];
        // Prefetch of more than the whole first item: its end is buffered at once.
        let mut queue = Queue::new(PcmFormat::RAOP, items.into_iter(), Duration::from_secs(2))
            .unwrap_or_else(|e| panic!("{e}"));
        let mut buf = vec![0i16; 2 * CHUNK_FRAMES];
        let frames = queue.read(&mut buf).unwrap_or_else(|e| panic!("{e}"));
        consumed.store(frames as u64, Ordering::SeqCst);
        // Nothing more is read until the second item was opened: it must not wait for us.
        let at_open = opened_rx
            .recv()
            .unwrap_or_else(|e| panic!("the second item was never opened: {e}"));
        assert!(
            at_open < (first.len() / 2) as u64,
            "opened after the first item was read to its end ({at_open})"
        );
        let (rest, _) = drain(&mut queue, 500);
        assert_eq!(
            [&buf[..frames * 2], &rest[..]].concat(),
            [first, tone(10, 4)].concat()
        );
    }

    #[test]
    fn a_dry_queue_with_idle_silence_gives_silence_until_the_next_item() {
        let (tx, rx) = std::sync::mpsc::channel();
        tx.send(item("one", tone(1000, 5), None))
            .unwrap_or_else(|e| panic!("{e}"));
        let mut queue = Queue::new(PcmFormat::RAOP, rx.into_iter(), Duration::from_secs(1))
            .unwrap_or_else(|e| panic!("{e}"))
            .idle_silence(true);
        let mut buf = vec![0i16; 2 * 2000];
        let mut out = Vec::new();
        while out.len() < 2000 {
            let frames = queue.read(&mut buf).unwrap_or_else(|e| panic!("{e}"));
            out.extend_from_slice(&buf[..frames * 2]);
        }
        assert_eq!(&out[..2000], &tone(1000, 5)[..]);
        // Dry: silence, in small reads, for as long as nothing comes.
        let frames = queue.read(&mut buf).unwrap_or_else(|e| panic!("{e}"));
        assert!(frames > 0 && frames <= IDLE_FRAMES, "{frames}");
        assert!(buf[..frames * 2].iter().all(|s| *s == 0));
        let silence_before = queue.frames_out;
        tx.send(item("two", tone(500, 9), Some("Two")))
            .unwrap_or_else(|e| panic!("{e}"));
        drop(tx);
        let (rest, updates) = drain(&mut queue, 100);
        let start = queue.timeline().tracks()[1].start_frame;
        assert!(start >= silence_before, "{start} {silence_before}");
        let offset = usize::try_from(start - silence_before).unwrap_or(usize::MAX) * 2;
        assert!(
            rest[..offset].iter().all(|s| *s == 0),
            "only silence before it"
        );
        assert_eq!(&rest[offset..], &tone(500, 9)[..], "then the item, whole");
        assert_eq!(updates[0].1.title.as_deref(), Some("Two"));
    }

    #[test]
    fn the_items_tags_override_their_own_and_untagged_items_are_named_by_file() {
        let own = Metadata {
            title: Some("Own".into()),
            artist: Some("Band".into()),
            ..Metadata::default()
        };
        let flags = Metadata {
            artist: Some("Flag".into()),
            ..Metadata::default()
        };
        let merged = over(own, &flags);
        assert_eq!(merged.title.as_deref(), Some("Own"));
        assert_eq!(merged.artist.as_deref(), Some("Flag"));
        assert_eq!(display_name("/a/b/song.flac"), "song.flac");
        assert_eq!(display_name("-"), "stdin");
        assert_eq!(display_name("http://radio/x.mp3"), "http://radio/x.mp3");
    }
}
