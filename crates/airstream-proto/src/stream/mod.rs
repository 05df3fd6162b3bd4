//! The stream engine: everything a stream is, for one receiver or a group, with no sockets,
//! no clock reads and no threads (quinn-proto's `Connection` is the model).
//!
//! It owns one timeline (sequence numbers, RTP time, SSRC, the RTP↔clock mapping), one
//! retransmit history shared by every member, the lead-in and the pause/replay queue, the
//! phases (setting up → streaming ⇄ paused → draining → tearing down → done), the sync
//! schedule, keep-alive and liveness deadlines, and the members with their RTSP sessions.
//!
//! The caller feeds it encoded audio ([`Stream::push`]), datagrams from the receivers
//! ([`Stream::handle_datagram`]), RTSP responses ([`Stream::handle_rtsp`]) and commands
//! (pause, volume, …), always with the time `now`; it calls [`Stream::handle_timeout`] when
//! [`Stream::poll_timeout`] says, and drains [`Stream::poll_transmit`],
//! [`Stream::poll_rtsp`] and [`Stream::poll_event`] after each call.

mod history;
mod marker;
mod member;
mod membership;
mod output;
mod seek;
mod timeline;
mod transport;

pub use history::RETRANSMIT_HISTORY;
pub use member::{MemberConfig, MemberStats, PROBE_AFTER, REQUEST_TIMEOUT};
pub use membership::MemberState;
pub use output::{Event, MemberFailure, MemberId, Phase, Port, RtspInput, Transmit};
pub use seek::FLUSH_WAIT;
pub use timeline::RECEIVER_FIXED_LATENCY;
pub use transport::{Ap2StreamConfig, MasterClock, MemberSession, MemberTransport};

use crate::ap2::{Anchor, AudioCipher};
use crate::format::FRAMES_PER_PACKET;
use crate::ntp::NtpClock;
use crate::raop::SessionEvent;
use crate::rtp::{ControlDatagram, TimingPacket, audio_packet, retransmit_reply};
use crate::rtsp::Request;
use bytes::Bytes;
use history::{History, Payload, Pending, Playback};
use marker::Markers;
use member::{Member, Standing};
use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::{Duration, Instant};
use timeline::{Timeline, frames_to_duration};

/// The least total latency: receivers add [`RECEIVER_FIXED_LATENCY`] by themselves.
pub const MIN_LATENCY_FRAMES: u32 = RECEIVER_FIXED_LATENCY;
/// The most total latency, whoever asks (10 s): a receiver asking for more gets this.
pub const MAX_LATENCY_FRAMES: u32 = 441_000;
/// Extra time after the last audible frame before TEARDOWN, for receiver output buffers.
pub const DRAIN_MARGIN: Duration = Duration::from_millis(250);
/// How long the TEARDOWNs may take before the stream ends without their answers.
pub const TEARDOWN_WAIT: Duration = Duration::from_secs(3);
/// Most packets sent per wake-up (the first on time, the others early): every wake-up costs
/// more than a packet. 64 packets are 511 ms, the most a receiver holds beyond its latency.
pub const MAX_BURST: u32 = 64;
/// Between the receivers' first timing requests and the first sync: time for them to take
/// our replies in (a sync before that is ignored by shairport-sync).
const CLOCK_SETTLE: Duration = Duration::from_millis(20);

/// How a stream is set up; fixed for its life.
#[derive(Debug, Clone)]
pub struct StreamConfig {
    /// The RTP stream's SSRC (random per stream).
    pub ssrc: u32,
    /// Sequence number of the first packet (random per stream).
    pub first_seq: u16,
    /// RTP time of the first packet (random per stream).
    pub first_rtptime: u32,
    /// Sender clock ↔ NTP time, for timing replies and sync packets.
    pub clock: NtpClock,
    /// The latency asked for, in frames (clamped to [`MIN_LATENCY_FRAMES`]..=[`MAX_LATENCY_FRAMES`]);
    /// the stream uses the largest of this and what its receivers ask.
    pub latency_frames: u32,
    /// Silent packets before the audio (and again after each resume): receivers mute the
    /// first packets they play after a flush.
    pub lead_in_packets: u32,
    /// One packet of silence, encoded (and encrypted) as the audio is.
    pub silence: Bytes,
    /// The keep-alive interval (`OPTIONS`): receivers drop sessions idle for ~30 s.
    pub keep_alive: Duration,
    /// How long to wait for every receiver's first timing request before starting anyway.
    pub timing_wait: Duration,
    /// Decoded packets wanted before the first packet leaves, so start-up I/O never shows
    /// as an underrun; bounded by `preroll_wait`.
    pub preroll_packets: usize,
    /// The longest the pre-roll may take.
    pub preroll_wait: Duration,
    /// The stream key and master clock for AirPlay 2 members; `None` when there are none.
    pub airplay2: Option<Ap2StreamConfig>,
}

