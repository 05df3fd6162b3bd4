//! `airstream receive` against hostile and unlucky senders: the process must keep serving,
//! say what went wrong in one line, and keep its memory bounded (peak RSS of the child).
//! And its receiver against strangers that connect and say nothing: they must not lock a
//! real sender (the library's) out.

// Test helpers may unwrap: a panic is a test failure with a message.
#![allow(clippy::unwrap_used)]

use airstream::raop::{self, StreamOptions};
use airstream_audio::{PcmFormat, VecSource};
use airstream_receiver::{MAX_CONNECTIONS, Receiver, ReceiverConfig};
use airstream_testkit::receive_process::ReceiveProcess;
use airstream_testkit::signal::{music, wav_bytes};
use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream, UdpSocket};
use std::process::Command;
use std::time::Duration;

/// Streams half a second of music with the real sender (the `airstream` binary).
fn stream_to(addr: SocketAddr, dir: &tempfile::TempDir) -> std::process::Output {
    let input = dir.path().join("in.wav");
    std::fs::write(&input, wav_bytes(&music(22_050, 44_100), 44_100)).unwrap();
    Command::new(env!("CARGO_BIN_EXE_airstream"))
        .args(["stream", "--latency", "300", "--address", &addr.to_string()])
        .arg(&input)
        .output()
        .unwrap()
}

#[test]
fn a_session_whose_wav_cannot_be_written_does_not_end_the_receiver() {
    let dir = tempfile::tempdir().unwrap();
    // The directory is there at start (a missing one is refused then) and gone by the
    // end of the session; permission bits would not stop root, as tests run.
    let vanishing = dir.path().join("vanishing");
    std::fs::create_dir(&vanishing).unwrap();
    let output = vanishing.join("out.wav");
    let mut receive = ReceiveProcess::start(env!("CARGO_BIN_EXE_airstream"), &output);
    std::fs::remove_dir(&vanishing).unwrap();
    for _ in 0..2 {
        let sent = stream_to(receive.addr, &dir);
        assert!(
            sent.status.success(),
            "{}",
            String::from_utf8_lossy(&sent.stderr)
        );
        let line = receive.next_stderr_line();
        assert_eq!(
            line.trim(),
            format!(
                "airstream: session lost: cannot write {}: No such file or directory (os error 2)",
                output.display()
            )
        );
    }
}

/// A hand-written sender: L16 session, then audio packets with the given (seq, rtptime),
/// plus the same number from a third address (127.0.0.2), then TEARDOWN.
fn hostile_session(addr: SocketAddr, packets: &[(u16, u32)]) {
    let mut tcp = TcpStream::connect(addr).unwrap();
    let control = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
    let timing = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
    let sdp = "v=0\r\no=x 1 0 IN IP4 127.0.0.1\r\ns=x\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 0 RTP/AVP 96\r\na=rtpmap:96 L16/44100/2\r\n";
    let mut exchange = |request: String| -> String {
        tcp.write_all(request.as_bytes()).unwrap();
        // Replies here have no body: read up to the blank line.
        let mut reply = Vec::new();
        let mut byte = [0u8; 1];
        while !reply.ends_with(b"\r\n\r\n") {
            tcp.read_exact(&mut byte).unwrap();
            reply.push(byte[0]);
        }
        String::from_utf8(reply).unwrap()
    };
    let announce = exchange(format!(
        "ANNOUNCE rtsp://127.0.0.1/1 RTSP/1.0\r\nCSeq: 1\r\nContent-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{sdp}",
        sdp.len()
    ));
    assert!(announce.starts_with("RTSP/1.0 200"), "{announce}");
    let setup = exchange(format!(
        "SETUP rtsp://127.0.0.1/1 RTSP/1.0\r\nCSeq: 2\r\nTransport: RTP/AVP/UDP;unicast;mode=record;control_port={};timing_port={}\r\n\r\n",
        control.local_addr().unwrap().port(),
        timing.local_addr().unwrap().port()
    ));
    let server_port: u16 = setup
        .split(['\r', '\n', ';'])
        .find_map(|p| p.strip_prefix("server_port="))
        .unwrap()
        .parse()
        .unwrap();
    let record = exchange(
        "RECORD rtsp://127.0.0.1/1 RTSP/1.0\r\nCSeq: 3\r\nRTP-Info: seq=0;rtptime=0\r\n\r\n".into(),
    );
    assert!(record.starts_with("RTSP/1.0 200"), "{record}");
    let audio = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
    let intruder = UdpSocket::bind((Ipv4Addr::new(127, 0, 0, 2), 0)).unwrap();
    let target = SocketAddr::from((Ipv4Addr::LOCALHOST, server_port));
    for &(seq, rtptime) in packets {
        let mut datagram = vec![0x80, 0x60];
        datagram.extend_from_slice(&seq.to_be_bytes());
        datagram.extend_from_slice(&rtptime.to_be_bytes());
        datagram.extend_from_slice(&1u32.to_be_bytes());
        datagram.extend(std::iter::repeat_n(0x11, 352 * 4));
        audio.send_to(&datagram, target).unwrap();
        intruder.send_to(&datagram, target).unwrap();
    }
    let teardown = exchange("TEARDOWN rtsp://127.0.0.1/1 RTSP/1.0\r\nCSeq: 4\r\n\r\n".into());
    assert!(teardown.starts_with("RTSP/1.0 200"), "{teardown}");
}

