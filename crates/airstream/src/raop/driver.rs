//! The real-time part of a stream: one task that sends audio packets at absolute deadlines
//! from the monotonic clock to every receiver, and carries out what the handle asks
//! (volume, metadata, pause). Each receiver's own task answers its timing and retransmit
//! requests in between.

use super::control::{Command, Report};
use super::member::Member;
use super::pacer::{Next, Pacer};
use super::payload::PayloadEncoder;
use super::pipeline::Pipeline;
use super::{
    Codec, HandleCommand, Outcome, Progress, ReceiverReport, StreamOptions, StreamReport,
    StreamState, metadata, volume_db,
};
use crate::error::{Error, Result};
use airstream_audio::Metadata;
use airstream_proto::raop::StreamerStats;
use airstream_proto::raop::crypto::AudioKey;
use airstream_proto::rtp::FRAMES_PER_PACKET;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, watch};

/// Extra time after the last audible frame before TEARDOWN, for receiver output buffers.
const DRAIN_MARGIN: Duration = Duration::from_millis(250);
/// How long TEARDOWN may take before we give up on a polite goodbye.
const TEARDOWN_WAIT: Duration = Duration::from_secs(3);
/// Most packets sent per wake-up of the pacer (the first on time, the others early):
/// every wake-up costs more CPU than sending a packet. See [`burst_packets`]. 64 packets
/// are 511 ms, the most any receiver is asked to hold beyond its latency.
const MAX_BURST: u32 = 64;
/// Progress is published every this many packets (~80 ms).
const PROGRESS_EVERY: u64 = 10;
/// While paused there are no packet deadlines; wake this often to probe the receivers.
const PAUSED_TICK: Duration = Duration::from_millis(250);
/// How often the start-up checks whether every receiver has sent its first timing request.
const CLOCK_POLL: Duration = Duration::from_millis(5);

/// Runs the stream; must be spawned or awaited, or nothing is sent.
#[must_use = "the stream driver does nothing unless spawned or awaited"]
pub struct StreamDriver(Pin<Box<dyn Future<Output = Result<StreamReport>> + Send>>);

impl StreamDriver {
    pub(super) fn new(driver: Driver) -> Self {
        Self(Box::pin(driver.run()))
    }
}

impl Future for StreamDriver {
    type Output = Result<StreamReport>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.0.as_mut().poll(cx)
    }
}

pub(super) struct Driver {
    pub(super) codec: Codec,
    pub(super) options: StreamOptions,
    pub(super) started: Instant,
    /// Every receiver, in the order given; failed ones stay (for the report) but get nothing.
    pub(super) members: Vec<Member>,
    /// Receivers that could not be set up, with their index in the list given.
    pub(super) left_out: Vec<(usize, ReceiverReport)>,
    pub(super) pipeline: Pipeline,
    pub(super) reports: mpsc::UnboundedReceiver<(usize, Report)>,
    pub(super) stop: watch::Receiver<bool>,
    pub(super) requests: mpsc::UnboundedReceiver<HandleCommand>,
    pub(super) progress: watch::Sender<Progress>,
    pub(super) outcome: watch::Sender<Option<Outcome>>,
    pub(super) warnings: Vec<String>,
    pub(super) latency_frames: u32,
    /// What the receivers show now (the source's tags merged with the caller's).
    pub(super) metadata: Metadata,
    /// Encrypts every payload when the stream uses RSA/AES.
    pub(super) audio_key: Option<AudioKey>,
}

/// Packets per wake-up for a stream of `latency_frames`: receivers buffer the whole
/// latency, so a packet up to a quarter of it early is safe (62 packets, 495 ms, at the
/// default 2 s; 7 at the 250 ms minimum).
fn burst_packets(latency_frames: u32) -> u32 {
    (latency_frames / 4 / FRAMES_PER_PACKET).clamp(1, MAX_BURST)
}

