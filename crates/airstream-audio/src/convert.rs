//! Decoded audio (any sample format, rate and channel layout) to interleaved i16 at the
//! target format.
//!
//! Two paths:
//! - **exact**: integer samples of at most 16 significant bits at the target rate, with the
//!   same channel count or mono to stereo. Samples are copied bit for bit.
//! - **float**: everything else. f32 planes → channel mix → resample → quantise. TPDF dither
//!   is added only when the source has more than 16 bits (24/32-bit integer, float); a 16-bit
//!   source that only needed resampling or mixing is rounded.

use crate::PcmFormat;
use crate::resample::StreamResampler;
use symphonia::core::audio::{Channels, GenericAudioBufferRef, Position};

pub(crate) struct Converter {
    target: PcmFormat,
    rate: u32,
    channels: usize,
    path: Path,
}

enum Path {
    Exact {
        duplicate_mono: bool,
        scratch: Vec<Vec<i16>>,
    },
    Float(Box<FloatChain>),
}

struct FloatChain {
    /// `mix[out][in]`; `None` when the channels pass through unchanged.
    mix: Option<Vec<Vec<f32>>>,
    resampler: Option<StreamResampler>,
    dither: Option<Tpdf>,
    planes: Vec<Vec<f32>>,
    mixed: Vec<Vec<f32>>,
}

/// What the converter needs to know about a stream before its first buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SampleKind {
    /// Integer samples carrying this many significant bits.
    Int(u32),
    Float,
}

impl SampleKind {
    /// From a decoded buffer, refined by the codec's declared bit depth: FLAC and ALAC decode
    /// 16-bit audio into left-aligned 32-bit buffers, for instance.
    pub(crate) fn of(buf: &GenericAudioBufferRef<'_>, bits_per_sample: Option<u32>) -> Self {
        let container = match buf {
            GenericAudioBufferRef::U8(_) | GenericAudioBufferRef::S8(_) => 8,
            GenericAudioBufferRef::U16(_) | GenericAudioBufferRef::S16(_) => 16,
            GenericAudioBufferRef::U24(_) | GenericAudioBufferRef::S24(_) => 24,
            GenericAudioBufferRef::U32(_) | GenericAudioBufferRef::S32(_) => 32,
            GenericAudioBufferRef::F32(_) | GenericAudioBufferRef::F64(_) => return Self::Float,
        };
        SampleKind::Int(bits_per_sample.map_or(container, |b| b.clamp(1, container)))
    }
}

impl Converter {
    pub(crate) fn new(
        target: PcmFormat,
        rate: u32,
        layout: &Channels,
        kind: SampleKind,
    ) -> Result<Self, String> {
        let channels = layout.count();
        let out_channels = usize::from(target.channels);
        if channels == 0 {
            return Err("the stream has no audio channels".into());
        }
        if !(1..=2).contains(&out_channels) {
            return Err(format!(
                "cannot convert to {out_channels} channels (mono or stereo only)"
            ));
        }
        if rate == 0 {
            return Err("the stream declares a sample rate of 0 Hz".into());
        }
        let same_layout = channels == out_channels;
        let duplicate_mono = channels == 1 && out_channels == 2;
        let narrow = matches!(kind, SampleKind::Int(bits) if bits <= 16);
        let path = if narrow && rate == target.sample_rate && (same_layout || duplicate_mono) {
            Path::Exact {
                duplicate_mono,
                scratch: Vec::new(),
            }
        } else {
            let resampler = (rate != target.sample_rate)
                .then(|| StreamResampler::new(rate, target.sample_rate, out_channels))
                .transpose()?;
            Path::Float(Box::new(FloatChain {
                mix: (!same_layout).then(|| mix_matrix(layout, out_channels)),
                resampler,
                dither: (!narrow).then(Tpdf::new),
                planes: Vec::new(),
                mixed: vec![Vec::new(); out_channels],
            }))
        };
        Ok(Self {
            target,
            rate,
            channels,
            path,
        })
    }

