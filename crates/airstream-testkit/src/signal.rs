//! Deterministic music-like test audio: chords of harmonic tones with piano-like envelopes,
//! a little stereo spread and low-level noise. It exercises compression, resampling and
//! bit-exactness better than a sine, and needs no third-party recording.

use std::f64::consts::TAU;

/// Length of the demo's bundled sample (4 s), see `examples/make_sample.rs`.
pub const SAMPLE_FRAMES: usize = 4 * 44_100;

/// MIDI note numbers of a I–V–vi–IV progression in C, one chord per second.
const CHORDS: [[u8; 3]; 4] = [[60, 64, 67], [55, 59, 62], [57, 60, 64], [53, 57, 60]];

fn midi_hz(note: u8) -> f64 {
    440.0 * 2f64.powf((f64::from(note) - 69.0) / 12.0)
}

/// Interleaved stereo i16 at `sample_rate`, `frames` long. Sample 0 is already loud (a
/// struck chord), so captures can be aligned on the first sample.
pub fn music(frames: usize, sample_rate: u32) -> Vec<i16> {
    let rate = f64::from(sample_rate);
    let mut out = Vec::with_capacity(frames * 2);
    let mut noise_state: u32 = 0x1234_5678;
    for n in 0..frames {
        let t = n as f64 / rate;
        let chord = CHORDS[(t as usize) % CHORDS.len()];
        let since_strike = t.fract();
        // Piano-like: instant attack, exponential decay.
        let envelope = 0.5f64.mul_add((-3.0 * since_strike).exp(), 0.15);
        let mut left = 0.0;
        let mut right = 0.0;
        for (i, &note) in chord.iter().enumerate() {
            let f = midi_hz(note);
            for (h, weight) in [(1.0, 1.0), (2.0, 0.4), (3.0, 0.2), (5.0, 0.05)] {
                let phase = TAU * f * h * t + 0.3 * i as f64;
                left += weight * (phase + 0.25).sin();
                right += weight * (phase * 1.001 + 0.5).sin();
            }
        }
        // Bass note an octave below the root.
        let bass = 0.6 * (TAU * midi_hz(chord[0] - 12) * t + 0.25).sin();
        noise_state = noise_state
            .wrapping_mul(1_664_525)
            .wrapping_add(1_013_904_223);
        let noise = (f64::from(noise_state >> 16) / 65_536.0 - 0.5) * 0.002;
        let scale = 0.16 * envelope;
        out.push(to_i16(scale * (left + bass) + noise));
        out.push(to_i16(scale * (right + bass) - noise));
    }
    out
}

fn to_i16(x: f64) -> i16 {
    (x * 32_767.0).round().clamp(-32_768.0, 32_767.0) as i16
}

/// A 44.1 kHz/16-bit/stereo WAV file in memory.
pub fn wav_bytes(samples: &[i16], sample_rate: u32) -> Vec<u8> {
    let mut cursor = std::io::Cursor::new(Vec::new());
    let spec = hound::WavSpec {
        channels: 2,
        sample_rate,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    {
        let Ok(mut writer) = hound::WavWriter::new(&mut cursor, spec) else {
            return Vec::new();
        };
        for &s in samples {
            if writer.write_sample(s).is_err() {
                return Vec::new();
            }
        }
        if writer.finalize().is_err() {
            return Vec::new();
        }
    }
    cursor.into_inner()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn starts_loud_and_never_clips() {
        let s = music(44_100 * 4, 44_100);
        assert!(s[0].unsigned_abs() > 1000 || s[1].unsigned_abs() > 1000);
        assert!(s.iter().all(|x| *x > i16::MIN && *x < i16::MAX));
        let peak = s.iter().map(|x| x.unsigned_abs()).max().unwrap();
        assert!(peak > 8000, "peak {peak}");
        assert_eq!(music(100, 44_100), music(100, 44_100), "deterministic");
    }
}
