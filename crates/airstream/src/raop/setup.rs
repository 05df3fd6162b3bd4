//! Connecting: UDP sockets first (receivers start timing requests as soon as SETUP is
//! answered), then the RTSP handshake up to RECORD, with decoding already under way.

use super::control::{self, session_error};
use super::driver::{Driver, StreamDriver};
use super::liveness::Liveness;
use super::pipeline::Pipeline;
use super::{Encryption, Progress, StreamHandle, StreamOptions, StreamState, volume_db};
use crate::connection::Connection;
use crate::error::{Error, Result};
use crate::pairing::verify::{VerifyPeer, pair_verify};
use airstream_audio::PcmSource;
use airstream_proto::digest::DigestCredentials;
use airstream_proto::ntp::{NtpClock, NtpTime, UNIX_EPOCH_OFFSET_SECS};
use airstream_proto::raop::crypto::{AudioKey, airport_public_key};
use airstream_proto::raop::streamer::RECEIVER_FIXED_LATENCY;
use airstream_proto::raop::{
    AudioStreamer, RaopSession, SessionConfig, SessionEvent, StreamerConfig, Transport,
};
use airstream_proto::sdp::SdpEncryption;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};
use tokio::net::UdpSocket;
use tokio::sync::{mpsc, watch};

const SAMPLE_RATE: u32 = 44_100;
/// Decoded audio the pipeline may hold ahead of the pacer (~2 s).
const PIPELINE_PACKETS: usize = 256;
/// Pre-roll before the first packet (~0.5 s), bounded by how long we are willing to wait.
pub(super) const PREROLL_PACKETS: usize = 63;
pub(super) const PREROLL_WAIT: Duration = Duration::from_secs(2);

pub(crate) struct Sockets {
    pub(crate) audio: UdpSocket,
    pub(crate) control: UdpSocket,
    pub(crate) timing: UdpSocket,
    /// Where sync packets go: the receiver's control port.
    pub(crate) receiver_control: SocketAddr,
}

pub(super) async fn establish(
    receiver: SocketAddr,
    source: Box<dyn PcmSource>,
    options: StreamOptions,
    started: Instant,
) -> Result<(StreamHandle, StreamDriver)> {
    let mut metadata = options.metadata.clone().unwrap_or_default();
    metadata.fill_missing_from(&source.metadata());
    if metadata.duration.is_none() {
        metadata.duration = source.duration();
    }
    let duration = metadata.duration;
    let pipeline = Pipeline::spawn(source, PIPELINE_PACKETS)
        .map_err(|e| Error::network("cannot start the decode thread", e))?;

    let mut conn = Connection::connect(receiver).await?;
    let local_ip = conn.local().ip();
    let bind = |what: &'static str| async move {
        UdpSocket::bind(SocketAddr::new(local_ip, 0))
            .await
            .map_err(|e| Error::network(format!("cannot bind the {what} socket"), e))
    };
    let control = bind("control").await?;
    let timing = bind("timing").await?;
    let audio = bind("audio").await?;
    let port = |s: &UdpSocket| s.local_addr().map_or(0, |a| a.port());

    if let Some(credentials) = &options.credentials {
        // Legacy device verification (raop.md §2.2 step 3): HTTP/1.1 requests on the RTSP
        // connection, before the session's first RTSP request.
        let peer = VerifyPeer {
            label: receiver.to_string(),
            pair_command: format!("airstream pair --address {receiver}"),
            device_key: None,
        };
        pair_verify(&mut conn, credentials, &peer).await?;
    }

    let audio_key = audio_key(&options.encryption)?;
    let first_seq: u16 = rand::random();
    let first_rtptime: u32 = rand::random();
    let latency_frames = latency_frames(options.latency);
    let mut session = RaopSession::new(SessionConfig {
        local_ip,
        remote_ip: receiver.ip(),
        session_id: rand::random(),
        dacp_id: rand::random(),
        active_remote: rand::random(),
        codec: options.codec,
        encryption: audio_key.as_ref().map(|(_, sdp)| sdp.clone()),
        password: options.password.clone().map(DigestCredentials::new),
        control_port: port(&control),
        timing_port: port(&timing),
        first_seq,
        first_rtptime,
        initial_volume_db: options.volume.map(volume_db),
        auth_setup: options.auth_setup,
        min_latency: None,
        max_latency: None,
    });

    let (transport, warnings) = handshake(&mut conn, &mut session, receiver).await?;
    audio
        .connect(SocketAddr::new(receiver.ip(), transport.server_port))
        .await
        .map_err(|e| Error::network("cannot reach the receiver's audio port", e))?;
    let receiver_control = SocketAddr::new(receiver.ip(), transport.control_port);
    // Receivers may ask for more buffering than we planned (libraop takes the larger).
    let latency_frames = latency_frames.max(
        transport
            .audio_latency
            .map_or(0, |l| l.saturating_add(RECEIVER_FIXED_LATENCY)),
    );

    let clock = wall_clock_anchor();
    let streamer = AudioStreamer::new(
        StreamerConfig {
            ssrc: rand::random(),
            first_seq,
            first_rtptime,
            sample_rate: SAMPLE_RATE,
            latency_frames,
        },
        clock,
    );

    let (commands_tx, commands_rx) = mpsc::channel(32);
    let (reports_tx, reports_rx) = mpsc::unbounded_channel();
    tokio::spawn(control::run(
        conn,
        session,
        commands_rx,
        reports_tx,
        options.keep_alive,
    ));

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
        receiver,
        codec: options.codec,
        options,
        started,
        sockets: Sockets {
            audio,
            control,
            timing,
            receiver_control,
        },
        streamer,
        pipeline,
        commands: commands_tx,
        reports: reports_rx,
        stop: stop_rx,
        requests: requests_rx,
        progress: progress_tx,
        outcome: outcome_tx,
        warnings,
        liveness: Liveness::new(Instant::now()),
        latency_frames,
        metadata,
        audio_key: audio_key.map(|(key, _)| key),
    };
    Ok((handle, StreamDriver::new(driver)))
}

