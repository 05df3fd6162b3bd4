//! A member's I/O task: it owns the RTSP connection, reads the member's control and timing
//! sockets, and forwards what arrived to the driver; it writes the requests the driver hands
//! it, through the HAP frame codec where pairing encrypted the channel. No protocol logic
//! here: the engine decides what everything means.

use super::clock;
use crate::connection::ChannelCipher;
use airstream_proto::rtsp::parse_response_within;
use airstream_proto::stream::{MemberId, Port, RtspInput};
use bytes::{Bytes, BytesMut};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};
use tokio::sync::mpsc;

/// Largest datagram a receiver sends us (timing 32 bytes, retransmit requests 8).
const DATAGRAM_BUFFER: usize = 2048;

/// What a member's I/O task delivers to the driver.
#[derive(Debug)]
pub(super) enum Input {
    Datagram {
        member: MemberId,
        port: Port,
        from: SocketAddr,
        datagram: Bytes,
        received: Instant,
    },
    Rtsp {
        member: MemberId,
        input: RtspInput,
    },
    /// A receiver joining the running stream finished its handshake.
    Joined(Box<super::membership::JoinResult>),
}

/// The sockets of one member, as the task needs them.
pub(super) struct MemberSockets {
    pub(super) member: MemberId,
    pub(super) rtsp: TcpStream,
    /// Bytes the handshake read past its last response (plaintext).
    pub(super) leftover: BytesMut,
    /// The encrypted channel's codec (AirPlay 2 after pairing); `None` in the clear.
    pub(super) cipher: Option<Box<ChannelCipher>>,
    pub(super) control: Arc<UdpSocket>,
    pub(super) timing: Arc<UdpSocket>,
}

/// Runs until the driver drops its ends (or the connection fails, which it reports).
pub(super) async fn run(
    sockets: MemberSockets,
    mut requests: mpsc::UnboundedReceiver<Bytes>,
    inputs: mpsc::Sender<Input>,
) {
    let MemberSockets {
        member,
        rtsp,
        leftover,
        mut cipher,
        control,
        timing,
    } = sockets;
    let (mut reader, mut writer) = rtsp.into_split();
    let mut read_buf = leftover;
    // What came off the socket before decryption (only used on an encrypted channel).
    let mut wire_buf = BytesMut::new();
    let mut control_buf = vec![0u8; DATAGRAM_BUFFER];
    let mut timing_buf = vec![0u8; DATAGRAM_BUFFER];
    let rtsp = |input| Input::Rtsp { member, input };
    // Responses the handshake already read count as arrived now.
    if !forward_responses(&mut read_buf, member, &inputs).await {
        return;
    }
    loop {
        let input = tokio::select! {
            request = requests.recv() => {
                let Some(request) = request else { return };
                let wire = match cipher.as_deref_mut() {
                    Some((encoder, _)) => match encoder.encode(&request) {
                        Ok(wire) => Bytes::from(wire),
                        Err(e) => {
                            let input = rtsp(RtspInput::Broken(format!("cannot encrypt a request: {e}")));
                            let _ = inputs.send(input).await;
                            return;
                        }
                    },
                    None => request,
                };
                match writer.write_all(&wire).await {
                    Ok(()) => continue,
                    Err(e) => rtsp(RtspInput::Broken(format!("sending a request failed: {e}"))),
                }
            }
            read = reader.read_buf(if cipher.is_some() { &mut wire_buf } else { &mut read_buf }) => match read {
                Ok(0) => rtsp(RtspInput::Closed),
                Ok(_) => {
                    if let Some((_, decoder)) = cipher.as_deref_mut() {
                        match decoder.decode(&wire_buf) {
                            Ok(plain) => read_buf.extend_from_slice(&plain),
                            Err(e) => {
                                let input = rtsp(RtspInput::Broken(format!("{e}; connection closed")));
                                let _ = inputs.send(input).await;
                                return;
                            }
                        }
                        wire_buf.clear();
                    }
                    if forward_responses(&mut read_buf, member, &inputs).await {
                        continue;
                    }
                    return;
                }
                Err(e) => rtsp(RtspInput::Broken(format!("reading failed: {e}"))),
            },
            received = control.recv_from(&mut control_buf) => match received {
                Ok((n, from)) => datagram(member, Port::Control, from, &control_buf[..n]),
                // ICMP errors from earlier sends surface here; not fatal by themselves.
                Err(e) => {
                    tracing::debug!("control socket: {e}");
                    continue;
                }
            },
            received = timing.recv_from(&mut timing_buf) => match received {
                Ok((n, from)) => datagram(member, Port::Timing, from, &timing_buf[..n]),
                Err(e) => {
                    tracing::debug!("timing socket: {e}");
                    continue;
                }
            },
        };
        let last = matches!(input, Input::Rtsp { .. });
        if inputs.send(input).await.is_err() || last {
            return;
        }
    }
}

fn datagram(member: MemberId, port: Port, from: SocketAddr, bytes: &[u8]) -> Input {
    Input::Datagram {
        member,
        port,
        from,
        datagram: Bytes::copy_from_slice(bytes),
        received: clock::now(),
    }
}

/// Largest reply body taken while streaming. The requests of a running stream (volume,
/// metadata, keep-alive, FLUSH, TEARDOWN) are answered with a few bytes at most; a receiver
/// announcing more would only make us buffer it, per receiver.
const STREAMING_REPLY_BODY_LIMIT: usize = 64 * 1024;

/// Forwards every complete response in `buf`; `false` when the task should end (the bytes
/// are not RTSP, or the driver is gone). `parse_response_within` bounds what `buf` may hold.
async fn forward_responses(
    buf: &mut BytesMut,
    member: MemberId,
    inputs: &mpsc::Sender<Input>,
) -> bool {
    loop {
        let input = match parse_response_within(buf, STREAMING_REPLY_BODY_LIMIT) {
            Ok(Some(response)) => RtspInput::Response(response),
            Ok(None) => return true,
            Err(e) => RtspInput::Malformed(e),
        };
        let broken = matches!(input, RtspInput::Malformed(_));
        if inputs.send(Input::Rtsp { member, input }).await.is_err() || broken {
            return false;
        }
    }
}
