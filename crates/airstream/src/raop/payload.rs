//! Turns a packet of interleaved stereo samples into the RTP payload announced in the SDP.

use airstream_audio::alac::AlacEncoder;
use airstream_proto::alac::write_escape_frame;
use airstream_proto::raop::crypto::AudioKey;
use airstream_proto::rtp::FRAMES_PER_PACKET;
use airstream_proto::sdp::Codec;

pub(crate) struct PayloadEncoder {
    codec: Codec,
    key: Option<AudioKey>,
    /// Built only for compressed ALAC.
    alac: Option<AlacEncoder>,
}

impl PayloadEncoder {
    pub(crate) fn new(codec: Codec, key: Option<AudioKey>) -> Self {
        let alac = (codec == Codec::Alac).then(AlacEncoder::new);
        Self { codec, key, alac }
    }

    pub(crate) fn encode(&mut self, samples: &[i16], out: &mut Vec<u8>) {
        out.clear();
        match self.codec {
            Codec::Pcm => {
                out.reserve(samples.len() * 2);
                for s in samples {
                    out.extend_from_slice(&s.to_be_bytes());
                }
            }
            Codec::AlacRaw => write_escape_frame(samples, FRAMES_PER_PACKET as usize, out),
            Codec::Alac => match &mut self.alac {
                Some(encoder) => encoder.encode_packet(samples, out),
                None => write_escape_frame(samples, FRAMES_PER_PACKET as usize, out),
            },
        }
        if let Some(key) = &self.key {
            key.encrypt(out);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pcm_is_big_endian_interleaved() {
        let mut enc = PayloadEncoder::new(Codec::Pcm, None);
        let mut out = Vec::new();
        enc.encode(&[0x0102, -2], &mut out);
        assert_eq!(out, [0x01, 0x02, 0xFF, 0xFE]);
    }

    #[test]
    fn alac_compresses_silence() {
        let mut enc = PayloadEncoder::new(Codec::Alac, None);
        let mut out = Vec::new();
        enc.encode(&[0; 704], &mut out);
        assert!(!out.is_empty() && out.len() < 100, "{} bytes", out.len());
    }

    #[test]
    fn alac_raw_is_an_escape_frame() {
        let mut enc = PayloadEncoder::new(Codec::AlacRaw, None);
        let mut out = Vec::new();
        enc.encode(&[0; 704], &mut out);
        assert_eq!(out.len(), 1412);
    }
}
