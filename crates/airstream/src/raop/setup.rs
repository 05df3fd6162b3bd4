//! Starting a stream: decoding gets under way while every receiver is connected and taken
//! through the RTSP handshake at once; then they join one stream engine, each with an I/O
//! task for its sockets, and the driver task starts.

use super::ap2::{self, Ap2Shared};
use super::cancel::{Cancel, tear_down};
use super::driver::{Driver, Link, StreamTask};
use super::io::{self, MemberSockets};
use super::member::{self, Connected, Shared};
use super::pipeline::{PayloadEncoder, Pipeline};
use super::{
    Encryption, Progress, Protocol, Receiver, ReceiverReport, StreamHandle, StreamOptions,
    StreamState, TimingProtocol, clock,
};
use crate::error::{Error, Result};
use airstream_audio::PcmSource;
use airstream_proto::format::SAMPLE_RATE;
use airstream_proto::ntp::{NtpClock, NtpTime, UNIX_EPOCH_OFFSET_SECS};
use airstream_proto::raop::crypto::AudioKey;
use airstream_proto::stream::{
    Ap2StreamConfig, MemberConfig, MemberId, MemberStats, Stream, StreamConfig, frames_duration,
};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};
use tokio::sync::{mpsc, watch};

/// Decoded audio the decode thread may hand over ahead of the timeline (~2 s).
const PIPELINE_PACKETS: usize = 256;
/// Decoded packets the engine holds before the driver takes more from the decode thread
/// (one batch beyond the pre-roll): the read-ahead waits in the decode channel, not twice.
pub(super) const ENGINE_PACKETS: usize = 64;
/// Pre-roll before the first packet (~0.5 s), bounded by how long we are willing to wait.
const PREROLL_PACKETS: usize = 63;
const PREROLL_WAIT: Duration = Duration::from_secs(2);
/// Datagrams and responses waiting for the driver; a flood from a receiver waits in its
/// socket buffer (and is dropped there), not in our memory.
const INPUT_QUEUE: usize = 1024;