    /// Whether a buffer of this rate and channel count can go through this converter, or the
    /// stream changed (chained Ogg, a new MP3 header) and a new converter is needed.
    pub(crate) fn accepts(&self, rate: u32, channels: usize) -> bool {
        self.rate == rate && self.channels == channels
    }

    /// Whether samples are copied bit for bit (no mixing, resampling or requantising).
    #[cfg(test)]
    pub(crate) fn is_exact(&self) -> bool {
        matches!(self.path, Path::Exact { .. })
    }

    /// Appends the converted frames of `buf` to `out`.
    #[cfg(test)]
    pub(crate) fn push(
        &mut self,
        buf: &GenericAudioBufferRef<'_>,
        out: &mut Vec<i16>,
    ) -> Result<(), String> {
        self.push_from(buf, 0, out)
    }

    /// Whether input frames can be left out before conversion ([`push_from`](Self::push_from)
    /// with a `skip`): only where the samples go through float (a seek restarting the
    /// resampler on a period boundary needs it).
    pub(crate) fn is_float(&self) -> bool {
        matches!(self.path, Path::Float(_))
    }

    /// Moves the dither on by `samples` draws, as if that many samples had been quantised:
    /// after a seek the noise is the one a read from the start would have added.
    pub(crate) fn skip_dither(&mut self, samples: u64) {
        if let Path::Float(chain) = &mut self.path
            && let Some(tpdf) = &mut chain.dither
        {
            for _ in 0..samples {
                tpdf.next();
            }
        }
    }

    /// [`push`](Self::push) leaving out the first `skip` frames of `buf` (float path only;
    /// the exact path converts them all).
    pub(crate) fn push_from(
        &mut self,
        buf: &GenericAudioBufferRef<'_>,
        skip: usize,
        out: &mut Vec<i16>,
    ) -> Result<(), String> {
        let frames = buf.frames();
        if frames == 0 {
            return Ok(());
        }
        let out_channels = usize::from(self.target.channels);
        match &mut self.path {
            Path::Exact {
                duplicate_mono: false,
                ..
            } => {
                let start = out.len();
                out.resize(start + frames * out_channels, 0);
                buf.copy_to_slice_interleaved::<i16, _>(&mut out[start..]);
            }
            Path::Exact {
                duplicate_mono: true,
                scratch,
            } => {
                buf.copy_to_vecs_planar::<i16>(scratch);
                out.reserve(frames * 2);
                for &s in &scratch[0][..frames] {
                    out.extend_from_slice(&[s, s]);
                }
            }
            Path::Float(chain) => {
                let chain = &mut **chain;
                buf.copy_to_vecs_planar::<f32>(&mut chain.planes);
                let skip = skip.min(frames);
                if skip > 0 {
                    for plane in &mut chain.planes {
                        plane.drain(..skip.min(plane.len()));
                    }
                }
                let frames = frames - skip;
                let mixed = match &chain.mix {
                    None => &chain.planes,
                    Some(matrix) => {
                        apply_mix(matrix, &chain.planes, frames, &mut chain.mixed);
                        &chain.mixed
                    }
                };
                let dither = &mut chain.dither;
                match &mut chain.resampler {
                    None => quantize(mixed, 0..frames, dither.as_mut(), out),
                    Some(r) => r.push(mixed, frames, &mut |planes, range| {
                        quantize(planes, range, dither.as_mut(), out);
                    })?,
                }
            }
        }
        Ok(())
    }

    /// Flushes what the resampler still holds. Call once at the end of the stream.
    pub(crate) fn finish(&mut self, out: &mut Vec<i16>) -> Result<(), String> {
        if let Path::Float(chain) = &mut self.path {
            let chain = &mut **chain;
            let dither = &mut chain.dither;
            if let Some(r) = &mut chain.resampler {
                r.finish(&mut |planes, range| quantize(planes, range, dither.as_mut(), out))?;
            }
        }
        Ok(())
    }
}

