//! Setting up one receiver: connect, verify (legacy pairing), and take the RTSP session
//! through OPTIONS → ANNOUNCE → SETUP → RECORD, with its UDP sockets bound. What comes out
//! joins the stream engine as a member.

use super::ap2::Ap2Shared;
use super::cancel::{Cancel, tear_down};
use super::{Encryption, MetadataKinds, Protocol, Receiver, volume_db};
use crate::connection::Connection;
use crate::error::{Error, Result};
use crate::pairing::verify::{VerifyPeer, pair_verify};
use airstream_proto::digest::DigestCredentials;
use airstream_proto::format::Codec;
use airstream_proto::ntp::NtpClock;
use airstream_proto::raop::crypto::{AudioKey, airport_public_key};
use airstream_proto::raop::{RaopSession, SessionConfig, SessionError, SessionEvent, Transport};
use airstream_proto::rtsp::{Request, Response};
use airstream_proto::sdp::SdpEncryption;
use airstream_proto::stream::{MemberSession, MemberTransport};
use std::net::SocketAddr;
use tokio::net::UdpSocket;

/// What every member of a group shares, so their packets are identical. No `Debug`: it
/// holds the keys.
#[derive(Clone)]
pub(super) struct Shared {
    pub(super) codec: Codec,
    pub(super) first_seq: u16,
    pub(super) first_rtptime: u32,
    pub(super) ssrc: u32,
    pub(super) clock: NtpClock,
    pub(super) audio_key: Option<AudioKey>,
    /// The stream's total latency asked for, in frames.
    pub(super) latency_frames: u32,
    /// Stream key and PTP clock when any member takes AirPlay 2.
    pub(super) ap2: Option<Ap2Shared>,
}

/// A receiver set up to RECORD.
pub(super) struct Connected {
    pub(super) receiver: SocketAddr,
    pub(super) conn: Connection,
    pub(super) session: MemberSession,
    /// Which packets it takes.
    pub(super) kind: MemberTransport,
    pub(super) transport: Transport,
    pub(super) audio: UdpSocket,
    pub(super) control: UdpSocket,
    pub(super) timing: UdpSocket,
    pub(super) metadata_kinds: MetadataKinds,
    pub(super) warnings: Vec<String>,
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

/// Connects and runs the RTSP handshake up to RECORD (and the initial volume), unless
/// `cancel` fires first: then a session already set up gets a TEARDOWN and this fails with
/// [`Error::Cancelled`].
pub(super) async fn connect(
    receiver: &Receiver,
    shared: &Shared,
    cancel: &Cancel,
) -> Result<Connected> {
    if let Protocol::AirPlay2 = receiver.protocol {
        let Some(ap2) = &shared.ap2 else {
            return Err(Error::internal(
                "an AirPlay 2 receiver in a stream set up without AirPlay 2",
                "no stream key",
            ));
        };
        return super::ap2::connect(receiver, shared, ap2, cancel).await;
    }
    let address = receiver.address;
    let mut conn = cancel.run(Connection::connect(address)).await?;
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
        cancel
            .run(pair_verify(&mut conn, credentials, &peer))
            .await?;
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
    let handshook = tokio::select! {
        result = handshake(&mut conn, &mut session, address) => Some(result),
        () = cancel.cancelled() => None,
    };
    let Some(handshook) = handshook else {
        // Whatever is in flight will not be waited for: TEARDOWN now, if SETUP was sent.
        tear_down(&mut conn, session.abandon()).await;
        return Err(Error::Cancelled);
    };
    let (transport, warnings) = handshook?;
    audio
        .connect(SocketAddr::new(address.ip(), transport.server_port))
        .await
        .map_err(|e| Error::network("cannot reach the receiver's audio port", e))?;
    Ok(Connected {
        receiver: address,
        conn,
        session: session.into(),
        kind: MemberTransport::Raop,
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
                SessionEvent::TransportReady(transport) => {
                    // Port 0 is nowhere: refuse it now rather than fail later as a send error.
                    if transport.server_port == 0 || transport.control_port == 0 {
                        return Err(Error::BadMessage {
                            device: peer,
                            detail: "its SETUP reply gives port 0 for audio or control".into(),
                        });
                    }
                    session.record();
                }
                SessionEvent::Recording => {
                    let transport =
                        session
                            .transport()
                            .cloned()
                            .ok_or_else(|| Error::BadMessage {
                                device: peer.clone(),
                                detail: "RECORD before SETUP".into(),
                            })?;
                    return Ok((transport, warnings));
                }
                SessionEvent::Warning {
                    request,
                    status,
                    reason,
                } => warnings.push(warning(&peer, &request, status, &reason)),
                SessionEvent::Flushed | SessionEvent::Closed => {}
            }
        }
        let Some(request) = session.poll_request() else {
            return Err(Error::BadMessage {
                device: peer,
                detail: "session stalled before RECORD".into(),
            });
        };
        let response = handshake_request(conn, &request, &mut answered_any, &peer).await?;
        session
            .handle_response(&response)
            .map_err(|e| session_error(&peer, e))?;
    }
}

/// Sends one handshake request and waits for its answer. A receiver that refuses a second
/// sender may close right after accepting, before answering anything: that is busy.
pub(super) async fn handshake_request(
    conn: &mut Connection,
    request: &Request,
    answered_any: &mut bool,
    peer: &str,
) -> Result<Response> {
    match conn.request(request).await {
        Ok(response) => {
            *answered_any = true;
            Ok(response)
        }
        Err(Error::ConnectionLost(_)) if !*answered_any => Err(Error::DeviceBusy {
            device: peer.to_string(),
        }),
        Err(e) => Err(e),
    }
}

/// The warning for a refused non-fatal request, logged once here.
pub(super) fn warning(peer: &str, request: &str, status: u16, reason: &str) -> String {
    let text = format!("{peer} refused {request}: {status} {reason}");
    tracing::warn!("{text}");
    text
}

/// Maps a session failure to the public error, naming the receiver.
pub(super) fn session_error(peer: &str, e: SessionError) -> Error {
    match e {
        SessionError::PasswordRequired => Error::PasswordRequired {
            device: peer.to_string(),
        },
        SessionError::BadPassword => Error::BadPassword {
            device: peer.to_string(),
        },
        SessionError::Busy => Error::DeviceBusy {
            device: peer.to_string(),
        },
        SessionError::Forbidden => Error::PairingRequired {
            device: peer.to_string(),
            command: format!("airstream pair --address {peer}"),
        },
        SessionError::Status {
            method,
            status,
            reason,
        } => Error::Protocol {
            device: peer.to_string(),
            request: method,
            status,
            reason,
        },
        other => Error::BadMessage {
            device: peer.to_string(),
            detail: other.to_string(),
        },
    }
}
