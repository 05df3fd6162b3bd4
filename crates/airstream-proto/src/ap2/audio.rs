//! Realtime (stream type 96) audio packets (shared/protocol/airplay2.md §5): the RTP header
//! in the clear, then the ALAC frame sealed with ChaCha20-Poly1305 under the stream key
//! `shk`, the 16-byte tag, and the 8-byte nonce counter. Nonce = 4 zero bytes + the counter
//! little-endian; AAD = RTP header bytes 4..12 (timestamp and SSRC).

use chacha20poly1305::aead::AeadInOut;
use chacha20poly1305::{ChaCha20Poly1305, KeyInit};

use crate::rtp::{AudioHeader, AudioPacket, PacketError, RTP_HEADER_LEN};

/// Poly1305 tag bytes after the sealed frame.
pub const TAG_LEN: usize = 16;
/// Nonce counter bytes (little-endian) ending the packet.
pub const COUNTER_LEN: usize = 8;
/// Header, tag and counter: the bytes a packet carries besides the sealed frame.
pub const OVERHEAD: usize = RTP_HEADER_LEN + TAG_LEN + COUNTER_LEN;
const AAD: std::ops::Range<usize> = 4..12;

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum AudioPacketError {
    #[error("audio datagram of {0} bytes is shorter than header, tag and counter ({OVERHEAD})")]
    TooShort(usize),
    #[error("audio datagram: {0}")]
    Header(#[from] PacketError),
    #[error("audio payload does not authenticate under the stream key")]
    Authentication,
}

/// An audio packet opened by a receiver.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenedAudio {
    pub header: AudioHeader,
    /// The nonce counter the packet carried.
    pub counter: u64,
    /// The ALAC frame.
    pub payload: Vec<u8>,
}

/// Seals and opens audio packets under one stream key.
pub struct AudioCipher {
    cipher: ChaCha20Poly1305,
}

impl std::fmt::Debug for AudioCipher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The key stays out of logs.
        f.write_str("AudioCipher(..)")
    }
}

fn nonce(counter: u64) -> [u8; 12] {
    let mut nonce = [0u8; 12];
    nonce[4..].copy_from_slice(&counter.to_le_bytes());
    nonce
}

impl AudioCipher {
    /// A cipher for the stream key `shk` sent in the stream SETUP.
    pub fn new(shk: &[u8; 32]) -> Self {
        Self {
            cipher: ChaCha20Poly1305::new(shk.into()),
        }
    }

    /// The whole datagram for `frame` under nonce `counter`. A counter must never repeat
    /// under one key: the sender counts up per packet sent (resends reuse the packet).
    pub fn seal(&self, header: &AudioHeader, counter: u64, frame: &[u8]) -> Vec<u8> {
        let mut out = Vec::with_capacity(frame.len() + OVERHEAD);
        self.seal_into(header, counter, frame, &mut out);
        out
    }

    /// [`Self::seal`] into a reused buffer (cleared first).
    pub fn seal_into(&self, header: &AudioHeader, counter: u64, frame: &[u8], out: &mut Vec<u8>) {
        out.clear();
        out.extend_from_slice(&header.encode());
        out.extend_from_slice(frame);
        let (head, body) = out.split_at_mut(RTP_HEADER_LEN);
        let tag = self
            .cipher
            .encrypt_inout_detached(&nonce(counter).into(), &head[AAD], body.into())
            .expect("ChaCha20-Poly1305 seals any frame shorter than 256 GiB");
        out.extend_from_slice(&tag);
        out.extend_from_slice(&counter.to_le_bytes());
    }

