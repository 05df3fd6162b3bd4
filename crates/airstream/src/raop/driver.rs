//! The real-time part of a stream: one task that sends audio packets at absolute deadlines
//! from the monotonic clock and, between packets, answers the receiver's timing and
//! retransmit requests and carries out what the handle asks (volume, metadata, pause).

use super::control::{Command, Report};
use super::liveness::Liveness;
use super::pacer::{Next, Pacer};
use super::payload::PayloadEncoder;
use super::pipeline::Pipeline;
use super::setup::Sockets;
use super::{
    Codec, HandleCommand, Outcome, Progress, StreamOptions, StreamReport, StreamState, metadata,
    volume_db,
};
use crate::error::{Error, Result};
use airstream_audio::Metadata;
use airstream_proto::raop::AudioStreamer;
use airstream_proto::raop::crypto::AudioKey;
use airstream_proto::rtp::FRAMES_PER_PACKET;
use bytes::Bytes;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, watch};

/// Extra time after the last audible frame before TEARDOWN, for receiver output buffers.
const DRAIN_MARGIN: Duration = Duration::from_millis(250);
/// How long TEARDOWN may take before we give up on a polite goodbye.
const TEARDOWN_WAIT: Duration = Duration::from_secs(3);
/// Packets sent per wake-up of the pacer (the first on time, the others early): waking
/// for every packet cost more CPU than everything else the sender does.
const BURST: usize = 8;
/// Progress is published every this many packets (~80 ms).
const PROGRESS_EVERY: u64 = 10;
/// While paused there are no packet deadlines; wake this often to probe the receiver.
const PAUSED_TICK: Duration = Duration::from_millis(250);

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
    pub(super) receiver: SocketAddr,
    pub(super) codec: Codec,
    pub(super) options: StreamOptions,
    pub(super) started: Instant,
    pub(super) sockets: Sockets,
    pub(super) streamer: AudioStreamer,
    pub(super) pipeline: Pipeline,
    pub(super) commands: mpsc::Sender<Command>,
    pub(super) reports: mpsc::UnboundedReceiver<Report>,
    pub(super) stop: watch::Receiver<bool>,
    pub(super) requests: mpsc::UnboundedReceiver<HandleCommand>,
    pub(super) progress: watch::Sender<Progress>,
    pub(super) outcome: watch::Sender<Option<Outcome>>,
    pub(super) warnings: Vec<String>,
    pub(super) liveness: Liveness,
    pub(super) latency_frames: u32,
    /// What the receiver shows now (the source's tags merged with the caller's).
    pub(super) metadata: Metadata,
    /// Encrypts every payload when the session uses RSA/AES.
    pub(super) audio_key: Option<AudioKey>,
}

fn frames_duration(frames: u32) -> Duration {
    Duration::from_secs_f64(f64::from(frames) / 44_100.0)
}

