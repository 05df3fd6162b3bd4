//! The embedded receiver against hand-written hostile senders on loopback: absurd formats,
//! timestamps and sequence numbers that jump, packets from a third address, endless
//! parameters, requests and connections. Each must leave the receiver up, answering with
//! the documented status, and its memory bounded (peak RSS of this process, measured).

use airstream_proto::rtp::{AudioHeader, audio_packet};
use airstream_proto::rtsp::{self, Response, header_param};
use airstream_receiver::{Receiver, ReceiverConfig, SessionRecord};
use bytes::BytesMut;
use std::fmt::Write as _;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};

/// Frames in one RAOP packet, as every sender announces.
const FRAMES: usize = 352;
/// Packets a sender keeps for resending and a receiver buffers (raop.md §5.3).
const WINDOW_PACKETS: u64 = 1024;
const MIB: u64 = 1024 * 1024;

/// One test at a time: each measures this process's peak RSS.
static MEASURING: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Peak RSS of this process since the last [`reset_peak`], in bytes.
fn peak_rss() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    let kib: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmHWM");
    kib * 1024
}

fn current_rss() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    let kib: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS");
    kib * 1024
}

/// Sets the peak to the current RSS (Linux: `5` in clear_refs); returns that baseline.
fn reset_peak() -> u64 {
    std::fs::write("/proc/self/clear_refs", "5").expect("reset VmHWM");
    current_rss()
}

/// How far the attack raised the peak above the baseline, reported for the record.
fn growth_since(baseline: u64, what: &str) -> u64 {
    let grown = peak_rss().saturating_sub(baseline);
    eprintln!(
        "{what}: peak RSS grew by {:.1} MiB",
        grown as f64 / MIB as f64
    );
    grown
}

const L16_SDP: &str = "v=0\r\no=iTunes 1 0 IN IP4 127.0.0.1\r\ns=iTunes\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 0 RTP/AVP 96\r\na=rtpmap:96 L16/44100/2\r\n";

fn alac_sdp(fmtp: &str) -> String {
    format!(
        "v=0\r\no=iTunes 1 0 IN IP4 127.0.0.1\r\ns=iTunes\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 0 RTP/AVP 96\r\na=rtpmap:96 AppleLossless\r\na=fmtp:{fmtp}\r\n"
    )
}

async fn receiver() -> Receiver {
    Receiver::start(ReceiverConfig::default())
        .await
        .expect("receiver starts")
}

/// A sender written by hand: it says what it likes on RTSP and UDP.
struct HostileSender {
    tcp: TcpStream,
    buf: BytesMut,
    cseq: u32,
    audio: UdpSocket,
    control: UdpSocket,
    timing: UdpSocket,
    receiver_audio: Option<SocketAddr>,
}

impl HostileSender {
    async fn connect(receiver: SocketAddr) -> Self {
        let bind = || UdpSocket::bind((Ipv4Addr::LOCALHOST, 0));
        Self {
            tcp: TcpStream::connect(receiver).await.expect("connect"),
            buf: BytesMut::new(),
            cseq: 0,
            audio: bind().await.expect("udp"),
            control: bind().await.expect("udp"),
            timing: bind().await.expect("udp"),
            receiver_audio: None,
        }
    }

    async fn send(
        &mut self,
        method: &str,
        headers: &[(&str, String)],
        body: Option<(&str, &[u8])>,
    ) {
        self.cseq += 1;
        let mut head = format!(
            "{method} rtsp://127.0.0.1/1 RTSP/1.0\r\nCSeq: {}\r\n",
            self.cseq
        );
        for (name, value) in headers {
            let _ = write!(head, "{name}: {value}\r\n");
        }
        if let Some((content_type, body)) = body {
            let _ = write!(
                head,
                "Content-Type: {content_type}\r\nContent-Length: {}\r\n",
                body.len()
            );
        }
        head.push_str("\r\n");
        self.tcp.write_all(head.as_bytes()).await.expect("write");
        if let Some((_, body)) = body {
            self.tcp.write_all(body).await.expect("write body");
        }
    }

