//! A group of two shairport-sync 4.3.7 receivers over AirPlay 2 (PTP timing), one of which
//! hangs mid-stream (SIGSTOP: its sockets stay open, nothing answers). It sends us nothing
//! by itself, so only the liveness probe can notice: the sender drops it within
//! `PROBE_AFTER + REQUEST_TIMEOUT` (≈ 3 s) of stream time, measured in packets, which leave
//! on the stream's clock; the other receiver plays the whole source bit-exact.

// Test helpers may unwrap: a panic is a test failure with a message.
#![allow(clippy::unwrap_used)]

use airstream::raop::{self, Protocol, StreamOptions, StreamState};
use airstream_audio::Source;
use airstream_proto::stream::{PROBE_AFTER, REQUEST_TIMEOUT};
use airstream_testkit::airplay2::{self, Ap2Rig};
use airstream_testkit::compare::align_and_compare;
use airstream_testkit::signal::{music, wav_bytes};
use std::time::Duration;

const FRAMES_PER_PACKET: u64 = 352;
const SAMPLE_RATE: u64 = 44_100;
/// Stream time at which the receiver is frozen.
const FREEZE_AT_FRAMES: u64 = 2 * SAMPLE_RATE;

#[test]
fn a_hanging_airplay2_member_is_dropped_within_about_three_seconds_and_the_other_plays_on() {
    let rig = Ap2Rig::start(&[
        airplay2::config("ap2-drop-stays"),
        airplay2::config("ap2-drop-hangs"),
    ])
    .unwrap();
    let source = music(44_100 * 8, 44_100);
    let wav = rig.dir.path().join("source.wav");
    std::fs::write(&wav, wav_bytes(&source, 44_100)).unwrap();
    let receivers: Vec<_> = (0..2)
        .map(|i| raop::Receiver {
            protocol: Protocol::AirPlay2,
            ..raop::Receiver::new(rig.address(i))
        })
        .collect();
    let hangs = &rig.receivers[1];
    let (report, frozen_at_frames) = rig
        .block_on_in_sender(move || async move {
            let pcm = Source::path(wav)
                .open(airstream_audio::PcmFormat::RAOP)
                .unwrap();
            let (handle, task) = raop::start_group(receivers, pcm, StreamOptions::default())
                .await
                .unwrap();
            let task = tokio::spawn(task);
            let mut progress = handle.progress();
            let frozen_at = loop {
                let p = progress.borrow_and_update().clone();
                if p.state == StreamState::Streaming && p.frames_sent >= FREEZE_AT_FRAMES {
                    hangs.freeze().unwrap();
                    break p.frames_sent;
                }
                progress.changed().await.unwrap();
            };
            (task.await.unwrap(), frozen_at)
        })
        .unwrap();
    let report = report.unwrap();
    eprintln!("{report:?}");

    let stays = &report.receivers[0];
    let hung = &report.receivers[1];
    assert_eq!(stays.failure, None);
    let failure = hung
        .failure
        .clone()
        .expect("the hanging member was dropped");
    assert!(
        failure.contains(&format!("within {REQUEST_TIMEOUT:?}")),
        "{failure}"
    );
    // Packets leave on the stream's clock (at most the engine's send-ahead early): what the
    // hanging member was still sent after the freeze is how long noticing took.
    let sent_before =
        report.lead_in_frames / FRAMES_PER_PACKET + frozen_at_frames.div_ceil(FRAMES_PER_PACKET);
    let sent_after = hung.stats.packets_sent.saturating_sub(sent_before);
    let noticed =
        Duration::from_secs_f64((sent_after * FRAMES_PER_PACKET) as f64 / SAMPLE_RATE as f64);
    eprintln!("hanging member dropped after {noticed:?} of stream time ({failure})");
    let send_ahead = Duration::from_millis(500);
    assert!(
        noticed <= PROBE_AFTER + REQUEST_TIMEOUT + send_ahead,
        "{noticed:?}"
    );
    assert!(stays.stats.packets_sent > hung.stats.packets_sent);

    let captured = rig.receivers[0].captured().unwrap();
    let cmp = align_and_compare(&source, &captured).expect("audio in the capture");
    assert!(cmp.is_bit_exact(), "{cmp:?}");
    assert_eq!(cmp.frames_compared, source.len() / 2);
    let log = rig.receivers[0].log_text();
    assert!(log.contains("AP2 Realtime Audio Stream"), "{log}");
    assert!(!log.contains("Classic AirPlay connection"), "{log}");
}