/// Stereo gains `(left, right)` for a speaker position, after ITU-R BS.775: centre and
/// surrounds at -3 dB, LFE dropped.
fn stereo_gains(position: Option<Position>) -> (f32, f32) {
    const H: f32 = std::f32::consts::FRAC_1_SQRT_2;
    let Some(p) = position else {
        return (0.5, 0.5);
    };
    if p == Position::FRONT_LEFT
        || p == Position::FRONT_LEFT_CENTER
        || p == Position::FRONT_LEFT_WIDE
    {
        (1.0, 0.0)
    } else if p == Position::FRONT_RIGHT
        || p == Position::FRONT_RIGHT_CENTER
        || p == Position::FRONT_RIGHT_WIDE
    {
        (0.0, 1.0)
    } else if p == Position::FRONT_CENTER {
        (H, H)
    } else if p == Position::LFE1 || p == Position::LFE2 {
        (0.0, 0.0)
    } else if [
        Position::REAR_LEFT,
        Position::SIDE_LEFT,
        Position::TOP_FRONT_LEFT,
        Position::TOP_REAR_LEFT,
        Position::TOP_SIDE_LEFT,
        Position::BOTTOM_FRONT_LEFT,
    ]
    .contains(&p)
    {
        (H, 0.0)
    } else if [
        Position::REAR_RIGHT,
        Position::SIDE_RIGHT,
        Position::TOP_FRONT_RIGHT,
        Position::TOP_REAR_RIGHT,
        Position::TOP_SIDE_RIGHT,
        Position::BOTTOM_FRONT_RIGHT,
    ]
    .contains(&p)
    {
        (0.0, H)
    } else {
        // Rear/top/bottom centre and anything unlabelled: half to each side.
        (0.5, 0.5)
    }
}

/// Speaker position of each channel, in buffer order. Unlabelled layouts of up to 18
/// channels follow the WAVE default order (FL FR FC LFE RL RR ...).
fn positions(layout: &Channels) -> Vec<Option<Position>> {
    let count = layout.count();
    let mask = match layout {
        Channels::Positioned(mask) => Some(*mask),
        _ => u32::try_from(count)
            .ok()
            .and_then(Position::from_wave_channel_count),
    };
    match mask {
        Some(mask) if mask.iter().count() == count => mask.iter().map(Some).collect(),
        _ => vec![None; count],
    }
}

/// The `out × in` gain matrix, scaled so no output can exceed full scale (as ffmpeg's
/// default rematrixing does): a downmix never clips.
fn mix_matrix(layout: &Channels, out_channels: usize) -> Vec<Vec<f32>> {
    let positions = positions(layout);
    let mut matrix = if positions.len() == 1 {
        vec![vec![1.0]; out_channels]
    } else {
        let gains: Vec<(f32, f32)> = positions.iter().map(|&p| stereo_gains(p)).collect();
        let left: Vec<f32> = gains.iter().map(|g| g.0).collect();
        let right: Vec<f32> = gains.iter().map(|g| g.1).collect();
        if out_channels == 1 {
            vec![
                left.iter()
                    .zip(&right)
                    .map(|(l, r)| (l + r) / 2.0)
                    .collect(),
            ]
        } else {
            vec![left, right]
        }
    };
    let loudest = matrix
        .iter()
        .map(|row| row.iter().sum::<f32>())
        .fold(0.0f32, f32::max);
    if loudest > 1.0 {
        for gain in matrix.iter_mut().flatten() {
            *gain /= loudest;
        }
    }
    matrix
}

fn apply_mix(matrix: &[Vec<f32>], planes: &[Vec<f32>], frames: usize, out: &mut [Vec<f32>]) {
    for (row, dst) in matrix.iter().zip(out.iter_mut()) {
        dst.clear();
        dst.resize(frames, 0.0);
        for (&gain, src) in row.iter().zip(planes) {
            if gain != 0.0 {
                for (d, &s) in dst.iter_mut().zip(&src[..frames]) {
                    *d += gain * s;
                }
            }
        }
    }
}