fn frames_duration(frames: u32) -> Duration {
    Duration::from_secs_f64(f64::from(frames) / 44_100.0)
}

/// Where the stream is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Streaming,
    /// Input ended; silence keeps the receivers' clocks honest until `until`, which is
    /// fixed once everything real has been sent.
    Draining {
        until: Option<Instant>,
    },
}

impl Phase {
    /// Where the pacer takes audio from: the decoder while streaming, nowhere (silence)
    /// while draining.
    fn source(self, pipeline: &mut Pipeline) -> Option<&mut Pipeline> {
        matches!(self, Self::Streaming).then_some(pipeline)
    }
}

/// What ended the main loop.
enum Ending {
    Drained,
    Stopped,
}

impl Driver {
    async fn run(mut self) -> Result<StreamReport> {
        let result = self.stream().await;
        let outcome = match &result {
            Ok(report) => Outcome::Finished(Arc::new(report.clone())),
            Err(e) => Outcome::Failed {
                kind: e.kind(),
                message: e.to_string(),
            },
        };
        self.progress
            .send_modify(|p| p.state = StreamState::Finished);
        let _ = self.outcome.send(Some(outcome));
        result
    }

    async fn stream(&mut self) -> Result<StreamReport> {
        self.await_receiver_clocks().await?;
        let _ = tokio::time::timeout(
            super::setup::PREROLL_WAIT,
            self.pipeline.wait_buffered(super::setup::PREROLL_PACKETS),
        )
        .await;
        let encoder = PayloadEncoder::new(self.codec, self.audio_key.clone());
        let mut pacer = Pacer::new(encoder, self.options.lead_in_packets);
        let mut first_packet = None;
        // Tagged with the RTP time of the first audio frame, right after the lead-in.
        let (_, rtptime) = self.lead().next_position();
        let lead_in = self.options.lead_in_packets * FRAMES_PER_PACKET;
        self.send_metadata(rtptime.wrapping_add(lead_in), true)
            .await;
        let now = Instant::now();
        self.active().for_each(|m| m.start_timeline(now));
        self.set_state(StreamState::Streaming);

        let ending = self.pace(&mut pacer, &mut first_packet).await?;
        self.publish(&pacer);
        self.teardown().await;
        // The lead's count: the first member may have dropped out early.
        let packets_sent = self.lead().stats().packets_sent;
        let mut receivers: Vec<(usize, ReceiverReport)> = self
            .members
            .iter()
            .map(|m| {
                m.clear_ring();
                let report = ReceiverReport {
                    receiver: m.receiver,
                    stats: m.stats(),
                    warnings: m.warnings.clone(),
                    failure: m.failure.clone(),
                };
                (m.position, report)
            })
            .collect();
        receivers.append(&mut self.left_out);
        receivers.sort_by_key(|(position, _)| *position);
        let receivers: Vec<ReceiverReport> = receivers.into_iter().map(|(_, r)| r).collect();
        let stats = receivers
            .iter()
            .fold(StreamerStats::default(), |sum, r| add(sum, r.stats));
        Ok(StreamReport {
            receiver: self.members[0].receiver,
            codec: self.codec,
            frames_sent: pacer.frames_sent,
            packets_sent,
            underruns: pacer.underruns,
            time_to_first_packet: first_packet
                .map(|t: Instant| t.saturating_duration_since(self.started)),
            stats,
            latency: frames_duration(self.latency_frames),
            lead_in_frames: u64::from(lead_in),
            warnings: std::mem::take(&mut self.warnings),
            stopped: matches!(ending, Ending::Stopped),
            receivers,
        })
    }

    fn active(&self) -> impl Iterator<Item = &Member> {
        self.members.iter().filter(|m| m.is_active())
    }

    /// The first receiver still in the stream: all share one timeline, so any can tell it.
    fn lead(&self) -> &Member {
        self.active().next().unwrap_or(&self.members[0])
    }