/// What the caller's source produced, in stream order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SourceItem {
    /// One packet's payload, encoded (and encrypted), carrying `frames` real frames.
    Audio {
        /// The payload, ready to send.
        payload: Bytes,
        /// Real frames in it (the rest is padding).
        frames: u32,
    },
    /// A point of the stream the caller wants to know the RTP time of (e.g. tags changing
    /// there): `frame` frames into the next audio packet. Reported as [`Event::Marker`] with
    /// that frame's RTP time when the packet is sent.
    Marker {
        /// The caller's token, given back in the event.
        token: u64,
        /// The frame of the next audio packet the marker names (0 is its first).
        frame: u32,
    },
    /// The source ended: drain.
    End,
    /// The source failed here: the stream ends with [`Event::SourceFailed`].
    Failed,
}

#[derive(Debug, Clone, Copy)]
enum State {
    SettingUp {
        clock_deadline: Instant,
        /// When every receiver has a clock (plus settle time), or the wait ran out.
        clocks_ready: Option<Instant>,
        preroll_deadline: Option<Instant>,
    },
    Streaming,
    Paused {
        draining: bool,
    },
    /// The input ended; `until` is fixed once everything real has been sent.
    Draining {
        until: Option<Instant>,
    },
    TearingDown {
        deadline: Instant,
        stopped: bool,
    },
    Done,
}

impl State {
    fn phase(self) -> Phase {
        match self {
            State::SettingUp { .. } => Phase::SettingUp,
            State::Streaming => Phase::Streaming,
            State::Paused { .. } => Phase::Paused,
            State::Draining { .. } => Phase::Draining,
            State::TearingDown { .. } => Phase::TearingDown,
            State::Done => Phase::Done,
        }
    }
}

/// Totals for the stream as a whole.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StreamTotals {
    /// Real audio frames sent (and not taken back by a pause).
    pub frames_sent: u64,
    /// Packets on the timeline (lead-in, silence and replays included).
    pub packets_sent: u64,
    /// Packets of silence sent because the source had nothing ready.
    pub underruns: u64,
}

/// The sans-IO stream; see the [module documentation](self).
#[derive(Debug)]
pub struct Stream {
    config: StreamConfig,
    timeline: Timeline,
    history: History,
    /// The same packets as AirPlay 2 members got them (sealed), for their retransmits.
    ap2_history: History,
    /// Seals AirPlay 2 packets; `None` without [`StreamConfig::airplay2`].
    cipher: Option<AudioCipher>,
    /// The nonce counter of the next sealed packet: never repeats under one key.
    ap2_counter: u64,
    playback: Playback,
    source: VecDeque<SourceItem>,
    /// Audio packets in `source`.
    queued_audio: usize,
    /// Markers taken from `source`, waiting for the audio packet they point into.
    markers: Markers,
    /// After a seek, until every member applied its FLUSH.
    seeking: Option<seek::FlushWait>,
    state: State,
    members: Vec<Member>,
    transmits: VecDeque<Transmit>,
    events: VecDeque<Event>,
    totals: StreamTotals,
    first_packet: Option<Instant>,
}

