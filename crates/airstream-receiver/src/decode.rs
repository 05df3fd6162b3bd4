//! Payload → samples, for what the ANNOUNCE said the packets carry (decrypting first when
//! the stream is RSA/AES encrypted). Escape (uncompressed) ALAC frames are read directly;
//! compressed ones go to symphonia's ALAC decoder, set up from the SDP's fmtp numbers.

use crate::format::{CodecKind, FRAMES_PER_PACKET, StreamFormat};
use airstream_proto::alac::{AlacError, read_escape_frame};
use airstream_proto::raop::crypto::AudioKey;
use symphonia::core::audio::{Channels, Position};
use symphonia::core::codecs::audio::well_known::CODEC_ID_ALAC;
use symphonia::core::codecs::audio::{AudioCodecParameters, AudioDecoder, AudioDecoderOptions};
use symphonia::core::packet::Packet;
use symphonia::core::units::{Duration, Timestamp};

pub(crate) struct PayloadDecoder {
    codec: Codec,
    key: Option<AudioKey>,
}

enum Codec {
    Alac {
        /// Made on the first compressed frame.
        decoder: Option<Box<dyn AudioDecoder>>,
        cookie: [u8; 24],
    },
    L16 {
        channels: usize,
    },
}

#[derive(Debug, thiserror::Error)]
pub(crate) enum DecodeError {
    #[error(transparent)]
    Alac(#[from] AlacError),
    #[error("L16 payload of {0} bytes is not whole frames")]
    OddLength(usize),
    #[error("L16 payload of {0} bytes is longer than one packet ({FRAMES_PER_PACKET} frames)")]
    TooLong(usize),
    #[error("ALAC decoder: {0}")]
    Decoder(String),
}

impl PayloadDecoder {
    /// `fmtp`: the announced ALAC numbers (for the decoder's magic cookie); `format` has
    /// been checked, so every buffer it sizes is one packet's.
    pub(crate) fn new(format: StreamFormat, fmtp: &[u32], key: Option<AudioKey>) -> Self {
        let codec = match format.codec {
            CodecKind::Alac => Codec::Alac {
                decoder: None,
                cookie: magic_cookie(fmtp),
            },
            CodecKind::L16 => Codec::L16 {
                channels: usize::from(format.channels),
            },
        };
        Self { codec, key }
    }

    pub(crate) fn decode(&mut self, payload: &[u8]) -> Result<Vec<i16>, DecodeError> {
        let decrypted;
        let payload = match &self.key {
            Some(key) => {
                let mut clear = payload.to_vec();
                key.decrypt(&mut clear);
                decrypted = clear;
                &decrypted[..]
            }
            None => payload,
        };
        match &mut self.codec {
            Codec::Alac { decoder, cookie } => {
                let frames = FRAMES_PER_PACKET as usize;
                let mut out = Vec::with_capacity(frames * 2);
                match read_escape_frame(payload, frames, &mut out) {
                    Err(AlacError::Compressed) => {
                        let decoder = match decoder {
                            Some(d) => d,
                            None => decoder.insert(alac_decoder(cookie)?),
                        };
                        decode_compressed(decoder.as_mut(), payload)
                    }
                    Err(e) => Err(e.into()),
                    Ok(()) => Ok(out),
                }
            }
            Codec::L16 { channels } => {
                let frame_bytes = 2 * *channels;
                if !payload.len().is_multiple_of(frame_bytes) {
                    return Err(DecodeError::OddLength(payload.len()));
                }
                if payload.len() > FRAMES_PER_PACKET as usize * frame_bytes {
                    return Err(DecodeError::TooLong(payload.len()));
                }
                Ok(payload
                    .chunks_exact(2)
                    .map(|b| i16::from_be_bytes([b[0], b[1]]))
                    .collect())
            }
        }
    }
}

/// The `ALACSpecificConfig` for the eleven fmtp numbers (frames per packet, compatible
/// version, bit depth, pb, mb, kb, channels, max run, max frame bytes, average bit rate,
/// sample rate).
fn magic_cookie(fmtp: &[u32]) -> [u8; 24] {
    let n = |i: usize| fmtp.get(i).copied().unwrap_or(0);
    let mut c = [0u8; 24];
    c[0..4].copy_from_slice(&n(0).to_be_bytes());
    c[4] = n(1) as u8;
    c[5] = n(2) as u8;
    c[6] = n(3) as u8;
    c[7] = n(4) as u8;
    c[8] = n(5) as u8;
    c[9] = n(6) as u8;
    c[10..12].copy_from_slice(&(n(7) as u16).to_be_bytes());
    c[12..16].copy_from_slice(&n(8).to_be_bytes());
    c[16..20].copy_from_slice(&n(9).to_be_bytes());
    c[20..24].copy_from_slice(&n(10).to_be_bytes());
    c
}

fn alac_decoder(cookie: &[u8; 24]) -> Result<Box<dyn AudioDecoder>, DecodeError> {
    let rate = u32::from_be_bytes([cookie[20], cookie[21], cookie[22], cookie[23]]);
    let mut params = AudioCodecParameters::new();
    params
        .for_codec(CODEC_ID_ALAC)
        .with_sample_rate(rate)
        .with_channels(Channels::Positioned(
            Position::FRONT_LEFT | Position::FRONT_RIGHT,
        ))
        .with_extra_data(Box::new(*cookie));
    symphonia::default::get_codecs()
        .make_audio_decoder(&params, &AudioDecoderOptions::default())
        .map_err(|e| DecodeError::Decoder(e.to_string()))
}

fn decode_compressed(
    decoder: &mut dyn AudioDecoder,
    payload: &[u8],
) -> Result<Vec<i16>, DecodeError> {
    let packet = Packet::new(0, Timestamp::new(0), Duration::new(352), payload.to_vec());
    let buffer = decoder
        .decode(&packet)
        .map_err(|e| DecodeError::Decoder(e.to_string()))?;
    // The cookie says 352 frames; a frame that claims more is not one we asked for.
    let samples = buffer.samples_interleaved();
    if samples > FRAMES_PER_PACKET as usize * 2 {
        return Err(DecodeError::Decoder(format!(
            "frame of {samples} samples is longer than one packet"
        )));
    }
    let mut out = vec![0i16; samples];
    buffer.copy_to_slice_interleaved::<i16, _>(&mut out);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookie_from_the_fmtp_line_we_announce() {
        let fmtp = [352, 0, 16, 40, 10, 14, 2, 255, 0, 0, 44_100];
        assert_eq!(
            magic_cookie(&fmtp),
            [
                0x00, 0x00, 0x01, 0x60, 0x00, 0x10, 0x28, 0x0a, 0x0e, 0x02, 0x00, 0xff, 0, 0, 0, 0,
                0, 0, 0, 0, 0x00, 0x00, 0xac, 0x44
            ]
        );
    }
}
