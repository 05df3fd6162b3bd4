//! Seeking lands on the exact frame: after `seek(n)` the source gives what a read from the
//! start gives from frame `n` on, sample for sample — also where the input is resampled
//! (48 kHz → 44.1 kHz) or dithered (24-bit, float). Inputs read as streams refuse with a
//! typed error and stay as they were.

#![allow(clippy::unwrap_used)] // tests may unwrap

mod common;

use airstream_audio::{AudioError, PcmFormat, PcmSource};
use common::{Mode, decode_all, decode_ok, source};

/// Reads `frames` frames (or up to the end).
fn read_frames(pcm: &mut dyn PcmSource, frames: usize) -> Vec<i16> {
    let mut out = Vec::new();
    let mut buf = vec![0i16; 777 * 2];
    while out.len() < frames * 2 {
        let want = (frames * 2 - out.len()).min(buf.len());
        match pcm.read(&mut buf[..want]).unwrap() {
            0 => break,
            n => out.extend_from_slice(&buf[..n * 2]),
        }
    }
    out
}

/// Where two sample runs first differ, for the failure message.
fn first_difference(a: &[i16], b: &[i16]) -> String {
    match a.iter().zip(b).position(|(x, y)| x != y) {
        Some(i) => format!("first difference at sample {i}: {} vs {}", a[i], b[i]),
        None => format!("lengths {} vs {}", a.len(), b.len()),
    }
}

fn check_file(name: &str) {
    let whole = decode_ok(source(name, Mode::Path)).samples;
    let frames = whole.len() / 2;
    let targets = [0, 1, 351, 12_345, frames / 2, frames - 100, frames];
    for &target in &targets {
        let mut pcm = source(name, Mode::Path).open(PcmFormat::RAOP).unwrap();
        pcm.seek(target as u64)
            .unwrap_or_else(|e| panic!("{name} @ {target} of {frames}: {e}"));
        let after = decode_all(pcm);
        assert!(
            after.error.is_none(),
            "{name} @ {target}: {:?}",
            after.error
        );
        assert!(
            after.samples == whole[target * 2..],
            "{name}: after a seek to frame {target} the audio differs from a read through \
             ({} vs {} samples)",
            after.samples.len(),
            whole[target * 2..].len()
        );
    }
    // Forward, then back, on one source, between reads.
    let mut pcm = source(name, Mode::Path).open(PcmFormat::RAOP).unwrap();
    let first = read_frames(pcm.as_mut(), 5000);
    assert!(first == whole[..10_000], "{name}: the first 5000 frames");
    pcm.seek((frames / 4 * 3) as u64).unwrap();
    let ahead = read_frames(pcm.as_mut(), 3000);
    let expected = &whole[frames / 4 * 6..frames / 4 * 6 + 6000];
    assert!(
        ahead == expected,
        "{name}: forward: {}",
        first_difference(&ahead, expected)
    );
    pcm.seek(2000).unwrap();
    let back = decode_all(pcm);
    assert!(
        back.samples == whole[4000..],
        "{name}: back: {}",
        first_difference(&back.samples, &whole[4000..])
    );
}

#[test]
fn lossless_files_continue_at_the_exact_frame() {
    for name in ["music.wav", "music.flac", "music.aiff", "music_alac.m4a"] {
        check_file(name);
    }
}

#[test]
fn resampled_and_dithered_files_continue_at_the_exact_frame() {
    // 48 kHz 24-bit FLAC: the resampler restarts on its period and the dither is moved on.
    for name in ["music_s24_48k.flac", "music_f32.wav", "music_mono.wav"] {
        check_file(name);
    }
}

#[test]
fn pipes_refuse_to_seek_and_play_on_unchanged() {
    let whole = decode_ok(source("music.flac", Mode::Path)).samples;
    let mut pcm = source("music.flac", Mode::Pipe)
        .open(PcmFormat::RAOP)
        .unwrap();
    let first = read_frames(pcm.as_mut(), 1000);
    let err = pcm.seek(44_100).unwrap_err();
    assert!(matches!(err, AudioError::NotSeekable { .. }), "{err:?}");
    assert!(
        err.to_string()
            .starts_with("pipe:music.flac: cannot seek: it is read as a stream"),
        "{err}"
    );
    let rest = decode_all(pcm);
    assert!([first, rest.samples].concat() == whole, "nothing lost");
}

#[test]
fn a_position_beyond_the_end_is_refused() {
    let whole = decode_ok(source("music.wav", Mode::Path)).samples;
    let mut pcm = source("music.wav", Mode::Path)
        .open(PcmFormat::RAOP)
        .unwrap();
    let err = pcm.seek((whole.len() / 2 + 44_100) as u64).unwrap_err();
    assert!(matches!(err, AudioError::NotSeekable { .. }), "{err:?}");
    assert!(err.to_string().contains("beyond its end"), "{err}");
    assert!(decode_all(pcm).samples == whole, "unchanged");
}

#[test]
fn an_absurd_position_is_refused_in_every_format_never_a_panic() {
    for name in [
        "music.wav",
        "music.flac",
        "music.mp3",
        "music.ogg",
        "music_s24_48k.flac",
        "music_alac.m4a",
    ] {
        let mut pcm = source(name, Mode::Path).open(PcmFormat::RAOP).unwrap();
        for frame in [u64::MAX, u64::MAX / 2, 1 << 40] {
            let err = pcm.seek(frame).err();
            assert!(
                matches!(err, Some(AudioError::NotSeekable { .. })),
                "{name} at {frame}: {err:?}"
            );
        }
    }
}
