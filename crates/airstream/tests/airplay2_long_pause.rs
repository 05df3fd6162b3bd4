//! A pause longer than the receiver's `session_timeout` over AirPlay 2 (shairport-sync
//! 4.3.7): unlike 3.3.x it has no watchdog on played frames (only TCP keep-alive on the RTSP
//! connection, which our kernel answers), so the paused session stays, and the resume
//! continues exactly where the pause was.

// Test helpers may unwrap: a panic is a test failure with a message.
#![allow(clippy::unwrap_used)]

use airstream::raop::{self, Protocol, ReceiverState, StreamOptions};
use airstream_audio::Source;
use airstream_testkit::airplay2::{self, Ap2Rig};
use airstream_testkit::compare::{align_and_compare, compare_across_pause};
use airstream_testkit::shairport::ShairportConfig;
use airstream_testkit::signal::{music, wav_bytes};

#[test]
fn a_pause_longer_than_the_session_timeout_over_airplay2_loses_nothing() {
    const SESSION_TIMEOUT: u32 = 3;
    let rig = Ap2Rig::start(&[ShairportConfig {
        output_buffer_seconds: Some(0.05),
        session_timeout: SESSION_TIMEOUT,
        ..airplay2::config("ap2-long-pause")
    }])
    .unwrap();
    let source = music(44_100 * 6, 44_100);
    let wav = rig.dir.path().join("source.wav");
    std::fs::write(&wav, wav_bytes(&source, 44_100)).unwrap();
    let address = raop::Receiver {
        protocol: Protocol::AirPlay2,
        ..raop::Receiver::new(rig.address(0))
    };
    let (report, states) = rig
        .block_on_in_sender(move || async move {
            let pcm = Source::path(wav)
                .open(airstream_audio::PcmFormat::RAOP)
                .unwrap();
            let (handle, task) = raop::start(address, pcm, StreamOptions::default())
                .await
                .unwrap();
            let task = tokio::spawn(task);
            let mut progress = handle.progress();
            while progress.borrow_and_update().frames_sent < 44_100 * 4 {
                progress.changed().await.unwrap();
            }
            handle.pause();
            // Three of its timeouts: a 3.3.x receiver would have ended the session.
            tokio::time::sleep(std::time::Duration::from_secs(
                u64::from(SESSION_TIMEOUT) * 3,
            ))
            .await;
            let states: Vec<ReceiverState> = handle
                .receivers()
                .borrow()
                .iter()
                .map(|r| r.state)
                .collect();
            handle.resume();
            (task.await.unwrap(), states)
        })
        .unwrap();
    let report = report.unwrap();
    assert_eq!(states, vec![ReceiverState::Paused], "the session stayed");
    assert_eq!(report.frames_sent, 44_100 * 6, "every frame counted once");
    let receiver = &rig.receivers[0];
    let log = receiver.log_text();
    let captured = receiver.captured().unwrap();
    let start = align_and_compare(&source, &captured).expect("audio").offset;
    let pause = compare_across_pause(&source, &captured[2 * start..], 44_100 / 10)
        .unwrap_or_else(|e| panic!("{e}\n{log}"));
    eprintln!("paused: {pause:?}");
    assert!(pause.gap > 0, "silence where the pause was: {pause:?}");
    assert!(log.contains("AP2 Realtime Audio Stream"), "{log}");
    assert!(!log.contains("Classic AirPlay connection"), "{log}");
}
