//! Streaming audio to RAOP (AirPlay 1 audio) receivers.
//!
//! [`start`] connects, runs the RTSP handshake, starts the stream's task and returns a
//! [`StreamHandle`] plus a [`StreamTask`] to await for the report. The stream itself is the
//! sans-IO engine of [`airstream_proto::stream`]: it paces packets on absolute deadlines,
//! answers timing and retransmit requests, and at the end keeps the session open until the
//! receiver has played everything before it sends TEARDOWN. This module is its I/O: one
//! task over the sockets with one timer, one I/O task per receiver, the decode thread.
//!
//! [`start_group`] does the same for several receivers at once, in sync: they share one
//! timeline, so every packet and every sync packet is the same for all of them, and each
//! plays frame *n* at the same instant. A receiver that fails drops out; the others go on.
//!
//! A receiver may take the stream over AirPlay 2 instead ([`Protocol::AirPlay2`]): realtime
//! ALAC sealed with the stream key, anchors against our PTP master on UDP 319/320, or, for
//! receivers timed with NTP ([`TimingProtocol::Ntp`]), sync packets and timing replies as in
//! AirPlay 1. AirPlay 1 and AirPlay 2 members of one group share the timeline.

mod ap2;
mod batch;
mod cancel;
mod clock;
mod driver;
mod io;
mod member;
mod membership;
mod metadata;
mod moves;
mod pipeline;
mod setup;

pub use driver::StreamTask;

use crate::error::{ErrorKind, Result};
use airstream_audio::{Metadata, PcmFormat, PcmSource, Source};
use airstream_proto::capabilities::MetadataKind;
pub use airstream_proto::format::Codec;
use airstream_proto::hap::HapCredentials;
use airstream_proto::pairing::Credentials;
pub use airstream_proto::raop::Encryption;
use airstream_proto::route::{AudioProtocol, AudioRoute};
pub use airstream_proto::route::{Protocol, TimingProtocol};
pub use airstream_proto::stream::MemberStats;
use std::fmt;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, watch};

/// See [`StreamOptions::lead_in_packets`].
pub const DEFAULT_LEAD_IN_PACKETS: u32 = 13;

/// Receivers such as Apple TV 4 and HomePod drop sessions after ~30 s without RTSP traffic.
pub const KEEP_ALIVE_INTERVAL: Duration = Duration::from_secs(25);

/// Default end-to-end latency (Apple's AirPlay 1 figure).
pub const DEFAULT_LATENCY: Duration = Duration::from_secs(2);

/// What a stream is, for every receiver of it: the group's codec, latency, lead-in and
/// tags. What differs per receiver (password, credentials, volume, …) is on [`Receiver`].
#[derive(Clone, Debug)]
pub struct StreamOptions {
    /// What the audio packets carry, for every receiver of the stream.
    pub codec: Codec,
    /// Time from a packet leaving to it being audible; receivers add their own 11025 frames
    /// of this, so it cannot go below 0.25 s.
    pub latency: Duration,
    /// Tags to show; fields left empty are filled from the source's own tags.
    pub metadata: Option<Metadata>,
    /// How long to wait for the receivers' first timing requests before starting anyway.
    pub timing_wait: Duration,
    /// The interval of `OPTIONS` keep-alives (receivers drop sessions idle for ~30 s).
    pub keep_alive: Duration,
    /// Silent packets sent before the audio. shairport-sync (3.3.x) mutes the first 9
    /// packets it plays after every flush, and RECORD counts as one; without a lead-in the
    /// first 72 ms of every stream are lost there (pyatv 0.13 loses them). It counts from the
    /// first packet it *receives* and drops earlier ones that arrive after it, so 4 more
    /// cover a start the network reordered (13 packets, 104 ms).
    pub lead_in_packets: u32,
}

impl StreamOptions {
    /// Options for what route selection decided (the codec); everything else at its
    /// default. [`Receiver::for_route`] takes the rest of the route.
    pub fn for_route(route: &AudioRoute) -> Self {
        Self {
            codec: route.codec,
            ..Self::default()
        }
    }
}

