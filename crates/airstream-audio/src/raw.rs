//! Headerless PCM with a format given by the user (`s16le:44100:2`).

use crate::AudioError;
use std::fmt;
use std::io::{self, Read};
use std::str::FromStr;
use symphonia::core::audio::{Channels, Position};
use symphonia::core::codecs::audio::AudioCodecParameters;
use symphonia::core::codecs::audio::well_known::{
    CODEC_ID_PCM_F32LE, CODEC_ID_PCM_S16LE, CODEC_ID_PCM_S24LE, CODEC_ID_PCM_S32LE,
};
use symphonia::core::packet::Packet;
use symphonia::core::units::{Duration, Timestamp};

/// Sample encoding of raw PCM: signed little-endian integers or little-endian 32-bit float.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RawEncoding {
    /// Signed 16-bit little-endian integers (`s16le`).
    S16Le,
    /// Signed 24-bit little-endian integers packed in 3 bytes (`s24le`).
    S24Le,
    /// Signed 32-bit little-endian integers (`s32le`).
    S32Le,
    /// IEEE 754 32-bit little-endian float, full scale ±1.0 (`f32le`).
    F32Le,
}

impl RawEncoding {
    /// Bytes one sample of this encoding takes.
    pub fn bytes_per_sample(self) -> usize {
        match self {
            RawEncoding::S16Le => 2,
            RawEncoding::S24Le => 3,
            RawEncoding::S32Le | RawEncoding::F32Le => 4,
        }
    }

    fn name(self) -> &'static str {
        match self {
            RawEncoding::S16Le => "s16le",
            RawEncoding::S24Le => "s24le",
            RawEncoding::S32Le => "s32le",
            RawEncoding::F32Le => "f32le",
        }
    }
}

/// The layout of headerless PCM, written `ENCODING:RATE:CHANNELS` (`s16le:44100:2`,
/// `f32le:48000:1`, `s24le:96000:6`). Rates 1–768 kHz, 1–8 channels (WAVE channel order).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RawFormat {
    /// How each sample is stored.
    pub encoding: RawEncoding,
    /// Frames per second.
    pub sample_rate: u32,
    /// Samples per frame, interleaved in WAVE channel order.
    pub channels: u16,
}

impl RawFormat {
    /// Bytes one frame (a sample for every channel) takes.
    pub fn bytes_per_frame(self) -> usize {
        self.encoding.bytes_per_sample() * usize::from(self.channels)
    }

    pub(crate) fn codec_params(self) -> AudioCodecParameters {
        let (codec, bits) = match self.encoding {
            RawEncoding::S16Le => (CODEC_ID_PCM_S16LE, 16),
            RawEncoding::S24Le => (CODEC_ID_PCM_S24LE, 24),
            RawEncoding::S32Le => (CODEC_ID_PCM_S32LE, 32),
            RawEncoding::F32Le => (CODEC_ID_PCM_F32LE, 32),
        };
        let positions = Position::from_wave_channel_count(u32::from(self.channels))
            .map_or(Channels::Discrete(self.channels), Channels::Positioned);
        let mut params = AudioCodecParameters::new();
        params
            .for_codec(codec)
            .with_sample_rate(self.sample_rate)
            .with_channels(positions)
            .with_bits_per_sample(bits)
            .with_bits_per_coded_sample(bits)
            .with_max_frames_per_packet(PACKET_FRAMES as u64)
            .with_frames_per_block(1);
        params
    }
}

impl fmt::Display for RawFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}:{}",
            self.encoding.name(),
            self.sample_rate,
            self.channels
        )
    }
}

impl FromStr for RawFormat {
    type Err = AudioError;

