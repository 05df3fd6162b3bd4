//! Moving a queue's output: seeking within an item and skipping to the next.
//!
//! The reader runs ahead of what is heard (the stream's buffers, about 5 s), so the item
//! heard may be one or more items before the item read. Both moves name the item by a frame
//! of the output, as the [`QueueTimeline`](super::QueueTimeline) counts them: the output then
//! goes on from that frame, the item moved into plays from the position asked for, and every
//! item that had started after it plays again from its start. Items read to their end are
//! kept open for that (the last few); the item the decoding thread still reads is moved by
//! the thread.

use super::decoder::moved_on;
use super::{
    Chunk, IDLE_CHECK, Queue, READ_TO_ITS_END, Request, TrackStart, keep_finished, take_request,
};
use crate::AudioError;
use std::collections::VecDeque;
use std::sync::atomic::Ordering;
use std::sync::mpsc::RecvTimeoutError;

fn not_seekable(reason: &str) -> AudioError {
    AudioError::NotSeekable {
        input: "the queue".into(),
        reason: reason.into(),
    }
}

fn not_skippable(reason: &str) -> AudioError {
    AudioError::NotSkippable {
        input: "the queue".into(),
        reason: reason.into(),
    }
}

fn read_to_its_end(error: &AudioError) -> bool {
    matches!(error, AudioError::NotSeekable { reason, .. } if reason == READ_TO_ITS_END)
}

impl Queue {
    /// Seeks to `frame` of the output; returns the frames into the item it is in. That item
    /// plays from there and the items after it that had started play again from their
    /// start. Fails with [`AudioError::NotSeekable`] and changes nothing when an item that
    /// would play again is read from a pipe, when it is no longer held (more than a few
    /// items back), or when the position is beyond the item's end.
    pub(super) fn seek_to(&mut self, frame: u64) -> Result<u64, AudioError> {
        if self.skipping {
            return Err(not_seekable("a skip is under way"));
        }
        let track = self
            .timeline
            .track_at(frame)
            .ok_or_else(|| not_seekable("nothing plays yet"))?;
        let within = frame - track.start_frame;
        self.restart_from(&track, within)?;
        self.moved_to(frame);
        Ok(within)
    }

    /// Ends the item playing at `frame` of the output there: the next read gives the start
    /// of the item after it, counted from `frame` on. If no item after it has started, the
    /// one read is dropped (the decoding thread stops decoding it); otherwise the next one
    /// plays from its start, and those after it again. Fails with
    /// [`AudioError::NotSkippable`] and changes nothing when an item that would play again
    /// is read from a pipe or no longer held, or when a skip waits for the next item still.
    pub(super) fn skip_at(&mut self, frame: u64) -> Result<(), AudioError> {
        if self.skipping {
            return Err(not_skippable("the last skip waits for the next item still"));
        }
        let heard = self
            .timeline
            .track_at(frame)
            .ok_or_else(|| not_skippable("nothing plays yet"))?;
        let Some(next) = self.started_after(heard.index).into_iter().next() else {
            // Nothing after it has started: it is the item read.
            self.current.clear();
            self.position = 0;
            self.moved_to(frame);
            self.drop_reading();
            return Ok(());
        };
        self.restart_from(&next, 0).map_err(|e| match e {
            AudioError::NotSeekable { input, reason } => AudioError::NotSkippable {
                input,
                reason: format!("the next item started and {reason}"),
            },
            other => other,
        })?;
        self.moved_to(frame);
        self.start_track(next.index, next.name, next.metadata);
        Ok(())
    }

    /// The output goes on from `frame`: items that had started after it start again.
    fn moved_to(&mut self, frame: u64) {
        self.frames_out = frame;
        self.timeline.forget_after(frame);
    }

    /// Skips the item read: the thread drops it, and the reader what came of it.
    fn drop_reading(&mut self) {
        let index = self.reading;
        self.replaying = None;
        self.replays.clear();
        self.after_replay = None;
        self.dropping_old = true;
        self.skipping = true;
        self.pending_update = None;
        if let Ok(mut slot) = self.requests.lock() {
            *slot = Some(Request::Skip { index });
        }
        if let Ok(mut kept) = self.finished.lock() {
            kept.retain(|(i, _)| *i != index);
        }
    }

    /// Plays `first` from `within` on, then every item that had started after it from its
    /// start; on failure nothing changes.
    fn restart_from(&mut self, first: &TrackStart, within: u64) -> Result<(), AudioError> {
        // The item replaying now goes back among the held ones while the plan is made.
        let was_replaying = match self.replaying.take() {
            Some(pcm) => {
                keep_finished(&self.finished, self.reading, pcm);
                true
            }
            None => false,
        };
        let result = self.try_restart_from(first, within);
        if result.is_err() && was_replaying {
            self.replaying = self.take_held(self.reading);
        }
        result
    }

