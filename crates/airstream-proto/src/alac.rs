//! Uncompressed ("escape") ALAC frames: the samples verbatim inside an ALAC bitstream, so
//! receivers that only take AppleLossless play bit-exact audio with no encoder on our side.
//!
//! Layout (MSB first): element type 3 bits (1 = channel pair), instance tag 4, unused 12,
//! partial-frame flag 1, shift 2, escape flag 1 (= 1), optional 32-bit frame count when
//! partial, then every sample as 16-bit big-endian interleaved L,R, then the end tag 7 in
//! 3 bits, padded to a byte. A 352-frame stereo frame is 1412 bytes.

/// SDP `a=fmtp:` parameters for the ALAC stream we send: frames per packet, compatible
/// version, bit depth, rice history mult, initial history, rice limit, channels, max run,
/// max frame bytes, average bit rate, sample rate.
pub const FMTP_PARAMS: &str = "352 0 16 40 10 14 2 255 0 0 44100";

const ELEMENT_CPE: u32 = 1;
const ELEMENT_END: u32 = 7;

/// Bytes of an escape frame holding `frames` stereo 16-bit frames (without partial count).
pub fn escape_frame_len(frames: usize) -> usize {
    (23 + frames * 32 + 3).div_ceil(8)
}

/// Writes one stereo escape frame for interleaved `samples` (L,R,L,R…); `samples.len()`
/// must be even. A frame shorter than `frames_per_packet` carries the partial-frame count.
pub fn write_escape_frame(samples: &[i16], frames_per_packet: usize, out: &mut Vec<u8>) {
    let frames = samples.len() / 2;
    let partial = frames != frames_per_packet;
    out.reserve(escape_frame_len(frames) + if partial { 4 } else { 0 });
    let mut w = BitWriter::new(out);
    w.put(ELEMENT_CPE, 3);
    w.put(0, 4); // instance tag
    w.put(0, 12); // unused
    w.put(u32::from(partial), 1);
    w.put(0, 2); // no shifted bytes
    w.put(1, 1); // escape: samples are stored verbatim
    if partial {
        w.put(frames as u32, 32);
    }
    // A whole stereo frame at a time: this loop is the sender's hottest code.
    for frame in samples[..frames * 2].chunks_exact(2) {
        w.put(
            (u32::from(frame[0] as u16) << 16) | u32::from(frame[1] as u16),
            32,
        );
    }
    w.put(ELEMENT_END, 3);
    w.finish();
}

/// Why a payload is not an escape frame we can read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AlacError {
    /// The payload ends inside the frame header or the samples.
    #[error("ALAC frame is truncated")]
    Truncated,
    /// The first element is not a channel pair (the element type is given).
    #[error("ALAC element type {0} is not a stereo channel pair")]
    NotStereo(u32),
    /// The frame is compressed, so it needs a real ALAC decoder.
    #[error("ALAC frame is compressed (not an escape frame)")]
    Compressed,
    /// The frame declares shifted bytes (the count is given).
    #[error("ALAC frame uses {0} shifted bytes, which 16-bit escape frames never do")]
    Shifted(u32),
    /// The frame declares more frames (first) than a packet holds (second).
    #[error("ALAC frame declares {0} frames, more than {1} per packet")]
    TooManyFrames(u32, usize),
}

/// Reads a stereo 16-bit escape frame back into interleaved samples (the receiver side).
/// `Err(AlacError::Compressed)` tells the caller to hand the payload to a real decoder.
pub fn read_escape_frame(
    payload: &[u8],
    frames_per_packet: usize,
    out: &mut Vec<i16>,
) -> Result<(), AlacError> {
    let mut r = BitReader::new(payload);
    let element = r.get(3)?;
    if element != ELEMENT_CPE {
        return Err(AlacError::NotStereo(element));
    }
    r.get(4)?;
    r.get(12)?;
    let partial = r.get(1)? == 1;
    let shift = r.get(2)?;
    let escape = r.get(1)? == 1;
    let frames = if partial {
        let n = r.get(32)?;
        if n as usize > frames_per_packet {
            return Err(AlacError::TooManyFrames(n, frames_per_packet));
        }
        n as usize
    } else {
        frames_per_packet
    };
    if !escape {
        return Err(AlacError::Compressed);
    }
    if shift != 0 {
        return Err(AlacError::Shifted(shift));
    }
    out.reserve(frames * 2);
    for _ in 0..frames * 2 {
        out.push(r.get(16)? as u16 as i16);
    }
    Ok(())
}

