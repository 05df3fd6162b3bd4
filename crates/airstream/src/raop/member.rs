//! One receiver of a stream: its RTSP session (run by the control task), its UDP sockets,
//! and a listener task that answers its timing and retransmit requests. Every member of a
//! group gets the same packets on the same timeline; this is where they part ways.

use super::batch;
use super::control::{self, Command, Report, Reporter, session_error};
use super::liveness::Liveness;
use super::{Encryption, MetadataKinds, Receiver, volume_db};
use crate::connection::Connection;
use crate::error::{Error, Result};
use crate::pairing::verify::{VerifyPeer, pair_verify};
use airstream_proto::digest::DigestCredentials;
use airstream_proto::raop::crypto::{AudioKey, airport_public_key};
use airstream_proto::raop::{
    AudioStreamer, RaopSession, SessionConfig, SessionEvent, StreamerConfig, StreamerStats,
    Transport,
};
use airstream_proto::sdp::{Codec, SdpEncryption};
use bytes::Bytes;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};
use tokio::net::UdpSocket;
use tokio::sync::mpsc;

/// What every member of a group shares, so their packets are identical.
pub(super) struct Shared {
    pub(super) codec: Codec,
    pub(super) first_seq: u16,
    pub(super) first_rtptime: u32,
    pub(super) ssrc: u32,
    pub(super) clock: airstream_proto::ntp::NtpClock,
    pub(super) audio_key: Option<AudioKey>,
    pub(super) keep_alive: Duration,
}

/// A member set up to RECORD: what the driver needs to stream to it.
pub(super) struct Member {
    pub(super) receiver: SocketAddr,
    /// Its index in the list given to `start_group` (members left out at setup leave gaps).
    pub(super) position: usize,
    streamer: Arc<Mutex<AudioStreamer>>,
    audio: UdpSocket,
    /// Audio datagrams queued during a burst, sent together by [`Member::flush`].
    outbox: Vec<Bytes>,
    control: Arc<UdpSocket>,
    receiver_control: SocketAddr,
    pub(super) commands: mpsc::Sender<Command>,
    liveness: Arc<Mutex<Liveness>>,
    listener: tokio::task::JoinHandle<()>,
    pub(super) metadata_kinds: MetadataKinds,
    pub(super) warnings: Vec<String>,
    /// Why it dropped out of the group, if it did.
    pub(super) failure: Option<String>,
}

/// What SETUP and RECORD told us about a member, before its streamer exists.
pub(super) struct Connected {
    receiver: SocketAddr,
    conn: Connection,
    session: RaopSession,
    transport: Transport,
    audio: UdpSocket,
    control: UdpSocket,
    timing: UdpSocket,
    metadata_kinds: MetadataKinds,
    warnings: Vec<String>,
}

