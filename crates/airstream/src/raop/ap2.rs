//! The AirPlay 2 half of the shell: the PTP master the receivers' clocks follow (UDP 319
//! and 320, one for the whole stream, on the same clock mapping as the engine's anchors),
//! and a receiver's AirPlay 2 handshake (session SETUP with PTP or NTP timing → stream SETUP type
//! 96 → RECORD), on a plain RTSP connection as shairport-sync takes it, or on the channel
//! that transient pairing or pair-verify with stored credentials encrypted.

use super::cancel::{Cancel, tear_down};
use super::member::{Connected, Shared, handshake_request, session_error, warning};
use super::{Ap2Pairing, Receiver, TimingProtocol, clock, volume_db};
use crate::airplay::AirPlayDevice;
use crate::connection::Connection;
use crate::error::{Error, Result};
use airstream_proto::ap2::setup::MAX_LATENCY_FRAMES;
use airstream_proto::ap2::{
    Ap2Session, Ap2SessionConfig, ClockIdentity, PtpMaster, PtpPort, SessionSetup, StreamSetup,
    Timing,
};
use airstream_proto::raop::{SessionEvent, Transport};
use airstream_proto::stream::{MasterClock, MemberTransport, RECEIVER_FIXED_LATENCY};
use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::{Duration, SystemTime};
use tokio::net::UdpSocket;

/// Largest PTP message we read (a Delay_Req is 44 bytes); longer ones are cut and refused.
const PTP_BUFFER: usize = 512;

/// What every AirPlay 2 member of a stream shares.
#[derive(Clone)]
pub(super) struct Ap2Shared {
    /// The stream key (ChaCha20-Poly1305), sent in each member's stream SETUP.
    pub(super) shk: [u8; 32],
    pub(super) clock: MasterClock,
    /// Our device id (`deviceID`, `macAddress`); the clock identity derives from it.
    pub(super) mac: [u8; 6],
}

impl Ap2Shared {
    pub(super) fn new() -> Self {
        // A random, locally administered unicast address.
        let mut mac: [u8; 6] = rand::random();
        mac[0] = (mac[0] | 0x02) & 0xFE;
        let since_unix = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap_or_default();
        Self {
            shk: rand::random(),
            clock: MasterClock {
                origin: clock::now(),
                offset: since_unix,
                identity: ClockIdentity::from_mac(mac),
            },
            mac,
        }
    }

    fn device_id(&self) -> String {
        self.mac
            .iter()
            .map(|b| format!("{b:02X}"))
            .collect::<Vec<_>>()
            .join(":")
    }
}

/// The addresses the PTP master serves: the PTP-timed AirPlay 2 receivers'.
type PtpPeers = std::sync::Arc<std::sync::Mutex<Vec<IpAddr>>>;

/// The PTP master's task; aborted when the stream ends.
pub(super) struct PtpTask {
    task: tokio::task::JoinHandle<()>,
    peers: PtpPeers,
}

impl PtpTask {
    /// Serves `peer` too (a receiver that joins the running stream).
    pub(super) fn add_peer(&self, peer: IpAddr) {
        if let Ok(mut peers) = self.peers.lock()
            && !peers.contains(&peer)
        {
            peers.push(peer);
        }
    }
}