impl Stream {
    /// A stream that starts setting up at `now`; add every member before the first
    /// [`handle_timeout`](Self::handle_timeout).
    pub fn new(config: StreamConfig, now: Instant) -> Self {
        let mut timeline = Timeline::new(
            config.ssrc,
            config.first_seq,
            config.first_rtptime,
            config.clock,
        );
        timeline.set_latency(
            config
                .latency_frames
                .clamp(MIN_LATENCY_FRAMES, MAX_LATENCY_FRAMES),
        );
        let cipher = config
            .airplay2
            .as_ref()
            .map(|ap2| AudioCipher::new(&ap2.shk));
        Self {
            playback: Playback::new(config.lead_in_packets),
            state: State::SettingUp {
                clock_deadline: now + config.timing_wait,
                clocks_ready: None,
                preroll_deadline: None,
            },
            config,
            timeline,
            history: History::new(),
            ap2_history: History::new(),
            cipher,
            ap2_counter: 0,
            source: VecDeque::new(),
            queued_audio: 0,
            markers: Markers::default(),
            seeking: None,
            members: Vec::new(),
            transmits: VecDeque::new(),
            events: VecDeque::new(),
            totals: StreamTotals::default(),
            first_packet: None,
        }
    }

    /// Adds a receiver whose session is recording. The stream's latency becomes the largest
    /// any member asks for, within [`MAX_LATENCY_FRAMES`].
    pub fn add_member(&mut self, config: MemberConfig, now: Instant) -> MemberId {
        let id = MemberId(self.members.len());
        if let Some(asked) = config.audio_latency {
            let total = asked.saturating_add(RECEIVER_FIXED_LATENCY);
            let used = total.min(MAX_LATENCY_FRAMES);
            if used < total {
                self.events.push_back(Event::LatencyClamped {
                    member: id,
                    asked: total,
                    used,
                });
            }
            if used > self.timeline.latency_frames() {
                self.timeline.set_latency(used);
            }
        }
        let latency = self.timeline.latency_frames();
        let keyless = config.transport.is_sealed() && self.cipher.is_none();
        let mut member = Member::new(config, self.config.keep_alive, latency, now);
        if keyless {
            member.standing = Standing::Dropped(MemberFailure::Unexpected(
                "an AirPlay 2 member in a stream without a stream key".into(),
            ));
            self.events.push_back(Event::Dropped {
                member: id,
                failure: MemberFailure::Unexpected(
                    "an AirPlay 2 member in a stream without a stream key".into(),
                ),
            });
        }
        self.members.push(member);
        for member in &mut self.members {
            member.set_latency(latency, now);
        }
        id
    }

    /// The phase the stream is in.
    pub fn phase(&self) -> Phase {
        self.state.phase()
    }

    /// The total latency, in frames: from a packet's deadline to it being audible.
    pub fn latency_frames(&self) -> u32 {
        self.timeline.latency_frames()
    }

    /// Frames of silence sent before the first audio frame.
    pub fn lead_in_frames(&self) -> u32 {
        self.config.lead_in_packets * FRAMES_PER_PACKET
    }

    /// Frames, packets and underruns so far.
    pub fn totals(&self) -> StreamTotals {
        self.totals
    }

    /// Real frames the receivers have played by `now`: [`totals`](Self::totals)' frames sent
    /// less those still in flight (buffered at the receivers, a latency's worth).
    pub fn frames_heard(&self, now: Instant) -> u64 {
        self.totals
            .frames_sent
            .saturating_sub(self.playback.unheard_frames(now))
    }

    /// When the first packet left.
    pub fn first_packet(&self) -> Option<Instant> {
        self.first_packet
    }

    /// Sequence number and RTP time the next packet will carry.
    pub fn next_position(&self) -> (u16, u32) {
        self.timeline.next_position()
    }

    /// Every member, in the order added.
    pub fn members(&self) -> impl Iterator<Item = MemberId> + use<> {
        (0..self.members.len()).map(MemberId)
    }

    /// One member's counters (zero for an id never given out).
    pub fn member_stats(&self, member: MemberId) -> MemberStats {
        self.members
            .get(member.0)
            .map(|m| m.stats)
            .unwrap_or_default()
    }

    /// The receiver's RTSP address.
    pub fn member_address(&self, member: MemberId) -> Option<SocketAddr> {
        self.members.get(member.0).map(|m| m.config.rtsp)
    }