impl Connected {
    /// Frames this receiver asks to buffer on top of ours (`Audio-Latency` in RECORD).
    pub(super) fn audio_latency(&self) -> Option<u32> {
        self.transport.audio_latency
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // Nothing panics while holding these locks; a poisoned one still holds valid state.
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The SDP key lines for `receiver`: the group's AES key wrapped with its RSA key.
fn sdp_key(receiver: &Receiver, key: Option<&AudioKey>) -> Result<Option<SdpEncryption>> {
    let Some(key) = key else {
        return Ok(None);
    };
    let public_key = match &receiver.encryption {
        Encryption::None => return Ok(None),
        Encryption::AirPortRsa => {
            airport_public_key().map_err(|e| Error::Unsupported(format!("RSA encryption: {e}")))?
        }
        Encryption::Rsa(key) => key.as_ref().clone(),
    };
    key.sdp(&public_key, &mut rand::rng())
        .map(Some)
        .map_err(|e| Error::Unsupported(format!("RSA encryption: {e}")))
}

/// Connects and runs the RTSP handshake up to RECORD (and the initial volume).
pub(super) async fn connect(receiver: &Receiver, shared: &Shared) -> Result<Connected> {
    let address = receiver.address;
    let mut conn = Connection::connect(address).await?;
    let local_ip = conn.local().ip();
    // Bound before SETUP: receivers start timing requests as soon as it is answered.
    let bind = |what: &'static str| async move {
        UdpSocket::bind(SocketAddr::new(local_ip, 0))
            .await
            .map_err(|e| Error::network(format!("cannot bind the {what} socket"), e))
    };
    let control = bind("control").await?;
    let timing = bind("timing").await?;
    let audio = bind("audio").await?;
    let port = |s: &UdpSocket| s.local_addr().map_or(0, |a| a.port());

    if let Some(credentials) = &receiver.credentials {
        // Legacy device verification (raop.md §2.2 step 3): HTTP/1.1 requests on the RTSP
        // connection, before the session's first RTSP request.
        let peer = VerifyPeer {
            label: address.to_string(),
            pair_command: format!("airstream pair --address {address}"),
            device_key: None,
        };
        pair_verify(&mut conn, credentials, &peer).await?;
    }

    let mut session = RaopSession::new(SessionConfig {
        local_ip,
        remote_ip: address.ip(),
        session_id: rand::random(),
        dacp_id: rand::random(),
        active_remote: rand::random(),
        codec: shared.codec,
        encryption: sdp_key(receiver, shared.audio_key.as_ref())?,
        password: receiver.password.clone().map(DigestCredentials::new),
        control_port: port(&control),
        timing_port: port(&timing),
        first_seq: shared.first_seq,
        first_rtptime: shared.first_rtptime,
        initial_volume_db: receiver.volume.map(volume_db),
        auth_setup: receiver.auth_setup,
        min_latency: None,
        max_latency: None,
    });
    let (transport, warnings) = handshake(&mut conn, &mut session, address).await?;
    audio
        .connect(SocketAddr::new(address.ip(), transport.server_port))
        .await
        .map_err(|e| Error::network("cannot reach the receiver's audio port", e))?;
    Ok(Connected {
        receiver: address,
        conn,
        session,
        transport,
        audio,
        control,
        timing,
        metadata_kinds: receiver.metadata_kinds,
        warnings,
    })
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
                } => warnings.push(control::warning(&peer, &request, status, &reason)),
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

impl Member {
    /// Starts the member's control task (RTSP) and listener task (timing, retransmits).
    /// `index` (in the group) tags its reports; `position` is its place in the list given.
    pub(super) fn start(
        connected: Connected,
        shared: &Shared,
        latency_frames: u32,
        (index, position): (usize, usize),
        reports: mpsc::UnboundedSender<(usize, Report)>,
    ) -> Self {
        let streamer = Arc::new(Mutex::new(AudioStreamer::new(
            StreamerConfig {
                ssrc: shared.ssrc,
                first_seq: shared.first_seq,
                first_rtptime: shared.first_rtptime,
                sample_rate: 44_100,
                latency_frames,
            },
            shared.clock,
        )));
        let (commands, commands_rx) = mpsc::channel(32);
        tokio::spawn(control::run(
            connected.conn,
            connected.session,
            commands_rx,
            Reporter { index, tx: reports },
            shared.keep_alive,
        ));
        let liveness = Arc::new(Mutex::new(Liveness::new(Instant::now())));
        let control = Arc::new(connected.control);
        let listener = tokio::spawn(listen(
            connected.timing,
            Arc::clone(&control),
            Arc::clone(&streamer),
            Arc::clone(&liveness),
        ));
        Self {
            receiver: connected.receiver,
            position,
            streamer,
            audio: connected.audio,
            outbox: Vec::new(),
            control,
            receiver_control: SocketAddr::new(
                connected.receiver.ip(),
                connected.transport.control_port,
            ),
            commands,
            liveness,
            listener,
            metadata_kinds: connected.metadata_kinds,
            warnings: connected.warnings,
            failure: None,
        }
    }

    pub(super) fn is_active(&self) -> bool {
        self.failure.is_none()
    }

    pub(super) fn stats(&self) -> StreamerStats {
        lock(&self.streamer).stats()
    }

    pub(super) fn has_clock(&self) -> bool {
        self.stats().timing_replies > 0
    }

    pub(super) fn next_deadline(&self) -> Option<Instant> {
        lock(&self.streamer).next_deadline()
    }

    pub(super) fn audible_end(&self) -> Option<Instant> {
        lock(&self.streamer).audible_end()
    }

