//! The audio format every RAOP stream carries, and AirPlay 2 realtime streams too: one home
//! for these facts.

use crate::capabilities::AdvertisedCodec;
use serde::Serialize;
use std::fmt;

/// What the audio packets carry: the one codec name the route, the SDP, the engine and the
/// CLI (`--codec`, JSON `codec`) share.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Codec {
    /// Real (compressed) ALAC: about half the bandwidth of PCM.
    Alac,
    /// ALAC escape frames: uncompressed samples in an ALAC bitstream (plays wherever ALAC does).
    AlacRaw,
    /// Raw 16-bit big-endian PCM (L16), announced without an `fmtp` line.
    Pcm,
}

impl Codec {
    /// True for both ALAC forms, which share the `AppleLossless` rtpmap and fmtp line.
    pub fn is_alac(self) -> bool {
        matches!(self, Codec::Alac | Codec::AlacRaw)
    }

    /// The codec's name as the CLI, JSON and logs spell it (`alac`, `alac-raw`, `pcm`).
    pub fn name(self) -> &'static str {
        match self {
            Codec::Alac => "alac",
            Codec::AlacRaw => "alac-raw",
            Codec::Pcm => "pcm",
        }
    }

    /// The `cn` code a receiver must list to decode this (both ALAC forms are ALAC).
    pub fn advertised_as(self) -> AdvertisedCodec {
        if self.is_alac() {
            AdvertisedCodec::Alac
        } else {
            AdvertisedCodec::Pcm
        }
    }
}

/// In words, for people: "compressed ALAC", "uncompressed ALAC", "PCM".
impl fmt::Display for Codec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Codec::Alac => "compressed ALAC",
            Codec::AlacRaw => "uncompressed ALAC",
            Codec::Pcm => "PCM",
        })
    }
}

/// Frames per second.
pub const SAMPLE_RATE: u32 = 44_100;
/// Interleaved channels (stereo).
pub const CHANNELS: u32 = 2;
/// Bits per sample.
pub const BITS_PER_SAMPLE: u32 = 16;
/// Frames (samples per channel) in one audio packet.
pub const FRAMES_PER_PACKET: u32 = 352;
/// Samples (all channels) in one audio packet.
pub const SAMPLES_PER_PACKET: usize = (FRAMES_PER_PACKET * CHANNELS) as usize;
