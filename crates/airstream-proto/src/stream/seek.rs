//! Seeking: the audio queued from the source and what the receivers buffered but have not
//! played are dropped (FLUSH to every member), and the caller's next audio follows on the
//! same timeline. Sequence numbers, RTP times and the RTP↔clock mapping run on, so no
//! receiver has to take a new clock.
//!
//! A FLUSH travels over RTSP while the audio travels over UDP: audio sent before a receiver
//! applies the FLUSH would be dropped with the old. So until every member has answered its
//! FLUSH (or [`FLUSH_WAIT`] passed) the timeline carries silence, then a new lead-in (the
//! receivers mute the first packets after a flush), then the audio from the new position.

use super::{Member, MemberId, State, Stream};
use std::time::{Duration, Instant};

/// The longest the audio waits for the FLUSH answers after a seek; a member that takes
/// longer may lose the first frames after the seek (it answers 2 s later at worst before
/// its request times out and it is dropped anyway).
pub const FLUSH_WAIT: Duration = Duration::from_secs(1);

/// Members whose FLUSH of a seek is not answered yet.
#[derive(Debug)]
pub(crate) struct FlushWait {
    awaiting: Vec<bool>,
    until: Instant,
}

impl Stream {
    /// Seeks: drops the source items queued and every member's unplayed audio (FLUSH from
    /// the next packet on); the audio pushed next plays after the FLUSH answers and a new
    /// lead-in, on the same timeline. Real frames sent but never to be heard are taken off
    /// [`totals`](Self::totals). Returns `false` (and does nothing) once the stream is
    /// tearing down. While paused, the audio a resume would have sent again is dropped too.
    pub fn seek(&mut self, now: Instant) -> bool {
        match self.state {
            State::TearingDown { .. } | State::Done => return false,
            State::SettingUp { .. } => {}
            State::Paused { .. } => {
                // The pause flushed the receivers already; what it took back is not wanted.
                self.playback.drop_unplayed(now);
                self.playback.restart_lead_in();
                self.state = State::Paused { draining: false };
            }
            State::Streaming | State::Draining { .. } => {
                let unheard = self.playback.drop_unplayed(now);
                self.totals.frames_sent -= unheard;
                let (next_seq, next_rtptime) = self.timeline.next_position();
                for m in self.members.iter_mut().filter(|m| m.is_active()) {
                    m.config.session.flush(next_seq, next_rtptime);
                }
                self.seeking = Some(FlushWait {
                    awaiting: self.members.iter().map(Member::is_active).collect(),
                    until: now + FLUSH_WAIT,
                });
                self.set_state(State::Streaming);
            }
        }
        // Everything queued was read before the seek, its end or failure included.
        self.source.clear();
        self.queued_audio = 0;
        self.markers.clear();
        true
    }

    /// A member answered a FLUSH.
    pub(crate) fn flush_answered(&mut self, member: MemberId) {
        if let Some(wait) = &mut self.seeking
            && let Some(awaiting) = wait.awaiting.get_mut(member.index())
        {
            *awaiting = false;
        }
    }

    /// Whether the next packet must be silence because a seek's FLUSH may not have been
    /// applied everywhere yet; once it has (or the wait ran out), a new lead-in starts
    /// after this packet.
    pub(crate) fn holding_for_flush(&mut self, now: Instant) -> bool {
        let Some(wait) = &self.seeking else {
            return false;
        };
        let waiting = now < wait.until
            && wait
                .awaiting
                .iter()
                .zip(&self.members)
                .any(|(awaiting, m)| *awaiting && m.is_active());
        if !waiting {
            self.seeking = None;
            self.playback.restart_lead_in();
        }
        true
    }
}
