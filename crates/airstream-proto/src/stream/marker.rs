//! Markers the caller placed between audio packets: each names a frame of the audio that
//! follows, and is reported with that frame's RTP time once the packet carrying it is
//! numbered. A marker never takes the RTP time of an underrun's silence: it waits for its
//! audio.

use super::output::Event;
use std::collections::VecDeque;

/// Markers taken from the source whose audio has not been numbered yet.
#[derive(Debug, Default)]
pub(crate) struct Markers {
    waiting: Vec<(u64, u32)>,
}

impl Markers {
    /// A marker `frame` frames into the next audio packet.
    pub(crate) fn wait(&mut self, token: u64, frame: u32) {
        self.waiting.push((token, frame));
    }

    /// The next audio packet carries RTP time `rtptime`: every waiting marker is reached.
    pub(crate) fn reach(&mut self, rtptime: u32, events: &mut VecDeque<Event>) {
        events.extend(self.waiting.drain(..).map(|(token, frame)| Event::Marker {
            token,
            rtptime: rtptime.wrapping_add(frame),
        }));
    }

    /// Forgets the waiting markers (their audio was dropped by a seek).
    pub(crate) fn clear(&mut self) {
        self.waiting.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markers_take_the_rtp_time_of_their_frame_in_the_next_packet() {
        let mut markers = Markers::default();
        let mut events = VecDeque::new();
        markers.wait(7, 0);
        markers.wait(8, 296);
        markers.reach(u32::MAX - 100, &mut events);
        assert_eq!(
            events,
            [
                Event::Marker {
                    token: 7,
                    rtptime: u32::MAX - 100
                },
                Event::Marker {
                    token: 8,
                    rtptime: 195
                },
            ]
        );
        events.clear();
        markers.reach(5000, &mut events);
        assert!(events.is_empty(), "each marker is reported once");
    }
}
