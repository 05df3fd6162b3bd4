//! The sender against receivers that misbehave on purpose (issue 17's sender-side defects):
//! nothing they send may crash the sender, make it allocate without bound, make it send to
//! anyone but the receiver, or be taken as something it is not.

// Test helpers may unwrap: a panic is a test failure with a message.
#![allow(clippy::unwrap_used)]

use airstream::ErrorKind;
use airstream::raop::{self, Codec, StreamOptions};
use airstream_audio::{PcmFormat, VecSource};
use airstream_proto::rtp::{RetransmitRequest, TimingPacket};
use airstream_proto::rtsp::{Response, Version, header_param, parse_request};
use bytes::BytesMut;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, UdpSocket};

/// How the fake receiver misbehaves.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Misbehaviour {
    /// None: a well-behaved receiver (the baseline of the reflection test).
    None,
    /// After RECORD, sends response after response nobody asked for.
    Unsolicited,
    /// Answers OPTIONS with a status line only, then closes.
    CutReply,
    /// Answers SETUP with server_port=0.
    PortZero,
    /// Asks for 4294967295 frames of latency in RECORD.
    HugeLatency,
    /// Answers the first SET_PARAMETER with a 15 MiB body, sent slowly (a peer making the
    /// sender buffer what it announces).
    HugeReply,
}

/// What the fake receiver learned and saw.
struct Fake {
    address: SocketAddr,
    /// The sender's control port (from SETUP), once known.
    sender_control: Arc<tokio::sync::OnceCell<SocketAddr>>,
    control: Arc<UdpSocket>,
    audio_packets: Arc<AtomicU64>,
    /// Sequence number of the last audio packet.
    last_seq: Arc<AtomicU64>,
}

