//! Compressed ALAC packets for RAOP: 352 frames of 16-bit stereo at 44.1 kHz per packet, with
//! the parameters RAOP announces in its SDP `a=fmtp:96 352 0 16 40 10 14 2 255 0 0 44100`.
//!
//! Uses the `alac-encoder` crate (a port of Apple's reference encoder). Its adaptive-Golomb
//! parameters are the reference defaults (pb 40, mb 10, kb 14, max run 255), i.e. exactly the
//! ones in the fmtp line, so any RAOP receiver decodes what it produces. When a packet would
//! not compress, the encoder itself emits an uncompressed ("escape") ALAC frame.

use alac_encoder::FormatDescription;

/// Frames in every RAOP audio packet.
pub const FRAMES_PER_PACKET: usize = 352;
/// Sample rate of every RAOP ALAC stream, in Hz.
pub const SAMPLE_RATE: u32 = 44_100;
/// Channels in every RAOP ALAC stream (stereo).
pub const CHANNELS: usize = 2;
/// The SDP `fmtp` parameters matching [`AlacEncoder`]'s output (after the payload type).
pub const FMTP: &str = "352 0 16 40 10 14 2 255 0 0 44100";

const BIT_DEPTH: u8 = 16;
const PB: u8 = 40;
const MB: u8 = 10;
const KB: u8 = 14;
const MAX_RUN: u16 = 255;

/// The `ALACSpecificConfig` ("magic cookie") for the fmtp parameters: what a decoder needs to
/// read the packets (`maxFrameBytes` and `avgBitRate` are 0, "unknown", as in the fmtp line).
pub fn magic_cookie() -> [u8; 24] {
    let mut c = [0u8; 24];
    c[0..4].copy_from_slice(&(FRAMES_PER_PACKET as u32).to_be_bytes());
    c[4] = 0; // compatible version
    c[5] = BIT_DEPTH;
    c[6] = PB;
    c[7] = MB;
    c[8] = KB;
    c[9] = CHANNELS as u8;
    c[10..12].copy_from_slice(&MAX_RUN.to_be_bytes());
    // 12..16 maxFrameBytes = 0, 16..20 avgBitRate = 0
    c[20..24].copy_from_slice(&SAMPLE_RATE.to_be_bytes());
    c
}

/// Encodes interleaved 16-bit stereo into ALAC packets of up to [`FRAMES_PER_PACKET`] frames.
pub struct AlacEncoder {
    inner: alac_encoder::AlacEncoder,
    input_format: FormatDescription,
    /// PCM bytes in native order, as the encoder reads them (it views them as `i16`, so they
    /// must be 2-byte aligned: we use the aligned part of an over-allocated buffer).
    pcm: Vec<u8>,
    encoded: Vec<u8>,
}

impl Default for AlacEncoder {
    fn default() -> Self {
        Self::new()
    }
}

impl AlacEncoder {
    /// An encoder for 16-bit stereo at 44.1 kHz with the fmtp line's parameters.
    pub fn new() -> Self {
        let output_format = FormatDescription::alac(
            f64::from(SAMPLE_RATE),
            FRAMES_PER_PACKET as u32,
            CHANNELS as u32,
        );
        Self {
            inner: alac_encoder::AlacEncoder::new(&output_format),
            input_format: FormatDescription::pcm::<i16>(f64::from(SAMPLE_RATE), CHANNELS as u32),
            pcm: vec![0; FRAMES_PER_PACKET * CHANNELS * 2 + 1],
            encoded: vec![0; output_format.max_packet_size()],
        }
    }

    /// Appends one ALAC packet holding `frames` (interleaved left/right) to `out`.
    ///
    /// A short final packet is allowed but RAOP receivers expect full packets: the sender
    /// pads the last one with silence.
    ///
    /// # Panics
    /// If `frames` holds more than 352 stereo frames or an odd number of samples.
    pub fn encode_packet(&mut self, frames: &[i16], out: &mut Vec<u8>) {
        assert!(
            frames.len() <= FRAMES_PER_PACKET * CHANNELS && frames.len().is_multiple_of(CHANNELS),
            "an ALAC packet holds up to 352 whole stereo frames, got {} samples",
            frames.len()
        );
        if frames.is_empty() {
            return;
        }
        let offset = self.pcm.as_ptr().align_offset(2).min(1);
        let pcm = &mut self.pcm[offset..offset + frames.len() * 2];
        for (bytes, sample) in pcm.chunks_exact_mut(2).zip(frames) {
            bytes.copy_from_slice(&sample.to_ne_bytes());
        }
        let size = self
            .inner
            .encode(&self.input_format, pcm, &mut self.encoded);
        out.extend_from_slice(&self.encoded[..size]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookie_matches_the_fmtp_line() {
        let c = magic_cookie();
        let fields: Vec<u64> = vec![
            u64::from(u32::from_be_bytes([c[0], c[1], c[2], c[3]])),
            u64::from(c[4]),
            u64::from(c[5]),
            u64::from(c[6]),
            u64::from(c[7]),
            u64::from(c[8]),
            u64::from(c[9]),
            u64::from(u16::from_be_bytes([c[10], c[11]])),
            u64::from(u32::from_be_bytes([c[12], c[13], c[14], c[15]])),
            u64::from(u32::from_be_bytes([c[16], c[17], c[18], c[19]])),
            u64::from(u32::from_be_bytes([c[20], c[21], c[22], c[23]])),
        ];
        let fmtp: Vec<u64> = FMTP.split(' ').map(|f| f.parse().unwrap()).collect();
        assert_eq!(fields, fmtp);
        assert_eq!(
            c,
            [
                0x00, 0x00, 0x01, 0x60, 0x00, 0x10, 0x28, 0x0a, 0x0e, 0x02, 0x00, 0xff, 0x00, 0x00,
                0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xac, 0x44
            ]
        );
    }

    #[test]
    fn cookie_agrees_with_the_encoder_crate() {
        // Same layout and parameters as the crate's own cookie (which also carries stats).
        let theirs = alac_encoder::AlacEncoder::new(&FormatDescription::alac(44_100.0, 352, 2))
            .magic_cookie();
        let ours = magic_cookie();
        assert_eq!(theirs.len(), 24);
        assert_eq!(theirs[..12], ours[..12]);
        assert_eq!(theirs[20..], ours[20..]);
    }

    #[test]
    fn silence_compresses_to_a_few_bytes() {
        let mut enc = AlacEncoder::new();
        let mut out = Vec::new();
        enc.encode_packet(&[0; 704], &mut out);
        assert!(out.len() < 40, "{} bytes", out.len());
    }
}
