//! The stream's one task: a loop that waits for whatever comes first (a receiver's datagram
//! or RTSP answer, decoded audio, a command from the handle, or the engine's next deadline),
//! feeds it to the sans-IO engine with the time, and carries out what the engine wants sent.
//! Nothing here waits on an RTSP answer: requests go to the members' I/O tasks, and answers
//! come back as input like any other.

use super::batch;
use super::io::Input;
use super::member::{session_error, warning};
use super::metadata;
use super::pipeline::{Item, Pipeline};
use super::setup::ENGINE_PACKETS;
use super::{
    Codec, HandleCommand, MetadataKinds, Outcome, Progress, ReceiverReport, StreamReport,
    StreamState, clock, volume_db,
};
use crate::error::{Error, Result};
use airstream_audio::{AudioError, Metadata};
use airstream_proto::stream::{
    Event, MemberFailure, MemberId, Phase, Port, SourceItem, Stream, Transmit, frames_duration,
};
use bytes::Bytes;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};
use tokio::net::UdpSocket;
use tokio::sync::{mpsc, watch};

/// A running stream's task. The library spawns it when the stream starts (as it does for
/// `play_url`); awaiting this gives the report. Dropping it leaves the stream running:
/// [`StreamHandle::stop`](super::StreamHandle::stop) stops it.
#[must_use = "await it for the stream's report"]
pub struct StreamTask(tokio::task::JoinHandle<Result<StreamReport>>);

impl StreamTask {
    pub(super) fn spawn(driver: Driver) -> Self {
        Self(tokio::spawn(driver.run()))
    }
}

impl Future for StreamTask {
    type Output = Result<StreamReport>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        Pin::new(&mut self.0).poll(cx).map(|joined| {
            joined.unwrap_or_else(|e| Err(Error::internal("the stream task failed", e)))
        })
    }
}

/// One member's sockets and what the report says of it.
pub(super) struct Link {
    /// Its index in the list given to `start_group` (members left out at setup leave gaps).
    pub(super) position: usize,
    pub(super) receiver: SocketAddr,
    pub(super) audio: UdpSocket,
    pub(super) control: Arc<UdpSocket>,
    pub(super) timing: Arc<UdpSocket>,
    /// Requests for the I/O task to write.
    pub(super) requests: mpsc::UnboundedSender<Bytes>,
    /// Audio datagrams queued during a burst, sent together.
    pub(super) outbox: Vec<Bytes>,
    pub(super) task: tokio::task::JoinHandle<()>,
    pub(super) metadata_kinds: MetadataKinds,
    pub(super) warnings: Vec<String>,
    /// Why it dropped out of the group, if it did.
    pub(super) failure: Option<String>,
    /// How it was set up, to connect it again after it ended its session while paused.
    pub(super) config: super::Receiver,
    /// The volume last set, `None` while it is the receiver's own.
    pub(super) volume: Option<u8>,
    /// It ended its session while paused and has not rejoined (yet).
    pub(super) ended_while_paused: bool,
    /// Removed through the handle.
    pub(super) removed: bool,
}

impl Drop for Link {
    fn drop(&mut self) {
        self.task.abort();
    }
}

pub(super) struct Driver {
    pub(super) codec: Codec,
    pub(super) timing_wait: Duration,
    pub(super) started: Instant,
    pub(super) engine: Stream,
    /// By member id.
    pub(super) links: Vec<Link>,
    /// Receivers that could not be set up, with their index in the list given.
    pub(super) left_out: Vec<(usize, ReceiverReport)>,
    pub(super) pipeline: Pipeline,
    pub(super) pipeline_open: bool,
    /// The source's end (or failure) was pushed.
    pub(super) source_done: bool,
    pub(super) source_error: Option<AudioError>,
    pub(super) inputs: mpsc::Receiver<Input>,
    pub(super) stop: watch::Receiver<bool>,
    pub(super) requests: mpsc::UnboundedReceiver<HandleCommand>,
    pub(super) progress: watch::Sender<Progress>,
    pub(super) outcome: watch::Sender<Option<Outcome>>,
    pub(super) warnings: Vec<String>,
    /// What the receivers show now (the source's tags merged with the caller's).
    pub(super) metadata: Metadata,
    /// Tag changes of the source waiting for their point in the stream, by marker token.
    pub(super) markers: Vec<(u64, Metadata)>,
    pub(super) next_marker: u64,
    /// The PTP master of AirPlay 2 members, running as long as the stream.
    /// The PTP master, while any member is PTP-timed AirPlay 2.
    pub(super) ptp: Option<super::ap2::PtpTask>,
    /// Receivers joining, leaving and coming back after a pause.
    pub(super) membership: super::membership::Membership,
    /// Seeks asked for and where the last one went.
    pub(super) moves: super::moves::Moves,
}

