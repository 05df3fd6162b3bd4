//! Moving a running stream in its source, by a seek or a skip: the decode thread moves its
//! source, the engine drops what is queued and FLUSHes every member while its timeline runs
//! on (so the receivers' clock mapping stays valid), and from the first frame after the move
//! the receivers' progress shows the new position.

use super::clock;
use super::driver::Driver;
use super::pipeline::{Item, Move};
use crate::error::{Error, Result};
use airstream_proto::dmap::progress_body;
use airstream_proto::format::SAMPLE_RATE;
use airstream_proto::stream::{MemberId, Phase, SourceItem};
use bytes::Bytes;
use std::time::Duration;
use tokio::sync::oneshot;

/// A move the decode thread has not answered yet.
struct PendingMove {
    /// The frame of the source the stream goes on from (the heard one, for a skip).
    frame: u64,
    /// "seek" or "skip", for the messages.
    verb: &'static str,
    reply: oneshot::Sender<Result<()>>,
    /// Items that came before the answer: dropped if it succeeds, played if it fails.
    stash: Vec<Item>,
}

/// What the driver knows of moves.
#[derive(Default)]
pub(super) struct Moves {
    pending: Option<PendingMove>,
    /// The marker on the first frame after the last move, and how far into the item
    /// playing that frame is (for its progress).
    marker: Option<(u64, u64)>,
    /// The source frame of the last move and the frames heard then.
    base: (u64, u64),
}

impl Moves {
    /// Whether a move waits for the decode thread (its batches are wanted at once).
    pub(super) fn pending(&self) -> bool {
        self.pending.is_some()
    }

    /// The source frame the receivers play when they have played `frames_heard` in all.
    pub(super) fn position(&self, frames_heard: u64) -> u64 {
        self.base.0 + frames_heard.saturating_sub(self.base.1)
    }
}

/// The frame of the source at `position`.
fn frame_at(position: Duration) -> u64 {
    (position.as_secs_f64() * f64::from(SAMPLE_RATE)).round() as u64
}

impl Driver {
    /// A seek asked for through the handle: the decode thread is asked, the answer comes
    /// among its batches.
    pub(super) fn start_seek(&mut self, position: Duration, reply: oneshot::Sender<Result<()>>) {
        self.start_move(Move::Seek(frame_at(position)), reply);
    }

    /// A skip asked for through the handle: the item heard now ends, the next one plays.
    pub(super) fn start_skip(&mut self, reply: oneshot::Sender<Result<()>>) {
        let heard = self.moves.position(self.engine.frames_heard(clock::now()));
        self.start_move(Move::Skip(heard), reply);
    }

    fn start_move(&mut self, to: Move, reply: oneshot::Sender<Result<()>>) {
        let (frame, verb) = match to {
            Move::Seek(frame) => (frame, "seek"),
            Move::Skip(frame) => (frame, "skip"),
        };
        let refused = if self.moves.pending.is_some() {
            Some("another seek or skip is under way")
        } else if matches!(self.engine.phase(), Phase::TearingDown | Phase::Done) {
            Some("the stream is ending")
        } else if !self.pipeline_open || !self.pipeline.request_move(to) {
            Some("the source has failed")
        } else {
            None
        };
        if let Some(why) = refused {
            let _ = reply.send(Err(Error::InvalidInput(format!("cannot {verb}: {why}"))));
            return;
        }
        self.moves.pending = Some(PendingMove {
            frame,
            verb,
            reply,
            stash: Vec::new(),
        });
    }

    /// Passes a batch through an unanswered move: what to take in now (nothing while the
    /// answer has not come; after it, what follows, or everything if it failed).
    pub(super) fn through_move(&mut self, batch: Vec<Item>) -> Vec<Item> {
        let Some(pending) = &mut self.moves.pending else {
            return batch;
        };
        let mut items = batch.into_iter();
        while let Some(item) = items.next() {
            let Item::Moved(result) = item else {
                pending.stash.push(item);
                continue;
            };
            let Some(PendingMove {
                frame,
                verb,
                reply,
                mut stash,
            }) = self.moves.pending.take()
            else {
                break;
            };
            return match result {
                Ok(in_item) => {
                    let done = self.moved(frame, in_item, verb);
                    let _ = reply.send(done);
                    items.collect()
                }
                Err(e) => {
                    let _ = reply.send(Err(Error::Input(e)));
                    stash.extend(items);
                    stash
                }
            };
        }
        Vec::new()
    }

    /// The decode thread is gone: a move waiting for it fails.
    pub(super) fn move_source_gone(&mut self) {
        if let Some(pending) = self.moves.pending.take() {
            let _ = pending.reply.send(Err(Error::InvalidInput(format!(
                "cannot {}: the source has failed",
                pending.verb
            ))));
        }
    }

    /// The source continues from `frame` (`in_item` frames into the item playing): the
    /// engine drops the old audio and flushes.
    fn moved(&mut self, frame: u64, in_item: u64, verb: &str) -> Result<()> {
        if !self.engine.seek(clock::now()) {
            return Err(Error::InvalidInput(format!(
                "cannot {verb}: the stream is ending"
            )));
        }
        self.source_done = false;
        self.source_error = None;
        // Tag changes that waited for the dropped audio will not come.
        self.markers.clear();
        let token = self.next_marker;
        self.next_marker += 1;
        self.engine.push(SourceItem::Marker { token, frame: 0 });
        self.moves.marker = Some((token, in_item));
        self.moves.base = (frame, self.engine.totals().frames_sent);
        tracing::debug!(frame, "{verb} done");
        Ok(())
    }

    /// A marker was reached: if it is the first frame after a move, the receivers' progress
    /// goes to the new position from there. `false` if it is not the move's.
    pub(super) fn move_marker_reached(&mut self, token: u64, rtptime: u32) -> bool {
        let Some((_, frame)) = self.moves.marker.filter(|(t, _)| *t == token) else {
            return false;
        };
        self.moves.marker = None;
        let Some(duration) = self.metadata.duration else {
            return true;
        };
        // Progress counts in 32-bit RTP time, which wraps: so do its fields.
        let start = rtptime.wrapping_sub(frame as u32);
        let end = start.wrapping_add(frame_at(duration) as u32);
        let body = Bytes::from(progress_body(start, rtptime, end));
        for (index, link) in self.links.iter().enumerate() {
            let member = MemberId::from_index(index);
            if link.metadata_kinds.progress && self.engine.is_active(member) {
                self.engine
                    .set_parameter(Some(member), "text/parameters", &body, None);
            }
        }
        true
    }
}