/// How an AirPlay 2 receiver's RTSP connection is secured before its SETUP.
#[derive(Clone, Debug, Default)]
pub enum Ap2Pairing {
    /// None: RTSP in the clear (shairport-sync takes that).
    #[default]
    Open,
    /// Transient pair-setup (PIN 3939, nothing stored), then everything encrypted.
    Transient,
    /// Pair-verify with the credentials `airstream pair` stored, then everything encrypted:
    /// for devices that require pairing. Their `Debug` shows no secret.
    Verified(HapCredentials),
}

impl Default for StreamOptions {
    fn default() -> Self {
        Self {
            codec: Codec::Alac,
            latency: DEFAULT_LATENCY,
            metadata: None,
            timing_wait: Duration::from_secs(2),
            keep_alive: KEEP_ALIVE_INTERVAL,
            lead_in_packets: DEFAULT_LEAD_IN_PACKETS,
        }
    }
}

/// One receiver of a stream, with what is particular to it. The group's codec, latency,
/// lead-in and tags come from its [`StreamOptions`].
#[derive(Clone)]
pub struct Receiver {
    /// The receiver's RTSP address.
    pub address: SocketAddr,
    /// For receivers that ask for a password (RTSP Digest).
    pub password: Option<String>,
    /// Legacy pairing credentials (`airstream pair`): pair-verify runs on the RTSP
    /// connection before ANNOUNCE, for Apple TVs that require device verification.
    pub credentials: Option<Credentials>,
    /// Send `POST /auth-setup` before ANNOUNCE (MFi devices; also done after a 403).
    pub auth_setup: bool,
    /// Which kinds of metadata the receiver takes (its TXT `md`); all by default.
    pub metadata_kinds: MetadataKinds,
    /// 0–100, set before the first sample; `None` leaves it alone.
    pub volume: Option<u8>,
    /// How this receiver gets the AES key. A group encrypts for all or for none.
    pub encryption: Encryption,
    /// AirPlay 1 or AirPlay 2; a group may mix them.
    pub protocol: Protocol,
    /// AirPlay 2 only: transient pairing, or pair-verify with stored HAP credentials.
    pub ap2_pairing: Ap2Pairing,
    /// AirPlay 2 only: PTP or NTP timing.
    pub ap2_timing: TimingProtocol,
}

impl Receiver {
    /// A receiver at `address` with nothing particular: no password, no credentials, every
    /// kind of metadata, its own volume, no encryption.
    pub fn new(address: SocketAddr) -> Self {
        Self {
            address,
            password: None,
            credentials: None,
            auth_setup: false,
            metadata_kinds: MetadataKinds::ALL,
            volume: None,
            encryption: Encryption::None,
            protocol: Protocol::AirPlay1,
            ap2_pairing: Ap2Pairing::Open,
            ap2_timing: TimingProtocol::Ptp,
        }
    }

    /// A receiver as route selection decided (encryption, auth-setup, metadata kinds).
    pub fn for_route(address: SocketAddr, route: &AudioRoute) -> Self {
        let kinds = &route.metadata;
        let receiver = Self {
            encryption: route.encryption.clone(),
            auth_setup: route.auth_setup,
            metadata_kinds: MetadataKinds {
                text: kinds.contains(&MetadataKind::Text),
                artwork: kinds.contains(&MetadataKind::Artwork),
                progress: kinds.contains(&MetadataKind::Progress),
            },
            ..Self::new(address)
        };
        match route.protocol {
            AudioProtocol::AirPlay1 => receiver,
            // The stream key protects AirPlay 2 payloads: no RSA-wrapped AES key. How the
            // session is paired depends on stored credentials: the caller's `ap2_pairing`.
            AudioProtocol::AirPlay2 { timing, .. } => Self {
                protocol: Protocol::AirPlay2,
                encryption: Encryption::None,
                ap2_timing: timing,
                ..receiver
            },
        }
    }
}

impl From<SocketAddr> for Receiver {
    fn from(address: SocketAddr) -> Self {
        Self::new(address)
    }
}

/// Never shows the password or the key.
impl fmt::Debug for Receiver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Receiver")
            .field("address", &self.address)
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .field("credentials", &self.credentials)
            .field("auth_setup", &self.auth_setup)
            .field("metadata_kinds", &self.metadata_kinds)
            .field("volume", &self.volume)
            .field("encryption", &self.encryption)
            .field("protocol", &self.protocol)
            .field("ap2_pairing", &self.ap2_pairing)
            .field("ap2_timing", &self.ap2_timing)
            .finish()
    }
}

