//! Starting a stream: decoding gets under way while every receiver is connected and taken
//! through the RTSP handshake at once; then all of them get one timeline.

use super::driver::{Driver, StreamDriver};
use super::member::{self, Member, Shared};
use super::pipeline::Pipeline;
use super::{
    Encryption, Progress, Receiver, ReceiverReport, StreamHandle, StreamOptions, StreamState,
};
use crate::error::{Error, Result};
use airstream_audio::PcmSource;
use airstream_proto::ntp::{NtpClock, NtpTime, UNIX_EPOCH_OFFSET_SECS};
use airstream_proto::raop::StreamerStats;
use airstream_proto::raop::crypto::AudioKey;
use airstream_proto::raop::streamer::RECEIVER_FIXED_LATENCY;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};
use tokio::sync::{mpsc, watch};

const SAMPLE_RATE: u32 = 44_100;
/// Decoded audio the pipeline may hold ahead of the pacer (~2 s).
const PIPELINE_PACKETS: usize = 256;
/// Pre-roll before the first packet (~0.5 s), bounded by how long we are willing to wait.
pub(super) const PREROLL_PACKETS: usize = 63;
pub(super) const PREROLL_WAIT: Duration = Duration::from_secs(2);

pub(super) async fn establish(
    receivers: Vec<Receiver>,
    source: Box<dyn PcmSource>,
    options: StreamOptions,
    started: Instant,
) -> Result<(StreamHandle, StreamDriver)> {
    if receivers.is_empty() {
        return Err(Error::InvalidInput("no receiver to stream to".into()));
    }
    let encrypted = receivers
        .iter()
        .filter(|r| !matches!(r.encryption, Encryption::None))
        .count();
    if encrypted != 0 && encrypted != receivers.len() {
        // One payload for all: it is either encrypted for every receiver or for none.
        return Err(Error::Unsupported(
            "a group cannot mix receivers that need encryption with receivers that do not".into(),
        ));
    }
    let mut metadata = options.metadata.clone().unwrap_or_default();
    metadata.fill_missing_from(&source.metadata());
    if metadata.duration.is_none() {
        metadata.duration = source.duration();
    }
    let duration = metadata.duration;
    let pipeline = Pipeline::spawn(source, PIPELINE_PACKETS)
        .map_err(|e| Error::network("cannot start the decode thread", e))?;

    let shared = Arc::new(Shared {
        codec: options.codec,
        first_seq: rand::random(),
        first_rtptime: rand::random(),
        ssrc: rand::random(),
        clock: wall_clock_anchor(),
        audio_key: (encrypted > 0).then(|| AudioKey::new(rand::random(), rand::random())),
        keep_alive: options.keep_alive,
    });
    let mut handshakes = tokio::task::JoinSet::new();
    for (index, receiver) in receivers.iter().cloned().enumerate() {
        let shared = Arc::clone(&shared);
        handshakes.spawn(async move { (index, member::connect(&receiver, &shared).await) });
    }
    let mut connected = Vec::new();
    let mut failures = Vec::new();
    while let Some(joined) = handshakes.join_next().await {
        match joined {
            Ok((index, Ok(c))) => connected.push((index, c)),
            Ok((index, Err(e))) => failures.push((index, e)),
            Err(e) => failures.push((0, Error::InvalidInput(format!("setup task failed: {e}")))),
        }
    }
    if connected.is_empty() {
        // Report the first receiver's error, as a lone stream would.
        failures.sort_by_key(|(index, _)| *index);
        return Err(failures
            .into_iter()
            .next()
            .map_or_else(|| Error::InvalidInput("no receiver".into()), |(_, e)| e));
    }
    connected.sort_by_key(|(index, _)| *index);
    let mut warnings = Vec::new();
    let left_out: Vec<(usize, ReceiverReport)> = failures
        .iter()
        .map(|(index, e)| {
            let receiver = receivers[*index].address;
            let text = format!("{receiver} left out: {e}");
            tracing::warn!("{text}");
            warnings.push(text);
            let report = ReceiverReport {
                receiver,
                stats: StreamerStats::default(),
                warnings: Vec::new(),
                failure: Some(e.to_string()),
            };
            (*index, report)
        })
        .collect();

    // One latency for all, the largest any receiver asks for (libraop takes the larger).
    let latency_frames = connected
        .iter()
        .filter_map(|(_, c)| c.audio_latency())
        .map(|l| l.saturating_add(RECEIVER_FIXED_LATENCY))
        .fold(latency_frames(options.latency), u32::max);
    let (reports_tx, reports_rx) = mpsc::unbounded_channel();
    let members: Vec<Member> = connected
        .into_iter()
        .enumerate()
        .map(|(index, (position, c))| {
            Member::start(
                c,
                &shared,
                latency_frames,
                (index, position),
                reports_tx.clone(),
            )
        })
        .collect();
    for member in &members {
        warnings.extend(member.warnings.iter().cloned());
    }

    let (stop_tx, stop_rx) = watch::channel(false);
    let (progress_tx, progress_rx) = watch::channel(Progress {
        state: StreamState::Starting,
        frames_sent: 0,
        sample_rate: SAMPLE_RATE,
        duration,
        underruns: 0,
        retransmitted: 0,
    });
    let (outcome_tx, outcome_rx) = watch::channel(None);
    let (requests_tx, requests_rx) = mpsc::unbounded_channel();
    let handle = StreamHandle {
        stop: Arc::new(stop_tx),
        progress: progress_rx,
        outcome: outcome_rx,
        requests: requests_tx,
    };
    let driver = Driver {
        codec: options.codec,
        audio_key: shared.audio_key.clone(),
        options,
        started,
        members,
        left_out,
        pipeline,
        reports: reports_rx,
        stop: stop_rx,
        requests: requests_rx,
        progress: progress_tx,
        outcome: outcome_tx,
        warnings,
        latency_frames,
        metadata,
    };
    Ok((handle, StreamDriver::new(driver)))
}

/// Total latency in frames, never below what receivers add by themselves.
fn latency_frames(latency: Duration) -> u32 {
    let frames = (latency.as_secs_f64() * f64::from(SAMPLE_RATE)).round() as u32;
    frames.max(RECEIVER_FIXED_LATENCY)
}

/// NTP time for timing replies and sync packets: the monotonic clock, anchored to wall
/// time once so receivers that compare with their own clock see plausible values.
fn wall_clock_anchor() -> NtpClock {
    let now = Instant::now();
    let since_unix = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default();
    let ntp = NtpTime::from_duration(since_unix + Duration::from_secs(UNIX_EPOCH_OFFSET_SECS));
    NtpClock::new(now, ntp)
}