impl Driver {
    async fn run(mut self) -> Result<StreamReport> {
        let result = self.stream().await;
        let outcome = match &result {
            Ok(report) => Outcome::Finished(Arc::new(report.clone())),
            Err(e) => Outcome::Failed {
                kind: e.kind(),
                message: e.to_string_with_causes(),
            },
        };
        self.progress
            .send_modify(|p| p.state = StreamState::Finished);
        let _ = self.outcome.send(Some(outcome));
        result
    }

    async fn stream(&mut self) -> Result<StreamReport> {
        let timer = tokio::time::sleep_until(self.started.into());
        tokio::pin!(timer);
        let mut stop_open = true;
        loop {
            self.engine.handle_timeout(clock::now());
            if let Some(end) = self.carry_out().await {
                return end;
            }
            self.publish();
            let deadline = self.engine.poll_timeout();
            if let Some(deadline) = deadline {
                timer.as_mut().reset(deadline.into());
            }
            let wants_audio = self.pipeline_open
                && (self.engine.queued_audio() < ENGINE_PACKETS || self.moves.pending());
            tokio::select! {
                biased;
                changed = self.stop.changed(), if stop_open => match changed {
                    Ok(()) if *self.stop.borrow() => self.engine.stop(clock::now()),
                    Ok(()) => {}
                    // Every handle is gone: nobody can stop it any more.
                    Err(_) => stop_open = false,
                },
                Some(input) = self.inputs.recv() => self.take_input(input),
                Some(command) = self.requests.recv() => self.take_command(command),
                batch = self.pipeline.next_batch(), if wants_audio => self.take_batch(batch),
                () = &mut timer, if deadline.is_some() => {}
            }
        }
    }

    /// Sends what the engine produced and handles its events, until it has nothing more;
    /// `Some` once the stream is over.
    async fn carry_out(&mut self) -> Option<Result<StreamReport>> {
        loop {
            let now = clock::now();
            let mut busy = false;
            while let Some((member, request)) = self.engine.poll_rtsp(now) {
                busy = true;
                tracing::debug!(method = %request.method, receiver = %self.links[member.index()].receiver, "request");
                let _ = self.links[member.index()].requests.send(request.to_bytes());
            }
            while let Some(transmit) = self.engine.poll_transmit() {
                busy = true;
                self.send(transmit).await;
            }
            self.flush_all().await;
            while let Some(event) = self.engine.poll_event() {
                busy = true;
                if let Some(end) = self.take_event(event) {
                    return Some(end);
                }
            }
            if !busy {
                return None;
            }
        }
    }

    async fn send(&mut self, transmit: Transmit) {
        let member = transmit.member;
        let Some(link) = self.links.get_mut(member.index()) else {
            return;
        };
        let socket = match transmit.port {
            Port::Audio => {
                link.outbox.push(transmit.datagram);
                if transmit.send_now {
                    self.flush(member).await;
                }
                return;
            }
            Port::Control => &link.control,
            Port::Timing => &link.timing,
        };
        // A lost sync is repeated within a second, a lost retransmission asked for again.
        if let Err(e) = socket
            .send_to(&transmit.datagram, transmit.destination)
            .await
        {
            tracing::debug!("datagram to {} not sent: {e}", transmit.destination);
        }
    }

    /// Sends the audio queued for `member`; a failure takes it out of the stream.
    async fn flush(&mut self, member: MemberId) {
        let Some(link) = self.links.get_mut(member.index()) else {
            return;
        };
        if link.outbox.is_empty() {
            return;
        }
        let sent = batch::send_all(&link.audio, &link.outbox).await;
        link.outbox.clear();
        if let Err(e) = sent {
            let why = format!("{} stopped accepting audio: {e}", link.receiver);
            self.engine.handle_send_failure(member, why, clock::now());
        }
    }

    async fn flush_all(&mut self) {
        for index in 0..self.links.len() {
            self.flush(MemberId::from_index(index)).await;
        }
    }

    fn take_input(&mut self, input: Input) {
        let now = clock::now();
        match input {
            Input::Datagram {
                member,
                port,
                from,
                datagram,
                received,
            } => self
                .engine
                .handle_datagram(member, port, from, &datagram, received, now),
            Input::Rtsp { member, input } => {
                if let airstream_proto::stream::RtspInput::Response(response) = &input {
                    tracing::debug!(status = response.status, receiver = %self.links[member.index()].receiver, "response");
                }
                self.engine.handle_rtsp(member, input, now);
            }
            Input::Joined(result) => self.take_join(*result),
        }
    }

