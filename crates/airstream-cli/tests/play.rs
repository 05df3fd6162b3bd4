//! `airstream play` as a user runs it, against the fake Apple TV on loopback.

// Helpers unwrap too: a failed setup is a test failure.
#![allow(clippy::unwrap_used)]

use airstream_testkit::fake_apple_tv::{
    FakeAppleTv, FakeAppleTvConfig, FetchPlan, PlaybackInfoReply,
};
use std::io::{BufRead, BufReader};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

async fn airstream(args: Vec<String>) -> Output {
    tokio::task::spawn_blocking(move || {
        Command::new(env!("CARGO_BIN_EXE_airstream"))
            .args(&args)
            // No credentials from the user's own store.
            .env(
                "AIRSTREAM_CONFIG_DIR",
                std::env::temp_dir().join("airstream-tests-no-store"),
            )
            .env_remove("AIRSTREAM_CREDENTIALS")
            .env_remove("RUST_LOG")
            .output()
            .unwrap()
    })
    .await
    .unwrap()
}

fn args(list: &[&str]) -> Vec<String> {
    list.iter().map(ToString::to_string).collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn json_lines_follow_the_playback_to_the_end() {
    let tv = FakeAppleTv::start(FakeAppleTvConfig::default())
        .await
        .unwrap();
    let address = tv.addr().to_string();
    let out = airstream(args(&[
        "play",
        "--address",
        &address,
        "--json",
        "--poll-interval-ms",
        "5",
        "http://127.0.0.1:9/video.mp4",
    ]))
    .await;
    let stdout = String::from_utf8(out.stdout).unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "stdout: {stdout}\nstderr: {stderr}");
    let lines: Vec<&str> = stdout.lines().collect();
    // Intermediate states may be coalesced (the poll interval is 5 ms); the end is not.
    assert_eq!(
        lines.last().copied(),
        Some(r#"{"state":"finished","position":5,"duration":10}"#)
    );
    let known = [
        r#"{"state":"loading","position":null,"duration":null}"#,
        r#"{"state":"playing","position":0,"duration":10}"#,
        r#"{"state":"playing","position":5,"duration":10}"#,
        r#"{"state":"finished","position":5,"duration":10}"#,
    ];
    for line in &lines {
        assert!(known.contains(line), "unexpected line {line}");
    }
    assert_eq!(tv.requests_to("/play").len(), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_local_file_is_served_to_the_device() {
    let tv = FakeAppleTv::start(FakeAppleTvConfig {
        fetch: Some(FetchPlan { chunk: 4096 }),
        ..FakeAppleTvConfig::default()
    })
    .await
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("song.mp3");
    let mut bytes = b"ID3\x04\0\0\0\0\0\0".to_vec();
    bytes.extend((0..20_000u32).map(|i| (i * 7 % 251) as u8));
    std::fs::write(&path, &bytes).unwrap();
    let out = airstream(args(&[
        "play",
        "--address",
        &tv.addr().to_string(),
        "--poll-interval-ms",
        "5",
        path.to_str().unwrap(),
    ]))
    .await;
    assert!(
        out.status.success(),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let fetch = tv.fetch_result().unwrap();
    assert_eq!(fetch.error, None);
    assert!(fetch.body == bytes, "served bytes differ");
    assert_eq!(
        fetch.exchanges[0].content_type.as_deref(),
        Some("audio/mpeg")
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_refused_play_exits_with_the_pairing_code_and_command() {
    let tv = FakeAppleTv::start(FakeAppleTvConfig {
        play_status: Some(403),
        ..FakeAppleTvConfig::default()
    })
    .await
    .unwrap();
    let address = tv.addr().to_string();
    let out = airstream(args(&[
        "play",
        "--address",
        &address,
        "http://127.0.0.1:9/video.mp4",
    ]))
    .await;
    assert_eq!(out.status.code(), Some(15), "PairingRequired exit code");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!("airstream pair --address {address}")),
        "{stderr}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_missing_file_exits_with_the_input_code() {
    let tv = FakeAppleTv::start(FakeAppleTvConfig::default())
        .await
        .unwrap();
    let out = airstream(args(&[
        "play",
        "--address",
        &tv.addr().to_string(),
        "/no/such/movie.mp4",
    ]))
    .await;
    assert_eq!(out.status.code(), Some(18), "Input exit code");
    assert!(String::from_utf8_lossy(&out.stderr).contains("/no/such/movie.mp4"));
    assert_eq!(tv.connection_counts().opened, 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_credentials_are_refused_without_echoing_them() {
    let secret = "0011223344556677:ZZ";
    let out = airstream(args(&[
        "play",
        "--address",
        "127.0.0.1:7000",
        "--credentials",
        secret,
        "http://127.0.0.1:9/video.mp4",
    ]))
    .await;
    assert_eq!(out.status.code(), Some(18), "Input exit code");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("64 hex digits"), "{stderr}");
    assert!(!stderr.contains(":ZZ"), "{stderr}");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_device_is_required() {
    let out = airstream(args(&["play", "http://127.0.0.1:9/video.mp4"])).await;
    // Invalid input (the config file could have named one), and both ways are offered.
    assert_eq!(out.status.code(), Some(18));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("--device") && stderr.contains("--address"),
        "{stderr}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn ctrl_c_stops_the_playback_by_closing_the_connection() {
    let tv = FakeAppleTv::start(FakeAppleTvConfig {
        playback_script: vec![PlaybackInfoReply::Playing {
            position: 3.0,
            duration: 600.0,
        }],
        ..FakeAppleTvConfig::default()
    })
    .await
    .unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_airstream"))
        .args([
            "play",
            "--address",
            &tv.addr().to_string(),
            "--json",
            "--poll-interval-ms",
            "5",
            "http://127.0.0.1:9/video.mp4",
        ])
        .env(
            "AIRSTREAM_CONFIG_DIR",
            std::env::temp_dir().join("airstream-tests-no-store"),
        )
        .env_remove("AIRSTREAM_CREDENTIALS")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let pid = child.id().to_string();
    let signal = |name: &'static str, pid: String| {
        Command::new("kill")
            .args([name, &pid])
            .status()
            .is_ok_and(|s| s.success())
    };
    let session = tokio::task::spawn_blocking({
        let pid = pid.clone();
        move || {
            let mut stdout = BufReader::new(child.stdout.take().unwrap()).lines();
            let mut lines = Vec::new();
            // Playing for sure before the interrupt.
            for line in stdout.by_ref() {
                let line = line.unwrap();
                let playing = line.contains(r#""state":"playing""#);
                lines.push(line);
                if playing {
                    break;
                }
            }
            assert!(signal("-INT", pid), "could not send SIGINT");
            lines.extend(stdout.map(Result::unwrap));
            (child.wait().unwrap(), lines)
        }
    });
    // A CLI that ignores Ctrl-C must fail the test, not hang it.
    let Ok(joined) = tokio::time::timeout(Duration::from_secs(30), session).await else {
        signal("-KILL", pid);
        panic!("airstream play did not exit after SIGINT");
    };
    let (status, lines) = joined.unwrap();
    assert!(status.success(), "{status:?}, output {lines:?}");
    assert_eq!(
        lines.last().map(String::as_str),
        Some(r#"{"state":"stopped","position":3,"duration":600}"#),
        "{lines:?}"
    );
    assert!(tv.wait_all_closed(Duration::from_secs(10)).await);
    assert!(tv.requests_to("/stop").is_empty());
}
