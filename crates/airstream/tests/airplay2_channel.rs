//! How the AirPlay 2 session is opened, against shairport-sync 4.3.7 (at log verbosity 3,
//! where it logs each pair-setup and pair-verify request): with transient pairing the whole
//! session runs on the encrypted channel and the audio arrives bit-exact; asked for NTP
//! timing, which shairport-sync refuses (it takes only PTP), the stream fails with one clear
//! error instead of hanging.

// Test helpers may unwrap: a panic is a test failure with a message.
#![allow(clippy::unwrap_used)]

use airstream::raop::{self, Ap2Pairing, Protocol, StreamOptions, TimingProtocol};
use airstream_audio::Source;
use airstream_testkit::airplay2::{self, Ap2Rig};
use airstream_testkit::compare::align_and_compare;
use airstream_testkit::shairport::ShairportConfig;
use airstream_testkit::signal::{music, wav_bytes};

fn rig(name: &str) -> Ap2Rig {
    Ap2Rig::start(&[ShairportConfig {
        log_verbosity: 3,
        ..airplay2::config(name)
    }])
    .unwrap()
}

#[test]
fn transient_pairing_runs_the_whole_stream_on_the_encrypted_channel_bit_exact() {
    let rig = rig("ap2-transient");
    let source = music(44_100 * 2, 44_100);
    let wav = rig.dir.path().join("source.wav");
    std::fs::write(&wav, wav_bytes(&source, 44_100)).unwrap();
    let receiver = raop::Receiver {
        protocol: Protocol::AirPlay2,
        ap2_pairing: Ap2Pairing::Transient,
        ..raop::Receiver::new(rig.address(0))
    };
    let report = rig
        .run_in_sender(move || {
            raop::blocking::stream(receiver, Source::path(wav), StreamOptions::default())
        })
        .unwrap()
        .unwrap();
    let shairport = &rig.receivers[0];
    let cmp = align_and_compare(&source, &shairport.captured().unwrap()).expect("audio");
    eprintln!(
        "transient: {} frames compared, {} mismatched; {} packets",
        cmp.frames_compared, cmp.mismatched_frames, report.packets_sent
    );
    assert!(cmp.is_bit_exact(), "{cmp:?}");
    assert_eq!(cmp.frames_compared, source.len() / 2);
    let log = shairport.log_text();
    // Transient pair-setup is M1 and M3; no pair-verify.
    assert_eq!(
        log.matches("handle_pair-setup Content-Length").count(),
        2,
        "{log}"
    );
    assert!(!log.contains("pair-verify Content-Length"), "{log}");
    assert!(log.contains("AP2 Realtime Audio Stream"), "{log}");
    assert!(!log.contains("Classic AirPlay connection"), "{log}");
    assert_eq!(shairport.log_errors(), Vec::<String>::new(), "{log}");
}

#[test]
fn ntp_timing_to_a_ptp_only_receiver_is_one_clear_error() {
    let rig = rig("ap2-ntp-refused");
    let source = music(44_100, 44_100);
    let wav = rig.dir.path().join("source.wav");
    std::fs::write(&wav, wav_bytes(&source, 44_100)).unwrap();
    let receiver = raop::Receiver {
        protocol: Protocol::AirPlay2,
        ap2_timing: TimingProtocol::Ntp,
        ..raop::Receiver::new(rig.address(0))
    };
    let err = rig
        .run_in_sender(move || {
            raop::blocking::stream(receiver, Source::path(wav), StreamOptions::default())
        })
        .unwrap()
        .unwrap_err();
    eprintln!("NTP to shairport-sync: {err} ({:?})", err.kind());
    assert_eq!(err.kind(), airstream::ErrorKind::Protocol, "{err}");
    assert!(err.to_string().contains("SETUP with 400"), "{err}");
    // Our session SETUP reached it as an NTP-timed one, which it refuses by design.
    let log = rig.receivers[0].log_text();
    assert!(log.contains("SETUP: NTP setup from"), "{log}");
    assert!(log.contains("can not handle NTP streams"), "{log}");
    assert!(!log.contains("AP2 Realtime Audio Stream"), "{log}");
}
