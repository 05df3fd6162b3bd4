//! Payload → samples, for what the ANNOUNCE said the packets carry (decrypting first when
//! the stream is RSA/AES encrypted).

use airstream_proto::alac::{AlacError, read_escape_frame};
use airstream_proto::raop::crypto::AudioKey;
use airstream_proto::sdp::AnnouncedFormat;

pub(crate) struct PayloadDecoder {
    codec: Codec,
    key: Option<AudioKey>,
}

enum Codec {
    /// ALAC; only escape (uncompressed) frames can be read so far.
    Alac {
        frames_per_packet: usize,
    },
    L16,
}

#[derive(Debug, thiserror::Error)]
pub(crate) enum DecodeError {
    #[error(transparent)]
    Alac(#[from] AlacError),
    #[error("L16 payload of {0} bytes is not whole frames")]
    OddLength(usize),
}

impl PayloadDecoder {
    pub(crate) fn new(format: &AnnouncedFormat, key: Option<AudioKey>) -> Self {
        let codec = match format {
            AnnouncedFormat::Alac {
                frames_per_packet, ..
            } => Codec::Alac {
                frames_per_packet: *frames_per_packet as usize,
            },
            AnnouncedFormat::L16 { .. } => Codec::L16,
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
        match &self.codec {
            Codec::Alac { frames_per_packet } => {
                let mut out = Vec::with_capacity(frames_per_packet * 2);
                read_escape_frame(payload, *frames_per_packet, &mut out)?;
                Ok(out)
            }
            Codec::L16 => {
                if !payload.len().is_multiple_of(4) {
                    return Err(DecodeError::OddLength(payload.len()));
                }
                Ok(payload
                    .chunks_exact(2)
                    .map(|b| i16::from_be_bytes([b[0], b[1]]))
                    .collect())
            }
        }
    }
}
