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
use std::sync::mpsc::{Receiver, RecvTimeoutError, sync_channel};
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

    /// Forgets the items that started after `frame`: a seek or skip moved the output back
    /// before them, and they start again where they are read next.
    fn forget_after(&self, frame: u64) {
        if let Ok(mut state) = self.0.lock() {
            state.tracks.retain(|t| t.start_frame <= frame);
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

/// What the reader asks of the decoding thread.
#[derive(Clone, Copy)]
enum Request {
    /// Continue item `index` from `frame` frames into it; answered with `Chunk::Seeked`
    /// (by the reader itself if the thread is waiting for items).
    Seek { index: usize, frame: u64 },
    /// Drop item `index` if the thread still decodes it and go on with the next; not
    /// answered (the reader drops what came of it up to the next item's start).
    Skip { index: usize },
}

/// Where the reader leaves its request for the decoding thread.
type RequestSlot = Arc<Mutex<Option<Request>>>;

fn take_request(slot: &RequestSlot) -> Option<Request> {
    slot.lock().ok().and_then(|mut s| s.take())
}

/// Items read to their end, kept open (the last [`KEPT_FINISHED`], by index) so that a seek
/// or skip back into them can still be done by the reader while the stream's buffers play
/// them.
type Finished = Arc<Mutex<std::collections::VecDeque<(usize, Box<dyn PcmSource>)>>>;

/// How many items read to their end are kept open: more than the buffers ahead of what is
/// heard (about 5 s) can hold of very short items.
const KEPT_FINISHED: usize = 4;

/// Keeps item `index`, read to its end, among the finished ones (the oldest goes).
fn keep_finished(finished: &Finished, index: usize, pcm: Box<dyn PcmSource>) {
    if let Ok(mut kept) = finished.lock() {
        kept.retain(|(i, _)| *i != index);
        kept.push_back((index, pcm));
        kept.make_contiguous().sort_by_key(|(i, _)| *i);
        while kept.len() > KEPT_FINISHED {
            kept.pop_front();
        }
    }
}

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
    requests: RequestSlot,
    /// Chunks taken off the channel during a seek that failed: read before the channel.
    stash: std::collections::VecDeque<Chunk>,
    finished: Finished,
    /// An item read to its end that a seek or skip went back into (item `reading`): read
    /// before anything else.
    replaying: Option<Box<dyn PcmSource>>,
    /// Items read to their end that play again after it, from their start.
    replays: std::collections::VecDeque<TrackStart>,
    /// After the replays: the item the thread reads, which it sends again from its start.
    after_replay: Option<TrackStart>,
    /// What the thread still sends of an item the reader replays or skipped is dropped, up
    /// to the next item's start.
    dropping_old: bool,
    /// A skip waits for the next item's start.
    skipping: bool,
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
        let requests = RequestSlot::default();
        let thread_requests = Arc::clone(&requests);
        let finished = Finished::default();
        let done = Arc::clone(&finished);
        std::thread::Builder::new()
            .name("airstream-queue".into())
            .spawn(move || {
                decoder::decode_items(format, items, &tx, &waiting, &thread_requests, &done);
            })
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
            requests,
            stash: std::collections::VecDeque::new(),
            finished,
            replaying: None,
            replays: std::collections::VecDeque::new(),
            after_replay: None,
            dropping_old: false,
            skipping: false,
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
                        self.record_failure(&e);
                        self.end_replay();
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

    /// Seeks to `frame` of the output (counted over the whole queue, as the
    /// [`QueueTimeline`] does); returns the frames into the item it is in. That item plays
    /// from there, and the items after it that the reader had read ahead play again from
    /// their start (the last few items read to their end are kept open for that). Fails
    /// with [`AudioError::NotSeekable`] and changes nothing when an item that would play
    /// again is read from a pipe or no longer kept, or when the position is beyond the
    /// item's end.
    fn seek(&mut self, frame: u64) -> Result<u64, AudioError> {
        self.seek_to(frame)
    }

    /// Ends the item playing at `frame` of the output there: the next read gives the start
    /// of the item after it, counted from `frame` on (the items after that again from
    /// their start, if the reader had read ahead into them). Fails with
    /// [`AudioError::NotSkippable`] and changes nothing when an item that would play again
    /// is read from a pipe or no longer kept, or while a skip waits for the next item.
    fn skip(&mut self, frame: u64) -> Result<(), AudioError> {
        self.skip_at(frame)
    }
}

impl Queue {
    /// Takes in one chunk from the decoding thread.
    fn take(&mut self, chunk: Chunk) {
        if self.dropping_old {
            match chunk {
                Chunk::Audio(_) | Chunk::Update(_) | Chunk::Seeked(_) => return,
                Chunk::Start { .. } | Chunk::Failed(_) => {
                    self.dropping_old = false;
                    self.skipping = false;
                }
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
            } => self.start_track(index, name, metadata),
            Chunk::Update(metadata) => self.pending_update = Some(metadata),
            Chunk::Failed(error) => self.record_failure(&error),
            // Answers are taken by `seek`; one that came too late means nothing.
            Chunk::Seeked(_) => {}
        }
    }

    /// Item `index` starts with the next frame read.
    fn start_track(&mut self, index: usize, name: String, metadata: Metadata) {
        self.reading = index;
        self.timeline.push_track(TrackStart {
            index,
            name,
            start_frame: self.frames_out,
            metadata: metadata.clone(),
        });
        self.pending_update = Some(metadata);
    }

    /// An item that could not be played (on): told once, as a warning and on the timeline.
    fn record_failure(&self, error: &AudioError) {
        let why = format!("skipped: {error}");
        tracing::warn!("{why}");
        self.timeline.push_failure(why);
    }
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

mod decoder;
mod moves;
#[cfg(test)]
mod tests;