    /// The next reply, or `None` when the receiver closed the connection.
    async fn reply(&mut self) -> Option<Response> {
        loop {
            if let Some(response) = rtsp::parse_response(&mut self.buf).expect("a valid reply") {
                return Some(response);
            }
            let read =
                tokio::time::timeout(Duration::from_secs(20), self.tcp.read_buf(&mut self.buf))
                    .await
                    .expect("the receiver answers");
            if read.ok()? == 0 {
                return None;
            }
        }
    }

    async fn request(
        &mut self,
        method: &str,
        headers: &[(&str, String)],
        body: Option<(&str, &[u8])>,
    ) -> Response {
        self.send(method, headers, body).await;
        self.reply().await.expect("a reply")
    }

    async fn announce(&mut self, sdp: &str) -> u16 {
        self.request("ANNOUNCE", &[], Some(("application/sdp", sdp.as_bytes())))
            .await
            .status
    }

    /// SETUP and RECORD (anchored at seq 0, rtptime 0).
    async fn setup_and_record(&mut self) {
        let port = |s: &UdpSocket| s.local_addr().expect("addr").port();
        let transport = format!(
            "RTP/AVP/UDP;unicast;interleaved=0-1;mode=record;control_port={};timing_port={}",
            port(&self.control),
            port(&self.timing)
        );
        let setup = self
            .request("SETUP", &[("Transport", transport)], None)
            .await;
        assert_eq!(setup.status, 200);
        let server_port: u16 = setup
            .headers
            .get("Transport")
            .and_then(|t| header_param(t, "server_port"))
            .and_then(|p| p.parse().ok())
            .expect("server_port");
        self.receiver_audio = Some(SocketAddr::new(
            IpAddr::V4(Ipv4Addr::LOCALHOST),
            server_port,
        ));
        let record = self
            .request(
                "RECORD",
                &[("RTP-Info", "seq=0;rtptime=0".to_string())],
                None,
            )
            .await;
        assert_eq!(record.status, 200);
    }

    async fn start(receiver: SocketAddr) -> Self {
        let mut sender = Self::connect(receiver).await;
        assert_eq!(sender.announce(L16_SDP).await, 200);
        sender.setup_and_record().await;
        sender
    }

    fn audio_target(&self) -> SocketAddr {
        self.receiver_audio.expect("set up")
    }

    async fn send_audio(&self, seq: u16, timestamp: u32, value: i16) {
        let datagram = l16_packet(seq, timestamp, value);
        self.audio
            .send_to(&datagram, self.audio_target())
            .await
            .expect("send audio");
    }

    /// TEARDOWN; the receiver answers and the session ends.
    async fn teardown(&mut self) {
        let reply = self.request("TEARDOWN", &[], None).await;
        assert_eq!(reply.status, 200);
    }
}

fn l16_packet(seq: u16, timestamp: u32, value: i16) -> Vec<u8> {
    let payload: Vec<u8> = std::iter::repeat_n(value.to_be_bytes(), FRAMES * 2)
        .flatten()
        .collect();
    let header = AudioHeader {
        marker: false,
        seq,
        timestamp,
        ssrc: 1,
    };
    audio_packet(&header, &payload)
}

/// Waits for the session, bounded by the receiver's own processing, not a sleep.
async fn session(receiver: &mut Receiver) -> SessionRecord {
    receiver
        .next_session_within(Duration::from_secs(20))
        .await
        .expect("the session ends with a record")
}

#[tokio::test]
async fn absurd_alac_numbers_are_refused_at_announce() {
    let _one = MEASURING.lock().await;
    let mut rx = receiver().await;
    // Frames per packet, bit depth, channels, sample rate: each sizes a buffer.
    for fmtp in [
        "96 4294967295 0 16 40 10 14 2 255 0 0 44100",
        "96 352 0 255 40 10 14 2 255 0 0 44100",
        "96 352 0 16 40 10 14 255 255 0 0 44100",
        "96 352 0 16 40 10 14 2 255 0 0 0",
        "96 352 0 16 40 10 14 2 255 0 0 4294967295",
    ] {
        let mut sender = HostileSender::connect(rx.local_addr()).await;
        assert_eq!(sender.announce(&alac_sdp(fmtp)).await, 415, "{fmtp}");
    }
    // A good one still works afterwards.
    let mut sender = HostileSender::connect(rx.local_addr()).await;
    assert_eq!(
        sender
            .announce(&alac_sdp("96 352 0 16 40 10 14 2 255 0 0 44100"))
            .await,
        200
    );
    sender.setup_and_record().await;
    sender.teardown().await;
    let record = session(&mut rx).await;
    assert_eq!((record.sample_rate, record.channels), (44_100, 2));
}

