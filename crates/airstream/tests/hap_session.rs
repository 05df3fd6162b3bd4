//! The AirPlay 2 session shell against a HAP device on loopback (the device side of
//! `airstream_proto::hap`): transient and PIN pairing, pair-verify, RTSP through the
//! encrypted channel, and a device that breaks the channel.

#![allow(clippy::unwrap_used)]

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use airstream::airplay::AirPlayDevice;
use airstream::{Error, ErrorKind, hap};
use airstream_proto::hap::{
    DeviceIdentity, DeviceStep, FrameDecoder, FrameEncoder, PairSetupServer, PairVerifyServer,
    PairedController,
};
use airstream_proto::rtsp::{self, Request, Response, Version};
use bytes::BytesMut;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

const PIN: &str = "3939";

/// How the fake device misbehaves once the channel is encrypted.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Fault {
    None,
    /// Flips one ciphertext byte of its reply (bad tag).
    BadTag,
    /// Announces a 65535-byte frame.
    Oversize,
    /// Sends its reply frame twice (the second has a stale counter).
    Replay,
}

#[derive(Clone)]
struct Device {
    identity: DeviceIdentity,
    controllers: Arc<Mutex<Vec<PairedController>>>,
    fault: Fault,
    /// Plaintext requests that arrived over the encrypted channel.
    seen: Arc<Mutex<Vec<String>>>,
}

impl Device {
    async fn start(fault: Fault) -> (Self, SocketAddr) {
        let device = Device {
            identity: DeviceIdentity::new(b"0A:1B:2C:3D:4E:5F".to_vec(), [0x5E; 32]),
            controllers: Arc::default(),
            fault,
            seen: Arc::default(),
        };
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let accepting = device.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                tokio::spawn(accepting.clone().serve(stream));
            }
        });
        (device, addr)
    }

    async fn serve(self, mut stream: TcpStream) {
        let mut setup = PairSetupServer::new(&self.identity, PIN, [7; 16], [8; 32]).unwrap();
        let controllers = self.controllers.lock().unwrap().clone();
        let mut verify = PairVerifyServer::new(&self.identity, [9; 32], controllers);
        let mut cipher: Option<(FrameEncoder, FrameDecoder)> = None;
        let mut plain = BytesMut::new();
        let mut chunk = [0u8; 4096];
        loop {
            let request = loop {
                if let Ok(Some(request)) = rtsp::parse_request(&mut plain) {
                    break request;
                }
                let Ok(n) = stream.read(&mut chunk).await else {
                    return;
                };
                if n == 0 {
                    return;
                }
                match &mut cipher {
                    Some((_, decoder)) => match decoder.decode(&chunk[..n]) {
                        Ok(bytes) => plain.extend_from_slice(&bytes),
                        Err(_) => return,
                    },
                    None => plain.extend_from_slice(&chunk[..n]),
                }
            };
            let cseq = request.headers.get("CSeq").unwrap_or("0").to_string();
            let (status, body, step) = match request.uri.as_str() {
                "/pair-setup" => match setup.handle_request(&request.body) {
                    Ok((body, step)) => (200, body, step),
                    Err(_) => (400, Vec::new(), DeviceStep::Continue),
                },
                "/pair-verify" => match verify.handle_request(&request.body) {
                    Ok((body, step)) => (200, body, step),
                    Err(_) => (400, Vec::new(), DeviceStep::Continue),
                },
                _ if cipher.is_some() => {
                    self.seen.lock().unwrap().push(format!(
                        "{} {}",
                        request.method,
                        String::from_utf8_lossy(&request.body).trim()
                    ));
                    (
                        200,
                        b"volume: -15.000000\r\n".to_vec(),
                        DeviceStep::Continue,
                    )
                }
                _ => (470, Vec::new(), DeviceStep::Continue),
            };
            let mut reply = Response::new(Version::Rtsp10, status, "OK").with_header("CSeq", cseq);
            if !body.is_empty() {
                reply = reply.with_body("application/octet-stream", body);
            }
            let bytes = reply.to_bytes();
            let wire = match &mut cipher {
                Some((encoder, _)) => {
                    let mut wire = encoder.encode(&bytes).unwrap();
                    match self.fault {
                        Fault::None => {}
                        Fault::BadTag => wire[5] ^= 1,
                        Fault::Oversize => wire = vec![0xFF, 0xFF, 0, 0, 0, 0],
                        Fault::Replay => wire.extend(wire.clone()),
                    }
                    wire
                }
                None => bytes.to_vec(),
            };
            if stream.write_all(&wire).await.is_err() {
                return;
            }
            match step {
                DeviceStep::Encrypted(keys) => cipher = Some(keys.into_codec()),
                DeviceStep::Paired(controller) => self.controllers.lock().unwrap().push(controller),
                DeviceStep::Continue | DeviceStep::Refused(_) => {}
            }
        }
    }
}

fn volume_request(addr: SocketAddr) -> Request {
    Request::new(
        "GET_PARAMETER",
        &format!("rtsp://{}/1", addr.ip()),
        Version::Rtsp10,
    )
    .with_body("text/parameters", "volume\r\n")
}