/// Interleaves `range` of the planes into `out` as i16, with dither if given. Values beyond
/// full scale saturate (`as` casts from float clamp).
fn quantize(
    planes: &[Vec<f32>],
    range: std::ops::Range<usize>,
    dither: Option<&mut Tpdf>,
    out: &mut Vec<i16>,
) {
    match dither {
        None => interleave(planes, range, out, || 0.0),
        Some(tpdf) => interleave(planes, range, out, || tpdf.next()),
    }
}

/// The body of [`quantize`], generic over the noise so that the undithered case compiles to
/// plain rounding, with a stereo loop free of per-sample plane lookups (the common case).
#[inline]
fn interleave(
    planes: &[Vec<f32>],
    range: std::ops::Range<usize>,
    out: &mut Vec<i16>,
    mut noise: impl FnMut() -> f32,
) {
    let start = out.len();
    out.resize(start + range.len() * planes.len(), 0);
    let written = &mut out[start..];
    match planes {
        [left, right] => {
            let pairs = left[range.clone()].iter().zip(&right[range]);
            for (frame, (&l, &r)) in written.chunks_exact_mut(2).zip(pairs) {
                frame[0] = to_i16(l, noise());
                frame[1] = to_i16(r, noise());
            }
        }
        _ => {
            for (frame, i) in written.chunks_exact_mut(planes.len()).zip(range) {
                for (sample, plane) in frame.iter_mut().zip(planes) {
                    *sample = to_i16(plane[i], noise());
                }
            }
        }
    }
}

/// Rounds half away from zero, as `f32::round` does, without its libm call (baseline x86-64
/// has no rounding instruction, and the call cost as much as a third of MP3 decoding). In f64
/// the `+ 0.5` is exact, so the truncating cast gives the same result for every input.
#[inline]
fn to_i16(sample: f32, dither: f32) -> i16 {
    let scaled = f64::from(sample * 32768.0 + dither);
    (scaled + 0.5f64.copysign(scaled)) as i16
}

/// Triangular dither of ±1 LSB: the difference of two uniform values. A fixed seed keeps the
/// output reproducible (the same input always converts to the same samples).
struct Tpdf {
    state: u64,
}

impl Tpdf {
    fn new() -> Self {
        Self {
            state: 0x9E37_79B9_7F4A_7C15,
        }
    }