    /// Whether the member is still in the stream (not dropped, not torn down).
    pub fn is_active(&self, member: MemberId) -> bool {
        self.members.get(member.0).is_some_and(Member::is_active)
    }

    /// Whether a request to the member waits for its answer.
    pub fn awaiting_answer(&self, member: MemberId) -> bool {
        self.members
            .get(member.0)
            .is_some_and(Member::awaiting_answer)
    }

    /// Why the member left, if it failed.
    pub fn failure(&self, member: MemberId) -> Option<&MemberFailure> {
        match &self.members.get(member.0)?.standing {
            Standing::Dropped(failure) => Some(failure),
            _ => None,
        }
    }

    /// Decoded packets waiting to be sent. Callers keep this bounded: push more only while
    /// it is below what they want buffered.
    pub fn queued_audio(&self) -> usize {
        self.queued_audio
    }

    /// Adds what the source produced, in order.
    pub fn push(&mut self, item: SourceItem) {
        if matches!(item, SourceItem::Audio { .. }) {
            self.queued_audio += 1;
        }
        self.source.push_back(item);
    }

    /// A datagram that arrived on `port` of `member` from `from`: timing requests are
    /// answered, retransmit requests served within the budget, and only from the receiver's
    /// own ports; anything else is ignored. `received` is when it arrived (timing replies
    /// carry it).
    pub fn handle_datagram(
        &mut self,
        member: MemberId,
        port: Port,
        from: SocketAddr,
        datagram: &[u8],
        received: Instant,
        now: Instant,
    ) {
        let clock = *self.timeline.clock();
        let Some(m) = self.members.get_mut(member.0).filter(|m| m.is_active()) else {
            return;
        };
        match port {
            Port::Timing => {
                // PTP-timed receivers follow our PTP master: nothing of theirs arrives here.
                if m.config.transport.is_ptp_timed() || !m.is_own(from, m.config.timing) {
                    return;
                }
                let Some(request) = TimingPacket::parse(datagram).ok().filter(|p| !p.reply) else {
                    return;
                };
                m.heard(received);
                m.stats.timing_replies += 1;
                let reply =
                    TimingPacket::reply_to(&request, clock.ntp_at(received), clock.ntp_at(now));
                self.transmits.push_back(Transmit {
                    member,
                    port: Port::Timing,
                    destination: from,
                    datagram: Bytes::copy_from_slice(&reply.encode()),
                    send_now: true,
                });
            }
            Port::Control => {
                if !m.is_own(from, Some(m.config.control)) {
                    return;
                }
                m.heard(received);
                let Ok(ControlDatagram::RetransmitRequest(request)) =
                    ControlDatagram::parse(datagram)
                else {
                    return;
                };
                m.stats.retransmit_requests += 1;
                let granted = m.grant_retransmits(request.count, now);
                let history = match m.config.transport {
                    MemberTransport::Raop => &self.history,
                    MemberTransport::AirPlay2 | MemberTransport::AirPlay2Ntp => &self.ap2_history,
                };
                for seq in request.seqs().take(usize::from(granted)) {
                    match history.get(seq) {
                        Some(packet) => {
                            m.stats.retransmitted += 1;
                            self.transmits.push_back(Transmit {
                                member,
                                port: Port::Control,
                                destination: from,
                                datagram: Bytes::from(retransmit_reply(packet)),
                                send_now: true,
                            });
                        }
                        None => m.stats.retransmit_missed += 1,
                    }
                }
            }
            Port::Audio => {
                // Receivers send nothing there.
                m.stats.foreign_datagrams += 1;
            }
        }
    }

    /// The next RTSP request to write, at most one in flight per member.
    pub fn poll_rtsp(&mut self, now: Instant) -> Option<(MemberId, Request)> {
        self.members
            .iter_mut()
            .enumerate()
            .find_map(|(i, m)| m.poll_request(now).map(|r| (MemberId(i), r)))
    }

