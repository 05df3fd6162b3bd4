//! Shared helpers of the integration tests: fixtures, the three ways of handing a file over,
//! decoding to the end, and sine analysis.
// Each test crate uses a different subset; tests may unwrap.
#![allow(dead_code, unreachable_pub, clippy::unwrap_used)]

use airstream_audio::{AudioError, Metadata, PcmFormat, PcmSource, Source};
use std::io::{Read, Write};
use std::path::PathBuf;

pub fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(name)
}

pub fn fixture_bytes(name: &str) -> Vec<u8> {
    std::fs::read(fixture(name)).unwrap()
}

/// How a test hands the file to [`Source`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Path,
    Buffer,
    /// A real OS pipe fed by a writer thread: no seeking, short reads.
    Pipe,
}

pub const MODES: [Mode; 3] = [Mode::Path, Mode::Buffer, Mode::Pipe];

pub fn source(name: &str, mode: Mode) -> Source {
    match mode {
        Mode::Path => Source::path(fixture(name)),
        Mode::Buffer => Source::buffer(fixture_bytes(name)),
        Mode::Pipe => {
            Source::reader(pipe_of(fixture_bytes(name))).with_name(format!("pipe:{name}"))
        }
    }
}

/// A pipe whose other end receives `bytes` from a thread, then closes.
pub fn pipe_of(bytes: Vec<u8>) -> std::io::PipeReader {
    let (reader, mut writer) = std::io::pipe().unwrap();
    std::thread::spawn(move || {
        // The reader may stop early (an error): a broken pipe here is fine.
        for chunk in bytes.chunks(4093) {
            if writer.write_all(chunk).is_err() {
                break;
            }
        }
    });
    reader
}

/// Everything a source produced until its end or its first error.
pub struct Decoded {
    pub samples: Vec<i16>,
    pub metadata: Metadata,
    pub updates: Vec<Metadata>,
    pub error: Option<AudioError>,
}

pub fn decode_all(mut pcm: Box<dyn PcmSource>) -> Decoded {
    let metadata = pcm.metadata();
    let channels = usize::from(pcm.format().channels);
    let mut samples = Vec::new();
    let mut updates = Vec::new();
    let mut buf = vec![0i16; 1000 * channels + channels]; // odd size on purpose
    let error = loop {
        match pcm.read(&mut buf) {
            Ok(0) => break None,
            Ok(frames) => samples.extend_from_slice(&buf[..frames * channels]),
            Err(e) => break Some(e),
        }
        while let Some(update) = pcm.take_metadata_update() {
            updates.push(update);
        }
    };
    // After the end, reads keep returning 0.
    if error.is_none() {
        assert_eq!(pcm.read(&mut buf).unwrap(), 0);
    }
    while let Some(update) = pcm.take_metadata_update() {
        updates.push(update);
    }
    Decoded {
        samples,
        metadata,
        updates,
        error,
    }
}

/// Opens and decodes to 44.1 kHz stereo, expecting success.
pub fn decode_ok(source: Source) -> Decoded {
    let name = source.name().to_owned();
    let pcm = source
        .open(PcmFormat::RAOP)
        .unwrap_or_else(|e| panic!("{name}: {e}"));
    let d = decode_all(pcm);
    if let Some(e) = &d.error {
        panic!("{name}: {e}");
    }
    d
}

/// Interleaved samples of a WAV as f64 in [-1, 1), read by hound (independent of symphonia).
pub fn wav_samples(name: &str) -> (u32, u16, Vec<f64>) {
    let mut r = hound::WavReader::open(fixture(name)).unwrap();
    let spec = r.spec();
    let full = f64::from(1u32 << (spec.bits_per_sample - 1));
    let samples = match spec.sample_format {
        hound::SampleFormat::Float => r.samples::<f32>().map(|s| f64::from(s.unwrap())).collect(),
        hound::SampleFormat::Int => r
            .samples::<i32>()
            .map(|s| f64::from(s.unwrap()) / full)
            .collect(),
    };
    (spec.sample_rate, spec.channels, samples)
}

/// The reference PCM: music.wav as i16.
pub fn reference_pcm() -> Vec<i16> {
    hound::WavReader::open(fixture("music.wav"))
        .unwrap()
        .samples::<i16>()
        .map(Result::unwrap)
        .collect()
}