/// Where the stream is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Streaming,
    /// Input ended; silence keeps the receiver's clock honest until `until`, which is fixed
    /// once everything real has been sent.
    Draining {
        until: Option<Instant>,
    },
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
        self.await_receiver_clock().await?;
        let _ = tokio::time::timeout(
            super::setup::PREROLL_WAIT,
            self.pipeline.wait_buffered(super::setup::PREROLL_PACKETS),
        )
        .await;
        let encoder = PayloadEncoder::new(self.codec, self.audio_key.clone());
        let mut pacer = Pacer::new(encoder, self.options.lead_in_packets);
        let mut first_packet = None;
        // Tagged with the RTP time of the first audio frame, right after the lead-in.
        let (_, rtptime) = self.streamer.next_position();
        let lead_in = self.options.lead_in_packets * FRAMES_PER_PACKET;
        self.send_metadata(rtptime.wrapping_add(lead_in), true)
            .await;
        self.streamer.start(Instant::now());
        self.set_state(StreamState::Streaming);

        let ending = self.pace(&mut pacer, &mut first_packet).await?;
        self.publish(&pacer);
        self.teardown().await;
        self.streamer.clear_ring();
        Ok(StreamReport {
            receiver: self.receiver,
            codec: self.codec,
            frames_sent: pacer.frames_sent,
            packets_sent: self.streamer.stats().packets_sent,
            underruns: pacer.underruns,
            time_to_first_packet: first_packet
                .map(|t: Instant| t.saturating_duration_since(self.started)),
            stats: self.streamer.stats(),
            latency: frames_duration(self.latency_frames),
            lead_in_frames: u64::from(lead_in),
            warnings: std::mem::take(&mut self.warnings),
            stopped: matches!(ending, Ending::Stopped),
        })
    }

    /// The main loop: packets at their deadlines, everything else in between.
    async fn pace(
        &mut self,
        pacer: &mut Pacer,
        first_packet: &mut Option<Instant>,
    ) -> Result<Ending> {
        let mut phase = Phase::Streaming;
        let mut paused = false;
        let mut control_buf = [0u8; 2048];
        let mut timing_buf = [0u8; 128];
        loop {
            let deadline = match self.streamer.next_deadline() {
                Some(d) if !paused => d,
                _ => Instant::now() + PAUSED_TICK,
            };
            tokio::select! {
                biased;
                received = self.sockets.timing.recv_from(&mut timing_buf) => {
                    self.answer_timing(received, &timing_buf).await;
                }
                received = self.sockets.control.recv_from(&mut control_buf) => {
                    self.answer_control(received, &control_buf).await;
                }
                _ = self.stop.changed() => return Ok(Ending::Stopped),
                report = self.reports.recv() => self.handle_report(report)?,
                Some(request) = self.requests.recv() => match request {
                    HandleCommand::Volume(percent) => {
                        let _ = self.commands.send(Command::Volume(volume_db(percent))).await;
                    }
                    HandleCommand::Metadata(mut update) => {
                        if update.duration.is_none() {
                            update.duration = self.metadata.duration;
                        }
                        self.metadata = update;
                        let (_, rtptime) = self.streamer.next_position();
                        self.send_metadata(rtptime, true).await;
                    }
                    HandleCommand::Pause if !paused => {
                        paused = true;
                        self.pause(pacer).await;
                    }
                    HandleCommand::Resume if paused => {
                        paused = false;
                        pacer.restart();
                        self.streamer.start(Instant::now());
                        self.set_state(match phase {
                            Phase::Streaming => StreamState::Streaming,
                            Phase::Draining { .. } => StreamState::Draining,
                        });
                    }
                    HandleCommand::Pause | HandleCommand::Resume => {}
                },
                () = tokio::time::sleep_until(deadline.into()) => {
                    let now = Instant::now();
                    if self.liveness.probe_due(now) {
                        // Full queue: a request is already on its way, which probes as well.
                        let _ = self.commands.try_send(Command::Probe);
                    }
                    if paused {
                        continue;
                    }
                    // The due packet and the next few, so the task wakes 8 times less often;
                    // receivers buffer at least 250 ms, so a packet up to 56 ms early is fine.
                    for _ in 0..BURST {
                        let Some(deadline) = self.streamer.next_deadline() else { break };
                        if let Phase::Draining { until } = &mut phase {
                            if until.is_none() && pacer.caught_up() {
                                *until = Some(self.streamer.audible_end().unwrap_or(now) + DRAIN_MARGIN);
                            }
                            if until.is_some_and(|u| deadline >= u) {
                                return Ok(Ending::Drained);
                            }
                        }
                        self.send_next(pacer, &mut phase, deadline, now).await?;
                        first_packet.get_or_insert(now);
                        if self.streamer.stats().packets_sent.is_multiple_of(PROGRESS_EVERY) {
                            self.publish(pacer);
                        }
                    }
                }
            }
        }
    }

    /// Sends the packet due at `deadline`, handling tag changes and the end of input on the way.
    async fn send_next(
        &mut self,
        pacer: &mut Pacer,
        phase: &mut Phase,
        deadline: Instant,
        now: Instant,
    ) -> Result<()> {
        loop {
            let source = match phase {
                Phase::Streaming => Some(&mut self.pipeline),
                Phase::Draining { .. } => None,
            };
            match pacer.next(source) {
                Next::Payload { frames } => {
                    let datagram = self.send_packet(pacer.payload(), now).await?;
                    let audible_at = deadline + frames_duration(self.latency_frames);
                    pacer.sent(datagram, frames, audible_at, now);
                    return Ok(());
                }
                Next::Metadata(update) => {
                    tracing::debug!(?update, "metadata update from the source");
                    let mut merged = update;
                    merged.fill_missing_from(&self.metadata);
                    self.metadata = merged;
                    let (_, rtptime) = self.streamer.next_position();
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

    /// Stops sending and makes the receiver drop what it buffered; the audio it had not
    /// played yet is kept for the resume.
    async fn pause(&mut self, pacer: &mut Pacer) {
        let taken_back = pacer.take_back(Instant::now());
        tracing::debug!("paused; {taken_back} unplayed frames kept for the resume");
        let (next_seq, next_rtptime) = self.streamer.next_position();
        self.streamer.stop_timeline();
        let _ = self
            .commands
            .send(Command::Flush {
                next_seq,
                next_rtptime,
            })
            .await;
        self.publish(pacer);
        self.set_state(StreamState::Paused);
    }

    /// Receivers ignore sync packets until a timing exchange completed (shairport-sync logs
    /// "Sync packet received before we got a timing packet back"), so the first audio would
    /// be lost: wait for the first timing request, answering it, before any audio.
    async fn await_receiver_clock(&mut self) -> Result<()> {
        let mut buf = [0u8; 128];
        let wait = tokio::time::sleep(self.options.timing_wait);
        tokio::pin!(wait);
        while self.streamer.stats().timing_replies == 0 {
            tokio::select! {
                received = self.sockets.timing.recv_from(&mut buf) => {
                    self.answer_timing(received, &buf).await;
                }
                report = self.reports.recv() => self.handle_report(report)?,
                () = &mut wait => {
                    tracing::warn!(
                        "{} sent no timing request within {:?}; starting anyway",
                        self.receiver, self.options.timing_wait
                    );
                    return Ok(());
                }
            }
        }
        // Give the receiver a moment to take our reply in before the first sync arrives.
        tokio::time::sleep(Duration::from_millis(20)).await;
        Ok(())
    }

    async fn send_packet(&mut self, payload: &[u8], now: Instant) -> Result<Bytes> {
        if let Some(sync) = self.streamer.poll_sync(now) {
            // A lost sync is repeated within a second; only audio errors are fatal.
            if let Err(e) = self
                .sockets
                .control
                .send_to(&sync, self.sockets.receiver_control)
                .await
            {
                tracing::debug!("sync packet not sent: {e}");
            }
        }
        let datagram = self.streamer.packet(payload);
        self.sockets.audio.send(&datagram).await.map_err(|e| {
            Error::ConnectionLost(format!("{} stopped accepting audio: {e}", self.receiver))
        })?;
        Ok(datagram)
    }

    async fn answer_timing(&mut self, received: std::io::Result<(usize, SocketAddr)>, buf: &[u8]) {
        let arrived = Instant::now();
        match received {
            Ok((n, from)) => {
                self.liveness.heard(arrived);
                if let Some(reply) = self
                    .streamer
                    .handle_timing(&buf[..n], arrived, Instant::now())
                    && let Err(e) = self.sockets.timing.send_to(&reply, from).await
                {
                    tracing::debug!("timing reply to {from} not sent: {e}");
                }
            }
            Err(e) => tracing::debug!("timing socket: {e}"),
        }
    }

    async fn answer_control(&mut self, received: std::io::Result<(usize, SocketAddr)>, buf: &[u8]) {
        match received {
            Ok((n, from)) => {
                self.liveness.heard(Instant::now());
                for reply in self.streamer.handle_control(&buf[..n]) {
                    if let Err(e) = self.sockets.control.send_to(&reply, from).await {
                        tracing::debug!("retransmission to {from} not sent: {e}");
                    }
                }
            }
            // ICMP errors from earlier sends surface here; they are not fatal by themselves.
            Err(e) => tracing::debug!("control socket: {e}"),
        }
    }

    /// Sends the current metadata, tied to `rtptime` (the first frame it describes).
    async fn send_metadata(&mut self, rtptime: u32, with_progress: bool) {
        let commands = metadata::commands(
            &self.metadata,
            self.options.metadata_kinds,
            rtptime,
            with_progress,
        );
        for command in commands {
            if self.commands.send(command).await.is_err() {
                return;
            }
        }
    }

    fn handle_report(&mut self, report: Option<Report>) -> Result<()> {
        match report {
            Some(Report::Warning(text)) => {
                self.warnings.push(text);
                Ok(())
            }
            Some(Report::Alive) => {
                self.liveness.heard(Instant::now());
                Ok(())
            }
            Some(Report::Ended(Err(e))) => Err(e),
            Some(Report::Ended(Ok(()))) | None => Err(Error::ConnectionLost(format!(
                "{} ended the session",
                self.receiver
            ))),
        }
    }

    fn set_state(&self, state: StreamState) {
        self.progress.send_modify(|p| p.state = state);
    }

    fn publish(&self, pacer: &Pacer) {
        let stats = self.streamer.stats();
        self.progress.send_modify(|p| {
            p.frames_sent = pacer.frames_sent;
            p.underruns = pacer.underruns;
            p.retransmitted = stats.retransmitted;
        });
    }

    /// Sends TEARDOWN and waits (bounded) for the session to close.
    async fn teardown(&mut self) {
        if self.commands.send(Command::Teardown).await.is_err() {
            return;
        }
        let wait = async {
            while let Some(report) = self.reports.recv().await {
                if let Report::Ended(result) = report {
                    if let Err(e) = result {
                        tracing::debug!("teardown: {e}");
                    }
                    return;
                }
            }
        };
        if tokio::time::timeout(TEARDOWN_WAIT, wait).await.is_err() {
            tracing::warn!("{} did not answer TEARDOWN", self.receiver);
        }
    }
}