    /// The main loop: packets at their deadlines, everything else in between.
    async fn pace(
        &mut self,
        pacer: &mut Pacer,
        first_packet: &mut Option<Instant>,
    ) -> Result<Ending> {
        let mut phase = Phase::Streaming;
        let mut paused = false;
        loop {
            let deadline = match self.lead().next_deadline() {
                Some(d) if !paused => d,
                _ => Instant::now() + PAUSED_TICK,
            };
            tokio::select! {
                biased;
                _ = self.stop.changed() => return Ok(Ending::Stopped),
                report = self.reports.recv() => self.handle_report(report)?,
                Some(request) = self.requests.recv() => match request {
                    HandleCommand::Volume(percent) => {
                        for member in self.active() {
                            let _ = member.commands.send(Command::Volume(volume_db(percent))).await;
                        }
                    }
                    HandleCommand::ReceiverVolume(index, percent) => {
                        let wanted = self.members.iter().find(|m| m.position == index);
                        if let Some(member) = wanted.filter(|m| m.is_active()) {
                            let _ = member.commands.send(Command::Volume(volume_db(percent))).await;
                        }
                    }
                    HandleCommand::Metadata(mut update) => {
                        if update.duration.is_none() {
                            update.duration = self.metadata.duration;
                        }
                        self.metadata = update;
                        let (_, rtptime) = self.lead().next_position();
                        self.send_metadata(rtptime, true).await;
                    }
                    HandleCommand::Pause if !paused => {
                        paused = true;
                        self.pause(pacer).await;
                    }
                    HandleCommand::Resume if paused => {
                        paused = false;
                        pacer.restart();
                        let now = Instant::now();
                        self.active().for_each(|m| m.start_timeline(now));
                        self.set_state(match phase {
                            Phase::Streaming => StreamState::Streaming,
                            Phase::Draining { .. } => StreamState::Draining,
                        });
                    }
                    HandleCommand::Pause | HandleCommand::Resume => {}
                },
                () = tokio::time::sleep_until(deadline.into()) => {
                    let now = Instant::now();
                    for member in self.active() {
                        if member.probe_due(now) {
                            // Full queue: a request is already on its way, which probes too.
                            let _ = member.commands.try_send(Command::Probe);
                        }
                    }
                    if paused {
                        continue;
                    }
                    // The due packet, then the next few while the source has them ready
                    // (an early packet is never worth an underrun).
                    for early in 0..burst_packets(self.latency_frames) {
                        let Some(deadline) = self.lead().next_deadline() else { break };
                        if early > 0 && !pacer.has_next(phase.source(&mut self.pipeline)) {
                            break;
                        }
                        if let Phase::Draining { until } = &mut phase {
                            if until.is_none() && pacer.caught_up() {
                                *until = Some(self.lead().audible_end().unwrap_or(now) + DRAIN_MARGIN);
                            }
                            if until.is_some_and(|u| deadline >= u) {
                                self.flush().await?;
                                return Ok(Ending::Drained);
                            }
                        }
                        self.send_next(pacer, &mut phase, deadline, now).await?;
                        // The due packet leaves alone and first; the early ones follow in one
                        // batch. (A receiver starts at the first packet it gets: shairport-sync
                        // dropped the start of a stream whose first batch a jittery link
                        // reordered.)
                        if early == 0 {
                            self.flush().await?;
                        }
                        first_packet.get_or_insert(now);
                        if self.lead().stats().packets_sent.is_multiple_of(PROGRESS_EVERY) {
                            self.publish(pacer);
                        }
                    }
                    self.flush().await?;
                }
            }
        }
    }