    fn try_restart_from(&mut self, first: &TrackStart, within: u64) -> Result<(), AudioError> {
        // The item the thread reads: after any replays, the one it sends again.
        let thread_item = self.after_replay.as_ref().map_or(self.reading, |t| t.index);
        let chain = std::iter::once(first.clone()).chain(self.started_after(first.index));
        // Held by the reader (read to their end), then at most the thread's item.
        let mut replays: VecDeque<TrackStart> = VecDeque::new();
        let mut thread_tail = None;
        for track in chain {
            if self.holds(track.index) {
                replays.push_back(track);
            } else if track.index == thread_item {
                thread_tail = Some(track);
                break;
            } else {
                return Err(not_seekable(READ_TO_ITS_END));
            }
        }
        for (i, track) in replays.iter().enumerate() {
            self.seek_held(track.index, if i == 0 { within } else { 0 })?;
        }
        if let Some(track) = thread_tail.take() {
            let from = if replays.is_empty() { within } else { 0 };
            match self.thread_seek(track.index, from) {
                Ok(()) => thread_tail = Some(track),
                // Finished meanwhile: it is held now, and replayed as the others.
                Err(e) if read_to_its_end(&e) && self.holds(track.index) => {
                    self.seek_held(track.index, from)?;
                    replays.push_back(track);
                }
                Err(e) => return Err(e),
            }
        }
        self.current.clear();
        self.position = 0;
        self.pending_update = None;
        match replays.pop_front() {
            None => {
                // The thread continues its item from `within`.
                self.reading = first.index;
                self.dropping_old = false;
                self.after_replay = None;
                self.replays.clear();
            }
            Some(front) => {
                self.reading = front.index;
                self.replaying = self.take_held(front.index);
                // What the thread still sends of an item replayed here is not wanted.
                self.dropping_old = thread_tail.is_none();
                self.replays = replays;
                self.after_replay = thread_tail;
            }
        }
        Ok(())
    }

    /// The items after item `index` that have started to be read, in order: those on the
    /// timeline, and those a replay will play again (not on it until they do).
    fn started_after(&self, index: usize) -> Vec<TrackStart> {
        let mut after: Vec<TrackStart> = self
            .timeline
            .tracks()
            .into_iter()
            .chain(self.replays.iter().cloned())
            .chain(self.after_replay.iter().cloned())
            .filter(|t| t.index > index)
            .collect();
        after.sort_by_key(|t| t.index);
        after.dedup_by_key(|t| t.index);
        after
    }

    /// Whether item `index` is held, read to its end.
    fn holds(&self, index: usize) -> bool {
        self.finished
            .lock()
            .is_ok_and(|kept| kept.iter().any(|(i, _)| *i == index))
    }

    /// Seeks held item `index` where it is.
    fn seek_held(&self, index: usize, frame: u64) -> Result<(), AudioError> {
        let mut kept = self.finished.lock().map_err(|_| moved_on())?;
        let (_, pcm) = kept
            .iter_mut()
            .find(|(i, _)| *i == index)
            .ok_or_else(moved_on)?;
        pcm.seek(frame).map(drop)
    }

    fn take_held(&self, index: usize) -> Option<Box<dyn crate::PcmSource>> {
        let mut kept = self.finished.lock().ok()?;
        let at = kept.iter().position(|(i, _)| *i == index)?;
        kept.remove(at).map(|(_, pcm)| pcm)
    }

    /// Asks the decoding thread to continue item `index` from `within`; on success what it
    /// had sent before is dropped, on failure nothing changes.
    fn thread_seek(&mut self, index: usize, within: u64) -> Result<(), AudioError> {
        if let Ok(mut slot) = self.requests.lock() {
            *slot = Some(Request::Seek {
                index,
                frame: within,
            });
        }
        let mut taken = VecDeque::new();
        let answer = loop {
            match self.chunks.recv_timeout(IDLE_CHECK) {
                Ok(Chunk::Seeked(answer)) => break answer,
                Ok(chunk) => taken.push_back(chunk),
                Err(RecvTimeoutError::Disconnected) => {
                    take_request(&self.requests);
                    break Err(not_seekable("the queue has ended"));
                }
                Err(RecvTimeoutError::Timeout) => {
                    // The thread waits for the next item: it will not look; take it back.
                    if self.waiting_for_items.load(Ordering::SeqCst)
                        && take_request(&self.requests).is_some()
                    {
                        break Err(moved_on());
                    }
                }
            }
        };
        match answer {
            // Everything before the answer came from before the seek.
            Ok(()) => self.stash.clear(),
            Err(_) => self.stash.extend(taken),
        }
        answer
    }

    /// The item replaying was read to its end (again): it is held for another move back,
    /// and the next replay, or the thread's item sent again, starts.
    pub(super) fn end_replay(&mut self) {
        if let Some(pcm) = self.replaying.take() {
            keep_finished(&self.finished, self.reading, pcm);
        }
        if let Some(next) = self.replays.pop_front() {
            self.replaying = self.take_held(next.index);
            self.start_track(next.index, next.name, next.metadata);
        } else if let Some(next) = self.after_replay.take() {
            self.start_track(next.index, next.name, next.metadata);
        }
    }
}
