//! `airstream stream --protocol airplay2` to a receiver paired with `airstream pair`: the
//! stored HAP credentials open the session with pair-verify and everything after it runs on
//! the encrypted channel, and the audio arrives bit-exact. shairport-sync 4.3.7 on the
//! testkit's [`Ap2Rig`], at log verbosity 3, where it logs each pair-verify step (and at 2
//! already each pair-setup step): its log proves which pairing the stream used.

// Test helpers may unwrap: a panic is a test failure with a message.
#![allow(clippy::unwrap_used)]

use airstream_testkit::airplay2::{self, Ap2Rig};
use airstream_testkit::compare::align_and_compare;
use airstream_testkit::fixtures;
use airstream_testkit::shairport::ShairportConfig;
use std::path::Path;
use std::process::{Output, Stdio};

/// shairport-sync's PIN for full pair-setup when its config sets none.
const PIN: &str = "3939";
/// What shairport-sync logs for each pair-verify request (verbosity 3) and each pair-setup
/// request (verbosity 2).
const PAIR_VERIFY_LOG: &str = "pair-verify Content-Length";
const PAIR_SETUP_LOG: &str = "handle_pair-setup Content-Length";

fn airstream(rig: &Ap2Rig, config: &Path, args: &[&str]) -> Output {
    rig.sender_command(env!("CARGO_BIN_EXE_airstream"))
        .args(args)
        .env("AIRSTREAM_CONFIG_DIR", config)
        .env_remove("AIRSTREAM_PIN")
        .env_remove("AIRSTREAM_CREDENTIALS")
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

#[test]
fn a_paired_receiver_streams_bit_exact_over_pair_verify_and_the_encrypted_channel() {
    let rig = Ap2Rig::start(&[ShairportConfig {
        log_verbosity: 3,
        ..airplay2::config("ap2-paired")
    }])
    .unwrap();
    let receiver = &rig.receivers[0];
    let address = rig.address(0).to_string();
    let config = tempfile::tempdir().unwrap();

    let paired = airstream(
        &rig,
        config.path(),
        &["pair", "--address", &address, "--pin", PIN],
    );
    let stderr = String::from_utf8_lossy(&paired.stderr);
    assert_eq!(paired.status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("HAP PIN pairing"), "{stderr}");

    let log_before = receiver.log_text().len();
    let expected = fixtures::reference("music.wav").unwrap();
    let wav = fixtures::audio("music.wav");
    let out = airstream(
        &rig,
        config.path(),
        &[
            "stream",
            "--address",
            &address,
            "--protocol",
            "airplay2",
            "--json",
            wav.to_str().unwrap(),
        ],
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let captured = receiver.captured().unwrap();
    let cmp = align_and_compare(&expected, &captured).expect("audio captured");
    eprintln!(
        "paired AirPlay 2 stream: compared {} frames, {} mismatched, {} missing",
        cmp.frames_compared, cmp.mismatched_frames, cmp.missing_frames
    );
    assert!(cmp.is_bit_exact(), "{cmp:?}");
    assert_eq!(cmp.frames_compared, expected.len() / 2);

    let log = receiver.log_text();
    let stream_log = &log[log_before..];
    // The stream's session: two pair-verify requests (M1, M3), no pair-setup (transient
    // pairing would be two of those), then the AirPlay 2 realtime stream.
    assert_eq!(
        stream_log.matches(PAIR_VERIFY_LOG).count(),
        2,
        "{stream_log}"
    );
    assert!(!stream_log.contains(PAIR_SETUP_LOG), "{stream_log}");
    let verified_at = stream_log.find(PAIR_VERIFY_LOG).unwrap();
    let audio_at = stream_log
        .find("AP2 Realtime Audio Stream")
        .expect(stream_log);
    assert!(verified_at < audio_at, "{stream_log}");
    assert!(!log.contains("Classic AirPlay connection"), "{log}");
    assert_eq!(receiver.log_errors(), Vec::<String>::new(), "{log}");
}
