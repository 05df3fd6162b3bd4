//! RSA/AES for receivers that announce `et=1`: each audio payload is AES-128-CBC encrypted,
//! restarting from the announced IV for every packet, over its whole 16-byte blocks; the
//! trailing `len % 16` bytes stay in clear. The AES key travels in the SDP, wrapped with
//! RSA-OAEP (SHA-1) under the AirPort public key.

use aes::Aes128;
use aes::cipher::{BlockModeDecrypt, BlockModeEncrypt, KeyIvInit};
use base64::Engine;
use base64::engine::general_purpose::STANDARD_NO_PAD;
use rsa::BoxedUint;
use std::fmt;

use crate::sdp::SdpEncryption;

pub use rsa::{PrivateKey as RsaPrivateKey, PublicKey as RsaPublicKey};

/// Modulus of Apple's AirPort Express RSA key (2048 bits, e = 65537), as published in the
/// RAOP protocol notes.
const AIRPORT_MODULUS_B64: &str = "59dE8qLieItsH1WgjrcFRKj6eUWqi+bGLOX1HL3U3GhC/j0Qg90u3sG/1CUtwC5vOYvfDmFI6oSFXi5ELabWJmT2dKHzBJKa3k9ok+8t9ucRqMd6DZHJ2YCCLlDRKSKv6kDqnw4UwPdpOMXziC/AMj3Z/lUVX1G7WSHCAWKf1zNS1eLvqr+boEjXuBOitnZ/bDzPHrTOZz0Dew0uowxf/+sG+NCK3eQJVxqcaJ/vEHKIVd2M+5qL71yJQ+87X6oV3eaYvt3zWZYD6z5vYTcrtij2VZ9Zmni/UAaHqn9JdsBWLUEpVviYnhimNVvYFZeCXg/IdTQ+x4IRdiXNv5hEew";

/// Why RSA/AES key handling failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CryptoError {
    /// The RSA public key could not be read.
    #[error("RSA key is invalid: {0}")]
    BadKey(String),
    /// Wrapping the AES key with RSA-OAEP failed.
    #[error("RSA encryption failed: {0}")]
    Encrypt(String),
    /// The receiver side could not unwrap or decode the SDP's key lines.
    #[error("rsaaeskey/aesiv in the SDP are malformed: {0}")]
    BadSdp(String),
}

/// The AirPort public key receivers hold the private half of.
pub fn airport_public_key() -> Result<RsaPublicKey, CryptoError> {
    let modulus = base64::engine::general_purpose::STANDARD_NO_PAD
        .decode(AIRPORT_MODULUS_B64)
        .map_err(|e| CryptoError::BadKey(e.to_string()))?;
    let n = BoxedUint::from_be_slice_vartime(&modulus);
    let e = BoxedUint::from_be_slice_vartime(&[0x01, 0x00, 0x01]);
    RsaPublicKey::new(n, e).map_err(|e| CryptoError::BadKey(e.to_string()))
}

/// The per-session AES key and IV. `Debug` never shows them.
#[derive(Clone, PartialEq, Eq)]
pub struct AudioKey {
    key: [u8; 16],
    iv: [u8; 16],
}

impl fmt::Debug for AudioKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AudioKey(<redacted>)")
    }
}

impl AudioKey {
    /// A key and IV for one session (the sender draws both at random).
    pub fn new(key: [u8; 16], iv: [u8; 16]) -> Self {
        Self { key, iv }
    }

    /// The SDP lines for this key: RSA-OAEP-SHA1 of the key under `public_key`, and the IV,
    /// base64 without padding.
    pub fn sdp<R: rsa::rand_core::TryCryptoRng + ?Sized>(
        &self,
        public_key: &RsaPublicKey,
        rng: &mut R,
    ) -> Result<SdpEncryption, CryptoError> {
        let wrapped = public_key
            .oaep_encrypt_with_rng::<sha1::Sha1, _>(rng, &self.key)
            .map_err(|e| CryptoError::Encrypt(e.to_string()))?;
        Ok(SdpEncryption {
            rsa_aes_key: STANDARD_NO_PAD.encode(wrapped),
            aes_iv: STANDARD_NO_PAD.encode(self.iv),
        })
    }

