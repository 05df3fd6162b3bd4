//! The `airstream` binary against the in-repo receiver: exit codes, messages, stdin input,
//! the demo, and `airstream volume` on a live stream.

// Test helpers may unwrap: a panic is a test failure with a message.
#![allow(clippy::unwrap_used)]

use airstream_receiver::{Behaviour, Receiver, ReceiverConfig};
use airstream_testkit::signal::{music, wav_bytes};
use std::io::Write;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

fn airstream() -> Command {
    Command::new(env!("CARGO_BIN_EXE_airstream"))
}

async fn receiver(behaviour: Behaviour) -> Receiver {
    Receiver::start(ReceiverConfig {
        behaviour,
        ..ReceiverConfig::default()
    })
    .await
    .unwrap()
}

fn wav_file(dir: &tempfile::TempDir, frames: usize) -> (std::path::PathBuf, Vec<i16>) {
    let samples = music(frames, 44_100);
    let path = dir.path().join("in.wav");
    std::fs::write(&path, wav_bytes(&samples, 44_100)).unwrap();
    (path, samples)
}

async fn run(mut cmd: Command) -> Output {
    tokio::task::spawn_blocking(move || cmd.output().unwrap())
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn streams_stdin_bit_exact_and_prints_nothing_on_a_pipe() {
    let mut rx = receiver(Behaviour::default()).await;
    let samples = music(30_000, 44_100);
    let wav = wav_bytes(&samples, 44_100);
    let address = rx.local_addr().to_string();
    let out = tokio::task::spawn_blocking(move || {
        let mut child = airstream()
            .args(["stream", "--latency", "300", "--address", &address, "-"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child.stdin.take().unwrap().write_all(&wav).unwrap();
        child.wait_with_output().unwrap()
    })
    .await
    .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.stdout.is_empty(), "no progress output on a pipe");
    let record = rx
        .next_session_within(Duration::from_secs(5))
        .await
        .unwrap();
    let lead = airstream::raop::DEFAULT_LEAD_IN_PACKETS as usize * 352 * 2;
    assert_eq!(&record.samples[lead..lead + samples.len()], &samples[..]);
}

#[tokio::test(flavor = "multi_thread")]
async fn volume_changes_a_running_stream() {
    let mut rx = receiver(Behaviour::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let (file, _) = wav_file(&dir, 44_100 * 4);
    let runtime = dir.path().join("run");
    let address = rx.local_addr().to_string();
    let mut stream = airstream()
        .args(["stream", "--latency", "300", "--address", &address])
        .arg(&file)
        .env("AIRSTREAM_RUNTIME_DIR", &runtime)
        .spawn()
        .unwrap();
    // The control socket appears once the stream is up.
    for _ in 0..200 {
        if std::fs::read_dir(&runtime).is_ok_and(|mut d| d.next().is_some()) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let mut volume = airstream();
    volume
        .args(["volume", "--address", &address, "30"])
        .env("AIRSTREAM_RUNTIME_DIR", &runtime);
    let out = run(volume).await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let status = tokio::task::spawn_blocking(move || stream.wait().unwrap())
        .await
        .unwrap();
    assert!(status.success());
    let record = rx
        .next_session_within(Duration::from_secs(5))
        .await
        .unwrap();
    assert_eq!(record.summary.volumes, vec![-21.0]);
    assert!(
        std::fs::read_dir(&runtime).unwrap().next().is_none(),
        "the control socket is removed at the end"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn failures_have_one_line_and_their_exit_codes() {
    let dir = tempfile::tempdir().unwrap();
    let (file, _) = wav_file(&dir, 1000);
    let file = file.to_str().unwrap().to_string();

    let free_port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut cmd = airstream();
    cmd.args([
        "stream",
        "--address",
        &format!("127.0.0.1:{free_port}"),
        &file,
    ]);
    let out = run(cmd).await;
    assert_eq!(out.status.code(), Some(10), "nothing listening");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains("cannot connect"), "{stderr}");

    let busy = receiver(Behaviour {
        busy: true,
        ..Behaviour::default()
    })
    .await;
    let mut cmd = airstream();
    cmd.args(["stream", "--address", &busy.local_addr().to_string(), &file]);
    let out = run(cmd).await;
    assert_eq!(out.status.code(), Some(13), "busy");
    assert!(String::from_utf8_lossy(&out.stderr).contains("busy"));

    let text = dir.path().join("song.wav");
    std::fs::write(&text, "this is not audio").unwrap();
    let mut cmd = airstream();
    cmd.args(["stream", "--address", &busy.local_addr().to_string()])
        .arg(&text);
    let out = run(cmd).await;
    assert_eq!(out.status.code(), Some(18), "bad input");
    assert!(String::from_utf8_lossy(&out.stderr).contains("song.wav"));

    let mut cmd = airstream();
    cmd.args(["volume", "--address", "127.0.0.1:9", "50"])
        .env("AIRSTREAM_RUNTIME_DIR", dir.path().join("none"));
    let out = run(cmd).await;
    assert_eq!(out.status.code(), Some(19), "no stream to control");
}

#[tokio::test(flavor = "multi_thread")]
async fn receiver_closing_mid_stream_is_an_error_not_a_hang() {
    let dying = receiver(Behaviour {
        die_after_packets: Some(50),
        ..Behaviour::default()
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let (file, _) = wav_file(&dir, 44_100 * 20);
    let mut cmd = airstream();
    cmd.args(["stream", "--address", &dying.local_addr().to_string()])
        .arg(&file);
    let out = run(cmd).await;
    assert_eq!(
        out.status.code(),
        Some(10),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn demo_reports_a_bit_exact_transfer() {
    let dir = tempfile::tempdir().unwrap();
    let wav = dir.path().join("demo.wav");
    let out = airstream()
        .args(["demo", "--output"])
        .arg(&wav)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("bit-exact:             yes"), "{stdout}");
    assert!(stdout.contains("frames sent:           176400"), "{stdout}");
    let received = hound::WavReader::open(&wav).unwrap();
    assert!(received.duration() >= 176_400);
}

#[tokio::test(flavor = "multi_thread")]
async fn ctrl_c_ends_the_stream_with_teardown() {
    let mut rx = receiver(Behaviour::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let (file, _) = wav_file(&dir, 44_100 * 20);
    let mut stream = airstream()
        .args(["stream", "--address", &rx.local_addr().to_string()])
        .arg(&file)
        .env("AIRSTREAM_RUNTIME_DIR", dir.path().join("run"))
        .spawn()
        .unwrap();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let pid = stream.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-INT", &pid])
            .status()
            .unwrap()
            .success()
    );
    let status = tokio::task::spawn_blocking(move || stream.wait().unwrap())
        .await
        .unwrap();
    // A clean stop, and scripts can tell it from a stream that played to the end.
    assert_eq!(
        status.code(),
        Some(130),
        "exit 130 after Ctrl-C (SIGINT): {status:?}"
    );
    let record = rx
        .next_session_within(Duration::from_secs(5))
        .await
        .unwrap();
    assert!(record.summary.teardown, "TEARDOWN was sent");
    assert!(record.frames() < 44_100 * 10, "stopped early");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_group_plays_on_without_a_busy_member_and_fails_when_all_are_busy() {
    let mut healthy = receiver(Behaviour::default()).await;
    let busy = || {
        receiver(Behaviour {
            busy: true,
            ..Behaviour::default()
        })
    };
    let (busy_a, busy_b) = (busy().await, busy().await);
    let dir = tempfile::tempdir().unwrap();
    let (file, samples) = wav_file(&dir, 30_000);
    let group = |members: [&Receiver; 2]| {
        let mut cmd = airstream();
        cmd.args(["stream", "--latency", "300", "--json"]);
        for member in members {
            cmd.args(["--address", &member.local_addr().to_string()]);
        }
        cmd.arg(&file);
        cmd
    };

    let out = run(group([&healthy, &busy_a])).await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains(&busy_a.local_addr().to_string()) && stderr.contains("busy"),
        "the member left out is named: {stderr}"
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["receivers"].as_array().map(Vec::len), Some(2));
    let record = healthy
        .next_session_within(Duration::from_secs(5))
        .await
        .unwrap();
    let lead = airstream::raop::DEFAULT_LEAD_IN_PACKETS as usize * 352 * 2;
    assert_eq!(&record.samples[lead..lead + samples.len()], &samples[..]);

    let out = run(group([&busy_a, &busy_b])).await;
    assert_eq!(
        out.status.code(),
        Some(13),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