#[tokio::test]
async fn l16_with_no_rate_or_channels_is_refused() {
    let _one = MEASURING.lock().await;
    let rx = receiver().await;
    for rtpmap in ["L16/0/0", "L16/44100/0", "L16/0/2", "L16/44100/3"] {
        let sdp = L16_SDP.replace("L16/44100/2", rtpmap);
        let mut sender = HostileSender::connect(rx.local_addr()).await;
        assert_eq!(sender.announce(&sdp).await, 415, "{rtpmap}");
    }
}

#[tokio::test]
async fn huge_alac_frame_length_does_not_reserve_memory() {
    let _one = MEASURING.lock().await;
    let mut rx = receiver().await;
    let baseline = reset_peak();
    let mut sender = HostileSender::connect(rx.local_addr()).await;
    let status = sender
        .announce(&alac_sdp("96 4294967295 0 16 40 10 14 2 255 0 0 44100"))
        .await;
    if status == 200 {
        // The receiver took it: show it what a packet of that length would cost.
        sender.setup_and_record().await;
        let escape_frame = [0x20u8, 0x00, 0x12, 0, 0, 0, 0];
        let header = AudioHeader {
            marker: false,
            seq: 0,
            timestamp: 0,
            ssrc: 1,
        };
        sender
            .audio
            .send_to(&audio_packet(&header, &escape_frame), sender.audio_target())
            .await
            .expect("send");
        sender.teardown().await;
        session(&mut rx).await;
    }
    assert_eq!(status, 415);
    assert!(growth_since(baseline, "ALAC frame length 2^32-1") < 32 * MIB);
}

#[tokio::test]
async fn timestamp_jumps_do_not_make_the_assembler_allocate() {
    let _one = MEASURING.lock().await;
    let mut rx = receiver().await;
    let baseline = reset_peak();
    let mut sender = HostileSender::start(rx.local_addr()).await;
    sender.send_audio(0, 0, 100).await;
    // The jumps the issue found: anchor + 2^31 - 1 (half the RTP clock ahead) and a
    // step back of the same size.
    sender.send_audio(1, i32::MAX as u32, 200).await;
    sender.send_audio(2, i32::MAX as u32 + 2, 300).await;
    sender.send_audio(3, 1 << 30, 400).await;
    sender.send_audio(4, FRAMES as u32, 500).await;
    sender.teardown().await;
    let record = session(&mut rx).await;
    let grown = growth_since(baseline, "RTP timestamp jumps of 2^31-1");
    // No packet lands outside the real-time window: the timeline is the two real packets.
    assert!(
        record.samples.len() <= 2 * FRAMES * 2,
        "{}",
        record.samples.len()
    );
    assert!(record.samples.iter().all(|s| [0, 100, 500].contains(s)));
    assert!(grown < 32 * MIB);
    // And the session's WAV (hound's sample count is 32-bit) is written whole.
    let dir = tempfile::tempdir().expect("tempdir");
    let wav = dir.path().join("out.wav");
    record.write_wav(&wav).expect("written");
    let written = hound::WavReader::open(&wav).expect("readable");
    assert_eq!(written.len() as usize, record.samples.len());
}