    /// What a member's RTSP connection delivered.
    pub fn handle_rtsp(&mut self, member: MemberId, input: RtspInput, now: Instant) {
        let Some(m) = self.members.get_mut(member.0) else {
            return;
        };
        if matches!(m.standing, Standing::Dropped(_)) {
            return;
        }
        let result = match input {
            RtspInput::Response(response) => m.take_answer(&response).and_then(|()| {
                m.heard(now);
                m.config
                    .session
                    .handle_response(&response)
                    .map_err(MemberFailure::Session)
            }),
            RtspInput::Closed => Err(MemberFailure::Closed),
            RtspInput::Broken(why) => Err(MemberFailure::Transport(why)),
            RtspInput::Malformed(error) => Err(MemberFailure::Unexpected(error.to_string())),
        };
        if let Err(failure) = result {
            self.fail_member(member, failure, now);
            return;
        }
        self.collect_session_events(member);
        self.check_torn_down();
    }

    /// A send to the member failed (the caller's words): it leaves the stream.
    pub fn handle_send_failure(&mut self, member: MemberId, why: String, now: Instant) {
        self.fail_member(member, MemberFailure::Transport(why), now);
    }

    /// Changes one member's volume, or every member's.
    pub fn set_volume(&mut self, member: Option<MemberId>, db: f32) {
        for m in self.targets(member) {
            m.config.session.set_volume(db);
        }
    }

    /// Sends a `SET_PARAMETER` (metadata, artwork, progress) to one member or every member.
    pub fn set_parameter(
        &mut self,
        member: Option<MemberId>,
        content_type: &'static str,
        body: &Bytes,
        rtptime: Option<u32>,
    ) {
        for m in self.targets(member) {
            m.config
                .session
                .set_parameter(content_type, body.clone(), rtptime);
        }
    }

    fn targets(&mut self, member: Option<MemberId>) -> impl Iterator<Item = &mut Member> {
        self.members
            .iter_mut()
            .enumerate()
            .filter(move |(i, m)| m.is_active() && member.is_none_or(|id| id.0 == *i))
            .map(|(_, m)| m)
    }

    /// Pauses at once: the receivers drop their buffers (FLUSH) and the audio they had not
    /// played yet is kept, so [`resume`](Self::resume) continues exactly where the listener was.
    pub fn pause(&mut self, now: Instant) {
        let draining = match self.state {
            State::Streaming => false,
            State::Draining { .. } => true,
            _ => return,
        };
        let taken_back = self.playback.take_back(now);
        self.totals.frames_sent -= taken_back;
        self.timeline.stop();
        let (next_seq, next_rtptime) = self.timeline.next_position();
        for m in self.members.iter_mut().filter(|m| m.is_active()) {
            m.config.session.flush(next_seq, next_rtptime);
        }
        self.set_state(State::Paused { draining });
    }

    /// Resumes after a pause: a new lead-in, then the audio taken back, then the rest.
    pub fn resume(&mut self, now: Instant) {
        let State::Paused { draining } = self.state else {
            return;
        };
        if self.fail_if_empty() {
            return;
        }
        self.timeline.start(now);
        self.set_state(if draining {
            State::Draining { until: None }
        } else {
            State::Streaming
        });
    }

    /// Stops: TEARDOWN to every member; [`Event::Finished`] with `stopped` follows.
    pub fn stop(&mut self, now: Instant) {
        if !matches!(self.state, State::TearingDown { .. } | State::Done) {
            self.tear_down(now, true);
        }
    }

