//! A sans-IO two-step PTP master (shared/protocol/airplay2.md §6): Announce first and then
//! once a second, Sync + Follow_Up eight times a second. Its time is the caller's monotonic
//! `now` plus a fixed offset; it never reads a clock. The caller sends what
//! [`PtpMaster::poll_transmit`] yields from the matching local port (319 or 320) to every
//! receiver that follows us, and promptly: a Follow_Up states when its Sync left.

use std::collections::VecDeque;
use std::time::Duration;

use super::clock::{ClockIdentity, PtpTimestamp};
use super::ptp::{PtpError, PtpMessage, PtpPort};

/// One Announce a second (logAnnounceInterval 0).
pub const ANNOUNCE_INTERVAL: Duration = Duration::from_secs(1);
/// Eight Syncs a second (logSyncInterval −3), as Apple's masters and nqptp expect.
pub const SYNC_INTERVAL: Duration = Duration::from_millis(125);

/// A datagram to send from local port `port` to the same port on each receiver.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PtpTransmit {
    pub port: PtpPort,
    pub bytes: Vec<u8>,
}

/// The master's state: sequence ids per message type and when each is due next.
#[derive(Debug)]
pub struct PtpMaster {
    identity: ClockIdentity,
    /// Master time = `now` + this.
    offset: Duration,
    next_announce: Option<Duration>,
    next_sync: Option<Duration>,
    announce_sequence: u16,
    sync_sequence: u16,
    queue: VecDeque<PtpTransmit>,
    ignored: u64,
}

impl PtpMaster {
    /// A master whose clock reads `now + offset`. A large offset keeps its times apart from
    /// any other clock's, so a receiver's reported offset shows which master it follows.
    pub fn new(identity: ClockIdentity, offset: Duration) -> Self {
        Self {
            identity,
            offset,
            next_announce: None,
            next_sync: None,
            announce_sequence: 0,
            sync_sequence: 0,
            queue: VecDeque::new(),
            ignored: 0,
        }
    }

    /// Our clock identity, which anchors must carry too.
    pub fn identity(&self) -> ClockIdentity {
        self.identity
    }

    /// The master clock at monotonic time `now`, in nanoseconds (what anchors carry).
    pub fn master_nanos(&self, now: Duration) -> u64 {
        u64::try_from((now + self.offset).as_nanos()).unwrap_or(u64::MAX)
    }

    /// The master clock at `now` as a PTP timestamp.
    pub fn master_time(&self, now: Duration) -> PtpTimestamp {
        PtpTimestamp::from_nanos(self.master_nanos(now))
    }

    /// Queues whatever is due at `now`. The first call queues an Announce; Syncs start one
    /// sync interval later, so a follower has seen the Announce before any Follow_Up (nqptp
    /// discards Follow_Ups from a clock it has no Announce from).
    pub fn handle_timeout(&mut self, now: Duration) {
        let announce_due = self.next_announce.is_none_or(|due| now >= due);
        if announce_due {
            self.queue.push_back(PtpTransmit {
                port: PtpPort::General,
                bytes: PtpMessage::announce(self.identity, self.announce_sequence).encode(),
            });
            self.announce_sequence = self.announce_sequence.wrapping_add(1);
            // Late ticks do not bunch up messages: the next one is an interval from now.
            self.next_announce = Some(now + ANNOUNCE_INTERVAL);
            self.next_sync.get_or_insert(now + SYNC_INTERVAL);
        }
        if self.next_sync.is_some_and(|due| now >= due) {
            let sent = self.master_time(now);
            let sequence = self.sync_sequence;
            self.queue.push_back(PtpTransmit {
                port: PtpPort::Event,
                bytes: PtpMessage::sync(self.identity, sequence, sent).encode(),
            });
            self.queue.push_back(PtpTransmit {
                port: PtpPort::General,
                bytes: PtpMessage::follow_up(self.identity, sequence, sent).encode(),
            });
            self.sync_sequence = sequence.wrapping_add(1);
            self.next_sync = Some(now + SYNC_INTERVAL);
        }
    }

    /// The next datagram to send, oldest first.
    pub fn poll_transmit(&mut self) -> Option<PtpTransmit> {
        self.queue.pop_front()
    }

    /// When [`Self::handle_timeout`] must be called next; `None` before the first call
    /// (call it right away).
    pub fn poll_timeout(&self) -> Option<Duration> {
        match (self.next_announce, self.next_sync) {
            (Some(a), Some(s)) => Some(a.min(s)),
            (a, s) => a.or(s),
        }
    }