#[tokio::test]
async fn timestamps_stepping_ahead_cannot_outrun_the_clock() {
    let _one = MEASURING.lock().await;
    let mut rx = receiver().await;
    let baseline = reset_peak();
    let mut sender = HostileSender::start(rx.local_addr()).await;
    // Each packet 10 s of audio further on: 2000 packets would be 5.5 hours of timeline.
    for i in 0..2000u32 {
        sender
            .send_audio(i as u16, i.wrapping_mul(441_000), 7)
            .await;
    }
    sender.teardown().await;
    let record = session(&mut rx).await;
    let grown = growth_since(baseline, "2000 packets each 10 s ahead");
    // What a sender pacing in real time could fill: the window plus a generous minute.
    let bound = (WINDOW_PACKETS as usize * FRAMES + 60 * 44_100) * 2;
    assert!(record.samples.len() <= bound, "{}", record.samples.len());
    assert!(grown < 64 * MIB);
}

#[tokio::test]
async fn packets_from_another_address_are_ignored() {
    let _one = MEASURING.lock().await;
    let mut rx = receiver().await;
    let mut sender = HostileSender::start(rx.local_addr()).await;
    // A third party on 127.0.0.2 aims at the session's audio and control ports.
    let intruder = UdpSocket::bind((Ipv4Addr::new(127, 0, 0, 2), 0))
        .await
        .expect("bind 127.0.0.2");
    for seq in [5u16, 40_000, 60_000, 1] {
        let timestamp = u32::from(seq)
            .wrapping_mul(FRAMES as u32)
            .wrapping_add(1 << 31);
        intruder
            .send_to(&l16_packet(seq, timestamp, -1), sender.audio_target())
            .await
            .expect("send");
    }
    for seq in 0..3u16 {
        sender
            .send_audio(seq, u32::from(seq) * FRAMES as u32, 42)
            .await;
    }
    sender.teardown().await;
    let record = session(&mut rx).await;
    assert_eq!(record.summary.packets, 3);
    assert_eq!(record.samples, vec![42; 3 * FRAMES * 2]);
    assert_eq!(record.summary.missing_at_end, 0);
}

#[tokio::test]
async fn sequence_jumps_keep_the_missing_set_within_the_window() {
    let _one = MEASURING.lock().await;
    let mut rx = receiver().await;
    let baseline = reset_peak();
    let mut sender = HostileSender::start(rx.local_addr()).await;
    // +32767 each time: every packet claims half the sequence space went missing.
    let mut seq = 0u16;
    for _ in 0..400 {
        sender.send_audio(seq, 0, 1).await;
        seq = seq.wrapping_add(32_767);
    }
    sender.teardown().await;
    session(&mut rx).await;
    // Every retransmit request was sent before the session record: read what is queued.
    let mut request = [0u8; 64];
    let mut asked = Vec::new();
    while let Ok((n, _)) = sender.control.try_recv_from(&mut request) {
        if n == 8 && request[1] == 0xD5 {
            asked.push(u64::from(u16::from_be_bytes([request[6], request[7]])));
        }
    }
    let grown = growth_since(baseline, "400 sequence jumps of +32767");
    assert!(!asked.is_empty());
    let most = asked.iter().max().copied().unwrap_or(0);
    assert!(most <= WINDOW_PACKETS, "asked for {most} packets at once");
    assert!(grown < 32 * MIB);
}

#[tokio::test]
async fn set_parameter_bodies_are_not_hoarded() {
    let _one = MEASURING.lock().await;
    let mut rx = receiver().await;
    let baseline = reset_peak();
    let mut sender = HostileSender::start(rx.local_addr()).await;
    let body = vec![0x5Au8; 2 * 1024 * 1024];
    for i in 0..100 {
        let content_type = if i % 2 == 0 {
            "application/x-dmap-tagged".to_string()
        } else {
            format!("application/x-junk-{i}")
        };
        let reply = sender
            .request("SET_PARAMETER", &[], Some((&content_type, &body)))
            .await;
        assert_eq!(reply.status, 200);
    }
    sender.teardown().await;
    let record = session(&mut rx).await;
    let grown = growth_since(baseline, "100 SET_PARAMETER bodies of 2 MiB");
    let kept: usize = record.summary.parameters.iter().map(|(_, b)| b.len()).sum();
    assert!(
        record.summary.parameters.len() <= 4,
        "{}",
        record.summary.parameters.len()
    );
    assert_eq!(record.summary.parameters[0].0, "application/x-dmap-tagged");
    assert!(kept <= 4 * body.len());
    assert!(grown < 64 * MIB);
}