    /// The next instant at which [`handle_timeout`](Self::handle_timeout) has work.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let own = match self.state {
            State::SettingUp {
                clock_deadline,
                clocks_ready,
                preroll_deadline,
            } => Some(match clocks_ready {
                None => clock_deadline,
                Some(ready) => preroll_deadline.map_or(ready, |p| p.max(ready)),
            }),
            State::Streaming => self.timeline.next_deadline(),
            State::Draining { until } => match (self.timeline.next_deadline(), until) {
                (Some(deadline), Some(until)) => Some(deadline.min(until)),
                (deadline, until) => deadline.or(until),
            },
            State::TearingDown { deadline, .. } => Some(deadline),
            State::Paused { .. } | State::Done => None,
        };
        let probing = !matches!(self.state, State::TearingDown { .. } | State::Done);
        self.members
            .iter()
            .filter_map(|m| m.next_timeout(probing))
            .chain(own)
            .chain(self.next_admission())
            .min()
    }

    /// Does what is due at `now`: starting, the packets due (and a few early ones while the
    /// source has them), ending the drain, liveness probes, keep-alives, request deadlines.
    pub fn handle_timeout(&mut self, now: Instant) {
        if let State::Done = self.state {
            return;
        }
        let probing = !matches!(self.state, State::TearingDown { .. });
        for i in 0..self.members.len() {
            if let Err(failure) = self.members[i].on_timeout(now, probing) {
                self.fail_member(MemberId(i), failure, now);
            }
        }
        self.admit_joiners(now);
        match self.state {
            State::SettingUp { .. } => self.set_up(now),
            State::Streaming | State::Draining { .. } => self.pace(now),
            State::TearingDown { deadline, .. } if now >= deadline => self.finish(),
            _ => {}
        }
    }

    /// The next datagram to send.
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        self.transmits.pop_front()
    }

    /// The next event, in order.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    fn set_state(&mut self, state: State) {
        let changed = state.phase() != self.state.phase();
        self.state = state;
        if changed {
            self.events.push_back(Event::Phase(state.phase()));
        }
    }

    /// Starts once every receiver has a clock (or the wait ran out) and enough audio is
    /// decoded (or the pre-roll wait ran out, or the source already ended).
    fn set_up(&mut self, now: Instant) {
        let State::SettingUp {
            clock_deadline,
            mut clocks_ready,
            mut preroll_deadline,
        } = self.state
        else {
            return;
        };
        if clocks_ready.is_none() {
            let active = || self.members.iter().filter(|m| m.is_active());
            if active().all(Member::has_clock) {
                clocks_ready = Some(now + CLOCK_SETTLE);
            } else if now >= clock_deadline {
                let late: Vec<MemberId> = (0..self.members.len())
                    .filter(|&i| self.members[i].is_active() && !self.members[i].has_clock())
                    .map(MemberId)
                    .collect();
                self.events.extend(late.into_iter().map(Event::NoClock));
                clocks_ready = Some(now);
            }
        }
        if let Some(ready) = clocks_ready.filter(|r| now >= *r) {
            let preroll = *preroll_deadline.get_or_insert(ready + self.config.preroll_wait);
            let source_ended = self
                .source
                .iter()
                .any(|i| matches!(i, SourceItem::End | SourceItem::Failed));
            if self.queued_audio >= self.config.preroll_packets || source_ended || now >= preroll {
                self.start(now);
                return;
            }
        }
        self.state = State::SettingUp {
            clock_deadline,
            clocks_ready,
            preroll_deadline,
        };
    }

    fn start(&mut self, now: Instant) {
        self.timeline.start(now);
        let (_, rtptime) = self.timeline.next_position();
        let first_audio_rtptime = rtptime.wrapping_add(self.lead_in_frames());
        self.events.push_back(Event::Started {
            first_audio_rtptime,
        });
        self.set_state(State::Streaming);
        self.pace(now);
    }

    /// Whether a packet other than an underrun's silence is ready.
    fn has_next(&self) -> bool {
        if self.seeking.is_some() {
            return false; // silence until the FLUSH is applied: nothing to send early
        }
        !self.playback.caught_up()
            || matches!(self.state, State::Draining { .. })
            || self.queued_audio > 0
    }

    /// Packets per wake-up: receivers buffer the whole latency, so a packet up to a quarter
    /// of it early is safe (62 packets, 495 ms, at 2 s; 7 at the 250 ms minimum).
    fn burst(&self) -> u32 {
        (self.timeline.latency_frames() / 4 / FRAMES_PER_PACKET).clamp(1, MAX_BURST)
    }

    /// The packet due, then the next few while the source has them ready (an early packet
    /// is never worth an underrun).
    fn pace(&mut self, now: Instant) {
        for early in 0..self.burst() {
            let Some(deadline) = self.timeline.next_deadline() else {
                return;
            };
            if let State::Draining { until } = &mut self.state {
                if until.is_none() && self.playback.caught_up() {
                    let audible_end = self.timeline.audible_at(deadline);
                    *until = Some(audible_end + DRAIN_MARGIN);
                }
                if let Some(until) = *until {
                    // TEARDOWN makes receivers stop at once: only once the last frame played.
                    if now >= until {
                        self.tear_down(now, false);
                        return;
                    }
                    // Silence past the end serves nobody; wake at `until` instead.
                    if deadline >= until {
                        return;
                    }
                }
            }
            if early == 0 && deadline > now {
                return;
            }
            // The lead-in leaves on time, one packet per deadline: receivers start at the
            // first packet they receive, and a burst that a jittery link reorders would make
            // them start late and drop what came before as too late. Sent apart, only
            // silent packets can be overtaken.
            if early > 0 && (self.playback.lead_in_left() > 0 || !self.has_next()) {
                return;
            }
            if !self.send_next(deadline, now, early == 0) {
                return;
            }
        }
    }

    /// Sends the next packet to every active member; `false` if the stream ended instead.
    fn send_next(&mut self, deadline: Instant, now: Instant, due: bool) -> bool {
        let payload = loop {
            match self.playback.take_pending() {
                Some(Pending::Silence) => break None,
                Some(Pending::Replay(payload)) => break Some(payload),
                None => {}
            }
            if matches!(self.state, State::Draining { .. }) || self.holding_for_flush(now) {
                break None;
            }
            match self.source.pop_front() {
                Some(SourceItem::Audio { payload, frames }) => {
                    self.queued_audio -= 1;
                    let (_, rtptime) = self.timeline.next_position();
                    self.markers.reach(rtptime, &mut self.events);
                    break Some(Payload {
                        bytes: payload,
                        frames,
                    });
                }
                Some(SourceItem::Marker { token, frame }) => self.markers.wait(token, frame),
                Some(SourceItem::End) => {
                    // Markers at the very end name the frame after the last one.
                    let (_, rtptime) = self.timeline.next_position();
                    self.markers.reach(rtptime, &mut self.events);
                    self.set_state(State::Draining { until: None });
                }
                Some(SourceItem::Failed) => {
                    self.events.push_back(Event::SourceFailed);
                    self.tear_down(now, false);
                    return false;
                }
                None => {
                    self.totals.underruns += 1;
                    break None;
                }
            }
        };
        let Payload { bytes, frames } = payload.unwrap_or_else(|| Payload {
            bytes: self.config.silence.clone(),
            frames: 0,
        });
        let sync = self.timeline.poll_sync(now);
        let raop_sync = sync.map(|s| Bytes::copy_from_slice(&s.encode()));
        let anchor = sync.and_then(|s| self.anchor_datagram(s.first, s.rtp_now, deadline));
        let header = self.timeline.header();
        let wants = |sealed: bool| {
            self.members
                .iter()
                .any(|m| m.is_active() && m.config.transport.is_sealed() == sealed)
        };
        let raop = wants(false).then(|| Bytes::from(audio_packet(&header, &bytes)));
        let sealed = match &self.cipher {
            Some(cipher) if wants(true) => {
                let counter = self.ap2_counter;
                self.ap2_counter += 1;
                Some(Bytes::from(cipher.seal(&header, counter, &bytes)))
            }
            _ => None,
        };
        if let Some(datagram) = &raop {
            self.history.keep(header.seq, datagram.clone());
        }
        if let Some(datagram) = &sealed {
            self.ap2_history.keep(header.seq, datagram.clone());
        }
        self.timeline.advance();
        for (i, m) in self.members.iter_mut().enumerate() {
            if !m.is_active() || m.join.is_some() {
                continue;
            }
            let (sync, datagram) = match m.config.transport {
                MemberTransport::Raop => (&raop_sync, &raop),
                MemberTransport::AirPlay2 => (&anchor, &sealed),
                // NTP-timed AirPlay 2: the AirPlay 1 sync packet, in the same NTP time as
                // its timing replies.
                MemberTransport::AirPlay2Ntp => (&raop_sync, &sealed),
            };
            if let Some(sync) = sync {
                m.stats.sync_sent += 1;
                self.transmits.push_back(Transmit {
                    member: MemberId(i),
                    port: Port::Control,
                    destination: m.config.control,
                    datagram: sync.clone(),
                    send_now: true,
                });
            }
            let Some(datagram) = datagram else {
                continue;
            };
            m.stats.packets_sent += 1;
            self.transmits.push_back(Transmit {
                member: MemberId(i),
                port: Port::Audio,
                destination: m.config.audio,
                datagram: datagram.clone(),
                send_now: due,
            });
        }
        let audible_at = self.timeline.audible_at(deadline);
        // Where an AirPlay 1 datagram holds the payload as it is, keep a view into it: one
        // copy in memory.
        let payload = raop
            .as_ref()
            .map_or(bytes, |d| d.slice(crate::rtp::RTP_HEADER_LEN..));
        self.playback.sent(payload, frames, audible_at, now);
        self.totals.frames_sent += u64::from(frames);
        self.totals.packets_sent += 1;
        self.first_packet.get_or_insert(now);
        true
    }

    /// The AirPlay 2 anchor for the packet due at `deadline`, whose first frame is
    /// `rtp_now`: which frame plays at that master time. `None` without AirPlay 2.
    fn anchor_datagram(&self, first: bool, rtp_now: u32, deadline: Instant) -> Option<Bytes> {
        let ap2 = self.config.airplay2.as_ref()?;
        let anchor = Anchor {
            first,
            rtp_time: rtp_now,
            latency: self
                .timeline
                .latency_frames()
                .saturating_sub(crate::ap2::anchor::RECEIVER_FIXED_LATENCY),
            master_nanos: ap2.clock.nanos_at(deadline),
            clock: ap2.clock.identity,
        };
        Some(Bytes::copy_from_slice(&anchor.encode()))
    }

    fn collect_session_events(&mut self, member: MemberId) {
        let Some(m) = self.members.get_mut(member.0) else {
            return;
        };
        let mut flushed = false;
        while let Some(event) = m.config.session.poll_event() {
            match event {
                SessionEvent::Warning {
                    request,
                    status,
                    reason,
                } => self.events.push_back(Event::Warning {
                    member,
                    request,
                    status,
                    reason,
                }),
                SessionEvent::Closed => m.standing = Standing::Closed,
                SessionEvent::Flushed => flushed = true,
                SessionEvent::TransportReady(_) | SessionEvent::Recording => {}
            }
        }
        if flushed {
            self.flush_answered(member);
        }
    }

    /// A member failed. Alone, that ends the stream; in a group it leaves and the others go
    /// on, unless it was the last. While tearing down, it just counts as gone.
    fn fail_member(&mut self, member: MemberId, failure: MemberFailure, _now: Instant) {
        let Some(m) = self.members.get_mut(member.0) else {
            return;
        };
        if !m.is_active() {
            return;
        }
        if let State::TearingDown { .. } = self.state {
            m.standing = Standing::Closed;
            self.check_torn_down();
            return;
        }
        if matches!(self.state, State::Done) {
            return;
        }
        if let State::Paused { .. } = self.state {
            self.ended_while_paused(member, failure);
            return;
        }
        m.standing = Standing::Dropped(failure.clone());
        if self.members.iter().any(Member::is_active) {
            self.events.push_back(Event::Dropped { member, failure });
        } else {
            self.events.push_back(Event::Failed { member, failure });
            self.set_state(State::Done);
        }
    }

    fn tear_down(&mut self, now: Instant, stopped: bool) {
        for m in self.members.iter_mut().filter(|m| m.is_active()) {
            m.config.session.teardown();
        }
        self.set_state(State::TearingDown {
            deadline: now + TEARDOWN_WAIT,
            stopped,
        });
        for i in 0..self.members.len() {
            self.collect_session_events(MemberId(i));
        }
        self.check_torn_down();
    }

    fn check_torn_down(&mut self) {
        if let State::TearingDown { .. } = self.state
            && !self.members.iter().any(Member::is_active)
        {
            self.finish();
        }
    }

    fn finish(&mut self) {
        let State::TearingDown { stopped, .. } = self.state else {
            return;
        };
        self.events.push_back(Event::Finished { stopped });
        self.set_state(State::Done);
    }
}

/// The length of `frames` at the stream's rate.
pub fn frames_duration(frames: u32) -> Duration {
    frames_to_duration(u64::from(frames))
}