/// Runs OPTIONS → ANNOUNCE → SETUP → RECORD (→ volume) and returns the transport.
async fn handshake(
    conn: &mut Connection,
    session: &mut RaopSession,
    receiver: SocketAddr,
) -> Result<(Transport, Vec<String>)> {
    let peer = receiver.to_string();
    let mut warnings = Vec::new();
    let mut answered_any = false;
    loop {
        while let Some(event) = session.poll_event() {
            match event {
                SessionEvent::TransportReady(_) => session.record(),
                SessionEvent::Recording => {
                    let transport =
                        session
                            .transport()
                            .cloned()
                            .ok_or_else(|| Error::BadMessage {
                                peer: peer.clone(),
                                detail: "RECORD before SETUP".into(),
                            })?;
                    return Ok((transport, warnings));
                }
                SessionEvent::Warning {
                    request,
                    status,
                    reason,
                } => {
                    let text = format!("{peer} refused {request}: {status} {reason}");
                    tracing::warn!("{text}");
                    warnings.push(text);
                }
                SessionEvent::Flushed | SessionEvent::Closed => {}
            }
        }
        let Some(request) = session.poll_request() else {
            return Err(Error::BadMessage {
                peer,
                detail: "session stalled before RECORD".into(),
            });
        };
        let response = match conn.request(&request).await {
            Ok(r) => r,
            // A receiver that refuses a second sender may close right after accepting.
            Err(Error::ConnectionLost(_)) if !answered_any => {
                return Err(Error::DeviceBusy { receiver: peer });
            }
            Err(e) => return Err(e),
        };
        answered_any = true;
        session
            .handle_response(&response)
            .map_err(|e| session_error(&peer, e))?;
    }
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

/// A fresh AES key and IV for this session and its SDP lines, when encrypting.
fn audio_key(encryption: &Encryption) -> Result<Option<(AudioKey, SdpEncryption)>> {
    let public_key = match encryption {
        Encryption::None => return Ok(None),
        Encryption::AirPortRsa => {
            airport_public_key().map_err(|e| Error::Unsupported(format!("RSA encryption: {e}")))?
        }
        Encryption::Rsa(key) => key.as_ref().clone(),
    };
    let key = AudioKey::new(rand::random(), rand::random());
    let sdp = key
        .sdp(&public_key, &mut rand::rng())
        .map_err(|e| Error::Unsupported(format!("RSA encryption: {e}")))?;
    Ok(Some((key, sdp)))
}
