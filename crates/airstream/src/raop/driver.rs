//! The real-time part of a stream: one task that sends audio packets at absolute deadlines
//! from the monotonic clock and, between packets, answers the receiver's timing and
//! retransmit requests.

use super::control::{Command, Report};
use super::payload::PayloadEncoder;
use super::pipeline::{Item, Pipeline, SAMPLES_PER_PACKET};
use super::setup::Sockets;
use super::{Codec, Outcome, Progress, StreamOptions, StreamReport, StreamState, volume_db};
use crate::error::{Error, Result};
use airstream_audio::Metadata;
use airstream_proto::dmap::{TrackText, progress_body};
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
/// Silence from the receiver (no datagram, no RTSP answer) after which we probe it.
const PROBE_AFTER: Duration = Duration::from_secs(1);
/// Progress is published every this many packets (~80 ms).
const PROGRESS_EVERY: u64 = 10;

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
    pub(super) volume: mpsc::UnboundedReceiver<u8>,
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

/// What the pacer does at the next deadline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Streaming,
    /// Input ended; silence keeps the receiver's clock honest until `until`.
    Draining {
        until: Instant,
    },
}

struct Counters {
    frames_sent: u64,
    underruns: u64,
    first_packet: Option<Instant>,
}

/// When the receiver last showed signs of life, and when we last asked. A receiver that
/// goes silent is probed with an `OPTIONS` it must answer within the streaming request
/// timeout, so one that vanished without closing anything is noticed in about 3 s.
pub(super) struct Liveness {
    last_heard: Instant,
    last_probe: Option<Instant>,
}

impl Liveness {
    pub(super) fn new(now: Instant) -> Self {
        Self {
            last_heard: now,
            last_probe: None,
        }
    }

    fn heard(&mut self) {
        self.last_heard = Instant::now();
        self.last_probe = None;
    }

    /// Whether to probe now: quiet for a while, and not asked during that while.
    fn probe_due(&mut self, now: Instant) -> bool {
        let quiet = now.saturating_duration_since(self.last_heard) >= PROBE_AFTER;
        let asked_recently = self
            .last_probe
            .is_some_and(|t| now.saturating_duration_since(t) < PROBE_AFTER);
        if quiet && !asked_recently {
            self.last_probe = Some(now);
            return true;
        }
        false
    }
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

        let mut encoder = PayloadEncoder::new(self.codec, self.audio_key.clone());
        let mut payload = Vec::with_capacity(1500);
        let silence = vec![0i16; SAMPLES_PER_PACKET];
        let mut counters = Counters {
            frames_sent: 0,
            underruns: 0,
            first_packet: None,
        };
        let mut phase = Phase::Streaming;
        let mut lead_in = self.options.lead_in_packets;
        let mut stopped = false;
        let mut control_buf = [0u8; 2048];
        let mut timing_buf = [0u8; 128];
        // Tagged with the RTP time of the first audio frame, right after the lead-in.
        let (_, first_rtptime) = self.streamer.next_position();
        self.send_metadata(
            first_rtptime.wrapping_add(lead_in * FRAMES_PER_PACKET),
            true,
        )
        .await;
        self.streamer.start(Instant::now());
        self.progress
            .send_modify(|p| p.state = StreamState::Streaming);