pub(super) async fn establish(
    receivers: Vec<Receiver>,
    source: Box<dyn PcmSource>,
    options: StreamOptions,
    started: Instant,
    cancel: impl std::future::Future<Output = ()> + Send,
) -> Result<(StreamHandle, StreamTask)> {
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
    let any_airplay2 = receivers.iter().any(|r| r.protocol == Protocol::AirPlay2);
    // Only PTP-timed receivers follow our PTP master; NTP-timed ones ask our timing port.
    let ptp_timed: Vec<std::net::IpAddr> = receivers
        .iter()
        .filter(|r| r.protocol == Protocol::AirPlay2 && r.ap2_timing == TimingProtocol::Ptp)
        .map(|r| r.address.ip())
        .collect();
    if any_airplay2 && !options.codec.is_alac() {
        return Err(Error::Unsupported(format!(
            "AirPlay 2 realtime audio is ALAC only, not {:?}",
            options.codec
        )));
    }
    // The PTP ports first: without them nothing of an AirPlay 2 stream can work, and no
    // receiver has been bothered yet.
    let ptp_sockets = if ptp_timed.is_empty() {
        None
    } else {
        Some(ap2::bind_ptp()?)
    };
    let ap2_shared = any_airplay2.then(Ap2Shared::new);
    // The receivers' PTP followers lock on while the handshakes run.
    let ptp = ptp_sockets
        .zip(ap2_shared.as_ref())
        .map(|(sockets, shared)| ap2::spawn_ptp(shared.clock, sockets, ptp_timed));
    let audio_key = (encrypted > 0).then(|| AudioKey::new(rand::random(), rand::random()));
    let mut encoder = PayloadEncoder::new(options.codec, audio_key.clone());
    let silence = encoder.silence();
    let pipeline = Pipeline::spawn(source, encoder, PIPELINE_PACKETS)
        .map_err(|e| Error::internal("cannot start the decode thread", e))?;

    let shared = Arc::new(Shared {
        codec: options.codec,
        first_seq: rand::random(),
        first_rtptime: rand::random(),
        ssrc: rand::random(),
        clock: wall_clock_anchor(),
        audio_key,
        latency_frames: latency_frames(options.latency),
        ap2: ap2_shared,
    });
    let (cancel_switch, cancelled) = Cancel::new();
    let mut handshakes = tokio::task::JoinSet::new();
    for (index, receiver) in receivers.iter().cloned().enumerate() {
        let shared = Arc::clone(&shared);
        let cancelled = cancelled.clone();
        handshakes
            .spawn(async move { (index, member::connect(&receiver, &shared, &cancelled).await) });
    }
    let mut connected = Vec::new();
    let mut failures = Vec::new();
    tokio::pin!(cancel);
    loop {
        let joined = tokio::select! {
            joined = handshakes.join_next() => joined,
            () = &mut cancel, if !*cancel_switch.borrow() => {
                // Each handshake stops and tears its session down; wait for them all.
                let _ = cancel_switch.send(true);
                continue;
            }
        };
        match joined {
            None => break,
            Some(Ok((index, Ok(c)))) => connected.push((index, c)),
            Some(Ok((index, Err(e)))) => failures.push((index, e)),
            Some(Err(e)) => {
                failures.push((0, Error::internal("a receiver's setup task failed", e)));
            }
        }
    }
    if *cancel_switch.borrow() {
        tear_down_all(connected).await;
        return Err(Error::Cancelled);
    }
    if connected.is_empty() {
        // Report the first receiver's error, as a lone stream would.
        failures.sort_by_key(|(index, _)| *index);
        return Err(failures.into_iter().next().map_or_else(
            || Error::InvalidInput("no receiver to stream to".into()),
            |(_, e)| e,
        ));
    }
    connected.sort_by_key(|(index, _)| *index);
    let mut warnings = Vec::new();
    let left_out: Vec<(usize, ReceiverReport)> = failures
        .iter()
        .map(|(index, e)| {
            let receiver = receivers[*index].address;
            let text = format!("{receiver} left out: {}", e.to_string_with_causes());
            tracing::warn!("{text}");
            warnings.push(text);
            let report = ReceiverReport {
                receiver,
                stats: MemberStats::default(),
                warnings: Vec::new(),
                failure: Some(e.to_string_with_causes()),
            };
            (*index, report)
        })
        .collect();

    let now = clock::now();
    let mut engine = Stream::new(
        StreamConfig {
            ssrc: shared.ssrc,
            first_seq: shared.first_seq,
            first_rtptime: shared.first_rtptime,
            clock: shared.clock,
            latency_frames: latency_frames(options.latency),
            lead_in_packets: options.lead_in_packets,
            silence,
            keep_alive: options.keep_alive,
            timing_wait: options.timing_wait,
            preroll_packets: PREROLL_PACKETS,
            preroll_wait: PREROLL_WAIT,
            airplay2: shared.ap2.as_ref().map(|ap2| Ap2StreamConfig {
                shk: ap2.shk,
                clock: ap2.clock,
            }),
        },
        now,
    );
    let (inputs_tx, inputs_rx) = mpsc::channel(INPUT_QUEUE);
    let mut links = Vec::new();
    for (position, c) in connected {
        let config = receivers[position].clone();
        let (_, link) = link_up(c, position, config, &inputs_tx, |member| {
            engine.add_member(member, now)
        });
        warnings.extend(link.warnings.iter().cloned());
        links.push(link);
    }

    let (stop_tx, stop_rx) = watch::channel(false);
    let (progress_tx, progress_rx) = watch::channel(Progress {
        state: StreamState::Starting,
        frames_sent: 0,
        position_frames: 0,
        sample_rate: SAMPLE_RATE,
        duration,
        underruns: 0,
        retransmitted: 0,
    });
    let (outcome_tx, outcome_rx) = watch::channel(None);
    let (receivers_tx, receivers_rx) = watch::channel(Vec::new());
    let (requests_tx, requests_rx) = mpsc::unbounded_channel();
    let handle = StreamHandle {
        stop: Arc::new(stop_tx),
        progress: progress_rx,
        outcome: outcome_rx,
        requests: requests_tx,
        latency: frames_duration(engine.latency_frames()),
        receivers: receivers_rx,
    };
    let membership =
        super::membership::Membership::new(shared, inputs_tx, receivers_tx, receivers.len());
    let driver = Driver {
        codec: options.codec,
        timing_wait: options.timing_wait,
        started,
        engine,
        links,
        left_out,
        pipeline,
        pipeline_open: true,
        source_done: false,
        source_error: None,
        inputs: inputs_rx,
        stop: stop_rx,
        requests: requests_rx,
        progress: progress_tx,
        outcome: outcome_tx,
        warnings,
        metadata,
        markers: Vec::new(),
        next_marker: 0,
        ptp,
        membership,
        moves: super::moves::Moves::default(),
    };
    Ok((handle, StreamTask::spawn(driver)))
}

