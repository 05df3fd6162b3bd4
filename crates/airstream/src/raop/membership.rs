//! Receivers joining and leaving a running stream, and receivers that end their session
//! while it is paused.
//!
//! shairport-sync (3.3.x) ends a session in which no frame played for its `session_timeout`
//! (120 s by default): its watchdog counts played frames only, so neither RTSP keep-alives
//! nor sync or timing packets keep a paused session. Rather than play silence through a
//! pause, the stream lets it go and, on resume, connects the receiver again (same group,
//! volume and tags) before the timeline restarts: the audio it had not played is sent again
//! as after any pause, so nothing is lost.
//!
//! A join runs the handshake on a task of its own (the stream goes on meanwhile); its result
//! comes back as an [`Input::Joined`]. The engine then gives the new member its first sync
//! once its clock is there, on the shared timeline.

use super::ap2::{self, Ap2Shared};
use super::driver::Driver;
use super::io::Input;
use super::member::{self, Connected, Shared};
use super::{
    Encryption, HandleCommand, Protocol, Receiver, ReceiverProgress, ReceiverState, TimingProtocol,
};
use crate::error::{Error, Result};
use airstream_proto::stream::{
    Ap2StreamConfig, Event, MemberFailure, MemberId, MemberState, Phase,
};
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::sync::{mpsc, oneshot, watch};

/// Why a receiver is being connected while the stream runs.
#[derive(Debug)]
pub(super) enum JoinReason {
    /// Added through the handle; the answer goes back there.
    Added(oneshot::Sender<Result<()>>),
    /// It ended its session while paused and comes back for the resume (its old member).
    Rejoin(MemberId),
}

/// The outcome of a join's handshake.
pub(super) struct JoinResult {
    pub(super) receiver: Receiver,
    pub(super) reason: JoinReason,
    pub(super) connected: Result<Connected>,
}

impl std::fmt::Debug for JoinResult {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JoinResult")
            .field("receiver", &self.receiver)
            .field("reason", &self.reason)
            .finish_non_exhaustive()
    }
}

/// What the driver keeps for joins.
pub(super) struct Membership {
    /// What every member shares (codec, key, clock).
    pub(super) shared: Arc<Shared>,
    /// Where a join's result goes (the driver's own input queue).
    pub(super) inputs: mpsc::Sender<Input>,
    /// Each receiver's live state, for the handle.
    pub(super) receivers: watch::Sender<Vec<ReceiverProgress>>,
    /// Rejoins still running before a resume.
    rejoining: usize,
    /// A resume waits for the rejoins (and their clocks).
    resume_pending: bool,
    /// Members rejoined for the pending resume, not admitted yet.
    admitting: Vec<MemberId>,
    /// Why the last rejoin failed: the stream's error if nobody is left.
    rejoin_error: Option<Error>,
    /// Position of the next receiver added (after those given at the start).
    next_position: usize,
}

impl Membership {
    pub(super) fn new(
        shared: Arc<Shared>,
        inputs: mpsc::Sender<Input>,
        receivers: watch::Sender<Vec<ReceiverProgress>>,
        given: usize,
    ) -> Self {
        Self {
            shared,
            inputs,
            receivers,
            rejoining: 0,
            resume_pending: false,
            admitting: Vec::new(),
            rejoin_error: None,
            next_position: given,
        }
    }
}

