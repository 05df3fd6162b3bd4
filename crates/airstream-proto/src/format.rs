//! The audio format every RAOP stream carries, and AirPlay 2 realtime streams too: one home
//! for these facts.

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
