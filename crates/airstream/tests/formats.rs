//! Every input format, from a path, a buffer in memory and a non-seekable pipe, streamed to
//! the in-repo receiver: what arrives equals a reference decode of the same file, sample for
//! sample, and lossless inputs equal the PCM they were made from.

// Test helpers may unwrap: a panic is a test failure with a message.
#![allow(clippy::unwrap_used)]

use airstream::raop::{self, Codec, StreamOptions};
use airstream_audio::{PcmFormat, Source};
use airstream_receiver::{Receiver, ReceiverConfig};
use airstream_testkit::fixtures;
use std::io::Write;
use std::time::Duration;

#[derive(Debug, Clone, Copy)]
enum Mode {
    Path,
    Buffer,
    Pipe,
}

fn source(name: &str, mode: Mode) -> Source {
    match mode {
        Mode::Path => Source::path(fixtures::audio(name)),
        Mode::Buffer => Source::buffer(std::fs::read(fixtures::audio(name)).unwrap()),
        Mode::Pipe => {
            // A real OS pipe: no seeking, short reads.
            let (reader, mut writer) = std::io::pipe().unwrap();
            let bytes = std::fs::read(fixtures::audio(name)).unwrap();
            std::thread::spawn(move || {
                for chunk in bytes.chunks(4096) {
                    if writer.write_all(chunk).is_err() {
                        return;
                    }
                }
            });
            Source::reader(reader)
        }
    }
}

fn reference(name: &str) -> Vec<i16> {
    fixtures::reference(name).unwrap()
}

/// Streams `name` handed over as `mode` and returns what the receiver kept after the lead-in.
async fn stream(name: &str, mode: Mode, codec: Codec) -> Vec<i16> {
    let mut rx = Receiver::start(ReceiverConfig::default()).await.unwrap();
    let src = source(name, mode);
    let pcm = tokio::task::spawn_blocking(move || src.open(PcmFormat::RAOP))
        .await
        .unwrap()
        .unwrap();
    let options = StreamOptions {
        codec,
        latency: Duration::from_millis(300),
        ..StreamOptions::default()
    };
    let report = raop::stream_to_end(rx.local_addr(), pcm, options)
        .await
        .unwrap();
    let record = rx
        .next_session_within(Duration::from_secs(5))
        .await
        .unwrap();
    let lead = report.lead_in_frames as usize * 2;
    record.samples[lead..].to_vec()
}

async fn check(name: &str, lossless_source: Option<&str>) {
    let expected = reference(name);
    assert!(
        expected.len() >= 20_000,
        "{name} decodes to {} samples",
        expected.len()
    );
    if let Some(pcm_source) = lossless_source {
        let original = reference(pcm_source);
        let first_difference = expected.iter().zip(&original).position(|(a, b)| a != b);
        // Some fixtures hold only the start of the PCM they were made from.
        assert!(
            expected.len() <= original.len() && first_difference.is_none(),
            "{name} is lossless: {} vs {} samples, first difference at {first_difference:?}",
            expected.len(),
            original.len()
        );
    }
    for (mode, codec) in [
        (Mode::Path, Codec::Alac),
        (Mode::Buffer, Codec::AlacRaw),
        (Mode::Pipe, Codec::Pcm),
    ] {
        let received = stream(name, mode, codec).await;
        assert!(
            received.len() >= expected.len(),
            "{name} via {mode:?}: short"
        );
        assert!(
            received[..expected.len()] == expected[..],
            "{name} via {mode:?} ({codec:?}) differs from its reference decode"
        );
        assert!(
            received[expected.len()..].iter().all(|s| *s == 0),
            "then silence"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn wav() {
    check("music.wav", None).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn flac() {
    check("music.flac", Some("music.wav")).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn alac_in_m4a() {
    check("music_alac.m4a", Some("music.wav")).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn aiff() {
    check("music.aiff", Some("music.wav")).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn mp3() {
    check("music.mp3", None).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn ogg_vorbis() {
    check("music.ogg", None).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn aac_in_m4a() {
    check("music_aac.m4a", None).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn converted_inputs_24_bit_float_mono_48k() {
    for name in [
        "music_s24.wav",
        "music_f32.wav",
        "music_mono.wav",
        "music_s24_48k.flac",
        "music_5ch1_ext.wav",
    ] {
        check(name, None).await;
    }
}