impl Driver {
    /// Handles the membership commands; `false` for any other command.
    pub(super) fn take_membership_command(&mut self, command: &mut Option<HandleCommand>) -> bool {
        match command.take() {
            Some(HandleCommand::AddReceiver(receiver, answer)) => {
                let ready = self.check_addable(&receiver).and_then(|()| {
                    if receiver.protocol == Protocol::AirPlay2 {
                        self.prepare_airplay2_join(&receiver)?;
                    }
                    Ok(())
                });
                if let Err(e) = ready {
                    let _ = answer.send(Err(e));
                } else {
                    self.spawn_join(receiver, JoinReason::Added(answer));
                }
                true
            }
            Some(HandleCommand::RemoveReceiver(address, answer)) => {
                let _ = answer.send(self.remove(address));
                true
            }
            Some(HandleCommand::Resume) if self.membership.resume_pending => true,
            Some(HandleCommand::Resume) => {
                let ended: Vec<MemberId> = (0..self.links.len())
                    .map(MemberId::from_index)
                    .filter(|m| self.links[m.index()].ended_while_paused)
                    .collect();
                if ended.is_empty() || self.engine.phase() != Phase::Paused {
                    *command = Some(HandleCommand::Resume);
                    return false;
                }
                self.membership.resume_pending = true;
                for member in ended {
                    let link = &mut self.links[member.index()];
                    link.ended_while_paused = false;
                    let mut receiver = link.config.clone();
                    receiver.volume = link.volume;
                    tracing::info!("{} rejoins for the resume", link.receiver);
                    self.membership.rejoining += 1;
                    self.spawn_join(receiver, JoinReason::Rejoin(member));
                }
                true
            }
            Some(HandleCommand::Pause) => {
                self.membership.resume_pending = false;
                *command = Some(HandleCommand::Pause);
                false
            }
            Some(HandleCommand::Volume(level)) => {
                self.links.iter_mut().for_each(|l| l.volume = Some(level));
                *command = Some(HandleCommand::Volume(level));
                false
            }
            Some(HandleCommand::ReceiverVolume(position, level)) => {
                self.links
                    .iter_mut()
                    .filter(|l| l.position == position)
                    .for_each(|l| l.volume = Some(level));
                *command = Some(HandleCommand::ReceiverVolume(position, level));
                false
            }
            other => {
                *command = other;
                false
            }
        }
    }

    fn check_addable(&self, receiver: &Receiver) -> Result<()> {
        let present = (0..self.links.len()).any(|i| {
            self.links[i].receiver == receiver.address
                && matches!(
                    self.engine.member_state(MemberId::from_index(i)),
                    MemberState::Active | MemberState::Joining
                )
        });
        if present {
            return Err(Error::InvalidInput(format!(
                "{} is already in the stream",
                receiver.address
            )));
        }
        if receiver.protocol == Protocol::AirPlay2 && !self.membership.shared.codec.is_alac() {
            return Err(Error::Unsupported(format!(
                "AirPlay 2 realtime audio is ALAC only, and this stream is {:?}",
                self.membership.shared.codec
            )));
        }
        let encrypted = !matches!(receiver.encryption, Encryption::None);
        if encrypted != self.membership.shared.audio_key.is_some() {
            return Err(Error::Unsupported(
                "a group cannot mix receivers that need encryption with receivers that do not"
                    .into(),
            ));
        }
        if matches!(self.engine.phase(), Phase::TearingDown | Phase::Done) {
            return Err(Error::InvalidInput("the stream is ending".into()));
        }
        Ok(())
    }

    /// Makes the running stream ready for an AirPlay 2 receiver that joins: a stream key and
    /// master clock when it had no AirPlay 2 member yet, and the PTP master serving it.
    fn prepare_airplay2_join(&mut self, receiver: &Receiver) -> Result<()> {
        let ptp_timed = receiver.ap2_timing == TimingProtocol::Ptp;
        // Bound first: without the PTP ports nothing changes.
        let sockets = if ptp_timed && self.ptp.is_none() {
            Some(ap2::bind_ptp()?)
        } else {
            None
        };
        let base = &self.membership.shared;
        let ap2 = if let Some(ap2) = &base.ap2 {
            ap2.clone()
        } else {
            let ap2 = Ap2Shared::new();
            self.engine.enable_airplay2(Ap2StreamConfig {
                shk: ap2.shk,
                clock: ap2.clock,
            });
            self.membership.shared = Arc::new(Shared {
                ap2: Some(ap2.clone()),
                ..Shared::clone(base)
            });
            ap2
        };
        let peer = receiver.address.ip();
        match (sockets, &self.ptp) {
            (Some(sockets), _) => self.ptp = Some(ap2::spawn_ptp(ap2.clock, sockets, vec![peer])),
            (None, Some(ptp)) if ptp_timed => ptp.add_peer(peer),
            (None, _) => {}
        }
        Ok(())
    }