    /// Sends the packet due at `deadline` to every receiver, handling tag changes and the
    /// end of input on the way.
    async fn send_next(
        &mut self,
        pacer: &mut Pacer,
        phase: &mut Phase,
        deadline: Instant,
        now: Instant,
    ) -> Result<()> {
        loop {
            match pacer.next(phase.source(&mut self.pipeline)) {
                Next::Payload { frames } => {
                    let mut sent = None;
                    for member in self.members.iter_mut().filter(|m| m.is_active()) {
                        let datagram = member.queue(pacer.payload(), sent.as_ref(), now).await;
                        // Every receiver gets the same bytes; keep one copy.
                        sent = sent.or(Some(datagram));
                    }
                    if let Some(datagram) = sent {
                        let audible_at = deadline + frames_duration(self.latency_frames);
                        pacer.sent(datagram, frames, audible_at, now);
                    }
                    return Ok(());
                }
                Next::Metadata(update) => {
                    tracing::debug!(?update, "metadata update from the source");
                    let mut merged = update;
                    merged.fill_missing_from(&self.metadata);
                    self.metadata = merged;
                    let (_, rtptime) = self.lead().next_position();
                    self.send_metadata(rtptime, false).await;
                }
                Next::End => {
                    *phase = Phase::Draining { until: None };
                    self.set_state(StreamState::Draining);
                }
                Next::Failed(e) => {
                    self.teardown().await;
                    return Err(Error::Input(e));
                }
            }
        }
    }

    /// Sends the audio the members queued during a burst; a member that fails drops out.
    async fn flush(&mut self) -> Result<()> {
        let mut failed = Vec::new();
        for (index, member) in self.members.iter_mut().enumerate() {
            if member.is_active()
                && let Err(e) = member.flush().await
            {
                failed.push((index, e));
            }
        }
        for (index, e) in failed {
            self.member_failed(index, e)?;
        }
        Ok(())
    }

    /// A receiver failed. Alone, that ends the stream with its error; in a group it drops
    /// out and the others go on, unless it was the last.
    fn member_failed(&mut self, index: usize, error: Error) -> Result<()> {
        if self.members.len() == 1 {
            return Err(error);
        }
        let Some(member) = self.members.get_mut(index).filter(|m| m.is_active()) else {
            return Ok(());
        };
        let text = format!("{} dropped out: {error}", member.receiver);
        tracing::warn!("{text}");
        member.fail(error.to_string());
        self.warnings.push(text);
        if self.active().next().is_none() {
            return Err(error);
        }
        Ok(())
    }

    /// Stops sending and makes the receivers drop what they buffered; the audio they had
    /// not played yet is kept for the resume.
    async fn pause(&mut self, pacer: &mut Pacer) {
        let taken_back = pacer.take_back(Instant::now());
        tracing::debug!("paused; {taken_back} unplayed frames kept for the resume");
        for member in self.active() {
            let (next_seq, next_rtptime) = member.stop_timeline();
            let _ = member
                .commands
                .send(Command::Flush {
                    next_seq,
                    next_rtptime,
                })
                .await;
        }
        self.publish(pacer);
        self.set_state(StreamState::Paused);
    }

    /// Receivers ignore sync packets until a timing exchange completed (shairport-sync logs
    /// "Sync packet received before we got a timing packet back"), so the first audio would
    /// be lost: wait for every receiver's first timing request, answered by its listener,
    /// before any audio.
    async fn await_receiver_clocks(&mut self) -> Result<()> {
        let wait = tokio::time::sleep(self.options.timing_wait);
        tokio::pin!(wait);
        while !self.active().all(Member::has_clock) {
            tokio::select! {
                report = self.reports.recv() => self.handle_report(report)?,
                () = tokio::time::sleep(CLOCK_POLL) => {}
                () = &mut wait => {
                    for member in self.active().filter(|m| !m.has_clock()) {
                        tracing::warn!(
                            "{} sent no timing request within {:?}; starting anyway",
                            member.receiver, self.options.timing_wait
                        );
                    }
                    return Ok(());
                }
            }
        }
        // Give the receivers a moment to take our reply in before the first sync arrives.
        tokio::time::sleep(Duration::from_millis(20)).await;
        Ok(())
    }