    fn take_command(&mut self, command: HandleCommand) {
        let now = clock::now();
        let mut command = Some(command);
        if self.take_membership_command(&mut command) {
            return;
        }
        let Some(command) = command else { return };
        match command {
            HandleCommand::Volume(percent) => self.engine.set_volume(None, volume_db(percent)),
            HandleCommand::ReceiverVolume(position, percent) => {
                // The newest link of that place: a receiver that rejoined after a pause has two.
                if let Some(member) = self.links.iter().rposition(|l| l.position == position) {
                    self.engine
                        .set_volume(Some(MemberId::from_index(member)), volume_db(percent));
                }
            }
            HandleCommand::Metadata(mut update) => {
                if update.duration.is_none() {
                    update.duration = self.metadata.duration;
                }
                self.metadata = update;
                let (_, rtptime) = self.engine.next_position();
                self.send_metadata(rtptime, true);
            }
            HandleCommand::Pause => self.engine.pause(now),
            HandleCommand::Resume => self.engine.resume(now),
            HandleCommand::AddReceiver(..) | HandleCommand::RemoveReceiver(..) => {}
            HandleCommand::Seek(position, reply) => self.start_seek(position, reply),
            HandleCommand::Skip(reply) => self.start_skip(reply),
        }
    }

    fn take_batch(&mut self, batch: Option<Vec<Item>>) {
        let Some(batch) = batch.map(|b| self.through_move(b)) else {
            self.pipeline_open = false;
            self.move_source_gone();
            if !self.source_done {
                self.source_failed(AudioError::Invalid {
                    input: "decoder".into(),
                    detail: "the decode thread stopped unexpectedly".into(),
                });
            }
            return;
        };
        for item in batch {
            match item {
                Item::Audio { payload, frames } => {
                    self.engine.push(SourceItem::Audio { payload, frames });
                }
                Item::Metadata { update, frame } => {
                    let token = self.next_marker;
                    self.next_marker += 1;
                    self.markers.push((token, update));
                    self.engine.push(SourceItem::Marker { token, frame });
                }
                Item::End => {
                    self.source_done = true;
                    self.engine.push(SourceItem::End);
                }
                Item::Failed(e) => self.source_failed(e),
                // Answers to moves are taken by `through_move`.
                Item::Moved(_) => {}
            }
        }
    }

    fn source_failed(&mut self, error: AudioError) {
        self.source_done = true;
        self.source_error = Some(error);
        self.engine.push(SourceItem::Failed);
    }

    /// `Some` with the stream's result once it is over.
    fn take_event(&mut self, event: Event) -> Option<Result<StreamReport>> {
        if let Some(error) = self.take_membership_event(&event) {
            return Some(Err(error));
        }
        match event {
            Event::Phase(phase) => {
                let state = match phase {
                    Phase::SettingUp => StreamState::Starting,
                    Phase::Streaming => StreamState::Streaming,
                    Phase::Paused => StreamState::Paused,
                    Phase::Draining => StreamState::Draining,
                    Phase::TearingDown | Phase::Done => return None,
                };
                self.progress.send_modify(|p| p.state = state);
            }
            Event::Started {
                first_audio_rtptime,
            } => self.send_metadata(first_audio_rtptime, true),
            Event::NoClock(member) => tracing::warn!(
                "{} sent no timing request within {:?}; starting anyway",
                self.links[member.index()].receiver,
                self.timing_wait
            ),
            Event::Marker { token, rtptime } => {
                if self.move_marker_reached(token, rtptime) {
                    return None;
                }
                if let Some(i) = self.markers.iter().position(|(t, _)| *t == token) {
                    let (_, mut update) = self.markers.remove(i);
                    tracing::debug!("the source's tags changed");
                    // Tags with a length start a track (a queue's next item): its progress
                    // starts at the same frame. A radio title changes the text only.
                    let new_track = update.duration.is_some();
                    update.fill_missing_from(&self.metadata);
                    self.metadata = update;
                    self.send_metadata(rtptime, new_track);
                }
            }
            Event::Warning {
                member,
                request,
                status,
                reason,
            } => {
                let link = &mut self.links[member.index()];
                let text = warning(&link.receiver.to_string(), &request, status, &reason);
                link.warnings.push(text.clone());
                self.warnings.push(text);
            }
            Event::LatencyClamped {
                member,
                asked,
                used,
            } => {
                let text = format!(
                    "{} asked for {:?} of latency; using {:?}",
                    self.links[member.index()].receiver,
                    frames_duration(asked),
                    frames_duration(used)
                );
                tracing::warn!("{text}");
                self.warnings.push(text);
            }
            Event::Dropped { member, failure } => {
                let error = self.failure_error(member, failure);
                let link = &mut self.links[member.index()];
                let text = format!(
                    "{} dropped out: {}",
                    link.receiver,
                    error.to_string_with_causes()
                );
                tracing::warn!("{text}");
                link.failure = Some(error.to_string_with_causes());
                link.task.abort();
                self.warnings.push(text);
            }
            Event::SourceFailed | Event::Joined(_) | Event::EndedWhilePaused { .. } => {}
            Event::Finished { stopped } => {
                return Some(match self.source_error.take() {
                    Some(e) => Err(Error::Input(e)),
                    None => Ok(self.report(stopped)),
                });
            }
            Event::Failed { member, failure } => {
                return Some(Err(self.failure_error(member, failure)));
            }
        }
        None
    }

