//! `cat FILE | airstream stream -` for every format: what the receiver (the in-repo one, and
//! shairport-sync for WAV, FLAC, MP3 and OGG) produced equals a reference decode of the same
//! file, sample for sample. Bad inputs fail with a message naming them and exit code 18.

// Test helpers may unwrap: a panic is a test failure with a message.
#![allow(clippy::unwrap_used)]

use airstream_receiver::{Receiver, ReceiverConfig};
use airstream_testkit::compare::align_and_compare;
use airstream_testkit::fixtures;
use airstream_testkit::netns::Netns;
use airstream_testkit::shairport::{PORT, Shairport, ShairportConfig};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

fn reference(name: &str) -> Vec<i16> {
    fixtures::reference(name).unwrap()
}

/// `cat FILE | [ip netns exec NS] airstream stream --address ADDRESS ... -`
fn stream_through_a_pipe(ns: Option<&Netns>, name: &str, address: &str, extra: &[&str]) -> Output {
    let mut cat = Command::new("cat")
        .arg(fixtures::audio(name))
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut airstream = match ns {
        Some(ns) => ns.command(env!("CARGO_BIN_EXE_airstream")),
        None => Command::new(env!("CARGO_BIN_EXE_airstream")),
    };
    let out = airstream
        .args(["stream", "--address", address])
        .args(extra)
        .arg("-")
        .stdin(cat.stdout.take().unwrap())
        .output()
        .unwrap();
    cat.wait().unwrap();
    out
}

#[tokio::test(flavor = "multi_thread")]
async fn every_format_through_a_pipe_to_the_embedded_receiver() {
    let mut rx = Receiver::start(ReceiverConfig::default()).await.unwrap();
    let address = rx.local_addr().to_string();
    for name in [
        "music.wav",
        "music.flac",
        "music.mp3",
        "music.ogg",
        "music_aac.m4a",
        "music_alac.m4a",
        "music.aiff",
        "music_s24_48k.flac",
    ] {
        let expected = reference(name);
        let address = address.clone();
        let out = tokio::task::spawn_blocking(move || {
            stream_through_a_pipe(None, name, &address, &["--latency", "300"])
        })
        .await
        .unwrap();
        assert!(
            out.status.success(),
            "{name}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let record = rx
            .next_session_within(Duration::from_secs(5))
            .await
            .unwrap();
        let lead = airstream::raop::DEFAULT_LEAD_IN_PACKETS as usize * 352 * 2;
        assert!(
            record.samples[lead..lead + expected.len()] == expected[..],
            "{name} through a pipe differs from its reference decode"
        );
    }
}

#[test]
fn wav_flac_mp3_ogg_through_a_pipe_to_shairport_sync() {
    let ns = Netns::create().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let receiver = Shairport::start(&ns, dir.path(), &ShairportConfig::default()).unwrap();
    let address = format!("127.0.0.1:{PORT}");
    for name in ["music.wav", "music.flac", "music.mp3", "music.ogg"] {
        let expected = reference(name);
        let before = receiver.captured().unwrap().len();
        let out = stream_through_a_pipe(Some(&ns), name, &address, &[]);
        assert!(
            out.status.success(),
            "{name}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let captured = receiver.captured().unwrap();
        let cmp = align_and_compare(&expected, &captured[before..]).expect("audio captured");
        eprintln!("{name}: {cmp:?}");
        assert!(cmp.is_bit_exact(), "{name} on shairport-sync: {cmp:?}");
    }
    assert_eq!(receiver.log_errors(), Vec::<String>::new());
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_inputs_name_the_input_and_exit_18() {
    let rx = Receiver::start(ReceiverConfig::default()).await.unwrap();
    let address = rx.local_addr().to_string();
    for (name, expected) in [
        ("empty.mp3", "empty"),
        ("text.mp3", "text.mp3"),
        ("music.opus", "Opus"),
        ("music.wma", "music.wma"),
        ("truncated.flac", "truncated.flac"),
        ("does-not-exist.wav", "does-not-exist.wav"),
    ] {
        let path = fixtures::audio(name);
        let address = address.clone();
        let out = tokio::task::spawn_blocking(move || {
            Command::new(env!("CARGO_BIN_EXE_airstream"))
                .args(["stream", "--latency", "300", "--address", &address])
                .arg(&path)
                .output()
                .unwrap()
        })
        .await
        .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(18), "{name}: {stderr}");
        assert!(stderr.contains(expected), "{name}: {stderr}");
        assert!(!stderr.contains("panicked"), "{name}: {stderr}");
    }
}

/// Serves one file over HTTP/1.1 on loopback (enough for the decoder's client).
fn serve_once(body: Vec<u8>) -> std::net::SocketAddr {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        if let Ok((mut conn, _)) = listener.accept() {
            let mut request = [0u8; 4096];
            let _ = conn.read(&mut request);
            let head = format!(
                "HTTP/1.1 200 OK\r\nContent-Type: audio/flac\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                body.len()
            );
            let _ = conn.write_all(head.as_bytes());
            let _ = conn.write_all(&body);
        }
    });
    addr
}

#[tokio::test(flavor = "multi_thread")]
async fn raw_pcm_and_http_inputs() {
    let mut rx = Receiver::start(ReceiverConfig::default()).await.unwrap();
    let address = rx.local_addr().to_string();
    let lead = airstream::raop::DEFAULT_LEAD_IN_PACKETS as usize * 352 * 2;

    // Raw 16-bit PCM at the receiver's rate passes through bit for bit.
    let samples = airstream_testkit::signal::music(30_000, 44_100);
    let bytes: Vec<u8> = samples.iter().flat_map(|s| s.to_le_bytes()).collect();
    let addr = address.clone();
    let out = tokio::task::spawn_blocking(move || {
        use std::io::Write;
        let mut child = Command::new(env!("CARGO_BIN_EXE_airstream"))
            .args([
                "stream",
                "--latency",
                "300",
                "--raw",
                "s16le:44100:2",
                "--address",
                &addr,
                "-",
            ])
            .stdin(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child.stdin.take().unwrap().write_all(&bytes).unwrap();
        child.wait_with_output().unwrap()
    })
    .await
    .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let record = rx
        .next_session_within(Duration::from_secs(5))
        .await
        .unwrap();
    assert!(
        record.samples[lead..lead + samples.len()] == samples[..],
        "raw s16le is bit-exact"
    );

    // A file over HTTP equals the same file decoded from disk.
    let expected = reference("music.flac");
    let server = serve_once(std::fs::read(fixtures::audio("music.flac")).unwrap());
    let url = format!("http://{server}/music.flac");
    let addr = address.clone();
    let out = tokio::task::spawn_blocking(move || {
        Command::new(env!("CARGO_BIN_EXE_airstream"))
            .args(["stream", "--latency", "300", "--address", &addr, &url])
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let record = rx
        .next_session_within(Duration::from_secs(5))
        .await
        .unwrap();
    assert!(
        record.samples[lead..lead + expected.len()] == expected[..],
        "HTTP input is exact"
    );
}