    /// Runs the receiver's handshake on a task; its result comes back as input.
    fn spawn_join(&mut self, receiver: Receiver, reason: JoinReason) {
        let (seq, rtptime) = self.engine.next_position();
        // RECORD names where the stream is now, not where it began.
        let shared = Shared {
            first_seq: seq,
            first_rtptime: rtptime,
            ..Shared::clone(&self.membership.shared)
        };
        let inputs = self.membership.inputs.clone();
        tokio::spawn(async move {
            // Nothing cancels a join (the switch is dropped): it ends with its handshake.
            let (_switch, cancel) = super::cancel::Cancel::new();
            let connected = member::connect(&receiver, &shared, &cancel).await;
            let result = JoinResult {
                receiver,
                reason,
                connected,
            };
            let _ = inputs.send(Input::Joined(Box::new(result))).await;
        });
    }

    /// A join's handshake finished.
    pub(super) fn take_join(&mut self, result: JoinResult) {
        let JoinResult {
            receiver,
            reason,
            connected,
        } = result;
        if let JoinReason::Rejoin(_) = reason {
            self.membership.rejoining = self.membership.rejoining.saturating_sub(1);
        }
        let connected = match connected {
            Ok(c) if !matches!(self.engine.phase(), Phase::TearingDown | Phase::Done) => c,
            Ok(_) => return,
            Err(e) => {
                match reason {
                    JoinReason::Added(answer) => {
                        let _ = answer.send(Err(e));
                    }
                    JoinReason::Rejoin(old) => {
                        let link = &mut self.links[old.index()];
                        let text = format!(
                            "{} could not rejoin after the pause: {}",
                            link.receiver,
                            e.to_string_with_causes()
                        );
                        tracing::warn!("{text}");
                        link.failure = Some(text.clone());
                        self.warnings.push(text);
                        self.membership.rejoin_error = Some(e);
                        self.resume_when_rejoined();
                    }
                }
                return;
            }
        };
        let position = match &reason {
            JoinReason::Rejoin(old) => self.links[old.index()].position,
            JoinReason::Added(_) => {
                self.membership.next_position += 1;
                self.membership.next_position - 1
            }
        };
        let member = self.add_link(connected, receiver, position);
        match reason {
            JoinReason::Added(answer) => {
                tracing::info!("{} joined the stream", self.links[member.index()].receiver);
                let _ = answer.send(Ok(()));
            }
            JoinReason::Rejoin(_) => {
                self.membership.admitting.push(member);
                self.resume_when_rejoined();
            }
        }
    }

    /// Makes the connected receiver a member of the engine, with its I/O task.
    fn add_link(&mut self, c: Connected, config: Receiver, position: usize) -> MemberId {
        let now = super::clock::now();
        let engine = &mut self.engine;
        let (member, link) =
            super::setup::link_up(c, position, config, &self.membership.inputs, |m| {
                engine.join_member(m, now)
            });
        self.warnings.extend(link.warnings.iter().cloned());
        self.links.push(link);
        // The tags on show, from the next packet on (progress starts with the next track).
        let (_, rtptime) = self.engine.next_position();
        self.send_metadata_to(member, rtptime);
        member
    }

    fn remove(&mut self, address: SocketAddr) -> Result<()> {
        let member = (0..self.links.len()).map(MemberId::from_index).find(|m| {
            self.links[m.index()].receiver == address
                && matches!(
                    self.engine.member_state(*m),
                    MemberState::Active | MemberState::Joining
                )
        });
        let Some(member) = member else {
            return Err(Error::InvalidInput(format!(
                "{address} is not a receiver of this stream"
            )));
        };
        if !self.engine.remove_member(member) {
            return Err(Error::InvalidInput(format!(
                "{address} is the last receiver of the stream: stop the stream instead"
            )));
        }
        tracing::info!("{address} left the stream");
        self.links[member.index()].removed = true;
        Ok(())
    }

