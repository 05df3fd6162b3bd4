//! AirPlay 2 with NTP timing (`TimingProtocol::Ntp`), as HomePods and Apple TVs take it, against a
//! fake receiver on loopback written from airplay2.md §4–§6 (no real peer does it: the only
//! AirPlay 2 receiver we can run, shairport-sync 4.3.7, takes PTP only). The fake checks
//! what such a device relies on: the session SETUP says `timingProtocol: NTP` with our
//! timing port; its NTP timing requests, sent from the port it named, are answered; sync
//! packets (not PTP anchors) arrive on its control port; audio is type 96 sealed under the
//! stream key. Uncompressed ALAC (escape frames) lets it read the samples back and compare
//! them with the source, sample for sample.

// Test helpers may unwrap: a panic is a test failure with a message.
#![allow(clippy::unwrap_used)]

use airstream::raop::{self, Codec, Protocol, StreamOptions, TimingProtocol};
use airstream_audio::Source;
use airstream_proto::ap2::AudioCipher;
use airstream_proto::bplist;
use airstream_proto::ntp::NtpTime;
use airstream_proto::rtp::{SyncPacket, TimingPacket};
use airstream_proto::rtsp::{self, Response, Version};
use airstream_testkit::compare::align_and_compare;
use airstream_testkit::signal::{music, wav_bytes};
use bytes::BytesMut;
use plist::Value;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, UdpSocket};

const BPLIST: &str = "application/x-apple-binary-plist";

/// What the fake receiver saw.
#[derive(Default)]
struct Seen {
    timing_protocol: Option<String>,
    /// `timingPort` of the session SETUP, and the port our timing replies came from.
    sender_timing_port: Option<u64>,
    timing_replies: Vec<(SocketAddr, TimingPacket)>,
    syncs: Vec<SyncPacket>,
    /// Control datagrams that were neither sync packets nor retransmissions (anchors).
    other_control: usize,
    /// Opened audio by RTP sequence number.
    audio: BTreeMap<u16, Vec<u8>>,
    unopened: usize,
}

async fn fake_receiver(seen: Arc<Mutex<Seen>>) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let (mut stream, _) = listener.accept().await.unwrap();
        let data = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let control = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let timing = Arc::new(UdpSocket::bind("127.0.0.1:0").await.unwrap());
        let mut cipher: Option<AudioCipher> = None;
        let mut buf = BytesMut::new();
        let mut chunk = [0u8; 4096];
        let mut datagram = [0u8; 2048];
        let mut control_datagram = [0u8; 2048];
        let mut timing_datagram = [0u8; 256];
        loop {
            tokio::select! {
                read = stream.read(&mut chunk) => {
                    let Ok(n) = read else { return };
                    if n == 0 {
                        return;
                    }
                    buf.extend_from_slice(&chunk[..n]);
                    while let Ok(Some(request)) = rtsp::parse_request(&mut buf) {
                        let cseq = request.headers.get("CSeq").unwrap_or("0").to_string();
                        let mut reply =
                            Response::new(Version::Rtsp10, 200, "OK").with_header("CSeq", cseq);
                        if request.method == "SETUP" {
                            let body = bplist::decode_dict(&request.body).unwrap();
                            if let Some(Value::Array(streams)) = body.get("streams") {
                                let stream = streams[0].as_dictionary().unwrap();
                                let shk: [u8; 32] =
                                    stream["shk"].as_data().unwrap().try_into().unwrap();
                                cipher = Some(AudioCipher::new(&shk));
                                let reply_stream = Value::Dictionary(
                                    [
                                        ("dataPort", port_of(&data)),
                                        ("controlPort", port_of(&control)),
                                        ("type", Value::from(96u64)),
                                    ]
                                    .into_iter()
                                    .map(|(k, v)| (k.to_string(), v))
                                    .collect(),
                                );
                                reply = reply.with_body(
                                    BPLIST,
                                    bplist::encode_dict([("streams", Value::Array(vec![reply_stream]))]),
                                );
                            } else {
                                let sender_port = body
                                    .get("timingPort")
                                    .and_then(Value::as_unsigned_integer);
                                {
                                    let mut seen = seen.lock().unwrap();
                                    seen.timing_protocol = body
                                        .get("timingProtocol")
                                        .and_then(Value::as_string)
                                        .map(String::from);
                                    seen.sender_timing_port = sender_port;
                                }
                                reply = reply.with_body(
                                    BPLIST,
                                    bplist::encode_dict([
                                        ("eventPort", Value::from(7_003u64)),
                                        ("timingPort", port_of(&timing)),
                                    ]),
                                );
                                // As a HomePod: ask the sender's clock once a second.
                                if let Some(port) = sender_port {
                                    let timing = Arc::clone(&timing);
                                    let to = SocketAddr::from(([127, 0, 0, 1], u16::try_from(port).unwrap()));
                                    tokio::spawn(async move {
                                        for i in 0..30u32 {
                                            let request = TimingPacket {
                                                reply: false,
                                                reference: NtpTime(0),
                                                received: NtpTime(0),
                                                sent: NtpTime::from_parts(1_000 + i, 0),
                                            };
                                            let _ = timing.send_to(&request.encode(), to).await;
                                            tokio::time::sleep(Duration::from_secs(1)).await;
                                        }
                                    });
                                }
                            }
                        }
                        let end = request.method == "TEARDOWN";
                        stream.write_all(&reply.to_bytes()).await.unwrap();
                        if end {
                            return;
                        }
                    }
                }
                received = timing.recv_from(&mut timing_datagram) => {
                    let (n, from) = received.unwrap();
                    let reply = TimingPacket::parse(&timing_datagram[..n]).unwrap();
                    seen.lock().unwrap().timing_replies.push((from, reply));
                }
                received = control.recv_from(&mut control_datagram) => {
                    let (n, _) = received.unwrap();
                    let mut seen = seen.lock().unwrap();
                    if let Ok(sync) = SyncPacket::parse(&control_datagram[..n]) {
                        seen.syncs.push(sync);
                    } else if let Some(opened) = control_datagram.get(4..n)
                        .and_then(|d| cipher.as_ref()?.open(d).ok())
                    {
                        seen.audio.insert(opened.header.seq, opened.payload);
                    } else {
                        seen.other_control += 1;
                    }
                }
                received = data.recv_from(&mut datagram) => {
                    let (n, _) = received.unwrap();
                    let mut seen = seen.lock().unwrap();
                    match cipher.as_ref().map(|c| c.open(&datagram[..n])) {
                        Some(Ok(opened)) => {
                            seen.audio.insert(opened.header.seq, opened.payload);
                        }
                        _ => seen.unopened += 1,
                    }
                }
            }
        }
    });
    address
}

