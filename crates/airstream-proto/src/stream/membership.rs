//! Members coming and going while the stream runs: a receiver joining the running timeline
//! (it gets audio only once it has a clock and its own first sync, so its first frame plays
//! in step with the others), a member removed (TEARDOWN to it alone), and a receiver that
//! ends its session while the stream is paused (the stream stays paused for it to be
//! connected again).

use super::member::{Member, Standing};
use super::output::{Event, MemberFailure, MemberId, Port, Transmit};
use super::transport::MemberTransport;
use super::{CLOCK_SETTLE, MAX_LATENCY_FRAMES, MemberConfig, State, Stream};
use crate::stream::timeline::RECEIVER_FIXED_LATENCY;
use bytes::Bytes;
use std::time::Instant;

/// A member joining a running stream, until its first sync.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Join {
    /// When it was added.
    since: Instant,
    /// When its first timing request was answered.
    clock_at: Option<Instant>,
}

/// Where one member is, as callers report it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MemberState {
    /// Joined a running stream; waiting for its clock before it gets audio.
    Joining,
    /// Takes the stream (or would, were it not paused).
    Active,
    /// Its session ended as asked (removed, or TEARDOWN at the end).
    Closed,
    /// It failed, or ended its session on its own.
    Dropped,
}

impl Stream {
    /// Adds a receiver whose session is recording to a stream that may already run. Before
    /// the start this is [`add_member`](Self::add_member). Once running, the member gets no
    /// audio until its first timing request was answered (or the timing wait ran out); then
    /// a first sync of its own ties it to the shared timeline and [`Event::Joined`] follows.
    /// The running latency does not change: a receiver asking for more is told so with
    /// [`Event::LatencyClamped`].
    pub fn join_member(&mut self, config: MemberConfig, now: Instant) -> MemberId {
        if let State::SettingUp { .. } = self.state {
            return self.add_member(config, now);
        }
        let id = MemberId(self.members.len());
        let latency = self.timeline.latency_frames();
        if let Some(asked) = config.audio_latency {
            let total = asked
                .saturating_add(RECEIVER_FIXED_LATENCY)
                .min(MAX_LATENCY_FRAMES);
            if total > latency {
                self.events.push_back(Event::LatencyClamped {
                    member: id,
                    asked: total,
                    used: latency,
                });
            }
        }
        let keyless = config.transport.is_sealed() && self.cipher.is_none();
        let mut member = Member::new(config, self.config.keep_alive, latency, now);
        member.join = Some(Join {
            since: now,
            clock_at: None,
        });
        if keyless || matches!(self.state, State::TearingDown { .. } | State::Done) {
            member.config.session.teardown();
            member.standing = Standing::Closed;
        }
        self.members.push(member);
        id
    }

    /// Lets AirPlay 2 members join a stream that started without any: their packets are
    /// sealed with `config`'s key and anchored on its clock from the next packet on. A
    /// stream that has an AirPlay 2 configuration keeps it (and `false` is returned).
    pub fn enable_airplay2(&mut self, config: super::Ap2StreamConfig) -> bool {
        if self.config.airplay2.is_some() {
            return false;
        }
        self.cipher = Some(crate::ap2::AudioCipher::new(&config.shk));
        self.config.airplay2 = Some(config);
        true
    }

    /// Ends one member's session (TEARDOWN to it alone); the others go on. `false` when it
    /// is not an active member, or the last one (stop the stream instead).
    pub fn remove_member(&mut self, member: MemberId) -> bool {
        let others = self
            .members
            .iter()
            .enumerate()
            .any(|(i, m)| i != member.0 && m.is_active());
        let Some(m) = self.members.get_mut(member.0).filter(|m| m.is_active()) else {
            return false;
        };
        if !others || matches!(self.state, State::TearingDown { .. } | State::Done) {
            return false;
        }
        m.config.session.teardown();
        m.standing = Standing::Closed;
        true
    }