    /// Resumes once every rejoin finished and every rejoined member has its clock.
    fn resume_when_rejoined(&mut self) {
        if !self.membership.resume_pending || self.membership.rejoining > 0 {
            return;
        }
        let engine = &self.engine;
        self.membership
            .admitting
            .retain(|m| engine.member_state(*m) == MemberState::Joining);
        if !self.membership.admitting.is_empty() {
            return;
        }
        self.membership.resume_pending = false;
        self.engine.resume(super::clock::now());
    }

    /// The engine's membership events; `Some` with the stream's end for a failure after
    /// a failed rejoin.
    pub(super) fn take_membership_event(&mut self, event: &Event) -> Option<Error> {
        match event {
            Event::Joined(_) => self.resume_when_rejoined(),
            Event::EndedWhilePaused { member, failure } => {
                let link = &mut self.links[member.index()];
                let text = format!(
                    "{} ended its session while paused ({}); it rejoins on resume",
                    link.receiver,
                    describe(failure)
                );
                tracing::warn!("{text}");
                link.ended_while_paused = true;
                link.task.abort();
            }
            Event::Failed { .. } => return self.membership.rejoin_error.take(),
            _ => {}
        }
        None
    }

    /// Publishes each receiver's state, volume and counters.
    pub(super) fn publish_receivers(&self) {
        let phase = self.engine.phase();
        let states: Vec<ReceiverProgress> = self
            .links
            .iter()
            .enumerate()
            .map(|(index, link)| {
                let member = MemberId::from_index(index);
                let stats = self.engine.member_stats(member);
                let state = match self.engine.member_state(member) {
                    _ if link.removed => ReceiverState::Removed,
                    _ if link.ended_while_paused => ReceiverState::Ended,
                    MemberState::Joining => ReceiverState::Connecting,
                    MemberState::Active if phase == Phase::SettingUp => ReceiverState::Connecting,
                    MemberState::Active if phase == Phase::Paused => ReceiverState::Paused,
                    MemberState::Active => ReceiverState::Streaming,
                    MemberState::Closed => ReceiverState::Finished,
                    MemberState::Dropped => ReceiverState::Dropped,
                };
                ReceiverProgress {
                    receiver: link.receiver,
                    position: link.position,
                    state,
                    volume: link.volume,
                    packets_sent: stats.packets_sent,
                    resent: stats.retransmitted,
                    failure: link.failure.clone(),
                }
            })
            // A rejoined receiver shows once: its newest member.
            .rev()
            .fold(Vec::new(), |mut shown: Vec<ReceiverProgress>, r| {
                if !shown.iter().any(|s| s.position == r.position) {
                    shown.push(r);
                }
                shown
            });
        let mut states = states;
        states.sort_by_key(|r| r.position);
        self.membership.receivers.send_if_modified(|old| {
            let changed = *old != states;
            if changed {
                old.clone_from(&states);
            }
            changed
        });
    }

    /// Sends the tags on show to one member, tied to `rtptime`.
    fn send_metadata_to(&mut self, member: MemberId, rtptime: u32) {
        let Some(link) = self.links.get(member.index()) else {
            return;
        };
        for parameter in
            super::metadata::parameters(&self.metadata, link.metadata_kinds, rtptime, false)
        {
            self.engine.set_parameter(
                Some(member),
                parameter.content_type,
                &parameter.body,
                parameter.rtptime,
            );
        }
    }
}

/// A member's failure in plain words.
fn describe(failure: &MemberFailure) -> String {
    match failure {
        MemberFailure::Closed => "it closed the connection, as receivers do after their idle \
                                  timeout"
            .into(),
        other => other.to_string(),
    }
}
