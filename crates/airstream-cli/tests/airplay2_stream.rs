//! `airstream stream --protocol airplay2` to shairport-sync 4.3.7 (AirPlay 2 + nqptp) from
//! the sender namespace: 30 s of every input format from a file and from a pipe, compressed
//! and uncompressed ALAC, plays bit-exact over the AirPlay 2 path (the receiver's log says
//! "AP2 Realtime Audio Stream" for each stream and never "Classic AirPlay connection"); the
//! file and the pipe stream at once, to a receiver each, so a format costs one stream's
//! time; without
//! the privilege for the PTP ports the command says what to do and exits with 17.

// Test helpers may unwrap: a panic is a test failure with a message.
#![allow(clippy::unwrap_used)]

use airstream_testkit::airplay2::{self, Ap2Rig};
use airstream_testkit::compare::align_and_compare;
use airstream_testkit::fixtures::{self, Format};
use airstream_testkit::shairport::{MetadataItem, ShairportConfig};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Command, Output, Stdio};

/// Runs `command` with `input`'s bytes on stdin (`-` as the input) or with its path.
fn run(mut command: Command, input: &Path, pipe: bool) -> Output {
    if pipe {
        let mut cat = Command::new("cat")
            .arg(input)
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
        command.arg(input).output().unwrap()
    }
}

fn stream_args(command: &mut Command, address: SocketAddr, extra: &[&str]) {
    command
        .env("AIRSTREAM_CONFIG_DIR", "/nonexistent-airstream-config")
        .args(["stream", "--address", &address.to_string()])
        .args(["--protocol", "airplay2"])
        .args(extra);
}

/// Seconds of audio in each long stream (issue 16: a 30 s stream of every input format).
const LONG_STREAM_SECONDS: usize = 30;

/// A 30 s stream of `format` from a file and, at the same time, from a pipe, each from a
/// sender namespace to a receiver of its own; one in compressed and the other in uncompressed ALAC (`file_codec`
/// says which the file gets). Each capture equals the decoded source sample for sample after
/// the leading silence, and each receiver's log shows exactly one AirPlay 2 stream.
fn long_streams_play_bit_exact_over_airplay2(format: Format, file_codec: &str) {
    // A rig each: both senders bind the PTP ports 319/320 in their own namespace.
    let rigs = ["file", "pipe"].map(|how| {
        Ap2Rig::start(&[airplay2::config(&format!(
            "ap2-{}-{how}",
            format.extension()
        ))])
        .unwrap()
    });
    let input = fixtures::long_input(rigs[0].dir.path(), format, LONG_STREAM_SECONDS).unwrap();
    let expected = fixtures::decode(airstream_audio::Source::path(&input)).unwrap();
    assert!(expected.len() / 2 >= 44_100 * LONG_STREAM_SECONDS);
    let pipe_codec = if file_codec == "alac" {
        "alac-raw"
    } else {
        "alac"
    };
    let outputs: Vec<(bool, &str, Output)> = std::thread::scope(|scope| {
        let streams: Vec<_> = [(false, file_codec), (true, pipe_codec)]
            .into_iter()
            .zip(&rigs)
            .map(|((pipe, codec), rig)| {
                let mut command = rig.sender_command(env!("CARGO_BIN_EXE_airstream"));
                stream_args(&mut command, rig.address(0), &["--codec", codec, "--json"]);
                let input = &input;
                scope.spawn(move || (pipe, codec, run(command, input, pipe)))
            })
            .collect();
        streams.into_iter().map(|s| s.join().unwrap()).collect()
    });
    for (index, (pipe, codec, out)) in outputs.iter().enumerate() {
        let how = if *pipe { "pipe" } else { "file" };
        let what = format!("{format:?} ({how}, {codec})");
        let receiver = &rigs[index].receivers[0];
        let log = receiver.log_text();
        assert!(
            out.status.success(),
            "{what}: {}\n{log}",
            String::from_utf8_lossy(&out.stderr)
        );
        let captured = receiver.captured().unwrap();
        let cmp = align_and_compare(&expected, &captured).expect("audio captured");
        let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        eprintln!(
            "{what}: compared {} frames at offset {}, {} mismatched, {} missing; report {report}",
            cmp.frames_compared, cmp.offset, cmp.mismatched_frames, cmp.missing_frames
        );
        assert!(cmp.is_bit_exact(), "{what}: {cmp:?}\n{log}");
        assert_eq!(cmp.frames_compared, expected.len() / 2, "{what}");
        assert_eq!(
            report["frames_sent"].as_u64(),
            Some(expected.len() as u64 / 2),
            "{what}"
        );
        assert_eq!(
            log.matches("AP2 Realtime Audio Stream").count(),
            1,
            "{what}: {log}"
        );
        assert!(!log.contains("Classic AirPlay connection"), "{what}: {log}");
        assert_eq!(receiver.log_errors(), Vec::<String>::new(), "{what}: {log}");
    }
}

