//! What the receiver accepts from an ANNOUNCE: RAOP's own formats only. Every number here
//! sizes a buffer (decoder frames, the assembler's window, the WAV header), so an SDP that
//! asks for anything else is refused up front (415) instead of trusted.

use airstream_proto::sdp::AnnouncedFormat;

/// Frames in one RAOP audio packet: the fmtp's first number from every sender (raop.md),
/// and what L16 senders send too.
pub const FRAMES_PER_PACKET: u32 = 352;
/// Sample rates a receiver can be asked for (the wire rate is 44100; allow the common range).
const RATES: std::ops::RangeInclusive<u32> = 8_000..=192_000;

/// A validated stream format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct StreamFormat {
    pub(crate) codec: CodecKind,
    pub(crate) sample_rate: u32,
    pub(crate) channels: u16,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CodecKind {
    Alac,
    L16,
}

impl CodecKind {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Self::Alac => "AppleLossless",
            Self::L16 => "L16",
        }
    }
}

/// Why an announced format is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FormatError {
    #[error("ALAC frames per packet {0} (RAOP sends {FRAMES_PER_PACKET})")]
    FramesPerPacket(u32),
    #[error("ALAC bit depth {0} (RAOP sends 16)")]
    BitDepth(u32),
    #[error("{0} channels (ALAC: 2, L16: 1 or 2)")]
    Channels(u32),
    #[error("sample rate {0} Hz (8000 to 192000)")]
    SampleRate(u32),
}

impl StreamFormat {
    pub(crate) fn check(format: &AnnouncedFormat) -> Result<Self, FormatError> {
        let (codec, sample_rate, channels) = match *format {
            AnnouncedFormat::Alac {
                frames_per_packet,
                bit_depth,
                channels,
                sample_rate,
                ..
            } => {
                if frames_per_packet != FRAMES_PER_PACKET {
                    return Err(FormatError::FramesPerPacket(frames_per_packet));
                }
                if bit_depth != 16 {
                    return Err(FormatError::BitDepth(bit_depth));
                }
                // The escape-frame reader and the decoder set-up are stereo (one CPE).
                if channels != 2 {
                    return Err(FormatError::Channels(channels));
                }
                (CodecKind::Alac, sample_rate, channels)
            }
            AnnouncedFormat::L16 {
                sample_rate,
                channels,
            } => {
                if !(1..=2).contains(&channels) {
                    return Err(FormatError::Channels(channels));
                }
                (CodecKind::L16, sample_rate, channels)
            }
        };
        if !RATES.contains(&sample_rate) {
            return Err(FormatError::SampleRate(sample_rate));
        }
        Ok(Self {
            codec,
            sample_rate,
            channels: channels as u16,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alac(fmtp: [u32; 11]) -> AnnouncedFormat {
        AnnouncedFormat::Alac {
            frames_per_packet: fmtp[0],
            bit_depth: fmtp[2],
            channels: fmtp[6],
            sample_rate: fmtp[10],
            fmtp: fmtp.to_vec(),
        }
    }

    #[test]
    fn takes_what_senders_announce() {
        let ok = StreamFormat::check(&alac([352, 0, 16, 40, 10, 14, 2, 255, 0, 0, 44_100]));
        assert_eq!(
            ok,
            Ok(StreamFormat {
                codec: CodecKind::Alac,
                sample_rate: 44_100,
                channels: 2
            })
        );
        let l16 = AnnouncedFormat::L16 {
            sample_rate: 44_100,
            channels: 1,
        };
        assert!(StreamFormat::check(&l16).is_ok());
    }

    #[test]
    fn refuses_numbers_that_would_size_buffers() {
        let base = [352, 0, 16, 40, 10, 14, 2, 255, 0, 0, 44_100];
        let with = |i: usize, v: u32| {
            let mut f = base;
            f[i] = v;
            StreamFormat::check(&alac(f))
        };
        assert_eq!(
            with(0, u32::MAX),
            Err(FormatError::FramesPerPacket(u32::MAX))
        );
        assert_eq!(with(2, 255), Err(FormatError::BitDepth(255)));
        assert_eq!(with(6, 255), Err(FormatError::Channels(255)));
        assert_eq!(with(10, 0), Err(FormatError::SampleRate(0)));
        let l16 = |sample_rate, channels| {
            StreamFormat::check(&AnnouncedFormat::L16 {
                sample_rate,
                channels,
            })
        };
        assert_eq!(l16(0, 0), Err(FormatError::Channels(0)));
        assert_eq!(l16(0, 2), Err(FormatError::SampleRate(0)));
        assert_eq!(l16(44_100, 3), Err(FormatError::Channels(3)));
    }
}
