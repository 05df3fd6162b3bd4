//! The RAOP ALAC encoder round-trips bit-exactly through symphonia's ALAC decoder configured
//! from the same fmtp parameters.

#![allow(clippy::unwrap_used)] // tests and benches may unwrap

mod common;

use airstream_audio::alac::{AlacEncoder, FRAMES_PER_PACKET, magic_cookie};
use symphonia::core::audio::{Channels, Position};
use symphonia::core::codecs::audio::well_known::CODEC_ID_ALAC;
use symphonia::core::codecs::audio::{AudioCodecParameters, AudioDecoder, AudioDecoderOptions};
use symphonia::core::packet::Packet;
use symphonia::core::units::{Duration, Timestamp};

fn decoder() -> Box<dyn AudioDecoder> {
    let mut params = AudioCodecParameters::new();
    params
        .for_codec(CODEC_ID_ALAC)
        .with_sample_rate(44_100)
        .with_channels(Channels::Positioned(
            Position::FRONT_LEFT | Position::FRONT_RIGHT,
        ))
        .with_extra_data(Box::new(magic_cookie()));
    symphonia::default::get_codecs()
        .make_audio_decoder(&params, &AudioDecoderOptions::default())
        .unwrap()
}

/// Encodes `pcm` (interleaved stereo, whole packets) and decodes it again; returns the decoded
/// samples and the total encoded size.
fn round_trip(pcm: &[i16]) -> (Vec<i16>, usize) {
    let mut encoder = AlacEncoder::new();
    let mut decoder = decoder();
    let mut decoded = Vec::with_capacity(pcm.len());
    let mut total = 0;
    let mut packet = Vec::new();
    for (i, frames) in pcm.chunks(FRAMES_PER_PACKET * 2).enumerate() {
        packet.clear();
        encoder.encode_packet(frames, &mut packet);
        total += packet.len();
        let p = Packet::new(
            0,
            Timestamp::new((i * FRAMES_PER_PACKET) as i64),
            Duration::new((frames.len() / 2) as u64),
            packet.clone(),
        );
        let buf = decoder.decode(&p).unwrap();
        let mut out = vec![0i16; buf.samples_interleaved()];
        buf.copy_to_slice_interleaved::<i16, _>(&mut out);
        decoded.extend_from_slice(&out);
    }
    (decoded, total)
}

fn whole_packets(mut pcm: Vec<i16>) -> Vec<i16> {
    pcm.truncate(pcm.len() / (FRAMES_PER_PACKET * 2) * FRAMES_PER_PACKET * 2);
    pcm
}

#[test]
fn music_round_trips_bit_exactly_and_compresses() {
    let pcm = whole_packets(common::reference_pcm());
    let (decoded, encoded) = round_trip(&pcm);
    assert!(decoded == pcm, "decoded music differs");
    let ratio = encoded as f64 / (pcm.len() * 2) as f64;
    println!(
        "ALAC on music.wav: {} packets, {encoded} bytes, {:.1}% of the PCM size",
        pcm.len() / (FRAMES_PER_PACKET * 2),
        ratio * 100.0
    );
    assert!(ratio < 0.8, "compressed to {:.1}%", ratio * 100.0);
}

#[test]
fn silence_round_trips() {
    let pcm = vec![0i16; FRAMES_PER_PACKET * 2 * 10];
    let (decoded, encoded) = round_trip(&pcm);
    assert_eq!(decoded, pcm);
    assert!(encoded < 10 * 40, "{encoded} bytes for silence");
}

#[test]
fn full_scale_noise_round_trips() {
    // White noise over the full range (including both extremes) does not compress: the
    // encoder must fall back to escape frames that still decode exactly.
    let mut state = 0x2545_F491_4F6C_DD1Du64;
    let mut pcm: Vec<i16> = (0..FRAMES_PER_PACKET * 2 * 20)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 48) as u16 as i16
        })
        .collect();
    pcm[0] = i16::MIN;
    pcm[1] = i16::MAX;
    let (decoded, encoded) = round_trip(&pcm);
    assert!(decoded == pcm, "decoded noise differs");
    // Escape frames: 16 bits per sample plus a small header.
    assert!(encoded <= pcm.len() * 2 + 20 * 8, "{encoded} bytes");
}

#[test]
fn a_short_final_packet_round_trips() {
    let pcm: Vec<i16> = common::reference_pcm()[..100 * 2].to_vec();
    let (decoded, _) = round_trip(&pcm);
    assert_eq!(decoded, pcm);
}
