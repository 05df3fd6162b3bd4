//! Seeking a running stream against the in-repo receiver on loopback: from the first frame
//! after each seek, what arrives is the source from the target frame on, sample for sample;
//! a source read as a stream refuses with a typed error and plays on with nothing lost.

// Test helpers may unwrap: a panic is a test failure with a message.
#![allow(clippy::unwrap_used)]

use airstream::raop::{self, Codec, StreamOptions};
use airstream::{Error, ErrorKind};
use airstream_audio::{AudioError, PcmFormat, Source};
use airstream_receiver::{Behaviour, Receiver, ReceiverConfig};
use airstream_testkit::signal::{music, wav_bytes};
use std::time::Duration;

const RATE: usize = 44_100;

fn options() -> StreamOptions {
    StreamOptions {
        codec: Codec::Alac,
        latency: Duration::from_millis(500),
        ..StreamOptions::default()
    }
}

async fn receiver() -> Receiver {
    Receiver::start(ReceiverConfig {
        behaviour: Behaviour::default(),
        ..ReceiverConfig::default()
    })
    .await
    .unwrap()
}

/// Waits until the stream's position reached `seconds`.
async fn position_reaches(handle: &raop::StreamHandle, seconds: f64) {
    let mut progress = handle.progress();
    while progress.borrow_and_update().position().as_secs_f64() < seconds {
        progress.changed().await.unwrap();
    }
}

/// Frames from `at` of `received` that equal the source from frame `from` on.
fn run_length(source: &[i16], received: &[i16], at: usize, from: usize) -> usize {
    source[from * 2..]
        .chunks_exact(2)
        .zip(received[at * 2..].chunks_exact(2))
        .take_while(|(s, r)| s == r)
        .count()
}

/// The first frame at or after `from` that is not silence.
fn next_sound(received: &[i16], from: usize) -> usize {
    from + received[from * 2..]
        .chunks_exact(2)
        .position(|f| f != [0, 0])
        .unwrap()
}

#[tokio::test]
async fn seeks_forward_and_back_continue_at_the_exact_frame() {
    let mut rx = receiver().await;
    let source = music(RATE * 7, 44_100);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("song.wav");
    std::fs::write(&path, wav_bytes(&source, 44_100)).unwrap();
    let pcm = Source::path(&path).open(PcmFormat::RAOP).unwrap();
    let (handle, driver) = raop::start(rx.local_addr(), pcm, options()).await.unwrap();
    let task = tokio::spawn(driver);
    position_reaches(&handle, 1.0).await;
    handle.seek(Duration::from_secs(5)).await.unwrap();
    let at = handle.progress().borrow().position().as_secs_f64();
    assert!((5.0..5.5).contains(&at), "the position follows: {at}");
    position_reaches(&handle, 6.0).await;
    handle.seek(Duration::from_secs(4)).await.unwrap();
    let report = task.await.unwrap().unwrap();
    let record = rx
        .next_session_within(Duration::from_secs(5))
        .await
        .unwrap();
    assert_eq!(record.summary.flushes, 2);
    // This receiver keeps what arrived before a FLUSH's point; after it: silence while the
    // FLUSH is answered and the lead-in, then the source from the target on.
    let received = &record.samples;
    let lead = report.lead_in_frames as usize;
    let first = run_length(&source, received, lead, 0);
    assert!(first > RATE / 4, "{first} frames before the first seek");
    let second_at = next_sound(received, lead + first);
    let second = run_length(&source, received, second_at, 5 * RATE);
    assert!(second > RATE / 4, "{second} frames from 5.0 s on");
    let third_at = next_sound(received, second_at + second);
    let third = run_length(&source, received, third_at, 4 * RATE);
    assert_eq!(third, 3 * RATE, "from 4.0 s to the end, every frame");
    assert!(received[(third_at + third) * 2..].iter().all(|s| *s == 0));
    eprintln!(
        "0..{first}, then 220500..{} after {} frames of silence, then 176400..308700 after {}",
        5 * RATE + second,
        second_at - lead - first,
        third_at - second_at - second
    );
    // Every frame sent that was heard: the first part, the second up to the seek, the third.
    assert!(report.frames_sent >= (first + 3 * RATE) as u64);
}

