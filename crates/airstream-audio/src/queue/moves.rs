//! Moving a queue's output: seeking within an item and skipping to the next.
//!
//! The reader runs ahead of what is heard (the stream's buffers), so the item heard may be
//! the one before the item read. Both moves name the item by a frame of the output, as the
//! [`QueueTimeline`](super::QueueTimeline) counts them, and work for the item read and the
//! one before it; the output then goes on from that frame, and items that had started after
//! it start again where they are read next.

use super::decoder::moved_on;
use super::{Chunk, IDLE_CHECK, Queue, READ_TO_ITS_END, Request, TrackStart, take_request};
use crate::AudioError;
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
    /// Seeks to `frame` of the output, in the item read or the one before it; returns the
    /// frames into that item. The decoding thread seeks the item while it decodes it; once
    /// it has read it to its end (its last seconds, the prefetch) the reader seeks and reads
    /// it itself. Going back into the item before the one read replays it from there and
    /// then reads the next one again from its start. A position in another item, or in an
    /// item read from a pipe, fails with [`AudioError::NotSeekable`] and changes nothing.
    pub(super) fn seek_to(&mut self, frame: u64) -> Result<u64, AudioError> {
        if self.skipping {
            return Err(not_seekable("a skip is under way"));
        }
        let track = self
            .timeline
            .track_at(frame)
            .ok_or_else(|| not_seekable("nothing plays yet"))?;
        let within = frame - track.start_frame;
        if track.index == self.reading {
            self.seek_reading(within)?;
        } else if track.index + 1 == self.reading {
            self.seek_back(track.index, within)?;
        } else {
            return Err(not_seekable("it seeks only within the item playing"));
        }
        self.moved_to(frame);
        Ok(within)
    }

    /// Ends the item playing at `frame` of the output there: the next read gives the start
    /// of the item after it, counted from `frame` on. The item read is dropped (the
    /// decoding thread stops decoding it); if the reader had read into the next item
    /// already, that one is read again from its start. Fails with
    /// [`AudioError::NotSkippable`] and changes nothing when the item after is read from a
    /// pipe and has started, when the reader has read past it (an item shorter than what is
    /// buffered), or when a skip waits for the next item still.
    pub(super) fn skip_at(&mut self, frame: u64) -> Result<(), AudioError> {
        if self.skipping {
            return Err(not_skippable("the last skip waits for the next item still"));
        }
        let track = self
            .timeline
            .track_at(frame)
            .ok_or_else(|| not_skippable("nothing plays yet"))?;
        if track.index == self.reading {
            self.replaying = None;
            self.current.clear();
            self.position = 0;
            self.moved_to(frame);
            match self.after_replay.take() {
                // The item after a replayed one is read from its start already.
                Some(next) => self.start_track(next.index, next.name, next.metadata),
                None => self.drop_reading(),
            }
            return Ok(());
        }
        let next = self
            .timeline
            .tracks()
            .pop()
            .filter(|t| track.index + 1 == self.reading && t.index == self.reading)
            .filter(|_| self.replaying.is_none())
            .ok_or_else(|| {
                not_skippable("the item after it was read to its end already (it is shorter than what is buffered)")
            })?;
        self.seek_reading(0).map_err(|e| match e {
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
        self.dropping_old = true;
        self.skipping = true;
        self.pending_update = None;
        if let Ok(mut slot) = self.requests.lock() {
            *slot = Some(Request::Skip { index });
        }
        if let Ok(mut finished) = self.finished.lock()
            && finished.as_ref().is_some_and(|(i, _)| *i == index)
        {
            *finished = None;
        }
    }

    /// Moves the item read to `within` frames into it.
    fn seek_reading(&mut self, within: u64) -> Result<(), AudioError> {
        if let Some(pcm) = &mut self.replaying {
            // A second seek into the item read to its end: the reader holds it.
            pcm.seek(within)?;
        } else {
            match self.thread_seek(within) {
                Err(e) if read_to_its_end(&e) => self.seek_finished(within)?,
                other => other?,
            }
        }
        self.current.clear();
        self.position = 0;
        Ok(())
    }

    /// Asks the decoding thread to continue the item read from `within`; on success what
    /// it had sent before is dropped, on failure nothing changes.
    fn thread_seek(&mut self, within: u64) -> Result<(), AudioError> {
        if let Ok(mut slot) = self.requests.lock() {
            *slot = Some(Request::Seek {
                index: self.reading,
                frame: within,
            });
        }
        let mut taken = std::collections::VecDeque::new();
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

    /// A seek into the item the decoding thread read to its end (it keeps the last one):
    /// the reader reads it from the new position itself, and drops what the thread had sent
    /// of it, up to the next item.
    fn seek_finished(&mut self, within: u64) -> Result<(), AudioError> {
        let Ok(mut slot) = self.finished.lock() else {
            return Err(moved_on());
        };
        let Some((_, pcm)) = slot.as_mut().filter(|(i, _)| *i == self.reading) else {
            return Err(moved_on());
        };
        pcm.seek(within)?;
        self.replaying = slot.take().map(|(_, pcm)| pcm);
        self.dropping_old = true;
        Ok(())
    }

    /// A seek into item `index`, the one before the item read: the reader replays it from
    /// `within` (the thread keeps the last item it finished), and the item read is read
    /// again from its start after it.
    fn seek_back(&mut self, index: usize, within: u64) -> Result<(), AudioError> {
        let next = self
            .timeline
            .tracks()
            .pop()
            .filter(|t| t.index == self.reading)
            .filter(|_| self.replaying.is_none() && self.after_replay.is_none())
            .ok_or_else(|| not_seekable(READ_TO_ITS_END))?;
        let mut pcm = {
            let Ok(mut slot) = self.finished.lock() else {
                return Err(moved_on());
            };
            match slot.take() {
                Some((i, pcm)) if i == index => pcm,
                other => {
                    *slot = other;
                    return Err(moved_on());
                }
            }
        };
        let seeked = pcm.seek(within).and_then(|_| self.thread_seek(0));
        if let Err(e) = seeked {
            self.keep_finished(index, pcm);
            return Err(e);
        }
        self.current.clear();
        self.position = 0;
        self.replaying = Some(pcm);
        self.dropping_old = false;
        self.pending_update = None;
        self.reading = index;
        self.after_replay = Some(next);
        Ok(())
    }

    /// Keeps item `index`, read to its end, for a seek back, unless the thread has
    /// finished a later item since.
    fn keep_finished(&mut self, index: usize, pcm: Box<dyn crate::PcmSource>) {
        if let Ok(mut slot) = self.finished.lock()
            && slot.as_ref().is_none_or(|(i, _)| *i < index)
        {
            *slot = Some((index, pcm));
        }
    }

    /// The item a seek went back into was read to its end (again): it is kept for another
    /// seek back, and the item after it starts (again) if it was read already.
    pub(super) fn end_replay(&mut self) {
        if let Some(pcm) = self.replaying.take() {
            self.keep_finished(self.reading, pcm);
        }
        if let Some(TrackStart {
            index,
            name,
            metadata,
            ..
        }) = self.after_replay.take()
        {
            self.start_track(index, name, metadata);
        }
    }
}