/// Kinds of metadata a receiver accepts (TXT `md`: 0 text, 1 artwork, 2 progress).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MetadataKinds {
    /// DMAP title, artist and album.
    pub text: bool,
    /// Cover art.
    pub artwork: bool,
    /// Progress (start, current, end).
    pub progress: bool,
}

impl MetadataKinds {
    /// Every kind (receivers that do not say).
    pub const ALL: MetadataKinds = MetadataKinds {
        text: true,
        artwork: true,
        progress: true,
    };
    /// None (receivers that take no metadata).
    pub const NONE: MetadataKinds = MetadataKinds {
        text: false,
        artwork: false,
        progress: false,
    };
}

/// Where a stream is, as its handle reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamState {
    /// Pre-roll: waiting for the receiver's clock and the first decoded audio.
    Starting,
    /// Audio flows.
    Streaming,
    /// Paused through the handle: nothing is sent and the receiver dropped its buffer.
    Paused,
    /// All audio sent; waiting for the receiver to play its buffer.
    Draining,
    /// Over: the outcome says how.
    Finished,
}

/// How far a stream got, published on the handle about every burst.
#[derive(Debug, Clone, PartialEq)]
pub struct Progress {
    /// Where the stream is.
    pub state: StreamState,
    /// Real audio frames sent so far (padding and silence excluded).
    pub frames_sent: u64,
    /// The frame of the source the receivers play now: the frames they have played (those
    /// sent less a latency's worth in flight), moved by seeks and skips.
    pub position_frames: u64,
    /// Frames per second of `frames_sent`.
    pub sample_rate: u32,
    /// The source's length, when known.
    pub duration: Option<Duration>,
    /// Packets of silence sent because the source had nothing ready.
    pub underruns: u64,
    /// Packets resent because a receiver asked.
    pub retransmitted: u64,
}

impl Progress {
    /// The position in the source `into` the track that starts at frame `track_start` (a
    /// queue's, from its [`QueueTimeline`](airstream_audio::QueueTimeline)): what
    /// [`StreamHandle::seek`] takes to seek within that track. Saturating: an absurd
    /// position is refused by the source as beyond its end.
    pub fn in_track(&self, track_start: u64, into: Duration) -> Duration {
        let rate = f64::from(self.sample_rate.max(1));
        Duration::from_secs_f64(track_start as f64 / rate).saturating_add(into)
    }

    /// The position in the source the receivers play now (see `position_frames`).
    pub fn position(&self) -> Duration {
        Duration::from_secs_f64(self.position_frames as f64 / f64::from(self.sample_rate))
    }
}

/// Where one receiver of a stream is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReceiverState {
    /// Setting up, or joined and waiting for its clock.
    Connecting,
    /// Takes the audio.
    Streaming,
    /// The stream is paused.
    Paused,
    /// It ended its session while paused; it is connected again on resume.
    Ended,
    /// It failed and left the stream.
    Dropped,
    /// Taken out through [`StreamHandle::remove_receiver`].
    Removed,
    /// The stream ended (TEARDOWN).
    Finished,
}

/// One receiver's live state, as [`StreamHandle::receivers`] publishes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceiverProgress {
    /// Its RTSP address.
    pub receiver: SocketAddr,
    /// Its place: the index in the list given to [`start_group`], then one more for each
    /// receiver added.
    pub position: usize,
    /// Where it is.
    pub state: ReceiverState,
    /// The volume last set (0–100), `None` while it is the receiver's own.
    pub volume: Option<u8>,
    /// Audio packets sent to it.
    pub packets_sent: u64,
    /// Packets resent because it asked.
    pub resent: u64,
    /// Why it dropped out, if it did.
    pub failure: Option<String>,
}

/// What one receiver of a stream saw.
#[derive(Debug, Clone, PartialEq)]
pub struct ReceiverReport {
    /// The receiver's RTSP address.
    pub receiver: SocketAddr,
    /// Its counters.
    pub stats: MemberStats,
    /// Refused non-fatal requests (volume, metadata).
    pub warnings: Vec<String>,
    /// Why it dropped out of a group before the end.
    pub failure: Option<String>,
}