struct BitWriter<'a> {
    out: &'a mut Vec<u8>,
    acc: u64,
    bits: u32,
}

impl<'a> BitWriter<'a> {
    fn new(out: &'a mut Vec<u8>) -> Self {
        Self {
            out,
            acc: 0,
            bits: 0,
        }
    }

    fn put(&mut self, value: u32, width: u32) {
        let mask = if width == 32 {
            u32::MAX
        } else {
            (1 << width) - 1
        };
        self.acc = (self.acc << width) | u64::from(value & mask);
        self.bits += width;
        if self.bits >= 32 {
            self.bits -= 32;
            self.out
                .extend_from_slice(&((self.acc >> self.bits) as u32).to_be_bytes());
        }
        while self.bits >= 8 {
            self.bits -= 8;
            self.out.push((self.acc >> self.bits) as u8);
        }
    }

    fn finish(mut self) {
        if self.bits > 0 {
            let pad = 8 - self.bits;
            self.put(0, pad);
        }
    }
}

struct BitReader<'a> {
    data: &'a [u8],
    pos: usize,
}

impl<'a> BitReader<'a> {
    fn new(data: &'a [u8]) -> Self {
        Self { data, pos: 0 }
    }

    fn get(&mut self, width: u32) -> Result<u32, AlacError> {
        let mut v: u32 = 0;
        for _ in 0..width {
            let byte = *self.data.get(self.pos / 8).ok_or(AlacError::Truncated)?;
            let bit = (byte >> (7 - (self.pos % 8))) & 1;
            v = (v << 1) | u32::from(bit);
            self.pos += 1;
        }
        Ok(v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn silent_frame_known_answer() {
        let mut out = Vec::new();
        write_escape_frame(&[0; 704], 352, &mut out);
        assert_eq!(out.len(), 1412);
        assert_eq!(escape_frame_len(352), 1412);
        assert_eq!(&out[..3], &[0x20, 0x00, 0x02]);
        assert!(out[3..1410].iter().all(|b| *b == 0));
        assert_eq!(&out[1410..], &[0x01, 0xC0]);
    }

    #[test]
    fn first_sample_known_answer() {
        let mut samples = vec![0i16; 704];
        samples[0] = 0x1234;
        samples[1] = -2; // 0xFFFE
        let mut out = Vec::new();
        write_escape_frame(&samples, 352, &mut out);
        assert_eq!(&out[..8], &[0x20, 0x00, 0x02, 0x24, 0x69, 0xFF, 0xFC, 0x00]);
    }

    #[test]
    fn round_trip_full_and_partial() {
        let samples: Vec<i16> = (0..704).map(|i| (i * 97 - 30000) as i16).collect();
        let mut frame = Vec::new();
        write_escape_frame(&samples, 352, &mut frame);
        let mut back = Vec::new();
        read_escape_frame(&frame, 352, &mut back).unwrap();
        assert_eq!(back, samples);

        let short = &samples[..200];
        let mut frame = Vec::new();
        write_escape_frame(short, 352, &mut frame);
        let mut back = Vec::new();
        read_escape_frame(&frame, 352, &mut back).unwrap();
        assert_eq!(back, short);
    }

    #[test]
    fn bad_frames_are_errors() {
        let mut back = Vec::new();
        assert_eq!(
            read_escape_frame(&[0x20], 352, &mut back),
            Err(AlacError::Truncated)
        );
        // Escape flag clear: a compressed frame.
        assert_eq!(
            read_escape_frame(&[0x20, 0x00, 0x00, 0x00], 352, &mut back),
            Err(AlacError::Compressed)
        );
        // Mono element.
        assert_eq!(
            read_escape_frame(&[0x00, 0x00, 0x02, 0x00], 352, &mut back),
            Err(AlacError::NotStereo(0))
        );
        let mut frame = Vec::new();
        write_escape_frame(&[0; 704], 352, &mut frame);
        frame.truncate(700);
        assert_eq!(
            read_escape_frame(&frame, 352, &mut back),
            Err(AlacError::Truncated)
        );
    }
}
