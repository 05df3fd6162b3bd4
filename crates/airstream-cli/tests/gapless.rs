//! `airstream stream a b c`: a gapless queue, end to end against shairport-sync 3.3.8 in a
//! network namespace of its own. The capture must be the exact concatenation of the inputs,
//! each converted on its own, and the metadata pipe must show each title in order.

// Test helpers may unwrap: a panic is a test failure with a message.
#![allow(clippy::unwrap_used)]

use airstream_audio::{PcmFormat, Source};
use airstream_testkit::compare::align_and_compare;
use airstream_testkit::shairport::{Rig, ShairportConfig};
use std::path::PathBuf;
use std::time::Duration;

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../airstream-audio/tests/data")
        .join(name)
}

/// What the queue must send for one input: it opened and converted on its own.
fn converted(path: &PathBuf) -> Vec<i16> {
    let mut pcm = Source::path(path).open(PcmFormat::RAOP).unwrap();
    let mut all = Vec::new();
    let mut buf = vec![0i16; 8192];
    loop {
        let frames = pcm.read(&mut buf).unwrap();
        if frames == 0 {
            return all;
        }
        all.extend_from_slice(&buf[..frames * 2]);
    }
}

#[test]
fn three_formats_and_rates_play_as_one_gapless_timeline_with_their_titles() {
    let rig = Rig::start(&ShairportConfig {
        metadata: true,
        ..ShairportConfig::default()
    })
    .unwrap();
    // 48 kHz 24-bit FLAC, 44.1 kHz MP3 (through stdin), 96 kHz mono WAV.
    let (flac, mp3, wav) = (
        fixture("music_s24_48k.flac"),
        fixture("music.mp3"),
        fixture("sine1k_96k.wav"),
    );
    let expected = [converted(&flac), converted(&mp3), converted(&wav)].concat();
    let out = rig
        .ns
        .command(env!("CARGO_BIN_EXE_airstream"))
        .args([
            "stream",
            "--address",
            &rig.address(),
            "--json",
            flac.to_str().unwrap(),
            "-",
            wav.to_str().unwrap(),
        ])
        .stdin(std::fs::File::open(&mp3).unwrap())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["frames_sent"], expected.len() / 2, "{report}");
    assert_eq!(report["underruns"], 0, "{report}");

    let captured = rig.receiver.captured().unwrap();
    let cmp = align_and_compare(&expected, &captured).expect("audio in the capture");
    eprintln!(
        "compared {} frames at offset {}: {} mismatched, {} missing",
        cmp.frames_compared, cmp.offset, cmp.mismatched_frames, cmp.missing_frames
    );
    assert!(cmp.is_bit_exact(), "{cmp:?}");
    assert_eq!(cmp.frames_compared, expected.len() / 2);
    assert_eq!(rig.receiver.log_errors(), Vec::<String>::new());

    let items = rig.receiver.metadata_to_the_end(Duration::from_secs(10));
    let titles: Vec<String> = items
        .iter()
        .filter(|i| i.kind == "core" && i.code == "minm")
        .map(|i| String::from_utf8_lossy(&i.data).to_string())
        .collect();
    let mut distinct = titles.clone();
    distinct.dedup();
    assert_eq!(
        distinct,
        vec!["music_s24_48k.flac", "stdin", "sine1k_96k.wav"],
        "{titles:?}"
    );
}
