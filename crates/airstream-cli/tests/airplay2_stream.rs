//! `airstream stream --protocol airplay2` to shairport-sync 4.3.7 (AirPlay 2 + nqptp) from
//! the sender namespace: every input format from a file and from a pipe, compressed and
//! uncompressed ALAC, plays bit-exact over the AirPlay 2 path (the receiver's log says "AP2
//! Realtime Audio Stream" for each stream and never "Classic AirPlay connection"); without
//! the privilege for the PTP ports the command says what to do and exits with 17.

// Test helpers may unwrap: a panic is a test failure with a message.
#![allow(clippy::unwrap_used)]

use airstream_testkit::airplay2::{self, Ap2Rig};
use airstream_testkit::compare::align_and_compare;
use airstream_testkit::fixtures;
use airstream_testkit::shairport::{MetadataItem, ShairportConfig};
use std::process::{Command, Output, Stdio};

/// Runs `command` with `name`'s bytes on stdin (`-` as the input) or with its path.
fn run(mut command: Command, name: &str, pipe: bool) -> Output {
    if pipe {
        let mut cat = Command::new("cat")
            .arg(fixtures::audio(name))
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let out = command
            .arg("-")
            .stdin(cat.stdout.take().unwrap())
            .output()
            .unwrap();
        // The command holds the pipe's read end: without it, a `cat` that the stream did not
        // read to the end gets EPIPE instead of waiting forever.
        drop(command);
        cat.wait().unwrap();
        out
    } else {
        command.arg(fixtures::audio(name)).output().unwrap()
    }
}

fn stream_args(command: &mut Command, rig: &Ap2Rig, extra: &[&str]) {
    command
        .env("AIRSTREAM_CONFIG_DIR", "/nonexistent-airstream-config")
        .args(["stream", "--address", &rig.address(0).to_string()])
        .args(["--protocol", "airplay2"])
        .args(extra);
}

#[test]
fn every_format_from_a_file_and_a_pipe_plays_bit_exact_over_airplay2() {
    let rig = Ap2Rig::start(&[airplay2::config("ap2-cli")]).unwrap();
    let receiver = &rig.receivers[0];
    let mut streams = 0;
    for (name, codec) in [
        ("music.wav", "alac"),
        ("music.flac", "alac-raw"),
        ("music.mp3", "alac"),
        ("music.ogg", "alac-raw"),
    ] {
        for pipe in [false, true] {
            let expected = fixtures::reference(name).unwrap();
            let before = receiver.captured().unwrap().len();
            let mut command = rig.sender_command(env!("CARGO_BIN_EXE_airstream"));
            stream_args(&mut command, &rig, &["--codec", codec, "--json"]);
            let out = run(command, name, pipe);
            let how = if pipe { "pipe" } else { "file" };
            assert!(
                out.status.success(),
                "{name} ({how}, {codec}): {}",
                String::from_utf8_lossy(&out.stderr)
            );
            streams += 1;
            let captured = receiver.captured().unwrap();
            let cmp = align_and_compare(&expected, &captured[before..]).expect("audio captured");
            let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
            eprintln!(
                "{name} ({how}, {codec}): compared {} frames, {} mismatched, {} missing; report {report}",
                cmp.frames_compared, cmp.mismatched_frames, cmp.missing_frames
            );
            assert!(cmp.is_bit_exact(), "{name} ({how}, {codec}): {cmp:?}");
            assert_eq!(cmp.frames_compared, expected.len() / 2);
        }
    }
    let log = receiver.log_text();
    assert_eq!(
        log.matches("AP2 Realtime Audio Stream").count(),
        streams,
        "{log}"
    );
    assert!(!log.contains("Classic AirPlay connection"), "{log}");
    assert_eq!(receiver.log_errors(), Vec::<String>::new(), "{log}");
}

#[test]
fn without_the_privilege_for_the_ptp_ports_the_stream_says_what_to_do_and_exits_17() {
    let rig = Ap2Rig::start(&[airplay2::config("ap2-unpriv")]).unwrap();
    let mut command = rig.sender_command_unprivileged(env!("CARGO_BIN_EXE_airstream"));
    stream_args(&mut command, &rig, &[]);
    let out = run(command, "music.wav", true);
    let stderr = String::from_utf8_lossy(&out.stderr);
    eprintln!("{stderr}");
    assert_eq!(out.status.code(), Some(17), "{stderr}");
    assert!(
        stderr.contains("run as root or grant CAP_NET_BIND_SERVICE"),
        "{stderr}"
    );
    assert!(stderr.contains("319"), "{stderr}");
    assert_eq!(stderr.trim().lines().count(), 1, "one clear line: {stderr}");
    // Nothing reached the receiver: the ports are bound before any handshake.
    let log = rig.receivers[0].log_text();
    assert!(!log.contains("AP2 Realtime Audio Stream"), "{log}");
    assert!(!log.contains("Classic AirPlay connection"), "{log}");
}

#[test]
fn tags_artwork_progress_and_volume_reach_the_metadata_pipe_over_airplay2() {
    let rig = Ap2Rig::start(&[ShairportConfig {
        metadata: true,
        ..airplay2::config("ap2-meta")
    }])
    .unwrap();
    let receiver = &rig.receivers[0];
    let artwork = fixtures::audio("cover.png");
    let png = std::fs::read(&artwork).unwrap();
    let mut command = rig.sender_command(env!("CARGO_BIN_EXE_airstream"));
    stream_args(&mut command, &rig, &["--volume", "50", "--title", "Tïtle"]);
    command
        .args(["--artist", "Artist", "--album", "Album", "--artwork"])
        .arg(&artwork);
    let out = run(command, "music.wav", false);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let find = |items: &[MetadataItem], kind: &str, code: &str| {
        items
            .iter()
            .rev()
            .find(|i| i.kind == kind && i.code == code)
            .map(|i| i.data.clone())
    };
    // Items are written as the receiver handles them: the pipe may still be draining.
    let wanted = [
        ("core", "minm"),
        ("ssnc", "PICT"),
        ("ssnc", "prgr"),
        ("ssnc", "pvol"),
    ];
    let mut items = receiver.metadata();
    for _ in 0..50 {
        if wanted.iter().all(|(k, c)| find(&items, k, c).is_some()) {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
        items = receiver.metadata();
    }
    let text =
        |kind, code| find(&items, kind, code).map(|d| String::from_utf8_lossy(&d).to_string());
    let log = receiver.log_text();
    assert_eq!(text("core", "minm").as_deref(), Some("Tïtle"), "{log}");
    assert_eq!(text("core", "asar").as_deref(), Some("Artist"));
    assert_eq!(text("core", "asal").as_deref(), Some("Album"));
    assert_eq!(
        find(&items, "ssnc", "PICT"),
        Some(png),
        "artwork bytes unchanged"
    );
    let volume = text("ssnc", "pvol").expect("volume item");
    assert!(volume.starts_with("-15.00,"), "{volume}");
    let progress = text("ssnc", "prgr").expect("progress item");
    let parts: Vec<u32> = progress.split('/').map(|p| p.parse().unwrap()).collect();
    assert_eq!(
        parts[2].wrapping_sub(parts[0]),
        66_150,
        "end - start = the file's 1.5 s in frames"
    );
    assert!(log.contains("AP2 Realtime Audio Stream"), "{log}");
    assert!(!log.contains("Classic AirPlay connection"), "{log}");
}