    /// Checks and decrypts a datagram (what a receiver does; our fake receivers use it).
    pub fn open(&self, datagram: &[u8]) -> Result<OpenedAudio, AudioPacketError> {
        if datagram.len() < OVERHEAD {
            return Err(AudioPacketError::TooShort(datagram.len()));
        }
        let header = AudioPacket::parse(datagram)?.header;
        let (sealed, counter) = datagram.split_at(datagram.len() - COUNTER_LEN);
        let (sealed, tag) = sealed.split_at(sealed.len() - TAG_LEN);
        let mut counter_bytes = [0u8; COUNTER_LEN];
        counter_bytes.copy_from_slice(counter);
        let counter = u64::from_le_bytes(counter_bytes);
        let mut payload = sealed[RTP_HEADER_LEN..].to_vec();
        let mut tag_bytes = [0u8; TAG_LEN];
        tag_bytes.copy_from_slice(tag);
        self.cipher
            .decrypt_inout_detached(
                &nonce(counter).into(),
                &datagram[AAD],
                payload.as_mut_slice().into(),
                &tag_bytes.into(),
            )
            .map_err(|_| AudioPacketError::Authentication)?;
        Ok(OpenedAudio {
            header,
            counter,
            payload,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chacha20poly1305::aead::{Aead, Payload};

    const KEY: [u8; 32] = [0x42; 32];
    const HEADER: AudioHeader = AudioHeader {
        marker: true,
        seq: 0x0102,
        timestamp: 0x1122_3344,
        ssrc: 0x5566_7788,
    };

    #[test]
    fn seal_layout_known_answer() {
        let frame = b"an ALAC frame";
        let packet = AudioCipher::new(&KEY).seal(&HEADER, 5, frame);
        assert_eq!(packet.len(), frame.len() + OVERHEAD);
        assert_eq!(
            hex::encode(&packet[..12]),
            "80e0010211223344556677 88".replace(' ', "")
        );
        assert_eq!(&packet[packet.len() - 8..], &[5, 0, 0, 0, 0, 0, 0, 0]);
        // The sealed part equals the one-shot AEAD of the same inputs.
        let reference = ChaCha20Poly1305::new(&KEY.into())
            .encrypt(
                &[0, 0, 0, 0, 5, 0, 0, 0, 0, 0, 0, 0].into(),
                Payload {
                    msg: frame,
                    aad: &[0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88],
                },
            )
            .unwrap_or_default();
        assert_eq!(&packet[12..packet.len() - 8], reference.as_slice());
    }

    #[test]
    fn chacha20_poly1305_rfc8439_vector() {
        // RFC 8439 §2.8.2: our nonce layout can express its nonce 07000000 4041424344454647.
        let key: [u8; 32] = core::array::from_fn(|i| 0x80 + i as u8);
        let mut n = nonce(u64::from_le_bytes([
            0x40, 0x41, 0x42, 0x43, 0x44, 0x45, 0x46, 0x47,
        ]));
        n[0] = 0x07;
        let plaintext = b"Ladies and Gentlemen of the class of '99: If I could offer you only one tip for the future, sunscreen would be it.";
        let aad = hex::decode("50515253c0c1c2c3c4c5c6c7").unwrap_or_default();
        let sealed = ChaCha20Poly1305::new(&key.into())
            .encrypt(
                &n.into(),
                Payload {
                    msg: plaintext,
                    aad: &aad,
                },
            )
            .unwrap_or_default();
        assert_eq!(
            hex::encode(&sealed[sealed.len() - 16..]),
            "1ae10b594f09e26a7e902ecbd0600691"
        );
    }

    #[test]
    fn open_round_trips_and_rejects_tampering() {
        let cipher = AudioCipher::new(&KEY);
        let packet = cipher.seal(&HEADER, 9, b"frame");
        assert_eq!(
            cipher.open(&packet),
            Ok(OpenedAudio {
                header: HEADER,
                counter: 9,
                payload: b"frame".to_vec()
            })
        );
        // A changed timestamp (AAD), payload, tag or counter fails authentication.
        for at in [5, 12, packet.len() - 9, packet.len() - 1] {
            let mut bad = packet.clone();
            bad[at] ^= 1;
            assert_eq!(
                cipher.open(&bad),
                Err(AudioPacketError::Authentication),
                "byte {at}"
            );
        }
        assert_eq!(
            AudioCipher::new(&[1; 32]).open(&packet),
            Err(AudioPacketError::Authentication)
        );
        assert_eq!(
            cipher.open(&packet[..20]),
            Err(AudioPacketError::TooShort(20))
        );
        let mut not_rtp = packet.clone();
        not_rtp[0] = 0;
        assert_eq!(
            cipher.open(&not_rtp),
            Err(AudioPacketError::Header(PacketError::NotRtp))
        );
    }

    #[test]
    fn debug_hides_the_key() {
        assert_eq!(format!("{:?}", AudioCipher::new(&KEY)), "AudioCipher(..)");
    }

    proptest::proptest! {
        #[test]
        fn open_never_panics(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..100)) {
            let _ = AudioCipher::new(&KEY).open(&bytes);
        }
    }
}