#[test]
fn thirty_seconds_of_wav_from_a_file_and_a_pipe_play_bit_exact_over_airplay2() {
    long_streams_play_bit_exact_over_airplay2(Format::Wav, "alac");
}

#[test]
fn thirty_seconds_of_flac_from_a_file_and_a_pipe_play_bit_exact_over_airplay2() {
    long_streams_play_bit_exact_over_airplay2(Format::Flac, "alac-raw");
}

#[test]
fn thirty_seconds_of_mp3_from_a_file_and_a_pipe_play_bit_exact_over_airplay2() {
    long_streams_play_bit_exact_over_airplay2(Format::Mp3, "alac");
}

#[test]
fn thirty_seconds_of_ogg_from_a_file_and_a_pipe_play_bit_exact_over_airplay2() {
    long_streams_play_bit_exact_over_airplay2(Format::Ogg, "alac-raw");
}

#[test]
fn without_the_privilege_for_the_ptp_ports_the_stream_says_what_to_do_and_exits_17() {
    let rig = Ap2Rig::start(&[airplay2::config("ap2-unpriv")]).unwrap();
    let mut command = rig.sender_command_unprivileged(env!("CARGO_BIN_EXE_airstream"));
    stream_args(&mut command, rig.address(0), &[]);
    let out = run(command, &fixtures::audio("music.wav"), true);
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
    stream_args(
        &mut command,
        rig.address(0),
        &["--volume", "50", "--title", "Tïtle"],
    );
    command
        .args(["--artist", "Artist", "--album", "Album", "--artwork"])
        .arg(&artwork);
    let out = run(command, &fixtures::audio("music.wav"), false);
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

/// `airstream session --protocol airplay2`: one item enqueued, stdin closed, the queue plays
/// out over AirPlay 2, bit-exact, and the receiver's log shows the AirPlay 2 stream (the
/// session takes the same routes as `stream`).
#[test]
fn a_session_plays_its_queue_over_airplay2_bit_exact() {
    let rig = Ap2Rig::start(&[airplay2::config("ap2-session")]).unwrap();
    let source = airstream_testkit::signal::music(44_100 * 4, 44_100);
    let wav = rig.dir.path().join("session.wav");
    std::fs::write(&wav, airstream_testkit::signal::wav_bytes(&source, 44_100)).unwrap();
    let commands = rig.dir.path().join("commands.jsonl");
    std::fs::write(
        &commands,
        format!(
            "{}\n",
            serde_json::json!({"cmd": "enqueue", "source": wav.to_str().unwrap()})
        ),
    )
    .unwrap();
    let mut command = rig.sender_command(env!("CARGO_BIN_EXE_airstream"));
    command
        .env("AIRSTREAM_CONFIG_DIR", "/nonexistent-airstream-config")
        .args(["session", "--address", &rig.address(0).to_string()])
        .args(["--protocol", "airplay2"])
        .stdin(std::fs::File::open(&commands).unwrap());
    let out = command.output().unwrap();
    let receiver = &rig.receivers[0];
    let log = receiver.log_text();
    let events = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{events}\n{}\n{log}",
        String::from_utf8_lossy(&out.stderr)
    );
    let finished: serde_json::Value = events
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find(|e| e["event"] == "finished")
        .unwrap_or_else(|| panic!("no finished event: {events}"));
    assert_eq!(
        finished["report"]["frames_sent"].as_u64(),
        Some(source.len() as u64 / 2),
        "{events}"
    );
    let captured = receiver.captured().unwrap();
    let cmp = align_and_compare(&source, &captured).expect("audio captured");
    eprintln!(
        "session over AirPlay 2: compared {} frames at offset {}, {} mismatched",
        cmp.frames_compared, cmp.offset, cmp.mismatched_frames
    );
    assert!(cmp.is_bit_exact(), "{cmp:?}\n{log}");
    assert_eq!(cmp.frames_compared, source.len() / 2);
    assert_eq!(log.matches("AP2 Realtime Audio Stream").count(), 1, "{log}");
    assert!(!log.contains("Classic AirPlay connection"), "{log}");
}