/// What a finished stream did.
#[derive(Debug, Clone, PartialEq)]
pub struct StreamReport {
    /// The (first) receiver.
    pub receiver: SocketAddr,
    /// What the audio packets carried.
    pub codec: Codec,
    /// Real audio frames sent.
    pub frames_sent: u64,
    /// Packets on the timeline (lead-in, silence and replays included).
    pub packets_sent: u64,
    /// Packets of silence sent because the source had nothing ready.
    pub underruns: u64,
    /// From [`start`] being called to the first RTP audio packet leaving.
    pub time_to_first_packet: Option<Duration>,
    /// Summed over the receivers.
    pub stats: MemberStats,
    /// The total latency the stream ran with.
    pub latency: Duration,
    /// Frames of silence sent before the first audio frame (the lead-in).
    pub lead_in_frames: u64,
    /// Refused non-fatal requests (volume, metadata) and receivers that dropped out.
    pub warnings: Vec<String>,
    /// Stopped through the handle before the end of the input.
    pub stopped: bool,
    /// Each receiver, in the order given.
    pub receivers: Vec<ReceiverReport>,
}

/// A clonable summary of how the stream ended, for watchers of the handle.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// It ended as it should (or was stopped): the report.
    Finished(Arc<StreamReport>),
    /// It failed: the error's kind and message.
    Failed {
        /// The error's kind.
        kind: ErrorKind,
        /// What the error says, with its causes.
        message: String,
    },
}

/// Controls a running stream. Dropping it does not stop the stream; [`StreamHandle::stop`] does.
#[derive(Clone)]
pub struct StreamHandle {
    stop: Arc<watch::Sender<bool>>,
    progress: watch::Receiver<Progress>,
    outcome: watch::Receiver<Option<Outcome>>,
    requests: mpsc::UnboundedSender<HandleCommand>,
    latency: Duration,
    receivers: watch::Receiver<Vec<ReceiverProgress>>,
}

/// What a [`StreamHandle`] asks of its driver.
#[derive(Debug)]
pub(crate) enum HandleCommand {
    Volume(u8),
    /// The volume of one receiver of a group (by its index).
    ReceiverVolume(usize, u8),
    Metadata(Metadata),
    Pause,
    Resume,
    /// A receiver to connect and add to the running stream; the answer once it joined.
    AddReceiver(Receiver, tokio::sync::oneshot::Sender<Result<()>>),
    /// The receiver (by its RTSP address) to take out of the stream.
    RemoveReceiver(SocketAddr, tokio::sync::oneshot::Sender<Result<()>>),
    /// Continue from this position of the source; the answer says whether it could.
    Seek(Duration, tokio::sync::oneshot::Sender<Result<()>>),
    /// End the item heard now and go on with the next; the answer says whether it could.
    Skip(tokio::sync::oneshot::Sender<Result<()>>),
}

impl StreamHandle {
    /// Asks the driver to stop: it sends TEARDOWN and finishes. Returns at once.
    pub fn stop(&self) {
        let _ = self.stop.send(true);
    }

    /// The total latency the stream runs with: what was asked, or more where a receiver
    /// asks for more (its `Audio-Latency`), at most 10 s.
    pub fn latency(&self) -> Duration {
        self.latency
    }

    /// The stream's progress, updated about every burst.
    pub fn progress(&self) -> watch::Receiver<Progress> {
        self.progress.clone()
    }

    /// Changes the receiver's volume (0–100) on the live session.
    pub fn set_volume(&self, percent: u8) {
        let _ = self.requests.send(HandleCommand::Volume(percent.min(100)));
    }

    /// Changes the volume of one receiver of a group (its index in the list given to
    /// [`start_group`]), leaving the others alone.
    pub fn set_receiver_volume(&self, index: usize, percent: u8) {
        let _ = self
            .requests
            .send(HandleCommand::ReceiverVolume(index, percent.min(100)));
    }

    /// Shows other tags from the next packet on (a new track, a radio title); progress
    /// restarts there, with the old duration unless the new tags carry one.
    pub fn set_metadata(&self, metadata: Metadata) {
        let _ = self.requests.send(HandleCommand::Metadata(metadata));
    }

    /// Pauses at once: the receiver drops its buffer (FLUSH) and the audio it had not played
    /// yet is kept, so [`resume`](Self::resume) continues exactly where the listener was.
    pub fn pause(&self) {
        let _ = self.requests.send(HandleCommand::Pause);
    }