    /// Where a member is (`Closed` for an id never given out).
    pub fn member_state(&self, member: MemberId) -> MemberState {
        match self.members.get(member.0) {
            Some(m) => match &m.standing {
                Standing::Active if m.join.is_some() => MemberState::Joining,
                Standing::Active => MemberState::Active,
                Standing::Closed => MemberState::Closed,
                Standing::Dropped(_) => MemberState::Dropped,
            },
            None => MemberState::Closed,
        }
    }

    /// Joiners whose clock is there (and settled), or whose wait ran out, get their first
    /// sync and from then on the audio.
    pub(crate) fn admit_joiners(&mut self, now: Instant) {
        let timing_wait = self.config.timing_wait;
        for i in 0..self.members.len() {
            let m = &mut self.members[i];
            let has_clock = m.has_clock();
            if !m.is_active() {
                continue;
            }
            let Some(join) = m.join.as_mut() else {
                continue;
            };
            if has_clock {
                join.clock_at.get_or_insert(now);
            }
            let ready = join.clock_at.map(|at| at + CLOCK_SETTLE);
            let due = ready
                .unwrap_or(join.since + timing_wait)
                .min(join.since + timing_wait);
            if now < due {
                continue;
            }
            m.join = None;
            if ready.is_none() {
                self.events.push_back(Event::NoClock(MemberId(i)));
            }
            self.send_join_sync(MemberId(i));
            self.events.push_back(Event::Joined(MemberId(i)));
        }
    }

    /// When [`admit_joiners`](Self::admit_joiners) has work.
    pub(crate) fn next_admission(&self) -> Option<Instant> {
        let wait = self.config.timing_wait;
        self.members
            .iter()
            .filter(|m| m.is_active())
            .filter_map(|m| m.join)
            .map(|j| match j.clock_at {
                Some(at) => (at + CLOCK_SETTLE).min(j.since + wait),
                None => j.since + wait,
            })
            .min()
    }

    /// The joiner's own first sync (or anchor), for the packet about to be sent; nothing
    /// while the timeline is stopped (the resume sends every member a first sync).
    fn send_join_sync(&mut self, member: MemberId) {
        let Some((sync, deadline)) = self.timeline.join_sync() else {
            return;
        };
        let Some(transport) = self.members.get(member.0).map(|m| m.config.transport) else {
            return;
        };
        let datagram = match transport {
            // NTP-timed AirPlay 2 takes the AirPlay 1 sync packet too.
            MemberTransport::Raop | MemberTransport::AirPlay2Ntp => {
                Bytes::copy_from_slice(&sync.encode())
            }
            MemberTransport::AirPlay2 => {
                let Some(anchor) = self.anchor_datagram(true, sync.rtp_now, deadline) else {
                    return;
                };
                anchor
            }
        };
        let Some(m) = self.members.get_mut(member.0) else {
            return;
        };
        m.stats.sync_sent += 1;
        self.transmits.push_back(Transmit {
            member,
            port: Port::Control,
            destination: m.config.control,
            datagram,
            send_now: true,
        });
    }

    /// A member's session ended while paused: it leaves, the stream stays paused.
    pub(crate) fn ended_while_paused(&mut self, member: MemberId, failure: MemberFailure) {
        let Some(m) = self.members.get_mut(member.0) else {
            return;
        };
        m.standing = Standing::Dropped(failure.clone());
        self.events
            .push_back(Event::EndedWhilePaused { member, failure });
    }

    /// At resume with no member left (all ended while paused and none came back): the
    /// stream fails with the last one's failure. `true` if it did.
    pub(crate) fn fail_if_empty(&mut self) -> bool {
        if self.members.iter().any(Member::is_active) {
            return false;
        }
        let last = self
            .members
            .iter()
            .enumerate()
            .rev()
            .find_map(|(i, m)| match &m.standing {
                Standing::Dropped(failure) => Some((MemberId(i), failure.clone())),
                _ => None,
            });
        let (member, failure) = last.unwrap_or((
            MemberId(0),
            MemberFailure::Unexpected("no receiver left".into()),
        ));
        self.events.push_back(Event::Failed { member, failure });
        self.set_state(State::Done);
        true
    }
}