    fn from_str(spec: &str) -> Result<Self, AudioError> {
        let bad = |detail: String| AudioError::Invalid {
            input: format!("raw format {spec:?}"),
            detail,
        };
        let parts: Vec<&str> = spec.trim().split(':').collect();
        let [encoding, rate, channels] = parts[..] else {
            return Err(bad(
                "expected ENCODING:RATE:CHANNELS, e.g. s16le:44100:2".into()
            ));
        };
        let encoding = match encoding.to_ascii_lowercase().as_str() {
            "s16le" => RawEncoding::S16Le,
            "s24le" => RawEncoding::S24Le,
            "s32le" => RawEncoding::S32Le,
            "f32le" => RawEncoding::F32Le,
            other => {
                return Err(bad(format!(
                    "unknown encoding {other:?} (use s16le, s24le, s32le or f32le)"
                )));
            }
        };
        let sample_rate: u32 = rate
            .parse()
            .ok()
            .filter(|r| (1_000..=768_000).contains(r))
            .ok_or_else(|| bad(format!("sample rate {rate:?} is not 1000–768000 Hz")))?;
        let channels: u16 = channels
            .parse()
            .ok()
            .filter(|c| (1..=8).contains(c))
            .ok_or_else(|| bad(format!("channel count {channels:?} is not 1–8")))?;
        Ok(RawFormat {
            encoding,
            sample_rate,
            channels,
        })
    }
}

/// Frames per packet handed to the PCM decoder.
const PACKET_FRAMES: usize = 4096;

/// Cuts a byte stream into packets of whole frames.
pub(crate) struct RawPackets {
    reader: Box<dyn Read + Send>,
    format: RawFormat,
    next_ts: i64,
    buf: Vec<u8>,
    /// Bytes of an incomplete frame left at the end of the input.
    pub(crate) trailing_bytes: usize,
}

impl RawPackets {
    pub(crate) fn new(reader: Box<dyn Read + Send>, format: RawFormat) -> Self {
        Self {
            reader,
            format,
            next_ts: 0,
            buf: Vec::new(),
            trailing_bytes: 0,
        }
    }

    pub(crate) fn next_packet(&mut self) -> io::Result<Option<Packet>> {
        let frame = self.format.bytes_per_frame();
        self.buf.resize(PACKET_FRAMES * frame, 0);
        let mut filled = 0;
        while filled < self.buf.len() {
            match self.reader.read(&mut self.buf[filled..]) {
                Ok(0) => break,
                Ok(n) => filled += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        let frames = filled / frame;
        if frames == 0 {
            if filled > 0 {
                self.trailing_bytes = filled;
            }
            return Ok(None);
        }
        if filled % frame != 0 {
            self.trailing_bytes = filled % frame;
        }
        let packet = Packet::new(
            0,
            Timestamp::new(self.next_ts),
            Duration::new(frames as u64),
            &self.buf[..frames * frame],
        );
        self.next_ts += frames as i64;
        Ok(Some(packet))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_prints_formats() {
        let f: RawFormat = "s16le:44100:2".parse().unwrap();
        assert_eq!(
            f,
            RawFormat {
                encoding: RawEncoding::S16Le,
                sample_rate: 44_100,
                channels: 2
            }
        );
        assert_eq!(f.to_string(), "s16le:44100:2");
        let f: RawFormat = "F32LE:96000:8".parse().unwrap();
        assert_eq!(f.encoding, RawEncoding::F32Le);
        assert_eq!(f.bytes_per_frame(), 32);
        assert_eq!(
            "s24le:8000:1"
                .parse::<RawFormat>()
                .unwrap()
                .bytes_per_frame(),
            3
        );
    }

    #[test]
    fn rejects_bad_formats_with_a_reason() {
        for (spec, needle) in [
            ("s16le:44100", "ENCODING:RATE:CHANNELS"),
            ("u8:44100:2", "unknown encoding"),
            ("s16le:fast:2", "sample rate"),
            ("s16le:44100:9", "channel count"),
            ("s16le:44100:0", "channel count"),
        ] {
            let err = spec.parse::<RawFormat>().unwrap_err().to_string();
            assert!(err.contains(needle) && err.contains(spec), "{spec}: {err}");
        }
    }

    #[test]
    fn packets_hold_whole_frames_and_count_leftovers() {
        let format: RawFormat = "s16le:44100:2".parse().unwrap();
        let bytes: Vec<u8> = (0..(PACKET_FRAMES * 4 + 10)).map(|i| i as u8).collect();
        let mut p = RawPackets::new(Box::new(std::io::Cursor::new(bytes)), format);
        let first = p.next_packet().unwrap().unwrap();
        assert_eq!(first.data.len(), PACKET_FRAMES * 4);
        let second = p.next_packet().unwrap().unwrap();
        assert_eq!(
            (second.data.len(), second.pts.get()),
            (8, PACKET_FRAMES as i64)
        );
        assert!(p.next_packet().unwrap().is_none());
        assert_eq!(p.trailing_bytes, 2);
    }
}