    /// Resumes after [`pause`](Self::pause): a new lead-in, then exactly what was not heard.
    pub fn resume(&self) {
        let _ = self.requests.send(HandleCommand::Resume);
    }

    /// Each receiver's state, volume and counters, updated as they change.
    pub fn receivers(&self) -> watch::Receiver<Vec<ReceiverProgress>> {
        self.receivers.clone()
    }

    /// Connects `receiver` and adds it to the running stream, on the shared timeline: its
    /// first frame plays when the others play that frame (receivers mute the first few
    /// packets they get). Returns once it is a member; its state then goes from
    /// [`ReceiverState::Connecting`] to [`ReceiverState::Streaming`] once it has a clock.
    /// Its place in [`StreamHandle::receivers`] comes after every receiver given before.
    pub async fn add_receiver(&self, receiver: impl Into<Receiver>) -> Result<()> {
        let (answer, answered) = tokio::sync::oneshot::channel();
        self.requests
            .send(HandleCommand::AddReceiver(receiver.into(), answer))
            .map_err(|_| crate::Error::InvalidInput("the stream has ended".into()))?;
        answered
            .await
            .map_err(|_| crate::Error::InvalidInput("the stream has ended".into()))?
    }

    /// Takes the receiver at `address` out of the stream (TEARDOWN to it alone); the others
    /// go on. The last receiver cannot be removed: [`stop`](Self::stop) the stream instead.
    pub async fn remove_receiver(&self, address: SocketAddr) -> Result<()> {
        let (answer, answered) = tokio::sync::oneshot::channel();
        self.requests
            .send(HandleCommand::RemoveReceiver(address, answer))
            .map_err(|_| crate::Error::InvalidInput("the stream has ended".into()))?;
        answered
            .await
            .map_err(|_| crate::Error::InvalidInput("the stream has ended".into()))?
    }

    /// Continues from `position` of the source, on the exact frame: the receivers drop what
    /// they buffered (FLUSH) and play from there after the latency's silence; the timeline
    /// and every receiver's clock run on. Tags stay; the receivers' progress and
    /// [`Progress::position`] follow. Only sources that can seek do (files, buffers): a
    /// pipe, stdin or a URL fails with [`Error::Input`](crate::Error::Input)
    /// ([`AudioError::NotSeekable`](airstream_audio::AudioError::NotSeekable)), as does a
    /// position beyond the end, and the stream plays on unchanged.
    pub async fn seek(&self, position: Duration) -> Result<()> {
        let ended = || crate::Error::InvalidInput("cannot seek: the stream has ended".into());
        let (reply, answer) = tokio::sync::oneshot::channel();
        self.requests
            .send(HandleCommand::Seek(position, reply))
            .map_err(|_| ended())?;
        answer.await.map_err(|_| ended())?
    }

    /// Ends the item of a queue heard now and goes on with the next, at once: the
    /// receivers drop what they buffered (FLUSH) and play the next item from its start
    /// after the latency's silence; its tags and progress go with it. The items after it
    /// that the reader had read ahead play again from their start, unless one of them is
    /// read from a pipe (refused). Skipping the last item ends the stream. A source that is
    /// not a queue fails with [`Error::Input`](crate::Error::Input)
    /// ([`AudioError::NotSkippable`](airstream_audio::AudioError::NotSkippable)), and the
    /// stream plays on unchanged.
    pub async fn skip(&self) -> Result<()> {
        let ended = || crate::Error::InvalidInput("cannot skip: the stream has ended".into());
        let (reply, answer) = tokio::sync::oneshot::channel();
        self.requests
            .send(HandleCommand::Skip(reply))
            .map_err(|_| ended())?;
        answer.await.map_err(|_| ended())?
    }

    /// Waits for the end of the stream and tells how it went.
    pub async fn finished(&self) -> Outcome {
        let mut rx = self.outcome.clone();
        loop {
            if let Some(outcome) = rx.borrow_and_update().clone() {
                return outcome;
            }
            if rx.changed().await.is_err() {
                return Outcome::Failed {
                    kind: ErrorKind::Network,
                    message: "the stream driver was dropped before it finished".into(),
                };
            }
        }
    }
}