    /// Receiver side: unwraps the key from the SDP with the matching private key.
    pub fn from_sdp(sdp: &SdpEncryption, private_key: &RsaPrivateKey) -> Result<Self, CryptoError> {
        let decode = |v: &str| {
            base64::engine::general_purpose::STANDARD_NO_PAD
                .decode(v.trim_end_matches('='))
                .map_err(|e| CryptoError::BadSdp(e.to_string()))
        };
        let key = private_key
            .oaep_decrypt::<sha1::Sha1>(&decode(&sdp.rsa_aes_key)?)
            .map_err(|e| CryptoError::BadSdp(e.to_string()))?;
        let iv = decode(&sdp.aes_iv)?;
        let key: [u8; 16] = key
            .try_into()
            .map_err(|_| CryptoError::BadSdp("AES key is not 16 bytes".into()))?;
        let iv: [u8; 16] = iv
            .try_into()
            .map_err(|_| CryptoError::BadSdp("AES IV is not 16 bytes".into()))?;
        Ok(Self { key, iv })
    }

    /// Encrypts a payload in place: whole blocks with AES-128-CBC from the IV, tail in clear.
    pub fn encrypt(&self, payload: &mut [u8]) {
        let whole = payload.len() / 16 * 16;
        let (blocks, _) = aes::Block::slice_as_chunks_mut(&mut payload[..whole]);
        cbc::Encryptor::<Aes128>::new(&self.key.into(), &self.iv.into()).encrypt_blocks(blocks);
    }

    /// The inverse of [`encrypt`](Self::encrypt).
    pub fn decrypt(&self, payload: &mut [u8]) {
        let whole = payload.len() / 16 * 16;
        let (blocks, _) = aes::Block::slice_as_chunks_mut(&mut payload[..whole]);
        cbc::Decryptor::<Aes128>::new(&self.key.into(), &self.iv.into()).decrypt_blocks(blocks);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> AudioKey {
        let mut k = [0u8; 16];
        let mut iv = [0u8; 16];
        for i in 0..16 {
            k[i] = i as u8;
            iv[i] = 0xF0 + i as u8;
        }
        AudioKey::new(k, iv)
    }

    #[test]
    fn cbc_known_answer_with_clear_tail() {
        // Reference: `openssl enc -aes-128-cbc -K 0001…0f -iv f0f1…ff -nopad` over 32 bytes.
        let mut payload = *b"abcdefghijklmnopqrstuvwxyzabcdefghijk";
        key().encrypt(&mut payload);
        assert_eq!(
            hex::encode(&payload[..32]),
            "9b8a4ceb60310a671b66d0aa5dc3ad1966e7b8fa2064ca08ba5963d49cd1e8b3"
        );
        assert_eq!(&payload[32..], b"ghijk", "the partial block stays in clear");
        key().decrypt(&mut payload);
        assert_eq!(&payload, b"abcdefghijklmnopqrstuvwxyzabcdefghijk");
    }

    #[test]
    fn every_packet_restarts_from_the_iv() {
        let mut a = [7u8; 1412];
        let mut b = [7u8; 1412];
        key().encrypt(&mut a);
        key().encrypt(&mut b);
        assert_eq!(a, b, "no chaining across packets");
        assert_eq!(&a[1408..], &[7; 4]);
    }

    #[test]
    fn airport_key_is_2048_bits() {
        use rsa::traits::PublicKeyParts;
        let key = airport_public_key().unwrap();
        assert_eq!(key.size(), 256);
        let n = key.n().to_be_bytes();
        let n = n
            .iter()
            .skip_while(|b| **b == 0)
            .copied()
            .collect::<Vec<_>>();
        assert_eq!(hex::encode(&n[..8]), "e7d744f2a2e2788b");
        assert_eq!(hex::encode(&n[n.len() - 8..]), "117625cdbf98447b");
    }

    #[test]
    fn key_round_trips_through_the_sdp() {
        use rsa::Generate;
        let mut rng = rand::rng();
        let private = rsa::PrivateKey::generate_from_rng(&mut rng);
        let sdp = key().sdp(&private.to_public_key(), &mut rng).unwrap();
        assert!(!sdp.rsa_aes_key.ends_with('='));
        assert_eq!(sdp.aes_iv, "8PHy8/T19vf4+fr7/P3+/w");
        assert_eq!(AudioKey::from_sdp(&sdp, &private).unwrap(), key());
        // The AirPort key wraps to 256 bytes (342 base64 characters unpadded).
        let sdp = key().sdp(&airport_public_key().unwrap(), &mut rng).unwrap();
        assert_eq!(sdp.rsa_aes_key.len(), 342);
    }

    #[test]
    fn debug_hides_the_key() {
        assert_eq!(format!("{:?}", key()), "AudioKey(<redacted>)");
    }
}