impl Drop for PtpTask {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Binds UDP 319 and 320 (receivers' PTP followers take messages only from those ports).
/// Without the privilege for them: a clear error, never a silent fallback. Binding does
/// not wait, so a running stream's driver may do it too.
pub(super) fn bind_ptp() -> Result<(UdpSocket, UdpSocket)> {
    let bind = |port: PtpPort| {
        std::net::UdpSocket::bind(SocketAddr::new(
            IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            port.number(),
        ))
        .and_then(|socket| {
            socket.set_nonblocking(true)?;
            UdpSocket::from_std(socket)
        })
        .map_err(|e| match e.kind() {
            io::ErrorKind::PermissionDenied => Error::Unsupported(format!(
                "AirPlay 2 needs UDP port {} for its PTP clock, which is privileged: run as \
                     root or grant CAP_NET_BIND_SERVICE (setcap cap_net_bind_service=+ep on the \
                     airstream binary)",
                port.number()
            )),
            _ => Error::network(
                format!("cannot bind UDP port {} for the PTP clock", port.number()),
                e,
            ),
        })
    };
    Ok((bind(PtpPort::Event)?, bind(PtpPort::General)?))
}

/// Starts the PTP master for `peers` (the AirPlay 2 receivers' addresses) on `clock`.
pub(super) fn spawn_ptp(
    clock: MasterClock,
    sockets: (UdpSocket, UdpSocket),
    peers: Vec<IpAddr>,
) -> PtpTask {
    let peers = PtpPeers::new(std::sync::Mutex::new(peers));
    PtpTask {
        task: tokio::spawn(run_ptp(clock, sockets, std::sync::Arc::clone(&peers))),
        peers,
    }
}

async fn run_ptp(clock: MasterClock, (event, general): (UdpSocket, UdpSocket), peers: PtpPeers) {
    let serves = |ip: IpAddr| peers.lock().is_ok_and(|p| p.contains(&ip));
    let mut master = PtpMaster::new(clock.identity, clock.offset);
    let mut event_buf = [0u8; PTP_BUFFER];
    let mut general_buf = [0u8; PTP_BUFFER];
    loop {
        master.handle_timeout(clock.since_origin(clock::now()));
        while let Some(transmit) = master.poll_transmit() {
            let socket = match transmit.port {
                PtpPort::Event => &event,
                PtpPort::General => &general,
            };
            let to_all = peers.lock().map(|p| p.clone()).unwrap_or_default();
            for ip in to_all {
                let to = SocketAddr::new(ip, transmit.port.number());
                if let Err(e) = socket.send_to(&transmit.bytes, to).await {
                    tracing::debug!("PTP message to {to} not sent: {e}");
                }
            }
        }
        let wake = master.poll_timeout().map_or_else(
            || clock::now() + Duration::from_secs(1),
            |d| clock.origin + d,
        );
        // What followers send (Delay_Req, their own Announces) is read and counted, never
        // answered: the two-step master needs nothing back.
        tokio::select! {
            () = tokio::time::sleep_until(wake.into()) => {}
            Ok((n, from)) = event.recv_from(&mut event_buf) => {
                if serves(from.ip()) {
                    let _ = master.handle_input(&event_buf[..n]);
                }
            }
            Ok((n, from)) = general.recv_from(&mut general_buf) => {
                if serves(from.ip()) {
                    let _ = master.handle_input(&general_buf[..n]);
                }
            }
        }
    }
}

/// Connects and runs the AirPlay 2 handshake up to RECORD (and the initial volume), on a
/// connection in the clear.
pub(super) async fn connect(
    receiver: &Receiver,
    shared: &Shared,
    ap2: &Ap2Shared,
    cancel: &Cancel,
) -> Result<Connected> {
    let address = receiver.address;
    let peer = address.to_string();
    let mut conn = cancel
        .run(open_channel(address, &receiver.ap2_pairing))
        .await?;
    let local_ip = conn.local().ip();
    let bind = |what: &'static str| async move {
        UdpSocket::bind(SocketAddr::new(local_ip, 0))
            .await
            .map_err(|e| Error::network(format!("cannot bind the {what} socket"), e))
    };
    let control = bind("control").await?;
    let timing = bind("timing").await?;
    let audio = bind("audio").await?;
    let control_port = control.local_addr().map_or(0, |a| a.port());
    let mut session = Ap2Session::new(Ap2SessionConfig {
        local_ip,
        session_id: rand::random(),
        dacp_id: rand::random(),
        active_remote: rand::random(),
        session: SessionSetup {
            device_id: ap2.device_id(),
            session_uuid: uuid(),
            group_uuid: uuid(),
            group_contains_group_leader: false,
            model: "airstream".into(),
            name: "airstream".into(),
            timing: match receiver.ap2_timing {
                TimingProtocol::Ptp => Timing::Ptp {
                    addresses: vec![local_ip],
                    id: local_ip.to_string(),
                },
                // The receiver asks this port as in AirPlay 1; the engine answers.
                TimingProtocol::Ntp => Timing::Ntp {
                    timing_port: timing.local_addr().map_or(0, |a| a.port()),
                },
            },
        },
        stream: StreamSetup {
            shk: ap2.shk,
            control_port,
            latency_min: RECEIVER_FIXED_LATENCY,
            latency_max: shared
                .latency_frames
                .clamp(RECEIVER_FIXED_LATENCY, MAX_LATENCY_FRAMES),
            stream_connection_id: rand::random(),
        },
        initial_volume_db: receiver.volume.map(volume_db),
    })
    .map_err(|e| Error::InvalidInput(format!("AirPlay 2 SETUP for {peer}: {e}")))?;

    let mut warnings = Vec::new();
    let mut answered_any = false;
    loop {
        while let Some(event) = session.poll_event() {
            match event {
                SessionEvent::Recording => {
                    let Some(reply) = session.stream_reply().cloned() else {
                        return Err(Error::BadMessage {
                            device: peer,
                            detail: "RECORD before the stream SETUP".into(),
                        });
                    };
                    // NTP: where its timing requests come from (checked against).
                    let receiver_timing_port = session
                        .session_reply()
                        .and_then(|r| r.timing_port)
                        .unwrap_or(0);
                    audio
                        .connect(SocketAddr::new(address.ip(), reply.data_port))
                        .await
                        .map_err(|e| Error::network("cannot reach the receiver's audio port", e))?;
                    return Ok(Connected {
                        receiver: address,
                        conn,
                        session: session.into(),
                        kind: match receiver.ap2_timing {
                            TimingProtocol::Ptp => MemberTransport::AirPlay2,
                            TimingProtocol::Ntp => MemberTransport::AirPlay2Ntp,
                        },
                        transport: Transport {
                            server_port: reply.data_port,
                            control_port: reply.control_port,
                            timing_port: receiver_timing_port,
                            session: String::new(),
                            audio_latency: None,
                        },
                        audio,
                        control,
                        timing,
                        metadata_kinds: receiver.metadata_kinds,
                        warnings,
                    });
                }
                SessionEvent::Warning {
                    request,
                    status,
                    reason,
                } => warnings.push(warning(&peer, &request, status, &reason)),
                SessionEvent::TransportReady(_) | SessionEvent::Flushed | SessionEvent::Closed => {}
            }
        }
        let Some(request) = session.poll_request() else {
            return Err(Error::BadMessage {
                device: peer,
                detail: "AirPlay 2 session stalled before RECORD".into(),
            });
        };
        let answered = tokio::select! {
            response = handshake_request(&mut conn, &request, &mut answered_any, &peer) => {
                Some(response)
            }
            () = cancel.cancelled() => None,
        };
        let Some(response) = answered else {
            // Whatever is in flight will not be waited for: TEARDOWN now, if there is a
            // session to end.
            tear_down(&mut conn, session.abandon()).await;
            return Err(Error::Cancelled);
        };
        session
            .handle_response(&response?)
            .map_err(|e| session_error(&peer, e))?;
    }
}

/// The RTSP connection as `pairing` wants it: in the clear, or encrypted after transient
/// pair-setup or pair-verify (whose refusal is [`Error::CredentialsRejected`]: pair again).
async fn open_channel(address: SocketAddr, pairing: &Ap2Pairing) -> Result<Connection> {
    let device = AirPlayDevice::new(address);
    let conn = match pairing {
        Ap2Pairing::Open => return Connection::connect(address).await,
        Ap2Pairing::Transient => crate::hap::transient_session(&device).await?,
        Ap2Pairing::Verified(credentials) => {
            crate::hap::verified_session(&device, credentials).await?
        }
    };
    tracing::debug!(receiver = %address, ?pairing, "AirPlay 2 channel encrypted");
    Ok(Connection::from_hap(conn))
}

/// A random (version 4) UUID in its usual upper-case text form.
fn uuid() -> String {
    uuid::Uuid::new_v4().to_string().to_uppercase()
}