        loop {
            let deadline = self.streamer.next_deadline().unwrap_or_else(Instant::now);
            tokio::select! {
                biased;
                received = self.sockets.timing.recv_from(&mut timing_buf) => {
                    self.answer_timing(received, &timing_buf).await;
                }
                received = self.sockets.control.recv_from(&mut control_buf) => {
                    self.answer_control(received, &control_buf).await;
                }
                _ = self.stop.changed() => {
                    stopped = true;
                    break;
                }
                report = self.reports.recv() => self.handle_report(report)?,
                Some(percent) = self.volume.recv() => {
                    let _ = self.commands.send(Command::Volume(volume_db(percent))).await;
                }
                () = tokio::time::sleep_until(deadline.into()) => {
                    let now = Instant::now();
                    if self.liveness.probe_due(now) {
                        // Full queue: a request is already on its way, which probes as well.
                        let _ = self.commands.try_send(Command::Probe);
                    }
                    if let Phase::Draining { until } = phase
                        && deadline >= until
                    {
                        break;
                    }
                    let samples = match phase {
                        Phase::Streaming if lead_in > 0 => {
                            lead_in -= 1;
                            None
                        }
                        Phase::Streaming => match self.pipeline.try_next() {
                            Some(Item::Audio { samples, frames }) => {
                                counters.frames_sent += frames as u64;
                                Some(samples)
                            }
                            Some(Item::Metadata(update)) => {
                                tracing::debug!(?update, "metadata update from the source");
                                let (_, rtptime) = self.streamer.next_position();
                                let mut merged = update;
                                merged.fill_missing_from(&self.metadata);
                                self.metadata = merged;
                                self.send_metadata(rtptime, false).await;
                                continue;
                            }
                            Some(Item::End) => {
                                phase = Phase::Draining {
                                    until: self.streamer.audible_end().unwrap_or(now) + DRAIN_MARGIN,
                                };
                                self.progress.send_modify(|p| p.state = StreamState::Draining);
                                None
                            }
                            Some(Item::Failed(e)) => {
                                self.teardown().await;
                                return Err(Error::Input(e));
                            }
                            None => {
                                counters.underruns += 1;
                                None
                            }
                        },
                        Phase::Draining { .. } => None,
                    };
                    encoder.encode(samples.as_deref().unwrap_or(&silence), &mut payload);
                    self.send_packet(&payload, now).await?;
                    counters.first_packet.get_or_insert(now);
                    if self.streamer.stats().packets_sent.is_multiple_of(PROGRESS_EVERY) {
                        self.publish(&counters);
                    }
                }
            }
        }
        self.publish(&counters);
        self.teardown().await;
        self.streamer.clear_ring();
        Ok(StreamReport {
            receiver: self.receiver,
            codec: self.codec,
            frames_sent: counters.frames_sent,
            packets_sent: self.streamer.stats().packets_sent,
            underruns: counters.underruns,
            time_to_first_packet: counters
                .first_packet
                .map(|t| t.saturating_duration_since(self.started)),
            stats: self.streamer.stats(),
            latency: Duration::from_secs_f64(f64::from(self.latency_frames) / 44_100.0),
            lead_in_frames: u64::from(self.options.lead_in_packets)
                * u64::from(airstream_proto::rtp::FRAMES_PER_PACKET),
            warnings: std::mem::take(&mut self.warnings),
            stopped,
        })
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

    async fn send_packet(&mut self, payload: &[u8], now: Instant) -> Result<()> {
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
        Ok(())
    }

    async fn answer_timing(&mut self, received: std::io::Result<(usize, SocketAddr)>, buf: &[u8]) {
        let arrived = Instant::now();
        match received {
            Ok((n, from)) => {
                self.liveness.heard();
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
                self.liveness.heard();
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

    /// Sends the current metadata, tied to `rtptime` (the first frame it describes), as far
    /// as the receiver takes each kind. `with_progress` marks a track start.
    async fn send_metadata(&mut self, rtptime: u32, with_progress: bool) {
        let kinds = self.options.metadata_kinds;
        let m = &self.metadata;
        let mut commands = Vec::new();
        if kinds.text && (m.title.is_some() || m.artist.is_some() || m.album.is_some()) {
            let text = TrackText {
                title: m.title.clone(),
                artist: m.artist.clone(),
                album: m.album.clone(),
            };
            commands.push(Command::Parameter {
                content_type: "application/x-dmap-tagged",
                body: Bytes::from(text.encode()),
                rtptime: Some(rtptime),
            });
        }
        if kinds.artwork
            && let Some(art) = &m.artwork
        {
            commands.push(Command::Parameter {
                content_type: art.kind.mime(),
                body: Bytes::from(art.data.clone()),
                rtptime: Some(rtptime),
            });
        }
        if kinds.progress
            && with_progress
            && let Some(duration) = m.duration
        {
            let frames = (duration.as_secs_f64() * 44_100.0).round() as u32;
            commands.push(Command::Parameter {
                content_type: "text/parameters",
                body: Bytes::from(progress_body(
                    rtptime,
                    rtptime,
                    rtptime.wrapping_add(frames),
                )),
                rtptime: None,
            });
        }
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
                self.liveness.heard();
                Ok(())
            }
            Some(Report::Ended(Err(e))) => Err(e),
            Some(Report::Ended(Ok(()))) | None => Err(Error::ConnectionLost(format!(
                "{} ended the session",
                self.receiver
            ))),
        }
    }

    fn publish(&self, counters: &Counters) {
        let stats = self.streamer.stats();
        self.progress.send_modify(|p| {
            p.frames_sent = counters.frames_sent;
            p.underruns = counters.underruns;
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