#[tokio::test]
async fn a_pipe_refuses_to_seek_with_a_typed_error_and_plays_on() {
    let mut rx = receiver().await;
    let source = music(RATE * 2, 44_100);
    let (reader, mut writer) = std::io::pipe().unwrap();
    let bytes = wav_bytes(&source, 44_100);
    std::thread::spawn(move || std::io::Write::write_all(&mut writer, &bytes));
    let pcm = Source::reader(reader)
        .with_name("pipe")
        .open(PcmFormat::RAOP)
        .unwrap();
    let (handle, driver) = raop::start(rx.local_addr(), pcm, options()).await.unwrap();
    let task = tokio::spawn(driver);
    position_reaches(&handle, 0.5).await;
    let err = handle.seek(Duration::from_secs(1)).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Input);
    assert!(
        matches!(err, Error::Input(AudioError::NotSeekable { .. })),
        "{err:?}"
    );
    assert_eq!(
        err.to_string(),
        "pipe: cannot seek: it is read as a stream (a pipe, stdin or a URL), which cannot seek"
    );
    let report = task.await.unwrap().unwrap();
    assert_eq!(report.frames_sent, (2 * RATE) as u64, "nothing lost");
    let record = rx
        .next_session_within(Duration::from_secs(5))
        .await
        .unwrap();
    assert_eq!(record.summary.flushes, 0);
    let lead = report.lead_in_frames as usize;
    assert_eq!(run_length(&source, &record.samples, lead, 0), 2 * RATE);
}

/// Over AirPlay 2 (realtime audio, anchors on the PTP clock) to shairport-sync 4.3.7: after a
/// seek the capture holds the source from the target frame to its end, sample for sample.
#[test]
fn a_seek_over_airplay2_plays_from_the_exact_frame() {
    use airstream::raop::Protocol;
    use airstream_testkit::airplay2::{self, Ap2Rig};
    use airstream_testkit::compare::align_and_compare;
    use airstream_testkit::shairport::ShairportConfig;

    let rig = Ap2Rig::start(&[ShairportConfig {
        output_buffer_seconds: Some(0.05),
        ..airplay2::config("ap2-seek")
    }])
    .unwrap();
    let source = music(RATE * 8, 44_100);
    let wav = rig.dir.path().join("source.wav");
    std::fs::write(&wav, wav_bytes(&source, 44_100)).unwrap();
    let receiver = raop::Receiver {
        protocol: Protocol::AirPlay2,
        ..raop::Receiver::new(rig.address(0))
    };
    rig.block_on_in_sender(move || async move {
        let pcm = Source::path(wav).open(PcmFormat::RAOP).unwrap();
        let (handle, task) = raop::start(receiver, pcm, StreamOptions::default())
            .await
            .unwrap();
        let task = tokio::spawn(task);
        // About 2 s heard (2 s of latency), then on to 6.000 s: frame 264 600.
        position_reaches(&handle, 4.0).await;
        handle.seek(Duration::from_secs(6)).await.unwrap();
        task.await.unwrap()
    })
    .unwrap()
    .unwrap();
    let receiver = &rig.receivers[0];
    let captured = receiver.captured().unwrap();
    let start = align_and_compare(&source, &captured).expect("audio").offset;
    let heard = run_length(&source, &captured, start, 0);
    assert!(
        heard > RATE && heard < 6 * RATE,
        "{heard} frames before the seek"
    );
    // Then silence (shairport-sync dithers its own by ±2 at most), then the source from the
    // target on, aligned on the first frame that is not silent.
    let resumed = (start + heard..captured.len() / 2)
        .find(|&i| captured[2 * i].unsigned_abs() > 2 || captured[2 * i + 1].unsigned_abs() > 2)
        .expect("audio after the seek");
    let quiet_lead = source[12 * RATE..]
        .chunks_exact(2)
        .take_while(|f| f[0].unsigned_abs() <= 2 && f[1].unsigned_abs() <= 2)
        .count();
    let after = run_length(&source, &captured, resumed - quiet_lead, 6 * RATE);
    assert_eq!(
        after,
        2 * RATE,
        "from 6.0 s to the end\n{}",
        receiver.log_text()
    );
    let log = receiver.log_text();
    assert!(log.contains("AP2 Realtime Audio Stream"), "{log}");
    assert!(!log.contains("Classic AirPlay connection"), "{log}");
}