/// TEARDOWN to every receiver whose handshake was done when the setup was cancelled.
async fn tear_down_all(connected: Vec<(usize, Connected)>) {
    let mut teardowns = tokio::task::JoinSet::new();
    for (_, mut c) in connected {
        teardowns.spawn(async move {
            c.session.teardown();
            let request = c.session.poll_request();
            tear_down(&mut c.conn, request).await;
        });
    }
    while teardowns.join_next().await.is_some() {}
}

/// Total latency in frames.
fn latency_frames(latency: Duration) -> u32 {
    (latency.as_secs_f64() * f64::from(SAMPLE_RATE)).round() as u32
}

/// NTP time for timing replies and sync packets: the monotonic clock, anchored to wall
/// time once so receivers that compare with their own clock see plausible values.
fn wall_clock_anchor() -> NtpClock {
    let now = clock::now();
    let since_unix = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default();
    let ntp = NtpTime::from_duration(since_unix + Duration::from_secs(UNIX_EPOCH_OFFSET_SECS));
    NtpClock::new(now, ntp)
}

/// Makes a connected receiver a member (`add` gives it to the engine) and starts its I/O task:
/// the same at the start and for a receiver that joins or rejoins later.
pub(super) fn link_up(
    connected: Connected,
    position: usize,
    config: super::Receiver,
    inputs: &mpsc::Sender<io::Input>,
    add: impl FnOnce(MemberConfig) -> MemberId,
) -> (MemberId, Link) {
    let Connected {
        receiver,
        conn,
        session,
        kind,
        transport,
        audio,
        control,
        timing,
        metadata_kinds,
        warnings,
    } = connected;
    let ip = receiver.ip();
    let member = add(MemberConfig {
        rtsp: receiver,
        audio: SocketAddr::new(ip, transport.server_port),
        control: SocketAddr::new(ip, transport.control_port),
        timing: (transport.timing_port != 0).then(|| SocketAddr::new(ip, transport.timing_port)),
        audio_latency: transport.audio_latency,
        session,
        transport: kind,
    });
    let (rtsp, leftover, cipher) = conn.into_parts();
    let control = Arc::new(control);
    let timing = Arc::new(timing);
    let (requests_tx, requests_rx) = mpsc::unbounded_channel();
    let task = tokio::spawn(io::run(
        MemberSockets {
            member,
            rtsp,
            leftover,
            cipher,
            control: Arc::clone(&control),
            timing: Arc::clone(&timing),
        },
        requests_rx,
        inputs.clone(),
    ));
    let link = Link {
        position,
        receiver,
        audio,
        control,
        timing,
        requests: requests_tx,
        outbox: Vec::new(),
        task,
        metadata_kinds,
        warnings,
        failure: None,
        volume: config.volume,
        config,
        ended_while_paused: false,
        removed: false,
    };
    (member, link)
}