async fn fake(misbehaviour: Misbehaviour) -> Fake {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let audio = Arc::new(UdpSocket::bind("127.0.0.1:0").await.unwrap());
    let control = Arc::new(UdpSocket::bind("127.0.0.1:0").await.unwrap());
    let timing = Arc::new(UdpSocket::bind("127.0.0.1:0").await.unwrap());
    let sender_control = Arc::new(tokio::sync::OnceCell::new());
    let audio_packets = Arc::new(AtomicU64::new(0));
    let last_seq = Arc::new(AtomicU64::new(0));
    let counter = Arc::clone(&audio_packets);
    let seq = Arc::clone(&last_seq);
    let audio_rx = Arc::clone(&audio);
    tokio::spawn(async move {
        let mut buf = [0u8; 2048];
        while let Ok(n) = audio_rx.recv(&mut buf).await {
            if n >= 4 {
                seq.store(
                    u64::from(u16::from_be_bytes([buf[2], buf[3]])),
                    Ordering::Relaxed,
                );
            }
            counter.fetch_add(1, Ordering::Relaxed);
        }
    });
    let ports = (
        audio.local_addr().unwrap().port(),
        control.local_addr().unwrap().port(),
        timing.local_addr().unwrap().port(),
    );
    let learned = Arc::clone(&sender_control);
    tokio::spawn(async move {
        let (mut conn, peer) = listener.accept().await.unwrap();
        let mut buf = BytesMut::new();
        loop {
            let request = loop {
                if let Some(request) = parse_request(&mut buf).unwrap() {
                    break request;
                }
                if conn.read_buf(&mut buf).await.unwrap_or(0) == 0 {
                    return;
                }
            };
            let cseq = request.headers.get("CSeq").unwrap_or("0").to_string();
            if misbehaviour == Misbehaviour::CutReply {
                let _ = conn.write_all(b"RTSP/1.0 200 OK\r\n").await;
                return;
            }
            let mut response =
                Response::new(Version::Rtsp10, 200, "OK").with_header("CSeq", cseq.clone());
            match request.method.as_str() {
                "SETUP" => {
                    let transport = request.headers.get("Transport").unwrap_or_default();
                    let port: u16 = header_param(transport, "control_port")
                        .unwrap()
                        .parse()
                        .unwrap();
                    let timing_port: u16 = header_param(transport, "timing_port")
                        .unwrap()
                        .parse()
                        .unwrap();
                    learned.set(SocketAddr::new(peer.ip(), port)).unwrap();
                    let server_port = if misbehaviour == Misbehaviour::PortZero {
                        0
                    } else {
                        ports.0
                    };
                    response = response
                        .with_header(
                            "Transport",
                            format!(
                                "RTP/AVP/UDP;unicast;mode=record;server_port={server_port};control_port={};timing_port={}",
                                ports.1, ports.2
                            ),
                        )
                        .with_header("Session", "1");
                    // A timing request, so the sender has our clock and starts at once.
                    let request = TimingPacket {
                        reply: false,
                        reference: airstream_proto::ntp::NtpTime(0),
                        received: airstream_proto::ntp::NtpTime(0),
                        sent: airstream_proto::ntp::NtpTime(1),
                    }
                    .encode();
                    let timing = Arc::clone(&timing);
                    tokio::spawn(async move {
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        let _ = timing
                            .send_to(&request, SocketAddr::new(peer.ip(), timing_port))
                            .await;
                    });
                }
                "RECORD" if misbehaviour == Misbehaviour::HugeLatency => {
                    response = response.with_header("Audio-Latency", "4294967295");
                }
                _ => {}
            }
            if request.method == "SET_PARAMETER" && misbehaviour == Misbehaviour::HugeReply {
                let head = format!(
                    "RTSP/1.0 200 OK\r\nCSeq: {cseq}\r\nContent-Length: {}\r\n\r\n",
                    15 << 20
                );
                let _ = conn.write_all(head.as_bytes()).await;
                // A trickle that never completes the body; the sender must not wait for it.
                for _ in 0..600 {
                    if conn.write_all(&[0u8; 1024]).await.is_err() {
                        return;
                    }
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                return;
            }
            if conn.write_all(&response.to_bytes()).await.is_err() {
                return;
            }
            if request.method == "RECORD" && misbehaviour == Misbehaviour::Unsolicited {
                // 64 MiB of answers to nothing, as fast as the sender reads.
                let stray = Response::new(Version::Rtsp10, 200, "OK")
                    .with_header("CSeq", "4242")
                    .to_bytes();
                for _ in 0..(64 << 20) / stray.len() {
                    if conn.write_all(&stray).await.is_err() {
                        return;
                    }
                }
                return;
            }
        }
    });
    Fake {
        address,
        sender_control,
        control,
        audio_packets,
        last_seq,
    }
}

fn options() -> StreamOptions {
    StreamOptions {
        codec: Codec::AlacRaw,
        latency: Duration::from_secs(2),
        timing_wait: Duration::from_millis(500),
        ..StreamOptions::default()
    }
}

fn seconds_of_silence(seconds: usize) -> Box<VecSource> {
    Box::new(VecSource::new(
        PcmFormat::RAOP,
        vec![1; 44_100 * 2 * seconds],
    ))
}

#[tokio::test]
async fn retransmit_requests_from_a_stranger_get_nothing_and_the_receivers_own_are_capped() {
    let fake = fake(Misbehaviour::None).await;
    let (handle, task) = raop::start(fake.address, seconds_of_silence(6), options())
        .await
        .unwrap();
    let sender_control = *fake.sender_control.get().unwrap();
    // Wait until 600 packets went out, so the history holds more than one latency.
    while fake.audio_packets.load(Ordering::Relaxed) < 600 {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let everything = RetransmitRequest {
        first_seq: fake.last_seq.load(Ordering::Relaxed) as u16,
        count: 1024,
    };
    // A third party asks, 100 times, for 1024 packets each.
    let stranger = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    for i in 0..100u16 {
        stranger
            .send_to(&everything.encode(i), sender_control)
            .await
            .unwrap();
    }
    // The receiver itself asks twice at once for the last 550 packets (all still held).
    let mut own_replies = 0u64;
    let own_count = {
        let control = Arc::clone(&fake.control);
        tokio::spawn(async move {
            let mut buf = [0u8; 2048];
            let mut count = 0u64;
            while let Ok(Ok(_)) =
                tokio::time::timeout(Duration::from_millis(500), control.recv(&mut buf)).await
            {
                if buf[1] == 0xD6 {
                    count += 1;
                }
            }
            count
        })
    };
    let last = fake.last_seq.load(Ordering::Relaxed) as u16;
    let recent = RetransmitRequest {
        first_seq: last.wrapping_sub(549),
        count: 550,
    };
    for i in 0..2 {
        fake.control
            .send_to(&recent.encode(i), sender_control)
            .await
            .unwrap();
    }
    own_replies += own_count.await.unwrap();
    handle.stop();
    let report = task.await.unwrap();
    // Nothing reached the stranger.
    let mut buf = [0u8; 2048];
    let reached =
        tokio::time::timeout(Duration::from_millis(200), stranger.recv_from(&mut buf)).await;
    assert!(reached.is_err(), "the stranger got a datagram");
    let stats = report.receivers[0].stats;
    assert_eq!(stats.foreign_datagrams, 100, "{stats:?}");
    // One latency (2 s = 250 packets) for the two requests asked at once: all a receiver
    // can still use.
    // (Counted where they leave: a burst of 250 can overflow a loopback socket buffer.)
    assert!((240..=251).contains(&stats.retransmitted), "{stats:?}");
    assert!(
        own_replies <= stats.retransmitted,
        "{own_replies}: {stats:?}"
    );
    assert!(stats.retransmit_refused >= 2 * 550 - 251, "{stats:?}");
    eprintln!(
        "reflection: stranger sent 100 requests (800 bytes), got 0 bytes; receiver asked 1100 packets at once, {} were resent",
        stats.retransmitted
    );
}

#[tokio::test]
async fn unsolicited_rtsp_bytes_end_the_stream_as_a_protocol_error() {
    let fake = fake(Misbehaviour::Unsolicited).await;
    let (_handle, task) = raop::start(fake.address, seconds_of_silence(30), options())
        .await
        .unwrap();
    let error = task.await.unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Protocol, "{error}");
    assert!(
        error.to_string().contains("no request outstanding"),
        "{error}"
    );
}

#[tokio::test]
async fn a_reply_cut_after_its_status_line_is_a_protocol_error_not_busy() {
    let fake = fake(Misbehaviour::CutReply).await;
    let error = raop::start(fake.address, seconds_of_silence(1), options())
        .await
        .err()
        .unwrap();
    assert_eq!(error.kind(), ErrorKind::Protocol, "{error}");
}

#[tokio::test]
async fn port_zero_in_a_setup_reply_is_refused_at_setup() {
    let fake = fake(Misbehaviour::PortZero).await;
    let error = raop::start(fake.address, seconds_of_silence(1), options())
        .await
        .err()
        .unwrap();
    assert_eq!(error.kind(), ErrorKind::Protocol, "{error}");
    assert!(error.to_string().contains("port 0"), "{error}");
}

#[tokio::test]
async fn a_receiver_asking_for_27_hours_of_latency_gets_ten_seconds() {
    let fake = fake(Misbehaviour::HugeLatency).await;
    let (handle, task) = raop::start(fake.address, seconds_of_silence(1), options())
        .await
        .unwrap();
    assert_eq!(handle.latency(), Duration::from_secs(10));
    handle.stop();
    let report = task.await.unwrap();
    assert_eq!(report.latency, Duration::from_secs(10));
    assert!(
        report.warnings.iter().any(|w| w.contains("latency")),
        "{:?}",
        report.warnings
    );
}

/// A reply while streaming that announces 15 MiB (under the 16 MiB any RTSP message may
/// have) is refused at its headers: nothing of it is buffered, and the stream ends at once
/// with a protocol error instead of waiting on a body the receiver trickles.
#[tokio::test]
async fn a_reply_announcing_megabytes_while_streaming_is_refused_at_its_headers() {
    let fake = fake(Misbehaviour::HugeReply).await;
    let (handle, task) = raop::start(fake.address, seconds_of_silence(30), options())
        .await
        .unwrap();
    handle.set_volume(50);
    let error = task.await.unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Protocol, "{error}");
    assert!(
        error.to_string().contains(&format!("{} bytes", 15 << 20)),
        "{error}"
    );
}
