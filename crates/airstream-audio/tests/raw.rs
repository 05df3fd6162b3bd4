//! Headerless PCM with an explicit format, from a buffer and from a pipe.

#![allow(clippy::unwrap_used)] // tests and benches may unwrap

mod common;

use airstream_audio::{PcmFormat, RawFormat, Source};
use common::{decode_ok, pipe_of, reference_pcm, wav_samples};

fn both_ways(bytes: Vec<u8>, format: &str) -> Vec<i16> {
    let format: RawFormat = format.parse().unwrap();
    let buffered = decode_ok(Source::buffer(bytes.clone()).raw(format)).samples;
    let piped = decode_ok(Source::reader(pipe_of(bytes)).raw(format)).samples;
    assert!(buffered == piped, "{format}: buffer and pipe differ");
    buffered
}

#[test]
fn s16le_stereo_44k1_is_bit_exact() {
    let pcm = reference_pcm();
    let bytes: Vec<u8> = pcm.iter().flat_map(|s| s.to_le_bytes()).collect();
    assert!(both_ways(bytes, "s16le:44100:2") == pcm);
}

#[test]
fn s16le_trailing_partial_frame_is_dropped() {
    let pcm = reference_pcm();
    let mut bytes: Vec<u8> = pcm.iter().flat_map(|s| s.to_le_bytes()).collect();
    bytes.extend_from_slice(&[1, 2, 3]);
    assert!(both_ways(bytes, "s16le:44100:2") == pcm);
}

fn assert_close(got: &[i16], exact: &[f64]) {
    assert_eq!(got.len(), exact.len());
    for (&g, &x) in got.iter().zip(exact) {
        assert!(
            (f64::from(g) - x * 32768.0).abs() <= 1.5,
            "{g} vs {}",
            x * 32768.0
        );
    }
}

#[test]
fn s24le_s32le_and_f32le_are_dithered_to_16_bit() {
    let (_, _, exact) = wav_samples("music_s24.wav");
    let s24: Vec<u8> = exact
        .iter()
        .flat_map(|&x| ((x * 8_388_608.0) as i32).to_le_bytes()[..3].to_vec())
        .collect();
    assert_close(&both_ways(s24, "s24le:44100:2"), &exact);
    let s32: Vec<u8> = exact
        .iter()
        .flat_map(|&x| ((x * 2_147_483_648.0) as i32).to_le_bytes())
        .collect();
    assert_close(&both_ways(s32, "s32le:44100:2"), &exact);
    let f32le: Vec<u8> = exact
        .iter()
        .flat_map(|&x| (x as f32).to_le_bytes())
        .collect();
    assert_close(&both_ways(f32le, "f32le:44100:2"), &exact);
}

#[test]
fn other_rates_and_channel_counts_are_converted() {
    // 0.5 s of 48 kHz mono becomes 0.5 s of 44.1 kHz stereo.
    let (_, _, sine) = wav_samples("sine1k_48k.wav");
    let bytes: Vec<u8> = sine
        .iter()
        .flat_map(|&x| ((x * 32768.0) as i16).to_le_bytes())
        .collect();
    let out = both_ways(bytes, "s16le:48000:1");
    assert_eq!(out.len(), 22_050 * 2);

    // Eight channels of the same signal: the normalised downmix keeps it at full level.
    let pcm = reference_pcm();
    let left: Vec<i16> = pcm.iter().step_by(2).copied().collect();
    let eight: Vec<u8> = left
        .iter()
        .flat_map(|s| std::iter::repeat_n(*s, 8))
        .flat_map(i16::to_le_bytes)
        .collect();
    let out = both_ways(eight, "s16le:44100:8");
    assert_eq!(out.len(), left.len() * 2);
    // Raw 8 channels take the WAVE default order FL FR FC LFE RL RR FLC FRC; every gain is
    // normalised by the side's total, so identical channels come out at their own level.
    for (frame, &s) in out.chunks_exact(2).zip(&left) {
        assert!(
            (i32::from(frame[0]) - i32::from(s)).abs() <= 1,
            "{frame:?} vs {s}"
        );
        assert_eq!(frame[0], frame[1]);
    }
}

#[test]
fn a_raw_file_on_disk_plays_too() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audio.pcm");
    let pcm = reference_pcm();
    std::fs::write(
        &path,
        pcm.iter()
            .flat_map(|s| s.to_le_bytes())
            .collect::<Vec<u8>>(),
    )
    .unwrap();
    let src = Source::path(&path).raw("s16le:44100:2".parse().unwrap());
    let out = common::decode_all(src.open(PcmFormat::RAOP).unwrap());
    assert!(out.error.is_none());
    assert!(out.samples == pcm);
}
