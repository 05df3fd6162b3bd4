//! The baseline the AirPlay 2 tests contrast with: shairport-sync 4.3.7 built with AirPlay 2
//! still takes classic AirPlay (ANNOUNCE, NTP timing), and today's RAOP path plays to it
//! bit-exact from the sender namespace. Its log says "Classic AirPlay connection" and not
//! "AP2 Realtime Audio Stream" — the reverse of what every AirPlay 2 test must show.

// Test helpers may unwrap: a panic is a test failure with a message.
#![allow(clippy::unwrap_used)]

use airstream::raop::{self, StreamOptions};
use airstream_audio::Source;
use airstream_testkit::airplay2::{self, Ap2Rig};
use airstream_testkit::compare::align_and_compare;
use airstream_testkit::signal::{music, wav_bytes};

#[test]
fn classic_airplay_to_shairport_sync_4_3_7_is_bit_exact_and_logged_as_classic() {
    let rig = Ap2Rig::start(&[airplay2::config("ap2-classic")]).unwrap();
    let source = music(44_100 * 3, 44_100);
    let wav = rig.dir.path().join("source.wav");
    std::fs::write(&wav, wav_bytes(&source, 44_100)).unwrap();
    let address = rig.address(0);
    let report = rig
        .run_in_sender(move || {
            raop::blocking::stream(address, Source::path(wav), StreamOptions::default())
        })
        .unwrap()
        .unwrap();
    eprintln!("{report:?}");

    let receiver = &rig.receivers[0];
    let log = receiver.log_text();
    let captured = receiver.captured().unwrap();
    let cmp = align_and_compare(&source, &captured).expect("audio in the capture");
    eprintln!(
        "compared {} frames at offset {}: {} mismatched, {} missing",
        cmp.frames_compared, cmp.offset, cmp.mismatched_frames, cmp.missing_frames
    );
    assert!(cmp.is_bit_exact(), "{cmp:?}\n{log}");
    assert_eq!(cmp.frames_compared, source.len() / 2);
    assert!(log.contains("Classic AirPlay connection"), "{log}");
    assert!(!log.contains("AP2 Realtime Audio Stream"), "{log}");
    assert_eq!(receiver.log_errors(), Vec::<String>::new(), "{log}");
}