#[tokio::test]
async fn transient_session_runs_rtsp_encrypted() {
    let (device, addr) = Device::start(Fault::None).await;
    let mut conn = hap::transient_session(&AirPlayDevice::new(addr))
        .await
        .unwrap();
    assert!(conn.is_encrypted());
    for _ in 0..3 {
        let reply = conn.request(volume_request(addr)).await.unwrap();
        assert_eq!(reply.status, 200);
        assert_eq!(&reply.body[..], b"volume: -15.000000\r\n");
    }
    // A request bigger than one frame.
    let big = Request::new("SET_PARAMETER", "rtsp://x/1", Version::Rtsp10)
        .with_body("text/parameters", vec![b'a'; 5000]);
    assert_eq!(conn.request(big).await.unwrap().status, 200);
    let seen = device.seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 4, "{seen:?}");
    assert_eq!(seen[0], "GET_PARAMETER volume");
}

#[tokio::test]
async fn pin_pairing_then_verify_opens_an_encrypted_session() {
    let (device, addr) = Device::start(Fault::None).await;
    let target = AirPlayDevice::new(addr);
    let credentials = hap::pair(&target, || async { Ok(PIN.to_string()) })
        .await
        .unwrap();
    assert_eq!(credentials.device_id(), b"0A:1B:2C:3D:4E:5F");
    assert_eq!(
        credentials.device_public_key(),
        &device.identity.public_key()
    );
    let mut conn = hap::verified_session(&target, &credentials).await.unwrap();
    let reply = conn.request(volume_request(addr)).await.unwrap();
    assert_eq!(reply.status, 200);
    assert_eq!(
        device.seen.lock().unwrap().as_slice(),
        ["GET_PARAMETER volume"]
    );
}

#[tokio::test]
async fn wrong_pin_is_bad_pin() {
    let (device, addr) = Device::start(Fault::None).await;
    let err = hap::pair(&AirPlayDevice::new(addr), || async {
        Ok("1111".to_string())
    })
    .await
    .unwrap_err();
    assert!(matches!(err, Error::BadPin), "{err}");
    assert_eq!(err.kind(), ErrorKind::BadPin);
    assert!(device.controllers.lock().unwrap().is_empty());
}

#[tokio::test]
async fn forgotten_credentials_are_rejected() {
    let (device, addr) = Device::start(Fault::None).await;
    let target = AirPlayDevice::new(addr);
    let credentials = hap::pair(&target, || async { Ok(PIN.to_string()) })
        .await
        .unwrap();
    device.controllers.lock().unwrap().clear();
    let err = hap::verified_session(&target, &credentials)
        .await
        .err()
        .unwrap();
    assert_eq!(err.kind(), ErrorKind::PairingRequired, "{err}");
    let text = err.to_string();
    // The library says what happened; what to run is the CLI's advice, carried aside.
    assert!(text.contains("rejected the stored credentials"), "{text}");
    assert!(!text.contains("airstream pair"), "{text}");
    let Error::CredentialsRejected { command, .. } = &err else {
        panic!("not a rejection: {err:?}");
    };
    assert!(command.starts_with("airstream pair"), "{command}");
    assert!(
        !text.contains(&credentials.to_secret_string()[..64]),
        "{text}"
    );
}

async fn broken_channel(fault: Fault) -> (Error, Error) {
    let (_device, addr) = Device::start(fault).await;
    let mut conn = hap::transient_session(&AirPlayDevice::new(addr))
        .await
        .unwrap();
    let first = conn.request(volume_request(addr)).await;
    let first = match first {
        Err(e) => e,
        // The replayed copy may arrive after the first reply was complete; then the next
        // read meets it.
        Ok(reply) if fault == Fault::Replay => {
            assert_eq!(reply.status, 200);
            conn.request(volume_request(addr)).await.unwrap_err()
        }
        Ok(reply) => panic!("a broken channel answered {}", reply.status),
    };
    let after = conn.request(volume_request(addr)).await.unwrap_err();
    (first, after)
}

#[tokio::test]
async fn a_bad_tag_closes_the_channel_with_a_protocol_error() {
    let (err, after) = broken_channel(Fault::BadTag).await;
    assert_eq!(err.kind(), ErrorKind::Protocol, "{err}");
    assert!(err.to_string().contains("bad tag"), "{err}");
    assert_eq!(after.kind(), ErrorKind::Network, "{after}");
}

#[tokio::test]
async fn an_oversize_frame_closes_the_channel_with_a_protocol_error() {
    let (err, _) = broken_channel(Fault::Oversize).await;
    assert_eq!(err.kind(), ErrorKind::Protocol, "{err}");
    assert!(err.to_string().contains("65535"), "{err}");
}

#[tokio::test]
async fn a_replayed_frame_is_a_counter_mismatch() {
    let (err, _) = broken_channel(Fault::Replay).await;
    assert_eq!(err.kind(), ErrorKind::Protocol, "{err}");
    assert!(err.to_string().contains("counter"), "{err}");
}
