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
    played_on_unchanged(&mut rx, task, &source).await;
}

/// After a refused move: the stream played `source` (2 s) to its end, every frame once,
/// and the receiver got no FLUSH.
async fn played_on_unchanged(
    rx: &mut Receiver,
    task: tokio::task::JoinHandle<airstream::Result<raop::StreamReport>>,
    source: &[i16],
) {
    let report = task.await.unwrap().unwrap();
    assert_eq!(report.frames_sent, (2 * RATE) as u64, "nothing lost");
    let record = rx
        .next_session_within(Duration::from_secs(5))
        .await
        .unwrap();
    assert_eq!(record.summary.flushes, 0);
    let lead = report.lead_in_frames as usize;
    assert_eq!(run_length(source, &record.samples, lead, 0), 2 * RATE);
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
        // 4 s heard, then on to 6.000 s: frame 264 600.
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

/// A queue of three files (`a` and `b` of the lengths given, then 1 s; the samples of `b` and
/// `c` are never 0) streamed to the in-repo receiver; `skip` once `skip_at` seconds of `a`
/// were heard. Returns the sources and what the receiver got from the end of the lead-in on.
async fn skip_once(seconds: [usize; 2], skip_at: f64) -> ([Vec<i16>; 3], Vec<i16>) {
    use airstream_audio::{Queue, QueueItem};
    let mut rx = receiver().await;
    let a = music(RATE * seconds[0], 44_100);
    let b: Vec<i16> = music(RATE * seconds[1], 44_100)
        .iter()
        .map(|s| (s / 2) | 1)
        .collect();
    let c: Vec<i16> = music(RATE, 44_100).iter().map(|s| (s / 3) | 1).collect();
    let dir = tempfile::tempdir().unwrap();
    let items: Vec<QueueItem> = [&a, &b, &c]
        .iter()
        .enumerate()
        .map(|(i, samples)| {
            let path = dir.path().join(format!("{i}.wav"));
            std::fs::write(&path, wav_bytes(samples, 44_100)).unwrap();
            QueueItem::source(Source::path(path))
        })
        .collect();
    let queue = Queue::new(PcmFormat::RAOP, items.into_iter(), Duration::from_secs(1)).unwrap();
    let (handle, driver) = raop::start(rx.local_addr(), Box::new(queue), options())
        .await
        .unwrap();
    let task = tokio::spawn(driver);
    position_reaches(&handle, skip_at).await;
    handle.skip().await.unwrap();
    let at = handle.progress().borrow().position().as_secs_f64();
    assert!(
        (skip_at..skip_at + 0.1).contains(&at),
        "the position goes on from where the skip was heard: {at}"
    );
    let report = task.await.unwrap().unwrap();
    let record = rx
        .next_session_within(Duration::from_secs(5))
        .await
        .unwrap();
    assert_eq!(record.summary.flushes, 1);
    let received = record.samples[report.lead_in_frames as usize * 2..].to_vec();
    ([a, b, c], received)
}

/// What a skip must leave: `a` from its start up to the skip, silence, then `b` and `c`
/// whole and back to back, then silence.
fn assert_skipped_to_b(sources: &[Vec<i16>; 3], received: &[i16], skip_at: f64) {
    let [a, b, c] = sources;
    let heard = run_length(a, received, 0, 0);
    let skipped_at = (skip_at * RATE as f64) as usize;
    assert!(
        heard >= skipped_at && heard < skipped_at + RATE / 2,
        "{heard} frames of a before the skip at {skipped_at}"
    );
    let b_at = next_sound(received, heard);
    assert_eq!(run_length(b, received, b_at, 0), b.len() / 2, "b whole");
    let c_at = b_at + b.len() / 2;
    assert_eq!(run_length(c, received, c_at, 0), c.len() / 2, "c whole");
    assert!(received[(c_at + c.len() / 2) * 2..].iter().all(|s| *s == 0));
    eprintln!(
        "a 0..{heard}, {} frames of silence, then b and c whole",
        b_at - heard
    );
}

#[tokio::test]
async fn a_skip_plays_the_next_item_whole_from_its_first_frame() {
    let (sources, received) = skip_once([6, 2], 1.0).await;
    assert_skipped_to_b(&sources, &received, 1.0);
}

#[tokio::test]
async fn a_skip_near_the_end_plays_the_next_item_again_from_its_start() {
    // 0.3 s before the end of a: the reader has read well into b (the latency, the 2 s the
    // decode thread hands over ahead and the engine's 0.5 s), not past it.
    let (sources, received) = skip_once([3, 5], 2.7).await;
    assert_skipped_to_b(&sources, &received, 2.7);
}

#[tokio::test]
async fn a_skip_when_the_items_after_were_read_to_their_end_plays_them_again_whole() {
    // b and c (1 s each) were read to their end (the queue's end too) when a is skipped.
    let (sources, received) = skip_once([3, 1], 2.7).await;
    assert_skipped_to_b(&sources, &received, 2.7);
}

#[tokio::test]
async fn a_single_source_refuses_to_skip_with_a_typed_error_and_plays_on() {
    let mut rx = receiver().await;
    let source = music(RATE * 2, 44_100);
    let pcm = Box::new(airstream_audio::VecSource::new(
        PcmFormat::RAOP,
        source.clone(),
    ));
    let (handle, driver) = raop::start(rx.local_addr(), pcm, options()).await.unwrap();
    let task = tokio::spawn(driver);
    position_reaches(&handle, 0.5).await;
    let err = handle.skip().await.unwrap_err();
    assert!(
        matches!(err, Error::Input(AudioError::NotSkippable { .. })),
        "{err:?}"
    );
    played_on_unchanged(&mut rx, task, &source).await;
}