    /// The public error for a member's failure, naming the receiver.
    fn failure_error(&self, member: MemberId, failure: MemberFailure) -> Error {
        let peer = self.links[member.index()].receiver.to_string();
        match failure {
            MemberFailure::Session(e) => session_error(&peer, e),
            MemberFailure::Timeout { request, waited } => {
                Error::Timeout(format!("{peer} did not answer {request} within {waited:?}"))
            }
            MemberFailure::Closed => Error::ConnectionLost(format!("{peer} closed the connection")),
            MemberFailure::Unexpected(detail) => Error::BadMessage {
                device: peer,
                detail,
            },
            MemberFailure::Transport(what) => Error::ConnectionLost(what),
        }
    }

    /// Sends the current metadata, tied to `rtptime` (the first frame it describes), to each
    /// receiver as far as it takes each kind.
    fn send_metadata(&mut self, rtptime: u32, with_progress: bool) {
        for (index, link) in self.links.iter().enumerate() {
            let member = MemberId::from_index(index);
            if !self.engine.is_active(member) {
                continue;
            }
            for parameter in
                metadata::parameters(&self.metadata, link.metadata_kinds, rtptime, with_progress)
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

    fn publish(&self) {
        self.publish_receivers();
        let totals = self.engine.totals();
        let retransmitted = self
            .engine
            .members()
            .filter(|m| self.engine.is_active(*m))
            .map(|m| self.engine.member_stats(m).retransmitted)
            .sum();
        let position_frames = self.moves.position(self.engine.frames_heard(clock::now()));
        self.progress.send_if_modified(|p| {
            let changed = p.frames_sent != totals.frames_sent
                || p.position_frames != position_frames
                || p.underruns != totals.underruns
                || p.retransmitted != retransmitted;
            p.frames_sent = totals.frames_sent;
            p.position_frames = position_frames;
            p.underruns = totals.underruns;
            p.retransmitted = retransmitted;
            changed
        });
    }

    fn report(&mut self, stopped: bool) -> StreamReport {
        let totals = self.engine.totals();
        let mut receivers: Vec<(usize, ReceiverReport)> = self
            .links
            .iter()
            .enumerate()
            .map(|(index, link)| {
                let report = ReceiverReport {
                    receiver: link.receiver,
                    stats: self.engine.member_stats(MemberId::from_index(index)),
                    warnings: link.warnings.clone(),
                    failure: link.failure.clone(),
                };
                (link.position, report)
            })
            .collect();
        // A receiver that rejoined after a pause shows once, as its last session.
        receivers.reverse();
        receivers.append(&mut self.left_out);
        receivers.sort_by_key(|(position, _)| *position);
        receivers.dedup_by_key(|(position, _)| *position);
        let receivers: Vec<ReceiverReport> = receivers.into_iter().map(|(_, r)| r).collect();
        let stats = receivers
            .iter()
            .fold(airstream_proto::stream::MemberStats::default(), |sum, r| {
                add(sum, r.stats)
            });
        StreamReport {
            receiver: self.links[0].receiver,
            codec: self.codec,
            frames_sent: totals.frames_sent,
            packets_sent: totals.packets_sent,
            underruns: totals.underruns,
            time_to_first_packet: self
                .engine
                .first_packet()
                .map(|t| t.saturating_duration_since(self.started)),
            stats,
            latency: frames_duration(self.engine.latency_frames()),
            lead_in_frames: u64::from(self.engine.lead_in_frames()),
            warnings: std::mem::take(&mut self.warnings),
            stopped,
            receivers,
        }
    }
}

fn add(
    a: airstream_proto::stream::MemberStats,
    b: airstream_proto::stream::MemberStats,
) -> airstream_proto::stream::MemberStats {
    airstream_proto::stream::MemberStats {
        packets_sent: a.packets_sent + b.packets_sent,
        sync_sent: a.sync_sent + b.sync_sent,
        timing_replies: a.timing_replies + b.timing_replies,
        retransmit_requests: a.retransmit_requests + b.retransmit_requests,
        retransmitted: a.retransmitted + b.retransmitted,
        retransmit_missed: a.retransmit_missed + b.retransmit_missed,
        retransmit_refused: a.retransmit_refused + b.retransmit_refused,
        foreign_datagrams: a.foreign_datagrams + b.foreign_datagrams,
    }
}
