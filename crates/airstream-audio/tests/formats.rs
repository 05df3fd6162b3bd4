//! Every format × {path, buffer, pipe}: lossless files at 44.1 kHz/16-bit are bit-exact
//! against the PCM they were made from; everything else decodes identically whichever way it
//! is handed over.

#![allow(clippy::unwrap_used)] // tests and benches may unwrap

mod common;

use airstream_audio::{PcmFormat, Source};
use common::{Mode, decode_ok, reference_pcm, source, wav_samples};

/// Decodes `name` all three ways; asserts they agree and returns the samples.
fn decode_every_way(name: &str) -> Vec<i16> {
    let path = decode_ok(source(name, Mode::Path)).samples;
    for mode in [Mode::Buffer, Mode::Pipe] {
        let other = decode_ok(source(name, mode)).samples;
        assert_eq!(other.len(), path.len(), "{name}: {mode:?} vs path length");
        assert!(
            other == path,
            "{name}: {mode:?} decode differs from the path decode"
        );
    }
    assert!(!path.is_empty(), "{name}: no audio");
    path
}

fn assert_bit_exact(name: &str, expected: &[i16]) {
    let got = decode_every_way(name);
    assert_eq!(got.len(), expected.len(), "{name}: sample count");
    let first_diff = got.iter().zip(expected).position(|(a, b)| a != b);
    assert_eq!(first_diff, None, "{name}: first differing sample");
}

#[test]
fn wav_16_bit_is_bit_exact() {
    assert_bit_exact("music.wav", &reference_pcm());
}

#[test]
fn flac_16_bit_is_bit_exact() {
    assert_bit_exact("music.flac", &reference_pcm());
}

#[test]
fn m4a_alac_is_bit_exact() {
    assert_bit_exact("music_alac.m4a", &reference_pcm());
}

#[test]
fn aiff_is_bit_exact() {
    // music.aiff holds the first 0.75 s of music.wav.
    let reference = reference_pcm();
    assert_bit_exact("music.aiff", &reference[..33_075 * 2]);
}

#[test]
fn wav_8_bit_is_widened_exactly() {
    let (_, _, source) = wav_samples("music_u8.wav");
    let expected: Vec<i16> = source.iter().map(|&s| (s * 32768.0) as i16).collect();
    assert!(expected.iter().all(|s| s.trailing_zeros() >= 8));
    assert_bit_exact("music_u8.wav", &expected);
}

#[test]
fn mono_wav_goes_to_both_channels_exactly() {
    let (_, channels, mono) = wav_samples("music_mono.wav");
    assert_eq!(channels, 1);
    let expected: Vec<i16> = mono
        .iter()
        .flat_map(|&s| [(s * 32768.0) as i16; 2])
        .collect();
    assert_bit_exact("music_mono.wav", &expected);
}

/// Sources wider than 16 bits are dithered: every sample within the dither's reach of the
/// exact value, errors centred on zero, and not simply rounded.
fn assert_dithered_close(name: &str) {
    let (rate, channels, exact) = wav_samples(name);
    assert_eq!((rate, channels), (44_100, 2));
    let got = decode_every_way(name);
    assert_eq!(got.len(), exact.len(), "{name}: sample count");
    let mut sum = 0.0;
    let mut not_rounded = 0;
    for (&g, &x) in got.iter().zip(&exact) {
        let target = x * 32768.0;
        let err = f64::from(g) - target;
        assert!(err.abs() <= 1.5, "{name}: {g} vs {target}");
        sum += err;
        if i32::from(g) != target.round() as i32 {
            not_rounded += 1;
        }
    }
    let mean = sum / got.len() as f64;
    assert!(mean.abs() < 0.05, "{name}: mean error {mean}");
    assert!(not_rounded > got.len() / 10, "{name}: looks undithered");
}

#[test]
fn wav_24_bit_is_dithered_to_16() {
    assert_dithered_close("music_s24.wav");
}

#[test]
fn wav_32_bit_is_dithered_to_16() {
    assert_dithered_close("music_s32.wav");
}

#[test]
fn wav_float_32_is_dithered_to_16() {
    assert_dithered_close("music_f32.wav");
}

#[test]
fn wav_float_32_extensible_is_dithered_to_16() {
    assert_dithered_close("music_f32_ext.wav");
}

#[test]
fn wav_float_64_is_dithered_to_16() {
    // hound does not read 64-bit float: parse the plain 44-byte-header file ourselves.
    let bytes = common::fixture_bytes("music_f64.wav");
    assert_eq!(&bytes[36..40], b"data");
    let exact: Vec<f64> = bytes[44..]
        .chunks_exact(8)
        .map(|c| f64::from_le_bytes(c.try_into().unwrap()))
        .collect();
    let got = decode_every_way("music_f64.wav");
    assert_eq!(got.len(), exact.len());
    for (&g, &x) in got.iter().zip(&exact) {
        assert!((f64::from(g) - x * 32768.0).abs() <= 1.5);
    }
}