    /// One ±1 LSB triangular value: the difference of two 24-bit uniforms, both cut from a
    /// single xorshift64* draw (plenty for dither, and half the draws of one per uniform).
    fn next(&mut self) -> f32 {
        self.state ^= self.state >> 12;
        self.state ^= self.state << 25;
        self.state ^= self.state >> 27;
        let x = self.state.wrapping_mul(0x2545_F491_4F6C_DD1D);
        let high = (x >> 40) as i32;
        let low = ((x >> 16) & 0xFF_FFFF) as i32;
        (high - low) as f32 * (1.0 / 16_777_216.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use symphonia::core::audio::{AudioBuffer, AudioMut, AudioSpec};

    fn buffer<S: symphonia::core::audio::sample::Sample>(
        rate: u32,
        layout: Channels,
        planes: &[Vec<S>],
    ) -> AudioBuffer<S> {
        let frames = planes[0].len();
        let mut buf = AudioBuffer::<S>::new(AudioSpec::new(rate, layout), frames);
        buf.render_uninit(Some(frames));
        for (i, p) in planes.iter().enumerate() {
            buf.plane_mut(i).unwrap().copy_from_slice(p);
        }
        buf
    }

    #[test]
    fn rounding_matches_f32_round_everywhere_that_matters() {
        let reference = |x: f32, d: f32| (x * 32768.0 + d).round() as i16;
        // Every half-LSB step over full scale and beyond, the values either side of each tie,
        // and the odd ones.
        let mut inputs = vec![
            0.0,
            -0.0,
            f32::NAN,
            f32::INFINITY,
            f32::NEG_INFINITY,
            f32::MAX,
            f32::MIN,
        ];
        for step in -70_000..=70_000 {
            let x = step as f32 / 65536.0;
            inputs.extend([x, x.next_up(), x.next_down()]);
        }
        for x in inputs {
            for d in [0.0, 0.5, -0.5, 0.999_999_9] {
                assert_eq!(to_i16(x, d), reference(x, d), "sample {x:e}, dither {d}");
            }
        }
    }

    fn stereo() -> Channels {
        Channels::Positioned(Position::FRONT_LEFT | Position::FRONT_RIGHT)
    }

    #[test]
    fn sixteen_bit_stereo_passes_through_bit_for_bit() {
        let l: Vec<i16> = (0..1000).map(|i| (i * 37 - 20_000) as i16).collect();
        let r: Vec<i16> = (0..1000).map(|i| (15_000 - i * 29) as i16).collect();
        let buf = buffer(44_100, stereo(), &[l.clone(), r.clone()]);
        let mut c =
            Converter::new(PcmFormat::RAOP, 44_100, &stereo(), SampleKind::Int(16)).unwrap();
        assert!(c.is_exact());
        let mut out = Vec::new();
        c.push(&GenericAudioBufferRef::S16(&buf), &mut out).unwrap();
        c.finish(&mut out).unwrap();
        let expected: Vec<i16> = l.iter().zip(&r).flat_map(|(&a, &b)| [a, b]).collect();
        assert_eq!(out, expected);
    }

    #[test]
    fn left_aligned_32_bit_holding_16_bits_is_exact() {
        // How FLAC and ALAC decoders deliver 16-bit audio.
        let l: Vec<i32> = vec![-32768 << 16, -1 << 16, 0, 1 << 16, 32767 << 16];
        let buf = buffer(44_100, stereo(), &[l.clone(), l.clone()]);
        let mut c =
            Converter::new(PcmFormat::RAOP, 44_100, &stereo(), SampleKind::Int(16)).unwrap();
        let mut out = Vec::new();
        c.push(&GenericAudioBufferRef::S32(&buf), &mut out).unwrap();
        assert_eq!(out, [-32768, -32768, -1, -1, 0, 0, 1, 1, 32767, 32767]);
    }

    #[test]
    fn mono_is_copied_to_both_channels() {
        let mono = Channels::Positioned(Position::FRONT_CENTER);
        let buf = buffer(44_100, mono.clone(), &[vec![5i16, -7, 32767]]);
        let mut c = Converter::new(PcmFormat::RAOP, 44_100, &mono, SampleKind::Int(16)).unwrap();
        assert!(c.is_exact());
        let mut out = Vec::new();
        c.push(&GenericAudioBufferRef::S16(&buf), &mut out).unwrap();
        assert_eq!(out, [5, 5, -7, -7, 32767, 32767]);
    }

    #[test]
    fn five_one_downmix_follows_itu_gains_and_cannot_clip() {
        let layout = Channels::Positioned(
            Position::FRONT_LEFT
                | Position::FRONT_RIGHT
                | Position::FRONT_CENTER
                | Position::LFE1
                | Position::SIDE_LEFT
                | Position::SIDE_RIGHT,
        );
        let m = mix_matrix(&layout, 2);
        let h = std::f32::consts::FRAC_1_SQRT_2;
        let scale = 1.0 + 2.0 * h;
        let expected_left = [1.0 / scale, 0.0, h / scale, 0.0, h / scale, 0.0];
        for (got, want) in m[0].iter().zip(expected_left) {
            assert!((got - want).abs() < 1e-6, "{:?}", m[0]);
        }
        // All six channels at full scale, in phase: the left output is exactly full scale.
        let full = vec![vec![i16::MAX; 4]; 6];
        let buf = buffer(44_100, layout.clone(), &full);
        let mut c = Converter::new(PcmFormat::RAOP, 44_100, &layout, SampleKind::Int(16)).unwrap();
        assert!(!c.is_exact());
        let mut out = Vec::new();
        c.push(&GenericAudioBufferRef::S16(&buf), &mut out).unwrap();
        assert_eq!(out, vec![i16::MAX; 8]);
    }

    #[test]
    fn dither_is_triangular_over_plus_minus_one_lsb() {
        let mut tpdf = Tpdf::new();
        let draws: Vec<f64> = (0..200_000).map(|_| f64::from(tpdf.next())).collect();
        assert!(draws.iter().all(|d| d.abs() < 1.0));
        let n = draws.len() as f64;
        let mean = draws.iter().sum::<f64>() / n;
        let variance = draws.iter().map(|d| (d - mean).powi(2)).sum::<f64>() / n;
        // A triangle over (-1, 1) has variance 1/6, and 1/4 of its mass beyond ±0.5.
        let outer = draws.iter().filter(|d| d.abs() > 0.5).count() as f64 / n;
        assert!(mean.abs() < 0.005, "mean {mean}");
        assert!((variance - 1.0 / 6.0).abs() < 0.005, "variance {variance}");
        assert!((outer - 0.25).abs() < 0.005, "mass beyond ±0.5: {outer}");
    }

    #[test]
    fn float_input_is_dithered_and_16_bit_input_is_not() {
        // A constant 0.25 LSB above zero: rounding alone gives 0, dither spreads it.
        let tiny = 0.25 / 32768.0;
        let buf = buffer(44_100, stereo(), &[vec![tiny; 10_000], vec![tiny; 10_000]]);
        let mut c = Converter::new(PcmFormat::RAOP, 44_100, &stereo(), SampleKind::Float).unwrap();
        let mut out = Vec::new();
        c.push(&GenericAudioBufferRef::F32(&buf), &mut out).unwrap();
        let mean = out.iter().map(|&s| f64::from(s)).sum::<f64>() / out.len() as f64;
        assert!(out.iter().all(|&s| (-1..=2).contains(&s)));
        assert!((mean - 0.25).abs() < 0.03, "dithered mean {mean}");

        // 16-bit stereo to mono needs float mixing but drops no bits: plain rounding.
        let buf = buffer(44_100, stereo(), &[vec![3i16; 4], vec![4i16; 4]]);
        let target = PcmFormat {
            sample_rate: 44_100,
            channels: 1,
        };
        let mut c = Converter::new(target, 44_100, &stereo(), SampleKind::Int(16)).unwrap();
        let mut out = Vec::new();
        c.push(&GenericAudioBufferRef::S16(&buf), &mut out).unwrap();
        assert_eq!(out, [4, 4, 4, 4]); // 3.5 rounds away from zero
    }

    #[test]
    fn refuses_targets_it_cannot_make() {
        let six = PcmFormat {
            sample_rate: 44_100,
            channels: 6,
        };
        assert!(Converter::new(six, 44_100, &stereo(), SampleKind::Int(16)).is_err());
        assert!(Converter::new(PcmFormat::RAOP, 0, &stereo(), SampleKind::Int(16)).is_err());
    }

    #[test]
    fn sample_kind_uses_the_declared_bit_depth() {
        let buf = buffer(44_100, stereo(), &[vec![0i32], vec![0i32]]);
        let r = GenericAudioBufferRef::S32(&buf);
        assert_eq!(SampleKind::of(&r, Some(16)), SampleKind::Int(16));
        assert_eq!(SampleKind::of(&r, Some(24)), SampleKind::Int(24));
        assert_eq!(SampleKind::of(&r, None), SampleKind::Int(32));
    }
}