    /// Reads a datagram that arrived on a PTP port. A master needs nothing from its
    /// followers (no Delay_Resp in the AirPlay profile), so every message is only parsed
    /// and counted; a malformed one is an error for the caller to log, never a panic.
    pub fn handle_input(&mut self, datagram: &[u8]) -> Result<PtpMessage, PtpError> {
        let message = PtpMessage::parse(datagram)?;
        self.ignored += 1;
        Ok(message)
    }

    /// Well-formed messages received and ignored so far.
    pub fn ignored_messages(&self) -> u64 {
        self.ignored
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: ClockIdentity = ClockIdentity([1, 2, 3, 0xFF, 0xFE, 4, 5, 6]);

    /// Runs the master in virtual time for `span`, always waking at its own deadline;
    /// returns (time, message) for everything it sent.
    fn run(master: &mut PtpMaster, span: Duration) -> Vec<(Duration, PtpPort, PtpMessage)> {
        let mut sent = Vec::new();
        let mut now = Duration::from_secs(100);
        let end = now + span;
        while now <= end {
            master.handle_timeout(now);
            while let Some(t) = master.poll_transmit() {
                let message = PtpMessage::parse(&t.bytes).expect("our own bytes parse");
                assert_eq!(message.port(), t.port);
                sent.push((now, t.port, message));
            }
            now = master
                .poll_timeout()
                .expect("deadline after the first tick");
        }
        sent
    }

    #[test]
    fn announces_first_then_syncs_eight_times_a_second() {
        let mut master = PtpMaster::new(ID, Duration::from_secs(1_000_000));
        assert_eq!(master.poll_timeout(), None);
        let sent = run(&mut master, Duration::from_secs(10));
        assert!(matches!(sent[0].2, PtpMessage::Announce { .. }));
        let announces: Vec<_> = sent
            .iter()
            .filter(|(_, _, m)| matches!(m, PtpMessage::Announce { .. }))
            .collect();
        let syncs: Vec<_> = sent
            .iter()
            .filter(|(_, _, m)| matches!(m, PtpMessage::Sync { .. }))
            .collect();
        // 10 s span inclusive of both ends.
        assert_eq!(announces.len(), 11);
        assert_eq!(syncs.len(), 80);
        for (i, (_, _, m)) in announces.iter().enumerate() {
            assert_eq!(m.header().sequence_id, i as u16);
        }
        for pair in syncs.windows(2) {
            assert_eq!(pair[1].0.checked_sub(pair[0].0), Some(SYNC_INTERVAL));
            assert_eq!(
                pair[1].2.header().sequence_id,
                pair[0].2.header().sequence_id + 1
            );
        }
    }

    #[test]
    fn follow_up_carries_the_master_time_its_sync_left_at() {
        let offset = Duration::from_secs(1_000_000);
        let mut master = PtpMaster::new(ID, offset);
        let sent = run(&mut master, Duration::from_secs(1));
        let mut followed = 0;
        for pair in sent.windows(2) {
            if let (
                (t, _, PtpMessage::Sync { header: s, .. }),
                (
                    _,
                    _,
                    PtpMessage::FollowUp {
                        header: f,
                        precise_origin,
                    },
                ),
            ) = (&pair[0], &pair[1])
            {
                assert_eq!(s.sequence_id, f.sequence_id);
                assert_eq!(precise_origin.as_nanos(), (*t + offset).as_nanos() as u64);
                followed += 1;
            }
        }
        assert_eq!(followed, 8);
    }

    #[test]
    fn late_ticks_do_not_burst() {
        let mut master = PtpMaster::new(ID, Duration::ZERO);
        master.handle_timeout(Duration::from_secs(1));
        while master.poll_transmit().is_some() {}
        // Woken 5 s late: one Announce and one Sync pair, not forty.
        master.handle_timeout(Duration::from_secs(6));
        let burst: Vec<_> = std::iter::from_fn(|| master.poll_transmit()).collect();
        assert_eq!(burst.len(), 3);
        assert_eq!(
            master.poll_timeout(),
            Some(Duration::from_secs(6) + SYNC_INTERVAL)
        );
    }

    #[test]
    fn input_from_followers_is_parsed_and_ignored() {
        let mut master = PtpMaster::new(ID, Duration::ZERO);
        let theirs = ClockIdentity([9; 8]);
        assert!(matches!(
            master.handle_input(&PtpMessage::announce(theirs, 3).encode()),
            Ok(PtpMessage::Announce { .. })
        ));
        assert!(master.handle_input(&[0xFF; 7]).is_err());
        assert_eq!(master.ignored_messages(), 1);
        assert_eq!(master.poll_transmit(), None);
    }
}