#[test]
fn wav_extensible_5_1_is_downmixed_without_clipping() {
    let (_, channels, six) = wav_samples("music_5ch1_ext.wav");
    assert_eq!(channels, 6);
    let got = decode_every_way("music_5ch1_ext.wav");
    assert_eq!(got.len(), six.len() / 3);
    // FL FR FC LFE BL BR: centre and rear at -3 dB, LFE dropped, scaled by 1/(1 + 2·0.707).
    let h = std::f64::consts::FRAC_1_SQRT_2;
    let scale = 1.0 / (1.0 + 2.0 * h);
    for (frame, out) in six.chunks_exact(6).zip(got.chunks_exact(2)) {
        let left = (frame[0] + h * frame[2] + h * frame[4]) * scale * 32768.0;
        let right = (frame[1] + h * frame[2] + h * frame[5]) * scale * 32768.0;
        // 16-bit source: rounded, not dithered.
        assert!(
            (f64::from(out[0]) - left).abs() <= 0.5 + 1e-3,
            "{out:?} vs {left}"
        );
        assert!(
            (f64::from(out[1]) - right).abs() <= 0.5 + 1e-3,
            "{out:?} vs {right}"
        );
    }
}

/// Lossy formats: the same samples every way, about the expected length, and audibly the
/// reference music (level within 2 dB).
fn assert_lossy(name: &str, expected_frames: usize, tolerance: usize) {
    let got = decode_every_way(name);
    let frames = got.len() / 2;
    assert!(
        frames.abs_diff(expected_frames) <= tolerance,
        "{name}: {frames} frames, expected about {expected_frames}"
    );
    let reference = reference_pcm();
    let level = |s: &[i16]| common::rms(&common::channel(s, 2, 0));
    let db = 20.0 * (level(&got) / level(&reference[..expected_frames.min(66_150) * 2])).log10();
    assert!(db.abs() < 2.0, "{name}: level differs by {db:.1} dB");
}

#[test]
fn mp3_decodes_the_same_every_way() {
    // LAME's gapless info trims the encoder delay: exactly the source length.
    assert_lossy("music.mp3", 66_150, 0);
    // And it lines up with the source: the coding noise is well below the music.
    let got = decode_ok(source("music.mp3", Mode::Path)).samples;
    let reference = reference_pcm();
    let noise: Vec<f64> = got
        .iter()
        .zip(&reference)
        .map(|(&a, &b)| f64::from(a) - f64::from(b))
        .collect();
    let signal: Vec<f64> = reference.iter().map(|&s| f64::from(s)).collect();
    let snr = 20.0 * (common::rms(&signal) / common::rms(&noise)).log10();
    assert!(snr > 15.0, "MP3 vs source: {snr:.1} dB");
}

#[test]
fn ogg_vorbis_decodes_the_same_every_way() {
    assert_lossy("music.ogg", 66_150, 0);
}

#[test]
fn m4a_aac_decodes_the_same_every_way() {
    // ISO MP4 in symphonia 0.6 is not gapless: the AAC priming frames stay in.
    assert_lossy("music_aac.m4a", 66_150, 2048);
}

#[test]
fn m4a_with_the_index_at_the_end_plays_from_a_pipe_too() {
    assert_lossy("music_moov_at_end.m4a", 22_050, 2048);
}

#[test]
fn flac_24_bit_48k_is_resampled_and_dithered_the_same_every_way() {
    let got = decode_every_way("music_s24_48k.flac");
    // 1 s at 48 kHz is exactly 44100 frames at 44.1 kHz.
    assert_eq!(got.len(), 44_100 * 2);
    let level = common::rms(&common::channel(&got, 2, 0)) / 32768.0;
    assert!((0.05..0.5).contains(&level), "level {level}");
}

/// A 1 kHz sine at another rate arrives as a 1 kHz sine at 44.1 kHz: frequency, level and
/// SNR measured on the output.
fn assert_resampled_sine(name: &str, rate_in: u32) {
    let (rate, channels, input) = wav_samples(name);
    assert_eq!((rate, channels), (rate_in, 1));
    let got = decode_every_way(name);
    let expected_frames = (input.len() as f64 * 44_100.0 / f64::from(rate_in)).ceil() as usize;
    assert_eq!(got.len(), expected_frames * 2);
    let left = common::channel(&got, 2, 0);
    assert_eq!(
        left,
        common::channel(&got, 2, 1),
        "mono must reach both channels"
    );
    // Leave out the edges, where the signal starts and stops abruptly.
    let steady = &left[2000..left.len() - 2000];
    let (freq, amplitude, snr) = common::analyse_sine(steady, 44_100.0);
    let level_db = 20.0 * (amplitude / 32768.0).log10();
    println!("{name}: {freq:.4} Hz, {level_db:.3} dBFS, SNR {snr:.1} dB");
    assert!((freq - 1000.0).abs() < 0.01, "{name}: {freq} Hz");
    assert!((level_db + 1.0).abs() < 0.05, "{name}: {level_db} dBFS");
    assert!(snr >= 90.0, "{name}: SNR {snr:.1} dB");
}

#[test]
fn sine_48k_resamples_to_44k1_cleanly() {
    assert_resampled_sine("sine1k_48k.wav", 48_000);
}

#[test]
fn sine_96k_resamples_to_44k1_cleanly() {
    assert_resampled_sine("sine1k_96k.wav", 96_000);
}

#[test]
fn mono_target_is_supported() {
    let target = PcmFormat {
        sample_rate: 44_100,
        channels: 1,
    };
    let pcm = Source::path(common::fixture("music_mono.wav"))
        .open(target)
        .unwrap();
    assert_eq!(pcm.format(), target);
    let got = common::decode_all(pcm).samples;
    let (_, _, mono) = wav_samples("music_mono.wav");
    let expected: Vec<i16> = mono.iter().map(|&s| (s * 32768.0) as i16).collect();
    assert!(got == expected);
}