#[tokio::test]
async fn the_request_log_is_bounded() {
    let _one = MEASURING.lock().await;
    let mut rx = receiver().await;
    let mut sender = HostileSender::start(rx.local_addr()).await;
    let long_uri = "x".repeat(4000);
    for _ in 0..3000 {
        sender.cseq += 1;
        let request = format!("POST /{long_uri} RTSP/1.0\r\nCSeq: {}\r\n\r\n", sender.cseq);
        sender
            .tcp
            .write_all(request.as_bytes())
            .await
            .expect("write");
        assert_eq!(sender.reply().await.expect("reply").status, 200);
    }
    sender.teardown().await;
    let record = session(&mut rx).await;
    let requests = &record.summary.requests;
    assert_eq!(&requests[..3], ["ANNOUNCE", "SETUP", "RECORD"]);
    assert!(requests.len() <= 256, "{}", requests.len());
    assert!(requests.iter().all(|r| r.len() <= 64));
}

/// Writes `total` bytes of a request body that never completes, in small pieces.
async fn stall_with_partial_body(addr: SocketAddr, total: usize) -> Option<TcpStream> {
    let mut tcp = TcpStream::connect(addr).await.ok()?;
    let head = "SET_PARAMETER rtsp://127.0.0.1/1 RTSP/1.0\r\nCSeq: 1\r\nContent-Type: application/octet-stream\r\nContent-Length: 16777216\r\n\r\n";
    tcp.write_all(head.as_bytes()).await.ok()?;
    let chunk = vec![0u8; 64 * 1024];
    let mut sent = 0;
    while sent < total {
        // A receiver that stops reading (closed, or refused) ends this early.
        if tcp.write_all(&chunk).await.is_err() {
            break;
        }
        sent += chunk.len();
    }
    Some(tcp)
}

#[tokio::test]
async fn many_connections_with_partial_bodies_stay_bounded() {
    let _one = MEASURING.lock().await;
    let mut rx = receiver().await;
    let baseline = reset_peak();
    // 100 connections held open, each 3 MiB into a body that never completes (under the
    // receiver's per-request cap: only the connection cap bounds them).
    let mut stalled = Vec::new();
    for _ in 0..100 {
        if let Some(tcp) = stall_with_partial_body(rx.local_addr(), 3 * 1024 * 1024).await {
            stalled.push(tcp);
        }
    }
    let grown = growth_since(baseline, "100 connections with 3 MiB partial bodies");
    drop(stalled);
    // Still serving: a real session gets through once the stalled connections are gone
    // (a connection refused while they are still counted is closed at once: try again).
    let mut sender = loop {
        let mut sender = HostileSender::connect(rx.local_addr()).await;
        sender.send("OPTIONS", &[], None).await;
        if sender.reply().await.is_some() {
            break sender;
        }
    };
    assert_eq!(sender.announce(L16_SDP).await, 200);
    sender.setup_and_record().await;
    sender.send_audio(0, 0, 9).await;
    sender.teardown().await;
    let record = session(&mut rx).await;
    assert_eq!(record.samples, vec![9; FRAMES * 2]);
    // Eight connections' buffers of up to 4 MiB each, with their growth slack.
    assert!(grown < 96 * MIB);
}

#[tokio::test]
async fn a_body_beyond_the_request_cap_is_refused() {
    let _one = MEASURING.lock().await;
    let rx = receiver().await;
    let baseline = reset_peak();
    let Some(mut tcp) = stall_with_partial_body(rx.local_addr(), 16 * 1024 * 1024).await else {
        panic!("cannot connect");
    };
    let mut reply = BytesMut::new();
    while tcp.read_buf(&mut reply).await.is_ok_and(|n| n > 0) {}
    let response = rtsp::parse_response(&mut reply)
        .expect("valid")
        .expect("a reply before the close");
    assert_eq!(response.status, 413);
    assert!(growth_since(baseline, "one 16 MiB body") < 32 * MIB);
}
