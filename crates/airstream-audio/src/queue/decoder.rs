//! The queue's decoding thread: opens each item in turn, converts it and hands its audio to
//! the reader, doing the reader's seeks and skips between chunks.

use super::{
    CHUNK_FRAMES, Chunk, Finished, QueueItem, READ_TO_ITS_END, Request, RequestSlot, display_name,
    keep_finished, over, take_request,
};
use crate::{AudioError, PcmFormat};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::SyncSender;

/// The decoding thread: opens each item in turn and hands its audio over until the reader
/// is gone or the items end.
pub(super) fn decode_items(
    format: PcmFormat,
    mut items: impl Iterator<Item = QueueItem>,
    tx: &SyncSender<Chunk>,
    waiting: &AtomicBool,
    requests: &RequestSlot,
    finished: &Finished,
) {
    let channels = usize::from(format.channels.max(1));
    for index in 0.. {
        // No item is held now: a seek cannot be done (and a skip is done already).
        if let Some(Request::Seek { .. }) = take_request(requests)
            && !answer_moved_on(tx)
        {
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
            match take_request(requests) {
                Some(Request::Seek {
                    index: wanted,
                    frame,
                }) => {
                    let answer = if wanted == index {
                        pcm.seek(frame).map(drop)
                    } else {
                        Err(moved_on())
                    };
                    if tx.send(Chunk::Seeked(answer)).is_err() {
                        return;
                    }
                }
                // Not kept for a seek back: it was skipped.
                Some(Request::Skip { index: wanted }) if wanted == index => break,
                Some(Request::Skip { .. }) | None => {}
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
                keep_finished(finished, index, pcm);
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
pub(super) fn moved_on() -> AudioError {
    AudioError::NotSeekable {
        input: "the queue".into(),
        reason: READ_TO_ITS_END.into(),
    }
}

/// Answers a seek request the thread cannot do; `false` once the reader is gone.
fn answer_moved_on(tx: &SyncSender<Chunk>) -> bool {
    tx.send(Chunk::Seeked(Err(moved_on()))).is_ok()
}