pub fn channel(samples: &[i16], channels: usize, index: usize) -> Vec<f64> {
    samples
        .iter()
        .skip(index)
        .step_by(channels)
        .map(|&s| f64::from(s))
        .collect()
}

pub fn rms(x: &[f64]) -> f64 {
    (x.iter().map(|v| v * v).sum::<f64>() / x.len().max(1) as f64).sqrt()
}

/// Least-squares fit of `a cos(wn) + b sin(wn) + c` at `freq`: (amplitude, residual power,
/// signal power).
fn sine_fit(x: &[f64], rate: f64, freq: f64) -> (f64, f64, f64) {
    let w = 2.0 * std::f64::consts::PI * freq / rate;
    // Normal equations for the 3 basis functions.
    let mut m = [[0.0f64; 3]; 3];
    let mut v = [0.0f64; 3];
    for (n, &y) in x.iter().enumerate() {
        let basis = [(w * n as f64).cos(), (w * n as f64).sin(), 1.0];
        for i in 0..3 {
            v[i] += basis[i] * y;
            for j in 0..3 {
                m[i][j] += basis[i] * basis[j];
            }
        }
    }
    let coef = solve3(m, v);
    let mut residual = 0.0;
    let mut signal = 0.0;
    for (n, &y) in x.iter().enumerate() {
        let fit_ac = coef[0] * (w * n as f64).cos() + coef[1] * (w * n as f64).sin();
        residual += (y - fit_ac - coef[2]).powi(2);
        signal += fit_ac * fit_ac;
    }
    (
        (coef[0] * coef[0] + coef[1] * coef[1]).sqrt(),
        residual,
        signal,
    )
}

fn solve3(mut m: [[f64; 3]; 3], mut v: [f64; 3]) -> [f64; 3] {
    for col in 0..3 {
        let pivot = (col..3)
            .max_by(|&a, &b| m[a][col].abs().total_cmp(&m[b][col].abs()))
            .unwrap();
        m.swap(col, pivot);
        v.swap(col, pivot);
        for row in 0..3 {
            if row != col {
                let f = m[row][col] / m[col][col];
                let pivot_row = m[col];
                for (x, p) in m[row].iter_mut().zip(pivot_row) {
                    *x -= f * p;
                }
                v[row] -= f * v[col];
            }
        }
    }
    [v[0] / m[0][0], v[1] / m[1][1], v[2] / m[2][2]]
}

/// Frequency (Hz), amplitude and SNR (dB) of a sine: the frequency from interpolated zero
/// crossings, refined by minimising the residual of a sine fit.
pub fn analyse_sine(x: &[f64], rate: f64) -> (f64, f64, f64) {
    let crossings: Vec<f64> = x
        .windows(2)
        .enumerate()
        .filter(|(_, w)| w[0] < 0.0 && w[1] >= 0.0)
        .map(|(i, w)| i as f64 + w[0] / (w[0] - w[1]))
        .collect();
    let (first, last) = (crossings[0], crossings[crossings.len() - 1]);
    let mut lo_hi = {
        let f = (crossings.len() - 1) as f64 * rate / (last - first);
        (f - 0.5, f + 0.5)
    };
    // Golden-section search for the frequency with the smallest residual.
    let g = (5f64.sqrt() - 1.0) / 2.0;
    for _ in 0..60 {
        let (lo, hi) = lo_hi;
        let a = hi - g * (hi - lo);
        let b = lo + g * (hi - lo);
        if sine_fit(x, rate, a).1 < sine_fit(x, rate, b).1 {
            lo_hi = (lo, b);
        } else {
            lo_hi = (a, hi);
        }
    }
    let freq = f64::midpoint(lo_hi.0, lo_hi.1);
    let (amplitude, residual, signal) = sine_fit(x, rate, freq);
    (freq, amplitude, 10.0 * (signal / residual).log10())
}

/// Reads all of a reader (test convenience).
pub fn read_all(mut r: impl Read) -> Vec<u8> {
    let mut v = Vec::new();
    r.read_to_end(&mut v).unwrap();
    v
}