/// Connects to `receiver` (an address, or a [`Receiver`] with its password, credentials,
/// volume…), sets the session up, starts the stream's task and returns its handle.
pub async fn start(
    receiver: impl Into<Receiver>,
    source: Box<dyn PcmSource>,
    options: StreamOptions,
) -> Result<(StreamHandle, StreamTask)> {
    start_group(vec![receiver.into()], source, options).await
}

/// Connects to every receiver (at once) and streams to all of them in sync. Receivers that
/// cannot be set up are left out with a warning in the report; it fails only if none can.
pub async fn start_group(
    receivers: Vec<Receiver>,
    source: Box<dyn PcmSource>,
    options: StreamOptions,
) -> Result<(StreamHandle, StreamTask)> {
    start_group_until(receivers, source, options, std::future::pending()).await
}

/// [`start_group`] that gives up when `cancel` completes before the stream runs (a signal
/// during setup): the handshakes stop where they are, every receiver that already has a
/// session gets a TEARDOWN (also one that has not answered the request in flight), and it
/// fails with
/// [`Error::Cancelled`](crate::Error::Cancelled). Once it has returned, stop the stream
/// through the handle instead.
pub async fn start_group_until(
    receivers: Vec<Receiver>,
    source: Box<dyn PcmSource>,
    options: StreamOptions,
    cancel: impl std::future::Future<Output = ()> + Send,
) -> Result<(StreamHandle, StreamTask)> {
    let started = clock::now();
    setup::establish(receivers, source, options, started, cancel).await
}

/// Streams `source` to the end (or until the receiver fails) and reports.
pub async fn stream_to_end(
    receiver: impl Into<Receiver>,
    source: Box<dyn PcmSource>,
    options: StreamOptions,
) -> Result<StreamReport> {
    let (_handle, driver) = start(receiver, source, options).await?;
    driver.await
}

/// Opens `source` (a path, buffer, reader, stdin, URL or raw PCM), converting to what RAOP
/// receivers take, then streams it to the end. Opening runs off the async threads.
pub async fn stream_source(
    receiver: impl Into<Receiver>,
    source: Source,
    options: StreamOptions,
) -> Result<StreamReport> {
    let receiver = receiver.into();
    let pcm = tokio::task::spawn_blocking(move || source.open(PcmFormat::RAOP))
        .await
        .map_err(|e| crate::Error::internal("the decoder failed to start", e))??;
    stream_to_end(receiver, pcm, options).await
}

/// The blocking form, for programs without an async runtime of their own.
pub mod blocking {
    use super::{Receiver, Source, StreamOptions, StreamReport};
    use crate::error::{Error, Result};

    /// Streams `source` to `receiver` to the end, on a runtime of its own.
    pub fn stream(
        receiver: impl Into<Receiver>,
        source: Source,
        options: StreamOptions,
    ) -> Result<StreamReport> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| Error::network("cannot start an async runtime", e))?;
        runtime.block_on(super::stream_source(receiver, source, options))
    }
}

/// AirPlay volume in dB for a 0–100 scale: linear over −30..0 dB, 0 is mute (−144).
pub fn volume_db(percent: u8) -> f32 {
    match percent.min(100) {
        0 => -144.0,
        p => -30.0 + 30.0 * f32::from(p) / 100.0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn volume_mapping() {
        assert!((volume_db(0) - -144.0).abs() < f32::EPSILON);
        assert!((volume_db(1) - -29.7).abs() < 1e-4);
        assert!((volume_db(50) - -15.0).abs() < 1e-4);
        assert!(volume_db(100).abs() < f32::EPSILON);
        assert!(volume_db(200).abs() < f32::EPSILON);
    }

    #[test]
    fn receiver_debug_hides_password_and_key() {
        let receiver = Receiver {
            password: Some("hunter2".into()),
            credentials: Some(Credentials::new([0xAB; 8], [0xCD; 32])),
            ..Receiver::new(SocketAddr::from(([127, 0, 0, 1], 5000)))
        };
        let text = format!("{receiver:?}");
        assert!(!text.contains("hunter2"), "{text}");
        assert!(text.contains(&"AB".repeat(8)), "{text}");
        assert!(!text.to_uppercase().contains(&"CD".repeat(4)), "{text}");
    }
}