#[test]
fn timestamp_jumps_and_foreign_packets_leave_memory_bounded() {
    let dir = tempfile::tempdir().unwrap();
    let mut receive =
        ReceiveProcess::start(env!("CARGO_BIN_EXE_airstream"), &dir.path().join("out.wav"));
    let before = receive.peak_rss();
    // One real packet, then jumps of 2^31 - 1 and 10 s steps: hours of timeline.
    let mut packets = vec![
        (0u16, 0u32),
        (1, i32::MAX as u32),
        (2, (i32::MAX as u32) + 352),
    ];
    packets.extend((3..1000u16).map(|i| (i, u32::from(i) * 441_000)));
    hostile_session(receive.addr, &packets);
    let summary = receive.next_stdout_line();
    assert!(summary.starts_with("received "), "{summary}");
    let peak = receive.peak_rss();
    eprintln!(
        "airstream receive: peak RSS {:.1} MiB (at start {:.1} MiB)",
        peak as f64 / 1_048_576.0,
        before as f64 / 1_048_576.0
    );
    // The session is one packet of audio plus the window a real sender could have used.
    assert!(peak < before + 64 * 1_048_576, "{peak}");
    // And it still serves a real sender.
    let sent = stream_to(receive.addr, &dir);
    assert!(sent.status.success());
    assert!(receive.next_stdout_line().starts_with("received "));
}

/// A real sender (the library's) streams half a second to `receiver`; what arrived must be
/// what was sent.
async fn real_session_gets_through(receiver: &mut Receiver) {
    let samples = music(22_050, 44_100);
    let options = StreamOptions {
        latency: Duration::from_millis(300),
        ..StreamOptions::default()
    };
    let source = VecSource::new(PcmFormat::RAOP, samples.clone());
    let report = raop::stream_to_end(receiver.local_addr(), Box::new(source), options)
        .await
        .unwrap();
    let record = receiver.next_session().await.unwrap();
    let lead = report.lead_in_frames as usize * 2;
    assert_eq!(&record.samples[lead..lead + samples.len()], &samples[..]);
}

#[tokio::test]
async fn idle_connections_cannot_lock_a_sender_out() {
    // Strangers may stay silent for as long as they like here: only the way slots are
    // shared can let the sender in.
    let mut receiver = Receiver::start(ReceiverConfig {
        first_request_limit: Duration::from_secs(3600),
        ..ReceiverConfig::default()
    })
    .await
    .unwrap();
    let mut idle = Vec::new();
    for _ in 0..2 * MAX_CONNECTIONS {
        idle.push(
            tokio::net::TcpStream::connect(receiver.local_addr())
                .await
                .unwrap(),
        );
    }
    real_session_gets_through(&mut receiver).await;
    // And again, with the strangers still there.
    real_session_gets_through(&mut receiver).await;
    drop(idle);
}

#[tokio::test]
async fn a_connection_that_says_nothing_loses_its_slot() {
    // Short, yet long enough for the test to send its first request in time under load.
    let limit = Duration::from_secs(1);
    let receiver = Receiver::start(ReceiverConfig {
        first_request_limit: limit,
        ..ReceiverConfig::default()
    })
    .await
    .unwrap();
    let mut silent = tokio::net::TcpStream::connect(receiver.local_addr())
        .await
        .unwrap();
    let mut talking = tokio::net::TcpStream::connect(receiver.local_addr())
        .await
        .unwrap();
    let options = |cseq: u32| format!("OPTIONS * RTSP/1.0\r\nCSeq: {cseq}\r\n\r\n");
    tokio::io::AsyncWriteExt::write_all(&mut talking, options(1).as_bytes())
        .await
        .unwrap();
    // Closed by the first-request limit: the receiver's idle limit (60 s) would take far
    // longer than this bound.
    let mut byte = [0u8; 1];
    let closed = tokio::time::timeout(
        Duration::from_secs(30),
        tokio::io::AsyncReadExt::read(&mut silent, &mut byte),
    )
    .await
    .expect("closed within the first-request limit, not the idle limit");
    assert_eq!(closed.unwrap(), 0, "closed without a word");
    // A connection that completed a request is served beyond that limit.
    let mut reply = vec![0u8; 4096];
    let n = tokio::io::AsyncReadExt::read(&mut talking, &mut reply)
        .await
        .unwrap();
    assert!(reply[..n].starts_with(b"RTSP/1.0 200"));
    tokio::time::sleep(limit * 2).await;
    tokio::io::AsyncWriteExt::write_all(&mut talking, options(2).as_bytes())
        .await
        .unwrap();
    let n = tokio::io::AsyncReadExt::read(&mut talking, &mut reply)
        .await
        .unwrap();
    assert!(reply[..n].starts_with(b"RTSP/1.0 200"), "still served");
}