fn port_of(socket: &UdpSocket) -> Value {
    Value::from(u64::from(socket.local_addr().unwrap().port()))
}

#[test]
fn an_ntp_timed_airplay2_receiver_is_answered_synced_and_gets_every_sample() {
    let source = music(44_100 * 3, 44_100);
    let dir = tempfile::tempdir().unwrap();
    let wav = dir.path().join("source.wav");
    std::fs::write(&wav, wav_bytes(&source, 44_100)).unwrap();
    let seen = Arc::new(Mutex::new(Seen::default()));
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let report = runtime.block_on(async {
        let address = fake_receiver(Arc::clone(&seen)).await;
        let receiver = raop::Receiver {
            protocol: Protocol::AirPlay2,
            ap2_timing: TimingProtocol::Ntp,
            ..raop::Receiver::new(address)
        };
        let options = StreamOptions {
            codec: Codec::AlacRaw,
            latency: Duration::from_millis(500),
            ..StreamOptions::default()
        };
        raop::stream_source(receiver, Source::path(wav), options)
            .await
            .unwrap()
    });
    let seen = seen.lock().unwrap();
    eprintln!(
        "NTP-timed AirPlay 2: {} timing replies, {} syncs, {} audio packets; report {report:?}",
        seen.timing_replies.len(),
        seen.syncs.len(),
        seen.audio.len()
    );
    assert_eq!(seen.timing_protocol.as_deref(), Some("NTP"));
    let sender_timing_port = seen.sender_timing_port.expect("timingPort in the SETUP");
    // Every request asked while the stream ran was answered, from the port the SETUP named,
    // echoing the request's send time.
    // (The reply to a request asked just before TEARDOWN may still be in flight.)
    assert!(
        seen.timing_replies.len() >= 2,
        "{}",
        seen.timing_replies.len()
    );
    assert!(seen.timing_replies.len() as u64 <= report.stats.timing_replies);
    for (i, (from, reply)) in seen.timing_replies.iter().enumerate() {
        assert_eq!(u64::from(from.port()), sender_timing_port);
        assert!(reply.reply);
        assert_eq!(reply.reference, NtpTime::from_parts(1_000 + i as u32, 0));
    }
    // NTP sync packets, never PTP anchors; nothing it could not open.
    assert!(!seen.syncs.is_empty());
    assert!(seen.syncs[0].first);
    assert_eq!(seen.other_control, 0);
    assert_eq!(seen.unopened, 0);
    // The samples, read back from the escape frames in sequence order.
    let mut pcm = Vec::new();
    let first = *seen.audio.keys().next().unwrap();
    let mut seqs: Vec<u16> = seen.audio.keys().copied().collect();
    seqs.sort_by_key(|s| s.wrapping_sub(first));
    for seq in seqs {
        airstream_proto::alac::read_escape_frame(&seen.audio[&seq], 352, &mut pcm).unwrap();
    }
    let cmp = align_and_compare(&source, &pcm).expect("audio");
    assert!(cmp.is_bit_exact(), "{cmp:?}");
    assert_eq!(cmp.frames_compared, source.len() / 2);
}