    /// Sends the current metadata, tied to `rtptime` (the first frame it describes), to each
    /// receiver as far as it takes each kind.
    async fn send_metadata(&mut self, rtptime: u32, with_progress: bool) {
        for member in self.active() {
            let commands = metadata::commands(
                &self.metadata,
                member.metadata_kinds,
                rtptime,
                with_progress,
            );
            for command in commands {
                if member.commands.send(command).await.is_err() {
                    break;
                }
            }
        }
    }

    fn handle_report(&mut self, report: Option<(usize, Report)>) -> Result<()> {
        let Some((index, report)) = report else {
            return Err(Error::ConnectionLost("every receiver session ended".into()));
        };
        match report {
            Report::Warning(text) => {
                if let Some(member) = self.members.get_mut(index) {
                    member.warnings.push(text.clone());
                }
                self.warnings.push(text);
                Ok(())
            }
            Report::Alive => {
                if let Some(member) = self.members.get(index) {
                    member.heard(Instant::now());
                }
                Ok(())
            }
            Report::Ended(Err(e)) => self.member_failed(index, e),
            Report::Ended(Ok(())) => {
                let receiver = self.members.get(index).map(|m| m.receiver.to_string());
                let error = Error::ConnectionLost(format!(
                    "{} ended the session",
                    receiver.unwrap_or_default()
                ));
                self.member_failed(index, error)
            }
        }
    }

    fn set_state(&self, state: StreamState) {
        self.progress.send_modify(|p| p.state = state);
    }

    fn publish(&self, pacer: &Pacer) {
        let retransmitted = self.active().map(|m| m.stats().retransmitted).sum();
        self.progress.send_modify(|p| {
            p.frames_sent = pacer.frames_sent;
            p.underruns = pacer.underruns;
            p.retransmitted = retransmitted;
        });
    }

    /// Sends TEARDOWN to every receiver still in the stream and waits (bounded) for their
    /// sessions to close.
    async fn teardown(&mut self) {
        let mut waiting = 0;
        for member in self.active() {
            if member.commands.send(Command::Teardown).await.is_ok() {
                waiting += 1;
            }
        }
        let wait = async {
            while waiting > 0 {
                match self.reports.recv().await {
                    Some((_, Report::Ended(result))) => {
                        if let Err(e) = result {
                            tracing::debug!("teardown: {e}");
                        }
                        waiting -= 1;
                    }
                    Some(_) => {}
                    None => return,
                }
            }
        };
        if tokio::time::timeout(TEARDOWN_WAIT, wait).await.is_err() {
            tracing::warn!("a receiver did not answer TEARDOWN");
        }
    }
}

fn add(a: StreamerStats, b: StreamerStats) -> StreamerStats {
    StreamerStats {
        packets_sent: a.packets_sent + b.packets_sent,
        sync_sent: a.sync_sent + b.sync_sent,
        timing_replies: a.timing_replies + b.timing_replies,
        retransmit_requests: a.retransmit_requests + b.retransmit_requests,
        retransmitted: a.retransmitted + b.retransmitted,
        retransmit_missed: a.retransmit_missed + b.retransmit_missed,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bursts_send_at_most_a_quarter_of_the_latency_early() {
        // 2 s: 62 packets (495 ms); 250 ms: 7 packets (56 ms); 10 s: capped at 64 (511 ms).
        assert_eq!(burst_packets(88_200), 62);
        assert_eq!(burst_packets(11_025), 7);
        assert_eq!(burst_packets(441_000), MAX_BURST);
        assert_eq!(burst_packets(0), 1);
        for latency in [0, 11_025, 22_050, 88_200, 441_000] {
            let early = frames_duration((burst_packets(latency) - 1) * FRAMES_PER_PACKET);
            assert!(early <= frames_duration(latency / 4), "{latency}");
        }
    }
}
