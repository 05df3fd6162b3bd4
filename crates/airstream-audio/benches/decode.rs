//! Decode + convert throughput to 44.1 kHz/16-bit/stereo, per format, on one thread.
//!
//! `cargo bench -p airstream-audio --bench decode`. Each iteration opens the file from memory
//! (probe included) and decodes it to the end. The item counter is output frames at 44.1 kHz,
//! so "item/s" divided by 44100 is the speed in × realtime (e.g. 66 Mitem/s ≈ 1500×).

#![allow(clippy::unwrap_used)] // tests and benches may unwrap

use airstream_audio::alac::{AlacEncoder, FRAMES_PER_PACKET};
use airstream_audio::{PcmFormat, Source};
use bytes::Bytes;
use divan::Bencher;
use divan::counter::ItemsCount;
use std::path::PathBuf;

fn main() {
    divan::main();
}

const FILES: &[&str] = &[
    "music.wav",          // 16-bit 44.1k stereo: bit-exact copy
    "music.flac",         // FLAC 16-bit
    "music_alac.m4a",     // ALAC in MP4
    "music.aiff",         // big-endian PCM
    "music.mp3",          // MP3 128k
    "music.ogg",          // Vorbis
    "music_aac.m4a",      // AAC-LC in MP4
    "music_s24.wav",      // 24-bit: TPDF dither
    "music_5ch1_ext.wav", // 5.1 downmix
    "music_s24_48k.flac", // 24-bit 48 kHz FLAC: resample + dither
    "sine1k_96k.wav",     // 96 kHz mono: resample
];

fn load(name: &str) -> Bytes {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(name);
    Bytes::from(std::fs::read(path).unwrap())
}

/// Decodes everything; returns the number of output frames.
fn decode(bytes: &Bytes) -> usize {
    let mut pcm = Source::buffer(bytes.clone()).open(PcmFormat::RAOP).unwrap();
    let mut buf = vec![0i16; 4096 * 2];
    let mut frames = 0;
    loop {
        match pcm.read(&mut buf).unwrap() {
            0 => return frames,
            n => frames += divan::black_box(n),
        }
    }
}

#[divan::bench(args = FILES, min_time = 1)]
fn decode_to_raop(bencher: Bencher, name: &str) {
    let bytes = load(name);
    let frames = decode(&bytes);
    bencher
        .counter(ItemsCount::new(frames))
        .bench(|| decode(&bytes));
}

/// The sender encodes every 352-frame packet: this is its cost per second of audio.
#[divan::bench(min_time = 1)]
fn alac_encode(bencher: Bencher) {
    let pcm: Vec<i16> = {
        let bytes = load("music.wav");
        bytes[44..]
            .chunks_exact(2)
            .map(|c| i16::from_le_bytes([c[0], c[1]]))
            .collect()
    };
    let packets = pcm.len() / (FRAMES_PER_PACKET * 2);
    bencher
        .counter(ItemsCount::new(packets * FRAMES_PER_PACKET))
        .bench(|| {
            let mut encoder = AlacEncoder::new();
            let mut out = Vec::with_capacity(2048);
            for packet in pcm.chunks_exact(FRAMES_PER_PACKET * 2) {
                out.clear();
                encoder.encode_packet(packet, &mut out);
                divan::black_box(&out);
            }
        });
}