    pub(super) fn next_position(&self) -> (u16, u32) {
        lock(&self.streamer).next_position()
    }

    pub(super) fn start_timeline(&self, now: Instant) {
        lock(&self.streamer).start(now);
    }

    /// Stops the timeline and returns where the next packet would have gone (for FLUSH).
    pub(super) fn stop_timeline(&self) -> (u16, u32) {
        let mut streamer = lock(&self.streamer);
        streamer.stop_timeline();
        streamer.next_position()
    }

    pub(super) fn heard(&self, now: Instant) {
        lock(&self.liveness).heard(now);
    }

    pub(super) fn probe_due(&self, now: Instant) -> bool {
        lock(&self.liveness).probe_due(now)
    }

    /// Sends the sync packet when one is due and queues the audio packet for [`Self::flush`];
    /// returns the datagram. `built` is the datagram another member of the group already
    /// made for this position: every member keeps the same bytes for its retransmits
    /// instead of a copy of its own.
    pub(super) async fn queue(
        &mut self,
        payload: &[u8],
        built: Option<&Bytes>,
        now: Instant,
    ) -> Bytes {
        let (sync, datagram) = {
            let mut streamer = lock(&self.streamer);
            let sync = streamer.poll_sync(now);
            let datagram = match built {
                Some(datagram) if streamer.adopt(datagram) => datagram.clone(),
                _ => streamer.packet(payload),
            };
            (sync, datagram)
        };
        // The sync goes out at once, so still ahead of the audio it describes.
        if let Some(sync) = sync
            // A lost sync is repeated within a second; only audio errors are fatal.
            && let Err(e) = self.control.send_to(&sync, self.receiver_control).await
        {
            tracing::debug!("sync packet to {} not sent: {e}", self.receiver);
        }
        self.outbox.push(datagram.clone());
        datagram
    }

    /// Sends the queued audio packets.
    pub(super) async fn flush(&mut self) -> Result<()> {
        let sent = batch::send_all(&self.audio, &self.outbox).await;
        self.outbox.clear();
        sent.map_err(|e| {
            Error::ConnectionLost(format!("{} stopped accepting audio: {e}", self.receiver))
        })
    }

    /// Takes the member out of the group (it failed); its tasks end.
    pub(super) fn fail(&mut self, why: String) {
        self.listener.abort();
        self.outbox.clear();
        self.failure = Some(why);
    }

    /// Forgets the held packets (end of stream).
    pub(super) fn clear_ring(&self) {
        lock(&self.streamer).clear_ring();
    }
}

impl Drop for Member {
    fn drop(&mut self) {
        self.listener.abort();
    }
}

/// Answers the receiver's timing requests and retransmit requests until aborted.
async fn listen(
    timing: UdpSocket,
    control: Arc<UdpSocket>,
    streamer: Arc<Mutex<AudioStreamer>>,
    liveness: Arc<Mutex<Liveness>>,
) {
    let mut timing_buf = [0u8; 128];
    let mut control_buf = [0u8; 2048];
    loop {
        tokio::select! {
            received = timing.recv_from(&mut timing_buf) => match received {
                Ok((n, from)) => {
                    let arrived = Instant::now();
                    lock(&liveness).heard(arrived);
                    let reply = lock(&streamer).handle_timing(&timing_buf[..n], arrived, Instant::now());
                    if let Some(reply) = reply
                        && let Err(e) = timing.send_to(&reply, from).await
                    {
                        tracing::debug!("timing reply to {from} not sent: {e}");
                    }
                }
                Err(e) => tracing::debug!("timing socket: {e}"),
            },
            received = control.recv_from(&mut control_buf) => match received {
                Ok((n, from)) => {
                    lock(&liveness).heard(Instant::now());
                    let replies = lock(&streamer).handle_control(&control_buf[..n]);
                    for reply in replies {
                        if let Err(e) = control.send_to(&reply, from).await {
                            tracing::debug!("retransmission to {from} not sent: {e}");
                        }
                    }
                }
                // ICMP errors from earlier sends surface here; not fatal by themselves.
                Err(e) => tracing::debug!("control socket: {e}"),
            },
        }
    }
}
